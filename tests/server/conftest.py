"""The HTTP service on a real vault, two tenants with their credentials, and a loopback upstream for the broker.

- ``upstream``: a threaded HTTP/1.1 server on 127.0.0.1:0 that records every request in ``upstream.seen``;
  ``/anything...`` echoes method, path, query, headers and body as JSON; ``/hang`` never answers (until the
  test ends), ``/status/<n>`` answers status n (echoing the credential header), ``/garbage`` sends bytes that
  are not HTTP, ``/close`` hangs up without a word, ``/huge?size=n`` sends n bytes;
- ``connectors_file``: a TOML file declaring the connectors ``echo`` (header ``X-Api-Key`` from the secret
  ``echo_api_key``, every route above, a 1.5 s timeout) and ``other`` (a bearer credential nobody holds),
  both with ``allow_private_network = true``; ``strongroom serve`` reads the same file in the quickstart test;
- ``service`` (SQLite only, cheap) and ``service_on_store`` (SQLite and PostgreSQL): an app from
  ``create_app``, a ``TestClient`` inside its lifespan, the operator's admin key, and tenants A and B, each
  with a full-scope API key and a full-scope agent token. Every credential is made at test time.
"""

from __future__ import annotations

import json
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from strongroom.broker import Broker
from strongroom.crypto import LocalKeyProvider
from strongroom.tokens import SCOPES, ApiKeys, TokenService
from strongroom.vault import Vault
from strongroom.vocabulary import KEY_ONLY_SCOPES, Scope

PUBLIC_URL = "http://testserver"  # TestClient's base URL: the tokens' issuer and audience
ECHO_SECRET = "echo_api_key"  # noqa: S105 -- a secret's name, not a value
OTHER_SECRET = "other_api_key"  # noqa: S105 -- a name
ECHO_TIMEOUT_SECONDS = 1.5
FULL_SCOPES = sorted(SCOPES - {Scope.GPT_DOCUMENT})  # only the document-link route makes a key holding it


# -- the loopback upstream ---------------------------------------------------------------------------------


@dataclass
class Upstream:
    port: int
    seen: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def seen_text(self) -> str:
        return json.dumps(self.seen)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: Upstream

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
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
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body,
        }
        self.upstream.seen.append(record)
        route = split.path.split("/")[1]
        if route == "hang":
            self.upstream.release.wait(10)
            self.close_connection = True
        elif route == "status":
            echoed = self.headers.get("X-Api-Key", "")
            self._send(int(split.path.split("/")[2]), f"upstream failed; you sent {echoed}".encode(), "text/plain")
        elif route == "garbage":
            self.wfile.write(b"\x00\x01this is not HTTP at all\r\n\r\n")
            self.close_connection = True
        elif route == "close":
            self.close_connection = True  # not a byte of answer
        elif route == "huge":
            self._send(200, b"a" * int(dict(record["query"])["size"]), "text/plain")
        else:
            self._send(200, json.dumps(record).encode())

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815


@pytest.fixture
def upstream(start_http_server: Callable[[type[BaseHTTPRequestHandler]], int]) -> Iterator[Upstream]:
    """A real HTTP server on a loopback port, serving from threads, stopped (and unhung) at teardown."""
    state = Upstream(port=0)
    state.port = start_http_server(type("Handler", (_Handler,), {"upstream": state}))
    yield state
    state.release.set()  # before the shared fixture shuts the server down


ECHO_OPERATIONS = [
    ("anything", "GET", "/anything"),
    ("anything_post", "POST", "/anything"),
    ("item", "GET", "/anything/items/{item_id}"),
    ("hang", "GET", "/hang"),
    ("status", "GET", "/status/{code}"),
    ("garbage", "GET", "/garbage"),
    ("close", "GET", "/close"),
    ("huge", "GET", "/huge"),
]


