"""A deleted tenant, shredded, attacked with the provider key in hand (the shredding issue's acceptance test 1).

The attacker holds the key file as it is now and the database's raw files as they are now: SQLite's main file,
its WAL and its shared-memory index (free pages and old WAL frames included), or PostgreSQL's table files and
WAL segments. From a dump taken before the deletion they also know the victim tenant's id, its wrapped data
key, its ciphertexts (with their secret names and versions) and every root key's wrapped bytes; the formats
and contexts are public (docs/crypto.md).

Two attacks, each run before and after ``key shred``:

- *search*: the recorded byte strings are looked for in the raw files; the root keys found are unwrapped by the
  key file's provider (every version it holds), the data keys found by those roots, the envelopes found by
  those data keys;
- *brute force* (SQLite, whose files are small): every 60-byte window of the raw files (a wrapped key is nonce 12
  + key 32 + AES-GCM tag 16; windows with 4 zero bytes in a row are skipped, see ``ZERO_RUN``) is tried as a
  root key under every version of the key file, for every root version the database has known, then as the
  victim's data key under every root recovered; every envelope found by its magic ``SR\\x01`` is tried, at
  every plausible length, under every data key recovered.

Before the shred the attacks recover the victim's values (the control: the test can fail). After it nothing of
the victim decrypts, while the other tenants read back, through the vault and through a fresh ``Vault.open``.

Last, the victim's rows restored from the dump into the live database after the shred cannot be decrypted: not
by a vault opened afterwards, not the one that ran the shred (it forgets the retired root
at once), not one running since before it (it reads the root's row again within ``ROOT_RECHECK_SECONDS``).
"""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.crypto import LocalKeyProvider
from strongroom.crypto.envelope import HEADER, MAGIC, MIN_LENGTH, NONCE_BYTES, Binding, dek_version_of
from strongroom.crypto.keys import open_key, root_context, wrap_context
from strongroom.errors import KeyProviderError, NotFound, TamperedError
from strongroom.store import engines, tables
from strongroom.vault import Vault
from strongroom.vault.keyring import ROOT_RECHECK_SECONDS
from strongroom.vocabulary import ROOT_KEYRING, RootState

ENV = "dev"
TENANTS = ("alpha", "bravo", "victim", "delta", "echo")
VICTIM = "victim"
SECRETS = ("db-password", "api-token", "signing-key")

WRAPPED_KEY_BYTES = NONCE_BYTES + 32 + 16
"""A wrapped 32-byte key: nonce, ciphertext, tag (``crypto.keys.seal_key``)."""

ZERO_RUN = re.compile(rb"\x00{4,}")
"""Four zero bytes in a row: a uniformly random 60-byte window holds them with probability under 2^-25, so the
brute force skips such windows (most of a database page is zeros)."""

ENVELOPE_MAGIC = MAGIC + b"\x01"
MAX_ENVELOPE = 256
"""The longest envelope the magic scan tries (the canaries here make ~110-byte envelopes)."""

Open = Callable[..., Vault]


# -- what the attacker knows, and what they get --------------------------------------------------------------


@dataclass(frozen=True)
class OldDump:
    """What an old dump (taken before the deletion) tells the attacker about the victim and the root keys."""

    tenant_id: str
    wrapped_data_keys: dict[int, bytes]  # DEK version -> nonce || AES-GCM(root, DEK)
    envelopes: dict[tuple[str, int], bytes]  # (secret name, secret version) -> ciphertext
    wrapped_roots: dict[int, bytes]  # root version -> wrapped by the provider

    def needles(self) -> set[bytes]:
        """Every recorded byte string, to look for in the raw files."""
        return {*self.wrapped_data_keys.values(), *self.envelopes.values(), *self.wrapped_roots.values()}


