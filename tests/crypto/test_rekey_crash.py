"""``strongroom key rotate`` killed at random points, and two rotations at once, over many tenants: nothing is lost.

A store of 50,000 tenants (SQLite; 2,000 on PostgreSQL) is built fast: a few tenants and secrets through the
vault, then tenants and data keys inserted in bulk with SQL, each data key wrapped under the environment's root
key with the vault's own primitives (``seal_key``, ``wrap_context``), and secrets put through the vault in a few
hundred of those bulk tenants. The test keeps every data key it made, so it can check afterwards, outside the
vault's code, that every one of them still unwraps to the same bytes under the root key its row names.

Kill points come from a seeded random (the seed is printed): a real ``strongroom key rotate`` process runs until
the number of data keys under a newer root than the one it started from reaches the chosen point (the parent polls
the database for that condition), then gets SIGKILL. Three times; after each kill every data key and a sample of
secrets are checked before anything resumes. Then two rotations run at once, to completion: the first stops after
its first committed batch (its progress callback waits on a pipe) until the second says it waits for the first.
Both must finish; then every data key is under the second's root key, and every secret reads back, before and
after ``key retire``.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.crypto import LocalKeyProvider
from strongroom.crypto.envelope import new_key
from strongroom.crypto.keys import open_key, root_context, seal_key, wrap_context
from strongroom.store import engines
from strongroom.store.tables import data_keys, root_keys
from strongroom.vault import Vault

BOUND = 300.0  # seconds: only how long a broken run may hang before it fails; nothing is timed
POLL = 0.01  # seconds between two looks at the database while waiting for a kill point (a condition, not a time)
ENV = "dev"
WAITING = "waiting for another key rotation to finish"
BARRIER = "@@barrier rewrap"

# `strongroom key rotate` that stops after its first committed batch of rewraps until its stdin says "go".
PAUSING_ROTATE = f"""
import sys
from contextlib import contextmanager

import strongroom.cli.key as key_cli

@contextmanager
def progress(label):
    paused = []
    def update(done, total):
        if 0 < done < total and not paused:
            paused.append(done)
            print({BARRIER!r}, flush=True)
            if sys.stdin.readline().strip() != "go":
                raise SystemExit(3)
    yield update

