"""The broker's connection pool: a connection the upstream closed while it sat idle is never reused."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from strongroom.broker import Broker, Connector
from strongroom.broker.network import _readable


@pytest.fixture
def closing_upstream() -> Iterator[tuple[int, list[socket.socket]]]:
    """A raw HTTP/1.1 upstream: answers a connection's first request with keep-alive, then closes it 0.1 s later."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def handle(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                conn.close()
                return
            data += chunk
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        time.sleep(0.1)
        conn.close()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], accepted
    listener.close()


def test_a_connection_closed_by_the_upstream_while_idle_is_replaced(
    closing_upstream: tuple[int, list[socket.socket]],
    make_connector: Callable[..., Connector],
    run_broker: Callable[..., Any],
) -> None:
    port, accepted = closing_upstream
    connector = make_connector(base_url=f"http://127.0.0.1:{port}")

    async def two_calls(broker: Broker) -> tuple[int, int]:
        first = await broker.call(tenant="acme", connector=connector, method="GET", path="/echo/1", actor="agent-1")
        await asyncio.sleep(0.4)  # the upstream has closed that connection by now; the pool still holds it
        second = await broker.call(tenant="acme", connector=connector, method="GET", path="/echo/2", actor="agent-1")
        return first.status, second.status

    assert run_broker(two_calls) == (200, 200)
    assert len(accepted) == 2  # the second call opened a new connection


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
