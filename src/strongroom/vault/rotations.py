"""Rotation's tables and stage moves, written only through the vault's unit of work.

``strongroom.rotation`` (the engine, the rotators, the worker) sits above the vault and never sees a store:
it gets this repository (``vault.rotation_repo``). Each write method is one unit of work in which the change,
the rotation's recorded position and the audit event commit together, so a process killed between two calls
leaves the rotation exactly at a step boundary the next run can resume from.

Stages (``vocabulary.Stage``) are pointers on the secret's row: ``current_version``, ``pending_version``,
``previous_version`` (a candidate until ``previous_until``); every other version is ``retired``. They move here
only: ``stage_pending`` (create), ``promote`` (finish), ``discard`` (a failed rotation), ``retire``, and
``Vault.put`` (an operator's new value becomes current and the old one previous).
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from strongroom.clock import iso
from strongroom.errors import Conflict, InvalidInput, NotFound
from strongroom.names import check_name
from strongroom.store import RotationPolicyRecord, RotationRecord
from strongroom.vault.policy import check_label, to_bytes
from strongroom.vocabulary import (
    NO_TENANT,
    OPEN_ROTATION_STATUSES,
    Action,
    Kind,
    Outcome,
    RotationStatus,
    RotationStep,
    Stage,
)

if TYPE_CHECKING:
    from strongroom.store import SecretRecord, TenantRecord, Tx
    from strongroom.vault.service import Vault

__all__ = ["KEY_SCHEDULES", "KEY_SCHEDULE_PREFIX", "PolicyInfo", "RotationInfo", "RotationRepository", "stage_of"]

MAX_OPTIONS_CHARS = 4096
KEY_SCHEDULES = ("root-key", "data-keys")
KEY_SCHEDULE_PREFIX = "@"
"""A key schedule is named ``@root-key`` or ``@data-keys`` where a secret's name would be (no secret name
starts with ``@``)."""


def _schedule_key(environment: str, kind: str) -> str:
    return f"rotation-schedule/{environment}/{kind}"


def stage_of(row: SecretRecord, version: int) -> Stage:
    """A version's stage, from the secret's pointers. A soft-deleted secret has no current version (``use``
    refuses it): every version is retired until a ``put`` revives it."""
    if row.deleted_at is not None:
        return Stage.RETIRED
    if version == row.current_version and row.current_version:
        return Stage.CURRENT
    if version == row.pending_version:
        return Stage.PENDING
    if version == row.previous_version:
        return Stage.PREVIOUS
    return Stage.RETIRED


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """A secret's rotation policy. ``options`` name other secrets; they never hold a value."""

    tenant: str
    name: str
    rotate_every: float
    overlap: float
    rotator: str
    options: Mapping[str, Any] = field(hash=False)
    next_due: float
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "name": self.name,
            "rotate_every_seconds": self.rotate_every,
            "overlap_seconds": self.overlap,
            "rotator": self.rotator,
            "options": dict(self.options),
            "next_due": iso(self.next_due),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class RotationInfo:
    """One rotation's recorded position: the last step it reached and whether that step completed."""

    id: str
    tenant: str
    name: str
    rotator: str
    step: str
    phase: str  # "started" or "done"
    status: str
    pending_version: int | None
    previous_version: int | None
    actor: str
    started_at: float
    updated_at: float
    finished_at: float | None
    error: str | None

    @property
    def open(self) -> bool:
        return self.status in OPEN_ROTATION_STATUSES

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}
        for key in ("started_at", "updated_at", "finished_at"):
            out[key] = iso(out[key])
        return out


