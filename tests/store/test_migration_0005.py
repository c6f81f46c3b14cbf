"""Schema 0005 (audit_events.tenant_id) over a database whose audit log was chained by tenant name.

The old rows are made as strongroom 0003 wrote them: chains ``<environment>/<tenant name>`` with valid hashes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from strongroom.audit.chain import GENESIS, LEGACY_FIELDS, legacy_hash
from strongroom.crypto import LocalKeyProvider
from strongroom.store import Store, engines
from strongroom.store import migrate as migrations
from strongroom.store.migrate import upgrade
from strongroom.store.tables import SCHEMA_REVISION
from strongroom.vault import Vault
from strongroom.vocabulary import Action

ACME_CREATED = 100.0


@contextmanager
def engine_for(url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        yield engine
    finally:
        engine.dispose()


def _old_chain(environment: str, tenant: str, events: list[tuple[float, str]]) -> list[dict[str, Any]]:
    """Rows of one name-keyed chain (``dev/acme``), hashed as strongroom 0003 hashed them."""
    chain, prev, rows = f"{environment}/{tenant}", GENESIS, []
    for seq, (at, action) in enumerate(events, 1):
        values = dict.fromkeys(LEGACY_FIELDS)
        values.update(chain=chain, environment=environment, actor="old", tenant=tenant, action=action)
        values.update(outcome="ok", seq=seq, at=at, prev_hash=prev)
        digest = legacy_hash([values[name] for name in LEGACY_FIELDS])
        rows.append({**values, "hash": digest})
        prev = digest
    return rows


@pytest.fixture
def old_database(store_url: str) -> dict[str, str]:
    """A store at schema 0003: tenant acme (created at 100) of dev, an acme of prod, and four old chains."""
    store = Store(store_url)
    try:
        migrations.migrate_to(store, "0003")
    finally:
        store.close()
    ids = {"dev": uuid.uuid4().hex, "prod": uuid.uuid4().hex}
    chains = [
        # dev/acme as 0003 wrote it: the events before 100 were a predecessor's (an acme deleted, then
        # re-created with the same name), chained with the current acme's
        _old_chain(
            "dev",
            "acme",
            [(50.0, "tenant.create"), (60.0, "tenant.delete"), (ACME_CREATED, "tenant.create"), (150.0, "secret.put")],
        ),
        _old_chain("dev", "-", [(120.0, "key.rewrap")]),
        _old_chain("dev", "ghost", [(130.0, "secret.put")]),
        _old_chain("prod", "acme", [(140.0, "secret.put")]),
    ]
    with engine_for(store_url) as engine, engine.begin() as conn:
        meta = sa.MetaData()
        meta.reflect(conn)
        assert "tenant_id" not in meta.tables["audit_events"].c
        conn.execute(
            meta.tables["tenants"].insert(),
            [
                {"id": ids["dev"], "environment": "dev", "name": "acme", "created_at": ACME_CREATED},
                {"id": ids["prod"], "environment": "prod", "name": "acme", "created_at": 10.0},
            ],
        )
        for rows in chains:
            conn.execute(meta.tables["audit_events"].insert(), rows)
            last = rows[-1]
            conn.execute(
                meta.tables["audit_chains"].insert(),
                {"chain": last["chain"], "head_seq": last["seq"], "head_hash": last["hash"]},
            )
    return ids


def _attributed(url: str) -> dict[tuple[str, int], str | None]:
    with engine_for(url) as engine, engine.connect() as conn:
        rows = conn.execute(sa.text("select chain, seq, tenant_id from audit_events")).all()
    return {(chain, seq): tenant_id for chain, seq, tenant_id in rows}


def test_upgrade_attributes_old_events_to_the_tenant_that_held_the_name(
    store_url: str, old_database: dict[str, str]
) -> None:
    """Only events at or after the current acme's creation are its own; a predecessor's, the environment's
    (``-``), an unknown name's stay with no tenant; another environment's acme takes none of dev's."""
    store = Store(store_url)
    try:
        assert upgrade(store) == SCHEMA_REVISION
    finally:
        store.close()
    acme = old_database["dev"]
    assert _attributed(store_url) == {
        ("dev/acme", 1): None,
        ("dev/acme", 2): None,
        ("dev/acme", 3): acme,
        ("dev/acme", 4): acme,
        ("dev/-", 1): None,
        ("dev/ghost", 1): None,
        ("prod/acme", 1): old_database["prod"],
    }
    with engine_for(store_url) as engine:
        indexes = {ix["name"]: ix["column_names"] for ix in sa.inspect(engine).get_indexes("audit_events")}
    assert indexes["ix_audit_events_tenant_id_at"] == ["tenant_id", "at"]


def test_old_and_new_chains_verify_and_queries_go_by_tenant_id(
    store_url: str, old_database: dict[str, str], key_provider: LocalKeyProvider
) -> None:
    """After the upgrade: ``verify`` and the heads cover the name-keyed chains and the id-keyed ones written
    since; acme's history is its own (not its predecessor's); ``-`` and ``ghost`` select the events of no
    tenant; a re-created acme starts empty."""
    with Vault.open(store_url, key_provider=key_provider, actor="test") as vault:
        vault.create_tenant("beta")
        vault.put("beta", "api_key", uuid.uuid4().hex)
        vault.rewrap_data_keys()
        # Schema 0008: the old chains were re-linked under the audit key when the open made it.
        [rekeyed] = vault.audit_events(tenant="-", action=Action.AUDIT_REKEY)
        assert rekeyed.detail is not None
        assert rekeyed.detail.startswith("6 events")  # dev/acme 4, dev/- 1, dev/ghost 1; not prod's
        report = vault.verify_audit()
        assert report.ok, report.broken
        assert [detail for _, detail in report.keyed_over] == [rekeyed.detail]  # named by every verify
        heads = vault.audit_heads()
        assert {"dev/acme", "dev/-", "dev/ghost", "prod/acme", "dev/*environment*"} <= set(heads)
        beta = next(t.id for t in vault.list_tenants() if t.name == "beta")
        assert heads[f"dev/tenant:{beta}"][0] == 2  # tenant.create, secret.put
        assert [(e.at, e.action) for e in vault.audit_events(tenant="acme")] == [
            (ACME_CREATED, "tenant.create"),
            (150.0, "secret.put"),
        ]
        assert [e.action for e in vault.audit_events(tenant="-")] == ["key.rewrap", "audit.rekey", "key.rewrap"]
        assert [e.action for e in vault.audit_events(tenant="ghost")] == ["secret.put"]
        assert [e.action for e in vault.audit_events(tenant="beta")] == ["tenant.create", "secret.put"]
        vault.delete_tenant("beta")
        vault.create_tenant("beta")
        assert [e.action for e in vault.audit_events(tenant="beta")] == ["tenant.create"]
        assert vault.verify_audit().ok
