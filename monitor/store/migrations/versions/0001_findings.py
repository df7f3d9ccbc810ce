"""findings and scan runs

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from sunlight.monitor.store.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scan_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(100), nullable=False, index=True),
        sa.Column("as_of", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("ok", sa.Boolean, nullable=False, default=False),
        sa.Column("error", sa.Text),
        sa.Column("rows_read", sa.Integer, nullable=False, default=0),
        sa.Column("findings", sa.Integer, nullable=False, default=0),
        sa.Column("checks", sa.Text, nullable=False, default=""),
    )
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("check_id", sa.String(64), nullable=False, index=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("unit_id", sa.String(100), nullable=False, index=True),
        sa.Column("item_code", sa.String(100)),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("deadline", UTCDateTime()),
        sa.Column("overdue", sa.Numeric(14, 2)),
        sa.Column("measure", sa.String(16)),
        sa.Column("calendar_uncovered", sa.Boolean, nullable=False, default=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), index=True),
        sa.Column("opened_run", sa.Integer, nullable=False),
        sa.Column("last_run", sa.Integer, nullable=False),
    )
    op.create_index("ix_findings_open", "findings", ["source", "check_id", "resolved_at"])


def downgrade() -> None:
    op.drop_table("findings")
    op.drop_table("scan_runs")
