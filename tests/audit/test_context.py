"""An audit event's context (``strongroom.audit.context``): compact, bounded, printable, and recorded by
``Vault.use`` and ``Vault.audit_event`` on every store, read back by ``strongroom audit tail``.

The service's side (headers, token claims, client addresses, the broker's outcome) is in
``tests/server/test_audit_context.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import pytest
from sqlalchemy import select

from strongroom import InvalidInput, NotFound
from strongroom.audit.context import (
    MAX_CONTEXT_CHARS,
    WITHHELD,
    AuditContext,
    decode,
    header_labels,
    label,
    screened,
    summary,
)
from strongroom.crypto import LocalKeyProvider
from strongroom.store.tables import audit_events
from strongroom.vault import Vault

HOSTILE = [
    "line\nbreak\r\n",
    "\x1b[31mred\x1b[0m",
    "nul\x00byte\x7f",
    "right-to-left \u202eevil",
    'quotes " and back\\slashes \\',
    "café ☃ \U0001f600",
    "\ud800 lone surrogate",
    "x" * 10_000,
    "\x00" * 10_000,
    '"' * 10_000,
    "\\" * 10_000,
]
TEXT_FIELDS = [f.name for f in fields(AuditContext) if f.name not in ("status", "upstream_status")]


def _printable_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()


def test_encode_is_compact_json_with_sorted_keys_and_none_when_empty() -> None:
    assert AuditContext().encode() is None
    context = AuditContext(status=200, client="10.0.0.1", agent_run="run-1", connector="crm", operation="list")
    assert context.encode() == (
        '{"agent_run":"run-1","client":"10.0.0.1","connector":"crm","operation":"list","status":200}'
    )
    assert decode(context.encode()) == {
        "agent_run": "run-1",
        "client": "10.0.0.1",
        "connector": "crm",
        "operation": "list",
        "status": 200,
    }
    assert context.but(status=None, client=None, agent_run=None, connector=None, operation=None).encode() is None


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v[:12]))
@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_every_text_field_is_bounded_printable_ascii(field: str, value: str) -> None:
    """Control characters, escapes, non-ASCII, quotes and 10,000 characters: each field is stored as printable
    ASCII within its bound, and reads back as the escaped text (never a raw control character)."""
    encoded = AuditContext(**{field: value}).encode()
    assert encoded is not None
    assert _printable_ascii(encoded), encoded
    stored = decode(encoded)[field]
    assert _printable_ascii(stored), stored
    bound = 64 if field in ("client", "peer") else 128
    assert len(json.dumps(stored)) - 2 <= bound, (len(stored), stored[:40])
    for raw in ("\n", "\x1b", "\x00", "\u202e"):
        assert raw not in stored


def test_the_longest_context_fits_its_bound() -> None:
    """Every field at its worst (quotes and backslashes cost double in JSON), and the statuses: at most
    MAX_CONTEXT_CHARS, the bound Vault.use checks."""
    worst = AuditContext(**dict.fromkeys(TEXT_FIELDS, '"\\' * 5000), status=599, upstream_status=599)
    encoded = worst.encode()
    assert encoded is not None
    assert len(encoded) <= MAX_CONTEXT_CHARS
    assert len(encoded) > MAX_CONTEXT_CHARS // 2  # the bound is not slack


def test_label_escapes_and_cuts_between_escapes() -> None:
    assert label("plain-run_1.2") == "plain-run_1.2"
    assert label("a\nb\tc") == "a\\nb\\tc"
    assert label("é\x1b") == "\\xe9\\x1b"
    assert label("\u202e") == "\\u202e"
    assert label("") is None
    assert label(None) is None
    cut = label("y" * 500)
    assert cut == "y" * 125 + "..."
    nuls = label("\x00" * 100)
    assert nuls is not None
    assert nuls.endswith("...")
    assert nuls[:-3] == "\\x00" * ((128 - 3) // 5)  # each \x00 costs 5 as JSON writes it; none is split
    exact = "z" * 128
    assert label(exact) == exact  # a text exactly at the bound is not cut


@pytest.mark.parametrize("status", [99, 600, -1, True, "200"])
def test_a_status_outside_http_is_left_out(status: object) -> None:
    assert AuditContext(status=status).encode() is None  # type: ignore[arg-type]


def test_header_labels_read_only_the_documented_headers_and_screened_withholds() -> None:
    headers = {
        "x-strongroom-agent-run": "run-7",
        "x-strongroom-tool-call": "call_abc",
        "openai-conversation-id": "conv-1",
        "openai-ephemeral-user-id": "user-9",
        "mcp-session-id": "sess-2",
        "authorization": "Bearer not-a-label",
        "cookie": "session=abc",
        "x-other": "ignored",
    }
    labels = header_labels(headers)
    assert labels == {
        "agent_run": "run-7",
        "tool_call": "call_abc",
        "conversation": "conv-1",
        "end_user": "user-9",
        "mcp_session": "sess-2",
    }
    assert screened(labels, lambda text: text == "conv-1")["conversation"] == WITHHELD
    assert screened(labels, lambda text: False) == labels


def test_summary_is_compact() -> None:
    context = AuditContext(
        connector="crm", operation="list", key_id="Ab3dE5f7", agent_run="r-1", client="10.0.0.5", status=200
    )
    assert summary(context.encode()) == "op=crm.list key=Ab3dE5f7 run=r-1 from=10.0.0.5 status=200"
    assert summary(None) == ""
    assert summary("not json") == ""


# -- the vault records it ----------------------------------------------------------------------------------


def _raw_contexts(vault: Vault) -> list[tuple[str, str | None]]:
    vault.flush_audit()
    with vault._store.engine.connect() as conn:
        rows = conn.execute(select(audit_events.c.action, audit_events.c.context).order_by(audit_events.c.id))
        return [(row[0], row[1]) for row in rows]


def test_use_records_its_context_cold_hot_and_refused(vault: Vault, make_canary: Callable[[str], str]) -> None:
    """The context string handed to use() is the event's, as it is: on a cold use, on a hot one, and on a
    refusal (not found); the audit chain still verifies, so the link covers it."""
    value = make_canary("context-use")
    vault.create_tenant("t")
    vault.put("t", "k", value)
    context = AuditContext(key_id="Ab3dE5f7", agent_run="run-1", tool_call="call-1", client="10.0.0.5").encode()
    for _ in range(2):  # cold, then from the hot cache
        with vault.use("t", "k", purpose="report", context=context) as secret:
            assert secret.reveal() == value
    with pytest.raises(NotFound):
        vault.use("t", "missing", purpose="report", context=context)
    uses = [c for action, c in _raw_contexts(vault) if action == "secret.use"]
    assert uses == [context, context, context]
    [refused] = [e for e in vault.audit_events(tenant="t", action="secret.use") if e.outcome == "not_found"]
    assert refused.context == context
    assert vault.verify_audit().ok
    raw = json.dumps(_raw_contexts(vault))
    assert value not in raw


@pytest.mark.parametrize("bad", ["line\nbreak", "x" * (MAX_CONTEXT_CHARS + 1), "caf\u00e9"])
def test_use_refuses_a_context_that_is_not_bounded_printable_ascii(vault: Vault, bad: str) -> None:
    """A library caller's hand-made context is checked, cold and hot: InvalidInput naming the fix, no use."""
    vault.create_tenant("t")
    vault.put("t", "k", "value-of-k")
    for _ in range(2):
        with pytest.raises(InvalidInput, match=r"AuditContext\(\.\.\.\)\.encode\(\)"):
            vault.use("t", "k", purpose="report", context=bad)
        with vault.use("t", "k", purpose="warm"):  # the second round is hot
            pass
    with pytest.raises(InvalidInput, match="printable ASCII"):
        vault.audit_event("t", "secret.use", context=bad)
    assert all(c is None for _, c in _raw_contexts(vault))


