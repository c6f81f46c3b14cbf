"""``Store.connections_kept``: a thread that keeps a connection uses it for each transaction of the block (no
checkout and ping per transaction, as a rewrap's thousands of batches need), and never after the block."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import Connection

from strongroom.store import Store


def _connection_of(store: Store) -> Connection:
    with store.read() as tx:
        return tx.conn


def test_a_kept_connection_serves_its_thread_only_and_only_inside_its_block(store_url: str) -> None:
    store = Store(store_url)
    try:
        with store.connections_kept() as keep:
            keep()
            first = _connection_of(store)
            with store.write() as tx:
                assert tx.conn is first
            assert _connection_of(store) is first
            assert not first.closed
            elsewhere: list[Connection] = []  # a thread that never called keep()
            thread = threading.Thread(target=lambda: elsewhere.extend([_connection_of(store), _connection_of(store)]))
            thread.start()
            thread.join()
            assert len(elsewhere) == 2
            assert first not in elsewhere
            assert elsewhere[0] is not elsewhere[1]
        assert first.closed  # closed with its block
        after = _connection_of(store)
        assert after is not first
        with store.connections_kept():  # another block: this thread has not called its keep()
            assert _connection_of(store) is not first
    finally:
        store.close()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_kept_connection_reads_without_the_write_lock_after_a_write(store_url: str) -> None:
    """On SQLite a write transaction begins IMMEDIATE (it takes the database's one write lock) and a read does not.
    A rewrap's pool threads each run reads and writes on their kept connection: a read after a write must not
    hold the write lock, which would queue it behind every writer (and every writer behind it)."""
    store = Store(store_url)
    try:
        with store.connections_kept() as keep:
            keep()
            with store.write():
                pass
            with store.read() as tx:
                tx.conn.exec_driver_sql("SELECT 1").scalar()
                path = store.engine.url.database
                assert path is not None
                other = sqlite3.connect(path, timeout=0, isolation_level=None)
                try:
                    other.execute("BEGIN IMMEDIATE")  # "database is locked" if the read holds the write lock
                    other.execute("ROLLBACK")
                finally:
                    other.close()
    finally:
        store.close()
