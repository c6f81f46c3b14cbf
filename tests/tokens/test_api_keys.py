"""API keys: created once, stored as a hash, authenticated by id and constant-time hash comparison, revoked
per tenant, audited. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from strongroom.audit import Action, Outcome
from strongroom.crypto import LocalKeyProvider
from strongroom.errors import AccessDenied, Conflict, InvalidInput, NotFound
from strongroom.rules.api_key_format import checksum, new_api_key, random_base62
from strongroom.testing import assert_not_leaked
from strongroom.tokens import ADMIN_SCOPE, SCOPES, ApiKeyInfo, ApiKeys
from strongroom.vault import Vault

from .conftest import FakeClock, count_statements  # noqa: TID252 -- pytest's importlib mode resolves the package


def forms(key: str) -> list[str]:
    raw = key.encode()
    return [key, raw.hex(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")]


def test_round_trip(api_keys: ApiKeys, clock: FakeClock) -> None:
    """A created key authenticates to its own metadata (tenant, name, scopes); last use is recorded."""
    key, info = api_keys.create(tenant="acme", name="ci deploy", scopes=["secrets:write", "tokens:issue"], actor="ops")
    assert info.tenant == "acme"
    assert info.name == "ci deploy"
    assert info.scopes == {"secrets:write", "tokens:issue"}
    assert info.prefix == f"srk_{info.id}"
    assert key.reveal().startswith(info.prefix + "_")
    assert (info.created_at, info.expires_at, info.revoked_at, info.last_used_at) == (clock.now, None, None, None)
    clock.advance(5)
    authenticated = api_keys.authenticate(key.reveal())
    assert authenticated.id == info.id
    assert authenticated.scopes == info.scopes
    assert authenticated.last_used_at == clock.now
    assert api_keys.get(info.prefix, tenant="acme").last_used_at == clock.now


def test_operator_keys_carry_admin_and_have_no_tenant(api_keys: ApiKeys) -> None:
    key, info = api_keys.create(tenant=None, name="operator", scopes=[ADMIN_SCOPE], actor="ops")
    assert api_keys.authenticate(key.reveal()).id == info.id
    assert info.tenant is None
    assert info.scopes == {ADMIN_SCOPE}
    assert [k.id for k in api_keys.list(None)] == [info.id]
    assert api_keys.list("acme") == []


def test_the_key_is_shown_once_and_never_stored(
    api_keys: ApiKeys, vault: Vault, all_cells: Callable[[], list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    """The key is returned as a masked Secret; no column of any table (audit log included) holds it in any
    encoding, only its SHA-256; nothing logged carries it."""
    caplog.set_level(logging.DEBUG)
    key, info = api_keys.create(tenant="acme", name="ci", scopes=["secrets:write"], actor="ops")
    plaintext = key.reveal()
    assert plaintext not in repr(key)
    assert plaintext not in str(key)
    assert plaintext not in f"{key}"
    api_keys.authenticate(plaintext)
    vault.flush_audit()
    cells = all_cells()
    for form in [*forms(plaintext), plaintext[len(info.prefix) + 1 :]]:  # also the secret part on its own
        assert not [c for c in cells if form in c]
    assert hashlib.sha256(plaintext.encode()).hexdigest() in cells
    assert_not_leaked(forms(plaintext), info, api_keys.list("acme"), api_keys, caplog.text)


def test_listing_shows_metadata_only(api_keys: ApiKeys, clock: FakeClock) -> None:
    """A tenant's keys, oldest first, as metadata: no key, no hash."""
    keys = []
    for i in range(3):
        keys.append(api_keys.create(tenant="acme", name=f"key {i}", scopes=["audit:read"], actor="ops"))
        clock.advance(1)
    api_keys.create(tenant="globex", name="theirs", scopes=["audit:read"], actor="ops")
    listed = api_keys.list("acme")
    assert [k.name for k in listed] == ["key 0", "key 1", "key 2"]
    assert all(isinstance(k, ApiKeyInfo) and not hasattr(k, "key_hash") for k in listed)
    assert set(listed[0].to_dict()) == {
        "id",
        "prefix",
        "tenant",
        "name",
        "scopes",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    }
    assert_not_leaked([k.reveal() for k, _ in keys], listed, [k.to_dict() for k in listed])


def test_a_one_character_change_is_refused_without_a_database_read(api_keys: ApiKeys, vault: Vault) -> None:
    """Changing any one character fails the checksum (or the shape) before any SQL runs."""
    key, _ = api_keys.create(tenant="acme", name="ci", scopes=["secrets:write"], actor="ops")
    plaintext = key.reveal()
    with count_statements(vault) as seen:
        for position in range(len(plaintext)):
            replacement = "A" if plaintext[position] != "A" else "B"
            mutated = plaintext[:position] + replacement + plaintext[position + 1 :]
            with pytest.raises(AccessDenied) as caught:
                api_keys.authenticate(mutated)
            assert_not_leaked([mutated, plaintext], caught.value)
    assert seen == []


