"""Data keys leave half of each PostgreSQL page free (``fillfactor = 50``).

A rotation rewraps every data key: one UPDATE per row. With full pages (the default) each new row version
goes to another page and adds an entry to the primary-key index; with room on its own page the update is
HOT (heap-only: no index entry, and the old version is pruned in place). docs/benchmarks.md, "Re-keying",
has the measured difference. The table takes up to twice the space, a few hundred bytes a tenant.

Only pages written from now on are affected; to apply it to an existing table, run
``VACUUM FULL data_keys`` (it locks the table while it runs) or ``pg_repack``. SQLite has no such
setting: nothing changes there.

Revision ID: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE data_keys SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE data_keys RESET (fillfactor)")
