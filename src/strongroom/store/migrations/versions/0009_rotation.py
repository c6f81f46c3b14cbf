"""Secret lifecycle: staged versions, rotation policies and the rotations' persisted state machine.

``secrets`` gains the stage pointers (``pending_version``, ``previous_version`` and the end of the previous
version's overlap, ``previous_until``) and ``last_version``, the highest version number ever given out, so a
discarded pending version's number is never reused. Nullable columns added in place: no row is rewritten.
Every other version of a secret is ``retired``; a version's stage is read from these pointers
(``docs/rotation.md``, "Stages").

Revision ID: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_SECRET_COLUMNS = ("pending_version", "previous_version", "previous_until", "last_version")


def upgrade() -> None:
    op.add_column("secrets", sa.Column("pending_version", sa.Integer, nullable=True))
    op.add_column("secrets", sa.Column("previous_version", sa.Integer, nullable=True))
    op.add_column("secrets", sa.Column("previous_until", sa.Float, nullable=True))
    op.add_column("secrets", sa.Column("last_version", sa.Integer, nullable=True))
    op.create_table(
        "rotation_policies",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("rotate_every", sa.Float, nullable=False),
        sa.Column("overlap", sa.Float, nullable=False),
        sa.Column("rotator", sa.String(64), nullable=False),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("next_due", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "name"],
            ["secrets.tenant_id", "secrets.name"],
            ondelete="CASCADE",
            name="fk_rotation_policies_secret",
        ),
    )
    op.create_index("ix_rotation_policies_due", "rotation_policies", ["next_due"])
    op.create_table(
        "rotations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("rotator", sa.String(64), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pending_version", sa.Integer, nullable=True),
        sa.Column("previous_version", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("error", sa.String(512), nullable=True),
    )
    op.create_index("ix_rotations_secret", "rotations", ["tenant_id", "name", "started_at"])
    op.create_index("ix_rotations_open", "rotations", ["environment", "status"])


def downgrade() -> None:
    op.drop_index("ix_rotations_open", "rotations")
    op.drop_index("ix_rotations_secret", "rotations")
    op.drop_table("rotations")
    op.drop_index("ix_rotation_policies_due", "rotation_policies")
    op.drop_table("rotation_policies")
    for column in _SECRET_COLUMNS:
        op.execute(f"ALTER TABLE secrets DROP COLUMN {column}")