@pytest.mark.parametrize("junk", ["", "srk_", "Bearer x", "srk_abc_def", "x" * 10_000, "srk_" + "é" * 47])
def test_malformed_keys_are_refused_without_a_read(api_keys: ApiKeys, vault: Vault, junk: str) -> None:
    with count_statements(vault) as seen, pytest.raises(AccessDenied, match="malformed API key"):
        api_keys.authenticate(junk)
    assert seen == []


def test_unknown_keys_are_refused(api_keys: ApiKeys) -> None:
    """A well-formed key never created, and a forged one reusing a real public id, are both unknown."""
    never_created, _ = new_api_key()
    with pytest.raises(AccessDenied, match="unknown") as caught:
        api_keys.authenticate(never_created)
    assert never_created not in str(caught.value)
    assert never_created[:12] in str(caught.value)
    _, info = api_keys.create(tenant="acme", name="ci", scopes=["secrets:write"], actor="ops")
    body = f"{info.prefix}_{random_base62(32)}"
    forged = body + checksum(body)
    with pytest.raises(AccessDenied, match="unknown") as caught:
        api_keys.authenticate(forged)
    assert_not_leaked([forged], caught.value)


def test_revoked_keys_are_refused_and_the_attempt_is_audited(api_keys: ApiKeys, vault: Vault) -> None:
    key, info = api_keys.create(tenant="acme", name="ci", scopes=["secrets:write"], actor="ops")
    api_keys.revoke(info.id, tenant="acme", actor="ops")
    with pytest.raises(AccessDenied, match="revoked") as caught:
        api_keys.authenticate(key.reveal())
    assert_not_leaked(forms(key.reveal()), caught.value)
    assert api_keys.get(info.id, tenant="acme").revoked_at is not None
    api_keys.revoke(info.prefix, tenant="acme", actor="ops")  # again: no change, no error
    events = [(e.action, e.outcome, e.actor) for e in vault.audit_events(tenant="acme")]
    assert (Action.API_KEY_CREATE, Outcome.OK, "ops") in events
    assert events.count((Action.API_KEY_REVOKE, Outcome.OK, "ops")) == 1
    assert (Action.API_KEY_REFUSED, Outcome.DENIED, info.prefix) in events
    assert vault.verify_audit().broken is None


def test_expired_keys_are_refused(api_keys: ApiKeys, clock: FakeClock) -> None:
    key, info = api_keys.create(tenant="acme", name="temp", scopes=["secrets:write"], ttl_seconds=60, actor="ops")
    assert info.expires_at == clock.now + 60
    clock.advance(59)
    api_keys.authenticate(key.reveal())
    clock.advance(1)
    with pytest.raises(AccessDenied, match="expired"):
        api_keys.authenticate(key.reveal())


def test_no_cross_tenant_revocation(api_keys: ApiKeys) -> None:
    """Another tenant, or the operator scope, cannot revoke acme's key (NotFound, the same as a missing key)."""
    key, info = api_keys.create(tenant="acme", name="ci", scopes=["secrets:write"], actor="ops")
    operator_key, operator = api_keys.create(tenant=None, name="op", scopes=[ADMIN_SCOPE], actor="ops")
    for who, key_id in (("globex", info.id), (None, info.id), ("acme", operator.id), ("acme", "zzzzzzzz")):
        with pytest.raises(NotFound, match="not found"):
            api_keys.revoke(key_id, tenant=who, actor="intruder")
    api_keys.authenticate(key.reveal())
    api_keys.authenticate(operator_key.reveal())
    with pytest.raises(NotFound):
        api_keys.get(info.id, tenant="globex")


def test_scopes_are_validated(api_keys: ApiKeys) -> None:
    with pytest.raises(InvalidInput, match=r"unknown scopes 'secrets:read', 'sudo'"):
        api_keys.create(tenant="acme", name="x", scopes=["secrets:write", "sudo", "secrets:read"], actor="ops")
    with pytest.raises(InvalidInput, match="operator keys only"):
        api_keys.create(tenant="acme", name="x", scopes=[ADMIN_SCOPE], actor="ops")
    with pytest.raises(InvalidInput, match="at least one scope"):
        api_keys.create(tenant="acme", name="x", scopes=[], actor="ops")
    _, info = api_keys.create(tenant="acme", name="all", scopes=" ".join(sorted(SCOPES)), actor="ops")
    assert info.scopes == SCOPES
    assert api_keys.list("acme") == [info]


def test_bad_arguments_are_refused(api_keys: ApiKeys) -> None:
    with pytest.raises(NotFound, match="tenant 'initech' not found"):
        api_keys.create(tenant="initech", name="x", scopes=["audit:read"], actor="ops")
    for tenant in ("_platform", "_scan"):
        with pytest.raises(InvalidInput, match="internal"):
            api_keys.create(tenant=tenant, name="x", scopes=["audit:read"], actor="ops")
    with pytest.raises(InvalidInput, match="ttl_seconds"):
        api_keys.create(tenant="acme", name="x", scopes=["audit:read"], ttl_seconds=0, actor="ops")
    with pytest.raises(InvalidInput, match="name"):
        api_keys.create(tenant="acme", name="bad\nname", scopes=["audit:read"], actor="ops")
    with pytest.raises(InvalidInput, match="key id"):
        api_keys.revoke("not an id", tenant="acme", actor="ops")


