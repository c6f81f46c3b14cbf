"""The rotation state machine through its public API, with in-process rotators whose "provider" is a set of
accepted credentials: every fault path ends with the current credential untouched and working, nothing
half-promoted, an audit event, and no credential in a log line, a reason or an audit row."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pytest

from strongroom import Conflict, InvalidInput, NotFound, RotationError, Secret
from strongroom.config import Settings, secret
from strongroom.config.cache import LiveSecret
from strongroom.config.sources.store import StoreSource
from strongroom.rotation import BaseRotator, RotationContext, RotationResult, Rotations, Rotators
from strongroom.vault import Vault

T = "acme"


class Provider:
    """What a real provider holds: the credentials it accepts."""

    def __init__(self) -> None:
        self.accepted: set[str] = set()
        self.calls: list[str] = []


class FakeRotator(BaseRotator):
    """A rotator against ``Provider``; ``fail_at`` makes one step raise (as a provider refusing would)."""

    name: ClassVar[str] = "fake"

    def __init__(self, provider: Provider, fail_at: str | None = None, error: Exception | None = None) -> None:
        self.provider = provider
        self.fail_at = fail_at
        self.error = error or RotationError("the provider refused")
        self.made = 0

    def _step(self, ctx: RotationContext, step: str) -> None:
        self.provider.calls.append(step)
        if step == self.fail_at:
            raise self.error

    def check(self, options: Mapping[str, Any]) -> None:
        if "region" not in options:
            raise InvalidInput("rotator 'fake' needs the option region")

    def create(self, ctx: RotationContext) -> str:
        self._step(ctx, "create")
        self.made += 1
        return f"cred-{ctx.rotation_id}-{self.made}-{'x' * 24}"

    def set(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        self.provider.accepted.add(pending.reveal())
        self._step(ctx, "set")

    def test(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        self._step(ctx, "test")
        if pending.reveal() not in self.provider.accepted:
            raise RotationError(f"{ctx.describe()}: the new credential was refused")

    def undo(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        self.provider.calls.append("undo")
        self.provider.accepted.discard(pending.reveal())

    def retire(self, ctx: RotationContext, previous: Secret[Any]) -> None:
        self._step(ctx, "retire")
        self.provider.accepted.discard(previous.reveal())


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def setup(vault: Vault, provider: Provider) -> Callable[..., Setup]:
    """A tenant with one secret whose value the provider accepts, and a ``Rotations`` with the fake rotator."""

    def make(
        overlap: str | float = 0,
        clock: Callable[[], float] | None = None,
        alert: Callable[[RotationResult], object] | None = None,
        **rotator: Any,
    ) -> Setup:
        vault.create_tenant(T)
        first = "first-credential-" + "y" * 24
        vault.put(T, "db", first)
        provider.accepted.add(first)
        fake = FakeRotator(provider, **rotator)
        rotations = Rotations(vault, rotators=Rotators({"fake": lambda: fake}), clock=clock, alert=alert)
        rotations.set_policy(T, "db", every="30d", overlap=overlap, rotator="fake", options={"region": "eu"})
        return rotations, first, fake

    return make


Setup = tuple[Rotations, str, FakeRotator]


def current(vault: Vault) -> str:
    with vault.use(T, "db", purpose="check", type=str) as value:
        return value.reveal()


def stages(vault: Vault) -> dict[int, str]:
    return {v.version: str(v.stage) for v in vault.versions(T, "db")}


def events(vault: Vault, action: str) -> list[Any]:
    return vault.audit_events(tenant=T, action=action)


def test_a_rotation_promotes_the_tested_credential_and_retires_the_old_one(
    vault: Vault, provider: Provider, setup: Callable[..., Setup]
) -> None:
    rotations, first, _fake = setup()
    result = rotations.rotate(T, "db")
    assert result.status == "succeeded", result
    assert provider.calls == ["create", "set", "test", "retire"]
    new = current(vault)
    assert new != first
    assert provider.accepted == {new}
    assert stages(vault) == {1: "retired", 2: "current"}
    for action in ("rotation.start", "rotation.stage", "rotation.finish", "rotation.retire"):
        assert len(events(vault, action)) == 1, action
    assert rotations.run_due() == []  # next due in 30 days: nothing to do


def test_with_an_overlap_the_previous_version_stays_a_candidate_until_run_due_retires_it(
    vault: Vault, provider: Provider, setup: Callable[..., Setup]
) -> None:
    now = [vault.clock()]
    rotations, first, _ = setup(overlap="1h", clock=lambda: now[0])
    settings = _Db.load(environment="dev", sources=[StoreSource(vault, tenant=T)], clock=lambda: now[0])
    assert rotations.rotate(T, "db").status == "retiring"
    new = current(vault)
    assert stages(vault) == {1: "previous", 2: "current"}
    assert provider.accepted == {first, new}  # both work during the overlap
    assert settings.db.reveal() == new  # learnt at once, in this process
    assert isinstance(settings.db, LiveSecret)
    assert settings.db.candidates() == [new, first]
    assert rotations.run_due() == []  # overlap not over
    now[0] += 2 * 3600  # past the overlap, which began at the promotion (the vault's own clock)
    [retired] = rotations.run_due()
    assert retired.status == "succeeded"
    assert provider.accepted == {new}
    assert stages(vault) == {1: "retired", 2: "current"}


class _Db(Settings):
    db: Secret[str] = secret()


@pytest.mark.parametrize("step", ["create", "set", "test"])
def test_a_failed_step_never_promotes_and_leaves_the_current_credential_working(
    vault: Vault,
    provider: Provider,
    setup: Callable[..., Setup],
    step: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alerts: list[RotationResult] = []  # the alert hook a deployment wires to its pager
    rotations, first, fake = setup(fail_at=step, alert=alerts.append)
    caplog.set_level(logging.DEBUG)
    result = rotations.rotate(T, "db")
    assert result.failed
    assert "refused" in (result.reason or "")
    assert current(vault) == first
    assert first in provider.accepted
    assert stages(vault) == {1: "current"}  # the pending version is gone
    assert provider.accepted == {first}  # undone at the provider
    assert [a.name for a in alerts] == ["db"]
    [failed] = events(vault, "rotation.fail")
    assert failed.outcome == "error"
    assert "refused" in failed.detail
    assert "rotation of db (tenant acme) failed" in caplog.text
    _nothing_leaked(vault, provider, caplog.text + repr(result))
    # the next rotation starts afresh and succeeds
    fake.fail_at = None
    assert rotations.rotate(T, "db").status == "succeeded"
    # a discarded pending version's number is never reused (a failed create made none)
    assert stages(vault) == {1: "retired", (2 if step == "create" else 3): "current"}


def test_a_driver_error_is_recorded_by_its_type_only(
    vault: Vault, provider: Provider, setup: Callable[..., Setup], caplog: pytest.LogCaptureFixture
) -> None:
    """A non-strongroom exception may quote what it was sent: only its type is recorded."""
    rotations, _, _ = setup(fail_at="set", error=ValueError("server said: bad password cred-leaked-in-message"))
    result = rotations.rotate(T, "db")
    assert result.reason == "step set failed: ValueError"
    assert "cred-leaked-in-message" not in caplog.text + str(events(vault, "rotation.fail"))


def _nothing_leaked(vault: Vault, provider: Provider, text: str) -> None:
    rows = " ".join(f"{e.detail} {e.purpose} {e.context}" for e in vault.audit_events(tenant=T))
    for value in provider.accepted | {c for c in provider.calls if c.startswith("cred-")}:
        assert value not in text
        assert value not in rows
    assert "cred-" not in text
    assert "cred-" not in rows


def test_an_unknown_rotator_or_missing_options_are_refused_when_the_policy_is_set(
    vault: Vault, setup: Callable[..., Setup]
) -> None:
    rotations, _, _fake = setup()
    with pytest.raises(InvalidInput, match=r"unknown rotator 'nope': use one of .*fake"):
        rotations.set_policy(T, "db", every="30d", rotator="nope")
    with pytest.raises(InvalidInput, match="needs the option region"):
        rotations.set_policy(T, "db", every="30d", rotator="fake")
    with pytest.raises(InvalidInput, match=r"looks like a credential.*password_secret=NAME"):
        rotations.set_policy(T, "db", every="30d", rotator="fake", options={"region": "eu", "password": "x"})
    for url in ("https://ops:hunter2hunter2@hooks.example/rotate", "https://hooks.example/r?api_key=hunter2hunter2"):
        with pytest.raises(InvalidInput, match="URL with a credential") as refused:
            rotations.set_policy(T, "db", every="30d", rotator="fake", options={"region": "eu", "url": url})
        assert "hunter2" not in str(refused.value)
    for huge in (1e300, float("inf"), float("nan"), "999999w"):
        with pytest.raises(InvalidInput, match="between 0 and 10 years"):
            rotations.set_policy(T, "db", every=huge, rotator="fake", options={"region": "eu"})
    with pytest.raises(InvalidInput, match="overlap shorter"):
        rotations.set_policy(T, "db", every="1h", overlap="2h", rotator="fake", options={"region": "eu"})
    assert rotations.rotate(T, "nothing").failed  # no policy, no secret: a recorded refusal, no exception


def test_a_put_during_a_rotation_is_refused_and_cancel_discards_the_pending_version(
    vault: Vault, provider: Provider, setup: Callable[..., Setup]
) -> None:
    entered, release = threading.Event(), threading.Event()
    rotations, first, fake = setup()
    original_test = fake.test

    def slow_test(ctx: RotationContext, pending: Secret[Any]) -> None:
        entered.set()
        release.wait(30)
        original_test(ctx, pending)

    fake.test = slow_test  # type: ignore[method-assign]
    outcome: list[RotationResult] = []
    worker = threading.Thread(target=lambda: outcome.append(rotations.rotate(T, "db")))
    worker.start()
    try:
        assert entered.wait(30)
        assert stages(vault) == {1: "current", 2: "pending"}
        assert current(vault) == first  # readers take current while a rotation runs
        with pytest.raises(Conflict, match=r"being rotated.*--cancel"):
            vault.put(T, "db", "manual-value-" + "z" * 20)
        busy = rotations.rotate(T, "db")  # a second rotation of the same secret at once
        assert busy.status == "skipped"
        assert "another process" in (busy.reason or "")
    finally:
        release.set()
        worker.join(30)
    assert outcome[0].status == "succeeded"


def test_a_tenant_deleted_mid_rotation_ends_as_a_recorded_failure(
    vault: Vault, provider: Provider, setup: Callable[..., Setup]
) -> None:
    rotations, _, fake = setup()
    original_set = fake.set

    def set_then_tenant_gone(ctx: RotationContext, pending: Secret[Any]) -> None:
        original_set(ctx, pending)
        vault.delete_tenant(T)

    fake.set = set_then_tenant_gone  # type: ignore[method-assign]
    result = rotations.rotate(T, "db")
    assert result.failed
    assert "not found" in (result.reason or "")
    assert vault.rotation_repo.open_rotations() == []


def test_a_clock_that_jumps_back_does_not_rotate_early_or_lose_the_schedule(
    vault: Vault, setup: Callable[..., Setup]
) -> None:
    now = [vault.clock()]
    rotations, _, _ = setup(clock=lambda: now[0])
    [policy] = vault.rotation_repo.policies(T)
    now[0] = policy.next_due + 1
    assert [r.status for r in rotations.run_due()] == ["succeeded"]
    now[0] -= 86400 * 40  # back before the last rotation
    assert rotations.run_due() == []
    [after] = vault.rotation_repo.policies(T)
    assert after.next_due > policy.next_due


def test_an_operator_rolls_back_to_the_previous_version_and_its_rotation_never_revokes_it(
    vault: Vault, provider: Provider, setup: Callable[..., Setup]
) -> None:
    now = [vault.clock()]
    rotations, first, _ = setup(overlap="1h", clock=lambda: now[0])
    assert rotations.rotate(T, "db").status == "retiring"
    assert vault.rotation_repo.roll_back(T, "db", actor="ops") == 1
    assert current(vault) == first
    assert stages(vault) == {1: "current", 2: "previous"}
    [moved] = events(vault, "rotation.stage")[-1:]
    assert moved.actor == "ops"
    assert "rolled back" in moved.detail
    now[0] += 2 * 3600  # past the overlap, which began at the promotion (the vault's own clock)
    assert rotations.run_due() == []  # the rotation ended with the roll-back: nothing is retired
    assert first in provider.accepted
    vault.put(T, "solo", "only-version-" + "s" * 20)
    with pytest.raises(NotFound, match="no previous version"):
        vault.rotation_repo.roll_back(T, "solo")


def test_the_environments_keys_rotate_on_a_schedule_like_any_due_secret(
    vault: Vault, setup: Callable[..., Setup]
) -> None:
    """ "The KEK/DEK rotations that exist today, schedulable the same way": a new root key (every data key
    rewrapped under it) and a new data key for every tenant, run by run_due; values stay readable."""
    now = [vault.clock()]
    rotations, first, _ = setup(clock=lambda: now[0])
    root_before = vault.keys.status().primary
    rotations.schedule_keys("root-key", "90d")
    rotations.schedule_keys("data-keys", "30d")
    with pytest.raises(InvalidInput, match="unknown key schedule"):
        rotations.schedule_keys("everything", "1d")
    assert rotations.run_due() == []
    now[0] += 91 * 86400
    done = {r.name: r for r in rotations.run_due() if r.tenant == "-"}
    assert done["@root-key"].status == "succeeded"
    assert done["@root-key"].version == vault.keys.status().primary != root_before
    assert done["@data-keys"].reason == "new data keys for 1 tenant(s)"
    assert current(vault) != first  # the secret's own policy (30 days) was due as well
    assert [r.name for r in rotations.run_due()] == []  # next due a period later
    assert len(vault.audit_events(tenant="-", action="key.rotate")) == 2  # added, then promoted


def test_every_vault_of_the_process_serves_the_new_value_at_once(
    open_vault: Callable[..., Vault], provider: Provider, setup: Callable[..., Setup]
) -> None:
    """A finished rotation drops the hot cache of every Vault in this process, not only the rotating one's."""
    reader = open_vault(cache_ttl_seconds=3600)
    rotations, first, _ = setup()
    with reader.use(T, "db", purpose="warm", type=str) as warm:
        assert warm.reveal() == first  # cached for an hour
    assert rotations.rotate(T, "db").status == "succeeded"
    with reader.use(T, "db", purpose="after", type=str) as after:
        assert after.reveal() != first
        assert after.reveal() in provider.accepted


