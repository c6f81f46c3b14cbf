"""Azure Key Vault (or Managed HSM) as a key provider (``azure-keyvault:``), through azure-keyvault-keys
(extra ``strongroom[azure-keys]``).

URI: ``azure-keyvault:https://<vault>.vault.azure.net/keys/<name>`` (or ``https://<hsm>.managedhsm.azure.net/
keys/<name>``). Credentials: ``azure.identity.DefaultAzureCredential`` (environment, workload identity, managed
identity, Azure CLI).

Binding the context. Key Vault's ``wrapKey`` / ``unwrapKey`` (RSA-OAEP-256 with the vault's RSA or RSA-HSM
key) take no associated data, so a wrapped key could be moved to another context
unnoticed. So each ``wrap`` draws a fresh random 32-byte key-wrapping key (KWK), wraps *the KWK* under the Key
Vault key, and seals the root key locally with AES-256-GCM under the KWK, with associated data
``b"strongroom azure-keyvault v1\\0" + version + b"\\0" + context``. Blob: 2-byte big-endian length of the
wrapped KWK, the wrapped KWK, the 12-byte nonce, the GCM ciphertext. The KWK exists only in memory for the
call; without Key Vault unwrapping it, the blob opens for no one.

Versions. Key Vault versions are opaque ids; strongroom's integer versions are the tag
``strongroom-version=N`` on each key version (listed with ``list_properties_of_key_versions``). A key with no
tagged version adopts its newest enabled version as version 1 (tagging it). Versions are the tagged, enabled
ones; the current version is the highest. ``add_version`` creates a new version of the same key (same type and
size), tagged ``N + 1``; a version created outside strongroom (untagged) is ignored.

Key types: RSA and RSA-HSM, in a vault or a Managed HSM. ``oct`` / ``oct-HSM`` keys are refused: azure-keyvault-keys
(4.11) performs a symmetric wrap locally once it has read the key, and as Key Vault never returns ``k`` it does so
under a random key of its own, so the blob could never be unwrapped.

Destroying. Key Vault cannot delete one version of a key: ``destroy_version`` *disables* the version
(``update_key_properties(enabled=False)``). It is unusable at once for every operation, but **the material
survives** until the whole key is deleted and purged, and anyone allowed ``keys/update`` can re-enable it. This
provider accepts that limit and says so; true shredding with Azure means a new key name per root generation:
point ``STRONGROOM_KEK`` at a new key, rewrap, then delete and purge the old key (docs/providers/azure-keyvault.md).

Permissions: keys ``get``, ``list``, ``wrapKey``, ``unwrapKey`` (role "Key Vault Crypto User" plus "Key Vault
Reader"); rotation and destroy also ``create`` and ``update`` ("Key Vault Crypto Officer").

Test seam: ``open_provider(uri, environment=..., credential=..., transport=...)``: an azure-core
``HttpTransport`` and a ``TokenCredential``; the SDK's pipeline (challenge authentication, serialization,
error mapping) runs for real over it.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.crypto.providers.messages import provider_error, shown_uri
from strongroom.errors import KeyProviderError, TamperedError

SCHEME = "azure-keyvault"
TAG = "strongroom-version"
AAD_LABEL = b"strongroom azure-keyvault v1\x00"
KWK_BYTES = 32
NONCE_BYTES = 12
HOSTS = (".vault.azure.net", ".managedhsm.azure.net", ".vault.azure.cn", ".vault.usgovcloudapi.net")
NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")


def parse_uri(uri: str) -> tuple[str, str]:
    """(vault URL, key name) of an ``azure-keyvault:`` URI."""
    rest = uri[len(SCHEME) + 1 :] if uri.startswith(SCHEME + ":") else ""
    url = urlsplit(rest)
    shown = shown_uri(uri)
    parts = url.path.strip("/").split("/")
    form = "azure-keyvault:https://<vault>.vault.azure.net/keys/<name>"
    if url.scheme != "https" or not url.hostname or len(parts) != 2 or parts[0] != "keys" or not NAME.match(parts[1]):
        raise provider_error(shown, "is not a Key Vault key URI", f"use {form} (no key version)")
    if url.query or url.username or url.password:
        raise provider_error(shown, "has parameters or credentials", "remove them")
    if not url.hostname.endswith(HOSTS):
        raise provider_error(shown, "is not a Key Vault host", f"use {form}")
    return f"https://{url.netloc}", parts[1]


def _aad(version: int, context: bytes) -> bytes:
    return AAD_LABEL + str(version).encode("ascii") + b"\x00" + context


def _tag_of(properties: Any) -> int | None:
    text = (properties.tags or {}).get(TAG, "")
    return int(text) if text.isascii() and text.isdigit() and int(text) > 0 else None


@dataclass
class _KeyState:
    ids: dict[int, str]  # strongroom version -> Key Vault version id (tagged versions only)
    enabled: dict[int, bool]
    key_type: str = ""
    key_size: int | None = None
    crypto: dict[str, Any] = field(default_factory=dict)  # version id -> CryptographyClient

    @property
    def live(self) -> list[int]:
        return sorted(v for v, on in self.enabled.items() if on)


class AzureKeyVaultKeyProvider:
    """A Key Vault key; strongroom's versions are its key versions tagged ``strongroom-version``."""

    def __init__(self, vault_url: str, name: str, client: Any) -> None:
        self._vault_url = vault_url
        self._name = name
        self._client = client  # azure.keyvault.keys.KeyClient (holds the credential: never shown)
        self._state: _KeyState | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"AzureKeyVaultKeyProvider(uri={self.uri!r})"

    @property
    def uri(self) -> str:
        return f"{SCHEME}:{self._vault_url}/keys/{self._name}"

    @property
    def key_id(self) -> str:
        return self.uri

    # -- state --------------------------------------------------------------------------------------

    def _key_state(self) -> _KeyState:
        with self._lock:
            if self._state is None:
                self.reload()
            state = self._state
        if state is None:  # pragma: no cover - reload() sets it or raises
            self._fail("has no state", "retry")
        return state

    def reload(self) -> None:
        listed = self._call("list the key's versions", lambda c: list(c.list_properties_of_key_versions(self._name)))
        if not listed:
            self._fail("has no versions", f"create the key: az keyvault key create --name {self._name}")
        ids: dict[int, str] = {}
        enabled: dict[int, bool] = {}
        for properties in listed:
            number = _tag_of(properties)
            if number is not None:
                ids[number] = str(properties.version)
                enabled[number] = bool(properties.enabled)
        if not ids:
            ids, enabled = self._adopt(listed)
        state = _KeyState(ids=ids, enabled=enabled)
        live = state.live
        if live:
            current = self._call("read the key", lambda c: c.get_key(self._name, ids[live[-1]]))
            state.key_type = str(getattr(current.key_type, "value", current.key_type))
            n = getattr(current.key, "n", None)
            state.key_size = len(n) * 8 if n else None
            if state.key_type in ("oct", "oct-HSM"):
                # azure-keyvault-keys (4.11) wraps a symmetric key locally when it has read the key, and with no
                # key material ("k" never leaves the HSM) it does so under a random key: nothing could unwrap it
                self._fail(
                    f"is an {state.key_type} key, which the Azure SDK cannot wrap with safely",
                    "use an RSA-HSM key (Managed HSM supports it) or an RSA key",
                )
            if self._algorithm(state) is None:
                self._fail(f"is a {state.key_type} key; wrapping needs an RSA key", "create an RSA key")
        with self._lock:
            old = self._state
            if old is not None:  # keep initialised crypto clients of versions that did not change
                state.crypto = {i: c for i, c in old.crypto.items() if i in ids.values()}
            self._state = state

    def _adopt(self, listed: list[Any]) -> tuple[dict[int, str], dict[int, bool]]:
        """Tag the newest enabled version as strongroom version 1 (a key created outside strongroom)."""
        candidates = [p for p in listed if p.enabled]
        if not candidates:
            self._fail("has no enabled version", "enable one, or create a new key")
        newest = max(candidates, key=lambda p: (p.created_on is not None, p.created_on))
        tags = {**(newest.tags or {}), TAG: "1"}
        self._call(
            "tag the key's version as strongroom version 1",
            lambda c: c.update_key_properties(self._name, newest.version, tags=tags),
        )
        return {1: str(newest.version)}, {1: True}

    @staticmethod
    def _algorithm(state: _KeyState) -> str | None:
        if state.key_type in ("RSA", "RSA-HSM"):
            return "RSA-OAEP-256"
        return None

    def versions(self) -> list[int]:
        return self._key_state().live

    def current_version(self) -> int:
        state = self._key_state()
        live = state.live
        if not live:
            self._fail(
                "has all its strongroom versions disabled" if state.ids else "has no strongroom version",
                f"enable a version tagged {TAG}",
            )
        return live[-1]

    def check(self) -> None:
        self.reload()
        self.current_version()

    def _crypto(self, version: int, *, fresh: bool = False) -> tuple[Any, Any]:
        state = self._key_state()
        version_id = state.ids.get(version)
        if version_id is None:
            self._fail(f"has no version {version} (have {state.live})", "rewrap with a live version")
        if not state.enabled.get(version):
            self._fail(
                f"cannot use version {version}: it is disabled (destroyed by strongroom)",
                "rewrap with a live version",
            )
        name = self._algorithm(state)
        if name is None:  # pragma: no cover - reload() refused the key
            self._fail("has no usable key type", "reload")
        algorithm = importlib.import_module("azure.keyvault.keys.crypto").KeyWrapAlgorithm(name)
        with self._lock:
            client = None if fresh else state.crypto.get(version_id)
            if client is None:
                client = self._client.get_cryptography_client(self._name, key_version=version_id)
                if not fresh:
                    state.crypto[version_id] = client
        return client, algorithm

    # -- wrap / unwrap ------------------------------------------------------------------------------

    def wrap(self, key: bytes, context: bytes) -> tuple[int, bytes]:
        """Wrap under the current version this provider knows; if Key Vault refuses it (another process rotated
        and disabled it), reload once and wrap under the new current version."""
        version = self.current_version()
        try:
            return self._wrap_under(version, key, context)
        except KeyProviderError:
            self.reload()
            if self.current_version() == version:
                raise
        return self._wrap_under(self.current_version(), key, context)

    def _wrap_under(self, version: int, key: bytes, context: bytes) -> tuple[int, bytes]:
        # A fresh CryptographyClient: it reads the version first, so a version disabled meanwhile is refused by
        # Key Vault (a cached client would wrap locally with the public key, under a version nothing can unwrap).
        crypto, algorithm = self._crypto(version, fresh=True)
        kwk = AESGCM.generate_key(bit_length=KWK_BYTES * 8)
        result = self._call("wrap", lambda _: crypto.wrap_key(algorithm, kwk))
        wrapped_kwk = bytes(result.encrypted_key)
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(kwk).encrypt(nonce, key, _aad(version, context))
        return version, len(wrapped_kwk).to_bytes(2, "big") + wrapped_kwk + nonce + sealed

    def unwrap(self, wrapped: bytes, kek_version: int, context: bytes) -> bytes:
        size = int.from_bytes(wrapped[:2], "big")
        if size == 0 or len(wrapped) < 2 + size + NONCE_BYTES + 16:
            raise TamperedError("a wrapped data key is truncated")
        wrapped_kwk = wrapped[2 : 2 + size]
        nonce = wrapped[2 + size : 2 + size + NONCE_BYTES]
        sealed = wrapped[2 + size + NONCE_BYTES :]
        crypto, algorithm = self._crypto(kek_version)
        result = self._call("unwrap", lambda _: crypto.unwrap_key(algorithm, wrapped_kwk), unwrapping=True)
        try:
            return AESGCM(bytes(result.key)).decrypt(nonce, sealed, _aad(kek_version, context))
        except (InvalidTag, ValueError):
            raise TamperedError("a wrapped data key failed authentication") from None

    # -- versions -----------------------------------------------------------------------------------

    def add_version(self) -> int:
        with self._lock:
            self.reload()
            state = self._key_state()
            version = max(state.ids, default=0) + 1
            tags = {TAG: str(version)}
            self._call(
                "create a version",
                lambda c: c.create_rsa_key(
                    self._name, size=state.key_size or 3072, hardware_protected=state.key_type == "RSA-HSM", tags=tags
                ),
            )
            self.reload()
            if version not in self._key_state().live:
                self._fail(f"did not list the new version {version}", "check the key's versions in the portal")
            return version

    def destroy_version(self, version: int) -> None:
        """Disable ``version`` (Key Vault cannot delete a single version): unusable at once, but its material
        survives until the whole key is deleted and purged. Refuses the current version; a version already
        disabled is left as it is."""
        with self._lock:
            self.reload()
            state = self._key_state()
            if version not in state.ids:
                self._fail(f"has no version {version}", "name a version the key holds")
            if state.live and version == state.live[-1]:
                self._fail(f"cannot destroy version {version}: it is current", "add a version first")
            if not state.enabled[version]:
                return
            version_id = state.ids[version]
            self._call(
                "disable the version",
                lambda c: c.update_key_properties(self._name, version_id, enabled=False),
            )
            self.reload()

    # -- errors -------------------------------------------------------------------------------------

    def _fail(self, problem: str, fix: str) -> NoReturn:
        raise provider_error(self.uri, problem, fix)

    def _call(self, what: str, call: Any, *, unwrapping: bool = False) -> Any:
        """``call(key_client)``, every failure mapped to ``KeyProviderError`` (or, for unwrap, a refused
        ciphertext to ``TamperedError``) raised outside the ``except``, so no SDK object rides along."""
        errors = importlib.import_module("azure.core.exceptions")
        problem: tuple[str, str] | None = None
        try:
            return call(self._client)
        except errors.ClientAuthenticationError as exc:
            problem = (
                f"cannot authenticate to Key Vault ({type(exc).__name__})",
                "check the Azure credential (DefaultAzureCredential: environment, managed identity, az login)",
            )
        except errors.ResourceNotFoundError:
            problem = (f"cannot {what}: the key does not exist", "check the vault URL and the key name")
        except errors.HttpResponseError as exc:
            status = exc.status_code or 0
            code = _error_code(exc)
            if status == 403 and ("disabled" in code.lower() or code == "KeyDisabled"):
                problem = (f"cannot {what}: the key version is disabled", "enable it, or rewrap with a live version")
            elif status == 403:
                problem = (
                    f"refused to {what}: permission denied (HTTP 403)",
                    "grant the identity the Key Vault Crypto User role (Crypto Officer to rotate)",
                )
            elif status == 400 and unwrapping:
                problem = None
            elif status >= 500 or status == 429:
                problem = (f"cannot {what}: Key Vault is unavailable (HTTP {status})", "retry later")
            else:
                problem = (f"cannot {what}: HTTP {status} {code}".rstrip(), "check the key and its type")
        except ValueError as exc:  # the SDK's own checks, e.g. a challenge for another resource than the vault
            problem = (f"cannot {what}: {type(exc).__name__} in the Key Vault client", "check the vault URL")
        except (errors.ServiceRequestError, errors.ServiceResponseError) as exc:
            problem = (
                f"is unreachable ({type(exc).__name__})",
                f"check the network path to {self._vault_url}",
            )
        if problem is None:
            raise TamperedError("a wrapped data key failed authentication (Key Vault unwrapKey)")
        raise provider_error(self.uri, *problem)


