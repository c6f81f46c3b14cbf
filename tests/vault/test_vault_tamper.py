"""Ciphertext moved, edited or orphaned in the database never decrypts; tenant deletion shreds keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import and_, insert, select, update

from strongroom import KeyProviderError, NotFound, TamperedError
from strongroom.crypto import LocalKeyProvider
from strongroom.store.tables import data_keys, secret_versions, secrets, tenants
from strongroom.vault import Vault


def _rows(vault: Vault, table: Any) -> list[dict[str, Any]]:
    with vault._store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def _version_row(vault: Vault, tenant_id: str, name: str, version: int) -> dict[str, Any]:
    return next(
        r
        for r in _rows(vault, secret_versions)
        if (r["tenant_id"], r["name"], r["version"]) == (tenant_id, name, version)
    )


def _set_ciphertext(vault: Vault, tenant_id: str, name: str, version: int, blob: bytes) -> None:
    with vault._store.engine.begin() as conn:
        conn.execute(
            update(secret_versions)
            .where(
                and_(
                    secret_versions.c.tenant_id == tenant_id,
                    secret_versions.c.name == name,
                    secret_versions.c.version == version,
                )
            )
            .values(ciphertext=blob)
        )


@pytest.fixture
def two_tenants(open_vault: Callable[..., Vault]) -> tuple[Vault, str, str]:
    vault = open_vault(cache_ttl_seconds=0)
    a = vault.create_tenant("a").id
    b = vault.create_tenant("b").id
    for tenant in ("a", "b"):
        vault.put(tenant, "k", f"{tenant}-value-1")
        vault.put(tenant, "k", f"{tenant}-value-2")
        vault.put(tenant, "other", f"{tenant}-other")
    return vault, a, b


def test_ciphertext_moved_to_another_tenant_fails(two_tenants: tuple[Vault, str, str]) -> None:
    """Tenant a's ciphertext copied into tenant b's row raises TamperedError, not b's or a's value."""
    vault, a, b = two_tenants
    _set_ciphertext(vault, b, "k", 2, _version_row(vault, a, "k", 2)["ciphertext"])
    with pytest.raises(TamperedError):
        vault.use("b", "k", purpose="t")


def test_ciphertext_moved_to_another_name_fails(two_tenants: tuple[Vault, str, str]) -> None:
    """A ciphertext copied onto another secret name of the same tenant raises TamperedError."""
    vault, a, _ = two_tenants
    _set_ciphertext(vault, a, "other", 1, _version_row(vault, a, "k", 2)["ciphertext"])
    with pytest.raises(TamperedError):
        vault.use("a", "other", purpose="t")


def test_ciphertext_moved_to_another_version_fails(two_tenants: tuple[Vault, str, str]) -> None:
    """Rolling a secret back by copying v1's ciphertext into v2 raises TamperedError."""
    vault, a, _ = two_tenants
    _set_ciphertext(vault, a, "k", 2, _version_row(vault, a, "k", 1)["ciphertext"])
    with pytest.raises(TamperedError):
        vault.use("a", "k", purpose="t")


def test_ciphertext_moved_to_another_environment_fails(open_vault: Callable[..., Vault]) -> None:
    """Rows re-homed into another environment do not decrypt: the wrapped data key is bound to its environment.

    (That the envelope's own associated data binds the environment is tested in tests/crypto/test_envelope.py.)
    """
    dev = open_vault(environment="dev", cache_ttl_seconds=0)
    prod = open_vault(environment="prod", cache_ttl_seconds=0)
    dev_id = dev.create_tenant("t").id
    prod.create_tenant("t")
    dev.put("t", "k", "dev-value")
    # Re-home the dev tenant's rows into prod under the same id and data keys.
    with dev._store.engine.begin() as conn:
        conn.execute(update(tenants).where(tenants.c.environment == "prod", tenants.c.name == "t").values(name="t-old"))
        conn.execute(update(tenants).where(tenants.c.id == dev_id).values(environment="prod"))
    with pytest.raises(TamperedError):
        prod.use("t", "k", purpose="t")


@pytest.mark.parametrize("position", [0, 3, 7, 19, -1])
def test_one_flipped_bit_fails(two_tenants: tuple[Vault, str, str], position: int) -> None:
    """A single flipped bit in the header, nonce, body or tag raises TamperedError."""
    vault, a, _ = two_tenants
    blob = bytearray(_version_row(vault, a, "k", 2)["ciphertext"])
    blob[position] ^= 0x01
    _set_ciphertext(vault, a, "k", 2, bytes(blob))
    with pytest.raises(TamperedError):
        vault.use("a", "k", purpose="t")


def test_tampering_is_audited(two_tenants: tuple[Vault, str, str]) -> None:
    """A refused decrypt leaves a 'tampered' audit event for that secret."""
    vault, a, _ = two_tenants
    _set_ciphertext(vault, a, "k", 2, b"SR" + bytes(40))
    with pytest.raises(TamperedError):
        vault.use("a", "k", purpose="audit-me")
    events = [e for e in vault.audit_events(tenant="a") if e.outcome == "tampered"]
    assert [(e.secret_name, e.purpose) for e in events] == [("k", "audit-me")]


