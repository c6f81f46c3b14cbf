"""An index of the data keys a provider wraps directly (``kek_id <> 'root'``: written before schema 0006).

Every vault open asks which provider keys this database needs, and a key rotation asks again: without an
index that was a scan of every data key (0.26 s at 1,000,000 tenants on PostgreSQL) to find, almost always,
none. The index holds only those keys, so it is empty once ``strongroom key migrate`` or a rewrap has moved
them under a root key. It names ``kek_id`` alone: a rewrap changes every row's ``kek_version``, and an index
on that column would make each of its updates write an index entry instead of a heap-only (HOT) update
(schema 0007).

Revision ID: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_WHERE = sa.text("kek_id <> 'root'")


def upgrade() -> None:
    op.create_index(
        "ix_data_keys_provider_wrapped",
        "data_keys",
        ["kek_id"],
        postgresql_where=_WHERE,
        sqlite_where=_WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_data_keys_provider_wrapped", table_name="data_keys")
