"""The ``strongroom`` command against a throwaway ``$STRONGROOM_HOME``: in-process through its real ``main()``
(``invoke_cli``, with exactly the environment a subprocess would get), and as a real process for the smoke test
of what only a process proves (the installed entry point, exit codes, stdin).

Every secret value here is a canary: the ``Cli`` runner keeps every stdout and stderr it captured and
each test checks that no canary was ever printed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from strongroom.crypto import LocalKeyProvider
from strongroom.store import engines
from strongroom.store.tables import SCHEMA_REVISION
from strongroom.vault import Vault

MAX_VALUE_BYTES = 64 * 1024
SECRET_FIELDS = {
    "tenant",
    "name",
    "kind",
    "sensitivity",
    "description",
    "version",
    "created_at",
    "updated_at",
    "deleted_at",
    "expires_at",
}
VERSION_FIELDS = {"version", "current", "created_at", "created_by", "expires_at", "stage", "stage_until"}
AUDIT_FIELDS = {
    "id",
    "chain",
    "seq",
    "at",
    "environment",
    "actor",
    "tenant",
    "action",
    "secret_name",
    "version",
    "purpose",
    "outcome",
    "request_id",
    "detail",
    "prev_hash",
    "hash",
}


Invoke = Callable[..., subprocess.CompletedProcess[str]]


class Cli:
    """Runs ``strongroom`` (in-process, or ``python -m strongroom.cli.main`` with ``real_process``) with a clean
    environment and remembers every output."""

    def __init__(self, home: Path, cwd: Path, invoke: Invoke, url: str | None = None) -> None:
        self.invoke = invoke
        self.real_process = False
        self.home = home
        self.cwd = cwd
        self.url = url
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        self.env.update(STRONGROOM_HOME=str(home), STRONGROOM_ACTOR="test:cli", NO_COLOR="1", COLUMNS="250")
        self.env.pop("FORCE_COLOR", None)
        if url is not None:
            self.env["STRONGROOM_URL"] = url
        self.transcript: list[str] = []

    @property
    def key_file(self) -> Path:
        return self.home / "keys" / "dev.json"

    @property
    def store_url(self) -> str:
        return self.url or f"sqlite:///{self.home / 'strongroom.db'}"

    def run(
        self,
        *args: str,
        stdin: str | bytes = b"",
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        if not self.real_process:
            result = self.invoke(args, env={**self.env, **(env or {})}, cwd=self.cwd, stdin=data)
            self.transcript += [result.stdout, result.stderr]
            return result
        proc = subprocess.run(
            [sys.executable, "-m", "strongroom.cli.main", *args],
            input=data,
            capture_output=True,
            env={**self.env, **(env or {})},
            cwd=self.cwd,
            timeout=120,
            check=False,
        )
        result = subprocess.CompletedProcess(
            proc.args, proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
        )
        self.transcript += [result.stdout, result.stderr]
        return result

    def ok(self, *args: str, stdin: str | bytes = b"") -> subprocess.CompletedProcess[str]:
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, f"{args} exited {result.returncode}: {result.stderr}"
        assert "Traceback" not in result.stderr
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def assert_never_printed(self, *values: str) -> None:
        for value in values:
            for output in self.transcript:
                assert value not in output, "a secret value was printed"

    def open_vault(self) -> Vault:
        return Vault.open(
            self.store_url, key_provider=LocalKeyProvider.from_file(self.key_file), migrate=False, actor="test:reader"
        )

    def reveal(self, tenant: str, name: str) -> str | bytes:
        with self.open_vault() as vault, vault.use(tenant, name, purpose="test check") as secret:
            value: str | bytes = secret.reveal()
            return value


def assert_refused(result: subprocess.CompletedProcess[str], *phrases: str, code: int | None = None) -> None:
    """A clean refusal: non-zero exit, each phrase on stderr, no traceback, not an unexpected internal error."""
    assert result.returncode != 0, result.stdout
    if code is not None:
        assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "internal error" not in result.stderr
    for phrase in phrases:
        assert phrase in result.stderr


@pytest.fixture
def backend(store_url: str, tmp_path: Path, cli_invoke: Invoke) -> Cli:
    """An initialised runner whose database is ``store_url`` (SQLite file or PostgreSQL), with tenant ``acme``."""
    runner = Cli(tmp_path / "home", tmp_path, cli_invoke, url=store_url)
    runner.ok("init")
    runner.ok("tenant", "create", "acme")
    return runner


# -- init ---------------------------------------------------------------------------------------------


def test_init_creates_home_key_file_and_database(cli: Cli) -> None:
    """init creates a private home, a 0600 key file and a SQLite database at the current schema revision."""
    result = cli.ok("init")
    assert "initialised dev" in result.stdout
    assert stat.S_IMODE(cli.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.home.stat().st_mode) & 0o077 == 0
    LocalKeyProvider.from_file(cli.key_file)  # a valid key file
    database = cli.home / "strongroom.db"
    assert database.is_file()
    with sqlite3.connect(database) as conn:
        revision = conn.execute("select value from strongroom_meta where key='schema_revision'").fetchone()
    assert revision == (SCHEMA_REVISION,)


def test_second_init_refuses_and_keeps_the_key(cli: Cli) -> None:
    """A second init exits non-zero and leaves the key file byte-for-byte unchanged."""
    cli.ok("init")
    before = cli.key_file.read_bytes()
    result = cli.run("init")
    assert_refused(result, "already exists", str(cli.key_file))
    assert cli.key_file.read_bytes() == before
    assert stat.S_IMODE(cli.key_file.stat().st_mode) == 0o600


def test_commands_before_init_say_to_run_init(cli: Cli) -> None:
    """Using the CLI before init fails cleanly and tells the user to run `strongroom init`."""
    assert_refused(cli.run("tenant", "list"), "strongroom init", code=1)


# -- tenants ------------------------------------------------------------------------------------------


def test_tenant_create_list_delete(backend: Cli) -> None:
    """tenant create/list/delete: duplicates refused, delete without --yes refused off a TTY, --yes deletes."""
    created = backend.json("tenant", "create", "globex")
    assert created["name"] == "globex"
    assert created["environment"] == "dev"
    assert_refused(backend.run("tenant", "create", "globex"), "already exists", code=1)
    assert [t["name"] for t in backend.json("tenant", "list")] == ["acme", "globex"]
    assert "globex" in backend.ok("tenant", "list").stdout

    refused = backend.run("tenant", "delete", "globex")
    assert_refused(refused, "--yes")
    assert [t["name"] for t in backend.json("tenant", "list")] == ["acme", "globex"]

    assert "deleted tenant globex" in backend.ok("tenant", "delete", "globex", "--yes").stdout
    assert [t["name"] for t in backend.json("tenant", "list")] == ["acme"]
    assert_refused(backend.run("tenant", "delete", "globex", "--yes"), "globex", "not found", code=1)


def test_deleted_tenant_secrets_are_gone(backend: Cli, make_canary: Callable[[str], str]) -> None:
    """After tenant delete --yes the tenant's secrets can no longer be listed or read."""
    value = make_canary("tenant-delete")
    backend.ok("secret", "put", "acme", "db", stdin=value)
    backend.ok("tenant", "delete", "acme", "--yes")
    assert_refused(backend.run("secret", "list", "acme"), "tenant 'acme' not found", code=1)
    backend.assert_never_printed(value)


