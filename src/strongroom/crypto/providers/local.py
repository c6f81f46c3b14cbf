"""The default key provider: a versioned key file on disk, or ``STRONGROOM_MASTER_KEY`` for serverless.

Key file (JSON, mode 0600, refused if group or others can read it)::

    {"strongroom_keyfile": 1, "environment": "dev", "key_id": "local:<fingerprint>",
     "primary": 2, "keys": {"1": "<base64 32 bytes>", "2": "<base64 32 bytes>"}}

``STRONGROOM_MASTER_KEY`` holds either one base64 key (version 1) or ``1:<b64>,2:<b64>``; the highest
version is primary. The key id is a fingerprint of the lowest version (``STRONGROOM_MASTER_KEY_ID``
pins it), so the same keys give the same id in either form. The id names the keyring, not its bytes: the
database's key check values (docs/crypto.md, "Wrong keys") tell other material under the same id apart.

``add_version`` (``strongroom key rotate``) holds ``key_file_lock``, an ``flock`` on ``<key file>.lock``,
across the key file's read-modify-write, and replaces the file atomically.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.crypto.envelope import KEY_BYTES, NONCE_BYTES, new_key
from strongroom.crypto.keys import open_key, seal_key
from strongroom.errors import KeyProviderError, TamperedError
from strongroom.vocabulary import KEK_ENV, MASTER_KEY_ENV, MASTER_KEY_ID_ENV

if TYPE_CHECKING:
    from strongroom.crypto.providers import KeyProvider

KEYFILE_FORMAT = 1


def fingerprint(key: bytes) -> str:
    """A public identifier of a key: a domain-separated SHA-256, truncated."""
    return hashlib.sha256(b"strongroom kek fingerprint v1\x00" + key).hexdigest()[:16]


def _decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyProviderError(f"{where}: key is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise KeyProviderError(f"{where}: key must be {KEY_BYTES} bytes, got {len(key)}") from None
    return key


class LocalKeyProvider:
    """KEKs held in this process, loaded from a key file or the environment."""

    def __init__(
        self, keys: dict[int, bytes], *, primary: int | None = None, key_id: str | None = None, path: Path | None = None
    ) -> None:
        if not keys:
            raise KeyProviderError("a key provider needs at least one key")
        for version, key in keys.items():
            if len(key) != KEY_BYTES or version < 1:
                raise KeyProviderError(f"key version {version} must be a positive version of {KEY_BYTES} bytes")
        self._ciphers = {version: AESGCM(key) for version, key in keys.items()}
        # Public identifiers of the material, so add_version() can tell a key file replaced under it.
        self._fingerprints = {version: fingerprint(key) for version, key in keys.items()}
        self._primary = max(keys) if primary is None else primary
        if self._primary not in keys:
            raise KeyProviderError(f"primary key version {self._primary} is not in the keyring")
        self._key_id = key_id or "local:" + fingerprint(keys[min(keys)])
        self._path = path

    def __repr__(self) -> str:
        return f"LocalKeyProvider(key_id={self._key_id!r}, versions={sorted(self._ciphers)})"

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def path(self) -> Path | None:
        return self._path

    def versions(self) -> list[int]:
        return sorted(self._ciphers)

    def current_version(self) -> int:
        return self._primary

    def wrap(self, key: bytes, context: bytes) -> tuple[int, bytes]:
        return self._primary, seal_key(self._ciphers[self._primary], key, context)

    def unwrap(self, wrapped: bytes, kek_version: int, context: bytes) -> bytes:
        cipher = self._ciphers.get(kek_version)
        if len(wrapped) < NONCE_BYTES + 16:
            raise TamperedError("a wrapped data key is truncated") from None
        if cipher is None:
            raise KeyProviderError(
                f"key {self._key_id} has no version {kek_version} (have {self.versions()}): "
                "was an old key version removed before its data keys were rewrapped?"
            )
        return open_key(cipher, wrapped, context)

    # -- the lifecycle the vault drives (ManagedKeyProvider) --------------------------------------

    @property
    def uri(self) -> str:
        return f"file:{self._path}" if self._path is not None else f"env:{MASTER_KEY_ENV}"

    def check(self) -> None:
        if self._path is not None and not self._path.exists():
            raise KeyProviderError(f"key file {self._path} is gone: restore it from your backup")

    def reload(self) -> None:
        """Re-read the key file (another process added or destroyed a version); a no-op for the environment."""
        if self._path is None:
            return
        fresh = LocalKeyProvider.from_file(self._path)
        if fresh.key_id != self._key_id:
            raise KeyProviderError(f"key file {self._path} now holds key {fresh.key_id}, not {self._key_id}")
        changed = [v for v, f in fresh._fingerprints.items() if self._fingerprints.get(v, f) != f]
        if changed:
            raise KeyProviderError(f"key file {self._path}: version {changed[0]} changed under this process")
        self._ciphers, self._fingerprints, self._primary = fresh._ciphers, fresh._fingerprints, fresh._primary

    def destroy_version(self, version: int) -> None:
        """Remove ``version`` from the key file (under its lock, atomically). Copies and backups of the file
        still hold it: destroy those too (docs/crypto.md, "Shredding")."""
        if self._path is None:
            raise KeyProviderError(
                f"keys from {MASTER_KEY_ENV} cannot be destroyed in place: remove version {version} from it"
            )
        path = self._path
        with key_file_lock(path):
            doc, keys = self._read_locked(path)
            if version == int(doc["primary"]):
                raise KeyProviderError(f"key file {path}: version {version} is current; it cannot be destroyed")
            if version in keys:
                del keys[version]
                doc["keys"].pop(str(version), None)
                _replace_atomically(path, doc)
        self._ciphers.pop(version, None)
        self._fingerprints.pop(version, None)

    def _read_locked(self, path: Path) -> tuple[dict[str, Any], dict[int, bytes]]:
        """The key file as it is now (the caller holds its lock), checked to be this provider's keyring."""
        try:
            doc = json.loads(path.read_text())
            keys = {int(v): _decode_key(k, f"{path} version {v}") for v, k in doc["keys"].items()}
            file_key_id = str(doc["key_id"])
        except KeyProviderError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise KeyProviderError(f"{path} is not a readable strongroom key file") from None
        if file_key_id != self._key_id:
            raise KeyProviderError(
                f"key file {path} now holds key {file_key_id}, not {self._key_id}: it was replaced; not changed"
            )
        changed = [
            v for v, key in keys.items() if v in self._fingerprints and fingerprint(key) != self._fingerprints[v]
        ]
        if changed:
            raise KeyProviderError(f"key file {path}: version {changed[0]} is not the key this process loaded")
        return doc, keys

    # -- loading and creating -------------------------------------------------------------------

    @classmethod
    def from_env(cls, value: str, *, key_id: str | None = None) -> LocalKeyProvider:
        keys: dict[int, bytes] = {}
        parts = [p for p in value.split(",") if p.strip()]
        if not parts:
            raise KeyProviderError(f"{MASTER_KEY_ENV} is empty")
        for part in parts:
            version_text, sep, key_text = part.partition(":")
            if not sep:
                version_text, key_text = "1", part
            version_text = version_text.strip()
            if not (version_text.isascii() and version_text.isdigit()):
                raise KeyProviderError(f"{MASTER_KEY_ENV}: version must be a number, as in 1:<base64>")
            version = int(version_text)
            keys[version] = _decode_key(key_text, f"{MASTER_KEY_ENV} version {version}")
        return cls(keys, key_id=key_id)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, expected_environment: str | None = None) -> LocalKeyProvider:
        path = Path(path)
        try:
            info = path.stat()
        except FileNotFoundError:
            raise KeyProviderError(
                f"key file {path} does not exist: run `strongroom init` or set {MASTER_KEY_ENV}"
            ) from None
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyProviderError(
                f"key file {path} is accessible by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
                f"run: chmod 600 {path}"
            )
        try:
            doc = json.loads(path.read_text())
            if doc.get("strongroom_keyfile") != KEYFILE_FORMAT:
                raise KeyProviderError(f"{path} is not a strongroom key file (format {KEYFILE_FORMAT})")
            keys = {int(v): _decode_key(k, f"{path} version {v}") for v, k in doc["keys"].items()}
            if expected_environment is not None and doc.get("environment") != expected_environment:
                raise KeyProviderError(
                    f"key file {path} is for environment {doc.get('environment')!r}, not {expected_environment!r}"
                )
            return cls(keys, primary=int(doc["primary"]), key_id=str(doc["key_id"]), path=path)
        except KeyProviderError as exc:
            if str(path) in str(exc):
                raise
            raise KeyProviderError(f"key file {path}: {exc}") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise KeyProviderError(f"{path} is not a readable strongroom key file") from None

    @classmethod
    def create_file(cls, path: str | os.PathLike[str], environment: str) -> LocalKeyProvider:
        """Create a new key file with one fresh key; refuses to overwrite an existing one."""
        path = Path(path)
        key = new_key()
        key_id = "local:" + fingerprint(key)
        doc = {
            "strongroom_keyfile": KEYFILE_FORMAT,
            "environment": environment,
            "key_id": key_id,
            "primary": 1,
            "keys": {"1": base64.b64encode(key).decode()},
        }
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeyProviderError(f"key file {path} already exists; refusing to overwrite a key") from None
        with os.fdopen(fd, "w") as out:
            json.dump(doc, out, indent=2)
            out.write("\n")
        return cls({1: key}, key_id=key_id, path=path)

    def add_version(self, *, on_wait: Callable[[Path], object] | None = None) -> int:
        """Add a fresh KEK version to the key file and make it primary (old versions still unwrap).

        Concurrent rotations are serialised: the key file's lock (``key_file_lock``) is held from reading
        the file to replacing it (atomically: a 0600 temporary file, fsync, rename, fsync of the directory).
        ``on_wait(lock_path)`` is called if another process holds the lock, before waiting for it. The new
        version is one above the highest in the file *as read under the lock*, and this provider takes every
        version the file then holds, so a rotation that finished meanwhile is kept, never overwritten.
        """
        if self._path is None:
            raise KeyProviderError(f"keys from {MASTER_KEY_ENV} cannot be rotated in place: set a new value")
        path = self._path
        with key_file_lock(path, on_wait=on_wait):
            doc, keys = self._read_locked(path)
            version = max(keys) + 1
            key = new_key()
            keys[version] = key
            doc["keys"][str(version)] = base64.b64encode(key).decode()
            doc["primary"] = version
            _replace_atomically(path, doc)
        self._ciphers = {v: AESGCM(k) for v, k in keys.items()}
        self._fingerprints = {v: fingerprint(k) for v, k in keys.items()}
        self._primary = version
        return version


