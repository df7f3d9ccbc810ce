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
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from sunlight.monitor.calendar import SPAN_FIRST, SPAN_LAST, WorkCalendar

ONE_DAY = dt.timedelta(days=1)
ONE_SECOND = dt.timedelta(seconds=1)


class LimitUnit(StrEnum):
    workday = "workday"
    day = "day"
    hour = "hour"


#: LimitUnit.hour is an Enum class attribute look-up (~130 ns on CPython 3.11);
#: the memo below asks it for every deadline of a scan.
_HOUR = LimitUnit.hour

#: why a trace lists a day a pause stopped the clock on
PAUSED = "暂停计时"

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
        return [SkippedDay(d, PAUSED) for d in _pause_dates(pauses, tz)]
    return _day_trace(start.date(), deadline, cal, _day_pauses(pauses, tz), until)


def _pause_dates(pauses: Sequence[Pause], tz: dt.tzinfo) -> tuple[dt.date, ...]:
    """An hour limit's trace: the day each pause starts on (all that it lists of them)."""
    return tuple(p.start.astimezone(tz).date() for p in pauses)


def _listed_reason(by_workday: bool, workday: bool, reason: str | None, covered: bool) -> str | None:
    """Why a trace lists a day outside every pause and roll-over (None: it does not).

    A working-day limit lists every day that does not count; a calendar-day
    limit only the named working days (调休上班) and the days no notice covers.
    """
    if by_workday and not workday:
        return reason or "非工作日"
    if workday and reason:
        return reason
    if not covered:
        return reason or "日历未覆盖"
    return None


def _day_trace(
    accepted: dt.date,
    deadline: Deadline,
    cal: WorkCalendar,
    paused: Sequence[tuple[dt.date, dt.date | None]],
    until: dt.date | None,
) -> list[SkippedDay]:
    """:func:`trace` of a day-counted limit: it sees the start only as its date, the pauses
    only as their merged day spans (``_day_pauses``), which is what :class:`TraceMemo` keys by."""
    first = accepted + ONE_DAY
    last = until or deadline.due_date or first
    by_workday = deadline.unit is LimitUnit.workday
    rolled_from, due = deadline.rolled_from, deadline.due_date
    out: list[SkippedDay] = []
    # only the days that can be listed: the others are plain working days, never listed
    # (in_pause: a day d with S < d <= E of a pause, time-rules.md "Pauses"). A roll-over
    # comes only with a calendar-day limit, whose non-working days are otherwise not listed.
    for d, workday, reason, covered, in_pause in cal.notable_days(first, last, paused):
        if in_pause:
            out.append(SkippedDay(d, PAUSED))
        elif rolled_from is not None and rolled_from <= d < (due or d):
            out.append(SkippedDay(d, f"{reason or '非工作日'}，期限顺延"))
        elif (why := _listed_reason(by_workday, workday, reason, covered)) is not None:
            out.append(SkippedDay(d, why))
    return out


