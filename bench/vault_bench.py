#!/usr/bin/env python
"""Benchmark of the tenant vault: hot ``use()``, cold reads, writes and audit flushing.

Everything is created at run time in a temporary directory (key file, SQLite database) and, when
PostgreSQL is reachable, in a throwaway database ``strongroom_bench_<random>`` that is dropped at the end.
Every figure is also given as a ratio against a baseline measured in the same run: a bare
``AESGCM.decrypt`` of a ciphertext of the same size, with the cipher object and the nonce, body and
associated data already split out (the least work a decrypting ``use()`` can possibly do).

    .venv/bin/python bench/vault_bench.py            # full run (about a minute and a half on 2 cores)
    .venv/bin/python bench/vault_bench.py --quick    # a few seconds, for a smoke test
    .venv/bin/python bench/vault_bench.py --profile  # also cProfile the hot path and one audit flush

Each measurement is the best of ``--rounds`` rounds of N calls timed with ``time.perf_counter_ns``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import platform
import pstats
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cryptography
import sqlalchemy
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import make_url

from strongroom.audit import Action, AuditEvent, Outcome
from strongroom.crypto import LocalKeyProvider
from strongroom.crypto.hazmat import Binding
from strongroom.secret import Secret
from strongroom.vault import Vault

try:
    import psycopg
except ImportError:  # the PostgreSQL rows are skipped
    psycopg = None

PG_ENV = "STRONGROOM_BENCH_POSTGRES_URL"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
TENANT = "bench"
NAME = "api-key"
PURPOSE = "bench"
HOT_ASYNC = "hot use(), audit async"
COLD = "cold use() (row read + decrypt)"
VALUE_CHARS = 64  # the value is a 64-character text token: 64 bytes of plaintext, 80 of ciphertext


@dataclass(frozen=True)
class Sizes:
    rounds: int
    bare: int
    hot_async: int
    hot_profiled: int
    hot_sync: int
    cold_sqlite: int
    cold_pg: int
    put_sqlite: int
    put_pg: int
    flush_pg: int
    breakdown: int


FULL = Sizes(
    rounds=5,
    bare=500_000,
    hot_async=80_000,  # under the audit queue's bound (100,000): past it a use writes the backlog itself
    hot_profiled=100_000,
    hot_sync=2_000,
    cold_sqlite=3_000,
    cold_pg=1_500,
    put_sqlite=600,
    put_pg=500,
    flush_pg=20_000,
    breakdown=100_000,
)
QUICK = Sizes(
    rounds=3,
    bare=50_000,
    hot_async=20_000,
    hot_profiled=10_000,
    hot_sync=200,
    cold_sqlite=300,
    cold_pg=150,
    put_sqlite=60,
    put_pg=50,
    flush_pg=2_000,
    breakdown=10_000,
)


@dataclass(frozen=True)
class Row:
    what: str
    store: str
    ns_per_op: float
    unit: str  # "call", "event", "write"
    n: int
    rounds: int
    median_ns: float | None = None  # per op, over the rounds (None: one aggregate figure)


# -- timing ---------------------------------------------------------------------------------------


def median(values: list[int]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def best_of(rounds: int, run: Callable[[], int], between: Callable[[], object] | None = None) -> tuple[int, float]:
    """(fastest, median) of ``rounds`` runs; ``run`` times itself and returns elapsed nanoseconds."""
    times: list[int] = []
    for _ in range(rounds):
        if between is not None:
            between()
        gc.collect()
        times.append(run())
    return min(times), median(times)


def bare_decrypt_loop(n: int) -> Callable[[], int]:
    """The baseline: a cached AESGCM object decrypting the same-size ciphertext, pre-split inputs."""
    cipher = AESGCM(AESGCM.generate_key(bit_length=256))
    nonce = os.urandom(12)
    aad = Binding("dev", uuid.uuid4().hex, NAME, 1).associated_data(1)  # same shape as the vault's
    body = cipher.encrypt(nonce, secrets.token_hex(VALUE_CHARS // 2).encode(), aad)
    decrypt = cipher.decrypt

    def run() -> int:
        rng = range(n)
        t0 = time.perf_counter_ns()
        for _ in rng:
            decrypt(nonce, body, aad)
        return time.perf_counter_ns() - t0

    return run


class Baseline:
    """The bare-decrypt baseline, sampled at the start, between the hot rounds and at the end of the run.

    The reported baseline is the best sample, so a noisy moment at the start cannot flatter the ratios.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self._run = bare_decrypt_loop(n)
        self.samples: list[float] = []

    def sample(self, times: int = 1) -> None:
        for _ in range(times):
            gc.collect()
            self.samples.append(self._run() / self.n)

    @property
    def best(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        ordered = sorted(self.samples)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def use_loop(vault: Vault, n: int) -> Callable[[], int]:
    """The full statement ``with vault.use(t, n, purpose=...) as s: s.reveal()``, n times."""
    use = vault.use

    def run() -> int:
        rng = range(n)
        t0 = time.perf_counter_ns()
        for _ in rng:
            with use(TENANT, NAME, purpose=PURPOSE) as s:
                s.reveal()
        return time.perf_counter_ns() - t0

    return run


def put_loop(vault: Vault, n: int, value: str) -> Callable[[], int]:
    """``vault.put`` of a new version of one of 50 existing secrets, n times."""
    names = [f"w-{i:02d}" for i in range(50)]
    for name in names:
        vault.put(TENANT, name, value)
    put = vault.put

    def run() -> int:
        t0 = time.perf_counter_ns()
        for i in range(n):
            put(TENANT, names[i % 50], value)
        return time.perf_counter_ns() - t0

    return run


def timed_flush(vault: Vault) -> tuple[int, int]:
    """(events that were pending, ns that ``audit.flush()`` took to make them durable)."""
    pending = vault.pending_audit_events
    t0 = time.perf_counter_ns()
    vault.flush_audit()
    return pending, time.perf_counter_ns() - t0


def warm(vault: Vault, times: int = 200) -> None:
    for _ in range(times):
        with vault.use(TENANT, NAME, purpose=PURPOSE) as s:
            s.reveal()
    vault.flush_audit()


# -- setup ----------------------------------------------------------------------------------------


def open_vault(stack: ExitStack, url: str, kp: LocalKeyProvider, value: str | None = None, **options: Any) -> Vault:
    vault = Vault.open(url, key_provider=kp, actor="bench", **options)
    stack.callback(vault.close)
    if value is not None:
        vault.create_tenant(TENANT)
        vault.put(TENANT, NAME, value)
    return vault


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str | None]:
    """A throwaway database (its URL), or ``None`` (after saying why) when PostgreSQL is unreachable."""
    if psycopg is None:
        print("PostgreSQL: psycopg is not installed (pip install 'strongroom[postgres]'): skipping PG rows")
        yield None
        return
    conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://")
    name = "strongroom_bench_" + uuid.uuid4().hex[:12]
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())[:160]
        print(f"PostgreSQL unreachable ({type(exc).__name__}: {reason}): skipping PG rows")
        yield None
        return
    try:
        yield _with_database(admin_url, name)
    finally:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_server_version(admin_url: str) -> str | None:
    if psycopg is None:
        return None
    try:
        conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else None
    except psycopg.Error:
        return None


