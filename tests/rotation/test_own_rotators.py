"""strongroom's own credentials rotated by the engine: token-signing keys and tenant API keys."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from strongroom.errors import AccessDenied, InvalidInput
from strongroom.rotation import RotationContext, Rotations, Rotators
from strongroom.rotation.own import ApiKeyRotator
from strongroom.secret import Secret
from strongroom.tokens import ApiKeys, TokenService
from strongroom.vault import Vault
from strongroom.vocabulary import PLATFORM_TENANT, Action, RotationStatus

KEY_NAME = "strongroom.token-signing-key"
ISSUER = "https://strongroom.test"
AUDIENCE = "https://api.strongroom.test"
TENANT = "acme"
HELD = "gpt-api-key"
# Tests of HTTP or key handling, not of the store, run on SQLite only (the engine's own tests cover both).
SQLITE_ONLY = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


class Clock:
    """Moves only when told; starts at the real time so PyJWT's own checks agree with it."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def vault(open_vault: Callable[..., Vault], clock: Clock) -> Vault:
    vault = open_vault(clock=clock)
    vault.create_tenant(TENANT)
    return vault


def _service(vault: Vault, clock: Clock) -> TokenService:
    return TokenService(
        vault, issuer=ISSUER, clock=clock, default_ttl_seconds=300, max_ttl_seconds=600, leeway_seconds=5
    )


def _token(tokens: TokenService) -> tuple[str, str]:
    """A new token and the kid of the key that signed it."""
    issued = tokens.issue(tenant=TENANT, subject="agent-1", audience=AUDIENCE, scopes=["audit:read"], actor="test")
    with issued.token as token:
        return token.reveal(), issued.kid


# -- signing-key ---------------------------------------------------------------------------------------


def test_a_rotated_signing_key_signs_new_tokens_and_old_tokens_still_verify(vault: Vault, clock: Clock) -> None:
    tokens = _service(vault, clock)
    before, old_kid = _token(tokens)  # the service makes the first key; the token lives 300 s
    rotations = Rotations(vault, clock=clock)
    rotations.set_policy(PLATFORM_TENANT, KEY_NAME, every="30d", rotator="signing-key")
    clock.now += 60
    result = rotations.rotate(PLATFORM_TENANT, KEY_NAME)
    assert result.status == RotationStatus.SUCCEEDED, result.reason

    after, new_kid = _token(tokens)
    assert new_kid != old_kid
    assert [v.version for v in vault.versions(PLATFORM_TENANT, KEY_NAME)] == [1, 2]  # the rotation's key signs
    elsewhere = _service(vault, clock)
    assert _token(elsewhere)[1] == new_kid
    clock.now += 230  # the old token's last seconds
    for service in (tokens, elsewhere):  # this process, and one that learns the keys from the store
        assert service.verify(before, audience=AUDIENCE).subject == "agent-1"
        assert service.verify(after, audience=AUDIENCE).subject == "agent-1"
        assert set(service.kids) == {old_kid, new_kid}

    clock.now += 600 + 5  # past the old key's window: every token it signed has expired
    assert tokens.kids == [new_kid]


@SQLITE_ONLY
def test_signing_key_refuses_any_other_secret(vault: Vault) -> None:
    vault.put(TENANT, "webhook-key", "x" * 40)
    rotations = Rotations(vault)
    rotations.set_policy(TENANT, "webhook-key", every="30d", rotator="signing-key")
    result = rotations.rotate(TENANT, "webhook-key")
    assert result.status == RotationStatus.FAILED
    assert result.reason is not None
    assert "rotates only 'strongroom.token-signing-key'" in result.reason
    assert "use the random rotator" in result.reason


@pytest.mark.parametrize("rotator", ["signing-key", "api-key"])
def test_own_rotators_take_no_options(rotator: str) -> None:
    with pytest.raises(InvalidInput, match="takes no options"):
        Rotators().get(rotator).check({"length": 12})


# -- api-key -------------------------------------------------------------------------------------------


@pytest.fixture
def held_key(vault: Vault, clock: Clock) -> str:
    """A tenant key that a GPT holds, stored as the secret ``gpt-api-key`` of the same tenant."""
    created, _ = ApiKeys(vault, clock=clock).create(
        tenant=TENANT, name="gpt backend", scopes=["tokens:issue", "audit:read"], ttl_seconds=90 * 86400, actor="test"
    )
    with created as key:
        vault.put(TENANT, HELD, key.reveal())
        return key.reveal()


def _held(vault: Vault) -> str:
    with vault.use(TENANT, HELD, purpose="test") as secret:
        return str(secret.reveal())