@dataclass(repr=False)
class Loot:
    """What an attack recovered: root keys and the victim's data keys (by version), and plaintexts. Its repr
    (in assertion messages) counts them and shows no key or value."""

    roots: dict[int, set[bytes]] = field(default_factory=dict)
    data_keys: dict[int, set[bytes]] = field(default_factory=dict)
    values: set[bytes] = field(default_factory=set)

    def __repr__(self) -> str:
        return f"Loot(roots={sorted(self.roots)}, data_keys={sorted(self.data_keys)}, values={len(self.values)})"

    def root_versions(self) -> list[int]:
        return sorted(self.roots)

    def data_key_versions(self) -> list[int]:
        return sorted(self.data_keys)

    def count_of(self, values: set[bytes]) -> int:
        """How many of ``values`` were recovered."""
        return len(self.values & values)

    def add_root(self, version: int, key: bytes) -> None:
        self.roots.setdefault(version, set()).add(key)

    def add_data_key(self, version: int, key: bytes) -> None:
        self.data_keys.setdefault(version, set()).add(key)


def record_dump(url: str, tenant: str) -> OldDump:
    """The victim's rows and the root keys' rows, read with SQL, as an old dump of the database would hold them."""
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        with engine.connect() as conn:
            tenant_id = conn.execute(
                sa.text("SELECT id FROM tenants WHERE environment = :e AND name = :n"), {"e": ENV, "n": tenant}
            ).scalar_one()
            deks = conn.execute(
                sa.text("SELECT version, kek_id, wrapped FROM data_keys WHERE tenant_id = :t"), {"t": tenant_id}
            ).all()
            assert deks, "the victim has no data key"
            assert all(kek_id == ROOT_KEYRING for _, kek_id, _ in deks), "data keys not under a root key"
            envelopes = conn.execute(
                sa.text("SELECT name, version, ciphertext FROM secret_versions WHERE tenant_id = :t"), {"t": tenant_id}
            ).all()
        return OldDump(
            tenant_id=str(tenant_id),
            wrapped_data_keys={int(v): bytes(w) for v, _, w in deks},
            envelopes={(str(n), int(v)): bytes(c) for n, v, c in envelopes},
            wrapped_roots=current_wrapped_roots(url),
        )
    finally:
        engine.dispose()


def current_wrapped_roots(url: str) -> dict[int, bytes]:
    """The root keys' wrapped bytes as the ``root_keys`` table holds them now (the attacker reads it too)."""
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT version, wrapped FROM root_keys WHERE environment = :e AND wrapped IS NOT NULL"),
                {"e": ENV},
            ).all()
        return {int(v): bytes(w) for v, w in rows}
    finally:
        engine.dispose()


def root_versions_known(url: str) -> range:
    """Every root version the database has had (retired rows keep their version): the brute force tries each."""
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        with engine.connect() as conn:
            top = conn.execute(sa.text("SELECT max(version) FROM root_keys WHERE environment = :e"), {"e": ENV})
            return range(1, int(top.scalar_one()) + 1)
    finally:
        engine.dispose()


# -- the attacks -----------------------------------------------------------------------------------------------


def needles_in_files(paths: Iterable[Path], needles: set[bytes]) -> set[bytes]:
    """Which of ``needles`` occur in any of the files (read one at a time: WAL segments are 16 MB each)."""
    found: set[bytes] = set()
    for path in paths:
        data = path.read_bytes()
        found.update(n for n in needles - found if n in data)
    return found


def open_any(cipher: AESGCM, windows: Iterable[bytes], aad: bytes) -> list[bytes]:
    """What each of ``windows`` that opens as ``nonce || AES-GCM`` under ``cipher`` with ``aad`` holds: the
    brute force's inner loop (~1 microsecond an attempt)."""
    decrypt = cipher.decrypt
    opened = []
    for window in windows:
        try:
            opened.append(decrypt(window[:NONCE_BYTES], window[NONCE_BYTES:], aad))
        except InvalidTag:
            continue
    return opened