# -- admin keys ---------------------------------------------------------------------------------------


def test_admin_key_create_list_revoke(ready: Cli) -> None:
    """create prints the key once (stdout, nothing else there); list shows metadata only; revoke takes the id
    with or without srk_; the last live one is refused; unknown and malformed ids are refused cleanly."""
    assert ready.json("admin-key", "list") == []
    made = json.loads(ready.ok("admin-key", "create", "--name", "ops", "--json").stdout)
    assert made["scopes"] == ["admin"]
    assert made["tenant"] is None
    plain = ready.ok("admin-key", "create", "--ttl", "3600")
    second = plain.stdout.strip()
    assert second.startswith("srk_")
    assert second not in plain.stderr
    listed = ready.json("admin-key", "list")
    assert [k["name"] for k in listed] == ["ops", "admin"]
    assert listed[1]["expires_at"] is not None
    ready.ok("admin-key", "revoke", made["prefix"])
    assert_refused(ready.run("admin-key", "revoke", listed[1]["id"]), "last admin key", "create another", code=1)
    ready.ok("admin-key", "revoke", made["id"])  # again: no change, no error
    assert_refused(ready.run("admin-key", "revoke", "zzzzzzzz"), "not found", code=1)
    assert_refused(ready.run("admin-key", "revoke", "not-an-id"), "8 letters and digits", code=2)
    assert made["key"] not in json.dumps(listed)
    assert second not in json.dumps(listed)