# -- measurements ---------------------------------------------------------------------------------


def bench_hot_async(vault: Vault, sz: Sizes, baseline: Baseline) -> tuple[Row, Row, Row]:
    """Hot use() with async audit, then the same rounds with the flush that makes their events durable."""
    warm(vault)
    run = use_loop(vault, sz.hot_async)
    uses: list[int] = []
    totals: list[int] = []
    flushed = flush_ns = 0
    for _ in range(sz.rounds):
        baseline.sample()
        vault.flush_audit()  # start each round with an empty queue
        gc.collect()
        elapsed = run()
        pending, took = timed_flush(vault)  # includes waiting for a batch the writer thread holds
        flushed += pending
        flush_ns += took
        uses.append(elapsed)
        totals.append(elapsed + took)
    n = sz.hot_async
    return (
        Row(HOT_ASYNC, "sqlite", min(uses) / n, "call", n, sz.rounds, median(uses) / n),
        Row(
            "hot use() + flush of its audit events", "sqlite", min(totals) / n, "call", n, sz.rounds, median(totals) / n
        ),
        Row("audit flush (queued use events)", "sqlite", flush_ns / max(flushed, 1), "event", flushed, 1),
    )


def bench_flush(vault: Vault, store: str, n: int, rounds: int) -> Row:
    warm(vault)
    run = use_loop(vault, n)
    flushed = flush_ns = 0
    for _ in range(rounds):
        vault.flush_audit()
        run()
        pending, took = timed_flush(vault)
        flushed += pending
        flush_ns += took
    return Row("audit flush (queued use events)", store, flush_ns / max(flushed, 1), "event", flushed, 1)


