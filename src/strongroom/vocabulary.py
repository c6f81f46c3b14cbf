"""The domain's words, in one place: kinds, sensitivities, scopes, audit actions and outcomes, reserved
names, environment variables and label limits.

A leaf module (it imports nothing from strongroom), so every layer can take its words from here. The
enums are ``StrEnum``: a member *is* its string (``Action.SECRET_PUT == "secret.put"``, same hash, same
JSON), so the database and the audit chain keep storing the plain strings they always stored, and an
existing event's hash does not change. The API models take their enums from here, so the OpenAPI
document lists the allowed values.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

# -- secrets ------------------------------------------------------------------------------------------


class Kind(StrEnum):
    """What a secret is for. ``ephemeral`` secrets expire (they need a TTL, and only they take one)."""

    PLATFORM = "platform"
    TENANT = "tenant"
    EPHEMERAL = "ephemeral"


class Sensitivity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


KINDS: Final[tuple[str, ...]] = tuple(k.value for k in Kind)
SENSITIVITIES: Final[tuple[str, ...]] = tuple(s.value for s in Sensitivity)
DEFAULT_KIND: Final = Kind.TENANT
DEFAULT_SENSITIVITY: Final = Sensitivity.HIGH

SHARE_SECRET_PREFIX: Final = "share."  # noqa: S105 -- a name prefix
"""Secrets named so hold a one-time share's value: internal, never listed (``strongroom.tokens.shares``)."""
INTERNAL_SECRET_PREFIXES: Final[tuple[str, ...]] = (SHARE_SECRET_PREFIX,)


def is_internal_secret(name: str) -> bool:
    """Whether a secret is strongroom's own bookkeeping (a share's value), hidden from listings."""
    return name.startswith(INTERNAL_SECRET_PREFIXES)


# -- tenants ------------------------------------------------------------------------------------------

PLATFORM_TENANT: Final = "_platform"
"""Platform secrets (config store source, token-signing keys). Readable through the vault, never listed."""
SCAN_TENANT: Final = "_scan"
"""Held the environment-wide fingerprint key before fingerprints were keyed per tenant (dropped on open
since); the name stays reserved. The vault refuses every use or change of it."""
AUDIT_TENANT: Final = "_audit"
"""Holds the audit key: its data key (rewrapped, rotated and shredded with every other) is what the audit
chain's MAC key and the checkpoint-signing key are derived from (``strongroom.audit.keys``)."""
HIDDEN_TENANTS: Final[frozenset[str]] = frozenset({SCAN_TENANT, AUDIT_TENANT})
"""Tenants the vault refuses to serve or change through its public methods."""
INTERNAL_TENANTS: Final[frozenset[str]] = HIDDEN_TENANTS | {PLATFORM_TENANT}
"""Tenants that never show in ``list_tenants()`` and that no API key or agent token may be issued for."""
NO_TENANT: Final = "-"
"""The audit chain of environment-wide events (operator keys, rewraps)."""


def is_reserved_tenant_name(name: str) -> bool:
    """Whether ``name`` is of a form strongroom uses itself (``_platform``, ``_scan``, the environment-wide
    audit chain ``-``): such a tenant can never be created, so no tenant can address what they hold.
    The one check of it; every door that creates or addresses a tenant by name asks here."""
    return name.startswith(("_", NO_TENANT)) or name.strip("-.") == ""


# -- the service: API-key and token scopes ------------------------------------------------------------


class Scope(StrEnum):
    SECRETS_WRITE = "secrets:write"
    SECRETS_READ_METADATA = "secrets:read-metadata"
    SECRETS_DELETE = "secrets:delete"
    ACTIONS_INVOKE = "actions:invoke"
    TOKENS_ISSUE = "tokens:issue"
    CONNECTORS_WRITE = "connectors:write"
    CONNECTORS_READ = "connectors:read"
    AUDIT_READ = "audit:read"
    SHARES_CREATE = "shares:create"
    # A GPT document link's key holds this one scope: it fetches the tenant's GPT Actions document, no more.
    GPT_DOCUMENT = "gpt:document"
    # Held by API keys only, never by an agent token: an agent must not be able to widen where a secret
    # may go (a secret's destination policy, a connector's base URL) nor manage the keys that mint tokens.
    KEYS_MANAGE = "keys:manage"
    DESTINATIONS_WRITE = "destinations:write"


