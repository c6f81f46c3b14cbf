"""Every audited access through the service records its context (docs/audit.md, Context): who (API key id,
token id and subject, the key that minted it, the OAuth client), for what (connector and operation), on whose
behalf (token claims and the documented headers, GPT Actions' and MCP's among them), from where (the client,
and the trusted proxy it came through), and the status the caller got.

Through the HTTP API (the app in a TestClient; ``strongroom serve`` as a process for forwarded addresses),
on SQLite and PostgreSQL where the fixture allows; the audit table is read raw where secrets must be absent.
"""

from __future__ import annotations

import importlib.util
import json
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from strongroom.audit.context import WITHHELD
from strongroom.rules import RULES
from strongroom.store.tables import audit_events
from strongroom.testing.samples import sample
from strongroom.vault import Vault

GPT_HEADERS = {
    "OpenAI-Conversation-Id": "g-conv-8f2e",
    "OpenAI-Ephemeral-User-Id": "eph-user-41c0",
}


def _real_server_module() -> Any:
    """``tests/security/_real_server.py`` (``strongroom serve`` as a subprocess), loaded by path."""
    name = "_strongroom_real_server"
    if name not in sys.modules:
        path = Path(__file__).parent.parent / "security" / "_real_server.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def _events(vault: Vault, action: str, tenant: str | None = None) -> list[Any]:
    return [e for e in vault.audit_events(tenant=tenant) if e.action == action]


def _context(event: Any) -> dict[str, Any]:
    assert event.context is not None, event
    found: dict[str, Any] = json.loads(event.context)
    return found


def _raw_audit_table(vault: Vault) -> str:
    """Every column of every audit row, as the database holds it."""
    vault.flush_audit()
    with vault._store.engine.connect() as conn:
        return "\n".join(repr(tuple(row)) for row in conn.execute(select(audit_events)))


@pytest.fixture
def agent(service_on_store: Any, canary_credential: str) -> Any:
    """Tenant A's ``echo`` credential stored, and an agent token minted for one run and one OAuth client."""
    s = service_on_store
    put = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/echo_api_key", json={"value": canary_credential}, headers=s.auth(s.a.key)
    )
    assert put.status_code == 200, put.text
    issued = s.client.post(
        "/v1/tokens",
        json={
            "scopes": ["actions:invoke"],
            "subject": "crm-assistant",
            "agent_run": "run-2026-12-03-0001",
            "client_id": "chatgpt-gpt-crm",
        },
        headers=s.auth(s.a.key),
    )
    assert issued.status_code == 201, issued.text
    s.credential = canary_credential
    s.token = issued.json()["access_token"]
    s.jti = issued.json()["jti"]
    return s


def test_a_brokered_call_records_who_for_what_on_whose_behalf_from_where_and_the_status(agent: Any) -> None:
    """The credential's secret.use and the call's broker.call both carry the whole context; the broker.call
    adds the status the agent got and the upstream's."""
    s = agent
    answer = s.client.get(
        "/v1/actions/echo/anything?q=1",
        headers={
            **s.auth(s.token),
            **GPT_HEADERS,
            "X-Strongroom-Tool-Call": "call_7Qx2",
            "Mcp-Session-Id": "mcp-sess-19",
            "X-Request-Id": "req-ctx-1",
        },
    )
    assert answer.status_code == 200, answer.text
    who = {
        "key_id": s.a.key_id,  # the key that minted the token
        "token_id": s.jti,
        "subject": "crm-assistant",
        "client_id": "chatgpt-gpt-crm",
        "agent_run": "run-2026-12-03-0001",
        "tool_call": "call_7Qx2",
        "conversation": "g-conv-8f2e",
        "end_user": "eph-user-41c0",
        "mcp_session": "mcp-sess-19",
        "client": "testclient",  # the TestClient's peer address
        "connector": "echo",
        "operation": "anything",
    }
    [use] = [e for e in _events(s.vault, "secret.use", s.a.name) if e.purpose == "broker:echo"]
    assert _context(use) == who
    assert use.request_id == "req-ctx-1"
    [call] = _events(s.vault, "broker.call", s.a.name)
    assert _context(call) == {**who, "status": 200, "upstream_status": 200}
    listed = s.client.get("/v1/audit", params={"action": "broker.call"}, headers=s.auth(s.a.key)).json()
    assert listed[0]["context"] == {**who, "status": 200, "upstream_status": 200}
    assert s.vault.verify_audit().ok


