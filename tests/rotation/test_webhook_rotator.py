"""The ``webhook`` rotator against a real loopback endpoint that checks every request's signature itself."""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import re
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.errors import InvalidInput
from strongroom.rotation import RotationContext, Rotations, Rotators
from strongroom.vault import Vault
from strongroom.vocabulary import Action, RotationStatus

TENANT = "acme"
NAME = "billing-api-token"
SIGNING = "billing-hook-key"
# Tests of HTTP or key handling, not of the store, run on SQLite only (the engine's own tests cover both).
SQLITE_ONLY = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def _reference_verifier() -> Callable[..., bool]:
    """The verifier the docs give endpoint authors (docs/rotation.md): the tests run that very code, so the docs
    cannot drift from what strongroom signs."""
    page = Path(__file__).resolve().parents[2] / "docs" / "rotation.md"
    for block in re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.DOTALL):
        if "def verify(raw_body" in block:
            namespace: dict[str, Any] = {}
            exec(compile(block, "docs/rotation.md", "exec"), namespace)  # noqa: S102 -- our own docs
            return namespace["verify"]  # type: ignore[no-any-return]
    raise AssertionError("the reference verifier (def verify(raw_body, ...)) is missing from docs/rotation.md")


verify = _reference_verifier()


@dataclass
class Endpoint:
    """What the test's endpoint does and saw. ``fail_at``: the step answered with HTTP 500; ``block_at``: the step
    whose handler waits on ``release`` (set at teardown)."""

    key: bytes
    port: int = 0
    fail_at: str | None = None
    block_at: str | None = None
    remote_value: str | None = None
    create_answer: bytes | None = None  # sent as is, instead of {"value": remote_value}
    release: threading.Event = field(default_factory=threading.Event)
    seen: list[dict[str, Any]] = field(default_factory=list)
    idempotency_keys: list[str] = field(default_factory=list)
    refused: int = 0

    def url(self, path: str = "/rotate") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def steps(self) -> list[str]:
        return [request["step"] for request in self.seen]

    def value_at(self, step: str) -> str:
        [value] = [request["value"] for request in self.seen if request["step"] == step]
        return str(value)


