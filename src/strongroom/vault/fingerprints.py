"""Known-value fingerprints: how the scanner finds exact leaks of stored values without holding any.

Each version's plaintext is fingerprinted when it is written: HMAC-SHA256 under a *fingerprint key of
its own tenant*, derived (HKDF-SHA256, fixed label) from the data key that encrypts the version. So:

- equal values in two tenants have unrelated fingerprints (their data keys are independent random keys);
- a guess fingerprinted through one tenant (by writing it there) says nothing about another tenant's rows;
- a fingerprint is exactly as alive as its data key: deleting (shredding) the tenant, or losing the key
  that wraps its data keys, leaves its fingerprints as random strings nobody can test a guess against.

Stored as ``v2:`` + base64url (no padding) of the 32-byte HMAC. Version 1 (hex, under one environment-wide
key held by the hidden ``_scan`` tenant) was a cross-tenant oracle; such rows are dropped, never used
(``Vault.drop_legacy_fingerprints``; docs/scanning.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field

from strongroom.vocabulary import HIDDEN_TENANTS, SCAN_TENANT

__all__ = [
    "FINGERPRINT_PREFIX",
    "RESERVED_TENANTS",
    "SCAN_TENANT",
    "KnownFingerprints",
    "StoredFingerprint",
    "derive_fingerprint_key",
    "stored_digest",
    "value_fingerprint",
]

RESERVED_TENANTS = HIDDEN_TENANTS
"""Tenants the vault never serves (kept under this name for older imports; see ``strongroom.vocabulary``)."""
FINGERPRINT_PREFIX = "v2:"
"""Marks a fingerprint made under its tenant's own key; anything else in the column is a legacy one."""
_INFO = b"strongroom tenant known-value fingerprint key v2"


def derive_fingerprint_key(data_key: bytes) -> bytes:
    """The fingerprint key of the versions encrypted under ``data_key`` (HKDF-SHA256, fixed label)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(data_key)


def value_fingerprint(key: bytes, plaintext: bytes) -> str:
    """The stored form: ``v2:`` + base64url of HMAC-SHA256(key, plaintext) (46 characters)."""
    digest = hmac.digest(key, plaintext, hashlib.sha256)
    return FINGERPRINT_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def stored_digest(stored: str | None) -> str | None:
    """The hex HMAC of a stored ``v2:`` fingerprint; ``None`` for none, a legacy or a malformed one."""
    if stored is None or not stored.startswith(FINGERPRINT_PREFIX):
        return None
    try:
        digest = base64.urlsafe_b64decode(stored[len(FINGERPRINT_PREFIX) :] + "=")
    except (binascii.Error, ValueError):
        return None
    return digest.hex() if len(digest) == hashlib.sha256().digest_size else None


@dataclass(frozen=True, slots=True)
class StoredFingerprint:
    """One stored version: who it belongs to, its HMAC in hex (None: none usable), its size, its key.

    ``key_ref`` indexes ``KnownFingerprints.keys``: the key of the tenant data key that encrypts it.
    """

    tenant: str
    name: str
    version: int
    fingerprint: str | None
    length: int
    key_ref: int = 0


@dataclass(frozen=True)
class KnownFingerprints:
    """Every stored version's fingerprint and the per-tenant keys they are made under."""

    keys: tuple[bytes, ...] = field(repr=False)  # key material: never in a repr or a log
    entries: tuple[StoredFingerprint, ...]

    @property
    def missing(self) -> int:
        """Versions that cannot be matched because they carry no (current) fingerprint."""
        return sum(1 for entry in self.entries if entry.fingerprint is None)

    @property
    def tenants(self) -> int:
        """Tenants whose values can be matched."""
        return len({entry.tenant for entry in self.entries if entry.fingerprint is not None})
