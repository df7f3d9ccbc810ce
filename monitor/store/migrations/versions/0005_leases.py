"""findings remember the run that resolved them; scan runs name their replica

Revision ID: 0005_leases
Revises: 0002
Create Date: 2026-12-02

Several replicas (and overlapping ``sunlight cycle`` runs) share one store.
``findings.resolved_run`` lets a late sighting from an older run tell that a
newer complete run has already resolved the finding (it then stays resolved
instead of re-opening and earning a second letter); ``scan_runs.replica``
says which process ran a scan, so an abandoned one can be told apart.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_leases"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (SQLite has it): no table copy, so nothing referencing findings is touched
    op.add_column("findings", sa.Column("resolved_run", sa.Integer, nullable=True))
    op.add_column("scan_runs", sa.Column("replica", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scan_runs") as batch:
        batch.drop_column("replica")
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("resolved_run")