# -- secret put ---------------------------------------------------------------------------------------


def test_put_reads_stdin_and_strips_one_trailing_newline(backend: Cli, make_canary: Callable[[str], str]) -> None:
    """secret put reads the value from stdin and strips the trailing newline (kept with --keep-newline)."""
    value = make_canary("stdin")
    result = backend.ok("secret", "put", "acme", "db", stdin=value + "\n")
    assert "stored acme/db version 1" in result.stdout
    assert backend.reveal("acme", "db") == value

    backend.ok("secret", "put", "acme", "db", stdin=value + "\r\n")
    assert backend.reveal("acme", "db") == value
    backend.ok("secret", "put", "acme", "db", "--keep-newline", stdin=value + "\n")
    assert backend.reveal("acme", "db") == value + "\n"
    assert [v["version"] for v in backend.json("secret", "versions", "acme", "db")] == [1, 2, 3]
    backend.assert_never_printed(value)


def test_put_reads_from_file(backend: Cli, tmp_path: Path, make_canary: Callable[[str], str]) -> None:
    """secret put --from-file stores the file's content without its trailing newline; binary stays bytes."""
    value = make_canary("file")
    text_file = tmp_path / "value.txt"
    text_file.write_text(value + "\n")
    backend.ok("secret", "put", "acme", "api", "--from-file", str(text_file))
    assert backend.reveal("acme", "api") == value

    binary = b"\xff\x00\xfe" + value.encode()
    bin_file = tmp_path / "value.bin"
    bin_file.write_bytes(binary)
    backend.ok("secret", "put", "acme", "blob", "--from-file", str(bin_file))
    assert backend.reveal("acme", "blob") == binary
    backend.assert_never_printed(value)


def test_put_refuses_a_value_on_the_command_line(backend: Cli, make_canary: Callable[[str], str]) -> None:
    """A value passed as an extra positional argument is refused with exit 2, never echoed, never stored."""
    value = make_canary("argv")
    result = backend.run("secret", "put", "acme", "db", value, stdin=make_canary("stdin"))
    assert_refused(result, "command line", code=2)
    assert value not in result.stdout + result.stderr
    assert backend.json("secret", "list", "acme", "--all") == []
    backend.assert_never_printed(value)


def test_put_json_output_has_metadata_only(backend: Cli, make_canary: Callable[[str], str]) -> None:
    """secret put --json prints the new version's metadata and not the value."""
    value = make_canary("put-json")
    info = json.loads(
        backend.ok("secret", "put", "acme", "db", "--json", "--description", "primary db", stdin=value).stdout
    )
    assert set(info) >= SECRET_FIELDS
    assert (info["name"], info["version"], info["description"]) == ("db", 1, "primary db")
    backend.assert_never_printed(value)


