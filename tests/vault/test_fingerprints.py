"""Known-value fingerprints stored with each version, the hidden ``_scan`` tenant, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from strongroom import InvalidInput, NotFound
from strongroom.crypto import LocalKeyProvider
from strongroom.store import engines
from strongroom.testing import assert_not_leaked
from strongroom.vault import Vault
from strongroom.vault.fingerprints import SCAN_TENANT, KnownFingerprints, StoredFingerprint

Open = Callable[..., Vault]
Canary = Callable[[str], str]


def hmac_hex(key: bytes, value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return hmac.new(key, raw, hashlib.sha256).hexdigest()


def key_of(known: KnownFingerprints, entry: StoredFingerprint) -> bytes:
    return known.keys[entry.key_ref]


def rows_of(known: KnownFingerprints) -> list[tuple[str, str, int, int]]:
    return [(e.tenant, e.name, e.version, e.length) for e in known.entries]


def key_texts(key: bytes) -> list[str]:
    """The ways key bytes could show up in text."""
    return [
        key.hex(),
        key.hex().upper(),
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode(),
        repr(key)[2:-1],
    ]


@pytest.fixture
def two_tenants(open_vault: Open, make_canary: Canary) -> tuple[Vault, dict[tuple[str, str, int], str | bytes]]:
    vault = open_vault()
    vault.create_tenant("acme")
    vault.create_tenant("globex")
    values: dict[tuple[str, str, int], str | bytes] = {
        ("acme", "api_key", 1): make_canary("acme-v1"),
        ("acme", "api_key", 2): make_canary("acme-v2") + "-ünï",
        ("acme", "db_password", 1): make_canary("db"),
        ("globex", "api_key", 1): make_canary("globex").encode() + b"\x00\xff\xfe",
    }
    for (tenant, name, _), value in values.items():
        vault.put(tenant, name, value)
    return vault, values


def test_one_entry_per_version_with_tenant_name_version_and_length(two_tenants: tuple[Vault, dict]) -> None:
    """After puts in two tenants, known_fingerprints has one entry per version, with the value's byte length."""
    vault, values = two_tenants
    known = vault.known_fingerprints()
    expected = sorted(
        (t, n, v, len(value.encode() if isinstance(value, str) else value)) for (t, n, v), value in values.items()
    )
    assert sorted(rows_of(known)) == expected
    assert known.missing == 0
    assert all(e.tenant != SCAN_TENANT for e in known.entries)


@pytest.mark.slow
def test_fingerprint_is_hmac_sha256_of_the_plaintext_under_the_key(two_tenants: tuple[Vault, dict]) -> None:
    """Each fingerprint is HMAC-SHA256(its tenant's fingerprint key, plaintext bytes), computed here independently."""
    vault, values = two_tenants
    known = vault.known_fingerprints()
    assert len(known.keys) == 2  # one per tenant data key
    assert all(len(key) == 32 for key in known.keys)
    by_version = {(e.tenant, e.name, e.version): e.fingerprint for e in known.entries}
    keys = {(e.tenant, e.name, e.version): key_of(known, e) for e in known.entries}
    assert by_version == {where: hmac_hex(keys[where], value) for where, value in values.items()}
    assert len({keys["acme", "api_key", 1], keys["globex", "api_key", 1]}) == 2
    # keyed: not the plain hash of the value
    assert all(
        hashlib.sha256(v.encode() if isinstance(v, str) else v).hexdigest() not in by_version.values()
        for v in values.values()
    )


def test_same_value_in_two_tenants_has_unrelated_fingerprints(open_vault: Open, make_canary: Canary) -> None:
    """One fingerprint key per tenant: equal values in different tenants have different fingerprints."""
    vault = open_vault()
    value = make_canary("shared")
    for tenant in ("acme", "globex"):
        vault.create_tenant(tenant)
        vault.put(tenant, "k", value)
    known = vault.known_fingerprints()
    first, second = known.entries
    assert first.fingerprint != second.fingerprint
    assert key_of(known, first) != key_of(known, second)


