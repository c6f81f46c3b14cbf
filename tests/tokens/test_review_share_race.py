"""A share link raced by several redeemers (threads, one vault; and two vaults on one store) opens once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from strongroom.errors import NotFound, StrongroomError
from strongroom.tokens.shares import Shares
from strongroom.vault import Vault
from strongroom.vocabulary import Action

REDEEMERS = 6


def _race(redeemers: list[Shares], token: str) -> list[object]:
    start = threading.Barrier(len(redeemers))

    def redeem(shares: Shares) -> object:
        start.wait()
        try:
            with shares.redeem(token) as value:
                return value.reveal()
        except StrongroomError as exc:
            return exc

    with ThreadPoolExecutor(len(redeemers)) as pool:
        return list(pool.map(redeem, redeemers))


def test_a_link_raced_by_threads_and_processes_opens_once(
    open_vault: Callable[..., Vault], make_canary: Callable[[str], str]
) -> None:
    first, second = open_vault(), open_vault()
    first.create_tenant("acme")
    for _ in range(3):
        value = make_canary("shared")
        token, _ = Shares(first).create("acme", value, actor="test")
        outcomes = _race([Shares(first if i % 2 else second) for i in range(REDEEMERS)], token.reveal())
        assert outcomes.count(value) == 1, outcomes
        refused = [o for o in outcomes if o != value]
        assert all(isinstance(o, NotFound) for o in refused), refused
        assert all(value not in str(o) for o in refused)
    redeemed = first.audit_events(tenant="acme", action=Action.SHARE_REDEEM)
    assert len(redeemed) == 3
    assert first.list("acme", include_deleted=True) == []
    assert first.verify_audit().ok
