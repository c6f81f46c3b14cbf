"""Google Cloud KMS as a key provider (``gcp-kms:``), through google-cloud-kms (extra ``strongroom[gcp-kms]``).

URI: ``gcp-kms:projects/P/locations/L/keyRings/R/cryptoKeys/K``; ``?endpoint=`` sets the API endpoint (a
private or regional endpoint, or ``http://127.0.0.1:PORT`` for a test server). Credentials are Application
Default Credentials. The client uses the REST transport (no gRPC channel).

Mapping (docs/providers/gcp-kms.md):

* versions are the key's ``ENABLED`` CryptoKeyVersions (their numeric ids); the current version is the
  key's primary.
* ``wrap`` is ``encrypt`` on the current version's resource name (the version is named explicitly, so the
  one returned is the one used: it is checked against the response's ``name``). The additional
  authenticated data is the context *and the version*: ``b"strongroom gcp-kms v1\\0" + version + b"\\0" +
  context``. Cloud KMS's ``decrypt`` picks the version from the ciphertext and does not say which one it
  used, so binding the version into the AAD is what makes a blob claimed under another version fail.
* ``unwrap`` is ``decrypt`` with that AAD; ``INVALID_ARGUMENT`` (wrong context, wrong version, edited
  blob) is ``TamperedError``.
* ``add_version`` is ``create_crypto_key_version`` then ``update_crypto_key_primary_version``.
* ``destroy_version`` is ``destroy_crypto_key_version``: the version is ``DESTROY_SCHEDULED`` at once and
  unusable from then on, but Cloud KMS destroys the material only after the key's
  ``destroy_scheduled_duration`` (30 days unless set when the key was created; at least 24 hours). Until then
  ``restore_crypto_key_version`` can bring it back; after it the material is gone for good.

IAM: ``cloudkms.cryptoKeys.get``, ``cloudkms.cryptoKeyVersions.list``, ``cloudkms.cryptoKeyVersions.useToEncrypt``
and ``useToDecrypt`` (``roles/cloudkms.cryptoKeyEncrypterDecrypter`` plus ``roles/cloudkms.viewer``); rotation and
shredding also need ``cloudkms.cryptoKeyVersions.create``, ``cloudkms.cryptoKeys.update`` and
``cloudkms.cryptoKeyVersions.destroy`` (``roles/cloudkms.admin``).

Test seam: ``open_provider(uri, environment=..., credentials=...)`` takes google-auth credentials (tests pass
``AnonymousCredentials`` and point ``?endpoint=`` at a loopback server speaking the KMS REST API); the SDK
builds, sends and maps every request for real.
"""

from __future__ import annotations

import importlib
import re
import threading
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import parse_qs

from strongroom.crypto.providers.messages import provider_error, shown_uri
from strongroom.errors import KeyProviderError, TamperedError

SCHEME = "gcp-kms"
KEY_NAME = re.compile(r"^projects/[^/?]+/locations/[^/?]+/keyRings/[^/?]+/cryptoKeys/[^/?]+$")
AAD_LABEL = b"strongroom gcp-kms v1\x00"
TIMEOUT_SECONDS = 10.0


def parse_uri(uri: str) -> tuple[str, str | None]:
    """(CryptoKey resource name, endpoint or None) of a ``gcp-kms:`` URI."""
    rest = uri[len(SCHEME) + 1 :] if uri.startswith(SCHEME + ":") else ""
    name, _, query = rest.partition("?")
    shown = shown_uri(uri)
    if not KEY_NAME.match(name):
        raise provider_error(
            shown, "is not a Cloud KMS key URI", "use gcp-kms:projects/P/locations/L/keyRings/R/cryptoKeys/K"
        )
    params = parse_qs(query, keep_blank_values=True)
    unknown = set(params) - {"endpoint"}
    if unknown:
        raise provider_error(shown, f"has an unknown parameter {sorted(unknown)[0]!r}", "use endpoint")
    endpoint = params.get("endpoint", [""])[-1] or None
    return name, endpoint


def _aad(version: int, context: bytes) -> bytes:
    return AAD_LABEL + str(version).encode("ascii") + b"\x00" + context


def _version_of(name: str) -> int | None:
    number = str(name).rsplit("/", 1)[-1]
    return int(number) if number.isascii() and number.isdigit() else None


@dataclass(frozen=True)
class _KeyState:
    primary: int | None
    enabled: tuple[int, ...]
    states: dict[int, str]


