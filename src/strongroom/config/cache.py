"""Cached values and live handles.

A value fetched from a dynamic source is fresh for ``ttl_seconds`` (jittered between half and all of
it, so a fleet does not refresh at once). After that, ``reveal()`` returns the cached value at once and
a background thread refreshes it. If the source stays down the stale value is served for at most
``max_stale_seconds`` more; past that, ``reveal()`` raises ``ConfigError`` naming the source.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from strongroom.caching import Refresher
from strongroom.clock import Clock
from strongroom.config.sources import Found
from strongroom.errors import ConfigError, Expired, NotFound, StrongroomError
from strongroom.live_values import LIVE
from strongroom.secret import Secret

log = logging.getLogger("strongroom.config")

Fetch = Callable[[], Found | None]


class CachedValue:
    """One field's value, refreshed from its source after the TTL.

    At most one fetch runs at a time and every fetch has a deadline (``refresh_timeout_seconds``), so a
    hanging source never blocks ``reveal()`` for longer than that. A fetch that answers "gone" (the
    source no longer has the value, or it expired) ends the value at once: it is not served stale.
    """

    def __init__(
        self,
        field: str,
        found: Found,
        fetch: Fetch | None,
        *,
        ttl_seconds: float,
        max_stale_seconds: float,
        overlap_seconds: float,
        clock: Clock = time.time,
        refresh_timeout_seconds: float = 10.0,
        environment_scoped: bool = False,
    ) -> None:
        self.field = field
        self.environment_scoped = environment_scoped
        self._fetch = fetch
        self._ttl_seconds = ttl_seconds
        self._max_stale_seconds = max_stale_seconds
        self._overlap_seconds = overlap_seconds
        self._refresh_timeout_seconds = refresh_timeout_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._refresher: Refresher[str] = Refresher(
            f"strongroom-refresh-{field}", stuck_after_seconds=refresh_timeout_seconds, clock=clock
        )
        self._generation = 0  # of the newest fetch started
        self._applied = 0  # of the fetch whose result is cached
        self._last_error: str | None = None
        self._gone: str | None = None
        self._apply(found, clock())

    def _apply(self, found: Found, now: float) -> None:
        self.found = found
        self.fetched_at = now
        jitter = 1.0 if self._fetch is None else random.uniform(0.5, 1.0)  # noqa: S311 -- spreading load, not crypto
        self._fresh_until = float("inf") if self._fetch is None else now + self._ttl_seconds * jitter

    def value(self) -> str:
        now = self._clock()
        # _fresh_until never passes the staleness bound and drops to -inf when the value is gone,
        # so this one comparison is the whole fast path.
        if now < self._fresh_until:
            return self.found.value
        return self._slow_value(now)

    def _slow_value(self, now: float) -> str:
        if self._gone is not None:
            raise ConfigError(self._gone)
        too_stale = now > self.fetched_at + self._ttl_seconds + self._max_stale_seconds
        done = self._start_fetch()
        if too_stale:  # refuse to serve it any longer unless a fetch succeeds within its deadline
            done.wait(self._refresh_timeout_seconds)
            if self._gone is not None:
                raise ConfigError(self._gone)
            if self._clock() > self.fetched_at + self._ttl_seconds + self._max_stale_seconds:
                raise ConfigError(
                    f"{self.field}: value from {self.found.source} is older than its TTL plus "
                    f"max_stale and cannot be refreshed ({self._last_error or 'timed out'})"
                )
        return self.found.value

    def refresh(self) -> None:
        """Fetch now (waiting at most the refresh deadline); raise ``ConfigError`` naming the source if it fails."""
        if self._fetch is None:
            return
        generation_before = self._applied
        done = self._start_fetch(force=True)
        if not done.wait(self._refresh_timeout_seconds):
            raise ConfigError(f"{self.field}: refresh from {self.found.source} timed out")
        if self._gone is not None:
            raise ConfigError(self._gone)
        if self._applied == generation_before:
            raise ConfigError(f"{self.field}: refresh from {self.found.source} failed: {self._last_error}")

    def _start_fetch(self, *, force: bool = False) -> threading.Event:
        # One fetch at a time; a fetch past its deadline no longer blocks the next (a hung source).
        return self._refresher.start(self.field, self._run_fetch, force=force)

    def _run_fetch(self) -> None:
        assert self._fetch is not None  # noqa: S101 -- only dynamic values start fetches
        with self._lock:
            self._generation += 1
            generation = self._generation
        found: Found | None = None
        error: str | None = None
        gone = False
        try:
            found = self._fetch()
            gone = found is None
        except (Expired, NotFound) as exc:
            error, gone = str(exc), True
        except StrongroomError as exc:
            error = str(exc)
        except Exception as exc:  # a driver's own message may quote data: keep only its type
            error = type(exc).__name__
        with self._lock:
            if gone and generation > self._applied:
                self._gone = f"{self.field}: no longer present in {self.found.source}" + (
                    f" ({error})" if error else ""
                )
                self._fresh_until = float("-inf")
            elif found is not None and generation > self._applied:
                self._applied = generation
                self._apply(found, self._clock())
                self._last_error = None
            elif found is None:
                self._last_error = error
                # Keep serving the stale value; try again after a short back-off, within the staleness bound.
                self._fresh_until = min(
                    self._clock() + min(30.0, self._ttl_seconds / 10),
                    self.fetched_at + self._ttl_seconds + self._max_stale_seconds,
                )

    def candidates(self) -> list[str]:
        """The current value, then the one it replaced while the rotation overlap window is open."""
        self.value()
        found = self.found  # read once: a refresh landing now must not mix two versions
        if found.previous is not None:
            LIVE.note(found.previous, self.field, self)
        if found.previous is None:
            return [found.value]
        if found.previous_until is not None:  # the source knows the overlap (the store: the rotation policy's)
            until = found.previous_until
        elif found.previous_replaced_at is not None:
            until = found.previous_replaced_at + self._overlap_seconds
        else:
            return [found.value]
        return [found.value, found.previous] if self._clock() < until else [found.value]

    def invalidate(self) -> None:
        """The source says the value changed (``strongroom.changes``, in this process): fetch it now, so the
        next ``value()`` is the new one. A failed fetch keeps serving the cached value, as a refresh does."""
        try:
            self.refresh()
        except ConfigError as exc:
            log.warning("%s", exc)


class LiveSecret(Secret[str]):
    """A schema secret: ``reveal()`` reads the cache, which refreshes from the source after its TTL."""

    __slots__ = ("_cached", "_noted")

    def __init__(self, name: str, cached: CachedValue) -> None:
        super().__init__(name, "")
        self._cached = cached
        self._noted = ""
        self._note(cached.found.value)
        if cached.found.previous is not None:
            LIVE.note(cached.found.previous, name, self)

    def _note(self, value: str) -> None:
        # The redactor masks a value while a Secret carrying it lives; this one's value changes on refresh.
        if value is not self._noted:
            LIVE.note(value, self.name, self)
            self._noted = value

    def reveal(self) -> str:
        value = self._cached.value()
        self._note(value)
        return value

    def refresh(self) -> None:
        """Fetch the value from its source now."""
        self._cached.refresh()

    def candidates(self) -> list[str]:
        """Current and, during a rotation's overlap window, previous value (verify old signatures with it)."""
        return self._cached.candidates()

    @property
    def source(self) -> str:
        return self._cached.found.source

    @property
    def environment_scoped(self) -> bool:
        """True when the value came from a source that keeps separate values per environment."""
        return self._cached.environment_scoped

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        return None  # a schema secret lives as long as its settings object
