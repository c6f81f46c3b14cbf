"""Shares are atomic: a creation or a redemption that fails part-way leaves nothing behind and changes nothing."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from strongroom.crypto import LocalKeyProvider
from strongroom.errors import Conflict, KeyProviderError, NotFound
from strongroom.store.tables import shares
from strongroom.tokens.shares import Shares
from strongroom.vault import Vault
from strongroom.vocabulary import SHARE_SECRET_PREFIX, Action, Outcome


class FlakyKeys:
    """A key provider that fails while ``down`` is set: the public seam a KMS outage comes through."""

    def __init__(self, inner: LocalKeyProvider) -> None:
        self._inner = inner
        self.down = False

    @property
    def key_id(self) -> str:
        return self._inner.key_id

    def current_version(self) -> int:
        return self._inner.current_version()

    def wrap(self, key: bytes, context: bytes) -> tuple[int, bytes]:
        self._check()
        return self._inner.wrap(key, context)

    def unwrap(self, wrapped: bytes, kek_version: int, context: bytes) -> bytes:
        self._check()
        return self._inner.unwrap(wrapped, kek_version, context)

    def _check(self) -> None:
        if self.down:
            raise KeyProviderError("the key service is unreachable (injected)")


def _share_rows(vault: Vault) -> int:
    with vault._store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(shares)).scalar_one())


def _events(vault: Vault, action: str, outcome: str = Outcome.OK) -> list[str | None]:
    return [e.secret_name for e in vault.audit_events(tenant="acme", action=action) if e.outcome == outcome]


def test_a_creation_that_fails_after_the_value_is_written_leaves_nothing(
    open_vault: Callable[..., Vault], make_canary: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The share row insert fails (its id exists) after the secret's version was written in the same transaction:
    no second version, no second row, no ``secret.put`` or ``share.create`` of it; only the refusal."""
    vault = open_vault()
    vault.create_tenant("acme")
    links = Shares(vault)
    monkeypatch.setattr(secrets, "token_urlsafe", lambda _n: "the-same-token-twice")  # the stdlib's draw, fixed
    first, value = make_canary("first"), make_canary("second")
    token, _ = links.create("acme", first, actor="op")
    [name] = _events(vault, Action.SHARE_CREATE)
    assert name is not None
    assert name.startswith(SHARE_SECRET_PREFIX)

    with pytest.raises(Conflict):
        links.create("acme", value, actor="op")

    assert [v.version for v in vault.versions("acme", name)] == [1]
    assert _share_rows(vault) == 1
    assert _events(vault, Action.SECRET_PUT) == [name]
    assert _events(vault, Action.SHARE_CREATE) == [name]
    assert _events(vault, Action.SHARE_CREATE, Outcome.CONFLICT) == [name]
    assert vault.verify_audit().ok
    assert links.redeem(token.reveal()).reveal() == first  # the first share is untouched


def test_a_redemption_that_fails_changes_nothing_and_the_link_still_works(
    open_vault: Callable[..., Vault], key_provider: LocalKeyProvider, make_canary: Callable[[str], str]
) -> None:
    """The key provider fails while the value is decrypted: the link is not spent, the value not purged, no
    ``share.redeem`` is recorded; once the provider is back the link gives the value, once."""
    vault = open_vault()
    vault.create_tenant("acme")
    value = make_canary("shared")
    token, _ = Shares(vault).create("acme", value, actor="op")
    keys = FlakyKeys(key_provider)
    keys.down = True
    elsewhere = open_vault(key_provider=keys)  # another process: nothing unwrapped, its key provider down
    links = Shares(elsewhere)

    with pytest.raises(KeyProviderError):
        links.redeem(token.reveal())
    with vault._store.engine.connect() as conn:
        assert conn.execute(select(shares.c.used_at)).scalar_one() is None
    assert _events(vault, Action.SHARE_REDEEM) == []
    assert _events(vault, Action.SECRET_PURGE) == []

    keys.down = False
    assert links.redeem(token.reveal()).reveal() == value
    with pytest.raises(NotFound):
        links.redeem(token.reveal())
    [name] = _events(vault, Action.SHARE_REDEEM)
    assert _events(vault, Action.SECRET_USE) == [name]
    assert _events(vault, Action.SECRET_PURGE) == [name]
    assert vault.verify_audit().ok


def test_redemption_events_are_chained_together_in_order(
    open_vault: Callable[..., Vault], make_canary: Callable[[str], str]
) -> None:
    """One transaction: redeem, use and purge are consecutive links of the tenant's chain."""
    vault = open_vault()
    vault.create_tenant("acme")
    links = Shares(vault)
    token, _ = links.create("acme", make_canary("v"), actor="op")
    links.redeem(token.reveal())
    tail = [(e.action, e.purpose) for e in vault.audit_events(tenant="acme")][-3:]
    assert tail == [(Action.SHARE_REDEEM, None), (Action.SECRET_USE, "share"), (Action.SECRET_PURGE, None)]
