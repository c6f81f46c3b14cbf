"""What the token modules share: their audited write transaction, event building, input checks.

Writes follow ``Vault``'s rule: queued use events are flushed first (so one process's events are chained
in the order they happened), then the change and its audit event commit in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from strongroom.audit import AuditEvent, Outcome
from strongroom.errors import InvalidInput, NotFound
from strongroom.names import check_name
from strongroom.store import TenantRecord, Tx
from strongroom.vault import Vault
from strongroom.vocabulary import INTERNAL_TENANTS, MAX_DETAIL_CHARS, MAX_LABEL_CHARS, NO_TENANT, PLATFORM_TENANT

__all__ = [
    "INTERNAL_TENANTS",
    "NO_TENANT",
    "PLATFORM_TENANT",
    "audited_write",
    "check_tenant_name",
    "check_text",
    "event",
]


@contextmanager
def audited_write(vault: Vault) -> Iterator[Tx]:
    vault.audit.flush()
    with vault.store.write() as tx:
        yield tx


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
) -> AuditEvent:
    check_text("actor", actor, MAX_LABEL_CHARS)
    return AuditEvent(
        at=at,
        environment=vault.environment,
        actor=actor,
        tenant=tenant or NO_TENANT,
        action=action,
        secret_name=name,
        version=version,
        outcome=outcome,
        detail=None if detail is None else detail[:MAX_DETAIL_CHARS],
    )


def check_text(what: str, value: object, max_chars: int) -> str:
    """Printable text of 1..max_chars characters: it goes into audit rows and JWT claims."""
    if not isinstance(value, str) or not value or len(value) > max_chars or not value.isprintable():
        raise InvalidInput(f"{what} must be 1-{max_chars} printable characters")
    return value


def check_tenant_name(tenant: str) -> str:
    check_name("tenant name", tenant)
    if tenant in INTERNAL_TENANTS:
        raise InvalidInput(f"tenant {tenant!r} is internal to strongroom: no keys or tokens are issued for it")
    return tenant


def find_tenant(tx: Tx, vault: Vault, tenant: str) -> TenantRecord:
    record = tx.tenant(vault.environment, tenant)
    if record is None:
        raise NotFound(f"tenant {tenant!r} not found in {vault.environment}")
    return record
