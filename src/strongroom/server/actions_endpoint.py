"""``/v1/actions/{connector}/{path}`` as plain ASGI: the agent's call, the service's hot path.

The caller (an agent token, or a key with ``actions:invoke``) names a connector operation; the broker adds
the tenant's credential, calls the upstream and returns its answer with every trace of the credential removed.

Why not a FastAPI route like the rest: per request, FastAPI matches the path against every route, solves
dependencies, builds ``Request`` and ``Response`` objects and passes through three exception-handling
layers; on a brokered call that was about a fifth of the service's CPU (6.2 -> 5.1 ms per call without it,
docs/benchmarks.md). This endpoint does the same checks in the same order (method, authentication, scope,
connector, body limit) with the same JSON errors, behind the same ``LimitsAndRedaction`` middleware.
``openapi_path_item()`` describes it in the service's OpenAPI document.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.types import Message, Receive, Scope, Send

from strongroom.audit import Action, AuditEvent, Outcome
from strongroom.audit.context import AuditContext, header_labels, label, screened
from strongroom.broker import BrokerResponse, Connector, UpstreamError, connector_from_dict
from strongroom.broker.openapi import GPT_RESPONSE_LIMIT
from strongroom.errors import AccessDenied, InvalidInput, NotFound, StrongroomError
from strongroom.server import errors
from strongroom.server.auth import (
    actor,
    audit_denied,
    authenticate_header,
    caller_context,
    checked_request_id,
    client_of,
    withholder,
)
from strongroom.server.errors import ApiError
from strongroom.server.middleware import BodyTooLarge

if TYPE_CHECKING:
    from strongroom.server.app import ServiceState
    from strongroom.server.auth import Principal

PREFIX = "/v1/actions/"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
GPT_BODY_LIMIT = GPT_RESPONSE_LIMIT  # GPT Actions refuse bodies over 100,000 characters
log = logging.getLogger("strongroom.server")


class ResponseTooLarge(UpstreamError):
    """The upstream's answer is over what the agent accepts (502 ``upstream_response_too_large``)."""


