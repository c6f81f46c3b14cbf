"""A secret's rotation: its policy (operator only: a rotator decides where a credential is applied), its
rotations, and a rotation now. Values never appear: policies name other secrets, never hold one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from strongroom.errors import NotFound
from strongroom.server.deps import Caller, State, actor
from strongroom.server.models import Strict
from strongroom.server.routes import context_of
from strongroom.vault.rotations import PolicyInfo, RotationInfo
from strongroom.vocabulary import Scope

router = APIRouter(prefix="/v1/tenants/{tenant}/secrets/{name}/rotation", tags=["rotation"])

OptionValue = str | int | float | bool | list[str | int | float]


class RotationPolicyIn(Strict):
    every: str | float = Field(description="How often: a duration ('30d', '12h') or seconds.")
    rotator: str = Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$", description="random, postgresql, redis, webhook, ...")
    overlap: str | float | None = Field(
        default=None,
        description="How long the replaced version stays a candidate (unset: 1h for a rotator that revokes it).",
    )
    options: dict[str, OptionValue] = Field(
        default_factory=dict, description="The rotator's options; another secret is named by an option *_secret."
    )


class RotationPolicyOut(BaseModel):
    rotate_every_seconds: float
    overlap_seconds: float
    rotator: str
    options: dict[str, Any]
    next_due: str | None


class RotationOut(BaseModel):
    id: str
    rotator: str
    step: str
    phase: str
    status: str
    pending_version: int | None
    previous_version: int | None
    actor: str
    started_at: str | None
    updated_at: str | None
    finished_at: str | None
    error: str | None


class RotationStateOut(BaseModel):
    tenant: str
    name: str
    policy: RotationPolicyOut | None
    last_rotation: RotationOut | None


class RotationResultOut(BaseModel):
    tenant: str
    name: str
    status: str
    rotation_id: str | None
    version: int | None
    reason: str | None


def _policy_out(policy: PolicyInfo | None) -> RotationPolicyOut | None:
    if policy is None:
        return None
    data = policy.to_dict()
    return RotationPolicyOut(**{k: data[k] for k in RotationPolicyOut.model_fields})


def _rotation_out(rotation: RotationInfo | None) -> RotationOut | None:
    if rotation is None:
        return None
    data = rotation.to_dict()
    return RotationOut(**{k: data[k] for k in RotationOut.model_fields})


def _state_out(state: State, tenant: str, name: str) -> RotationStateOut:
    repo = state.vault.rotation_repo
    latest = repo.latest(tenant).get((tenant, name))
    return RotationStateOut(
        tenant=tenant, name=name, policy=_policy_out(repo.policy(tenant, name)), last_rotation=_rotation_out(latest)
    )


@router.get("", summary="A secret's rotation policy and last rotation (metadata only)")
def get_rotation(tenant: str, name: str, caller: Caller, state: State) -> RotationStateOut:
    caller.require(Scope.SECRETS_READ_METADATA, tenant)
    return _state_out(state, tenant, name)


@router.put("", summary="Set a secret's rotation policy (operator only)")
def put_rotation(
    tenant: str, name: str, body: RotationPolicyIn, caller: Caller, state: State, request: Request
) -> RotationStateOut:
    # A rotator applies a credential somewhere (a database, an HTTPS endpoint): choosing one is choosing where a
    # tenant's value goes, which is the operator's call, never a tenant key's or an agent's.
    caller.require_admin(tenant)
    state.rotations.set_policy(
        tenant,
        name,
        every=body.every,
        overlap=body.overlap,
        rotator=body.rotator,
        options=body.options,
        actor=actor(caller),
        context=context_of(request),
    )
    return _state_out(state, tenant, name)


@router.delete("", status_code=204, summary="Remove a secret's rotation policy (operator only)")
def delete_rotation(tenant: str, name: str, caller: Caller, state: State, request: Request) -> Response:
    caller.require_admin(tenant)
    state.vault.rotation_repo.delete_policy(tenant, name, actor=actor(caller), context=context_of(request))
    return Response(status_code=204)


@router.post("/rotate", summary="Rotate a secret now, by its policy (operator only)")
def rotate_now(tenant: str, name: str, caller: Caller, state: State) -> RotationResultOut:
    caller.require_admin(tenant)
    if state.vault.rotation_repo.policy(tenant, name) is None:
        raise NotFound(f"secret {name!r} of tenant {tenant!r} has no rotation policy: PUT one first")
    result = state.rotations.rotate(tenant, name, actor=actor(caller))
    return RotationResultOut(**result.to_dict())


class RollBackOut(BaseModel):
    tenant: str
    name: str
    current_version: int


@router.post("/roll-back", summary="Make the previous version current again (operator only; audited)")
def roll_back(tenant: str, name: str, caller: Caller, state: State, request: Request) -> RollBackOut:
    caller.require_admin(tenant)
    version = state.vault.rotation_repo.roll_back(tenant, name, actor=actor(caller), context=context_of(request))
    return RollBackOut(tenant=tenant, name=name, current_version=version)
