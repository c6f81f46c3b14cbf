#!/usr/bin/env python
"""Benchmark of the audit writer's cost per event: queued hot ``use()`` events chained and written.

On a fresh SQLite vault (a throwaway directory and key file, made here), each round queues ``--events``
hot uses of one secret, then times ``vault.flush_audit()``: the writer expands, chains (hash chain keyed by
tenant id), and inserts them in one transaction. Printed: µs per event (best and median of the rounds), and
the baseline measured in the same run, the same number of bare ``sqlite3`` inserts of rows of the same
width into a table with the same indexes, as a ratio.

    .venv/bin/python bench/audit_flush_bench.py            # about 20 s
    .venv/bin/python bench/audit_flush_bench.py --events 10000 --rounds 3
"""

from __future__ import annotations

import argparse
import platform
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault


def writer_us_per_event(events: int, rounds: int) -> list[float]:
    home = Path(tempfile.mkdtemp(prefix="strongroom-bench-"))
    vault = Vault.open(
        f"sqlite:///{home}/vault.db",
        key_provider=LocalKeyProvider.create_file(home / "key.json", "dev"),
        environment="dev",
        actor="bench",
    )
    try:
        vault.create_tenant("t")
        vault.put("t", "k", "bench-value-" + "x" * 20)
        found = []
        for _ in range(rounds):
            vault.flush_audit()
            for _ in range(events):
                with vault.use("t", "k", purpose="bench") as secret:
                    secret.reveal()
            started = time.perf_counter()
            vault.flush_audit()
            found.append((time.perf_counter() - started) / events * 1e6)
        return found
    finally:
        vault.close()


def bare_insert_us_per_row(events: int, rounds: int) -> list[float]:
    """The floor: executemany of rows as wide as an audit event's, into a table with the same indexes."""
    home = Path(tempfile.mkdtemp(prefix="strongroom-bench-"))
    db = sqlite3.connect(home / "bare.db")
    db.execute(
        "CREATE TABLE e (id INTEGER PRIMARY KEY, chain TEXT, seq INTEGER, at REAL, environment TEXT, actor TEXT,"
        " tenant TEXT, action TEXT, secret_name TEXT, version INTEGER, purpose TEXT, outcome TEXT,"
        " request_id TEXT, detail TEXT, prev_hash TEXT, hash TEXT, tenant_id TEXT, UNIQUE (chain, seq))"
    )
    db.execute("CREATE INDEX e_tenant_at ON e (tenant, at)")
    db.execute("CREATE INDEX e_tenant_id_at ON e (tenant_id, at)")
    found, seq = [], 0
    for _ in range(rounds):
        rows = []
        for _ in range(events):
            seq += 1
            rows.append(
                ("dev/tenant:x", seq, time.time(), "dev", "bench", "t", "secret.use", "k", 1, "bench", "ok", None,
                 None, "0" * 64, "1" * 64, "x" * 32)
            )  # fmt: skip
        started = time.perf_counter()
        db.executemany(
            "INSERT INTO e (chain, seq, at, environment, actor, tenant, action, secret_name, version, purpose,"
            " outcome, request_id, detail, prev_hash, hash, tenant_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        db.commit()
        found.append((time.perf_counter() - started) / events * 1e6)
    db.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"audit writer benchmark, {platform.platform()}, Python {platform.python_version()}")
    bare = bare_insert_us_per_row(args.events, args.rounds)
    writer = writer_us_per_event(args.events, args.rounds)
    print(f"baseline: bare sqlite3 insert   {min(bare):7.2f} µs/row best, {statistics.median(bare):7.2f} median")
    print(f"audit writer (flush_audit)      {min(writer):7.2f} µs/event best, {statistics.median(writer):7.2f} median")
    print(f"writer / bare insert = {min(writer) / min(bare):.2f}x best/best")


if __name__ == "__main__":
    main()
