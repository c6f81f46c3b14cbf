"""DataKeyCache: bounded LRU of unwrapped data-key ciphers that expire after a TTL (fake clock)."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.crypto.envelope import new_key
from strongroom.crypto.keys import DataKeyCache

NONCE = bytes(12)


def fake_clock(start: float = 1_000.0) -> tuple[Callable[[], float], Callable[[float], None]]:
    """A clock that moves only when told to: (clock, advance)."""
    now = [start]

    def clock() -> float:
        return now[0]

    def advance(seconds: float) -> None:
        now[0] += seconds

    return clock, advance


def same_key(cipher: AESGCM | None, key: bytes) -> bool:
    """True if ``cipher`` encrypts like ``AESGCM(key)`` (the cache holds ciphers, not keys)."""
    assert cipher is not None
    return cipher.encrypt(NONCE, b"probe", None) == AESGCM(key).encrypt(NONCE, b"probe", None)


def test_put_then_get_returns_the_cipher() -> None:
    """get() returns the cipher put() built for that tenant and version."""
    cache = DataKeyCache()
    key = new_key()
    cipher = cache.put("t1", 1, key)
    assert isinstance(cipher, AESGCM)
    assert cache.get("t1", 1) is cipher
    assert same_key(cache.get("t1", 1), key)


def test_get_miss_returns_none() -> None:
    """get() of a tenant or version never put returns None."""
    cache = DataKeyCache()
    cache.put("t1", 1, new_key())
    assert cache.get("t1", 2) is None
    assert cache.get("t2", 1) is None


def test_entries_are_keyed_by_tenant_and_version() -> None:
    """Each (tenant, version) has its own cipher."""
    cache = DataKeyCache()
    keys = {("t1", 1): new_key(), ("t1", 2): new_key(), ("t2", 1): new_key()}
    for (tenant, version), key in keys.items():
        cache.put(tenant, version, key)
    for (tenant, version), key in keys.items():
        assert same_key(cache.get(tenant, version), key)


def test_put_replaces_an_entry() -> None:
    """put() for an existing (tenant, version) replaces the cipher without growing the cache."""
    cache = DataKeyCache()
    cache.put("t1", 1, new_key())
    newer = new_key()
    cache.put("t1", 1, newer)
    assert len(cache) == 1
    assert same_key(cache.get("t1", 1), newer)


def test_cache_is_bounded() -> None:
    """The cache never holds more than max_entries entries."""
    cache = DataKeyCache(max_entries=3)
    for version in range(1, 11):
        cache.put("t1", version, new_key())
        assert len(cache) <= 3
    assert len(cache) == 3


def test_eviction_drops_the_oldest_inserted() -> None:
    """With no reads, the first entry put is the first evicted."""
    cache = DataKeyCache(max_entries=2)
    cache.put("t1", 1, new_key())
    cache.put("t1", 2, new_key())
    cache.put("t1", 3, new_key())
    assert cache.get("t1", 1) is None
    assert cache.get("t1", 2) is not None
    assert cache.get("t1", 3) is not None


def test_eviction_is_least_recently_used() -> None:
    """A get() refreshes an entry, so the least recently used one is evicted instead."""
    cache = DataKeyCache(max_entries=2)
    cache.put("t1", 1, new_key())
    cache.put("t1", 2, new_key())
    assert cache.get("t1", 1) is not None  # 1 is now more recent than 2
    cache.put("t1", 3, new_key())
    assert cache.get("t1", 2) is None
    assert cache.get("t1", 1) is not None
    assert cache.get("t1", 3) is not None


def test_re_put_refreshes_recency() -> None:
    """put() of an existing entry makes it the most recently used."""
    cache = DataKeyCache(max_entries=2)
    cache.put("t1", 1, new_key())
    cache.put("t1", 2, new_key())
    cache.put("t1", 1, new_key())
    cache.put("t1", 3, new_key())
    assert cache.get("t1", 2) is None
    assert cache.get("t1", 1) is not None


def test_entry_expires_after_ttl() -> None:
    """An entry is served until its TTL has passed, and is gone (and dropped) after."""
    clock, advance = fake_clock()
    cache = DataKeyCache(ttl_seconds=300.0, clock=clock)
    cache.put("t1", 1, new_key())
    advance(299.0)
    assert cache.get("t1", 1) is not None
    advance(1.0)
    assert cache.get("t1", 1) is None
    assert len(cache) == 0


def test_get_does_not_extend_ttl() -> None:
    """Reading an entry does not extend its life: the TTL counts from put()."""
    clock, advance = fake_clock()
    cache = DataKeyCache(ttl_seconds=10.0, clock=clock)
    cache.put("t1", 1, new_key())
    for _ in range(9):
        advance(1.0)
        assert cache.get("t1", 1) is not None
    advance(1.0)
    assert cache.get("t1", 1) is None


def test_put_again_restarts_ttl() -> None:
    """Putting an entry again starts its TTL over."""
    clock, advance = fake_clock()
    cache = DataKeyCache(ttl_seconds=10.0, clock=clock)
    cache.put("t1", 1, new_key())
    advance(8.0)
    cache.put("t1", 1, new_key())
    advance(8.0)
    assert cache.get("t1", 1) is not None
    advance(2.0)
    assert cache.get("t1", 1) is None


def test_entries_expire_independently() -> None:
    """Each entry expires TTL seconds after its own put()."""
    clock, advance = fake_clock()
    cache = DataKeyCache(ttl_seconds=10.0, clock=clock)
    cache.put("t1", 1, new_key())
    advance(5.0)
    cache.put("t2", 1, new_key())
    advance(5.0)
    assert cache.get("t1", 1) is None
    assert cache.get("t2", 1) is not None
    advance(5.0)
    assert cache.get("t2", 1) is None


def test_forget_tenant_drops_only_that_tenant() -> None:
    """forget_tenant() removes every version of one tenant and nothing else."""
    cache = DataKeyCache()
    cache.put("t1", 1, new_key())
    cache.put("t1", 2, new_key())
    cache.put("t2", 1, new_key())
    cache.put("t10", 1, new_key())
    cache.forget_tenant("t1")
    assert cache.get("t1", 1) is None
    assert cache.get("t1", 2) is None
    assert cache.get("t2", 1) is not None
    assert cache.get("t10", 1) is not None
    assert len(cache) == 2


def test_forget_unknown_tenant_is_a_no_op() -> None:
    """forget_tenant() of a tenant with no entries changes nothing."""
    cache = DataKeyCache()
    cache.put("t1", 1, new_key())
    cache.forget_tenant("nobody")
    assert len(cache) == 1
    assert cache.get("t1", 1) is not None


def test_clear_drops_everything() -> None:
    """clear() empties the cache."""
    cache = DataKeyCache()
    cache.put("t1", 1, new_key())
    cache.put("t2", 1, new_key())
    cache.clear()
    assert len(cache) == 0
    assert cache.get("t1", 1) is None
