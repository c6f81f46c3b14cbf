"""Audit events: who did what to which secret, when, why, and how it ended. Never a value."""

from __future__ import annotations

from typing import NamedTuple


class Action:
    # S105 reads SECRET_* as passwords; these are action names.
    TENANT_CREATE = "tenant.create"
    TENANT_DELETE = "tenant.delete"
    SECRET_PUT = "secret.put"  # noqa: S105
    SECRET_USE = "secret.use"  # noqa: S105
    SECRET_DELETE = "secret.delete"  # noqa: S105
    SECRET_PURGE = "secret.purge"  # noqa: S105
    KEY_REWRAP = "key.rewrap"
    # The service (strongroom.tokens): API keys and short-lived agent tokens. Values never appear.
    API_KEY_CREATE = "api_key.create"
    API_KEY_REVOKE = "api_key.revoke"
    API_KEY_REFUSED = "api_key.refused"  # a known key presented after revocation or expiry
    TOKEN_ISSUE = "token.issue"  # noqa: S105
    TOKEN_REVOKE = "token.revoke"  # noqa: S105
    TOKEN_KEY_ROTATE = "token.key_rotate"  # noqa: S105
    AUTH_FAIL = "auth.fail"  # a credential refused at the service's door (its public id only)
    BROKER_CALL = "broker.call"  # one brokered upstream call: connector, operation, status, latency
    CONNECTOR_PUT = "connector.put"
    CONNECTOR_DELETE = "connector.delete"
    SHARE_CREATE = "share.create"
    SHARE_REDEEM = "share.redeem"
    FINGERPRINTS_READ = "fingerprints.read"  # `scan --known` loaded the fingerprint key (no value is read)


class Outcome:
    OK = "ok"
    DENIED = "denied"
    NOT_FOUND = "not_found"
    EXPIRED = "expired"
    CONFLICT = "conflict"
    INVALID = "invalid"
    TAMPERED = "tampered"
    ERROR = "error"


class AuditEvent(NamedTuple):
    """One event before it is chained. ``detail`` is a short, value-free note (an error class, a count)."""

    at: float
    environment: str
    actor: str
    tenant: str
    action: str
    secret_name: str | None = None
    version: int | None = None
    purpose: str | None = None
    outcome: str = Outcome.OK
    request_id: str | None = None
    detail: str | None = None

    @property
    def chain(self) -> str:
        # One chain per environment and tenant: writers for different tenants never wait on each other.
        return f"{self.environment}/{self.tenant}"