def test_put_and_change_where_a_secret_may_be_sent(ready: Cli, make_canary: Callable[[str], str]) -> None:
    """secret put --destination sets the policy, a new version keeps it, secret destinations changes it."""
    value = make_canary("destinations")
    put = ready.ok(
        "secret", "put", "acme", "db", "--json", "--destination", "https://API.x.example=bearer,basic", stdin=value
    )
    info = json.loads(put.stdout)
    assert info["destinations"] == [{"origin": "https://api.x.example", "placements": ["basic", "bearer"]}]
    again = json.loads(ready.ok("secret", "put", "acme", "db", "--json", stdin=value).stdout)
    assert again["destinations"] == info["destinations"]
    changed = ready.json("secret", "destinations", "acme", "db", "--destination", "https://x.example:8443=query:key")
    assert changed["version"] == 2
    assert changed["destinations"] == [{"origin": "https://x.example:8443", "placements": ["query:key"]}]
    assert ready.json("secret", "destinations", "acme", "db", "--none")["destinations"] is None
    refused = ready.run("secret", "put", "acme", "db", "--destination", "https://x.example/v1=bearer", stdin=value)
    assert refused.returncode != 0
    assert "no path" in refused.stdout + refused.stderr
    ready.assert_never_printed(value)


def test_database_never_holds_the_plaintext(ready: Cli, make_canary: Callable[[str], str]) -> None:
    """The SQLite files (database and WAL) hold only ciphertext, never the value put."""
    value = make_canary("at-rest")
    ready.ok("secret", "put", "acme", "db", stdin=value)
    for path in ready.home.glob("strongroom.db*"):
        assert value.encode() not in path.read_bytes()


# -- secret list / versions / delete ------------------------------------------------------------------


def test_list_and_versions_json_hold_metadata_not_values(backend: Cli, make_canary: Callable[[str], str]) -> None:
    """secret list/versions --json parse as JSON, carry metadata and never the value."""
    first, second = make_canary("v1"), make_canary("v2")
    backend.ok("secret", "put", "acme", "db", "--sensitivity", "critical", stdin=first)
    backend.ok("secret", "put", "acme", "db", stdin=second)
    backend.ok("secret", "put", "acme", "api", "--kind", "platform", stdin=first)

    listed = backend.json("secret", "list", "acme")
    assert [s["name"] for s in listed] == ["api", "db"]
    for item in listed:
        assert set(item) >= SECRET_FIELDS
        assert not any("value" in key or "cipher" in key for key in item)
    by_name = {s["name"]: s for s in listed}
    assert (by_name["db"]["version"], by_name["db"]["sensitivity"]) == (2, "critical")
    assert by_name["api"]["kind"] == "platform"

    versions = backend.json("secret", "versions", "acme", "db")
    assert [(v["version"], v["current"]) for v in versions] == [(1, False), (2, True)]
    for item in versions:
        assert set(item) >= VERSION_FIELDS
        assert item["created_by"] == "test:cli"
    backend.assert_never_printed(first, second)


def test_secret_delete_and_purge(backend: Cli, make_canary: Callable[[str], str]) -> None:
    """secret delete hides a secret but keeps its versions; --purge removes it and every version."""
    value = make_canary("delete")
    backend.ok("secret", "put", "acme", "db", stdin=value)
    backend.ok("secret", "put", "acme", "db", stdin=value)

    assert "deleted acme/db" in backend.ok("secret", "delete", "acme", "db").stdout
    assert backend.json("secret", "list", "acme") == []
    [hidden] = backend.json("secret", "list", "acme", "--all")
    assert hidden["name"] == "db"
    assert hidden["deleted_at"] is not None
    assert len(backend.json("secret", "versions", "acme", "db")) == 2
    assert_refused(backend.run("secret", "delete", "acme", "db"), "'db' not found", code=1)

    assert "purged acme/db" in backend.ok("secret", "delete", "acme", "db", "--purge").stdout
    assert backend.json("secret", "list", "acme", "--all") == []
    assert_refused(backend.run("secret", "versions", "acme", "db"), "'db' not found", code=1)
    assert_refused(backend.run("secret", "delete", "acme", "db", "--purge"), "'db' not found", code=1)
    backend.assert_never_printed(value)


