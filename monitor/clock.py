"""Deadline arithmetic (时限计算), exactly as ``shared/design/time-rules.md`` says.

- ``workday``: "自受理之日起 N 个工作日内". The acceptance day is not counted
  (Civil Code art. 201); day 1 is the first working day after it; the deadline
  is the end (24:00) of working day N.
- ``day``: the end of calendar day N after the acceptance date, moved to the end
  of the next working day when that day is not one (Civil Code art. 203).
- ``hour``: clock hours from the acceptance instant; no calendar.
- Pauses (补正, 特别程序) are not counted: a pause from day S to day E removes
  the days d with S < d <= E (for hours, the paused time). An open pause stops
  the clock: there is no deadline until it ends.

Two speeds: :func:`compute_deadline` runs once per case per cycle and is O(number
of pauses) thanks to the calendar's prefix sums; :func:`trace` lists every
skipped day with its reason and runs only for findings (evidence).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from sunlight.monitor.calendar import WorkCalendar

ONE_DAY = dt.timedelta(days=1)
ONE_SECOND = dt.timedelta(seconds=1)


class LimitUnit(StrEnum):
    workday = "workday"
    day = "day"
    hour = "hour"


#: LimitUnit.hour is an Enum class attribute look-up (~130 ns on CPython 3.11);
#: the memo below asks it for every deadline of a scan.
_HOUR = LimitUnit.hour

UNIT_ZH = {LimitUnit.workday: "个工作日", LimitUnit.day: "日", LimitUnit.hour: "小时"}


@dataclass(frozen=True, slots=True)
class Pause:
    """A stretch of time the clock does not run. ``end`` None: still paused."""

    start: dt.datetime
    end: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a limit runs out.

    ``at`` is the first instant that is late (00:00 after the last day for day
    units), None while an open pause stops the clock. ``due_date`` is the last
    day that counts (None for hours). ``uncovered`` is set when a day between
    the start and the deadline is outside every holiday notice.
    """

    at: dt.datetime | None
    due_date: dt.date | None
    unit: LimitUnit
    uncovered: bool = False
    rolled_from: dt.date | None = None  # ``day`` unit: the non-working day it was moved from

    @property
    def display(self) -> dt.datetime | None:
        """The last second that is on time: what people read as "due"."""
        return None if self.at is None else self.at - ONE_SECOND


def _ceil_units(limit: Decimal | int) -> int:
    # Day-counted limits are whole days; a fractional one ("0.5 个工作日") is
    # rounded up so that the product never accuses anyone of lateness early.
    return max(0, math.ceil(Decimal(limit)))


def _day_pauses(pauses: Sequence[Pause], tz: dt.tzinfo) -> list[tuple[dt.date, dt.date | None]]:
    """Pauses as merged (S, E] day intervals; E None for an open pause."""
    spans = sorted(
        (
            (
                p.start.astimezone(tz).date(),
                None if p.end is None else p.end.astimezone(tz).date(),
            )
            for p in pauses
        ),
        # by start; of two starting on one day the open one last (it covers the other), so an
        # open pause never meets a closed one in a comparison of None with a date
        key=lambda span: (span[0], span[1] is None, span[1] or span[0]),
    )
    merged: list[tuple[dt.date, dt.date | None]] = []
    for s, e in spans:
        if e is not None and e <= s:
            continue  # a pause that ends on the day it starts removes no day
        if merged:
            ps, pe = merged[-1]
            if pe is None:
                break
            if s <= pe:
                merged[-1] = (ps, None if e is None else max(pe, e))
                continue
        merged.append((s, e))
    return merged


def compute_deadline(
    start: dt.datetime,
    limit: Decimal | int,
    unit: LimitUnit,
    cal: WorkCalendar,
    pauses: Sequence[Pause] = (),
) -> Deadline:
    """The deadline of ``limit`` units counted from ``start`` (an aware datetime)."""
    tz = start.tzinfo
    assert tz is not None, "start must be timezone-aware"
    if unit is LimitUnit.hour:
        return _hour_deadline(start, Decimal(limit), pauses)
    n = _ceil_units(limit)
    accepted = start.date()
    cursor = accepted
    remaining = n
    for s, e in _day_pauses(pauses, tz):
        if e is not None and e <= cursor:
            continue
        s = max(s, cursor)
        avail = cal.workdays_between(cursor, s) if unit is LimitUnit.workday else (s - cursor).days
        if avail >= remaining:
            break
        remaining -= avail
        if e is None:
            return Deadline(None, None, unit, cal.uncovered_between(accepted, s))
        cursor = e
    if unit is LimitUnit.workday:
        due = cal.add_workdays(cursor, remaining) if remaining else accepted
        nominal = None
    else:
        nominal = cursor + dt.timedelta(days=remaining)
        due = cal.next_workday(nominal)
    at = dt.datetime.combine(due + ONE_DAY, dt.time(), tzinfo=tz)
    rolled = nominal if nominal is not None and nominal != due else None
    return Deadline(at, due, unit, cal.uncovered_between(accepted, due), rolled)


