"""The broker's connection pool: a connection the upstream closed while it sat idle is never reused."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from strongroom.broker import Broker, Connector
from strongroom.broker.network import _readable


class ClosingUpstream:
    """A raw HTTP/1.1 upstream: answers a connection's first request with keep-alive, then closes the connection
    when the test sets ``release``; ``closed`` is set once it has."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.accepted: list[socket.socket] = []
        self.release = threading.Event()
        self.closed = threading.Event()


@pytest.fixture
def closing_upstream() -> Iterator[ClosingUpstream]:
    listener = socket.create_server(("127.0.0.1", 0))
    upstream = ClosingUpstream(listener.getsockname()[1])
    accepted = upstream.accepted

    def handle(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                conn.close()
                return
            data += chunk
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        upstream.release.wait(30)
        conn.close()
        upstream.closed.set()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield upstream
    upstream.release.set()
    listener.close()


def test_a_connection_closed_by_the_upstream_while_idle_is_replaced(
    closing_upstream: ClosingUpstream,
    make_connector: Callable[..., Connector],
    run_broker: Callable[..., Any],
) -> None:
    upstream = closing_upstream
    connector = make_connector(base_url=f"http://127.0.0.1:{upstream.port}")

    async def two_calls(broker: Broker) -> tuple[int, int]:
        first = await broker.call(tenant="acme", connector=connector, method="GET", path="/echo/1", actor="agent-1")
        upstream.release.set()  # the first call is done and its connection back in the pool: the upstream closes it
        assert await asyncio.to_thread(upstream.closed.wait, 30)
        second = await broker.call(tenant="acme", connector=connector, method="GET", path="/echo/2", actor="agent-1")
        return first.status, second.status

    assert run_broker(two_calls) == (200, 200)
    assert len(upstream.accepted) == 2  # the second call opened a new connection


def test_readable_means_data_or_end_of_stream() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert _readable(ours) is False
        theirs.sendall(b"x")
        assert _readable(ours) is True
        ours.recv(1)
        theirs.close()
        assert _readable(ours) is True  # the peer's FIN: a read returns b"" at once
    assert _readable(ours) is True  # a closed socket (fileno -1) is never reused
    assert _readable(None) is True
