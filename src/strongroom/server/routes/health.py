"""``/healthz`` (the process is alive) and ``/readyz`` (store and key provider reachable).

``/readyz`` names the kind of key provider (``pkcs11``, ``aws-kms``, ...) and, when it is not ready, the
error's type; the message (which names the provider's URI and the fix) goes to the server's log, not to an
unauthenticated caller."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from strongroom.errors import StrongroomError
from strongroom.server.deps import State

router = APIRouter(tags=["health"])
log = logging.getLogger("strongroom.server")


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Store and key provider reachable", responses={503: {"description": "not ready"}})
def readyz(state: State) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, check in (("store", state.vault.check_store), ("key_provider", state.vault.check_key_provider)):
        try:
            check()
            checks[name] = "ok"
        except StrongroomError as exc:
            checks[name] = type(exc).__name__
            log.warning("not ready: %s: %s", name, exc)
    ready = all(v == "ok" for v in checks.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": checks,
        "key_provider": state.vault.key_provider_kind,
    }
    return JSONResponse(body, status_code=200 if ready else 503)
