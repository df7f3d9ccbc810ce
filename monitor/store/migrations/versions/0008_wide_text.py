"""keys and names as wide as real sources hold them (issue 10, item 3)

A unit id or item code over 100 characters, a unit name over 200, a subject
over 255 made PostgreSQL refuse the whole batch (``value too long for type
character varying(100)``): that source recorded nothing and no unit's letters
were issued. The boundary (``sunlight.monitor.textsafe``) now bounds keys at
200 characters and names at 200 (cut with their length and hash), and these
columns hold that with room to spare.

SQLite does not enforce VARCHAR lengths, so nothing changes there (and its
tables are not rebuilt).

Revision ID: 0008_wide_text
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_wide_text"
down_revision = "0005_leases"
branch_labels = None
depends_on = None

#: (table, column, old length, new length)
WIDENED = (
    ("findings", "subject", 255, 1000),
    ("findings", "unit_id", 100, 255),
    ("findings", "item_code", 100, 255),
    ("findings", "source", 100, 255),
    ("scan_runs", "source", 100, 255),
    ("letters", "unit_id", 100, 255),
    ("letters", "recipient", 200, 1000),
    ("letters", "source", 100, 255),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, old, new in WIDENED:
        op.alter_column(table, column, type_=sa.String(new), existing_type=sa.String(old))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, old, new in WIDENED:
        op.alter_column(table, column, type_=sa.String(old), existing_type=sa.String(new))
