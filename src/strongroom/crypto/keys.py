"""Data keys: wrapping context and the bounded, expiring cache of unwrapped data-key ciphers.

The cache holds ``AESGCM`` objects, not raw keys: building one costs about as much as a decrypt, and
the object is all the hot path needs.
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.clock import Clock, system_clock
from strongroom.crypto.envelope import length_prefixed

_U32 = struct.Struct(">I")


def wrap_context(environment: str, tenant_id: str, dek_version: int, kek_id: str) -> bytes:
    """What a wrapped data key is bound to: it unwraps for this tenant, version and keyring only."""
    return b"strongroom-dek/1\x00" + length_prefixed(environment, tenant_id, kek_id) + _U32.pack(dek_version)


class DataKeyCache:
    """LRU of (tenant id, DEK version) -> cipher, bounded in size and in age."""

    def __init__(self, *, max_entries: int = 4096, ttl_seconds: float = 300.0, clock: Clock = system_clock):
        self._entries: OrderedDict[tuple[str, int], tuple[float, AESGCM]] = OrderedDict()
        self._max_entries = max_entries
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, tenant_id: str, version: int) -> AESGCM | None:
        key = (tenant_id, version)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, tenant_id: str, version: int, key: bytes) -> AESGCM:
        cipher = AESGCM(key)
        with self._lock:
            self._entries[(tenant_id, version)] = (self._clock() + self._ttl_seconds, cipher)
            self._entries.move_to_end((tenant_id, version))
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return cipher

    def forget_tenant(self, tenant_id: str) -> None:
        with self._lock:
            for key in [k for k in self._entries if k[0] == tenant_id]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
