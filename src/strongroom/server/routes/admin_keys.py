"""The operator's admin keys: create, list, revoke (admin only).

The last live admin key cannot be revoked (409): create another first. A lost admin key is recovered
on the host, never over HTTP: ``strongroom admin-key create`` with the environment's key file and
database (docs/service.md, "If you lost the admin key").
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from strongroom.server import errors
from strongroom.server.deps import Caller, State, actor
from strongroom.server.models import AdminKeyIn, ApiKeyCreated, ApiKeyOut
from strongroom.server.routes import context_of
from strongroom.server.routes.tenants import key_out
from strongroom.vocabulary import ADMIN_SCOPE

router = APIRouter(prefix="/v1/admin-keys", tags=["admin keys"])


@router.post("", status_code=201, summary="Create an admin key (admin); shown once")
def create_admin_key(body: AdminKeyIn, caller: Caller, state: State, request: Request) -> ApiKeyCreated:
    caller.require_admin()
    key, info = state.api_keys.create(
        tenant=None,
        name=body.name,
        scopes=[ADMIN_SCOPE],
        ttl_seconds=body.ttl_seconds,
        actor=actor(caller),
        context=context_of(request),
    )
    request.state.returns_credential = True
    return ApiKeyCreated(key=key.reveal(), **key_out(info))  # type: ignore[arg-type]


@router.get("", summary="List the operator's keys (admin; metadata only)")
def list_admin_keys(caller: Caller, state: State) -> list[ApiKeyOut]:
    caller.require_admin()
    return [ApiKeyOut(**key_out(info)) for info in state.api_keys.list(None)]  # type: ignore[arg-type]


@router.delete(
    "/{key_id}",
    status_code=204,
    summary="Revoke an admin key (admin; 409 for the last one: create another first)",
    responses=errors.openapi_responses(409),
)
def revoke_admin_key(key_id: str, caller: Caller, state: State, request: Request) -> Response:
    caller.require_admin()
    state.api_keys.revoke(key_id, tenant=None, actor=actor(caller), context=context_of(request))
    return Response(status_code=204)