def open_envelopes(
    candidates: Iterable[tuple[bytes, range]], dump: OldDump, data_keys: dict[int, set[bytes]]
) -> set[bytes]:
    """Plaintexts of the envelopes that open under a recovered data key, for any known (name, version): each
    candidate is bytes that start with an envelope, and the envelope lengths to try."""
    plaintexts: set[bytes] = set()
    ciphers = {v: [AESGCM(k) for k in keys] for v, keys in data_keys.items()}
    bindings = [Binding(ENV, dump.tenant_id, name, version) for name, version in dump.envelopes]
    for region, lengths in candidates:
        try:
            dek_version = dek_version_of(region)
        except TamperedError:
            continue
        body = region[HEADER.size :]
        for cipher in ciphers.get(dek_version, []):
            for binding in bindings:
                aad = binding.associated_data(dek_version)
                plaintexts.update(open_any(cipher, (body[: n - HEADER.size] for n in lengths), aad))
    return plaintexts


def search_attack(paths: list[Path], key_file: Path, dump: OldDump, roots_now: dict[int, bytes]) -> Loot:
    """The recorded byte strings looked for in the raw files, and opened with the key file as it is now.

    ``roots_now``: the root keys the ``root_keys`` table holds now, which the attacker reads as well.
    """
    provider = LocalKeyProvider.from_file(key_file)
    candidates = [(v, w) for v, w in dump.wrapped_roots.items()] + list(roots_now.items())
    found = needles_in_files(paths, dump.needles()) | set(roots_now.values())
    loot = Loot()
    for root_version, wrapped in candidates:
        if wrapped not in found:
            continue
        for provider_version in provider.versions():
            context = root_context(ENV, provider.key_id, root_version)
            try:
                loot.add_root(root_version, provider.unwrap(wrapped, provider_version, context))
            except (TamperedError, KeyProviderError):
                continue
    for dek_version, wrapped in dump.wrapped_data_keys.items():
        if wrapped not in found:
            continue
        context = wrap_context(ENV, dump.tenant_id, dek_version, ROOT_KEYRING)
        for keys in loot.roots.values():
            for root in keys:
                try:
                    loot.add_data_key(dek_version, open_key(AESGCM(root), wrapped, context))
                except TamperedError:
                    continue
    envelopes = [(blob, range(len(blob), len(blob) + 1)) for blob in dump.envelopes.values() if blob in found]
    loot.values = open_envelopes(envelopes, dump, loot.data_keys)
    return loot


def random_looking_stretches(data: bytes) -> Iterator[bytes]:
    """``data`` cut at its runs of 4+ zero bytes, keeping 3 zero bytes of each run at either side: every window
    of ``data`` without 4 zero bytes in a row lies whole inside one stretch."""
    start = 0
    for run in ZERO_RUN.finditer(data):
        yield data[start : run.start() + 3]
        start = run.end() - 3
    yield data[start:]


def key_windows(blobs: Iterable[bytes]) -> set[bytes]:
    """Every distinct 60-byte window of the raw files that could be a wrapped key (see ``ZERO_RUN``)."""
    stretches = {s for blob in blobs for s in random_looking_stretches(blob) if len(s) >= WRAPPED_KEY_BYTES}
    return {s[i : i + WRAPPED_KEY_BYTES] for s in stretches for i in range(len(s) - WRAPPED_KEY_BYTES + 1)}


def key_file_ciphers(key_file: Path) -> tuple[str, dict[int, AESGCM]]:
    """The key file's key id and a cipher per version it holds (the provider's material, opened directly: the
    brute force makes ~10^5 attempts, and ``LocalKeyProvider.unwrap`` would turn each failure into an exception
    twice)."""
    doc = json.loads(key_file.read_text())
    return str(doc["key_id"]), {int(v): AESGCM(base64.b64decode(k)) for v, k in doc["keys"].items()}


