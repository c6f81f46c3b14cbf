"""Bounded in-memory caches and background refreshes: the one way strongroom keeps values in memory.

``BoundedCache`` is cachetools' time-aware LRU (``TLRUCache``) behind a small typed, thread-safe
interface: every entry counts against ``max_entries`` (least recently used goes first), and an entry
may also expire, after ``ttl_seconds`` or at its own ``expires_at``, read against an injected clock so
tests never patch time. cachetools' caches are not thread-safe, so each ``BoundedCache`` holds a lock.

``Refresher`` runs at most one background refresh per key at a time, in a daemon thread, and hands
callers an event to wait on. ``RefreshAhead`` builds on both: a value older than three quarters of its
``max_age`` is re-read in the background while callers keep the current one.

The vault's hot version cache (``Vault.use()``) stays a plain dict on purpose: it is the hot path, one
lookup per call, and a cachetools lookup there would double the cost of a cached ``use()``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, NamedTuple, TypeVar

from cachetools import TLRUCache

from strongroom.clock import Clock, system_clock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
log = logging.getLogger("strongroom.caching")

_FOREVER = float("inf")


class _Entry(NamedTuple, Generic[V]):
    value: V
    expires_at: float


class BoundedCache(Generic[K, V]):
    """At most ``max_entries`` values, least recently used evicted first; each expires after ``ttl_seconds``
    (``None``: only when evicted) or at the ``expires_at`` given to ``put``."""

    def __init__(self, max_entries: int, *, ttl_seconds: float | None = None, clock: Clock = system_clock) -> None:
        if max_entries < 1:
            raise ValueError("a bounded cache holds at least one entry")
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: TLRUCache[K, _Entry[V]] = TLRUCache(
            maxsize=max_entries, ttu=lambda _key, entry, _now: entry.expires_at, timer=clock
        )
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value, or ``None`` when it is absent or expired."""
        with self._lock:
            entry = self._entries.get(key)
        return None if entry is None else entry.value

    def put(self, key: K, value: V, *, expires_at: float | None = None) -> V:
        """Keep ``value`` until ``expires_at`` (default: now + ``ttl_seconds``, or no expiry); returns it."""
        if expires_at is None:
            expires_at = _FOREVER if self._ttl_seconds is None else self._clock() + self._ttl_seconds
        with self._lock:
            self._entries[key] = _Entry(value, expires_at)
        return value

    def pop(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.pop(key, None)
        return None if entry is None else entry.value

    def discard_if(self, predicate: Callable[[K], bool]) -> None:
        """Drop every entry whose key matches (a deleted tenant's keys, say)."""
        with self._lock:
            for key in [k for k in self._entries if predicate(k)]:
                self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __iter__(self) -> Iterator[K]:
        """A snapshot of the live keys (expired entries are left out)."""
        with self._lock:
            self._entries.expire()
            return iter(list(self._entries))

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            self._entries.expire()
            return len(self._entries)


class Refresher(Generic[K]):
    """At most one background refresh per key at a time; a refresh older than ``stuck_after_seconds`` no
    longer blocks a new one (a hung source must not stop refreshes for good)."""

    def __init__(self, name: str, *, stuck_after_seconds: float = _FOREVER, clock: Clock = system_clock) -> None:
        self._name = name
        self._stuck_after_seconds = stuck_after_seconds
        self._clock = clock
        self._running: dict[K, tuple[threading.Event, float]] = {}
        self._lock = threading.Lock()

    def start(self, key: K, work: Callable[[], None], *, force: bool = False) -> threading.Event:
        """Run ``work`` in a daemon thread unless a refresh of ``key`` is running (``force``: run anyway);
        the returned event is set when the refresh callers should wait on has ended."""
        now = self._clock()
        with self._lock:
            running = self._running.get(key)
            if running is not None and not force and now - running[1] <= self._stuck_after_seconds:
                return running[0]
            done = threading.Event()
            self._running[key] = (done, now)
        threading.Thread(target=self._run, args=(key, work, done), name=self._name, daemon=True).start()
        return done

    def running(self, key: K) -> bool:
        with self._lock:
            return key in self._running

    def _run(self, key: K, work: Callable[[], None], done: threading.Event) -> None:
        try:
            work()
        finally:
            with self._lock:
                if self._running.get(key, (None,))[0] is done:
                    del self._running[key]
            done.set()


AHEAD = 0.75
"""``RefreshAhead`` re-reads a value once it is this share of ``max_age`` old: about one read per 0.75
``max_age`` per key, and no caller waits on the store while reads keep up."""


class RefreshAhead(Generic[K, V]):
    """Values read by ``read(key, now)``, kept at most ``max_age`` seconds and re-read ahead of that age.

    Token verification runs on the service's event loop and must see another process's revocation (or a
    tenant's deletion) within ``max_age``. Reading inline once a value is stale stalls the loop for a round
    trip every interval, so a value older than ``AHEAD`` of ``max_age`` is re-read in a background thread
    while callers keep the current one; only a value older than ``max_age`` is read inline.
    """

    def __init__(self, read: Callable[[K, float], V], *, max_age: float, max_entries: int = 10_000) -> None:
        self._read = read
        self._max_age = max_age
        self._values: BoundedCache[K, tuple[V, float]] = BoundedCache(max_entries)
        self._refresher: Refresher[K] = Refresher("strongroom-refresh")
        self._lock = threading.Lock()

    def get(self, key: K, now: float) -> V:
        cached = self._values.get(key)
        if cached is None or now - cached[1] >= self._max_age:
            return self._load(key, now)
        if now - cached[1] >= self._max_age * AHEAD:
            self._refresher.start(key, lambda: self._load_ahead(key, now))
        return cached[0]

    def _load(self, key: K, now: float) -> V:
        value = self._read(key, now)
        with self._lock:
            current = self._values.get(key)
            if current is None or current[1] <= now:  # a slower read that began earlier must not win
                self._values.put(key, (value, now))
        return value

    def _load_ahead(self, key: K, now: float) -> None:
        try:
            self._load(key, now)
        except Exception as exc:  # the inline read at max_age retries, and raises to its caller
            log.warning("background refresh failed: %s", type(exc).__name__)


__all__ = ["AHEAD", "BoundedCache", "RefreshAhead", "Refresher"]
