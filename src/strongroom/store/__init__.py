"""Persistence: SQLAlchemy Core over SQLite (embedded default) or PostgreSQL (production)."""

from strongroom.store.records import AuditRecord, DataKeyRecord, SecretRecord, TenantRecord, VersionRecord
from strongroom.store.repository import Store, Tx

__all__ = ["AuditRecord", "DataKeyRecord", "SecretRecord", "Store", "TenantRecord", "Tx", "VersionRecord"]