def test_an_api_key_rotation_issues_a_like_key_and_retires_the_old_one_after_the_overlap(
    vault: Vault, clock: Clock, held_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    keys = ApiKeys(vault, clock=clock)
    rotations = Rotations(vault, clock=clock)
    rotations.set_policy(TENANT, HELD, every="30d", overlap="1h", rotator="api-key")
    result = rotations.rotate(TENANT, HELD)
    assert result.status == RotationStatus.RETIRING, result.reason
    new = _held(vault)
    assert new != held_key
    old_info, new_info = keys.authenticate(held_key), keys.authenticate(new)  # both work during the overlap
    assert new_info.name == f"gpt backend [rotation {result.rotation_id}]"
    assert new_info.scopes == old_info.scopes == {"tokens:issue", "audit:read"}
    assert new_info.expires_at == clock.now + 90 * 86400

    clock.now += 3601
    [retired] = rotations.run_due()
    assert retired.status == RotationStatus.SUCCEEDED, retired.reason
    with pytest.raises(AccessDenied, match="was revoked"):
        keys.authenticate(held_key)
    assert keys.authenticate(new).id == new_info.id

    second = rotations.rotate(TENANT, HELD)  # the name keeps one tag, not one per rotation
    assert keys.authenticate(_held(vault)).name == f"gpt backend [rotation {second.rotation_id}]"
    leaked = [r.getMessage() for r in caplog.records if held_key in r.getMessage() or new in r.getMessage()]
    leaked += [repr(e) for e in vault.audit_events(tenant=TENANT) if held_key in repr(e) or new in repr(e)]
    assert leaked == []


class _Killed(BaseException):
    """Stands for SIGKILL: nothing in the engine catches it, so nothing after it runs."""


def test_a_key_issued_by_a_create_that_died_is_revoked_when_the_rotation_resumes(
    vault: Vault, clock: Clock, held_key: str
) -> None:
    orphans: list[str] = []

    class DiesAfterIssuing(ApiKeyRotator):
        def create(self, ctx: RotationContext) -> str:
            orphans.append(super().create(ctx))
            raise _Killed

    keys = ApiKeys(vault, clock=clock)
    dying = Rotations(vault, clock=clock, rotators=Rotators(extra={"api-key": DiesAfterIssuing}))
    dying.set_policy(TENANT, HELD, every="30d", overlap=0, rotator="api-key")
    with pytest.raises(_Killed):
        dying.rotate(TENANT, HELD)
    [orphan] = orphans
    assert keys.authenticate(orphan).tenant == TENANT  # live, and held by nobody but this test

    result = Rotations(vault, clock=clock).rotate(TENANT, HELD)  # the next run resumes the same rotation
    assert result.status == RotationStatus.SUCCEEDED, result.reason
    with pytest.raises(AccessDenied, match="was revoked"):
        keys.authenticate(orphan)
    with pytest.raises(AccessDenied, match="was revoked"):
        keys.authenticate(held_key)
    live = [k for k in keys.list(TENANT) if k.revoked_at is None]
    assert [k.id for k in live] == [keys.authenticate(_held(vault)).id]


@SQLITE_ONLY
def test_a_value_that_is_not_a_live_key_of_the_tenant_fails_the_rotation(vault: Vault, clock: Clock) -> None:
    created, _ = ApiKeys(vault, clock=clock).create(tenant=None, name="ops", scopes=["admin"], actor="test")
    rotations = Rotations(vault, clock=clock)
    with created as operator_key:
        vault.put(TENANT, HELD, operator_key.reveal())
    rotations.set_policy(TENANT, HELD, every="30d", overlap=0, rotator="api-key")
    outcomes: dict[str, Any] = {"operator": rotations.rotate(TENANT, HELD)}
    vault.put(TENANT, HELD, "not-a-key")
    outcomes["junk"] = rotations.rotate(TENANT, HELD)
    assert {k: o.status for k, o in outcomes.items()} == {"operator": "failed", "junk": "failed"}
    assert "is an operator key" in outcomes["operator"].reason
    assert "not a live API key: malformed API key" in outcomes["junk"].reason
    assert [v.version for v in vault.versions(TENANT, HELD)] == [1, 2]  # no pending version was left
    assert len(vault.audit_events(tenant=TENANT, action=Action.ROTATION_FAIL)) == 2


@SQLITE_ONLY
def test_undo_revokes_the_pending_key(vault: Vault, clock: Clock, held_key: str) -> None:
    class FailsItsTest(ApiKeyRotator):
        def test(self, ctx: RotationContext, pending: Secret[Any]) -> None:
            issued.append(str(pending.reveal()))
            raise InvalidInput("the provider refused the new key")

    issued: list[str] = []
    rotations = Rotations(vault, clock=clock, rotators=Rotators(extra={"api-key": FailsItsTest}))
    rotations.set_policy(TENANT, HELD, every="30d", overlap=0, rotator="api-key")
    assert rotations.rotate(TENANT, HELD).status == RotationStatus.FAILED
    keys = ApiKeys(vault, clock=clock)
    with pytest.raises(AccessDenied, match="was revoked"):
        keys.authenticate(issued[0])
    assert keys.authenticate(_held(vault)).id == keys.authenticate(held_key).id
