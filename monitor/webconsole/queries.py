"""What the console's pages read from the state store, always within the reader's scope.

Every function that returns findings or letters takes ``scope``: None for the
office (every unit), or a liaison's unit id, which is applied in SQL, so a
liaison cannot reach another unit's rows by id, by filter or by export.

Lists are paged by key (``id`` descending, ``before``/``after`` an id), never
by loading everything: a page over 100k findings reads one page of rows and
one count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from sunlight.monitor.store.letters_models import (
    OPEN_STATUSES,
    AuditEntry,
    DeliveryRow,
    LetterFindingRow,
    LetterReport,
    LetterRow,
)
from sunlight.monitor.store.models import FindingRow, ScanRun

DATA_QUALITY = "data_quality"
CASE_OVERDUE_CHECKS = ("case_overdue", "case_overdue_statutory")
Row = sa.Row[*tuple[Any, ...]]


def _day_start(d: dt.date, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(d, dt.time(), tz)


@dataclass(frozen=True)
class FindingFilter:
    """The filters of the 发现 page (and of ``sunlight findings list``)."""

    check: str | None = None
    unit: str | None = None
    tier: str | None = None
    state: str | None = None  # open | resolved
    source: str | None = None
    since: dt.date | None = None  # first seen on or after
    until: dt.date | None = None  # first seen on or before

    def conditions(self, scope: str | None, tz: dt.tzinfo) -> list[ColumnElement[bool]]:
        f = FindingRow
        out: list[ColumnElement[bool]] = []
        if scope is not None:
            out.append(f.unit_id == scope)
        if self.check:
            out.append(f.check_id == self.check)
        if self.unit:
            out.append(f.unit_id == self.unit)
        if self.tier:
            out.append(f.tier == self.tier)
        if self.state == "open":
            out.append(f.resolved_at.is_(None))
        elif self.state == "resolved":
            out.append(f.resolved_at.is_not(None))
        if self.source:
            out.append(f.source == self.source)
        if self.since:
            out.append(f.first_seen >= _day_start(self.since, tz))
        if self.until:
            out.append(f.first_seen < _day_start(self.until + dt.timedelta(days=1), tz))
        return out


@dataclass
class Page:
    rows: Sequence[Row]
    total: int
    #: the id to pass as ``before`` for the next (older) page, None on the last
    next_before: int | None
    #: the id to pass as ``after`` for the previous (newer) page, None on the first
    prev_after: int | None


def _page(store: Engine, table: Any, conds: list[ColumnElement[bool]], before: int | None,
          after: int | None, size: int, columns: Sequence[Any] | None = None) -> Page:
    cols = columns if columns is not None else [table]
    query = sa.select(*cols).where(*conds)
    with store.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*conds)).scalar_one()
        if after is not None:
            rows = list(conn.execute(query.where(table.id > after).order_by(table.id.asc())
                                     .limit(size + 1)).all())
            more_newer = len(rows) > size
            rows = rows[:size][::-1]
            has_older = bool(rows) and conn.execute(
                sa.select(table.id).where(*conds, table.id < rows[-1].id).limit(1)).first() is not None
            return Page(rows, total, rows[-1].id if rows and has_older else None,
                        rows[0].id if rows and more_newer else None)
        if before is not None:
            query = query.where(table.id < before)
        rows = list(conn.execute(query.order_by(table.id.desc()).limit(size + 1)).all())
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, total, rows[-1].id if more else None,
                rows[0].id if rows and before is not None else None)


def findings_page(store: Engine, flt: FindingFilter, scope: str | None, tz: dt.tzinfo, *,
                  before: int | None = None, after: int | None = None, size: int = 50) -> Page:
    return _page(store, FindingRow, flt.conditions(scope, tz), before, after, size)


def iter_findings(store: Engine, flt: FindingFilter, scope: str | None, tz: dt.tzinfo,
                  chunk: int = 2000) -> Iterator[Row]:
    """Every matching finding, newest first, read a chunk at a time (exports)."""
    conds = flt.conditions(scope, tz)
    before: int | None = None
    while True:
        query = sa.select(FindingRow).where(*conds)
        if before is not None:
            query = query.where(FindingRow.id < before)
        with store.connect() as conn:
            rows = conn.execute(query.order_by(FindingRow.id.desc()).limit(chunk)).all()
        yield from rows
        if len(rows) < chunk:
            return
        before = rows[-1].id


def finding(store: Engine, finding_id: int, scope: str | None) -> Row | None:
    """One finding, or None when it does not exist or lies outside the reader's scope."""
    query = sa.select(FindingRow).where(FindingRow.id == finding_id)
    if scope is not None:
        query = query.where(FindingRow.unit_id == scope)
    with store.connect() as conn:
        return conn.execute(query).first()


