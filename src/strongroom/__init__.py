"""strongroom: a secrets platform for multi-tenant SaaS and AI-agent backends.

``import strongroom`` stays cheap: the vault (and with it SQLAlchemy) loads on first use of ``Vault``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strongroom.errors import (
    AccessDenied,
    AuditError,
    ConfigError,
    Conflict,
    Expired,
    InvalidInput,
    KeyProviderError,
    NotFound,
    StoreError,
    StrongroomError,
    TamperedError,
)
from strongroom.secret import Secret

if TYPE_CHECKING:
    from strongroom.vault import SecretInfo, TenantInfo, Vault, VersionInfo

__version__ = "0.1.0"

_LAZY = {"Vault", "SecretInfo", "TenantInfo", "VersionInfo"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from strongroom import vault

        return getattr(vault, name)
    raise AttributeError(f"module 'strongroom' has no attribute {name!r}")


__all__ = [
    "AccessDenied",
    "AuditError",
    "ConfigError",
    "Conflict",
    "Expired",
    "InvalidInput",
    "KeyProviderError",
    "NotFound",
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