def _error_code(exc: Any) -> str:
    """Key Vault's error code (the inner one when there is one), or ''. Never the message."""
    try:
        body = exc.response.json()["error"]
        inner = body.get("innererror") or {}
        code = str(inner.get("code") or body.get("code") or "")
        message = str(body.get("message") or "")
    except Exception:
        return ""
    return code + (" (disabled)" if "disabled" in message.lower() else "")


def open_provider(
    uri: str, *, environment: str, credential: Any = None, transport: Any = None
) -> AzureKeyVaultKeyProvider:
    """The Key Vault key ``uri`` names. Nothing is sent until the provider is first used.

    ``credential``: an azure-core ``TokenCredential`` (default ``DefaultAzureCredential``). ``transport``: an
    azure-core ``HttpTransport`` (test seam: an in-process fake Key Vault). ``environment`` is not part of the
    key: the context bound to each wrap is.
    """
    vault_url, name = parse_uri(uri)
    keys = importlib.import_module("azure.keyvault.keys")
    if credential is None:
        identity = importlib.import_module("azure.identity")
        credential = identity.DefaultAzureCredential()
    options: dict[str, Any] = {"transport": transport} if transport is not None else {}
    client = keys.KeyClient(vault_url, credential, **options)
    return AzureKeyVaultKeyProvider(vault_url, name, client)


__all__ = ["AzureKeyVaultKeyProvider", "open_provider", "parse_uri"]
