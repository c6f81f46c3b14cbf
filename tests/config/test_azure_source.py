"""The Azure Key Vault source: the official SecretClient against a loopback Key Vault over HTTPS.

No Key Vault emulator can be installed here, so ``KeyVaultServer`` below is a protocol double: a stdlib
``http.server`` on 127.0.0.1, in a thread, serving TLS with a certificate generated for 127.0.0.1 at test
time (the client verifies it: ``connection_verify`` is the certificate's path, not ``False``). It implements
the documented ``GET /secrets/{name}/{version}?api-version=...`` and Key Vault's bearer-challenge flow: an
unauthenticated request gets 401 with ``WWW-Authenticate: Bearer authorization=..., resource=...``, the
SDK's challenge policy asks the credential for a token for that resource and retries with it. Errors use
Key Vault's JSON bodies (404 SecretNotFound, 403 Forbidden, 401, 503). The credential is a small
``TokenCredential`` (azure-core's documented protocol) handing out a fixed token. ``verify_challenge_resource``
is off because 127.0.0.1 is not under ``vault.azure.net``. Not tested against a live Key Vault.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

secrets_sdk = pytest.importorskip("azure.keyvault.secrets")
credentials = pytest.importorskip("azure.core.credentials")
from cryptography import x509  # noqa: E402 -- after the importorskip guards
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from strongroom import Secret  # noqa: E402
from strongroom.config import ConfigError, Settings, report, secret  # noqa: E402
from strongroom.config.sources import SourceKey, SourceUnavailable  # noqa: E402
from strongroom.config.sources.azure import INSTALL_HINT, AzureKeyVaultSource  # noqa: E402
from strongroom.config.sources.env import EnvSource  # noqa: E402
from strongroom.testing import assert_not_leaked  # noqa: E402

from ..conftest import connections_received, finishes  # noqa: E402, TID252 -- pytest's importlib mode resolves the package

RESOURCE = "https://vault.azure.net"
KEY = SourceKey("api_key", "API_KEY", "prod")


class AzureSettings(Settings):
    api_key: Secret[str] = secret(sensitivity="high")
    webhook_secret: Secret[str] = secret(sensitivity="critical", rotate="30d")
    log_level: str = "info"


class StaticCredential:
    """A TokenCredential (azure-core's protocol) that hands out one token and records the scopes asked for."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> Any:
        self.scopes.append(scopes)
        return credentials.AccessToken(self.token, int(time.time()) + 3600)


class KeyVaultServer(ThreadingHTTPServer):
    """Key Vault's secrets data plane for reading current versions, with the bearer challenge."""

    daemon_threads = True

    def __init__(self, token: str, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), KeyVaultHandler)
        # The handshake happens in the request's thread, not in accept(): a client that stalls in it must not
        # hold up every other connection.
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.token = token
        self.secrets: dict[str, list[dict[str, Any]]] = {}  # name -> versions, newest last
        self.denied: set[str] = set()  # names the identity has no "get" permission on
        self.unavailable = False
        self.requests: list[tuple[str, bool]] = []  # (path, had a bearer token)
        self.lock = threading.Lock()

    def add(self, name: str, value: str, *, enabled: bool = True) -> str:
        version = uuid.uuid4().hex
        with self.lock:
            self.secrets.setdefault(name, []).append(
                {"value": value, "version": version, "enabled": enabled, "created": int(time.time())}
            )
        return version


class KeyVaultHandler(BaseHTTPRequestHandler):
    server: KeyVaultServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, **headers: str) -> None:
        self._send(status, {"error": {"code": code, "message": message}}, headers)

    def do_GET(self) -> None:  # noqa: PLR0911 -- one return per documented error response
        url = urlsplit(self.path)
        authorization = self.headers.get("Authorization", "")
        self.server.requests.append((url.path, authorization.startswith("Bearer ")))
        if "api-version=" not in url.query:
            self._error(400, "BadParameter", "The request URI contains an invalid API version.")
            return
        if authorization != f"Bearer {self.server.token}":
            challenge = (
                f'Bearer authorization="https://login.microsoftonline.com/{uuid.UUID(int=7)}", resource="{RESOURCE}"'
            )
            self._error(
                401,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
                **{"WWW-Authenticate": challenge},
            )
            return
        if self.server.unavailable:
            self._error(503, "ServiceUnavailable", "The service is temporarily unavailable.")
            return
        parts = unquote(url.path).split("/")  # /secrets/{name}/{version}, version may be empty
        if len(parts) not in (3, 4) or parts[1] != "secrets":
            self._error(404, "NotFound", "no such route")
            return
        name, version = parts[2], parts[3] if len(parts) == 4 else ""
        if name in self.server.denied:
            self._error(
                403,
                "Forbidden",
                f"The user does not have secrets get permission on key vault 'loopback'. Secret: {name}",
            )
            return
        with self.server.lock:
            versions = self.server.secrets.get(name, [])
            entry = (
                versions[-1]
                if versions and not version
                else next((v for v in versions if v["version"] == version), None)
            )
        if entry is None:
            self._error(404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault.")
            return
        if not entry["enabled"]:
            self._error(403, "Forbidden", "Operation get is not allowed on a disabled secret.")
            return
        base = f"https://127.0.0.1:{self.server.server_address[1]}"
        self._send(
            200,
            {
                "value": entry["value"],
                "id": f"{base}/secrets/{name}/{entry['version']}",
                "attributes": {
                    "enabled": True,
                    "created": entry["created"],
                    "updated": entry["created"],
                    "recoveryLevel": "Recoverable+Purgeable",
                    "recoverableDays": 90,
                },
                "tags": {},
            },
        )


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for IP 127.0.0.1 and localhost, made now: (certificate, key) as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "strongroom test vault")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "vault.pem", directory / "vault.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _certificate(tmp_path_factory.mktemp("vault-tls"))