def bench_use(vault: Vault, what: str, store: str, n: int, rounds: int, *, baseline: Baseline | None = None) -> Row:
    warm(vault)

    def between() -> None:
        if baseline is not None:
            baseline.sample()
        vault.flush_audit()

    best, mid = best_of(rounds, use_loop(vault, n), between=between)
    vault.flush_audit()
    return Row(what, store, best / n, "call", n, rounds, mid / n)


def bench_put(vault: Vault, store: str, n: int, rounds: int, value: str) -> Row:
    best, mid = best_of(rounds, put_loop(vault, n, value))
    return Row("put() (new version)", store, best / n, "write", n, rounds, mid / n)


# -- hot-path breakdown ---------------------------------------------------------------------------


def breakdown(vault: Vault, n: int) -> list[tuple[str, float | None]]:
    """Each step of ``use()``'s hot path, timed alone in the same kind of loop (minus the empty loop).

    It reads the vault's private cache entry on purpose: the point is to see what each step costs. A
    step whose internals have changed shape is reported as n/a instead of failing the run.
    """
    warm(vault)
    hot: Any = vault._hot[(TENANT, NAME)]
    nonce, body, aad = hot.nonce, hot.body, hot.aad
    decrypt = hot.decrypt
    clock = vault._clock
    table = vault._hot
    purposes = vault._purposes
    audit = vault._audit
    submit = getattr(audit, "submit", None)
    env, actor, version = vault.environment, vault.actor, hot.version
    plaintext = decrypt(nonce, body, aad)
    text = plaintext.decode()
    use = vault.use

    def step_clock() -> object:
        return clock()

    def step_lookup() -> object:
        h = table.get((TENANT, NAME))
        return h is None or h.cached_until <= 0.0 or PURPOSE not in purposes

    def step_bare() -> object:
        return decrypt(nonce, body, aad)

    def step_decode() -> object:
        return plaintext.decode()

    audit_key = hot.audit_key

    def step_tuple() -> object:
        return (1.0, audit_key, actor, PURPOSE, None)

    def step_event() -> object:
        return AuditEvent(1.0, env, actor, TENANT, Action.SECRET_USE, NAME, version, PURPOSE, Outcome.OK, None)

    event = step_tuple()

    def step_submit() -> object:
        return submit(event) if submit is not None else audit.enqueue(AuditEvent._make(event))

    def step_secret() -> object:
        return Secret(NAME, text, version)

    def step_with() -> object:
        with Secret(NAME, text, version) as s:
            s.reveal()
        return None

    def step_use_call() -> object:  # the call alone, the with block not entered
        return use(TENANT, NAME, purpose=PURPOSE)

    def step_full() -> object:
        with use(TENANT, NAME, purpose=PURPOSE) as s:
            s.reveal()
        return None

    def empty() -> object:
        return None

    def loop(body_fn: Callable[[], object]) -> float | None:
        def run() -> int:
            rng = range(n)
            t0 = time.perf_counter_ns()
            for _ in rng:
                body_fn()
            return time.perf_counter_ns() - t0

        try:
            return best_of(3, run, between=audit.flush)[0] / n
        except Exception as exc:  # internals changed: report n/a, keep the run going
            print(f"  breakdown step {body_fn.__name__} failed: {type(exc).__name__}")
            return None

    overhead = loop(empty) or 0.0
    steps: list[tuple[str, Callable[[], object]]] = [
        ("vault._clock()", step_clock),
        ("tuple key + dict get + 2 checks + purpose set", step_lookup),
        ("bare AESGCM.decrypt (function call)", step_bare),
        ("bytes.decode() of the value", step_decode),
        ("compact use-event tuple (5 fields)", step_tuple),
        ("AuditEvent(...) NamedTuple, for comparison", step_event),
        ("audit.submit(event tuple)", step_submit),
        ("Secret(name, value, version)", step_secret),
        ("Secret(...) + with/__exit__ + reveal", step_with),
        ("vault.use(...) call (no with block)", step_use_call),
        ("full: with vault.use(...) as s: s.reveal()", step_full),
    ]
    out: list[tuple[str, float | None]] = [("(empty loop + call, subtracted)", overhead)]
    for label, fn in steps:
        took = loop(fn)
        out.append((label, None if took is None else took - overhead))
    audit.flush()
    return out


