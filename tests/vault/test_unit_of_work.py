"""The vault's unit of work: the one write path, its refusals, its ordering, and what listings never show."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from strongroom.bootstrap import build_app
from strongroom.config.sources import SourceKey
from strongroom.config.sources.store import StoreSource
from strongroom.errors import Conflict, InvalidInput, NotFound, StrongroomError
from strongroom.tokens import ApiKeys, TokenService
from strongroom.tokens.shares import Shares
from strongroom.vault import Vault
from strongroom.vocabulary import AUDIT_TENANT, INTERNAL_TENANTS, PLATFORM_TENANT, SCAN_TENANT, Action, Outcome

CONNECTOR = {
    "base_url": "https://api.example.invalid",
    "description": "A tenant's own upstream.",
    "credential": {"kind": "bearer", "secret": "example-key"},
    "operations": [{"id": "things", "method": "GET", "path": "/v1/things", "summary": "List things"}],
}


def _outcomes(vault: Vault, tenant: str, action: str) -> list[str]:
    return [e.outcome for e in vault.audit_events(tenant=tenant, action=action)]


def test_a_refused_write_records_a_refusal_event(vault: Vault) -> None:
    """A refused change rolls back and leaves one event, with the outcome its exception names."""
    vault.create_tenant("acme")
    with pytest.raises(NotFound):
        vault.put("nobody", "k", "value-1")
    assert _outcomes(vault, "nobody", Action.SECRET_PUT) == [Outcome.NOT_FOUND]
    vault.put("acme", "k", "value-1")
    with pytest.raises(Conflict):
        vault.put("acme", "k", "value-2", expected_version=0)
    with pytest.raises(InvalidInput):
        vault.put("acme", "k", "value-3", kind="ephemeral")  # an ephemeral secret needs a TTL
    assert _outcomes(vault, "acme", Action.SECRET_PUT) == [Outcome.OK, Outcome.CONFLICT, Outcome.INVALID]
    assert [v.version for v in vault.versions("acme", "k")] == [1]
    with pytest.raises(NotFound):
        vault.connector_repo.delete(
            "acme", "none", vault.audit_event("acme", Action.CONNECTOR_DELETE, actor="op", detail="connector none")
        )
    assert _outcomes(vault, "acme", Action.CONNECTOR_DELETE) == [Outcome.NOT_FOUND]
    assert vault.verify_audit().ok


def test_a_write_chains_the_queued_use_events_before_it(vault: Vault) -> None:
    """Queued use events are flushed by the unit of work, so the chain has them before the write."""
    vault.create_tenant("acme")
    vault.put("acme", "k", "value-1")
    with vault.use("acme", "k", purpose="p") as secret:
        secret.reveal()
    vault.put("acme", "k", "value-2")
    actions = [e.action for e in vault.audit_events(tenant="acme")]
    assert actions[-2:] == [Action.SECRET_USE, Action.SECRET_PUT]


def test_a_closed_vault_refuses_every_write(open_vault: Callable[..., Vault]) -> None:
    vault = open_vault()
    vault.create_tenant("acme")
    vault.close()
    for write in (
        lambda: vault.put("acme", "k", "value-1"),
        lambda: vault.create_tenant("other"),
        lambda: ApiKeys(vault).create(tenant="acme", name="k", scopes=["audit:read"], actor="op"),
    ):
        with pytest.raises(StrongroomError, match="closed"):
            write()


def test_listings_show_no_internal_tenants_or_secrets(open_vault: Callable[..., Vault]) -> None:
    """``_platform``, ``_scan`` and ``_audit`` never show in ``list_tenants()``, a share's value never in a
    tenant's list (on SQLite and PostgreSQL); platform secrets stay readable by name, through the config
    layer's store source."""
    vault = open_vault()
    vault.create_tenant("acme")
    vault.put("acme", "stripe", "sk-value-1")  # creates _scan (the fingerprint key)
    TokenService(vault, issuer="https://sr.example").rotate("op")  # creates _platform (a signing key)
    vault.put(PLATFORM_TENANT, "database_url", "postgres://db-value", kind="platform")
    Shares(vault).create("acme", "a shared value", actor="op")

    assert [t.name for t in vault.list_tenants()] == ["acme"]
    assert [s.name for s in vault.list("acme")] == ["stripe"]
    assert [s.name for s in vault.list("acme", include_deleted=True)] == ["stripe"]
    assert {SCAN_TENANT, AUDIT_TENANT, PLATFORM_TENANT} == INTERNAL_TENANTS
    with vault.use(PLATFORM_TENANT, "database_url", purpose="config:database_url") as secret:
        assert secret.reveal() == "postgres://db-value"
    source = StoreSource(vault)
    found = source.get(SourceKey(name="database_url", env="DATABASE_URL", environment=vault.environment))
    assert found is not None
    assert found.value == "postgres://db-value"


@pytest.fixture
def admin_client(vault: Vault, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    app = build_app(vault, public_url="http://testserver")
    admin, _ = ApiKeys(vault).create(tenant=None, name="admin", scopes=["admin"], actor="test")
    with TestClient(app, base_url="http://testserver") as client:
        yield client, {"Authorization": f"Bearer {admin.reveal()}"}


def test_connector_routes_chain_queued_use_events_before_their_write(
    vault: Vault, admin_client: tuple[TestClient, dict[str, str]]
) -> None:
    """A use queued before a connector write is chained before it: the routes write through the unit of work."""
    client, auth = admin_client
    vault.create_tenant("acme")
    vault.put("acme", "example-key", "example-credential-1")
    # No background flush from here on (the writer's current 0.2 s wait ends first): only a write may drain the queue.
    vault._audit._flush_interval_seconds = 3600.0
    time.sleep(0.5)
    with vault.use("acme", "example-key", purpose="before-connector") as secret:
        secret.reveal()
    assert vault.pending_audit_events == 1
    response = client.put("/v1/tenants/acme/connectors/example", json=CONNECTOR, headers=auth)
    assert response.status_code == 200, response.text
    assert vault.pending_audit_events == 0
    with vault.use("acme", "example-key", purpose="before-delete") as secret:
        secret.reveal()
    assert client.delete("/v1/tenants/acme/connectors/example", headers=auth).status_code == 204
    chain = [(e.action, e.purpose) for e in vault.audit_events(tenant="acme")]
    assert chain[-4:] == [
        (Action.SECRET_USE, "before-connector"),
        (Action.CONNECTOR_PUT, None),
        (Action.SECRET_USE, "before-delete"),
        (Action.CONNECTOR_DELETE, None),
    ]
    missing = client.delete("/v1/tenants/acme/connectors/example", headers=auth)
    assert missing.status_code == 404
    assert _outcomes(vault, "acme", Action.CONNECTOR_DELETE) == [Outcome.OK, Outcome.NOT_FOUND]
