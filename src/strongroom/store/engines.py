"""Engines for the two supported databases, set up the way strongroom needs them.

SQLite: WAL journal, a busy timeout, foreign keys on, and ``BEGIN IMMEDIATE`` for write transactions
so concurrent writers queue on the lock instead of failing to upgrade a read lock.
PostgreSQL: psycopg 3, pooled, pre-pinged.
Both hide SQL parameters in error messages (they may hold ciphertext or names we would rather not log).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from strongroom.errors import StoreError

WRITE_OPTION = "strongroom_write"


def normalise_url(url: str) -> str:
    """Accept the spellings users paste (``postgres://``, ``postgresql://``) and pick our drivers."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


SECRET_QUERY_WORDS = ("pass", "secret", "token", "key")


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages: the ``user:password@`` part and query parameters a
    driver takes a credential from (libpq's ``?password=``, ``?sslpassword=``, a token, a key)."""
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        return "<unparseable database URL>"
    masked = {
        name: "hidden" if any(word in name.lower() for word in SECRET_QUERY_WORDS) else value
        for name, value in parsed.query.items()
    }
    return parsed.set(query=masked).render_as_string(hide_password=True)


SQLITE_FORMS = "sqlite:///relative.db (three slashes) or sqlite:////abs/path.db (four)"


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (``None``: not SQLite, in memory, or not a URL); ``StoreError`` for a
    SQLite URL with a host (``sqlite://x.db``: two slashes), naming the forms that work."""
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    if parsed.host or parsed.port or parsed.username:
        raise StoreError(f"{safe_url(url)!r} is not a SQLite file URL.\nUse {SQLITE_FORMS}")
    database = parsed.database
    if database in (None, "", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def create(url: str) -> Engine:
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"unsupported database URL {safe_url(url)}: use sqlite:///PATH or postgresql://…") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        sqlite_file(url)  # refuses sqlite://x.db, which SQLAlchemy calls an invalid URL without saying why
        return _sqlite(url, in_memory=parsed.database in (None, "", ":memory:"))
    if backend == "postgresql":
        try:
            return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True)
        except ImportError:
            raise StoreError("PostgreSQL support needs the extra: pip install 'strongroom[postgres]'") from None
    raise StoreError(f"unsupported database {backend!r}: strongroom stores data in SQLite or PostgreSQL")


def _sqlite(url: str, *, in_memory: bool) -> Engine:
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}, "hide_parameters": True}
    if in_memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
