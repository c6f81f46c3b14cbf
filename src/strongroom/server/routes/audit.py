"""The audit log: query events, verify the hash chains."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from strongroom.audit.context import decode
from strongroom.clock import from_iso
from strongroom.errors import InvalidInput
from strongroom.server.auth import check_tenant_door
from strongroom.server.deps import Caller, State
from strongroom.server.models import AuditOut, VerifyOut

router = APIRouter(prefix="/v1/audit", tags=["audit"])
WHEN = "ISO 8601 (2026-12-03T16:00:00Z; no zone: UTC) or seconds since the epoch"


def _when(what: str, text: str | None) -> float | None:
    """A query's time bound as epoch seconds: ISO 8601 like the answers' times, or a number of seconds."""
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            # Answers show times rounded to the microsecond: half of one earlier, so an event shown at this
            # very time is in ``since`` (inclusive) and out of ``until`` (exclusive), as it reads.
            seconds = from_iso(text) - 0.5e-6
        except ValueError:
            raise InvalidInput(
                f"{what} must be an ISO 8601 time (2026-12-03T16:00:00Z) or seconds since the epoch"
            ) from None
    if not 0 <= seconds < 1e11:
        raise InvalidInput(f"{what} must be a time after 1970 (ISO 8601, or seconds since the epoch)")
    return seconds


@router.get("", summary="Audit events, newest first, filtered by tenant, secret, actor, action and time")
def query(
    caller: Caller,
    state: State,
    tenant: Annotated[str | None, Query(max_length=128)] = None,
    secret: Annotated[str | None, Query(max_length=128)] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    since: Annotated[str | None, Query(max_length=40, description=WHEN)] = None,
    until: Annotated[str | None, Query(max_length=40, description=WHEN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    check_tenant_door(tenant)  # no reserved name addresses a chain (the environment-wide one is "-")
    if not caller.is_admin:
        caller.require("audit:read", tenant)
        tenant = caller.tenant  # a tenant sees its own chain only
    events = state.vault.audit_events(
        tenant=tenant,
        newest_first=True,
        secret_name=secret,
        actor=actor,
        action=action,
        since=_when("since", since),
        until=_when("until", until),
        limit=limit,
    )
    return [
        AuditOut(
            id=e.id,
            chain=e.chain,
            seq=e.seq,
            at=e.at,
            environment=e.environment,
            actor=e.actor,
            tenant=e.tenant,
            action=e.action,
            secret_name=e.secret_name,
            version=e.version,
            purpose=e.purpose,
            outcome=e.outcome,
            request_id=e.request_id,
            detail=e.detail,
            hash=e.hash,
            context=decode(e.context) or None,
        )
        for e in events
    ]


@router.get("/verify", summary="Verify every hash chain (admin)")
def verify(caller: Caller, state: State) -> VerifyOut:
    caller.require_admin()
    report = state.vault.verify_audit()
    return VerifyOut(
        ok=report.ok,
        events=report.events,
        chains=report.chains,
        problems=[] if report.broken is None else [str(report.broken)],
    )
