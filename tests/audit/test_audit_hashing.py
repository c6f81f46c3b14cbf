"""The writer's fast linking equals the definition, and the async queue stays bounded."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from strongroom.audit import AuditLog
from strongroom.audit.chain import LINKED_FIELDS, PREFIX_FIELDS, _Linker, event_link
from strongroom.audit.keys import derive_audit_keys
from strongroom.audit.sinks import expand, use_event
from strongroom.store import Store
from strongroom.store.migrate import upgrade

text = st.text(max_size=40)
maybe_text = st.none() | text
times = st.floats(min_value=0, max_value=4e9, allow_nan=False) | st.integers(min_value=0, max_value=2**40)


@given(
    prefix=st.tuples(
        text, text, text, text, text, maybe_text, st.none() | st.integers(0, 2**32), maybe_text, text, maybe_text
    ),
    seq=st.integers(1, 2**62),
    at=times,
    request_id=maybe_text,
    context=maybe_text,
    prev=st.text("0123456789abcdef", min_size=64, max_size=64),
    key=st.binary(min_size=32, max_size=32),
)
def test_fast_link_equals_the_json_definition(  # noqa: PLR0917 -- hypothesis draws each by name
    prefix: tuple[object, ...],
    seq: int,
    at: float,
    request_id: str | None,
    context: str | None,
    prev: str,
    key: bytes,
) -> None:
    """_Linker gives exactly event_link's HMAC of the canonical JSON, for any field values and key."""
    assert len(prefix) == len(PREFIX_FIELDS)
    values = (*prefix, seq, at, request_id, context, prev)
    assert len(values) == len(LINKED_FIELDS)
    link = _Linker(key)
    assert link(prefix, (seq, at, request_id, context), prev) == event_link(key, values)
    assert link(prefix, (seq, at, request_id, context), prev) == event_link(key, values)  # memoised prefix
    other = bytes([key[0] ^ 1]) + key[1:]
    assert _Linker(other)(prefix, (seq, at, request_id, context), prev) != event_link(key, values)


def test_compact_use_event_expands_to_a_full_event() -> None:
    """The hot path's 5-field tuple becomes the AuditEvent of a successful use, with the tenant's id it carries."""
    tenant_id = "0" * 31 + "1"
    event = expand(use_event(12.5, ("dev", "acme", "stripe", 3, tenant_id), "agent", "charge", "r1"))
    assert (event.at, event.environment, event.tenant, event.secret_name, event.version, event.tenant_id) == (
        12.5,
        "dev",
        "acme",
        "stripe",
        3,
        tenant_id,
    )
    assert (event.action, event.outcome, event.actor, event.purpose, event.request_id) == (
        "secret.use",
        "ok",
        "agent",
        "charge",
        "r1",
    )


def test_queue_is_bounded_by_back_pressure(tmp_path: Path) -> None:
    """Submits past the bound never grow the queue past it, and every accepted event is written at close."""
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    upgrade(store)
    keys = derive_audit_keys(os.urandom(32))
    log = AuditLog(store, lambda: keys, max_pending=8, flush_interval_seconds=3600)
    for i in range(50):
        log.submit(use_event(float(i), ("dev", "t", "k", 1, "0" * 32), "a", "p", None))
        assert log.pending <= 8
    log.close()
    with store.read() as tx:
        assert tx.count("audit_events") == 50
    store.close()
