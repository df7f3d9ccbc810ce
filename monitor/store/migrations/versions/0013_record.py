"""findings keep the hash of their content: a re-scan writes only what changed

Revision ID: 0013_record
Revises: 0012_progress
Create Date: 2026-12-02

A scan sees most findings again exactly as they were. ``findings.content_hash``
is the hash of what the store keeps of a finding (every column the upsert
writes, the evidence without its ``as_of``: ``store/recording.py``), so that a
finding seen again unchanged is only marked seen (``last_run``, ``last_seen``,
``evidence.as_of``) instead of written whole (issue 11, "``--record`` <= 20 µs
per finding"). Rows written before keep NULL: the next scan writes them whole
once, with their hash.

On PostgreSQL the findings table gets ``fillfactor = 70``: a sighting rewrites
the row (PostgreSQL's MVCC), and with room left on its page the new version
stays there without an entry in any of the table's eleven indexes (a HOT
update: none of the columns a sighting moves is indexed). It applies to the
pages written from now on. bench/bench_record.py: the re-scan's UPDATE took
~30 instead of ~60 µs a finding on the server.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_record"
down_revision = "0012_progress"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (nullable), as 0010 and 0011: a batch copy would trip the foreign keys
    op.add_column("findings", sa.Column("content_hash", sa.String(32), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE findings SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE findings RESET (fillfactor)")
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("content_hash")
