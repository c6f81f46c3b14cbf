"""Environments are separate: a dev key cannot read prod values, and unknown environments are refused."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from strongroom import ConfigError, Secret
from strongroom.config import Settings, secret
from strongroom.config.sources.store import StoreSource
from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault


class Db(Settings):
    database_url: Secret[str] = secret(sensitivity="critical")


def _prod_value(home: Path, url: str, value: str) -> None:
    prod_keys = LocalKeyProvider.create_file(home / "keys" / "prod.json", "prod")
    with Vault.open(url, key_provider=prod_keys, environment="prod") as vault:
        vault.create_tenant("_platform")
        vault.put("_platform", "database_url", value, kind="platform")


def test_dev_key_cannot_read_prod_values(
    tmp_path: Path, store_url: str, make_canary: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With only the dev key on the machine, loading prod from the store fails and never yields the prod value."""
    home = tmp_path / "home"
    canary = make_canary("prod-db")
    _prod_value(home, store_url, canary)
    (home / "keys" / "prod.json").unlink()  # this machine holds the dev key only
    dev_keys = LocalKeyProvider.create_file(home / "keys" / "dev.json", "dev")
    monkeypatch.setenv("STRONGROOM_HOME", str(home))
    monkeypatch.delenv("STRONGROOM_MASTER_KEY", raising=False)
    with pytest.raises(ConfigError) as missing_key:
        Db.load(environment="prod", sources=[StoreSource(url=store_url)])
    assert "prod.json" in str(missing_key.value)
    # Even handed the dev key as the prod key, the store refuses it: prod's data keys are not under it.
    raw = base64.b64encode(_key_bytes(dev_keys)).decode()
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", raw)
    with pytest.raises(ConfigError) as wrong_key:
        Db.load(environment="prod", sources=[StoreSource(url=store_url)])
    assert "wrong key" in str(wrong_key.value)
    for error in (missing_key.value, wrong_key.value):
        assert canary not in str(error)


def _key_bytes(provider: LocalKeyProvider) -> bytes:
    import json

    assert provider.path is not None
    return base64.b64decode(json.loads(provider.path.read_text())["keys"]["1"])


def test_prod_key_reads_prod_values(
    tmp_path: Path, store_url: str, make_canary: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prod key file loads the prod value (so the refusal above is about the key, not the setup)."""
    home = tmp_path / "home"
    canary = make_canary("prod-db")
    _prod_value(home, store_url, canary)
    monkeypatch.setenv("STRONGROOM_HOME", str(home))
    monkeypatch.delenv("STRONGROOM_MASTER_KEY", raising=False)
    settings = Db.load(environment="prod", sources=[StoreSource(url=store_url)])
    assert settings.database_url.reveal() == canary


def test_unknown_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """STRONGROOM_ENV or environment= outside the schema's environments raises ConfigError naming them."""
    monkeypatch.setenv("STRONGROOM_ENV", "staging")
    with pytest.raises(ConfigError, match="dev, preview, prod"):
        Db.load(sources=[])


def test_custom_environments() -> None:
    """A schema can declare its own environments; required_in must name them."""

    class Custom(Settings):
        environments = ("local", "live")
        token: Secret[str] = secret(required_in=("live",))

    settings = Custom.load(environment="local", sources=[])
    assert settings.token is None
    with pytest.raises(ConfigError, match="TOKEN"):
        Custom.load(environment="live", sources=[])
    with pytest.raises(ConfigError, match="unknown environments"):

        class Broken(Settings):
            token: Secret[str] = secret(required_in=("staging",))

    assert os.environ.get("STRONGROOM_ENV") != "staging"


def test_an_object_that_is_not_a_source_is_refused_by_name() -> None:
    """A schema whose sources include something that is not a Source fails with ConfigError naming it."""
    with pytest.raises(ConfigError, match=r"source 1 of Db \(str\) is not a strongroom source"):
        Db.load(environment="dev", sources=["aws"])  # type: ignore[list-item]
