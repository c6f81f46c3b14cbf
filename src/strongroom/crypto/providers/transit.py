"""HashiCorp Vault / OpenBao transit as a key provider (``transit:``), through hvac (extra ``strongroom[vault]``).

URI: ``transit:https://vault.example:8200/transit/keys/<name>``. The mount path is the URL path before
``/keys/<name>`` (``transit`` here; nested mounts such as ``team/transit`` work). The token comes from
``VAULT_TOKEN``, or from the file ``?token-file=/path`` names (read once, when the provider opens); it is never
shown. ``?namespace=`` sets a Vault Enterprise namespace. TLS follows hvac: ``VAULT_CACERT`` / ``VAULT_CAPATH``.

Mapping (docs/providers/transit.md):

* versions are transit key versions: those at or above the key's ``min_decryption_version`` (older ones can
  no longer decrypt anything); the current version is ``latest_version``.
* ``wrap`` is ``transit/encrypt`` with the latest version and ``associated_data`` = context (AEAD key types
  only: ``aes256-gcm96``, ``aes128-gcm96``, ``chacha20-poly1305``; Vault 1.10+ / OpenBao). The wrapped blob is
  Vault's ciphertext string ``vault:vN:...`` as bytes; ``N`` is the version.
* ``unwrap`` is ``transit/decrypt`` with the same associated data, after checking that the blob's ``vN`` is the
  version asked for. Vault's "message authentication failed" is ``TamperedError``.
* ``add_version`` is ``transit/keys/<name>/rotate``.
* ``destroy_version(v)`` sets ``min_encryption_version`` to the latest version and ``min_decryption_version`` to
  ``v + 1`` (nothing under ``v`` decrypts from then on), then ``trim`` with ``min_available_version = v + 1``,
  which deletes versions up to ``v`` from Vault's storage. Transit trims only from the oldest end, so ``v`` must
  be the oldest live version: destroying a version while an older one can still decrypt is refused (destroy the
  older one first). Once trimmed the material is gone from Vault; backups of Vault's storage taken earlier (and
  ``transit/backup`` exports, if the key allows them) still hold it until they expire.

The token needs: ``read`` on ``<mount>/keys/<name>``, ``update`` on ``<mount>/encrypt/<name>`` and
``<mount>/decrypt/<name>``; for rotation and shredding also ``update`` on ``<mount>/keys/<name>/rotate``,
``<mount>/keys/<name>/config`` and ``<mount>/keys/<name>/trim``.

Test seam: ``open_provider(uri, environment=..., session=...)`` takes a ``requests.Session`` (hvac's own
``session=`` parameter); tests mount a transport adapter on it that answers in-process. hvac still builds every
request and maps every response.
"""

from __future__ import annotations

import base64
import importlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlsplit

from strongroom.crypto.providers.messages import provider_error, shown_uri
from strongroom.errors import TamperedError

SCHEME = "transit"
AEAD_TYPES = ("aes256-gcm96", "aes128-gcm96", "chacha20-poly1305")
CIPHERTEXT = re.compile(r"^vault:v([1-9][0-9]{0,9}):[A-Za-z0-9+/=]+$")
TOKEN_ENV = "VAULT_TOKEN"  # noqa: S105 -- the variable's name, not a token
TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class TransitAddress:
    """The non-secret parts of a ``transit:`` URI."""

    url: str  # scheme://host:port of Vault
    mount: str
    name: str
    namespace: str | None
    token_file: str | None

    @property
    def shown(self) -> str:
        return f"{SCHEME}:{self.url}/{self.mount}/keys/{self.name}"


