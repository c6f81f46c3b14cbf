"""The audit context beyond the hot path (docs/audit.md, Context): a share link's redemption, token issuance and
revocation, API keys, every state change made through the API, and a 413 on the agents' actions endpoint each
record who (as far as known), on whose behalf and from where.

Through the HTTP API (the app in a TestClient, the fixtures of tests/server/conftest.py), on SQLite and
PostgreSQL where the fixture allows; the audit table is read raw where a value must be absent.
"""

from __future__ import annotations

import importlib.util
import json
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from strongroom.audit.context import WITHHELD
from strongroom.rules.api_key_format import public_id
from strongroom.server.middleware import MAX_BODY_BYTES
from strongroom.store.tables import audit_events
from strongroom.vault import Vault


def _load_server_fixtures() -> None:
    """``tests/server/conftest.py`` as the module ``_strongroom_server_fixtures`` (as tests/security does)."""
    name = "_strongroom_server_fixtures"
    if name not in sys.modules:
        path = Path(__file__).resolve().parent.parent / "server" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])


_load_server_fixtures()

from _strongroom_server_fixtures import *  # noqa: E402, F403 -- the service fixtures, registered for this module

LABELS = {
    "X-Strongroom-Agent-Run": "run-cov-0042",
    "X-Strongroom-Tool-Call": "call_cov_9",
    "OpenAI-Conversation-Id": "g-conv-cov",
}
LABELED = {"agent_run": "run-cov-0042", "tool_call": "call_cov_9", "conversation": "g-conv-cov"}


def _events(vault: Vault, action: str, tenant: str | None = None) -> list[Any]:
    vault.flush_audit()
    return [e for e in vault.audit_events(tenant=tenant) if e.action == action]


def _one(vault: Vault, action: str, tenant: str | None = None, named: str | None = None, **match: Any) -> Any:
    """The one ``action`` event of ``tenant`` about the secret ``named`` (if given) with the ``match`` fields."""
    if named is not None:
        match["secret_name"] = named
    found = [e for e in _events(vault, action, tenant) if all(getattr(e, k) == v for k, v in match.items())]
    assert len(found) == 1, (action, match, found)
    return found[0]


def _context(event: Any) -> dict[str, Any]:
    assert event.context is not None, event
    found: dict[str, Any] = json.loads(event.context)
    return found


def _raw_contexts(vault: Vault) -> list[str]:
    """The context column of every audit row, as the database holds it."""
    vault.flush_audit()
    with vault._store.engine.connect() as conn:
        return [row[0] for row in conn.execute(select(audit_events.c.context)) if row[0] is not None]


@pytest.fixture
def s(service_on_store: Any) -> Any:
    return service_on_store


def _key(s: Any, credential: str) -> dict[str, str]:
    return {**s.auth(credential), **LABELS}


def test_a_share_redemption_records_the_redeemers_context(s: Any, make_canary: Any) -> None:
    """The share.redeem, the secret.use that reveals the value and the purge carry the redeemer's address and
    labels; a label holding the link itself is withheld. The share.create carries its creator's key."""
    value = make_canary("shared")
    made = s.client.post(f"/v1/tenants/{s.a.name}/shares", json={"value": value}, headers=_key(s, s.a.key))
    assert made.status_code == 201, made.text
    link = made.json()["token"]
    redeemer = {"X-Strongroom-Agent-Run": "run-redeem-7", "Mcp-Session-Id": f"sess {link}"}
    got = s.client.get(f"/v1/shares/{link}", headers=redeemer)
    assert got.status_code == 200, got.text
    assert got.text == value
    created = _one(s.vault, "share.create", s.a.name)
    assert _context(created) == {"key_id": s.a.key_id, "client": "testclient", **LABELED}
    redeemed = _one(s.vault, "share.redeem", s.a.name)
    assert redeemed.outcome == "ok"
    expected = {"client": "testclient", "agent_run": "run-redeem-7", "mcp_session": WITHHELD}
    assert _context(redeemed) == expected
    used = _one(s.vault, "secret.use", s.a.name, purpose="share")
    assert _context(used) == expected
    purged = _one(s.vault, "secret.purge", s.a.name, secret_name=used.secret_name)
    assert _context(purged) == expected
    assert not any(link in c or value in c for c in _raw_contexts(s.vault))


