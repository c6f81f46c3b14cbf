"""Schema 0002 (secret_versions.fingerprint) over a database written at 0001, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from strongroom.crypto import LocalKeyProvider
from strongroom.errors import StoreError
from strongroom.store import Store, engines
from strongroom.store import migrate as migrations
from strongroom.store.migrate import upgrade
from strongroom.store.tables import SCHEMA_REVISION
from strongroom.vault import Vault

from ..conftest import write_pre_0006_layout  # noqa: TID252 -- pytest's importlib mode resolves the package

COPIED_TABLES = ("tenants", "data_keys", "secrets", "secret_versions")


@contextmanager
def engine_for(url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        yield engine
    finally:
        engine.dispose()


def migrate_to(url: str, revision: str) -> None:
    """A database at ``revision``, made by the project's own migrations."""
    store = Store(url)
    try:
        migrations.migrate_to(store, revision)
    finally:
        store.close()


def columns(url: str, table: str) -> set[str]:
    with engine_for(url) as engine:
        return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def copy_tenant(source_url: str, target_url: str, tenant: str) -> int:
    """Copy one tenant's rows (its data keys, secrets, versions) into the target, in the target's columns."""
    copied = 0
    with engine_for(source_url) as source, engine_for(target_url) as target:
        source_meta, target_meta = sa.MetaData(), sa.MetaData()
        source_meta.reflect(source)
        target_meta.reflect(target)
        with source.connect() as read, target.begin() as write:
            tenants = source_meta.tables["tenants"]
            ids = read.execute(sa.select(tenants.c.id).where(tenants.c.name == tenant)).scalars().all()
            for name in COPIED_TABLES:
                src, dst = source_meta.tables[name], target_meta.tables[name]
                key = src.c.id if name == "tenants" else src.c.tenant_id
                rows = read.execute(sa.select(*[src.c[c.name] for c in dst.columns]).where(key.in_(ids)))
                batch = [dict(row) for row in rows.mappings()]
                if batch:
                    write.execute(dst.insert(), batch)
                    copied += len(batch)
    return copied


@pytest.fixture
def old_database(
    store_url: str, key_provider: LocalKeyProvider, tmp_path: Path, make_canary: Callable[[str], str]
) -> tuple[str, dict[int, str]]:
    """A store at schema 0001 holding two versions of acme/api_key, written by a real vault's encryption."""
    values = {1: make_canary("v1"), 2: make_canary("v2")}
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    with Vault.open(source_url, key_provider=key_provider, actor="test") as source:
        source.create_tenant("acme")
        for value in values.values():
            source.put("acme", "api_key", value)
    write_pre_0006_layout(source_url, key_provider)  # data keys as 0001 wrote them: by the provider
    migrate_to(store_url, "0001")
    assert "fingerprint" not in columns(store_url, "secret_versions")
    assert copy_tenant(source_url, store_url, "acme") == 1 + 1 + 1 + 2
    store = Store(store_url)
    try:
        assert store.schema_revision() == "0001"
    finally:
        store.close()
    return store_url, values


def test_open_without_migrate_refuses_a_0001_database(
    old_database: tuple[str, dict[int, str]], key_provider: LocalKeyProvider
) -> None:
    """Vault.open(migrate=False) on a 0001 database says to run `strongroom db upgrade`, and changes nothing."""
    url, _ = old_database
    with pytest.raises(StoreError, match=rf"older than {SCHEMA_REVISION}: run `strongroom db upgrade`"):
        Vault.open(url, key_provider=key_provider, actor="test", migrate=False)
    assert "fingerprint" not in columns(url, "secret_versions")


def test_upgrade_adds_the_column_and_keeps_every_row(old_database: tuple[str, dict[int, str]]) -> None:
    """Upgrading 0001 -> 0002 adds a nullable fingerprint column; the old rows are kept, their fingerprint NULL."""
    url, _ = old_database
    with engine_for(url) as engine, engine.connect() as conn:
        before = conn.execute(
            sa.text("select tenant_id, name, version, ciphertext from secret_versions order by version")
        ).all()
    store = Store(url)
    try:
        assert upgrade(store) == SCHEMA_REVISION
        assert store.schema_revision() == SCHEMA_REVISION
    finally:
        store.close()
    assert "fingerprint" in columns(url, "secret_versions")
    with engine_for(url) as engine, engine.connect() as conn:
        after = conn.execute(
            sa.text("select tenant_id, name, version, ciphertext from secret_versions order by version")
        ).all()
        fingerprints = conn.execute(sa.text("select fingerprint from secret_versions")).scalars().all()
        versions = conn.execute(sa.text("select version_num from alembic_version")).scalars().all()
    assert [(*r[:3], bytes(r[3])) for r in after] == [(*r[:3], bytes(r[3])) for r in before]
    assert fingerprints == [None, None]
    assert versions == [SCHEMA_REVISION]


def test_old_versions_stay_readable_after_upgrade(
    old_database: tuple[str, dict[int, str]], key_provider: LocalKeyProvider
) -> None:
    """After the upgrade (Vault.open migrates) both old versions decrypt through use()."""
    url, values = old_database
    with Vault.open(url, key_provider=key_provider, actor="test") as vault:
        assert vault._store.schema_revision() == SCHEMA_REVISION
        with vault.use("acme", "api_key", purpose="test") as secret:
            assert (secret.version, secret.reveal()) == (2, values[2])
        with vault.use("acme", "api_key", purpose="test", version=1) as secret:
            assert secret.reveal() == values[1]
        assert [t.name for t in vault.list_tenants()] == ["acme"]


@pytest.mark.slow
def test_old_versions_are_listed_as_missing_once_the_key_exists(
    old_database: tuple[str, dict[int, str]], key_provider: LocalKeyProvider, make_canary: Callable[[str], str]
) -> None:
    """After an upgrade and a new put, the old versions are entries without a fingerprint: missing counts them."""
    url, _ = old_database
    with Vault.open(url, key_provider=key_provider, actor="test") as vault:
        value = make_canary("v3")
        vault.put("acme", "api_key", value)
        known = vault.known_fingerprints()
    assert [(e.version, e.fingerprint is None) for e in known.entries] == [(1, True), (2, True), (3, False)]
    assert known.missing == 2
    key = known.keys[known.entries[2].key_ref]
    assert known.entries[2].fingerprint == hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


@pytest.mark.slow
def test_missing_counts_old_versions_right_after_upgrade(
    old_database: tuple[str, dict[int, str]], key_provider: LocalKeyProvider
) -> None:
    """Right after the upgrade, before any new put, the old versions are reported as missing fingerprints."""
    url, _ = old_database
    with Vault.open(url, key_provider=key_provider, actor="test") as vault:
        known = vault.known_fingerprints()
    assert len(known.entries) == 2
    assert known.missing == 2
