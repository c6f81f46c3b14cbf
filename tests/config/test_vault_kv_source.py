"""The Vault KV v2 source: the official client (hvac) against a loopback implementation of the KV v2 API.

No Vault or OpenBao server can be installed here, so ``KvServer`` below is a protocol double: a stdlib
``http.server`` on 127.0.0.1, in a thread, implementing the documented endpoints hvac calls
(``GET/POST /v1/{mount}/data/{path}``, ``POST /v1/{mount}/delete/{path}``, ``POST /v1/{mount}/destroy/{path}``)
with Vault's status codes and bodies: ``X-Vault-Token`` checking (403 ``permission denied``), 404 for
absent, deleted and destroyed versions, 503 when sealed. hvac sends real HTTP requests to it; nothing is
patched. Not tested against a live Vault.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

hvac = pytest.importorskip("hvac")

from strongroom import Secret  # noqa: E402 -- after the importorskip guard
from strongroom.config import ConfigError, Settings, report, secret  # noqa: E402
from strongroom.config.sources import SourceKey, SourceUnavailable  # noqa: E402
from strongroom.config.sources.env import EnvSource  # noqa: E402
from strongroom.config.sources.vault_kv import INSTALL_HINT, VaultKvSource  # noqa: E402
from strongroom.testing import assert_not_leaked  # noqa: E402

from ..conftest import connections_received, finishes  # noqa: E402, TID252 -- pytest's importlib mode resolves the package

MOUNT = "secret"
PLACEHOLDER = "placeholder"  # a token for a server that never checks it


class VaultSettings(Settings):
    api_key: Secret[str] = secret(sensitivity="high")
    webhook_secret: Secret[str] = secret(sensitivity="critical", rotate="30d")
    log_level: str = "info"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # Vault gives nanoseconds


class KvServer(ThreadingHTTPServer):
    """A KV v2 secrets engine mounted at ``secret/``, as Vault's HTTP API documents it."""

    daemon_threads = True

    def __init__(self, token: str) -> None:
        super().__init__(("127.0.0.1", 0), KvHandler)
        self.token = token
        self.denied: set[str] = set()  # paths the token's policy does not cover
        self.sealed = False
        self.versions: dict[str, list[dict[str, Any]]] = {}  # path -> versions, version n at index n - 1
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()


class KvHandler(BaseHTTPRequestHandler):
    server: KvServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> tuple[str, str, dict[str, list[str]]] | None:
        """(operation, secret path, query) for ``/v1/secret/{data,delete,destroy}/{path}``, after auth checks."""
        url = urlsplit(self.path)
        self.server.requests.append((self.command, url.path))
        if self.server.sealed:
            self._send(503, {"errors": ["Vault is sealed"]})
            return None
        parts = url.path.split("/", 4)
        if len(parts) != 5 or parts[1] != "v1" or parts[2] != MOUNT:
            self._send(404, {"errors": ["no handler for route"]})
            return None
        path = unquote(parts[4])
        if self.headers.get("X-Vault-Token") != self.server.token or path in self.server.denied:
            self._send(403, {"errors": ["permission denied"]})
            return None
        return parts[3], path, parse_qs(url.query)

    def do_GET(self) -> None:
        route = self._route()
        if route is None:
            return
        operation, path, query = route
        with self.server.lock:
            versions = self.server.versions.get(path, [])
            number = int(query.get("version", ["0"])[0]) or len(versions)
            if operation != "data" or not 1 <= number <= len(versions):
                self._send(404, {"errors": []})
                return
            version = versions[number - 1]
            metadata = {
                "created_time": version["created_time"],
                "custom_metadata": None,
                "deletion_time": version["deletion_time"],
                "destroyed": version["destroyed"],
                "version": number,
            }
            if version["deletion_time"] or version["destroyed"]:  # Vault: 404, with the metadata
                self._send(404, {"data": {"data": None, "metadata": metadata}})
                return
            self._send(
                200,
                {
                    "request_id": str(uuid.uuid4()),
                    "lease_id": "",
                    "renewable": False,
                    "lease_duration": 0,
                    "data": {"data": version["data"], "metadata": metadata},
                    "wrap_info": None,
                    "warnings": None,
                    "auth": None,
                },
            )

    def do_POST(self) -> None:
        route = self._route()
        if route is None:
            return
        operation, path, _ = route
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        with self.server.lock:
            versions = self.server.versions.setdefault(path, [])
            if operation == "data":
                versions.append({"data": body["data"], "created_time": _now(), "deletion_time": "", "destroyed": False})
                self._send(
                    200,
                    {
                        "data": {
                            "created_time": versions[-1]["created_time"],
                            "deletion_time": "",
                            "destroyed": False,
                            "version": len(versions),
                        }
                    },
                )
                return
            for number in body.get("versions", []):
                if operation == "delete":
                    versions[number - 1]["deletion_time"] = _now()
                elif operation == "destroy":
                    versions[number - 1]["destroyed"] = True
        self.send_response(204)
        self.end_headers()


