"""console accounts and sessions

Revision ID: 0006_console_users
Revises: 0009_person_letters
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from sunlight.monitor.store.models import UTCDateTime

revision = "0006_console_users"
down_revision = "0009_person_letters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("unit_id", sa.String(255)),  # as wide as findings.unit_id (0008_wide_text)
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", UTCDateTime()),
        sa.Column("password_changed_at", UTCDateTime(), nullable=False),
        sa.Column("last_login_at", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("console_users.id"), nullable=False, index=True),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    )
    # the console's counts read these indexes alone, not the findings (bench/bench_console.py):
    # open findings by tier and unit (总览, 单位), findings of a period (绩效评估, 统计报表),
    # the overdue trend, the units known, and a unit's findings by time
    op.create_index("ix_findings_console_open", "findings", ["resolved_at", "tier", "unit_id", "check_id"])
    op.create_index("ix_findings_console_seen", "findings", ["first_seen", "unit_id", "tier", "check_id"])
    op.create_index("ix_findings_console_check", "findings", ["check_id", "first_seen", "resolved_at"])
    op.create_index("ix_findings_console_unit", "findings", ["unit_id", "check_id", "first_seen"])


def downgrade() -> None:
    for name in ("ix_findings_console_open", "ix_findings_console_seen", "ix_findings_console_check",
                 "ix_findings_console_unit"):
        op.drop_index(name, "findings")
    op.drop_table("console_sessions")
    op.drop_table("console_users")
