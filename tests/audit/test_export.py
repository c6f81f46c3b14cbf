"""``strongroom audit export``: JSON lines, OTLP JSON and CEF, read back by strict readers; never a value."""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from strongroom import InvalidInput, NotFound
from strongroom.audit.export import cef_line, export, parse_when
from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault

Invoke = Callable[..., subprocess.CompletedProcess[str]]
COLUMNS = {
    "id",
    "chain",
    "seq",
    "at",
    "environment",
    "actor",
    "tenant",
    "tenant_id",
    "action",
    "secret_name",
    "version",
    "purpose",
    "outcome",
    "request_id",
    "detail",
    "context",
    "link",
    "prev",
}
TRICKY_ACTOR = "ci|bot=x\\y"


def populate(vault: Vault, canary: str) -> None:
    """A tenant with a canary value put and used, a refusal, and another tenant."""
    vault.create_tenant("acme")
    vault.create_tenant("other")
    vault.put("acme", "stripe", canary)
    with vault.use("acme", "stripe", purpose="charge card", request_id="req-1", actor=TRICKY_ACTOR) as secret:
        assert secret.reveal() == canary
    with pytest.raises(NotFound):
        vault.use("acme", "missing", purpose="probe")
    vault.put("other", "k", "other-value")
    vault.flush_audit()


def exported(vault: Vault, fmt: str, **filters: Any) -> str:
    out = io.StringIO()
    export(vault.iter_audit_events(**filters), fmt, out, environment=vault.environment)
    return out.getvalue()


# -- a strict CEF reader --------------------------------------------------------------------------------

_HEADER_ESCAPES = {"\\": "\\", "|": "|", "n": "\n", "r": "\r"}
_VALUE_ESCAPES = {"\\": "\\", "=": "=", "n": "\n", "r": "\r"}
_NEXT_KEY = re.compile(r" [A-Za-z0-9_]+=")


def parse_cef(line: str) -> tuple[list[str], dict[str, str]]:
    """(the 7 header fields, the extension), refusing anything CEF:0 does not allow: an unknown escape, an
    unescaped ``|`` in the header or ``=`` in a value, a raw line break, a repeated key."""
    assert line.endswith("\n")
    line = line[:-1]
    assert not set(line) & {"\n", "\r"}, "raw line break"
    fields: list[str] = []
    current, i = "", 0
    while len(fields) < 7:
        c = line[i]
        if c == "\\":
            escaped = line[i + 1]
            assert escaped in _HEADER_ESCAPES, f"unknown header escape \\{escaped}"
            current += _HEADER_ESCAPES[escaped]
            i += 2
        elif c == "|":
            fields.append(current)
            current, i = "", i + 1
        else:
            current += c
            i += 1
    assert fields[0] == "CEF:0"
    ext, extension, j = line[i:], {}, 0
    while j < len(ext):
        key_match = re.compile(r"([A-Za-z0-9_]+)=").match(ext, j)
        assert key_match is not None, f"no key at {ext[j:]!r}"
        key, j, value = key_match.group(1), key_match.end(), ""
        while j < len(ext):
            c = ext[j]
            if c == "\\":
                escaped = ext[j + 1]
                assert escaped in _VALUE_ESCAPES, f"unknown value escape \\{escaped}"
                value += _VALUE_ESCAPES[escaped]
                j += 2
            elif c == "=":
                raise AssertionError(f"unescaped '=' in the value of {key}")
            elif _NEXT_KEY.match(ext, j):
                j += 1
                break
            else:
                value += c
                j += 1
        assert key not in extension, f"repeated key {key}"
        extension[key] = value
    return fields, extension


def labelled(extension: dict[str, str]) -> dict[str, str]:
    """``csN``/``cnN``/``flexStringN`` values by their labels."""
    return {v: extension[k.removesuffix("Label")] for k, v in extension.items() if k.endswith("Label")}


# -- tests ----------------------------------------------------------------------------------------------


def test_jsonl_has_every_column_of_every_event(open_vault: Callable[..., Vault], make_canary: Any) -> None:
    """One JSON object per line, every column, ``at`` in ISO-8601 UTC, context parsed; the value nowhere."""
    vault = open_vault()
    canary = make_canary("export")
    populate(vault, canary)
    text = exported(vault, "jsonl")
    assert canary not in text
    rows = [json.loads(line) for line in text.splitlines()]
    stored = vault.audit_events()
    assert [r["id"] for r in rows] == [e.id for e in stored]
    for row, event in zip(rows, stored, strict=True):
        assert set(row) == COLUMNS
        assert datetime.fromisoformat(row["at"]).timestamp() == pytest.approx(event.at, abs=1e-6)
        assert row["at"].endswith("Z")
        assert (row["chain"], row["seq"], row["link"], row["prev"]) == (
            event.chain,
            event.seq,
            event.hash,
            event.prev_hash,
        )
        assert row["context"] == (None if event.context is None else json.loads(event.context))
    use = next(r for r in rows if r["action"] == "secret.use" and r["outcome"] == "ok")
    assert (use["actor"], use["purpose"], use["request_id"], use["tenant"]) == (
        TRICKY_ACTOR,
        "charge card",
        "req-1",
        "acme",
    )


