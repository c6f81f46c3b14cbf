"""Finding 5 (its last part): audit histories are a tenant's by id, and the environment's are no tenant's.

Was: events and chains were keyed by tenant name, so a tenant deleted and re-created with the same name
read its predecessor's history over ``GET /v1/audit``, and the environment-wide chain ``<env>/-`` was the
history of any tenant named ``-``.
"""

from __future__ import annotations

import secrets
from typing import Any

from _strongroom_server_fixtures import Service

from strongroom.audit import ENVIRONMENT_CHAIN


def _audit(s: Service, credential: str, **params: Any) -> list[dict[str, Any]]:
    answer = s.client.get("/v1/audit", params={"limit": 1000, **params}, headers=s.auth(credential))
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()
    return events


def _leave_history(s: Service, key: str, tenant: str, marker: str) -> None:
    """Events only this tenant's credential caused: secret writes tagged with a request id of its own."""
    for name in ("history_a", "history_b"):
        put = s.client.put(
            f"/v1/tenants/{tenant}/secrets/{name}",
            json={"value": secrets.token_urlsafe(24)},
            headers={**s.auth(key), "X-Request-Id": marker},
        )
        assert put.status_code == 200, put.text


def test_a_re_created_tenant_reads_only_its_own_history(service: Service) -> None:
    s = service
    first = s.new_tenant("phoenix")
    predecessor = f"predecessor-{secrets.token_hex(4)}"
    _leave_history(s, first.key, "phoenix", predecessor)
    before = _audit(s, first.key)
    assert {e["request_id"] for e in before} >= {predecessor}  # the test's own check: the history is there
    deleted = s.client.delete("/v1/tenants/phoenix", headers=s.auth(s.admin))
    assert deleted.status_code == 204, deleted.text

    second = s.new_tenant("phoenix")
    heir = f"heir-{secrets.token_hex(4)}"
    _leave_history(s, second.key, "phoenix", heir)
    for credential in (second.key, second.token):
        mine = _audit(s, credential)
        assert predecessor not in {e["request_id"] for e in mine}
        assert {e["id"] for e in before}.isdisjoint(e["id"] for e in mine)
        assert heir in {e["request_id"] for e in mine}
        assert [e["action"] for e in mine][-1] == "tenant.create"  # newest first: its history starts there
        assert len({e["chain"] for e in mine}) == 1
    # the operator, naming the tenant, reads the current tenant's history too; the old one is still kept
    named = _audit(s, s.admin, tenant="phoenix")
    assert {e["id"] for e in named} == {e["id"] for e in _audit(s, second.key)}
    assert {e["id"] for e in before} <= {e["id"] for e in _audit(s, s.admin)}
    assert s.client.get("/v1/audit/verify", headers=s.auth(s.admin)).json()["ok"] is True


def test_no_tenant_can_address_the_environment_chain(service: Service) -> None:
    """Environment-wide events (a refused credential, here) live in ``<env>/*environment*``, which no tenant
    name can form; a tenant named ``-`` (the old chain's name), where one can exist, reads none of them."""
    s = service
    refused = s.client.get("/v1/audit", headers=s.auth("srk_" + secrets.token_hex(16)))
    assert refused.status_code == 401
    environment_wide = [e for e in _audit(s, s.admin) if e["action"] == "auth.fail"]
    assert environment_wide
    assert {e["chain"] for e in environment_wide} == {f"{s.vault.environment}/{ENVIRONMENT_CHAIN}"}
    created = s.client.post("/v1/tenants", json={"name": "-"}, headers=s.auth(s.admin))
    if created.status_code != 201:  # the name is reserved: no tenant can hold it at all
        s.assert_error(created, 400)
        return
    made = s.client.post(
        "/v1/tenants/-/api-keys", json={"name": "dash", "scopes": ["audit:read"]}, headers=s.auth(s.admin)
    )
    assert made.status_code == 201, made.text
    seen = _audit(s, made.json()["key"])  # ``-`` names the environment in events: its own go there, unread
    assert "auth.fail" not in {e["action"] for e in seen}
    assert {e["chain"] for e in seen}.isdisjoint({f"{s.vault.environment}/-", *{e["chain"] for e in environment_wide}})