def envelope_candidates(blobs: Iterable[bytes]) -> list[tuple[bytes, range]]:
    """Every distinct stretch of ``MAX_ENVELOPE`` bytes that starts with an envelope's magic ``SR\\x01``, with
    every envelope length it could hold."""
    regions = set()
    for blob in blobs:
        at = blob.find(ENVELOPE_MAGIC)
        while at >= 0:
            regions.add(blob[at : at + MAX_ENVELOPE])
            at = blob.find(ENVELOPE_MAGIC, at + 1)
    return [(region, range(MIN_LENGTH, len(region) + 1)) for region in regions]


def brute_force_attack(blobs: list[bytes], key_file: Path, dump: OldDump, root_versions: range) -> Loot:
    """Every 60-byte window of the raw files tried as a root key under every key file version and root version,
    then as the victim's data key under every root recovered; then every envelope found by its magic opened."""
    key_id, provider = key_file_ciphers(key_file)
    windows = key_windows(blobs)
    loot = Loot()
    for root_version in root_versions:
        aad = root_context(ENV, key_id, root_version)
        for cipher in provider.values():
            for root in open_any(cipher, windows, aad):
                loot.add_root(root_version, root)
    roots = [AESGCM(key) for keys in loot.roots.values() for key in keys]
    for dek_version in dump.wrapped_data_keys:
        aad = wrap_context(ENV, dump.tenant_id, dek_version, ROOT_KEYRING)
        for cipher in roots:
            for dek in open_any(cipher, windows, aad):
                loot.add_data_key(dek_version, dek)
    if loot.data_keys:
        loot.values = open_envelopes(envelope_candidates(blobs), dump, loot.data_keys)
    return loot


# -- the scenario ----------------------------------------------------------------------------------------------


def populate(vault: Vault, make_canary: Callable[[str], str]) -> dict[tuple[str, str], list[str]]:
    """Five tenants with a few secrets each (one with two versions): canaries generated now, by (tenant, name)."""
    values: dict[tuple[str, str], list[str]] = {}
    for tenant in TENANTS:
        vault.create_tenant(tenant)
        for name in SECRETS:
            values[tenant, name] = [make_canary(f"{tenant}-{name}")]
            vault.put(tenant, name, values[tenant, name][0])
        values[tenant, SECRETS[0]].append(make_canary(f"{tenant}-v2"))
        vault.put(tenant, SECRETS[0], values[tenant, SECRETS[0]][1])
    vault.flush_audit()
    return values


def victim_values(values: dict[tuple[str, str], list[str]]) -> set[bytes]:
    return {v.encode() for (tenant, _), versions in values.items() if tenant == VICTIM for v in versions}


def assert_others_read_back(vault: Vault, values: dict[tuple[str, str], list[str]]) -> None:
    """Every other tenant's every version decrypts to its canary; the victim is gone."""
    for (tenant, name), versions in values.items():
        if tenant == VICTIM:
            with pytest.raises(NotFound):
                vault.use(tenant, name, purpose="shred-test")
            continue
        for number, expected in enumerate(versions, start=1):
            with vault.use(tenant, name, purpose="shred-test", version=number) as secret:
                assert secret.reveal() == expected


def assert_old_keys_destroyed(url: str, key_file: Path, old_key_texts: list[str]) -> None:
    """``root_keys`` keeps no wrapped bytes for a retired root, one root is live, and the key file (and every file
    beside it: lock, temporary files) holds only the current provider version."""
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT version, state, wrapped FROM root_keys WHERE environment = :e"), {"e": ENV}
            ).all()
    finally:
        engine.dispose()
    live = [(v, s) for v, s, _ in rows if s != RootState.RETIRED]
    assert live == [(max(v for v, _, _ in rows), RootState.PRIMARY)], "one root key should be left: the newest"
    assert all(w is None for _, s, w in rows if s == RootState.RETIRED), "a retired root key keeps its bytes"
    doc = json.loads(key_file.read_text())
    assert list(doc["keys"]) == [str(doc["primary"])]
    assert LocalKeyProvider.from_file(key_file).versions() == [int(doc["primary"])]
    for path in key_file.parent.iterdir():
        text = path.read_bytes()
        assert not any(old.encode() in text for old in old_key_texts), f"{path.name} still holds a destroyed key"


