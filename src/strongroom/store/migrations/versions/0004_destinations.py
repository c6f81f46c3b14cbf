"""Where a secret may be sent: a nullable ``destinations`` column on ``secrets`` (canonical JSON).

NULL, what every existing row gets, means the broker may send the value only through the operator's declared
connectors (``docs/service.md``, "Where a secret may be sent"). Adding a nullable column rewrites no row, so
the upgrade is quick on large databases.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN in place on both backends (a batch "move and copy" of secrets would cascade to its versions).
    op.add_column("secrets", sa.Column("destinations", sa.Text, nullable=True))


def downgrade() -> None:
    # In place too (SQLite 3.35+ has DROP COLUMN): recreating the table would delete every version with it.
    op.execute("ALTER TABLE secrets DROP COLUMN destinations")
