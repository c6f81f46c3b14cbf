"""The GCP Secret Manager source: the official client over its REST transport, against a loopback API.

No Secret Manager emulator can be installed here, so ``SecretManagerServer`` below is a protocol double: a
stdlib ``http.server`` on 127.0.0.1, in a thread, implementing the documented REST methods the client
calls (``GET /v1/projects/{p}/secrets/{s}/versions/{v}:access`` and ``GET .../versions/{v}``), with the
documented JSON shapes (``payload.data`` base64 and ``payload.dataCrc32c``, ``createTime``, ``state``) and
Google's JSON error bodies (404 NOT_FOUND, 403 PERMISSION_DENIED, 400 FAILED_PRECONDITION for a disabled
version, 503 UNAVAILABLE). ``SecretManagerServiceClient(transport="rest")`` is pointed at it with an
``http://`` ``api_endpoint`` and ``AnonymousCredentials``; nothing is patched. Not tested against live GCP.
"""

from __future__ import annotations

import base64
import json
import os
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
from urllib.parse import unquote, urlsplit

import pytest

secretmanager_v1 = pytest.importorskip("google.cloud.secretmanager_v1")
from google.auth.credentials import AnonymousCredentials  # noqa: E402 -- after the importorskip guard

from strongroom import Secret  # noqa: E402
from strongroom.config import ConfigError, Settings, report, secret  # noqa: E402
from strongroom.config.sources import SourceKey, SourceUnavailable  # noqa: E402
from strongroom.config.sources.env import EnvSource  # noqa: E402
from strongroom.config.sources.gcp import INSTALL_HINT, GcpSecretManagerSource, crc32c  # noqa: E402
from strongroom.testing import assert_not_leaked  # noqa: E402

from ..conftest import connections_received, finishes  # noqa: E402, TID252 -- pytest's importlib mode resolves the package

PROJECT = "acme-test"
PROJECT_NUMBER = "123456789012"  # the API answers with the project number in resource names


def _crc32c_bitwise(data: bytes) -> int:
    """CRC32C computed bit by bit: the server's own, independent of the adapter's table-driven one."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


class GcpSettings(Settings):
    api_key: Secret[str] = secret(sensitivity="high")
    webhook_secret: Secret[str] = secret(sensitivity="critical", rotate="30d")
    log_level: str = "info"


class SecretManagerServer(ThreadingHTTPServer):
    """Secret Manager's v1 REST surface for reading versions, for one project."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SecretManagerHandler)
        self.secrets: dict[str, list[dict[str, Any]]] = {}  # secret id -> versions, version n at index n - 1
        self.denied: set[str] = set()  # secret ids the caller has no role on
        self.accessor_only: set[str] = set()  # roles/secretmanager.secretAccessor: access, no versions.get
        self.unavailable = False
        self.bad_crc = False
        self.requests: list[str] = []
        self.lock = threading.Lock()

    def add(self, secret_id: str, data: bytes, state: str = "ENABLED") -> int:
        with self.lock:
            versions = self.secrets.setdefault(secret_id, [])
            created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            versions.append({"data": data, "state": state, "createTime": created})
            return len(versions)

    def set_state(self, secret_id: str, number: int, state: str) -> None:
        with self.lock:
            self.secrets[secret_id][number - 1]["state"] = state


class SecretManagerHandler(BaseHTTPRequestHandler):
    server: SecretManagerServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, grpc_status: str, message: str) -> None:
        self._send(status, {"error": {"code": status, "message": message, "status": grpc_status}})

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        self.server.requests.append(path)
        if self.server.unavailable:
            self._error(503, "UNAVAILABLE", "The service is currently unavailable.")
            return
        access = path.endswith(":access")
        parts = path.removesuffix(":access").split("/")
        # /v1/projects/{p}/secrets/{s}/versions/{v}
        if len(parts) != 8 or parts[1:3] != ["v1", "projects"] or parts[4] != "secrets" or parts[6] != "versions":
            self._error(404, "NOT_FOUND", "no such method")
            return
        project, secret_id, version = parts[3], parts[5], parts[7]
        if (
            project != PROJECT
            or secret_id in self.server.denied
            or (not access and secret_id in self.server.accessor_only)
        ):
            permission = "secretmanager.versions.access" if access else "secretmanager.versions.get"
            self._error(
                403,
                "PERMISSION_DENIED",
                f"Permission '{permission}' denied for resource '{path[4:]}' (or it may not exist).",
            )
            return
        with self.server.lock:
            versions = self.server.secrets.get(secret_id, [])
            number = len(versions) if version == "latest" else int(version) if version.isdigit() else 0
            if not 1 <= number <= len(versions):
                self._error(404, "NOT_FOUND", f"Secret Version [{path[4:]}] not found.")
                return
            entry = versions[number - 1]
        name = f"projects/{PROJECT_NUMBER}/secrets/{secret_id}/versions/{number}"
        if not access:
            self._send(
                200,
                {
                    "name": name,
                    "createTime": entry["createTime"],
                    "state": entry["state"],
                    "etag": f'"{uuid.uuid4().hex[:14]}"',
                    "replicationStatus": {"automatic": {}},
                },
            )
            return
        if entry["state"] != "ENABLED":
            self._error(400, "FAILED_PRECONDITION", f"Secret Version [{name}] is in {entry['state']} state.")
            return
        crc = _crc32c_bitwise(entry["data"]) ^ (1 if self.server.bad_crc else 0)
        self._send(
            200, {"name": name, "payload": {"data": base64.b64encode(entry["data"]).decode(), "dataCrc32c": str(crc)}}
        )


