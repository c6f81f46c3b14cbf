"""The key lifecycle through ``Vault.keys``: two-phase rotation, retirement, shredding, migration, and vaults that
learn another process's rotation from the store without a restart."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.crypto import LocalKeyProvider
from strongroom.errors import KeyProviderError, WrongKeyError
from strongroom.store import Tx
from strongroom.vault import Vault
from strongroom.vocabulary import Action, RootState

from ..conftest import write_pre_0006_layout  # noqa: TID252 -- pytest's importlib mode resolves the package

Open = Callable[..., Vault]


def _fill(vault: Vault, tenants: int = 3) -> dict[tuple[str, str], str]:
    values = {}
    for t in range(tenants):
        vault.create_tenant(f"t{t}")
        for s in range(2):
            values[(f"t{t}", f"s{s}")] = value = f"value-{t}-{s}-{os.urandom(6).hex()}"
            vault.put(f"t{t}", f"s{s}", value)
    return values


def _reads_back(vault: Vault, values: dict[tuple[str, str], str]) -> None:
    for (tenant, name), value in values.items():
        with vault.use(tenant, name, purpose="test") as secret:
            assert secret.reveal() == value


def _states(vault: Vault) -> dict[int, str]:
    return {r.version: r.state for r in vault.keys.status().roots}


def test_rotation_stages_then_promotes_then_rewraps(open_vault: Open) -> None:
    vault = open_vault(cache_ttl_seconds=0)
    values = _fill(vault)
    staged = vault.keys.rotate(stage_only=True)
    assert staged.staged_only
    assert _states(vault) == {1: RootState.PRIMARY, 2: RootState.DECRYPT_ONLY}
    vault.create_tenant("during")  # wrapped under the primary, not the staged root
    # three tenants' data keys and the audit key's (the hidden _audit tenant), all under the primary
    assert {r.version: r.data_keys for r in vault.keys.status().roots} == {1: 5, 2: 0}
    done = vault.keys.rotate()  # resumes the staged root instead of adding another
    assert (done.root_version, done.rewrapped) == (2, 5)
    assert _states(vault) == {1: RootState.ACTIVE, 2: RootState.PRIMARY}
    status = vault.keys.status()
    assert status.retirable == (1,)
    _reads_back(vault, values)


def test_retire_destroys_only_what_nothing_needs(open_vault: Open, key_provider: LocalKeyProvider) -> None:
    vault = open_vault(cache_ttl_seconds=0)
    values = _fill(vault)
    vault.keys.rotate(stage_only=True)
    early = vault.keys.retire()  # root 1 is primary and root 2 staged: nothing may go
    assert early.roots_retired == ()
    assert early.provider_versions_destroyed == ()
    vault.keys.rotate()
    report = vault.keys.retire()
    assert report.roots_retired == (1,)
    assert report.provider_versions_destroyed == (1,)
    assert _states(vault)[1] == RootState.RETIRED
    assert sorted(json.loads(Path(str(key_provider.path)).read_text())["keys"]) == ["2"]
    _reads_back(
        open_vault(key_provider=LocalKeyProvider.from_file(str(key_provider.path)), cache_ttl_seconds=0), values
    )
    assert [e.action for e in vault.audit_events(tenant="-", action=Action.KEY_RETIRE)] == [Action.KEY_RETIRE] * 2


def test_another_process_learns_a_rotation_from_the_store(open_vault: Open, key_provider: LocalKeyProvider) -> None:
    """A vault opened before a rotation and a retirement keeps reading and wraps new tenants under the new
    primary: it loads the new root (reloading the key file for its new version), never the retired one."""
    rotator = open_vault(cache_ttl_seconds=0)
    values = _fill(rotator)
    server = open_vault(
        key_provider=LocalKeyProvider.from_file(str(key_provider.path)), cache_ttl_seconds=0, dek_cache_ttl_seconds=0
    )
    _reads_back(server, values)  # root 1 loaded
    rotator.keys.rotate()
    rotator.keys.retire()  # provider version 1 is gone from the key file
    _reads_back(server, values)  # data keys now under root 2, wrapped by provider version 2
    server.create_tenant("new")
    server.put("new", "k", "fresh")
    counts = {r.version: r.data_keys for r in rotator.keys.status().roots}
    assert counts == {1: 0, 2: 5}  # with the audit key's


def test_a_shred_runs_only_when_a_deletion_is_pending(open_vault: Open, key_provider: LocalKeyProvider) -> None:
    vault = open_vault(cache_ttl_seconds=0)
    values = _fill(vault)
    assert vault.keys.shred().root_version is None  # nothing deleted yet
    vault.delete_tenant("t2")
    assert vault.keys.status().deletions_pending == 1
    report = vault.keys.shred()
    assert report.deletions == 1
    assert report.roots_retired == (1,)
    assert report.provider_versions_destroyed == (1,)
    status = vault.keys.status()
    assert status.deletions_pending == 0
    assert [r.version for r in status.roots if r.state != RootState.RETIRED] == [2]
    assert status.provider_versions == (2,)
    _reads_back(vault, {k: v for k, v in values.items() if k[0] != "t2"})
    assert vault.keys.shred().deletions == 0  # done once
    [event] = vault.audit_events(tenant="-", action=Action.KEY_SHRED)
    assert event.detail is not None
    assert event.detail.startswith("1 deletions shredded")


def test_shredding_refuses_keys_from_the_environment(open_vault: Open) -> None:
    env_keys = LocalKeyProvider.from_env(base64.b64encode(os.urandom(32)).decode())
    vault = open_vault(key_provider=env_keys)
    _fill(vault, 2)
    vault.delete_tenant("t1")
    with pytest.raises(KeyProviderError, match="STRONGROOM_MASTER_KEY: add a new version"):
        vault.keys.shred()
    assert vault.keys.status().deletions_pending == 1  # still owed


def test_migrate_moves_the_root_of_trust_and_old_layouts_come_along(
    open_vault: Open, key_provider: LocalKeyProvider, store_url: str, tmp_path: Path
) -> None:
    """A store as the previous release wrote it (data keys wrapped by the provider, no root keys) opens,
    migrates to another provider and reads back every value; the old provider then opens nothing."""
    vault = open_vault(cache_ttl_seconds=0)
    values = _fill(vault)
    vault.close()
    assert write_pre_0006_layout(store_url, key_provider) == 4  # two tenants, _scan's, _audit's
    old = open_vault(cache_ttl_seconds=0)
    _reads_back(old, values)  # the old layout reads as before
    target = LocalKeyProvider.create_file(tmp_path / "other" / "dev.json", "dev")
    assert old.keys.migrate(target) == 1
    _reads_back(old, values)
    status = old.keys.status()
    assert status.provider_wrapped == ()  # every data key under the root now
    assert {r.provider_id for r in status.roots} == {target.key_id}
    moved = open_vault(key_provider=LocalKeyProvider.from_file(tmp_path / "other" / "dev.json"), cache_ttl_seconds=0)
    _reads_back(moved, values)
    with pytest.raises(WrongKeyError, match="wrong key"):
        open_vault(key_provider=LocalKeyProvider.from_file(str(key_provider.path)))


def test_the_cli_shows_status_and_shreds(store_url: str, tmp_path: Path, cli_invoke: Callable[..., object]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(STRONGROOM_HOME=str(tmp_path / "home"), STRONGROOM_URL=store_url, NO_COLOR="1", COLUMNS="200")
    run = cli_invoke
    assert run(["init"], env=env).returncode == 0  # type: ignore[attr-defined]
    assert run(["tenant", "create", "a"], env=env).returncode == 0  # type: ignore[attr-defined]
    assert run(["tenant", "create", "b"], env=env).returncode == 0  # type: ignore[attr-defined]
    assert run(["tenant", "delete", "b", "--yes"], env=env).returncode == 0  # type: ignore[attr-defined]
    status = json.loads(run(["key", "status", "--json"], env=env).stdout)  # type: ignore[attr-defined]
    assert status["deletions_pending_shred"] == 1
    shred = json.loads(run(["key", "shred", "--json"], env=env).stdout)  # type: ignore[attr-defined]
    assert (shred["deletions"], shred["roots_retired"], shred["provider_versions_destroyed"]) == (1, [1], [1])
    after = json.loads(run(["key", "status", "--json"], env=env).stdout)  # type: ignore[attr-defined]
    assert after["deletions_pending_shred"] == 0
    assert after["provider_versions"] == [2]


def test_a_provider_key_shared_by_two_environments_is_never_destroyed_under_the_other(
    store_url: str, key_provider: LocalKeyProvider
) -> None:
    """Shredding dev must not destroy the provider version prod's root key needs: it refuses, naming prod."""
    dev = Vault.open(store_url, key_provider=key_provider, environment="dev", actor="test", cache_ttl_seconds=0)
    prod = Vault.open(store_url, key_provider=key_provider, environment="prod", actor="test", cache_ttl_seconds=0)
    try:
        dev_values, prod_values = _fill(dev, 2), _fill(prod, 2)
        dev.delete_tenant("t1")
        with pytest.raises(KeyProviderError, match=r"still needed by environments \['prod'\]"):
            dev.keys.shred()
        assert 1 in key_provider.versions()
        _reads_back(prod, prod_values)
        _reads_back(dev, {k: v for k, v in dev_values.items() if k[0] != "t1"})
        prod.keys.shred(force=True)  # prod moves off version 1, which nothing needs any more
        assert 1 not in key_provider.versions()
        assert dev.keys.shred(force=True).root_version is not None  # dev's shred now completes
        _reads_back(prod, prod_values)
    finally:
        dev.close()
        prod.close()


