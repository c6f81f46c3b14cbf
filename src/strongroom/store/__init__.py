"""Persistence: SQLAlchemy Core over SQLite (embedded default) or PostgreSQL (production)."""

from strongroom.store.records import (
    ApiKeyRecord,
    AuditRecord,
    ConnectorRecord,
    DataKeyRecord,
    RootKeyRecord,
    RotationPolicyRecord,
    RotationRecord,
    SecretRecord,
    ShareRecord,
    TenantRecord,
    TokenRevocationRecord,
    VersionRecord,
)
from strongroom.store.repository import DataKeyRow, Store, Tx

__all__ = [
    "ApiKeyRecord",
    "AuditRecord",
    "ConnectorRecord",
    "DataKeyRecord",
    "DataKeyRow",
    "RootKeyRecord",
    "RotationPolicyRecord",
    "RotationRecord",
    "SecretRecord",
    "ShareRecord",
    "Store",
    "TenantRecord",
    "TokenRevocationRecord",
    "Tx",
    "VersionRecord",
]
