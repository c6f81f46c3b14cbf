"""Key providers hold key-encryption keys (KEKs) and wrap and unwrap data keys with them.

A provider never hands out a KEK. ``context`` is authenticated with the wrapped key (AES-GCM
associated data locally, the encryption context of a cloud KMS), so a wrapped key copied to another
tenant or version does not unwrap.
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
        """The version new data keys are wrapped under."""
        ...

    def wrap(self, key: bytes, context: bytes) -> tuple[int, bytes]:
        """Wrap ``key`` under the current KEK; return (kek_version, wrapped bytes)."""
        ...

    def unwrap(self, wrapped: bytes, kek_version: int, context: bytes) -> bytes:
        """Unwrap a key wrapped under ``kek_version``; raise ``TamperedError`` if it does not verify."""
        ...


__all__ = ["KeyProvider"]