class ActionsEndpoint:
    """The ASGI app serving every path under ``PREFIX``.

    One ``broker.call`` audit event per call, with the outcome the caller got: the broker records it once the
    call ends, and this endpoint's own checks of the answer (its size, headers it can send) run inside the
    call (``Broker.call(check=...)``), so a 502 from them is the recorded outcome, not an ``ok`` beside it.
    What is left after the call is only sending prepared bytes. The request's audit context (who, on whose
    behalf, from where: ``server.auth.caller_context``) is built once, after authentication; the broker adds
    the operation and the status and error code the agent got (``_answer_of``). A call to a connector the
    tenant does not have, or whose stored definition no longer passes the checks, is a ``broker.call`` event
    too (404, 400); a 401, 403 or 429 is the refusal's event (``server.refusals``), with the same context.
    """

    def __init__(self, state: ServiceState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, headers, body = await self._call(scope, receive)
        except BodyTooLarge:
            raise  # the middleware answers 413
        except ResponseTooLarge as exc:
            await errors.error_response(502, "upstream_response_too_large", str(exc))(scope, receive, send)
            return
        except ApiError as exc:
            await errors.error_response(exc.status, exc.code, exc.message, exc.headers)(scope, receive, send)
            return
        except StrongroomError as exc:
            if isinstance(exc, AccessDenied):  # every 403 is an audit event
                state = scope.get("state") or {}
                audit_denied(
                    self.state,
                    state.get("principal"),
                    _route(scope),
                    exc,
                    state.get("request_id"),
                    context=state.get("audit_context"),
                )
            await errors.strongroom_response(exc)(scope, receive, send)
            return
        except Exception as exc:
            log.error("internal error: %s", type(exc).__name__)  # the type only: a message may quote data
            await errors.error_response(500, "internal_error", "internal error")(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _call(self, scope: Scope, receive: Receive) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        state = self.state
        name, slash, rest = scope["path"][len(PREFIX) :].partition("/")
        if not name or not slash:
            raise ApiError(404, "not_found", "Not Found")
        method: str = scope["method"]
        if method not in METHODS:
            raise ApiError(405, "method_not_allowed", "Method Not Allowed", {"Allow": ", ".join(METHODS)})
        headers = _headers(scope)
        request_id = checked_request_id(headers.get("x-request-id"))
        client, peer = client_of(scope)
        labels = header_labels(headers)
        caller = await authenticate_header(
            state,
            headers.get("authorization", ""),
            client=client,
            request_id=request_id,
            route=_route(scope),
            peer=peer,
            headers=headers,
        )
        context = caller_context(state, caller, headers, client=client, peer=peer, labels=labels)
        # The caller and its context, for a 403's audit event; its tenant, whose values the answer's redaction masks.
        scope.setdefault("state", {}).update(
            principal=caller, request_id=request_id, tenant=caller.tenant, audit_context=context
        )
        caller.require("actions:invoke")
        if caller.tenant is None:
            raise InvalidInput("actions run for a tenant: use a tenant's key or token, not the admin key")
        # A declared connector needs no database read (tenants cannot shadow its name); a tenant's own is
        # read off the event loop.
        try:
            found = state.declared_connectors.get(name) or await asyncio.to_thread(
                _tenant_connector, state, caller.tenant, name
            )
        except InvalidInput as exc:  # a stored definition that no longer passes the checks: the call is refused
            refused = context.but(connector=name, status=400, error="invalid_input")
            why = f"{name}.? {method} -> InvalidInput: {exc}"
            purpose = f"broker:{name}"
            await _record_refused_call(state, caller, request_id, refused, Outcome.INVALID, why, purpose=purpose)
            raise
        if found is None:  # the name is the agent's text: a screened label in the context, not a purpose
            credential = headers.get("authorization", "").partition(" ")[2].strip()
            shown = screened({"connector": name}, withholder(state, caller.tenant, credential))["connector"]
            refused = context.but(connector=shown, status=404, error="not_found")
            why = f"{label(shown, 64)}.? {method} -> NotFound"
            await _record_refused_call(state, caller, request_id, refused, Outcome.NOT_FOUND, why)
            raise NotFound(f"connector {name!r} is not available to tenant {caller.tenant!r}")
        body = await _body(receive)
        # The broker matches the raw, still percent-encoded path: an encoded "/" stays inside one segment.
        raw = scope.get("raw_path", b"").decode("latin-1")
        prefix = PREFIX + name
        upstream_path = raw[len(prefix) :] if raw.startswith(prefix) else "/" + rest
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        sent: list[tuple[int, list[tuple[bytes, bytes]], bytes]] = []
        await state.broker.call(
            tenant=caller.tenant,
            connector=found,
            method=method,
            path=upstream_path or "/",
            query=query,
            body=body,
            content_type=headers.get("content-type"),
            actor=actor(caller),
            request_id=request_id,
            check=lambda answer: sent.append(_response(found, answer)),
            context=context,
            answered=_answer_of,
        )
        return sent[0]


def _answer_of(exc: StrongroomError) -> tuple[int, str]:
    """The status and error code the agent gets for ``exc`` (``__call__`` answers them)."""
    if isinstance(exc, ResponseTooLarge):
        return 502, "upstream_response_too_large"
    return errors.answer_of(exc)


async def _record_refused_call(  # noqa: PLR0917 -- the event's parts, each from the caller's code path
    state: ServiceState,
    caller: Principal,
    request_id: str | None,
    context: AuditContext,
    outcome: str,
    detail: str,
    purpose: str | None = None,
) -> None:
    """A ``broker.call`` refused before any upstream call (a connector unknown or no longer valid)."""
    event = state.vault.audit_event(
        caller.tenant,
        Action.BROKER_CALL,
        actor=actor(caller),
        request_id=request_id,
        outcome=outcome,
        purpose=purpose,
        detail=detail,
        context=context.encode(),
    )
    await _record(state, event)


async def _record(state: ServiceState, event: AuditEvent) -> None:
    """Queue one event; in any mode but ``async`` that is a database write: off the event loop."""
    if state.vault.audit_mode != "async":
        await asyncio.to_thread(state.vault.submit_event, event)
    else:
        state.vault.submit_event(event)


def _response(connector: Connector, answer: BrokerResponse) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The ASGI status, headers and body of the broker's answer, or the ``UpstreamError`` that replaces it."""
    if answer.truncated or len(answer.body) > GPT_BODY_LIMIT:
        raise ResponseTooLarge(
            f"connector {connector.name!r} answered more than "
            f"{min(connector.max_response_bytes, GPT_BODY_LIMIT)} bytes; GPT Actions accept at most 100,000 "
            "characters: narrow the request",
            connector=connector.name,
        )
    kind = next((v for k, v in answer.headers if k.lower() == "content-type"), "application/octet-stream")
    try:
        content_type = kind.encode("ascii")  # the broker passes back ASCII headers only; checked again here
    except UnicodeEncodeError:
        raise UpstreamError(
            f"connector {connector.name!r}: the upstream answered a Content-Type that cannot be sent",
            connector=connector.name,
        ) from None
    return (
        answer.status,
        [
            (b"content-type", content_type),
            (b"content-length", str(len(answer.body)).encode()),
            (b"x-strongroom-latency-ms", f"{answer.latency_ms:.1f}".encode()),
        ],
        answer.body,
    )


def _tenant_connector(state: ServiceState, tenant: str, name: str) -> Connector | None:
    """The tenant's own connector ``name``, parsed alone: a stored definition that no longer passes the checks
    (stored before a check was added) refuses its own calls (400, naming the problem), not every connector's."""
    for stored in state.vault.connector_repo.definitions(tenant):
        if stored.name == name:
            return connector_from_dict(json.loads(stored.definition), where=f"connector {stored.name!r}")
    return None


def _route(scope: Scope) -> str:
    return f"{scope['method']} {PREFIX}{{connector}}/{{path}}"


def tenant_connectors(state: ServiceState, tenant: str) -> dict[str, Connector]:
    """The operator's declared connectors, then the tenant's own (which may not shadow a declared name)."""
    found = dict(state.declared_connectors)
    for stored in state.vault.connector_repo.definitions(tenant):
        try:
            connector = connector_from_dict(json.loads(stored.definition), where=f"connector {stored.name!r}")
        except InvalidInput:
            # Stored before a check it now fails (a share's secret, an unparseable base URL): a call to it is
            # refused and audited (above); it must not hide the tenant's other connectors from their listing.
            continue
        found.setdefault(stored.name, connector)
    return found


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (ASGI gives them so); a repeated header keeps its first value."""
    found: dict[str, str] = {}
    for key, value in scope["headers"]:
        found.setdefault(key.decode("latin-1"), value.decode("latin-1"))
    return found


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "client_disconnected", "the client went away before sending its body")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def openapi_path_item() -> dict[str, Any]:
    """The endpoint's entry in the service's OpenAPI document: one operation (and operationId) per method."""
    parameters = [
        {
            "name": "connector",
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": "The connector's name",
        },
        {
            "name": "path",
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": "The operation's path on the upstream, below the connector's base URL; the query "
            "parameters the operation declares are passed on (any, if it declares none), others refused",
        },
    ]
    item: dict[str, Any] = {}
    for method in METHODS:
        item[method.lower()] = {
            "tags": ["actions"],
            "summary": "Call a connector operation with the tenant's credential (never shown to the caller)",
            "description": "Needs a tenant's agent token or API key with the scope `actions:invoke`. The "
            "upstream's status, content type and body come back, the credential masked in them.",
            "operationId": f"call_action_{method.lower()}",
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "The upstream's answer (its own status, which may be any)",
                    "content": {"*/*": {"schema": {}}},
                },
                **errors.openapi_responses(400, 401, 403, 404, 405, 413, 429, 502, 504),
            },
        }
    return item
