"""``strongroom audit report``: a tenant's accesses per secret, actor and purpose, by outcome and over time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from strongroom import NotFound
from strongroom.audit import report as reports
from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault
from strongroom.vocabulary import Action, Outcome

Invoke = Callable[..., subprocess.CompletedProcess[str]]
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC).timestamp()
HOUR = 3600.0


def populate(vault: Vault, now: list[float], canary: str) -> None:
    """acme: 3 uses of stripe at 10:00, 2 of db and a refused use at 13:00, a denied brokered call at 15:00;
    other: 4 uses (not acme's). Puts and creates are not accesses."""
    vault.create_tenant("acme")
    vault.create_tenant("other")
    vault.put("acme", "stripe", canary)
    vault.put("acme", "db", "postgres://db")
    vault.put("other", "stripe", "other-value")
    for _ in range(3):
        with vault.use("acme", "stripe", purpose="charge", actor="agent-1") as secret:
            assert secret.reveal() == canary
    for _ in range(4):
        with vault.use("other", "stripe", purpose="charge", actor="agent-1"):
            pass
    now[0] = T0 + 3 * HOUR
    for _ in range(2):
        with vault.use("acme", "db", purpose="report", actor="agent-2"):
            pass
    with pytest.raises(NotFound):
        vault.use("acme", "ghost", purpose="probe", actor="agent-2")
    now[0] = T0 + 5 * HOUR
    vault.submit_event(
        vault.audit_event(
            "acme",
            Action.BROKER_CALL,
            "stripe",
            actor="agent-3",
            purpose="broker:stripe",
            outcome=Outcome.DENIED,
            detail="POST /v1/charges: destination not allowed",
        )
    )
    vault.flush_audit()


@pytest.fixture
def clock() -> list[float]:
    return [T0]


def test_report_counts_accesses_per_secret_actor_purpose_and_hour(
    open_vault: Callable[..., Vault], clock: list[float], make_canary: Callable[[str], str]
) -> None:
    """Uses and brokered calls of the tenant only, with their outcomes; hourly buckets over a short span."""
    vault = open_vault(clock=lambda: clock[0])
    canary = make_canary("report")
    populate(vault, clock, canary)
    built = reports.build(
        vault.iter_audit_events(tenant="acme", actions=reports.ACCESS_ACTIONS), "acme", since=None, until=None
    )
    data = built.as_json()
    assert canary not in json.dumps(data)
    assert data["accesses"] == 7
    assert data["outcomes"] == {"denied": 1, "not_found": 1, "ok": 5}
    assert data["actions"] == {"broker.call": 1, "secret.use": 6}
    assert [(g["secret"], g["accesses"], g["outcomes"]) for g in data["by_secret"]] == [
        ("stripe", 4, {"denied": 1, "ok": 3}),
        ("db", 2, {"ok": 2}),
        ("ghost", 1, {"not_found": 1}),
    ]
    assert [(g["actor"], g["accesses"]) for g in data["by_actor"]] == [("agent-1", 3), ("agent-2", 3), ("agent-3", 1)]
    assert [(g["purpose"], g["accesses"]) for g in data["by_purpose"]] == [
        ("charge", 3),
        ("report", 2),
        ("broker:stripe", 1),
        ("probe", 1),
    ]
    assert data["by_secret"][0]["last"] == "2026-11-30T15:00:00.000Z"
    assert data["timeline"]["bucket"] == "hour"
    assert [(p["ok"], p["refused"]) for p in data["timeline"]["points"]] == [
        (3, 0),
        (0, 0),
        (0, 0),
        (2, 1),
        (0, 0),
        (0, 1),
    ]
    assert data["timeline"]["points"][0]["start"] == "2026-11-30T10:00:00.000Z"


def test_longer_spans_are_counted_per_day_then_per_week() -> None:
    class Event:
        def __init__(self, at: float, outcome: str = "ok") -> None:
            self.at, self.outcome, self.action = at, outcome, "secret.use"
            self.secret_name, self.actor, self.purpose = "k", "a", None

    daily = reports.build([Event(T0), Event(T0 + 3 * 86400, "denied")], "t", since=None, until=None)
    bucket, points = daily.timeline()
    assert bucket == "day"
    assert [(ok, other) for _, ok, other in points] == [(1, 0), (0, 0), (0, 0), (0, 1)]
    assert daily.as_json()["by_purpose"][0]["purpose"] == "-"
    weekly = reports.build([Event(T0), Event(T0 + 200 * 86400)], "t", since=None, until=None)
    bucket, points = weekly.timeline()
    assert bucket == "week"
    assert sum(ok for _, ok, _ in points) == 2


def _env(tmp_path: Path, store_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(STRONGROOM_HOME=str(tmp_path / "home"), STRONGROOM_URL=store_url, NO_COLOR="1", COLUMNS="200")
    return env


@pytest.mark.slow
def test_report_command_table_json_and_chart(
    store_url: str, tmp_path: Path, cli_invoke: Invoke, clock: list[float], make_canary: Callable[[str], str]
) -> None:
    """A table by default, ``--json``, ``--since``, and a PNG chart; the canary value is in none of them."""
    env = _env(tmp_path, store_url)
    assert cli_invoke(["init"], env=env).returncode == 0
    canary = make_canary("report-cli")
    provider = LocalKeyProvider.from_file(tmp_path / "home" / "keys" / "dev.json")
    with Vault.open(store_url, key_provider=provider, migrate=False, actor="test", clock=lambda: clock[0]) as vault:
        populate(vault, clock, canary)
    table = cli_invoke(["audit", "report", "--tenant", "acme"], env=env)
    assert table.returncode == 0, table.stderr
    assert "7 accesses to acme's secrets from 2026-11-30 10:00Z to 2026-11-30 15:00Z" in table.stdout
    for heading in ("per secret", "per actor", "per purpose", "not_found", "denied", "broker:stripe", "ghost"):
        assert heading in table.stdout
    since = cli_invoke(["audit", "report", "--tenant", "acme", "--since", "2026-11-30T12:00Z", "--json"], env=env)
    assert since.returncode == 0, since.stderr
    data = json.loads(since.stdout)
    assert (data["accesses"], data["since"]) == (4, "2026-11-30T12:00:00.000Z")
    chart = tmp_path / "accesses.png"
    drawn = cli_invoke(["audit", "report", "--tenant", "acme", "--json", "--chart", str(chart)], env=env)
    assert drawn.returncode == 0, drawn.stderr
    assert json.loads(drawn.stdout)["accesses"] == 7
    assert f"chart written to {chart}" in drawn.stderr
    with Image.open(chart) as image:
        assert (image.format, image.size) == ("PNG", (720, 320))
        colours = {colour for _, colour in image.convert("RGB").getcolors(maxcolors=1 << 16) or []}
    assert {(46, 139, 87), (200, 50, 50)} <= colours  # ok and refused bars
    none = cli_invoke(["audit", "report", "--tenant", "other", "--since", "2999-01-01"], env=env)
    assert none.returncode == 0
    assert "0 accesses to other's secrets" in none.stdout
    for output in (table.stdout, since.stdout, drawn.stdout, drawn.stderr, chart.read_bytes().decode("latin-1")):
        assert canary not in output


@pytest.mark.slow
def test_chart_without_pillow_names_the_extra(tmp_path: Path, store_url: str, cli_invoke: Invoke) -> None:
    """Without Pillow, ``--chart`` is refused before any work, naming the extra to install."""
    env = _env(tmp_path, store_url)
    assert cli_invoke(["init"], env=env).returncode == 0
    chart = tmp_path / "c.png"
    code = (
        "import sys; sys.modules['PIL'] = None; from strongroom.cli.main import main; "
        f"main(['audit', 'report', '--tenant', 'acme', '--chart', {str(chart)!r}])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 2, result.stderr
    assert "the chart needs Pillow: pip install 'strongroom[charts]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not chart.exists()


def test_report_needs_a_tenant(tmp_path: Path, store_url: str, cli_invoke: Invoke) -> None:
    result = cli_invoke(["audit", "report"], env=_env(tmp_path, store_url))
    assert result.returncode == 2
    assert "--tenant" in result.stderr
