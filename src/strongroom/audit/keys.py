"""The audit keys: the chain's MAC key and the checkpoint-signing key, never stored anywhere.

Both are derived (HKDF-SHA256, a label each) from the data key of the hidden ``_audit`` tenant, which lives in
the key hierarchy like every other data key: wrapped under a root key that only the key provider can unwrap,
rewrapped by ``key rotate``, moved by ``key migrate``. Someone who can write the database but cannot ask the
provider can neither recompute a chain link nor sign a checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_MAC_INFO = b"strongroom audit chain mac key v1"
_SIGNING_INFO = b"strongroom audit checkpoint signing key v1"


@dataclass(frozen=True, slots=True)
class AuditKeys:
    """An environment's audit keys. ``repr`` shows the signing key's id only."""

    mac: bytes = field(repr=False)
    signing: Ed25519PrivateKey = field(repr=False)
    key_id: str = ""

    @property
    def public(self) -> Ed25519PublicKey:
        return self.signing.public_key()


def public_bytes(key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_of(key: Ed25519PublicKey) -> str:
    """A short name of a checkpoint-signing key: the first 16 hex digits of SHA-256 of its raw public bytes."""
    return hashlib.sha256(public_bytes(key)).hexdigest()[:16]


def public_text(key: Ed25519PublicKey) -> str:
    """The raw public key as base64 (what ``strongroom audit public-key`` prints, and a verifier is given)."""
    return base64.b64encode(public_bytes(key)).decode()


def derive_audit_keys(data_key: bytes) -> AuditKeys:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    def derive(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(data_key)

    signing = Ed25519PrivateKey.from_private_bytes(derive(_SIGNING_INFO))
    return AuditKeys(mac=derive(_MAC_INFO), signing=signing, key_id=key_id_of(signing.public_key()))