def test_token_issue_and_revoke_record_the_callers_context(s: Any) -> None:
    issued = s.client.post(
        "/v1/tokens", json={"scopes": ["actions:invoke"], "subject": "cov-agent"}, headers=_key(s, s.a.key)
    )
    assert issued.status_code == 201, issued.text
    jti = issued.json()["jti"]
    issue = [e for e in _events(s.vault, "token.issue", s.a.name) if f"jti {jti}" in (e.detail or "")]
    assert len(issue) == 1
    assert _context(issue[0]) == {"key_id": s.a.key_id, "client": "testclient", **LABELED}
    # by the token itself, with the tenant's key; by jti, with the admin key
    revoked = s.client.post(
        "/v1/tokens/revoke", json={"token": issued.json()["access_token"]}, headers=_key(s, s.a.key)
    )
    assert revoked.status_code == 204, revoked.text
    [by_token] = [e for e in _events(s.vault, "token.revoke", s.a.name) if e.detail == f"jti {jti}"]
    assert _context(by_token) == {"key_id": s.a.key_id, "client": "testclient", **LABELED}
    other = s.b.jti
    admin_id = public_id(s.admin)
    revoked = s.client.post(
        "/v1/tokens/revoke", json={"jti": other, "tenant": s.b.name}, headers={**s.auth(s.admin), "X-Request-Id": "r-9"}
    )
    assert revoked.status_code == 204, revoked.text
    [by_id] = [e for e in _events(s.vault, "token.revoke", s.b.name) if e.detail == f"jti {other}"]
    assert _context(by_id) == {"key_id": admin_id, "client": "testclient"}


def test_api_key_create_and_revoke_record_the_callers_context(s: Any) -> None:
    admin_id = public_id(s.admin)
    made = s.client.post(
        f"/v1/tenants/{s.a.name}/api-keys", json={"name": "cov", "scopes": ["secrets:write"]}, headers=_key(s, s.admin)
    )
    assert made.status_code == 201, made.text
    key_id = made.json()["id"]
    [created] = [e for e in _events(s.vault, "api_key.create", s.a.name) if key_id in (e.detail or "")]
    assert _context(created) == {"key_id": admin_id, "client": "testclient", **LABELED}
    gone = s.client.delete(f"/v1/tenants/{s.a.name}/api-keys/{key_id}", headers=_key(s, s.a.key))  # keys:manage
    assert gone.status_code == 204, gone.text
    [revoked] = [e for e in _events(s.vault, "api_key.revoke", s.a.name) if key_id in (e.detail or "")]
    assert _context(revoked) == {"key_id": s.a.key_id, "client": "testclient", **LABELED}
    # the operator's own keys, in the environment-wide chain
    admin = s.client.post("/v1/admin-keys", json={"name": "second-admin"}, headers=_key(s, s.admin))
    assert admin.status_code == 201, admin.text
    second = admin.json()["id"]
    assert s.client.delete(f"/v1/admin-keys/{second}", headers=_key(s, s.admin)).status_code == 204
    for action in ("api_key.create", "api_key.revoke"):
        [event] = [e for e in _events(s.vault, action) if second in (e.detail or "") and e.tenant == "-"]
        assert _context(event) == {"key_id": admin_id, "client": "testclient", **LABELED}


