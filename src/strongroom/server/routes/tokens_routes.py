"""Token exchange (API key -> short-lived agent token), revocation, and the public keys (JWKS)."""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import APIRouter, Request, Response

from strongroom.errors import AccessDenied, InvalidInput
from strongroom.server.app import ServiceState
from strongroom.server.auth import Principal
from strongroom.server.deps import Caller, State, actor
from strongroom.server.models import RevokeIn, TokenIn, TokenOut
from strongroom.server.routes import context_of
from strongroom.vocabulary import Scope

router = APIRouter(tags=["tokens"])


@router.post("/v1/tokens", status_code=201, summary="Exchange a tenant API key for a short-lived agent token")
def issue_token(body: TokenIn, caller: Caller, state: State, request: Request) -> TokenOut:
    caller.require(Scope.TOKENS_ISSUE)
    if caller.kind != "api_key" or caller.tenant is None:
        raise InvalidInput("tokens are issued to a tenant API key (not to a token, nor to the admin key)")
    # The key as stored: the token names it (revoking the key revokes the token) and never outlives it.
    key = state.api_keys.get(caller.id, tenant=caller.tenant)
    issued = state.tokens.issue(
        tenant=caller.tenant,
        subject=body.subject or caller.subject,
        audience=body.audience or state.audience,
        scopes=body.scopes,
        ttl_seconds=body.ttl_seconds,
        actor=actor(caller),
        key=key,
        agent_run=body.agent_run,
        client_id=body.client_id,
        context=context_of(request),
    )
    request.state.returns_credential = True
    return TokenOut(
        access_token=issued.token.reveal(),
        expires_in=max(0, math.floor(issued.expires_at - time.time())),
        expires_at=issued.expires_at,
        jti=issued.jti,
        scope=" ".join(sorted(issued.scopes)),
    )


@router.post(
    "/v1/tokens/revoke",
    status_code=204,
    summary="Revoke a token before it expires, by the token itself or by its jti",
    description='`{"token": ...}`: the token (for any audience), by a key of its tenant holding `tokens:issue` '
    'or `keys:manage`, or by the admin key. `{"jti": ...}`: a token id, by a key of the tenant holding '
    "`keys:manage`, or by the admin key with `tenant`. Revoking a revoked or expired token succeeds.",
)
def revoke_token(body: RevokeIn, caller: Caller, state: State, request: Request) -> Response:
    context = context_of(request)
    if body.token is not None and body.jti is None:
        _revoke_presented(body.token, body.tenant, caller, state, context)
    elif body.jti is not None and body.token is None:
        _revoke_by_id(body.jti, body.tenant, caller, state, context)
    else:
        raise InvalidInput('give either "token" (the token to revoke) or "jti" (its id), not both or neither')
    return Response(status_code=204)


def _revoke_presented(
    token: str, tenant: str | None, caller: Principal, state: ServiceState, context: str | None
) -> None:
    if tenant is not None:
        raise InvalidInput('"tenant" goes with "jti" only: a token names its own tenant')
    try:
        claims = state.tokens.claims_to_revoke(token)
    except AccessDenied as exc:  # about the token in the body, not about the caller: 400
        raise InvalidInput(f"the token to revoke does not verify: {exc}") from None
    if claims is None:
        return  # expired: nothing is left to revoke
    if not caller.is_admin:
        # A key of the token's tenant that mints tokens (or manages keys) may revoke one it holds.
        scope = Scope.KEYS_MANAGE if Scope.KEYS_MANAGE in caller.scopes else Scope.TOKENS_ISSUE
        caller.require(scope, claims.tenant)
    state.tokens.revoke(
        claims.jti, tenant=claims.tenant, expires_at=claims.expires_at, actor=actor(caller), context=context
    )


def _revoke_by_id(jti: str, tenant: str | None, caller: Principal, state: ServiceState, context: str | None) -> None:
    if caller.is_admin:
        if tenant is None:
            raise InvalidInput('revoking by "jti" with the admin key needs "tenant": the tenant the token is for')
    else:
        # By id alone nothing proves whose token it is: only the tenant's key managers revoke by jti.
        if caller.tenant is None:
            raise AccessDenied("revoking a token by jti needs the admin key or a tenant key holding keys:manage")
        caller.require(Scope.KEYS_MANAGE, tenant or caller.tenant)
        tenant = caller.tenant
    state.tokens.revoke(jti, tenant=tenant, actor=actor(caller), context=context)


@router.get("/.well-known/jwks.json", summary="Public keys that verify agent tokens")
def jwks(state: State) -> dict[str, Any]:
    keys: dict[str, Any] = state.tokens.jwks()
    return keys
