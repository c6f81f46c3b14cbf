"""The data keys' indexes (schemas 0007 and 0010): the keys a provider wraps directly are found by an index that
holds only them, and a rewrap's updates stay heap-only (HOT) on PostgreSQL, which an index on a column it
changes would end."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress

import pytest
import sqlalchemy as sa

from strongroom.store import Store, engines
from strongroom.vault import Vault
from strongroom.vocabulary import ROOT_KEYRING

from ..conftest import write_pre_0006_layout  # noqa: TID252 -- pytest's importlib mode resolves the package


def _fill(vault: Vault, tenants: int) -> None:
    for t in range(tenants):
        vault.create_tenant(f"t{t}")
        vault.put(f"t{t}", "s", f"value-{t}-of-the-index-test")


def _indexed_keys(url: str) -> int:
    """How many entries the partial index holds, read through the index itself."""
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                sql = "SELECT count(*) FROM data_keys INDEXED BY ix_data_keys_provider_wrapped WHERE kek_id <> 'root'"
                return int(conn.execute(sa.text(sql)).scalar_one())
            conn.execute(sa.text("SET enable_seqscan = off"))
            plan = "\n".join(
                conn.execute(sa.text("EXPLAIN SELECT kek_id FROM data_keys WHERE kek_id <> 'root'")).scalars()
            )
            assert "ix_data_keys_provider_wrapped" in plan
            return int(conn.execute(sa.text("SELECT count(*) FROM data_keys WHERE kek_id <> 'root'")).scalar_one())
    finally:
        engine.dispose()


def test_the_index_holds_the_provider_wrapped_keys_until_they_move_under_a_root(
    open_vault: Callable[..., Vault], store_url: str, key_provider: object
) -> None:
    vault = open_vault(cache_ttl_seconds=0)
    _fill(vault, 3)
    vault.close()
    assert _indexed_keys(store_url) == 0  # every key under the root key
    written = write_pre_0006_layout(store_url, key_provider)  # type: ignore[arg-type]
    assert _indexed_keys(store_url) == written
    old = open_vault(cache_ttl_seconds=0)
    assert old.keys.rewrap() == written
    assert _indexed_keys(store_url) == 0


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_a_rewrap_updates_every_data_key_heap_only(open_vault: Callable[..., Vault], store_url: str) -> None:
    vault = open_vault(cache_ttl_seconds=0)
    _fill(vault, 40)
    primary = vault.keys.status().primary
    assert primary is not None
    store = Store(store_url)
    counts: list[tuple[int, int, int]] = []
    try:
        with suppress(_RolledBack), store.write() as tx:  # counted in this transaction, then rolled back
            rows = tx.data_keys_page(vault.environment, not_under=(ROOT_KEYRING, -1), after=None, limit=1000)
            tx.rewrap_data_keys(ROOT_KEYRING, primary + 1, [(r[0], r[1], r[4]) for r in rows])
            updated, heap_only = tx.conn.execute(
                sa.text("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'data_keys'")
            ).one()
            counts.append((len(rows), updated, heap_only))
            raise _RolledBack
    finally:
        store.close()
    [(rows, updated, heap_only)] = counts
    assert rows > 40
    assert updated == rows
    assert heap_only == updated


class _RolledBack(Exception):
    pass