def _handler(endpoint: Endpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if not verify(body, self.headers.get("Strongroom-Signature", ""), endpoint.key, now=time.time()):
                endpoint.refused += 1
                self._answer(401, b"{}")
                return
            request = json.loads(body)
            endpoint.seen.append(request)
            endpoint.idempotency_keys.append(self.headers["Idempotency-Key"])
            if request["step"] == endpoint.block_at:
                endpoint.release.wait()
                return
            if request["step"] == endpoint.fail_at:
                self._answer(500, b'{"error": "provider said no"}')
            elif request["step"] == "create" and endpoint.create_answer is not None:
                self._answer(200, endpoint.create_answer)
            elif request["step"] == "create" and endpoint.remote_value is not None:
                self._answer(200, json.dumps({"value": endpoint.remote_value}).encode())
            else:
                self._answer(200, b"{}")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def endpoint(start_http_server: Callable[[type[BaseHTTPRequestHandler]], int]) -> Iterator[Endpoint]:
    found = Endpoint(key=secrets.token_bytes(32))
    found.port = start_http_server(_handler(found))
    yield found
    found.release.set()  # before the server's teardown: a blocked handler ends


@pytest.fixture
def acme(vault: Vault, endpoint: Endpoint, make_canary: Callable[[str], str]) -> str:
    """The tenant with the rotated secret (a canary as its first value) and the endpoint's signing key."""
    vault.create_tenant(TENANT)
    vault.put(TENANT, SIGNING, endpoint.key)
    first = make_canary("webhook-first")
    vault.put(TENANT, NAME, first)
    return first


def _policy(vault: Vault, endpoint: Endpoint, **options: Any) -> Rotations:
    rotations = Rotations(vault)
    options = {"url": endpoint.url(), "signing_secret": SIGNING, **options}
    rotations.set_policy(TENANT, NAME, every="30d", overlap=0, rotator="webhook", options=options)
    return rotations


def _current(vault: Vault) -> str:
    with vault.use(TENANT, NAME, purpose="test") as secret:
        return str(secret.reveal())


def _leaks(value: str, vault: Vault, caplog: pytest.LogCaptureFixture, *texts: str | None) -> list[str]:
    """Where ``value`` shows up among logs, audit rows and the given texts."""
    places = [f"log: {r.getMessage()}" for r in caplog.records]
    places += [f"audit: {row!r}" for row in vault.audit_events(tenant=TENANT)]
    places += [f"text: {t}" for t in texts if t]
    return [place for place in places if value in place]


def test_a_full_rotation_calls_set_test_retire_with_the_right_values(
    vault: Vault, endpoint: Endpoint, acme: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = _policy(vault, endpoint, prefix="tok_").rotate(TENANT, NAME)
    assert result.status == RotationStatus.SUCCEEDED, result.reason
    new = _current(vault)
    assert new.startswith("tok_")
    assert new != acme
    assert endpoint.steps() == ["set", "test", "retire"]  # value=local: strongroom made it, no create call
    assert endpoint.value_at("set") == endpoint.value_at("test") == new
    assert endpoint.value_at("retire") == acme
    assert all(r["rotation_id"] == result.rotation_id and r["tenant"] == TENANT for r in endpoint.seen)
    assert all(r["secret"] == NAME for r in endpoint.seen)
    assert endpoint.idempotency_keys == [f"{result.rotation_id}:{step}" for step in ("set", "test", "retire")]
    assert endpoint.refused == 0
    assert _leaks(new, vault, caplog) == []
    assert _leaks(acme, vault, caplog) == []


@SQLITE_ONLY
def test_a_remote_value_comes_from_the_create_answer(
    vault: Vault, endpoint: Endpoint, acme: str, make_canary: Callable[[str], str]
) -> None:
    endpoint.remote_value = make_canary("webhook-remote")
    result = _policy(vault, endpoint, value="remote").rotate(TENANT, NAME)
    assert result.status == RotationStatus.SUCCEEDED, result.reason
    assert _current(vault) == endpoint.remote_value
    assert endpoint.steps() == ["create", "set", "test", "retire"]
    assert "value" not in endpoint.seen[0]


@SQLITE_ONLY
@pytest.mark.parametrize("shape", ["not json {value}", '{"value": ""}', '["{value}"]', '{"value": 7, "v": "{value}"}'])
def test_a_bad_create_answer_fails_without_quoting_it(
    vault: Vault, endpoint: Endpoint, acme: str, make_canary: Callable[[str], str], shape: str
) -> None:
    canary = make_canary("webhook-answer")
    endpoint.create_answer = shape.replace("{value}", canary).encode()
    result = _policy(vault, endpoint, value="remote").rotate(TENANT, NAME)
    assert result.status == RotationStatus.FAILED
    assert result.reason is not None
    assert "the webhook's answer to create is not JSON" in result.reason
    assert canary not in result.reason
    assert endpoint.steps() == ["create"]
    assert _current(vault) == acme


class _Killed(BaseException):
    """Stands for SIGKILL: nothing in the engine catches it, so nothing after it runs."""


def test_a_create_that_died_is_resent_with_the_same_idempotency_key(
    vault: Vault, endpoint: Endpoint, acme: str, make_canary: Callable[[str], str]
) -> None:
    from strongroom.rotation.webhook import WebhookRotator

    class DiesAfterCreate(WebhookRotator):
        def create(self, ctx: RotationContext) -> str:
            super().create(ctx)
            raise _Killed

    endpoint.remote_value = make_canary("webhook-remote")
    dying = Rotations(vault, rotators=Rotators(extra={"webhook": DiesAfterCreate}))
    options = {"url": endpoint.url(), "signing_secret": SIGNING, "value": "remote"}
    dying.set_policy(TENANT, NAME, every="30d", overlap=0, rotator="webhook", options=options)
    with pytest.raises(_Killed):
        dying.rotate(TENANT, NAME)
    result = Rotations(vault).rotate(TENANT, NAME)  # the next run resumes the same rotation at create
    assert result.status == RotationStatus.SUCCEEDED, result.reason
    assert endpoint.steps() == ["create", "create", "set", "test", "retire"]
    assert endpoint.idempotency_keys[:2] == [f"{result.rotation_id}:create"] * 2
    assert _current(vault) == endpoint.remote_value


@SQLITE_ONLY
def test_a_policy_with_plain_http_to_another_host_is_refused(vault: Vault, endpoint: Endpoint, acme: str) -> None:
    options = {"url": "http://hooks.acme.example/rotate", "signing_secret": SIGNING}
    with pytest.raises(InvalidInput, match="use https://"):
        Rotations(vault).set_policy(TENANT, NAME, every="30d", overlap=0, rotator="webhook", options=options)
    assert Rotations(vault).rotate(TENANT, NAME).status == RotationStatus.FAILED  # no policy was stored
    assert endpoint.seen == []


def test_a_failed_test_undoes_discards_the_pending_value_and_keeps_current(
    vault: Vault, endpoint: Endpoint, acme: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint.fail_at = "test"
    result = _policy(vault, endpoint).rotate(TENANT, NAME)
    assert result.status == RotationStatus.FAILED
    assert result.reason is not None
    assert "step test" in result.reason
    assert "HTTP 500" in result.reason
    assert NAME in result.reason
    assert "provider said no" not in result.reason
    assert endpoint.steps() == ["set", "test", "undo"]
    pending = endpoint.value_at("set")
    assert endpoint.value_at("undo") == pending
    assert _current(vault) == acme
    assert [v.version for v in vault.versions(TENANT, NAME)] == [1]  # the pending version is gone
    [failed] = vault.audit_events(tenant=TENANT, action=Action.ROTATION_FAIL)
    assert failed.secret_name == NAME
    assert "HTTP 500" in (failed.detail or "")
    assert _leaks(pending, vault, caplog, result.reason) == []
    assert _leaks(acme, vault, caplog, result.reason) == []


@SQLITE_ONLY
def test_an_endpoint_that_does_not_answer_fails_the_rotation(
    vault: Vault, endpoint: Endpoint, acme: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint.block_at = "set"
    result = _policy(vault, endpoint, timeout=0.3).rotate(TENANT, NAME)
    assert result.status == RotationStatus.FAILED
    assert result.reason is not None
    assert "step set" in result.reason
    assert "did not answer within 0.3s" in result.reason
    assert endpoint.steps() == ["set", "undo"]
    assert _current(vault) == acme
    assert _leaks(endpoint.value_at("set"), vault, caplog, result.reason) == []


@SQLITE_ONLY
def test_an_unreachable_endpoint_fails_naming_the_step(vault: Vault, endpoint: Endpoint, acme: str) -> None:
    endpoint.port = _closed_port()
    result = _policy(vault, endpoint).rotate(TENANT, NAME)
    assert result.status == RotationStatus.FAILED
    assert result.reason is not None
    assert "could not reach the webhook at 127.0.0.1" in result.reason
    # The engine records undo's failure (the endpoint is down for undo too), which names its step.
    assert "(ConnectionRefusedError)" in result.reason
    assert "undo at the provider failed too" in result.reason
    assert _current(vault) == acme


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@SQLITE_ONLY
def test_a_redirect_is_not_followed(
    vault: Vault, endpoint: Endpoint, acme: str, start_http_server: Callable[[type[BaseHTTPRequestHandler]], int]
) -> None:
    target = endpoint.url()

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    port = start_http_server(Redirect)
    rotations = Rotations(vault)
    options = {"url": f"http://localhost:{port}/", "signing_secret": SIGNING}
    rotations.set_policy(TENANT, NAME, every="30d", overlap=0, rotator="webhook", options=options)
    result = rotations.rotate(TENANT, NAME)
    assert result.status == RotationStatus.FAILED
    assert result.reason is not None
    assert "HTTP 307" in result.reason
    assert "not followed" in result.reason
    assert endpoint.seen == []  # the redirect's target never got the value


@SQLITE_ONLY
def test_a_missing_signing_secret_fails_naming_it(vault: Vault, endpoint: Endpoint, acme: str) -> None:
    rotations = Rotations(vault)
    options = {"url": endpoint.url(), "signing_secret": "no-such-key"}
    rotations.set_policy(TENANT, NAME, every="30d", overlap=0, rotator="webhook", options=options)
    result = rotations.rotate(TENANT, NAME)
    assert result.status == RotationStatus.FAILED
    assert result.reason is not None
    assert "'no-such-key' not found" in result.reason
    assert endpoint.seen == []
    assert _current(vault) == acme


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"url": "http://example.com/rotate"}, "use https://"),
        ({"url": "http://10.0.0.8/rotate"}, "plain http is allowed only to 127.0.0.1"),
        ({"url": "ftp://example.com/"}, "must be https://"),
        ({"url": "https://user:pw@example.com/"}, "remove them from the URL"),
        ({"url": "https://example.com:99999/"}, "not a valid URL"),
        ({"signing_secret": None}, "needs the option(s) signing_secret"),
        ({"timeout": 0}, "timeout must be a number of seconds"),
        ({"timeout": "soon"}, "timeout must be a number of seconds"),
        ({"value": "both"}, "must be local"),
        ({"value": "remote", "length": 64}, "apply only to value=local"),
        ({"length": 4}, "at least 128 bits"),
        ({"signing_secrets": "x"}, "has no option(s) signing_secrets: use url, signing_secret"),
    ],
)
def test_bad_options_are_refused_naming_the_fix(options: dict[str, Any], expected: str) -> None:
    from strongroom.rotation.webhook import WebhookRotator

    given = {"url": "https://hooks.example.com/rotate", "signing_secret": SIGNING, **options}
    with pytest.raises(InvalidInput) as caught:
        WebhookRotator().check({k: v for k, v in given.items() if v is not None})
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/x", "http://[::1]/x", "http://localhost/x", "https://a.example/"]
)
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    from strongroom.rotation.webhook import WebhookRotator

    WebhookRotator().check({"url": url, "signing_secret": SIGNING})


