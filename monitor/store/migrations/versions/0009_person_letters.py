"""letters to a person (当事人, seed 004:66): the person's id and the unit the letter is copied to

Revision ID: 0009_person_letters
Revises: 0004_letter_acts
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_person_letters"
down_revision = "0004_letter_acts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN, as 0004_letter_acts: a batch copy would trip the foreign keys to letters
    op.add_column("letters", sa.Column("person_id", sa.String(255)))
    op.add_column("letters", sa.Column("copy_to", sa.String(1000)))
    op.create_index("ix_letters_person_id", "letters", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_letters_person_id", table_name="letters")
    op.drop_column("letters", "copy_to")
    op.drop_column("letters", "person_id")