_registry = threading.Lock()
_thread_locks: dict[str, threading.RLock] = {}
_held: dict[str, int] = {}


@contextmanager
def key_file_lock(key_file: Path, *, on_wait: Callable[[Path], object] | None = None) -> Iterator[None]:
    """Hold the exclusive OS lock of a key file: ``flock`` on ``<key file>.lock`` (created 0600, never deleted:
    deleting a lock file races). ``on_wait(lock_path)`` is called before waiting for another process's lock.

    Re-entrant within a process (``key rotate`` holds it across the whole rotation, and ``add_version`` inside
    takes it again); threads of one process wait for each other. It serialises rotations on one machine:
    copies of a key file on other machines are not covered. On Windows there is no ``flock`` and no lock.
    """
    lock_path = key_file.with_name(key_file.name + ".lock")
    if sys.platform == "win32":  # pragma: no cover - documented: rotations are not serialised on Windows
        yield
        return
    import fcntl

    name = os.path.abspath(lock_path)
    with _registry:
        thread_lock = _thread_locks.setdefault(name, threading.RLock())
    with thread_lock:
        if _held.get(name):
            _held[name] += 1
            try:
                yield
            finally:
                _held[name] -= 1
            return
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait(lock_path)
                fcntl.flock(fd, fcntl.LOCK_EX)
            _held[name] = 1
            try:
                yield
            finally:
                _held[name] = 0
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _replace_atomically(path: Path, doc: object) -> None:
    """Write ``doc`` as JSON to ``path``: a 0600 temporary file beside it, fsync, rename, fsync the directory."""
    # mkstemp: a fresh 0600 file that no stale or planted temp file can stand in for.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(doc, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sys.platform != "win32":  # the rename itself survives a crash once the directory is synced
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def default_provider(key_file: Path, environment: str | None = None) -> KeyProvider:
    """The provider ``STRONGROOM_KEK`` names (a URI: ``strongroom.crypto.providers.uri``); else
    ``STRONGROOM_MASTER_KEY`` when set (serverless); else the environment's key file.

    ``STRONGROOM_MASTER_KEY_ID`` pins the key id, so version 1 can be dropped from the variable after
    a rotation (the id defaults to the fingerprint of the lowest version present).
    """
    uri = os.environ.get(KEK_ENV)
    if uri:
        from strongroom.crypto.providers.uri import provider_from_uri

        return provider_from_uri(uri, environment=environment or "dev", key_file=key_file)
    value = os.environ.get(MASTER_KEY_ENV)
    if value:
        return LocalKeyProvider.from_env(value, key_id=os.environ.get(MASTER_KEY_ID_ENV) or None)
    return LocalKeyProvider.from_file(key_file, expected_environment=environment)


__all__ = [
    "MASTER_KEY_ENV",
    "MASTER_KEY_ID_ENV",
    "LocalKeyProvider",
    "default_provider",
    "fingerprint",
    "key_file_lock",
]
