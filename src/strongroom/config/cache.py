"""Cached values and live handles.

A value fetched from a dynamic source is fresh for ``ttl_seconds`` (jittered between half and all of
it, so a fleet does not refresh at once). After that, ``reveal()`` returns the cached value at once and
a background thread refreshes it. If the source stays down the stale value is served for at most
``max_stale_seconds`` more; past that, ``reveal()`` raises ``ConfigError`` naming the source.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from strongroom.clock import Clock
from strongroom.config.sources import Found
from strongroom.errors import ConfigError, StrongroomError
from strongroom.secret import Secret

Fetch = Callable[[], Found | None]


class CachedValue:
    """One field's value, refreshed from its source in the background after the TTL."""

    def __init__(self, field: str, found: Found, fetch: Fetch | None, *, ttl_seconds: float,
                 max_stale_seconds: float, overlap_seconds: float, clock: Clock = time.time) -> None:
        self.field = field
        self._fetch = fetch
        self._ttl_seconds = ttl_seconds
        self._max_stale_seconds = max_stale_seconds
        self._overlap_seconds = overlap_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._refreshing = False
        self._last_error: str | None = None
        self._set(found, clock())

    def _set(self, found: Found, now: float) -> None:
        self.found = found
        self.fetched_at = now
        jitter = 1.0 if self._fetch is None else random.uniform(0.5, 1.0)  # noqa: S311 -- spreading load, not crypto
        self._fresh_until = float("inf") if self._fetch is None else now + self._ttl_seconds * jitter

    def value(self) -> str:
        now = self._clock()
        if now < self._fresh_until:
            return self.found.value
        if now > self.fetched_at + self._ttl_seconds + self._max_stale_seconds:
            self.refresh()  # too stale to serve: refresh now, and fail loudly if the source is still down
        else:
            self._refresh_in_background()
        return self.found.value

    def refresh(self) -> None:
        """Fetch now; raise ``ConfigError`` naming the source if it fails."""
        assert self._fetch is not None or self._fresh_until == float("inf")  # noqa: S101 -- static values
        if self._fetch is None:
            return
        failure: str | None = None
        try:
            found = self._fetch()
        except StrongroomError as exc:
            failure = self._last_error = str(exc)
        if failure is not None:  # raised outside the except block: no chained source error rides along
            raise ConfigError(f"{self.field}: refresh from {self.found.source} failed: {failure}")
        if found is None:
            raise ConfigError(f"{self.field}: no longer present in {self.found.source}")
        with self._lock:
            self._set(found, self._clock())
            self._last_error = None

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True

        def run() -> None:
            try:
                self.refresh()
            except ConfigError:
                with self._lock:  # keep serving the stale value; retry after a short back-off
                    self._fresh_until = self._clock() + min(30.0, self._ttl_seconds / 10)
            finally:
                self._refreshing = False

        threading.Thread(target=run, name=f"strongroom-refresh-{self.field}", daemon=True).start()

    def candidates(self) -> list[str]:
        """The current value, then the one it replaced while the rotation overlap window is open."""
        current = self.value()
        found = self.found
        if found.previous is not None and found.previous_replaced_at is not None and \
                self._clock() < found.previous_replaced_at + self._overlap_seconds:
            return [current, found.previous]
        return [current]


class LiveSecret(Secret[str]):
    """A schema secret: ``reveal()`` reads the cache, which refreshes from the source after its TTL."""

    __slots__ = ("_cached",)

    def __init__(self, name: str, cached: CachedValue) -> None:
        super().__init__(name, "")
        self._cached = cached

    def reveal(self) -> str:
        return self._cached.value()

    def refresh(self) -> None:
        """Fetch the value from its source now."""
        self._cached.refresh()

    def candidates(self) -> list[str]:
        """Current and, during a rotation's overlap window, previous value (verify old signatures with it)."""
        return self._cached.candidates()

    @property
    def source(self) -> str:
        return self._cached.found.source

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        return None  # a schema secret lives as long as its settings object
