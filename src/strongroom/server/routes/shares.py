"""One-time delivery links: ``POST`` stores a value for one redemption, ``GET`` on the link returns it once."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from strongroom.audit.context import AuditContext, header_labels, screened
from strongroom.server.app import ServiceState
from strongroom.server.auth import client_of, withholder
from strongroom.server.deps import Caller, State, actor
from strongroom.server.models import ShareIn, ShareOut
from strongroom.server.routes import context_of

router = APIRouter(tags=["shares"])


@router.post(
    "/v1/tenants/{tenant}/shares",
    status_code=201,
    summary="Store a value behind a link that works once and expires (response wrapping)",
)
def create_share(tenant: str, body: ShareIn, caller: Caller, state: State, request: Request) -> ShareOut:
    caller.require("shares:create", tenant)
    token, info = state.shares.create(
        tenant, body.value, ttl_seconds=body.ttl_seconds, actor=actor(caller), context=context_of(request)
    )
    request.state.returns_credential = True
    link = token.reveal()
    return ShareOut(id=info.id, url=f"{state.public_url}/v1/shares/{link}", token=link, expires_at=info.expires_at)


@router.get(
    "/v1/shares/{token}",
    response_class=PlainTextResponse,
    summary="Redeem a share link: the value, once (404 after, 410 once expired)",
    responses={
        200: {"content": {"text/plain": {}}},
        404: {"description": "unknown or used"},
        410: {"description": "expired"},
    },
)
def redeem_share(token: str, state: State, request: Request) -> PlainTextResponse:
    value = state.shares.redeem(token, context=_redeemer(state, request, token))
    request.state.returns_credential = True
    return PlainTextResponse(value.reveal(), headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def _redeemer(state: ServiceState, request: Request, token: str) -> str | None:
    """The redeemer's audit context: whoever holds the link is anonymous, so from where and its labels only,
    screened as for an unauthenticated caller, the link's own token included (never recorded)."""
    client, peer = client_of(request.scope)
    labels = header_labels(request.headers)
    found = screened(labels, withholder(state, None, token)) if labels else {}
    return AuditContext(client=client, peer=peer).but(**found).encode()