def letters_of_finding(store: Engine, finding_id: int) -> list[Row]:
    with store.connect() as conn:
        return list(conn.execute(
            sa.select(LetterRow.id, LetterRow.number, LetterRow.tier, LetterRow.status)
            .join(LetterFindingRow, LetterFindingRow.letter_id == LetterRow.id)
            .where(LetterFindingRow.finding_id == finding_id).order_by(LetterRow.id)).all())


def distinct_values(store: Engine, column: Any, scope: str | None) -> list[str]:
    query = sa.select(column).distinct()
    if scope is not None:
        query = query.where(FindingRow.unit_id == scope)
    with store.connect() as conn:
        return sorted(v for v in conn.execute(query).scalars() if v)


# --- letters ----------------------------------------------------------------------


@dataclass(frozen=True)
class LetterFilter:
    unit: str | None = None
    status: str | None = None  # a status, or "open"
    tier: str | None = None
    since: dt.date | None = None  # issued on or after
    until: dt.date | None = None

    def conditions(self, scope: str | None, tz: dt.tzinfo) -> list[ColumnElement[bool]]:
        x = LetterRow
        out: list[ColumnElement[bool]] = []
        if scope is not None:
            out.append(x.unit_id == scope)
        if self.unit:
            out.append(x.unit_id == self.unit)
        if self.status == "open":
            out.append(x.status.in_(OPEN_STATUSES))
        elif self.status:
            out.append(x.status == self.status)
        if self.tier:
            out.append(x.tier == self.tier)
        if self.since:
            out.append(x.issued_at >= _day_start(self.since, tz))
        if self.until:
            out.append(x.issued_at < _day_start(self.until + dt.timedelta(days=1), tz))
        return out


def letters_page(store: Engine, flt: LetterFilter, scope: str | None, tz: dt.tzinfo, *,
                 before: int | None = None, after: int | None = None, size: int = 50) -> Page:
    return _page(store, LetterRow, flt.conditions(scope, tz), before, after, size)


def iter_letters(store: Engine, flt: LetterFilter, scope: str | None, tz: dt.tzinfo) -> Iterator[Row]:
    with store.connect() as conn:
        yield from conn.execute(sa.select(LetterRow).where(*flt.conditions(scope, tz))
                                .order_by(LetterRow.id.desc())).all()


def letter(store: Engine, letter_id: int, scope: str | None) -> Row | None:
    query = sa.select(LetterRow).where(LetterRow.id == letter_id)
    if scope is not None:
        query = query.where(LetterRow.unit_id == scope)
    with store.connect() as conn:
        return conn.execute(query).first()


@dataclass
class LetterDetail:
    letter: Row
    findings: list[Row]  # letter_findings joined with the finding's id and state
    audit: list[Row]
    deliveries: list[Row]
    cites: Row | None
    cited_by: list[Row]
    reports: list[Row] = field(default_factory=list)  # the stored rectification reports, without content


def letter_detail(store: Engine, letter_id: int, scope: str | None) -> LetterDetail | None:
    row = letter(store, letter_id, scope)
    if row is None:
        return None
    with store.connect() as conn:
        links = list(conn.execute(
            sa.select(LetterFindingRow, FindingRow.resolved_at.label("finding_resolved_at"))
            .join(FindingRow, FindingRow.id == LetterFindingRow.finding_id)
            .where(LetterFindingRow.letter_id == letter_id).order_by(LetterFindingRow.id)).all())
        audit = list(conn.execute(sa.select(AuditEntry).where(AuditEntry.letter_id == letter_id)
                                  .order_by(AuditEntry.id)).all())
        deliveries = list(conn.execute(sa.select(DeliveryRow).where(DeliveryRow.letter_id == letter_id)
                                       .order_by(DeliveryRow.id)).all())
        cites = (conn.execute(sa.select(LetterRow).where(LetterRow.id == row.cites_letter_id)).first()
                 if row.cites_letter_id else None)
        cited_by = list(conn.execute(sa.select(LetterRow.id, LetterRow.number)
                                     .where(LetterRow.cites_letter_id == letter_id)).all())
        r = LetterReport
        reports = list(conn.execute(sa.select(r.id, r.filename, r.size, r.sha256, r.by, r.at)
                                    .where(r.letter_id == letter_id).order_by(r.id)).all())
    return LetterDetail(row, links, audit, deliveries, cites, cited_by, reports)


def letter_report(store: Engine, letter_id: int, report_id: int, scope: str | None) -> Row | None:
    """One stored rectification report of a letter the reader may see, with its content."""
    if letter(store, letter_id, scope) is None:
        return None
    with store.connect() as conn:
        return conn.execute(sa.select(LetterReport).where(LetterReport.id == report_id,
                                                          LetterReport.letter_id == letter_id)).first()


# --- the overview -----------------------------------------------------------------


