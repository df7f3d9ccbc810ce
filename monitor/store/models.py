"""SQLAlchemy models of the state store. Change them only with a new migration."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Aware datetimes stored as naive UTC, so SQLite and PostgreSQL agree."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state store")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: sa.JSON()}


class ScanRun(Base):
    """One evaluation of one source: when, as of when, and how it went."""

    __tablename__ = "scan_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(255), index=True)
    as_of: Mapped[dt.datetime]
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    ok: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(sa.Text)
    rows_read: Mapped[int] = mapped_column(default=0)
    #: rows read per canonical entity (0012_progress): the next scan's expected totals, so a
    #: terminal can show the time left without counting the source twice; None on older runs
    entity_rows: Mapped[dict[str, Any] | None]
    findings: Mapped[int] = mapped_column(default=0)
    checks: Mapped[str] = mapped_column(sa.Text, default="")  # comma-separated ids
    replica: Mapped[str | None] = mapped_column(sa.String(200))  # the process that ran it
    #: "full" or "incremental" (migration 0011_incremental); None: a run before it
    mode: Mapped[str | None] = mapped_column(sa.String(16))


class FindingRow(Base):
    """A finding as the store remembers it, one row per fingerprint (invariant 3)."""

    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64), unique=True)
    check_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    # widths: migration 0008_wide_text (keys are bounded at the boundary, textsafe.KEY_MAX)
    subject: Mapped[str] = mapped_column(sa.String(1000))
    unit_id: Mapped[str] = mapped_column(sa.String(255), index=True)
    item_code: Mapped[str | None] = mapped_column(sa.String(255))
    source: Mapped[str] = mapped_column(sa.String(255))
    tier: Mapped[str] = mapped_column(sa.String(16))
    summary: Mapped[str] = mapped_column(sa.Text)
    deadline: Mapped[dt.datetime | None]
    overdue: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2))
    measure: Mapped[str | None] = mapped_column(sa.String(16))
    calendar_uncovered: Mapped[bool] = mapped_column(default=False)
    evidence: Mapped[dict[str, Any]]
    first_seen: Mapped[dt.datetime]
    last_seen: Mapped[dt.datetime]
    resolved_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    #: the violation ended in the source but stays on record (a late case completed late)
    ended_at: Mapped[dt.datetime | None]
    opened_run: Mapped[int]  # the scan run in which it was first seen or last re-opened
    #: the newest scan run that saw it (a late upsert from an older run never moves it back)
    last_run: Mapped[int]
    #: the complete run that resolved it; a sighting by an older run does not re-open it
    resolved_run: Mapped[int | None]
    #: the key of the record that produced it (a case's id, also for its steps' findings):
    #: an incremental run resolves only the findings of the records it re-evaluated
    record_key: Mapped[str | None] = mapped_column(sa.String(255))
    #: the hash of what the store keeps of it but ``evidence.as_of`` (migration 0013_record):
    #: a scan that sees it again unchanged only marks it seen (store/recording.py); NULL: written
    #: before 0013, or by the row-by-row path, and written whole at its next sighting
    content_hash: Mapped[str | None] = mapped_column(sa.String(32))

    __table_args__ = (sa.Index("ix_findings_open", "source", "check_id", "resolved_at"),
                      sa.Index("ix_findings_record", "source", "record_key"))


class TimeIndexRow(Base):
    """A record that time alone can change, and the first instant it must be evaluated again.

    Records whose evaluation cannot change without an edit (a case completed,
    every step finished, no event after the as-of time) have no row.
    """

    __tablename__ = "time_index"
    source: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    entity: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    record_key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    next_due: Mapped[dt.datetime]

    __table_args__ = (sa.Index("ix_time_index_due", "source", "entity", "next_due"),)


class IncrementalState(Base):
    """Where the incremental cycles of one source's entity stand (migration 0011_incremental)."""

    __tablename__ = "incremental_state"
    source: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    entity: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    #: the greatest watermark value read so far, as text, and its Python type (to compare with it)
    watermark: Mapped[str | None] = mapped_column(sa.Text)
    watermark_type: Mapped[str | None] = mapped_column(sa.String(16))
    as_of: Mapped[dt.datetime]  # of the last cycle (full or incremental) that moved the state
    full_as_of: Mapped[dt.datetime]  # of the full scan that built the time index
    full_run: Mapped[int]
    last_run: Mapped[int]
