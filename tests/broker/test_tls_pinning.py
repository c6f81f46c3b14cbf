"""Pinning keeps TLS honest: the broker connects to the address it checked, yet sends SNI and verifies the
certificate for the connector's host name (a real TLS server on loopback, a CA made at test time)."""

from __future__ import annotations

import datetime
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from strongroom.broker import Connector, CredentialPlacement, Operation, UpstreamError


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``upstream.test`` (its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "upstream.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("upstream.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = b'{"hello": "tls"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def tls_upstream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, list[str | None]]]:
    cert_file, key_file = _certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the broker's trust store, for this test only
    server_names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda sock, server_name, ctx: server_names.append(server_name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], server_names
    finally:
        server.shutdown()
        server.server_close()


def _connector(host: str, port: int) -> Connector:
    return Connector(
        name="tls",
        base_url=f"https://{host}:{port}",
        description="A TLS upstream",
        credential=CredentialPlacement("bearer", "api_token"),
        allow_private_network=True,
        operations=(Operation("hello", "GET", "/hello", "Say hello"),),
        timeout_seconds=5,
    )


def test_sni_and_certificate_use_the_name_while_the_socket_uses_the_checked_address(
    tls_upstream: tuple[int, list[str | None]], run_broker: Callable[..., Any], fixed_resolver: Callable[..., Any]
) -> None:
    port, server_names = tls_upstream
    resolve = fixed_resolver("127.0.0.1")
    response = run_broker(
        lambda broker: broker.call(
            tenant="acme", connector=_connector("upstream.test", port), method="GET", path="/hello", actor="agent"
        ),
        resolve=resolve,
    )
    assert response.status == 200
    assert response.body == b'{"hello": "tls"}'
    assert server_names == ["upstream.test"]
    assert resolve.calls == ["upstream.test"]


def test_a_certificate_for_another_name_is_refused(
    tls_upstream: tuple[int, list[str | None]], run_broker: Callable[..., Any], fixed_resolver: Callable[..., Any]
) -> None:
    """The name a rebinding attacker points at our upstream's address does not get its certificate accepted."""
    port, server_names = tls_upstream
    with pytest.raises(UpstreamError, match="could not be reached") as info:
        run_broker(
            lambda broker: broker.call(
                tenant="acme", connector=_connector("other.test", port), method="GET", path="/hello", actor="agent"
            ),
            resolve=fixed_resolver("127.0.0.1"),
        )
    assert info.value.status == 502
    assert server_names == ["other.test"]  # it connected to the pinned address, and checked the name there


def test_importing_the_connector_model_does_not_import_httpx() -> None:
    """``strongroom.broker`` (connectors, OpenAPI) stays light; ``Broker`` loads httpx on first access."""
    code = (
        "import sys, strongroom.broker as b; assert 'httpx' not in sys.modules; b.Broker; assert 'httpx' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