def test_no_value_or_key_in_any_repr(two_tenants: tuple[Vault, dict]) -> None:
    """KnownFingerprints and its entries show neither a stored value nor the fingerprint key."""
    vault, values = two_tenants
    known = vault.known_fingerprints()
    shown_values = [v if isinstance(v, str) else v.decode("utf-8", "replace") for v in values.values()]
    shown_values += [v.decode("latin-1") for v in values.values() if isinstance(v, bytes)]
    assert "key=" not in repr(known)
    texts = [text for key in known.keys for text in key_texts(key)]
    assert_not_leaked([*texts, *shown_values], known, *known.entries, known.entries, vault)


def test_empty_vault_has_no_key_and_no_entries(open_vault: Open) -> None:
    """Before the first put there is no fingerprint key and nothing to look for."""
    vault = open_vault()
    vault.create_tenant("acme")
    known = vault.known_fingerprints()
    assert (known.keys, known.entries, known.missing) == ((), (), 0)


def test_purged_and_shredded_versions_leave_the_list(open_vault: Open, make_canary: Canary) -> None:
    """Purging a secret or deleting its tenant removes its entries; a soft delete keeps them (the value exists)."""
    vault = open_vault()
    values = {}
    for tenant in ("acme", "globex"):
        vault.create_tenant(tenant)
        for name in ("kept", "deleted", "purged"):
            values[tenant, name] = make_canary(name)
            vault.put(tenant, name, values[tenant, name])
    vault.delete("acme", "deleted")
    vault.purge("acme", "purged")
    vault.delete_tenant("globex")
    known = vault.known_fingerprints()
    assert rows_of(known) == [("acme", name, 1, len(values["acme", name])) for name in ("deleted", "kept")]
    assert [e.fingerprint for e in known.entries] == [
        hmac_hex(key_of(known, e), values["acme", e.name]) for e in known.entries
    ]


# --- the reserved _scan tenant ------------------------------------------------------------------------------


def test_scan_tenant_is_hidden_and_cannot_be_created_or_deleted(open_vault: Open, make_canary: Canary) -> None:
    """`_scan` (the legacy holder of the environment-wide key) stays reserved: never created, refused by name."""
    vault = open_vault()
    with pytest.raises(InvalidInput, match="reserved"):
        vault.create_tenant(SCAN_TENANT)  # before it exists
    vault.create_tenant("acme")
    vault.put("acme", "k", make_canary())
    assert [t.name for t in vault.list_tenants()] == ["acme"]
    with pytest.raises(InvalidInput, match="reserved"):
        vault.create_tenant(SCAN_TENANT)
    with pytest.raises(InvalidInput, match="reserved"):
        vault.delete_tenant(SCAN_TENANT)
    assert vault.known_fingerprints().keys  # the tenant's own key
    assert [t.name for t in open_vault().list_tenants()] == ["acme"]


