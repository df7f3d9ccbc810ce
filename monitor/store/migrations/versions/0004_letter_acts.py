"""letter acts: matters, withdrawal, explanations, stored reports, when a violation ended,
periodic letters, and the audit log's as-of time and hash chain

Revision ID: 0004_letter_acts
Revises: 0005_leases
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from sunlight.monitor.store.audit_chain import GENESIS, entry_hash
from sunlight.monitor.store.models import UTCDateTime

revision = "0004_letter_acts"
down_revision = "0008_wide_text"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE ADD/DROP COLUMN (SQLite >= 3.35 has both): a batch table copy would trip
    # the foreign keys that point at letters
    # the violation ended in the source (a late case completed, a late reply sent): the finding
    # stays on record, but it is rectified for its letter
    op.add_column("findings", sa.Column("ended_at", UTCDateTime()))
    op.add_column("letters", sa.Column("matter_id", sa.Integer))  # the first letter of its matter
    op.add_column("letters", sa.Column("withdrawn_at", UTCDateTime()))
    op.add_column("letters", sa.Column("reopened_at", UTCDateTime()))
    op.create_index("ix_letters_matter_id", "letters", ["matter_id"])
    op.add_column("letters", sa.Column("period", sa.String(16)))  # 定期预警: the period it assesses
    op.add_column("letters", sa.Column("assessment", sa.JSON))  # … and the figures it states
    # 核实不予追究 (the office's as-of time)
    op.add_column("letter_findings", sa.Column("explained_at", UTCDateTime()))
    op.add_column("audit_log", sa.Column("as_of", UTCDateTime()))  # the as-of time the act applies to
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(64)))
    op.add_column("audit_log", sa.Column("hash", sa.String(64)))
    op.create_table(
        "finding_explanations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, index=True),
        sa.Column("facts", sa.String(64), nullable=False),  # digest of the facts the office accepted
        sa.Column("letter_id", sa.Integer, sa.ForeignKey("letters.id"), nullable=False),
        sa.Column("by", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("as_of", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "letter_reports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("letter_id", sa.Integer, sa.ForeignKey("letters.id"), nullable=False, index=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("by", sa.String(100), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("as_of", UTCDateTime(), nullable=False),
    )
    conn = op.get_bind()
    letters = sa.table("letters", sa.column("id", sa.Integer), sa.column("cites_letter_id", sa.Integer),
                       sa.column("matter_id", sa.Integer))
    cites = dict(conn.execute(sa.select(letters.c.id, letters.c.cites_letter_id)).all())
    for letter_id in cites:
        root = letter_id
        while cites.get(root) is not None:
            root = cites[root]
        conn.execute(sa.update(letters).where(letters.c.id == letter_id).values(matter_id=root))
    audit = sa.table("audit_log", sa.column("id", sa.Integer), sa.column("at", UTCDateTime()),
                     sa.column("as_of", UTCDateTime()), sa.column("letter_id", sa.Integer),
                     *(sa.column(c, sa.String) for c in ("actor", "action", "before", "after", "note",
                                                        "prev_hash", "hash")),
                     sa.column("detail", sa.JSON))
    prev = GENESIS
    rows = conn.execute(sa.select(audit).order_by(audit.c.id)).mappings().all()
    for row in rows:  # entries written before the chain: chained as they stand now
        entry = dict(row)
        entry["as_of"] = entry["at"]
        digest = entry_hash(prev, entry)
        conn.execute(sa.update(audit).where(audit.c.id == row["id"])
                     .values(as_of=row["at"], prev_hash=prev, hash=digest))
        prev = digest


def downgrade() -> None:
    op.drop_table("letter_reports")
    op.drop_table("finding_explanations")
    for c in ("hash", "prev_hash", "as_of"):
        op.drop_column("audit_log", c)
    op.drop_column("letter_findings", "explained_at")
    op.drop_index("ix_letters_matter_id", "letters")
    for c in ("assessment", "period", "reopened_at", "withdrawn_at", "matter_id"):
        op.drop_column("letters", c)
    op.drop_column("findings", "ended_at")
