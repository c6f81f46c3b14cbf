"""The application factory: a ``ServiceState`` (the vault and the services the composition root,
``strongroom.bootstrap``, built on it) in, a FastAPI app out.

Nothing here holds business logic: routes call the vault, ``strongroom.tokens`` and ``strongroom.broker``.
Every response body passes through the redactor on its way out, as a last line of defence.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from strongroom.redact import Redactor
from strongroom.rules import RULES
from strongroom.server import errors
from strongroom.server.actions_endpoint import PREFIX as ACTIONS_PREFIX
from strongroom.server.actions_endpoint import ActionsEndpoint, openapi_path_item
from strongroom.server.auth import DoorLimiter
from strongroom.server.middleware import SHORT_VALUE_CHARS, LimitsAndRedaction
from strongroom.server.refusals import RefusalAudit

if TYPE_CHECKING:
    from strongroom.broker import Broker, Connector
    from strongroom.rotation import Rotations
    from strongroom.rotation.worker import RotationWorker
    from strongroom.tokens import ApiKeys, TokenService
    from strongroom.tokens.shares import Shares
    from strongroom.vault import Vault


@dataclass
class ServiceState:
    vault: Vault
    api_keys: ApiKeys
    tokens: TokenService
    broker: Broker
    audience: str
    public_url: str
    shares: Shares
    rotations: Rotations
    declared_connectors: dict[str, Connector] = field(default_factory=dict)  # from the TOML file
    # Rotates due secrets while the service runs (None: not in this process; STRONGROOM_ROTATION_INTERVAL=0).
    rotation_worker: RotationWorker | None = None
    # Known values and provider token shapes: field rules would mask our own metadata (`secret_name`) and prose.
    # Each answer is redacted for its caller's tenant (middleware.LimitsAndRedaction); short values only
    # as whole tokens, so a three-character credential cannot mangle an answer.
    redactor: Redactor = field(default_factory=lambda: Redactor(rules=RULES, short_below=SHORT_VALUE_CHARS))
    # The door: failed authentications counted before any lookup; every 401/403/429 audited (counted in floods).
    door: DoorLimiter = field(default_factory=DoorLimiter)
    refusals: RefusalAudit = field(init=False)

    def __post_init__(self) -> None:
        self.refusals = RefusalAudit(self.vault)


def create_app(state: ServiceState, *, close_vault: bool = False) -> FastAPI:
    """The service on ``state`` (built by ``strongroom.bootstrap.service_state``); ``close_vault``: the app
    owns the vault and closes it when it shuts down."""
    from strongroom.server.routes import (
        actions,
        admin_keys,
        audit,
        health,
        inventory,
        rotation,
        secrets,
        shares,
        tenants,
        tokens_routes,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        counts = asyncio.create_task(_write_refusal_counts(state.refusals))
        if state.rotation_worker is not None:
            state.rotation_worker.start()
        yield
        if state.rotation_worker is not None:
            await asyncio.to_thread(state.rotation_worker.stop)
        counts.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await counts
        state.refusals.flush()  # the refusals counted in a flood: written, never dropped
        await state.broker.aclose()
        state.vault.flush_audit()  # uvicorn may end the process after this: no queued event is lost
        if close_vault:  # on SIGTERM uvicorn re-raises the signal after the lifespan: no `finally` runs later
            state.vault.close()

    state.tokens.rotate_if_due(actor="strongroom-serve")  # a signing key (and a JWKS) from the first request on
    app = ServiceApp(
        title="strongroom",
        version=_version(),
        lifespan=lifespan,
        description="Multi-tenant secrets API: write-only tenant secrets, short-lived agent tokens, and an "
        "action broker that uses tenant credentials so agents never see them.",
    )
    app.state.strongroom = state
    errors.install(app)
    app.add_middleware(LimitsAndRedaction, state=state)
    app.include_router(health.router, responses=errors.openapi_responses(503))
    # Every other route's refusals, in our error shape (422 too: FastAPI would document its own shape).
    refusals = errors.openapi_responses(400, 401, 403, 404, 413, 415, 422, 429, 503)
    for module in (tenants, secrets, rotation, tokens_routes, actions, shares, audit, admin_keys, inventory):
        app.include_router(module.router, responses=refusals)
    app.actions = LimitsAndRedaction(ActionsEndpoint(state), state=state)
    return app


async def _write_refusal_counts(refusals: RefusalAudit) -> None:
    """Write the counts of refusal floods as their intervals end, even if no refusal follows."""
    while True:
        await asyncio.sleep(refusals.interval)
        await asyncio.to_thread(refusals.flush_due)


class ServiceApp(FastAPI):
    """FastAPI, with the agents' hot path, ``/v1/actions/...``, served by ``ActionsEndpoint`` before FastAPI's own
    middleware and routing (the same limits and redaction wrap it); the OpenAPI document describes it too."""

    actions: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.actions is not None and scope["type"] == "http" and scope["path"].startswith(ACTIONS_PREFIX):
            await self.actions(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            document = super().openapi()
            document["paths"][ACTIONS_PREFIX + "{connector}/{path}"] = openapi_path_item()
        return super().openapi()


def _version() -> str:
    from importlib.metadata import version

    return version("strongroom")
