"""Tenants, secrets and versions through the Vault API, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from strongroom import Conflict, Expired, InvalidInput, NotFound, Secret, StrongroomError
from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault


@pytest.fixture
def acme(vault: Vault) -> Vault:
    vault.create_tenant("acme")
    return vault


def test_tenants_are_created_listed_and_deleted(vault: Vault) -> None:
    """Tenants appear in list_tenants() sorted by name and disappear when deleted."""
    vault.create_tenant("zeta")
    vault.create_tenant("alpha")
    assert [t.name for t in vault.list_tenants()] == ["alpha", "zeta"]
    vault.delete_tenant("zeta")
    assert [t.name for t in vault.list_tenants()] == ["alpha"]


def test_duplicate_tenant_is_a_conflict(acme: Vault) -> None:
    """Creating a tenant twice raises Conflict and leaves one tenant."""
    with pytest.raises(Conflict, match="acme"):
        acme.create_tenant("acme")
    assert len(acme.list_tenants()) == 1


@pytest.mark.parametrize("name", ["", "a/b", "x" * 129, "spa ce", "ünïcode", "semi;colon"])
def test_invalid_names_are_refused(acme: Vault, name: str) -> None:
    """Names outside [A-Za-z0-9_.-]{1,128} are refused with InvalidInput for tenants and secrets."""
    with pytest.raises(InvalidInput, match="invalid"):
        acme.create_tenant(name)
    with pytest.raises(InvalidInput, match="secret name"):
        acme.put("acme", name, "value")


def test_unknown_tenant_and_secret_raise_not_found(acme: Vault) -> None:
    """Every operation on an unknown tenant or secret raises NotFound naming it."""
    with pytest.raises(NotFound, match="nobody"):
        acme.put("nobody", "k", "v")
    with pytest.raises(NotFound, match="nobody"):
        acme.list("nobody")
    with pytest.raises(NotFound, match="missing"):
        acme.versions("acme", "missing")
    with pytest.raises(NotFound, match="missing"):
        acme.use("acme", "missing", purpose="test")
    with pytest.raises(NotFound, match="missing"):
        acme.delete("acme", "missing")
    with pytest.raises(NotFound, match="missing"):
        acme.purge("acme", "missing")
    with pytest.raises(NotFound, match="nobody"):
        acme.delete_tenant("nobody")


def test_versions_only_grow_and_use_reads_current_or_pinned(acme: Vault) -> None:
    """Each put adds a version; use() reads the current one unless a version is pinned."""
    for value in ("one", "two", "three"):
        acme.put("acme", "db", value)
    assert [v.version for v in acme.versions("acme", "db")] == [1, 2, 3]
    assert [v.current for v in acme.versions("acme", "db")] == [False, False, True]
    with acme.use("acme", "db", purpose="test") as secret:
        assert secret.reveal() == "three"
        assert secret.version == 3
    with acme.use("acme", "db", purpose="test", version=1) as secret:
        assert secret.reveal() == "one"
    with pytest.raises(NotFound, match="version 7"):
        acme.use("acme", "db", purpose="test", version=7)


def test_check_and_set(acme: Vault) -> None:
    """expected_version=0 creates only; a stale expected_version raises Conflict and writes nothing."""
    acme.put("acme", "k", "v1", expected_version=0)
    with pytest.raises(Conflict, match="version 1"):
        acme.put("acme", "k", "v2", expected_version=0)
    acme.put("acme", "k", "v2", expected_version=1)
    with pytest.raises(Conflict):
        acme.put("acme", "k", "v3", expected_version=1)
    assert [v.version for v in acme.versions("acme", "k")] == [1, 2]
    with acme.use("acme", "k", purpose="test") as secret:
        assert secret.reveal() == "v2"


def test_bytes_values_round_trip_as_bytes(acme: Vault) -> None:
    """A bytes value comes back as bytes, a str value as str."""
    raw = bytes(range(256))
    acme.put("acme", "blob", raw)
    acme.put("acme", "text", "héllo ✓")
    with acme.use("acme", "blob", purpose="t") as blob, acme.use("acme", "text", purpose="t") as text:
        assert blob.reveal() == raw
        assert text.reveal() == "héllo ✓"


def test_put_accepts_a_secret(acme: Vault) -> None:
    """put() takes a Secret and stores its revealed value."""
    acme.put("acme", "k", Secret("k", "wrapped-value"))
    with acme.use("acme", "k", purpose="t") as secret:
        assert secret.reveal() == "wrapped-value"


@pytest.mark.parametrize(("value", "message"), [("", "empty"), (b"", "empty"), ("x" * 65537, "over the limit")])
def test_bad_values_are_refused_and_nothing_is_written(acme: Vault, value: str | bytes, message: str) -> None:
    """Empty and over-large values raise InvalidInput and leave no secret behind."""
    with pytest.raises(InvalidInput, match=message):
        acme.put("acme", "k", value)
    assert acme.list("acme", include_deleted=True) == []


def test_value_limit_is_configurable(open_vault: Callable[..., Vault]) -> None:
    """max_value_bytes raises or lowers the size limit."""
    vault = open_vault(max_value_bytes=8)
    vault.create_tenant("t")
    vault.put("t", "k", "12345678")
    with pytest.raises(InvalidInput, match="limit of 8"):
        vault.put("t", "k", "123456789")


def test_kind_and_sensitivity_are_validated_and_kept(acme: Vault) -> None:
    """Unknown kinds and sensitivities are refused; valid ones are kept across puts that omit them."""
    with pytest.raises(InvalidInput, match="kind"):
        acme.put("acme", "k", "v", kind="weird")
    with pytest.raises(InvalidInput, match="sensitivity"):
        acme.put("acme", "k", "v", sensitivity="extreme")
    acme.put("acme", "k", "v", kind="platform", sensitivity="critical", description="db url")
    info = acme.put("acme", "k", "v2")
    assert (info.kind, info.sensitivity, info.description) == ("platform", "critical", "db url")


def test_list_returns_metadata_only(acme: Vault) -> None:
    """list() returns metadata; no field holds the value."""
    acme.put("acme", "k", "the-value-xyz", description="a key")
    [info] = acme.list("acme")
    assert (info.name, info.version, info.tenant) == ("k", 1, "acme")
    assert "the-value-xyz" not in repr(info.to_dict())


def test_soft_delete_hides_then_put_revives(acme: Vault) -> None:
    """delete() hides a secret but keeps its versions; a later put revives it with the next version."""
    acme.put("acme", "k", "v1")
    acme.delete("acme", "k")
    assert acme.list("acme") == []
    assert [s.name for s in acme.list("acme", include_deleted=True)] == ["k"]
    assert [v.version for v in acme.versions("acme", "k")] == [1]
    with pytest.raises(NotFound):
        acme.use("acme", "k", purpose="t")
    with pytest.raises(NotFound):
        acme.delete("acme", "k")
    info = acme.put("acme", "k", "v2", expected_version=0)
    assert info.version == 2
    with acme.use("acme", "k", purpose="t") as secret:
        assert secret.reveal() == "v2"


def test_purge_removes_every_version_and_keeps_the_counter(acme: Vault) -> None:
    """purge() removes every version; a later put continues the numbering instead of restarting at 1."""
    acme.put("acme", "k", "v1")
    acme.put("acme", "k", "v2")
    acme.purge("acme", "k")
    assert acme.list("acme", include_deleted=True) == []
    with pytest.raises(NotFound):
        acme.versions("acme", "k")
    with pytest.raises(NotFound):
        acme.purge("acme", "k")
    with pytest.raises(NotFound):
        acme.use("acme", "k", purpose="t")
    assert acme.put("acme", "k", "v3", expected_version=0).version == 3
    assert [v.version for v in acme.versions("acme", "k")] == [3]


def test_secret_dies_with_its_use_block(acme: Vault) -> None:
    """The Secret handed out by use() refuses reveal() after the with block."""
    acme.put("acme", "k", "v")
    with acme.use("acme", "k", purpose="t") as secret:
        assert secret.reveal() == "v"
    with pytest.raises(StrongroomError, match="outside"):
        secret.reveal()


def test_use_requires_a_purpose(acme: Vault) -> None:
    """use() without a purpose is refused, cached or not."""
    acme.put("acme", "k", "v")
    with pytest.raises(InvalidInput, match="purpose"):
        acme.use("acme", "k", purpose="")
    with acme.use("acme", "k", purpose="warm"):
        pass
    with pytest.raises(InvalidInput, match="purpose"):
        acme.use("acme", "k", purpose="")


def test_ephemeral_secret_expires(open_vault: Callable[..., Vault]) -> None:
    """An ephemeral secret is usable until its TTL, then use() raises Expired (cached or not)."""
    now = [1_000_000.0]
    vault = open_vault(clock=lambda: now[0])
    vault.create_tenant("t")
    vault.put("t", "session", "tok", kind="ephemeral", ttl_seconds=60)
    with vault.use("t", "session", purpose="t") as secret:
        assert secret.reveal() == "tok"
    [info] = vault.list("t")
    assert info.expires_at == pytest.approx(1_000_060.0)
    now[0] += 61
    with pytest.raises(Expired, match="session"):
        vault.use("t", "session", purpose="t")


def test_ttl_belongs_to_ephemeral_only(acme: Vault) -> None:
    """A TTL on a non-ephemeral secret, an ephemeral one without TTL, or a non-positive TTL is refused."""
    with pytest.raises(InvalidInput, match="ephemeral"):
        acme.put("acme", "k", "v", ttl_seconds=10)
    with pytest.raises(InvalidInput, match="ephemeral"):
        acme.put("acme", "k", "v", kind="ephemeral")
    with pytest.raises(InvalidInput, match="positive"):
        acme.put("acme", "k", "v", kind="ephemeral", ttl_seconds=0)


def test_a_write_through_another_vault_of_this_process_is_seen_at_once(open_vault: Callable[..., Vault]) -> None:
    """Every Vault of a process drops a secret from its row cache when any of them writes it."""
    reader = open_vault(cache_ttl_seconds=3600)
    writer = open_vault()
    writer.create_tenant("t")
    writer.put("t", "k", "old")
    with reader.use("t", "k", purpose="t") as secret:
        assert secret.reveal() == "old"
    writer.put("t", "k", "new")
    with reader.use("t", "k", purpose="t") as secret:
        assert secret.reveal() == "new"


def test_another_process_write_is_seen_after_cache_ttl(tmp_path: Path) -> None:
    """A write by another process sends no notice: it is seen once the reader's row cache entry expires."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    keys = LocalKeyProvider.create_file(tmp_path / "keys" / "dev.json", "dev")
    now = [5_000.0]
    with Vault.open(url, key_provider=keys, home=tmp_path, clock=lambda: now[0], cache_ttl_seconds=5) as reader:
        reader.create_tenant("t")
        reader.put("t", "k", "old")
        with reader.use("t", "k", purpose="t") as secret:
            assert secret.reveal() == "old"
        script = (
            "import sys\nfrom strongroom.crypto import LocalKeyProvider\nfrom strongroom.vault import Vault\n"
            "keys = LocalKeyProvider.from_file(sys.argv[2])\n"
            "with Vault.open(sys.argv[1], key_provider=keys, home=sys.argv[3]) as v:\n    v.put('t', 'k', 'new')\n"
        )
        written = subprocess.run(
            [sys.executable, "-c", script, url, str(tmp_path / "keys" / "dev.json"), str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert written.returncode == 0, written.stderr
        with reader.use("t", "k", purpose="t") as secret:
            assert secret.reveal() == "old"  # still cached: bounded staleness
        now[0] += 6
        with reader.use("t", "k", purpose="t") as secret:
            assert secret.reveal() == "new"


def test_own_writes_invalidate_the_cache_at_once(acme: Vault) -> None:
    """A put or delete through the same Vault is visible to the next use() immediately."""
    acme.put("acme", "k", "old")
    with acme.use("acme", "k", purpose="t"):
        pass
    acme.put("acme", "k", "new")
    with acme.use("acme", "k", purpose="t") as secret:
        assert secret.reveal() == "new"
    acme.delete("acme", "k")
    with pytest.raises(NotFound):
        acme.use("acme", "k", purpose="t")


def test_environments_are_separate(open_vault: Callable[..., Vault]) -> None:
    """Tenants of one environment are invisible in another sharing the database."""
    dev = open_vault(environment="dev")
    prod = open_vault(environment="prod")
    dev.create_tenant("t")
    assert prod.list_tenants() == []
    prod.create_tenant("t")
    dev.put("t", "k", "dev-value")
    with pytest.raises(NotFound):
        prod.use("t", "k", purpose="t")


def test_data_key_rotation_keeps_old_values_readable(acme: Vault) -> None:
    """After rotate_data_key, new writes use the new key and old versions still decrypt."""
    acme.put("acme", "k", "under-v1")
    assert acme.rotate_data_key("acme") == 2
    acme.put("acme", "k", "under-v2")
    with acme.use("acme", "k", purpose="t", version=1) as old, acme.use("acme", "k", purpose="t") as new:
        assert (old.reveal(), new.reveal()) == ("under-v1", "under-v2")
