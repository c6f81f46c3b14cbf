"""Vault basics on both stores."""

from strongroom.vault import Vault


def test_put_then_use_returns_the_value(vault: Vault) -> None:
    """A value written with put() comes back through use()."""
    vault.create_tenant("acme")
    vault.put("acme", "stripe", "value-1")
    with vault.use("acme", "stripe", purpose="charge") as secret:
        assert secret.reveal() == "value-1"