class GcpKmsKeyProvider:
    """A Cloud KMS symmetric CryptoKey; its versions are the key's CryptoKeyVersions."""

    def __init__(self, key_name: str, *, endpoint: str | None, credentials: Any = None) -> None:
        self._name = key_name
        self._endpoint = endpoint
        self._credentials = credentials
        self._client: Any = None
        self._state: _KeyState | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"GcpKmsKeyProvider(uri={self.uri!r})"

    @property
    def uri(self) -> str:
        return f"{SCHEME}:{self._name}"

    @property
    def key_id(self) -> str:
        return self.uri

    # -- client and state ---------------------------------------------------------------------------

    def _kms(self) -> Any:
        with self._lock:
            if self._client is None:
                kms = importlib.import_module("google.cloud.kms_v1")
                auth = importlib.import_module("google.auth.exceptions")
                options = {"api_endpoint": self._endpoint} if self._endpoint else None
                problem = ""
                try:
                    self._client = kms.KeyManagementServiceClient(
                        credentials=self._credentials, transport="rest", client_options=options
                    )
                except auth.DefaultCredentialsError:
                    problem = "has no usable Application Default Credentials"
                except auth.GoogleAuthError as exc:
                    problem = f"cannot load credentials ({type(exc).__name__})"
                if problem:
                    self._fail(problem, "run `gcloud auth application-default login` or use a service account")
            return self._client

    def _key_state(self) -> _KeyState:
        with self._lock:
            if self._state is None:
                self.reload()
            state = self._state
        if state is None:  # pragma: no cover - reload() sets it or raises
            self._fail("has no state", "retry")
        return state

    def reload(self) -> None:
        key = self._call("read the key", lambda c: c.get_crypto_key(name=self._name, **self._opts))
        pages = self._call(
            "list the key's versions",
            lambda c: list(c.list_crypto_key_versions(parent=self._name, **self._opts)),
        )
        purpose = getattr(key.purpose, "name", str(key.purpose))
        if purpose != "ENCRYPT_DECRYPT":
            self._fail(f"is a {purpose} key; wrapping needs a symmetric key", "use purpose ENCRYPT_DECRYPT")
        states: dict[int, str] = {}
        for version in pages:
            number = _version_of(version.name)
            if number is not None:
                states[number] = getattr(version.state, "name", str(version.state))
        primary = _version_of(key.primary.name) if "primary" in key and key.primary.name else None
        enabled = tuple(sorted(v for v, s in states.items() if s == "ENABLED"))
        with self._lock:
            self._state = _KeyState(primary=primary, enabled=enabled, states=states)

    @property
    def _opts(self) -> dict[str, Any]:
        return {"retry": None, "timeout": TIMEOUT_SECONDS}

    def versions(self) -> list[int]:
        return list(self._key_state().enabled)

    def current_version(self) -> int:
        state = self._key_state()
        if state.primary is None or state.primary not in state.enabled:
            which = (
                "has no primary version"
                if state.primary is None
                else f"has its primary version {state.primary} {state.states.get(state.primary, 'missing')}"
                " (disabled or destroyed)"
            )
            self._fail(which, "enable a version and make it primary (gcloud kms keys set-primary-version)")
        return state.primary

    def check(self) -> None:
        self.reload()
        self.current_version()

    # -- wrap / unwrap ------------------------------------------------------------------------------

    def wrap(self, key: bytes, context: bytes) -> tuple[int, bytes]:
        """Wrap under the primary version this provider knows; if Cloud KMS refuses it (another process
        rotated and destroyed it), reload once and wrap under the new primary."""
        version = self.current_version()
        try:
            return self._wrap_under(version, key, context)
        except KeyProviderError:
            self.reload()
            if self.current_version() == version:
                raise
        return self._wrap_under(self.current_version(), key, context)

    def _wrap_under(self, version: int, key: bytes, context: bytes) -> tuple[int, bytes]:
        response = self._call(
            "encrypt",
            lambda c: c.encrypt(
                request={
                    "name": f"{self._name}/cryptoKeyVersions/{version}",
                    "plaintext": key,
                    "additional_authenticated_data": _aad(version, context),
                },
                **self._opts,
            ),
            version=version,
        )
        if _version_of(response.name) != version:
            self._fail("answered encrypt under another version than asked", "check the KMS endpoint")
        return version, bytes(response.ciphertext)

    def unwrap(self, wrapped: bytes, kek_version: int, context: bytes) -> bytes:
        if not wrapped:
            raise TamperedError("a wrapped data key is empty")
        response = self._call(
            "decrypt",
            lambda c: c.decrypt(
                request={
                    "name": self._name,
                    "ciphertext": wrapped,
                    "additional_authenticated_data": _aad(kek_version, context),
                },
                **self._opts,
            ),
            version=kek_version,
        )
        return bytes(response.plaintext)

    # -- versions -----------------------------------------------------------------------------------

    def add_version(self) -> int:
        with self._lock:
            created = self._call(
                "create a version",
                lambda c: c.create_crypto_key_version(parent=self._name, crypto_key_version={}, **self._opts),
            )
            version = _version_of(created.name)
            if version is None:
                self._fail("answered create with an unexpected version name", "check the KMS endpoint")
            state = getattr(created.state, "name", str(created.state))
            if state != "ENABLED":
                # PENDING_GENERATION (HSM, external keys): it cannot be primary until it is generated
                self._fail(
                    f"created version {version} in state {state}",
                    f"make it primary once it is ENABLED: gcloud kms keys set-primary-version --version {version}",
                )
            self._call(
                "make the new version primary",
                lambda c: c.update_crypto_key_primary_version(
                    name=self._name, crypto_key_version_id=str(version), **self._opts
                ),
            )
            self.reload()
            return version

    def destroy_version(self, version: int) -> None:
        """Schedule ``version`` for destruction: unusable at once (``DESTROY_SCHEDULED``), its material destroyed
        by Cloud KMS after the key's ``destroy_scheduled_duration`` (30 days by default). Refuses the primary.
        A version already scheduled or destroyed is left as it is."""
        with self._lock:
            self.reload()
            state = self._key_state()
            if version == state.primary:
                self._fail(f"cannot destroy version {version}: it is current", "add a version first")
            if version not in state.states:
                self._fail(f"has no version {version}", "name a version the key holds")
            if state.states[version] in ("DESTROY_SCHEDULED", "DESTROYED"):
                return
            self._call(
                "destroy the version",
                lambda c: c.destroy_crypto_key_version(name=f"{self._name}/cryptoKeyVersions/{version}", **self._opts),
                version=version,
            )
            self.reload()

    # -- errors -------------------------------------------------------------------------------------

    def _fail(self, problem: str, fix: str) -> NoReturn:
        raise provider_error(self.uri, problem, fix)

    def _call(self, what: str, call: Any, *, version: int | None = None) -> Any:
        """``call(client)``, every failure mapped to ``KeyProviderError`` (or, for decrypt, ``TamperedError``)
        raised outside the ``except``, so no SDK object rides along as context."""
        client = self._kms()
        api = importlib.import_module("google.api_core.exceptions")
        auth = importlib.import_module("google.auth.exceptions")
        requests = importlib.import_module("requests")
        problem: tuple[str, str]
        try:
            return call(client)
        except api.GoogleAPICallError as exc:
            status = _status(exc)
            if what == "decrypt" and status == "INVALID_ARGUMENT":
                problem = ("", "")
            else:
                problem = self._explain_status(what, status, exc, version)
        except (requests.ConnectionError, requests.Timeout, auth.TransportError) as exc:
            problem = (
                f"is unreachable ({type(exc).__name__})",
                "check the network path to Cloud KMS (or the endpoint parameter)",
            )
        except auth.GoogleAuthError as exc:
            problem = (
                f"cannot get an access token ({type(exc).__name__})",
                "check the credentials (Application Default Credentials)",
            )
        if problem == ("", ""):
            raise TamperedError("a wrapped data key failed authentication (Cloud KMS decrypt)")
        raise provider_error(self.uri, *problem)

    def _explain_status(self, what: str, status: str, exc: Any, version: int | None) -> tuple[str, str]:
        code = f"{status or type(exc).__name__}"
        if status == "PERMISSION_DENIED" or exc.code in (401, 403):
            return (
                f"refused to {what}: permission denied ({code})",
                "grant the caller roles/cloudkms.cryptoKeyEncrypterDecrypter on the key "
                "(and roles/cloudkms.admin to rotate)",
            )
        if status == "NOT_FOUND" or exc.code == 404:
            return (f"cannot {what}: the key does not exist ({code})", "check the project, location, ring and key")
        if status == "FAILED_PRECONDITION":
            which = f"version {version}" if version is not None else "the key's version"
            return (
                f"cannot {what}: {which} is disabled or destroyed ({code})",
                "enable the version, or rewrap with a live one; destroyed material is gone",
            )
        if status in ("UNAVAILABLE", "DEADLINE_EXCEEDED") or (isinstance(exc.code, int) and exc.code >= 500):
            return (f"cannot {what}: Cloud KMS is unavailable ({code})", "retry later")
        return (f"cannot {what}: {code}", "check the key and the request")


def _status(exc: Any) -> str:
    """The google.rpc status name of an API error: from the gRPC code, else the REST error body."""
    grpc_code = getattr(exc, "grpc_status_code", None)
    if grpc_code is not None:
        return str(getattr(grpc_code, "name", grpc_code))
    response = getattr(exc, "response", None)
    try:
        return str(response.json()["error"]["status"])  # type: ignore[union-attr]
    except Exception:
        return ""


def open_provider(uri: str, *, environment: str, credentials: Any = None) -> GcpKmsKeyProvider:
    """The Cloud KMS key ``uri`` names. Nothing is sent until the provider is first used.

    ``credentials``: google-auth credentials (default: Application Default Credentials); the test seam passes
    ``AnonymousCredentials`` with a loopback ``?endpoint=``. ``environment`` is not part of a KMS key: the
    context bound to each wrap is.
    """
    name, endpoint = parse_uri(uri)
    return GcpKmsKeyProvider(name, endpoint=endpoint, credentials=credentials)


__all__ = ["GcpKmsKeyProvider", "open_provider", "parse_uri"]
