"""The ``pkcs11:`` key provider: provider keys (KEKs) generated and kept inside an HSM, used through PKCS#11.

URI (RFC 7512)::

    pkcs11:token=<token label>;object=<key label prefix>
        ?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/strongroom/hsm.pin

- ``token`` (required) is the token's label; ``serial=`` may be added to pick one of several tokens with
  the same label. ``object`` is the prefix of the key labels; it defaults to ``strongroom-<environment>``.
  ``type=``, when given, must be ``secret-key``. Values may be percent-encoded (``%2F`` for ``/``).
- ``module-path`` is the vendor's PKCS#11 library; default ``$STRONGROOM_PKCS11_MODULE``, else SoftHSM2's
  ``/usr/lib/softhsm/libsofthsm2.so``.
- ``pin-source`` (preferred) names a file holding the user PIN: ``file:/path``, ``file:///path`` or an
  absolute path. The file must not be readable by group or others (``chmod 600``); one trailing newline is
  ignored. ``pin-value=<PIN>`` is accepted, but it puts the PIN wherever the URI goes (environment, process
  listings, shell history): prefer ``pin-source``. The PIN is read once, when the provider is opened, and
  kept in memory: it is never in ``uri``, a ``repr``, an exception or a log.

Version ``N`` is the AES-256 secret key object labelled ``<object>/v<N>`` in the token, generated inside it
(``C_GenerateKey``) as a private, persistent token object with ``CKA_SENSITIVE`` true, ``CKA_EXTRACTABLE``
false and ``CKA_MODIFIABLE`` false, usable only to encrypt and decrypt: its bytes never leave the token.
The current version is the highest present. Opening a provider whose token holds no ``<object>/v*`` key yet
creates ``<object>/v1``. Each key gets a random ``CKA_ID``: if two processes add the same version at once,
the key with the lowest ``CKA_ID`` is that version everywhere, and the other process destroys its own key
and takes the next version.

``wrap`` is AES-GCM inside the token (``CKM_AES_GCM``): a fresh random 12-byte IV, ``context`` as the
additional authenticated data, a 128-bit tag; the wrapped bytes are ``iv || ciphertext || tag``. A blob that
does not authenticate (edited, or moved to another context or version) raises ``TamperedError``.

``destroy_version`` is ``C_DestroyObject`` on the version's key, at once: from then on, nothing it wrapped can
be unwrapped through this token. Copies of the token (HSM backups, replicas, cluster members, an exported
SoftHSM token directory) are the operator's to destroy.

Sessions: each provider opens one read/write session lazily and reuses it, behind a lock (the vault calls
from several threads); ``close()`` releases it. PKCS#11 login state belongs to the process, per token, so
providers of one process that use the same token share one login: the first logs in (``C_Login``), the last
to close logs out. A provider whose PIN differs from the PIN that process logged in with is refused, as the
token would refuse it. A session the token dropped (restart, removal) is reopened once per call. PKCS#11
state does not survive ``fork()``: open providers in the process that uses them.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar, cast
from urllib.parse import quote, unquote

import pkcs11
from pkcs11 import exceptions as ck
from pkcs11.constants import Attribute, MechanismFlag, ObjectClass
from pkcs11.mechanisms import GCMParams, KeyType, Mechanism
from pkcs11.types import DecryptMixin, EncryptMixin, SecretKey, Session, Token

from strongroom.crypto.providers.messages import provider_error, shown_uri
from strongroom.errors import KeyProviderError, TamperedError

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Pkcs11Library  # noqa: N812 -- a class, whatever its name

MODULE_ENV = "STRONGROOM_PKCS11_MODULE"
SOFTHSM2_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
IV_BYTES = 12
TAG_BITS = 128
KEY_BITS = 256
_CHECK_CONTEXT = b"strongroom pkcs11 check"
_ID_BYTES = 16
_MAX_ADD_ATTEMPTS = 8

T = TypeVar("T")

_PATH_ATTRIBUTES = ("token", "object", "serial", "type")
_QUERY_ATTRIBUTES = ("module-path", "pin-source", "pin-value")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")

# Errors after which the session (or the login it stood on) is gone: reconnect once and retry.
_SESSION_LOST: tuple[type[ck.PKCS11Error], ...] = (
    ck.SessionHandleInvalid,
    ck.SessionClosed,
    ck.UserNotLoggedIn,
    ck.DeviceRemoved,
    ck.TokenNotPresent,
)
# A key handle this session held was destroyed (by another process): re-list the keys once and retry.
_HANDLE_GONE: tuple[type[ck.PKCS11Error], ...] = (ck.ObjectHandleInvalid, ck.KeyHandleInvalid)
# How tokens answer a GCM tag that does not verify: SoftHSM2 says CKR_GENERAL_ERROR, the standard says
# CKR_ENCRYPTED_DATA_INVALID (v2.40) or CKR_AEAD_DECRYPT_FAILED (v3, unmapped by python-pkcs11).
_AUTH_FAILED: tuple[type[ck.PKCS11Error], ...] = (
    ck.GeneralError,
    ck.EncryptedDataInvalid,
    ck.EncryptedDataLenRange,
)
_CKR_NAMES: dict[type[ck.PKCS11Error], str] = {
    ck.PinIncorrect: "CKR_PIN_INCORRECT",
    ck.PinLocked: "CKR_PIN_LOCKED",
    ck.PinExpired: "CKR_PIN_EXPIRED",
    ck.PinLenRange: "CKR_PIN_LEN_RANGE",
    ck.PinInvalid: "CKR_PIN_INVALID",
    ck.UserPinNotInitialized: "CKR_USER_PIN_NOT_INITIALIZED",
    ck.TokenWriteProtected: "CKR_TOKEN_WRITE_PROTECTED",
    ck.MechanismInvalid: "CKR_MECHANISM_INVALID",
    ck.MechanismParamInvalid: "CKR_MECHANISM_PARAM_INVALID",
    ck.SessionCount: "CKR_SESSION_COUNT",
    ck.DeviceError: "CKR_DEVICE_ERROR",
    ck.DeviceMemory: "CKR_DEVICE_MEMORY",
    ck.GeneralError: "CKR_GENERAL_ERROR",
}


class _TokenKey(Protocol):
    """What this provider uses of an AES secret key object (python-pkcs11 types it as mixins)."""

    @property
    def label(self) -> str: ...

    def __getitem__(self, key: Attribute) -> Any: ...

    def encrypt(self, data: bytes, buffer_size: int = 8192, **kwargs: Any) -> Any: ...

    def decrypt(self, data: bytes, buffer_size: int = 8192, **kwargs: Any) -> Any: ...

    def destroy(self) -> None: ...


def _as_key(found: object) -> _TokenKey | None:
    if isinstance(found, SecretKey) and isinstance(found, EncryptMixin) and isinstance(found, DecryptMixin):
        return cast(_TokenKey, found)
    return None


def _ckr(exc: ck.PKCS11Error) -> str:
    """The name of what the token answered (never the exception's text)."""
    return _CKR_NAMES.get(type(exc), type(exc).__name__)


class _Pin:
    """The user PIN: shown as ``<pin>`` by repr and str, and never pickled."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<pin>"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a PIN is not pickled")


# -- the URI ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Pkcs11Uri:
    """A parsed ``pkcs11:`` URI. ``repr`` and ``shown`` carry no PIN."""

    token: str
    object: str
    serial: str | None
    module_path: str
    pin_source: Path | None
    pin_value: _Pin | None

    @property
    def shown(self) -> str:
        """The URI's path part, as errors show it."""
        text = f"pkcs11:token={_quote(self.token)};object={_quote(self.object)}"
        if self.serial is not None:
            text += f";serial={_quote(self.serial)}"
        return text

    @property
    def public(self) -> str:
        """The URI without the PIN: the path part and ``module-path``."""
        return f"{self.shown}?module-path={quote(self.module_path, safe='/')}"

    def __repr__(self) -> str:
        return f"Pkcs11Uri({self.public!r})"


def _quote(value: str) -> str:
    return quote(value, safe="-._~!$'()*+,=:@ ").replace(" ", "%20")


def _malformed(uri: str, problem: str) -> KeyProviderError:
    return provider_error(
        shown_uri(uri), f"malformed URI: {problem}", "write it as pkcs11:token=<label>?pin-source=file:/path/to/pin"
    )


def _attributes(uri: str, text: str, separator: str, allowed: tuple[str, ...], where: str) -> dict[str, str]:
    found: dict[str, str] = {}
    if not text:
        return found
    for part in text.split(separator):
        name, sep, raw = part.partition("=")
        if not sep or not name:
            raise _malformed(uri, f"{where} attribute {name or part!r} is not name=value")
        if _BAD_ESCAPE.search(raw):
            raise _malformed(uri, f"{where} attribute {name!r} has a bad %-escape")
        if name.startswith("x-"):  # RFC 7512 vendor attributes: not ours, ignored
            continue
        if name not in allowed:
            raise _malformed(
                uri, f"unsupported {where} attribute {name!r}; supported: " + ", ".join(allowed) + " (RFC 7512)"
            )
        if name in found:
            raise _malformed(uri, f"attribute {name!r} is repeated")
        try:
            found[name] = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise _malformed(uri, f"attribute {name!r} is not UTF-8 once %-decoded") from None
    return found


def _pin_path(uri: str, source: str) -> Path:
    if source.startswith("file://"):
        rest = source[len("file://") :]
        if rest.startswith("localhost/"):
            rest = rest[len("localhost") :]
        source = rest
    elif source.startswith("file:"):
        source = source[len("file:") :]
    elif ":" in source.split("/", 1)[0] or source.startswith("|"):
        raise _malformed(uri, "pin-source must be a file (file:/path/to/pin); no other source is supported")
    if not source.startswith("/"):
        raise _malformed(uri, "pin-source must be an absolute path, as in pin-source=file:/etc/hsm.pin")
    return Path(source)


def parse_uri(uri: str, *, environment: str) -> Pkcs11Uri:
    """Parse a ``pkcs11:`` URI (RFC 7512). Errors never show its query (where ``pin-value`` lives)."""
    scheme, sep, body = uri.partition(":")
    if scheme != "pkcs11" or not sep:
        raise _malformed(uri, "it does not start with pkcs11:")
    if "#" in body:
        raise _malformed(uri, "a fragment (#) is not allowed; %-encode a # in a value as %23")
    path, _, query = body.partition("?")
    attributes = _attributes(uri, path, ";", _PATH_ATTRIBUTES, "path")
    options = _attributes(uri, query, "&", _QUERY_ATTRIBUTES, "query")
    token = attributes.get("token", "")
    if not token:
        raise _malformed(uri, "token=<token label> is required")
    object_label = attributes.get("object", f"strongroom-{environment}")
    if not object_label:
        raise _malformed(uri, "object= is empty; give the key label prefix")
    if attributes.get("type", "secret-key") != "secret-key":
        raise _malformed(uri, "type= must be secret-key (the keys are AES secret keys)")
    serial = attributes.get("serial") or None
    module_path = options.get("module-path") or os.environ.get(MODULE_ENV) or SOFTHSM2_MODULE
    if "pin-source" in options and "pin-value" in options:
        raise _malformed(uri, "give pin-source or pin-value, not both")
    pin_source = _pin_path(uri, options["pin-source"]) if "pin-source" in options else None
    pin_value = _Pin(options["pin-value"]) if "pin-value" in options else None
    if pin_source is None and pin_value is None:
        raise _malformed(uri, "the token's user PIN is needed: add ?pin-source=file:/path/to/pin (0600)")
    if pin_value is not None and not pin_value.reveal():
        raise _malformed(uri, "pin-value is empty")
    return Pkcs11Uri(
        token=token,
        object=object_label,
        serial=serial,
        module_path=module_path,
        pin_source=pin_source,
        pin_value=pin_value,
    )


def _read_pin(parsed: Pkcs11Uri) -> _Pin:
    if parsed.pin_value is not None:
        return parsed.pin_value
    path = parsed.pin_source
    assert path is not None  # noqa: S101 -- parse_uri requires one of the two
    shown = parsed.shown
    try:
        info = path.stat()
    except FileNotFoundError:
        raise provider_error(
            shown, f"pin-source file {path} does not exist", "write the user PIN in it (mode 0600)"
        ) from None
    except OSError:
        raise provider_error(
            shown, f"pin-source file {path} cannot be read", "let this process's user read it (mode 0600)"
        ) from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise provider_error(
            shown,
            f"pin-source file {path} is accessible by group or others (mode {stat.S_IMODE(info.st_mode):04o})",
            f"run: chmod 600 {path}",
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        raise provider_error(
            shown, f"pin-source file {path} is not a readable UTF-8 file", "write the user PIN in it as UTF-8 text"
        ) from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise provider_error(shown, f"pin-source file {path} is empty", "write the user PIN in it")
    return _Pin(text)


# -- the module and the process's logins -------------------------------------------------------------------

_MODULES_LOCK = threading.Lock()


def _load_module(shown: str, module_path: str) -> Pkcs11Library:
    if not Path(module_path).is_file():
        raise provider_error(
            shown,
            f"the PKCS#11 module {module_path} does not exist",
            "install the HSM's PKCS#11 library (SoftHSM2: apt-get install softhsm2) "
            f"or name it with ?module-path= or {MODULE_ENV}",
        )
    with _MODULES_LOCK:  # pkcs11.lib() caches per path, but is not safe against two first calls at once
        try:
            return pkcs11.lib(module_path)
        except ck.PKCS11Error:
            raise provider_error(
                shown,
                f"{module_path} could not be loaded and initialised as a PKCS#11 module",
                "check module-path names the HSM vendor's PKCS#11 library",
            ) from None


@dataclass(eq=False)
class _Login:
    """One process's login to one token, shared by its providers (PKCS#11 login state is per process)."""

    session: Session | None  # the session C_Login ran on; None if someone else in this process logged in
    pin_digest: bytes = field(repr=False)
    users: int = 1


_LOGINS: dict[tuple[str, bytes, str], _Login] = {}
_LOGINS_LOCK = threading.Lock()
_DIGEST_KEY = os.urandom(32)  # PINs are compared as keyed digests; the key never leaves this process


def _pin_digest(pin: _Pin) -> bytes:
    return hmac.new(_DIGEST_KEY, pin.reveal().encode("utf-8"), hashlib.sha256).digest()


def _close_quietly(session: Session | None) -> None:
    if session is None:
        return
    with contextlib.suppress(ck.PKCS11Error):  # the session is already gone (the token restarted)
        session.close()


# -- the provider ----------------------------------------------------------------------------------------


class Pkcs11KeyProvider:
    """KEKs that live in a PKCS#11 token: ``<object>/v<N>`` AES-256 keys (see the module docstring)."""

    def __init__(self, location: Pkcs11Uri, pin: str) -> None:
        self._location = location
        self._pin = _Pin(pin)
        self._shown = location.shown
        self._uri = location.public
        self._key_id = f"pkcs11:{location.token}/{location.object}"
        self._lock = threading.Lock()
        self._session: Session | None = None
        self._login: tuple[tuple[str, bytes, str], _Login] | None = None
        self._keys: dict[int, _TokenKey] = {}

    def __repr__(self) -> str:
        return f"Pkcs11KeyProvider(uri={self._uri!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a PKCS#11 key provider holds a PIN and a session; it is not pickled")

    def __enter__(self) -> Pkcs11KeyProvider:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def uri(self) -> str:
        return self._uri

    # -- KeyProvider ----------------------------------------------------------------------------------

    def current_version(self) -> int:
        with self._lock:
            return self._run("find the current key", lambda _session: self._current()[0])

    def wrap(self, key: bytes, context: bytes) -> tuple[int, bytes]:
        iv = os.urandom(IV_BYTES)

        def wrap_in(_session: Session) -> tuple[int, bytes]:
            version, secret_key = self._current()
            sealed = secret_key.encrypt(key, mechanism=Mechanism.AES_GCM, mechanism_param=_gcm(iv, context))
            assert isinstance(sealed, bytes)  # noqa: S101 -- one-part encrypt returns bytes
            return version, iv + sealed

        with self._lock:
            return self._run("wrap a key", wrap_in)

    def unwrap(self, wrapped: bytes, kek_version: int, context: bytes) -> bytes:
        if len(wrapped) < IV_BYTES + TAG_BITS // 8:
            raise TamperedError("a wrapped data key is truncated")
        iv, sealed = wrapped[:IV_BYTES], wrapped[IV_BYTES:]

        def unwrap_in(session: Session) -> bytes | None:
            secret_key = self._keys.get(kek_version)
            if secret_key is None:  # another process may have added it since: look again before refusing
                self._keys = self._list_keys(session)
                secret_key = self._keys.get(kek_version)
            if secret_key is None:
                raise provider_error(
                    self._shown,
                    f"key {self._key_id} has no version {kek_version} (the token holds {sorted(self._keys)})",
                    "was the version destroyed before the keys it wrapped were rewrapped?",
                )
            try:
                plain = secret_key.decrypt(sealed, mechanism=Mechanism.AES_GCM, mechanism_param=_gcm(iv, context))
            except _AUTH_FAILED:
                # Make sure the token still answers, so an outage is not reported as tampering: this raises
                # a session-lost error (reconnect and retry) if the token is gone.
                _ = secret_key[Attribute.KEY_TYPE]
                return None
            assert isinstance(plain, bytes)  # noqa: S101 -- one-part decrypt returns bytes
            return plain

        with self._lock:
            plain = self._run("unwrap a key", unwrap_in)
        if plain is None:  # raised outside any except block: no PKCS#11 exception rides along as context
            raise TamperedError("a wrapped data key failed authentication")
        return plain

    # -- ManagedKeyProvider ---------------------------------------------------------------------------

    def versions(self) -> list[int]:
        with self._lock:
            return self._run("list the keys", lambda _session: sorted(self._keys))

    def add_version(self) -> int:
        with self._lock:
            return self._run("generate a key", self._add)

    def destroy_version(self, version: int) -> None:
        """Destroy ``<object>/v<version>`` in the token now (``C_DestroyObject``). Refuses the current version;
        a lower version no longer present is taken as already destroyed (no-op), so a shredding can be retried.
        Backups and replicas of the token are the operator's to destroy."""

        def destroy_in(session: Session) -> None:
            self._keys = self._list_keys(session)
            if not self._keys:
                raise self._no_key()
            current = max(self._keys)
            if version == current:
                raise provider_error(
                    self._shown,
                    f"refusing to destroy version {version}: it is the current version",
                    "add a version and rewrap its keys first",
                )
            if version not in self._keys:
                if version > current or version < 1:
                    raise provider_error(
                        self._shown,
                        f"key {self._key_id} has no version {version} (the token holds {sorted(self._keys)})",
                        "name a version the token holds",
                    )
                return
            for found in list(session.get_objects(self._label_template(version))):
                found.destroy()
            self._keys = self._list_keys(session)

        with self._lock:
            self._run(f"destroy version {version}", destroy_in)

    def reload(self) -> None:
        def relist(session: Session) -> None:
            self._keys = self._list_keys(session)

        with self._lock:
            self._run("list the keys", relist)

    def check(self) -> None:
        """Log in, find the current key and round-trip a wrap through it; ``KeyProviderError`` otherwise."""

        def check_in(session: Session) -> None:
            self._keys = self._list_keys(session)
            _, secret_key = self._current()
            iv = os.urandom(IV_BYTES)
            probe = os.urandom(32)
            sealed = secret_key.encrypt(probe, mechanism=Mechanism.AES_GCM, mechanism_param=_gcm(iv, _CHECK_CONTEXT))
            assert isinstance(sealed, bytes)  # noqa: S101 -- one-part encrypt returns bytes
            plain = secret_key.decrypt(sealed, mechanism=Mechanism.AES_GCM, mechanism_param=_gcm(iv, _CHECK_CONTEXT))
            if plain != probe:
                raise provider_error(self._shown, "the current key does not round-trip AES-GCM", "check the HSM")

        with self._lock:
            self._run("check the key", check_in)

    def close(self) -> None:
        """Close this provider's session (and log out of the token if no other provider of the process uses
        it). The provider reopens a session if it is used again."""
        with self._lock:
            self._disconnect()

    # -- opening -------------------------------------------------------------------------------------

    def ensure_key(self) -> None:
        """Connect, and create ``<object>/v1`` if the token holds no version yet."""

        def ensure_in(session: Session) -> None:
            if not self._keys:
                self._add(session)

        with self._lock:
            self._run("create the first key", ensure_in)

    # -- internals (the caller holds self._lock) --------------------------------------------------------

    def _no_key(self) -> KeyProviderError:
        return provider_error(
            self._shown,
            f"the token holds no key labelled {self._location.object}/v<N>",
            "open the provider once to create v1, or fix object= in the URI",
        )

    def _current(self) -> tuple[int, _TokenKey]:
        if not self._keys:
            raise self._no_key()
        version = max(self._keys)
        return version, self._keys[version]

    def _label(self, version: int) -> str:
        return f"{self._location.object}/v{version}"

    def _label_template(self, version: int) -> dict[Attribute, object]:
        return {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: self._label(version)}

    def _run(self, action: str, operation: Callable[[Session], T]) -> T:
        """Run ``operation`` on the session, reconnecting once if the token dropped it, and turn what the token
        answers into ``KeyProviderError`` naming the provider and the fix."""
        for attempt in (1, 2):
            try:
                session = self._connect()
                try:
                    return operation(session)
                except _HANDLE_GONE:
                    if attempt == 2:
                        raise
                    self._keys = self._list_keys(session)  # a key was destroyed meanwhile: look again
                    continue
            except _SESSION_LOST as exc:
                # The login went with the session (a logout, a restarted module or token): log in afresh.
                self._forget_login()
                self._disconnect()
                if attempt == 2:
                    raise provider_error(
                        self._shown,
                        f"could not {action}: the token stopped answering ({_ckr(exc)})",
                        "check the HSM is up and the token present",
                    ) from None
            except ck.PKCS11Error as exc:
                raise provider_error(
                    self._shown, f"could not {action}: the token answered {_ckr(exc)}", _fix_for(exc)
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _connect(self) -> Session:
        if self._session is not None:
            return self._session
        library = _load_module(self._shown, self._location.module_path)
        token = self._find_token(library)
        self._login = self._acquire_login(token)
        try:
            self._session = token.open(rw=True)  # inherits the process's login to the token
            self._keys = self._list_keys(self._session)
        except BaseException:
            self._disconnect()
            raise
        return self._session

    def _disconnect(self) -> None:
        session, self._session = self._session, None
        self._keys = {}
        _close_quietly(session)  # opened without a PIN: closing it does not log the process out
        login, self._login = self._login, None
        if login is not None:
            key, record = login
            with _LOGINS_LOCK:
                record.users -= 1
                if record.users > 0:
                    return
                current = _LOGINS.get(key)
                if current is record:
                    del _LOGINS[key]
                elif current is not None:
                    # A newer login replaced this forgotten one. C_Logout acts on the whole process, so closing
                    # the old login session would log the newer login out: leave it to C_Finalize.
                    return
            _close_quietly(record.session)  # the last user: C_Logout and close

    def _forget_login(self) -> None:
        """The process's login to the token is gone: the next connect of any provider logs in afresh."""
        if self._login is not None:
            key, record = self._login
            with _LOGINS_LOCK:
                if _LOGINS.get(key) is record:
                    del _LOGINS[key]

    def _find_token(self, library: Pkcs11Library) -> Token:
        location = self._location
        serial = location.serial.encode() if location.serial else None
        try:
            return library.get_token(token_label=location.token, token_serial=serial)
        except ck.NoSuchToken:
            try:
                present = sorted({token.label for token in library.get_tokens() if token.label})
            except ck.PKCS11Error:
                present = []
            shown = ", ".join(repr(label) for label in present[:8]) or "none"
            raise provider_error(
                self._shown,
                f"no token labelled {location.token!r} in {location.module_path} (tokens present: {shown})",
                "fix token= in the URI or initialise the token",
            ) from None
        except ck.MultipleTokensReturned:
            raise provider_error(
                self._shown, f"several tokens are labelled {location.token!r}", "add serial=<token serial> to the URI"
            ) from None

    def _acquire_login(self, token: Token) -> tuple[tuple[str, bytes, str], _Login]:
        key = (os.path.realpath(self._location.module_path), token.serial, token.label)
        digest = _pin_digest(self._pin)
        with _LOGINS_LOCK:
            record = _LOGINS.get(key)
            if record is not None:
                if not hmac.compare_digest(record.pin_digest, digest):
                    raise provider_error(
                        self._shown,
                        "the PIN is not the one this process is logged in to the token with (a wrong PIN)",
                        "fix the PIN in pin-source",
                    )
                record.users += 1
                return key, record
            refused: ck.PKCS11Error | None = None
            session: Session | None = None
            try:
                session = token.open(user_pin=self._pin.reveal())  # C_Login
            except ck.UserAlreadyLoggedIn:
                session = None  # logged in by other code of this process: that login serves every session
            except ck.PKCS11Error as exc:
                refused = exc
            if refused is None:
                record = _Login(session=session, pin_digest=digest, users=1)
                _LOGINS[key] = record
                return key, record
        if isinstance(refused, ck.PinIncorrect | ck.PinInvalid | ck.PinLenRange):
            raise provider_error(
                self._shown,
                f"the token refused the PIN ({_ckr(refused)})",
                "fix the PIN in pin-source; repeated wrong PINs can lock the token",
            )
        if isinstance(refused, ck.PinLocked):
            raise provider_error(
                self._shown, "the token's user PIN is locked (CKR_PIN_LOCKED)", "the security officer must unlock it"
            )
        raise provider_error(
            self._shown, f"could not log in to the token: it answered {_ckr(refused)}", _fix_for(refused)
        )

    def _list_keys(self, session: Session) -> dict[int, _TokenKey]:
        prefix = self._location.object + "/v"
        found: dict[int, list[_TokenKey]] = {}
        candidates = list(
            session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES})
        )
        for candidate in map(_as_key, candidates):
            if candidate is None:
                continue
            label = candidate.label or ""
            digits = label[len(prefix) :]
            if not label.startswith(prefix) or not (digits.isascii() and digits.isdigit()) or digits[0] == "0":
                continue
            found.setdefault(int(digits), []).append(candidate)
        return {version: min(keys, key=_key_id_of) for version, keys in found.items()}

    def _add(self, session: Session) -> int:
        """Generate the next version inside the token; if another process generated the same version at the same
        time, the key with the lowest CKA_ID keeps it and the other moves on to the next version."""
        for _ in range(_MAX_ADD_ATTEMPTS):
            self._keys = self._list_keys(session)
            version = max(self._keys, default=0) + 1
            own_id = os.urandom(_ID_BYTES)
            session.generate_key(
                KeyType.AES,
                KEY_BITS,
                id=own_id,
                label=self._label(version),
                store=True,
                capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
                template={
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.MODIFIABLE: False,
                },
            )
            same = [k for k in map(_as_key, session.get_objects(self._label_template(version))) if k is not None]
            winner = min(same, key=_key_id_of)
            if _key_id_of(winner) == own_id:
                self._keys = self._list_keys(session)
                return version
            for key in same:
                if _key_id_of(key) == own_id:
                    key.destroy()
        raise provider_error(
            self._shown,
            f"could not add a version after {_MAX_ADD_ATTEMPTS} attempts: others kept adding the same versions",
            "retry the rotation",
        )


