"""Schema migrations with Alembic, run in-process against the store's own engine."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from strongroom.errors import StoreError
from strongroom.store.repository import Store
from strongroom.store.tables import SCHEMA_REVISION, strongroom_meta

MIGRATIONS = Path(__file__).with_name("migrations")


def upgrade(store: Store) -> str:
    """Bring the database to this code's schema; returns the revision it is at."""
    revision = store.schema_revision()
    if revision == SCHEMA_REVISION:
        return revision
    if revision is not None and revision > SCHEMA_REVISION:
        raise StoreError(
            f"database schema {revision} is newer than this strongroom ({SCHEMA_REVISION}): upgrade strongroom"
        )
    return migrate_to(store, SCHEMA_REVISION)


def migrate_to(store: Store, revision: str) -> str:
    """Run the migrations up to ``revision`` (an older one only for tests of upgrades) and record it."""
    from alembic import command  # heavy; only loaded when a schema actually changes
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.connect() as conn:
        conn.execution_options(strongroom_write=True)
        config.attributes["connection"] = conn
        try:
            command.upgrade(config, revision)
        except CommandError as exc:
            raise StoreError(f"cannot migrate the database: {exc}") from None
        conn.execute(update(strongroom_meta).where(strongroom_meta.c.key == "schema_revision").values(value=revision))
        conn.commit()
    return revision
