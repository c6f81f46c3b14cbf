"""The config layer: platform secrets declared once, loaded from ordered sources, validated at start-up.

``import strongroom.config`` loads neither pydantic nor SQLAlchemy nor a cloud SDK; the store source
opens the vault on first use, and ``StrongroomSettingsSource`` (pydantic-settings, extra
``strongroom[pydantic]``) loads on access.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from strongroom.config.schema import DEFAULT_ENVIRONMENTS, FieldSpec, Settings, parse_duration, secret, setting
from strongroom.config.sources import Found, Source, SourceKey
from strongroom.errors import ConfigError

if _typing.TYPE_CHECKING:
    from strongroom.config.cache import LiveSecret
    from strongroom.config.loader import FieldReport, default_sources, load, looks_like_placeholder, report
    from strongroom.config.pydantic import StrongroomSettingsSource

# Public names resolved on first access (name -> module), so the import stays cheap.
_LAZY = {
    "FieldReport": "strongroom.config.loader",
    "LiveSecret": "strongroom.config.cache",
    "StrongroomSettingsSource": "strongroom.config.pydantic",
    "default_sources": "strongroom.config.loader",
    "load": "strongroom.config.loader",
    "looks_like_placeholder": "strongroom.config.loader",
    "report": "strongroom.config.loader",
}

# Hidden from type checkers: with a visible module __getattr__, a misspelt name would type as Any.
if not _typing.TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        if name in _LAZY:
            return getattr(_importlib.import_module(_LAZY[name]), name)
        raise AttributeError(f"module 'strongroom.config' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "DEFAULT_ENVIRONMENTS",
    "ConfigError",
    "FieldReport",
    "FieldSpec",
    "Found",
    "LiveSecret",
    "Settings",
    "Source",
    "SourceKey",
    "StrongroomSettingsSource",
    "default_sources",
    "load",
    "looks_like_placeholder",
    "parse_duration",
    "report",
    "secret",
    "setting",
]
