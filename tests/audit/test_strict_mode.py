"""``audit_mode="strict"``: fail-closed. A value is revealed only after its event is committed; a use whose event
cannot be written is refused with ``AuditError`` and reveals nothing (docs/audit.md, "Durability")."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from strongroom import AuditError
from strongroom.crypto import LocalKeyProvider
from strongroom.store.tables import audit_events
from strongroom.vault import Vault


def _pg_read_only(url: str, on: bool) -> None:
    """``ALTER DATABASE ... SET default_transaction_read_only``, and every session of the database ended so the
    vault's pool reconnects under it."""
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


def _use_events(vault: Vault, purpose: str) -> int:
    return sum(e.action == "secret.use" and e.purpose == purpose for e in vault.audit_events())


def test_strict_commits_the_event_before_the_value_is_revealed(open_vault: Callable[..., Vault]) -> None:
    vault = open_vault(audit_mode="strict")
    vault.create_tenant("t")
    vault.put("t", "k", "value-123")
    for _ in range(2):  # cold, then hot (cached)
        with vault.use("t", "k", purpose="now") as secret:
            with vault._store.engine.connect() as conn:
                last = conn.execute(select(audit_events.c.action).order_by(audit_events.c.id.desc())).scalar()
            assert last == "secret.use"
            assert secret.reveal() == "value-123"
    assert vault.pending_audit_events == 0


def test_sync_is_the_old_name_of_strict(open_vault: Callable[..., Vault]) -> None:
    assert open_vault(audit_mode="sync").audit_mode == "strict"
    with pytest.raises(ValueError, match="'async' or 'strict'"):
        open_vault(audit_mode="loose")


def test_strict_refuses_to_reveal_when_the_store_is_read_only(
    open_vault: Callable[..., Vault],
    store_url: str,
    key_provider: LocalKeyProvider,
    make_canary: Callable[[str], str],
) -> None:
    """Acceptance 3 (strict): PostgreSQL switched to read-only, SQLite opened read-only: every use, of a cached
    value or not, raises ``AuditError`` naming the cause and holding no value; nothing of the refused uses is
    recorded; once the store takes writes again, uses are served and recorded."""
    setup = open_vault()
    setup.create_tenant("t")
    hot, cold = make_canary("hot"), make_canary("cold")
    setup.put("t", "hot", hot)
    setup.put("t", "cold", cold)
    if store_url.startswith("sqlite"):
        setup.close()
        read_only = "sqlite:///file:" + store_url.removeprefix("sqlite:///") + "?mode=ro&uri=true"
        vault = Vault.open(read_only, key_provider=key_provider, audit_mode="strict", migrate=False)
    else:
        vault = open_vault(audit_mode="strict")
    try:
        if store_url.startswith("sqlite"):
            with pytest.raises(AuditError):  # opened read-only: not even a first use is served
                vault.use("t", "hot", purpose="warm")
        else:
            with vault.use("t", "hot", purpose="warm") as secret:
                assert secret.reveal() == hot
            _pg_read_only(store_url, True)
        try:
            for name, value in (("hot", hot), ("cold", cold)):
                with pytest.raises(AuditError, match="could not be written") as refused:
                    vault.use("t", name, purpose="refused")
                assert value not in str(refused.value)
                assert refused.value.__context__ is None or value not in str(refused.value.__context__)
        finally:
            if not store_url.startswith("sqlite"):
                _pg_read_only(store_url, False)
    finally:
        vault.close()
    writable = open_vault(audit_mode="strict")
    assert _use_events(writable, "refused") == 0
    with writable.use("t", "cold", purpose="back") as secret:
        assert secret.reveal() == cold
    assert _use_events(writable, "back") == 1
    assert writable.verify_audit().ok


def test_strict_uses_commit_as_a_group(open_vault: Callable[..., Vault]) -> None:
    """Eight threads of strict uses: every use is recorded, in fewer transactions than uses (callers waiting
    together share the writer's next batch)."""
    vault = open_vault(audit_mode="strict")
    vault.create_tenant("t")
    vault.put("t", "k", "value-123")
    vault.flush_audit()
    commits = [0]
    sa_event.listen(vault._store.engine, "commit", lambda conn: commits.__setitem__(0, commits[0] + 1))
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def user() -> None:
        start.wait()
        try:
            for _ in range(25):
                with vault.use("t", "k", purpose="group") as secret:
                    secret.reveal()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=user) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    transactions = commits[0]
    assert _use_events(vault, "group") == 200
    assert transactions < 200
    assert vault.verify_audit().ok


def test_a_strict_refusal_is_not_spooled_or_retried(open_vault: Callable[..., Vault], tmp_path: Path) -> None:
    """A refused strict use leaves nothing behind: no spool file at close, no late record of it."""
    home = tmp_path / "home"
    home.mkdir()
    vault = open_vault(audit_mode="strict", home=home)
    vault.create_tenant("t")
    vault.put("t", "k", "value-123")
    with vault._store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE audit_events RENAME TO audit_events_away")
    with pytest.raises(AuditError):
        vault.use("t", "k", purpose="refused")
    with vault._store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE audit_events_away RENAME TO audit_events")
    vault.close()
    assert not (home / "audit-spool").exists()
    assert _use_events(open_vault(home=home), "refused") == 0


def test_serve_refuses_an_unknown_audit_mode(
    cli_invoke: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    """A mistyped mode is refused in one line naming the choices, before anything starts or is created."""
    home = tmp_path / "home"
    for args, env in (
        (["serve", "--audit-mode", "strcit"], {}),
        (["serve"], {"STRONGROOM_AUDIT_MODE": "sync-ish"}),
    ):
        result = cli_invoke(args, env={"STRONGROOM_HOME": str(home), **env})
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "--audit-mode must be 'async' or 'strict'" in lines[0]
        assert "Traceback" not in result.stderr
    assert not home.exists()