def test_a_value_written_during_the_overlap_does_not_spare_the_replaced_credential(
    vault: Vault, provider: Provider, setup: Callable[..., Setup]
) -> None:
    """A put during the overlap makes the rotation's previous version retired, not current: the rotation still
    revokes it at the provider when the overlap ends (else a leaked key would outlive its rotation)."""
    now = [vault.clock()]
    rotations, first, _ = setup(overlap="1h", clock=lambda: now[0])
    assert rotations.rotate(T, "db").status == "retiring"
    vault.put(T, "db", "written-by-hand-" + "h" * 20)
    assert first in provider.accepted
    now[0] += 2 * 3600
    assert [r.status for r in rotations.run_due()] == ["succeeded"]
    assert first not in provider.accepted


def test_a_policy_without_an_overlap_gets_one_when_its_rotator_revokes(
    vault: Vault, setup: Callable[..., Setup]
) -> None:
    """Unset, the overlap is an hour (at most half the period) for a rotator that revokes the old credential,
    so processes that refresh on their own interval are not left holding a revoked one; none for random."""
    rotations, _, _ = setup()
    revoking = rotations.set_policy(T, "db", every="30d", rotator="fake", options={"region": "eu"})
    assert revoking.overlap == 3600
    short = rotations.set_policy(T, "db", every="1h", rotator="fake", options={"region": "eu"})
    assert short.overlap == 1800
    assert rotations.set_policy(T, "db", every="30d", rotator="random").overlap == 0
