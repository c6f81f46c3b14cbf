"""``strongroom rotate`` and ``strongroom rotation set|show|list|delete|apply`` through the real entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from strongroom.crypto import LocalKeyProvider
from strongroom.rotation import Rotations
from strongroom.vault import Vault
from strongroom.vocabulary import PLATFORM_TENANT, Stage

Invoke = Callable[..., subprocess.CompletedProcess[str]]


class Cli:
    def __init__(self, tmp_path: Path, invoke: Invoke, url: str | None = None) -> None:
        self.home = tmp_path / "home"
        self.cwd = tmp_path
        self.invoke = invoke
        self.url = url or f"sqlite:///{self.home / 'strongroom.db'}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        self.env.update(
            STRONGROOM_HOME=str(self.home),
            STRONGROOM_URL=self.url,
            STRONGROOM_ACTOR="test:cli",
            NO_COLOR="1",
            COLUMNS="80",
        )
        self.env.pop("FORCE_COLOR", None)
        self.transcript: list[str] = []

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        result = self.invoke(args, env=self.env, cwd=self.cwd, stdin=stdin.encode())
        self.transcript += [result.stdout, result.stderr]
        assert "Traceback" not in result.stdout + result.stderr
        assert "internal error" not in result.stderr
        return result

    def ok(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, f"{args} exited {result.returncode}: {result.stderr}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def refused(self, code: int, *args: str, says: tuple[str, ...] = ()) -> str:
        result = self.run(*args)
        assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
        for phrase in says:
            assert phrase in result.stderr, result.stderr
        return result.stderr

    def vault(self, **options: Any) -> Vault:
        return Vault.open(
            self.url,
            key_provider=LocalKeyProvider.from_file(self.home / "keys" / "dev.json"),
            migrate=False,
            actor="test:reader",
            home=self.cwd / "reader-home",
            **options,
        )

    def value(self, tenant: str, name: str) -> str | bytes:
        with self.vault() as vault, vault.use(tenant, name, purpose="test") as secret:
            value: str | bytes = secret.reveal()
            return value

    def assert_never_printed(self, *values: str | bytes) -> None:
        for value in values:
            text = value.decode() if isinstance(value, bytes) else value
            assert not any(text in output for output in self.transcript), "a secret value was printed"


def _ready(cli: Cli, make_canary: Callable[[str], str]) -> Cli:
    cli.ok("init")
    cli.ok("tenant", "create", PLATFORM_TENANT)
    cli.ok("tenant", "create", "acme")
    cli.ok("secret", "put", PLATFORM_TENANT, "signing", stdin=make_canary("signing"))
    cli.ok("secret", "put", "acme", "svc", stdin=make_canary("svc"))
    return cli


@pytest.fixture
def cli(tmp_path: Path, cli_invoke: Invoke, make_canary: Callable[[str], str]) -> Cli:
    return _ready(Cli(tmp_path, cli_invoke), make_canary)


def _make_due(cli: Cli, *secrets: tuple[str, str], rotator: str = "random") -> None:
    """Policies set two days ago (every day): due now, as a store two days on is."""
    two_days_ago = time.time() - 2 * 86400
    with cli.vault() as vault:
        past = Rotations(vault, clock=lambda: two_days_ago)
        for tenant, name in secrets:
            if rotator == "random":
                past.set_policy(tenant, name, every="1d", rotator="random")
            else:  # a rotator this install lacks (uninstalled since): only the repository stores such a policy
                vault.rotation_repo.set_policy(
                    tenant, name, rotate_every=86400, overlap=0, rotator=rotator, options={}, next_due=two_days_ago
                )


# -- policies ---------------------------------------------------------------------------------------


def test_set_show_list_delete(cli: Cli) -> None:
    out = cli.ok("rotation", "set", "signing", "--every", "30d", "--rotator", "random", "--option", "length=64")
    assert "_platform/signing: rotated by random every 30d" in out.stdout
    cli.ok("rotation", "set", "svc", "--tenant", "acme", "--every", "12h", "--overlap", "1h", "--rotator", "random")

    shown = cli.json("rotation", "show", "signing")
    assert shown["policy"]["rotator"] == "random"
    assert shown["policy"]["options"] == {"length": "64"}  # option values stay text; the rotator parses them
    assert shown["policy"]["rotate_every_seconds"] == 30 * 86400
    assert shown["last_rotation"] is None
    assert "every     30d, overlap 0s" in cli.ok("rotation", "show", "signing").stdout

    listed = cli.json("rotation", "list")
    assert {(p["tenant"], p["name"]) for p in listed} == {(PLATFORM_TENANT, "signing"), ("acme", "svc")}
    assert [p["name"] for p in cli.json("rotation", "list", "--tenant", "acme")] == ["svc"]
    table = cli.ok("rotation", "list").stdout
    assert all(len(line) <= 80 for line in table.splitlines()), table
    for cell in ("signing", "_platform", "random", "30d", "12h", "never"):
        assert cell in table

    cli.ok("rotation", "delete", "svc", "--tenant", "acme")
    assert [p["name"] for p in cli.json("rotation", "list")] == ["signing"]
    cli.refused(1, "rotation", "delete", "svc", "--tenant", "acme", says=("no rotation policy",))
    cli.refused(1, "rotation", "show", "svc", "--tenant", "acme", says=("strongroom rotation set svc",))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--every", "30d", "--rotator", "nope"), ("unknown rotator 'nope'", "random")),
        (("--every", "30x", "--rotator", "random"), ("every", "invalid duration '30x'", "90d")),
        (("--every", "1h", "--overlap", "2h", "--rotator", "random"), ("overlap shorter",)),
        (("--every", "30d", "--rotator", "random", "--option", "length"), ("NAME=VALUE",)),
        (("--every", "30d", "--rotator", "random", "--option", "password=x"), ("password_secret=NAME",)),
        (("--every", "30d", "--rotator", "random", "--option", "length=8"), ("length 8", "128 bits")),
        (("--every", "30d", "--rotator", "random", "--option", "a=1", "--option", "a=2"), ("given twice",)),
    ],
    ids=["unknown-rotator", "bad-duration", "overlap", "option-shape", "credential-option", "weak", "twice"],
)
@pytest.mark.slow
def test_set_refuses_bad_input_naming_the_fix(cli: Cli, args: tuple[str, ...], says: tuple[str, ...]) -> None:
    cli.refused(2, "rotation", "set", "signing", *args, says=says)
    assert cli.json("rotation", "list") == []


def test_set_on_a_missing_secret_says_so(cli: Cli) -> None:
    cli.refused(1, "rotation", "set", "ghost", "--every", "30d", "--rotator", "random", says=("'ghost' not found",))


# -- rotate -----------------------------------------------------------------------------------------


def test_rotate_now_makes_a_new_current_version_and_never_prints_it(cli: Cli) -> None:
    before = cli.value(PLATFORM_TENANT, "signing")
    cli.ok("rotation", "set", "signing", "--every", "30d", "--rotator", "random", "--option", "prefix=sig_")
    out = cli.ok("rotate", "signing")
    assert out.stdout.strip() == "_platform/signing: succeeded (v2)"
    after = cli.value(PLATFORM_TENANT, "signing")
    assert isinstance(after, str)
    assert after.startswith("sig_")
    assert after != before
    with cli.vault() as vault:
        assert [v.stage for v in vault.versions(PLATFORM_TENANT, "signing")] == [Stage.RETIRED, Stage.CURRENT]
    assert cli.json("rotation", "show", "signing")["last_rotation"]["status"] == "succeeded"
    cli.ok("rotation", "list")
    cli.json("rotation", "list")
    cli.assert_never_printed(before, after)


def test_rotate_with_an_overlap_keeps_the_previous_version_until_it_ends(cli: Cli) -> None:
    cli.ok("rotation", "set", "svc", "--tenant", "acme", "--every", "30d", "--overlap", "1h", "--rotator", "random")
    [outcome] = cli.json("rotate", "svc", "--tenant", "acme")
    assert outcome["status"] == "retiring"
    with cli.vault() as vault:
        assert [v.stage for v in vault.versions("acme", "svc")] == [Stage.PREVIOUS, Stage.CURRENT]
    assert cli.ok("rotate", "--due").stdout.strip() == "nothing due"  # the overlap has not ended


def test_roll_back_makes_the_previous_version_current_again(cli: Cli) -> None:
    before = cli.value("acme", "svc")
    cli.ok("rotation", "set", "svc", "--tenant", "acme", "--every", "30d", "--overlap", "1h", "--rotator", "random")
    cli.ok("rotate", "svc", "--tenant", "acme")
    assert cli.value("acme", "svc") != before
    assert cli.json("rotate", "svc", "--tenant", "acme", "--roll-back") == {
        "tenant": "acme",
        "name": "svc",
        "current_version": 1,
    }
    assert cli.value("acme", "svc") == before
    cli.refused(2, "rotate", "--due", "--roll-back", says=("give NAME",))
    cli.assert_never_printed(before)


def test_key_schedules_are_set_shown_and_removed(cli: Cli) -> None:
    assert "no key rotation scheduled" in cli.ok("rotation", "keys").stdout
    cli.ok("rotation", "keys", "--root-key", "90d", "--data-keys", "30d")
    shown = cli.json("rotation", "keys")
    assert shown["root-key"]["every_seconds"] == 90 * 86400
    assert shown["data-keys"]["every_seconds"] == 30 * 86400
    cli.ok("rotation", "keys", "--data-keys", "off")
    assert set(cli.json("rotation", "keys")) == {"root-key"}
    cli.refused(2, "rotation", "keys", "--root-key", "soon", says=("invalid duration",))


def test_rotate_without_a_policy_fails_naming_the_command_to_set_one(cli: Cli) -> None:
    cli.refused(1, "rotate", "signing", says=("no rotation policy", "strongroom rotation set signing"))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), ("give a secret NAME",)),
        (("signing", "--due"), ("not both",)),
        (("signing", "--limit", "3"), ("--limit only applies with --due",)),
        (("--due", "--cancel"), ("give NAME",)),
        (("--due", "--limit", "0"), ("--limit",)),
    ],
    ids=["nothing", "both", "limit-without-due", "cancel-due", "limit-zero"],
)
def test_rotate_refuses_bad_usage(cli: Cli, args: tuple[str, ...], says: tuple[str, ...]) -> None:
    cli.refused(2, "rotate", *args, says=says)


def test_rotate_due_rotates_every_overdue_secret_and_exits_0(cli: Cli) -> None:
    assert cli.ok("rotate", "--due").stdout.strip() == "nothing due"
    cli.ok("rotation", "set", "svc", "--tenant", "acme", "--every", "30d", "--rotator", "random")  # not due
    _make_due(cli, (PLATFORM_TENANT, "signing"))
    outcomes = cli.json("rotate", "--due")
    assert [(o["tenant"], o["name"], o["status"], o["version"]) for o in outcomes] == [
        (PLATFORM_TENANT, "signing", "succeeded", 2)
    ]
    assert cli.json("rotate", "--due") == []  # next due a period from now
    listed = {p["name"]: p for p in cli.json("rotation", "list")}
    assert listed["signing"]["last_rotation"]["status"] == "succeeded"
    assert listed["svc"]["last_rotation"] is None


def test_rotate_due_exits_1_when_one_fails_and_still_rotates_the_others(cli: Cli) -> None:
    _make_due(cli, ("acme", "svc"))
    _make_due(cli, (PLATFORM_TENANT, "signing"), rotator="uninstalled")
    result = cli.run("rotate", "--due")
    assert result.returncode == 1
    assert "acme/svc: succeeded (v2)" in result.stdout
    assert "_platform/signing: failed: unknown rotator 'uninstalled'" in result.stderr
    assert "2 rotations: 1 failed, 0 skipped" in result.stdout
    with cli.vault() as vault:
        assert len(vault.versions(PLATFORM_TENANT, "signing")) == 1  # untouched


def test_rotate_due_limit(cli: Cli) -> None:
    _make_due(cli, ("acme", "svc"), (PLATFORM_TENANT, "signing"))
    assert len(cli.json("rotate", "--due", "--limit", "1")) == 1
    assert len(cli.json("rotate", "--due", "--limit", "1")) == 1
    assert cli.json("rotate", "--due", "--limit", "1") == []


def test_cancel_stops_a_running_rotation_and_discards_its_pending_version(cli: Cli) -> None:
    cli.ok("rotation", "set", "signing", "--every", "30d", "--rotator", "random")
    cli.refused(1, "rotate", "signing", "--cancel", says=("no running rotation to cancel",))
    with cli.vault() as vault:  # a rotation left open after create, as a killed process leaves one
        repo = vault.rotation_repo
        rotation = repo.begin(PLATFORM_TENANT, "signing", "random", actor="test")
        repo.stage_pending(rotation, "pending-" + os.urandom(24).hex())
    [outcome] = cli.json("rotate", "signing", "--cancel")
    assert outcome["status"] == "cancelled"
    assert "cancelled by test:cli" in outcome["reason"]
    with cli.vault() as vault:
        assert [v.stage for v in vault.versions(PLATFORM_TENANT, "signing")] == [Stage.CURRENT]
        assert vault.rotation_repo.open_rotations() == []


# -- apply --------------------------------------------------------------------------------------------


def test_apply_a_policy_file(cli: Cli, tmp_path: Path) -> None:
    policy = tmp_path / "policies.toml"
    policy.write_text(
        textwrap.dedent(
            """
            [[secret]]
            name = "signing"
            every = "30d"
            rotator = "random"
            options = { length = 64, prefix = "sig_" }

            [[secret]]
            tenant = "acme"
            name = "svc"
            every = "7d"
            overlap = "1h"
            rotator = "random"
            """
        )
    )
    applied = cli.json("rotation", "apply", str(policy))
    assert [(p["tenant"], p["name"]) for p in applied] == [(PLATFORM_TENANT, "signing"), ("acme", "svc")]
    assert "applied 2 policies" in cli.ok("rotation", "apply", str(policy)).stdout  # again: the same


@pytest.mark.parametrize(
    ("second", "says"),
    [
        ('name = "ghost"\nevery = "7d"\nrotator = "random"', ("_platform/ghost: no such secret",)),
        ('name = "svc"\ntenant = "acme"\nevery = "7d"\nrotator = "nope"', ("acme/svc: unknown rotator 'nope'",)),
        ('name = "svc"\ntenant = "acme"\nevery = "7d"', ("'rotator' is required",)),
        ('name = "signing"\nevery = "7d"\nrotator = "random"', ("given twice",)),
        ('name = "svc"\ntenant = "acme"\nevery = "7d"\nrotator = "random"\ncolour = 1', ("unknown key(s) colour",)),
    ],
    ids=["missing-secret", "unknown-rotator", "no-rotator", "duplicate", "unknown-key"],
)
def test_apply_refuses_the_whole_file_before_setting_any(
    cli: Cli, tmp_path: Path, second: str, says: tuple[str, ...]
) -> None:
    policy = tmp_path / "policies.toml"
    policy.write_text(f'[[secret]]\nname = "signing"\nevery = "30d"\nrotator = "random"\n\n[[secret]]\n{second}\n')
    cli.refused(2, "rotation", "apply", str(policy), says=says)
    assert cli.json("rotation", "list") == [], "nothing applied"


def test_apply_refuses_unreadable_input(cli: Cli, tmp_path: Path) -> None:
    cli.refused(2, "rotation", "apply", str(tmp_path / "none.toml"), says=("cannot read policy file",))
    bad = tmp_path / "bad.toml"
    bad.write_text("[[secret]\n")
    cli.refused(2, "rotation", "apply", str(bad), says=("not valid TOML",))
    cli.refused(2, "rotation", "apply", says=("FILE.toml or --schema",))
    cli.refused(2, "rotation", "apply", "--schema", "nomodule:Nope", says=("cannot import schema module",))


def test_apply_a_schema(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "rot_schema_app.py").write_text(
        textwrap.dedent(
            """
            from strongroom import Secret
            from strongroom.config import Settings, secret

            class AppSettings(Settings):
                signing: Secret[str] = secret(
                    rotate="30d", rotator="random", rotator_options={"length": 64}, overlap="1h"
                )
                other: Secret[str] = secret(rotate="90d")
            """
        )
    )
    [policy] = cli.json("rotation", "apply", "--schema", "rot_schema_app:AppSettings")
    assert (policy["tenant"], policy["name"], policy["rotator"]) == (PLATFORM_TENANT, "signing", "random")
    assert (policy["rotate_every_seconds"], policy["overlap_seconds"]) == (30 * 86400, 3600)
    assert policy["options"] == {"length": 64}
    (tmp_path / "rot_schema_none.py").write_text(
        "from strongroom import Secret\nfrom strongroom.config import Settings, secret\n"
        "class S(Settings):\n    x: Secret[str] = secret(rotate='30d')\n"
    )
    cli.refused(2, "rotation", "apply", "--schema", "rot_schema_none:S", says=("no secret with a rotator",))


# -- processes ----------------------------------------------------------------------------------------


@pytest.fixture
def pg_cli(postgres_url: str, tmp_path: Path, cli_invoke: Invoke, make_canary: Callable[[str], str]) -> Cli:
    return _ready(Cli(tmp_path, cli_invoke, url=postgres_url), make_canary)


@pytest.mark.slow
def test_rotate_exits_1_when_another_process_holds_the_secret(pg_cli: Cli) -> None:
    """The engine's claim is a PostgreSQL advisory lock: held here, on its own connection, the command skips."""
    pg_cli.ok("rotation", "set", "svc", "--tenant", "acme", "--every", "30d", "--rotator", "random")
    with pg_cli.vault() as vault, vault.rotation_repo.claim("acme", "svc") as held:
        assert held
        stderr = pg_cli.refused(1, "rotate", "svc", "--tenant", "acme", says=("another process",))
        assert "try again" in stderr
        _make_due(pg_cli, ("acme", "svc"))
        [outcome] = pg_cli.json("rotate", "--due")  # skipped, not failed: exit 0
        assert outcome["status"] == "skipped"
    assert pg_cli.json("rotate", "--due")[0]["status"] == "succeeded"


def test_the_rotate_commands_import_no_store_or_web_framework() -> None:
    """``strongroom rotate --help`` must stay cheap: the engine and the vault are imported by the commands."""
    code = (
        "import sys, json\nimport strongroom.cli.main, strongroom.cli.rotate\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", code], text=True)))
    assert not loaded & {"sqlalchemy", "fastapi", "psycopg", "httpx"}, loaded
