"""rows read per entity on each scan run: the expected totals of the next scan's progress

A terminal's progress bar shows the time left of a scan from what the last
complete scan of the source read of each entity; counting the rows first
would read every source twice. Older runs keep NULL (no time left shown).

Revision ID: 0012_progress
Revises: 0011_incremental
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_progress"
down_revision = "0011_incremental"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (nullable), as 0010_sign_off: no batch copy of the table
    op.add_column("scan_runs", sa.Column("entity_rows", sa.JSON))


def downgrade() -> None:
    op.drop_column("scan_runs", "entity_rows")