def key_texts(key_file: Path) -> list[str]:
    """The key file's versions as stored (base64), to look for after they are destroyed."""
    return list(json.loads(key_file.read_text())["keys"].values())


def describe(loot: Loot, values: set[bytes]) -> str:
    """What an attack got, for an assertion message (counts and versions only: no key or value)."""
    return (
        f"roots {sorted(loot.roots)}, victim data keys {sorted(loot.data_keys)}, "
        f"victim values {len(loot.values & values)} of {len(values)}"
    )


# -- SQLite ----------------------------------------------------------------------------------------------------


def sqlite_files(db: Path) -> list[Path]:
    """The store's raw files: the main file, its WAL and shared-memory index, and anything else beside it."""
    paths = sorted(p for p in db.parent.iterdir() if p.name.startswith(db.name) and p.is_file())
    assert db.with_name(db.name + "-wal") in paths, "no WAL: the scenario must keep one (a connection is held)"
    return paths


def secure_delete_on(vault: Vault) -> None:
    """``PRAGMA secure_delete=ON`` on every connection the vault's engine hands out (it is per connection)."""
    engine: sa.Engine = vault._store.engine

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.execute("PRAGMA secure_delete=ON")

    sa.event.listen(engine, "checkout", on_checkout)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


def attack_sqlite(db: Path, url: str, key_file: Path, dump: OldDump) -> tuple[Loot, Loot]:
    """Both attacks on the SQLite store's raw files as they are now: (search, brute force)."""
    paths = sqlite_files(db)
    blobs = [p.read_bytes() for p in paths]
    search = search_attack(paths, key_file, dump, current_wrapped_roots(url))
    brute = brute_force_attack(blobs, key_file, dump, root_versions_known(url))
    return search, brute


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("case", ["secure_delete_off", "secure_delete_on", "rotated_before"])
@pytest.mark.slow
def test_sqlite_files_hold_nothing_of_a_shredded_tenant(
    open_vault: Open,
    store_url: str,
    key_provider: LocalKeyProvider,
    make_canary: Callable[[str], str],
    case: str,
) -> None:
    """SQLite's main file, WAL and free pages, with the key file in hand: the victim's values decrypt before the
    shred (control), nothing of them after it; the other tenants read back. ``rotated_before``: a ``key rotate``
    before the deletion left two root keys and two provider versions (and the victim's data key under each in the
    WAL)."""
    db = Path(sa.engine.make_url(store_url).database or "")
    key_file = key_provider.path
    assert key_file is not None
    # A server holding a connection: the WAL is not checkpointed away and deleted when the vault's pool closes.
    held = sqlite3.connect(db, isolation_level=None)
    try:
        vault = open_vault(cache_ttl_seconds=0)
        if case == "secure_delete_on":
            secure_delete_on(vault)
        values = populate(vault, make_canary)
        if case == "rotated_before":
            assert vault.keys.rotate().rewrapped == len(TENANTS) + 1  # and the audit key's
        victim = victim_values(values)
        dump = record_dump(store_url, VICTIM)
        vault.delete_tenant(VICTIM)
        vault.flush_audit()
        held.execute("PRAGMA wal_checkpoint(PASSIVE)")  # the deletion reaches the main file (zeroed, if secure)

        search, brute = attack_sqlite(db, store_url, key_file, dump)
        assert search.count_of(victim) > 0, (
            f"control: the search attack should work before the shred: {describe(search, victim)}"
        )
        assert brute.count_of(victim) > 0, (
            f"control: the brute force should work before the shred: {describe(brute, victim)}"
        )

        old_keys = key_texts(key_file)
        report = vault.keys.shred()
        assert report.deletions >= 1
        vault.flush_audit()
        held.execute("PRAGMA wal_checkpoint(PASSIVE)")

        search, brute = attack_sqlite(db, store_url, key_file, dump)
        for loot in (search, brute):
            assert loot.data_key_versions() == [], f"the victim's data key is recoverable: {describe(loot, victim)}"
            assert loot.count_of(victim) == 0, f"the victim's values are recoverable: {describe(loot, victim)}"
            assert loot.root_versions() == [report.root_version], f"only the live root opens: {describe(loot, victim)}"
        for blob in (p.read_bytes() for p in sqlite_files(db)):
            assert not any(v in blob for v in victim), "a victim's value is in the raw files in plaintext"

        assert_old_keys_destroyed(store_url, key_file, old_keys)
        assert_others_read_back(vault, values)
        assert_others_read_back(open_vault(key_provider=LocalKeyProvider.from_file(key_file)), values)
    finally:
        held.close()