def connectors_toml(base_url: str) -> str:
    """The operator's connectors file: ``echo`` (the test upstream's every route) and ``other``."""
    lines = [
        "[[connector]]",
        'name = "echo"',
        f'base_url = "{base_url}"',
        'description = "The loopback echo upstream of the server tests."',
        f"timeout_seconds = {ECHO_TIMEOUT_SECONDS}",
        "max_response_bytes = 1000000",
        "allow_private_network = true",
        "",
        "[connector.credential]",
        'kind = "header"',
        'name = "X-Api-Key"',
        f'secret = "{ECHO_SECRET}"',
    ]
    for op_id, method, path in ECHO_OPERATIONS:
        lines += [
            "",
            "[[connector.operation]]",
            f'id = "{op_id}"',
            f'method = "{method}"',
            f'path = "{path}"',
            f'summary = "{method} {path} on the echo upstream"',
        ]
    lines += [
        "",
        "[[connector]]",
        'name = "other"',
        f'base_url = "{base_url}"',
        'description = "A connector whose credential no tenant holds unless a test stores it."',
        "allow_private_network = true",
        "",
        "[connector.credential]",
        'kind = "bearer"',
        f'secret = "{OTHER_SECRET}"',
        "",
        "[[connector.operation]]",
        'id = "anything"',
        'method = "GET"',
        'path = "/anything"',
        'summary = "GET /anything on the other upstream"',
        "",
    ]
    return "\n".join(lines)


@pytest.fixture
def connectors_file(tmp_path: Path, upstream: Upstream) -> Path:
    """The TOML file of the operator's connectors, pointing at the loopback upstream."""
    path = tmp_path / "connectors.toml"
    path.write_text(connectors_toml(upstream.url), encoding="utf-8")
    return path


# -- the service ---------------------------------------------------------------------------------------------


@dataclass
class Tenant:
    name: str
    key: str  # a full-scope API key of this tenant
    key_id: str
    token: str  # an agent token of this tenant with every scope a token may carry
    jti: str


