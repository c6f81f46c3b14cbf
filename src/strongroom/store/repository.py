"""All SQL strongroom runs. ``Store`` opens transactions; ``Tx`` is the repository bound to one.

Nothing here sees plaintext or keys, and every write happens inside one ``Store.write()`` block, so
a change and the audit event that records it commit or roll back together.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    func,
    inspect,
    literal_column,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from strongroom.errors import Conflict, StoreError
from strongroom.store import engines
from strongroom.store.records import (
    ApiKeyRecord,
    AuditRecord,
    ConnectorRecord,
    DataKeyRecord,
    RootKeyRecord,
    RotationPolicyRecord,
    RotationRecord,
    SecretRecord,
    ShareRecord,
    TenantRecord,
    TokenRevocationRecord,
    VersionRecord,
)
from strongroom.store.tables import (
    SCHEMA_REVISION,
    api_keys,
    audit_chains,
    audit_events,
    connectors,
    data_keys,
    root_keys,
    rotation_policies,
    rotations,
    secret_versions,
    secrets,
    shares,
    strongroom_meta,
    tables_at,
    tenants,
    token_revocations,
)
from strongroom.vocabulary import ROOT_KEYRING

DataKeyRow = tuple[str, int, str, int, bytes]
"""A data key as ``Tx.data_keys_page`` reads it: (tenant id, version, kek id, kek version, wrapped)."""


_first = operator.itemgetter(0)

# The predicate of ix_data_keys_provider_wrapped (schema 0010), as a literal: a planner uses a partial index
# only when a query's own condition implies its predicate, which a bound parameter cannot show.
_NOT_ROOT: ColumnElement[str] = literal_column(f"'{ROOT_KEYRING}'")

_REWRAP_FIRST = (
    "SET LOCAL synchronous_commit = off; CREATE TEMPORARY TABLE IF NOT EXISTS strongroom_rewrap "
    "(tenant_id varchar(32), version int, wrapped bytea) ON COMMIT DELETE ROWS"
)
_REWRAP_AGAIN = "DELETE FROM strongroom_rewrap"  # a second batch in the same transaction


def _keys_with_tenants() -> Any:
    """Data keys joined to their tenants, for ``_key_and_tenant``."""
    tenant_created_at = tenants.c.created_at.label("tenant_created_at")
    columns = (tenants.c.environment, tenants.c.name, tenant_created_at)
    return select(data_keys, *columns).join(tenants, tenants.c.id == data_keys.c.tenant_id)


def _key_and_tenant(row: Any) -> tuple[DataKeyRecord, TenantRecord]:
    key = DataKeyRecord(**{c.name: row[c.name] for c in data_keys.columns})
    return key, TenantRecord(key.tenant_id, row["environment"], row["name"], row["tenant_created_at"])


_process_locks: dict[str, threading.RLock] = {}


class Store:
    """A strongroom database (SQLite or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = engines.create(url)
        self.backend = self.engine.dialect.name
        self._kept = threading.local()  # a thread's kept connection: see connections_kept
        self._keeping: list[Connection] | None = None

    def __repr__(self) -> str:
        return f"Store({engines.safe_url(self.url)!r})"

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One write transaction: everything inside commits together or not at all."""
        with self._connect() as conn:
            conn.execution_options(**{engines.WRITE_OPTION: True})
            with conn.begin():
                yield Tx(conn, lock_rows=self.backend == "postgresql")

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self._connect() as conn, conn.begin():
            yield Tx(conn, lock_rows=False)

    @contextmanager
    def connections_kept(self) -> Iterator[Callable[[], None]]:
        """Yields ``keep``: a thread that calls it keeps one connection for all its transactions until the
        block ends, instead of checking one out of the pool, and pinging it, for each. For the thousands of
        short transactions of a rewrap, where the checkout and its round trip cost more than a batch's own
        statements. The threads must be done by the end of the block (a thread pool shut down inside it)."""
        opened: list[Connection] = []

        def keep() -> None:
            self._kept.block = opened  # the connection itself is made on first use, where errors are reported

        self._keeping = opened
        try:
            yield keep
        finally:
            self._keeping = None
            for conn in opened:
                conn.close()

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        kept = self._kept
        block: list[Connection] | None = getattr(kept, "block", None)
        if block is None or block is not self._keeping:  # not keeping, or kept in a block that has ended
            with self._new_connection() as conn:
                yield conn
            return
        if getattr(kept, "conn", None) is None or kept.conn[0] is not block:
            kept.conn = (block, self._new_connection())
            block.append(kept.conn[1])  # atomic: each thread registers its own
        mine: Connection = kept.conn[1]
        # A Connection's options stay set (write() sets WRITE_OPTION in place): a new transaction starts from none,
        # or on SQLite a read after a write would begin IMMEDIATE and hold the database's one write lock.
        mine.execution_options(**{engines.WRITE_OPTION: False})
        yield mine

    def _new_connection(self) -> Connection:
        try:
            return self.engine.connect()
        except (OperationalError, DBAPIError) as exc:
            reason = str(exc.orig).strip().splitlines()[0][:200] if str(exc.orig).strip() else type(exc.orig).__name__
            raise StoreError(f"cannot connect to {engines.safe_url(self.url)}: {reason}") from None

    @contextmanager
    def exclusive(self, name: str, *, on_wait: Callable[[], object] | None = None) -> Iterator[None]:
        """A lock named ``name`` held across many transactions, between processes and machines sharing this
        database: PostgreSQL's session advisory lock on a connection of its own; for SQLite an ``flock`` on a
        file beside the database (``<file>.<name digest>.lock``). ``on_wait()`` is called before waiting. Both
        are released by the operating system or the server when the holder dies, even by SIGKILL."""
        with self._lock(name, wait=True, on_wait=on_wait):
            yield

    @contextmanager
    def try_exclusive(self, name: str) -> Iterator[bool]:
        """``exclusive`` without waiting: yields whether this caller holds the lock (``False``: another does)."""
        with self._lock(name, wait=False, on_wait=None) as held:
            yield held

    @contextmanager
    def _lock(self, name: str, *, wait: bool, on_wait: Callable[[], object] | None) -> Iterator[bool]:
        key = int.from_bytes(hashlib.sha256(f"strongroom/{name}".encode()).digest()[:8], "big", signed=True)
        database = self.engine.url.database
        if self.backend == "postgresql":
            lock = self._advisory_lock(key, wait=wait, on_wait=on_wait)
        elif not database or database == ":memory:" or sys.platform == "win32":
            lock = _thread_lock(_process_locks.setdefault(name, threading.RLock()), wait=wait)
        else:
            lock = _file_lock(f"{database}.{key & 0xFFFFFFFF:08x}.lock", wait=wait, on_wait=on_wait)
        with lock as held:
            yield held

    @contextmanager
    def _advisory_lock(self, key: int, *, wait: bool, on_wait: Callable[[], object] | None) -> Iterator[bool]:
        with self._connect() as conn:
            held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            if not held and wait:
                if on_wait is not None:
                    on_wait()
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                held = True
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()

    def schema_revision(self) -> str | None:
        """Our revision, ``None`` for an empty database; ``StoreError`` for somebody else's."""
        with self._connect() as conn:
            names = set(inspect(conn).get_table_names())
            if "strongroom_meta" not in names:
                foreign = sorted(names - {"alembic_version"})
                if foreign:
                    shown = ", ".join(foreign[:5]) + (" …" if len(foreign) > 5 else "")
                    raise StoreError(
                        f"{engines.safe_url(self.url)} is not a strongroom database (it has tables: {shown})"
                    )
                return None
            value = conn.execute(
                select(strongroom_meta.c.value).where(strongroom_meta.c.key == "schema_revision")
            ).scalar()
            conn.rollback()
            # A database at an older revision lacks the tables later migrations add: that is not damage.
            if value is None or not names.issuperset(tables_at(str(value))):
                raise StoreError(f"{engines.safe_url(self.url)} is a damaged strongroom database (tables missing)")
            return str(value)

    def check_current(self) -> None:
        revision = self.schema_revision()
        if revision is None:
            raise StoreError(
                f"{engines.safe_url(self.url)} has no strongroom schema: "
                "run `strongroom init` or `strongroom db upgrade`"
            )
        if revision > SCHEMA_REVISION:
            raise StoreError(
                f"database schema {revision} is newer than this strongroom ({SCHEMA_REVISION}): upgrade strongroom"
            )
        if revision < SCHEMA_REVISION:
            raise StoreError(f"database schema {revision} is older than {SCHEMA_REVISION}: run `strongroom db upgrade`")


class Tx:
    """Repository operations inside one open transaction."""

    def __init__(self, conn: Connection, *, lock_rows: bool) -> None:
        self.conn = conn
        self._lock_rows = lock_rows
        self._rewrap_staged = False  # rows in the temporary table of rewrap_data_keys, until commit

    def _insert(self, table: Any) -> Any:
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def _one(self, stmt: Any, lock: bool = False) -> Any:
        if lock and self._lock_rows:
            stmt = stmt.with_for_update()
        return self.conn.execute(stmt).mappings().first()

    # -- tenants ----------------------------------------------------------------------------------

    def tenant(self, environment: str, name: str, *, lock: bool = False) -> TenantRecord | None:
        row = self._one(select(tenants).where(and_(tenants.c.environment == environment, tenants.c.name == name)), lock)
        return TenantRecord(**row) if row else None

    def tenant_ids(self, environment: str, names: Iterable[str]) -> dict[str, str]:
        """name -> id of those of ``names`` that are tenants of the environment (one query)."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        stmt = select(tenants.c.name, tenants.c.id).where(
            and_(tenants.c.environment == environment, tenants.c.name.in_(wanted))
        )
        return {str(name): str(tenant_id) for name, tenant_id in self.conn.execute(stmt)}

    def tenants(self, environment: str) -> list[TenantRecord]:
        rows = self.conn.execute(
            select(tenants).where(tenants.c.environment == environment).order_by(tenants.c.name)
        ).mappings()
        return [TenantRecord(**r) for r in rows]

    def insert_tenant(self, record: TenantRecord) -> None:
        try:  # no savepoint: a failed insert aborts the whole transaction, which is what we want
            self.conn.execute(tenants.insert().values(**_fields(record)))
        except IntegrityError:
            raise Conflict(f"tenant {record.name!r} already exists in {record.environment}") from None

    def ensure_tenant(self, record: TenantRecord) -> bool:
        """Insert the tenant unless it exists; True if this transaction created it (safe against a racing writer)."""
        # RETURNING, not rowcount: psycopg's rowcount is not reliable for INSERT .. ON CONFLICT DO NOTHING.
        stmt = self._insert(tenants).values(**_fields(record)).on_conflict_do_nothing().returning(tenants.c.id)
        return self.conn.execute(stmt).scalar() is not None

    def delete_tenant(self, tenant_id: str) -> None:
        """Remove a tenant and everything it owns; its data keys go first (crypto-shredding).

        Its API keys, connectors and share links go too. Its token revocations stay until they expire:
        deleting one would make a revoked token's jti acceptable again.
        """
        for table in (data_keys, secret_versions, rotation_policies, secrets, api_keys, connectors, shares):
            self.conn.execute(delete(table).where(table.c.tenant_id == tenant_id))
        self.conn.execute(delete(tenants).where(tenants.c.id == tenant_id))

    # -- metadata (strongroom_meta) ------------------------------------------------------------------

    def meta_value(self, key: str) -> str | None:
        value = self.conn.execute(select(strongroom_meta.c.value).where(strongroom_meta.c.key == key)).scalar()
        return None if value is None else str(value)

    def insert_meta(self, key: str, value: str) -> bool:
        """Insert ``key`` unless it exists; True if this transaction wrote it (safe against a racing writer)."""
        stmt = (
            self._insert(strongroom_meta)
            .values(key=key, value=value)
            .on_conflict_do_nothing()
            .returning(strongroom_meta.c.key)
        )
        return self.conn.execute(stmt).scalar() is not None

    # -- data keys ----------------------------------------------------------------------------------

    def insert_data_key(self, record: DataKeyRecord) -> None:
        self.conn.execute(data_keys.insert().values(**_fields(record)))

    def latest_data_key(self, tenant_id: str) -> DataKeyRecord | None:
        row = self._one(
            select(data_keys).where(data_keys.c.tenant_id == tenant_id).order_by(data_keys.c.version.desc()).limit(1)
        )
        return DataKeyRecord(**row) if row else None

    def kek_versions(self, environment: str) -> set[tuple[str, int]]:
        """(key id, key version) of every provider key this environment's keys need: those wrapping its live
        root keys, and those wrapping data keys directly (written before schema 0006)."""
        stmt = (
            select(data_keys.c.kek_id, data_keys.c.kek_version)
            .distinct()
            .join(tenants, tenants.c.id == data_keys.c.tenant_id)
            .where(and_(tenants.c.environment == environment, data_keys.c.kek_id != _NOT_ROOT))
        )
        found = {(str(kek_id), int(version)) for kek_id, version in self.conn.execute(stmt)}
        roots = select(root_keys.c.provider_id, root_keys.c.provider_version).where(
            and_(root_keys.c.environment == environment, root_keys.c.wrapped.is_not(None))
        )
        return found | {(str(kek_id), int(version)) for kek_id, version in self.conn.execute(roots)}

    def provider_versions_in_use(self, provider_id: str) -> set[int]:
        """The versions of provider key ``provider_id`` that anything in this database needs, in every
        environment: those wrapping a live root key, and those wrapping a data key directly (before 0006)."""
        roots = select(root_keys.c.provider_version).where(
            and_(root_keys.c.provider_id == provider_id, root_keys.c.wrapped.is_not(None))
        )
        direct = select(data_keys.c.kek_version).where(
            and_(data_keys.c.kek_id == provider_id, data_keys.c.kek_id != _NOT_ROOT)
        )
        return {int(v) for v in self.conn.execute(roots.union(direct)).scalars()}

    def environments_using(self, provider_id: str, versions: Sequence[int]) -> list[str]:
        """The environments whose live root keys (or pre-0006 data keys) need these provider versions."""
        roots = select(root_keys.c.environment).where(
            and_(
                root_keys.c.provider_id == provider_id,
                root_keys.c.provider_version.in_(versions),
                root_keys.c.wrapped.is_not(None),
            )
        )
        direct = (
            select(tenants.c.environment)
            .join(data_keys, data_keys.c.tenant_id == tenants.c.id)
            .where(
                and_(
                    data_keys.c.kek_id == provider_id,
                    data_keys.c.kek_id != _NOT_ROOT,
                    data_keys.c.kek_version.in_(versions),
                )
            )
        )
        return sorted({str(e) for e in self.conn.execute(roots.union(direct)).scalars()})

    def data_keys_under(
        self, environment: str, kek_id: str, kek_version: int, *, limit: int
    ) -> list[tuple[DataKeyRecord, TenantRecord]]:
        """Up to ``limit`` of this environment's data keys wrapped under one key version, with their tenants."""
        stmt = (
            _keys_with_tenants()
            .where(
                and_(
                    tenants.c.environment == environment,
                    data_keys.c.kek_id == kek_id,
                    data_keys.c.kek_version == kek_version,
                )
            )
            .order_by(data_keys.c.created_at, data_keys.c.tenant_id, data_keys.c.version)
            .limit(limit)
        )
        return [_key_and_tenant(row) for row in self.conn.execute(stmt).mappings()]

    def all_data_keys(self) -> list[DataKeyRecord]:
        return [DataKeyRecord(**r) for r in self.conn.execute(select(data_keys)).mappings()]

    def rewrap_data_key(self, tenant_id: str, version: int, kek_id: str, kek_version: int, wrapped: bytes) -> None:
        self.conn.execute(
            update(data_keys)
            .where(and_(data_keys.c.tenant_id == tenant_id, data_keys.c.version == version))
            .values(kek_id=kek_id, kek_version=kek_version, wrapped=wrapped)
        )

    def data_key(self, tenant_id: str, version: int) -> DataKeyRecord | None:
        row = self._one(
            select(data_keys).where(and_(data_keys.c.tenant_id == tenant_id, data_keys.c.version == version))
        )
        return DataKeyRecord(**row) if row else None

    def data_key_with_tenant(self, tenant_id: str, version: int) -> tuple[DataKeyRecord, TenantRecord] | None:
        """One data key and its tenant, as ``Vault._unwrap`` takes them."""
        stmt = _keys_with_tenants().where(and_(data_keys.c.tenant_id == tenant_id, data_keys.c.version == version))
        row = self._one(stmt)
        return None if row is None else _key_and_tenant(row)

    def data_keys_page(
        self, environment: str, *, not_under: tuple[str, int], after: tuple[str, int] | None, limit: int
    ) -> list[DataKeyRow]:
        """Up to ``limit`` of this environment's data keys not wrapped under ``not_under`` (key id, version), in
        key order after ``after`` (keyset paging: a batch costs the same at the millionth key as at the first).

        A rewrap reads every data key, so this reads on the driver's own cursor: tuples of the five columns a
        rewrap needs, in binary on PostgreSQL (a key's bytes as they are, not hex to decode), with no row
        processing. SQLAlchemy's rows, then a record per key, each once cost more than the AES-GCM
        (docs/benchmarks.md, "Re-keying")."""
        kek_id, kek_version = not_under
        after_id, after_version = after if after is not None else ("", -1)
        driver: Any = self.conn.connection.driver_connection
        if self.conn.dialect.name == "postgresql":
            # The bound on tenants.id is implied by the join, but spelled out: PostgreSQL merge-joins the two
            # primary keys, and without it would scan tenants from the first one at every page (quadratic).
            sql = (
                "SELECT d.tenant_id, d.version, d.kek_id, d.kek_version, d.wrapped FROM data_keys AS d "
                "JOIN tenants AS t ON t.id = d.tenant_id WHERE t.environment = %s "
                "AND (d.kek_id <> %s OR d.kek_version <> %s) AND (d.tenant_id, d.version) > (%s, %s) "
                "AND t.id >= %s ORDER BY d.tenant_id, d.version LIMIT %s"
            )
            with driver.cursor(binary=True) as cursor:
                cursor.execute(sql, (environment, kek_id, kek_version, after_id, after_version, after_id, limit))
                return cursor.fetchall()  # type: ignore[no-any-return]
        # On SQLite the environment is compared as an expression (``|| ''``), not the bare column: else SQLite
        # (no statistics) drives the join from tenants' (environment, name) index and sorts every key of the
        # environment for each page, which made a rotation quadratic; this way it walks data_keys' primary key
        # from ``after`` and stops at ``limit``.
        sql = (
            "SELECT d.tenant_id, d.version, d.kek_id, d.kek_version, d.wrapped FROM data_keys AS d "
            "JOIN tenants AS t ON t.id = d.tenant_id WHERE t.environment || '' = ? "
            "AND (d.kek_id <> ? OR d.kek_version <> ?) AND (d.tenant_id, d.version) > (?, ?) "
            "ORDER BY d.tenant_id, d.version LIMIT ?"
        )
        cursor = driver.cursor()
        try:
            return cursor.execute(sql, (environment, kek_id, kek_version, after_id, after_version, limit)).fetchall()  # type: ignore[no-any-return]
        finally:
            cursor.close()

    def rewrap_data_keys(self, kek_id: str, kek_version: int, rows: Sequence[tuple[str, int, bytes]]) -> int:
        """Many ``rewrap_data_key`` under one key in one statement: rows of (tenant id, version, wrapped).
        Returns how many were updated (not those whose tenant was deleted meanwhile)."""
        if not rows:
            return 0
        if self.conn.dialect.name == "postgresql":
            # The batch COPYed (binary: no hex text of each key) into a temporary table emptied at commit (it
            # holds wrapped keys only), then one UPDATE joined to it: a few short statements per batch, whatever
            # its size. An executemany sends an UPDATE per row, and arrays of parameters are dumped element by
            # element in Python: either was most of a rotation's time (docs/benchmarks.md, "Re-keying").
            driver = self.conn.connection.driver_connection
            with driver.cursor() as cursor:  # type: ignore[union-attr]
                # No wait for the WAL flush at commit: a batch a crash loses is still under its old root key,
                # which stays live until a retirement counts no key under it, and the resumed rewrap does it
                # again. The retirement's own (ordinary) commit flushes the WAL through every earlier batch.
                # One round trip for these statements (no parameters: the simple protocol takes several).
                cursor.execute(_REWRAP_AGAIN if self._rewrap_staged else _REWRAP_FIRST)
                self._rewrap_staged = True
                with cursor.copy("COPY strongroom_rewrap FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["varchar", "int4", "bytea"])
                    for row in rows:
                        copy.write_row(row)
                # The batch's key range spelled out: the planner knows nothing of the temporary table, and
                # without a bound on data_keys it may hash-join it against a scan of every data key.
                cursor.execute(
                    "UPDATE data_keys AS d SET kek_id = %s, kek_version = %s, wrapped = r.wrapped "
                    "FROM strongroom_rewrap AS r WHERE d.tenant_id = r.tenant_id AND d.version = r.version "
                    "AND d.tenant_id BETWEEN %s AND %s",
                    (kek_id, kek_version, min(map(_first, rows)), max(map(_first, rows))),
                )
                return int(cursor.rowcount)
        return self.conn.exec_driver_sql(  # the driver's own executemany: no per-row parameter processing
            "UPDATE data_keys SET kek_id = ?, kek_version = ?, wrapped = ? WHERE tenant_id = ? AND version = ?",
            [(kek_id, kek_version, w, t, v) for t, v, w in rows],
        ).rowcount  # sqlite3 sums an executemany's changes

    def data_key_counts(self, environment: str) -> dict[tuple[str, int], int]:
        """How many of this environment's data keys each (key id, key version) wraps."""
        stmt = (
            select(data_keys.c.kek_id, data_keys.c.kek_version, func.count())
            .join(tenants, tenants.c.id == data_keys.c.tenant_id)
            .where(tenants.c.environment == environment)
            .group_by(data_keys.c.kek_id, data_keys.c.kek_version)
        )
        return {(str(k), int(v)): int(n) for k, v, n in self.conn.execute(stmt)}

    def count_data_keys_under(self, environment: str, kek_id: str, kek_version: int) -> int:
        stmt = (
            select(func.count())
            .select_from(data_keys.join(tenants, tenants.c.id == data_keys.c.tenant_id))
            .where(
                and_(
                    tenants.c.environment == environment,
                    data_keys.c.kek_id == kek_id,
                    data_keys.c.kek_version == kek_version,
                )
            )
        )
        return int(self.conn.execute(stmt).scalar() or 0)

    # -- root keys (schema 0006) ------------------------------------------------------------------

    def root_keys(self, environment: str) -> list[RootKeyRecord]:
        stmt = select(root_keys).where(root_keys.c.environment == environment).order_by(root_keys.c.version)
        return [RootKeyRecord(**r) for r in self.conn.execute(stmt).mappings()]

    def root_key(self, environment: str, version: int, *, lock: bool = False) -> RootKeyRecord | None:
        row = self._one(
            select(root_keys).where(and_(root_keys.c.environment == environment, root_keys.c.version == version)),
            lock=lock,
        )
        return RootKeyRecord(**row) if row else None

    def root_key_in(self, environment: str, state: str, *, share_lock: bool = False) -> RootKeyRecord | None:
        """The newest root key in ``state``; ``share_lock``: held (FOR SHARE) until the transaction ends, so the
        key cannot be demoted or retired under a writer wrapping with it."""
        stmt = (
            select(root_keys)
            .where(and_(root_keys.c.environment == environment, root_keys.c.state == state))
            .order_by(root_keys.c.version.desc())
            .limit(1)
        )
        if share_lock and self._lock_rows:
            stmt = stmt.with_for_update(read=True)
        row = self.conn.execute(stmt).mappings().first()
        return RootKeyRecord(**row) if row else None

    def insert_root_key(self, record: RootKeyRecord) -> bool:
        """Insert unless that version exists (a racing process added it); True if this transaction did."""
        stmt = self._insert(root_keys).values(**_fields(record)).on_conflict_do_nothing().returning(root_keys.c.version)
        return self.conn.execute(stmt).scalar() is not None

    def set_root_state(self, environment: str, version: int, state: str) -> None:
        self.conn.execute(
            update(root_keys)
            .where(and_(root_keys.c.environment == environment, root_keys.c.version == version))
            .values(state=state)
        )

    def rewrap_root_key(
        self, environment: str, version: int, provider_id: str, provider_version: int, wrapped: bytes
    ) -> None:
        self.conn.execute(
            update(root_keys)
            .where(and_(root_keys.c.environment == environment, root_keys.c.version == version))
            .values(provider_id=provider_id, provider_version=provider_version, wrapped=wrapped)
        )

    def retire_root_key(self, environment: str, version: int, state: str, at: float) -> None:
        """The key itself is deleted from the row (what the database keeps is only that it existed)."""
        self.conn.execute(
            update(root_keys)
            .where(and_(root_keys.c.environment == environment, root_keys.c.version == version))
            .values(state=state, wrapped=None, retired_at=at)
        )

    def bump_meta_counter(self, key: str) -> int:
        """Add one to the integer kept under ``key`` (created at 1); the row stays locked until commit."""
        current = self._one(select(strongroom_meta.c.value).where(strongroom_meta.c.key == key), lock=True)
        if current is None and self.insert_meta(key, "1"):
            return 1
        if current is None:  # a racing transaction created it: lock it now
            current = self._one(select(strongroom_meta.c.value).where(strongroom_meta.c.key == key), lock=True)
        value = int(current["value"]) + 1
        self.set_meta(key, str(value))
        return value

    def set_meta(self, key: str, value: str) -> None:
        stmt = self._insert(strongroom_meta).values(key=key, value=value)
        self.conn.execute(stmt.on_conflict_do_update(index_elements=[strongroom_meta.c.key], set_={"value": value}))

    def delete_meta(self, key: str) -> None:
        self.conn.execute(delete(strongroom_meta).where(strongroom_meta.c.key == key))

    # -- secrets ------------------------------------------------------------------------------------

    def ensure_secret(self, record: SecretRecord) -> None:
        """Insert the secret's metadata row if absent, without failing when a concurrent writer did."""
        self.conn.execute(self._insert(secrets).values(**_fields(record)).on_conflict_do_nothing())

    def secret(self, tenant_id: str, name: str, *, lock: bool = False) -> SecretRecord | None:
        row = self._one(select(secrets).where(and_(secrets.c.tenant_id == tenant_id, secrets.c.name == name)), lock)
        return SecretRecord(**row) if row else None

    def secrets(self, tenant_id: str, *, include_deleted: bool) -> list[SecretRecord]:
        stmt = select(secrets).where(and_(secrets.c.tenant_id == tenant_id, secrets.c.purged_at.is_(None)))
        if not include_deleted:
            stmt = stmt.where(secrets.c.deleted_at.is_(None))
        return [SecretRecord(**r) for r in self.conn.execute(stmt.order_by(secrets.c.name)).mappings()]

    def current_expiries(self, tenant_id: str) -> dict[str, float | None]:
        """Expiry of each secret's current version (ephemeral secrets have one)."""
        stmt = (
            select(secret_versions.c.name, secret_versions.c.expires_at)
            .join(
                secrets,
                and_(
                    secrets.c.tenant_id == secret_versions.c.tenant_id,
                    secrets.c.name == secret_versions.c.name,
                    secrets.c.current_version == secret_versions.c.version,
                ),
            )
            .where(secret_versions.c.tenant_id == tenant_id)
        )
        return {row.name: row.expires_at for row in self.conn.execute(stmt)}

    def advance_secret(self, tenant_id: str, name: str, from_version: int, values: dict[str, Any]) -> None:
        """Move the secret to a new version only if nobody else did first (check-and-set)."""
        result = self.conn.execute(
            update(secrets)
            .where(
                and_(
                    secrets.c.tenant_id == tenant_id, secrets.c.name == name, secrets.c.current_version == from_version
                )
            )
            .values(**values)
        )
        if result.rowcount != 1:
            raise Conflict(f"secret {name!r} changed concurrently; retry with the new version")

    def set_destinations(self, tenant_id: str, name: str, destinations: str | None, at: float) -> None:
        """Replace a secret's destination policy (canonical JSON, or NULL), without a new version."""
        self.conn.execute(
            update(secrets)
            .where(and_(secrets.c.tenant_id == tenant_id, secrets.c.name == name))
            .values(destinations=destinations, updated_at=at)
        )

    def mark_deleted(self, tenant_id: str, name: str, at: float) -> None:
        self.conn.execute(
            update(secrets)
            .where(and_(secrets.c.tenant_id == tenant_id, secrets.c.name == name))
            .values(deleted_at=at, updated_at=at)
        )

    def purge_secret(self, tenant_id: str, name: str, at: float) -> int:
        """Delete every version; the metadata row stays as a tombstone that keeps the version counter."""
        where = and_(secret_versions.c.tenant_id == tenant_id, secret_versions.c.name == name)
        count = self.conn.execute(delete(secret_versions).where(where)).rowcount
        self.conn.execute(
            update(secrets)
            .where(and_(secrets.c.tenant_id == tenant_id, secrets.c.name == name))
            .values(purged_at=at, deleted_at=func.coalesce(secrets.c.deleted_at, at), updated_at=at, description="")
        )
        return int(count)

    def for_use(
        self, environment: str, tenant: str, name: str, version: int | None
    ) -> tuple[TenantRecord, SecretRecord | None, VersionRecord | None, DataKeyRecord | None] | None:
        """Everything a decrypt needs in one query: tenant, secret, the version (current unless pinned) and its
        data key. ``None`` when the tenant does not exist; later parts are ``None`` when missing."""
        stmt = _for_use_statement(pinned=version is not None)
        params = {"environment": environment, "tenant": tenant, "name": name, "version": version}
        row = self.conn.execute(stmt, params).mappings().first()
        if row is None:
            return None

        def part(record: Any, prefix: str) -> Any:
            fields = {f: row[prefix + f] for f in record.__slots__}
            return None if all(v is None for v in fields.values()) else record(**fields)

        return (
            part(TenantRecord, "t_"),
            part(SecretRecord, "s_"),
            part(VersionRecord, "v_"),
            part(DataKeyRecord, "k_"),
        )

    def update_secret(self, tenant_id: str, name: str, values: dict[str, Any]) -> None:
        """Change a secret's row (its stage pointers) where the caller holds its lock."""
        self.conn.execute(
            update(secrets).where(and_(secrets.c.tenant_id == tenant_id, secrets.c.name == name)).values(**values)
        )

    def delete_version(self, tenant_id: str, name: str, version: int) -> None:
        where = and_(
            secret_versions.c.tenant_id == tenant_id,
            secret_versions.c.name == name,
            secret_versions.c.version == version,
        )
        self.conn.execute(delete(secret_versions).where(where))

    # -- rotation (schema 0009) ------------------------------------------------------------------------

    def put_rotation_policy(self, record: RotationPolicyRecord) -> None:
        values = _fields(record)
        changed = {k: v for k, v in values.items() if k not in ("tenant_id", "name", "created_at")}
        stmt = self._insert(rotation_policies).values(**values)
        self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[rotation_policies.c.tenant_id, rotation_policies.c.name], set_=changed
            )
        )

    def rotation_policy(self, tenant_id: str, name: str) -> RotationPolicyRecord | None:
        where = and_(rotation_policies.c.tenant_id == tenant_id, rotation_policies.c.name == name)
        row = self._one(select(rotation_policies).where(where))
        return RotationPolicyRecord(**row) if row else None

    def delete_rotation_policy(self, tenant_id: str, name: str) -> bool:
        where = and_(rotation_policies.c.tenant_id == tenant_id, rotation_policies.c.name == name)
        return bool(self.conn.execute(delete(rotation_policies).where(where)).rowcount)

    def set_next_due(self, tenant_id: str, name: str, next_due: float, at: float) -> None:
        where = and_(rotation_policies.c.tenant_id == tenant_id, rotation_policies.c.name == name)
        self.conn.execute(update(rotation_policies).where(where).values(next_due=next_due, updated_at=at))

    def rotation_policies(
        self,
        environment: str,
        tenant_id: str | None = None,
        *,
        due_before: float | None = None,
        limit: int | None = None,
    ) -> list[tuple[str, RotationPolicyRecord]]:
        """(tenant name, policy) of the environment's live secrets, soonest due first; ``due_before``: only those
        due by then."""
        stmt = (
            select(tenants.c.name.label("tenant_name"), rotation_policies)
            .join(tenants, tenants.c.id == rotation_policies.c.tenant_id)
            .join(
                secrets,
                and_(secrets.c.tenant_id == rotation_policies.c.tenant_id, secrets.c.name == rotation_policies.c.name),
            )
            .where(and_(tenants.c.environment == environment, secrets.c.deleted_at.is_(None)))
            .order_by(rotation_policies.c.next_due, rotation_policies.c.tenant_id, rotation_policies.c.name)
        )
        if tenant_id is not None:
            stmt = stmt.where(rotation_policies.c.tenant_id == tenant_id)
        if due_before is not None:
            stmt = stmt.where(rotation_policies.c.next_due <= due_before)
        if limit is not None:
            stmt = stmt.limit(limit)
        out = []
        for row in self.conn.execute(stmt).mappings():
            fields = {f: row[f] for f in RotationPolicyRecord.__slots__}
            out.append((row["tenant_name"], RotationPolicyRecord(**fields)))
        return out

    def insert_rotation(self, record: RotationRecord) -> None:
        self.conn.execute(rotations.insert().values(**_fields(record)))

    def update_rotation(self, rotation_id: str, values: dict[str, Any]) -> None:
        self.conn.execute(update(rotations).where(rotations.c.id == rotation_id).values(**values))

    def rotation(self, rotation_id: str, *, lock: bool = False) -> RotationRecord | None:
        row = self._one(select(rotations).where(rotations.c.id == rotation_id), lock)
        return RotationRecord(**row) if row else None

    def open_rotation(self, tenant_id: str, name: str) -> RotationRecord | None:
        """The secret's unfinished rotation (running, or waiting to retire), if any."""
        stmt = (
            select(rotations)
            .where(
                and_(
                    rotations.c.tenant_id == tenant_id,
                    rotations.c.name == name,
                    rotations.c.status.in_(("running", "retiring")),
                )
            )
            .order_by(rotations.c.started_at.desc())
        )
        row = self.conn.execute(stmt).mappings().first()
        return RotationRecord(**row) if row else None

    def open_rotations(self, environment: str) -> list[tuple[str, RotationRecord]]:
        """(tenant name, rotation) of every unfinished rotation of the environment, oldest first."""
        stmt = (
            select(tenants.c.name.label("tenant_name"), rotations)
            .join(tenants, tenants.c.id == rotations.c.tenant_id)
            .where(and_(rotations.c.environment == environment, rotations.c.status.in_(("running", "retiring"))))
            .order_by(rotations.c.started_at)
        )
        return [
            (row["tenant_name"], RotationRecord(**{f: row[f] for f in RotationRecord.__slots__}))
            for row in self.conn.execute(stmt).mappings()
        ]

    def latest_rotations(self, environment: str, tenant_id: str | None = None) -> dict[tuple[str, str], RotationRecord]:
        """The newest rotation of each secret, by (tenant id, name)."""
        newest = (
            select(rotations.c.tenant_id, rotations.c.name, func.max(rotations.c.started_at).label("at"))
            .where(rotations.c.environment == environment)
            .group_by(rotations.c.tenant_id, rotations.c.name)
        )
        if tenant_id is not None:
            newest = newest.where(rotations.c.tenant_id == tenant_id)
        sub = newest.subquery()
        stmt = select(rotations).join(
            sub,
            and_(
                rotations.c.tenant_id == sub.c.tenant_id,
                rotations.c.name == sub.c.name,
                rotations.c.started_at == sub.c.at,
            ),
        )
        return {(r["tenant_id"], r["name"]): RotationRecord(**r) for r in self.conn.execute(stmt).mappings()}

    # -- versions -----------------------------------------------------------------------------------

    def insert_version(self, record: VersionRecord) -> None:
        try:
            self.conn.execute(secret_versions.insert().values(**_fields(record)))
        except IntegrityError:
            raise Conflict(f"secret {record.name!r} version {record.version} already exists") from None

    def versions(self, tenant_id: str, name: str) -> list[VersionRecord]:
        stmt = (
            select(secret_versions)
            .where(and_(secret_versions.c.tenant_id == tenant_id, secret_versions.c.name == name))
            .order_by(secret_versions.c.version)
        )
        return [VersionRecord(**r) for r in self.conn.execute(stmt).mappings()]

    def fingerprints(self, environment: str) -> list[tuple[str, str, int, str | None, int, str, int]]:
        """(tenant name, secret name, version, fingerprint, ciphertext length, tenant id, data key version)
        of every stored version."""
        stmt = (
            select(
                tenants.c.name,
                secret_versions.c.name,
                secret_versions.c.version,
                secret_versions.c.fingerprint,
                func.length(secret_versions.c.ciphertext),
                tenants.c.id,
                secret_versions.c.dek_version,
            )
            .select_from(tenants.join(secret_versions, secret_versions.c.tenant_id == tenants.c.id))
            .where(tenants.c.environment == environment)
            .order_by(tenants.c.name, secret_versions.c.name, secret_versions.c.version)
        )
        return [(t, n, v, f, size, tid, dv) for t, n, v, f, size, tid, dv in self.conn.execute(stmt)]

    def drop_fingerprints_except(self, environment: str, prefix: str) -> int:
        """NULL every fingerprint of the environment's versions that does not start with ``prefix``."""
        in_environment = select(tenants.c.id).where(tenants.c.environment == environment).scalar_subquery()
        stmt = (
            update(secret_versions)
            .where(
                and_(
                    secret_versions.c.tenant_id.in_(in_environment),
                    secret_versions.c.fingerprint.is_not(None),
                    secret_versions.c.fingerprint.not_like(prefix + "%"),
                )
            )
            .values(fingerprint=None)
        )
        return int(self.conn.execute(stmt).rowcount or 0)

    # -- API keys (schema 0003) ----------------------------------------------------------------------

    def insert_api_key(self, record: ApiKeyRecord) -> None:
        try:
            self.conn.execute(api_keys.insert().values(**_fields(record)))
        except IntegrityError:  # id or hash collision: the caller draws a new key
            raise Conflict(f"API key id {record.id!r} already exists") from None

    def api_key(self, key_id: str) -> tuple[ApiKeyRecord, TenantRecord | None] | None:
        """The key and its tenant (``None`` for an operator key), in one query; ``None`` if unknown."""
        stmt = (
            select(*[c.label("k_" + c.name) for c in api_keys.c], *[c.label("t_" + c.name) for c in tenants.c])
            .select_from(api_keys.outerjoin(tenants, tenants.c.id == api_keys.c.tenant_id))
            .where(api_keys.c.id == key_id)
        )
        row = self.conn.execute(stmt).mappings().first()
        if row is None:
            return None
        key = ApiKeyRecord(**{f: row["k_" + f] for f in ApiKeyRecord.__slots__})
        tenant = None if row["t_id"] is None else TenantRecord(**{f: row["t_" + f] for f in TenantRecord.__slots__})
        return key, tenant

    def api_keys(self, environment: str, tenant_id: str | None) -> list[ApiKeyRecord]:
        """A tenant's keys, or with ``None`` the environment's operator keys, oldest first."""
        owner = api_keys.c.tenant_id.is_(None) if tenant_id is None else api_keys.c.tenant_id == tenant_id
        stmt = (
            select(api_keys)
            .where(and_(api_keys.c.environment == environment, owner))
            .order_by(api_keys.c.created_at, api_keys.c.id)
        )
        return [ApiKeyRecord(**r) for r in self.conn.execute(stmt).mappings()]

    def revoke_api_key(self, key_id: str, at: float) -> bool:
        """Mark the key revoked; False if it already was (the first revocation time is kept)."""
        stmt = (
            update(api_keys)
            .where(and_(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)))
            .values(revoked_at=at)
            .returning(api_keys.c.id)
        )
        return self.conn.execute(stmt).scalar() is not None

    def touch_api_key(self, key_id: str, at: float) -> None:
        """Record a use; never moves ``last_used_at`` backwards (writers' clocks differ)."""
        self.conn.execute(
            update(api_keys)
            .where(and_(api_keys.c.id == key_id, (api_keys.c.last_used_at.is_(None)) | (api_keys.c.last_used_at < at)))
            .values(last_used_at=at)
        )

    # -- agent-token revocations ------------------------------------------------------------------

    def insert_token_revocation(self, record: TokenRevocationRecord) -> bool:
        """Persist a revocation; False if that jti was already revoked (the first row is kept)."""
        stmt = (
            self._insert(token_revocations)
            .values(**_fields(record))
            .on_conflict_do_nothing()
            .returning(token_revocations.c.jti)
        )
        return self.conn.execute(stmt).scalar() is not None

    def token_revocations(self, environment: str, *, expiring_after: float) -> dict[str, float]:
        """jti -> token expiry of the environment's revocations that still matter (expiring after the time)."""
        stmt = select(token_revocations.c.jti, token_revocations.c.expires_at).where(
            and_(token_revocations.c.environment == environment, token_revocations.c.expires_at > expiring_after)
        )
        return {jti: float(expires_at) for jti, expires_at in self.conn.execute(stmt)}

    def prune_token_revocations(self, environment: str, *, expired_before: float) -> int:
        """Delete revocations of tokens that expired before the time: they fail verification on their own."""
        result = self.conn.execute(
            delete(token_revocations).where(
                and_(token_revocations.c.environment == environment, token_revocations.c.expires_at < expired_before)
            )
        )
        return int(result.rowcount)

    # -- connectors -------------------------------------------------------------------------------

    def put_connector(self, record: ConnectorRecord) -> ConnectorRecord:
        """Insert or replace a connector's definition; returns the stored row (a replaced one keeps its
        ``created_at``)."""
        insert = self._insert(connectors).values(**_fields(record))
        stmt = insert.on_conflict_do_update(
            index_elements=[connectors.c.tenant_id, connectors.c.name],
            set_={"definition": insert.excluded.definition, "updated_at": insert.excluded.updated_at},
        ).returning(*connectors.c)
        return ConnectorRecord(**self.conn.execute(stmt).mappings().one())

    def connector(self, tenant_id: str, name: str) -> ConnectorRecord | None:
        row = self._one(select(connectors).where(and_(connectors.c.tenant_id == tenant_id, connectors.c.name == name)))
        return ConnectorRecord(**row) if row else None

    def connectors(self, tenant_id: str) -> list[ConnectorRecord]:
        stmt = select(connectors).where(connectors.c.tenant_id == tenant_id).order_by(connectors.c.name)
        return [ConnectorRecord(**r) for r in self.conn.execute(stmt).mappings()]

    def delete_connector(self, tenant_id: str, name: str) -> bool:
        """True if the connector existed."""
        stmt = (
            delete(connectors)
            .where(and_(connectors.c.tenant_id == tenant_id, connectors.c.name == name))
            .returning(connectors.c.name)
        )
        return self.conn.execute(stmt).scalar() is not None

    # -- one-time shares --------------------------------------------------------------------------

    def insert_share(self, record: ShareRecord) -> None:
        try:
            self.conn.execute(shares.insert().values(**_fields(record)))
        except IntegrityError:
            raise Conflict("a share with this link already exists") from None  # the id is a hash: not shown

    def share(self, share_id: str, *, lock: bool = False) -> ShareRecord | None:
        """The share (``lock``: held ``FOR UPDATE`` on PostgreSQL until the transaction ends)."""
        row = self._one(select(shares).where(shares.c.id == share_id), lock)
        return ShareRecord(**row) if row else None

    def mark_share_used(self, share_id: str, at: float) -> bool:
        """Mark the share used if nobody has yet; True only for the one call that did (check-and-set)."""
        stmt = (
            update(shares)
            .where(and_(shares.c.id == share_id, shares.c.used_at.is_(None)))
            .values(used_at=at)
            .returning(shares.c.id)
        )
        return self.conn.execute(stmt).scalar() is not None

    def prune_shares(self, environment: str, *, expired_before: float) -> int:
        """Delete the environment's shares that expired before the time (used or not)."""
        result = self.conn.execute(
            delete(shares).where(and_(shares.c.environment == environment, shares.c.expires_at < expired_before))
        )
        return int(result.rowcount)

    # -- audit --------------------------------------------------------------------------------------

    def lock_chain(self, chain: str, genesis: str) -> tuple[int, str]:
        """The chain's head (seq, hash), locked until this transaction ends so writers cannot fork it."""
        head = select(audit_chains).where(audit_chains.c.chain == chain)
        row = self._one(head, lock=True)
        if row is None:  # a new chain (once per tenant): create its head, or take the one a racing writer made
            self.conn.execute(
                self._insert(audit_chains).values(chain=chain, head_seq=0, head_hash=genesis).on_conflict_do_nothing()
            )
            row = self._one(head, lock=True)
        return int(row["head_seq"]), str(row["head_hash"])

    def set_chain_head(self, chain: str, seq: int, head_hash: str) -> None:
        self.conn.execute(
            update(audit_chains).where(audit_chains.c.chain == chain).values(head_seq=seq, head_hash=head_hash)
        )

    def insert_audit_events(self, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """Bulk insert through the driver: audit batches are large and Core's per-row parameter work dominates."""
        if not rows:
            return
        unknown = set(columns) - set(audit_events.c.keys())
        if unknown:
            raise ValueError(f"unknown audit columns {sorted(unknown)}")
        if self.conn.dialect.name == "postgresql":
            # COPY: one round trip for the batch (executemany sends a statement per row).
            driver = self.conn.connection.driver_connection
            with (
                driver.cursor() as cursor,  # type: ignore[union-attr]
                cursor.copy(f"COPY audit_events ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        marker = "?" if self.conn.dialect.paramstyle == "qmark" else "%s"
        sql = f"INSERT INTO audit_events ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))})"  # noqa: S608 -- column names checked against the table above
        self.conn.exec_driver_sql(sql, list(rows))

    def relink_audit_events(self, links: Sequence[tuple[int, str, str]]) -> None:
        """Set (``prev_hash``, ``hash``) of events by id: old chains re-linked under a new audit key."""
        if links:
            stmt = (
                update(audit_events)
                .where(audit_events.c.id == bindparam("b_id"))
                .values(prev_hash=bindparam("b_prev"), hash=bindparam("b_hash"))
            )
            self.conn.execute(stmt, [{"b_id": i, "b_prev": p, "b_hash": h} for i, p, h in links])

    def audit_links(self, wanted: Sequence[tuple[str, int]]) -> dict[tuple[str, int], str]:
        """The stored link (``hash``) of each (chain, seq) of ``wanted`` that exists (checkpoint verification)."""
        found: dict[tuple[str, int], str] = {}
        c = audit_events.c
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            stmt = select(c.chain, c.seq, c.hash).where(tuple_(c.chain, c.seq).in_(chunk))
            found.update({(str(chain), int(seq)): str(link) for chain, seq, link in self.conn.execute(stmt)})
        return found

    def audit_chain_names(self) -> set[str]:
        return set(self.conn.execute(select(audit_events.c.chain).distinct()).scalars())

    def chain_heads(self) -> dict[str, tuple[int, str]]:
        rows = self.conn.execute(select(audit_chains)).mappings()
        return {r["chain"]: (int(r["head_seq"]), str(r["head_hash"])) for r in rows}

    def audit_events(
        self,
        *,
        chain: str | None = None,
        tenant: str | None = None,
        tenant_id: str | None = None,
        unattributed: bool = False,
        environment: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        secret_name: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: float | None = None,
        until: float | None = None,
        after_id: int | None = None,
    ) -> list[AuditRecord]:
        """Events matching every filter given; ``unattributed``: only those of no tenant (``tenant_id`` NULL).

        ``after_id``: only events with a greater id (a keyset page: the next page starts after the last id read).
        """
        stmt = select(audit_events)
        c = audit_events.c
        if unattributed:
            stmt = stmt.where(c.tenant_id.is_(None))
        if after_id is not None:
            stmt = stmt.where(c.id > after_id)
        for column, wanted in (
            (c.chain, chain),
            (c.tenant, tenant),
            (c.tenant_id, tenant_id),
            (c.environment, environment),
            (c.secret_name, secret_name),
            (c.actor, actor),
            (c.action, action),
        ):
            if wanted is not None:
                stmt = stmt.where(column == wanted)
        if since is not None:
            stmt = stmt.where(c.at >= since)
        if until is not None:
            stmt = stmt.where(c.at < until)
        order = audit_events.c.id.desc() if newest_first else audit_events.c.id
        stmt = stmt.order_by(order)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [AuditRecord(**r) for r in self.conn.execute(stmt).mappings()]

    def iter_chain(self, chain: str) -> Iterable[AuditRecord]:
        stmt = select(audit_events).where(audit_events.c.chain == chain).order_by(audit_events.c.id)
        for r in self.conn.execute(stmt).mappings():
            yield AuditRecord(**r)

    def count(self, table_name: str) -> int:
        table = {
            "tenants": tenants,
            "secrets": secrets,
            "secret_versions": secret_versions,
            "data_keys": data_keys,
            "audit_events": audit_events,
            "api_keys": api_keys,
            "token_revocations": token_revocations,
            "connectors": connectors,
            "shares": shares,
        }[table_name]
        return int(self.conn.execute(select(func.count()).select_from(table)).scalar_one())

    def last_uses(
        self, environment: str, tenant_ids: Sequence[str], *, action: str, outcome: str
    ) -> list[tuple[str, str, str | None, str, float]]:
        """(tenant id, secret name, purpose, actor, latest at) of each distinct use of the tenants' secrets: one
        grouped query over the (tenant_id, at) index, however many secrets there are."""
        if not tenant_ids:
            return []
        c = audit_events.c
        stmt = (
            select(c.tenant_id, c.secret_name, c.purpose, c.actor, func.max(c.at))
            .where(
                and_(
                    c.tenant_id.in_(list(tenant_ids)),
                    c.environment == environment,
                    c.action == action,
                    c.outcome == outcome,
                    c.secret_name.is_not(None),
                )
            )
            .group_by(c.tenant_id, c.secret_name, c.purpose, c.actor)
        )
        return [(r[0], r[1], r[2], r[3], float(r[4])) for r in self.conn.execute(stmt)]

    def current_made(self, tenant_ids: Sequence[str]) -> dict[tuple[str, str], float]:
        """When each live secret's current version was made, by (tenant id, name): the inventory's ages in one
        query rather than one per secret."""
        if not tenant_ids:
            return {}
        v, sc = secret_versions.c, secrets.c
        stmt = (
            select(v.tenant_id, v.name, v.created_at)
            .join(secrets, and_(sc.tenant_id == v.tenant_id, sc.name == v.name, sc.current_version == v.version))
            .where(and_(v.tenant_id.in_(list(tenant_ids)), sc.purged_at.is_(None)))
        )
        return {(r[0], r[1]): float(r[2]) for r in self.conn.execute(stmt)}


@contextmanager
def _thread_lock(lock: threading.RLock, *, wait: bool) -> Iterator[bool]:
    held = lock.acquire(blocking=wait)
    try:
        yield held
    finally:
        if held:
            lock.release()


@contextmanager
def _file_lock(path: str, *, wait: bool, on_wait: Callable[[], object] | None) -> Iterator[bool]:
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = True
        except BlockingIOError:
            held = False
        if not held and wait:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = True
        try:
            yield held
        finally:
            if held:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


_FOR_USE_PARTS = ((tenants, "t_"), (secrets, "s_"), (secret_versions, "v_"), (data_keys, "k_"))


@functools.cache
def _for_use_statement(*, pinned: bool) -> Any:
    # Built once: constructing a 40-column join costs more than running it.
    wanted = bindparam("version") if pinned else secrets.c.current_version
    return (
        select(*[c.label(prefix + c.name) for table, prefix in _FOR_USE_PARTS for c in table.c])
        .select_from(
            tenants.outerjoin(secrets, and_(secrets.c.tenant_id == tenants.c.id, secrets.c.name == bindparam("name")))
            .outerjoin(
                secret_versions,
                and_(
                    secret_versions.c.tenant_id == secrets.c.tenant_id,
                    secret_versions.c.name == secrets.c.name,
                    secret_versions.c.version == wanted,
                ),
            )
            .outerjoin(
                data_keys,
                and_(
                    data_keys.c.tenant_id == secret_versions.c.tenant_id,
                    data_keys.c.version == secret_versions.c.dek_version,
                ),
            )
        )
        .where(and_(tenants.c.environment == bindparam("environment"), tenants.c.name == bindparam("tenant")))
    )


def _fields(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__slots__}
