"""The connector listing: each credential's secret NAME shown (a name is no secret) and whether the connector
is enabled; secret VALUES are still masked wherever they appear, and the listing is no oracle across tenants."""

from __future__ import annotations

from typing import Any

CONNECTORS = "/v1/tenants/{}/connectors"


def _own(secret: str, origin: str = "https://api.tenant.example") -> dict[str, Any]:
    return {
        "base_url": origin,
        "description": "A tenant's own API.",
        "credential": {"kind": "bearer", "secret": secret},
        "operations": [{"id": "read", "method": "GET", "path": "/things", "summary": "Read things"}],
    }


def _listed(s: Any, tenant: str, key: str) -> dict[str, dict[str, Any]]:
    answer = s.client.get(CONNECTORS.format(tenant), headers=s.auth(key))
    assert answer.status_code == 200, answer.text
    return {c["name"]: c for c in answer.json()}


def test_the_listing_shows_secret_names_and_whether_each_connector_is_enabled(service: Any, make_canary: Any) -> None:
    """enabled: the tenant holds the secret and its destination policy lets it go to the connector."""
    s = service
    policy = [{"origin": "https://api.tenant.example", "placements": ["bearer"]}]
    for name, body in (
        ("echo_api_key", {}),
        ("crm_key", {"destinations": policy}),
        ("elsewhere_key", {"destinations": []}),
    ):
        put = s.client.put(
            f"/v1/tenants/{s.a.name}/secrets/{name}", json={"value": make_canary(name), **body}, headers=s.auth(s.a.key)
        )
        assert put.status_code == 200, put.text
    for name, secret in (("crm", "crm_key"), ("unheld", "missing_key"), ("barred", "elsewhere_key")):
        put = s.client.put(f"/v1/tenants/{s.a.name}/connectors/{name}", json=_own(secret), headers=s.auth(s.a.key))
        assert put.status_code == 200, put.text
    listed = _listed(s, s.a.name, s.a.key)
    assert {name: (c["credential"]["secret"], c["enabled"]) for name, c in listed.items()} == {
        "echo": ("echo_api_key", True),  # the operator's, the secret held (no policy: declared connectors)
        "other": ("other_api_key", False),  # the operator's, the secret not held
        "crm": ("crm_key", True),
        "unheld": ("missing_key", False),
        "barred": ("elsewhere_key", False),  # held, but its policy sends it nowhere
    }
    assert "[REDACTED" not in str(listed)
    assert {c["enabled"] for c in _listed(s, s.b.name, s.b.key).values()} == {False}  # B holds nothing


def test_a_value_is_still_masked_and_no_tenant_learns_another_tenants_value(service: Any, make_canary: Any) -> None:
    """Think as an attacker: B names its connector's secret after A's value (a valid secret name). B's listing
    shows B's text as written, masked or not exactly as it would be for any other name: it tells B nothing
    about A. In A's own answers the value (once in use) is masked wherever it appears, a secret name included."""
    s = service
    value = "Zq" + make_canary("v").replace("-", "_")[:60]  # a credential that is also a valid secret name
    put = s.client.put(f"/v1/tenants/{s.a.name}/secrets/echo_api_key", json={"value": value}, headers=s.auth(s.a.key))
    assert put.status_code == 200, put.text
    # Used once by the broker: from then on the redactor knows the value and masks it in A's answers.
    assert s.client.get("/v1/actions/echo/anything", headers=s.auth(s.a.token)).status_code == 200
    put = s.client.put(f"/v1/tenants/{s.b.name}/connectors/probe", json=_own(value), headers=s.auth(s.b.key))
    assert put.status_code == 200, put.text
    assert value in put.text  # B's own answer: B's own text, not masked by A's values
    assert _listed(s, s.b.name, s.b.key)["probe"]["credential"]["secret"] == value
    put = s.client.put(f"/v1/tenants/{s.a.name}/connectors/probe", json=_own(value), headers=s.auth(s.a.key))
    assert put.status_code == 200, put.text
    listed = s.client.get(CONNECTORS.format(s.a.name), headers=s.auth(s.a.key))
    assert value not in listed.text  # A's value, in A's answer: masked, as everywhere
    assert _listed(s, s.a.name, s.a.key)["echo"]["credential"]["secret"] == "echo_api_key"  # noqa: S105 -- a name
