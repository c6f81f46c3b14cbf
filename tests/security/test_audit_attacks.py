"""Attacks on the audit trail of issue 15, each as an attacker or a reviewer would try it.

Every test names the attack; one that held is a regression test, one that found a fault is the test its
fix made pass (or, where the fix is outside the audit modules, an ``xfail(strict=True)`` saying what it
needs).
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import stat
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from strongroom.vault import Vault


@contextmanager
def _audit_table_away(url: str) -> Iterator[None]:
    """SQLite: the audit table moved away, so every audit write fails inside the database."""
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE audit_events RENAME TO audit_events_away")
    try:
        yield
    finally:
        with sqlite3.connect(path) as db:
            db.execute("ALTER TABLE audit_events_away RENAME TO audit_events")


def _spool_dir(home: Path) -> Path:
    [found] = list((home / "audit-spool").iterdir())
    return found


def _forged_line(environment: str = "dev", tenant: str = "victim") -> str:
    event = [1.0, environment, "forger", tenant, "secret.delete", "db-password", 1, None, "ok", None, None, None, None]
    return json.dumps({"event": event}) + "\n"


# -- the spool: who may write what the next open chains ----------------------------------------------------


@pytest.mark.parametrize("seal", [None, "0" * 64])
def test_a_forged_spool_file_is_not_replayed_into_the_chain(
    open_vault: Callable[..., Vault], tmp_path: Path, caplog: pytest.LogCaptureFixture, seal: str | None
) -> None:
    """Someone who can write the home (not the audit key) drops a spool file of forged events: the next open
    must not chain them as if this vault had recorded them (verify would call them intact)."""
    home = tmp_path / "home"
    home.mkdir()
    vault = open_vault(home=home)
    vault.create_tenant("victim")
    vault.flush_audit()
    spool = home / "audit-spool"
    spool.mkdir(mode=0o700)
    # The spool directory of this environment and database, as an earlier close would have made it.
    from strongroom.vault.service import _audit_spool_dir

    target = _audit_spool_dir(home, "dev", vault._store.url)
    assert target is not None
    target.mkdir(mode=0o700)
    body = _forged_line() + ("" if seal is None else json.dumps({"seal": seal}) + "\n")
    forged = target / "1-1.jsonl"
    forged.write_text(body)
    forged.chmod(0o600)
    vault.close()

    again = open_vault(home=home)
    again.flush_audit()
    actors = {e.actor for e in again.audit_events()}
    assert "forger" not in actors
    assert "not sealed by this environment's audit key" in caplog.text or "damaged" in caplog.text
    assert again.verify_audit().ok


def test_a_spool_file_others_may_write_is_not_replayed(
    open_vault: Callable[..., Vault], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A group- or world-writable spool file (a lax umask, a shared directory) is not taken at all."""
    home = tmp_path / "home"
    home.mkdir()
    vault = open_vault(home=home)
    from strongroom.vault.service import _audit_spool_dir

    target = _audit_spool_dir(home, "dev", vault._store.url)
    assert target is not None
    target.mkdir(parents=True, mode=0o700)
    forged = target / "1-1.jsonl"
    forged.write_text(_forged_line())
    forged.chmod(0o666)
    vault.close()
    again = open_vault(home=home)
    again.flush_audit()
    assert "forger" not in {e.actor for e in again.audit_events()}
    assert forged.exists()  # left for the operator to look at
    assert "not this user's 0600 file" in caplog.text


def test_a_genuine_spool_is_sealed_and_replayed(
    open_vault: Callable[..., Vault], store_url: str, tmp_path: Path, make_canary: Callable[[str], str]
) -> None:
    """The seal does not cost the real case: what a close spooled (sealed, 0600, no value) is chained next open."""
    if not store_url.startswith("sqlite"):
        pytest.skip("tests/audit/test_durability.py spools on PostgreSQL; this checks the seal")

    home = tmp_path / "home"
    home.mkdir()
    vault = open_vault(home=home)
    vault.create_tenant("t")
    value = make_canary("spool")
    vault.put("t", "k", value)
    vault.flush_audit()
    with _audit_table_away(store_url):
        for _ in range(5):
            with vault.use("t", "k", purpose="spooled"):
                pass
        vault.close()
    [spooled] = list(_spool_dir(home).glob("*.jsonl"))
    assert stat.S_IMODE(spooled.stat().st_mode) == 0o600
    text = spooled.read_text()
    assert value not in text
    assert '"seal"' in text.splitlines()[-1]
    again = open_vault(home=home)
    again.flush_audit()
    assert sum(e.purpose == "spooled" for e in again.audit_events(tenant="t")) == 5
    assert again.verify_audit().ok