def parse_uri(uri: str) -> TransitAddress:
    """Split a ``transit:`` URI; ``KeyProviderError`` naming the expected form if it is malformed."""
    shown = shown_uri(uri)
    form = "transit:https://vault.example:8200/transit/keys/<name>"
    if not uri.startswith(SCHEME + ":"):
        raise provider_error(shown, "is not a transit: URI", f"use {form}")
    url = urlsplit(uri[len(SCHEME) + 1 :])
    mount, sep, name = url.path.strip("/").rpartition("/keys/")
    if url.scheme not in ("http", "https") or not url.netloc or not sep or not mount or not name or "/" in name:
        raise provider_error(shown, "is not a transit key URI", f"use {form}")
    if "@" in url.netloc:
        raise provider_error(shown, "has credentials in its URL", f"remove them; set {TOKEN_ENV} or ?token-file=")
    query = parse_qs(url.query, keep_blank_values=True)
    unknown = set(query) - {"token-file", "namespace"}
    if unknown:
        raise provider_error(shown, f"has an unknown parameter {sorted(unknown)[0]!r}", "use token-file or namespace")
    return TransitAddress(
        url=f"{url.scheme}://{url.netloc}",
        mount=mount,
        name=name,
        namespace=query.get("namespace", [None])[-1] or None,
        token_file=query.get("token-file", [None])[-1] or None,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class _KeyState:
    latest: int
    min_decryption: int
    min_available: int
    present: tuple[int, ...]  # versions Vault still stores

    @property
    def live(self) -> list[int]:
        return [v for v in self.present if v >= self.min_decryption]


class TransitKeyProvider:
    """A transit key in Vault or OpenBao; its versions are the key's versions."""

    def __init__(self, address: TransitAddress, client: Any) -> None:
        self._address = address
        self._client = client  # hvac.Client; holds the token, so it is never shown
        self._state: _KeyState | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"TransitKeyProvider(uri={self.uri!r})"

    @property
    def uri(self) -> str:
        return self._address.shown

    @property
    def key_id(self) -> str:
        return self.uri

    # -- state --------------------------------------------------------------------------------------

    def _key_state(self) -> _KeyState:
        with self._lock:
            if self._state is None:
                self.reload()
            if self._state is None:  # pragma: no cover - reload() sets it or raises
                self._fail("has no state", "reload")
            return self._state

    def reload(self) -> None:
        data = self._call("read the key", lambda t: t.read_key(name=self._address.name, mount_point=self._mount))
        try:
            info = data["data"]
            key_type = str(info["type"])
            present = tuple(sorted(int(v) for v in info["keys"]))
            state = _KeyState(
                latest=int(info["latest_version"]),
                min_decryption=int(info.get("min_decryption_version") or 1),
                min_available=int(info.get("min_available_version") or 0),
                present=present,
            )
            derived = bool(info.get("derived"))
        except (KeyError, TypeError, ValueError):
            self._fail("answered reading the key with an unexpected shape", "check the URI names a transit key")
        if key_type not in AEAD_TYPES:
            self._fail(
                f"is a {key_type} key; wrapping needs an AEAD key",
                f"create one with type={AEAD_TYPES[0]}",
            )
        if derived:
            self._fail("is a derived key (it needs a derivation context)", "use a key created without derived=true")
        with self._lock:
            self._state = state

    @property
    def _mount(self) -> str:
        return self._address.mount

    def versions(self) -> list[int]:
        return self._key_state().live

    def current_version(self) -> int:
        return self._key_state().latest

    def check(self) -> None:
        self.reload()
        state = self._key_state()
        if state.latest not in state.present:
            self._fail(f"does not hold its latest version {state.latest}", "check the key in Vault")

    # -- wrap / unwrap ------------------------------------------------------------------------------

    def wrap(self, key: bytes, context: bytes) -> tuple[int, bytes]:
        self._key_state()  # refuses a key that cannot bind the context (once; reload() reads it again)
        data = self._call(
            "encrypt",
            lambda t: t.encrypt_data(
                name=self._address.name,
                plaintext=_b64(key),
                associated_data=_b64(context),
                mount_point=self._mount,
            ),
        )
        try:
            ciphertext = str(data["data"]["ciphertext"])
        except (KeyError, TypeError):
            self._fail("answered encrypt without a ciphertext", "check the Vault server")
        match = CIPHERTEXT.match(ciphertext)
        if match is None:
            self._fail("answered encrypt with a ciphertext of an unknown form", "check the Vault server")
        return int(match.group(1)), ciphertext.encode("ascii")

    def unwrap(self, wrapped: bytes, kek_version: int, context: bytes) -> bytes:
        try:
            ciphertext = wrapped.decode("ascii")
        except UnicodeDecodeError:
            raise TamperedError("a wrapped data key is not a transit ciphertext") from None
        match = CIPHERTEXT.match(ciphertext)
        if match is None:
            raise TamperedError("a wrapped data key is not a transit ciphertext")
        if int(match.group(1)) != kek_version:
            raise TamperedError(f"a wrapped data key is under transit version {match.group(1)}, not {kek_version}")
        self._key_state()
        data = self._call(
            "decrypt",
            lambda t: t.decrypt_data(
                name=self._address.name,
                ciphertext=ciphertext,
                associated_data=_b64(context),
                mount_point=self._mount,
            ),
            version=kek_version,
        )
        try:
            return base64.b64decode(data["data"]["plaintext"], validate=True)
        except (KeyError, TypeError, ValueError):
            self._fail("answered decrypt without a plaintext", "check the Vault server")

    # -- versions -----------------------------------------------------------------------------------

    def add_version(self) -> int:
        with self._lock:
            self._call("rotate the key", lambda t: t.rotate_key(name=self._address.name, mount_point=self._mount))
            self.reload()
            return self._key_state().latest

    def destroy_version(self, version: int) -> None:
        """Make ``version`` undecryptable at once (``min_decryption_version``) and delete it from Vault (trim).

        Transit trims from the oldest version up, so any older version must already be destroyed: otherwise
        this refuses. Destroying a version that is already gone is a no-op."""
        with self._lock:
            self.reload()
            state = self._key_state()
            if version == state.latest:
                self._fail(f"cannot destroy version {version}: it is current", "add a version first")
            if version > state.latest or version < 1:
                self._fail(f"has no version {version} (latest is {state.latest})", "name a version it holds")
            older = [v for v in state.live if v < version]
            if older:
                self._fail(
                    f"cannot destroy version {version}: transit trims only the oldest versions, "
                    f"and version {older[0]} still decrypts",
                    f"destroy version {older[0]} first",
                )
            if version < state.min_available:
                return
            name = self._address.name
            # two calls: hvac refuses min_encryption == min_decryption in one call, which Vault accepts
            self._call(
                "configure the key",
                lambda t: t.update_key_configuration(
                    name=name, min_encryption_version=state.latest, mount_point=self._mount
                ),
            )
            # never lowered: a higher min_decryption_version set by an operator stays
            min_decryption = max(version + 1, state.min_decryption)
            self._call(
                "configure the key",
                lambda t: t.update_key_configuration(
                    name=name, min_decryption_version=min_decryption, mount_point=self._mount
                ),
            )
            self._call(
                "trim the key",
                lambda t: t.trim_key(name=name, min_version=version + 1, mount_point=self._mount),
            )
            self.reload()

    # -- errors -------------------------------------------------------------------------------------

    def _fail(self, problem: str, fix: str) -> NoReturn:
        raise provider_error(self.uri, problem, fix)

    def _call(self, what: str, call: Any, *, version: int | None = None) -> Any:
        """``call(client.secrets.transit)``, mapping every failure to ``KeyProviderError`` or ``TamperedError``
        raised outside the ``except`` (so no hvac or requests object rides along as context)."""
        errors = importlib.import_module("hvac.exceptions")
        requests = importlib.import_module("requests")

        problem: tuple[str, str] | None = None
        tampered = False
        try:
            return call(self._client.secrets.transit)
        except errors.InvalidRequest as exc:
            message = " ".join(str(e) for e in (exc.errors or []))
            if "message authentication failed" in message or "invalid ciphertext" in message:
                tampered = True
            elif "not found" in message:
                problem = (
                    f"cannot {what}: no such key",
                    f"create it: vault write -f {self._mount}/keys/{self._address.name} type={AEAD_TYPES[0]}",
                )
            elif "too old" in message or "key version" in message:
                problem = (
                    f"cannot {what}: version {version} is destroyed or below min_decryption_version",
                    "rewrap with a live version; destroyed material cannot be recovered",
                )
            else:
                problem = (f"refused to {what} (HTTP 400)", "check the key's type and configuration")
        except (errors.Forbidden, errors.Unauthorized):
            problem = (
                f"refused to {what}: permission denied",
                f"check the token ({TOKEN_ENV} or token-file) and its policy on {self._mount}/",
            )
        except errors.InvalidPath:
            problem = (
                f"cannot {what}: no such key or mount (HTTP 404)",
                f"create it: vault write -f {self._mount}/keys/{self._address.name} type={AEAD_TYPES[0]}",
            )
        except errors.VaultDown:
            problem = (f"cannot {what}: Vault is sealed or down (HTTP 503)", "unseal Vault or retry later")
        except errors.VaultError as exc:
            problem = (f"cannot {what}: {type(exc).__name__}", "check the Vault server's logs")
        except (requests.ConnectionError, requests.Timeout) as exc:
            problem = (
                f"is unreachable ({type(exc).__name__})",
                f"check that Vault listens at {self._address.url} and the network path",
            )
        except requests.RequestException as exc:
            problem = (f"cannot {what}: {type(exc).__name__}", f"check the address {self._address.url}")
        if tampered or problem is None:
            raise TamperedError("a wrapped data key failed authentication (transit decrypt)")
        raise provider_error(self.uri, *problem)


def _token(address: TransitAddress) -> str:
    if address.token_file:
        path = Path(address.token_file)
        try:
            token = path.read_text().strip()
        except OSError as exc:
            problem = type(exc).__name__
        else:
            if token:
                return token
            problem = "empty"
        raise provider_error(address.shown, f"cannot use its token file ({problem})", f"write the token to {path}")
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise provider_error(
            address.shown, "has no Vault token", f"set {TOKEN_ENV} or add ?token-file=/path to the URI"
        )
    return token


def open_provider(uri: str, *, environment: str, session: Any = None) -> TransitKeyProvider:
    """The transit key ``uri`` names. Nothing is sent until the provider is first used.

    ``session``: a ``requests.Session`` hvac sends through (test seam: a session with an in-process adapter
    mounted; see the module docstring). ``environment`` is not part of a transit key: the context is.
    """
    hvac = importlib.import_module("hvac")
    address = parse_uri(uri)
    client = hvac.Client(
        url=address.url,
        token=_token(address),
        namespace=address.namespace,
        session=session,
        timeout=TIMEOUT_SECONDS,
    )
    return TransitKeyProvider(address, client)


__all__ = ["TransitAddress", "TransitKeyProvider", "open_provider", "parse_uri"]
