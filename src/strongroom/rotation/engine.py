"""The rotation state machine: ``create`` → ``set`` → ``test`` → ``finish`` → (after the overlap) ``retire``.

``Rotations(vault).rotate(tenant, name)`` rotates one secret now; ``run_due()`` rotates every overdue secret
and moves every open rotation on (a crashed one resumes, a finished one retires its previous version when
the overlap has ended). Both are safe to run from many processes at once: a secret is rotated only by the
caller holding its database lock (``RotationRepository.claim``), which re-reads what is due once it holds it.

Each step is recorded before it runs and after it completes (``RotationRepository.mark``; ``create`` and
``finish`` are recorded in the same transaction as their change), so a process killed at any point leaves a
rotation the next run resumes: a step recorded as started runs again, which is why rotators are idempotent.
Until ``finish`` commits, readers get the old current version, so no consumer is left without a working
credential (with the alternating-users strategies, not even between ``set`` and ``finish``).

A step that fails (the provider refuses, times out, or the new credential fails its test) never promotes:
the rotator's ``undo`` puts the provider back, the pending version is discarded, the rotation is recorded as
failed with the reason, and ``rotation.fail`` is audited and logged on ``strongroom.rotation`` at ERROR (the
alert: route that logger, or stream the audit log, to whoever is on call).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from strongroom.clock import Clock
from strongroom.errors import Conflict, InvalidInput, NotFound, StrongroomError
from strongroom.rotation.policies import check_options, seconds
from strongroom.rotation.registry import Rotators
from strongroom.rotation.rotator import BaseRotator, RotationContext, Rotator
from strongroom.vault.rotations import KEY_SCHEDULE_PREFIX, PolicyInfo, RotationInfo
from strongroom.vocabulary import NO_TENANT, RotationStatus, RotationStep, Stage

if TYPE_CHECKING:
    from strongroom.secret import Secret
    from strongroom.vault import Vault

__all__ = ["RotationResult", "Rotations", "describe", "next_due"]

log = logging.getLogger("strongroom.rotation")

DEFAULT_ACTOR = "strongroom-rotation"
DEFAULT_OVERLAP = 3600.0
"""Seconds a replaced credential a rotator revokes keeps working when the policy names no overlap."""
_ORDER = {step: i for i, step in enumerate(RotationStep)}


def next_due(now: float, every: float) -> float:
    """When a secret rotated at ``now`` is next due: ``every`` later, less up to 5% (at most an hour) of
    jitter, so secrets set up together do not all rotate in the same minute."""
    jitter = random.uniform(0.0, min(every * 0.05, 3600.0))  # noqa: S311 -- spreading load, not a secret
    return now + every - jitter


@dataclass(frozen=True, slots=True)
class RotationResult:
    """What one call did to one secret. ``status``: a ``RotationStatus``, or ``skipped`` (``reason`` says why:
    another process holds it, or it is no longer due)."""

    tenant: str
    name: str
    status: str
    rotation_id: str | None = None
    version: int | None = None
    reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == RotationStatus.FAILED

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "name": self.name,
            "status": self.status,
            "rotation_id": self.rotation_id,
            "version": self.version,
            "reason": self.reason,
        }


class Rotations:
    """Rotates a vault's secrets by their policies."""

    def __init__(
        self,
        vault: Vault,
        *,
        rotators: Rotators | None = None,
        clock: Clock | None = None,
        actor: str = DEFAULT_ACTOR,
        alert: Callable[[RotationResult], object] | None = None,
    ) -> None:
        self._vault = vault
        self._repo = vault.rotation_repo
        self.rotators = rotators or Rotators()
        self._clock = clock or vault.clock  # stage times (a previous version's overlap) are the vault's
        self._actor = actor
        self._alert = alert

    # -- policies -------------------------------------------------------------------------------------

    def set_policy(
        self,
        tenant: str,
        name: str,
        *,
        every: str | float,
        rotator: str,
        overlap: str | float | None = None,
        options: Mapping[str, Any] | None = None,
        actor: str | None = None,
        context: str | None = None,
    ) -> PolicyInfo:
        """Set a secret's policy after its rotator has accepted the options; first due one period from now.

        ``overlap`` unset: none for a rotator that revokes nothing, else an hour (at most half the period), so
        processes that refresh on their own interval still hold a working credential when the old one goes."""
        every_s = seconds("every", every)
        checked = check_options(options or {})
        chosen = self.rotators.get(rotator)
        chosen.check(checked)
        if overlap is None:
            overlap_s = 0.0 if _does_nothing(chosen, RotationStep.RETIRE) else min(DEFAULT_OVERLAP, every_s / 2)
        else:
            overlap_s = seconds("overlap", overlap)
        return self._repo.set_policy(
            tenant,
            name,
            rotate_every=every_s,
            overlap=overlap_s,
            rotator=rotator,
            options=checked,
            next_due=next_due(self._clock(), every_s),
            actor=actor,
            context=context,
        )

    def schedule_keys(self, kind: str, every: str | float | None, *, actor: str | None = None) -> None:
        """Rotate the environment's root key (``root-key``: a new root key, promoted, every data key rewrapped
        under it in batches) or give every tenant a new data key (``data-keys``) every ``every``; ``None``
        unschedules. ``run_due`` (``rotate --due``, the worker) runs them like any due secret."""
        period = None if every is None else seconds("every", every)
        first = 0.0 if period is None else next_due(self._clock(), period)
        self._repo.set_key_schedule(kind, period, first, actor=actor)

    # -- running --------------------------------------------------------------------------------------

    def rotate(self, tenant: str, name: str, *, actor: str | None = None) -> RotationResult:
        """Rotate one secret now (by its policy), first resuming or retiring a rotation left open."""
        with self._repo.claim(tenant, name) as held:
            if not held:
                return RotationResult(tenant, name, "skipped", reason="another process is rotating it now")
            return self._rotate_held(tenant, name, actor=actor, only_if_due=False)

    def run_due(
        self, *, limit: int | None = None, progress: Callable[[int, int], object] | None = None
    ) -> list[RotationResult]:
        """Move every open rotation on and rotate every overdue secret; one ``RotationResult`` per secret touched."""
        now = self._clock()
        work: dict[tuple[str, str], None] = {}
        for rotation in self._repo.open_rotations():
            work[(rotation.tenant, rotation.name)] = None
        for policy in self._repo.policies(due_before=now, limit=limit):
            work[(policy.tenant, policy.name)] = None
        outcomes = self._run_key_schedules(now)
        for done, (tenant, name) in enumerate(work, 1):
            with self._repo.claim(tenant, name) as held:
                if held:
                    outcome = self._rotate_held(tenant, name, actor=None, only_if_due=True)
                else:
                    outcome = RotationResult(tenant, name, "skipped", reason="another process is rotating it now")
            if outcome.status != "skipped" or outcome.reason != "not due":
                outcomes.append(outcome)
            if progress is not None:
                progress(done, len(work))
        return outcomes

    def retire(self, tenant: str, name: str) -> RotationResult:
        """Retire the previous version of a secret's finished rotation once its overlap has ended (what
        ``run_due`` does for every secret), without starting a new rotation; ``skipped`` while the overlap runs."""
        with self._repo.claim(tenant, name) as held:
            if not held:
                return RotationResult(tenant, name, "skipped", reason="another process is rotating it now")
            rotation = self._repo.open_rotation(tenant, name)
            if rotation is None or rotation.status != RotationStatus.RETIRING:
                return RotationResult(tenant, name, "skipped", reason="no finished rotation waits to retire")
            if self._previous_until(tenant, name) > self._clock():
                return RotationResult(tenant, name, "skipped", rotation.id, reason="the overlap has not ended")
            return self._outcome(self._retire(rotation, self._repo.policy(tenant, name)))

    def cancel(self, tenant: str, name: str, *, actor: str | None = None) -> RotationResult:
        """Stop a secret's running rotation: undo at the provider, discard the pending version."""
        with self._repo.claim(tenant, name) as held:
            if not held:
                raise Conflict(f"secret {name!r} is being rotated by another process now: try again shortly")
            rotation = self._repo.open_rotation(tenant, name)
            if rotation is None or rotation.status != RotationStatus.RUNNING:
                raise NotFound(f"secret {name!r} of tenant {tenant!r} has no running rotation to cancel")
            policy = self._repo.policy(tenant, name)
            rotator = self.rotators.get(rotation.rotator)
            options = policy.options if policy else {}
            self._undo(rotator, rotation, options)
            done = self._repo.discard(rotation, f"cancelled by {actor or self._actor}", status=RotationStatus.CANCELLED)
            return RotationResult(tenant, name, done.status, done.id, reason=done.error)

    def _run_key_schedules(self, now: float) -> list[RotationResult]:
        results: list[RotationResult] = []
        for kind, (every, due) in self._repo.key_schedules().items():
            if due > now:
                continue
            name = KEY_SCHEDULE_PREFIX + kind
            with self._repo.claim(NO_TENANT, name) as held:
                schedule = self._repo.key_schedules().get(kind)  # again, holding the lock: another may have run it
                if not held or schedule is None or schedule[1] > now:
                    continue
                try:
                    if kind == "root-key":
                        version = self._vault.keys.rotate(actor=self._actor).root_version
                    else:
                        tenants = self._vault.list_tenants()
                        for tenant in tenants:
                            self._vault.rotate_data_key(tenant.name, actor=self._actor)
                        version = None
                except StrongroomError as exc:
                    log.error("scheduled %s rotation failed: %s", kind, exc)
                    results.append(RotationResult(NO_TENANT, name, RotationStatus.FAILED, reason=str(exc)))
                    continue
                self._repo.set_key_schedule(kind, every, next_due(self._clock(), every), actor=self._actor)
                done = RotationResult(NO_TENANT, name, RotationStatus.SUCCEEDED, version=version)
                results.append(done if version else replace(done, reason=f"new data keys for {len(tenants)} tenant(s)"))
        return results

    # -- the state machine ------------------------------------------------------------------------------

    def _rotate_held(self, tenant: str, name: str, *, actor: str | None, only_if_due: bool) -> RotationResult:
        now = self._clock()
        try:
            rotation = self._repo.open_rotation(tenant, name)
            policy = self._repo.policy(tenant, name)
        except NotFound as exc:
            return RotationResult(tenant, name, RotationStatus.FAILED, reason=str(exc))
        if rotation is not None and rotation.status == RotationStatus.RETIRING:
            due_now = not only_if_due or (policy is not None and policy.next_due <= now)
            # A new rotation retires the previous version first, whether or not its overlap has ended.
            if due_now or self._previous_until(tenant, name) <= now:
                rotation = self._retire(rotation, policy)
                if rotation.status == RotationStatus.FAILED or not due_now:
                    return self._outcome(rotation)
            if not due_now:
                return RotationResult(tenant, name, "skipped", reason="not due")
            rotation = None
        if rotation is None:
            return self._start(tenant, name, policy, actor=actor, only_if_due=only_if_due, now=now)
        return self._drive(rotation, policy)

    def _start(
        self, tenant: str, name: str, policy: PolicyInfo | None, *, actor: str | None, only_if_due: bool, now: float
    ) -> RotationResult:
        if policy is None:
            reason = (
                f"secret {name!r} has no rotation policy: set one with "
                f"`strongroom rotation set {name} --every 30d --rotator random`"
            )
            return RotationResult(tenant, name, RotationStatus.FAILED, reason=reason)
        if only_if_due and policy.next_due > now:
            return RotationResult(tenant, name, "skipped", reason="not due")
        try:
            self.rotators.get(policy.rotator).check(policy.options)
            rotation = self._repo.begin(tenant, name, policy.rotator, actor=actor or self._actor)
        except StrongroomError as exc:
            return self._failed_to_start(tenant, name, exc)
        return self._drive(rotation, policy)

    def _drive(self, rotation: RotationInfo, policy: PolicyInfo | None) -> RotationResult:
        options = policy.options if policy else {}
        try:
            rotator = self.rotators.get(rotation.rotator)
        except InvalidInput as exc:
            return self._fail(rotation, None, options, f"{exc}")
        try:
            if rotation.pending_version is None:
                rotation = self._repo.mark(rotation, RotationStep.CREATE, "started")
                value = rotator.create(self._context(rotation, options, RotationStep.CREATE))
                rotation = self._repo.stage_pending(rotation, value)
                del value
            for step in (RotationStep.SET, RotationStep.TEST):
                if _reached(rotation, step) or _does_nothing(rotator, step):
                    continue
                rotation = self._repo.mark(rotation, step, "started")
                ctx = self._context(rotation, options, step)
                with self._pending(rotation, step) as pending:
                    (rotator.set if step == RotationStep.SET else rotator.test)(ctx, pending)
                rotation = self._repo.mark(rotation, step, "done")
            overlap = policy.overlap if policy else 0.0
            every = policy.rotate_every if policy else None
            due = None if every is None else next_due(self._clock(), every)
            rotation = self._repo.promote(rotation, overlap=overlap, next_due=due)
        except Conflict as exc:
            if not self._repo.rotation(rotation).open:  # another process ended it: nothing of ours to undo
                return RotationResult(rotation.tenant, rotation.name, "skipped", rotation.id, reason=str(exc))
            # Still ours, but the secret moved under it (purged and re-created): end it, or it blocks every run.
            return self._fail(rotation, rotator, options, str(exc))
        except Exception as exc:
            return self._fail(rotation, rotator, options, _reason(rotation, exc))
        log.info("rotated %s of tenant %s (rotation %s)", rotation.name, rotation.tenant, rotation.id)
        if overlap <= 0:
            rotation = self._retire(rotation, policy)
        return self._outcome(rotation)

    def _retire(self, rotation: RotationInfo, policy: PolicyInfo | None) -> RotationInfo:
        options = policy.options if policy else {}
        try:
            rotator = self.rotators.get(rotation.rotator)
            previous_version = rotation.previous_version
            if (
                previous_version is not None
                and not _does_nothing(rotator, RotationStep.RETIRE)
                # Revoked unless it is current again (a roll-back ends the rotation first; a later put leaves it
                # retired, and it is still the credential this rotation replaced).
                and self._stage(rotation, previous_version) not in (Stage.CURRENT, None)
            ):
                rotation = self._repo.mark(rotation, RotationStep.RETIRE, "started")
                ctx = self._context(rotation, options, RotationStep.RETIRE)
                with self._version(rotation, previous_version, RotationStep.RETIRE) as previous:
                    rotator.retire(ctx, previous)
            return self._repo.retire(rotation)
        except Conflict as exc:
            log.info("retire of %s skipped: %s", rotation.name, exc)
            return rotation
        except Exception as exc:
            reason = _reason(rotation, exc)
            log.error("rotation %s of %s: retire failed: %s", rotation.id, rotation.name, reason)
            return self._repo.discard(rotation, f"retire failed: {reason}")

    def _fail(
        self, rotation: RotationInfo, rotator: Rotator | None, options: Mapping[str, Any], reason: str
    ) -> RotationResult:
        if rotator is not None and rotation.pending_version is not None:
            undo_failed = self._undo(rotator, rotation, options)
            if undo_failed is not None:  # keep why the step failed: it is what the operator has to fix
                reason = f"{reason}; then {undo_failed}"
        try:
            rotation = self._repo.discard(rotation, reason)
        except StrongroomError as exc:  # the store is down too: the next run finds it open and resumes it
            log.error(
                "rotation %s of %s failed (%s) and could not be recorded: %s", rotation.id, rotation.name, reason, exc
            )
            return RotationResult(rotation.tenant, rotation.name, RotationStatus.FAILED, rotation.id, reason=reason)
        outcome = self._outcome(rotation)
        log.error(
            "rotation of %s (tenant %s) failed; the current version is unchanged: %s",
            rotation.name,
            rotation.tenant,
            reason,
        )
        if self._alert is not None:
            self._alert(outcome)
        return outcome

    def _failed_to_start(self, tenant: str, name: str, exc: StrongroomError) -> RotationResult:
        log.error("rotation of %s (tenant %s) could not start: %s", name, tenant, exc)
        outcome = RotationResult(tenant, name, RotationStatus.FAILED, reason=str(exc))
        if self._alert is not None:
            self._alert(outcome)
        return outcome

    def _undo(self, rotator: Rotator, rotation: RotationInfo, options: Mapping[str, Any]) -> str | None:
        """Put the provider back on the current credential; the reason to record if that failed too."""
        if rotation.pending_version is None or not _reached(rotation, RotationStep.SET, started=True):
            return None
        try:
            with self._pending(rotation, RotationStep.SET) as pending:
                rotator.undo(self._context(rotation, options, "undo"), pending)
        except Exception as exc:
            return f"{_reason(rotation, exc)}; undo at the provider failed too: check the current credential"
        return None

    # -- helpers ----------------------------------------------------------------------------------------

    def _context(self, rotation: RotationInfo, options: Mapping[str, Any], step: str) -> RotationContext:
        vault, tenant, purpose = self._vault, rotation.tenant, f"rotation:{step}"

        def current() -> Secret[Any] | None:
            try:
                return vault.use(tenant, rotation.name, purpose=purpose, actor=rotation.actor)
            except NotFound:
                return None

        def other(name: str) -> Secret[Any]:
            return vault.use(tenant, name, purpose=purpose, actor=rotation.actor)

        return RotationContext(
            tenant=tenant,
            name=rotation.name,
            rotator=rotation.rotator,
            options=options,
            rotation_id=rotation.id,
            step=step,
            clock=self._clock,
            _current=current,
            _secret=other,
            vault=vault,
        )

    def _pending(self, rotation: RotationInfo, step: str) -> Secret[Any]:
        assert rotation.pending_version is not None  # noqa: S101 -- create is done before set/test
        return self._version(rotation, rotation.pending_version, step)

    def _version(self, rotation: RotationInfo, version: int, step: str) -> Secret[Any]:
        return self._vault.use(
            rotation.tenant, rotation.name, purpose=f"rotation:{step}", version=version, actor=rotation.actor
        )

    def _stage(self, rotation: RotationInfo, version: int) -> str | None:
        """The version's stage now: only a version still ``previous`` is revoked at the provider."""
        found = [v.stage for v in self._vault.versions(rotation.tenant, rotation.name) if v.version == version]
        return found[0] if found else None

    def _previous_until(self, tenant: str, name: str) -> float:
        previous = [v for v in self._vault.versions(tenant, name) if v.stage == Stage.PREVIOUS]
        return (previous[0].stage_until or 0.0) if previous else 0.0

    def _outcome(self, rotation: RotationInfo) -> RotationResult:
        version = self._current_version(rotation)
        return RotationResult(
            rotation.tenant, rotation.name, rotation.status, rotation.id, version, reason=rotation.error
        )

    def _current_version(self, rotation: RotationInfo) -> int | None:
        if rotation.status == RotationStatus.FAILED:
            return None
        return rotation.pending_version