@dataclass
class Overview:
    open_by_tier: dict[str, int]
    open_by_unit: list[tuple[str, dict[str, int]]]
    overdue_trend: list[tuple[dt.date, int]]
    letters_by_status: dict[str, int]
    letters_due: list[Row]
    letters_overdue: list[Row]
    sources: list[Row]
    open_total: int = 0
    unit_count: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def overview(store: Engine, scope: str | None, tz: dt.tzinfo, now: dt.datetime,
             top_units: int = 12, weeks: int = 8) -> Overview:
    f = FindingRow
    open_conds: list[ColumnElement[bool]] = [f.resolved_at.is_(None), f.check_id != DATA_QUALITY]
    if scope is not None:
        open_conds.append(f.unit_id == scope)
    lconds: list[ColumnElement[bool]] = [LetterRow.audience == "unit"]
    if scope is not None:
        lconds.append(LetterRow.unit_id == scope)
    today = now.astimezone(tz).date()
    with store.connect() as conn:
        by_tier = dict(conn.execute(sa.select(f.tier, sa.func.count()).where(*open_conds)
                                    .group_by(f.tier)).all())
        per_unit: dict[str, dict[str, int]] = {}
        for unit, tier, n in conn.execute(sa.select(f.unit_id, f.tier, sa.func.count())
                                          .where(*open_conds).group_by(f.unit_id, f.tier)):
            per_unit.setdefault(unit, {})[tier] = n
        ranked = sorted(per_unit.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        trend = overdue_trend(conn, scope, tz, today, weeks)
        by_status = dict(conn.execute(sa.select(LetterRow.status, sa.func.count())
                                      .where(*lconds, LetterRow.tier != "reminder")
                                      .group_by(LetterRow.status)).all())
        due = list(conn.execute(sa.select(LetterRow).where(
            *lconds, LetterRow.status.in_(OPEN_STATUSES), LetterRow.status != "overdue",
            LetterRow.tier != "reminder").order_by(LetterRow.rectify_by, LetterRow.id).limit(10)).all())
        overdue = list(conn.execute(sa.select(LetterRow).where(
            *lconds, LetterRow.tier != "reminder",
            sa.or_(LetterRow.status == "overdue",
                   sa.and_(LetterRow.status.in_(OPEN_STATUSES), LetterRow.rectify_by < today)))
            .order_by(LetterRow.rectify_by, LetterRow.id).limit(20)).all())
        last = (sa.select(ScanRun.source, sa.func.max(ScanRun.id).label("id"))
                .group_by(ScanRun.source).subquery())
        sources = list(conn.execute(sa.select(ScanRun).join(last, last.c.id == ScanRun.id)
                                    .order_by(ScanRun.source)).all()) if scope is None else []
    return Overview(by_tier, ranked[:top_units], trend, by_status, due, overdue, sources,
                    open_total=sum(by_tier.values()), unit_count=len(per_unit))


def open_by_unit(store: Engine, scope: str | None) -> dict[str, dict[str, int]]:
    """unit → tier → open findings (data quality aside)."""
    f = FindingRow
    conds: list[ColumnElement[bool]] = [f.resolved_at.is_(None), f.check_id != DATA_QUALITY]
    if scope is not None:
        conds.append(f.unit_id == scope)
    out: dict[str, dict[str, int]] = {}
    with store.connect() as conn:
        for unit, tier, n in conn.execute(sa.select(f.unit_id, f.tier, sa.func.count()).where(*conds)
                                          .group_by(f.unit_id, f.tier)):
            out.setdefault(unit, {})[tier] = n
    return out


def overdue_trend(conn: sa.Connection, scope: str | None, tz: dt.tzinfo, today: dt.date,
                  weeks: int) -> list[tuple[dt.date, int]]:
    """Overdue-case findings open at the end of each of the last ``weeks`` weeks, in one scan."""
    f = FindingRow
    conds: list[ColumnElement[bool]] = [f.check_id.in_(CASE_OVERDUE_CHECKS)]
    if scope is not None:
        conds.append(f.unit_id == scope)
    days = [today - dt.timedelta(weeks=k) for k in range(weeks - 1, -1, -1)]
    sums = []
    for day in days:
        t = _day_start(day + dt.timedelta(days=1), tz)
        open_then = sa.and_(f.first_seen < t, sa.or_(f.resolved_at.is_(None), f.resolved_at >= t))
        sums.append(sa.func.sum(sa.case((open_then, 1), else_=0)))
    row = conn.execute(sa.select(*sums).where(*conds)).one()
    return [(day, int(n or 0)) for day, n in zip(days, row, strict=True)]


def unit_ids(store: Engine) -> list[str]:
    """Every unit the store knows of (from findings and letters; a data-quality row's unit may be bogus)."""
    with store.connect() as conn:
        ids: set[str] = set(conn.execute(sa.select(FindingRow.unit_id).distinct()
                                         .where(FindingRow.check_id != DATA_QUALITY)).scalars())
        ids |= {u for u in conn.execute(sa.select(LetterRow.unit_id).distinct()).scalars() if u}
    ids.discard("")
    return sorted(ids)
