"""The application factory: a ``Vault`` and its services in, a FastAPI app out.

Nothing here holds business logic: routes call the vault, ``strongroom.tokens`` and ``strongroom.broker``.
Every response body passes through the redactor on its way out, as a last line of defence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response

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

    state.tokens.rotate_if_due(actor="strongroom-serve")  # a signing key (and a JWKS) from the first request on
    app = FastAPI(title="strongroom", version=_version(), lifespan=lifespan,
                  description="Multi-tenant secrets API: write-only tenant secrets, short-lived agent tokens, and an "
                              "action broker that uses tenant credentials so agents never see them.")
    app.state.strongroom = state
    errors.install(app)
    app.middleware("http")(_limits_and_redaction)
    for module in (health, tenants, secrets, tokens_routes, actions, shares, audit):
        app.include_router(module.router)
    return app


def _version() -> str:
    from importlib.metadata import version

    return version("strongroom")


async def _limits_and_redaction(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Refuse oversize bodies (413) before reading them; redact every JSON or text response body."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return errors.error_response(413, "body_too_large", f"request bodies are limited to {MAX_BODY_BYTES} bytes")
    response = await call_next(request)
    kind = response.headers.get("content-type", "")
    # A response that hands over a credential on purpose (a new API key, an issued token) is built from
    # values we chose to return; everything else is redacted.
    if not (kind.startswith("application/json") or kind.startswith("text/")) or \
            getattr(request.state, "returns_credential", False):
        return response
    redactor: Redactor = request.app.state.strongroom.redactor
    body = b"".join([chunk async for chunk in _body(response)])
    cleaned = redactor.redact_bytes(body)
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(cleaned, status_code=response.status_code, headers=headers, media_type=None)


async def _body(response: Response) -> AsyncIterator[bytes]:
    # What call_next returns is a streaming response (Starlette's own private class): read its iterator.
    iterator = getattr(response, "body_iterator", None)
    if iterator is None:
        yield bytes(response.body)
        return
    async for chunk in iterator:
        yield chunk.encode() if isinstance(chunk, str) else bytes(chunk)

