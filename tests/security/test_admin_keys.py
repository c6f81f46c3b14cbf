"""Issue 12, finding 4: the operator's admin key could be neither revoked nor rotated.

Over HTTP (``/v1/admin-keys``, admin only) and on the host (``strongroom admin-key``): a new admin key
works, the old one is revoked and refused (401), the last live one cannot be revoked, tenants cannot
touch admin keys, and a lost admin key is recovered with the key file and the database, never over HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault

PUBLIC_URL = "http://testserver"
Invoke = Callable[..., subprocess.CompletedProcess[str]]


def _auth(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def _audit(client: TestClient, admin: str, action: str) -> list[dict[str, Any]]:
    answer = client.get("/v1/audit", params={"action": action, "limit": 1000}, headers=_auth(admin))
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()
    return events


# -- over HTTP ------------------------------------------------------------------------------------------------


def test_the_operator_rotates_the_admin_key_over_http(service: Any) -> None:
    """Create a second admin key, switch to it, revoke the first: the first is refused (401), both steps are
    audited under the acting key, and the listing never shows a key."""
    s = service
    made = s.client.post("/v1/admin-keys", json={"name": "rotated"}, headers=s.auth(s.admin))
    assert made.status_code == 201, made.text
    new, new_id = made.json()["key"], made.json()["id"]
    assert made.json()["scopes"] == ["admin"]
    assert made.json()["tenant"] is None
    assert s.client.get("/v1/tenants", headers=s.auth(new)).status_code == 200
    listed = s.client.get("/v1/admin-keys", headers=s.auth(new))
    assert listed.status_code == 200, listed.text
    ids = {k["id"] for k in listed.json()}
    [old_id] = ids - {new_id}
    assert s.admin not in listed.text
    assert new not in listed.text
    assert all("key" not in k for k in listed.json())
    revoked = s.client.delete(f"/v1/admin-keys/{old_id}", headers=s.auth(new))
    assert revoked.status_code == 204, revoked.text
    error = s.assert_error(s.client.get("/v1/tenants", headers=s.auth(s.admin)), 401, code="unauthenticated")
    assert "revoked" in error["message"]
    after = {k["id"]: k for k in s.client.get("/v1/admin-keys", headers=s.auth(new)).json()}
    assert after[old_id]["revoked_at"] is not None
    assert after[new_id]["revoked_at"] is None
    created = _audit(s.client, new, "api_key.create")
    assert any(e["actor"] == f"key:{old_id}" and f"srk_{new_id}" in (e["detail"] or "") for e in created)
    revokes = _audit(s.client, new, "api_key.revoke")
    assert any(e["actor"] == f"key:{new_id}" and e["detail"] == f"srk_{old_id}" for e in revokes)


def test_the_last_admin_key_cannot_be_revoked(service: Any) -> None:
    """Revoking the only live admin key (here: with itself) is 409 naming why and the fix; it keeps working,
    and once another exists the same request succeeds."""
    s = service
    [only] = s.client.get("/v1/admin-keys", headers=s.auth(s.admin)).json()
    refused = s.client.delete(f"/v1/admin-keys/{only['id']}", headers=s.auth(s.admin))
    message = s.assert_error(refused, 409, code="conflict")["message"]
    assert "last admin key" in message
    assert "create another" in message
    assert s.client.get("/v1/tenants", headers=s.auth(s.admin)).status_code == 200
    assert s.client.post("/v1/admin-keys", json={"name": "spare"}, headers=s.auth(s.admin)).status_code == 201
    assert s.client.delete(f"/v1/admin-keys/{only['id']}", headers=s.auth(s.admin)).status_code == 204


def test_tenants_cannot_create_list_or_revoke_admin_keys(service: Any) -> None:
    """A tenant's every-scope key and its token are refused (403) on every admin-key route."""
    s = service
    [only] = s.client.get("/v1/admin-keys", headers=s.auth(s.admin)).json()
    for credential in (s.a.key, s.a.token):
        attempts = [
            s.client.post("/v1/admin-keys", json={"name": "mine-now"}, headers=s.auth(credential)),
            s.client.get("/v1/admin-keys", headers=s.auth(credential)),
            s.client.delete(f"/v1/admin-keys/{only['id']}", headers=s.auth(credential)),
        ]
        for answer in attempts:
            s.assert_error(answer, 403, code="forbidden")
    assert [k["id"] for k in s.client.get("/v1/admin-keys", headers=s.auth(s.admin)).json()] == [only["id"]]


