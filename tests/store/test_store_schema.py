"""Opening a store: migration, refusal of foreign, damaged and newer databases, safe URLs, SQLite setup."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from strongroom.crypto import LocalKeyProvider
from strongroom.errors import StoreError
from strongroom.store import Store, engines
from strongroom.store.tables import SCHEMA_REVISION, STRONGROOM_TABLES
from strongroom.vault import Vault

CANARY = "PASSWORD_CANARY"
Keys = LocalKeyProvider
UNREACHABLE_PG = f"postgresql://u:{CANARY}@127.0.0.1:1/x"


@contextmanager
def engine_for(url: str) -> Iterator[sa.Engine]:
    """A plain SQLAlchemy engine on the test's database, disposed afterwards."""
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        yield engine
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    with engine_for(url) as engine:
        return set(sa.inspect(engine).get_table_names())


def execute(url: str, sql: str) -> None:
    with engine_for(url) as engine, engine.begin() as conn:
        conn.execute(sa.text(sql))


def create_customers_table(url: str) -> None:
    metadata = sa.MetaData()
    sa.Table("customers", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(50)))
    with engine_for(url) as engine:
        metadata.create_all(engine)


def migrated(url: str, key_provider: Keys) -> None:
    Vault.open(url, key_provider=key_provider, actor="test").close()


def test_open_migrates_an_empty_database(store_url: str, key_provider: Keys) -> None:
    """Vault.open on an empty database creates every strongroom table at the current schema revision."""
    with Vault.open(store_url, key_provider=key_provider, actor="test") as vault:
        assert vault._store.schema_revision() == SCHEMA_REVISION
    assert table_names(store_url) >= STRONGROOM_TABLES


def test_reopening_is_idempotent(store_url: str, key_provider: Keys) -> None:
    """Opening an up-to-date store again keeps its revision, its data and a single alembic version row."""
    with Vault.open(store_url, key_provider=key_provider, actor="test") as vault:
        vault.create_tenant("acme")
    for _ in range(2):
        with Vault.open(store_url, key_provider=key_provider, actor="test") as vault:
            assert vault._store.schema_revision() == SCHEMA_REVISION
            assert [t.name for t in vault.list_tenants()] == ["acme"]
    with engine_for(store_url) as engine, engine.connect() as conn:
        versions = conn.execute(sa.text("select version_num from alembic_version")).scalars().all()
        meta = {row[0]: row[1] for row in conn.execute(sa.text("select key, value from strongroom_meta"))}
    assert versions == [SCHEMA_REVISION]
    assert meta["schema_revision"] == SCHEMA_REVISION


def test_open_without_migrate_refuses_an_empty_database(store_url: str, key_provider: Keys) -> None:
    """migrate=False on an empty database raises StoreError saying to run init or db upgrade."""
    with pytest.raises(StoreError, match="no strongroom schema") as caught:
        Vault.open(store_url, key_provider=key_provider, migrate=False, actor="test")
    message = str(caught.value)
    assert "strongroom init" in message
    assert "strongroom db upgrade" in message
    assert table_names(store_url) == set()


@pytest.mark.parametrize("migrate", [True, False], ids=["migrate", "no-migrate"])
def test_foreign_database_is_refused_and_left_untouched(store_url: str, key_provider: Keys, migrate: bool) -> None:
    """A database with somebody else's tables is refused as "not a strongroom database", left untouched."""
    create_customers_table(store_url)
    with pytest.raises(StoreError, match="not a strongroom database") as caught:
        Vault.open(store_url, key_provider=key_provider, migrate=migrate, actor="test")
    assert "customers" in str(caught.value)
    assert table_names(store_url) == {"customers"}


def test_newer_schema_revision_is_refused_without_migrate(store_url: str, key_provider: Keys) -> None:
    """A schema revision newer than the code is refused with a StoreError saying it is newer."""
    migrated(store_url, key_provider)
    execute(store_url, "update strongroom_meta set value='9999' where key='schema_revision'")
    with pytest.raises(StoreError, match="newer") as caught:
        Vault.open(store_url, key_provider=key_provider, migrate=False, actor="test")
    assert "9999" in str(caught.value)