key_cli._progress = progress
from strongroom.cli.main import main
main(sys.argv[1:])
"""


@dataclass
class Populated:
    url: str
    key_file: Path
    env: dict[str, str]
    keys: dict[str, bytes] = field(default_factory=dict)  # tenant id -> its data key (version 1)
    secrets: list[tuple[str, str, str]] = field(default_factory=list)  # (tenant, name, value)
    bare_tenants: list[str] = field(default_factory=list)  # bulk tenants with no secret


def _populate(
    tmp_path: Path, url: str, count: int, cli_invoke: Callable[..., subprocess.CompletedProcess[str]]
) -> Populated:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(STRONGROOM_HOME=str(home), STRONGROOM_URL=url, NO_COLOR="1", COLUMNS="200")
    assert cli_invoke(["init"], env=env).returncode == 0
    found = Populated(url=url, key_file=home / "keys" / f"{ENV}.json", env=env)
    provider = LocalKeyProvider.from_file(found.key_file)
    with Vault.open(url, key_provider=provider, actor="test") as vault:
        for t in range(10):  # through the vault: creates root key v1
            vault.create_tenant(f"v{t}")
            for s in range(2):
                value = f"value-v{t}-{s}-{os.urandom(8).hex()}"
                vault.put(f"v{t}", f"s{s}", value)
                found.secrets.append((f"v{t}", f"s{s}", value))
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        with engine.begin() as conn:
            root_version, provider_id, provider_version, wrapped = conn.execute(
                sa.select(root_keys.c.version, root_keys.c.provider_id, root_keys.c.provider_version,
                          root_keys.c.wrapped)
                .where(sa.and_(root_keys.c.environment == ENV, root_keys.c.state == "primary"))
            ).one()  # fmt: skip
            root = AESGCM(provider.unwrap(wrapped, provider_version, root_context(ENV, provider_id, root_version)))
            now = time.time()
            tenant_rows, key_rows = [], []
            for i in range(count):
                tenant_id, key = uuid.uuid4().hex, new_key()
                found.keys[tenant_id] = key
                tenant_rows.append((tenant_id, ENV, f"b{i:06d}", now))
                wrapped_key = seal_key(root, key, wrap_context(ENV, tenant_id, 1, "root"))
                key_rows.append((tenant_id, 1, "root", root_version, wrapped_key, now))
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"  # the driver's executemany: fast
            conn.exec_driver_sql(
                f"INSERT INTO tenants (id, environment, name, created_at) VALUES ({', '.join([mark] * 4)})",
                tenant_rows,
            )
            conn.exec_driver_sql(
                "INSERT INTO data_keys (tenant_id, version, kek_id, kek_version, wrapped, created_at) "
                f"VALUES ({', '.join([mark] * 6)})",
                key_rows,
            )
    finally:
        engine.dispose()
    rng = random.Random(count)  # noqa: S311 -- test data
    chosen = rng.sample(range(count), 450)
    with Vault.open(url, key_provider=provider, actor="test") as vault:
        for i in chosen[:200]:  # the vault unwraps the bulk data key to encrypt: it was wrapped right
            value = f"value-b{i}-{os.urandom(8).hex()}"
            vault.put(f"b{i:06d}", "s", value)
            found.secrets.append((f"b{i:06d}", "s", value))
    found.bare_tenants = [f"b{i:06d}" for i in chosen[200:]]
    return found


def _check_every_data_key(store: Populated) -> dict[int, int]:
    """Every data key still unwraps, under the root key its row names, to the bytes it was made with (outside the
    vault: the provider unwraps the root keys, AES-GCM the data keys). Returns data keys per root version."""
    provider = LocalKeyProvider.from_file(store.key_file)
    engine = sa.create_engine(engines.normalise_url(store.url))
    under: dict[int, int] = {}
    try:
        with engine.connect() as conn:
            roots = {
                version: AESGCM(provider.unwrap(wrapped, pv, root_context(ENV, pid, version)))
                for version, pid, pv, wrapped in conn.execute(
                    sa.select(root_keys.c.version, root_keys.c.provider_id, root_keys.c.provider_version,
                              root_keys.c.wrapped)
                    .where(sa.and_(root_keys.c.environment == ENV, root_keys.c.wrapped.is_not(None)))
                )
            }  # fmt: skip
            rows = conn.execute(
                sa.select(data_keys.c.tenant_id, data_keys.c.version, data_keys.c.kek_id, data_keys.c.kek_version,
                          data_keys.c.wrapped)
            ).all()  # fmt: skip
    finally:
        engine.dispose()
    seen = set()
    for tenant_id, version, kek_id, kek_version, wrapped in rows:
        assert kek_id == "root"
        key = open_key(roots[kek_version], wrapped, wrap_context(ENV, tenant_id, version, "root"))
        if tenant_id in store.keys:
            assert version == 1
            assert key == store.keys[tenant_id]
            seen.add(tenant_id)
        under[kek_version] = under.get(kek_version, 0) + 1
    assert seen == set(store.keys)
    return under


def _check_secrets(store: Populated, *, limit: int | None = None, fresh_tenants: int = 0) -> None:
    """Every sampled secret (or ``limit`` of them) reads back; ``fresh_tenants`` bulk tenants with no secret yet
    get one (their data key unwrapped by the vault) and read it back."""
    with Vault.open(
        store.url, key_provider=LocalKeyProvider.from_file(store.key_file), actor="test", cache_ttl_seconds=0
    ) as vault:
        for tenant, name, value in random.sample(store.secrets, min(limit or len(store.secrets), len(store.secrets))):
            with vault.use(tenant, name, purpose="test") as secret:
                assert secret.reveal() == value
        for tenant in store.bare_tenants[:fresh_tenants]:
            value = f"fresh-{tenant}-{os.urandom(4).hex()}"
            vault.put(tenant, "fresh", value)
            with vault.use(tenant, "fresh", purpose="test") as secret:
                assert secret.reveal() == value
        store.bare_tenants = store.bare_tenants[fresh_tenants:]


def _under_newer_root(engine: sa.Engine, than: int) -> tuple[int, bool]:
    """(data keys under a root newer than ``than``, whether such a root exists)."""
    with engine.connect() as conn:
        newest = conn.execute(sa.select(sa.func.max(root_keys.c.version)).where(root_keys.c.environment == ENV))
        exists = (newest.scalar() or 0) > than
        count = conn.execute(
            sa.select(sa.func.count()).select_from(data_keys).where(data_keys.c.kek_version > than)
        ).scalar()
    return int(count or 0), exists


def _newest_root(url: str) -> int:
    """The newest root key that is not merely staged (a rotation killed before promoting one resumes it)."""
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        with engine.connect() as conn:
            newest = sa.select(sa.func.max(root_keys.c.version)).where(root_keys.c.state != "decrypt-only")
            return int(conn.execute(newest).scalar() or 0)
    finally:
        engine.dispose()


def _status(store: Populated, cli_invoke: Callable[..., subprocess.CompletedProcess[str]]) -> dict[str, object]:
    done = cli_invoke(["key", "status", "--json"], env=store.env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _assert_one_primary_holds_everything(status: dict[str, object], total: int) -> int:
    roots = status["roots"]
    assert isinstance(roots, list)
    holding = [(r["version"], r["state"], r["data_keys"]) for r in roots if r["data_keys"]]
    assert [(state, n) for _, state, n in holding] == [("primary", total)], roots
    assert status["provider_wrapped_data_keys"] == []
    return int(holding[0][0])


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "strongroom.cli.main", *args]


def _kill_at_random_points(store: Populated, total: int, batch: int) -> None:
    """Three ``key rotate`` runs, each SIGKILLed once the data keys under a root newer than the one it began from
    reach a point drawn from a seeded random; after each kill, before anything resumes, every data key unwraps
    and secrets read."""
    seed = int.from_bytes(os.urandom(4), "big")
    print(f"kill points: random seed {seed}")
    rng = random.Random(seed)  # noqa: S311 -- test data
    points = [rng.randrange(0, total // 2) for _ in range(3)]
    outcomes = []
    engine = sa.create_engine(engines.normalise_url(store.url))
    try:
        for point in points:
            before = _newest_root(store.url)
            child = subprocess.Popen(
                _cli("key", "rotate", "--batch-size", str(batch)),
                env=store.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                while child.poll() is None:
                    rewrapped, staged = _under_newer_root(engine, before)
                    if staged and rewrapped >= point:
                        child.send_signal(signal.SIGKILL)
                        break
                    time.sleep(POLL)  # the polling interval of a wait for a condition; nothing is timed
            finally:
                _, stderr = child.communicate(timeout=BOUND)
            outcomes.append((point, child.returncode))
            print(f"kill point {point}: exit {child.returncode}, {_under_newer_root(engine, before)[0]} rewrapped")
            assert child.returncode in (0, -signal.SIGKILL), stderr
            assert sum(_check_every_data_key(store).values()) == total
            _check_secrets(store, limit=50, fresh_tenants=10)
    finally:
        engine.dispose()
    assert any(code == -signal.SIGKILL for _, code in outcomes), outcomes


def _rotate_twice_at_once(store: Populated, batch: int) -> list[dict[str, int]]:
    """Two ``key rotate`` runs at once: the first stops after its first committed batch, the second starts then
    and must wait for it (it says so on stderr); then the first goes on. Both must exit 0. Their JSON results."""
    first = subprocess.Popen(
        [sys.executable, "-c", PAUSING_ROTATE, "key", "rotate", "--json", "--batch-size", str(batch)],
        env=store.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    second: subprocess.Popen[str] | None = None
    try:
        assert first.stdout is not None
        assert first.stdin is not None
        assert first.stdout.readline().strip() == BARRIER
        second = subprocess.Popen(
            _cli("key", "rotate", "--json", "--batch-size", str(batch)),
            env=store.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert second.stderr is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(second.stderr, lines), daemon=True).start()
        seen = []
        while (line := lines.get(timeout=BOUND)) is not None and WAITING not in line:
            seen.append(line)
        assert line is not None, seen  # the second waited for the first
        first.stdin.write("go\n")
        first.stdin.flush()
        first_out, first_err = first.communicate(timeout=BOUND)
        second_out, _ = second.communicate(timeout=BOUND)
    finally:
        for child in (first, second):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait(timeout=BOUND)
    assert first.returncode == 0, first_err
    assert second.returncode == 0
    return [json.loads(first_out), json.loads(second_out)]


def _pump(pipe: IO[str], into: queue.Queue[str | None]) -> None:
    for line in pipe:
        into.put(line)
    into.put(None)


@pytest.mark.slow
def test_rotations_killed_at_random_points_then_two_at_once_lose_no_key(
    tmp_path: Path, store_url: str, cli_invoke: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    sqlite = store_url.startswith("sqlite")
    count, batch = (50_000, 2_000) if sqlite else (2_000, 50)
    store = _populate(tmp_path, store_url, count, cli_invoke)
    total = count + 11  # the bulk tenants' data keys, those of the ten made through the vault, the audit key's

    _kill_at_random_points(store, total, batch)

    # Then two rotations at once, to completion: both finish, and the second's root holds every key.
    first, second = _rotate_twice_at_once(store, batch)
    assert second["root_version"] > first["root_version"]
    assert first["rewrapped"] == second["rewrapped"] == total
    primary = _assert_one_primary_holds_everything(_status(store, cli_invoke), total)
    assert primary == second["root_version"]
    assert _check_every_data_key(store) == {primary: total}
    _check_secrets(store, fresh_tenants=100)

    # Retiring the older roots and provider versions leaves every key and secret readable.
    retired = cli_invoke(["key", "retire", "--json"], env=store.env)
    assert retired.returncode == 0, retired.stderr
    status = _status(store, cli_invoke)
    assert _assert_one_primary_holds_everything(status, total) == primary
    roots = status["roots"]
    assert isinstance(roots, list)
    assert [r["version"] for r in roots if r["state"] != "retired"] == [primary]
    assert json.loads(retired.stdout)["roots_retired"] == [r["version"] for r in roots if r["state"] == "retired"]
    assert _check_every_data_key(store) == {primary: total}
    _check_secrets(store, fresh_tenants=100)
