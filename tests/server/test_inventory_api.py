"""``GET /v1/inventory`` (admin) and ``GET /v1/tenants/{tenant}/inventory``, probed as an attacker would: another
tenant's name in the path, the environment-wide route with a tenant's credentials, a reserved tenant's name,
a key without the scope. No answer ever holds a stored value."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from strongroom.rotation import Rotations
from strongroom.rotation.inventory import FIELDS
from strongroom.vocabulary import Action

_fixtures = sys.modules["_strongroom_server_fixtures"]
Service = _fixtures.Service


@pytest.fixture
def stocked(service: Any, make_canary: Callable[[str], str]) -> tuple[Any, list[str]]:
    """Tenants A and B with a secret each (A's with a policy and a use), and a platform secret; the values."""
    values = [make_canary(label) for label in ("a", "b", "platform")]
    for tenant, value in ((service.a, values[0]), (service.b, values[1])):
        put = service.client.put(
            f"/v1/tenants/{tenant.name}/secrets/api",
            json={"value": value, "sensitivity": "critical"},
            headers=service.auth(tenant.key),
        )
        assert put.status_code == 200, put.text
    Rotations(service.vault).set_policy(service.a.name, "api", every="30d", rotator="random")
    with service.vault.use(service.a.name, "api", purpose="a-billing", actor="svc:a"):
        pass
    service.vault.put("_platform", "signing", values[2], kind="platform")
    return service, values


def _names(response: Any) -> set[tuple[str, str]]:
    assert response.status_code == 200, response.text
    return {(row["tenant"], row["name"]) for row in response.json()}


def test_admin_sees_every_tenant_and_the_platform(stocked: tuple[Any, list[str]]) -> None:
    service, values = stocked
    response = service.client.get("/v1/inventory", headers=service.auth(service.admin))
    assert {("tenant-a", "api"), ("tenant-b", "api"), ("_platform", "signing")} <= _names(response)
    rows = {(r["tenant"], r["name"]): r for r in response.json()}
    a = rows[("tenant-a", "api")]
    assert set(a) == set(FIELDS)
    assert (a["rotator"], a["rotate_every_seconds"], a["sensitivity"]) == ("random", 30 * 86400.0, "critical")
    assert (a["purposes"], a["actors"]) == (["a-billing"], ["svc:a"])
    assert a["last_used_at"].endswith("Z")
    for value in values:
        assert value not in response.text
    per_tenant = service.client.get("/v1/tenants/tenant-b/inventory", headers=service.auth(service.admin))
    assert _names(per_tenant) == {("tenant-b", "api")}


@pytest.mark.parametrize("credential", ["key", "token"])
def test_a_tenant_reads_its_own_rows_only(stocked: tuple[Any, list[str]], credential: str) -> None:
    service, values = stocked
    headers = service.auth(getattr(service.a, credential))
    own = service.client.get("/v1/tenants/tenant-a/inventory", headers=headers)
    assert _names(own) == {("tenant-a", "api")}
    assert "tenant-b" not in own.text
    for value in values:
        assert value not in own.text

    for path in ("/v1/tenants/tenant-b/inventory", "/v1/inventory"):
        refused = service.client.get(path, headers=headers)
        Service.assert_error(refused, 403)  # an error object and nothing else: no row of B's
    for path in ("/v1/tenants/_platform/inventory", "/v1/tenants/-/inventory"):
        Service.assert_error(service.client.get(path, headers=headers), 404)
        Service.assert_error(service.client.get(path, headers=service.auth(service.admin)), 404)
    Service.assert_error(service.client.get("/v1/tenants/tenant-a/inventory"), 401)

    denied = service.vault.audit_events(tenant="tenant-a", action=Action.AUTH_DENIED)
    assert sorted(event.detail for event in denied) == [
        "GET /v1/inventory: this needs the operator's admin key",
        "GET /v1/tenants/{tenant}/inventory: this credential is not for tenant 'tenant-b'",
    ]


def test_the_scope_is_required_and_an_unknown_tenant_is_not_found(stocked: tuple[Any, list[str]]) -> None:
    service, _ = stocked
    key, _ = service.new_key("tenant-a", ["actions:invoke"])
    Service.assert_error(service.client.get("/v1/tenants/tenant-a/inventory", headers=service.auth(key)), 403)
    reader, _ = service.new_key("tenant-a", ["secrets:read-metadata"])
    assert _names(service.client.get("/v1/tenants/tenant-a/inventory", headers=service.auth(reader))) == {
        ("tenant-a", "api")
    }
    missing = service.client.get("/v1/tenants/nobody/inventory", headers=service.auth(service.admin))
    assert "nobody" in Service.assert_error(missing, 404)["message"]
