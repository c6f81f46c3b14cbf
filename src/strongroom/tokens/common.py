"""What the token modules share: event building and input checks.

They write only through the vault's repositories (``vault.api_key_repo``, ``vault.token_repo``,
``vault.share_repo``), each write one unit of work of the vault: queued use events flushed first, the
change and its audit event committed in one transaction, a refusal audited.
"""

from __future__ import annotations

from strongroom.audit import AuditEvent, Outcome
from strongroom.errors import InvalidInput
from strongroom.names import check_name
from strongroom.vault import Vault
from strongroom.vault.policy import check_text
from strongroom.vocabulary import INTERNAL_TENANTS, MAX_LABEL_CHARS, NO_TENANT, PLATFORM_TENANT

__all__ = [
    "INTERNAL_TENANTS",
    "KEY_REVOCATION_KEPT_SECONDS",
    "MAX_TOKEN_LIFETIME_SECONDS",
    "NO_TENANT",
    "PLATFORM_TENANT",
    "check_tenant_name",
    "check_text",
    "event",
]

MAX_TOKEN_LIFETIME_SECONDS = 86400.0
"""No ``TokenService`` may be configured to issue or accept a token living longer (TTL plus leeway)."""
KEY_REVOCATION_KEPT_SECONDS = MAX_TOKEN_LIFETIME_SECONDS + 3600.0
"""How long a revoked API key stays in the revocation snapshot: longer than any token it minted can live
(one raced past the revocation included), so ``ApiKeys`` needs no token settings to know it."""


def event(
    vault: Vault,
    tenant: str | None,
    action: str,
    *,
    actor: str,
    at: float,
    detail: str | None = None,
    outcome: str = Outcome.OK,
    name: str | None = None,
    version: int | None = None,
    context: str | None = None,
) -> AuditEvent:
    """``Vault.audit_event`` with the actor required (the service always names who acted); ``context``: the
    caller's, ``AuditContext(...).encode()`` (the service passes its request's)."""
    check_text("actor", actor, MAX_LABEL_CHARS)
    return vault.audit_event(
        tenant or None,
        action,
        name,
        actor=actor,
        at=at,
        detail=detail,
        outcome=outcome,
        version=version,
        context=context,
    )


def check_tenant_name(tenant: str) -> str:
    check_name("tenant name", tenant)
    if tenant in INTERNAL_TENANTS:
        raise InvalidInput(f"tenant {tenant!r} is internal to strongroom: no keys or tokens are issued for it")
    return tenant
