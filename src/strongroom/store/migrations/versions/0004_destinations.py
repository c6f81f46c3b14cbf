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
    with op.batch_alter_table("secrets") as batch:
        batch.add_column(sa.Column("destinations", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("secrets") as batch:
        batch.drop_column("destinations")
