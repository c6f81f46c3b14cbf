#!/usr/bin/env python
"""Benchmark of a key rotation's rewrap on PostgreSQL, against bare AES-GCM, and of a shred.

In a scratch database (created here, dropped at the end) on the PostgreSQL at ``--url``: ``--tenants`` tenants,
each with a data key wrapped under the environment's root key, inserted with COPY (the keys wrapped with the
vault's own primitives, ``seal_key`` and ``wrap_context``, under the root key the vault made). Then a real
``strongroom key rotate --batch-size N`` process rewraps every one of them under a new root key; its wall time
and peak RSS (``os.wait4``'s rusage) are printed, beside two floors measured in the same run: bare AES-GCM unwrap
and wrap of the same wrapped keys with ``cryptography``'s ``AESGCM``, no database, no strongroom; and PostgreSQL
rewriting every data key row once in one UPDATE (rolled back), no Python, no crypto.

Then, in a second scratch database of ``--shred-tenants`` tenants, one tenant is deleted and a real
``strongroom key shred`` runs: a new provider version and root key, every remaining data key rewrapped, every
older root key and provider version destroyed.

    .venv/bin/python bench/rekey_bench.py                      # 20,000 tenants: a smoke test, under a minute
    .venv/bin/python bench/rekey_bench.py --tenants 1000000 --shred-tenants 100000
    .venv/bin/python bench/rekey_bench.py --tenants 200000 --profile   # the rotation under cProfile
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.crypto import LocalKeyProvider
from strongroom.crypto.envelope import new_key
from strongroom.crypto.keys import open_key, root_context, seal_key, wrap_context
from strongroom.defaults import REWRAP_BATCH
from strongroom.vault import Vault

ENV = "dev"
DEFAULT_URL = os.environ.get("STRONGROOM_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
CHUNK = 10_000  # rows generated, copied and (for the floor) rewrapped at a time: memory stays bounded


def database_url(admin: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(admin).set(database=name).render_as_string(hide_password=False)


def conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def root_cipher(conn: psycopg.Connection[Any], provider: LocalKeyProvider, version: int) -> AESGCM:
    pid, pv, wrapped = conn.execute(
        "SELECT provider_id, provider_version, wrapped FROM root_keys WHERE environment = %s AND version = %s",
        (ENV, version),
    ).fetchone()  # type: ignore[misc]
    return AESGCM(provider.unwrap(wrapped, pv, root_context(ENV, pid, version)))


def populate(url: str, home: Path, tenants: int) -> tuple[float, float]:
    """``tenants`` tenants with one data key each under root key v1 (and one tenant, "seed", made through the
    vault, with a secret). Returns (seconds spent populating, seconds of bare AES-GCM unwrap+wrap of the same
    keys under another 256-bit key: the floor a rewrap cannot beat)."""
    provider = LocalKeyProvider.create_file(home / "keys" / f"{ENV}.json", ENV)
    with Vault.open(url, key_provider=provider, environment=ENV, actor="bench") as vault:
        vault.create_tenant("seed")
        vault.put("seed", "s", "bench-value")
    started = time.perf_counter()
    floor = 0.0
    other = AESGCM(new_key())
    now = time.time()
    with psycopg.connect(conninfo(url)) as conn:
        old = root_cipher(conn, provider, 1)
        with conn.cursor() as cur:
            with cur.copy("COPY tenants (id, environment, name, created_at) FROM STDIN") as copy:
                for i in range(tenants):
                    copy.write_row((f"{i:032x}", ENV, f"b{i:07d}", now))
            with cur.copy(
                "COPY data_keys (tenant_id, version, kek_id, kek_version, wrapped, created_at) FROM STDIN"
            ) as copy:
                for start in range(0, tenants, CHUNK):
                    contexts = [
                        wrap_context(ENV, f"{i:032x}", 1, "root") for i in range(start, min(tenants, start + CHUNK))
                    ]
                    blobs = [seal_key(old, new_key(), context) for context in contexts]
                    for offset, blob in enumerate(blobs):
                        copy.write_row((f"{start + offset:032x}", 1, "root", 1, blob, now))
                    floor += bare_rewrap(old, other, blobs, contexts)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE tenants")  # as a live database's statistics would be
        conn.execute("VACUUM ANALYZE data_keys")
    return time.perf_counter() - started - floor, floor


def bare_rewrap(old: AESGCM, new: AESGCM, blobs: list[bytes], contexts: list[bytes]) -> float:
    """Seconds for AES-GCM alone to unwrap ``blobs`` and wrap each key again under ``new`` (fresh nonces)."""
    started = time.perf_counter()
    for blob, context in zip(blobs, contexts, strict=True):
        key = old.decrypt(blob[:12], blob[12:], context)
        nonce = os.urandom(12)
        nonce + new.encrypt(nonce, key, context)
    return time.perf_counter() - started


def run_cli(home: Path, url: str, *args: str, profile: Path | None = None) -> tuple[float, float, dict[str, Any]]:
    """A real ``strongroom`` process: (wall seconds, its peak RSS in MiB, its JSON output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(STRONGROOM_HOME=str(home), STRONGROOM_URL=url, STRONGROOM_ENV=ENV)
    prefix = ["-m", "cProfile", "-o", str(profile)] if profile else []
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(  # noqa: S603 -- our own CLI
            [sys.executable, *prefix, "-m", "strongroom.cli.main", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(child.pid, 0)  # the child's own rusage: its peak RSS
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"strongroom {' '.join(args)} failed: {err.read().decode(errors='replace')[-2000:]}")
        cpu = usage.ru_utime + usage.ru_stime
        print(f"  (strongroom {args[0]} {args[1]}: {cpu:.1f} s of CPU in the strongroom process, {elapsed:.1f} s wall)")
        return elapsed, usage.ru_maxrss / 1024, json.loads(out.read())


def check_sample(url: str, home: Path, tenants: int, root_version: int, sample: int = 1000) -> None:
    """A random sample of the rewrapped keys authenticates under the new root key (the rest were counted)."""
    provider = LocalKeyProvider.from_file(home / "keys" / f"{ENV}.json")
    ids = [f"{i:032x}" for i in random.sample(range(tenants), min(sample, tenants))]
    with psycopg.connect(conninfo(url)) as conn:
        root = root_cipher(conn, provider, root_version)
        rows = conn.execute(
            "SELECT tenant_id, version, kek_version, wrapped FROM data_keys WHERE tenant_id = ANY(%s)", (ids,)
        ).fetchall()
    assert len(rows) == len(ids)
    for tenant_id, version, kek_version, wrapped in rows:
        assert kek_version == root_version
        open_key(root, wrapped, wrap_context(ENV, tenant_id, version, "root"))


def floor_after(url: str, home: Path, root_version: int) -> float:
    """The bare floor again, right after the rotation, over the same keys as they now are (under the new root):
    this machine's speed drifts by a quarter within minutes, so the ratio is shown against both."""
    provider = LocalKeyProvider.from_file(home / "keys" / f"{ENV}.json")
    other = AESGCM(new_key())
    floor = 0.0
    with psycopg.connect(conninfo(url)) as conn:
        root = root_cipher(conn, provider, root_version)
        with conn.cursor(name="keys", binary=True) as cur:  # server-side: a chunk at a time
            cur.execute("SELECT tenant_id, version, wrapped FROM data_keys WHERE kek_id = 'root'")
            while rows := cur.fetchmany(CHUNK):
                contexts = [wrap_context(ENV, t, v, "root") for t, v, _ in rows]
                floor += bare_rewrap(root, other, [w for _, _, w in rows], contexts)
    return floor


def count_data_keys(url: str) -> int:
    with psycopg.connect(conninfo(url)) as conn:
        return int(conn.execute("SELECT count(*) FROM data_keys").fetchone()[0])  # type: ignore[index]


def database_floor(url: str) -> float:
    """Seconds PostgreSQL takes to rewrite every data key row once by itself: one UPDATE of every row's
    ``wrapped`` with a value of the same size, no Python, no crypto, no round trip per batch; rolled back, then
    vacuumed. No rewrap can write its rows faster on this server."""
    with psycopg.connect(conninfo(url)) as conn:
        started = time.perf_counter()
        conn.execute("UPDATE data_keys SET wrapped = substring(wrapped from 2) || substring(wrapped for 1)")
        elapsed = time.perf_counter() - started
        conn.rollback()
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("VACUUM data_keys")
    return elapsed


def scratch(admin: str) -> str:
    name = "strongroom_bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(conninfo(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop(admin: str, name: str) -> None:
    with psycopg.connect(conninfo(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_rotation(admin: str, tenants: int, batch: int, profile: bool) -> None:
    name = scratch(admin)
    url = database_url(admin, name)
    home = Path(tempfile.mkdtemp(prefix="strongroom-bench-"))
    try:
        populated, floor = populate(url, home, tenants)
        print(f"populated {tenants:,} tenants in {populated:.1f} s (COPY; VACUUM ANALYZE)")
        started_at, startup_peak, _ = run_cli(home, url, "key", "status", "--json")
        print(
            f"`strongroom key status` (process start, vault open, counts): {started_at:.2f} s, {startup_peak:.0f} MiB"
        )
        keys = count_data_keys(url)  # the bench's tenants, the seed tenant's key and the audit key
        stats = home / "rotate.prof" if profile else None
        elapsed, peak, result = run_cli(home, url, "key", "rotate", "--json", "--batch-size", str(batch), profile=stats)
        assert result["rewrapped"] == keys, result
        check_sample(url, home, tenants, result["root_version"])
        print(
            f"`strongroom key rotate --batch-size {batch}`: {keys:,} data keys rewrapped in {elapsed:.1f} s "
            f"({keys / elapsed:,.0f} keys/s, {elapsed / keys * 1e6:.1f} µs/key), peak RSS {peak:.0f} MiB"
        )
        again = floor_after(url, home, result["root_version"])
        print(
            f"bare AES-GCM unwrap+wrap of the same keys: {floor:.2f} s before ({floor / tenants * 1e6:.2f} µs/key), "
            f"{again:.2f} s after"
        )
        print(
            f"ratio: {elapsed / floor:.1f} times the bare wrapping before, {elapsed / again:.1f} after (the whole "
            "process)"
        )
        # What the rewrap itself costs: the rotate process less what any strongroom process pays to start,
        # open the vault and count the keys (the `key status` run just before, on the same store).
        rewrap = elapsed - started_at
        print(f"rewrap alone (rotate less status): {rewrap:.1f} s, ratio {rewrap / floor:.1f} times the bare wrapping")
        rows = database_floor(url)
        print(
            f"PostgreSQL's own floor, one UPDATE of every row: {rows:.2f} s ({rows / keys * 1e6:.2f} µs/key, "
            f"{rows / floor:.1f} times the bare wrapping); the rewrap alone is {rewrap / rows:.1f} times it"
        )
        if stats is not None:
            import pstats

            pstats.Stats(str(stats)).sort_stats("cumulative").print_stats(30)
    finally:
        drop(admin, name)


def bench_shred(admin: str, tenants: int, batch: int) -> None:
    name = scratch(admin)
    url = database_url(admin, name)
    home = Path(tempfile.mkdtemp(prefix="strongroom-bench-"))
    try:
        populate(url, home, tenants)
        with Vault.open(
            url, key_provider=LocalKeyProvider.from_file(home / "keys" / f"{ENV}.json"), actor="bench"
        ) as v:
            v.delete_tenant("seed")  # a deletion awaits a shred
        keys = count_data_keys(url)  # the remaining tenants' and the audit key
        elapsed, peak, result = run_cli(home, url, "key", "shred", "--json", "--batch-size", str(batch))
        assert (result["deletions"], result["rewrapped"]) == (1, keys), result
        print(
            f"`strongroom key shred --batch-size {batch}` with {tenants:,} remaining tenants: {elapsed:.1f} s, "
            f"peak RSS {peak:.0f} MiB (roots destroyed {result['roots_retired']}, provider versions destroyed "
            f"{result['provider_versions_destroyed']})"
        )
    finally:
        drop(admin, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=REWRAP_BATCH)
    parser.add_argument("--shred-tenants", type=int, default=None, help="default: min(--tenants, 100000)")
    parser.add_argument("--url", default=DEFAULT_URL, help="an admin URL of the PostgreSQL to bench on")
    parser.add_argument("--profile", action="store_true", help="run the rotation under cProfile")
    args = parser.parse_args()
    shred_tenants = args.shred_tenants if args.shred_tenants is not None else min(args.tenants, 100_000)
    print(
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}, PostgreSQL at {args.url.split('@')[-1]}"
    )
    bench_rotation(args.url, args.tenants, args.batch_size, args.profile)
    if shred_tenants:
        bench_shred(args.url, shred_tenants, args.batch_size)
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
