"""``Vault.use(type=...)`` and ``Vault.open``'s explicit options."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from strongroom.errors import InvalidInput
from strongroom.testing import assert_not_leaked
from strongroom.vault import Vault
from strongroom.vocabulary import Action


def test_use_with_a_type_returns_that_type_or_names_the_fix(vault: Vault, make_canary: Callable[[str], str]) -> None:
    """``type=str`` / ``type=bytes`` give a ``Secret`` of that type; the other type is refused, unrevealed and
    unaudited, with a message naming the call that works and never the value."""
    text, raw = make_canary("text"), make_canary("raw").encode()
    vault.create_tenant("acme")
    vault.put("acme", "text", text)
    vault.put("acme", "raw", raw)
    with vault.use("acme", "text", purpose="t", type=str) as secret:
        assert secret.reveal() == text
    with vault.use("acme", "raw", purpose="t", type=bytes) as secret:
        assert secret.reveal() == raw
    for name, wrong, fix in (("text", bytes, "type=str"), ("raw", str, "type=bytes")):
        for _ in range(2):  # cold, then from the cache
            with pytest.raises(InvalidInput, match=fix) as refused:
                vault.use("acme", name, purpose="t", type=wrong)
            assert_not_leaked([text, raw.decode()], refused.value)
    uses = [e.secret_name for e in vault.audit_events(tenant="acme", action=Action.SECRET_USE)]
    assert uses == ["text", "raw"]


def test_open_takes_only_its_named_options(store_url: str, open_vault: Callable[..., Vault]) -> None:
    vault = open_vault(audit_mode="sync", cache_ttl_seconds=0.0, dek_cache_ttl_seconds=1.0, max_value_bytes=16)
    vault.create_tenant("acme")
    with pytest.raises(InvalidInput, match="over the limit of 16"):
        vault.put("acme", "k", "x" * 17)
    with pytest.raises(TypeError):
        Vault.open(store_url, cache_ttl=3)  # type: ignore[call-arg]
