"""Token exchange (API key -> short-lived agent token), revocation, and the public keys (JWKS)."""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import APIRouter, Request, Response

from strongroom.errors import InvalidInput
from strongroom.server.deps import Caller, State, actor
from strongroom.server.models import RevokeIn, TokenIn, TokenOut

router = APIRouter(tags=["tokens"])


@router.post("/v1/tokens", status_code=201, summary="Exchange a tenant API key for a short-lived agent token")
def issue_token(body: TokenIn, caller: Caller, state: State, request: Request) -> TokenOut:
    caller.require("tokens:issue")
    if caller.kind != "api_key" or caller.tenant is None:
        raise InvalidInput("tokens are issued to a tenant API key (not to a token, nor to the admin key)")
    wanted = set(body.scopes)
    if not wanted <= caller.scopes:
        raise InvalidInput(f"a token cannot carry scopes its key lacks: {', '.join(sorted(wanted - caller.scopes))}")
    issued = state.tokens.issue(
        tenant=caller.tenant,
        subject=body.subject or caller.subject,
        audience=body.audience or state.audience,
        scopes=wanted,
        ttl_seconds=body.ttl_seconds,
        actor=actor(caller),
    )
    request.state.returns_credential = True
    return TokenOut(
        access_token=issued.token.reveal(),
        expires_in=max(0, math.floor(issued.expires_at - time.time())),
        expires_at=issued.expires_at,
        jti=issued.jti,
        scope=" ".join(sorted(issued.scopes)),
    )


@router.post("/v1/tokens/revoke", status_code=204, summary="Revoke a token before it expires")
def revoke_token(body: RevokeIn, caller: Caller, state: State) -> Response:
    caller.require("tokens:issue")
    if caller.tenant is None:
        raise InvalidInput("revoke a token with a key of the tenant it was issued to")
    # The token itself, not its id: only a holder of the token, in its own tenant, can revoke it.
    claims = state.tokens.verify(body.token, audience=state.audience, tenant=caller.tenant)
    state.tokens.revoke(claims.jti, tenant=caller.tenant, expires_at=claims.expires_at, actor=actor(caller))
    return Response(status_code=204)


@router.get("/.well-known/jwks.json", summary="Public keys that verify agent tokens")
def jwks(state: State) -> dict[str, Any]:
    keys: dict[str, Any] = state.tokens.jwks()
    return keys
