"""In-process notices that a secret changed, so whatever caches its value learns at once.

The vault publishes after a write commits (a put, a rotation's promotion or retirement); the config layer's
live handles subscribe to the secrets they read. Other processes learn within their own refresh interval:
a notice across instances (PostgreSQL ``LISTEN``/``NOTIFY``, Redis pub/sub) would publish here too, which is
why this is one small seam of its own. A leaf module: it imports nothing from strongroom.

Subscribers are held weakly (a bound method: ``WeakMethod``), so a settings object that goes away stops
listening without unsubscribing. A subscriber that raises is logged by type and skipped.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable

__all__ = ["Key", "publish", "subscribe", "watch"]

Key = tuple[str, str, str]
"""(environment, tenant, secret name)."""

log = logging.getLogger("strongroom.changes")
_lock = threading.Lock()
_subscribers: dict[Key, list[weakref.WeakMethod[Callable[[], object]]]] = {}
_watchers: list[weakref.WeakMethod[Callable[[str, str, str], object]]] = []


def subscribe(key: Key, listener: Callable[[], object]) -> None:
    """Call ``listener()`` (a bound method, held weakly) after each committed change of ``key``."""
    with _lock:
        alive = [ref for ref in _subscribers.get(key, []) if ref() is not None]
        alive.append(weakref.WeakMethod(listener))
        _subscribers[key] = alive


def watch(listener: Callable[[str, str, str], object]) -> None:
    """Call ``listener(environment, tenant, name)`` (a bound method, held weakly) after every change: what
    every ``Vault`` of the process does to drop the changed secret from its own hot cache."""
    with _lock:
        _watchers[:] = [ref for ref in _watchers if ref() is not None]
        _watchers.append(weakref.WeakMethod(listener))


def publish(environment: str, tenant: str, name: str) -> None:
    """Tell this process's watchers and subscribers that ``name`` of ``tenant`` changed."""
    for ref in list(_watchers):
        watcher = ref()
        if watcher is not None:
            _call(name, watcher, environment, tenant, name)
    for sub in list(_subscribers.get((environment, tenant, name), ())):
        listener = sub()
        if listener is not None:
            _call(name, listener)


def _call(name: str, listener: Callable[..., object], *args: str) -> None:
    try:
        listener(*args)
    except Exception as exc:  # a listener's failure must not fail the write that already committed
        log.warning("change listener for %s failed: %s", name, type(exc).__name__)