# -- stream sinks: credentials in their URL -----------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "tcp://user:hunter2secret@127.0.0.1",
        "otlp+ftp://user:hunter2secret@collector/v1/logs",
        "otlp+http://user:hunter2secret@collector:99999/v1/logs",
        "otlp+https://user:hunter2secret@collector:abc/v1/logs",
    ],
)
def test_a_bad_stream_url_is_refused_without_printing_its_password(spec: str) -> None:
    """A STRONGROOM_AUDIT_STREAM typo is refused in one line that names the sink, never its password, and is
    never an internal error (a bad port used to escape as ValueError)."""
    from strongroom.audit.stream import parse_streams
    from strongroom.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        parse_streams(spec)
    assert "hunter2secret" not in str(refused.value)
    assert "***" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_an_otlp_url_with_credentials_sends_them_as_basic_auth_and_never_logs_them(
    open_vault: Callable[..., Vault],
    start_http_server: Callable[[type[BaseHTTPRequestHandler]], int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``otlp+https://user:pass@collector/v1/logs``: urllib cannot send credentials in a URL and said so with
    the password in its error, which the sink's drop log printed. They go as HTTP Basic instead; a failing
    collector's error names no password."""
    from strongroom.audit.stream import parse_streams

    seen: list[str | None] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    port = start_http_server(Collector)
    vault = open_vault()
    (sink,) = parse_streams(f"otlp+http://shipper:hunter2secret@127.0.0.1:{port}/v1/logs")
    assert "hunter2secret" not in sink.name
    vault._audit.add_stream(sink)
    vault.create_tenant("t")
    vault.flush_audit()
    assert sink.drain(30)
    assert (sink.delivered, sink.dropped) == (1, 0)
    assert seen == ["Basic " + base64.b64encode(b"shipper:hunter2secret").decode()]

    (dead,) = parse_streams("otlp+http://shipper:hunter2secret@127.0.0.1:1/v1/logs")
    vault._audit.add_stream(dead)
    vault.create_tenant("u")
    vault.flush_audit()
    assert dead.drain(30)
    assert dead.dropped == 1
    assert "dropped 1 events" in caplog.text
    assert "hunter2secret" not in caplog.text


# -- checkpoints: lines a reader must survive --------------------------------------------------------------


@pytest.mark.parametrize("at", ["1e400", "NaN", "-Infinity", "-1", "1e20"])
def test_a_checkpoint_with_an_impossible_time_is_refused_not_a_crash(at: str) -> None:
    """``at`` that no clock gives (JSON's NaN and infinities included): refused as malformed, one line; it
    used to reach the message's ISO time and end verify with an internal error."""
    from strongroom.audit.checkpoints import MalformedCheckpoint, parse_line

    line = f'{{"at":{at},"environment":"dev","heads":{{}},"key_id":"x","signature":"","strongroom_audit_checkpoint":1}}'
    with pytest.raises(MalformedCheckpoint, match="not a checkpoint"):
        parse_line(line, "cp:1")


@pytest.mark.parametrize(
    "line",
    ["{" * 3_000_000 + " strongroom_audit_checkpoint", '{"a":' * 200_000 + "strongroom_audit_checkpoint"],
    ids=["braces", "nested"],
)
def test_a_crafted_checkpoint_line_is_refused_in_linear_time(line: str) -> None:
    """Anyone may write to syslog: a line of braces, or of deep nesting, before the marker was tried at every
    brace, each try costing the line's length (hours for 3 MB) or a RecursionError. Refused now, in a bounded
    number of tries (this test would not finish otherwise)."""
    from strongroom.audit.checkpoints import MalformedCheckpoint, parse_line

    with pytest.raises(MalformedCheckpoint, match="holds no checkpoint JSON"):
        parse_line(line, "syslog:1")


def test_a_checkpoint_after_a_syslog_prefix_holding_json_is_still_found(vault: Vault, tmp_path: Path) -> None:
    from strongroom.audit.checkpoints import FileSink, read_checkpoints

    vault.create_tenant("t")
    path = tmp_path / "cp.jsonl"
    vault.checkpoint_audit([FileSink(path)])
    syslog = tmp_path / "auth.log"
    syslog.write_text(f'Dec  3 host strongroom[1]: {{"x": 1}} {{"y": [2]}} {path.read_text()}')
    assert vault.verify_audit_checkpoints(read_checkpoints(str(syslog))).ok


def test_an_unwritable_checkpoint_file_is_a_one_line_refusal(vault: Vault, tmp_path: Path) -> None:
    """``audit checkpoint --to file:PATH`` where PATH cannot be written: an error naming the file and the fix
    (it was an internal FileNotFoundError)."""
    from strongroom.audit.checkpoints import sinks_from_spec
    from strongroom.errors import InvalidInput

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(InvalidInput, match="cannot write it"):
        vault.checkpoint_audit(sinks_from_spec(f"file:{blocker}/cp.jsonl"))


# -- tampering: a database writer resets the audit key ------------------------------------------------------


def _launder(path: str) -> None:
    """As a database writer without the key: delete the ``_audit`` tenant (its data key goes with it), then
    rewrite every event as if written before schema 0008 (unkeyed SHA-256, no context), the victim's secret
    read now blamed on someone else, links and heads recomputed. The next open makes a fresh audit key and
    re-links 'old' chains under it."""
    from strongroom.audit.chain import GENESIS, LEGACY_FIELDS, legacy_hash

    with sqlite3.connect(path) as db:
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("DELETE FROM data_keys WHERE tenant_id IN (SELECT id FROM tenants WHERE name = '_audit')")
        db.execute("DELETE FROM tenants WHERE name = '_audit'")
        db.execute("UPDATE audit_events SET actor = 'someone-else', context = NULL WHERE action = 'secret.use'")
        columns = ", ".join(f'"{c}"' for c in LEGACY_FIELDS if c != "prev_hash")
        for (chain,) in db.execute("SELECT chain FROM audit_chains").fetchall():
            prev = GENESIS
            rows = db.execute(f"SELECT id, {columns} FROM audit_events WHERE chain = ? ORDER BY seq", (chain,))
            for row in rows.fetchall():
                digest = legacy_hash([*row[1:], prev])
                db.execute("UPDATE audit_events SET prev_hash = ?, hash = ? WHERE id = ?", (prev, digest, row[0]))
                prev = digest
            db.execute("UPDATE audit_chains SET head_hash = ? WHERE chain = ?", (prev, chain))


def test_resetting_the_audit_key_to_launder_a_rewritten_log_is_caught_by_checkpoints(
    open_vault: Callable[..., Vault], store_url: str, tmp_path: Path
) -> None:
    """Held, by the checkpoints only: the new key's checkpoints are not the old key's, so verify --checkpoints
    refuses every one written before the reset. Plain ``audit verify`` cannot see it (next test)."""
    if not store_url.startswith("sqlite"):
        pytest.skip("the rewrite is done with sqlite3; the attack does not depend on the backend")
    from strongroom.audit.checkpoints import FileSink, read_checkpoints

    vault = open_vault()
    vault.create_tenant("victim")
    vault.put("victim", "db", "v-1")
    with vault.use("victim", "db", purpose="read by the culprit"):
        pass
    cp = tmp_path / "cp.jsonl"
    vault.checkpoint_audit([FileSink(cp)])
    vault.close()
    _launder(store_url.removeprefix("sqlite:///"))
    again = open_vault()
    assert {e.actor for e in again.audit_events() if e.action == "secret.use"} == {"someone-else"}
    report = again.verify_audit_checkpoints(read_checkpoints(str(cp)))
    assert not report.ok
    assert report.divergence is not None
    assert "not signed by this environment's audit key" in report.divergence.reason


def test_resetting_the_audit_key_is_named_by_plain_verify(
    open_vault: Callable[..., Vault], store_url: str, tmp_path: Path
) -> None:
    """A database writer can make a reset look like the upgrade to schema 0008 (nothing in the database tells
    them apart: the checkpoints do, above). Plain verify still names every time the key was made over events
    already there, with when and what it re-linked, so a reset long after the upgrade is in plain sight."""
    if not store_url.startswith("sqlite"):
        pytest.skip("the rewrite is done with sqlite3; the attack does not depend on the backend")
    vault = open_vault()
    vault.create_tenant("victim")
    vault.put("victim", "db", "v-1")
    with vault.use("victim", "db", purpose="read by the culprit"):
        pass
    assert vault.verify_audit().keyed_over == ()  # a log keyed from its first event: nothing to name
    vault.close()
    _launder(store_url.removeprefix("sqlite:///"))
    report = open_vault().verify_audit()
    assert report.ok
    [(_, detail)] = report.keyed_over
    assert detail.startswith("3 events")  # tenant.create, secret.put, secret.use: re-linked under the new key


# -- files: an export or chart over an existing, readable file ----------------------------------------------


@pytest.mark.parametrize("command", [("export", "--format", "jsonl", "-o"), ("report", "--tenant", "acme", "--chart")])
def test_an_export_or_chart_over_an_existing_world_readable_file_is_made_0600(
    cli_invoke: Callable[..., Any], tmp_path: Path, command: tuple[str, ...]
) -> None:
    """``-o``/``--chart`` onto a file that already exists with 0644: O_CREAT's mode applies only to new files,
    so the export (names, actors, purposes, contexts) stayed readable to every local user."""
    if command[0] == "report":
        pytest.importorskip("PIL")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(STRONGROOM_HOME=str(tmp_path / "home"), STRONGROOM_ACTOR="test:cli", NO_COLOR="1")
    for args in (("init",), ("tenant", "create", "acme")):
        assert cli_invoke(args, env=env, cwd=tmp_path, stdin=b"").returncode == 0
    target = tmp_path / "out"
    target.write_text("old")
    target.chmod(0o644)
    result = cli_invoke(("audit", *command, str(target)), env=env, cwd=tmp_path, stdin=b"")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


# -- cross-tenant: GET /v1/audit ----------------------------------------------------------------------------


def test_a_tenant_key_never_reads_another_tenants_events_or_contexts(service: Any) -> None:
    """Held: tenant A's key and token, naming B or nobody, never get an event of B's, nor the agent run B's
    caller put in its context."""
    s = service
    marker, run = f"b-only-{uuid.uuid4().hex}", f"b-run-{uuid.uuid4().hex}"
    put = s.client.put(
        f"/v1/tenants/{s.b.name}/secrets/b_secret",
        json={"value": uuid.uuid4().hex},
        headers={**s.auth(s.b.key), "X-Request-Id": marker, "X-Strongroom-Agent-Run": run},
    )
    assert put.status_code == 200, put.text
    s.vault.flush_audit()
    assert marker in s.client.get("/v1/audit", params={"limit": 1000}, headers=s.auth(s.b.key)).text
    for credential in (s.a.key, s.a.token):
        for params in ({}, {"tenant": s.b.name}, {"tenant": "-"}, {"actor": "*"}):
            answer = s.client.get("/v1/audit", params={"limit": 1000, **params}, headers=s.auth(credential))
            assert marker not in answer.text
            assert run not in answer.text
            if "tenant" in params:
                assert answer.status_code in (403, 404, 422), answer.text


# -- bad input to the audit commands ------------------------------------------------------------------------


def test_an_unknown_tenant_is_an_error_and_a_deleted_ones_history_is_in_the_full_export(
    cli_invoke: Callable[..., Any], tmp_path: Path
) -> None:
    """``audit export/report --tenant typo`` printed an empty export or "0 accesses", exit 0: a misspelling
    read as "nothing happened". Now a one-line error naming the fix; a deleted tenant's events (kept by id,
    which its name no longer addresses) are in the export without --tenant."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(STRONGROOM_HOME=str(tmp_path / "home"), STRONGROOM_ACTOR="test:cli", NO_COLOR="1", COLUMNS="200")

    def run(*args: str) -> Any:
        return cli_invoke(args, env=env, cwd=tmp_path, stdin=b"")

    for args in (("init",), ("tenant", "create", "acme"), ("tenant", "create", "gone")):
        assert run(*args).returncode == 0
    assert run("tenant", "delete", "gone", "--yes").returncode == 0
    for command in (("export", "--format", "jsonl"), ("report",)):
        for name in ("acmee", "gone"):
            refused = run("audit", *command, "--tenant", name)
            assert refused.returncode != 0
            assert "Traceback" not in refused.stderr
            assert f"no tenant {name!r}" in refused.stderr
            assert "strongroom tenant list" in refused.stderr
    everything = run("audit", "export", "--format", "jsonl")
    assert everything.returncode == 0, everything.stderr
    assert '"tenant":"gone"' in everything.stdout
    assert run("audit", "report", "--tenant", "acme").returncode == 0


def test_checkpoints_of_another_environment_prove_nothing(vault: Vault, tmp_path: Path) -> None:
    """Held: a source holding only another environment's checkpoints (or one relabelled: its signature no
    longer holds) does not pass verify."""
    from strongroom.audit.checkpoints import FileSink, read_checkpoints

    vault.create_tenant("t")
    path = tmp_path / "cp.jsonl"
    vault.checkpoint_audit([FileSink(path)])
    line = path.read_text()
    other = tmp_path / "prod.jsonl"
    other.write_text(line.replace('"environment":"dev"', '"environment":"prod"'))
    report = vault.verify_audit_checkpoints(read_checkpoints(str(other)))
    assert not report.ok
    assert report.other_environments == 1
    assert report.divergence is not None
    assert "check STRONGROOM_ENV" in report.divergence.reason
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(other.read_text() + line.replace('"environment":"dev"', '"environment":"dev","x":1'))
    assert vault.verify_audit_checkpoints(read_checkpoints(str(mixed))).ok  # an extra field is not signed: ignored
