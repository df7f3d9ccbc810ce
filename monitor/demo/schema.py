"""The canonical source schema of data-model.md as SQLAlchemy tables.

sunlight never creates tables in a real source; this schema is for the demo,
the tests and the benchmarks, which build sample sources on SQLite,
PostgreSQL and MariaDB from one definition so that all three hold the same data.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

ID = sa.String(64)
TS = sa.DateTime()
MONEY = sa.Numeric(14, 2)
LIMIT = sa.Numeric(8, 2)

units = sa.Table(
    "units", metadata,
    sa.Column("unit_id", ID, primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("parent_id", ID),
    sa.Column("kind", sa.String(32)),
)
people = sa.Table(
    "people", metadata,
    sa.Column("person_id", ID, primary_key=True),
    sa.Column("name", sa.String(100)),
    sa.Column("unit_id", ID),
    sa.Column("is_head", sa.Boolean),
    sa.Column("is_finance_leader", sa.Boolean),
)
cases = sa.Table(
    "cases", metadata,
    sa.Column("case_id", ID, primary_key=True),
    sa.Column("unit_id", ID),
    sa.Column("item_code", sa.String(64)),
    sa.Column("item_name", sa.String(200)),
    sa.Column("handler", sa.String(100)),
    sa.Column("accepted_at", TS),
    sa.Column("promised_limit", LIMIT),
    sa.Column("statutory_limit", LIMIT),
    sa.Column("limit_unit", sa.String(16)),
    sa.Column("completed_at", TS),
    sa.Column("outcome", sa.String(32)),
    sa.Column("outcome_reason", sa.String(500)),
    sa.Column("updated_at", TS),
    sa.Column("statutory_basis", sa.String(200)),
)
case_pauses = sa.Table(
    "case_pauses", metadata,
    sa.Column("case_id", ID, index=True),
    sa.Column("kind", sa.String(32)),
    sa.Column("started_at", TS),
    sa.Column("ended_at", TS),
)
case_extensions = sa.Table(
    "case_extensions", metadata,
    sa.Column("case_id", ID, index=True),
    sa.Column("extra", LIMIT),
    sa.Column("approved_by", sa.String(100)),
    sa.Column("approved_at", TS),
    sa.Column("reason", sa.String(500)),
)
case_steps = sa.Table(
    "case_steps", metadata,
    sa.Column("case_id", ID, index=True),
    sa.Column("seq", sa.Integer),
    sa.Column("name", sa.String(100)),
    sa.Column("handler", sa.String(100)),
    sa.Column("started_at", TS),
    sa.Column("finished_at", TS),
    sa.Column("step_limit", LIMIT),
    sa.Column("limit_unit", sa.String(16)),
)
publications = sa.Table(
    "publications", metadata,
    sa.Column("publication_id", ID, primary_key=True),
    sa.Column("unit_id", ID),
    sa.Column("subject", sa.String(64)),
    sa.Column("period", sa.String(16)),
    sa.Column("ref_id", ID),
    sa.Column("published_at", TS),
    sa.Column("posted_until", TS),
    sa.Column("channel", sa.String(64)),
    sa.Column("url", sa.String(500)),
)
expenses = sa.Table(
    "expenses", metadata,
    sa.Column("voucher_id", ID, primary_key=True),
    sa.Column("unit_id", ID),
    sa.Column("amount", MONEY),
    sa.Column("category", sa.String(32)),
    sa.Column("payee", sa.String(200)),
    sa.Column("paid_at", TS),
    sa.Column("decision_id", ID),
)
expense_signatures = sa.Table(
    "expense_signatures", metadata,
    sa.Column("voucher_id", ID, index=True),
    sa.Column("role", sa.String(32)),
    sa.Column("person_id", ID),
    sa.Column("signed_at", TS),
)
decisions = sa.Table(
    "decisions", metadata,
    sa.Column("decision_id", ID, primary_key=True),
    sa.Column("unit_id", ID),
    sa.Column("category", sa.String(32)),
    sa.Column("method", sa.String(32)),
    sa.Column("meeting_at", TS),
    sa.Column("materials_sent_at", TS),
    sa.Column("should_attend", sa.Integer),
    sa.Column("present", sa.Integer),
    sa.Column("votes_for", sa.Integer),
    sa.Column("amount", MONEY),
    sa.Column("emergency", sa.Boolean),
    sa.Column("body", sa.String(64)),
    sa.Column("leader_in_charge", ID),
    sa.Column("leader_present", sa.Boolean),
    sa.Column("reported_at", TS),
)
complaints = sa.Table(
    "complaints", metadata,
    sa.Column("complaint_id", ID, primary_key=True),
    sa.Column("unit_id", ID),
    sa.Column("received_at", TS),
    sa.Column("real_name", sa.Boolean),
    sa.Column("accepted", sa.Boolean),
    sa.Column("rejection_notified_at", TS),
    sa.Column("transferred_at", TS),
    sa.Column("result_notified_at", TS),
    sa.Column("closed_at", TS),
)
info_requests = sa.Table(
    "info_requests", metadata,
    sa.Column("request_id", ID, primary_key=True),
    sa.Column("unit_id", ID),
    sa.Column("received_at", TS),
    sa.Column("extended", sa.Boolean),
    sa.Column("extension_approved_by", sa.String(100)),
    sa.Column("replied_at", TS),
)
post_tenures = sa.Table(
    "post_tenures", metadata,
    sa.Column("person_id", ID),
    sa.Column("unit_id", ID),
    sa.Column("post", sa.String(100)),
    sa.Column("risk_class", sa.String(4)),
    sa.Column("started_at", TS),
    sa.Column("ended_at", TS),
)


def create_all(engine: sa.Engine, tables: list[str] | None = None) -> None:
    """Create the canonical tables (all, or the named ones) on a writable engine."""
    chosen = None if tables is None else [metadata.tables[t] for t in tables]
    metadata.create_all(engine, tables=chosen)


def drop_all(engine: sa.Engine) -> None:
    metadata.drop_all(engine)
