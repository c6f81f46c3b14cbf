"""Data keys: wrapping context and the bounded, expiring cache of unwrapped data-key ciphers.

The cache holds ``AESGCM`` objects, not raw keys: building one costs about as much as a decrypt, and
the object is all the hot path needs.
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.caching import BoundedCache
from strongroom.clock import Clock, system_clock
from strongroom.crypto.envelope import length_prefixed

_U32 = struct.Struct(">I")


def wrap_context(environment: str, tenant_id: str, dek_version: int, kek_id: str) -> bytes:
    """What a wrapped data key is bound to: it unwraps for this tenant, version and keyring only."""
    return b"strongroom-dek/1\x00" + length_prefixed(environment, tenant_id, kek_id) + _U32.pack(dek_version)


class DataKeyCache:
    """(tenant id, DEK version) -> cipher, bounded in size (least recently used first) and in age."""

    def __init__(self, *, max_entries: int = 4096, ttl_seconds: float = 300.0, clock: Clock = system_clock):
        self._entries: BoundedCache[tuple[str, int], AESGCM] = BoundedCache(
            max_entries, ttl_seconds=ttl_seconds, clock=clock
        )

    def get(self, tenant_id: str, version: int) -> AESGCM | None:
        return self._entries.get((tenant_id, version))

    def put(self, tenant_id: str, version: int, key: bytes) -> AESGCM:
        return self._entries.put((tenant_id, version), AESGCM(key))

    def forget_tenant(self, tenant_id: str) -> None:
        self._entries.discard_if(lambda entry: entry[0] == tenant_id)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
