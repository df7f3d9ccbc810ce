"""letters, letter findings, counters, outbox, audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from sunlight.monitor.store.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "letters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("tier", sa.String(16), nullable=False, index=True),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("audience", sa.String(16), nullable=False),
        sa.Column("unit_id", sa.String(100), index=True),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("source", sa.String(100)),
        sa.Column("checks", sa.Text, nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("rectify_by", sa.Date),
        sa.Column("requires_report", sa.Boolean, nullable=False),
        sa.Column("requires_admonition", sa.Boolean, nullable=False),
        sa.Column("cites_letter_id", sa.Integer, sa.ForeignKey("letters.id")),
        sa.Column("acknowledged_at", UTCDateTime()),
        sa.Column("report_received_at", UTCDateTime()),
        sa.Column("report_file", sa.Text),
        sa.Column("admonition_held_at", UTCDateTime()),
        sa.Column("overdue_at", UTCDateTime()),
        sa.Column("escalated_at", UTCDateTime()),
        sa.Column("closed_at", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("prefix", "year", "seq", name="uq_letters_prefix_year_seq"),
    )
    op.create_table(
        "letter_findings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("letter_id", sa.Integer, sa.ForeignKey("letters.id"), nullable=False, index=True),
        sa.Column("finding_id", sa.Integer, sa.ForeignKey("findings.id"), nullable=False, index=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("opened_run", sa.Integer, nullable=False),
        sa.Column("open_fingerprint", sa.String(64), unique=True),
        sa.Column("snapshot", sa.JSON, nullable=False),
        sa.Column("resolved_at", UTCDateTime()),
        sa.UniqueConstraint("letter_id", "finding_id", name="uq_letter_findings"),
    )
    op.create_table(
        "letter_counters",
        sa.Column("prefix", sa.String(32), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )
    # the row every issuer locks first (monitor.store.letters_models.ISSUE_LOCK)
    op.execute("INSERT INTO letter_counters (prefix, year, last) VALUES ('*issue-lock*', 0, 0)")
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("letter_id", sa.Integer, sa.ForeignKey("letters.id"), nullable=False, index=True),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False, index=True),
        sa.Column("last_attempt_at", UTCDateTime()),
        sa.Column("delivered_at", UTCDateTime()),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("delivery_id", sa.Integer, sa.ForeignKey("deliveries.id"), nullable=False,
                  index=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("retry_in_seconds", sa.Float),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("letter_id", sa.Integer, sa.ForeignKey("letters.id"), index=True),
        sa.Column("before", sa.String(20)),
        sa.Column("after", sa.String(20)),
        sa.Column("note", sa.Text),
        sa.Column("detail", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_log", "delivery_attempts", "deliveries", "letter_counters",
                  "letter_findings", "letters"):
        op.drop_table(table)
