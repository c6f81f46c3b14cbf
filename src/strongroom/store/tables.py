"""The schema, in SQLAlchemy Core. Times are seconds since the epoch (float), UTC.

The store never sees a plaintext value or an unwrapped key: ``secret_versions.ciphertext`` is an
envelope (crypto/envelope.py) and ``data_keys.wrapped`` a data key wrapped by the key provider.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from strongroom.vocabulary import KEY_ID_MAX, ROOT_KEYRING

SCHEMA_REVISION = "0010"
"""The Alembic head this code expects; bump with every migration."""

metadata = MetaData()

# BIGINT autoincrement is only a rowid alias on SQLite when spelled INTEGER.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

strongroom_meta = Table(
    "strongroom_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("environment", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("environment", "name", name="uq_tenants_environment_name"),
)

data_keys = Table(
    # On PostgreSQL, fillfactor 50 (schema 0007): a rotation's rewrap updates every row, HOT on its own page.
    "data_keys",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("kek_id", String(KEY_ID_MAX), nullable=False),
    Column("kek_version", Integer, nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE", name="fk_data_keys_tenant"),
    # Schema 0010: the keys a provider wraps directly (before 0006), which every open looks for. kek_id alone:
    # an index on kek_version would end the rewrap's HOT updates.
    Index(
        "ix_data_keys_provider_wrapped",
        "kek_id",
        postgresql_where=text(f"kek_id <> '{ROOT_KEYRING}'"),
        sqlite_where=text(f"kek_id <> '{ROOT_KEYRING}'"),
    ),
)

root_keys = Table(
    # Schema 0006: each environment's root keys, wrapped by the key provider; they wrap the data keys
    # (data_keys.kek_id = "root", kek_version = the root version). A retired root keeps its row, with no
    # key: state "retired", wrapped NULL (docs/crypto.md, "Key hierarchy").
    "root_keys",
    metadata,
    Column("environment", String(32), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("provider_id", String(KEY_ID_MAX), nullable=False),
    Column("provider_version", Integer, nullable=False),
    Column("wrapped", LargeBinary, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("retired_at", Float, nullable=True),
)

secrets = Table(
    "secrets",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("sensitivity", String(16), nullable=False),
    Column("description", String(512), nullable=False, default=""),
    Column("current_version", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("deleted_at", Float, nullable=True),
    # A purged secret keeps this row (no versions) so a later put continues its version numbers:
    # restarting at 1 would let a purged ciphertext restored from a backup pass as the new version 1.
    Column("purged_at", Float, nullable=True),
    # Schema 0004: where the broker may send the value (``vault.destinations``, canonical JSON); NULL: only
    # to the operator's declared connectors.
    Column("destinations", Text, nullable=True),
    # Schema 0009: the stage pointers (docs/rotation.md, "Stages"): current_version is ``current``; a version a
    # rotation made and has not promoted is ``pending``; the one it replaced is ``previous`` (a candidate until
    # previous_until); every other version is ``retired``. last_version: the highest number ever given out
    # (NULL: current_version), so a discarded pending version's number is never reused.
    Column("pending_version", Integer, nullable=True),
    Column("previous_version", Integer, nullable=True),
    Column("previous_until", Float, nullable=True),
    Column("last_version", Integer, nullable=True),
    ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE", name="fk_secrets_tenant"),
)

secret_versions = Table(
    "secret_versions",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("dek_version", Integer, nullable=False),
    Column("value_type", String(8), nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("expires_at", Float, nullable=True),
    # HMAC-SHA256 of the plaintext under the environment's scan key: lets `strongroom scan --known` find
    # exact leaks without holding any value. NULL for versions written before schema 0002.
    Column("fingerprint", String(64), nullable=True),
    ForeignKeyConstraint(
        ["tenant_id", "name"],
        ["secrets.tenant_id", "secrets.name"],
        ondelete="CASCADE",
        name="fk_secret_versions_secret",
    ),
)

audit_chains = Table(
    "audit_chains",
    metadata,
    Column("chain", String(200), primary_key=True),
    Column("head_seq", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("chain", String(200), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("at", Float, nullable=False),
    Column("environment", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("tenant", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("secret_name", String(128), nullable=True),
    Column("version", Integer, nullable=True),
    Column("purpose", String(256), nullable=True),
    Column("outcome", String(32), nullable=False),
    Column("request_id", String(128), nullable=True),
    Column("detail", String(512), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # Schema 0005: whose history the event is, by tenant id (NULL: the environment's, or no tenant's). No
    # foreign key: a tenant's history outlives it, and a new tenant with its name never reads it.
    Column("tenant_id", String(32), nullable=True),
    # Schema 0008: who asked, for what, on whose behalf and from where (compact JSON; chained with the rest).
    Column("context", Text, nullable=True),
    UniqueConstraint("chain", "seq", name="uq_audit_events_chain_seq"),
    Index("ix_audit_events_tenant_at", "tenant", "at"),
    Index("ix_audit_events_tenant_id_at", "tenant_id", "at"),
)

# -- schema 0003: the service (API keys, agent-token revocations, API-defined connectors, one-time shares) --------

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),  # the key's public id: the 8 characters after "srk_"
    Column("environment", String(32), nullable=False),
    Column("tenant_id", String(32), nullable=True),  # NULL: an operator key, not bound to one tenant
    Column("name", String(128), nullable=False),
    # SHA-256 (hex) of the whole key: the key itself is never stored (tokens/api_keys.py says why no KDF).
    Column("key_hash", String(64), nullable=False),
    Column("scopes", String(512), nullable=False),  # space-separated
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
    Column("last_used_at", Float, nullable=True),
    UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE", name="fk_api_keys_tenant"),
    Index("ix_api_keys_tenant", "environment", "tenant_id"),
)

# No foreign key to tenants: a revocation outlives its tenant (deleting it would revive the token's jti).
token_revocations = Table(
    "token_revocations",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("environment", String(32), nullable=False),
    Column("tenant_id", String(32), nullable=True),
    Column("expires_at", Float, nullable=False),  # the token's own expiry: the row is pruned after it
    Column("revoked_at", Float, nullable=False),
    Index("ix_token_revocations_expires", "environment", "expires_at"),
)

connectors = Table(
    "connectors",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("environment", String(32), nullable=False),
    Column("definition", Text, nullable=False),  # JSON, owned by the broker; the store does not parse it
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE", name="fk_connectors_tenant"),
)

shares = Table(
    "shares",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 (hex) of the link token; the token is never stored
    Column("environment", String(32), nullable=False),
    Column("tenant_id", String(32), nullable=False),
    Column("secret_name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float, nullable=True),
    Column("created_by", String(128), nullable=False),
    ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE", name="fk_shares_tenant"),
    Index("ix_shares_tenant", "tenant_id"),
    Index("ix_shares_expires", "environment", "expires_at"),
)

# -- schema 0009: rotation (docs/rotation.md) ---------------------------------------------------------------------

rotation_policies = Table(
    "rotation_policies",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("rotate_every", Float, nullable=False),  # seconds
    Column("overlap", Float, nullable=False),  # seconds the replaced version stays a candidate
    Column("rotator", String(64), nullable=False),
    Column("options", Text, nullable=False),  # JSON; names other secrets, never holds a value
    Column("next_due", Float, nullable=False),  # with jitter
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    ForeignKeyConstraint(
        ["tenant_id", "name"],
        ["secrets.tenant_id", "secrets.name"],
        ondelete="CASCADE",
        name="fk_rotation_policies_secret",
    ),
    Index("ix_rotation_policies_due", "next_due"),
)

# One row per rotation: its state machine's position, written before and after each step. No foreign key: the
# history outlives a deleted tenant or secret (the inventory and the audit read it).
rotations = Table(
    "rotations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("environment", String(32), nullable=False),
    Column("tenant_id", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("rotator", String(64), nullable=False),
    Column("step", String(16), nullable=False),  # vocabulary.RotationStep
    Column("phase", String(8), nullable=False),  # "started" or "done"
    Column("status", String(16), nullable=False),  # vocabulary.RotationStatus
    Column("pending_version", Integer, nullable=True),
    Column("previous_version", Integer, nullable=True),
    Column("actor", String(128), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("error", String(512), nullable=True),
    Index("ix_rotations_secret", "tenant_id", "name", "started_at"),
    Index("ix_rotations_open", "environment", "status"),
)

STRONGROOM_TABLES = frozenset(metadata.tables)

TABLE_ADDED_IN: dict[str, str] = {
    **dict.fromkeys(STRONGROOM_TABLES, "0001"),
    **dict.fromkeys(("api_keys", "token_revocations", "connectors", "shares"), "0003"),
    "root_keys": "0006",
    **dict.fromkeys(("rotation_policies", "rotations"), "0009"),
}
"""The revision that created each table: a database at an older revision is not "damaged" for lacking it."""


def tables_at(revision: str) -> frozenset[str]:
    """The strongroom tables a database at ``revision`` must have."""
    return frozenset(name for name, added in TABLE_ADDED_IN.items() if added <= revision)