def test_scan_tenant_cannot_hold_or_give_secrets(open_vault: Open, make_canary: Canary) -> None:
    """put, use, list, versions, delete and key rotation on `_scan` are NotFound, as for a missing tenant."""
    vault = open_vault()
    vault.create_tenant("acme")
    vault.put("acme", "k", make_canary())
    value = make_canary("scan")
    with pytest.raises(NotFound) as put_error:
        vault.put(SCAN_TENANT, "k", value)
    assert_not_leaked([value], put_error.value)
    for attempt in (
        lambda: vault.use(SCAN_TENANT, "k", purpose="test"),
        lambda: vault.list(SCAN_TENANT),
        lambda: vault.versions(SCAN_TENANT, "k"),
        lambda: vault.delete(SCAN_TENANT, "k"),
        lambda: vault.purge(SCAN_TENANT, "k"),
        lambda: vault.rotate_data_key(SCAN_TENANT),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert [(e.tenant, e.name) for e in vault.known_fingerprints().entries] == [("acme", "k")]


# --- the key: stable, rewrapped, per environment -------------------------------------------------------------


def test_key_is_stable_across_vault_instances(open_vault: Open, make_canary: Canary) -> None:
    """A second Vault on the same store sees the same tenant key and fingerprints new values under it."""
    first = open_vault()
    first.create_tenant("acme")
    first.put("acme", "a", make_canary())
    (key,) = first.known_fingerprints().keys
    second = open_vault()
    assert second.known_fingerprints().keys == (key,)
    value = make_canary("later")
    second.put("acme", "b", value)
    by_name = {e.name: e.fingerprint for e in first.known_fingerprints().entries}
    assert by_name["b"] == hmac_hex(key, value)


def test_key_survives_rewrap_under_a_new_kek_version(
    open_vault: Open, key_provider: LocalKeyProvider, store_url: str, make_canary: Canary
) -> None:
    """After a new KEK version and rewrap_data_keys the tenant's fingerprint key and fingerprints hold."""
    vault = open_vault()
    vault.create_tenant("acme")
    value = make_canary()
    vault.put("acme", "k", value)
    before = vault.known_fingerprints()
    assert vault.keys.rotate().rewrapped == 2  # acme's and the audit key's: no environment-wide fingerprint key
    engine = sa.create_engine(engines.normalise_url(store_url))
    try:
        with engine.connect() as conn:
            assert set(conn.execute(sa.text("select kek_version from data_keys")).scalars()) == {2}  # root v2
    finally:
        engine.dispose()
    reopened = open_vault(key_provider=LocalKeyProvider.from_file(key_provider.path))  # type: ignore[arg-type]
    after = reopened.known_fingerprints()
    assert after.keys == before.keys
    assert after.entries == before.entries
    newer = make_canary("after-rewrap")
    reopened.put("acme", "k", newer)
    assert reopened.known_fingerprints().entries[-1].fingerprint == hmac_hex(before.keys[0], newer)


def test_other_environment_has_another_key(open_vault: Open, make_canary: Canary) -> None:
    """The same value in another environment has another key, another fingerprint, and separate entries."""
    dev = open_vault()
    prod = open_vault(environment="prod")
    value = make_canary()
    for vault in (dev, prod):
        vault.create_tenant("acme")
        vault.put("acme", "k", value)
    dev_known, prod_known = dev.known_fingerprints(), prod.known_fingerprints()
    assert dev_known.keys != prod_known.keys
    assert dev_known.entries[0].fingerprint != prod_known.entries[0].fingerprint
    assert len(dev_known.entries) == len(prod_known.entries) == 1
    assert prod_known.entries[0].fingerprint == hmac_hex(prod_known.keys[0], value)


def test_database_never_holds_a_plaintext(open_vault: Open, store_url: str, make_canary: Canary) -> None:
    """Reading every column of every table directly: no stored value, in text or bytes, anywhere."""
    vault = open_vault()
    vault.create_tenant("acme")
    text_value = make_canary("text")
    bytes_value = make_canary("bytes").encode()
    vault.put("acme", "text", text_value)
    vault.put("acme", "blob", bytes_value)
    vault.put("acme", "text", text_value)  # a second version of the same value
    with vault.use("acme", "text", purpose="test") as secret:
        assert secret.reveal() == text_value
    vault.close()
    engine = sa.create_engine(engines.normalise_url(store_url))
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        assert "fingerprint" in metadata.tables["secret_versions"].c
        cells = 0
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                for row in conn.execute(sa.select(table)):
                    for cell in row:
                        cells += 1
                        raw = bytes(cell) if isinstance(cell, bytes | memoryview) else str(cell).encode()
                        assert text_value.encode() not in raw, table.name
                        assert bytes_value not in raw, table.name
            fingerprints = conn.execute(sa.text("select fingerprint from secret_versions")).scalars().all()
    finally:
        engine.dispose()
    assert cells > 20
    assert len(fingerprints) == 3
    assert all(f is not None and f.startswith("v2:") and len(f) == 46 for f in fingerprints)
    assert fingerprints.count(fingerprints[0]) in (1, 2)
