"""Finding 5: the environment-wide audit chain is addressed by the tenant name ``-``, which was a valid
tenant name; ``_platform`` and ``_scan`` were reachable through the operator's tenant routes.

Afterwards every name of the form strongroom uses itself (a leading ``_`` or ``-``, or only dots and
dashes: ``vocabulary.is_reserved_tenant_name``) can never be created, over HTTP, in the vault or on the
command line (``_platform`` only in the vault and on the host, where the platform secrets live), and every
door that takes a tenant name from a caller answers a reserved one as not found.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from strongroom.errors import InvalidInput
from strongroom.vault import Vault
from strongroom.vocabulary import NO_TENANT, PLATFORM_TENANT, SCAN_TENANT, is_reserved_tenant_name

RESERVED = [NO_TENANT, "--", "-x", "_platform", "_scan", "_anything", ".", "..", "-.-"]


def test_the_reserved_forms_are_the_ones_strongroom_uses() -> None:
    """The one check knows every internal name, and ordinary names stay free."""
    for name in (NO_TENANT, PLATFORM_TENANT, SCAN_TENANT, *RESERVED):
        assert is_reserved_tenant_name(name), name
    for name in ("acme", "a-b", "a.b", "a_", "x-", "1", "a..b"):
        assert not is_reserved_tenant_name(name), name


def test_the_operator_cannot_create_a_tenant_named_like_an_internal_chain(service: Any, make_canary: Any) -> None:
    """POST /v1/tenants with a reserved name is a 400 naming the rule; no tenant, no chain appears."""
    s = service
    for name in RESERVED:
        refused = s.client.post("/v1/tenants", json={"name": name}, headers=s.auth(s.admin))
        error = s.assert_error(refused, 400, code="invalid_input")
        assert "reserved" in error["message"], error
    listed = s.client.get("/v1/tenants", headers=s.auth(s.admin)).json()
    assert {t["name"] for t in listed} == {s.a.name, s.b.name}


def test_a_tenant_named_dash_would_read_the_environment_chain_so_none_exists(service: Any) -> None:
    """The attack: create tenant ``-``, give it a key with audit:read, read the operator's events. It stops
    at the first step, and the chain cannot be named in an audit query either."""
    s = service
    s.client.post("/v1/tenants", json={"name": NO_TENANT}, headers=s.auth(s.admin))
    key = s.client.post(
        f"/v1/tenants/{NO_TENANT}/api-keys", json={"name": "spy", "scopes": ["audit:read"]}, headers=s.auth(s.admin)
    )
    assert key.status_code in (400, 404), key.text
    for credential in (s.admin, s.a.key, s.a.token):
        answer = s.client.get("/v1/audit", params={"tenant": NO_TENANT}, headers=s.auth(credential))
        s.assert_error(answer, 404, code="not_found")


@pytest.mark.parametrize("tenant", [PLATFORM_TENANT, SCAN_TENANT, NO_TENANT])
def test_the_operators_routes_never_reach_an_internal_tenant(service: Any, tenant: str, make_canary: Any) -> None:
    """The admin key cannot delete ``_platform`` (the signing keys) or ``_scan``, nor write, list or use
    anything under a reserved name: each is not found, and the service keeps working."""
    s = service
    value = make_canary("platform")
    answers = [
        s.client.delete(f"/v1/tenants/{tenant}", headers=s.auth(s.admin)),
        s.client.put(
            f"/v1/tenants/{tenant}/secrets/planted", json={"value": value, "kind": "platform"}, headers=s.auth(s.admin)
        ),
        s.client.get(f"/v1/tenants/{tenant}/secrets", headers=s.auth(s.admin)),
        s.client.get(f"/v1/tenants/{tenant}/connectors", headers=s.auth(s.admin)),
        s.client.post(f"/v1/tenants/{tenant}/shares", json={"value": value}, headers=s.auth(s.admin)),
    ]
    for answer in answers:
        s.assert_error(answer, 404, code="not_found")
        assert value not in answer.text
    assert s.client.get("/.well-known/jwks.json").json()["keys"], "the signing keys are still there"
    issued = s.client.post("/v1/tokens", json={"scopes": ["actions:invoke"]}, headers=s.auth(s.a.key))
    assert issued.status_code == 201, issued.text


def test_the_vault_refuses_reserved_names_but_keeps_its_platform_tenant(vault: Vault, make_canary: Any) -> None:
    """``Vault.create_tenant`` refuses every reserved name but ``_platform``, whose secrets the config
    layer's store source still reads by name (``put``/``use``)."""
    for name in [n for n in RESERVED if n != PLATFORM_TENANT]:
        with pytest.raises(InvalidInput, match="reserved"):
            vault.create_tenant(name)
    vault.create_tenant(PLATFORM_TENANT)
    value = make_canary("database-url")
    vault.put(PLATFORM_TENANT, "database_url", value, kind="platform")
    with vault.use(PLATFORM_TENANT, "database_url", purpose="config") as found:
        assert found.reveal() == value
    assert PLATFORM_TENANT not in {t.name for t in vault.list_tenants()}


def test_the_cli_refuses_a_reserved_tenant_name(tmp_path: Path, cli_invoke: Callable[..., Any]) -> None:
    """``strongroom tenant create`` says the name is reserved, exits non-zero, and creates nothing."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(STRONGROOM_HOME=str(tmp_path / "home"), NO_COLOR="1", COLUMNS="200")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result: subprocess.CompletedProcess[str] = cli_invoke(args, env=env, cwd=tmp_path)
        return result

    assert run("init").returncode == 0
    for name in ("_anything", "..", "-.-"):
        result = run("tenant", "create", "--", name)
        assert result.returncode != 0, result.stdout
        assert "reserved" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
    listed = run("tenant", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "[]"
