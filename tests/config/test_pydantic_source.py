"""``StrongroomSettingsSource``: an existing pydantic-settings class loads from the strongroom store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pydantic_settings = pytest.importorskip("pydantic_settings")

from pydantic import SecretStr, ValidationError  # noqa: E402 -- after the importorskip above
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource  # noqa: E402

from strongroom.config import StrongroomSettingsSource  # noqa: E402
from strongroom.config.sources.env import EnvSource  # noqa: E402
from strongroom.config.sources.store import PLATFORM_TENANT, StoreSource  # noqa: E402
from strongroom.crypto import LocalKeyProvider  # noqa: E402
from strongroom.vault import Vault  # noqa: E402


def _settings_class(
    strongroom_source: Callable[[type[BaseSettings]], PydanticBaseSettingsSource], *, strongroom_first: bool = False
) -> type[BaseSettings]:
    class AppSettings(BaseSettings):
        database_url: SecretStr
        openai_api_key: SecretStr
        service_name: str
        log_level: str = "info"

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            ours = strongroom_source(settings_cls)
            if strongroom_first:
                return init_settings, ours, env_settings
            return init_settings, env_settings, dotenv_settings, ours

    return AppSettings


@pytest.fixture
def platform_vault(open_vault: Callable[..., Vault]) -> Vault:
    vault = open_vault()
    vault.create_tenant(PLATFORM_TENANT)
    return vault


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("DATABASE_URL", "OPENAI_API_KEY", "SERVICE_NAME", "LOG_LEVEL", "STRONGROOM_ENV"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _fill(vault: Vault, make_canary: Callable[[str], str]) -> dict[str, str]:
    values = {
        "database_url": f"postgresql://app:{make_canary('db')}@db/app",
        "openai_api_key": make_canary("llm"),
        "service_name": "billing-worker",
    }
    for name, value in values.items():
        vault.put(PLATFORM_TENANT, name, value, kind="platform")
    return values


def test_basesettings_loads_secretstr_and_str_from_the_store(
    platform_vault: Vault, clean_env: pytest.MonkeyPatch, make_canary: Callable[[str], str]
) -> None:
    """SecretStr and str fields of a BaseSettings class come from the vault; defaults still apply; repr masks."""
    values = _fill(platform_vault, make_canary)
    cls = _settings_class(lambda c: StrongroomSettingsSource(c, sources=[StoreSource(platform_vault)]))
    settings: Any = cls()
    assert settings.database_url.get_secret_value() == values["database_url"]
    assert settings.openai_api_key.get_secret_value() == values["openai_api_key"]
    assert settings.service_name == "billing-worker"
    assert settings.log_level == "info"
    assert values["database_url"] not in repr(settings)
    assert values["openai_api_key"] not in str(settings)


def test_env_wins_when_placed_before_strongroom(
    platform_vault: Vault, clean_env: pytest.MonkeyPatch, make_canary: Callable[[str], str]
) -> None:
    """With env_settings before the strongroom source, an environment variable overrides the store."""
    values = _fill(platform_vault, make_canary)
    clean_env.setenv("SERVICE_NAME", "from-env")
    clean_env.setenv("OPENAI_API_KEY", "sk-from-env-4f1d")
    cls = _settings_class(lambda c: StrongroomSettingsSource(c, sources=[StoreSource(platform_vault)]))
    settings: Any = cls()
    assert settings.service_name == "from-env"
    assert settings.openai_api_key.get_secret_value() == "sk-from-env-4f1d"
    assert settings.database_url.get_secret_value() == values["database_url"]


def test_store_wins_when_strongroom_is_placed_first(
    platform_vault: Vault, clean_env: pytest.MonkeyPatch, make_canary: Callable[[str], str]
) -> None:
    """Placed before env_settings, the strongroom source wins over the environment."""
    values = _fill(platform_vault, make_canary)
    clean_env.setenv("SERVICE_NAME", "from-env")
    cls = _settings_class(
        lambda c: StrongroomSettingsSource(c, sources=[StoreSource(platform_vault)]), strongroom_first=True
    )
    settings: Any = cls()
    assert settings.service_name == values["service_name"]


def test_missing_required_field_is_a_validation_error_without_values(
    platform_vault: Vault, clean_env: pytest.MonkeyPatch, make_canary: Callable[[str], str]
) -> None:
    """A field absent from every source fails pydantic validation naming it, with no stored value in the error."""
    canary = make_canary("db")
    platform_vault.put(PLATFORM_TENANT, "database_url", canary, kind="platform")
    cls = _settings_class(lambda c: StrongroomSettingsSource(c, sources=[StoreSource(platform_vault)]))
    with pytest.raises(ValidationError) as info:
        cls()
    missing = {error["loc"][0] for error in info.value.errors()}
    assert missing == {"openai_api_key", "service_name"}
    assert canary not in str(info.value)


def test_strongroom_sources_are_tried_in_order(
    platform_vault: Vault, clean_env: pytest.MonkeyPatch, make_canary: Callable[[str], str]
) -> None:
    """sources=[...] may hold any strongroom sources; env-style ones are asked by the upper-cased name."""
    values = _fill(platform_vault, make_canary)
    mapping = EnvSource(environ={"SERVICE_NAME": "from-mapping"})
    cls = _settings_class(lambda c: StrongroomSettingsSource(c, sources=[mapping, StoreSource(platform_vault)]))
    settings: Any = cls()
    assert settings.service_name == "from-mapping"
    assert settings.database_url.get_secret_value() == values["database_url"]


def test_store_opened_per_environment(
    store_url: str,
    key_provider: LocalKeyProvider,
    platform_vault: Vault,
    clean_env: pytest.MonkeyPatch,
    make_canary: Callable[[str], str],
) -> None:
    """A StoreSource given a URL and key opens the vault of the environment the source was given."""
    values = _fill(platform_vault, make_canary)
    store = StoreSource(url=store_url, key_provider=key_provider)
    try:
        cls = _settings_class(lambda c: StrongroomSettingsSource(c, sources=[store], environment="dev"))
        settings: Any = cls()
    finally:
        store.close()
    assert settings.database_url.get_secret_value() == values["database_url"]


def test_unavailable_store_is_skipped_like_any_unavailable_source(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """A store that is not set up here is skipped, so pydantic reports the fields missing (not a ConfigError)."""
    from pydantic import ValidationError

    broken = StoreSource(url=f"sqlite:///{tmp_path / 'missing' / 'db.sqlite'}", home=tmp_path / "no-home")
    cls = _settings_class(lambda c: StrongroomSettingsSource(c, sources=[broken]))
    try:
        with pytest.raises(ValidationError) as info:
            cls()
    finally:
        broken.close()
    assert "database_url" in str(info.value)
