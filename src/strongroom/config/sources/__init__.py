"""Where configuration values come from. A source answers ``get(key)`` with a ``Found`` or ``None``.

Sources are tried in order; the first that has a value wins. The default order, highest first:
process environment, ``.env.local``, ``.env``, the secrets directory, the strongroom store. Pass
``sources=[...]`` to ``Settings.load()`` (or set ``Settings.sources``) to reorder or add adapters
(``strongroom.config.sources.aws`` and friends).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from strongroom.errors import ConfigError


class SourceUnavailable(ConfigError):
    """The source cannot be reached (store not set up here, service down): lower sources are still tried.

    Any other ``ConfigError`` from a source means it is broken (a dotenv line that does not parse, an
    unreadable secrets file) and is a problem of its own: a broken ``.env.local`` must not silently give
    way to ``.env``.
    """


@dataclass(frozen=True, slots=True)
class SourceKey:
    """How a field is looked up: by its environment-variable name or by its schema name."""

    name: str  # the schema field, e.g. "database_url" (store and cloud adapters use this)
    env: str  # the environment variable, e.g. "DATABASE_URL" (env, dotenv, secrets dir use this)
    environment: str  # dev, preview, prod, …


@dataclass(frozen=True, slots=True)
class Found:
    """A value and what the source knows about it. ``repr`` never shows the value."""

    value: str
    source: str
    version: str | None = None
    updated_at: float | None = None
    previous: str | None = None
    """The value this one replaced, when the source keeps it (for rotation overlap)."""
    previous_replaced_at: float | None = None
    previous_until: float | None = None
    """When the source itself says how long ``previous`` stays valid (the store: the rotation's overlap)."""

    def __repr__(self) -> str:
        return f"Found(source={self.source!r}, version={self.version!r})"


@runtime_checkable
class Source(Protocol):
    @property
    def name(self) -> str:
        """A short, value-free description used in reports ("env", ".env.local", "store:prod")."""
        ...

    @property
    def dynamic(self) -> bool:
        """True when values can change while the process runs, so cached values are re-fetched."""
        ...

    # Optional attribute ``environment_scoped``: True when the source holds separate values per environment
    # (store, cloud managers), False for env/dotenv/files, which answer the same in every environment.

    def get(self, key: SourceKey) -> Found | None:
        """The value for ``key``, ``None`` if this source does not have it.

        Raise ``SourceUnavailable`` when the source cannot be reached, ``ConfigError`` when it is broken;
        both name the file, line or service, never a value.
        """
        ...


__all__ = ["Found", "Source", "SourceKey", "SourceUnavailable"]
