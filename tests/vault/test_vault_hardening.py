"""Failure paths found in review: rolled-back keys, unwritable audit fields, closed vaults, racing loads."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text, update

from strongroom import AuditError, InvalidInput, StrongroomError, TamperedError
from strongroom.audit import AuditEvent, AuditLog
from strongroom.store.tables import secret_versions
from strongroom.vault import Vault


def test_rolled_back_data_key_is_never_cached(open_vault: Callable[..., Vault]) -> None:
    """A rotate_data_key whose transaction fails leaves no key behind that a later put could encrypt under."""
    vault = open_vault()
    tenant_id = vault.create_tenant("t").id
    with vault._store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_chains RENAME TO audit_chains_gone"))
    with pytest.raises(Exception):  # noqa: B017, PT011 -- any failure inside the transaction will do
        vault.rotate_data_key("t")
    with vault._store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_chains_gone RENAME TO audit_chains"))
    assert vault._dek_cache.get(tenant_id, 2) is None
    other = open_vault()
    assert other.rotate_data_key("t") == 2  # another process commits its own v2 key
    vault.put("t", "k", "written-after")
    reader = open_vault(cache_ttl_seconds=0)
    with reader.use("t", "k", purpose="t") as secret:
        assert secret.reveal() == "written-after"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("request_id", "x" * 129),
        ("request_id", "nul\x00"),
        ("request_id", "lone\ud800"),
        ("actor", "a" * 129),
        ("actor", "tab\tbed"),
    ],
)
def test_unwritable_audit_labels_are_refused_up_front(open_vault: Callable[..., Vault], field: str, value: str) -> None:
    """Actors and request ids the audit log could not store are refused by use() and put(), cached or not."""
    vault = open_vault()
    vault.create_tenant("t")
    vault.put("t", "k", "v")
    with pytest.raises(InvalidInput, match=field):
        vault.use("t", "k", purpose="cold", **{field: value})
    with vault.use("t", "k", purpose="warm"):
        pass
    with pytest.raises(InvalidInput, match=field):
        vault.use("t", "k", purpose="warm", **{field: value})
    with pytest.raises(InvalidInput, match=field):
        vault.put("t", "k", "v2", **{field: value})
    assert vault.verify_audit().ok


def test_purpose_must_be_printable(open_vault: Callable[..., Vault]) -> None:
    """A purpose with a NUL or a lone surrogate is refused."""
    vault = open_vault()
    vault.create_tenant("t")
    vault.put("t", "k", "v")
    for purpose in ("nul\x00", "lone\ud800"):
        with pytest.raises(InvalidInput, match="purpose"):
            vault.use("t", "k", purpose=purpose)


def test_an_event_the_database_refuses_does_not_block_the_others(
    store_url: str, open_vault: Callable[..., Vault]
) -> None:
    """An unwritable queued event is written escaped; the events after it and later writes still go through."""
    vault = open_vault()
    vault.create_tenant("t")
    log: AuditLog = vault._audit
    bad = AuditEvent(1.0, "dev", "actor", "t", "secret.use", "k", 1, "p", "ok", "lone\ud800")
    good = AuditEvent(2.0, "dev", "actor", "t", "secret.use", "k", 1, "p", "ok", "fine")
    log.enqueue(bad, good)
    log.flush()
    assert log.pending == 0
    vault.put("t", "k", "v")
    events = [e for e in vault.audit_events(tenant="t") if e.action == "secret.use"]
    assert [e.request_id for e in events] == ["lone\\ud800", "fine"]
    assert events[0].detail is not None
    assert "escaped" in events[0].detail
    assert vault.verify_audit().ok


def test_value_that_is_not_unicode_is_refused_without_context(open_vault: Callable[..., Vault]) -> None:
    """A str value with a lone surrogate raises InvalidInput whose exception chain does not hold the value."""
    vault = open_vault()
    vault.create_tenant("t")
    with pytest.raises(InvalidInput, match="not valid Unicode") as info:
        vault.put("t", "k", "secret-\ud800-value")
    assert info.value.__context__ is None
    assert info.value.__cause__ is None


def test_type_confusion_tamper_keeps_plaintext_out_of_the_error(open_vault: Callable[..., Vault]) -> None:
    """A bytes value whose row is edited to 'str' raises TamperedError with no context and no plaintext locals."""
    vault = open_vault()
    vault.create_tenant("t")
    vault.put("t", "k", b"\xffplaintext-canary-0123456789")
    with vault._store.engine.begin() as conn:
        conn.execute(update(secret_versions).values(value_type="str"))
    with pytest.raises(TamperedError) as info:
        vault.use("t", "k", purpose="t")
    assert info.value.__context__ is None
    rendered = "".join(traceback.TracebackException.from_exception(info.value, capture_locals=True).format())
    assert "plaintext-canary" not in rendered


def test_closed_vault_refuses_work(open_vault: Callable[..., Vault]) -> None:
    """After close(), use() and put() raise instead of serving values whose use could not be recorded."""
    vault = open_vault()
    vault.create_tenant("t")
    vault.put("t", "k", "v")
    with vault.use("t", "k", purpose="warm"):
        pass
    vault.close()
    with pytest.raises(AuditError, match="closed"):
        vault.use("t", "k", purpose="after")
    with pytest.raises(StrongroomError, match="closed"):
        vault.put("t", "k", "v2")


def test_a_load_that_raced_a_write_is_not_cached(
    open_vault: Callable[..., Vault], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If this Vault writes while a cold load is reading, the load's older version is not cached."""
    vault = open_vault()
    vault.create_tenant("t")
    vault.put("t", "k", "old")
    read = vault._store.read
    raced = []

    @contextmanager
    def read_then_write() -> Iterator[Any]:
        with read() as tx:
            yield tx
        if not raced:
            raced.append(True)
            vault.put("t", "k", "new")  # lands between the load's query and its caching

    monkeypatch.setattr(vault._store, "read", read_then_write)
    with vault.use("t", "k", purpose="t") as secret:
        assert secret.reveal() == "old"
    monkeypatch.setattr(vault._store, "read", read)
    with vault.use("t", "k", purpose="t") as secret:
        assert secret.reveal() == "new"


def test_integer_clock_keeps_the_chain_verifiable(open_vault: Callable[..., Vault]) -> None:
    """A clock returning whole seconds as int still produces a chain that verifies."""
    vault = open_vault(clock=lambda: 1_700_000_000)
    vault.create_tenant("t")
    vault.put("t", "k", "v")
    with vault.use("t", "k", purpose="t"):
        pass
    assert vault.verify_audit().ok