def test_newer_schema_revision_is_refused_when_migrating(store_url: str, key_provider: Keys) -> None:
    """Vault.open with the default migrate=True also refuses a newer schema and leaves its revision."""
    migrated(store_url, key_provider)
    execute(store_url, "update strongroom_meta set value='9999' where key='schema_revision'")
    try:
        with pytest.raises(StoreError, match="newer"):
            Vault.open(store_url, key_provider=key_provider, actor="test").close()
    finally:
        with engine_for(store_url) as engine, engine.connect() as conn:
            revision = conn.execute(sa.text("select value from strongroom_meta where key='schema_revision'")).scalar()
    assert revision == "9999"


def test_newer_alembic_head_is_a_store_error(store_url: str, key_provider: Keys) -> None:
    """A database migrated by a newer strongroom (unknown alembic head) raises StoreError saying newer."""
    migrated(store_url, key_provider)
    execute(store_url, "update strongroom_meta set value='9999' where key='schema_revision'")
    execute(store_url, "update alembic_version set version_num='9999'")
    with pytest.raises(StoreError, match="newer"):
        Vault.open(store_url, key_provider=key_provider, actor="test").close()


def test_damaged_database_is_refused(store_url: str, key_provider: Keys) -> None:
    """A strongroom database with a table missing is refused as damaged rather than used or re-created."""
    migrated(store_url, key_provider)
    execute(store_url, "drop table audit_events")
    with pytest.raises(StoreError, match="damaged"):
        Vault.open(store_url, key_provider=key_provider, migrate=False, actor="test")
    with pytest.raises(StoreError, match="damaged"):
        Vault.open(store_url, key_provider=key_provider, actor="test")
    assert "audit_events" not in table_names(store_url)


def test_unreachable_postgres_error_hides_the_password(key_provider: Keys) -> None:
    """Failing to reach PostgreSQL raises StoreError whose message, repr and traceback omit the password."""
    with pytest.raises(StoreError, match="cannot connect") as caught:
        Vault.open(UNREACHABLE_PG, key_provider=key_provider, actor="test")
    exc = caught.value
    rendered = "".join(traceback.format_exception(exc))
    for text in (str(exc), repr(exc), rendered):
        assert CANARY not in text
    assert "127.0.0.1:1" in str(exc)


def test_store_repr_hides_the_password() -> None:
    """repr(Store) shows the database URL with its password masked."""
    store = Store(UNREACHABLE_PG)
    try:
        assert CANARY not in repr(store)
        assert "***" in repr(store)
    finally:
        store.close()


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://u:{CANARY}@db.example:5432/app",
        f"postgres://u:{CANARY}@db.example/app",
        f"postgresql+psycopg://admin:{CANARY}@10.0.0.1:6432/app?sslmode=require",
    ],
)
def test_safe_url_masks_passwords(url: str) -> None:
    """safe_url replaces the password with *** and keeps user, host and database."""
    shown = engines.safe_url(url)
    assert CANARY not in shown
    assert "***" in shown
    assert "@" in shown
    assert shown.endswith(("/app", "sslmode=require"))


@pytest.mark.parametrize("param", ["password", "sslpassword", "PASSWORD", "auth_token", "api_key", "client_secret"])
def test_safe_url_masks_credentials_given_as_query_parameters(param: str) -> None:
    """libpq also takes a password from the query string (``?password=``): masked like the one in the netloc,
    and the rest of the query kept readable."""
    shown = engines.safe_url(f"postgresql://u@db.example/app?sslmode=require&{param}={CANARY}")
    assert CANARY not in shown
    assert f"{param}=hidden" in shown
    assert "sslmode=require" in shown


def test_safe_url_leaves_sqlite_urls_readable(tmp_path: Path) -> None:
    """safe_url returns a SQLite URL (which has no password) unchanged."""
    url = f"sqlite:///{tmp_path / 'strongroom.db'}"
    assert engines.safe_url(url) == url


def test_safe_url_does_not_echo_an_unparseable_url() -> None:
    """safe_url of something that is not a URL returns a placeholder, never the input."""
    assert CANARY not in engines.safe_url(f"not a url {CANARY}")


def test_sqlite_file_engine_uses_wal(tmp_path: Path) -> None:
    """A SQLite file store runs in WAL journal mode with foreign keys enforced."""
    engine = engines.create(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        with engine.connect() as conn:
            assert str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