def test_the_reference_verifier_rejects_a_bad_signature() -> None:
    from strongroom.rotation.webhook import signature_header

    key, body, now = secrets.token_bytes(32), b'{"step":"set","value":"x"}', 1_700_000_000
    header = signature_header(key, now, body)
    assert verify(body, header, key, now=now)
    assert not verify(body + b" ", header, key, now=now)  # body changed
    assert not verify(body, header, secrets.token_bytes(32), now=now)  # another key
    assert not verify(body, header.replace("v1=", "v1=0"), key, now=now)  # signature changed
    assert not verify(body, header, key, now=now + 301)  # replayed too late
    assert not verify(body, f"t={now}", key, now=now)  # no signature at all


@SQLITE_ONLY
def test_an_endpoint_refuses_a_request_signed_with_another_key(vault: Vault, endpoint: Endpoint, acme: str) -> None:
    vault.put(TENANT, SIGNING, secrets.token_bytes(32))  # strongroom now signs with a key the endpoint lacks
    result = _policy(vault, endpoint).rotate(TENANT, NAME)
    assert result.status == RotationStatus.FAILED
    assert result.reason is not None
    assert "HTTP 401" in result.reason
    assert endpoint.refused >= 1
    assert endpoint.seen == []
    assert _current(vault) == acme


