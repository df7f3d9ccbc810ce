"""incremental cycles: findings name their record, the time index, the watermark state

Revision ID: 0011_incremental
Revises: 0010_sign_off
Create Date: 2026-12-02

Between full scans a cycle re-reads only the rows changed since the last
cycle and the records whose time boundary passed (issue 11, item 4). To
resolve exactly the findings of the records it re-evaluated, a finding
keeps the key of the record that produced it (``findings.record_key``: a
step finding ``C1#2`` belongs to case ``C1``); ``time_index`` holds, per
record that time alone can change, the first instant it must be evaluated
again; ``incremental_state`` the watermark and the as-of of the last cycle;
``scan_runs.mode`` says whether a run was full or incremental.
"""

import sqlalchemy as sa
from alembic import op

from sunlight.monitor.store.models import UTCDateTime

revision = "0011_incremental"
down_revision = "0010_sign_off"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN, as 0010: a batch copy would trip the foreign keys to findings
    op.add_column("findings", sa.Column("record_key", sa.String(255), nullable=True))
    op.create_index("ix_findings_record", "findings", ["source", "record_key"])
    op.add_column("scan_runs", sa.Column("mode", sa.String(16), nullable=True))
    op.create_table(
        "time_index",
        sa.Column("source", sa.String(255), primary_key=True),
        sa.Column("entity", sa.String(64), primary_key=True),
        sa.Column("record_key", sa.String(255), primary_key=True),
        sa.Column("next_due", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_time_index_due", "time_index", ["source", "entity", "next_due"])
    op.create_table(
        "incremental_state",
        sa.Column("source", sa.String(255), primary_key=True),
        sa.Column("entity", sa.String(64), primary_key=True),
        sa.Column("watermark", sa.Text, nullable=True),
        sa.Column("watermark_type", sa.String(16), nullable=True),
        sa.Column("as_of", UTCDateTime(), nullable=False),
        sa.Column("full_as_of", UTCDateTime(), nullable=False),
        sa.Column("full_run", sa.Integer, nullable=False),
        sa.Column("last_run", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("incremental_state")
    op.drop_index("ix_time_index_due", table_name="time_index")
    op.drop_table("time_index")
    with op.batch_alter_table("scan_runs") as batch:
        batch.drop_column("mode")
    op.drop_index("ix_findings_record", table_name="findings")
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("record_key")