@pytest.fixture(scope="module")
def server(ca: tuple[Path, Path]) -> Iterator[KeyVaultServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*ca)
    vault = KeyVaultServer(f"eyJ0eXAi.{uuid.uuid4().hex}", context)
    thread = threading.Thread(target=vault.serve_forever, daemon=True)
    thread.start()
    try:
        yield vault
    finally:
        vault.shutdown()
        vault.server_close()
        thread.join(5)


@pytest.fixture
def vault_url(server: KeyVaultServer) -> Iterator[str]:
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.unavailable = False


@pytest.fixture
def prefix() -> str:
    """A prefix of this test's own, so tests share the server without seeing each other's secrets."""
    return f"t{uuid.uuid4().hex[:12]}-"


def _client(vault_url: str, ca: tuple[Path, Path], credential: Any) -> Any:
    # Timeouts of its own: azure-core's default read timeout is 300 s, so one stalled exchange under load hung
    # the test for five minutes instead of failing it.
    return secrets_sdk.SecretClient(
        vault_url,
        credential,
        connection_verify=str(ca[0]),
        retry_total=0,
        verify_challenge_resource=False,
        connection_timeout=CLIENT_TIMEOUT_SECONDS,
        read_timeout=CLIENT_TIMEOUT_SECONDS,
    )


CLIENT_TIMEOUT_SECONDS = 15


def _source(vault_url: str, ca: tuple[Path, Path], token: str, prefix: str) -> AzureKeyVaultSource:
    return AzureKeyVaultSource(vault_url, prefix=prefix, client=_client(vault_url, ca, StaticCredential(token)))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_load_reads_values_over_tls_after_the_bearer_challenge(
    server: KeyVaultServer, vault_url: str, ca: tuple[Path, Path], prefix: str, make_canary: Callable[[str], str]
) -> None:
    """A schema loads from Key Vault: challenge, token for the vault resource, then the secret; version and age."""
    api_key, webhook = make_canary("api"), make_canary("hook")
    version = server.add(f"{prefix}prod-api-key", api_key)
    server.add(f"{prefix}prod-webhook-secret", webhook)
    credential = StaticCredential(server.token)
    source = AzureKeyVaultSource(vault_url, prefix=prefix, client=_client(vault_url, ca, credential))

    settings = AzureSettings.load(environment="prod", sources=[source])

    assert settings.api_key.reveal() == api_key
    assert settings.webhook_secret.reveal() == webhook
    rows = {row.name: row for row in report(settings)}
    assert rows["api_key"].source == f"azure:{prefix}prod-api-key"
    assert rows["api_key"].version == version
    assert rows["api_key"].updated_at is not None
    assert abs(rows["api_key"].updated_at - time.time()) < 120
    assert rows["webhook_secret"].rotation_due(time.time()) is not None
    assert credential.scopes[0] == (f"{RESOURCE}/.default",)  # the scope came from the challenge
    assert (f"/secrets/{prefix}prod-api-key/", False) in server.requests  # the challenge round trip ...
    assert (f"/secrets/{prefix}prod-api-key/", True) in server.requests  # ... then the authorised request
    assert_not_leaked([api_key, webhook, server.token], settings, rows, settings.api_key, source)


def test_secret_name_maps_characters_key_vault_does_not_allow() -> None:
    """Key Vault names allow [0-9a-zA-Z-]: '_' and '.' (and anything else) become '-'."""
    source = AzureKeyVaultSource("https://example.vault.azure.net", credential=object())
    assert source.secret_name(SourceKey("database_url", "DATABASE_URL", "eu.prod")) == "strongroom-eu-prod-database-url"


