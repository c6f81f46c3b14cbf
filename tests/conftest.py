"""Shared fixtures. ``store_url`` runs a test on SQLite and, when enabled, on a real PostgreSQL.

PostgreSQL tests need ``STRONGROOM_TEST_POSTGRES_URL`` (for example
``postgresql://postgres@127.0.0.1:5432/postgres``); each test gets a database of its own, dropped after.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault

PG_ENV = "STRONGROOM_TEST_POSTGRES_URL"
PG_SKIP = f"PostgreSQL tests are off: set {PG_ENV}=postgresql://postgres@127.0.0.1:5432/postgres to run them"


def postgres_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip(PG_SKIP)
    import psycopg

    name = "strongroom_test_" + uuid.uuid4().hex[:12]
    conninfo = admin.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(admin, name)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store: a SQLite file, or a PostgreSQL database of this test's own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'strongroom.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def key_provider(tmp_path: Path) -> LocalKeyProvider:
    return LocalKeyProvider.create_file(tmp_path / "keys" / "dev.json", "dev")


@pytest.fixture
def open_vault(store_url: str, key_provider: LocalKeyProvider) -> Iterator[Callable[..., Vault]]:
    """Open vaults on the test's store; every one opened is closed at the end."""
    opened: list[Vault] = []

    def _open(**options: object) -> Vault:
        options.setdefault("key_provider", key_provider)
        options.setdefault("actor", "test")
        vault = Vault.open(store_url, **options)  # type: ignore[arg-type]
        opened.append(vault)
        return vault

    yield _open
    for vault in opened:
        vault.close()


@pytest.fixture
def vault(open_vault: Callable[..., Vault]) -> Vault:
    return open_vault()


@pytest.fixture
def make_canary() -> Callable[[str], str]:
    """Values that appear nowhere unless strongroom leaked them."""

    def _make(label: str = "canary") -> str:
        return f"{label}-{uuid.uuid4().hex}{uuid.uuid4().hex}"

    return _make


class _QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients under test hang up on purpose (cut bodies, timeouts): no tracebacks on stderr


@pytest.fixture
def start_http_server() -> Iterator[Callable[[type[BaseHTTPRequestHandler]], int]]:
    """Start real HTTP servers on loopback ports (threaded); returns each one's port; all stopped at teardown.

    A fixture that uses this one tears down first, so it can release hung handlers before the shutdown.
    """
    servers: list[ThreadingHTTPServer] = []

    def start(handler: type[BaseHTTPRequestHandler]) -> int:
        server = _QuietHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return int(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