class DeadlineMemo:
    """:func:`compute_deadline` for the many records of one scan, with one calendar.

    Without pauses, a day-counted deadline depends only on the start *date*
    (and zone), the limit and the unit: the time of day does not count. A
    million cases share a few thousand such keys, so those deadlines are
    computed once each (a Deadline is immutable, so sharing it is safe).
    Hour limits and paused cases are computed every time.
    """

    def __init__(self, cal: WorkCalendar) -> None:
        self.cal = cal
        self._memo: dict[tuple[dt.date, dt.tzinfo | None, Decimal | int, LimitUnit], Deadline] = {}

    def __call__(self, start: dt.datetime, limit: Decimal | int, unit: LimitUnit,
                 pauses: Sequence[Pause] = ()) -> Deadline:
        if pauses or unit is _HOUR:
            return compute_deadline(start, limit, unit, self.cal, pauses)
        key = (start.date(), start.tzinfo, limit, unit)
        deadline = self._memo.get(key)
        if deadline is None:
            deadline = self._memo[key] = compute_deadline(start, limit, unit, self.cal)
        return deadline


def _hour_deadline(start: dt.datetime, hours: Decimal, pauses: Sequence[Pause]) -> Deadline:
    remaining = dt.timedelta(hours=float(hours))
    t = start
    for p in sorted(pauses, key=lambda p: p.start):
        if p.end is not None and p.end <= t:
            continue
        ps = max(p.start, t)
        if ps - t >= remaining:
            break
        remaining -= ps - t
        if p.end is None:
            return Deadline(None, None, LimitUnit.hour)
        t = p.end
    return Deadline(t + remaining, None, LimitUnit.hour)


def counted_between(
    a: dt.date,
    b: dt.date,
    unit: LimitUnit,
    cal: WorkCalendar,
    pauses: Sequence[Pause],
    tz: dt.tzinfo,
) -> int:
    """Days d with a < d <= b that count for ``unit``: working (or calendar) days not paused."""
    if b <= a:
        return 0

    def count(x: dt.date, y: dt.date) -> int:
        if y <= x:
            return 0
        return cal.workdays_between(x, y) if unit is LimitUnit.workday else (y - x).days

    total = count(a, b)
    for s, e in _day_pauses(pauses, tz):
        lo, hi = max(s, a), min(e or b, b)
        total -= count(lo, hi)
    return total


def time_left(
    deadline: Deadline,
    at: dt.datetime,
    cal: WorkCalendar,
    pauses: Sequence[Pause] = (),
) -> Decimal:
    """Units left before the deadline as of ``at``; negative when it has passed.

    Day units count the day ``at`` falls on when it still counts, so a case due
    today has 1 left, and 0 never means "late": a case late by a weekend only
    is at 0 working days *past* (see :func:`overdue_by`).
    """
    if deadline.at is None:
        raise ValueError("the clock is stopped: no time left to count")
    if deadline.unit is LimitUnit.hour:
        return _hours(deadline.at - at)
    if at >= deadline.at:
        return -Decimal(overdue_by(deadline, at, cal, pauses))
    tz = deadline.at.tzinfo
    assert tz is not None and deadline.due_date is not None
    day = at.astimezone(tz).date()
    return Decimal(counted_between(day - ONE_DAY, deadline.due_date, deadline.unit, cal, pauses, tz))


def overdue_by(
    deadline: Deadline,
    at: dt.datetime,
    cal: WorkCalendar,
    pauses: Sequence[Pause] = (),
) -> int | Decimal:
    """How far past the deadline ``at`` is: counted days in (due date, day of at]."""
    assert deadline.at is not None
    if deadline.unit is LimitUnit.hour:
        return _hours(at - deadline.at)
    tz = deadline.at.tzinfo
    assert tz is not None and deadline.due_date is not None
    day = at.astimezone(tz).date()
    return counted_between(deadline.due_date, day, deadline.unit, cal, pauses, tz)


