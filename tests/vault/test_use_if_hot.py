"""``Vault.use_if_hot``: a use with no I/O when the value is cached, else None (for event loops)."""

from __future__ import annotations

from collections.abc import Callable

from strongroom.vault import Vault


def test_a_cold_secret_gives_none_and_a_hot_one_its_value(
    open_vault: Callable[..., Vault], make_canary: Callable[[str], str]
) -> None:
    """Before any use nothing is cached (None); after one use() the same call returns the value, audited."""
    vault = open_vault()
    vault.create_tenant("t")
    value = make_canary("hot")
    vault.put("t", "k", value)
    assert vault.use_if_hot("t", "k", purpose="p") is None
    with vault.use("t", "k", purpose="p") as first:
        assert first.reveal() == value
    hot = vault.use_if_hot("t", "k", purpose="p", actor="loop")
    assert hot is not None
    with hot:
        assert hot.reveal() == value
    uses = [e for e in vault.audit_events(tenant="t") if e.action == "secret.use"]
    assert [e.actor for e in uses][-1] == "loop"


def test_sync_audit_never_runs_inline(open_vault: Callable[..., Vault], make_canary: Callable[[str], str]) -> None:
    """With the synchronous audit a use writes to the database, so use_if_hot always defers (None)."""
    vault = open_vault(audit_mode="sync")
    vault.create_tenant("t")
    vault.put("t", "k", make_canary("sync"))
    with vault.use("t", "k", purpose="p"):
        pass
    assert vault.use_if_hot("t", "k", purpose="p") is None
