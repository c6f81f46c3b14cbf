"""``RefreshAhead``: inline reads only when a value is missing or past its age; re-reads ahead in a thread."""

from __future__ import annotations

import threading

import pytest

from strongroom.caching import RefreshAhead


class Source:
    """A store stand-in that counts reads, can block them, and can fail."""

    def __init__(self) -> None:
        self.value = "v1"
        self.reads: list[tuple[str, float]] = []
        self.threads: list[str] = []
        self.fail = False
        self.gate = threading.Event()
        self.gate.set()

    def read(self, key: str, now: float) -> str:
        self.gate.wait(5)
        self.threads.append(threading.current_thread().name)
        if self.fail:
            raise RuntimeError("store down")
        self.reads.append((key, now))
        return f"{key}:{self.value}"


def primed(at: float) -> tuple[Source, RefreshAhead[str, str]]:
    """A cache (max_age 10) holding ``a:v1`` read at ``at``, over a source that now holds v2."""
    source = Source()
    cache: RefreshAhead[str, str] = RefreshAhead(source.read, max_age=10)
    assert cache.get("a", at) == "a:v1"
    source.value = "v2"
    return source, cache


def wait_for(condition: object, timeout: float = 30.0) -> None:
    """Wait until the background reads (threads named ``strongroom-refresh``) have finished, then check."""
    for thread in [t for t in threading.enumerate() if t.name == "strongroom-refresh"]:
        thread.join(timeout)
        assert not thread.is_alive(), "a background read never finished"
    assert condition(), "condition not reached"  # type: ignore[operator]


def test_a_fresh_value_is_served_without_reading() -> None:
    source, cache = primed(100.0)
    assert cache.get("a", 104.9) == "a:v1"
    assert source.reads == [("a", 100.0)]
    assert source.threads == [threading.current_thread().name]


def test_past_three_quarters_of_its_age_the_old_value_is_served_while_a_thread_reads_the_new() -> None:
    source, cache = primed(100.0)
    source.gate.clear()  # hold the background read until the caller has its answer
    assert cache.get("a", 107.4) == "a:v1"  # young enough: no read
    assert cache.get("a", 108.0) == "a:v1"
    assert cache.get("a", 108.5) == "a:v1"  # one background read at a time per key
    source.gate.set()
    wait_for(lambda: len(source.reads) == 2)
    assert source.threads[1] == "strongroom-refresh"
    assert source.reads[1] == ("a", 108.0)
    wait_for(lambda: cache.get("a", 109.0) == "a:v2")
    assert len(source.reads) == 2


def test_past_its_age_the_value_is_read_inline() -> None:
    source, cache = primed(100.0)
    assert cache.get("a", 110.0) == "a:v2"
    assert source.threads == [threading.current_thread().name] * 2


def test_a_failed_background_read_keeps_the_value_and_the_inline_read_raises() -> None:
    source, cache = primed(100.0)
    source.fail = True
    assert cache.get("a", 108.0) == "a:v1"
    wait_for(lambda: len(source.threads) == 2)
    assert cache.get("a", 109.0) == "a:v1"
    with pytest.raises(RuntimeError, match="store down"):
        cache.get("a", 110.0)


def test_max_age_zero_reads_every_time() -> None:
    source = Source()
    cache: RefreshAhead[str, str] = RefreshAhead(source.read, max_age=0)
    cache.get("a", 1.0)
    cache.get("a", 1.0)
    assert len(source.reads) == 2


def test_an_older_read_never_replaces_a_newer_value() -> None:
    source, cache = primed(200.0)
    cache._load("a", 150.0)  # a read that began before the current value's (it read v2)
    assert cache.get("a", 201.0) == "a:v1"
    assert source.reads == [("a", 200.0), ("a", 150.0)]