# -- on the host: strongroom admin-key ------------------------------------------------------------------------


class Host:
    """``strongroom`` run on the host against one ``$STRONGROOM_HOME``, and the service on the same store."""

    def __init__(self, home: Path, invoke: Invoke) -> None:
        self.home, self.invoke = home, invoke
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        self.env.update(STRONGROOM_HOME=str(home), STRONGROOM_ACTOR="ops:host", NO_COLOR="1", COLUMNS="250")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.invoke(args, env=self.env, cwd=self.home.parent)
        assert "Traceback" not in result.stdout + result.stderr
        return result

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run(*args)
        assert result.returncode == 0, (args, result.stderr)
        return result

    def vault(self) -> Vault:
        key_file = LocalKeyProvider.from_file(self.home / "keys" / "dev.json")
        return Vault.open(f"sqlite:///{self.home / 'strongroom.db'}", key_provider=key_file, actor="test:service")


@pytest.fixture
def host(tmp_path: Path, cli_invoke: Invoke) -> Host:
    runner = Host(tmp_path / "home", cli_invoke)
    runner.ok("init")
    return runner


@pytest.fixture
def served(host: Host) -> Iterator[TestClient]:
    from strongroom.bootstrap import build_app

    vault = host.vault()
    try:
        with TestClient(build_app(vault, public_url=PUBLIC_URL), base_url=PUBLIC_URL) as client:
            yield client
    finally:
        vault.close()


def test_a_lost_admin_key_is_recovered_on_the_host(host: Host, served: TestClient) -> None:
    """The operator lost the admin key. On the host (key file and database): create a new one, which works
    over HTTP at once; find the lost one in the list and revoke it, which the service then refuses (401);
    the new one, now the last, cannot be revoked (exit 1 naming why and the fix, in 80 columns)."""
    lost = json.loads(host.ok("admin-key", "create", "--name", "first", "--json").stdout)
    assert served.get("/v1/tenants", headers=_auth(lost["key"])).status_code == 200
    made = host.ok("admin-key", "create", "--name", "recovery")
    recovered = made.stdout.strip()
    assert recovered.startswith("srk_")
    assert "shown once" in made.stderr
    assert served.get("/v1/tenants", headers=_auth(recovered)).status_code == 200
    listed = json.loads(host.ok("admin-key", "list", "--json").stdout)
    assert {k["name"] for k in listed} == {"first", "recovery"}
    assert lost["key"] not in json.dumps(listed)
    assert recovered not in json.dumps(listed)
    table = host.ok("admin-key", "list").stdout
    assert lost["prefix"] in table
    revoked = host.ok("admin-key", "revoke", lost["id"])
    assert lost["prefix"] in revoked.stdout
    answer = served.get("/v1/tenants", headers=_auth(lost["key"]))
    assert answer.status_code == 401
    assert "revoked" in answer.json()["error"]["message"]
    [new_id] = [k["id"] for k in listed if k["name"] == "recovery"]
    refused = host.run("admin-key", "revoke", new_id)
    assert refused.returncode == 1, refused.stderr
    assert "last admin key" in refused.stderr
    assert "create another" in refused.stderr
    assert all(len(line) <= 80 for line in refused.stderr.splitlines())
    assert served.get("/v1/tenants", headers=_auth(recovered)).status_code == 200
    events = {(e["action"], e["actor"]) for e in served.get("/v1/audit", headers=_auth(recovered)).json()}
    assert {("api_key.create", "ops:host"), ("api_key.revoke", "ops:host")} <= events