def test_an_api_key_caller_is_named_by_its_key_and_a_header_names_the_run(agent: Any) -> None:
    """A key calling the broker has no token id or subject; X-Strongroom-Agent-Run names its run."""
    s = agent
    headers = {**s.auth(s.a.key), "X-Strongroom-Agent-Run": "nightly-sync-12"}
    assert s.client.get("/v1/actions/echo/anything", headers=headers).status_code == 200
    [call] = _events(s.vault, "broker.call", s.a.name)
    assert _context(call) == {
        "key_id": s.a.key_id,
        "agent_run": "nightly-sync-12",
        "client": "testclient",
        "connector": "echo",
        "operation": "anything",
        "status": 200,
        "upstream_status": 200,
    }


@pytest.mark.slow
def test_a_token_claim_names_the_run_over_the_header(agent: Any) -> None:
    """The token's agent_run claim is signed by the tenant's backend; the agent's header does not replace it."""
    s = agent
    headers = {**s.auth(s.token), "X-Strongroom-Agent-Run": "forged-run"}
    assert s.client.get("/v1/actions/echo/anything", headers=headers).status_code == 200
    [call] = _events(s.vault, "broker.call", s.a.name)
    assert _context(call)["agent_run"] == "run-2026-12-03-0001"


@pytest.mark.parametrize(
    ("path", "status", "upstream_status", "error"),
    [
        ("/v1/actions/echo/status/503", 503, 503, None),  # the upstream's own status, passed on
        ("/v1/actions/echo/huge?size=200000", 502, 200, "upstream_response_too_large"),  # refused for size
        ("/v1/actions/echo/close", 502, None, "upstream_error"),  # no answer at all
        ("/v1/actions/echo/nowhere", 404, None, "not_found"),  # no such operation
        ("/v1/actions/nosuch/anything", 404, None, "not_found"),  # no such connector: an event too
    ],
)
def test_the_outcome_recorded_is_the_status_the_agent_got(
    agent: Any, path: str, status: int, upstream_status: int | None, error: str | None
) -> None:
    s = agent
    answer = s.client.get(path, headers={**s.auth(s.token), "X-Strongroom-Tool-Call": "call-x"})
    assert answer.status_code == status, answer.text
    if error is not None:
        assert answer.json()["error"]["code"] == error
    [call] = _events(s.vault, "broker.call", s.a.name)
    context = _context(call)
    assert context["status"] == status
    assert context.get("upstream_status") == upstream_status
    assert context.get("error") == error
    assert (context["tool_call"], context["token_id"], context["client"]) == ("call-x", s.jti, "testclient")
    assert context["connector"] == path.split("/")[3]


