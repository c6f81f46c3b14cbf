#!/usr/bin/env python
"""Load test of the audit queue: sustained audited ``use()`` rate, queue high-water mark and ``use()`` latency
percentiles at 50%, 100% and 150% of the audit writer's capacity, beside the hot ``use()`` with auditing off and
the strict (fail-closed) mode, on SQLite and on PostgreSQL, all in one run.

Everything is made at run time: a temporary directory (key file, SQLite file) and, when PostgreSQL is reachable,
a throwaway database ``strongroom_bench_<random>`` dropped at the end (server: ``--postgres-url``, else
``$STRONGROOM_BENCH_POSTGRES_URL``, else ``$STRONGROOM_TEST_POSTGRES_URL``, else the local default).

Per store, in this order:

1. **capacity**: one thread calls the hot ``use()`` flat out for ``--seconds``; the writer's capacity is what it
   committed per second meanwhile (served less the change in the queue, over the time), competing for the
   interpreter with a producer as it does in production.
2. **paced runs** at 50%, 100% and 150% of that capacity: one thread issues uses on a schedule (the calls due
   every 0.5 ms, then a short sleep), each call timed; after the run the queue is flushed, untimed.
3. **audit off**: the same hot statement with the vault's use-event hand-over replaced by a no-op (an append to
   ``deque(maxlen=0)``; a private attribute, bench only): what ``use()`` costs with no audit at all.
4. **strict**: a vault in ``audit_mode="strict"``, one thread and then 8 threads flat out (group commit).

Latency is per ``with vault.use(...) as s: s.reveal()`` statement, ``time.perf_counter_ns`` around it.

    .venv/bin/python bench/audit_bench.py                 # about 70 s on 2 cores
    .venv/bin/python bench/audit_bench.py --seconds 1 --no-postgres   # a smoke test
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault

try:
    import psycopg
except ImportError:  # the PostgreSQL rows are skipped
    psycopg = None

TENANT, NAME, PURPOSE = "bench", "api-key", "bench"
VALUE = "bench-value-" + "x" * 52  # 64 characters, as in vault_bench.py


@dataclass
class Row:
    store: str
    what: str
    offered: float | None  # uses/s asked for (None: flat out)
    served: float  # uses/s achieved
    high_water: int | None
    latencies: list[int]  # ns per use
    dropped: int
    note: str = ""

    def cells(self) -> list[str]:
        lat = sorted(self.latencies)

        def pct(p: float) -> str:
            return f"{lat[min(len(lat) - 1, int(len(lat) * p))] / 1000:,.1f}"

        return [
            self.store,
            self.what,
            "flat out" if self.offered is None else f"{self.offered:,.0f}",
            f"{self.served:,.0f}",
            "-" if self.high_water is None else f"{self.high_water:,}",
            pct(0.5),
            pct(0.99),
            pct(0.999),
            f"{lat[-1] / 1000:,.0f}",
            f"{self.dropped:,}",
            self.note,
        ]


HEADER = (
    "| store | run | offered uses/s | served uses/s | queue high-water | p50 µs | p99 µs | p99.9 µs | max µs "
    "| dropped | note |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)


def open_vault(stack: ExitStack, url: str, home: Path, **options: object) -> Vault:
    vault = Vault.open(url, home=home, actor="bench", **options)  # type: ignore[arg-type]
    stack.callback(vault.close)
    return vault


def warm(vault: Vault) -> None:
    for _ in range(200):
        with vault.use(TENANT, NAME, purpose=PURPOSE) as secret:
            secret.reveal()
    vault.flush_audit()


def reset_high_water(vault: Vault) -> None:
    vault._audit.high_water = 0  # bench only: the mark of this run


def flat_out(vault: Vault, seconds: float) -> tuple[int, float, list[int]]:
    """(uses served, seconds taken, ns per use) of one thread calling the hot use() as fast as it can."""
    lat: list[int] = []
    note = lat.append
    clock = time.perf_counter_ns
    use = vault.use
    end = clock() + int(seconds * 1e9)
    start = clock()
    t = start
    while t < end:
        with use(TENANT, NAME, purpose=PURPOSE) as secret:
            secret.reveal()
        now = clock()
        note(now - t)
        t = now
    return len(lat), (t - start) / 1e9, lat


def paced(vault: Vault, rate: float, seconds: float) -> tuple[int, float, list[int]]:
    """One thread issuing ``rate`` uses a second for ``seconds``: the calls due every 0.5 ms, then a short sleep
    (the sleep lets the writer run, as an idle request handler would)."""
    lat: list[int] = []
    note = lat.append
    clock = time.perf_counter_ns
    use = vault.use
    start = clock()
    end = start + int(seconds * 1e9)
    done = 0
    while True:
        now = clock()
        if now >= end:
            break
        due = int((now - start) * rate / 1e9)
        while done < due:
            t = clock()
            with use(TENANT, NAME, purpose=PURPOSE) as secret:
                secret.reveal()
            note(clock() - t)
            done += 1
        time.sleep(0.0005)
    return done, (clock() - start) / 1e9, lat


def threads_flat_out(vault: Vault, seconds: float, threads: int) -> tuple[int, float, list[int]]:
    results: list[list[int]] = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)
    stop = threading.Event()

    def worker(lat: list[int]) -> None:
        clock = time.perf_counter_ns
        barrier.wait()
        while not stop.is_set():
            t = clock()
            with vault.use(TENANT, NAME, purpose=PURPOSE) as secret:
                secret.reveal()
            lat.append(clock() - t)

    workers = [threading.Thread(target=worker, args=(r,)) for r in results]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    stop.wait(seconds)
    stop.set()
    for w in workers:
        w.join()
    took = time.perf_counter() - start
    merged = [x for r in results for x in r]
    return len(merged), took, merged


def run_store(store: str, url: str, home: Path, seconds: float) -> list[Row]:
    rows: list[Row] = []
    with ExitStack() as stack:
        vault = open_vault(stack, url, home)
        vault.create_tenant(TENANT)
        vault.put(TENANT, NAME, VALUE)
        warm(vault)
        audit = vault._audit

        # 1. capacity: what the writer commits per second while a producer runs flat out
        before = vault.pending_audit_events
        reset_high_water(vault)
        n, took, lat = flat_out(vault, seconds)
        capacity = (n - (vault.pending_audit_events - before)) / took
        rows.append(Row(store, "capacity: async, flat out", None, n / took, audit.high_water, lat, audit.dropped_total))
        rows[-1].note = f"writer committed {capacity:,.0f} events/s"
        vault.flush_audit()
        print(f"{store}: writer capacity {capacity:,.0f} events/s", file=sys.stderr)

        # 2. paced runs
        for share in (0.5, 1.0, 1.5):
            reset_high_water(vault)
            n, took, lat = paced(vault, share * capacity, seconds)
            left = vault.pending_audit_events
            t = time.perf_counter()
            vault.flush_audit()
            drain = time.perf_counter() - t
            rows.append(
                Row(
                    store,
                    f"async, {share:.0%} of capacity",
                    share * capacity,
                    n / took,
                    audit.high_water,
                    lat,
                    audit.dropped_total,
                    f"{left:,} queued at the end ({drain * 1000:,.0f} ms to flush)",
                )
            )
            print(f"{store}: {rows[-1].what} done", file=sys.stderr)

        # 3. audit off: the same statement, the use event handed to a C-level no-op (an append to a deque that
        # keeps nothing), as cheap as the real hand-over (an append to the queue)
        discard: deque[object] = deque(maxlen=0)
        vault._submit_use = discard.append  # type: ignore[assignment]
        n, took, lat = flat_out(vault, seconds)
        rows.append(Row(store, "audit off (no-op hand-over), flat out", None, n / took, None, lat, 0))

    with ExitStack() as stack:
        # 4. strict: one thread, then eight (group commit)
        vault = open_vault(stack, url, home, audit_mode="strict")
        warm(vault)
        n, took, lat = flat_out(vault, seconds)
        rows.append(Row(store, "strict, 1 thread, flat out", None, n / took, None, lat, 0))
        n, took, lat = threads_flat_out(vault, seconds, 8)
        rows.append(Row(store, "strict, 8 threads, flat out", None, n / took, None, lat, 0))
    return rows


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str | None]:
    if psycopg is None:
        print("PostgreSQL: psycopg is not installed: skipping PG rows", file=sys.stderr)
        yield None
        return
    conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://")
    name = "strongroom_bench_" + uuid.uuid4().hex[:12]
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"PostgreSQL unreachable ({type(exc).__name__}): skipping PG rows", file=sys.stderr)
        yield None
        return
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each run (default 4)")
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    pg = (
        args.postgres_url
        or os.environ.get("STRONGROOM_BENCH_POSTGRES_URL")
        or os.environ.get("STRONGROOM_TEST_POSTGRES_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    started = time.time()
    load = os.getloadavg()[0]
    home = Path(tempfile.mkdtemp(prefix="strongroom-audit-bench-"))
    LocalKeyProvider.create_file(home / "keys" / "dev.json", "dev")
    rows = run_store("sqlite", f"sqlite:///{home / 'bench.db'}", home, args.seconds)
    if not args.no_postgres:
        with postgres_database(pg) as url:
            if url is not None:
                rows.extend(run_store("postgresql", url, home, args.seconds))
    print(
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load {load:.2f} at start, {os.getloadavg()[0]:.2f} at end, {time.time() - started:.0f} s, "
        f"{args.seconds:g} s per run"
    )
    print(HEADER)
    for row in rows:
        print("| " + " | ".join(row.cells()) + " |")
    off = {r.store: r for r in rows if r.what.startswith("audit off")}
    for r in rows:
        if r.what.startswith("audit off"):
            continue
        base = statistics.median(off[r.store].latencies)
        print(f"{r.store}: {r.what}: median use() {statistics.median(r.latencies) / base:.2f}x audit off")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
