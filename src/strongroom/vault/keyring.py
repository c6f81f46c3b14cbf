"""An environment's root keys, in memory: they wrap its data keys, and the key provider wraps them.

The hierarchy (docs/crypto.md, "Key hierarchy") is provider key -> root key -> data key -> value. Root keys are
random 256-bit keys stored in ``root_keys`` only as the provider wrapped them; a process unwraps each once
and keeps the cipher. Wrapping a data key is then one local AES-GCM, whatever the provider (a KMS or an HSM
is called once per root version per process, not per tenant).

Running processes learn rotations from the database, with no restart:

- a data key under a root version this process has not loaded: the version is read from ``root_keys`` and
  unwrapped (the provider is reloaded first if it lacks the provider version: a key file another process
  rotated);
- a new data key is wrapped under the root the write's own transaction reads as primary, held FOR SHARE
  (PostgreSQL) until it commits, so a rotation can neither demote nor retire it under the writer;
- a root retired after this process read a data key row under it: the row was rewrapped first, so the
  caller reads it again (``RootKeyGone``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.crypto import KeyProvider
from strongroom.crypto.envelope import new_key
from strongroom.crypto.keys import open_key, root_context, seal_key
from strongroom.errors import KeyProviderError, StrongroomError, TamperedError, WrongKeyError
from strongroom.store import RootKeyRecord, Tx
from strongroom.vocabulary import RootState

ROOT_RECHECK_SECONDS = 5.0
"""How long a process trusts a root key it loaded before reading its row again: a root retired by another
process (a shred) stops unwrapping here within this time; in the retiring process, at once."""


class RootKeyGone(StrongroomError):
    """The root key a data key row named is retired: the row was rewrapped since it was read."""


class _VersionTaken(KeyProviderError):
    """Another process inserted this root version first."""

    def __init__(self, version: int) -> None:
        super().__init__(f"another process added root key v{version} meanwhile; run the command again")


class Keyring:
    """The root keys of one environment that this process has unwrapped, by version."""

    def __init__(
        self,
        provider: KeyProvider,
        environment: str,
        read: Callable[[], AbstractContextManager[Tx]],
        clock: Callable[[], float],
    ) -> None:
        self._provider = provider
        self._environment = environment
        self._read = read
        self._clock = clock
        # version -> (cipher, the provider-wrapped root it came from, when its row was last read). The wrapped
        # bytes tell a cached cipher from another root of the same version (one this process added in a
        # transaction that rolled back while another process's root took the number); the time makes a root
        # that another process retired stop unwrapping here (data keys restored from a dump after a shred).
        self._ciphers: dict[int, tuple[AESGCM, bytes, float]] = {}
        self._lock = threading.Lock()

    @property
    def provider(self) -> KeyProvider:
        return self._provider

    def use_provider(self, provider: KeyProvider) -> None:
        """Switch to another provider (``key migrate``); the root keys already unwrapped stay."""
        self._provider = provider

    def forget(self) -> None:
        with self._lock:
            self._ciphers.clear()

    # -- writing ----------------------------------------------------------------------------------

    def ensure_primary(self, tx: Tx) -> RootKeyRecord:
        """The primary root key, held FOR SHARE by ``tx``; created (version 1) if the environment has none."""
        for attempt in range(3):  # a rotation promoting, or another process creating the first root, meanwhile
            row = tx.root_key_in(self._environment, RootState.PRIMARY, share_lock=True)
            if row is not None:
                return row
            if attempt == 0 and not any(r.state != RootState.RETIRED for r in tx.root_keys(self._environment)):
                try:
                    self.add(tx, RootState.PRIMARY)
                except _VersionTaken:
                    continue  # another process's first root committed: read it
        raise KeyProviderError(
            f"environment {self._environment!r} has root keys but none is primary: "
            "an interrupted `strongroom key rotate`; run it again"
        )

    def add(self, tx: Tx, state: RootState) -> RootKeyRecord:
        """A new root key (the next version), wrapped by the provider's current version, inserted in ``state``."""
        versions = [r.version for r in tx.root_keys(self._environment)]
        version = max(versions, default=0) + 1
        key = new_key()
        provider_id = self._provider.key_id
        provider_version, wrapped = self._provider.wrap(key, root_context(self._environment, provider_id, version))
        record = RootKeyRecord(
            environment=self._environment,
            version=version,
            state=state,
            provider_id=provider_id,
            provider_version=provider_version,
            wrapped=wrapped,
            created_at=self._clock(),
            retired_at=None,
        )
        if not tx.insert_root_key(record):
            raise _VersionTaken(version)
        with self._lock:
            self._ciphers[version] = (AESGCM(key), wrapped, self._clock())
        return record

    def wrap(self, root: RootKeyRecord, key: bytes, context: bytes) -> bytes:
        return seal_key(self.cipher(root), key, context)

    def cipher(self, root: RootKeyRecord) -> AESGCM:
        """The cipher of ``root``, a row the caller's transaction read (and holds): to wrap many keys."""
        return self._cipher(root.version, root)

    def cipher_of(self, version: int) -> AESGCM:
        """The cipher of root version ``version`` (read from the store if not loaded, or loaded over
        ``ROOT_RECHECK_SECONDS`` ago): to unwrap many keys; ``RootKeyGone`` if it is retired."""
        return self._cipher(version)

    # -- reading ----------------------------------------------------------------------------------

    def unwrap(self, wrapped: bytes, root_version: int, context: bytes) -> bytes:
        cached = root_version in self._ciphers
        try:
            return open_key(self._cipher(root_version), wrapped, context)
        except TamperedError:
            if not cached:
                raise
        # A cipher cached from a root of this version that is not the stored one (see __init__): read it again.
        with self._lock:
            self._ciphers.pop(root_version, None)
        return open_key(self._cipher(root_version), wrapped, context)

    def discard(self, version: int) -> None:
        """Forget a root key this process retired: nothing may unwrap with it from now on."""
        with self._lock:
            self._ciphers.pop(version, None)

    def _cipher(self, version: int, row: RootKeyRecord | None = None) -> AESGCM:
        cached = self._ciphers.get(version)
        now = self._clock()
        if cached is not None and row is None and now - cached[2] < ROOT_RECHECK_SECONDS:
            return cached[0]
        if row is None:
            with self._read() as tx:
                row = tx.root_key(self._environment, version)
        if row is None or row.wrapped is None:
            self.discard(version)
            raise RootKeyGone(f"root key v{version} of {self._environment!r} is retired")
        cipher = cached[0] if cached is not None and row.wrapped == cached[1] else AESGCM(self._unwrap_root(row))
        with self._lock:
            self._ciphers[version] = (cipher, row.wrapped, now)
        return cipher

    def unwrap_root(self, row: RootKeyRecord) -> bytes:
        """A root key's bytes (for ``key migrate``, which rewraps it under another provider only)."""
        return self._unwrap_root(row)

    def _unwrap_root(self, row: RootKeyRecord) -> bytes:
        assert row.wrapped is not None  # noqa: S101 -- callers check retirement
        provider = self._provider
        if row.provider_id != provider.key_id:
            from strongroom.vault.key_check import wrong_key_message

            raise WrongKeyError(
                wrong_key_message(
                    self._environment,
                    [(row.provider_id, row.provider_version)],
                    provider.key_id,
                    provider.current_version(),
                )
                + "\n(or, after `strongroom key migrate`, set STRONGROOM_KEK to the new provider)"
            )
        context = root_context(self._environment, row.provider_id, row.version)
        try:
            return provider.unwrap(row.wrapped, row.provider_version, context)
        except KeyProviderError:
            reload = getattr(provider, "reload", None)
            if reload is None:
                raise
            reload()  # another process may have added the version (a rotated key file)
            return provider.unwrap(row.wrapped, row.provider_version, context)
        except TamperedError:
            raise TamperedError(f"root key v{row.version} of {self._environment!r} failed authentication") from None