def _key_id_of(key: _TokenKey) -> bytes:
    value = key[Attribute.ID]
    return bytes(value) if value is not None else b""


def _gcm(iv: bytes, context: bytes) -> GCMParams:
    return GCMParams(iv, bytes(context), TAG_BITS)


def _fix_for(exc: ck.PKCS11Error) -> str:
    if isinstance(exc, ck.TokenWriteProtected):
        return "the token is read-only: keys cannot be added or destroyed"
    if isinstance(exc, ck.MechanismInvalid | ck.MechanismParamInvalid):
        return "the token must support CKM_AES_GCM with a 12-byte IV"
    if isinstance(exc, ck.SessionCount):
        return "the token has no free session; close other applications' sessions"
    return "check the HSM and its logs"


def open_provider(uri: str, *, environment: str) -> Pkcs11KeyProvider:
    """The provider ``uri`` names, logged in and holding at least one key (``<object>/v1`` is generated in the
    token if it holds none yet)."""
    location = parse_uri(uri, environment=environment)
    pin = _read_pin(location)
    provider = Pkcs11KeyProvider(location, pin.reveal())
    try:
        provider.ensure_key()
    except BaseException:
        provider.close()
        raise
    return provider


__all__ = ["MODULE_ENV", "SOFTHSM2_MODULE", "Pkcs11KeyProvider", "Pkcs11Uri", "open_provider", "parse_uri"]
