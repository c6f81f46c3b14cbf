"""Schema 0003: the service's tables through ``Tx``, tenant deletion, and the upgrade from 0002. Both backends."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from strongroom.crypto import LocalKeyProvider
from strongroom.errors import Conflict, StoreError
from strongroom.store import ConnectorRecord, ShareRecord, Store, engines
from strongroom.store import migrate as migrations
from strongroom.store.migrate import upgrade
from strongroom.store.tables import SCHEMA_REVISION, STRONGROOM_TABLES
from strongroom.tokens import ApiKeys, TokenService
from strongroom.vault import Vault

from .conftest import AUDIENCE, FakeClock  # noqa: TID252 -- pytest's importlib mode resolves the package

SHARED_NAME = "db.url"
NEW_TABLES = {"api_keys", "token_revocations", "connectors", "shares"}


def tenant_id(vault: Vault, name: str) -> str:
    return next(t.id for t in vault.list_tenants() if t.name == name)


def share(vault: Vault, tenant: str, link: str, *, expires_at: float) -> ShareRecord:
    return ShareRecord(
        id=hashlib.sha256(link.encode()).hexdigest(),
        environment=vault.environment,
        tenant_id=tenant_id(vault, tenant),
        secret_name=SHARED_NAME,
        version=1,
        created_at=0.0,
        expires_at=expires_at,
        used_at=None,
        created_by="ops",
    )


def test_connectors_are_stored_as_given(vault: Vault) -> None:
    acme = tenant_id(vault, "acme")
    definition = '{"base_url": "https://api.example.test", "auth": {"type": "bearer"}}'
    with vault._store.write() as tx:
        stored = tx.put_connector(
            ConnectorRecord(
                environment="dev", tenant_id=acme, name="stripe", definition=definition, created_at=1.0, updated_at=1.0
            )
        )
        tx.put_connector(
            ConnectorRecord(
                environment="dev", tenant_id=acme, name="github", definition="{}", created_at=1.0, updated_at=1.0
            )
        )
    assert stored.definition == definition
    assert stored.created_at == 1.0
    with vault._store.write() as tx:
        replaced = tx.put_connector(
            ConnectorRecord(
                environment="dev", tenant_id=acme, name="stripe", definition='{"v": 2}', created_at=5.0, updated_at=5.0
            )
        )
    assert (replaced.definition, replaced.created_at, replaced.updated_at) == ('{"v": 2}', 1.0, 5.0)
    with vault._store.read() as tx:
        assert [c.name for c in tx.connectors(acme)] == ["github", "stripe"]
        assert tx.connector(acme, "stripe") == replaced
        assert tx.connector(tenant_id(vault, "globex"), "stripe") is None
        assert tx.connectors(tenant_id(vault, "globex")) == []
    with vault._store.write() as tx:
        assert tx.delete_connector(acme, "stripe") is True
        assert tx.delete_connector(acme, "stripe") is False
    with vault._store.read() as tx:
        assert [c.name for c in tx.connectors(acme)] == ["github"]


def test_a_share_is_used_once(vault: Vault) -> None:
    record = share(vault, "acme", "link-one", expires_at=100.0)
    with vault._store.write() as tx:
        tx.insert_share(record)
    with vault._store.write() as tx, pytest.raises(Conflict):
        tx.insert_share(record)
    with vault._store.write() as tx:
        assert tx.share(record.id, lock=True) == record
        assert tx.mark_share_used(record.id, 50.0) is True
    with vault._store.write() as tx:
        assert tx.mark_share_used(record.id, 60.0) is False
        used = tx.share(record.id)
        assert used is not None
        assert used.used_at == 50.0
        assert tx.share("0" * 64) is None
        assert tx.mark_share_used("0" * 64, 1.0) is False


def test_concurrent_share_redemptions_let_exactly_one_through(
    open_service_vault: Callable[..., Vault], vault: Vault
) -> None:
    """Eight writers (each its own vault, as separate processes would be) race for one link: one wins."""
    record = share(vault, "acme", "link-race", expires_at=100.0)
    with vault._store.write() as tx:
        tx.insert_share(record)
    vaults = [open_service_vault() for _ in range(8)]
    wins: list[bool] = []
    barrier = threading.Barrier(len(vaults))

    def redeem(v: Vault) -> None:
        barrier.wait()
        with v._store.write() as tx:
            found = tx.share(record.id, lock=True)
            wins.append(found is not None and found.used_at is None and tx.mark_share_used(record.id, 1.0))

    threads = [threading.Thread(target=redeem, args=(v,)) for v in vaults]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_expired_shares_are_pruned(vault: Vault) -> None:
    old, new = share(vault, "acme", "old", expires_at=10.0), share(vault, "acme", "new", expires_at=1000.0)
    with vault._store.write() as tx:
        tx.insert_share(old)
        tx.insert_share(new)
    with vault._store.write() as tx:
        assert tx.prune_shares("dev", expired_before=500.0) == 1
        assert tx.share(old.id) is None
        assert tx.share(new.id) is not None


def test_deleting_a_tenant_removes_its_service_rows_in_one_transaction(vault: Vault, clock: FakeClock) -> None:
    """API keys, connectors and shares of the tenant go with it (the other tenant's stay); its token
    revocations stay until they expire (deleting one would revive the token)."""
    keys = ApiKeys(vault, clock=clock)
    tokens = TokenService(vault, issuer="https://strongroom.test", clock=clock)
    for tenant in ("acme", "globex"):
        keys.create(tenant=tenant, name="ci", scopes=["secrets:write"], actor="ops")
        with vault._store.write() as tx:
            tx.put_connector(
                ConnectorRecord(
                    environment="dev",
                    tenant_id=tenant_id(vault, tenant),
                    name="c",
                    definition="{}",
                    created_at=1.0,
                    updated_at=1.0,
                )
            )
            tx.insert_share(share(vault, tenant, f"link-{tenant}", expires_at=clock.now + 60))
    issued = tokens.issue(tenant="acme", subject="a", audience=AUDIENCE, scopes=["actions:invoke"], actor="ops")
    tokens.revoke(issued.jti, tenant="acme", expires_at=issued.expires_at, actor="ops")
    acme = tenant_id(vault, "acme")
    vault.delete_tenant("acme")
    with vault._store.read() as tx:
        counts = {name: tx.count(name) for name in ("api_keys", "connectors", "shares", "token_revocations")}
        assert tx.api_keys("dev", acme) == []
        assert tx.connectors(acme) == []
    assert counts == {"api_keys": 1, "connectors": 1, "shares": 1, "token_revocations": 1}
    assert [k.tenant for k in keys.list("globex")] == ["globex"]


def _migrate_to(url: str, revision: str) -> None:
    """A database at ``revision``, made by the project's own migrations."""
    store = Store(url)
    try:
        migrations.migrate_to(store, revision)
    finally:
        store.close()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_from_0002_adds_the_tables_and_keeps_the_data(
    store_url: str, key_provider: LocalKeyProvider, make_canary: Callable[[str], str]
) -> None:
    """A 0002 database is "older", not "damaged"; opening it without migrating says so; upgrading adds the four
    tables and every earlier secret still decrypts."""
    _migrate_to(store_url, "0002")
    assert not _tables(store_url) & NEW_TABLES
    engine = sa.create_engine(engines.normalise_url(store_url))
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "insert into tenants (id, environment, name, created_at) "
                    "values ('0123456789abcdef0123456789abcdef', 'dev', 'older', 1.0)"
                )
            )
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match=rf"older than {SCHEMA_REVISION}: run `strongroom db upgrade`"):
        Vault.open(store_url, key_provider=key_provider, actor="test", migrate=False)
    value = make_canary("v")
    with Vault.open(store_url, key_provider=key_provider, actor="test") as vault:  # migrates to the head
        assert [t.name for t in vault.list_tenants()] == ["older"]
        vault.create_tenant("acme")
        vault.put("acme", "api_key", value)
    store = Store(store_url)
    try:
        assert store.schema_revision() == SCHEMA_REVISION
        assert upgrade(store) == SCHEMA_REVISION
    finally:
        store.close()
    assert _tables(store_url) >= STRONGROOM_TABLES >= NEW_TABLES
    with (
        Vault.open(store_url, key_provider=key_provider, actor="test", migrate=False) as vault,
        vault.use("acme", "api_key", purpose="test") as secret,
    ):
        assert secret.reveal() == value