@dataclass
class Service:
    vault: Vault
    client: TestClient
    upstream: Upstream
    admin: str
    a: Tenant
    b: Tenant
    app: Any = None

    @staticmethod
    def auth(credential: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {credential}"}

    def new_key(self, tenant: str, scopes: list[str]) -> tuple[str, str]:
        """A new API key of ``tenant``, made by the operator: (the key, its public id)."""
        made = self.client.post(
            f"/v1/tenants/{tenant}/api-keys",
            json={"name": f"key-{secrets.token_hex(3)}", "scopes": scopes},
            headers=self.auth(self.admin),
        )
        assert made.status_code == 201, made.text
        return made.json()["key"], made.json()["id"]

    def new_tenant(self, name: str, scopes: list[str] | None = None) -> Tenant:
        """A tenant created over HTTP, with an API key (all scopes unless given) and a token of the same scopes
        but those only keys may hold (``KEY_ONLY_SCOPES``)."""
        created = self.client.post("/v1/tenants", json={"name": name}, headers=self.auth(self.admin))
        assert created.status_code == 201, created.text
        scopes = scopes or FULL_SCOPES
        made = self.client.post(
            f"/v1/tenants/{name}/api-keys",
            json={"name": f"{name}-backend", "scopes": scopes},
            headers=self.auth(self.admin),
        )
        assert made.status_code == 201, made.text
        key = made.json()["key"]
        token_scopes = [s for s in scopes if s not in KEY_ONLY_SCOPES]  # a token never carries keys:manage
        issued = self.client.post(
            "/v1/tokens", json={"scopes": token_scopes, "subject": f"agent-of-{name}"}, headers=self.auth(key)
        )
        assert issued.status_code == 201, issued.text
        return Tenant(
            name=name, key=key, key_id=made.json()["id"], token=issued.json()["access_token"], jti=issued.json()["jti"]
        )

    @staticmethod
    def assert_error(response: Any, *statuses: int, code: str | None = None) -> dict[str, str]:
        """``response`` is one of ``statuses`` with exactly ``{"error": {"code", "message"}}`` and no trace."""
        assert response.status_code in statuses, (response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json"), response.headers
        body = response.json()
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"code", "message"}, body
        for part in ("code", "message"):
            assert isinstance(body["error"][part], str), body
            assert body["error"][part], body
        for trace in ("Traceback", 'File "', "site-packages", '.py", line'):
            assert trace not in response.text, response.text
        if code is not None:
            assert body["error"]["code"] == code, body
        error: dict[str, str] = body["error"]
        return error


def build_service(
    vault: Vault,
    upstream: Upstream,
    connectors_file: Path,
    *,
    tokens: TokenService | None = None,
    broker: Broker | None = None,
) -> Iterator[Service]:
    """The app on ``vault`` inside a TestClient (lifespan on), with an admin key and tenants A and B."""
    from strongroom.bootstrap import build_app

    app = build_app(vault, public_url=PUBLIC_URL, connectors_file=connectors_file, tokens=tokens, broker=broker)
    admin, _ = ApiKeys(vault).create(tenant=None, name="test-admin", scopes=["admin"], actor="test:setup")
    # raise_server_exceptions=False: a bug that escapes as a 500 must show up as a 500 response, not an exception.
    with TestClient(app, base_url=PUBLIC_URL, raise_server_exceptions=False) as client:
        service = Service(vault=vault, client=client, upstream=upstream, admin=admin.reveal(), a=None, b=None, app=app)  # type: ignore[arg-type]
        service.a = service.new_tenant("tenant-a")
        service.b = service.new_tenant("tenant-b")
        yield service


@pytest.fixture
def sqlite_vault(
    tmp_path: Path, key_provider: LocalKeyProvider, migrated_sqlite: Callable[[Path], str]
) -> Iterator[Vault]:
    """A vault on a fresh SQLite file (for the tests where PostgreSQL adds nothing), copied from the migrated one."""
    vault = Vault.open(migrated_sqlite(tmp_path / "server.db"), key_provider=key_provider, actor="test")
    try:
        yield vault
    finally:
        vault.close()


@pytest.fixture
def service(sqlite_vault: Vault, upstream: Upstream, connectors_file: Path) -> Iterator[Service]:
    """The service on SQLite, with tenants A and B."""
    yield from build_service(sqlite_vault, upstream, connectors_file)


@pytest.fixture
def service_on_store(open_vault: Callable[..., Vault], upstream: Upstream, connectors_file: Path) -> Iterator[Service]:
    """The service on each store (SQLite, and PostgreSQL when enabled), with tenants A and B."""
    yield from build_service(open_vault(), upstream, connectors_file)


class ManualClock:
    """A clock the test moves: tokens expire without sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def service_with_clock(
    sqlite_vault: Vault, upstream: Upstream, connectors_file: Path, clock: ManualClock
) -> Iterator[Service]:
    """The service on SQLite whose token service reads ``clock`` (no leeway), so a test can expire tokens."""
    tokens = TokenService(sqlite_vault, issuer=PUBLIC_URL, clock=clock, leeway_seconds=0)
    yield from build_service(sqlite_vault, upstream, connectors_file, tokens=tokens)


@pytest.fixture
def canary_credential(make_canary: Callable[[str], str]) -> str:
    """An upstream credential made now: it appears nowhere unless strongroom leaked it."""
    return make_canary("upstream-credential") + secrets.token_hex(4)


def free_port() -> int:
    """A loopback port free now, for a real server a test starts."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def strongroom_command() -> list[str]:
    """How to run this checkout's ``strongroom`` CLI in a subprocess."""
    script = Path(sys.executable).parent / "strongroom"
    return [str(script)] if script.exists() else [sys.executable, "-m", "strongroom.cli.main"]


# Test modules (here and in tests/security) import these helpers by this name: the suite imports in
# importlib mode, where a conftest is not importable as a package module.
sys.modules.setdefault("_strongroom_server_fixtures", sys.modules[__name__])
