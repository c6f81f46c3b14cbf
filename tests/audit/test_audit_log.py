"""Every operation leaves an audit event; the hash chain exposes edits, deletions and reordering."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import delete, select, text, update

from strongroom import AuditError, Conflict, NotFound
from strongroom.store.tables import audit_events
from strongroom.vault import Vault


@pytest.fixture
def busy(vault: Vault) -> Vault:
    vault.create_tenant("t")
    vault.put("t", "k", "v1")
    vault.put("t", "k", "v2")
    with vault.use("t", "k", purpose="report", request_id="req-1"):
        pass
    vault.delete("t", "k")
    vault.purge("t", "k")
    return vault


def _ids(vault: Vault) -> list[int]:
    with vault._store.engine.connect() as conn:
        return list(conn.execute(select(audit_events.c.id).order_by(audit_events.c.id)).scalars())


def test_every_operation_is_recorded(busy: Vault) -> None:
    """create, put, use, delete and purge each leave one event with actor, version, purpose and outcome."""
    events = busy.audit_events(tenant="t")
    assert [(e.action, e.secret_name, e.version, e.outcome) for e in events] == [
        ("tenant.create", None, None, "ok"),
        ("secret.put", "k", 1, "ok"),
        ("secret.put", "k", 2, "ok"),
        ("secret.use", "k", 2, "ok"),
        ("secret.delete", "k", 2, "ok"),
        ("secret.purge", "k", 2, "ok"),
    ]
    use = events[3]
    assert (use.actor, use.purpose, use.request_id, use.environment) == ("test", "report", "req-1", "dev")
    assert busy.verify_audit().ok


def test_refusals_are_recorded(vault: Vault) -> None:
    """Refused uses and writes are audited with their outcome; the chain stays intact."""
    vault.create_tenant("t")
    vault.put("t", "k", "v")
    with pytest.raises(NotFound):
        vault.use("t", "nope", purpose="probe", actor="agent-7")
    with pytest.raises(Conflict):
        vault.put("t", "k", "v", expected_version=5)
    with pytest.raises(NotFound):
        vault.use("ghost", "k", purpose="probe")
    with pytest.raises(Conflict):
        vault.create_tenant("t")
    outcomes = {(e.tenant, e.action, e.secret_name, e.outcome, e.actor) for e in vault.audit_events()}
    assert ("t", "secret.use", "nope", "not_found", "agent-7") in outcomes
    assert ("t", "secret.put", "k", "conflict", "test") in outcomes
    assert ("ghost", "secret.use", "k", "not_found", "test") in outcomes
    assert ("t", "tenant.create", None, "conflict", "test") in outcomes
    assert vault.verify_audit().ok


def test_async_uses_are_written_by_close(open_vault: Callable[..., Vault]) -> None:
    """Queued use events reach the database when the vault closes."""
    vault = open_vault()
    vault.create_tenant("t")
    vault.put("t", "k", "v")
    for _ in range(25):
        with vault.use("t", "k", purpose="batch"):
            pass
    vault.close()
    reader = open_vault()
    assert sum(e.action == "secret.use" for e in reader.audit_events()) == 25
    assert reader.verify_audit().ok


def test_sync_mode_writes_before_returning(open_vault: Callable[..., Vault]) -> None:
    """In sync mode a use's event is in the database before use() returns."""
    vault = open_vault(audit_mode="sync")
    vault.create_tenant("t")
    vault.put("t", "k", "v")
    with vault.use("t", "k", purpose="now"):
        with vault._store.engine.connect() as conn:
            actions = list(conn.execute(select(audit_events.c.action)).scalars())
        assert actions[-1] == "secret.use"


def test_sync_mode_refuses_to_serve_when_the_audit_log_fails(open_vault: Callable[..., Vault]) -> None:
    """When the audit table cannot be written, a sync-mode use() raises AuditError and returns no value."""
    vault = open_vault(audit_mode="sync")
    vault.create_tenant("t")
    vault.put("t", "k", "v")
    with vault._store.engine.begin() as conn:
        conn.execute(text("DROP TABLE audit_events"))
    with pytest.raises(AuditError, match="could not be written"):
        vault.use("t", "k", purpose="x")


def test_verify_finds_an_edited_event(busy: Vault) -> None:
    """Changing any field of an event is reported at that event."""
    target = _ids(busy)[2]
    with busy._store.engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.id == target).values(actor="someone-else"))
    report = busy.verify_audit()
    assert not report.ok
    assert report.broken is not None
    assert report.broken.event_id == target
    assert "edited" in report.broken.reason


def test_verify_finds_a_deleted_event(busy: Vault) -> None:
    """Removing an event from the middle is reported at the event after the gap."""
    ids = _ids(busy)
    with busy._store.engine.begin() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.id == ids[2]))
    report = busy.verify_audit()
    assert report.broken is not None
    assert report.broken.event_id == ids[3]


