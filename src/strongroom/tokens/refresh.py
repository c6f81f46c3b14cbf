"""Values read from the store and kept in memory for a bounded time, re-read ahead of expiry.

Token verification runs on the service's event loop and must see another process's revocation (or a
tenant's deletion) within ``max_age`` seconds. Reading the store inline once a value is stale stalled the
loop for a round trip every interval, which every request in flight waited on (the broker's p99). So a
value older than ``AHEAD`` of ``max_age`` is re-read in a background thread while callers keep the current
one; only a value older than ``max_age`` (the store took longer than the rest of the interval) is read inline.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
log = logging.getLogger("strongroom.tokens")
AHEAD = 0.75  # re-read once a value is this share of max_age old: about one read per 0.75 max_age per key


class RefreshAhead(Generic[K, V]):
    def __init__(self, read: Callable[[K, float], V], *, max_age: float, max_entries: int = 10_000) -> None:
        self._read = read
        self._max_age = max_age
        self._max_entries = max_entries
        self._values: dict[K, tuple[V, float]] = {}
        self._pending: set[K] = set()
        self._lock = threading.Lock()

    def get(self, key: K, now: float) -> V:
        cached = self._values.get(key)
        if cached is None or now - cached[1] >= self._max_age:
            return self._load(key, now)
        if now - cached[1] >= self._max_age * AHEAD:
            with self._lock:
                start = key not in self._pending
                self._pending.add(key)
            if start:
                threading.Thread(
                    target=self._load_ahead, args=(key, now), name="strongroom-refresh", daemon=True
                ).start()
        return cached[0]

    def _load(self, key: K, now: float) -> V:
        value = self._read(key, now)
        with self._lock:
            current = self._values.get(key)
            if current is None or current[1] <= now:  # a slower read that began earlier must not win
                if len(self._values) >= self._max_entries:
                    self._values.clear()
                self._values[key] = (value, now)
        return value

    def _load_ahead(self, key: K, now: float) -> None:
        try:
            self._load(key, now)
        except Exception as exc:  # the inline read at max_age retries, and raises to its caller
            log.warning("background refresh failed: %s", type(exc).__name__)
        finally:
            with self._lock:
                self._pending.discard(key)


__all__ = ["RefreshAhead"]
