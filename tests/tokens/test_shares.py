"""One-time delivery links: a value handed over once, through a link that expires, audited, never stored plain."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import select

from strongroom.errors import Expired, InvalidInput, NotFound
from strongroom.store.tables import shares
from strongroom.testing import assert_not_leaked
from strongroom.tokens.shares import Shares
from strongroom.vault import Vault


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(open_vault: Callable[..., Vault]) -> tuple[Vault, Shares, Clock]:
    clock = Clock()
    vault = open_vault(clock=clock, cache_ttl_seconds=0)
    vault.create_tenant("acme")
    return vault, Shares(vault, clock=clock), clock


def test_a_link_gives_the_value_once(setup: tuple[Vault, Shares, Clock], make_canary: Callable[[str], str]) -> None:
    """The first redemption returns the value; the second finds nothing; the stored copy is purged."""
    vault, links, _ = setup
    value = make_canary("share")
    token, info = links.create("acme", value, ttl_seconds=600, actor="op")
    assert links.redeem(token.reveal()).reveal() == value
    with pytest.raises(NotFound):
        links.redeem(token.reveal())
    assert [s.name for s in vault.list("acme")] == []
    assert_not_leaked([value, token.reveal()], repr(token), repr(info), repr(links))


def test_an_expired_link_is_refused_and_purged(
    setup: tuple[Vault, Shares, Clock], make_canary: Callable[[str], str]
) -> None:
    """After its TTL a link raises Expired, and the value is gone from the store."""
    vault, links, clock = setup
    token, _ = links.create("acme", make_canary("late"), ttl_seconds=60, actor="op")
    clock.now += 61
    with pytest.raises(Expired):
        links.redeem(token.reveal())
    assert vault.list("acme", include_deleted=False) == []


def test_only_the_hash_of_the_link_is_stored(
    setup: tuple[Vault, Shares, Clock], make_canary: Callable[[str], str]
) -> None:
    """The shares table holds the link's SHA-256, never the link."""
    vault, links, _ = setup
    token, _ = links.create("acme", make_canary("hash"), actor="op")
    with vault._store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(shares)).mappings()]
    assert len(rows) == 1
    assert_not_leaked([token.reveal()], repr(rows))


def test_concurrent_redemptions_give_the_value_to_one_caller(
    setup: tuple[Vault, Shares, Clock], make_canary: Callable[[str], str]
) -> None:
    """Eight threads redeem one link at once: exactly one gets the value."""
    _, links, _ = setup
    value = make_canary("race")
    token, _ = links.create("acme", value, actor="op")
    got: list[str] = []
    errors: list[Exception] = []

    def redeem() -> None:
        try:
            got.append(links.redeem(token.reveal()).reveal())
        except NotFound as exc:
            errors.append(exc)

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == [value]
    assert len(errors) == 7


def test_bad_input_is_refused(setup: tuple[Vault, Shares, Clock]) -> None:
    """Unknown links, malformed links and out-of-range TTLs are refused by name."""
    _, links, _ = setup
    with pytest.raises(NotFound):
        links.redeem("srs_" + "x" * 43)
    with pytest.raises(NotFound):
        links.redeem("not-a-link")
    with pytest.raises(InvalidInput, match="share lives"):
        links.create("acme", "value-1", ttl_seconds=0, actor="op")
    with pytest.raises(NotFound):
        links.create("nobody", "value-1", actor="op")


def test_creation_and_redemption_are_audited(
    setup: tuple[Vault, Shares, Clock], make_canary: Callable[[str], str]
) -> None:
    """share.create and share.redeem events land in the tenant's chain, with the value's use."""
    vault, links, _ = setup
    value = make_canary("audit")
    token, _ = links.create("acme", value, actor="op")
    links.redeem(token.reveal())
    actions = [e.action for e in vault.audit_events(tenant="acme")]
    assert {"share.create", "share.redeem", "secret.use"} <= set(actions)
    assert_not_leaked([value, token.reveal()], repr(vault.audit_events(tenant="acme")))