def _does_nothing(rotator: Rotator, step: str) -> bool:
    """Whether the rotator keeps ``BaseRotator``'s no-op for ``step``: nothing to run, so nothing to record
    around it (half the commits of a ``random`` rotation) and no value to decrypt for it."""
    return getattr(type(rotator), step, None) is getattr(BaseRotator, step)


def _reached(rotation: RotationInfo, step: str, *, started: bool = False) -> bool:
    """Whether the recorded position is at or past ``step`` (done; or merely started, with ``started``)."""
    at, wanted = _ORDER.get(RotationStep(rotation.step), -1), _ORDER[RotationStep(step)]
    if at != wanted:
        return at > wanted
    return started or bool(rotation.phase == "done")


def _reason(rotation: RotationInfo, exc: BaseException) -> str:
    """What to record of a step's failure: strongroom's own messages (which never hold a value), else only the
    exception's type, since a driver's message may quote what it was sent."""
    if isinstance(exc, StrongroomError):
        return str(exc)
    return f"step {rotation.step} failed: {type(exc).__name__}"


def describe(outcome: RotationResult) -> str:
    """One line for a terminal: ``acme/orders-db: succeeded (v7)``."""
    where = f"{outcome.tenant}/{outcome.name}"
    version = f" (v{outcome.version})" if outcome.version else ""
    reason = f": {outcome.reason}" if outcome.reason else ""
    return f"{where}: {outcome.status}{version}{reason}"
