"""The Cloud KMS key provider: google-cloud-kms over its REST transport, against a loopback KMS.

No Cloud KMS emulator can be installed here, so ``FakeKms`` below is a protocol double at the SDK's transport
seam: a stdlib ``http.server`` on 127.0.0.1, in a thread, implementing the documented v1 REST methods the
provider calls (``GET cryptoKeys/{k}``, ``GET .../cryptoKeyVersions``, ``POST .../cryptoKeyVersions``,
``:updatePrimaryVersion``, ``:destroy``, ``:encrypt``, ``:decrypt``) with the documented JSON shapes, real
AES-256-GCM (``cryptography``) per version with the request's ``additionalAuthenticatedData``, version states
(``ENABLED``, ``DISABLED``, ``DESTROY_SCHEDULED``) and Google's JSON error bodies (``INVALID_ARGUMENT``,
``FAILED_PRECONDITION``, ``PERMISSION_DENIED``, ``NOT_FOUND``, ``UNAVAILABLE``). ``KeyManagementServiceClient``
(``transport="rest"``) is pointed at it with ``?endpoint=http://...`` and ``AnonymousCredentials``; the SDK
builds, serializes and maps everything for real. Not tested against live Cloud KMS.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

pytest.importorskip("google.cloud.kms_v1")
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.auth.credentials import AnonymousCredentials

from strongroom.crypto.providers import ManagedKeyProvider
from strongroom.crypto.providers.gcp_kms import GcpKmsKeyProvider, open_provider
from strongroom.crypto.providers.uri import provider_from_uri
from strongroom.errors import KeyProviderError, TamperedError
from strongroom.testing import assert_not_leaked

RING = "projects/acme/locations/europe-west1/keyRings/strongroom"
NOW = "2026-01-01T00:00:00Z"


class FakeKms(ThreadingHTTPServer):
    """Cloud KMS's v1 REST surface for symmetric keys in one key ring."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), KmsHandler)
        self.keys: dict[str, dict[str, Any]] = {}  # key id -> {"versions": {n: {...}}, "primary": n, "purpose": ...}
        self.denied: set[str] = set()  # key ids the caller has no role on
        self.unavailable = False
        self.lock = threading.Lock()

    def create_key(self, key_id: str, purpose: str = "ENCRYPT_DECRYPT") -> str:
        with self.lock:
            self.keys[key_id] = {"versions": {}, "primary": None, "purpose": purpose}
            self.keys[key_id]["primary"] = self.new_version(key_id)
        return f"{RING}/cryptoKeys/{key_id}"

    def new_version(self, key_id: str) -> int:
        versions = self.keys[key_id]["versions"]
        number = max(versions, default=0) + 1
        versions[number] = {"material": AESGCM.generate_key(bit_length=256), "state": "ENABLED"}
        return number


