"""Schema 0004 (secrets.destinations) over a database at 0003, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from strongroom.crypto import LocalKeyProvider
from strongroom.errors import AccessDenied, StoreError
from strongroom.store import Store, engines
from strongroom.store import migrate as migrations
from strongroom.vault import Vault
from strongroom.vault.destinations import AllowedDestination, Destination, DestinationPolicy

from ..conftest import write_pre_0006_layout  # noqa: TID252 -- pytest's importlib mode resolves the package

ORIGIN = "https://a.example"
POLICY = DestinationPolicy((AllowedDestination(ORIGIN, ("bearer",)),))


def _columns(url: str, table: str) -> set[str]:
    engine = sa.create_engine(engines.normalise_url(url))
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def _downgrade_to_0003(url: str) -> None:
    store = Store(url)
    try:
        config = Config()
        config.set_main_option("script_location", str(migrations.MIGRATIONS))
        with store.engine.connect() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0003")
            conn.execute(sa.text("UPDATE strongroom_meta SET value = '0003' WHERE key = 'schema_revision'"))
            conn.commit()
    finally:
        store.close()


@pytest.mark.slow
def test_an_upgrade_from_0003_keeps_every_value_and_sends_it_only_to_declared_connectors(
    store_url: str, key_provider: LocalKeyProvider, make_canary: Callable[[str], str]
) -> None:
    value = make_canary("older")
    with Vault.open(store_url, key_provider=key_provider, actor="test") as vault:
        vault.create_tenant("t")
        vault.put("t", "k", value, destinations=POLICY)
    write_pre_0006_layout(store_url, key_provider)  # data keys as 0003 wrote them: by the provider
    _downgrade_to_0003(store_url)  # a database as 0003 left it: no column, no policy
    assert "destinations" not in _columns(store_url, "secrets")
    with pytest.raises(StoreError, match="older than 00"):
        Vault.open(store_url, key_provider=key_provider, actor="test", migrate=False)

    with Vault.open(store_url, key_provider=key_provider, actor="test") as vault:  # upgrades
        [info] = vault.list("t")
        assert info.destinations is None
        declared = Destination(ORIGIN, "bearer", "echo", declared=True)
        with vault.use("t", "k", purpose="broker:echo", destination=declared) as secret:
            assert secret.reveal() == value
        with pytest.raises(AccessDenied):
            vault.use("t", "k", purpose="broker:mine", destination=Destination(ORIGIN, "bearer", "mine", False))
        assert vault.set_destinations("t", "k", POLICY).destinations == POLICY
    assert "destinations" in _columns(store_url, "secrets")
