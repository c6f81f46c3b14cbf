"""Key providers hold the provider keys (KEKs) that wrap each environment's root keys, and old data keys.

A provider never hands out key material. ``context`` is authenticated with the wrapped key (AES-GCM
associated data locally and in a PKCS#11 token, the encryption context of a cloud KMS), so a wrapped key
copied to another environment or version does not unwrap.

Every provider is a ``KeyProvider``. One whose versions strongroom can add and destroy is also a
``ManagedKeyProvider``: that is what rotation without a restart and crypto-shredding need (docs/crypto.md).
Providers are chosen by URI in ``STRONGROOM_KEK`` (``strongroom.crypto.providers.uri``); each cloud or HSM
provider lives in its own module, imported only when its URI is used.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class KeyProvider(Protocol):
    @property
    def key_id(self) -> str:
        """A stable, non-secret identifier of the keyring (all versions share it)."""
        ...

    def current_version(self) -> int:
        """The version new keys are wrapped under."""
        ...

    def wrap(self, key: bytes, context: bytes) -> tuple[int, bytes]:
        """Wrap ``key`` under the current version; return (version, wrapped bytes)."""
        ...

    def unwrap(self, wrapped: bytes, kek_version: int, context: bytes) -> bytes:
        """Unwrap a key wrapped under ``kek_version``; ``TamperedError`` if it does not verify,
        ``KeyProviderError`` (naming the provider and the fix) if the provider cannot answer."""
        ...


@runtime_checkable
class ManagedKeyProvider(KeyProvider, Protocol):
    """A provider whose versions strongroom lists, adds and destroys (rotation, shredding)."""

    @property
    def uri(self) -> str:
        """The provider's non-secret URI (no PIN, no token, no key): what ``key status`` and errors show."""
        ...

    def versions(self) -> list[int]:
        """The versions the provider holds now, ascending."""
        ...

    def add_version(self) -> int:
        """Create a new version inside the provider and make it current; return it."""
        ...

    def destroy_version(self, version: int) -> None:
        """Destroy ``version`` so that nothing it wrapped can ever be unwrapped again (a KMS may only
        schedule it: the provider's docstring says when). Refuses the current version."""
        ...

    def reload(self) -> None:
        """Learn versions another process added or destroyed (a key file re-read, a token re-listed)."""
        ...

    def check(self) -> None:
        """Return if the provider answers and holds its current version; otherwise ``KeyProviderError``
        naming the provider and the fix (down, a wrong PIN, a disabled key)."""
        ...


__all__ = ["KeyProvider", "ManagedKeyProvider"]