# -- PostgreSQL ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresFiles:
    """Where the test database's table files and the cluster's WAL are, or why they cannot be read."""

    database_dir: Path
    wal_dir: Path
    relation_files: tuple[Path, ...]  # the main fork of the tables that hold keys and values
    unreadable: str | None

    def paths(self) -> list[Path]:
        """The database's files (every relation, dead tuples and free space included) and every WAL segment."""
        files = [p for p in self.database_dir.rglob("*") if p.is_file()]
        return files + sorted(p for p in self.wal_dir.iterdir() if p.is_file())


def postgres_files(url: str) -> PostgresFiles:
    """The test database's directory under the cluster's data directory, and ``pg_wal``, if this process can
    read them (a server on this machine, tests run as root)."""
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        with engine.connect() as conn:
            data_dir = Path(conn.execute(sa.text("SELECT current_setting('data_directory')")).scalar_one())
            oid = conn.execute(sa.text("SELECT oid FROM pg_database WHERE datname = current_database()")).scalar_one()
            relations = [
                conn.execute(sa.text("SELECT pg_relation_filepath(CAST(:r AS regclass))"), {"r": r}).scalar_one()
                for r in ("data_keys", "root_keys", "secret_versions")
            ]
    finally:
        engine.dispose()
    database_dir, wal_dir = data_dir / "base" / str(oid), data_dir / "pg_wal"
    unreadable = None
    if not (os.access(database_dir, os.R_OK | os.X_OK) and os.access(wal_dir, os.R_OK | os.X_OK)):
        unreadable = (
            f"PostgreSQL's data directory {data_dir} is not readable here (a remote server, or not run as "
            "root): the raw-file attack needs the table files and WAL segments"
        )
    return PostgresFiles(database_dir, wal_dir, tuple(data_dir / r for r in relations), unreadable)


def checkpoint(url: str) -> None:
    """``CHECKPOINT``: every dirty page, dead tuples included, written to the table files."""
    engine = sa.create_engine(engines.normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("CHECKPOINT"))
    finally:
        engine.dispose()


@pytest.mark.parametrize("store_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_postgres_files_hold_nothing_of_a_shredded_tenant(
    open_vault: Open,
    store_url: str,
    key_provider: LocalKeyProvider,
    make_canary: Callable[[str], str],
) -> None:
    """PostgreSQL's table files (dead tuples included) and WAL segments, with the key file in hand: the victim's
    values decrypt before the shred (control), nothing of them after it; the other tenants read back."""
    key_file = key_provider.path
    assert key_file is not None
    vault = open_vault(cache_ttl_seconds=0)
    files = postgres_files(store_url)
    values = populate(vault, make_canary)
    victim = victim_values(values)
    dump = record_dump(store_url, VICTIM)
    vault.delete_tenant(VICTIM)
    vault.flush_audit()

    if files.unreadable is None:
        checkpoint(store_url)
        paths = files.paths()
        assert set(files.relation_files) <= set(paths), "the key and value tables' files are not searched"
        on_disk = bool(needles_in_files(paths, set(dump.wrapped_data_keys.values())))
        assert on_disk, "control: the victim's wrapped data key should be in the table files or the WAL"
        search = search_attack(paths, key_file, dump, current_wrapped_roots(store_url))
        assert search.count_of(victim) > 0, (
            f"control: the attack should work before the shred: {describe(search, victim)}"
        )

    old_keys = key_texts(key_file)
    report = vault.keys.shred()
    assert report.deletions >= 1
    vault.flush_audit()

    if files.unreadable is None:
        checkpoint(store_url)
        paths = files.paths()
        search = search_attack(paths, key_file, dump, current_wrapped_roots(store_url))
        assert search.data_key_versions() == [], f"the victim's data key is recoverable: {describe(search, victim)}"
        assert search.count_of(victim) == 0, f"the victim's values are recoverable: {describe(search, victim)}"
        assert search.root_versions() == [report.root_version], f"only the live root opens: {describe(search, victim)}"
        for path in paths:
            blob = path.read_bytes()
            assert not any(v in blob for v in victim), f"a victim's value is in {path.name} in plaintext"

    assert_old_keys_destroyed(store_url, key_file, old_keys)
    assert_others_read_back(vault, values)
    assert_others_read_back(open_vault(key_provider=LocalKeyProvider.from_file(key_file)), values)
    if files.unreadable is not None:
        pytest.skip(files.unreadable)


