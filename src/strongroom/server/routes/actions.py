"""The action broker over HTTP, the tenant's connectors, and the GPT Actions document.

``/v1/actions/{connector}/{path}``: the caller (an agent token, or a key with ``actions:invoke``) names a
connector operation; the broker adds the tenant's credential, calls the upstream and returns its answer
with every trace of the credential removed. Connectors come from the operator's TOML file (available to
every tenant that holds the credential they name) and from the tenant's own, written through the API.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import APIRouter, Request, Response

from strongroom.audit import Action, AuditEvent
from strongroom.broker import Connector, connector_from_dict, connector_to_dict, gpt_actions_document
from strongroom.errors import InvalidInput, NotFound
from strongroom.server.app import ServiceState
from strongroom.server.auth import Principal
from strongroom.server.deps import Caller, State, actor, request_id
from strongroom.server.errors import ApiError
from strongroom.store import ConnectorRecord

router = APIRouter(tags=["actions"])
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
GPT_BODY_LIMIT = 100_000  # GPT Actions refuse bodies over 100,000 characters


def _event(state: ServiceState, tenant: str, action: str, caller: Principal, request: Request, name: str,
           at: float) -> AuditEvent:
    return AuditEvent(at=at, environment=state.vault.environment, actor=actor(caller), tenant=tenant, action=action,
                      request_id=request_id(request), detail=f"connector {name}")


def tenant_connectors(state: ServiceState, tenant: str) -> dict[str, Connector]:
    """The operator's declared connectors, then the tenant's own (which may not shadow a declared name)."""
    found = dict(state.declared_connectors)
    with state.vault.store.read() as tx:
        record = tx.tenant(state.vault.environment, tenant)
        if record is None:
            raise NotFound(f"tenant {tenant!r} not found in {state.vault.environment}")
        for stored in tx.connectors(record.id):
            found.setdefault(stored.name, connector_from_dict(json.loads(stored.definition),
                                                              where=f"connector {stored.name!r}"))
    return found


def enabled_connectors(state: ServiceState, tenant: str) -> list[Connector]:
    """Connectors whose credential the tenant holds: the ones an agent can actually call."""
    held = {info.name for info in state.vault.list(tenant)}
    return [c for c in tenant_connectors(state, tenant).values() if c.credential.secret in held]


async def call_action(connector: str, path: str, request: Request, caller: Caller, state: State) -> Response:
    caller.require("actions:invoke")
    if caller.tenant is None:
        raise InvalidInput("actions run for a tenant: use a tenant's key or token, not the admin key")
    # A declared connector needs no database read (tenants cannot shadow its name); a tenant's own is read
    # off the event loop.
    found = state.declared_connectors.get(connector) or (
        await asyncio.to_thread(tenant_connectors, state, caller.tenant)).get(connector)
    if found is None:
        raise NotFound(f"connector {connector!r} is not available to tenant {caller.tenant!r}")
    body = await request.body()
    # The broker matches the raw, still percent-encoded path: an encoded "/" stays inside one segment.
    raw = request.scope.get("raw_path", b"").decode("latin-1")
    prefix = f"/v1/actions/{connector}"
    upstream_path = raw[len(prefix):] if raw.startswith(prefix) else "/" + path
    answer = await state.broker.call(
        tenant=caller.tenant, connector=found, method=request.method, path=upstream_path or "/",
        query=list(request.query_params.multi_items()), body=body,
        content_type=request.headers.get("content-type"), actor=actor(caller), request_id=request_id(request))
    if answer.truncated or len(answer.body) > GPT_BODY_LIMIT:
        raise ApiError(502, "upstream_response_too_large",
                       f"connector {connector!r} answered more than {min(found.max_response_bytes, GPT_BODY_LIMIT)} "
                       "bytes; GPT Actions accept at most 100,000 characters: narrow the request")
    kind = next((v for k, v in answer.headers if k.lower() == "content-type"), "application/octet-stream")
    return Response(answer.body, status_code=answer.status, media_type=kind,
                    headers={"X-Strongroom-Latency-Ms": f"{answer.latency_ms:.1f}"})


for _method in METHODS:  # one route per method: each needs its own operationId in the OpenAPI document
    router.add_api_route("/v1/actions/{connector}/{path:path}", call_action, methods=[_method],
                         operation_id=f"call_action_{_method.lower()}",
                         summary="Call a connector operation with the tenant's credential (never shown to the caller)",
                         responses={502: {"description": "upstream failed"},
                                    504: {"description": "upstream timed out"}})


@router.get("/v1/tenants/{tenant}/connectors", summary="Connectors available to a tenant")
def list_connectors(tenant: str, caller: Caller, state: State) -> list[dict[str, Any]]:
    caller.require("connectors:read", tenant)
    return [connector_to_dict(c) for c in tenant_connectors(state, tenant).values()]


@router.put("/v1/tenants/{tenant}/connectors/{name}", summary="Declare a tenant's own connector")
async def put_connector(tenant: str, name: str, request: Request, caller: Caller, state: State) -> dict[str, Any]:
    caller.require("connectors:write", tenant)
    try:
        data = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the body must be a JSON connector definition") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    if name in state.declared_connectors:
        raise InvalidInput(f"connector {name!r} is declared by the operator and cannot be replaced")
    if data.get("allow_private_network") and not caller.is_admin:
        # Else a tenant could aim the broker at the service's own network (SSRF): only the operator may.
        raise InvalidInput("allow_private_network is for connectors the operator declares, not a tenant's own")
    connector = connector_from_dict({**data, "name": name}, where=f"connector {name!r}")
    definition = json.dumps(connector_to_dict(connector), sort_keys=True)
    now = time.time()
    with state.vault.store.write() as tx:
        record = tx.tenant(state.vault.environment, tenant)
        if record is None:
            raise NotFound(f"tenant {tenant!r} not found in {state.vault.environment}")
        tx.put_connector(ConnectorRecord(environment=state.vault.environment, tenant_id=record.id, name=name,
                                         definition=definition, created_at=now, updated_at=now))
        state.vault.audit.record(tx, _event(state, tenant, Action.CONNECTOR_PUT, caller, request, name, now))
    return connector_to_dict(connector)


@router.delete("/v1/tenants/{tenant}/connectors/{name}", status_code=204, summary="Remove a tenant's connector")
def delete_connector(tenant: str, name: str, caller: Caller, state: State, request: Request) -> Response:
    caller.require("connectors:write", tenant)
    with state.vault.store.write() as tx:
        record = tx.tenant(state.vault.environment, tenant)
        if record is None or not tx.delete_connector(record.id, name):
            raise NotFound(f"connector {name!r} not found for tenant {tenant!r}")
        state.vault.audit.record(tx, _event(state, tenant, Action.CONNECTOR_DELETE, caller, request, name,
                                            time.time()))
    return Response(status_code=204)


@router.get("/v1/tenants/{tenant}/gpt/openapi.json",
            summary="OpenAPI 3.1 document of the tenant's enabled connectors, to import into a custom GPT")
def gpt_openapi(tenant: str, caller: Caller, state: State) -> dict[str, Any]:
    caller.require("connectors:read", tenant)
    document: dict[str, Any] = gpt_actions_document(enabled_connectors(state, tenant), server_url=state.public_url,
                                                    tenant=tenant)
    return document
