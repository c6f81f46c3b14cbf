"""Rotation over HTTP: an operator sets a policy and rotates; a tenant reads its own rotation metadata and
nothing else; no answer ever carries a value."""

from __future__ import annotations

from collections.abc import Callable

from tests.server.conftest import Service


def test_operator_sets_a_policy_and_rotates_and_the_tenant_sees_its_metadata(
    service: Service, make_canary: Callable[[str], str]
) -> None:
    first = make_canary("first")
    path = f"/v1/tenants/{service.a.name}/secrets/signing"
    put = service.client.put(path, json={"value": first}, headers=service.auth(service.a.key))
    assert put.status_code == 200, put.text
    policy = {"every": "30d", "rotator": "random", "options": {"length": 40, "prefix": "sig_"}}
    set_policy = service.client.put(f"{path}/rotation", json=policy, headers=service.auth(service.admin))
    assert set_policy.status_code == 200, set_policy.text
    assert set_policy.json()["policy"]["rotator"] == "random"
    rotated = service.client.post(f"{path}/rotation/rotate", headers=service.auth(service.admin))
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["status"] == "succeeded"
    assert rotated.json()["version"] == 2
    seen = service.client.get(f"{path}/rotation", headers=service.auth(service.a.key))
    assert seen.status_code == 200, seen.text
    assert seen.json()["last_rotation"]["status"] == "succeeded"
    detail = service.client.get(path, headers=service.auth(service.a.key)).json()
    assert [(v["version"], v["stage"]) for v in detail["versions"]] == [(1, "retired"), (2, "current")]
    with service.vault.use(service.a.name, "signing", purpose="check", type=str) as value:
        new = value.reveal()
    assert new.startswith("sig_")
    for answer in (set_policy, rotated, seen):
        assert first not in answer.text
        assert new not in answer.text


def test_a_tenant_key_cannot_choose_a_rotator_nor_read_another_tenants_rotation(service: Service) -> None:
    """A rotator decides where a credential is applied: only the operator sets one. A tenant's key cannot see
    or rotate another tenant's secret."""
    path_a = f"/v1/tenants/{service.a.name}/secrets/db"
    service.client.put(path_a, json={"value": "initial-value-" + "q" * 20}, headers=service.auth(service.a.key))
    policy = {"every": "1d", "rotator": "webhook", "options": {"url": "https://attacker.example/collect"}}
    for credential in (service.a.key, service.a.token):
        refused = service.client.put(f"{path_a}/rotation", json=policy, headers=service.auth(credential))
        Service.assert_error(refused, 403)
        now = service.client.post(f"{path_a}/rotation/rotate", headers=service.auth(credential))
        Service.assert_error(now, 403)
    across = service.client.get(f"{path_a}/rotation", headers=service.auth(service.b.key))
    Service.assert_error(across, 403)


def test_bad_policies_are_refused_naming_the_fix(service: Service) -> None:
    path = f"/v1/tenants/{service.a.name}/secrets/db"
    service.client.put(path, json={"value": "initial-value-" + "q" * 20}, headers=service.auth(service.a.key))
    cases = [
        ({"every": "soon", "rotator": "random"}, "invalid duration"),
        ({"every": "1d", "rotator": "nope"}, "unknown rotator"),
        ({"every": "1d", "rotator": "random", "options": {"password": "hunter2hunter2"}}, "password_secret=NAME"),
        ({"every": "1d", "rotator": "random", "options": {"length": 3}}, "bits"),
    ]
    for body, message in cases:
        refused = service.client.put(f"{path}/rotation", json=body, headers=service.auth(service.admin))
        error = Service.assert_error(refused, 400, 422)
        assert message in error["message"], error
        assert "hunter2hunter2" not in refused.text
    missing = service.client.post(f"{path}/rotation/rotate", headers=service.auth(service.admin))
    Service.assert_error(missing, 404)