def _hours(delta: dt.timedelta) -> Decimal:
    """Hours to one decimal, exact (no float noise in evidence or letters)."""
    return (Decimal(int(delta.total_seconds())) / 3600).quantize(Decimal("0.1"))


@dataclass(frozen=True, slots=True)
class SkippedDay:
    date: dt.date
    reason: str  # 周末, a holiday's name, 暂停计时(补正), 顺延至工作日, ...


def trace(
    start: dt.datetime,
    deadline: Deadline,
    cal: WorkCalendar,
    pauses: Sequence[Pause] = (),
    until: dt.date | None = None,
) -> list[SkippedDay]:
    """Every day between the start and the due date (or ``until``) that did not count, and why.

    Evidence for a finding: with this list a person can re-count the deadline on
    a wall calendar. Make-up working days are listed too (reason ends with
    调休上班), since people are surprised that a Saturday counts.
    """
    tz = start.tzinfo
    assert tz is not None
    if deadline.unit is LimitUnit.hour:
        return [
            SkippedDay(p.start.astimezone(tz).date(), "暂停计时") for p in pauses
        ]
    first = start.date() + ONE_DAY
    last = until or deadline.due_date or first
    paused = _day_pauses(pauses, tz)
    by_workday = deadline.unit is LimitUnit.workday
    rolled_from, due = deadline.rolled_from, deadline.due_date
    out: list[SkippedDay] = []
    # only the days that can be listed: the others are plain working days, never listed
    # (in_pause: a day d with S < d <= E of a pause, time-rules.md "Pauses")
    for d, workday, reason, covered, in_pause in cal.notable_days(first, last, paused):
        if in_pause:
            out.append(SkippedDay(d, "暂停计时"))
        elif by_workday and not workday:
            out.append(SkippedDay(d, reason or "非工作日"))
        elif rolled_from is not None and rolled_from <= d < (due or d):
            out.append(SkippedDay(d, f"{reason or '非工作日'}，期限顺延"))
        elif workday and reason:
            out.append(SkippedDay(d, reason))
        elif not covered:
            out.append(SkippedDay(d, reason or "日历未覆盖"))
    return out


class TraceMemo:
    """:func:`trace` for the findings of one scan, the traces of unpaused records memoised.

    Without pauses a trace depends only on the start date (and zone), the
    deadline and ``until``: late cases accepted on the same day for the same
    item and still open share one. A trace lists every weekend of its span
    (dozens of days), so the memo holds at most ``limit`` traces and starts
    afresh when full, which bounds its memory. Traces are returned as tuples
    because they are shared.
    """

    def __init__(self, cal: WorkCalendar, limit: int = 10_000) -> None:
        self.cal, self.limit = cal, limit
        self._memo: dict[tuple[dt.date, dt.tzinfo | None, Deadline, dt.date | None],
                         tuple[SkippedDay, ...]] = {}
        self._day_json: dict[SkippedDay, dict[str, str]] = {}

    def __call__(self, start: dt.datetime, deadline: Deadline, pauses: Sequence[Pause] = (),
                 until: dt.date | None = None) -> tuple[SkippedDay, ...]:
        if pauses:
            return tuple(trace(start, deadline, self.cal, pauses, until))
        key = (start.date(), start.tzinfo, deadline, until)
        skipped = self._memo.get(key)
        if skipped is None:
            if len(self._memo) >= self.limit:
                self._memo.clear()
            skipped = self._memo[key] = tuple(trace(start, deadline, self.cal, (), until))
        return skipped

    def days(self, start: dt.datetime, deadline: Deadline, pauses: Sequence[Pause] = (),
             until: dt.date | None = None) -> list[dict[str, str]]:
        """The trace in the evidence's JSON form (as :func:`skipped_days`), each day's dict shared.

        A scan's traces name the same few hundred days over and over: each
        ``{"date", "reason"}`` is made once and shared by every finding that
        lists the day (evidence is written as it is and never changed).
        """
        memo = self._day_json
        if len(memo) >= self.limit:
            memo.clear()
        out: list[dict[str, str]] = []
        for s in self(start, deadline, pauses, until):
            day = memo.get(s)
            if day is None:
                day = memo[s] = {"date": s.date.isoformat(), "reason": s.reason}
            out.append(day)
        return out


def skipped_days(skipped: Iterable[SkippedDay]) -> list[dict[str, str]]:
    """A trace as the evidence keeps it: one ``{"date", "reason"}`` per day that did not count."""
    return [{"date": s.date.isoformat(), "reason": s.reason} for s in skipped]
