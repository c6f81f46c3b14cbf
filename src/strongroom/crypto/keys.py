"""Data keys: wrapping context, key check values, and the bounded, expiring cache of unwrapped data-key ciphers.

The cache holds ``AESGCM`` objects, not raw keys: building one costs about as much as a decrypt, and
the object is all the hot path needs.

A key check value ties a key id and version to its material (docs/crypto.md, "Wrong keys"): the
provider wraps ``KEY_CHECK_BLOCK`` (32 zero bytes) under that version with ``key_check_context``, through
its own ``wrap``; checking is the provider's own ``unwrap`` of it, whose authentication tag fails under
any other material. No cryptography of our own is involved, and the context's label differs from a data
key's, so a check value can never pass for a wrapped data key, nor the other way round.
"""

from __future__ import annotations

import hmac
import os
import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.caching import BoundedCache
from strongroom.clock import Clock, system_clock
from strongroom.crypto.envelope import KEY_BYTES, NONCE_BYTES, length_prefixed
from strongroom.errors import KeyProviderError, TamperedError

if TYPE_CHECKING:
    from strongroom.crypto.providers import KeyProvider

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")

KEY_CHECK_BLOCK = bytes(KEY_BYTES)
"""What a key check value wraps: 32 zero bytes (public; the check is the tag, not the block)."""


def wrap_context(environment: str, tenant_id: str, dek_version: int, kek_id: str) -> bytes:
    """What a wrapped data key is bound to: it unwraps for this tenant, version and keyring only."""
    return wrap_contexts(environment, kek_id)(tenant_id, dek_version)


def wrap_contexts(environment: str, kek_id: str) -> Callable[[str, int], bytes]:
    """``wrap_context`` for one environment and keyring, as a function of (tenant id, data key version): the
    fixed parts are encoded once, since a rewrap builds a context per data key (millions)."""
    head = b"strongroom-dek/1\x00" + length_prefixed(environment)
    tail = length_prefixed(kek_id)
    u16, u32 = _U16.pack, _U32.pack

    def context(tenant_id: str, dek_version: int) -> bytes:
        raw = tenant_id.encode()
        if len(raw) > 0xFFFF:
            raise ValueError("a bound field is longer than 65535 bytes")
        return head + u16(len(raw)) + raw + tail + u32(dek_version)

    return context


def root_context(environment: str, provider_id: str, root_version: int) -> bytes:
    """What a root key wrapped by the provider is bound to: one environment, provider keyring and root version."""
    return b"strongroom-root/1\x00" + length_prefixed(environment, provider_id) + _U32.pack(root_version)


def seal_key(cipher: AESGCM, key: bytes, context: bytes) -> bytes:
    """``key`` wrapped under ``cipher``: a fresh 96-bit nonce, then AES-256-GCM of the key and its tag, with
    ``context`` as associated data (60 bytes for a 32-byte key)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + cipher.encrypt(nonce, key, context)


def seal_keys(cipher: AESGCM, keys: Sequence[bytes], contexts: Sequence[bytes]) -> list[bytes]:
    """``seal_key`` of each key with its context, the nonces drawn in one ``os.urandom`` call: a rewrap seals
    thousands of keys a batch, and each call releases the GIL to the threads reading and writing the store
    (the profile showed it costing more than the AES-GCM)."""
    nonces = os.urandom(NONCE_BYTES * len(keys))
    sealed = []
    for i, (key, context) in enumerate(zip(keys, contexts, strict=True)):
        nonce = nonces[i * NONCE_BYTES : (i + 1) * NONCE_BYTES]
        sealed.append(nonce + cipher.encrypt(nonce, key, context))
    return sealed


def open_key(cipher: AESGCM, wrapped: bytes, context: bytes) -> bytes:
    """The key ``seal_key`` wrapped; ``TamperedError`` (no cause) if it does not authenticate."""
    if len(wrapped) < NONCE_BYTES + 16:
        raise TamperedError("a wrapped key is truncated")
    try:
        return cipher.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context)
    except InvalidTag:
        raise TamperedError("a wrapped key failed authentication") from None


def key_check_context(environment: str, kek_id: str, kek_version: int) -> bytes:
    """What a key check value is bound to: one environment, key id and key version."""
    return b"strongroom-kcv/1\x00" + length_prefixed(environment, kek_id) + _U32.pack(kek_version)


def make_key_check(provider: KeyProvider, environment: str) -> tuple[int, bytes]:
    """(version, check value) for the provider's current version, made by the provider's own ``wrap``."""
    version = provider.current_version()
    wrapped_version, wrapped = provider.wrap(KEY_CHECK_BLOCK, key_check_context(environment, provider.key_id, version))
    if wrapped_version != version:  # the primary moved between the two calls: the context names the wrong one
        raise KeyProviderError(
            f"key {provider.key_id} changed its current version while a key check value was made; try again"
        )
    return version, wrapped


def key_check_matches(provider: KeyProvider, environment: str, kek_version: int, check_value: bytes) -> bool:
    """Whether the provider's key ``kek_version`` is the material ``check_value`` was made with.

    ``KeyProviderError`` (provider down, version missing) is not an answer and propagates.
    """
    try:
        block = provider.unwrap(check_value, kek_version, key_check_context(environment, provider.key_id, kek_version))
    except TamperedError:
        return False
    return hmac.compare_digest(block, KEY_CHECK_BLOCK)


def provider_holds(provider: KeyProvider, kek_version: int) -> bool:
    """Whether the provider has ``kek_version`` (a provider that cannot list its versions is asked anyway)."""
    versions = getattr(provider, "versions", None)
    return versions is None or kek_version in versions()


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
