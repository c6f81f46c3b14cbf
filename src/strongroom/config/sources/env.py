"""The process environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

from strongroom.config.sources import Found, SourceKey


class EnvSource:
    """Values of ``os.environ`` (or a given mapping), by the field's environment-variable name."""

    dynamic = False
    environment_scoped = False

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    @property
    def name(self) -> str:
        return "env"

    def get(self, key: SourceKey) -> Found | None:
        environ = os.environ if self._environ is None else self._environ
        value = environ.get(key.env)
        return None if value is None else Found(value, self.name)
