"""Refused key changes are audited like every other refused change of the unit of work."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from strongroom.crypto import LocalKeyProvider
from strongroom.errors import AuditError, KeyProviderError, NotFound
from strongroom.vault import Vault
from strongroom.vocabulary import NO_TENANT, Action, Outcome


class _DownKeys:
    """A key provider that can neither wrap nor unwrap: a KMS outage, through the public seam."""

    def __init__(self, inner: LocalKeyProvider) -> None:
        self.key_id = inner.key_id
        self._inner = inner
        self.down = True

    def current_version(self) -> int:
        return self._inner.current_version() + 1  # a newer KEK version: every data key needs rewrapping

    def wrap(self, key: bytes, context: bytes) -> tuple[int, bytes]:
        raise KeyProviderError("the key service is unreachable (injected)")

    def unwrap(self, wrapped: bytes, kek_version: int, context: bytes) -> bytes:
        if self.down:
            raise KeyProviderError("the key service is unreachable (injected)")
        return self._inner.unwrap(wrapped, kek_version, context)


def _outcomes(vault: Vault, tenant: str, action: str = Action.KEY_REWRAP) -> list[str]:
    return [e.outcome for e in vault.audit_events(tenant=tenant, action=action)]


def test_a_refused_data_key_rotation_is_audited(
    open_vault: Callable[..., Vault], key_provider: LocalKeyProvider
) -> None:
    vault = open_vault()
    vault.create_tenant("acme")
    with pytest.raises(NotFound):
        vault.rotate_data_key("nobody")
    assert _outcomes(vault, "nobody") == [Outcome.NOT_FOUND]
    keys = _DownKeys(key_provider)
    down = open_vault(key_provider=keys)  # down from its start: it never had the audit key
    with pytest.raises(KeyProviderError):
        down.rotate_data_key("acme")
    with pytest.raises(AuditError, match="no audit key"):  # the refusal waits, queued, for the audit key
        down.flush_audit()
    assert down.pending_audit_events == 1
    keys.down = False  # the provider unwraps again (it still cannot wrap)
    with pytest.raises(KeyProviderError):
        down.keys.rotate()  # a new root key must be wrapped by the provider
    down.flush_audit()
    assert _outcomes(vault, "acme") == [Outcome.ERROR]
    assert _outcomes(vault, NO_TENANT, Action.KEY_ROTATE) == [Outcome.ERROR]
    assert vault.verify_audit().ok
