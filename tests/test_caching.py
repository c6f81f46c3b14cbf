"""``strongroom.caching``: bounded, expiring caches and single-flight background refreshes."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom.caching import BoundedCache, Refresher


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_least_recently_used_entry_goes_first() -> None:
    """At the bound, the entry read longest ago is evicted, not the one just read."""
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_entries_expire_after_their_ttl_on_the_injected_clock() -> None:
    """An entry is served until ttl_seconds have passed on the cache's clock, and not after."""
    clock = Clock()
    cache: BoundedCache[str, str] = BoundedCache(10, ttl_seconds=5, clock=clock)
    cache.put("k", "v")
    clock.now += 4.999
    assert cache.get("k") == "v"
    clock.now += 0.001
    assert cache.get("k") is None
    assert len(cache) == 0


def test_an_entry_may_carry_its_own_expiry() -> None:
    """put(expires_at=) overrides the cache's TTL for that entry (a token cached until its own expiry)."""
    clock = Clock()
    cache: BoundedCache[str, str] = BoundedCache(10, ttl_seconds=1, clock=clock)
    cache.put("token", "claims", expires_at=clock.now + 60)
    clock.now += 59
    assert cache.get("token") == "claims"
    clock.now += 1
    assert "token" not in cache


def test_discard_if_drops_matching_keys_only() -> None:
    """discard_if removes exactly the keys its predicate selects (a deleted tenant's data keys)."""
    cache: BoundedCache[tuple[str, int], int] = BoundedCache(10)
    for tenant, version in (("t1", 1), ("t1", 2), ("t2", 1)):
        cache.put((tenant, version), version)
    cache.discard_if(lambda key: key[0] == "t1")
    assert sorted(cache) == [("t2", 1)]


def test_a_cache_needs_room_for_one_entry() -> None:
    """A bound below one is refused at construction, naming the problem."""
    with pytest.raises(ValueError, match="at least one entry"):
        BoundedCache(0)


@given(st.integers(1, 8), st.lists(st.tuples(st.integers(0, 20), st.integers()), max_size=60))
def test_never_holds_more_than_its_bound_and_serves_the_last_write(bound: int, writes: list[tuple[int, int]]) -> None:
    """Whatever is written, the cache holds at most its bound, and a key it still holds has its last value."""
    cache: BoundedCache[int, int] = BoundedCache(bound)
    last: dict[int, int] = {}
    for key, value in writes:
        cache.put(key, value)
        last[key] = value
        assert len(cache) <= bound
    for key in cache:
        assert cache.get(key) == last[key]


def test_refresher_runs_one_refresh_per_key_at_a_time() -> None:
    """A second start while a refresh of the same key runs joins it; another key runs on its own."""
    release = threading.Event()
    calls: list[str] = []
    refresher: Refresher[str] = Refresher("test-refresh")

    def work(name: str) -> None:
        calls.append(name)
        release.wait(10)

    first = refresher.start("a", lambda: work("a1"))
    joined = refresher.start("a", lambda: work("a2"))
    other = refresher.start("b", lambda: work("b1"))
    assert joined is first
    assert other is not first
    release.set()
    assert first.wait(10)
    assert other.wait(10)
    assert sorted(calls) == ["a1", "b1"]
    assert not refresher.running("a")


def test_refresher_replaces_a_stuck_refresh() -> None:
    """A refresh older than stuck_after_seconds no longer blocks a new one (a hung source)."""
    clock = Clock()
    hang = threading.Event()
    refresher: Refresher[str] = Refresher("test-refresh", stuck_after_seconds=10, clock=clock)
    stuck = refresher.start("k", lambda: hang.wait(10) and None)
    clock.now += 11
    fresh = refresher.start("k", lambda: None)
    assert fresh is not stuck
    assert fresh.wait(10)
    hang.set()
    assert stuck.wait(10)