def test_state_changes_through_the_api_record_the_callers_context(s: Any, make_canary: Any) -> None:
    """Secret put (and the policy it sets), policy, delete, purge; tenant create and delete; connector put and
    delete: each event carries who and from where, and a refused change too."""
    a, key = s.a.name, s.a.key
    who = {"key_id": s.a.key_id, "client": "testclient", **LABELED}
    base = f"/v1/tenants/{a}/secrets/cov_secret"
    policy = {"destinations": [{"origin": "https://api.example.com", "placements": ["bearer"]}]}
    put = s.client.put(base, json={"value": make_canary("put"), **policy}, headers=_key(s, key))
    assert put.status_code == 200, put.text
    assert _context(_one(s.vault, "secret.put", a, named="cov_secret")) == who
    assert _context(_one(s.vault, "secret.policy", a, named="cov_secret")) == who
    moved = s.client.put(f"{base}/destinations", json={"destinations": None}, headers=_key(s, key))
    assert moved.status_code == 200, moved.text
    [_, second] = sorted(_events(s.vault, "secret.policy", a), key=lambda e: e.seq)
    assert _context(second) == who
    assert s.client.delete(base, headers=_key(s, key)).status_code == 204
    assert _context(_one(s.vault, "secret.delete", a, named="cov_secret")) == who
    assert s.client.delete(f"{base}?purge=true", headers=_key(s, key)).status_code == 204
    assert _context(_one(s.vault, "secret.purge", a, named="cov_secret")) == who
    # a refused change (If-None-Match on a name that exists) is recorded with the same context
    assert s.client.put(base, json={"value": "v1"}, headers=_key(s, key)).status_code == 200
    refused = s.client.put(base, json={"value": "v2"}, headers={**_key(s, key), "If-None-Match": "*"})
    assert refused.status_code == 412, refused.text
    [conflict] = [e for e in _events(s.vault, "secret.put", a) if e.outcome == "conflict"]
    assert _context(conflict) == who

    connector = {
        "base_url": "https://api.example.com",
        "description": "coverage",
        "credential": {"kind": "bearer", "secret": "cov_secret"},
        "operations": [{"id": "peek", "method": "GET", "path": "/anything", "summary": "Peek"}],
    }
    defined = s.client.put(f"/v1/tenants/{a}/connectors/cov", json=connector, headers=_key(s, key))
    assert defined.status_code == 200, defined.text
    assert _context(_one(s.vault, "connector.put", a)) == who
    assert s.client.delete(f"/v1/tenants/{a}/connectors/cov", headers=_key(s, key)).status_code == 204
    assert _context(_one(s.vault, "connector.delete", a)) == who

    admin_id = public_id(s.admin)
    name = f"cov-{secrets.token_hex(3)}"
    assert s.client.post("/v1/tenants", json={"name": name}, headers=_key(s, s.admin)).status_code == 201
    assert _context(_one(s.vault, "tenant.create", name)) == {"key_id": admin_id, "client": "testclient", **LABELED}
    assert s.client.delete(f"/v1/tenants/{name}", headers=_key(s, s.admin)).status_code == 204
    [deleted] = [e for e in s.vault.audit_events() if e.action == "tenant.delete" and e.tenant == name]
    assert _context(deleted) == {"key_id": admin_id, "client": "testclient", **LABELED}


def test_an_agent_tokens_change_names_the_token(s: Any) -> None:
    """A change made with an agent token carries the token's id and subject and the key that minted it."""
    put = s.client.put(f"/v1/tenants/{s.a.name}/secrets/by_token", json={"value": "v"}, headers=s.auth(s.a.token))
    assert put.status_code == 200, put.text
    context = _context(_one(s.vault, "secret.put", s.a.name, named="by_token"))
    assert context == {
        "key_id": s.a.key_id,
        "token_id": s.a.jti,
        "subject": f"agent-of-{s.a.name}",
        "client": "testclient",
    }


