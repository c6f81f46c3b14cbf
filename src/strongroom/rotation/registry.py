"""Which rotators exist: strongroom's own, and users' from the entry-point group ``strongroom.rotators``.

Built-in rotators are imported on first use, so ``postgresql`` loads psycopg and ``redis`` the redis client
only when a secret is rotated with them. An entry point's object is a class or factory that takes no
arguments; one named like a built-in is ignored (with a warning): a plugin cannot replace ``postgresql``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from strongroom.errors import InvalidInput
from strongroom.rotation.rotator import Rotator

__all__ = ["ENTRY_POINT_GROUP", "Rotators"]

ENTRY_POINT_GROUP = "strongroom.rotators"
log = logging.getLogger("strongroom.rotation")

_BUILT_IN: dict[str, str] = {
    "random": "strongroom.rotation.random_value:RandomRotator",
    "postgresql": "strongroom.rotation.postgresql:PostgresRotator",
    "redis": "strongroom.rotation.redis_acl:RedisRotator",
    "webhook": "strongroom.rotation.webhook:WebhookRotator",
    "api-key": "strongroom.rotation.own:ApiKeyRotator",
    "signing-key": "strongroom.rotation.own:SigningKeyRotator",
}


class Rotators:
    """Rotators by name. ``extra`` adds (or, in tests, stands in for) rotators without an entry point."""

    def __init__(self, extra: Mapping[str, Callable[[], Any]] | None = None) -> None:
        self._factories: dict[str, Callable[[], Any]] = {}
        self._extra = dict(extra or {})
        self._loaded: dict[str, Rotator] = {}
        self._plugins_read = False

    def names(self) -> list[str]:
        self._read_plugins()
        return sorted({*_BUILT_IN, *self._factories, *self._extra})

    def get(self, name: str) -> Rotator:
        """The rotator called ``name``, or ``InvalidInput`` listing the ones there are."""
        found = self._loaded.get(name)
        if found is not None:
            return found
        factory = self._extra.get(name)
        if factory is None and name in _BUILT_IN:
            module, _, attr = _BUILT_IN[name].partition(":")
            factory = getattr(importlib.import_module(module), attr)
        if factory is None:
            self._read_plugins()
            factory = self._factories.get(name)
        if factory is None:
            raise InvalidInput(
                f"unknown rotator {name!r}: use one of {', '.join(self.names())}, or install a package that "
                f"declares it in the entry-point group {ENTRY_POINT_GROUP!r}"
            )
        rotator = factory()
        if not isinstance(rotator, Rotator):
            raise InvalidInput(f"rotator {name!r} does not implement the rotator protocol (docs/rotation.md)")
        self._loaded[name] = rotator
        return rotator

    def _read_plugins(self) -> None:
        if self._plugins_read:
            return
        self._plugins_read = True
        for point in entry_points(group=ENTRY_POINT_GROUP):
            if point.name in _BUILT_IN:
                log.warning("rotator entry point %r ignored: a built-in rotator has that name", point.name)
                continue
            self._factories[point.name] = _lazy(point.load)


def _lazy(load: Callable[[], Any]) -> Callable[[], Any]:
    def factory() -> Any:
        return load()()

    return factory