def _policy_info(tenant: str, record: RotationPolicyRecord) -> PolicyInfo:
    return PolicyInfo(
        tenant=tenant,
        name=record.name,
        rotate_every=record.rotate_every,
        overlap=record.overlap,
        rotator=record.rotator,
        options=json.loads(record.options),
        next_due=record.next_due,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _rotation_info(tenant: str, record: RotationRecord) -> RotationInfo:
    fields = {name: getattr(record, name) for name in RotationRecord.__slots__}
    del fields["environment"], fields["tenant_id"]
    return RotationInfo(tenant=tenant, **fields)


class RotationRepository:
    """Rotation policies, rotations and stage moves of the vault's environment."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    # -- policies -------------------------------------------------------------------------------------

    def set_policy(
        self,
        tenant: str,
        name: str,
        *,
        rotate_every: float,
        overlap: float,
        rotator: str,
        options: Mapping[str, Any],
        next_due: float,
        actor: str | None = None,
        context: str | None = None,
    ) -> PolicyInfo:
        """Set (or replace) a live secret's policy, audited (``rotation.policy``). The rotation layer has checked
        the rotator and its options; this checks the shape and that the secret exists."""
        check_name("tenant name", tenant)
        check_name("secret name", name)
        if not rotate_every > 0 or not 0 <= overlap < rotate_every:
            raise InvalidInput(
                f"secret {name!r}: rotate_every must be positive and overlap shorter than it "
                f"(got {rotate_every:g}s and {overlap:g}s)"
            )
        options_text = json.dumps(dict(options), sort_keys=True, separators=(",", ":"))
        if len(options_text) > MAX_OPTIONS_CHARS:
            raise InvalidInput(f"rotator options of secret {name!r} are over {MAX_OPTIONS_CHARS} characters")
        vault = self._vault
        now = vault._clock()
        event = vault.audit_event(tenant, Action.ROTATION_POLICY, name, actor=actor, at=now, context=context)
        with vault._unit_of_work(event) as work:
            record, row = self._live_secret(work.tx, tenant, name)
            existing = work.tx.rotation_policy(record.id, name)
            policy = RotationPolicyRecord(
                tenant_id=record.id,
                name=name,
                rotate_every=rotate_every,
                overlap=overlap,
                rotator=rotator,
                options=options_text,
                next_due=next_due,
                created_at=existing.created_at if existing else now,
                updated_at=now,
            )
            work.tx.put_rotation_policy(policy)
            work.record(
                event._replace(
                    version=row.current_version,
                    detail=f"rotator={rotator} every={rotate_every:g}s overlap={overlap:g}s",
                )
            )
        return _policy_info(tenant, policy)

    def delete_policy(self, tenant: str, name: str, *, actor: str | None = None, context: str | None = None) -> None:
        vault = self._vault
        event = vault.audit_event(tenant, Action.ROTATION_POLICY, name, actor=actor, context=context)
        with vault._unit_of_work(event) as work:
            record = vault._tenant(work.tx, tenant)
            if not work.tx.delete_rotation_policy(record.id, name):
                raise NotFound(f"secret {name!r} of tenant {tenant!r} has no rotation policy")
            work.record(event._replace(detail="removed"))

    def policy(self, tenant: str, name: str) -> PolicyInfo | None:
        with self._vault._store.read() as tx:
            record = self._vault._tenant(tx, tenant)
            found = tx.rotation_policy(record.id, name)
        return None if found is None else _policy_info(tenant, found)

    def policies(
        self, tenant: str | None = None, *, due_before: float | None = None, limit: int | None = None
    ) -> builtins.list[PolicyInfo]:
        """Policies of the environment's live secrets (or one tenant's), soonest due first."""
        vault = self._vault
        with vault._store.read() as tx:
            tenant_id = None if tenant is None else vault._tenant(tx, tenant).id
            rows = tx.rotation_policies(vault.environment, tenant_id, due_before=due_before, limit=limit)
        return [_policy_info(name, record) for name, record in rows]

    # -- the environment's own keys: schedules ---------------------------------------------------------

    def set_key_schedule(self, kind: str, every: float | None, next_due: float, *, actor: str | None = None) -> None:
        """Schedule the environment's root-key rotation (``root-key``) or every tenant's new data key
        (``data-keys``) every ``every`` seconds (``None``: unschedule), audited as ``rotation.policy``."""
        if kind not in KEY_SCHEDULES:
            raise InvalidInput(f"unknown key schedule {kind!r}: use {' or '.join(KEY_SCHEDULES)}")
        if every is not None and every <= 0:
            raise InvalidInput(f"{kind}: the period must be positive")
        vault = self._vault
        name = KEY_SCHEDULE_PREFIX + kind
        event = vault.audit_event(NO_TENANT, Action.ROTATION_POLICY, name, actor=actor)
        with vault._unit_of_work(event) as work:
            key = _schedule_key(vault.environment, kind)
            if every is None:
                work.tx.delete_meta(key)
                work.record(event._replace(detail="removed"))
            else:
                work.tx.set_meta(key, json.dumps({"every": every, "next_due": next_due}))
                work.record(event._replace(detail=f"every={every:g}s"))

    def key_schedules(self) -> dict[str, tuple[float, float]]:
        """``{kind: (every, next_due)}`` of the environment's scheduled key rotations."""
        vault = self._vault
        out: dict[str, tuple[float, float]] = {}
        with vault._store.read() as tx:
            for kind in KEY_SCHEDULES:
                text = tx.meta_value(_schedule_key(vault.environment, kind))
                if text:
                    data = json.loads(text)
                    out[kind] = (float(data["every"]), float(data["next_due"]))
        return out

    # -- rotations: reads -----------------------------------------------------------------------------

    def open_rotations(self) -> builtins.list[RotationInfo]:
        """Every unfinished rotation of the environment (running, or waiting to retire), oldest first."""
        with self._vault._store.read() as tx:
            rows = tx.open_rotations(self._vault.environment)
        return [_rotation_info(tenant, record) for tenant, record in rows]

    def open_rotation(self, tenant: str, name: str) -> RotationInfo | None:
        with self._vault._store.read() as tx:
            record = self._vault._tenant(tx, tenant)
            found = tx.open_rotation(record.id, name)
        return None if found is None else _rotation_info(tenant, found)

    def rotation(self, rotation: RotationInfo) -> RotationInfo:
        """The rotation as now recorded (another process may have moved it)."""
        with self._vault._store.read() as tx:
            found = tx.rotation(rotation.id)
        if found is None:
            raise NotFound(f"rotation {rotation.id} not found")
        return _rotation_info(rotation.tenant, found)

    def latest(self, tenant: str | None = None) -> dict[tuple[str, str], RotationInfo]:
        """The newest rotation of each secret, by (tenant name, secret name)."""
        vault = self._vault
        with vault._store.read() as tx:
            names = {t.id: t.name for t in tx.tenants(vault.environment)}
            tenant_id = None if tenant is None else vault._tenant(tx, tenant).id
            rows = tx.latest_rotations(vault.environment, tenant_id)
        return {
            (names[tid], name): _rotation_info(names[tid], record)
            for (tid, name), record in rows.items()
            if tid in names
        }

    @contextmanager
    def claim(self, tenant: str, name: str) -> Iterator[bool]:
        """Whether this caller may rotate the secret now: a database lock (PostgreSQL advisory lock per
        secret; SQLite, one writer at a time anyway, one per environment), released when the caller's
        connection or process dies, so a rotation killed by SIGKILL is resumable at once."""
        vault = self._vault
        lock = f"rotation/{vault.environment}"
        if vault._store.backend == "postgresql":
            lock += f"/{tenant}/{name}"
        with vault._store.try_exclusive(lock) as held:
            yield held

    # -- rotations: the state machine's writes --------------------------------------------------------

    def begin(self, tenant: str, name: str, rotator: str, *, actor: str | None = None) -> RotationInfo:
        """Start a rotation (``Conflict`` when one is open: resume that one instead)."""
        vault = self._vault
        now = vault._clock()
        check_label("actor", actor)
        event = vault.audit_event(tenant, Action.ROTATION_START, name, actor=actor, at=now)
        with vault._unit_of_work(event) as work:
            record, row = self._live_secret(work.tx, tenant, name)
            if row.kind == Kind.EPHEMERAL:
                raise InvalidInput(f"secret {name!r} is ephemeral: it expires instead of rotating")
            open_one = work.tx.open_rotation(record.id, name)
            if open_one is not None:
                raise Conflict(f"secret {name!r} of tenant {tenant!r} has an open rotation ({open_one.id})")
            rotation = RotationRecord(
                id=uuid.uuid4().hex,
                environment=vault.environment,
                tenant_id=record.id,
                name=name,
                rotator=rotator,
                step=RotationStep.CREATE,
                phase="started",
                status=RotationStatus.RUNNING,
                pending_version=None,
                previous_version=None,
                actor=event.actor,
                started_at=now,
                updated_at=now,
                finished_at=None,
                error=None,
            )
            work.tx.insert_rotation(rotation)
            work.record(event._replace(version=row.current_version, detail=f"rotation {rotation.id} ({rotator})"))
        return _rotation_info(tenant, rotation)

    def mark(self, rotation: RotationInfo, step: str, phase: str) -> RotationInfo:
        """Record that ``step`` started or is done (no audit event: the step's own outcome is audited)."""
        vault = self._vault
        now = vault._clock()
        with vault._unit_of_work(flush=False) as work:
            current = self._open(work.tx, rotation)
            work.tx.update_rotation(rotation.id, {"step": step, "phase": phase, "updated_at": now})
        return replace(_rotation_info(rotation.tenant, current), step=step, phase=phase, updated_at=now)

    def stage_pending(self, rotation: RotationInfo, value: str | bytes) -> RotationInfo:
        """Store ``value`` as the secret's ``pending`` version and record ``create`` done, in one transaction."""
        vault = self._vault
        plaintext, value_type = to_bytes(rotation.name, value, vault.max_value_bytes)
        now = vault._clock()
        event = vault.audit_event(rotation.tenant, Action.ROTATION_STAGE, rotation.name, actor=rotation.actor, at=now)
        with vault._unit_of_work(event) as work:
            self._open(work.tx, rotation)
            record, row = self._live_secret(work.tx, rotation.tenant, rotation.name, lock=True)
            if row.pending_version is not None:
                raise Conflict(f"secret {rotation.name!r} already has a pending version {row.pending_version}")
            version = row.newest_version + 1
            vault._insert_version(
                work,
                record,
                rotation.name,
                version,
                plaintext,
                value_type=value_type,
                created_by=rotation.actor,
                now=now,
            )
            work.tx.update_secret(record.id, rotation.name, {"pending_version": version, "last_version": version})
            values = {"step": RotationStep.CREATE, "phase": "done", "pending_version": version, "updated_at": now}
            work.tx.update_rotation(rotation.id, values)
            work.record(event._replace(version=version, detail=f"rotation {rotation.id}: v{version} pending"))
        return replace(rotation, step=RotationStep.CREATE, phase="done", pending_version=version, updated_at=now)

    def promote(self, rotation: RotationInfo, *, overlap: float, next_due: float | None) -> RotationInfo:
        """``finish``: pending becomes current, current becomes previous (a candidate for ``overlap`` seconds);
        the hot caches drop the secret on commit."""
        vault = self._vault
        now = vault._clock()
        event = vault.audit_event(rotation.tenant, Action.ROTATION_FINISH, rotation.name, actor=rotation.actor, at=now)
        with vault._unit_of_work(event) as work:
            self._open(work.tx, rotation)
            record, row = self._live_secret(work.tx, rotation.tenant, rotation.name, lock=True)
            if row.pending_version is None or row.pending_version != rotation.pending_version:
                raise Conflict(f"secret {rotation.name!r} has no pending version of rotation {rotation.id}")
            previous = row.current_version or None
            work.tx.advance_secret(
                record.id,
                rotation.name,
                row.current_version,
                {
                    "current_version": row.pending_version,
                    "pending_version": None,
                    "previous_version": previous,
                    "previous_until": now + overlap,
                    "updated_at": now,
                },
            )
            if next_due is not None:
                work.tx.set_next_due(record.id, rotation.name, next_due, now)
            values = {
                "step": RotationStep.FINISH,
                "phase": "done",
                "previous_version": previous,
                "status": RotationStatus.RETIRING,
                "updated_at": now,
            }
            work.tx.update_rotation(rotation.id, values)
            work.record(
                event._replace(
                    version=row.pending_version,
                    detail=f"rotation {rotation.id}: v{row.pending_version} current, v{previous} previous",
                )
            )
            work.after_commit(lambda: vault._changed(rotation.tenant, rotation.name))
        return replace(
            rotation, step=RotationStep.FINISH, phase="done", previous_version=previous, status=RotationStatus.RETIRING
        )

    def discard(self, rotation: RotationInfo, reason: str, *, status: str = RotationStatus.FAILED) -> RotationInfo:
        """End a rotation that did not finish: its pending version (if any) is deleted, the current one is left
        as it is, and ``rotation.fail`` (or the cancellation) is audited with ``reason``. Works when the secret
        or its tenant is gone (the rotation is still recorded as failed)."""
        vault = self._vault
        now = vault._clock()
        reason = reason[:480]
        event = vault.audit_event(
            rotation.tenant, Action.ROTATION_FAIL, rotation.name, actor=rotation.actor, at=now
        )._replace(outcome=Outcome.ERROR if status == RotationStatus.FAILED else Outcome.OK)
        with vault._unit_of_work(flush=True) as work:
            current = self._open(work.tx, rotation)
            tenant = work.tx.tenant(vault.environment, rotation.tenant, lock=True)
            row = None if tenant is None else work.tx.secret(tenant.id, rotation.name, lock=True)
            pending = current.pending_version
            if tenant is not None and row is not None and pending is not None and row.pending_version == pending:
                work.tx.delete_version(tenant.id, rotation.name, pending)
                work.tx.update_secret(tenant.id, rotation.name, {"pending_version": None})
            values = {"status": status, "error": reason, "finished_at": now, "updated_at": now}
            work.tx.update_rotation(rotation.id, values)
            work.record(event._replace(version=pending, detail=f"rotation {rotation.id}: {reason}"))
        return replace(rotation, status=status, error=reason, finished_at=now)

    def retire(self, rotation: RotationInfo) -> RotationInfo:
        """The previous version becomes ``retired`` (the rotator has revoked it where it can); the rotation
        succeeds."""
        vault = self._vault
        now = vault._clock()
        event = vault.audit_event(rotation.tenant, Action.ROTATION_RETIRE, rotation.name, actor=rotation.actor, at=now)
        with vault._unit_of_work(event) as work:
            self._open(work.tx, rotation)
            tenant = work.tx.tenant(vault.environment, rotation.tenant, lock=True)
            row = None if tenant is None else work.tx.secret(tenant.id, rotation.name, lock=True)
            if tenant is not None and row is not None and row.previous_version == rotation.previous_version:
                work.tx.update_secret(tenant.id, rotation.name, {"previous_version": None, "previous_until": None})
                work.after_commit(lambda: vault._changed(rotation.tenant, rotation.name))
            values = {
                "step": RotationStep.RETIRE,
                "phase": "done",
                "status": RotationStatus.SUCCEEDED,
                "finished_at": now,
                "updated_at": now,
            }
            work.tx.update_rotation(rotation.id, values)
            detail = f"rotation {rotation.id}: v{rotation.previous_version}"
            work.record(event._replace(version=rotation.previous_version, detail=detail))
        return replace(rotation, step=RotationStep.RETIRE, phase="done", status=RotationStatus.SUCCEEDED)

    def roll_back(self, tenant: str, name: str, *, actor: str | None = None, context: str | None = None) -> int:
        """An operator's stage move: the previous version becomes current again and the current one previous
        (with no overlap of its own), audited as ``rotation.stage``. Only while a previous version exists and no
        rotation runs; returns the version now current. The provider must still accept the previous
        credential: a rotator that revoked it at retire left no previous to roll back to."""
        vault = self._vault
        now = vault._clock()
        event = vault.audit_event(tenant, Action.ROTATION_STAGE, name, actor=actor, at=now, context=context)
        with vault._unit_of_work(event) as work:
            record, row = self._live_secret(work.tx, tenant, name, lock=True)
            if row.pending_version is not None:
                raise Conflict(
                    f"secret {name!r} is being rotated: cancel that first (`strongroom rotate {name} --cancel`)"
                )
            if row.previous_version is None:
                raise NotFound(f"secret {name!r} of tenant {tenant!r} has no previous version to roll back to")
            back = row.previous_version
            open_one = work.tx.open_rotation(record.id, name)
            if open_one is not None:  # its retire would revoke the version that is current again: it ends here
                ended = {"status": RotationStatus.CANCELLED, "error": "rolled back", "finished_at": now}
                work.tx.update_rotation(open_one.id, {**ended, "updated_at": now})
            values = {"current_version": back, "previous_version": row.current_version, "previous_until": None}
            work.tx.advance_secret(record.id, name, row.current_version, {**values, "updated_at": now})
            work.record(
                event._replace(version=back, detail=f"rolled back: v{back} current, v{row.current_version} previous")
            )
            work.after_commit(lambda: vault._changed(tenant, name))
        return back

    # -- helpers --------------------------------------------------------------------------------------

    def _live_secret(self, tx: Tx, tenant: str, name: str, *, lock: bool = False) -> tuple[TenantRecord, SecretRecord]:
        record = self._vault._tenant(tx, tenant)
        row = tx.secret(record.id, name, lock=lock)
        if row is None or row.deleted_at is not None or row.current_version == 0:
            raise NotFound(f"secret {name!r} not found in tenant {tenant!r}")
        return record, row

    def _open(self, tx: Tx, rotation: RotationInfo) -> RotationRecord:
        """The rotation's row, locked; ``Conflict`` when it is no longer open (another process ended it)."""
        found = tx.rotation(rotation.id, lock=True)
        if found is None or found.status not in OPEN_ROTATION_STATUSES:
            raise Conflict(f"rotation {rotation.id} of secret {rotation.name!r} is no longer open")
        return found
