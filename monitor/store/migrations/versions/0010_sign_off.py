"""a leader's sign-off (签批) of a 一级 letter

Revision ID: 0010_sign_off
Revises: 0006_console_users
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from sunlight.monitor.store.models import UTCDateTime

revision = "0010_sign_off"
down_revision = "0006_console_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN, as 0004_letter_acts: a batch copy would trip the foreign keys to letters
    op.add_column("letters", sa.Column("signed_off_at", UTCDateTime()))


def downgrade() -> None:
    op.drop_column("letters", "signed_off_at")