SCOPES: Final[frozenset[str]] = frozenset(s.value for s in Scope)
KEY_ONLY_SCOPES: Final[frozenset[str]] = frozenset({Scope.KEYS_MANAGE, Scope.DESTINATIONS_WRITE})
"""Scopes an API key may hold but a token never carries (``TokenService.issue`` refuses them)."""
ADMIN_SCOPE: Final = "admin"
"""Operator keys only (``tenant=None``): every scope, for every tenant, including creating tenants."""

# -- audit --------------------------------------------------------------------------------------------


class Action(StrEnum):
    # S105 reads SECRET_* as passwords; these are action names.
    TENANT_CREATE = "tenant.create"
    TENANT_DELETE = "tenant.delete"
    SECRET_PUT = "secret.put"  # noqa: S105
    SECRET_USE = "secret.use"  # noqa: S105
    SECRET_DELETE = "secret.delete"  # noqa: S105
    SECRET_PURGE = "secret.purge"  # noqa: S105
    SECRET_POLICY = "secret.policy"  # noqa: S105 -- a secret's destination policy set or changed
    KEY_REWRAP = "key.rewrap"
    KEY_ROTATE = "key.rotate"  # a root key added (decrypt-only) or promoted
    KEY_RETIRE = "key.retire"  # a root key destroyed, or a provider version destroyed
    KEY_SHRED = "key.shred"  # a shred completed: deleted tenants' keys unrecoverable
    KEY_MIGRATE = "key.migrate"  # the root keys moved to another key provider
    AUDIT_REKEY = "audit.rekey"  # events of before schema 0008 re-linked under the audit key when it was made
    # The service (strongroom.tokens): API keys and short-lived agent tokens. Values never appear.
    API_KEY_CREATE = "api_key.create"
    API_KEY_REVOKE = "api_key.revoke"
    API_KEY_REFUSED = "api_key.refused"  # a known key presented after revocation or expiry
    TOKEN_ISSUE = "token.issue"  # noqa: S105
    TOKEN_REVOKE = "token.revoke"  # noqa: S105
    TOKEN_KEY_ROTATE = "token.key_rotate"  # noqa: S105
    AUTH_FAIL = "auth.fail"  # a credential refused at the service's door (its public id only): 401
    AUTH_DENIED = "auth.denied"  # a valid credential refused a route (scope or tenant): 403
    AUTH_LIMITED = "auth.limited"  # refused by the rate limit before any lookup: 429 (counted when flooding)
    BROKER_CALL = "broker.call"  # one brokered upstream call: connector, operation, status, latency
    CONNECTOR_PUT = "connector.put"
    CONNECTOR_DELETE = "connector.delete"
    SHARE_CREATE = "share.create"
    SHARE_REDEEM = "share.redeem"
    FINGERPRINTS_READ = "fingerprints.read"  # `scan --known` loaded the fingerprint keys (no value is read)
    FINGERPRINTS_DROP = "fingerprints.drop"  # the environment-wide fingerprints of schema 0002 dropped
    AUDIT_DROPPED = "audit.dropped"  # async use events dropped while the store was unwritable: count, window
    # Rotation (strongroom.rotation): every stage move is one of these, with the versions in its detail.
    ROTATION_POLICY = "rotation.policy"  # a secret's rotation policy set or removed
    ROTATION_START = "rotation.start"  # a rotation began (or resumed: detail says which step)
    ROTATION_STAGE = "rotation.stage"  # pending version stored (create), or an admin moved a stage
    ROTATION_FINISH = "rotation.finish"  # pending -> current, current -> previous
    ROTATION_RETIRE = "rotation.retire"  # previous -> retired (and revoked at the provider where it can)
    ROTATION_FAIL = "rotation.fail"  # a step failed: pending discarded, current untouched; detail: the reason


class RootState(StrEnum):
    """A root key's state (Tink's key states, for one environment's keyring)."""

    DECRYPT_ONLY = "decrypt-only"  # added; unwraps, wraps nothing yet (running processes learn it first)
    PRIMARY = "primary"  # wraps every new data key
    ACTIVE = "active"  # an older root: still unwraps data keys not yet rewrapped
    RETIRED = "retired"  # destroyed: its row keeps no key