def test_new_version_is_seen_after_refresh_without_previous(
    server: KeyVaultServer, vault_url: str, ca: tuple[Path, Path], prefix: str, make_canary: Callable[[str], str]
) -> None:
    """A new version (set_secret) shows after refresh(); Key Vault has no previous stage, so no overlap."""
    old, new, hook = make_canary("old"), make_canary("new"), make_canary("hook")
    server.add(f"{prefix}prod-api-key", old)
    server.add(f"{prefix}prod-webhook-secret", hook)
    settings = AzureSettings.load(
        environment="prod", sources=[_source(vault_url, ca, server.token, prefix)], overlap_seconds=600
    )
    version = server.add(f"{prefix}prod-api-key", new)
    assert settings.api_key.reveal() == old
    settings.api_key.refresh()
    assert settings.api_key.reveal() == new
    assert settings.api_key.candidates() == [new]
    found = _source(vault_url, ca, server.token, prefix).get(KEY)
    assert found is not None
    assert (found.value, found.version, found.previous) == (new, version, None)
    assert_not_leaked([old, new, hook, server.token], settings, found, report(settings))


def test_missing_secret_is_reported_by_name_without_values(
    server: KeyVaultServer, vault_url: str, ca: tuple[Path, Path], prefix: str, make_canary: Callable[[str], str]
) -> None:
    """An absent secret (404 SecretNotFound) is not in this source: load() fails naming the variable and "azure"."""
    present = make_canary("present")
    server.add(f"{prefix}prod-api-key", present)
    source = _source(vault_url, ca, server.token, prefix)
    assert source.get(SourceKey("webhook_secret", "WEBHOOK_SECRET", "prod")) is None
    with pytest.raises(ConfigError) as caught:
        AzureSettings.load(environment="prod", sources=[source])
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("WEBHOOK_SECRET: missing")
    assert "looked in azure" in caught.value.problems[0]
    assert_not_leaked([present, server.token], caught.value, caught.value.problems)


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        ("no get permission", "HttpResponseError (HTTP 403)"),
        ("disabled", "HttpResponseError (HTTP 403)"),
        ("wrong token", "ClientAuthenticationError (HTTP 401)"),
    ],
)
def test_forbidden_and_rejected_token_are_problems_not_a_fall_through(
    server: KeyVaultServer,
    vault_url: str,
    ca: tuple[Path, Path],
    prefix: str,
    make_canary: Callable[[str], str],
    *,
    cause: str,
    expected: str,
) -> None:
    """403 and 401 are ConfigErrors naming vault, secret and status, even with a lower source that has the value."""
    canary, lower, wrong = make_canary("denied"), make_canary("lower"), make_canary("token")
    name = f"{prefix}prod-api-key"
    server.add(name, canary, enabled=cause != "disabled")
    if cause == "no get permission":
        server.denied.add(name)
    source = _source(vault_url, ca, wrong if cause == "wrong token" else server.token, prefix)
    with pytest.raises(ConfigError) as direct:
        source.get(KEY)
    assert type(direct.value) is ConfigError
    assert str(direct.value) == f"Azure Key Vault {vault_url} secret {name}: {expected}"
    assert direct.value.__context__ is None
    with pytest.raises(ConfigError) as loaded:
        AzureSettings.load(environment="prod", sources=[source, EnvSource({"API_KEY": lower, "WEBHOOK_SECRET": lower})])
    assert f"API_KEY: {direct.value}" in loaded.value.problems
    assert_not_leaked([canary, lower, wrong, server.token], direct.value, loaded.value)


def test_unavailable_vault_is_unavailable_and_lower_sources_answer(
    server: KeyVaultServer, vault_url: str, ca: tuple[Path, Path], prefix: str, make_canary: Callable[[str], str]
) -> None:
    """503 is SourceUnavailable; the load falls through to the environment."""
    canary, lower = make_canary("down"), make_canary("lower")
    server.add(f"{prefix}prod-api-key", canary)
    server.unavailable = True
    source = _source(vault_url, ca, server.token, prefix)
    with pytest.raises(SourceUnavailable) as direct:
        source.get(KEY)
    assert str(direct.value).endswith("HttpResponseError (HTTP 503)")
    assert direct.value.__context__ is None
    settings = AzureSettings.load(
        environment="prod", sources=[source, EnvSource({"API_KEY": lower, "WEBHOOK_SECRET": lower})]
    )
    assert settings.api_key.reveal() == lower
    assert_not_leaked([canary, server.token], direct.value)


