"""Tenants (operator only) and their API keys."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from strongroom.errors import InvalidInput
from strongroom.names import check_new_tenant_name
from strongroom.server.deps import Caller, State, actor, request_id
from strongroom.server.models import ApiKeyCreated, ApiKeyIn, ApiKeyOut, TenantIn, TenantOut
from strongroom.server.routes import context_of
from strongroom.vocabulary import Scope

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])


@router.post("", status_code=201, summary="Create a tenant (admin)")
def create_tenant(body: TenantIn, caller: Caller, state: State, request: Request) -> TenantOut:
    caller.require_admin()
    check_new_tenant_name(body.name)  # no reserved name over HTTP, the platform tenant's included
    info = state.vault.create_tenant(
        body.name, actor=actor(caller), request_id=request_id(request), context=context_of(request)
    )
    return TenantOut(name=info.name, id=info.id, environment=info.environment, created_at=info.created_at)


@router.get("", summary="List tenants (admin)")
def list_tenants(caller: Caller, state: State) -> list[TenantOut]:
    caller.require_admin()
    return [
        TenantOut(name=t.name, id=t.id, environment=t.environment, created_at=t.created_at)
        for t in state.vault.list_tenants()
    ]


@router.delete("/{tenant}", status_code=204, summary="Delete a tenant and destroy its keys (admin)")
def delete_tenant(tenant: str, caller: Caller, state: State, request: Request) -> Response:
    caller.require_admin(tenant)  # a reserved name (_platform, _scan, -) is not found
    state.vault.delete_tenant(tenant, actor=actor(caller), request_id=request_id(request), context=context_of(request))
    return Response(status_code=204)


def key_out(info: object) -> dict[str, object]:
    """An API key's metadata as the models take it (shared with the admin-key routes)."""
    fields = ("id", "prefix", "tenant", "name", "created_at", "expires_at", "revoked_at", "last_used_at")
    out: dict[str, object] = {f: getattr(info, f) for f in fields}
    out["scopes"] = sorted(getattr(info, "scopes"))  # noqa: B009 -- typed loosely on purpose: one helper
    return out


@router.post("/{tenant}/api-keys", status_code=201, summary="Create an API key for a tenant (admin); shown once")
def create_api_key(tenant: str, body: ApiKeyIn, caller: Caller, state: State, request: Request) -> ApiKeyCreated:
    caller.require_admin()
    if Scope.GPT_DOCUMENT in body.scopes:  # a key that goes into a URL is made only as one, scoped to it alone
        raise InvalidInput(
            "gpt:document is a GPT document link's scope: create a link with "
            f"POST /v1/tenants/{tenant}/gpt/document-links"
        )
    state.vault.list(tenant)  # NotFound for an unknown tenant, before anything is written
    key, info = state.api_keys.create(
        tenant=tenant,
        name=body.name,
        scopes=body.scopes,
        ttl_seconds=body.ttl_seconds,
        actor=actor(caller),
        context=context_of(request),
    )
    request.state.returns_credential = True
    return ApiKeyCreated(key=key.reveal(), **key_out(info))  # type: ignore[arg-type]


@router.get("/{tenant}/api-keys", summary="List a tenant's API keys (metadata only; keys:manage)")
def list_api_keys(tenant: str, caller: Caller, state: State) -> list[ApiKeyOut]:
    caller.require(Scope.KEYS_MANAGE, tenant)
    return [ApiKeyOut(**key_out(info)) for info in state.api_keys.list(tenant)]  # type: ignore[arg-type]


@router.delete(
    "/{tenant}/api-keys/{key_id}", status_code=204, summary="Revoke an API key and every token it minted (keys:manage)"
)
def revoke_api_key(tenant: str, key_id: str, caller: Caller, state: State, request: Request) -> Response:
    caller.require(Scope.KEYS_MANAGE, tenant)
    revoked = state.api_keys.revoke(key_id, tenant=tenant, actor=actor(caller), context=context_of(request))
    state.tokens.key_revoked(revoked)  # its tokens fail here at once; other processes within the refresh
    return Response(status_code=204)