@pytest.mark.parametrize(
    "command",
    [
        ("tenant", "list"),
        ("secret", "list", "acme"),
        ("secret", "versions", "acme", "db"),
        ("audit", "tail"),
        ("audit", "verify"),
        ("audit", "head"),
    ],
    ids=" ".join,
)
def test_every_listing_command_supports_json(
    ready: Cli, make_canary: Callable[[str], str], command: tuple[str, ...]
) -> None:
    """Each listing command accepts --json and prints parseable JSON without the value."""
    value = make_canary("listing")
    ready.ok("secret", "put", "acme", "db", stdin=value)
    data = ready.json(*command)
    assert isinstance(data, list | dict)
    assert data
    ready.assert_never_printed(value)


def test_db_upgrade_creates_and_keeps_the_schema(store_url: str, tmp_path: Path, cli_invoke: Invoke) -> None:
    """db upgrade creates the schema in an empty $STRONGROOM_URL and is a no-op when run again."""
    runner = Cli(tmp_path / "home", tmp_path, cli_invoke, url=store_url)
    for _ in range(2):
        assert f"database at schema {SCHEMA_REVISION}" in runner.ok("db", "upgrade").stdout
    assert not runner.key_file.exists()


def test_db_upgrade_refuses_a_foreign_database(cli: Cli, tmp_path: Path) -> None:
    """db upgrade on a database with other tables exits 1 saying it is not a strongroom database."""
    path = tmp_path / "crm.db"
    url = foreign_database(path)
    assert_refused(cli.run("db", "upgrade", env={"STRONGROOM_URL": url}), "not a strongroom database", code=1)
    assert sqlite_tables(path) == {"customers"}


# -- audit ----------------------------------------------------------------------------------------------


def test_audit_verify_on_a_fresh_log(cli: Cli) -> None:
    """audit verify exits 0 on a fresh log and prints the event count."""
    cli.ok("init")
    result = cli.ok("audit", "verify")
    assert "intact" in result.stdout
    assert "0 events" in result.stdout


def test_audit_verify_counts_events(backend: Cli, make_canary: Callable[[str], str]) -> None:
    """audit verify reports every event written (tenant create and each put) as intact."""
    for _ in range(3):
        backend.ok("secret", "put", "acme", "db", stdin=make_canary("count"))
    assert "4 events in 1 chains" in backend.ok("audit", "verify").stdout
    report = backend.json("audit", "verify")
    assert (report["ok"], report["events"], report["chains"], report["broken"]) == (True, 4, 1, None)


def test_audit_tail_json_has_events_but_no_values(backend: Cli, make_canary: Callable[[str], str]) -> None:
    """audit tail --json lists the newest events, oldest first, with metadata and never the value."""
    value = make_canary("tail")
    backend.ok("secret", "put", "acme", "db", stdin=value)
    backend.ok("secret", "delete", "acme", "db")
    events = backend.json("audit", "tail")
    assert [e["action"] for e in events] == ["tenant.create", "secret.put", "secret.delete"]
    for event in events:
        assert set(event) >= AUDIT_FIELDS
        assert event["actor"] == "test:cli"
        assert event["tenant"] == "acme"
    last = backend.json("audit", "tail", "-n", "1")
    assert [e["action"] for e in last] == ["secret.delete"]
    assert backend.json("audit", "tail", "--tenant", "nobody") == []
    assert "secret.put" in backend.ok("audit", "tail").stdout
    backend.assert_never_printed(value)


# -- audit verify on tampered data ----------------------------------------------------------------------


def audit_rows(url: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.text("select * from audit_events order by id")).mappings()]
    finally:
        engine.dispose()


def run_sql(url: str, *statements: tuple[str, dict[str, Any]]) -> None:
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        with engine.begin() as conn:
            for sql, params in statements:
                conn.execute(sa.text(sql), params)
    finally:
        engine.dispose()


def edit_actor(url: str, rows: list[dict[str, Any]]) -> int:
    target = rows[2]["id"]
    run_sql(url, ("update audit_events set actor = 'mallory' where id = :id", {"id": target}))
    return int(target)