def test_audit_event_carries_the_context(vault: Vault) -> None:
    context = AuditContext(client="10.0.0.5", status=403, error="forbidden").encode()
    vault.create_tenant("t")
    vault.enqueue_event(vault.audit_event("t", "auth.denied", actor="key:Ab3dE5f7", context=context))
    [event] = vault.audit_events(tenant="t", action="auth.denied")
    assert event.context == context
    assert vault.verify_audit().ok


# -- strongroom audit tail ---------------------------------------------------------------------------------


def test_audit_tail_shows_the_context(
    tmp_path: Path, cli_invoke: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """The table shows the context compactly (agents' text never read as markup); --json as an object."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(STRONGROOM_HOME=str(home), STRONGROOM_ACTOR="test:cli", NO_COLOR="1", COLUMNS="250")

    def run(*args: str, stdin: bytes = b"") -> str:
        result = cli_invoke(args, env=env, cwd=tmp_path, stdin=stdin)
        assert result.returncode == 0, result.stderr
        return result.stdout

    run("init")
    run("tenant", "create", "acme")
    run("secret", "put", "acme", "db", stdin=b"value-of-db")
    context = AuditContext(
        connector="crm", operation="list", key_id="Ab3dE5f7", agent_run="[bold]run-1", client="10.0.0.5", status=200
    ).encode()
    provider = LocalKeyProvider.from_file(home / "keys" / "dev.json")
    with (
        Vault.open(f"sqlite:///{home / 'strongroom.db'}", key_provider=provider, actor="test:reader") as vault,
        vault.use("acme", "db", purpose="report", context=context),
    ):
        pass
    table = run("audit", "tail")
    assert "op=crm.list key=Ab3dE5f7 run=[bold]run-1 from=10.0.0.5 status=200" in table
    events = json.loads(run("audit", "tail", "--json"))
    assert events[-1]["action"] == "secret.use"
    assert events[-1]["context"] == decode(context)
    assert events[0]["context"] is None  # tenant.create, from the CLI: no request, no context
