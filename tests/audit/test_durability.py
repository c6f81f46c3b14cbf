"""The async audit queue: bounded, never stalls a caller on the backlog, counts what it must drop, and loses at
most its documented window (``max_pending`` events) when the process is killed (docs/audit.md, "Durability")."""

from __future__ import annotations

import json
import mmap
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import text

from strongroom.audit import AuditLog
from strongroom.audit.keys import derive_audit_keys
from strongroom.audit.sinks import use_event
from strongroom.store import Store
from strongroom.store.migrate import upgrade
from strongroom.vault import Vault

KEYS = derive_audit_keys(os.urandom(32))
TENANT_ID = "0" * 32


def _uses(store: Store, actor: str = "a") -> int:
    sql = text("SELECT count(*) FROM audit_events WHERE action = 'secret.use' AND actor = :actor")
    with store.engine.connect() as conn:
        return int(conn.execute(sql, {"actor": actor}).scalar_one())


def _rename(store: Store, old: str, new: str) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")


@contextmanager
def _unwritable(url: str) -> Iterator[None]:
    """The store refuses every write while inside: PostgreSQL made read-only (``default_transaction_read_only``,
    every session of the database ended so the pool reconnects read-only); SQLite has no read-only switch a
    root-run test can flip back, so its audit table is moved away (the write fails inside the database)."""
    if url.startswith("sqlite"):
        store = Store(url)
        _rename(store, "audit_events", "audit_events_away")
        try:
            yield
        finally:
            _rename(store, "audit_events_away", "audit_events")
            store.close()
        return
    _pg_read_only(url, True)
    try:
        yield
    finally:
        _pg_read_only(url, False)


def _pg_read_only(url: str, on: bool) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    admin = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = {"on" if on else "off"}')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )


def test_a_caller_at_the_bound_waits_for_the_writer_and_never_writes_itself(tmp_path: Path) -> None:
    """Ten times the bound submitted from one thread: the queue never holds more than ``max_pending``, every
    event is written, and none of it by the submitting thread (it waited for the writer's batches)."""
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    upgrade(store)
    log = AuditLog(store, lambda: KEYS, max_pending=500, max_batch=100, flush_interval_seconds=3600)
    caller = threading.get_ident()
    on_caller: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if threading.get_ident() == caller:
            on_caller.append(statement)

    sa_event.listen(store.engine, "before_cursor_execute", seen)
    peak = 0
    try:
        for i in range(5_000):
            log.submit(use_event(float(i), ("dev", "t", "k", 1, TENANT_ID), "a", "p", None))
            peak = max(peak, log.pending)
    finally:
        sa_event.remove(store.engine, "before_cursor_execute", seen)
    assert on_caller == []
    assert peak <= 500
    assert log.high_water <= 500
    log.close()
    assert _uses(store) == 5_000
    store.close()