def test_otel_export_is_accepted_by_the_opentelemetry_decoder(
    open_vault: Callable[..., Vault], make_canary: Any
) -> None:
    """Each line is an ExportLogsServiceRequest the opentelemetry-proto decoder accepts, one LogRecord per
    event, with the resource, times and severities of the events."""
    vault = open_vault()
    canary = make_canary("otel")
    populate(vault, canary)
    text = exported(vault, "otel")
    assert canary not in text
    records = []
    for line in text.splitlines():
        request = json_format.Parse(line, ExportLogsServiceRequest())
        for resource_logs in request.resource_logs:
            resource = {a.key: a.value.string_value for a in resource_logs.resource.attributes}
            assert resource["service.name"] == "strongroom"
            assert resource["deployment.environment.name"] == "dev"
            for scope_logs in resource_logs.scope_logs:
                assert scope_logs.scope.name == "strongroom.audit"
                records.extend(scope_logs.log_records)
    stored = vault.audit_events()
    assert len(records) == len(stored)
    for record, event in zip(records, stored, strict=True):
        attributes = {a.key: a.value for a in record.attributes}
        assert attributes["strongroom.audit.id"].int_value == event.id
        assert attributes["strongroom.audit.link"].string_value == event.hash
        assert attributes["strongroom.action"].string_value == event.action
        assert record.time_unix_nano == round(event.at * 1_000_000) * 1000
        assert record.severity_text == ("INFO" if event.outcome == "ok" else "WARN")
        assert record.body.string_value == f"{event.action} {event.outcome}"
    refused = next(r for r in records if r.body.string_value == "secret.use not_found")
    assert refused.severity_number == 13


def test_cef_lines_parse_strictly(open_vault: Callable[..., Vault], make_canary: Any) -> None:
    """Every line parses with a strict CEF:0 reader, and ``|``, ``\\`` and ``=`` come back as written."""
    vault = open_vault()
    canary = make_canary("cef")
    populate(vault, canary)
    text = exported(vault, "cef")
    assert canary not in text
    lines = text.splitlines(keepends=True)
    stored = vault.audit_events()
    assert len(lines) == len(stored)
    for line, event in zip(lines, stored, strict=True):
        header, extension = parse_cef(line)
        assert header[1:5] == ["strongroom", "strongroom", header[3], event.action]
        assert header[5] == f"{event.action} {event.outcome}"
        assert extension["externalId"] == str(event.id)
        assert extension["suser"] == event.actor
        assert int(extension["rt"]) == round(event.at * 1000)
        assert labelled(extension)["link"] == event.hash
    use = next(parse_cef(line)[1] for line in lines if "act=secret.use outcome=ok" in line)
    assert use["suser"] == TRICKY_ACTOR
    assert labelled(use)["purpose"] == "charge card"


def test_cef_escapes_line_breaks_and_separators_in_every_field() -> None:
    """A header field with ``|`` and a value with ``=``, ``\\``, ``|`` and line breaks survive the round trip."""
    tricky = "a|b\\c=d\ne\rf"
    row = {
        "id": 7,
        "chain": "dev/tenant:x",
        "seq": 3,
        "at": 1_796_000_000.25,
        "environment": "dev",
        "actor": tricky,
        "tenant": "acme",
        "tenant_id": "x",
        "action": "secret.use|x",
        "secret_name": "k",
        "version": 1,
        "purpose": tricky,
        "outcome": "ok",
        "request_id": None,
        "detail": tricky,
        "context": json.dumps({"client": {"address": "10.0.0.1"}, "note": tricky}),
        "hash": "ab" * 32,
        "prev_hash": "0" * 64,
    }
    header, extension = parse_cef(cef_line(row))
    assert header[4] == "secret.use|x"
    assert (extension["suser"], extension["msg"], labelled(extension)["purpose"]) == (tricky,) * 3
    assert json.loads(labelled(extension)["context"])["note"] == tricky
    assert "cs4" not in extension
    assert "cs4Label" not in extension


