"""The secret inventory: rows through ``strongroom.rotation.inventory.inventory`` and ``strongroom inventory``.

Clocks are injected (the vault's, for when versions are made and used; the inventory's, for "now"), so
overdue and the usage window are decided without waiting. Every stored value is a canary that no output
may hold.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongroom import Secret
from strongroom.config import Settings, secret
from strongroom.crypto import LocalKeyProvider
from strongroom.errors import InvalidInput, RotationError
from strongroom.rotation import BaseRotator, RotationContext, Rotations, Rotators
from strongroom.rotation.inventory import FIELDS, InventoryRow, alarms, inventory
from strongroom.vault import Vault

DAY = 86400.0
T0 = 1_900_000_000.0  # a fixed start: each test moves its own clock from here

Invoke = Callable[..., subprocess.CompletedProcess[str]]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class PlatformSchema(Settings):
    signing_key: Secret[str] = secret(sensitivity="critical", rotate="90d")
    partner_token: Secret[str] = secret(sensitivity="low", rotate="7d", required_in=("prod",))


class BrokenTest(BaseRotator):
    """A rotator whose provider accepts the new credential but whose test fails (a recorded failed rotation)."""

    name: ClassVar[str] = "broken"

    def create(self, ctx: RotationContext) -> str:
        return "rotated-" + os.urandom(16).hex()

    def test(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        raise RotationError(f"secret {ctx.name!r}: step test: the provider refused the new credential")


def _by_name(rows: list[InventoryRow]) -> dict[tuple[str, str], InventoryRow]:
    return {(r.tenant, r.name): r for r in rows}


def test_overdue_follows_the_policy_and_the_injected_clock(
    open_vault: Callable[..., Vault], make_canary: Callable[[str], str]
) -> None:
    clock = Clock()
    vault = open_vault(clock=clock)
    vault.create_tenant("acme")
    vault.put("acme", "db", make_canary("db"), sensitivity="critical")
    vault.put("acme", "plain", make_canary("plain"))
    Rotations(vault, clock=clock).set_policy("acme", "db", every="30d", rotator="random")

    fresh = _by_name(inventory(vault, clock=clock))
    db = fresh[("acme", "db")]
    assert (db.rotate_every_seconds, db.rotator, db.kind, db.version) == (30 * DAY, "random", "tenant", 1)
    assert db.current_since == T0
    assert db.age_seconds == 0
    assert db.next_due is not None
    assert T0 + 28 * DAY < db.next_due <= T0 + 30 * DAY
    assert not db.overdue
    assert db.alarm is None
    assert fresh[("acme", "plain")].next_due is None
    assert not fresh[("acme", "plain")].overdue

    late = _by_name(inventory(vault, clock=lambda: T0 + 31 * DAY))
    assert late[("acme", "db")].overdue
    assert late[("acme", "db")].age_seconds == 31 * DAY
    assert late[("acme", "db")].alarm == "it is overdue for rotation"
    assert alarms(late.values()) == ["critical secret acme/db: it is overdue for rotation"]
    assert not late[("acme", "plain")].overdue  # no period: never overdue


def test_last_use_lists_recent_purposes_and_actors_of_successful_uses_only(
    open_vault: Callable[..., Vault], make_canary: Callable[[str], str]
) -> None:
    clock = Clock()
    vault = open_vault(clock=clock)
    for tenant in ("acme", "globex"):
        vault.create_tenant(tenant)
        vault.put(tenant, "api", make_canary(tenant))
    vault.put("acme", "unused", make_canary("unused"))
    with vault.use("acme", "api", purpose="nightly-export", actor="svc:old"):
        pass
    clock.now += 40 * DAY  # that use falls out of the 30-day window; the next ones are in it
    with vault.use("acme", "api", purpose="billing", actor="svc:billing"):
        pass
    clock.now += 60
    with vault.use("acme", "api", purpose="sync", actor="svc:sync"):
        pass
    with vault.use("globex", "api", purpose="globex-only", actor="svc:globex"):
        pass
    with pytest.raises(InvalidInput):  # a refused use reveals nothing and is no use
        vault.use("acme", "unused", purpose="wrong-type", type=bytes)

    rows = _by_name(inventory(vault))
    api = rows[("acme", "api")]
    assert api.last_used_at == clock.now
    assert api.purposes == ("sync", "billing")  # newest first, the window's only
    assert api.actors == ("svc:sync", "svc:billing")
    assert rows[("globex", "api")].purposes == ("globex-only",)
    unused = rows[("acme", "unused")]
    assert (unused.last_used_at, unused.purposes, unused.actors) == (None, (), ())

    only_acme = inventory(vault, tenant="acme")
    assert {r.tenant for r in only_acme} == {"acme"}
    assert "globex-only" not in json.dumps([r.to_dict() for r in only_acme])


def test_schema_secrets_are_listed_stored_or_not_and_overdue_by_their_period(
    open_vault: Callable[..., Vault], make_canary: Callable[[str], str]
) -> None:
    clock = Clock()
    vault = open_vault(clock=clock)
    vault.create_tenant("_platform")
    vault.put("_platform", "signing_key", make_canary("signing"), kind="platform")  # default sensitivity: high
    vault.put("_platform", "stored_only", make_canary("stored-only"), kind="platform")

    later = T0 + 91 * DAY
    rows = _by_name(inventory(vault, schema=PlatformSchema, clock=lambda: later))
    signing = rows[("_platform", "signing_key")]
    assert signing.source == "schema+store"
    assert signing.sensitivity == "critical"  # the schema's declaration is the stricter one
    assert (signing.rotate_every_seconds, signing.rotator) == (90 * DAY, None)
    assert signing.next_due == T0 + 90 * DAY
    assert signing.overdue
    assert signing.alarm == "it is overdue for rotation"
    declared = rows[("_platform", "partner_token")]
    assert (declared.source, declared.version, declared.kind) == ("schema", None, "platform")
    assert (declared.rotate_every_seconds, declared.overdue, declared.age_seconds) == (7 * DAY, False, None)
    assert rows[("_platform", "stored_only")].source == "store"

    on_time = _by_name(inventory(vault, schema=PlatformSchema, clock=lambda: T0 + 89 * DAY))
    assert not on_time[("_platform", "signing_key")].overdue


def test_schema_alone_is_listed_before_the_platform_stores_anything(vault: Vault) -> None:
    vault.create_tenant("acme")
    rows = inventory(vault, schema=PlatformSchema)
    assert [(r.tenant, r.name, r.source) for r in rows] == [
        ("_platform", "partner_token", "schema"),
        ("_platform", "signing_key", "schema"),
    ]
    assert inventory(vault, schema=PlatformSchema, tenant="acme") == []


# -- the command -----------------------------------------------------------------------------------------


class Cli:
    """``strongroom`` in-process on a fresh home; remembers every output for the canary check."""

    def __init__(self, home: Path, invoke: Invoke) -> None:
        self.home, self.invoke = home, invoke
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        self.env.update(STRONGROOM_HOME=str(home), STRONGROOM_ACTOR="test:cli", NO_COLOR="1", COLUMNS="80")
        self.outputs: list[str] = []

    def run(self, *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Any:
        result = self.invoke(args, env={**self.env, **(env or {})}, cwd=cwd)
        self.outputs += [result.stdout, result.stderr]
        assert "Traceback" not in result.stderr + result.stdout
        return result

    def vault(self) -> Vault:
        provider = LocalKeyProvider.from_file(self.home / "keys" / "dev.json")
        return Vault.open(f"sqlite:///{self.home / 'strongroom.db'}", key_provider=provider, actor="test:setup")


@pytest.fixture
def cli(tmp_path: Path, cli_invoke: Invoke) -> Cli:
    runner = Cli(tmp_path / "home", cli_invoke)
    assert runner.run("init").returncode == 0
    return runner


def _stock(cli: Cli, canaries: list[str], make_canary: Callable[[str], str], *, db_sensitivity: str) -> None:
    """Tenant acme with a secret ``db`` whose last rotation failed, and a used secret ``api``."""
    with cli.vault() as vault:
        vault.create_tenant("acme")
        for name, sensitivity in (("db", db_sensitivity), ("api", "high")):
            canaries.append(make_canary(name))
            vault.put("acme", name, canaries[-1], sensitivity=sensitivity)
        rotations = Rotations(vault, rotators=Rotators(extra={"broken": BrokenTest}))
        rotations.set_policy("acme", "db", every="30d", rotator="broken")
        assert rotations.rotate("acme", "db").failed
        with vault.use("acme", "api", purpose="=HYPERLINK(evil)", actor="svc:api"):
            pass


def test_cli_exits_1_naming_a_critical_secret_whose_last_rotation_failed(
    cli: Cli, make_canary: Callable[[str], str]
) -> None:
    canaries: list[str] = []
    _stock(cli, canaries, make_canary, db_sensitivity="critical")

    table = cli.run("inventory")
    assert table.returncode == 1
    assert "critical secret acme/db: its last rotation failed" in table.stderr
    assert "acme/api" not in table.stderr
    lines = table.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), table.stdout
    assert any("acme/db" in line and "FAILED" in line and "CRIT" in line for line in lines), table.stdout

    rows = json.loads(cli.run("inventory", "--json").stdout)
    assert [sorted(r) for r in rows] == [sorted(FIELDS)] * 2
    db = next(r for r in rows if r["name"] == "db")
    assert (db["last_rotation_status"], db["rotator"], db["sensitivity"]) == ("failed", "broken", "critical")
    assert "step test" in db["last_rotation_error"]
    assert db["last_rotation_at"].endswith("Z")
    assert db["current_since"].endswith("Z")
    api = next(r for r in rows if r["name"] == "api")
    assert (api["purposes"], api["actors"]) == (["=HYPERLINK(evil)"], ["svc:api"])

    as_csv = cli.run("inventory", "--csv", "--tenant", "acme")
    assert as_csv.returncode == 1
    parsed = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["name"] for r in parsed] == ["api", "db"]
    assert tuple(parsed[0]) == FIELDS
    assert parsed[0]["purposes"] == "'=HYPERLINK(evil)"  # a spreadsheet shows it as text, never runs it
    assert parsed[1]["last_rotation_status"] == "failed"
    assert parsed[1]["overdue"] == "false"

    for output in cli.outputs:
        for canary in canaries:
            assert canary not in output, "a secret value was printed"


def test_cli_exits_0_when_only_a_non_critical_secret_failed(cli: Cli, make_canary: Callable[[str], str]) -> None:
    canaries: list[str] = []
    _stock(cli, canaries, make_canary, db_sensitivity="high")
    result = cli.run("inventory", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert {r["last_rotation_status"] for r in json.loads(result.stdout)} == {"failed", None}


def test_cli_lists_a_schema_and_refuses_bad_input_clearly(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "inv_schema.py").write_text(
        "from strongroom import Secret\nfrom strongroom.config import Settings, secret\n\n\n"
        "class App(Settings):\n    signing_key: Secret[str] = secret(sensitivity='critical', rotate='90d')\n",
        encoding="utf-8",
    )
    listed = cli.run("inventory", "--schema", "inv_schema:App", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [(r["tenant"], r["name"], r["source"]) for r in json.loads(listed.stdout)] == [
        ("_platform", "signing_key", "schema")
    ]

    both = cli.run("inventory", "--json", "--csv")
    assert both.returncode == 2
    assert "give --json or --csv, not both" in both.stderr
    unknown = cli.run("inventory", "--tenant", "nope")
    assert unknown.returncode == 1
    assert "tenant 'nope' not found" in unknown.stderr
    bad_schema = cli.run("inventory", "--schema", "no_such_module:App", cwd=tmp_path)
    assert bad_schema.returncode != 0
    assert "cannot import schema module 'no_such_module'" in bad_schema.stderr


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offset=st.floats(min_value=0, max_value=400 * DAY, allow_nan=False))
def test_overdue_and_age_follow_now_whatever_it_is(stocked_clock_vault: Vault, offset: float) -> None:
    """Reads only: the vault made once per test is shared by the examples."""
    vault = stocked_clock_vault
    rows = _by_name(inventory(vault, schema=PlatformSchema, clock=lambda: T0 + offset))
    db, signing = rows[("acme", "db")], rows[("_platform", "signing_key")]
    assert db.next_due is not None
    assert db.overdue == (T0 + offset >= db.next_due)
    assert signing.overdue == (offset >= 90 * DAY)
    assert db.age_seconds == pytest.approx(offset, abs=1e-3)
    assert (db.alarm is not None) == db.overdue  # critical: overdue is an alarm
    assert signing.alarm == ("it is overdue for rotation" if signing.overdue else None)


@pytest.fixture
def stocked_clock_vault(open_vault: Callable[..., Vault], make_canary: Callable[[str], str]) -> Vault:
    """A critical tenant secret with a 30-day policy and a stored schema secret, both made at T0."""
    clock = Clock()
    vault = open_vault(clock=clock)
    vault.create_tenant("acme")
    vault.create_tenant("_platform")
    vault.put("acme", "db", make_canary("db"), sensitivity="critical")
    vault.put("_platform", "signing_key", make_canary("signing"), kind="platform")
    Rotations(vault, clock=clock).set_policy("acme", "db", every="30d", rotator="random")
    return vault