@pytest.fixture(scope="module")
def server() -> Iterator[KvServer]:
    kv = KvServer(token=f"hvs.{uuid.uuid4().hex}")
    thread = threading.Thread(target=kv.serve_forever, daemon=True)
    thread.start()
    try:
        yield kv
    finally:
        kv.shutdown()
        kv.server_close()
        thread.join(5)


@pytest.fixture
def url(server: KvServer) -> Iterator[str]:
    server.sealed = False
    server.denied.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.sealed = False


@pytest.fixture
def vault(server: KvServer, url: str) -> Any:
    """A plain hvac client on the loopback server, for arranging secrets."""
    return hvac.Client(url=url, token=server.token)


@pytest.fixture
def prefix() -> str:
    """A prefix of this test's own, so tests share the server without seeing each other's secrets."""
    return f"t{uuid.uuid4().hex[:12]}/"


def _put(vault: Any, path: str, **fields: str) -> int:
    return int(
        vault.secrets.kv.v2.create_or_update_secret(path=path, secret=fields, mount_point=MOUNT)["data"]["version"]
    )


def _source(server: KvServer, url: str, prefix: str, **options: Any) -> VaultKvSource:
    return VaultKvSource(url, token=server.token, prefix=prefix, **options)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_load_reads_values_and_reports_source_and_version(
    server: KvServer, url: str, vault: Any, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """A schema loads its secrets from Vault; the report names mount and path, the version and its age."""
    api_key, webhook = make_canary("api"), make_canary("hook")
    _put(vault, f"{prefix}prod/api_key", value=api_key, note="other fields are ignored")
    _put(vault, f"{prefix}prod/webhook_secret", value=webhook)
    source = _source(server, url, prefix)

    settings = VaultSettings.load(environment="prod", sources=[source])

    assert settings.api_key.reveal() == api_key
    assert settings.webhook_secret.reveal() == webhook
    assert settings.log_level == "info"
    rows = {row.name: row for row in report(settings)}
    assert rows["api_key"].source == f"vault:secret/{prefix}prod/api_key"
    assert rows["api_key"].version == "1"
    assert rows["api_key"].updated_at is not None
    assert abs(rows["api_key"].updated_at - time.time()) < 120
    assert rows["webhook_secret"].rotation_due(time.time()) is not None
    assert rows["log_level"].source is None
    assert ("GET", f"/v1/secret/data/{prefix}prod/api_key") in server.requests
    assert_not_leaked([api_key, webhook, server.token], settings, rows, settings.api_key, source)


@pytest.mark.parametrize(("overlap_seconds", "expect_previous"), [(600, True), (0, False)])
def test_rotation_is_seen_after_refresh_with_overlap(
    server: KvServer,
    url: str,
    vault: Any,
    prefix: str,
    make_canary: Callable[[str], str],
    *,
    overlap_seconds: float,
    expect_previous: bool,
) -> None:
    """A new version shows after refresh(); version n-1 is a candidate only within the overlap window."""
    old, new, hook = make_canary("old"), make_canary("new"), make_canary("hook")
    _put(vault, f"{prefix}prod/api_key", value=old)
    _put(vault, f"{prefix}prod/webhook_secret", value=hook)
    settings = VaultSettings.load(
        environment="prod", sources=[_source(server, url, prefix)], overlap_seconds=overlap_seconds
    )
    assert settings.api_key.candidates() == [old]  # version 1: no previous

    assert _put(vault, f"{prefix}prod/api_key", value=new) == 2
    assert settings.api_key.reveal() == old  # still cached
    settings.api_key.refresh()

    assert settings.api_key.reveal() == new
    assert settings.api_key.candidates() == ([new, old] if expect_previous else [new])
    found = _source(server, url, prefix).get(SourceKey("api_key", "API_KEY", "prod"))
    assert found is not None
    assert (found.value, found.version, found.previous) == (new, "2", old)
    assert found.previous_replaced_at == found.updated_at
    assert ("GET", f"/v1/secret/data/{prefix}prod/api_key") in server.requests
    assert_not_leaked([old, new, hook, server.token], settings, found, report(settings))


@pytest.mark.parametrize("operation", ["delete", "destroy"])
def test_deleted_or_destroyed_previous_version_is_not_a_candidate(
    server: KvServer, url: str, vault: Any, prefix: str, make_canary: Callable[[str], str], *, operation: str
) -> None:
    """Deleting or destroying version n-1 (Vault answers 404 for it) leaves ``previous`` empty."""
    old, new = make_canary("old"), make_canary("new")
    path = f"{prefix}prod/api_key"
    _put(vault, path, value=old)
    _put(vault, path, value=new)
    if operation == "delete":
        vault.secrets.kv.v2.delete_secret_versions(path=path, versions=[1], mount_point=MOUNT)
    else:
        vault.secrets.kv.v2.destroy_secret_versions(path=path, versions=[1], mount_point=MOUNT)
    found = _source(server, url, prefix).get(SourceKey("api_key", "API_KEY", "prod"))
    assert found is not None
    assert (found.value, found.version, found.previous, found.previous_replaced_at) == (new, "2", None, None)


def test_deleted_current_version_is_not_found(
    server: KvServer, url: str, vault: Any, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """A soft-deleted latest version is absent (Vault: 404), so a lower source answers."""
    path = f"{prefix}prod/api_key"
    _put(vault, path, value=make_canary("gone"))
    vault.secrets.kv.v2.delete_secret_versions(path=path, versions=[1], mount_point=MOUNT)
    assert _source(server, url, prefix).get(SourceKey("api_key", "API_KEY", "prod")) is None


def test_missing_secret_is_reported_by_name_without_values(
    server: KvServer, url: str, vault: Any, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """A path absent from Vault (404) is not in this source: load() fails naming the variable and "vault"."""
    present = make_canary("present")
    _put(vault, f"{prefix}prod/api_key", value=present)
    source = _source(server, url, prefix)
    assert source.get(SourceKey("webhook_secret", "WEBHOOK_SECRET", "prod")) is None

    with pytest.raises(ConfigError) as caught:
        VaultSettings.load(environment="prod", sources=[source])

    assert len(caught.value.problems) == 1
    problem = caught.value.problems[0]
    assert problem.startswith("WEBHOOK_SECRET: missing")
    assert "looked in vault" in problem
    assert_not_leaked([present, server.token], caught.value, caught.value.problems)


@pytest.mark.parametrize("cause", ["wrong token", "policy"])
def test_permission_denied_is_a_problem_not_a_fall_through(
    server: KvServer, url: str, vault: Any, prefix: str, make_canary: Callable[[str], str], *, cause: str
) -> None:
    """403 is a ConfigError naming the path and the status, even with a lower source that has the value."""
    canary, lower, wrong = make_canary("denied"), make_canary("lower"), make_canary("token")
    _put(vault, f"{prefix}prod/api_key", value=canary)
    if cause == "policy":
        server.denied.add(f"{prefix}prod/api_key")
        source = _source(server, url, prefix)
    else:
        source = VaultKvSource(url, token=wrong, prefix=prefix)
    with pytest.raises(ConfigError) as direct:
        source.get(SourceKey("api_key", "API_KEY", "prod"))
    assert type(direct.value) is ConfigError  # broken, not SourceUnavailable
    assert str(direct.value) == f"Vault KV secret secret/{prefix}prod/api_key: Forbidden (HTTP 403)"
    assert direct.value.__context__ is None
    assert direct.value.__cause__ is None
    with pytest.raises(ConfigError) as loaded:
        VaultSettings.load(environment="prod", sources=[source, EnvSource({"API_KEY": lower, "WEBHOOK_SECRET": lower})])
    assert f"API_KEY: {direct.value}" in loaded.value.problems
    assert_not_leaked([canary, lower, wrong, server.token], direct.value, loaded.value, source)


def test_sealed_vault_is_unavailable_and_lower_sources_answer(
    server: KvServer, url: str, vault: Any, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """A sealed Vault (503) is SourceUnavailable; the load falls through to the environment."""
    canary, lower = make_canary("sealed"), make_canary("lower")
    _put(vault, f"{prefix}prod/api_key", value=canary)
    server.sealed = True
    source = _source(server, url, prefix)
    with pytest.raises(SourceUnavailable) as direct:
        source.get(SourceKey("api_key", "API_KEY", "prod"))
    assert str(direct.value) == f"Vault KV secret secret/{prefix}prod/api_key: VaultDown (HTTP 503)"
    assert direct.value.__context__ is None
    settings = VaultSettings.load(
        environment="prod", sources=[source, EnvSource({"API_KEY": lower, "WEBHOOK_SECRET": lower})]
    )
    assert settings.api_key.reveal() == lower
    assert settings.api_key.source == "env"
    assert_not_leaked([canary, server.token], direct.value)


def test_value_field_missing_is_a_problem_naming_the_field(
    server: KvServer, url: str, vault: Any, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """A secret without the ``value`` data field is a ConfigError that names the field, not the other data."""
    canary = make_canary("other")
    _put(vault, f"{prefix}prod/api_key", password=canary)
    with pytest.raises(ConfigError) as caught:
        _source(server, url, prefix).get(SourceKey("api_key", "API_KEY", "prod"))
    assert str(caught.value) == f"Vault KV secret secret/{prefix}prod/api_key: data field 'value' is missing"
    assert_not_leaked([canary], caught.value)


def test_unreachable_vault_is_unavailable_within_seconds(prefix: str) -> None:
    """A closed port gives SourceUnavailable naming the path, the error and the URL; later fields fail fast."""
    url = f"http://127.0.0.1:{_free_port()}"
    source = VaultKvSource(url, token=PLACEHOLDER, prefix=prefix, timeout_seconds=0.5)
    with pytest.raises(SourceUnavailable) as direct:
        finishes(lambda: source.get(SourceKey("api_key", "API_KEY", "prod")), within=30)
    with pytest.raises(ConfigError) as loaded:
        finishes(lambda: VaultSettings.load(environment="prod", sources=[source]), within=30)
    assert str(direct.value) == f"Vault KV secret secret/{prefix}prod/api_key: ConnectionError at {url}"
    assert direct.value.__context__ is None
    problems = loaded.value.problems
    assert [p.split(":")[0] for p in problems] == ["API_KEY", "WEBHOOK_SECRET"], problems
    assert all("vault unavailable" in p and "ConnectionError" in p for p in problems), problems


def test_silent_vault_times_out_once_per_load(prefix: str) -> None:
    """A server that accepts but never answers costs one read timeout for the whole load."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        source = VaultKvSource(url, token=PLACEHOLDER, prefix=prefix, timeout_seconds=1.0)
        with pytest.raises(ConfigError) as caught:
            finishes(lambda: VaultSettings.load(environment="prod", sources=[source]), within=60)
        attempts = connections_received(silent)
    first = caught.value.problems[0]
    assert first.startswith("API_KEY: missing"), first
    assert f"secret/{prefix}prod/api_key: ReadTimeout at {url}" in first
    assert "not tried, ReadTimeout" in caught.value.problems[1]
    assert attempts == 1, attempts  # one timed-out lookup for the whole load


def test_no_token_is_unavailable_and_lower_sources_answer(
    monkeypatch: pytest.MonkeyPatch, url: str, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """Without a token (no argument, no VAULT_TOKEN) Vault is not set up here: lower sources answer."""
    lower = make_canary("lower")
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    source = VaultKvSource(url, prefix=prefix)
    with pytest.raises(SourceUnavailable, match="no token"):
        source.get(SourceKey("api_key", "API_KEY", "prod"))
    settings = VaultSettings.load(
        environment="prod", sources=[source, EnvSource({"API_KEY": lower, "WEBHOOK_SECRET": lower})]
    )
    assert settings.api_key.reveal() == lower


def test_token_defaults_to_vault_token_env(
    monkeypatch: pytest.MonkeyPatch,
    server: KvServer,
    url: str,
    vault: Any,
    *,
    prefix: str,
    make_canary: Callable[[str], str],
) -> None:
    """``token=None`` reads ``VAULT_TOKEN`` on first use."""
    canary = make_canary("env")
    _put(vault, f"{prefix}prod/api_key", value=canary)
    monkeypatch.setenv("VAULT_TOKEN", server.token)
    found = VaultKvSource(url, prefix=prefix).get(SourceKey("api_key", "API_KEY", "prod"))
    assert found is not None
    assert found.value == canary


def test_a_ready_client_is_used(server: KvServer, vault: Any, prefix: str, make_canary: Callable[[str], str]) -> None:
    """``client=`` takes a configured hvac.Client (its URL and token apply)."""
    canary = make_canary("client")
    _put(vault, f"{prefix}prod/api_key", value=canary)
    source = VaultKvSource("http://unused.invalid", token=None, prefix=prefix, client=vault)
    found = source.get(SourceKey("api_key", "API_KEY", "prod"))
    assert found is not None
    assert found.value == canary


def test_missing_hvac_asks_for_the_extra(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    """Without hvac the source raises ConfigError with the install hint, on first use."""
    monkeypatch.setitem(sys.modules, "hvac", None)  # makes `import hvac` raise ImportError
    source = VaultKvSource("http://127.0.0.1:1", token=PLACEHOLDER, prefix=prefix)
    with pytest.raises(ConfigError) as caught:
        source.get(SourceKey("api_key", "API_KEY", "prod"))
    assert str(caught.value) == INSTALL_HINT


def test_importing_the_source_does_not_import_hvac() -> None:
    """`import strongroom.config` and the vault module itself leave hvac and requests unloaded."""
    code = (
        "import sys, strongroom.config, strongroom.config.sources.vault_kv\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('hvac', 'requests')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout
    assert out.strip() == "[]"
