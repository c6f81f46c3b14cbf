"""What ``strongroom`` prints (issue 18): shell completion, --help without a ``<bool>`` type, --json on every
command that changes something, ISO 8601 timestamps in every listing, tables that fit 80 columns, the stage of a
soft-deleted secret's versions, and "did you mean" for a mistyped tenant."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.cli.test_cli_commands import Cli, assert_refused

Invoke = Callable[..., subprocess.CompletedProcess[str]]


# -- shell completion ---------------------------------------------------------------------------------


def test_completion_prints_the_bash_script_and_the_shell_gets_answers(cli: Cli) -> None:
    """`strongroom completion bash` prints a script defining strongroom's completion function, and the protocol
    that script speaks (``_STRONGROOM_COMPLETE=complete_bash``) answers with strongroom's commands."""
    script = cli.ok("completion", "bash").stdout
    assert "_strongroom_completion()" in script
    assert "complete -o default -F _strongroom_completion strongroom" in script
    assert "_STRONGROOM_COMPLETE=complete_bash" in script

    asked = {"_STRONGROOM_COMPLETE": "complete_bash", "COMP_WORDS": "strongroom ten", "COMP_CWORD": "1"}
    assert cli.run(env=asked).stdout.split() == ["tenant"]
    asked = {**asked, "COMP_WORDS": "strongroom secret ver", "COMP_CWORD": "2"}
    assert cli.run(env=asked).stdout.split() == ["versions"]


@pytest.mark.parametrize(
    ("shell", "marker"), [("zsh", "#compdef strongroom"), ("fish", "complete --command strongroom")]
)
def test_completion_prints_zsh_and_fish_scripts(cli: Cli, shell: str, marker: str) -> None:
    assert marker in cli.ok("completion", shell).stdout


def test_completion_for_an_unknown_shell_names_the_choices(cli: Cli) -> None:
    result = cli.run("completion", "tcsh")
    assert_refused(result, code=2)
    assert "bash" in result.stderr
    assert "zsh" in result.stderr
    assert "fish" in result.stderr


# -- --help -------------------------------------------------------------------------------------------