def profile_hot(vault: Vault, n: int) -> str:
    warm(vault)
    run = use_loop(vault, n)
    prof = cProfile.Profile()
    prof.enable()
    run()
    prof.disable()
    out = io.StringIO()
    out.write(f"cProfile of {n} hot use() statements (async audit; the profiler inflates small calls):\n")
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
    prof = cProfile.Profile()
    pending = vault.pending_audit_events
    prof.enable()
    vault.flush_audit()
    prof.disable()
    out.write(f"cProfile of audit.flush() of {pending} queued events:\n")
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


# -- report ---------------------------------------------------------------------------------------


def fmt_table(rows: list[Row], baseline_ns: float) -> str:
    head = ("measurement", "store", "µs/op (best)", "ops/s (best)", "x baseline", "µs/op (median)", "N x rounds")
    lines = [head]
    for r in rows:
        per_s = 1e9 / r.ns_per_op
        mid = "-" if r.median_ns is None else f"{r.median_ns / 1000:,.2f}"
        lines.append(
            (
                r.what,
                r.store,
                f"{r.ns_per_op / 1000:,.2f}",
                f"{per_s:,.0f} {r.unit}s/s",
                f"{r.ns_per_op / baseline_ns:,.1f}",
                mid,
                f"{r.n:,} x {r.rounds}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for i, line in enumerate(lines):
        pairs = enumerate(zip(line, widths, strict=True))
        cells = [c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in pairs]
        out.append("| " + " | ".join(cells) + " |")
        if i == 0:
            out.append(
                "|" + "|".join("-" * (w + 2) if j < 2 else "-" * (w + 1) + ":" for j, w in enumerate(widths)) + "|"
            )
    return "\n".join(out)


def machine() -> str:
    return (
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"cryptography {cryptography.__version__}, SQLAlchemy {sqlalchemy.__version__}"
    )


def run_sqlite(
    tmp: Path, kp: LocalKeyProvider, value: str, sz: Sizes, baseline: Baseline, *, profile: bool
) -> tuple[list[Row], list[tuple[str, float | None]], str | None]:
    url = f"sqlite:///{tmp / 'bench.db'}"
    rows: list[Row] = []
    with ExitStack() as stack:
        vault = open_vault(stack, url, kp, value)
        rows.extend(bench_hot_async(vault, sz, baseline))
    with ExitStack() as stack:
        vault = open_vault(stack, url, kp)
        parts = breakdown(vault, sz.breakdown)
        profiled = profile_hot(vault, sz.hot_profiled) if profile else None
    with ExitStack() as stack:
        vault = open_vault(stack, url, kp, audit_mode="sync")
        rows.append(bench_use(vault, "hot use(), audit sync", "sqlite", sz.hot_sync, sz.rounds))
    with ExitStack() as stack:
        vault = open_vault(stack, url, kp, cache_ttl_seconds=0)
        rows.append(bench_use(vault, COLD, "sqlite", sz.cold_sqlite, sz.rounds))
        rows.append(bench_put(vault, "sqlite", sz.put_sqlite, sz.rounds, value))
    return rows, parts, profiled


def run_postgres(admin_url: str, kp: LocalKeyProvider, value: str, sz: Sizes) -> list[Row]:
    rows: list[Row] = []
    with postgres_database(admin_url) as url:
        if url is None:
            return rows
        print(f"PostgreSQL server {postgres_server_version(admin_url)}")
        with ExitStack() as stack:
            vault = open_vault(stack, url, kp, value)
            rows.append(bench_flush(vault, "postgresql", sz.flush_pg, sz.rounds))
        with ExitStack() as stack:
            vault = open_vault(stack, url, kp, cache_ttl_seconds=0)
            rows.append(bench_use(vault, COLD, "postgresql", sz.cold_pg, sz.rounds))
            rows.append(bench_put(vault, "postgresql", sz.put_pg, sz.rounds, value))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="short run (smoke test), figures are noisier")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(PG_ENV) or PG_DEFAULT,
        help=f"admin URL of a PostgreSQL server (default: ${PG_ENV} or {PG_DEFAULT})",
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL rows")
    parser.add_argument("--rounds", type=int, help="rounds per measurement (the best is reported)")
    parser.add_argument("--profile", action="store_true", help="also cProfile the hot path and one flush")
    args = parser.parse_args(argv)
    sz = QUICK if args.quick else FULL
    if args.rounds:
        sz = Sizes(**{**sz.__dict__, "rounds": args.rounds})

    started = time.perf_counter()
    print(
        f"strongroom vault benchmark ({'quick' if args.quick else 'full'} run), {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
    )
    print(machine())
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    value = secrets.token_hex(VALUE_CHARS // 2)
    tmp = Path(tempfile.mkdtemp(prefix="strongroom-bench-"))
    try:
        kp = LocalKeyProvider.create_file(tmp / "keys" / "dev.json", "dev")
        baseline = Baseline(sz.bare)
        baseline.sample(sz.rounds)
        rows, parts, profiled = run_sqlite(tmp, kp, value, sz, baseline, profile=args.profile)
        if args.no_postgres:
            print("PostgreSQL: skipped (--no-postgres)")
        else:
            rows += run_postgres(args.postgres_url, kp, value, sz)
        baseline.sample(sz.rounds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    baseline_ns = baseline.best
    baseline_median = baseline.median
    rows.insert(
        0,
        Row(
            "baseline: bare AESGCM.decrypt (64 B)",
            "-",
            baseline_ns,
            "call",
            sz.bare,
            len(baseline.samples),
            baseline_median,
        ),
    )

    hot = next(r for r in rows if r.what == HOT_ASYNC)
    ratio = hot.ns_per_op / baseline_ns
    print()
    print(fmt_table(rows, baseline_ns))
    print()
    print(
        f"hot async use() / bare decrypt = {ratio:.2f} best/best, "
        f"{(hot.median_ns or hot.ns_per_op) / baseline_median:.2f} median/median "
        f"(goal <= 3: {'met' if ratio <= 3 else 'NOT met'})"
    )
    samples = sorted(baseline.samples)
    print(
        f"baseline samples (ns/call): best {samples[0]:.0f}, median {baseline_median:.0f}, "
        f"worst {samples[-1]:.0f} over {len(samples)} rounds spread over the run"
    )
    print()
    print("hot-path breakdown (ns per call, each step timed alone, best of 3, writer thread paused):")
    for label, ns in parts:
        print(f"  {label:<46} {'n/a' if ns is None else f'{ns:8.0f}':>8}")
    if profiled:
        print()
        print(profiled)
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"total run time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