def test_refusals_record_who_and_from_where(agent: Any) -> None:
    """401 (a revoked key of A: in A's chain), 403 (a token without actions:invoke) and a request without a
    credential (the environment's chain) each name the claimed or proven caller, the client and the status."""
    s = agent
    key, key_id = s.new_key(s.a.name, ["secrets:read-metadata"])
    assert s.client.delete(f"/v1/tenants/{s.a.name}/api-keys/{key_id}", headers=s.auth(s.admin)).status_code == 204
    labels = {"X-Strongroom-Agent-Run": "run-refused", "X-Strongroom-Tool-Call": "call-refused"}
    assert s.client.get("/v1/actions/echo/anything", headers={**s.auth(key), **labels}).status_code == 401
    [failed] = [e for e in _events(s.vault, "auth.fail", s.a.name) if key_id in e.actor]
    assert _context(failed) == {
        "key_id": key_id,
        "agent_run": "run-refused",
        "tool_call": "call-refused",
        "client": "testclient",
        "status": 401,
        "error": "unauthenticated",
    }

    issued = s.client.post(
        "/v1/tokens", json={"scopes": ["secrets:read-metadata"], "subject": "narrow-agent"}, headers=s.auth(s.a.key)
    )
    narrow, jti = issued.json()["access_token"], issued.json()["jti"]
    assert s.client.get("/v1/actions/echo/anything", headers={**s.auth(narrow), **labels}).status_code == 403
    [denied] = _events(s.vault, "auth.denied", s.a.name)
    assert _context(denied) == {
        "key_id": s.a.key_id,
        "token_id": jti,
        "subject": "narrow-agent",
        "agent_run": "run-refused",
        "tool_call": "call-refused",
        "client": "testclient",
        "status": 403,
        "error": "forbidden",
    }
    # A FastAPI route's 403 too: B's key on A's secrets.
    assert s.client.get(f"/v1/tenants/{s.a.name}/secrets", headers=s.auth(s.b.key)).status_code == 403
    [other] = _events(s.vault, "auth.denied", s.b.name)
    assert _context(other) == {"key_id": s.b.key_id, "client": "testclient", "status": 403, "error": "forbidden"}

    assert s.client.get("/v1/actions/echo/anything", headers=labels).status_code == 401
    [anonymous] = [e for e in _events(s.vault, "auth.fail") if e.actor == "addr:testclient"]
    assert _context(anonymous) == {
        "agent_run": "run-refused",
        "tool_call": "call-refused",
        "client": "testclient",
        "status": 401,
        "error": "unauthenticated",
    }


def test_labels_are_escaped_bounded_and_secrets_withheld(agent: Any, make_canary: Any) -> None:
    """Header labels are the agent's text: control characters are escaped, long ones cut, and a label that
    holds the tenant's credential in use, a provider token shape, or the request's own token is withheld. No
    canary sent in the Authorization header, a cookie, the query string or the body reaches the audit table."""
    s = agent
    assert s.client.get("/v1/actions/echo/anything", headers=s.auth(s.token)).status_code == 200  # now in use
    provider_key = sample(next(r for r in RULES if r.id == "openai-project-key"), 7).secret
    canary = make_canary("request")
    signature = s.token.rsplit(".", 1)[1]  # no token shape alone: withheld as a part of the credential
    hostile = {
        "OpenAI-Ephemeral-User-Id": b"user\x1b[31m\x00\nred\xc3\xa9",
        "OpenAI-Conversation-Id": b"c" * 5000,
        "X-Strongroom-Tool-Call": s.credential.encode(),  # the tenant's credential, in use
        "Mcp-Session-Id": signature.encode(),
        "Cookie": f"session={canary}".encode(),
    }
    answer = s.client.post(
        f"/v1/actions/echo/anything?secret={canary}",
        content=json.dumps({"canary": canary}).encode(),
        headers={"Authorization": f"Bearer {s.token}".encode(), **hostile},
    )
    assert answer.status_code == 200, answer.text
    shaped = {**s.auth(s.a.key), "X-Strongroom-Agent-Run": provider_key, "X-Strongroom-Tool-Call": "second"}
    assert s.client.get("/v1/actions/echo/anything", headers=shaped).status_code == 200
    # and as a credential: a 401 whose bearer is the canary
    assert s.client.get("/v1/actions/echo/anything", headers={"Authorization": f"Bearer {canary}"}).status_code == 401
    first, second = [e for e in _events(s.vault, "broker.call", s.a.name) if e.context and "tool_call" in e.context]
    context = _context(first)
    assert context["end_user"] == "user\\x1b[31m\\x00\\nred\\xc3\\xa9"  # latin-1 bytes, each escaped
    assert context["conversation"] == "c" * 125 + "..."
    assert context["tool_call"] == WITHHELD
    assert context["mcp_session"] == WITHHELD
    assert context["agent_run"] == "run-2026-12-03-0001"
    assert _context(second)["agent_run"] == WITHHELD
    assert _context(second)["tool_call"] == "second"
    raw = _raw_audit_table(s.vault)
    for secret in (s.credential, provider_key, s.token, canary, signature, s.a.key):
        assert secret not in raw
    assert "\x1b" not in raw


