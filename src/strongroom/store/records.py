"""Plain records the store returns, so nothing above it depends on SQLAlchemy row types."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TenantRecord:
    id: str
    environment: str
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class DataKeyRecord:
    tenant_id: str
    version: int
    kek_id: str
    kek_version: int
    wrapped: bytes
    created_at: float


@dataclass(frozen=True, slots=True)
class SecretRecord:
    tenant_id: str
    name: str
    kind: str
    sensitivity: str
    description: str
    current_version: int
    created_at: float
    updated_at: float
    deleted_at: float | None
    purged_at: float | None = None


@dataclass(frozen=True, slots=True)
class VersionRecord:
    tenant_id: str
    name: str
    version: int
    dek_version: int
    value_type: str
    ciphertext: bytes
    created_at: float
    created_by: str
    expires_at: float | None
    fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    chain: str
    seq: int
    at: float
    environment: str
    actor: str
    tenant: str
    action: str
    secret_name: str | None
    version: int | None
    purpose: str | None
    outcome: str
    request_id: str | None
    detail: str | None
    prev_hash: str
    hash: str
