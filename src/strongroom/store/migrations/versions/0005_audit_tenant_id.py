"""Audit events keyed by tenant id: ``audit_events.tenant_id``, indexed with ``at``, filled in for old events.

Until now an event named its tenant only by name, so a tenant deleted and re-created with the same name read
its predecessor's history. From this revision events are chained and selected by tenant id. Existing events
are attributed here to the tenant that holds their name now if it was created at or before the event (so a
predecessor's events stay with no tenant); events of the environment-wide chain (tenant ``-``) never are.
Old events keep their chains (``<environment>/<name>``): their hashes cover the chain name.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BACKFILL = """
UPDATE audit_events SET tenant_id = (
    SELECT t.id FROM tenants t
    WHERE t.environment = audit_events.environment
      AND t.name = audit_events.tenant
      AND t.created_at <= audit_events.at
)
WHERE tenant_id IS NULL AND tenant <> '-'
"""


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("tenant_id", sa.String(32), nullable=True))
    op.execute(sa.text(_BACKFILL))
    op.create_index("ix_audit_events_tenant_id_at", "audit_events", ["tenant_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_tenant_id_at", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("tenant_id")