def test_a_hung_writer_makes_callers_at_the_bound_drop_not_wait_forever(tmp_path: Path) -> None:
    """The database hangs (another connection holds SQLite's write lock, so the writer's write blocks): a caller
    at the bound waits ``max_wait_seconds`` once, then it and the callers after it drop and count their events
    instead of waiting; once the lock is released every event is written or counted."""
    path = tmp_path / "a.db"
    store = Store(f"sqlite:///{path}")
    upgrade(store)
    log = AuditLog(store, lambda: KEYS, max_pending=50, max_batch=10, max_wait_seconds=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the writer's BEGIN IMMEDIATE now waits for the busy timeout
    try:
        for i in range(200):
            log.submit(use_event(float(i), ("dev", "t", "k", 1, TENANT_ID), "a", "p", None))
            assert log.pending <= 50
        assert log.dropped_total >= 150
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    log.flush()
    with store.engine.connect() as conn:
        details = conn.exec_driver_sql("SELECT detail FROM audit_events WHERE action = 'audit.dropped'").scalars()
        dropped = sum(int(detail.split()[0]) for detail in details)
    assert _uses(store) + dropped == 200
    log.close()
    store.close()


@pytest.mark.slow
def test_default_mode_serves_drops_past_the_bound_and_records_the_count_once_back(
    open_vault: Callable[..., Vault], store_url: str, make_canary: Callable[[str], str]
) -> None:
    """Acceptance 3 (default mode): with the store unwritable, uses are still served; past the bound their events
    are dropped, counted, and the queue stays bounded; once the store is back an ``audit.dropped`` event per chain
    says how many and when, and every use is either written or counted."""
    vault = open_vault()
    tenant = vault.create_tenant("t")
    value = make_canary("durable")
    vault.put("t", "k", value)
    with vault.use("t", "k", purpose="warm"):
        pass
    vault.flush_audit()
    served = 30_000  # the bound is 20,000
    started = time.time()
    with _unwritable(store_url):
        peak = 0
        for _ in range(served):
            with vault.use("t", "k", purpose="while-down") as secret:
                assert secret.reveal() == value
            peak = max(peak, vault.pending_audit_events)
        assert peak <= 20_000
    vault.flush_audit()  # the store is back
    events = vault.audit_events(tenant="t")
    written = sum(e.purpose == "while-down" for e in events)
    # One event per batch that carried counts (a count taken by a failing batch and the drops counted meanwhile
    # may land in two): together they account for every use not written.
    drops = [e for e in events if e.action == "audit.dropped"]
    assert drops
    assert {(e.tenant_id, e.actor, e.outcome) for e in drops} == {(tenant.id, "strongroom", "ok")}
    count = sum(int((e.detail or "").split()[0]) for e in drops)
    assert written + count == served
    assert count >= served - 20_000
    for dropped in drops:
        assert dropped.detail is not None
        assert started <= dropped.at <= time.time()
        assert "events dropped from 20" in dropped.detail  # the window, in UTC
        assert value not in dropped.detail
    assert vault.verify_audit().ok


@pytest.mark.slow
def test_at_close_an_unwritable_store_spools_events_and_counts_for_the_next_open(
    open_vault: Callable[..., Vault], store_url: str, tmp_path: Path, make_canary: Callable[[str], str]
) -> None:
    """Closed while the store refuses writes: the queued events and the drop count go to a 0600 file under the
    vault's home, holding no value; the next open writes them and the count."""
    home = tmp_path / "home"
    home.mkdir()
    vault = open_vault(home=home)
    vault.create_tenant("t")
    value = make_canary("spool")
    vault.put("t", "k", value)
    vault.flush_audit()
    with _unwritable(store_url):
        for _ in range(25_000):
            with vault.use("t", "k", purpose="spooled"):
                pass
        vault.close()
    [spooled] = list((home / "audit-spool").glob("*/*.jsonl"))
    assert stat.S_IMODE(spooled.stat().st_mode) == 0o600
    assert stat.S_IMODE(spooled.parent.stat().st_mode) == 0o700
    spool = spooled.read_text()
    assert value not in spool
    lines = [json.loads(line) for line in spool.splitlines()]
    queued = sum("event" in line for line in lines)
    assert 0 < queued <= 20_000
    [drop_line] = [line["dropped"] for line in lines if "dropped" in line]
    assert queued + drop_line[2] == 25_000

    again = open_vault(home=home)
    assert not list((home / "audit-spool").glob("*/*.jsonl"))  # claimed
    events = again.audit_events(tenant="t")
    count = sum(int((e.detail or "").split()[0]) for e in events if e.action == "audit.dropped")
    assert sum(e.purpose == "spooled" for e in events) + count == 25_000
    assert again.verify_audit().ok


def test_no_spool_is_made_in_a_home_that_does_not_exist(
    open_vault: Callable[..., Vault], store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The spool lives in the vault's home and never creates it: without one, close says what was lost."""
    home = tmp_path / "nowhere"
    vault = open_vault(home=home)
    vault.create_tenant("t")
    vault.put("t", "k", "value-123")
    vault.flush_audit()
    with _unwritable(store_url):
        for _ in range(3):
            with vault.use("t", "k", purpose="lost"):
                pass
        vault.close()
    assert not home.exists()
    assert "3 queued events and 0 dropped lost" in caplog.text


def test_a_damaged_spool_file_is_set_aside_not_replayed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A spool file that does not parse fails nothing: it is left, renamed, and the log names it."""
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    upgrade(store)
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "1-2.jsonl").write_text('{"event": [1.0, "dev"]}\n{"dropped": ["t", null, "x", 1, 2, "dev"]}\n')
    log = AuditLog(store, lambda: KEYS, spool_dir=spool)
    try:
        assert log.pending == 0
        assert [p.name for p in spool.iterdir()] == [f"1-2.replaying-{os.getpid()}"]
        assert "1-2.jsonl is damaged" in caplog.text
    finally:
        log.close()
        store.close()


CHILD = textwrap.dedent(
    """
    import mmap, struct, sys
    from strongroom.vault import Vault

    url, home, counter = sys.argv[1:4]
    vault = Vault.open(url, home=home, actor="loader")
    with open(counter, "r+b") as f:
        served = mmap.mmap(f.fileno(), 8)
    pack = struct.Struct("<q").pack_into
    n = 0
    while True:
        with vault.use("t", "k", purpose="load") as secret:
            n += 1
            pack(served, 0, n)  # a store to shared memory, still there after SIGKILL, before the value is seen
            secret.reveal()
        if n % 10_000 == 0:
            print(n, flush=True)
    """
)


@pytest.mark.slow
def test_sigkill_under_full_load_loses_at_most_the_documented_window(
    open_vault: Callable[..., Vault], store_url: str, tmp_path: Path
) -> None:
    """A real process doing audited uses as fast as it can is killed with SIGKILL once it reports 30,000 served
    (an event, not a timer): the events lost are at most ``max_pending`` (20,000), and the chain still verifies."""
    vault = open_vault(home=tmp_path)
    vault.create_tenant("t")
    vault.put("t", "k", "load-value-0123456789")
    vault.flush_audit()
    counter = tmp_path / "served"
    counter.write_bytes(bytes(8))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, store_url, str(tmp_path), str(counter)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if int(line) >= 30_000:
                break
        else:
            pytest.fail(f"the load process ended before 30,000 uses (exit {child.wait()})")
        child.send_signal(signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    with counter.open("rb") as f, mmap.mmap(f.fileno(), 8, access=mmap.ACCESS_READ) as shared:
        served = int.from_bytes(shared[:8], "little")  # every value revealed was counted first
    written = _uses(vault._store, actor="loader")
    assert served >= 30_000
    assert served - written <= 20_000, f"{served - written} events lost (window: 20,000)"
    assert vault.verify_audit().ok
