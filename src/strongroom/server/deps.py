"""Dependencies the routes share: the service state and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from strongroom.server.app import ServiceState
from strongroom.server.auth import Principal, actor, authenticate, request_id


async def state(request: Request) -> ServiceState:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hop per request for an attribute read
    found: ServiceState = request.app.state.strongroom
    return found


State = Annotated[ServiceState, Depends(state)]
Caller = Annotated[Principal, Depends(authenticate)]


__all__ = ["Caller", "State", "actor", "request_id", "state"]