def test_verify_finds_reordered_events(busy: Vault) -> None:
    """Swapping two events' contents is reported at the first of them."""
    ids = _ids(busy)
    cols = [c for c in audit_events.c if c.name != "id"]
    with busy._store.engine.begin() as conn:
        first, second = (
            dict(conn.execute(select(*cols).where(audit_events.c.id == i)).mappings().one()) for i in (ids[1], ids[2])
        )
        conn.execute(update(audit_events).where(audit_events.c.id == ids[1]).values(seq=-1))
        conn.execute(update(audit_events).where(audit_events.c.id == ids[2]).values(**first))
        conn.execute(update(audit_events).where(audit_events.c.id == ids[1]).values(**second))
    report = busy.verify_audit()
    assert report.broken is not None
    assert report.broken.event_id == ids[1]


def test_verify_finds_removed_newest_events(busy: Vault) -> None:
    """Cutting off the newest events no longer matches the chain head."""
    with busy._store.engine.begin() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.id == _ids(busy)[-1]))
    report = busy.verify_audit()
    assert report.broken is not None
    assert "newest events removed" in report.broken.reason


def test_events_never_hold_values(busy: Vault) -> None:
    """No audit column ever holds a secret value."""
    values = {"v1", "v2"}
    for event in busy.audit_events():
        fields = {getattr(event, name) for name in event.__slots__}
        assert not (fields & values)


def test_events_are_chained_by_tenant_id(busy: Vault) -> None:
    """Every event of tenant t, the hot path's use included, is stored under t's id in ``<env>/tenant:<id>``;
    environment-wide events and refusals aimed at no tenant go to ``<env>/*environment*``, with no id."""
    [tenant] = [t for t in busy.list_tenants() if t.name == "t"]
    busy.put("t", "k2", "v3")  # k is purged: another secret
    for _ in range(2):  # the second use is the hot path's (cached version, compact event)
        with busy.use("t", "k2", purpose="hot"):
            pass
    with pytest.raises(NotFound):
        busy.use("ghost", "k", purpose="probe")
    busy.rewrap_data_keys()
    events = busy.audit_events()
    own = [e for e in events if e.tenant == "t"]
    assert {(e.chain, e.tenant_id) for e in own} == {(f"dev/tenant:{tenant.id}", tenant.id)}
    assert [e.purpose for e in own if e.action == "secret.use"][-2:] == ["hot", "hot"]
    others = [e for e in events if e.tenant != "t"]
    assert {e.tenant for e in others} == {"ghost", "-"}
    assert {(e.chain, e.tenant_id) for e in others} == {("dev/*environment*", None)}
    assert busy.verify_audit().ok


def test_a_new_tenant_with_an_old_name_starts_a_new_history(busy: Vault) -> None:
    old = [e.id for e in busy.audit_events(tenant="t")]
    busy.delete_tenant("t")
    assert [e.action for e in busy.audit_events(tenant="t")] == []  # no tenant holds the name now
    busy.create_tenant("t")
    busy.put("t", "k", "v4")
    again = busy.audit_events(tenant="t")
    assert [e.action for e in again] == ["tenant.create", "secret.put"]
    assert set(old).isdisjoint(e.id for e in again)
    first_chain = busy.audit_events()[0].chain
    assert [e.chain for e in busy.audit_events(action="tenant.delete")] == [first_chain]
    assert first_chain != again[0].chain
    assert busy.verify_audit().ok


def test_verify_finds_an_event_moved_to_another_tenant(busy: Vault) -> None:
    """The tenant id is not hashed on its own but its chain's name is: an event whose id no longer matches
    its chain was moved (to show it in another tenant's history) and is reported."""
    target = _ids(busy)[2]
    with busy._store.engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.id == target).values(tenant_id="f" * 32))
    report = busy.verify_audit()
    assert report.broken is not None
    assert report.broken.event_id == target
    assert "moved" in report.broken.reason


def test_a_hot_use_event_carries_its_tenant_id_without_a_query(vault: Vault) -> None:
    """The id comes with the cached version: a hot use() sends no statement, and its event is the tenant's."""
    from sqlalchemy import event as sa_event

    tenant = vault.create_tenant("t")
    vault.put("t", "k", "v")
    with vault.use("t", "k", purpose="warm"):
        pass
    vault.flush_audit()
    statements: list[str] = []
    caller = threading.get_ident()

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if threading.get_ident() == caller:  # the audit writer's thread may flush meanwhile: not the use's
            statements.append(statement)

    sa_event.listen(vault._store.engine, "before_cursor_execute", seen)
    try:
        with vault.use("t", "k", purpose="hot"):
            pass
    finally:
        sa_event.remove(vault._store.engine, "before_cursor_execute", seen)
    assert statements == []
    [hot] = [e for e in vault.audit_events(tenant="t") if e.purpose == "hot"]
    assert (hot.tenant_id, hot.chain) == (tenant.id, f"dev/tenant:{tenant.id}")