class TraceMemo:
    """:func:`trace` for the findings of one scan, in the evidence's JSON form, memoised.

    A trace depends only on what :func:`_day_trace` sees: the start date (and
    zone), the deadline, ``until`` and the pauses as merged day spans (for an
    hour limit, only the days its pauses start on). Late cases accepted on the
    same day for the same item and still open share one. A trace lists every
    weekend of its span (dozens of days), so the memo holds at most ``limit``
    traces and starts afresh when full, which bounds its memory.

    A trace not in the memo (most paused cases have one of their own) is cut
    from each year's list of the days a trace lists (:func:`_listed_reason`,
    made once per year and limit kind), with the paused days put in their
    place: :func:`_day_trace` day by day is what it must equal
    (``tests/test_trace_memo.py`` holds the two equal).
    """

    def __init__(self, cal: WorkCalendar, limit: int = 10_000) -> None:
        self.cal, self.limit = cal, limit
        self._memo: dict[tuple[object, ...], list[dict[str, str]]] = {}
        #: (working-day limit?, year) → the ordinals of the days listed and their JSON
        self._years: dict[tuple[bool, int], tuple[list[int], list[dict[str, str]]]] = {}
        self._paused: dict[dt.date, dict[str, str]] = {}
        self._rolled: dict[SkippedDay, dict[str, str]] = {}

    def days(self, start: dt.datetime, deadline: Deadline, pauses: Sequence[Pause] = (),
             until: dt.date | None = None) -> list[dict[str, str]]:
        """The trace as :func:`skipped_days` writes it; the list and each day's dict shared.

        A scan's traces name the same few hundred days over and over: each
        ``{"date", "reason"}`` is made once and shared by every finding that
        lists the day, and each trace's list by every finding with that trace
        (evidence is written as it is and never changed).
        """
        tz = start.tzinfo
        assert tz is not None
        if deadline.unit is _HOUR:
            dates = _pause_dates(pauses, tz) if pauses else ()
            return [self._paused_day(d) for d in dates]
        spans = tuple(_day_pauses(pauses, tz)) if pauses else ()
        key = (start.date(), tz, deadline, until, spans)
        out = self._memo.get(key)
        if out is None:
            if len(self._memo) >= self.limit:
                self._memo.clear()
            out = self._memo[key] = self._trace(start.date(), deadline, spans, until)
        return out

    def _trace(self, accepted: dt.date, deadline: Deadline,
               spans: tuple[tuple[dt.date, dt.date | None], ...], until: dt.date | None
               ) -> list[dict[str, str]]:
        first = accepted + ONE_DAY
        last = until or deadline.due_date or first
        if deadline.rolled_from is not None or not SPAN_FIRST <= first <= last <= SPAN_LAST:
            # a roll-over (calendar-day limits only), an empty or uncountable span: day by day
            return [self._day_json(s) for s in _day_trace(accepted, deadline, self.cal, spans, until)]
        by_workday = deadline.unit is LimitUnit.workday
        lo, hi = first.toordinal(), last.toordinal()
        out: list[dict[str, str]] = []
        cursor = lo
        for s, e in spans:  # sorted, disjoint: the days d with S < d <= E (E None: to the end)
            p_lo = max(s.toordinal() + 1, lo)
            p_hi = hi if e is None else min(e.toordinal(), hi)
            if p_lo > p_hi:
                continue
            out += self._listed(by_workday, cursor, p_lo - 1)
            out += [self._paused_day(dt.date.fromordinal(o)) for o in range(p_lo, p_hi + 1)]
            cursor = p_hi + 1
        out += self._listed(by_workday, cursor, hi)
        return out

    def _listed(self, by_workday: bool, lo: int, hi: int) -> list[dict[str, str]]:
        """The days ``lo..hi`` (ordinals) lists outside any pause, in date order."""
        out: list[dict[str, str]] = []
        if hi < lo:
            return out
        for year in range(dt.date.fromordinal(lo).year, dt.date.fromordinal(hi).year + 1):
            ordinals, days = self._year(by_workday, year)
            out += days[bisect_left(ordinals, lo):bisect_right(ordinals, hi)]
        return out

    def _year(self, by_workday: bool, year: int) -> tuple[list[int], list[dict[str, str]]]:
        listed = self._years.get((by_workday, year))
        if listed is None:
            ordinals: list[int] = []
            days: list[dict[str, str]] = []
            first = max(dt.date(year, 1, 1), SPAN_FIRST)
            for d, workday, reason, covered, _ in self.cal.notable_days(first, dt.date(year, 12, 31)):
                why = _listed_reason(by_workday, workday, reason, covered)
                if why is not None:
                    ordinals.append(d.toordinal())
                    days.append({"date": d.isoformat(), "reason": why})
            listed = self._years[(by_workday, year)] = (ordinals, days)
        return listed

    def _paused_day(self, d: dt.date) -> dict[str, str]:
        day = self._paused.get(d)
        if day is None:
            if len(self._paused) >= self.limit:
                self._paused.clear()
            day = self._paused[d] = {"date": d.isoformat(), "reason": PAUSED}
        return day

    def _day_json(self, s: SkippedDay) -> dict[str, str]:
        """A day of a trace made day by day, its dict shared as the years' are (memory: the
        memo's traces share their days instead of keeping a dict per day per trace)."""
        day = self._rolled.get(s)
        if day is None:
            if len(self._rolled) >= self.limit:
                self._rolled.clear()
            day = self._rolled[s] = {"date": s.date.isoformat(), "reason": s.reason}
        return day


def skipped_days(skipped: Iterable[SkippedDay]) -> list[dict[str, str]]:
    """A trace as the evidence keeps it: one ``{"date", "reason"}`` per day that did not count."""
    return [{"date": s.date.isoformat(), "reason": s.reason} for s in skipped]