def test_credential_without_a_token_is_unavailable(
    server: KeyVaultServer, vault_url: str, ca: tuple[Path, Path], prefix: str
) -> None:
    """A credential that cannot get a token (no identity here) makes the source unavailable, not broken."""
    from azure.identity import CredentialUnavailableError

    class NoIdentity:
        def get_token(self, *scopes: str, **_: Any) -> Any:
            raise CredentialUnavailableError(message="no managed identity endpoint here")

    source = AzureKeyVaultSource(vault_url, prefix=prefix, client=_client(vault_url, ca, NoIdentity()))
    with pytest.raises(SourceUnavailable) as caught:
        source.get(KEY)
    assert str(caught.value).endswith("CredentialUnavailableError (no token from the credential)")
    assert caught.value.__context__ is None


def test_certificate_is_verified(server: KeyVaultServer, prefix: str) -> None:
    """The source's own client verifies TLS: the loopback certificate, unknown to the system store, is refused."""
    server.add(f"{prefix}prod-api-key", "unused")
    # localhost, not 127.0.0.1: the SDK's challenge cache is per origin and process-wide, and the other tests'
    # clients (verify_challenge_resource=False) left a 127.0.0.1 challenge this client would refuse first
    vault_url = f"https://localhost:{server.server_address[1]}"
    source = AzureKeyVaultSource(vault_url, prefix=prefix, credential=StaticCredential(server.token))
    with pytest.raises(SourceUnavailable) as caught:
        source.get(KEY)
    assert str(caught.value).endswith(f"ServiceRequestError at {vault_url}")
    assert not any(path == f"/secrets/{prefix}prod-api-key/" for path, _ in server.requests)


def test_unreachable_vault_is_unavailable_within_seconds(prefix: str) -> None:
    """A closed port gives SourceUnavailable naming vault, secret and error; later fields fail fast (own client)."""
    vault_url = f"https://127.0.0.1:{_free_port()}"
    source = AzureKeyVaultSource(vault_url, prefix=prefix, credential=StaticCredential("unused"), timeout_seconds=0.5)
    with pytest.raises(SourceUnavailable) as direct:
        finishes(lambda: source.get(KEY), within=30)
    with pytest.raises(ConfigError) as loaded:
        finishes(lambda: AzureSettings.load(environment="prod", sources=[source]), within=30)
    assert (
        str(direct.value) == f"Azure Key Vault {vault_url} secret {prefix}prod-api-key: "
        f"ServiceRequestError at {vault_url}"
    )
    assert direct.value.__context__ is None
    problems = loaded.value.problems
    assert [p.split(":")[0] for p in problems] == ["API_KEY", "WEBHOOK_SECRET"], problems
    assert all("azure unavailable" in p for p in problems), problems


def test_silent_vault_times_out_once_per_load(prefix: str) -> None:
    """A server that accepts but never answers (not even the TLS handshake) costs one timeout per load."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        vault_url = f"https://127.0.0.1:{silent.getsockname()[1]}"
        source = AzureKeyVaultSource(
            vault_url, prefix=prefix, credential=StaticCredential("unused"), timeout_seconds=1.0
        )
        with pytest.raises(ConfigError) as caught:
            finishes(lambda: AzureSettings.load(environment="prod", sources=[source]), within=60)
        attempts = connections_received(silent)
    first = caught.value.problems[0]
    assert first.startswith("API_KEY: missing"), first
    assert f"at {vault_url}" in first
    assert "not tried" in caught.value.problems[1]
    assert attempts == 1, attempts  # one timed-out lookup for the whole load


def test_missing_sdk_asks_for_the_extra(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    """Without azure-keyvault-secrets the source raises ConfigError with the install hint, on first use."""
    monkeypatch.setitem(sys.modules, "azure.keyvault.secrets", None)
    source = AzureKeyVaultSource("https://example.vault.azure.net", prefix=prefix, credential=object())
    with pytest.raises(ConfigError) as caught:
        source.get(KEY)
    assert str(caught.value) == INSTALL_HINT


def test_missing_identity_asks_for_the_extra_when_no_credential_is_given(
    monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    """Without azure-identity, the default credential cannot be made: the install hint again."""
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    source = AzureKeyVaultSource("https://example.vault.azure.net", prefix=prefix)
    with pytest.raises(ConfigError) as caught:
        source.get(KEY)
    assert str(caught.value) == INSTALL_HINT


def test_importing_the_source_does_not_import_the_sdk() -> None:
    """`import strongroom.config` and the azure module itself leave azure-core, Key Vault and identity unloaded."""
    code = (
        "import sys, strongroom.config, strongroom.config.sources.azure\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('azure', 'msal', 'requests')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout
    assert out.strip() == "[]"