def test_a_413_on_the_actions_endpoint_is_a_broker_call_refusal_with_its_context(s: Any) -> None:
    """Refused on its declared Content-Length before anything else runs: a broker.call refusal in the
    environment-wide chain with the client and the labels, no credential looked up and no body read. A chunked
    body that runs over after authentication: the caller's own chain, naming the caller."""
    too_big = MAX_BODY_BYTES + 1
    answer = s.client.post(
        "/v1/actions/echo/anything",
        content=b"x" * too_big,
        headers={**s.auth(s.a.token), **LABELS, "X-Request-Id": "req-413"},
    )
    assert answer.status_code == 413, answer.text
    [declared] = [e for e in _events(s.vault, "broker.call") if e.request_id == "req-413"]
    assert declared.outcome == "invalid"
    assert declared.tenant == "-"
    assert declared.actor == "addr:testclient"
    assert f"Content-Length {too_big}" in declared.detail
    assert _context(declared) == {
        "client": "testclient",
        "connector": "echo",
        "status": 413,
        "error": "body_too_large",
        **LABELED,
    }

    def chunks() -> Iterator[bytes]:
        yield b"x" * too_big

    answer = s.client.post(
        "/v1/actions/echo/anything",
        content=chunks(),
        headers={**s.auth(s.a.token), **LABELS, "X-Request-Id": "req-413-chunked"},
    )
    assert answer.status_code == 413, answer.text
    [chunked] = [e for e in _events(s.vault, "broker.call", s.a.name) if e.request_id == "req-413-chunked"]
    assert chunked.actor == f"token:agent-of-{s.a.name}"
    assert "a chunked body" in chunked.detail
    assert _context(chunked) == {
        "key_id": s.a.key_id,
        "token_id": s.a.jti,
        "subject": f"agent-of-{s.a.name}",
        "client": "testclient",
        "connector": "echo",
        "status": 413,
        "error": "body_too_large",
        **LABELED,
    }
    # another route's 413 is its answer only
    before = len(_events(s.vault, "broker.call"))
    big = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/big", content=b"x" * too_big, headers={**s.auth(s.a.key), **LABELS}
    )
    assert big.status_code == 413
    assert len(_events(s.vault, "broker.call")) == before


def test_no_canary_put_through_the_api_reaches_any_context(s: Any, make_canary: Any) -> None:
    """A value written, shared, redeemed, used and sent in bodies and queries appears in no context column."""
    canaries = [make_canary("cov") for _ in range(4)]
    a, key = s.a.name, s.a.key
    put = s.client.put(f"/v1/tenants/{a}/secrets/echo_api_key", json={"value": canaries[0]}, headers=_key(s, key))
    assert put.status_code == 200, put.text
    assert s.client.get(f"/v1/actions/echo/anything?q={canaries[1]}", headers=_key(s, s.a.token)).status_code == 200
    made = s.client.post(f"/v1/tenants/{a}/shares", json={"value": canaries[2]}, headers=_key(s, key))
    assert s.client.get(f"/v1/shares/{made.json()['token']}", headers=LABELS).text == canaries[2]
    policy = {"destinations": [{"origin": "https://api.example.com", "placements": ["bearer"]}]}
    body = {"value": canaries[3], **policy}
    assert s.client.put(f"/v1/tenants/{a}/secrets/other", json=body, headers=_key(s, key)).status_code == 200
    assert s.client.delete(f"/v1/tenants/{a}/secrets/other?purge=true", headers=_key(s, key)).status_code == 204
    # a label holding the tenant's credential in use is withheld, not recorded
    leak = {**s.auth(s.a.token), "X-Strongroom-Tool-Call": canaries[0]}
    assert s.client.get("/v1/actions/echo/anything", headers=leak).status_code == 200
    contexts = _raw_contexts(s.vault)
    assert len([c for c in contexts if "run-cov-0042" in c]) >= 8  # the events above, each with its context
    for canary in canaries:
        assert not any(canary in c for c in contexts), canary
    assert any(f'"tool_call":"{WITHHELD}"' in c for c in contexts)