@pytest.mark.slow
def test_a_forwarded_client_is_recorded_with_the_proxy_it_came_through(tmp_path: Path) -> None:
    """``strongroom serve --forwarded-allow-ips 127.0.0.1``: X-Forwarded-For from that proxy is the client, the
    proxy the peer; without the option the header is ignored and the peer is the client."""
    real = _real_server_module()
    forged = f"srk_{secrets.token_hex(4)}_x"
    spoofed = "203.0.113.77"
    for args, client, peer in (
        (("--forwarded-allow-ips", "127.0.0.1"), spoofed, "127.0.0.1"),
        ((), "127.0.0.1", None),
    ):
        where = tmp_path / ("proxied" if args else "direct")
        where.mkdir()
        with real.real_server(where, *args) as server:
            status, _ = server.call(
                "GET",
                "/v1/audit",
                credential=forged,
                headers={"X-Forwarded-For": spoofed, "X-Strongroom-Agent-Run": "run-behind-proxy"},
            )
            assert status == 401
            status, events = server.call("GET", "/v1/audit?action=auth.fail", credential=server.admin)
            assert status == 200, events
            [failed] = [e for e in events if (e["context"] or {}).get("agent_run") == "run-behind-proxy"]
            expected = {"client": client, "agent_run": "run-behind-proxy", "status": 401, "error": "unauthenticated"}
            if peer is not None:
                expected["peer"] = peer
            assert failed["context"] == expected


def test_a_credential_split_across_labels_is_withheld_piece_by_piece(agent: Any) -> None:
    """The request's token cut into pieces of 15 characters (under the old whole-or-16 rule), one per header:
    every piece shares a run of eight with the credential, so none is recorded and the token is not in the
    table in any order."""
    s = agent
    pieces = [s.token[i : i + 15] for i in range(0, 45, 15)]
    headers = {
        "Authorization": f"Bearer {s.token}",
        "X-Strongroom-Agent-Run": "run-ok",
        "X-Strongroom-Tool-Call": pieces[0],
        "OpenAI-Conversation-Id": pieces[1],
        "Mcp-Session-Id": pieces[2],
    }
    assert s.client.get("/v1/actions/echo/anything", headers=headers).status_code == 200
    [event] = [e for e in _events(s.vault, "broker.call", s.a.name) if e.context and "mcp_session" in e.context]
    context = _context(event)
    assert (context["tool_call"], context["conversation"], context["mcp_session"]) == (WITHHELD,) * 3
    raw = _raw_audit_table(s.vault)
    for piece in pieces:
        assert piece not in raw


def test_an_unknown_connector_named_by_a_tenant_value_is_withheld(agent: Any) -> None:
    """The connector's name in the path is the agent's text: one that is the tenant's value in use is
    recorded as withheld, in the context and the detail, like any other label."""
    s = agent
    assert s.client.get("/v1/actions/echo/anything", headers=s.auth(s.token)).status_code == 200  # in use
    answer = s.client.get(f"/v1/actions/{s.credential}/x", headers=s.auth(s.token))
    assert answer.status_code == 404
    [event] = [e for e in _events(s.vault, "broker.call", s.a.name) if e.outcome == "not_found"]
    assert _context(event)["connector"] == WITHHELD
    assert s.credential not in _raw_audit_table(s.vault)
