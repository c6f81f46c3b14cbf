"""The Azure Key Vault key provider: azure-keyvault-keys over a fake Key Vault at azure-core's transport seam.

No Key Vault emulator can be installed here, so ``FakeKeyVault`` below is a protocol double: an azure-core
``HttpTransport`` (the documented ``transport=`` parameter of every azure-core client) that answers in-process.
The SDK's whole pipeline runs for real over it: Key Vault's bearer-challenge authentication (an unauthenticated
request gets 401 with ``WWW-Authenticate: Bearer authorization=..., resource=...``, the SDK asks the credential
for a token and retries), request serialization, the CryptographyClient's local RSA-OAEP-256 wrap with the
downloaded public key, and error mapping. The double implements the documented keys REST methods the provider
calls (``GET keys/{name}/versions``, ``GET keys/{name}/{version}``, ``POST keys/{name}/create``, ``PATCH
keys/{name}/{version}``, ``POST .../wrapkey`` and ``.../unwrapkey``) with real RSA-OAEP-256
(``cryptography``), per-version ``enabled`` and ``tags``, and Key Vault's JSON error bodies (401, 403 with
``KeyDisabled`` / ``ForbiddenByPolicy``, 404 ``KeyNotFound``, 400 ``BadParameter``, 503). The credential is a
small ``TokenCredential`` handing out a fixed token. Not tested against a live Key Vault.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("azure.keyvault.keys")
from azure.core.credentials import AccessToken
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from strongroom.crypto.providers import ManagedKeyProvider
from strongroom.crypto.providers.azure_keyvault import AzureKeyVaultKeyProvider, open_provider
from strongroom.crypto.providers.uri import provider_from_uri
from strongroom.errors import KeyProviderError, TamperedError
from strongroom.testing import assert_not_leaked

VAULT = "https://strongroom-test.vault.azure.net"
URI = f"azure-keyvault:{VAULT}/keys/roots"
RESOURCE = "https://vault.azure.net"
OAEP_256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_RSA_POOL: list[rsa.RSAPrivateKey] = []
_RSA_NEXT = itertools.count()


def _rsa_key(size: int) -> rsa.RSAPrivateKey:
    """RSA keys from a small pool made once per module (generating one per version would dominate the run);
    consecutive versions still get different keys."""
    if not _RSA_POOL:
        _RSA_POOL.extend(rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(4))
    return _RSA_POOL[next(_RSA_NEXT) % len(_RSA_POOL)]


class StaticCredential:
    """A TokenCredential (azure-core's protocol) that hands out one token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


class InProcessResponse(HttpResponse):
    """A complete, already-read azure-core response."""

    def __init__(self, request: HttpRequest, status: int, body: dict[str, Any] | None, headers: dict[str, str]) -> None:
        self._request = request
        self._status = status
        self._content = json.dumps(body).encode() if body is not None else b""
        self._headers = {"Content-Type": "application/json; charset=utf-8", **headers}
        self._closed = False

    @property
    def request(self) -> HttpRequest:
        return self._request

    @property
    def status_code(self) -> int:
        return self._status

    @property
    def headers(self) -> Any:
        from azure.core.utils import case_insensitive_dict

        return case_insensitive_dict(self._headers)

    @property
    def reason(self) -> str:
        return {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(self._status, "Error")

    @property
    def content_type(self) -> str:
        return self._headers["Content-Type"]

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def is_stream_consumed(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return "utf-8"

    @encoding.setter
    def encoding(self, value: str) -> None:
        pass

    @property
    def url(self) -> str:
        return self._request.url

    @property
    def content(self) -> bytes:
        return self._content

    def text(self, encoding: str | None = None) -> str:
        return self._content.decode(encoding or "utf-8")

    def json(self) -> Any:
        return json.loads(self._content) if self._content else None

    def raise_for_status(self) -> None:
        from azure.core.exceptions import HttpResponseError

        if self._status >= 400:
            raise HttpResponseError(response=self)

    def read(self) -> bytes:
        return self._content

    def iter_raw(self, **_: Any) -> Iterator[bytes]:
        yield self._content

    def iter_bytes(self, **_: Any) -> Iterator[bytes]:
        yield self._content

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> InProcessResponse:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()


class FakeKeyVault(HttpTransport):
    """Key Vault's keys data plane for one vault, answering in-process."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.keys: dict[str, list[dict[str, Any]]] = {}  # name -> versions, oldest first
        self.denied: set[str] = set()  # operations the identity may not perform
        self.unavailable = False
        self.unreachable = False
        self.lock = threading.Lock()

    def create(self, name: str, kty: str = "RSA", tags: dict[str, str] | None = None, size: int = 2048) -> str:
        material: Any = _rsa_key(size) if kty.startswith("RSA") else os.urandom(32)
        version = uuid.uuid4().hex
        self.keys.setdefault(name, []).append(
            {
                "version": version,
                "kty": kty,
                "material": material,
                "enabled": True,
                "tags": dict(tags or {}),
                "created": int(time.time()) + len(self.keys.get(name, [])),
            }
        )
        return version

    # -- HttpTransport ------------------------------------------------------------------------------

    def __enter__(self) -> FakeKeyVault:
        return self

    def __exit__(self, *args: object) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def sleep(self, duration: float) -> None:
        pass  # retries back off instantly: nothing here waits on a clock

    def send(self, request: Any, **_: Any) -> InProcessResponse:
        if self.unreachable:
            raise ServiceRequestError("connection refused (fake)")
        with self.lock:
            status, body, headers = self._handle(request)
        return InProcessResponse(request, status, body, headers)

    # -- Key Vault ----------------------------------------------------------------------------------

    @staticmethod
    def _error(
        status: int, code: str, message: str, inner: str | None = None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        error: dict[str, Any] = {"code": code, "message": message}
        if inner:
            error["innererror"] = {"code": inner}
        return status, {"error": error}, {}

    def _bundle(self, name: str, entry: dict[str, Any]) -> dict[str, Any]:
        key: dict[str, Any] = {
            "kid": f"{VAULT}/keys/{name}/{entry['version']}",
            "kty": entry["kty"],
            "key_ops": ["wrapKey", "unwrapKey", "encrypt", "decrypt"],
        }
        if entry["kty"].startswith("RSA"):
            numbers = entry["material"].public_key().public_numbers()
            key["n"] = _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"))
            key["e"] = _b64url(numbers.e.to_bytes(3, "big"))
        return {"key": key, "attributes": self._attributes(entry), "tags": entry["tags"]}

    @staticmethod
    def _attributes(entry: dict[str, Any]) -> dict[str, Any]:
        return {
            "enabled": entry["enabled"],
            "created": entry["created"],
            "updated": entry["created"],
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
        }

    def _handle(self, request: Any) -> tuple[int, dict[str, Any] | None, dict[str, str]]:  # noqa: PLR0911, PLR0912
        url = urlsplit(request.url)
        if "api-version" not in parse_qs(url.query):
            return self._error(400, "BadParameter", "The request URI contains an invalid API version.")
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            resource = "https://managedhsm.azure.net" if url.hostname.endswith(".managedhsm.azure.net") else RESOURCE
            challenge = (
                f'Bearer authorization="https://login.microsoftonline.com/{uuid.UUID(int=7)}", resource="{resource}"'
            )
            status, body, _ = self._error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
            return status, body, {"WWW-Authenticate": challenge}
        if self.unavailable:
            return self._error(503, "ServiceUnavailable", "The service is temporarily unavailable.")
        parts = url.path.strip("/").split("/")  # keys/{name}[/{version}[/{op}]]
        if len(parts) < 2 or parts[0] != "keys":
            return self._error(404, "NotFound", "no such route")
        name = parts[1]
        versions = self.keys.get(name)
        method = request.method
        op = (
            "create"
            if parts[2:] == ["create"]
            else "list"
            if parts[2:] == ["versions"]
            else parts[3]
            if len(parts) == 4
            else "update"
            if method == "PATCH"
            else "get"
        )
        if op in self.denied:
            return self._error(
                403, "Forbidden", f"The user does not have keys {op} permission on key vault.", "ForbiddenByPolicy"
            )
        body = json.loads(request.content) if request.content else {}
        if op == "create":
            kty = body["kty"]
            version = self.create(name, kty=kty, tags=body.get("tags"), size=body.get("key_size") or 2048)
            entry = self.keys[name][-1]
            assert entry["version"] == version
            return 200, self._bundle(name, entry), {}
        if not versions:
            return self._error(404, "KeyNotFound", f"A key with (name/id) {name} was not found in this key vault.")
        if op == "list":
            items = [
                {"kid": f"{VAULT}/keys/{name}/{e['version']}", "attributes": self._attributes(e), "tags": e["tags"]}
                for e in versions
            ]
            return 200, {"value": items, "nextLink": None}, {}
        version_id = parts[2] if len(parts) > 2 else ""
        entry = next((e for e in versions if e["version"] == version_id), None) if version_id else versions[-1]
        if entry is None:
            return self._error(404, "KeyNotFound", f"A key with (name/id) {name}/{version_id} was not found.")
        if op == "update":
            if "attributes" in body and "enabled" in body["attributes"]:
                entry["enabled"] = bool(body["attributes"]["enabled"])
            if "tags" in body:
                entry["tags"] = dict(body["tags"])
            return 200, self._bundle(name, entry), {}
        if not entry["enabled"]:
            return self._error(403, "Forbidden", f"Operation {op} is not allowed on a disabled key.", "KeyDisabled")
        if op == "get":
            return 200, self._bundle(name, entry), {}
        if op in ("wrapkey", "unwrapkey"):
            return self._wrap(name, entry, op, body)
        return self._error(405, "MethodNotAllowed", "unsupported operation")

    def _wrap(
        self, name: str, entry: dict[str, Any], op: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        value = _unb64url(body["value"])
        material = entry["material"]
        try:
            if body["alg"] == "RSA-OAEP-256" and entry["kty"].startswith("RSA"):
                out = (
                    material.public_key().encrypt(value, OAEP_256)
                    if op == "wrapkey"
                    else material.decrypt(value, OAEP_256)
                )
            else:
                return self._error(400, "BadParameter", "Invalid algorithm for this key type.")
        except ValueError:
            return self._error(400, "BadParameter", "Bad Request: the ciphertext could not be decrypted.")
        return 200, {"kid": f"{VAULT}/keys/{name}/{entry['version']}", "value": _b64url(out)}, {}


@pytest.fixture
def token() -> str:
    return "eyJ0eXAiOiJKV1QiLCJjYW5hcnkiOi" + secrets.token_urlsafe(24)


@pytest.fixture
def vault(token: str) -> FakeKeyVault:
    fake = FakeKeyVault(token)
    fake.create("roots")  # created outside strongroom: untagged
    return fake


def _open(vault: FakeKeyVault, token: str, uri: str = URI) -> AzureKeyVaultKeyProvider:
    return open_provider(uri, environment="prod", credential=StaticCredential(token), transport=vault)


def test_is_a_managed_provider_named_by_its_uri(vault: FakeKeyVault, token: str) -> None:
    provider = _open(vault, token)
    assert isinstance(provider, ManagedKeyProvider)
    assert provider.uri == URI == provider.key_id
    assert_not_leaked([token], provider)


def test_round_trip_adopts_the_existing_key_as_version_1(vault: FakeKeyVault, token: str) -> None:
    provider = _open(vault, token)
    key = os.urandom(32)
    version, blob = provider.wrap(key, b"env=prod;root=1")
    assert version == 1 == provider.current_version()
    assert vault.keys["roots"][0]["tags"] == {"strongroom-version": "1"}
    assert key not in blob
    assert provider.unwrap(blob, 1, b"env=prod;root=1") == key
    assert _open(vault, token).unwrap(blob, 1, b"env=prod;root=1") == key  # another process


def test_context_and_version_are_bound(vault: FakeKeyVault, token: str) -> None:
    provider = _open(vault, token)
    key = os.urandom(32)
    _, blob = provider.wrap(key, b"env=prod")
    provider.add_version()
    with pytest.raises(TamperedError):
        provider.unwrap(blob, 1, b"env=dev")
    with pytest.raises(TamperedError):
        provider.unwrap(blob, 2, b"env=prod")  # claimed under another version: Key Vault refuses the KWK
    for index in (5, len(blob) - 1):  # in the wrapped KWK; in the GCM ciphertext
        edited = bytearray(blob)
        edited[index] ^= 0x01
        with pytest.raises(TamperedError):
            provider.unwrap(bytes(edited), 1, b"env=prod")
    with pytest.raises(TamperedError):
        provider.unwrap(blob[:40], 1, b"env=prod")
    assert provider.unwrap(blob, 1, b"env=prod") == key


def test_add_version_then_destroy_disables_the_old_one(vault: FakeKeyVault, token: str) -> None:
    provider = _open(vault, token)
    key = os.urandom(32)
    _, old = provider.wrap(key, b"ctx")
    assert provider.add_version() == 2
    assert provider.versions() == [1, 2]
    assert len(vault.keys["roots"]) == 2  # a new version of the same key
    assert vault.keys["roots"][1]["tags"] == {"strongroom-version": "2"}
    version, new = provider.wrap(key, b"ctx")
    assert version == 2
    assert provider.unwrap(old, 1, b"ctx") == key

    with pytest.raises(KeyProviderError, match="it is current"):
        provider.destroy_version(2)
    provider.destroy_version(1)
    assert provider.versions() == [2]
    assert vault.keys["roots"][0]["enabled"] is False
    for opener in (lambda: provider, lambda: _open(vault, token)):
        with pytest.raises(KeyProviderError, match="disabled") as caught:
            opener().unwrap(old, 1, b"ctx")
        assert URI in str(caught.value)
    assert provider.unwrap(new, 2, b"ctx") == key
    provider.destroy_version(1)  # already disabled: left as it is


def test_a_process_that_cached_the_version_is_refused_by_key_vault(vault: FakeKeyVault, token: str) -> None:
    """Disabled by another process: Key Vault itself refuses the version (403 KeyDisabled)."""
    provider = _open(vault, token)
    key = os.urandom(32)
    _, old = provider.wrap(key, b"ctx")
    other = _open(vault, token)
    other.add_version()
    other.destroy_version(1)
    with pytest.raises(KeyProviderError, match="disabled"):
        provider.unwrap(old, 1, b"ctx")
    provider.reload()
    assert provider.versions() == [2]


def test_managed_hsm_rsa_keys_work_and_oct_keys_are_refused(token: str) -> None:
    """RSA-HSM in a Managed HSM wraps as in a vault. An oct-HSM key is refused: the SDK would wrap locally under
    a random key (Key Vault never returns ``k``), which nothing could unwrap."""
    hsm = "https://strongroom-test.managedhsm.azure.net"
    fake = FakeKeyVault(token)
    fake.create("roots", kty="RSA-HSM", tags={"strongroom-version": "1"})
    fake.create("aes", kty="oct-HSM", tags={"strongroom-version": "1"})
    provider = open_provider(
        f"azure-keyvault:{hsm}/keys/roots", environment="prod", credential=StaticCredential(token), transport=fake
    )
    key = os.urandom(32)
    _, blob = provider.wrap(key, b"ctx")
    assert provider.unwrap(blob, 1, b"ctx") == key
    assert provider.add_version() == 2
    assert fake.keys["roots"][1]["kty"] == "RSA-HSM"
    oct_uri = f"azure-keyvault:{hsm}/keys/aes"
    oct_provider = open_provider(oct_uri, environment="prod", credential=StaticCredential(token), transport=fake)
    with pytest.raises(KeyProviderError, match="oct-HSM") as caught:
        oct_provider.wrap(key, b"ctx")
    assert oct_uri in str(caught.value)


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("wrong-token", "cannot authenticate"),
        ("policy", "permission denied"),
        ("disabled", "disabled"),
        ("unavailable", "unavailable"),
        ("unreachable", "unreachable"),
        ("missing", "does not exist"),
    ],
)
def test_failures_name_the_provider_and_never_the_token(
    breakage: str, expected: str, vault: FakeKeyVault, token: str
) -> None:
    provider = _open(vault, token)
    key = os.urandom(32)
    _, blob = provider.wrap(key, b"ctx")
    if breakage == "wrong-token":
        vault.token = "another-token"  # noqa: S105 -- a wrong token, not a secret
    elif breakage == "policy":
        vault.denied = {"unwrapkey", "list", "get"}
    elif breakage == "disabled":
        vault.keys["roots"][0]["enabled"] = False
    elif breakage == "unavailable":
        vault.unavailable = True
    elif breakage == "unreachable":
        vault.unreachable = True
    else:
        del vault.keys["roots"]
    fresh = _open(vault, token)
    calls = [provider.check, lambda: provider.unwrap(blob, 1, b"ctx"), lambda: fresh.wrap(key, b"ctx")]
    errors = []
    for call in calls:
        with pytest.raises(KeyProviderError) as caught:
            call()
        errors.append(caught.value)
        message = str(caught.value)
        assert URI in message
        assert expected in " ".join(message.split())
        assert all(len(line) <= 80 for line in message.splitlines())
    assert_not_leaked([token, base64.b64encode(key).decode(), key.hex()], provider, *errors)


@pytest.mark.parametrize(
    "uri",
    [
        "azure-keyvault:https://v.vault.azure.net/secrets/roots",
        "azure-keyvault:https://v.vault.azure.net/keys/roots/0123abcd",
        "azure-keyvault:http://v.vault.azure.net/keys/roots",
        "azure-keyvault:https://example.com/keys/roots",
        "azure-keyvault:https://v.vault.azure.net/keys/roots?sig=x",
    ],
)
def test_malformed_uris_are_refused(uri: str, token: str) -> None:
    with pytest.raises(KeyProviderError, match="azure-keyvault:") as caught:
        open_provider(uri, environment="prod", credential=StaticCredential(token))
    assert "sig=x" not in str(caught.value)


def test_provider_from_uri_opens_it_with_the_default_credential() -> None:
    """The default path: DefaultAzureCredential. Opening sends nothing (a first use would ask the credential)."""
    provider = provider_from_uri(URI, environment="dev", key_file=Path("unused"))
    assert isinstance(provider, AzureKeyVaultKeyProvider)
    assert isinstance(provider, ManagedKeyProvider)
    assert provider.uri == URI


def test_wrap_after_another_process_rotated_and_destroyed(vault: FakeKeyVault, token: str) -> None:
    """A cached current version that another process disabled is not wrapped under (nothing could unwrap it):
    Key Vault refuses it, and the provider reloads and wraps under the new current version."""
    provider = _open(vault, token)
    key = os.urandom(32)
    provider.wrap(key, b"ctx")
    other = _open(vault, token)
    other.add_version()
    other.destroy_version(1)
    version, blob = provider.wrap(key, b"ctx")
    assert version == 2
    assert other.unwrap(blob, 2, b"ctx") == key
