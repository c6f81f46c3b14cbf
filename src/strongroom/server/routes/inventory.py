"""The secret inventory over HTTP: the environment's (admin) or one tenant's. Metadata only, never a value.

The rows are ``strongroom inventory --json``'s, times in ISO 8601 UTC, so evidence from the API and the CLI
compares line for line. The environment-wide route includes the platform's stored secrets; a tenant's route
is refused to every credential of another tenant (403) and names no reserved tenant (404).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from strongroom.rotation.inventory import InventoryRow, inventory
from strongroom.server.deps import Caller, State
from strongroom.vocabulary import Kind, Scope, Sensitivity

router = APIRouter(tags=["inventory"])


class InventoryOut(BaseModel):
    """One secret of the inventory (``docs/rotation.md``, "Inventory")."""

    tenant: str
    name: str
    kind: Kind
    sensitivity: Sensitivity
    source: str
    version: int | None
    rotate_every_seconds: float | None
    rotator: str | None
    current_since: str | None
    age_seconds: float | None
    last_rotation_status: str | None
    last_rotation_at: str | None
    last_rotation_error: str | None
    next_due: str | None
    overdue: bool
    expires_at: str | None
    last_used_at: str | None
    purposes: list[str]
    actors: list[str]


def _out(rows: list[InventoryRow]) -> list[InventoryOut]:
    return [InventoryOut(**row.to_dict()) for row in rows]


@router.get("/v1/inventory", summary="Every secret of the environment: rotation state and last use (admin)")
def environment_inventory(caller: Caller, state: State) -> list[InventoryOut]:
    caller.require_admin()
    return _out(inventory(state.vault))


@router.get("/v1/tenants/{tenant}/inventory", summary="A tenant's secrets: rotation state and last use")
def tenant_inventory(tenant: str, caller: Caller, state: State) -> list[InventoryOut]:
    caller.require(Scope.SECRETS_READ_METADATA, tenant)
    return _out(inventory(state.vault, tenant=tenant))
