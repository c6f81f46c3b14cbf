"""The config layer: platform secrets declared once, loaded from ordered sources, validated at start-up.

``import strongroom.config`` loads neither pydantic nor SQLAlchemy nor a cloud SDK; the store source
opens the vault on first use, and ``StrongroomSettingsSource`` (pydantic-settings) loads on access.
"""

from __future__ import annotations

from typing import Any

from strongroom.config.schema import DEFAULT_ENVIRONMENTS, FieldSpec, Settings, parse_duration, secret, setting
from strongroom.config.sources import Found, Source, SourceKey
from strongroom.errors import ConfigError


def __getattr__(name: str) -> Any:
    if name in ("load", "default_sources", "report", "looks_like_placeholder", "FieldReport"):
        from strongroom.config import loader

        return getattr(loader, name)
    if name == "LiveSecret":
        from strongroom.config.cache import LiveSecret

        return LiveSecret
    if name == "StrongroomSettingsSource":
        from strongroom.config.pydantic import StrongroomSettingsSource

        return StrongroomSettingsSource
    raise AttributeError(f"module 'strongroom.config' has no attribute {name!r}")


__all__ = [
    "DEFAULT_ENVIRONMENTS",
    "ConfigError",
    "FieldSpec",
    "Found",
    "Settings",
    "Source",
    "SourceKey",
    "parse_duration",
    "secret",
    "setting",
]
