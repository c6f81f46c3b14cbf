"""A tenant's connectors and its GPT Actions document.

Connectors come from the operator's TOML file (available to every tenant that holds the credential they
name) and from the tenant's own, written through the API (``vault.connector_repo``: one unit of work of the
vault each, so queued use events are chained before the change, and a refusal is audited). The agents'
calls through them, ``/v1/actions/{connector}/{path}``, are served by ``strongroom.server.actions_endpoint``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response

from strongroom.audit import Action, AuditEvent
from strongroom.broker import Connector, connector_from_dict, connector_to_dict, gpt_actions_document
from strongroom.errors import AccessDenied, InvalidInput, NotFound
from strongroom.server.actions_endpoint import tenant_connectors
from strongroom.server.app import ServiceState
from strongroom.server.auth import Principal, authenticate_header, client_of
from strongroom.server.deps import Caller, State, actor, request_id
from strongroom.server.errors import ApiError
from strongroom.server.models import DocumentLinkCreated, DocumentLinkIn, DocumentLinkOut
from strongroom.server.routes import context_of
from strongroom.tokens.document_links import LINK_SCOPES, DocumentLink, DocumentLinks
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


@router.get(
    "/v1/tenants/{tenant}/connectors",
    summary="Connectors available to a tenant; `enabled`: the tenant holds the credential and may send it there",
)
def list_connectors(tenant: str, caller: Caller, state: State) -> list[dict[str, Any]]:
    caller.require("connectors:read", tenant)
    enabled = {c.name for c in enabled_connectors(state, tenant)}
    return [{**connector_to_dict(c), "enabled": c.name in enabled} for c in tenant_connectors(state, tenant).values()]


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


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def public_base(state: ServiceState, request: Request) -> tuple[str, str | None]:
    """The base URL a GPT should call, and a warning when it is a guess: the service's public URL
    (``serve --public-url``) unless that is a loopback address no GPT can reach; then the URL this
    request came to, with a note telling the operator to set the public URL."""
    configured = state.public_url.rstrip("/")
    if not _is_loopback((urlsplit(configured).hostname or "").lower()):
        return configured, None
    seen = str(request.base_url).rstrip("/")
    instead = "" if seen == configured else f"; this document uses {seen}, where it was fetched"
    return seen, (
        f"The service's public URL is {configured}, which a GPT cannot reach{instead}. "
        "Set it: `strongroom serve --public-url https://<public address>`."
    )


def _document(state: ServiceState, request: Request, tenant: str) -> dict[str, Any]:
    server_url, note = public_base(state, request)
    document: dict[str, Any] = gpt_actions_document(
        enabled_connectors(state, tenant), server_url=server_url, tenant=tenant, server_note=note
    )
    return document


@router.get(
    "/v1/tenants/{tenant}/gpt/openapi.json",
    summary="OpenAPI 3.1 document of the tenant's enabled connectors, to import into a custom GPT",
)
def gpt_openapi(tenant: str, caller: Caller, state: State, request: Request) -> dict[str, Any]:
    caller.require("connectors:read", tenant)
    return _document(state, request, tenant)


LINK_PATH = "/v1/gpt/documents/"


@router.post(
    "/v1/tenants/{tenant}/gpt/document-links",
    status_code=201,
    summary="A URL serving the tenant's GPT document without a header, for Import from URL; shown once",
)
def create_document_link(
    tenant: str, caller: Caller, state: State, request: Request, body: DocumentLinkIn | None = None
) -> DocumentLinkCreated:
    # A link is a credential, and one that outlives whoever made it: made, listed and revoked like the
    # tenant's API keys, with keys:manage, which only an API key holds (never an agent token).
    caller.require(Scope.KEYS_MANAGE, tenant)
    given = body or DocumentLinkIn()
    key, link = DocumentLinks(state.api_keys).create(
        tenant, label=given.name, ttl_seconds=given.ttl_seconds, actor=actor(caller), context=context_of(request)
    )
    request.state.returns_credential = True
    base, note = public_base(state, request)
    return DocumentLinkCreated(
        **_link_out(link).model_dump(), url=f"{base}{LINK_PATH}{key.reveal()}.json", warning=note
    )


@router.get("/v1/tenants/{tenant}/gpt/document-links", summary="A tenant's GPT document links (never their URLs)")
def list_document_links(tenant: str, caller: Caller, state: State) -> list[DocumentLinkOut]:
    caller.require(Scope.KEYS_MANAGE, tenant)
    return [_link_out(link) for link in DocumentLinks(state.api_keys).list(tenant)]


@router.delete(
    "/v1/tenants/{tenant}/gpt/document-links/{link_id}",
    status_code=204,
    summary="Revoke a GPT document link: its URL answers 404 from now on",
)
def revoke_document_link(tenant: str, link_id: str, caller: Caller, state: State, request: Request) -> Response:
    caller.require(Scope.KEYS_MANAGE, tenant)
    DocumentLinks(state.api_keys).revoke(tenant, link_id, actor=actor(caller), context=context_of(request))
    return Response(status_code=204)


@router.get(
    LINK_PATH + "{document}",
    summary="The GPT document a document link serves (the link is the credential: no header)",
    responses={404: {"description": "Unknown, revoked or expired link"}},
)
async def linked_document(document: str, state: State, request: Request) -> dict[str, Any]:
    key = document.removesuffix(".json")
    client, peer = client_of(request.scope)
    try:  # the door's checks, counting and audit, as for any credential
        caller = await authenticate_header(
            state,
            f"Bearer {key}",
            client=client,
            request_id=request_id(request),
            route=f"GET {LINK_PATH}{{link}}",
            peer=peer,
            headers=request.headers,
        )
    except ApiError as exc:
        if exc.status != 401:
            raise
        # Like a share link: the link is the resource, so unknown, revoked or expired is not found.
        raise NotFound("no such GPT document link (revoked, expired or mistyped): ask for a new one") from None
    request.state.principal, request.state.tenant = caller, caller.tenant
    # Only a link's own key (gpt:document and nothing else): a stronger key must never be put in a URL.
    if caller.scopes != LINK_SCOPES or caller.tenant is None or caller.kind != "api_key":
        raise AccessDenied("this is not a GPT document link: create one with POST /v1/tenants/{t}/gpt/document-links")
    return await asyncio.to_thread(_document, state, request, caller.tenant)


def _link_out(link: DocumentLink) -> DocumentLinkOut:
    return DocumentLinkOut(
        id=link.id,
        name=link.name,
        created_at=link.created_at,
        expires_at=link.expires_at,
        revoked_at=link.revoked_at,
        last_used_at=link.last_used_at,
    )
