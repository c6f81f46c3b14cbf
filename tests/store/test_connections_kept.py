"""``Store.connections_kept``: a thread that keeps a connection uses it for each transaction of the block (no
checkout and ping per transaction, as a rewrap's thousands of batches need), and never after the block."""

from __future__ import annotations

import threading

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
