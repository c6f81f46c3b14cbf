"""The application factory: a ``Vault`` and its services in, a FastAPI app out.

Nothing here holds business logic: routes call the vault, ``strongroom.tokens`` and ``strongroom.broker``.
Every response body passes through the redactor on its way out, as a last line of defence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from strongroom.redact import Redactor
from strongroom.rules import RULES
from strongroom.server import errors
from strongroom.server.auth import FailureLimiter

if TYPE_CHECKING:
    from strongroom.broker import Broker, Connector
    from strongroom.tokens import ApiKeys, TokenService
    from strongroom.tokens.shares import Shares
    from strongroom.vault import Vault

MAX_BODY_BYTES = 1 << 20  # documented in docs/service.md: larger requests get 413


@dataclass
class ServiceState:
    vault: Vault
    api_keys: ApiKeys
    tokens: TokenService
    broker: Broker
    audience: str
    public_url: str
    shares: Shares
    declared_connectors: dict[str, Connector] = field(default_factory=dict)  # from the TOML file
    # Known values and provider token shapes: field rules would mask our own metadata (`secret_name`) and prose.
    redactor: Redactor = field(default_factory=lambda: Redactor(rules=RULES))
    failures: FailureLimiter = field(default_factory=FailureLimiter)


def create_app(vault: Vault, *, public_url: str = "http://127.0.0.1:8200", connectors_file: Path | None = None,
               broker: Broker | None = None, tokens: TokenService | None = None) -> FastAPI:
    from strongroom.broker import Broker, load_connectors
    from strongroom.server.routes import actions, audit, health, secrets, shares, tenants, tokens_routes
    from strongroom.tokens import ApiKeys, TokenService
    from strongroom.tokens.shares import Shares

    declared = {c.name: c for c in load_connectors(connectors_file)} if connectors_file else {}
    state = ServiceState(vault=vault, api_keys=ApiKeys(vault),
                         tokens=tokens or TokenService(vault, issuer=public_url),
                         broker=broker or Broker(vault), audience=public_url, public_url=public_url,
                         shares=Shares(vault), declared_connectors=declared)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await state.broker.aclose()
        state.vault.audit.flush()  # uvicorn may end the process after this: no queued event is lost

    state.tokens.rotate_if_due(actor="strongroom-serve")  # a signing key (and a JWKS) from the first request on
    app = FastAPI(title="strongroom", version=_version(), lifespan=lifespan,
                  description="Multi-tenant secrets API: write-only tenant secrets, short-lived agent tokens, and an "
                              "action broker that uses tenant credentials so agents never see them.")
    app.state.strongroom = state
    errors.install(app)
    app.add_middleware(LimitsAndRedaction, state=state)
    for module in (health, tenants, secrets, tokens_routes, actions, shares, audit):
        app.include_router(module.router)
    return app


def _version() -> str:
    from importlib.metadata import version

    return version("strongroom")


class LimitsAndRedaction:
    """Pure ASGI middleware: refuse oversize bodies (413) before reading them, and redact every JSON or
    text response body on its way out.

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
            refusal = errors.error_response(413, "body_too_large",
                                            f"request bodies are limited to {MAX_BODY_BYTES} bytes")
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
                    raise _BodyTooLarge()
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
            body = self.state.redactor.redact_bytes(b"".join(chunks))
            headers = [(k, v) for k, v in start.get("headers", ()) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        try:
            await self.app(scope, limited_receive, redacting_send)
        except _BodyTooLarge:
            if started:
                raise
            await errors.error_response(413, "body_too_large", f"request bodies are limited to {MAX_BODY_BYTES} bytes"
                                        )(scope, receive, send)


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a request body passes the limit. An ``HTTPException``, because FastAPI
    turns any other error while reading a body into a 400; this one reaches the JSON error handler as 413."""

    def __init__(self) -> None:
        super().__init__(413, f"request bodies are limited to {MAX_BODY_BYTES} bytes")
