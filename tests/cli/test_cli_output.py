"""What ``strongroom`` prints (issue 18): shell completion, --help without a ``<bool>`` type, --json on every
command that changes something, ISO 8601 timestamps in every listing, tables that fit 80 columns, the stage of a
soft-deleted secret's versions, and "did you mean" for a mistyped tenant."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli_commands import Cli, assert_refused

Invoke = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path, cli_invoke: Invoke) -> Cli:
    return Cli(tmp_path / "home", tmp_path, cli_invoke)


@pytest.fixture
def ready(cli: Cli) -> Cli:
    cli.ok("init")
    cli.ok("tenant", "create", "acme")
    return cli


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


@pytest.mark.parametrize(("shell", "marker"), [("zsh", "#compdef strongroom"), ("fish", "complete --command strongroom")])
def test_completion_prints_zsh_and_fish_scripts(cli: Cli, shell: str, marker: str) -> None:
    assert marker in cli.ok("completion", shell).stdout


def test_completion_for_an_unknown_shell_names_the_choices(cli: Cli) -> None:
    result = cli.run("completion", "tcsh")
    assert_refused(result, code=2)
    assert "bash" in result.stderr and "zsh" in result.stderr and "fish" in result.stderr


# -- --help -------------------------------------------------------------------------------------------


def _command_paths() -> Iterator[tuple[str, ...]]:
    from strongroom.cli.main import command

    def walk(node: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield path
        for name, sub in sorted(getattr(node, "commands", {}).items()):
            yield from walk(sub, (*path, name))

    yield from walk(command(), ())


def test_no_help_shows_a_bool_type(cli: Cli) -> None:
    """Every command's --help lists its flags without a ``<bool>`` value (a flag takes none)."""
    paths = list(_command_paths())
    assert ("secret", "list") in paths and ("completion",) in paths
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
        "database": f"sqlite:///{cli.home / 'strongroom.db'}",
        "revision": init["revision"],
    }
    assert init["revision"].isdigit()
    assert cli.json("db", "upgrade") == {
        "environment": "dev",
        "database": init["database"],
        "revision": init["revision"],
    }


def test_tenant_delete_json(ready: Cli) -> None:
    deleted = ready.json("tenant", "delete", "acme", "--yes")
    assert deleted["tenant"] == "acme" and deleted["deleted"] is True
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
    assert "current" not in table and "retired" in table

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
        ("rotation", "show", "acme", "db"),
        ("key", "status"),
    ],
    ids=" ".join,
)
def test_every_listing_prints_iso_8601_utc(
    ready: Cli, make_canary: Callable[[str], str], command: tuple[str, ...]
) -> None:
    import re

    value = make_canary("iso")
    ready.ok("secret", "put", "acme", "db", "--kind", "ephemeral", "--ttl", "3600", stdin=value)
    ready.ok("secret", "put", "acme", "db", "--kind", "ephemeral", "--ttl", "3600", stdin=value)
    ready.ok("rotation", "set", "acme", "db", "--every", "30d", "--rotator", "random")
    ready.ok("admin-key", "create", "--name", "ops")
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
    """At COLUMNS=80 the tables of `secret list`, `secret versions` and `audit tail` fit, and every name, status
    and time is printed whole (no ellipsis); long text goes below the table."""
    tenant, name = "acme-corporation-international", "stripe_api_key_for_the_billing_service_eu"
    ready.ok("tenant", "create", tenant)
    value = make_canary("columns")
    ready.ok("secret", "put", tenant, name, "--kind", "ephemeral", "--ttl", "3600", stdin=value)
    ready.ok("secret", "put", tenant, "db", stdin=value)
    ready.ok("secret", "delete", tenant, "db")
    narrow = {**ready.env, "COLUMNS": "80"}
    ready.env = narrow

    listed = ready.ok("secret", "list", tenant, "--all").stdout
    _fits(listed)
    for word in (name, "ephemeral", "tenant", "deleted", "high"):
        assert word in listed
    assert all(row["updated_at"][:16] in listed for row in ready.json("secret", "list", tenant, "--all"))

    versions = ready.ok("secret", "versions", tenant, name).stdout
    _fits(versions)
    assert "current" in versions

    with ready.open_vault() as vault, vault.use(tenant, name, purpose="a long purpose: " + "x" * 90):
        pass
    tail = ready.ok("audit", "tail", "-n", "50").stdout
    _fits(tail)
    for word in (tenant, name, "secret.use", "tenant.create", "ok", "x" * 40):
        assert word in tail, word
    ready.assert_never_printed(value)


def test_check_fits_80_columns(ready: Cli, tmp_path: Path, make_canary: Callable[[str], str]) -> None:
    (tmp_path / "colschema.py").write_text(
        "from strongroom.config import SecretSettings, secret\n\n"
        "class BillingServiceSettings(SecretSettings):\n"
        "    stripe_api_key_for_the_billing_service: str = secret(tenant='acme')\n"
    )
    ready.ok("secret", "put", "acme", "stripe_api_key_for_the_billing_service", stdin=make_canary("check"))
    ready.env = {**ready.env, "COLUMNS": "80"}
    shown = ready.ok("check", "--schema", "colschema:BillingServiceSettings").stdout
    _fits(shown)
    assert "stripe_api_key_for_the_billing_service" in shown
    assert os.linesep.join(shown.splitlines()).strip()


def test_json_output_is_never_cut_at_80_columns(ready: Cli) -> None:
    ready.env = {**ready.env, "COLUMNS": "80"}
    ready.ok("tenant", "create", "a-tenant-with-a-name-long-enough-to-pass-eighty-columns-in-json-output-x")
    assert json.loads(ready.ok("tenant", "list", "--json").stdout)
