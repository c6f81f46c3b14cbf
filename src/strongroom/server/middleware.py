"""The service's one middleware, as plain ASGI: the request body limit and the redaction of responses."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from strongroom.audit import Action, Outcome
from strongroom.audit.context import AuditContext, label
from strongroom.server import errors
from strongroom.server.auth import PEER, actor, caller_context, checked_request_id, client_of

if TYPE_CHECKING:
    from strongroom.server.app import ServiceState

log = logging.getLogger("strongroom.server")

MAX_BODY_BYTES = 1 << 20  # documented in docs/service.md: larger requests get 413
# A value shorter than this masks only a whole token equal to it in an answer (a JSON string or number, a
# word): real credentials are longer, and masking `","` inside every text would mangle it.
SHORT_VALUE_CHARS = 8


class LimitsAndRedaction:
    """Pure ASGI middleware: refuse oversize bodies (413) before reading them, and redact every JSON or
    text response body on its way out.

    The redaction is the caller's: the values of the caller's own tenant (recorded as ``tenant`` in the
    request's state once it is authenticated) and the platform's, plus provider token shapes. Another
    tenant's value is never masked in an answer, so no answer tells whether a guess of it is right, and
    no tenant's short value can mangle another tenant's answer. A JSON body stays valid JSON (strings are
    redacted decoded, then encoded again); values under ``SHORT_VALUE_CHARS`` mask only whole tokens.

    Plain ASGI rather than ``@app.middleware("http")``: that form runs the app in a second task with
    memory streams and rebuilds each response, which cost a fifth of a brokered request's CPU.
    """

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            await self._audit_too_large(scope, declared)
            refusal = errors.error_response(
                413, "body_too_large", f"request bodies are limited to {MAX_BODY_BYTES} bytes"
            )
            await refusal(scope, receive, send)
            return
        scope.setdefault("state", {})  # request.state writes here; the send wrapper reads it back
        start: Message | None = None
        started = False
        chunks: list[bytes] = []
        received = 0

        async def limited_receive() -> Message:
            # A chunked body has no Content-Length: count what arrives.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise BodyTooLarge()
            return message

        async def redacting_send(message: Message) -> None:
            nonlocal start, started
            if message["type"] == "http.response.start":
                started = True
                kind = dict(message.get("headers", ())).get(b"content-type", b"")
                # A response that hands over a credential on purpose (a new API key, an issued token, a
                # share) is built from values we chose to return; everything else is redacted.
                handing_over = scope.get("state", {}).get("returns_credential", False)
                if handing_over or not kind.startswith((b"application/json", b"text/")):
                    await send(message)
                    return
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            # Unauthenticated (or the operator): no tenant's values, only the platform's and the shapes.
            tenant = scope["state"].get("tenant")
            try:
                body = self.state.redactor.redact_body(b"".join(chunks), tenant=tenant)
            except Exception as exc:  # a body the redactor cannot handle is never sent as it is
                log.error("an answer could not be redacted (%s): a JSON 500 was sent instead", type(exc).__name__)
                await errors.error_response(500, "internal_error", "internal error")(scope, receive, send)
                return
            headers = [(k, v) for k, v in start.get("headers", ()) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        try:
            await self.app(scope, limited_receive, redacting_send)
        except BodyTooLarge:
            if started:
                raise
            await self._audit_too_large(scope, None)
            await errors.error_response(413, "body_too_large", f"request bodies are limited to {MAX_BODY_BYTES} bytes")(
                scope, receive, send
            )

    async def _audit_too_large(self, scope: Scope, declared: bytes | None) -> None:
        """A 413 on the agents' actions endpoint is a ``broker.call`` refusal (``server.refusals``: counted when
        they flood), with the context the door knows: the client, the proxy, the labels (screened as for an
        unauthenticated caller), and the caller and its chain when it was authenticated before its chunked
        body ran over (``declared=None``). No body is read; another route's 413 is its own answer only."""
        from strongroom.server.actions_endpoint import PREFIX

        path = scope.get("path", "")
        if not path.startswith(PREFIX):
            return
        headers: dict[str, str] = {}
        for key, value in scope.get("headers", ()):
            headers.setdefault(key.decode("latin-1"), value.decode("latin-1"))
        client, peer = client_of(scope)
        state = scope.get("state") or {}
        principal = state.get("principal")
        context: AuditContext | None = state.get("audit_context")
        if context is None:  # refused before authentication: from where and on whose behalf only
            context = caller_context(self.state, None, headers, client=client, peer=peer)
        connector = path[len(PREFIX) :].partition("/")[0]
        if declared is None:
            size = "a chunked body"
        elif declared.isdigit() and len(declared) <= 20:
            size = f"Content-Length {declared.decode()}"
        else:
            size = "an unreadable Content-Length"
        await asyncio.to_thread(
            self.state.refusals.record,
            Action.BROKER_CALL,
            actor=actor(principal) if principal is not None else f"addr:{client}"[:128],
            tenant=principal.tenant if principal is not None else None,
            outcome=Outcome.INVALID,
            detail=f"{label(connector, 64) or '?'}.? {scope.get('method', '?')} -> body over {MAX_BODY_BYTES} "
            f"bytes ({size}), from {label(client, 64)}",
            request_id=checked_request_id(headers.get("x-request-id")),
            context=context.but(connector=connector or None, status=413, error="body_too_large").encode(),
        )


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a request body passes the limit. An ``HTTPException``, because FastAPI
    turns any other error while reading a body into a 400; this one reaches the JSON error handler as 413."""

    def __init__(self) -> None:
        super().__init__(413, f"request bodies are limited to {MAX_BODY_BYTES} bytes")


class BehindProxies:
    """uvicorn's ``ProxyHeadersMiddleware`` for the proxies in ``trusted`` (``--forwarded-allow-ips``), keeping
    the TCP peer's address in the scope (``server.auth.PEER``) before it puts the forwarded client's in
    ``scope["client"]``: the audit context records both, the client and the proxy it came through."""

    def __init__(self, app: ASGIApp, trusted: str) -> None:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        self._inner = ProxyHeadersMiddleware(app, trusted_hosts=trusted)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if client and scope["type"] in ("http", "websocket"):
            scope[PEER] = client[0]
        await self._inner(scope, receive, send)  # type: ignore[arg-type]
