"""The exceptions strongroom raises.

Every error names *what* was wrong (a tenant, a secret name, a file, an event id) and never carries a
secret value, key material or an upstream body, so it is safe to log and to show to a user::

    StrongroomError
    ├── InvalidInput      bad name, empty or over-large value, malformed option   (also a ValueError)
    ├── ConfigError       missing or malformed configuration; lists every problem
    ├── KeyProviderError  key file missing, too open, wrong or unknown key version
    │   └── WrongKeyError  the key provider's key is not the one this database's keys are under
    ├── StoreError        unreachable database, not a strongroom database, schema too new
    ├── NotFound          unknown tenant, secret or version
    ├── Conflict          check-and-set lost, or the thing already exists
    ├── AccessDenied      refused by policy
    ├── Expired           an ephemeral secret past its expiry
    ├── TamperedError     any authentication failure of a ciphertext or wrapped key
    ├── RotationError     a rotator's provider refused, timed out, or the new credential failed its test
    └── AuditError        the audit sink failed (sync mode refuses to serve) or the chain is broken
"""

from __future__ import annotations


class StrongroomError(Exception):
    """Base of every error strongroom raises on purpose."""


class InvalidInput(StrongroomError, ValueError):
    """The caller passed something strongroom cannot accept (the message says which argument)."""


class ConfigError(StrongroomError):
    """Configuration is missing or malformed; ``problems`` lists every problem found."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = list(problems or [])
        if self.problems:
            message = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


class KeyProviderError(StrongroomError):
    """A key-encryption key could not be loaded or does not have the requested version."""


class WrongKeyError(KeyProviderError):
    """The key provider's key is not the key this database was written with (another key id, or other
    material under the same key id and version, caught by its key check value). Never tampering: nothing
    was written, and the fix is the right key."""


class StoreError(StrongroomError):
    """The database cannot be used as a strongroom store."""


class NotFound(StrongroomError):
    """A tenant, secret or version does not exist (or was deleted)."""


class Conflict(StrongroomError):
    """A write lost a check-and-set race, or would create something that already exists."""


class AccessDenied(StrongroomError):
    """The request was refused."""


class Expired(StrongroomError):
    """An ephemeral secret is past its expiry and may no longer be used."""


class TamperedError(StrongroomError):
    """A ciphertext or wrapped key failed authentication: edited, truncated, moved or under the wrong key."""


class RotationError(StrongroomError):
    """A rotation step failed at the provider (refused, timed out, or the new credential failed its test).
    The message names the secret, the rotator and the step; never a credential."""


class AuditError(StrongroomError):
    """The audit log could not be written, or its hash chain is broken."""


__all__ = [
    "AccessDenied",
    "AuditError",
    "ConfigError",
    "Conflict",
    "Expired",
    "InvalidInput",
    "KeyProviderError",
    "NotFound",
    "RotationError",
    "StoreError",
    "StrongroomError",
    "TamperedError",
    "WrongKeyError",
]