def delete_middle(url: str, rows: list[dict[str, Any]]) -> int:
    run_sql(url, ("delete from audit_events where id = :id", {"id": rows[1]["id"]}))
    return int(rows[2]["id"])  # the first event that no longer fits


def swap_two(url: str, rows: list[dict[str, Any]]) -> int:
    """Swap every column but the id of two events; seq goes through -1 to respect the (chain, seq) key."""
    first, second = rows[1], rows[2]
    columns = [c for c in first if c != "id"]
    assignments = ", ".join(f"{c} = :{c}" for c in columns)
    run_sql(
        url,
        (f"update audit_events set {assignments} where id = :id", {**second, "seq": -1, "id": first["id"]}),
        (f"update audit_events set {assignments} where id = :id", {**first, "id": second["id"]}),
        ("update audit_events set seq = :seq where id = :id", {"seq": second["seq"], "id": first["id"]}),
    )
    return int(first["id"])


@pytest.mark.parametrize("tamper", [edit_actor, delete_middle, swap_two], ids=["edit", "delete", "reorder"])
def test_audit_verify_names_the_tampered_event(
    backend: Cli, make_canary: Callable[[str], str], tamper: Callable[[str, list[dict[str, Any]]], int]
) -> None:
    """After an event is edited, deleted or reordered in the database, audit verify exits 1 naming the event."""
    for name in ("a", "b", "c"):
        backend.ok("secret", "put", "acme", name, stdin=make_canary("tamper"))
    assert backend.run("audit", "verify").returncode == 0
    rows = audit_rows(backend.store_url)
    assert len(rows) == 4
    broken_id = tamper(backend.store_url, rows)

    result = backend.run("audit", "verify")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"event {broken_id} " in result.stdout + result.stderr
    assert "BROKEN" in result.stderr

    as_json = backend.run("audit", "verify", "--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert report["broken"]["event_id"] == broken_id
    assert report["broken"]["chain"].startswith("dev/tenant:")  # acme's chain, keyed by its id


def test_audit_verify_against_the_checkpoints_each_command_leaves(
    backend: Cli, make_canary: Callable[[str], str]
) -> None:
    """Every command writes a signed checkpoint at close (to a file under the home by default); after the newest
    events are cut off with their head rewound, the chain alone still verifies but the checkpoints do not."""
    for name in ("a", "b", "c"):
        backend.ok("secret", "put", "acme", name, stdin=make_canary("anchored"))
    checkpoints = backend.home / "audit" / "dev-checkpoints.jsonl"
    assert checkpoints.stat().st_mode & 0o777 == 0o600
    assert f"add --checkpoints {checkpoints}" in backend.ok("audit", "verify").stdout  # what was not checked
    result = backend.ok("audit", "verify", "--checkpoints", str(checkpoints))
    assert "matches" in result.stdout

    rows = [r for r in audit_rows(backend.store_url) if r["action"] == "secret.put"]
    newest = rows[-1]
    kept = rows[-2]
    run_sql(
        backend.store_url,
        ("delete from audit_events where id = :id", {"id": newest["id"]}),
        (
            "update audit_chains set head_seq = :s, head_hash = :h where chain = :c",
            {"s": kept["seq"], "h": kept["hash"], "c": kept["chain"]},
        ),
    )
    assert backend.run("audit", "verify").returncode == 0  # the chain is whole: only the checkpoints know
    refused = backend.run("audit", "verify", "--checkpoints", str(checkpoints))
    assert refused.returncode == 1
    assert "DIVERGES" in refused.stderr
    assert f"seq {newest['seq']}" in refused.stderr
    report = json.loads(backend.run("audit", "verify", "--checkpoints", str(checkpoints), "--json").stdout)
    assert report["ok"] is False
    assert report["checkpoints"]["divergence"]["chain"] == kept["chain"]
    missing = backend.run("audit", "verify", "--checkpoints", str(backend.home / "nope.jsonl"))
    assert_refused(missing, "no checkpoint file at")


# -- bad input ------------------------------------------------------------------------------------------


def test_unknown_tenant_is_refused(ready: Cli, make_canary: Callable[[str], str]) -> None:
    """Commands on an unknown tenant exit 1 naming the tenant, and a refused put prints no value."""
    value = make_canary("unknown-tenant")
    assert_refused(ready.run("secret", "put", "nope", "db", stdin=value), "tenant 'nope' not found", code=1)
    assert_refused(ready.run("secret", "list", "nope"), "tenant 'nope' not found", code=1)
    assert_refused(ready.run("secret", "versions", "nope", "db"), "tenant 'nope' not found", code=1)
    assert_refused(ready.run("tenant", "delete", "nope", "--yes"), "tenant 'nope' not found", code=1)
    ready.assert_never_printed(value)


@pytest.mark.parametrize("name", ["bad/name", "bad name", "", "x" * 129])
def test_invalid_secret_name_is_refused(ready: Cli, make_canary: Callable[[str], str], name: str) -> None:
    """An invalid secret name is refused with exit 2 and a message naming the problem."""
    value = make_canary("bad-name")
    assert_refused(ready.run("secret", "put", "acme", name, stdin=value), "invalid secret name", code=2)
    assert ready.json("secret", "list", "acme", "--all") == []
    ready.assert_never_printed(value)


def test_table_output_shows_brackets_literally(ready: Cli, make_canary: Callable[[str], str]) -> None:
    """Square brackets in stored text (an actor name) print as typed in tables, not as Rich markup."""
    ready.run("secret", "put", "acme", "db", stdin=make_canary("actor"), env={"STRONGROOM_ACTOR": "ci[/bot]"})
    result = ready.ok("audit", "tail")
    assert "ci[/bot]" in result.stdout


def test_invalid_tenant_name_is_refused(ready: Cli) -> None:
    """An invalid tenant name is refused with exit 2 and a message naming the problem."""
    assert_refused(ready.run("tenant", "create", "no/slash"), "invalid tenant name", code=2)


def test_error_message_with_brackets_is_shown_literally(ready: Cli) -> None:
    """A rejected name containing square brackets is echoed literally, without a traceback."""
    result = ready.run("secret", "put", "acme", "bad[/x]", stdin="v")
    assert_refused(result, "invalid secret name", "bad[/x]", code=2)


@pytest.mark.parametrize("stdin", [b"", b"\n", b"\r\n"], ids=["nothing", "newline", "crlf"])
def test_empty_value_is_refused(ready: Cli, stdin: bytes) -> None:
    """An empty value (nothing, or only a newline) is refused with exit 2 and 'empty' in the message."""
    assert_refused(ready.run("secret", "put", "acme", "db", stdin=stdin), "'db' is empty", code=2)
    assert ready.json("secret", "list", "acme", "--all") == []


def test_value_over_64_kib_is_refused(ready: Cli, tmp_path: Path, make_canary: Callable[[str], str]) -> None:
    """A value over 64 KiB, from stdin or a file, is refused with exit 2 naming the limit and not the value."""
    canary = make_canary("big")
    big = (canary * (MAX_VALUE_BYTES // len(canary) + 2))[: MAX_VALUE_BYTES + 1]
    assert_refused(ready.run("secret", "put", "acme", "db", stdin=big), "over the limit", code=2)
    big_file = tmp_path / "big.txt"
    big_file.write_text(big + canary)
    assert_refused(ready.run("secret", "put", "acme", "db", "--from-file", str(big_file)), "over the limit", code=2)
    assert ready.json("secret", "list", "acme", "--all") == []
    ready.assert_never_printed(canary)


def test_value_of_exactly_64_kib_is_accepted(ready: Cli) -> None:
    """A value of exactly 64 KiB (plus the stripped newline) is accepted and stored intact."""
    value = "A" * MAX_VALUE_BYTES
    ready.ok("secret", "put", "acme", "db", stdin=value + "\n")
    assert ready.reveal("acme", "db") == value


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_over_large_value_is_never_silently_truncated(ready: Cli, tmp_path: Path, source: str) -> None:
    """64 KiB followed by a newline and more data is refused as over the limit, not stored truncated."""
    if source == "file":
        path = tmp_path / "value.txt"
        path.write_bytes(b"A" * MAX_VALUE_BYTES + b"\nTAIL")
        result = ready.run("secret", "put", "acme", "db", "--from-file", str(path))
    else:
        result = ready.run("secret", "put", "acme", "db", stdin=b"A" * MAX_VALUE_BYTES + b"\r\nTAIL")
    assert_refused(result, "over the limit", code=2)


def test_missing_from_file_is_refused(ready: Cli, tmp_path: Path) -> None:
    """--from-file naming a missing file exits 2 naming the file."""
    missing = tmp_path / "missing.txt"
    assert_refused(
        ready.run("secret", "put", "acme", "db", "--from-file", str(missing)),
        "cannot read --from-file",
        str(missing),
        code=2,
    )


def test_key_file_readable_by_others_is_refused(ready: Cli, make_canary: Callable[[str], str]) -> None:
    """A key file with mode 0644 is refused with a message naming the file, its mode and the chmod fix."""
    value = make_canary("open-key")
    ready.key_file.chmod(0o644)
    for args in (("tenant", "list"), ("secret", "put", "acme", "db")):
        result = ready.run(*args, stdin=value)
        assert_refused(result, str(ready.key_file), "0644", "chmod 600", code=1)
    ready.assert_never_printed(value)
    ready.key_file.chmod(0o600)
    assert ready.json("secret", "list", "acme") == []


def foreign_database(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("create table customers (id integer primary key, name text)")
        conn.execute("insert into customers (name) values ('alice')")
    return f"sqlite:///{path}"


def sqlite_tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("select name from sqlite_master where type = 'table'")}


def test_foreign_database_is_refused(cli: Cli, tmp_path: Path) -> None:
    """STRONGROOM_URL pointing at a non-strongroom SQLite file: exit 1, 'not a strongroom database', untouched."""
    path = tmp_path / "crm.db"
    url = foreign_database(path)
    fresh_home = {"STRONGROOM_URL": url, "STRONGROOM_HOME": str(tmp_path / "other-home")}
    assert_refused(cli.run("init", env=fresh_home), "not a strongroom database", code=1)
    cli.ok("init")
    for args in (("tenant", "list"), ("audit", "verify"), ("secret", "list", "acme")):
        assert_refused(cli.run(*args, env={"STRONGROOM_URL": url}), "not a strongroom database", code=1)
    assert sqlite_tables(path) == {"customers"}


def test_failed_init_leaves_no_key_file(cli: Cli, tmp_path: Path) -> None:
    """init refused because of a foreign database creates no key file, so a retry can succeed."""
    url = foreign_database(tmp_path / "crm.db")
    assert_refused(cli.run("init", env={"STRONGROOM_URL": url}), "not a strongroom database", code=1)
    assert not cli.key_file.exists()
    cli.ok("init")


# -- as a real process -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_process_reads_stdin_and_exits_with_the_documented_codes(
    cli: Cli, make_canary: Callable[[str], str]
) -> None:
    """What only a process proves, once: ``python -m strongroom.cli.main`` runs, a piped value is stored from the
    process's stdin (one trailing newline stripped), and the exit codes are 0, 1 (refused) and 2 (bad usage)."""
    cli.real_process = True
    value = make_canary("v")
    cli.ok("init")
    cli.ok("tenant", "create", "acme")
    cli.ok("secret", "put", "acme", "api_key", stdin=value + "\n")
    assert cli.reveal("acme", "api_key") == value
    assert_refused(cli.run("tenant", "create", "acme"), "exists", code=1)
    assert_refused(cli.run("tenant", "frobnicate"), code=2)
    cli.assert_never_printed(value)