class Stage(StrEnum):
    """A secret version's stage (AWS Secrets Manager's staging labels): readers take ``current``; the config
    layer's ``candidates()`` also ``previous`` until its overlap ends (``docs/rotation.md``)."""

    PENDING = "pending"  # made by a rotation, not yet promoted: nothing reads it but the rotation
    CURRENT = "current"
    PREVIOUS = "previous"  # the version the last promotion replaced
    RETIRED = "retired"  # every other version


class RotationStep(StrEnum):
    """The steps of a rotation, in order (``strongroom.rotation.engine``)."""

    CREATE = "create"
    SET = "set"
    TEST = "test"
    FINISH = "finish"
    RETIRE = "retire"


class RotationStatus(StrEnum):
    RUNNING = "running"  # between create and finish (a crash leaves it so: the next run resumes it)
    RETIRING = "retiring"  # finished; the previous version waits for its overlap to end, then retire
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # pending discarded, current untouched; ``error`` says why
    CANCELLED = "cancelled"  # an operator stopped it (``strongroom rotate NAME --cancel``)


OPEN_ROTATION_STATUSES: Final[frozenset[str]] = frozenset({RotationStatus.RUNNING, RotationStatus.RETIRING})


ROOT_KEYRING: Final = "root"
"""``data_keys.kek_id`` of a data key wrapped under one of the environment's root keys."""
KEY_ID_MAX: Final = 128
"""The longest key id the store holds (``data_keys.kek_id``, ``root_keys.provider_id``)."""


class Outcome(StrEnum):
    OK = "ok"
    DENIED = "denied"
    NOT_FOUND = "not_found"
    EXPIRED = "expired"
    CONFLICT = "conflict"
    INVALID = "invalid"
    TAMPERED = "tampered"
    LIMITED = "limited"
    ERROR = "error"


# -- labels: text that goes into audit rows and token claims ------------------------------------------

MAX_LABEL_CHARS: Final = 128
"""Actors, request ids, tenant and secret names in audit rows, API key names."""
MAX_PURPOSE_CHARS: Final = 256
MAX_CLAIM_CHARS: Final = 256
"""Token subjects, audiences and issuers."""
MAX_DETAIL_CHARS: Final = 512
"""An audit event's ``detail``; also a secret's description."""

# -- environment variables ----------------------------------------------------------------------------

HOME_ENV: Final = "STRONGROOM_HOME"
URL_ENV: Final = "STRONGROOM_URL"
ENVIRONMENT_ENV: Final = "STRONGROOM_ENV"
ACTOR_ENV: Final = "STRONGROOM_ACTOR"
MASTER_KEY_ENV: Final = "STRONGROOM_MASTER_KEY"
MASTER_KEY_ID_ENV: Final = "STRONGROOM_MASTER_KEY_ID"
KEK_ENV: Final = "STRONGROOM_KEK"
"""The key provider, by URI: ``file:``, ``env:``, ``pkcs11:``, ``aws-kms:``, ``gcp-kms:``, ``azure-keyvault:``,
``transit:`` (``strongroom.crypto.providers.uri``). Unset: ``STRONGROOM_MASTER_KEY`` or the key file."""
SECRETS_DIR_ENV: Final = "STRONGROOM_SECRETS_DIR"
DEBUG_ENV: Final = "STRONGROOM_DEBUG"
AUDIT_CHECKPOINTS_ENV: Final = "STRONGROOM_AUDIT_CHECKPOINTS"
"""Where signed audit checkpoints go (``strongroom.audit.checkpoints.sinks_from_spec``); unset: a file under
``$STRONGROOM_HOME/audit/``; ``off``: nowhere."""
AUDIT_CHECKPOINT_SECONDS_ENV: Final = "STRONGROOM_AUDIT_CHECKPOINT_SECONDS"
RATE_LIMIT_STORAGE_ENV: Final = "STRONGROOM_RATE_LIMIT_STORAGE"
"""Where the service counts failed authentications: ``memory://`` (default) or ``redis://host:port/db``."""
ROTATION_INTERVAL_ENV: Final = "STRONGROOM_ROTATION_INTERVAL"
"""Seconds between the rotation worker's runs inside ``strongroom serve`` (default 60; 0: no worker)."""
AUDIT_MODE_ENV: Final = "STRONGROOM_AUDIT_MODE"
"""``strongroom serve``'s audit mode: ``async`` (default) or ``strict`` (docs/audit.md, "Durability")."""
