"""Known-value fingerprints: how the scanner finds exact leaks of stored values without holding any.

Each version's plaintext is fingerprinted when it is written: HMAC-SHA256 under the environment's
*fingerprint key*. That key is derived (HKDF) from the data key of a reserved, hidden tenant
(``_scan``), so it is wrapped under the KEK like every other data key, is rewrapped by
``strongroom key rewrap``, and cannot be read by anyone who cannot unwrap data keys. A fingerprint
reveals nothing without it; a scanner that holds it can test candidate strings for equality, never
recover a value.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from strongroom.vocabulary import HIDDEN_TENANTS, SCAN_TENANT

__all__ = [
    "RESERVED_TENANTS",
    "SCAN_TENANT",
    "KnownFingerprints",
    "StoredFingerprint",
    "derive_fingerprint_key",
    "value_fingerprint",
]

RESERVED_TENANTS = HIDDEN_TENANTS
"""Tenants the vault never serves (kept under this name for older imports; see ``strongroom.vocabulary``)."""
_INFO = b"strongroom known-value fingerprint key v1"


def derive_fingerprint_key(data_key: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(data_key)


def value_fingerprint(key: bytes, plaintext: bytes) -> str:
    return hmac.new(key, plaintext, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredFingerprint:
    """One stored version: who it belongs to, its fingerprint (None if written before schema 0002), its size."""

    tenant: str
    name: str
    version: int
    fingerprint: str | None
    length: int


@dataclass(frozen=True)
class KnownFingerprints:
    key: bytes = field(repr=False)  # key material: never in a repr or a log
    entries: tuple[StoredFingerprint, ...]

    @property
    def missing(self) -> int:
        """Versions that cannot be matched because they carry no fingerprint."""
        return sum(1 for entry in self.entries if entry.fingerprint is None)
