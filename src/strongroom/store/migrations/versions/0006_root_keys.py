"""Root keys: ``root_keys``, one per environment and version, wrapped by the key provider.

Data keys written from this revision are wrapped under a root key (``data_keys.kek_id = 'root'``,
``kek_version`` the root version) instead of by the provider directly, so that rotating or shredding
rewraps them locally and destroying a provider version makes every copy of a retired root key useless
(docs/crypto.md). Existing data keys keep their provider wrapping and are read as before until
``strongroom key rewrap`` (or ``key rotate``) moves them under the root. Creating a table rewrites no row.

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "root_keys",
        sa.Column("environment", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("provider_id", sa.String(128), nullable=False),
        sa.Column("provider_version", sa.Integer, nullable=False),
        sa.Column("wrapped", sa.LargeBinary, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("retired_at", sa.Float, nullable=True),
    )


def downgrade() -> None:
    # Dropping the table would destroy every root key and with them every data key wrapped under one.
    under_roots = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM data_keys WHERE kek_id = 'root'")).scalar()
    if under_roots:
        raise RuntimeError(
            f"{under_roots} data keys are wrapped under root keys; a downgrade below 0006 would make them "
            "unreadable. Restore the backup taken before the upgrade instead."
        )
    op.drop_table("root_keys")
