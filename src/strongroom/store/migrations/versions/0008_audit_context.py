"""Audit events carry their caller's context (``audit_events.context``), and chains are keyed.

``context`` is the compact JSON of who asked (API key, token, subject, OAuth client), for what (connector
operation), on behalf of which agent run and tool call, and from where. From this revision each event's link
is an HMAC under the audit key (``strongroom.audit.keys``), which the database never holds; events written
before it are re-linked under the key in the transaction that makes it (the first open after this
revision that can write), so that from then on an unkeyed link is a forgery.

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("context", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("context")
