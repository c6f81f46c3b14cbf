"""Wrong keys are refused before anything is written: a key check value ties each key id and version to its
material (docs/crypto.md, "Wrong keys").

The wrong key here is the one the issue describes: a key file whose bytes were changed under the same key id.
Every key is generated at test time.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from strongroom.crypto import LocalKeyProvider
from strongroom.crypto.envelope import new_key
from strongroom.errors import KeyProviderError, WrongKeyError
from strongroom.store import engines
from strongroom.vault import Vault

COUNTED = ("tenants", "data_keys", "secrets", "secret_versions", "strongroom_meta", "audit_events")


def _changed_key_file(right: Path, where: Path) -> LocalKeyProvider:
    """A copy of ``right`` with the same key id and versions but other key material."""
    doc = json.loads(right.read_text())
    doc["keys"] = {version: base64.b64encode(new_key()).decode() for version in doc["keys"]}
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_text(json.dumps(doc))
    where.chmod(0o600)
    return LocalKeyProvider.from_file(where)


def _counts(url: str) -> dict[str, int]:
    engine = engines.create(url)
    try:
        with engine.connect() as conn:
            return {t: int(conn.execute(sa.text(f"select count(*) from {t}")).scalar_one()) for t in COUNTED}
    finally:
        engine.dispose()


def _check_values(url: str) -> list[str]:
    engine = engines.create(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("select key from strongroom_meta where key like 'kcv1/%'")).scalars()
            return sorted(rows)
    finally:
        engine.dispose()


def _forget_check_values(url: str) -> None:
    """What a database written before check values existed looks like."""
    engine = engines.create(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("delete from strongroom_meta where key like 'kcv1/%'"))
    finally:
        engine.dispose()


def _assert_wrong_key_message(error: BaseException, key_id: str, version: int) -> None:
    text = str(error)
    assert "wrong key for this database" in text
    assert f"{key_id} version {version}" in text  # the database's expected key and the provider's
    assert text.count(key_id) == 2
    assert "Fix:" in text
    assert all(len(line) <= 80 for line in ("error: " + text).splitlines())  # as the CLI prints it
    assert "tamper" not in text.lower()


def _tampered_events(vault: Vault) -> list[object]:
    return [e for e in vault.audit_events() if e.outcome == "tampered"]


def test_a_changed_key_file_with_the_same_id_is_refused_at_open(
    open_vault: Callable[..., Vault], key_provider: LocalKeyProvider, store_url: str, tmp_path: Path
) -> None:
    right = open_vault()
    right.create_tenant("acme")
    right.put("acme", "db.password", "right-value")
    right.close()
    wrong = _changed_key_file(key_provider.path, tmp_path / "stolen" / "dev.json")  # type: ignore[arg-type]
    assert wrong.key_id == key_provider.key_id
    before = _counts(store_url)

    with pytest.raises(WrongKeyError) as refused:
        open_vault(key_provider=wrong)

    assert isinstance(refused.value, KeyProviderError)
    _assert_wrong_key_message(refused.value, key_provider.key_id, 1)
    assert _counts(store_url) == before  # nothing written: no row, no audit event
    again = open_vault()
    assert _tampered_events(again) == []
    with again.use("acme", "db.password", purpose="test") as secret:
        assert secret.reveal() == "right-value"
    again.create_tenant("beta")  # the right key still writes


def test_a_wrong_key_cannot_create_a_tenant_even_without_open(
    open_vault: Callable[..., Vault], key_provider: LocalKeyProvider, store_url: str, tmp_path: Path
) -> None:
    """A Vault built directly (no open-time check) still checks before it wraps a new data key."""
    right = open_vault()
    right.create_tenant("acme")
    wrong = _changed_key_file(key_provider.path, tmp_path / "stolen" / "dev.json")  # type: ignore[arg-type]
    before = _counts(store_url)
    stranger = Vault(right._store, wrong, actor="test")
    try:
        with pytest.raises(WrongKeyError) as refused:
            stranger.create_tenant("lost")
    finally:
        stranger.flush_audit()
    _assert_wrong_key_message(refused.value, key_provider.key_id, 1)
    assert _counts(store_url) == before
    assert "lost" not in [t.name for t in right.list_tenants()]
    assert _tampered_events(right) == []


def test_each_key_version_gets_its_check_value_when_first_used(
    open_vault: Callable[..., Vault], key_provider: LocalKeyProvider, store_url: str
) -> None:
    open_vault().close()
    assert len(_check_values(store_url)) == 1  # the empty database's first open: version 1
    key_provider.add_version()
    vault = open_vault()
    assert len(_check_values(store_url)) == 2
    vault.create_tenant("acme")
    assert len(_check_values(store_url)) == 2


def test_a_database_from_before_check_values_gets_one_after_a_real_unwrap(
    open_vault: Callable[..., Vault], key_provider: LocalKeyProvider, store_url: str, tmp_path: Path
) -> None:
    vault = open_vault()
    vault.create_tenant("acme")
    vault.put("acme", "k", "old-value")
    vault.close()
    _forget_check_values(store_url)
    wrong = _changed_key_file(key_provider.path, tmp_path / "stolen" / "dev.json")  # type: ignore[arg-type]

    with pytest.raises(WrongKeyError) as refused:  # the one real unwrap fails: refused, nothing stored
        open_vault(key_provider=wrong)
    _assert_wrong_key_message(refused.value, key_provider.key_id, 1)
    assert _check_values(store_url) == []

    reopened = open_vault()  # the right key unwraps a data key: its check value is stored
    assert len(_check_values(store_url)) == 1
    with reopened.use("acme", "k", purpose="test") as secret:
        assert secret.reveal() == "old-value"
    with pytest.raises(WrongKeyError):  # and from now on the check value refuses the wrong key
        open_vault(key_provider=wrong)


def test_an_empty_database_from_before_check_values_gets_one_on_first_open(
    open_vault: Callable[..., Vault], store_url: str
) -> None:
    open_vault().close()
    _forget_check_values(store_url)
    open_vault()
    assert len(_check_values(store_url)) == 1


def test_a_provider_that_is_down_is_not_called_a_wrong_key(
    open_vault: Callable[..., Vault], key_provider: LocalKeyProvider
) -> None:
    """Only a key whose check fails is 'wrong'; an unreachable provider fails the operation that needs it."""
    open_vault().create_tenant("acme")

    class Down:
        key_id = key_provider.key_id

        def current_version(self) -> int:
            return 1

        def wrap(self, key: bytes, context: bytes) -> tuple[int, bytes]:
            raise KeyProviderError("the key service is unreachable (injected)")

        def unwrap(self, wrapped: bytes, kek_version: int, context: bytes) -> bytes:
            raise KeyProviderError("the key service is unreachable (injected)")

    down = open_vault(key_provider=Down())
    with pytest.raises(KeyProviderError, match="unreachable") as failed:
        down.create_tenant("beta")
    assert not isinstance(failed.value, WrongKeyError)


def test_cli_tenant_create_with_a_wrong_key_exits_with_the_message(
    tmp_path: Path, store_url: str, cli_invoke: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(STRONGROOM_HOME=str(home), STRONGROOM_URL=store_url, NO_COLOR="1", COLUMNS="80")
    assert cli_invoke(["init"], env=env).returncode == 0
    assert cli_invoke(["tenant", "create", "acme"], env=env).returncode == 0
    key_file = home / "keys" / "dev.json"
    key_id = json.loads(key_file.read_text())["key_id"]
    _changed_key_file(key_file, key_file)  # the same key id, other bytes

    result = cli_invoke(["tenant", "create", "lost"], env=env)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("error: wrong key for this database")
    assert f"{key_id} version 1" in result.stderr
    assert all(len(line) <= 80 for line in result.stderr.splitlines())