def test_deleted_tenant_cannot_be_decrypted_after_restoring_its_rows(open_vault: Callable[..., Vault]) -> None:
    """Crypto-shredding: restoring a deleted tenant's tenant, secret and version rows does not bring values back."""
    vault = open_vault(cache_ttl_seconds=0)
    vault.create_tenant("gone")
    vault.put("gone", "k", "shredded-value")
    [gone_id] = [r["id"] for r in _rows(vault, tenants) if r["name"] == "gone"]

    def owned(table: Any) -> list[dict[str, Any]]:
        return [r for r in _rows(vault, table) if r["id" if table is tenants else "tenant_id"] == gone_id]

    backup = {table: owned(table) for table in (tenants, secrets, secret_versions)}
    assert owned(data_keys)
    vault.delete_tenant("gone")
    assert owned(data_keys) == []
    assert all(owned(table) == [] for table in backup)
    with vault._store.engine.begin() as conn:
        for table in (tenants, secrets, secret_versions):
            conn.execute(insert(table), backup[table])
    fresh = open_vault(cache_ttl_seconds=0)  # no data key cached anywhere
    with pytest.raises(NotFound, match="destroyed"):
        fresh.use("gone", "k", purpose="t")


def test_tenant_deleted_through_this_vault_is_gone_from_its_caches(open_vault: Callable[..., Vault]) -> None:
    """Deleting a tenant through a Vault drops its data keys and cached values from that Vault at once."""
    vault = open_vault()
    vault.create_tenant("t")
    vault.put("t", "k", "v")
    with vault.use("t", "k", purpose="warm"):
        pass
    vault.delete_tenant("t")
    with pytest.raises(NotFound):
        vault.use("t", "k", purpose="t")


def test_tenant_deleted_by_another_process_is_refused_after_the_cache_ttl(open_vault: Callable[..., Vault]) -> None:
    """A tenant deleted (and re-created) elsewhere is refused here once the cached entry expires."""
    now = [10_000.0]
    reader = open_vault(clock=lambda: now[0], cache_ttl_seconds=5)
    other = open_vault()
    other.create_tenant("t")
    other.put("t", "k", "old-tenant-value")
    with reader.use("t", "k", purpose="warm") as secret:
        assert secret.reveal() == "old-tenant-value"
    other.delete_tenant("t")
    other.create_tenant("t")
    now[0] += 6
    with pytest.raises(NotFound):
        reader.use("t", "k", purpose="t")


def test_wrong_key_file_is_refused_at_open(open_vault: Callable[..., Vault], tmp_path: Path) -> None:
    """Opening a database with another key file fails at open with KeyProviderError naming both key ids."""
    vault = open_vault()
    vault.create_tenant("t")
    vault.put("t", "k", "v")
    other = LocalKeyProvider.create_file(tmp_path / "other" / "dev.json", "dev")
    with pytest.raises(KeyProviderError, match="wrong key file") as info:
        open_vault(key_provider=other)
    assert other.key_id in str(info.value)
    assert vault.list_tenants()[0].name == "t"


@pytest.mark.slow
def test_wrong_key_is_also_caught_at_unwrap(open_vault: Callable[..., Vault], tmp_path: Path) -> None:
    """A Vault built without the open-time check still refuses to unwrap under a foreign keyring."""
    vault = open_vault()
    vault.create_tenant("t")
    vault.put("t", "k", "v")
    other = LocalKeyProvider.create_file(tmp_path / "other" / "dev.json", "dev")
    stranger = Vault(vault._store, other, cache_ttl_seconds=0)
    with pytest.raises(KeyProviderError, match="wrong key file"):
        stranger.use("t", "k", purpose="t")
    stranger.close()


def test_kek_rotation_rewraps_data_keys(open_vault: Callable[..., Vault], key_provider: LocalKeyProvider) -> None:
    """After a rotation (a new provider version and root key), every data key is under the new root and values
    still decrypt."""
    vault = open_vault(cache_ttl_seconds=0)
    vault.create_tenant("t")
    vault.put("t", "k", "survives-rotation")
    report = vault.keys.rotate()
    assert report.rewrapped == 2  # the tenant's data key (fingerprint keys come from it) and the audit key's
    assert (report.root_version, report.provider_version) == (2, 2)
    assert {(r["kek_id"], r["kek_version"]) for r in _rows(vault, data_keys)} == {("root", 2)}
    reloaded = LocalKeyProvider.from_file(key_provider.path)  # type: ignore[arg-type]
    fresh = open_vault(key_provider=reloaded, cache_ttl_seconds=0)
    with fresh.use("t", "k", purpose="t") as secret:
        assert secret.reveal() == "survives-rotation"
    assert vault.rewrap_data_keys() == 0
