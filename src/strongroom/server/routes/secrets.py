"""Tenant secrets: write-only. No route returns a value; reads are metadata and versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from strongroom.errors import Conflict, InvalidInput
from strongroom.server.actions_endpoint import tenant_connectors
from strongroom.server.app import ServiceState
from strongroom.server.auth import Principal
from strongroom.server.deps import Caller, State, actor, request_id
from strongroom.server.errors import ApiError
from strongroom.server.models import (
    DestinationIn,
    DestinationOut,
    DestinationsIn,
    SecretDetail,
    SecretIn,
    SecretOut,
    VersionOut,
)
from strongroom.server.routes import context_of
from strongroom.vault import SecretInfo
from strongroom.vault.destinations import AllowedDestination, DestinationPolicy
from strongroom.vocabulary import Kind, Scope, Sensitivity

router = APIRouter(prefix="/v1/tenants/{tenant}/secrets", tags=["secrets"])


def _out(info: SecretInfo) -> SecretOut:
    return SecretOut(
        tenant=info.tenant,
        name=info.name,
        kind=Kind(info.kind),
        sensitivity=Sensitivity(info.sensitivity),
        description=info.description,
        version=info.version,
        created_at=info.created_at,
        updated_at=info.updated_at,
        deleted_at=info.deleted_at,
        expires_at=info.expires_at,
        destinations=None
        if info.destinations is None
        else [DestinationOut(**entry) for entry in info.destinations.to_data()],
    )


def _policy(state: ServiceState, tenant: str, entries: list[DestinationIn]) -> DestinationPolicy:
    """The policy the body gives; a ``connector`` entry is resolved now to that connector's origin and
    placement, and all three are kept, so re-creating the connector elsewhere does not move the secret."""
    known = tenant_connectors(state, tenant) if any(e.connector is not None for e in entries) else {}
    allowed: list[AllowedDestination] = []
    for i, entry in enumerate(entries, 1):
        if entry.connector is None:
            if entry.origin is None or entry.placements is None:
                raise InvalidInput(
                    f"destination #{i}: give 'origin' and 'placements' (or 'connector' alone), e.g. "
                    '{"origin": "https://api.example.com", "placements": ["bearer"]}'
                )
            allowed.append(
                AllowedDestination(
                    entry.origin, tuple(entry.placements), None if entry.connectors is None else tuple(entry.connectors)
                )
            )
            continue
        if entry.origin is not None or entry.placements is not None or entry.connectors is not None:
            raise InvalidInput(f"destination #{i}: give 'connector' alone, or 'origin' and 'placements' without it")
        connector = known.get(entry.connector)
        if connector is None:
            raise InvalidInput(
                f"destination #{i}: tenant {tenant!r} has no connector {entry.connector!r}: "
                "define it first, or give its origin and placements"
            )
        target = connector.destination
        allowed.append(AllowedDestination(target.origin, (target.placement,), (connector.name,)))
    return DestinationPolicy(tuple(allowed))


def _may_write_destinations(caller: Principal) -> bool:
    return caller.is_admin or Scope.DESTINATIONS_WRITE in caller.scopes


def _expected_version(if_match: str | None, if_none_match: str | None) -> int | None:
    """``If-Match: <version>`` makes the write a check-and-set; ``If-None-Match: *`` means create only."""
    if if_none_match is not None:
        if if_none_match.strip() != "*":
            raise InvalidInput("If-None-Match takes only '*' (create only)")
        return 0
    if if_match is None:
        return None
    tag = if_match.strip().strip('"')
    if not tag.isdigit() or len(tag) > 9:
        raise InvalidInput("If-Match takes the current version number, e.g. If-Match: 3")
    return int(tag)


@router.put(
    "/{name}",
    summary="Write a new version of a secret (write-only)",
    responses={412: {"description": "If-Match did not match the current version"}},
)
def put_secret(
    tenant: str,
    name: str,
    body: SecretIn,
    caller: Caller,
    state: State,
    request: Request,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> SecretOut:
    caller.require("secrets:write", tenant)
    expected = _expected_version(if_match, if_none_match)
    kind = body.kind or (Kind.EPHEMERAL if body.ttl_seconds is not None else None)
    if kind == Kind.PLATFORM and not caller.is_admin:
        raise InvalidInput("platform secrets are the operator's: a tenant key writes tenant or ephemeral secrets")
    policy = None if body.destinations is None else _policy(state, tenant, body.destinations)
    try:
        info = state.vault.put(
            tenant,
            name,
            body.value,
            kind=kind,
            sensitivity=body.sensitivity,
            description=body.description,
            expected_version=expected,
            ttl_seconds=body.ttl_seconds,
            destinations=policy,
            may_change_destinations=_may_write_destinations(caller),
            actor=actor(caller),
            request_id=request_id(request),
            context=context_of(request),
        )
    except Conflict as exc:
        if expected is None:
            raise
        raise ApiError(412, "precondition_failed", str(exc)) from None
    response.headers["ETag"] = f'"{info.version}"'
    return _out(info)


@router.put(
    "/{name}/destinations",
    summary="Set where the broker may send a secret (needs destinations:write; no new version)",
)
def put_destinations(
    tenant: str, name: str, body: DestinationsIn, caller: Caller, state: State, request: Request
) -> SecretOut:
    caller.require(Scope.DESTINATIONS_WRITE, tenant)
    policy = None if body.destinations is None else _policy(state, tenant, body.destinations)
    info = state.vault.set_destinations(
        tenant, name, policy, actor=actor(caller), request_id=request_id(request), context=context_of(request)
    )
    return _out(info)


@router.get("", summary="List a tenant's secrets (metadata only)")
def list_secrets(
    tenant: str, caller: Caller, state: State, include_deleted: Annotated[bool, Query()] = False
) -> list[SecretOut]:
    caller.require("secrets:read-metadata", tenant)
    return [_out(info) for info in state.vault.list(tenant, include_deleted=include_deleted)]


@router.get("/{name}", summary="A secret's metadata and versions (never its value)")
def get_secret(tenant: str, name: str, caller: Caller, state: State, response: Response) -> SecretDetail:
    caller.require("secrets:read-metadata", tenant)
    found = [info for info in state.vault.list(tenant, include_deleted=True) if info.name == name]
    if not found:
        from strongroom.errors import NotFound

        raise NotFound(f"secret {name!r} not found in tenant {tenant!r}")
    versions = [
        VersionOut(
            version=v.version,
            current=v.current,
            created_at=v.created_at,
            created_by=v.created_by,
            expires_at=v.expires_at,
            stage=v.stage,
        )
        for v in state.vault.versions(tenant, name)
    ]
    response.headers["ETag"] = f'"{found[0].version}"'
    return SecretDetail(**_out(found[0]).model_dump(), versions=versions)


@router.delete("/{name}", status_code=204, summary="Delete a secret (soft; purge=true removes every version)")
def delete_secret(
    tenant: str, name: str, caller: Caller, state: State, request: Request, purge: Annotated[bool, Query()] = False
) -> Response:
    caller.require("secrets:delete", tenant)
    remove = state.vault.purge if purge else state.vault.delete
    remove(tenant, name, actor=actor(caller), request_id=request_id(request), context=context_of(request))
    return Response(status_code=204)
