"""Real loopback upstreams for the broker's tests, a vault holding a credential made at test time, and helpers.

One threaded HTTP/1.1 server on 127.0.0.1:0 plays every upstream, by the path's first segment:

- ``/echo/...``: answers with what it received (method, path, query, headers, body) as JSON, and echoes the
  credential-bearing headers back as response headers and a cookie, raw and base64-encoded;
- ``/redirect-away``, ``/redirect-port``, ``/redirect-same``: a 302 to another host, another port, the same host;
- ``/hang``: never answers (until the test ends);
- ``/garbage``: bytes that are not HTTP; ``/error``: a 503 that echoes the Authorization header;
- ``/huge``: ``size`` bytes (query) with the credential (header ``X-Put``) placed at offset ``at``;
- ``/bomb``: a gzip body that inflates to 50 MB.

Every request is recorded in ``upstream.seen`` so a test can prove the upstream saw the credential.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import secrets
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import pytest

from strongroom.broker import Broker, Connector, CredentialPlacement, Operation
from strongroom.vault import Vault

T = TypeVar("T")
TENANT = "acme"


@dataclass
class Upstream:
    port: int
    seen: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: Upstream

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]] = ()) -> None:  # type: ignore[assignment]
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        split = urlsplit(self.path)
        record = {
            "method": self.command,
            "path": split.path,
            "raw_query": split.query,
            "query": parse_qsl(split.query, keep_blank_values=True),
            "headers": list(self.headers.items()),
            "body": body,
        }
        self.upstream.seen.append(record)
        route = split.path.split("/")[1]
        getattr(self, f"_route_{route.replace('-', '_')}", self._route_echo)(record)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815

    def _route_echo(self, record: dict[str, Any]) -> None:
        echoed = [
            (f"X-Echo-{name}", value)
            for name, value in record["headers"]
            if name.lower() in ("authorization", "x-api-key", "host")
        ]
        echoed += [(name, _b64(value)) for name, value in echoed]
        echoed += [
            ("Set-Cookie", f"session={value}") for name, value in record["headers"] if name.lower() == "authorization"
        ]
        echoed.append(("X-Echo-Url", self.path))
        decoded = [
            base64.b64decode(v.split()[1]).decode()
            for n, v in record["headers"]
            if n.lower() == "authorization" and v.startswith("Basic ")
        ]
        payload = {
            **record,
            "basic_decoded": decoded,
            "b64": [_b64(v) for _, v in record["headers"]],
            "hex": [v.encode().hex() for _, v in record["headers"]],
        }
        self._send(200, json.dumps(payload).encode(), [("Content-Type", "application/json"), *echoed])

    def _route_redirect_away(self, record: dict[str, Any]) -> None:
        self._send(302, b"", [("Location", "http://attacker.example/steal")])

    def _route_redirect_port(self, record: dict[str, Any]) -> None:
        self._send(302, b"", [("Location", f"http://127.0.0.1:{self.upstream.port + 1}/x")])

    def _route_redirect_same(self, record: dict[str, Any]) -> None:
        self._send(302, b"", [("Location", "/echo/moved")])

    def _route_hang(self, record: dict[str, Any]) -> None:
        self.upstream.release.wait(10)
        self.close_connection = True  # then hang up unanswered: a client still waiting sees a close, not a timeout

    def _route_garbage(self, record: dict[str, Any]) -> None:
        self.wfile.write(b"\x00\x01this is not HTTP at all\r\n\r\n")
        self.close_connection = True

    def _route_error(self, record: dict[str, Any]) -> None:
        auth = {n.lower(): v for n, v in record["headers"]}.get("authorization", "")
        self._send(503, f"upstream down; you sent {auth}".encode(), [("Retry-After", "1")])

    def _route_huge(self, record: dict[str, Any]) -> None:
        query = dict(record["query"])
        size, at = int(query["size"]), int(query.get("at", "0"))
        put = self.headers.get("X-Put", "").encode()
        body = bytearray(b"a" * size)
        body[at : at + len(put)] = put
        self._send(200, bytes(body[:size]), [("Content-Type", "text/plain")])

    def _route_bomb(self, record: dict[str, Any]) -> None:
        self._send(
            200,
            gzip.compress(b"\0" * 50_000_000, compresslevel=9),
            [("Content-Type", "application/octet-stream"), ("Content-Encoding", "gzip")],
        )


@pytest.fixture
def upstream(start_http_server: Callable[[type[BaseHTTPRequestHandler]], int]) -> Iterator[Upstream]:
    """A real HTTP server on a loopback port, serving from threads, stopped (and unhung) at teardown."""
    state = Upstream(port=0)
    state.port = start_http_server(type("Handler", (_Handler,), {"upstream": state}))
    yield state
    state.release.set()  # before the shared fixture shuts the server down


@pytest.fixture
def token() -> str:
    """The tenant's upstream credential, made now: no credential-like literal lives in the tests."""
    return secrets.token_urlsafe(32)


@pytest.fixture
def broker_vault(vault: Vault, token: str) -> Vault:
    vault.create_tenant(TENANT)
    vault.put(TENANT, "api_token", token)
    return vault


ECHO_OPERATIONS = (
    Operation("get_item", "GET", "/echo/{item_id}", "Get an item"),
    Operation("create_item", "POST", "/echo/{item_id}", "Create an item"),
    Operation("delete_item", "DELETE", "/echo/{item_id}", "Delete an item"),
    Operation("redirect_away", "GET", "/redirect-away", "Redirect to another host"),
    Operation("redirect_port", "GET", "/redirect-port", "Redirect to another port"),
    Operation("redirect_same", "GET", "/redirect-same", "Redirect on the same host"),
    Operation("hang", "GET", "/hang", "Never answers"),
    Operation("garbage", "GET", "/garbage", "Answers garbage"),
    Operation("error", "GET", "/error", "Answers 503"),
    Operation("huge", "GET", "/huge", "A big body"),
    Operation("bomb", "GET", "/bomb", "A gzip bomb"),
)


@pytest.fixture
def make_connector(upstream: Upstream) -> Callable[..., Connector]:
    def _make(placement: CredentialPlacement | None = None, **options: Any) -> Connector:
        options.setdefault("base_url", upstream.url)
        options.setdefault("allow_private_network", True)
        return Connector(
            name=options.pop("name", "echo"),
            description="A loopback echo upstream",
            operations=options.pop("operations", ECHO_OPERATIONS),
            credential=placement or CredentialPlacement("bearer", "api_token"),
            **options,
        )

    return _make


@pytest.fixture
def run_broker(broker_vault: Vault) -> Callable[..., Any]:
    """``run_broker(body, **options)``: ``body(broker)`` on a fresh event loop (no pytest-asyncio), then closed."""

    def _run(body: Callable[[Broker], Coroutine[Any, Any, T]], **options: Any) -> T:
        async def main() -> T:
            async with Broker(broker_vault, **options) as broker:
                return await body(broker)

        return asyncio.run(main())

    return _run


@pytest.fixture
def fixed_resolver() -> Callable[..., Any]:
    """``fixed_resolver(*addresses)``: a resolver answering ``addresses`` for every host (hosts asked in ``.calls``)."""

    def _make(*addresses: str) -> Callable[[str], Coroutine[Any, Any, list[str]]]:
        calls: list[str] = []

        async def resolve(host: str) -> list[str]:
            calls.append(host)
            return list(addresses)

        resolve.calls = calls  # type: ignore[attr-defined]
        return resolve

    return _make
