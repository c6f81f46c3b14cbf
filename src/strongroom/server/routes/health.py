"""``/healthz`` (the process is alive) and ``/readyz`` (store and key provider reachable)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from strongroom.errors import StrongroomError
from strongroom.server.deps import State

router = APIRouter(tags=["health"])


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
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
    )