@SQLITE_ONLY
def test_the_rotated_secret_cannot_sign_its_own_requests(vault: Vault, endpoint: Endpoint, acme: str) -> None:
    rotations = Rotations(vault)
    options = {"url": endpoint.url(), "signing_secret": NAME}
    rotations.set_policy(TENANT, NAME, every="30d", overlap=0, rotator="webhook", options=options)
    result = rotations.rotate(TENANT, NAME)
    assert result.status == RotationStatus.FAILED
    assert result.reason is not None
    assert "signing_secret names the rotated secret itself" in result.reason
    assert endpoint.seen == []


@settings(max_examples=60, deadline=None)
@given(key=st.binary(min_size=1, max_size=64), body=st.binary(max_size=256), stamp=st.integers(0, 2**40))
def test_a_signature_verifies_only_the_body_and_key_it_was_made_for(key: bytes, body: bytes, stamp: int) -> None:
    from strongroom.rotation.webhook import signature_header

    header = signature_header(key, stamp, body)
    assert verify(body, header, key, now=stamp)
    assert not verify(body + b"x", header, key, now=stamp)
    assert not verify(body, header, key + b"x", now=stamp)


# -- https: a real TLS endpoint on 127.0.0.1, with a CA made at test time ----------------------------------


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate (its own CA) for 127.0.0.1 and localhost, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    alt_names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
def tls_endpoint(tmp_path: Path) -> Iterator[tuple[Endpoint, Path]]:
    """The test endpoint behind TLS on 127.0.0.1; yields it and its CA certificate (trusted by nobody yet)."""
    cert_file, key_file = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    found = Endpoint(key=secrets.token_bytes(32))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    found.port = int(server.server_address[1])
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield found, cert_file
    finally:
        server.shutdown()
        server.server_close()


def _https_rotation(vault: Vault, endpoint: Endpoint, first: str) -> Any:
    vault.create_tenant(TENANT)
    vault.put(TENANT, SIGNING, endpoint.key)
    vault.put(TENANT, NAME, first)
    rotations = Rotations(vault)
    options = {"url": f"https://127.0.0.1:{endpoint.port}/rotate", "signing_secret": SIGNING}
    rotations.set_policy(TENANT, NAME, every="30d", overlap=0, rotator="webhook", options=options)
    return rotations.rotate(TENANT, NAME)


@SQLITE_ONLY
def test_https_to_a_trusted_endpoint_rotates(
    vault: Vault, tls_endpoint: tuple[Endpoint, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, ca = tls_endpoint
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the system trust store, for this test only
    result = _https_rotation(vault, endpoint, "first-value")
    assert result.status == RotationStatus.SUCCEEDED, result.reason
    assert endpoint.steps() == ["set", "test", "retire"]
    assert endpoint.value_at("test") == _current(vault)


@SQLITE_ONLY
def test_https_to_an_untrusted_certificate_sends_nothing(vault: Vault, tls_endpoint: tuple[Endpoint, Path]) -> None:
    endpoint, _ = tls_endpoint
    result = _https_rotation(vault, endpoint, "first-value")
    assert result.status == RotationStatus.FAILED
    assert result.reason is not None
    assert "(SSLCertVerificationError)" in result.reason
    assert endpoint.seen == []
    assert _current(vault) == "first-value"
