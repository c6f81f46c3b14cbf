"""``StrongroomSettingsSource``: existing pydantic-settings classes load from strongroom without rewriting.

    class AppSettings(BaseSettings):
        database_url: SecretStr

        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                       file_secret_settings):
            return (init_settings, env_settings, dotenv_settings, StrongroomSettingsSource(settings_cls))

By default it reads the strongroom store (platform secrets of ``STRONGROOM_ENV``); pass ``sources=`` to use
any strongroom sources. Field names are looked up as they are (store) and upper-cased (env-style sources).
Needs the ``pydantic-settings`` package (``pip install 'strongroom[pydantic]'``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from strongroom.config.sources import Source, SourceKey, SourceUnavailable
from strongroom.config.sources.store import StoreSource
from strongroom.defaults import DEFAULT_ENVIRONMENT
from strongroom.errors import ConfigError, StrongroomError
from strongroom.vocabulary import ENVIRONMENT_ENV

_STORE: StoreSource | None = None


def _shared_store() -> StoreSource:
    # One store source per process: settings classes are instantiated often, vaults are opened once.
    global _STORE  # noqa: PLW0603
    if _STORE is None:
        _STORE = StoreSource()
    return _STORE


def close_shared_store() -> None:
    """Close the process's shared store source (its vaults); the next settings class opens a new one."""
    global _STORE  # noqa: PLW0603
    if _STORE is not None:
        _STORE.close()
        _STORE = None


class StrongroomSettingsSource(PydanticBaseSettingsSource):
    def __init__(
        self,
        settings_cls: type[BaseSettings],
        *,
        sources: Sequence[Source] | None = None,
        environment: str | None = None,
    ) -> None:
        super().__init__(settings_cls)
        self._sources = list(sources) if sources is not None else [_shared_store()]
        self._environment = environment or os.environ.get(ENVIRONMENT_ENV) or DEFAULT_ENVIRONMENT

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        name = field.alias or field_name
        key = SourceKey(name=name, env=name.upper(), environment=self._environment)
        for source in self._sources:
            failure: str | None = None
            try:
                found = source.get(key)
            except SourceUnavailable:
                continue  # not set up here or down: the settings class's other sources may have it
            except StrongroomError as exc:
                failure = f"{name}: {source.name} failed: {exc}"
            if failure is not None:
                raise ConfigError(failure)
            if found is not None:
                return found.value, field_name, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, field_name)
            if value is not None:
                values[field.alias or key] = value
        return values