def test_a_rewrap_passes_over_tenants_deleted_while_it_runs(
    open_vault: Open, key_provider: LocalKeyProvider, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys the provider wraps itself (the pre-0006 layout) are unwrapped from the page as read; a tenant deleted
    after its page was read is passed over (not counted), and every other key is rewrapped and reads back."""
    vault = open_vault(cache_ttl_seconds=0)
    _fill(vault)
    vault.close()
    write_pre_0006_layout(store_url, key_provider)
    old = open_vault(cache_ttl_seconds=0)
    unwrap = key_provider.unwrap
    deleted: list[str] = []

    def unwrap_then_delete(*args: object, **kwargs: object) -> bytes:
        if not deleted:  # on the first key of the first page: the others' rows are already read
            deleted.extend(["t0", "t1", "t2"])
            for name in deleted:
                old.delete_tenant(name)
        return unwrap(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(key_provider, "unwrap", unwrap_then_delete)
    rewrapped = old.keys.rewrap()
    monkeypatch.undo()
    assert deleted
    assert rewrapped <= 3
    status = old.keys.status()
    assert status.provider_wrapped == ()  # every remaining key under the root
    assert old.list_tenants() == []
    fresh = open_vault(cache_ttl_seconds=0)  # reads every key from the store, under the new root
    assert fresh.keys.status().provider_wrapped == ()
    fresh.create_tenant("after")
    fresh.put("after", "s", "value-after")
    _reads_back(fresh, {("after", "s"): "value-after"})


def test_a_rewrap_of_provider_wrapped_keys_reads_no_key_one_at_a_time(
    open_vault: Open, key_provider: LocalKeyProvider, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys written before schema 0006 are unwrapped by the provider from the page's own rows: a read per key (a
    round trip, and on PostgreSQL a checkout and its ping) made a rewrap of such a store several times slower."""
    vault = open_vault(cache_ttl_seconds=0)
    values = _fill(vault, 5)
    vault.close()
    written = write_pre_0006_layout(store_url, key_provider)
    old = open_vault(cache_ttl_seconds=0)
    reads: list[tuple[str, int]] = []
    one_by_one = Tx.data_key_with_tenant

    def counted(tx: Tx, tenant_id: str, version: int) -> object:
        reads.append((tenant_id, version))
        return one_by_one(tx, tenant_id, version)

    monkeypatch.setattr(Tx, "data_key_with_tenant", counted)
    assert old.keys.rewrap() == written
    monkeypatch.undo()
    assert reads == []
    assert old.keys.status().provider_wrapped == ()
    _reads_back(open_vault(cache_ttl_seconds=0), values)


def test_a_rewrap_reads_again_a_key_its_cached_root_cannot_open_and_passes_over_a_deleted_one(
    open_vault: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A root-wrapped key the page's root cipher cannot open (a stale cached root) is read again and unwrapped the
    vault's own way; one whose tenant was deleted since its page was read is passed over, not counted."""
    vault = open_vault(cache_ttl_seconds=0)
    values = _fill(vault, 4)
    deleted = ["t0", "t1"]
    gone: list[str] = []

    def stale_then_delete(version: int) -> AESGCM:
        while deleted[len(gone) :]:  # on the first page: its rows are read already
            gone.append(deleted[len(gone)])
            vault.delete_tenant(gone[-1])
        return AESGCM(os.urandom(32))  # not the stored root: every key of the page fails its tag

    monkeypatch.setattr(vault._keyring, "cipher_of", stale_then_delete)
    report = vault.keys.rotate()
    monkeypatch.undo()
    assert gone == deleted
    assert report.rewrapped == 3  # t2, t3 and the audit key
    assert vault.keys.status().retirable == (1,)
    _reads_back(open_vault(cache_ttl_seconds=0), {k: v for k, v in values.items() if k[0] not in deleted})
