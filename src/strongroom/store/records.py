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
class RootKeyRecord:
    environment: str
    version: int
    state: str  # vocabulary.RootState
    provider_id: str
    provider_version: int
    wrapped: bytes | None  # None once retired: the key is gone
    created_at: float
    retired_at: float | None


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
    destinations: str | None = None  # canonical JSON of the destination policy (schema 0004)
    pending_version: int | None = None  # schema 0009: the stage pointers (tables.py)
    previous_version: int | None = None
    previous_until: float | None = None
    last_version: int | None = None

    @property
    def newest_version(self) -> int:
        """The highest version number given out so far (a pending or discarded one included)."""
        return max(self.current_version, self.last_version or 0, self.pending_version or 0)


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
    tenant_id: str | None  # whose history it is (schema 0005); None: the environment's, or no tenant's
    context: str | None = None  # schema 0008: the caller's context, compact JSON (``AuditEvent.context``)


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key's metadata. ``key_hash`` is SHA-256 of the whole key; the key itself is never stored."""

    id: str
    environment: str
    tenant_id: str | None
    name: str
    key_hash: str
    scopes: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None


@dataclass(frozen=True, slots=True)
class TokenRevocationRecord:
    jti: str
    environment: str
    tenant_id: str | None
    expires_at: float
    revoked_at: float


@dataclass(frozen=True, slots=True)
class ConnectorRecord:
    """An API-defined connector; ``definition`` is the broker's JSON text, stored as given."""

    environment: str
    tenant_id: str
    name: str
    definition: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class ShareRecord:
    """A one-time delivery link; ``id`` is SHA-256 of the link token, which is never stored."""

    id: str
    environment: str
    tenant_id: str
    secret_name: str
    version: int
    created_at: float
    expires_at: float
    used_at: float | None
    created_by: str


@dataclass(frozen=True, slots=True)
class RotationPolicyRecord:
    tenant_id: str
    name: str
    rotate_every: float
    overlap: float
    rotator: str
    options: str  # JSON
    next_due: float
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class RotationRecord:
    id: str
    environment: str
    tenant_id: str
    name: str
    rotator: str
    step: str
    phase: str
    status: str
    pending_version: int | None
    previous_version: int | None
    actor: str
    started_at: float
    updated_at: float
    finished_at: float | None
    error: str | None
