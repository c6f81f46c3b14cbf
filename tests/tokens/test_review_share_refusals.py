"""A redemption refused part-way (tampered value, key service down) is rolled back *and* audited.

Before shares became one unit of work, the value was read through ``Vault.use``, which audits a tampered
ciphertext; inside the redemption's transaction the refusal rolled back every event with it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
from sqlalchemy import and_, select, update

from strongroom.crypto import LocalKeyProvider
from strongroom.errors import AuditError, KeyProviderError, TamperedError
from strongroom.store.tables import secret_versions, shares
from strongroom.tokens.shares import Shares
from strongroom.vault import Vault
from strongroom.vocabulary import Action, Outcome


class _DownKeys:
    """A key provider whose unwrap fails: the public seam a KMS outage comes through."""

    def __init__(self, inner: LocalKeyProvider) -> None:
        self._inner = inner
        self.key_id = inner.key_id
        self.down = True

    def current_version(self) -> int:
        return self._inner.current_version()

    def wrap(self, key: bytes, context: bytes) -> tuple[int, bytes]:
        return self._inner.wrap(key, context)

    def unwrap(self, wrapped: bytes, kek_version: int, context: bytes) -> bytes:
        if self.down:
            raise KeyProviderError("the key service is unreachable (injected)")
        return self._inner.unwrap(wrapped, kek_version, context)


def _refusals(vault: Vault) -> list[tuple[str, str | None]]:
    return [
        (e.outcome, e.secret_name)
        for e in vault.audit_events(tenant="acme", action=Action.SHARE_REDEEM)
        if e.outcome != Outcome.OK
    ]


def _unused(vault: Vault) -> bool:
    with vault._store.engine.connect() as conn:
        return conn.execute(select(shares.c.used_at)).scalar_one() is None


def test_a_tampered_share_value_is_refused_audited_and_not_spent(
    open_vault: Callable[..., Vault], make_canary: Callable[[str], str]
) -> None:
    vault = open_vault()
    vault.create_tenant("acme")
    value = make_canary("shared")
    token, _ = Shares(vault).create("acme", value, actor="op")
    (name,) = {e.secret_name for e in vault.audit_events(tenant="acme", action=Action.SHARE_CREATE)}
    with vault._store.engine.begin() as conn:
        conn.execute(
            update(secret_versions)
            .where(and_(secret_versions.c.name == name, secret_versions.c.version == 1))
            .values(ciphertext=secrets.token_bytes(64))
        )
    with pytest.raises(TamperedError) as refused:
        Shares(vault).redeem(token.reveal())
    assert value not in str(refused.value)
    assert _unused(vault)
    assert _refusals(vault) == [(Outcome.TAMPERED, name)]
    assert vault.verify_audit().ok


def test_a_redemption_refused_by_the_key_service_is_audited(
    open_vault: Callable[..., Vault], key_provider: LocalKeyProvider, make_canary: Callable[[str], str]
) -> None:
    vault = open_vault()
    vault.create_tenant("acme")
    value = make_canary("shared")
    token, _ = Shares(vault).create("acme", value, actor="op")
    keys = _DownKeys(key_provider)
    elsewhere = open_vault(key_provider=keys)  # its data-key cache is empty, and it has no audit key
    with pytest.raises(KeyProviderError):
        Shares(elsewhere).redeem(token.reveal())
    with pytest.raises(AuditError, match="no audit key"):  # the refusal waits, queued, for the audit key
        elsewhere.flush_audit()
    keys.down = False
    elsewhere.flush_audit()
    assert _unused(vault)
    assert [outcome for outcome, _ in _refusals(vault)] == [Outcome.ERROR]
    assert Shares(vault).redeem(token.reveal()).reveal() == value
