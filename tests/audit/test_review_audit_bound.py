"""While the database refuses audit writes, the queue stays bounded by ``max_pending`` and nothing is lost
uncounted.

``AuditLog.submit`` promises the queue never grows past ``max_pending``: at the bound a caller waits for the
writer's next batch, or, while the writer is failing, its event is dropped and counted. A flush drains the
queue before it writes; if the write fails the batch goes back on top of whatever was appended meanwhile, so
the room it took must stay taken (once it let each failed flush add up to another ``max_pending`` events).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from strongroom.audit import AuditEvent, AuditLog
from strongroom.audit.keys import derive_audit_keys
from strongroom.errors import AuditError, StrongroomError
from strongroom.store import Store
from strongroom.vault import Vault

MAX_PENDING = 200
THREADS = 8
SUBMITS = 2500
KEYS = derive_audit_keys(os.urandom(32))


def _rename(store: Store, old: str, new: str) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")


@pytest.mark.slow
def test_a_failing_writer_keeps_the_queue_bounded_and_every_accepted_event(open_vault: Callable[..., Vault]) -> None:
    vault = open_vault()
    url = vault._store.engine.url.render_as_string(hide_password=False)
    vault.close()
    store = Store(url)
    log = AuditLog(store, lambda: KEYS, max_pending=MAX_PENDING, flush_interval_seconds=0.05)
    event = AuditEvent(
        at=time.time(),
        environment="dev",
        actor="t",
        tenant="acme",
        action="secret.use",
        secret_name="k",  # noqa: S106 -- a name
    )
    peak, accepted, lock = [0], [0], threading.Lock()

    def submitter() -> None:
        mine = 0
        for _ in range(SUBMITS):
            try:
                log.submit(event)
                mine += 1
            except AuditError:
                pass
            peak[0] = max(peak[0], log.pending)
        with lock:
            accepted[0] += mine

    _rename(store, "audit_events", "audit_events_away")  # the database refuses every audit write
    try:
        threads = [threading.Thread(target=submitter) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        _rename(store, "audit_events_away", "audit_events")
    try:
        assert peak[0] <= MAX_PENDING + THREADS, f"queue reached {peak[0]} events (max_pending {MAX_PENDING})"
        assert accepted[0] == THREADS * SUBMITS  # async: served, whatever the store does
        log.flush()
        with store.engine.connect() as conn:
            written = conn.exec_driver_sql(
                "SELECT count(*) FROM audit_events WHERE tenant = 'acme' AND action = 'secret.use'"
            ).scalar_one()
            details = conn.exec_driver_sql(
                "SELECT detail FROM audit_events WHERE tenant = 'acme' AND action = 'audit.dropped'"
            ).scalars()
            # One event per batch that carried counts: a count taken by a batch that failed, then written
            # once the table was back, and the drops counted meanwhile, are two events.
            dropped = sum(int(detail.split()[0]) for detail in details)
        assert 0 < written <= MAX_PENDING + THREADS
        assert written + dropped == accepted[0]
    finally:
        log.close()
        store.close()


def test_events_queued_while_the_database_is_unreachable_are_kept(
    tmp_path: Path, migrated_sqlite: Callable[[Path], str]
) -> None:
    """A store that cannot be reached at all raises ``StoreError`` (not a refused write): the drained batch must
    go back on the queue, as the writer's log line says ("events kept in memory"), not be dropped."""
    path = tmp_path / "not-yet" / "strongroom.db"  # its directory does not exist: every connect fails
    store = Store(f"sqlite:///{path}")
    log = AuditLog(store, lambda: KEYS, flush_interval_seconds=3600)
    try:
        for _ in range(5):
            log.submit(
                AuditEvent(
                    at=time.time(),
                    environment="dev",
                    actor="t",
                    tenant="acme",
                    action="secret.use",
                    secret_name="k",  # noqa: S106 -- a name
                )
            )
        with pytest.raises(StrongroomError):
            log.flush()
        assert log.pending == 5
        path.parent.mkdir()
        migrated_sqlite(path)  # the database is back
        log.flush()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM audit_events").scalar_one() == 5
    finally:
        log.close()
        store.close()
