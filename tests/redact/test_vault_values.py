"""Values used through a Vault are known to the redactor while the vault lives, at no per-call cost."""

from __future__ import annotations

import gc
from collections.abc import Callable

import pytest

import strongroom.redact
from strongroom.live_values import LIVE
from strongroom.vault import Vault


@pytest.mark.slow
def test_a_used_value_is_masked_while_its_vault_lives(
    open_vault: Callable[..., Vault], make_canary: Callable[[str], str]
) -> None:
    """After the Secret from use() is gone, the value is still masked: the vault that decrypted it owns it."""
    vault = open_vault()
    vault.create_tenant("t")
    value = make_canary("vault-owned")
    vault.put("t", "k", value)
    with vault.use("t", "k", purpose="test") as secret:
        copied = secret.reveal()
    del secret
    gc.collect()
    assert value not in strongroom.redact.redact(f"log line with {copied} in it")


@pytest.mark.slow
def test_hot_uses_do_not_grow_the_registry(open_vault: Callable[..., Vault], make_canary: Callable[[str], str]) -> None:
    """A thousand uses of one secret note its value with one owner, not a thousand."""
    vault = open_vault(cache_ttl_seconds=0)  # every use is a cold load: the worst case for noting
    vault.create_tenant("t")
    value = make_canary("hot")
    vault.put("t", "k", value)
    for _ in range(1000):
        with vault.use("t", "k", purpose="test"):
            pass
    owners = LIVE._entries[value, "t"][1]
    assert owners is not None
    assert len(owners.refs) == 1