@pytest.fixture(scope="module")
def server() -> Iterator[SecretManagerServer]:
    api = SecretManagerServer()
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        api.shutdown()
        api.server_close()
        thread.join(5)


@pytest.fixture
def endpoint(server: SecretManagerServer) -> Iterator[str]:
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.unavailable = server.bad_crc = False


@pytest.fixture
def prefix() -> str:
    """A prefix of this test's own, so tests share the server without seeing each other's secrets."""
    return f"t{uuid.uuid4().hex[:12]}-"


def _source(endpoint: str, prefix: str, **options: Any) -> GcpSecretManagerSource:
    return GcpSecretManagerSource(
        PROJECT, prefix=prefix, api_endpoint=endpoint, credentials=AnonymousCredentials(), **options
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


KEY = SourceKey("api_key", "API_KEY", "prod")


def test_load_reads_values_and_reports_source_and_version(
    server: SecretManagerServer, endpoint: str, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """A schema loads its secrets from Secret Manager; the report names the secret, version number and age."""
    api_key, webhook = make_canary("api"), make_canary("hook")
    server.add(f"{prefix}prod-api_key", api_key.encode())
    server.add(f"{prefix}prod-webhook_secret", webhook.encode())
    source = _source(endpoint, prefix)

    settings = GcpSettings.load(environment="prod", sources=[source])

    assert settings.api_key.reveal() == api_key
    assert settings.webhook_secret.reveal() == webhook
    assert settings.log_level == "info"
    rows = {row.name: row for row in report(settings)}
    assert rows["api_key"].source == f"gcp:projects/{PROJECT}/secrets/{prefix}prod-api_key"
    assert rows["api_key"].version == "1"
    assert rows["api_key"].updated_at is not None
    assert abs(rows["api_key"].updated_at - time.time()) < 120
    assert rows["webhook_secret"].rotation_due(time.time()) is not None
    assert f"/v1/projects/{PROJECT}/secrets/{prefix}prod-api_key/versions/latest:access" in server.requests
    assert_not_leaked([api_key, webhook], settings, rows, settings.api_key, source)


def test_crc32c_matches_the_standard_check_value() -> None:
    """CRC-32C of b"123456789" is 0xE3069283 (RFC 3720, appendix B.4)."""
    assert crc32c(b"123456789") == _crc32c_bitwise(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


def test_secret_id_maps_characters_gcp_does_not_allow() -> None:
    """Secret ids allow [A-Za-z0-9_-]: a '.' (or anything else) in the environment or field becomes '-'."""
    source = GcpSecretManagerSource(PROJECT)
    assert source.secret_id(SourceKey("database_url", "DATABASE_URL", "eu.prod")) == "strongroom-eu-prod-database_url"


@pytest.mark.parametrize(("overlap_seconds", "expect_previous"), [(600, True), (0, False)])
def test_rotation_is_seen_after_refresh_with_overlap(
    server: SecretManagerServer,
    endpoint: str,
    prefix: str,
    make_canary: Callable[[str], str],
    *,
    overlap_seconds: float,
    expect_previous: bool,
) -> None:
    """A new version shows after refresh(); version n-1 is a candidate only within the overlap window."""
    old, new, hook = make_canary("old"), make_canary("new"), make_canary("hook")
    server.add(f"{prefix}prod-api_key", old.encode())
    server.add(f"{prefix}prod-webhook_secret", hook.encode())
    settings = GcpSettings.load(
        environment="prod", sources=[_source(endpoint, prefix)], overlap_seconds=overlap_seconds
    )
    assert settings.api_key.candidates() == [old]

    assert server.add(f"{prefix}prod-api_key", new.encode()) == 2
    assert settings.api_key.reveal() == old  # still cached
    settings.api_key.refresh()

    assert settings.api_key.reveal() == new
    assert settings.api_key.candidates() == ([new, old] if expect_previous else [new])
    found = _source(endpoint, prefix).get(KEY)
    assert found is not None
    assert (found.value, found.version, found.previous) == (new, "2", old)
    assert found.previous_replaced_at == found.updated_at
    assert_not_leaked([old, new, hook], settings, found, report(settings))


@pytest.mark.parametrize("state", ["DISABLED", "DESTROYED"])
def test_disabled_or_destroyed_previous_version_is_not_a_candidate(
    server: SecretManagerServer, endpoint: str, prefix: str, make_canary: Callable[[str], str], *, state: str
) -> None:
    """Version n-1 that cannot be accessed (FAILED_PRECONDITION) leaves ``previous`` empty."""
    old, new = make_canary("old"), make_canary("new")
    server.add(f"{prefix}prod-api_key", old.encode())
    server.add(f"{prefix}prod-api_key", new.encode())
    server.set_state(f"{prefix}prod-api_key", 1, state)
    found = _source(endpoint, prefix).get(KEY)
    assert found is not None
    assert (found.value, found.version, found.previous, found.previous_replaced_at) == (new, "2", None, None)


def test_accessor_role_only_gives_value_without_age_or_previous(
    server: SecretManagerServer, endpoint: str, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """With versions.access but not versions.get, the value is read; age and previous are unknown."""
    old, new = make_canary("old"), make_canary("new")
    server.add(f"{prefix}prod-api_key", old.encode())
    server.add(f"{prefix}prod-api_key", new.encode())
    server.accessor_only.add(f"{prefix}prod-api_key")
    found = _source(endpoint, prefix).get(KEY)
    assert found is not None
    assert (found.value, found.version, found.updated_at, found.previous) == (new, "2", None, None)


def test_missing_secret_is_reported_by_name_without_values(
    server: SecretManagerServer, endpoint: str, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """An absent secret (404) is not in this source: load() fails naming the variable and "gcp"."""
    present = make_canary("present")
    server.add(f"{prefix}prod-api_key", present.encode())
    source = _source(endpoint, prefix)
    assert source.get(SourceKey("webhook_secret", "WEBHOOK_SECRET", "prod")) is None

    with pytest.raises(ConfigError) as caught:
        GcpSettings.load(environment="prod", sources=[source])

    assert len(caught.value.problems) == 1
    problem = caught.value.problems[0]
    assert problem.startswith("WEBHOOK_SECRET: missing")
    assert "looked in gcp" in problem
    assert_not_leaked([present], caught.value, caught.value.problems)


def test_permission_denied_is_a_problem_not_a_fall_through(
    server: SecretManagerServer, endpoint: str, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """403 on access is a ConfigError naming the secret and status, even with a lower source that has it."""
    canary, lower = make_canary("denied"), make_canary("lower")
    server.add(f"{prefix}prod-api_key", canary.encode())
    server.denied.add(f"{prefix}prod-api_key")
    source = _source(endpoint, prefix)
    with pytest.raises(ConfigError) as direct:
        source.get(KEY)
    assert type(direct.value) is ConfigError
    assert (
        str(direct.value)
        == f"GCP Secret Manager secret projects/{PROJECT}/secrets/{prefix}prod-api_key (latest): Forbidden (HTTP 403)"
    )
    assert direct.value.__context__ is None
    with pytest.raises(ConfigError) as loaded:
        GcpSettings.load(environment="prod", sources=[source, EnvSource({"API_KEY": lower, "WEBHOOK_SECRET": lower})])
    assert loaded.value.problems == [f"API_KEY: {direct.value}"]
    assert_not_leaked([canary, lower], direct.value, loaded.value)


def test_disabled_latest_version_is_a_problem(
    server: SecretManagerServer, endpoint: str, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """``latest`` is the newest version even when disabled: FAILED_PRECONDITION (400) is a ConfigError."""
    server.add(f"{prefix}prod-api_key", make_canary("old").encode())
    server.add(f"{prefix}prod-api_key", make_canary("new").encode(), state="DISABLED")
    with pytest.raises(ConfigError) as caught:
        _source(endpoint, prefix).get(KEY)
    assert type(caught.value) is ConfigError
    assert str(caught.value).endswith("(latest): BadRequest (HTTP 400)")


def test_unavailable_service_is_unavailable_and_lower_sources_answer(
    server: SecretManagerServer, endpoint: str, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """503 is SourceUnavailable, without the client's 60 s default retry; the load falls through."""
    canary, lower = make_canary("down"), make_canary("lower")
    server.add(f"{prefix}prod-api_key", canary.encode())
    server.unavailable = True
    source = _source(endpoint, prefix)
    asked = len(server.requests)
    with pytest.raises(SourceUnavailable) as direct:
        finishes(lambda: source.get(KEY), within=30)
    assert len(server.requests) == asked + 1  # one request: no retry
    assert str(direct.value).endswith("(latest): ServiceUnavailable (HTTP 503)")
    assert direct.value.__context__ is None
    settings = GcpSettings.load(
        environment="prod", sources=[source, EnvSource({"API_KEY": lower, "WEBHOOK_SECRET": lower})]
    )
    assert settings.api_key.reveal() == lower
    assert_not_leaked([canary], direct.value)


def test_checksum_mismatch_and_non_utf8_are_problems_without_the_bytes(
    server: SecretManagerServer, endpoint: str, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """A payload whose CRC32C does not match, or that is not UTF-8, is a ConfigError that shows no payload."""
    canary, binary = make_canary("crc"), make_canary("binary")
    server.add(f"{prefix}prod-api_key", canary.encode())
    server.add(f"{prefix}prod-webhook_secret", b"\xff\xfe" + binary.encode())
    source = _source(endpoint, prefix)
    with pytest.raises(ConfigError) as not_text:
        source.get(SourceKey("webhook_secret", "WEBHOOK_SECRET", "prod"))
    assert str(not_text.value).endswith("(latest): payload is not UTF-8 text")
    assert not_text.value.__context__ is None
    server.bad_crc = True
    with pytest.raises(ConfigError) as mismatch:
        source.get(KEY)
    assert str(mismatch.value).endswith("(latest): payload CRC32C mismatch (corrupted in transit)")
    assert_not_leaked([canary, binary], not_text.value, mismatch.value)


def test_unreachable_endpoint_is_unavailable_within_seconds(prefix: str) -> None:
    """A closed port gives SourceUnavailable naming the secret, the error and the endpoint; later fields fail fast."""
    endpoint = f"http://127.0.0.1:{_free_port()}"
    source = _source(endpoint, prefix, timeout_seconds=0.5)
    with pytest.raises(SourceUnavailable) as direct:
        finishes(lambda: source.get(KEY), within=30)
    with pytest.raises(ConfigError) as loaded:
        finishes(lambda: GcpSettings.load(environment="prod", sources=[source]), within=30)
    assert str(direct.value) == (
        f"GCP Secret Manager secret projects/{PROJECT}/secrets/{prefix}prod-api_key (latest):"
        f" ConnectionError at {endpoint}"
    )
    assert direct.value.__context__ is None
    problems = loaded.value.problems
    assert [p.split(":")[0] for p in problems] == ["API_KEY", "WEBHOOK_SECRET"], problems
    assert all("gcp unavailable" in p for p in problems), problems


def test_silent_endpoint_times_out_once_per_load(prefix: str) -> None:
    """A server that accepts but never answers costs one read timeout for the whole load."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        source = _source(endpoint, prefix, timeout_seconds=1.0)
        with pytest.raises(ConfigError) as caught:
            finishes(lambda: GcpSettings.load(environment="prod", sources=[source]), within=60)
        attempts = connections_received(silent)
    first = caught.value.problems[0]
    assert first.startswith("API_KEY: missing"), first
    assert f"(latest): ReadTimeout at {endpoint}" in first
    assert "not tried, ReadTimeout" in caught.value.problems[1]
    assert attempts == 1, attempts  # one timed-out lookup for the whole load


def test_no_credentials_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, prefix: str) -> None:
    """Without Application Default Credentials the source is unavailable (GCP is not set up here)."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud user credentials
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # not on GCE: do not probe the metadata server
    source = GcpSecretManagerSource(PROJECT, prefix=prefix, api_endpoint=f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(SourceUnavailable, match="no credentials") as caught:
        source.get(KEY)
    assert caught.value.__context__ is None


def test_a_ready_client_is_used(
    server: SecretManagerServer, endpoint: str, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """``client=`` takes a configured SecretManagerServiceClient."""
    canary = make_canary("client")
    server.add(f"{prefix}prod-api_key", canary.encode())
    client = secretmanager_v1.SecretManagerServiceClient(
        credentials=AnonymousCredentials(), transport="rest", client_options={"api_endpoint": endpoint}
    )
    found = GcpSecretManagerSource(PROJECT, prefix=prefix, client=client).get(KEY)
    assert found is not None
    assert found.value == canary


def test_missing_sdk_asks_for_the_extra(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    """Without google-cloud-secret-manager the source raises ConfigError with the install hint, on first use."""
    monkeypatch.setitem(sys.modules, "google.cloud.secretmanager_v1", None)
    source = GcpSecretManagerSource(PROJECT, prefix=prefix)
    with pytest.raises(ConfigError) as caught:
        source.get(KEY)
    assert str(caught.value) == INSTALL_HINT


def test_importing_the_source_does_not_import_the_sdk() -> None:
    """`import strongroom.config` and the gcp module itself leave the Google SDK (and gRPC) unloaded."""
    code = (
        "import sys, strongroom.config, strongroom.config.sources.gcp\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('google', 'grpc', 'requests')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
        env={**os.environ},
    ).stdout
    assert out.strip() == "[]"
