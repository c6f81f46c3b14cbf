#!/usr/bin/env python
"""Benchmark of rotation (issue 17): time to rotate 10,000 due ``random`` secrets, and what rotations running
in another thread add to the p99 of ``vault.use()`` on a hot secret.

Everything is created at run time: a temporary key file and SQLite database, or with ``--url`` a throwaway
database ``strongroom_bench_<random>`` on that PostgreSQL server (dropped at the end). The secrets are put
and their policies set (``every`` one day) through the vault and the engine; they are made due by running the
engine with a clock two days ahead (and four days ahead for the second pass), as a real store is two days on.

1. **rotate alone**: ``Rotations.run_due()`` over every due secret, nothing else running: seconds, rotations/s.
2. **use() during rotations**: the same ``run_due()`` in a second thread while this thread times each
   ``with vault.use(...) as s: s.reveal()`` of a hot secret (one call every ``--pace-ms`` ms, as an app's
   request handler would), until the rotations end.
3. **use() alone**: the same paced loop, the same number of calls, with no rotation running.

The p50/p99/p99.9 of 2 and 3 and their ratio are the extra latency rotations cost a consumer.

    .venv/bin/python bench/rotation_bench.py                     # 10,000 secrets, SQLite
    .venv/bin/python bench/rotation_bench.py --url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/rotation_bench.py --quick             # 1,000 secrets, a smoke test
    .venv/bin/python bench/rotation_bench.py --profile           # cProfile of pass 1 (top 25, cumulative)
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy
from sqlalchemy.engine import make_url

from strongroom.crypto import LocalKeyProvider
from strongroom.rotation import Rotations
from strongroom.vault import Vault

TENANT = "bench"
HOT = "hot-api-key"
PURPOSE = "bench"
DAY = 86400.0


@contextmanager
def store(url: str | None, home: Path) -> Iterator[str]:
    """A fresh store: SQLite in ``home``, or a throwaway database on the PostgreSQL server of ``url``."""
    if url is None:
        yield f"sqlite:///{home / 'strongroom.db'}"
        return
    import psycopg

    admin = make_url(url).set(drivername="postgresql")
    name = "strongroom_bench_" + uuid.uuid4().hex[:10]
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0

    return {"p50": at(0.50), "p99": at(0.99), "p99.9": at(0.999), "max": ordered[-1] / 1000.0}


def paced_uses(
    vault: Vault, pace_s: float, *, count: int | None = None, until: threading.Event | None = None
) -> list[int]:
    """Time each ``use()`` of the hot secret, one every ``pace_s``, for ``count`` calls or until ``until``."""
    samples: list[int] = []
    use, clock = vault.use, time.perf_counter_ns
    next_at = time.perf_counter()
    while (count is None or len(samples) < count) and (until is None or not until.is_set()):
        t0 = clock()
        with use(TENANT, HOT, purpose=PURPOSE) as secret:
            secret.reveal()
        samples.append(clock() - t0)
        next_at += pace_s
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)  # pacing the load, not waiting for a result
    return samples


def populate(vault: Vault, count: int) -> float:
    started = time.perf_counter()
    vault.create_tenant(TENANT)
    vault.put(TENANT, HOT, "hot-" + os.urandom(24).hex())
    rotations = Rotations(vault)
    for i in range(count):
        name = f"svc-{i:05d}"
        vault.put(TENANT, name, f"first-{os.urandom(24).hex()}")
        rotations.set_policy(TENANT, name, every="1d", rotator="random")
    return time.perf_counter() - started


def run_due(vault: Vault, days_ahead: float, expected: int) -> float:
    shift = days_ahead * DAY
    engine = Rotations(vault, clock=lambda: time.time() + shift, actor="bench")
    started = time.perf_counter()
    outcomes = engine.run_due()
    elapsed = time.perf_counter() - started
    succeeded = sum(o.status == "succeeded" for o in outcomes)
    if succeeded != expected:
        raise SystemExit(f"expected {expected} rotations to succeed, {succeeded} did: {outcomes[:3]}")
    return elapsed


def report(count: int, took: float, during: list[int], idle: list[int], pace_ms: float) -> None:
    d, i = percentiles(during), percentiles(idle)
    print(
        f"2. rotate while use() runs: {count:,} rotations in {took:.1f} s "
        f"({count / took:,.0f} rotations/s), {len(during):,} use() calls"
    )
    print(f"3. use() alone: {len(idle):,} calls, one every {pace_ms:g} ms")
    print(f"{'use() µs':<26}{'p50':>9}{'p99':>9}{'p99.9':>9}{'max':>10}")
    for label, row in (("during rotations", d), ("no rotation running", i)):
        print(f"{label:<26}{row['p50']:>9.1f}{row['p99']:>9.1f}{row['p99.9']:>9.1f}{row['max']:>10.0f}")
    print(
        f"ratio during/alone: p50 {d['p50'] / i['p50']:.2f}x, p99 {d['p99'] / i['p99']:.2f}x, "
        f"p99.9 {d['p99.9'] / i['p99.9']:.2f}x; extra p99 {d['p99'] - i['p99']:.1f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--secrets", type=int, default=10_000)
    parser.add_argument("--url", default=None, help="a PostgreSQL server URL (default: SQLite in a temp dir)")
    parser.add_argument("--pace-ms", type=float, default=1.0, help="one use() every this many ms")
    parser.add_argument("--quick", action="store_true", help="1,000 secrets")
    parser.add_argument("--profile", action="store_true", help="cProfile the first run_due (top 25 by cumulative)")
    args = parser.parse_args()
    count = 1_000 if args.quick else args.secrets
    pace = args.pace_ms / 1000.0
    print(
        f"{platform.python_implementation()} {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, {count:,} secrets, "
        f"store {'PostgreSQL' if args.url else 'SQLite'}"
    )
    home = Path(tempfile.mkdtemp(prefix="strongroom-bench-"))
    try:
        with store(args.url, home) as url:
            provider = LocalKeyProvider.create_file(home / "keys" / "dev.json", "dev")
            with Vault.open(url, key_provider=provider, actor="bench", home=home) as vault:
                print(f"populated {count:,} secrets with policies in {populate(vault, count):.1f} s")

                profiler = cProfile.Profile() if args.profile else None
                if profiler is not None:
                    profiler.enable()
                alone = run_due(vault, 2, count)
                if profiler is not None:
                    profiler.disable()
                print(f"1. rotate alone: {count:,} rotations in {alone:.1f} s ({count / alone:,.0f} rotations/s)")

                done = threading.Event()
                took: list[float] = []

                def rotate() -> None:
                    try:
                        took.append(run_due(vault, 4, count))
                    finally:
                        done.set()

                thread = threading.Thread(target=rotate, name="rotations")
                for _ in range(200):  # warm the hot entry and the code paths before timing
                    with vault.use(TENANT, HOT, purpose=PURPOSE) as secret:
                        secret.reveal()
                thread.start()
                during = paced_uses(vault, pace, until=done)
                thread.join()
                idle = paced_uses(vault, pace, count=len(during))
            if not took:
                raise SystemExit("the rotation thread failed")
            report(count, took[0], during, idle, args.pace_ms)
            if profiler is not None:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
                print(out.getvalue())
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"load {os.getloadavg()[0]:.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