# -- a running process, after a restore -------------------------------------------------------------------------

VICTIM_TABLES = (tables.tenants, tables.data_keys, tables.secrets, tables.secret_versions)


def victim_rows(url: str, tenant_id: str) -> dict[str, list[dict[str, Any]]]:
    """The victim's rows in every table that holds them, as an old dump holds them."""
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    dict(row._mapping)
                    for row in conn.execute(
                        sa.select(table).where(
                            (table.c.id if table is tables.tenants else table.c.tenant_id) == tenant_id
                        )
                    )
                ]
                for table in VICTIM_TABLES
            }
    finally:
        engine.dispose()


def restore_rows(url: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    """The dumped rows written back into the live database (an attacker with write access, or a careless restore)."""
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        with engine.begin() as conn:
            for table in VICTIM_TABLES:
                conn.execute(sa.insert(table), rows[table.name])
    finally:
        engine.dispose()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "reader",
    [
        "fresh",
        "shredder",
        "running",
    ],
)
def test_a_shredded_tenant_restored_from_a_dump_stays_unreadable(
    open_vault: Open,
    store_url: str,
    key_provider: LocalKeyProvider,
    make_canary: Callable[[str], str],
    reader: str,
) -> None:
    """After the shred, the victim's rows restored from an old dump do not decrypt: not through a vault opened
    afterwards (``fresh``), nor through the vault that ran the shred (``shredder``), nor through one that was
    running since before it and had loaded the old root key (``running``)."""
    key_file = key_provider.path
    assert key_file is not None
    shredder = open_vault(cache_ttl_seconds=0)
    values = populate(shredder, make_canary)
    now = [time.time()]  # the running process's clock, stepped past the root recheck below: no sleeping
    running = open_vault(cache_ttl_seconds=0, key_provider=LocalKeyProvider.from_file(key_file), clock=lambda: now[0])
    with running.use(TENANTS[0], SECRETS[0], purpose="warm") as secret:  # loads root key v1, not the victim's key
        assert secret.reveal() == values[TENANTS[0], SECRETS[0]][-1]
    rows = victim_rows(store_url, record_dump(store_url, VICTIM).tenant_id)
    shredder.delete_tenant(VICTIM)
    assert shredder.keys.shred().deletions >= 1
    restore_rows(store_url, rows)
    now[0] += ROOT_RECHECK_SECONDS  # until then a running process may still trust the root it loaded
    vault = {
        "fresh": lambda: open_vault(cache_ttl_seconds=0, key_provider=LocalKeyProvider.from_file(key_file)),
        "shredder": lambda: shredder,
        "running": lambda: running,
    }[reader]()
    for name in SECRETS:
        with pytest.raises(KeyProviderError, match="retired root key"):
            vault.use(VICTIM, name, purpose="after-restore")
