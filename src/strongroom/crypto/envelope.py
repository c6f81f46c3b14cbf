"""The ciphertext format of a stored secret value (format v1, documented in docs/crypto.md).

    offset  size  field
    0       2     magic b"SR"
    2       1     format version (1)
    3       4     DEK version, big-endian unsigned
    7       12    nonce (random per encryption)
    19      n+16  AES-256-GCM ciphertext || tag

The associated data is the 7-byte header followed by the binding: environment, tenant id and secret
name (each a big-endian u16 length and UTF-8 bytes) and the secret version (big-endian u32). A
ciphertext copied to any other environment, tenant, name or version fails authentication.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.errors import TamperedError

MAGIC = b"SR"
FORMAT_V1 = 1
HEADER = struct.Struct(">2sBI")
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
MIN_LENGTH = HEADER.size + NONCE_BYTES + TAG_BYTES
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
MAX_VERSION = 2**32 - 1


def length_prefixed(*fields: str) -> bytes:
    """Encode text fields unambiguously: u16 length then UTF-8 bytes, for each field."""
    out = bytearray()
    for field in fields:
        raw = field.encode()
        if len(raw) > 0xFFFF:
            raise ValueError("a bound field is longer than 65535 bytes")
        out += _U16.pack(len(raw))
        out += raw
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Binding:
    """Where a ciphertext belongs. It is authenticated, not encrypted."""

    environment: str
    tenant_id: str
    name: str
    version: int

    def associated_data(self, dek_version: int) -> bytes:
        if not (0 <= dek_version <= MAX_VERSION and 0 <= self.version <= MAX_VERSION):
            raise ValueError("versions must fit in 32 bits")
        header = HEADER.pack(MAGIC, FORMAT_V1, dek_version)
        return header + length_prefixed(self.environment, self.tenant_id, self.name) + _U32.pack(self.version)


def new_key() -> bytes:
    """A fresh random 256-bit key from the operating system's CSPRNG."""
    return AESGCM.generate_key(bit_length=256)


def dek_version_of(blob: bytes) -> int:
    """The DEK version in a ciphertext's header, after checking magic, format and length."""
    if len(blob) < MIN_LENGTH:
        raise TamperedError("ciphertext is too short to be a strongroom envelope") from None
    magic, fmt, dek_version = HEADER.unpack_from(blob)
    if magic != MAGIC or fmt != FORMAT_V1:
        raise TamperedError("ciphertext is not a strongroom v1 envelope") from None
    return int(dek_version)


def encrypt(cipher: AESGCM, dek_version: int, plaintext: bytes, binding: Binding) -> bytes:
    return _seal(cipher, dek_version, os.urandom(NONCE_BYTES), plaintext, binding)


def _seal(cipher: AESGCM, dek_version: int, nonce: bytes, plaintext: bytes, binding: Binding) -> bytes:
    # Separate from encrypt() only so the known-answer vectors can fix the nonce; nothing else may.
    if not 0 <= dek_version <= MAX_VERSION or not 0 <= binding.version <= MAX_VERSION:
        raise ValueError("versions must fit in 32 bits")
    if len(nonce) != NONCE_BYTES:
        raise ValueError("nonce must be 12 bytes")
    aad = binding.associated_data(dek_version)
    return aad[: HEADER.size] + nonce + cipher.encrypt(nonce, plaintext, aad)


def decrypt(cipher: AESGCM, blob: bytes, binding: Binding) -> bytes:
    """Open a v1 envelope; every failure is one opaque ``TamperedError``."""
    dek_version = dek_version_of(blob)
    nonce = blob[HEADER.size : HEADER.size + NONCE_BYTES]
    try:
        return cipher.decrypt(nonce, blob[HEADER.size + NONCE_BYTES :], binding.associated_data(dek_version))
    except (InvalidTag, ValueError):  # ValueError: a binding no ciphertext can carry
        raise TamperedError(
            f"ciphertext of {binding.name!r} v{binding.version} failed authentication "
            "(edited, moved, or encrypted under another key)"
        ) from None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A ciphertext split and bound ahead of time, for a hot path that decrypts it again and again.

    ``decrypt(nonce, body, aad)`` is the data key's AES-GCM decrypt; it raises ``AuthenticationFailure``
    when the ciphertext does not verify (callers turn that into ``TamperedError``).
    """

    decrypt: Callable[[bytes, bytes, bytes], bytes]
    nonce: bytes
    body: bytes
    aad: bytes


AuthenticationFailure = InvalidTag


def prepare(cipher: AESGCM, blob: bytes, binding: Binding) -> Prepared:
    dek_version = dek_version_of(blob)
    return Prepared(
        cipher.decrypt,
        blob[HEADER.size : HEADER.size + NONCE_BYTES],
        blob[HEADER.size + NONCE_BYTES :],
        binding.associated_data(dek_version),
    )