class KmsHandler(BaseHTTPRequestHandler):
    server: FakeKms

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
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    @staticmethod
    def _version(key_id: str, number: int, entry: dict[str, Any]) -> dict[str, Any]:
        body = {
            "name": f"{RING}/cryptoKeys/{key_id}/cryptoKeyVersions/{number}",
            "state": entry["state"],
            "protectionLevel": "SOFTWARE",
            "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION",
            "createTime": NOW,
        }
        if entry["state"] == "DESTROY_SCHEDULED":
            body["destroyTime"] = "2026-01-31T00:00:00Z"
        return body

    def _key(self, key_id: str, key: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": f"{RING}/cryptoKeys/{key_id}",
            "purpose": key["purpose"],
            "createTime": NOW,
            "versionTemplate": {"protectionLevel": "SOFTWARE", "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION"},
            "destroyScheduledDuration": "2592000s",
        }
        if key["primary"] is not None:
            body["primary"] = self._version(key_id, key["primary"], key["versions"][key["primary"]])
        return body

    def _dispatch(self, method: str) -> None:  # noqa: PLR0912 -- one branch per REST method
        path = unquote(urlsplit(self.path).path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        if self.server.unavailable:
            self._error(503, "UNAVAILABLE", "The service is currently unavailable.")
            return
        prefix = f"/v1/{RING}/cryptoKeys/"
        if not path.startswith(prefix):
            self._error(404, "NOT_FOUND", "no such method")
            return
        rest, _, verb = path[len(prefix) :].partition(":")
        parts = rest.split("/")
        key_id = parts[0]
        if key_id in self.server.denied:
            self._error(403, "PERMISSION_DENIED", f"Permission denied on resource '{RING}/cryptoKeys/{key_id}'.")
            return
        with self.server.lock:
            key = self.server.keys.get(key_id)
            if key is None:
                self._error(404, "NOT_FOUND", f"CryptoKey {RING}/cryptoKeys/{key_id} not found.")
                return
            versions = key["versions"]
            if method == "GET" and len(parts) == 1 and not verb:
                self._send(200, self._key(key_id, key))
            elif method == "GET" and parts[1:] == ["cryptoKeyVersions"]:
                listed = [self._version(key_id, n, e) for n, e in sorted(versions.items())]
                self._send(200, {"cryptoKeyVersions": listed, "totalSize": len(listed)})
            elif method == "POST" and parts[1:] == ["cryptoKeyVersions"] and not verb:
                number = self.server.new_version(key_id)
                self._send(200, self._version(key_id, number, versions[number]))
            elif verb == "updatePrimaryVersion":
                number = int(body["cryptoKeyVersionId"])
                if versions.get(number, {}).get("state") != "ENABLED":
                    self._error(400, "FAILED_PRECONDITION", f"version {number} is not enabled")
                    return
                key["primary"] = number
                self._send(200, self._key(key_id, key))
            elif verb == "destroy" and len(parts) == 3:
                number = int(parts[2])
                if number not in versions:
                    self._error(404, "NOT_FOUND", "CryptoKeyVersion not found.")
                    return
                versions[number]["state"] = "DESTROY_SCHEDULED"
                self._send(200, self._version(key_id, number, versions[number]))
            elif verb == "encrypt":
                self._encrypt(key_id, key, parts, body)
            elif verb == "decrypt" and len(parts) == 1:
                self._decrypt(key, body)
            else:
                self._error(404, "NOT_FOUND", "no such method")

    def _encrypt(self, key_id: str, key: dict[str, Any], parts: list[str], body: dict[str, Any]) -> None:
        number = int(parts[2]) if len(parts) == 3 else key["primary"]
        entry = key["versions"].get(number)
        if entry is None:
            self._error(404, "NOT_FOUND", "CryptoKeyVersion not found.")
            return
        if entry["state"] != "ENABLED":
            self._error(400, "FAILED_PRECONDITION", f"CryptoKeyVersion is not enabled, state: {entry['state']}.")
            return
        nonce = os.urandom(12)
        aad = base64.b64decode(body.get("additionalAuthenticatedData", ""))
        sealed = AESGCM(entry["material"]).encrypt(nonce, base64.b64decode(body["plaintext"]), aad)
        ciphertext = number.to_bytes(4, "big") + nonce + sealed  # opaque to the client, as the real one
        self._send(
            200,
            {
                "name": f"{RING}/cryptoKeys/{key_id}/cryptoKeyVersions/{number}",
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "protectionLevel": "SOFTWARE",
            },
        )

    def _decrypt(self, key: dict[str, Any], body: dict[str, Any]) -> None:
        raw = base64.b64decode(body.get("ciphertext", ""))
        entry = key["versions"].get(int.from_bytes(raw[:4], "big")) if len(raw) > 16 else None
        if entry is None:
            self._error(400, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.")
            return
        if entry["state"] != "ENABLED":
            self._error(400, "FAILED_PRECONDITION", f"The CryptoKeyVersion is in state {entry['state']}.")
            return
        aad = base64.b64decode(body.get("additionalAuthenticatedData", ""))
        try:
            plaintext = AESGCM(entry["material"]).decrypt(raw[4:16], raw[16:], aad)
        except InvalidTag:
            self._error(400, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.")
            return
        self._send(200, {"plaintext": base64.b64encode(plaintext).decode(), "usedPrimary": True})


@pytest.fixture(scope="module")
def kms() -> Iterator[FakeKms]:
    server = FakeKms()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def key_name(kms: FakeKms) -> str:
    """A key of this test's own, so tests share the server without seeing each other's keys."""
    return kms.create_key("k" + uuid.uuid4().hex[:12])


def _open(kms: FakeKms, key_name: str) -> GcpKmsKeyProvider:
    uri = f"gcp-kms:{key_name}?endpoint=http://127.0.0.1:{kms.server_address[1]}"
    return open_provider(uri, environment="prod", credentials=AnonymousCredentials())


def test_is_a_managed_provider_named_by_its_uri(kms: FakeKms, key_name: str) -> None:
    provider = _open(kms, key_name)
    assert isinstance(provider, ManagedKeyProvider)
    assert provider.uri == f"gcp-kms:{key_name}"  # the endpoint parameter is not shown
    assert "127.0.0.1" not in repr(provider)


def test_round_trip_under_the_primary(kms: FakeKms, key_name: str) -> None:
    provider = _open(kms, key_name)
    key = os.urandom(32)
    version, blob = provider.wrap(key, b"env=prod;root=1")
    assert version == 1 == provider.current_version()
    assert provider.versions() == [1]
    assert key not in blob
    assert provider.unwrap(blob, 1, b"env=prod;root=1") == key


def test_context_and_version_are_bound(kms: FakeKms, key_name: str) -> None:
    provider = _open(kms, key_name)
    key = os.urandom(32)
    _, blob = provider.wrap(key, b"env=prod")
    provider.add_version()
    with pytest.raises(TamperedError):
        provider.unwrap(blob, 1, b"env=dev")
    with pytest.raises(TamperedError):
        provider.unwrap(blob, 2, b"env=prod")  # claimed under another version
    edited = bytearray(blob)
    edited[-1] ^= 0x01
    with pytest.raises(TamperedError):
        provider.unwrap(bytes(edited), 1, b"env=prod")
    assert provider.unwrap(blob, 1, b"env=prod") == key


def test_add_version_then_destroy_the_old_one(kms: FakeKms, key_name: str) -> None:
    provider = _open(kms, key_name)
    key = os.urandom(32)
    _, old = provider.wrap(key, b"ctx")
    assert provider.add_version() == 2
    assert provider.current_version() == 2
    assert provider.versions() == [1, 2]
    version, new = provider.wrap(key, b"ctx")
    assert version == 2
    assert provider.unwrap(old, 1, b"ctx") == key

    with pytest.raises(KeyProviderError, match="it is current"):
        provider.destroy_version(2)
    provider.destroy_version(1)
    assert provider.versions() == [2]
    key_id = key_name.rsplit("/", 1)[-1]
    assert kms.keys[key_id]["versions"][1]["state"] == "DESTROY_SCHEDULED"
    with pytest.raises(KeyProviderError, match="disabled or destroyed") as caught:
        provider.unwrap(old, 1, b"ctx")
    assert f"gcp-kms:{key_name}" in str(caught.value)
    assert provider.unwrap(new, 2, b"ctx") == key
    provider.destroy_version(1)  # already scheduled: left as it is
    with pytest.raises(KeyProviderError, match="no version 9"):
        provider.destroy_version(9)


def test_another_process_rotating_is_seen_on_reload(kms: FakeKms, key_name: str) -> None:
    provider = _open(kms, key_name)
    assert provider.current_version() == 1
    other = _open(kms, key_name)
    other.add_version()
    assert provider.current_version() == 1
    provider.reload()
    assert provider.current_version() == 2


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("denied", "permission denied"),
        ("missing", "does not exist"),
        ("unavailable", "unavailable"),
        ("disabled", "disabled"),
        ("unreachable", "unreachable"),
        ("wrong-purpose", "symmetric"),
    ],
)
def test_failures_name_the_provider(kms: FakeKms, key_name: str, breakage: str, expected: str) -> None:
    provider = _open(kms, key_name)
    key = os.urandom(32)
    _, blob = provider.wrap(key, b"ctx")
    key_id = key_name.rsplit("/", 1)[-1]
    fresh = _open(kms, key_name)
    if breakage == "denied":
        kms.denied.add(key_id)
    elif breakage == "missing":
        del kms.keys[key_id]
    elif breakage == "unavailable":
        kms.unavailable = True
    elif breakage == "disabled":
        kms.keys[key_id]["versions"][1]["state"] = "DISABLED"
    elif breakage == "wrong-purpose":
        kms.keys[key_id]["purpose"] = "ASYMMETRIC_SIGN"
    else:
        with socket.socket() as probe:  # a loopback port nothing listens on once closed
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        fresh = open_provider(
            f"gcp-kms:{key_name}?endpoint=http://127.0.0.1:{port}",
            environment="prod",
            credentials=AnonymousCredentials(),
        )
        provider = fresh
    try:
        calls = [provider.check, lambda: fresh.wrap(key, b"ctx")]
        if breakage != "wrong-purpose":
            calls.append(lambda: provider.unwrap(blob, 1, b"ctx"))
        errors = []
        for call in calls:
            with pytest.raises(KeyProviderError) as caught:
                call()
            errors.append(caught.value)
            message = str(caught.value)
            assert f"gcp-kms:{key_name}" in message
            assert "127.0.0.1" not in message
            assert expected in " ".join(message.split())
            # only the URI (and its colon) may stand alone on a longer line: it is never broken
            assert all(len(line) <= 80 or line.rstrip(":") == f"gcp-kms:{key_name}" for line in message.splitlines())
        assert_not_leaked([base64.b64encode(key).decode(), key.hex()], provider, *errors)
    finally:
        kms.denied.discard(key_id)
        kms.unavailable = False


@pytest.mark.parametrize(
    "uri",
    [
        "gcp-kms:projects/p/locations/l/keyRings/r",
        "gcp-kms:projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
        "gcp-kms:keys/k",
        "gcp-kms:projects/p/locations/l/keyRings/r/cryptoKeys/k?region=x",
    ],
)
def test_malformed_uris_are_refused(uri: str) -> None:
    with pytest.raises(KeyProviderError, match="gcp-kms:"):
        open_provider(uri, environment="prod")


def test_provider_from_uri_opens_it_and_reports_unusable_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default path: Application Default Credentials. GOOGLE_APPLICATION_CREDENTIALS names a file that is
    not a credential, so google-auth fails at once (it never goes on to probe a metadata server); the first use
    says how to get credentials."""
    not_a_credential = tmp_path / "adc.json"
    not_a_credential.write_text("{}")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(not_a_credential))
    uri = f"gcp-kms:{RING}/cryptoKeys/roots"
    provider = provider_from_uri(uri, environment="dev", key_file=Path("unused"))
    assert isinstance(provider, GcpKmsKeyProvider)
    assert isinstance(provider, ManagedKeyProvider)
    with pytest.raises(KeyProviderError, match="Application Default Credentials") as caught:
        provider.check()
    assert uri in str(caught.value)


def test_wrap_after_another_process_rotated_and_destroyed(kms: FakeKms, key_name: str) -> None:
    provider = _open(kms, key_name)
    key = os.urandom(32)
    provider.wrap(key, b"ctx")
    other = _open(kms, key_name)
    other.add_version()
    other.destroy_version(1)
    version, blob = provider.wrap(key, b"ctx")
    assert version == 2
    assert other.unwrap(blob, 2, b"ctx") == key
