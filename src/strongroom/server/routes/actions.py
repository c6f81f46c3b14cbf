"""A tenant's connectors and its GPT Actions document.

Connectors come from the operator's TOML file (available to every tenant that holds the credential they
name) and from the tenant's own, written through the API (``vault.connector_repo``: one unit of work of the
vault each, so queued use events are chained before the change, and a refusal is audited). The agents'
calls through them, ``/v1/actions/{connector}/{path}``, are served by ``strongroom.server.actions_endpoint``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from strongroom.audit import Action, AuditEvent
from strongroom.broker import Connector, connector_from_dict, connector_to_dict, gpt_actions_document
from strongroom.errors import AccessDenied, InvalidInput
from strongroom.server.actions_endpoint import tenant_connectors
from strongroom.server.app import ServiceState
from strongroom.server.auth import Principal
from strongroom.server.deps import Caller, State, actor, request_id
from strongroom.server.routes import context_of
from strongroom.vault.destinations import allowed
from strongroom.vocabulary import Scope

router = APIRouter(tags=["actions"])

MAX_JSON_DEPTH = 16  # a connector definition nests 3 deep


def _deeper_than(data: object, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` deep (walked level by level: no recursion)."""
    level, depth = [data], 1
    while level:
        if depth > limit:
            return True
        below: list[object] = []
        for value in level:
            children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
            below += [child for child in children if isinstance(child, dict | list)]
        level, depth = below, depth + 1
    return False


def _connector_body(raw: bytes) -> dict[str, Any]:
    too_deep = f"the connector definition nests more than {MAX_JSON_DEPTH} levels deep"
    try:
        data = json.loads(raw)
    except RecursionError:  # json.loads recurses per level: past ~1,000 it gives up, and so do we
        raise InvalidInput(too_deep) from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the body must be a JSON connector definition") from None
    if _deeper_than(data, MAX_JSON_DEPTH):
        raise InvalidInput(too_deep)
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    return data


def _event(
    state: ServiceState,
    tenant: str,
    action: str,
    caller: Principal,
    request: Request,
    name: str,
    at: float,
    origin: str | None = None,
) -> AuditEvent:
    detail = f"connector {name}" + (f" -> {origin}" if origin else "")
    return state.vault.audit_event(
        tenant,
        action,
        actor=actor(caller),
        request_id=request_id(request),
        at=at,
        detail=detail,
        context=context_of(request),  # who and from where (server.auth.authenticate)
    )


def _may_write_destinations(caller: Principal) -> bool:
    return caller.is_admin or Scope.DESTINATIONS_WRITE in caller.scopes


def _origin_kept(name: str, origin: str, may_move: bool) -> Callable[[str | None], None]:
    """``check_replace`` for ``connector_repo.put``: setting a base URL origin, on a new connector or a
    changed one, needs ``destinations:write``. A new one too: a policy that names a connector
    (``{"connector": X}``) binds to the origin X has when the policy is written, so an agent that could
    delete X and define it anew elsewhere would choose where that secret goes."""

    def check(old_definition: str | None) -> None:
        old: str | None = None
        if old_definition is not None:
            try:
                old = connector_from_dict(json.loads(old_definition), where=f"connector {name!r}").origin
            except (InvalidInput, ValueError, RecursionError):
                old = None  # an unreadable stored definition: replacing it is a change of origin
        if old == origin or may_move:
            return
        if old_definition is None:
            raise AccessDenied(
                f"defining connector {name!r}, which sends a credential to {origin}, needs the scope "
                "destinations:write (an API key's, never an agent token's)"
            )
        raise AccessDenied(
            f"connector {name!r} sends its credential to {old or 'another origin'}: moving it to {origin} "
            "needs the scope destinations:write (an API key's, never an agent token's)"
        )

    return check


def enabled_connectors(state: ServiceState, tenant: str) -> list[Connector]:
    """Connectors whose credential the tenant holds and may send there: the ones an agent can actually call."""
    held = {info.name: info.destinations for info in state.vault.list(tenant)}
    return [
        c
        for c in tenant_connectors(state, tenant).values()
        if c.credential.secret in held and allowed(held[c.credential.secret], c.destination)
    ]


@router.get("/v1/tenants/{tenant}/connectors", summary="Connectors available to a tenant")
def list_connectors(tenant: str, caller: Caller, state: State) -> list[dict[str, Any]]:
    caller.require("connectors:read", tenant)
    return [connector_to_dict(c) for c in tenant_connectors(state, tenant).values()]


@router.put("/v1/tenants/{tenant}/connectors/{name}", summary="Declare a tenant's own connector")
async def put_connector(tenant: str, name: str, request: Request, caller: Caller, state: State) -> dict[str, Any]:
    caller.require("connectors:write", tenant)
    data = await asyncio.to_thread(_connector_body, await request.body())  # up to 1 MiB: off the event loop
    if name in state.declared_connectors:
        raise InvalidInput(f"connector {name!r} is declared by the operator and cannot be replaced")
    if data.get("allow_private_network") and not caller.is_admin:
        # Else a tenant could aim the broker at the service's own network (SSRF): only the operator may.
        raise InvalidInput("allow_private_network is for connectors the operator declares, not a tenant's own")
    try:
        connector = connector_from_dict({**data, "name": name}, where=f"connector {name!r}")
    except InvalidInput:
        raise
    except Exception as exc:  # a shape the checks did not foresee: the caller's data, so a 400, never a 500
        raise InvalidInput(
            f"connector {name!r}: the definition has a field of the wrong type ({type(exc).__name__}); "
            "see docs/service.md for the connector format"
        ) from None
    definition = json.dumps(connector_to_dict(connector), sort_keys=True)
    event = _event(state, tenant, Action.CONNECTOR_PUT, caller, request, name, time.time(), connector.origin)
    check = _origin_kept(name, connector.origin, _may_write_destinations(caller))
    # A unit of work blocks (it flushes queued use events, then waits for the write lock): not on the event loop.
    await asyncio.to_thread(
        lambda: state.vault.connector_repo.put(tenant, name, definition, event, check_replace=check)
    )
    return connector_to_dict(connector)


@router.delete("/v1/tenants/{tenant}/connectors/{name}", status_code=204, summary="Remove a tenant's connector")
def delete_connector(tenant: str, name: str, caller: Caller, state: State, request: Request) -> Response:
    caller.require("connectors:write", tenant)
    event = _event(state, tenant, Action.CONNECTOR_DELETE, caller, request, name, time.time())
    state.vault.connector_repo.delete(tenant, name, event)
    return Response(status_code=204)


@router.get(
    "/v1/tenants/{tenant}/gpt/openapi.json",
    summary="OpenAPI 3.1 document of the tenant's enabled connectors, to import into a custom GPT",
)
def gpt_openapi(tenant: str, caller: Caller, state: State) -> dict[str, Any]:
    caller.require("connectors:read", tenant)
    document: dict[str, Any] = gpt_actions_document(
        enabled_connectors(state, tenant), server_url=state.public_url, tenant=tenant
    )
    return document
