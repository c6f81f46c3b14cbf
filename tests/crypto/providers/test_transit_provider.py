"""The transit key provider: hvac against Vault's transit API, at hvac's transport seam.

No Vault or OpenBao server can be installed here, so ``FakeTransit`` below is a protocol double mounted as a
``requests`` transport adapter on the ``requests.Session`` hvac is given (hvac's own ``session=`` parameter):
hvac builds every request (paths, JSON bodies, the ``X-Vault-Token`` header) and maps every response to its
exceptions for real; only the socket is replaced. The double implements the documented endpoints the provider
calls (``GET keys/<name>``, ``POST encrypt``, ``decrypt``, ``keys/<name>/rotate``, ``/config``, ``/trim``)
with Vault's rules for ``min_decryption_version``, ``min_encryption_version`` and trimming, real AES-256-GCM
(``cryptography``) with ``associated_data`` as AAD, and Vault's error bodies. Not tested against a live Vault.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

hvac = pytest.importorskip("hvac")
import requests  # noqa: E402 -- after the importorskip guard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from requests.adapters import BaseAdapter  # noqa: E402

from strongroom.crypto.providers import ManagedKeyProvider  # noqa: E402
from strongroom.crypto.providers.transit import TransitKeyProvider, open_provider  # noqa: E402
from strongroom.crypto.providers.uri import provider_from_uri  # noqa: E402
from strongroom.errors import KeyProviderError, TamperedError  # noqa: E402
from strongroom.testing import assert_not_leaked  # noqa: E402

BASE = "https://vault.example:8200"
URI = f"transit:{BASE}/transit/keys/roots"


class FakeTransit(BaseAdapter):
    """Vault's transit engine at ``transit/`` as a requests transport adapter (answers in-process)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.keys: dict[str, dict[str, Any]] = {}
        self.sealed = False
        self.unreachable = False
        self.denied: set[str] = set()  # operations the token's policy does not allow
        self.lock = threading.Lock()

    def create_key(self, name: str, key_type: str = "aes256-gcm96") -> None:
        self.keys[name] = {
            "type": key_type,
            "versions": {1: AESGCM.generate_key(bit_length=256)},
            "latest": 1,
            "min_decryption": 1,
            "min_encryption": 0,
            "min_available": 0,
        }

    # -- requests' adapter interface ----------------------------------------------------------------

    def close(self) -> None:
        pass

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:
        if self.unreachable:
            raise requests.ConnectionError("connection refused (fake)", request=request)
        url = urlsplit(request.url or "")
        body = json.loads(request.body) if request.body else {}
        with self.lock:
            status, answer = self._handle(request.method or "", unquote(url.path), request.headers, body)
        response = requests.Response()
        response.status_code = status
        response.request = request
        response.url = request.url or ""
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps(answer).encode() if answer is not None else b""
        return response

    # -- the transit engine -------------------------------------------------------------------------

    def _handle(  # noqa: PLR0911 -- one return per documented answer
        self, method: str, path: str, headers: Any, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any] | None]:
        if self.sealed:
            return 503, {"errors": ["Vault is sealed"]}
        parts = path.split("/")  # ['', 'v1', 'transit', op, name, (action)]
        if len(parts) < 5 or parts[:3] != ["", "v1", "transit"]:
            return 404, {"errors": ["no handler for route"]}
        op, name, action = parts[3], parts[4], parts[5] if len(parts) > 5 else ""
        if headers.get("X-Vault-Token") != self.token or (action or op) in self.denied:
            return 403, {"errors": ["permission denied"]}
        key = self.keys.get(name)
        if key is None:
            return (404, {"errors": []}) if method == "GET" else (400, {"errors": ["encryption key not found"]})
        if op == "keys" and method == "GET" and not action:
            return 200, {"data": self._info(name, key)}
        if op == "encrypt":
            return self._encrypt(key, body)
        if op == "decrypt":
            return self._decrypt(key, body)
        if op == "keys" and action == "rotate":
            key["latest"] += 1
            key["versions"][key["latest"]] = AESGCM.generate_key(bit_length=256)
            return 204, None
        if op == "keys" and action == "config":
            return self._config(name, key, body)
        if op == "keys" and action == "trim":
            return self._trim(name, key, int(body["min_available_version"]))
        return 405, {"errors": ["unsupported operation"]}

    @staticmethod
    def _info(name: str, key: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "type": key["type"],
            "derived": False,
            "keys": {str(v): 1700000000 + v for v in sorted(key["versions"])},
            "latest_version": key["latest"],
            "min_available_version": key["min_available"],
            "min_decryption_version": key["min_decryption"],
            "min_encryption_version": key["min_encryption"],
            "supports_encryption": True,
        }

    @staticmethod
    def _encrypt(key: dict[str, Any], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        version = key["latest"]
        nonce = os.urandom(12)
        aad = base64.b64decode(body.get("associated_data") or "")
        sealed = AESGCM(key["versions"][version]).encrypt(nonce, base64.b64decode(body["plaintext"]), aad)
        ciphertext = f"vault:v{version}:" + base64.b64encode(nonce + sealed).decode()
        return 200, {"data": {"ciphertext": ciphertext, "key_version": version}}

    @staticmethod
    def _decrypt(key: dict[str, Any], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        prefix, _, rest = str(body["ciphertext"]).partition(":")
        tag, _, payload = rest.partition(":")
        if prefix != "vault" or not tag.startswith("v"):
            return 400, {"errors": ["invalid ciphertext: no prefix"]}
        version = int(tag[1:])
        if version > key["latest"]:
            return 400, {"errors": ["invalid ciphertext: version is too new"]}
        if version < key["min_decryption"]:
            return 400, {"errors": ["ciphertext or signature version is disallowed by policy (too old)"]}
        raw = base64.b64decode(payload)
        aad = base64.b64decode(body.get("associated_data") or "")
        try:
            plaintext = AESGCM(key["versions"][version]).decrypt(raw[:12], raw[12:], aad)
        except Exception:
            return 400, {"errors": ["cipher: message authentication failed"]}
        return 200, {"data": {"plaintext": base64.b64encode(plaintext).decode()}}

    def _config(self, name: str, key: dict[str, Any], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        new_dec = int(body.get("min_decryption_version", key["min_decryption"]))
        new_enc = int(body.get("min_encryption_version", key["min_encryption"]))
        if new_dec > key["latest"] or new_enc > key["latest"]:
            return 400, {"errors": ["cannot set min version above latest key version"]}
        if new_enc > 0 and new_enc < new_dec:
            return 400, {"errors": ["min encryption version must be >= min decryption version"]}
        if key["min_available"] > new_dec or (key["min_available"] and key["min_available"] > new_enc):
            return 400, {"errors": ["min versions should not be less than min available version"]}
        key["min_decryption"], key["min_encryption"] = new_dec, new_enc
        return 200, {"data": self._info(name, key)}

    def _trim(self, name: str, key: dict[str, Any], min_available: int) -> tuple[int, dict[str, Any]]:
        problem = (
            "minimum available version cannot be decremented"
            if min_available < key["min_available"]
            else "minimum available version cannot be set when minimum encryption version is not set"
            if key["min_encryption"] == 0
            else "minimum available version cannot be greater than minimum encryption version"
            if min_available > key["min_encryption"]
            else "minimum available version cannot be greater than minimum decryption version"
            if min_available > key["min_decryption"]
            else ""
        )
        if problem:
            return 400, {"errors": [problem]}
        key["min_available"] = min_available
        key["versions"] = {v: k for v, k in key["versions"].items() if v >= min_available}
        return 200, {"data": self._info(name, key)}


@pytest.fixture
def token() -> str:
    return "hvs.canary-" + secrets.token_urlsafe(24)


@pytest.fixture
def vault(token: str) -> FakeTransit:
    fake = FakeTransit(token)
    fake.create_key("roots")
    return fake


@pytest.fixture
def provider(vault: FakeTransit, token: str, monkeypatch: pytest.MonkeyPatch) -> TransitKeyProvider:
    monkeypatch.setenv("VAULT_TOKEN", token)
    session = requests.Session()
    session.mount("https://", vault)
    return open_provider(URI, environment="prod", session=session)


def test_is_a_managed_provider_named_by_its_uri(provider: TransitKeyProvider, token: str) -> None:
    assert isinstance(provider, ManagedKeyProvider)
    assert provider.uri == URI
    assert provider.key_id == URI
    assert_not_leaked([token], provider)


def test_round_trip_under_the_latest_version(provider: TransitKeyProvider) -> None:
    key = os.urandom(32)
    version, blob = provider.wrap(key, b"env=prod;root=1")
    assert version == 1 == provider.current_version()
    assert blob.startswith(b"vault:v1:")
    assert key not in blob
    assert provider.unwrap(blob, 1, b"env=prod;root=1") == key


def test_context_is_bound(provider: TransitKeyProvider) -> None:
    key = os.urandom(32)
    _, blob = provider.wrap(key, b"env=prod")
    with pytest.raises(TamperedError):
        provider.unwrap(blob, 1, b"env=dev")
    with pytest.raises(TamperedError):
        provider.unwrap(blob, 2, b"env=prod")  # moved to another version
    edited = bytearray(blob)
    edited[-6] ^= 0x01 if edited[-6] != ord("A") else 0x02
    with pytest.raises(TamperedError):
        provider.unwrap(bytes(edited), 1, b"env=prod")
    with pytest.raises(TamperedError):
        provider.unwrap(b"\xff\x00 not a ciphertext", 1, b"env=prod")


def test_add_version_then_destroy_the_old_one(provider: TransitKeyProvider, vault: FakeTransit) -> None:
    key = os.urandom(32)
    _, old = provider.wrap(key, b"ctx")
    assert provider.add_version() == 2
    assert provider.versions() == [1, 2]
    version, new = provider.wrap(key, b"ctx")
    assert version == 2
    assert new.startswith(b"vault:v2:")
    assert provider.unwrap(old, 1, b"ctx") == key  # old versions still unwrap until destroyed

    with pytest.raises(KeyProviderError, match="it is current"):
        provider.destroy_version(2)
    provider.destroy_version(1)
    assert provider.versions() == [2]
    assert sorted(vault.keys["roots"]["versions"]) == [2]  # trimmed: the material is gone from the engine
    with pytest.raises(KeyProviderError) as caught:
        provider.unwrap(old, 1, b"ctx")
    assert URI in str(caught.value)
    assert provider.unwrap(new, 2, b"ctx") == key
    provider.destroy_version(1)  # already gone: a no-op


def test_destroying_out_of_order_is_refused(provider: TransitKeyProvider, vault: FakeTransit) -> None:
    provider.add_version()
    provider.add_version()
    with pytest.raises(KeyProviderError, match="version 1 still decrypts"):
        provider.destroy_version(2)
    assert sorted(vault.keys["roots"]["versions"]) == [1, 2, 3]
    provider.destroy_version(1)
    provider.destroy_version(2)
    assert provider.versions() == [3]


def test_another_process_rotating_is_seen_on_reload(provider: TransitKeyProvider, vault: FakeTransit) -> None:
    assert provider.current_version() == 1
    vault.keys["roots"]["latest"] = 2
    vault.keys["roots"]["versions"][2] = AESGCM.generate_key(bit_length=256)
    assert provider.current_version() == 1
    provider.reload()
    assert provider.current_version() == 2


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("wrong-token", "permission denied"),
        ("policy", "permission denied"),
        ("sealed", "sealed"),
        ("unreachable", "unreachable"),
        ("missing-key", "no such key"),
        ("rsa-key", "AEAD"),
    ],
)
def test_failures_name_the_provider_and_never_the_token(
    breakage: str, expected: str, vault: FakeTransit, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = os.urandom(32)
    monkeypatch.setenv("VAULT_TOKEN", token)
    session = requests.Session()
    session.mount("https://", vault)
    provider = open_provider(URI, environment="prod", session=session)
    _, blob = provider.wrap(key, b"ctx")
    if breakage == "wrong-token":
        vault.token = "hvs.other"  # noqa: S105 -- a wrong token, not a secret
    elif breakage == "policy":
        vault.denied = {"decrypt", "keys"}
    elif breakage == "sealed":
        vault.sealed = True
    elif breakage == "unreachable":
        vault.unreachable = True
    elif breakage == "missing-key":
        del vault.keys["roots"]
    else:
        vault.create_key("roots", "rsa-2048")
    fresh = open_provider(URI, environment="prod", session=session)
    errors = []
    for call in (provider.check, lambda: fresh.unwrap(blob, 1, b"ctx"), lambda: fresh.wrap(key, b"ctx")):
        with pytest.raises(KeyProviderError) as caught:
            call()
        errors.append(caught.value)
        message = str(caught.value)
        assert URI in message
        assert expected in " ".join(message.split())
        assert all(len(line) <= 80 for line in message.splitlines())
    assert_not_leaked([token, base64.b64encode(key).decode(), key.hex()], provider, *errors)


def test_token_file_and_missing_token(
    tmp_path: Path, vault: FakeTransit, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    with pytest.raises(KeyProviderError, match="VAULT_TOKEN") as caught:
        open_provider(URI, environment="prod")
    assert URI in str(caught.value)
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    session = requests.Session()
    session.mount("https://", vault)
    provider = open_provider(f"{URI}?token-file={token_file}", environment="prod", session=session)
    assert provider.uri == URI  # the query string is never shown
    provider.check()
    with pytest.raises(KeyProviderError, match="token file"):
        open_provider(f"{URI}?token-file={tmp_path / 'absent'}", environment="prod")


@pytest.mark.parametrize(
    "uri",
    [
        "transit:https://vault.example:8200/transit/roots",
        "transit:vault.example/transit/keys/roots",
        "transit:https://vault.example:8200/keys/roots",
        "transit:https://user:pw@vault.example:8200/transit/keys/roots",
        "transit:https://vault.example:8200/transit/keys/roots?tokn=x",
    ],
)
def test_malformed_uris_are_refused(uri: str, token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_TOKEN", token)
    with pytest.raises(KeyProviderError) as caught:
        open_provider(uri, environment="prod")
    assert "pw" not in str(caught.value)


def test_nested_mount_paths(token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_TOKEN", token)
    provider = open_provider("transit:https://vault.example/team/transit/keys/k?namespace=ns1", environment="prod")
    assert provider.uri == "transit:https://vault.example/team/transit/keys/k"


def test_provider_from_uri_opens_it_and_reports_an_unreachable_vault(
    token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"transit:http://127.0.0.1:{port}/transit/keys/roots"
    monkeypatch.setenv("VAULT_TOKEN", token)
    provider = provider_from_uri(uri, environment="dev", key_file=Path("unused"))
    assert isinstance(provider, TransitKeyProvider)
    assert isinstance(provider, ManagedKeyProvider)
    with pytest.raises(KeyProviderError, match="unreachable") as caught:
        provider.check()
    assert uri in str(caught.value)
    assert_not_leaked([token], provider, caught.value)


def test_destroy_never_lowers_an_operators_min_decryption_version(
    provider: TransitKeyProvider, vault: FakeTransit
) -> None:
    """Versions 1..3 with min_decryption_version 3 set by an operator: destroying 1 must not revive 2."""
    provider.add_version()
    provider.add_version()
    vault.keys["roots"]["min_decryption"] = 3
    provider.reload()
    assert provider.versions() == [3]
    provider.destroy_version(1)
    assert vault.keys["roots"]["min_decryption"] == 3
    assert provider.versions() == [3]
    assert sorted(vault.keys["roots"]["versions"]) == [2, 3]