def _command_paths() -> Iterator[tuple[str, ...]]:
    from strongroom.cli.main import command

    def walk(node: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield path
        for name, sub in sorted(getattr(node, "commands", {}).items()):
            yield from walk(sub, (*path, name))

    yield from walk(command(), ())


@pytest.mark.slow
def test_no_help_shows_a_bool_type(cli: Cli) -> None:
    """Every command's --help lists its flags without a ``<bool>`` value (a flag takes none)."""
    paths = list(_command_paths())
    assert ("secret", "list") in paths
    assert ("completion",) in paths
    flags_seen = 0
    for path in paths:
        shown = cli.ok(*path, "--help").stdout
        assert "<bool>" not in shown, f"strongroom {' '.join(path)} --help shows <bool>"
        assert "--help" in shown
        flags_seen += "--json" in shown
    assert flags_seen > 10


# -- --json on the commands that change something -------------------------------------------------------


def test_init_and_db_upgrade_json(cli: Cli) -> None:
    init = cli.json("init")
    assert init == {
        "environment": "dev",
        "key_file": str(cli.key_file),
        "key_source": "file",
        "revision": init["revision"],
        "gitignore": None,  # not in a git work tree
    }
    assert init["revision"].isdigit()
    assert cli.json("db", "upgrade") == {
        "environment": "dev",
        "revision": init["revision"],
    }


def test_tenant_delete_json(ready: Cli) -> None:
    deleted = ready.json("tenant", "delete", "acme", "--yes")
    assert deleted == {"tenant": "acme", "deleted": True, "keys_deleted": True, "shred_with": "strongroom key shred"}
    assert ready.json("tenant", "list") == []


def test_secret_delete_json(ready: Cli, make_canary: Callable[[str], str]) -> None:
    value = make_canary("delete-json")
    ready.ok("secret", "put", "acme", "db", stdin=value)
    ready.ok("secret", "put", "acme", "gone", stdin=value)
    soft = ready.json("secret", "delete", "acme", "db")
    assert soft == {"tenant": "acme", "name": "db", "purged": False, "versions_kept": True}
    purged = ready.json("secret", "delete", "acme", "gone", "--purge")
    assert purged == {"tenant": "acme", "name": "gone", "purged": True, "versions_kept": False}
    ready.assert_never_printed(value)


# -- soft delete and stages ------------------------------------------------------------------------------


def test_soft_deleted_secret_has_no_current_version(ready: Cli, make_canary: Callable[[str], str]) -> None:
    """After `secret delete` nothing is current (use() refuses it); a new put makes its version current again."""
    value = make_canary("stage")
    ready.ok("secret", "put", "acme", "db", stdin=value)
    ready.ok("secret", "put", "acme", "db", stdin=value)
    [first, second] = ready.json("secret", "versions", "acme", "db")
    assert (first["stage"], second["stage"], second["current"]) == ("previous", "current", True)

    ready.ok("secret", "delete", "acme", "db")
    after = ready.json("secret", "versions", "acme", "db")
    assert [(v["stage"], v["current"]) for v in after] == [("retired", False), ("retired", False)]
    table = ready.ok("secret", "versions", "acme", "db").stdout
    assert "current" not in table
    assert "retired" in table

    ready.ok("secret", "put", "acme", "db", stdin=value)
    revived = ready.json("secret", "versions", "acme", "db")
    assert [(v["version"], v["current"]) for v in revived if v["current"]] == [(3, True)]
    ready.assert_never_printed(value)


# -- did you mean -----------------------------------------------------------------------------------------


def test_mistyped_tenant_suggests_the_closest_name(ready: Cli) -> None:
    ready.ok("tenant", "create", "globex")
    assert_refused(ready.run("secret", "list", "acmee"), "tenant 'acmee' not found", "did you mean 'acme'?", code=1)
    assert_refused(ready.run("tenant", "delete", "glbex", "--yes"), "did you mean 'globex'?", code=1)
    assert_refused(ready.run("audit", "report", "--tenant", "globx"), "did you mean 'globex'?")
    far = ready.run("secret", "list", "zzzzzz")
    assert_refused(far, "tenant 'zzzzzz' not found", "strongroom tenant list")
    assert "did you mean" not in far.stderr


# -- ISO 8601 in every listing's JSON ------------------------------------------------------------------------

ISO = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"


def _timestamps(data: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every value under a key naming a time (``*_at``, ``at``, ``*_until``, ``first``, ``last``, ``next_due``)."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _timestamps(v, k)
    elif isinstance(data, list):
        for item in data:
            yield from _timestamps(item, key)
    elif key == "at" or key.endswith(("_at", "_until", "_due")) or key in {"first", "last", "newest", "since", "until"}:
        yield key, data
    elif isinstance(data, float) and data > 1e9:
        yield key, data  # an epoch float under any other name


@pytest.mark.parametrize(
    "command",
    [
        ("tenant", "list"),
        ("secret", "list", "acme", "--all"),
        ("secret", "versions", "acme", "db"),
        ("audit", "tail"),
        ("audit", "verify"),
        ("audit", "checkpoint"),
        ("audit", "report", "--tenant", "acme"),
        ("admin-key", "list"),
        ("inventory",),
        ("rotation", "list"),
        ("rotation", "show", "svc", "--tenant", "acme"),
        ("key", "status"),
    ],
    ids=" ".join,
)
@pytest.mark.slow
def test_every_listing_prints_iso_8601_utc(
    ready: Cli, make_canary: Callable[[str], str], command: tuple[str, ...]
) -> None:
    import re

    value = make_canary("iso")
    ready.ok("secret", "put", "acme", "db", "--kind", "ephemeral", "--ttl", "3600", stdin=value)
    ready.ok("secret", "put", "acme", "db", "--kind", "ephemeral", "--ttl", "3600", stdin=value)
    ready.ok("secret", "put", "acme", "svc", stdin=value)
    ready.ok("rotation", "set", "svc", "--tenant", "acme", "--every", "30d", "--rotator", "random")
    ready.ok("rotate", "svc", "--tenant", "acme")
    ready.ok("admin-key", "create", "--name", "ops")
    with ready.open_vault() as vault, vault.use("acme", "svc", purpose="iso check"):
        pass
    times = list(_timestamps(ready.json(*command)))
    for key, found in times:
        assert found is None or (isinstance(found, str) and re.match(ISO, found)), f"{key}: {found!r}"
    assert any(found is not None for _, found in times) or command == ("audit", "verify")
    ready.assert_never_printed(value)


# -- 80 columns ---------------------------------------------------------------------------------------------


def _fits(output: str) -> None:
    for line in output.splitlines():
        assert len(line) <= 80, f"{len(line)} columns: {line!r}"
    assert "…" not in output


def test_listings_fit_80_columns_and_cut_nothing(ready: Cli, make_canary: Callable[[str], str]) -> None:
    """At COLUMNS=80 `tenant list`, `secret list`, `secret versions` and `audit tail` fit, and every name, status
    and time is printed whole on one line (no ellipsis); long text goes below the table."""
    tenant, name = "acme-corporation-intl", "stripe_billing_api_key_eu"
    ready.ok("tenant", "create", tenant)
    value = make_canary("columns")
    ready.ok("secret", "put", tenant, name, "--kind", "ephemeral", "--ttl", "3600", stdin=value)
    ready.ok("secret", "put", tenant, "db", "--sensitivity", "critical", stdin=value)
    ready.ok("secret", "delete", tenant, "db")
    purpose = "rendering the monthly invoices of every customer in the European region, then mailing them"
    with ready.open_vault() as vault, vault.use(tenant, name, purpose=purpose):
        pass
    rows = ready.json("secret", "list", tenant, "--all")
    tenants = ready.json("tenant", "list")
    ready.env = {**ready.env, "COLUMNS": "80"}

    shown = ready.ok("tenant", "list").stdout
    _fits(shown)
    for t in tenants:
        assert any(t["name"] in line and t["created_at"][:16] in line for line in shown.splitlines())

    listed = ready.ok("secret", "list", tenant, "--all").stdout
    _fits(listed)
    lines = listed.splitlines()
    for row in rows:
        [line] = [line for line in lines if line.startswith(row["name"] + " ")]
        for word in (row["kind"], row["sensitivity"], row["updated_at"][:16]):
            assert f" {word}" in line, (word, line)
    assert f"db: deleted {rows[0]['deleted_at'][:16]}Z" in listed
    assert f"{name}: expires {rows[1]['expires_at'][:16]}Z" in listed

    versions = ready.ok("secret", "versions", tenant, name).stdout
    _fits(versions)
    assert "current" in versions

    tail = ready.ok("audit", "tail", "-n", "50").stdout
    _fits(tail)
    for event in ready.json("audit", "tail", "-n", "50"):
        head = f"#{event['id']} {event['at'][:16]}Z {event['action']} {event['outcome']}"
        assert any(line.startswith(head) for line in tail.splitlines()), head
    assert f"{tenant}/{name} v1" in tail
    assert " ".join(tail.split()).count(purpose) == 1  # wrapped, but whole
    ready.assert_never_printed(value)


def test_check_fits_80_columns_with_notes_below(ready: Cli, tmp_path: Path) -> None:
    (tmp_path / "colschema.py").write_text(
        "from strongroom import Secret\n"
        "from strongroom.config import Settings, secret\n\n\n"
        "class BillingSettings(Settings):\n"
        "    stripe_billing_key: Secret[str] = secret(rotate='90d')\n"
        "    webhook_secret: Secret[str] = secret(env='HOOK_KEY', rotate='30d')\n"
        "    invoice_footer: Secret[str] = secret(required_in=('prod',))\n"
    )
    values = {"STRIPE_BILLING_KEY": secrets.token_hex(16), "HOOK_KEY": secrets.token_hex(16)}
    result = ready.run("check", "--schema", "colschema:BillingSettings", env={**values, "COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    _fits(result.stdout)
    lines = result.stdout.splitlines()
    for field, variable in (("stripe_billing_key", "STRIPE_BILLING_KEY"), ("webhook_secret", "HOOK_KEY")):
        assert any(line.split()[:4] == [field, variable, "env", "ok"] for line in lines if line.strip()), field
    assert any(line.split()[:4] == ["invoice_footer", "INVOICE_FOOTER", "-", "absent"] for line in lines if line)
    assert "invoice_footer: absent (optional here)" in result.stdout


def test_json_output_is_never_cut_at_80_columns(ready: Cli) -> None:
    ready.env = {**ready.env, "COLUMNS": "80"}
    ready.ok("tenant", "create", "a-tenant-with-a-name-long-enough-to-pass-eighty-columns-in-json-output-x")
    assert json.loads(ready.ok("tenant", "list", "--json").stdout)