def test_paged_reader_matches_the_whole_read_and_its_filters(open_vault: Callable[..., Vault]) -> None:
    """Pages smaller than the log give the same events, in order, as one read, for every filter."""
    vault = open_vault()
    vault.create_tenant("acme")
    vault.create_tenant("other")
    for i in range(12):
        vault.put("acme" if i % 3 else "other", f"k{i}", f"v{i}")
    vault.flush_audit()
    everything = vault.audit_events()
    assert [e.id for e in vault.iter_audit_events(page_size=5)] == [e.id for e in everything]
    middle = everything[len(everything) // 2].at
    assert [e.id for e in vault.iter_audit_events(page_size=4, since=middle)] == [
        e.id for e in vault.audit_events(since=middle)
    ]
    assert [e.id for e in vault.iter_audit_events(page_size=4, until=middle)] == [
        e.id for e in vault.audit_events(until=middle)
    ]
    acme = [e.id for e in vault.iter_audit_events(page_size=3, tenant="acme")]
    assert acme == [e.id for e in vault.audit_events(tenant="acme")]
    assert len(acme) == 9  # tenant.create and 8 puts
    assert list(vault.iter_audit_events(page_size=3, actions={"tenant.create"})) == [
        e for e in everything if e.action == "tenant.create"
    ]


def test_when_takes_iso_times_and_ages() -> None:
    now = 1_796_000_000.0
    assert parse_when("24h", now) == now - 86400
    assert parse_when("7d", now) == now - 7 * 86400
    assert parse_when("90s", now) == now - 90
    assert parse_when("2026-12-01T09:00Z", now) == datetime(2026, 12, 1, 9, tzinfo=UTC).timestamp()
    assert parse_when("2026-12-01T09:00", now) == datetime(2026, 12, 1, 9, tzinfo=UTC).timestamp()
    assert parse_when("2026-12-01T10:00+01:00", now) == datetime(2026, 12, 1, 9, tzinfo=UTC).timestamp()
    with pytest.raises(InvalidInput, match="--since 'yesterday' is not a time"):
        parse_when("yesterday", now)


# -- the command ------------------------------------------------------------------------------------------


def _env(tmp_path: Path, store_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(STRONGROOM_HOME=str(tmp_path / "home"), STRONGROOM_URL=store_url, NO_COLOR="1", COLUMNS="200")
    return env


def test_export_command_writes_each_format(
    store_url: str, tmp_path: Path, cli_invoke: Invoke, make_canary: Any
) -> None:
    """``audit export`` writes each format to stdout or a 0600 file, filtered by tenant and time; the canary
    value never appears; bad times are refused in one line."""
    env = _env(tmp_path, store_url)
    assert cli_invoke(["init"], env=env).returncode == 0
    canary = make_canary("cli-export")
    provider = LocalKeyProvider.from_file(tmp_path / "home" / "keys" / "dev.json")
    with Vault.open(store_url, key_provider=provider, migrate=False, actor="test") as vault:
        populate(vault, canary)
        acme = len(vault.audit_events(tenant="acme"))
    outputs = []
    for fmt in ("jsonl", "otel", "cef"):
        target = tmp_path / f"audit.{fmt}"
        result = cli_invoke(
            ["audit", "export", "--format", fmt, "--tenant", "acme", "--since", "1h", "-o", str(target)], env=env
        )
        assert result.returncode == 0, result.stderr
        assert f"exported {acme} events to {target} ({fmt})" in result.stderr
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        outputs += [target.read_text(), result.stdout, result.stderr]
    jsonl = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert len(jsonl) == acme
    assert {r["tenant"] for r in jsonl} == {"acme"}
    to_stdout = cli_invoke(["audit", "export", "--format", "jsonl"], env=env)
    assert to_stdout.returncode == 0
    assert len(to_stdout.stdout.splitlines()) > acme
    outputs += [to_stdout.stdout, to_stdout.stderr]
    future = cli_invoke(["audit", "export", "--format", "cef", "--since", "2999-01-01"], env=env)
    assert (future.returncode, future.stdout) == (0, "")
    refused = cli_invoke(["audit", "export", "--format", "jsonl", "--since", "yesterday"], env=env)
    assert refused.returncode == 2
    assert "--since 'yesterday' is not a time" in refused.stderr
    assert "Traceback" not in refused.stderr
    backwards = cli_invoke(["audit", "export", "--format", "jsonl", "--since", "1h", "--until", "2h"], env=env)
    assert backwards.returncode == 2
    assert "is not after --since" in backwards.stderr
    for output in outputs:
        assert canary not in output
