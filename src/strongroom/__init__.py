"""strongroom: a secrets platform for multi-tenant SaaS and AI-agent backends.

``import strongroom`` stays cheap: the vault (and with it SQLAlchemy) loads on first use of ``Vault``.
"""

from __future__ import annotations

import typing as _typing

from strongroom.errors import (
    AccessDenied,
    AuditError,
    ConfigError,
    Conflict,
    Expired,
    InvalidInput,
    KeyProviderError,
    NotFound,
    RotationError,
    StoreError,
    StrongroomError,
    TamperedError,
)
from strongroom.secret import Secret

if _typing.TYPE_CHECKING:
    from strongroom.vault import SecretInfo, TenantInfo, Vault, VersionInfo

__version__ = "0.1.0"

# Public names resolved on first access, from strongroom.vault (which loads SQLAlchemy).
_LAZY = frozenset({"SecretInfo", "TenantInfo", "Vault", "VersionInfo"})

# Hidden from type checkers: with a visible module __getattr__, a misspelt name would type as Any.
if not _typing.TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        if name in _LAZY:
            from strongroom import vault

            return getattr(vault, name)
        raise AttributeError(f"module 'strongroom' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


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
    "Secret",
    "SecretInfo",
    "StoreError",
    "StrongroomError",
    "TamperedError",
    "TenantInfo",
    "Vault",
    "VersionInfo",
    "__version__",
]