def test_deleting_the_tenant_deletes_its_keys(api_keys: ApiKeys, vault: Vault) -> None:
    key, _ = api_keys.create(tenant="acme", name="ci", scopes=["secrets:write"], actor="ops")
    vault.delete_tenant("acme")
    with pytest.raises(AccessDenied, match="unknown"):
        api_keys.authenticate(key.reveal())
    vault.create_tenant("acme")  # the same name again is a new tenant: the old key stays dead
    with pytest.raises(AccessDenied):
        api_keys.authenticate(key.reveal())
    assert api_keys.list("acme") == []


def test_keys_belong_to_one_environment(
    api_keys: ApiKeys, open_service_vault: Callable[..., Vault], tmp_path: Path, clock: FakeClock
) -> None:
    """A dev key does not authenticate against prod on the same database."""
    key, _ = api_keys.create(tenant=None, name="op", scopes=[ADMIN_SCOPE], actor="ops")
    prod_provider = LocalKeyProvider.create_file(tmp_path / "keys" / "prod.json", "prod")
    prod = open_service_vault(environment="prod", key_provider=prod_provider)
    with pytest.raises(AccessDenied, match="unknown in prod"):
        ApiKeys(prod, clock=clock).authenticate(key.reveal())


def test_last_use_is_written_at_most_once_a_minute(api_keys: ApiKeys, vault: Vault, clock: FakeClock) -> None:
    key, _ = api_keys.create(tenant="acme", name="ci", scopes=["secrets:write"], actor="ops")
    api_keys.authenticate(key.reveal())
    with count_statements(vault) as seen:
        for _ in range(5):
            clock.advance(1)
            api_keys.authenticate(key.reveal())
    assert not [s for s in seen if s.lstrip().upper().startswith("UPDATE")]
    clock.advance(60)
    assert api_keys.authenticate(key.reveal()).last_used_at == clock.now


# -- admin keys: revocable, never the last one (issue 12, finding 4) -----------------------------------------


def test_the_last_live_admin_key_cannot_be_revoked(api_keys: ApiKeys, vault: Vault, clock: FakeClock) -> None:
    """An expired admin key does not count as another; the refusal is a Conflict naming the fix, audited."""
    first, first_info = api_keys.create(tenant=None, name="first", scopes=[ADMIN_SCOPE], actor="ops")
    _, spent = api_keys.create(tenant=None, name="spent", scopes=[ADMIN_SCOPE], ttl_seconds=60, actor="ops")
    _, reader = api_keys.create(tenant=None, name="reader", scopes=["audit:read"], actor="ops")
    clock.advance(61)
    with pytest.raises(Conflict, match="last admin key: create another, then revoke this one"):
        api_keys.revoke(first_info.id, tenant=None, actor="ops")
    api_keys.authenticate(first.reveal())
    api_keys.revoke(spent.id, tenant=None, actor="ops")  # not the last live one
    api_keys.revoke(reader.id, tenant=None, actor="ops")  # not an admin key
    refusals = [e for e in vault.audit_events() if e.action == Action.API_KEY_REVOKE and e.outcome != Outcome.OK]
    assert [(e.outcome, (e.detail or "").split()[-1]) for e in refusals] == [(Outcome.CONFLICT, "(Conflict)")]
    assert vault.verify_audit().broken is None


def test_revoking_the_last_two_admin_keys_at_once_leaves_one(
    open_service_vault: Callable[..., Vault], clock: FakeClock
) -> None:
    """Two processes each revoke one of the two admin keys at the same moment: exactly one succeeds (the
    check runs under the environment chain's lock), so one admin key is left whatever the interleaving."""
    vaults = [open_service_vault(), open_service_vault()]
    keys = [ApiKeys(v, clock=clock) for v in vaults]
    made = [keys[0].create(tenant=None, name=f"admin-{i}", scopes=[ADMIN_SCOPE], actor="ops")[1] for i in (0, 1)]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def revoke(index: int) -> None:
        start.wait()
        try:
            keys[index].revoke(made[index].id, tenant=None, actor=f"ops-{index}")
            outcomes.append("revoked")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=revoke, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "revoked"]
    assert sum(k.revoked_at is None for k in keys[0].list(None)) == 1


def test_revoking_a_tenant_key_writes_the_revocation_of_its_tokens(api_keys: ApiKeys, vault: Vault) -> None:
    """One transaction: the key's revoked_at, its event, and the ``key:<id>`` row the token verifiers read."""
    _, info = api_keys.create(tenant="acme", name="ci", scopes=["tokens:issue"], actor="ops")
    assert api_keys.revoke(info.prefix, tenant="acme", actor="ops") == info.id
    with vault._store.read() as tx:
        rows = tx.token_revocations(vault.environment, expiring_after=0)
    assert f"key:{info.id}" in rows
    api_keys.revoke(info.id, tenant="acme", actor="ops")  # again: nothing more written
    with vault._store.read() as tx:
        assert tx.count("token_revocations") == 1
