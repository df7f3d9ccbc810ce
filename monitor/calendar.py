"""The working-day calendar (工作日历): which days the offices work.

time-rules.md is the law here. A working day is Monday to Friday, minus the
statutory holidays of the State Council's yearly notice, plus the weekend days
that notice names as make-up working days (调休上班).

Sources, in order of precedence:

1. override files in ``config/calendar/`` (one year each, transcribed by the
   office from that year's notice);
2. the ``chinese-calendar`` package (notices for 2004 up to its last year);
3. nothing: Monday to Friday, and every such day is *uncovered*. A deadline
   that touches an uncovered day is flagged ``calendar_uncovered`` so that the
   office adds the year before it matters; it is never silently trusted.

Deadline arithmetic (monitor.clock) needs "the n-th working day after d" and
"how many working days in (a, b]" a million times per cycle, so the calendar is
materialised once into prefix sums over a fixed span of days: both questions are
then O(1) array look-ups.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import chinese_calendar
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sunlight.monitor.config_error import first_problem

#: The span of days the calendar materialises. Source timestamps outside it are
#: data-quality problems, not dates anyone has a deadline on.
SPAN_FIRST = dt.date(2000, 1, 1)
SPAN_LAST = dt.date(2060, 12, 31)

#: chinese-calendar names its holidays in English; the office reads Chinese.
HOLIDAY_NAMES_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}

_ONE_DAY = dt.timedelta(days=1)
WEEKEND = "周末"
UNCOVERED = "日历未覆盖(按周一至周五推定)"


class OutOfSpan(ValueError):
    """A date the calendar cannot count: before SPAN_FIRST or after SPAN_LAST.

    Raised for a record whose limit runs past 2060 (a limit of 9,000 working
    days, 1e12 hours): the engine reports such a record as data quality
    instead of counting it as a failing check.
    """


class CalendarError(ValueError):
    """A calendar override file that cannot be used."""


class _HolidayRange(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str
    first: dt.date = Field(alias="from")
    last: dt.date = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> _HolidayRange:
        if self.last < self.first:
            raise ValueError(f"'to' ({self.last}) is before 'from' ({self.first})")
        return self


class _MakeupDay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    date: dt.date


class YearOverride(BaseModel):
    """One year of a State Council holiday notice, as the office transcribes it."""

    model_config = ConfigDict(extra="forbid")
    year: int = Field(ge=SPAN_FIRST.year, le=SPAN_LAST.year)
    notice: str = ""
    holidays: list[_HolidayRange] = []
    workdays: list[_MakeupDay] = []

    @model_validator(mode="after")
    def _in_year(self) -> YearOverride:
        for h in self.holidays:
            for d in (h.first, h.last):
                if d.year != self.year:
                    raise ValueError(f"holiday {h.name!r} date {d} is not in year {self.year}")
        for w in self.workdays:
            if w.date.year != self.year:
                raise ValueError(f"make-up day {w.name!r} date {w.date} is not in {self.year}")
            if w.date.weekday() < 5:
                raise ValueError(f"make-up day {w.date} ({w.name}) is not a Saturday or Sunday")
        return self


def load_override(path: Path) -> YearOverride:
    """Read one override file; errors name the file and the key."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CalendarError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise CalendarError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return YearOverride.model_validate(data)
    except ValidationError as exc:
        loc, problem = first_problem(exc)
        raise CalendarError(f"{path}: {loc or '(top level)'}: {problem}") from exc


def load_overrides(paths: Iterable[Path]) -> list[YearOverride]:
    """Read override files (one year each); the same year twice is an error."""
    seen: dict[int, Path] = {}
    out = []
    for p in map(Path, paths):
        o = load_override(p)
        if o.year in seen:
            raise CalendarError(f"{p}: year {o.year} is also defined in {seen[o.year]}")
        seen[o.year] = p
        out.append(o)
    return out


@dataclass(frozen=True)
class DayInfo:
    """What the calendar says about one day, and why."""

    date: dt.date
    workday: bool
    reason: str | None  # why it is not a working day, or which holiday a make-up day serves
    covered: bool


def _zh(holiday: object) -> str:
    name = getattr(holiday, "value", str(holiday))
    return HOLIDAY_NAMES_ZH.get(name, name)


def _package_years() -> tuple[int, int]:
    keys = list(chinese_calendar.holidays) + list(chinese_calendar.workdays)
    return min(keys).year, max(keys).year


@dataclass
class WorkCalendar:
    """Working days over ``SPAN_FIRST..SPAN_LAST`` with O(1) arithmetic."""

    overrides: Sequence[YearOverride] = ()
    _base: int = field(init=False, repr=False)
    _work: bytearray = field(init=False, repr=False)
    _covered: bytearray = field(init=False, repr=False)
    _reason: dict[int, str] = field(init=False, repr=False)
    _cum_work: list[int] = field(init=False, repr=False)
    _cum_uncovered: list[int] = field(init=False, repr=False)
    _work_ordinals: list[int] = field(init=False, repr=False)
    _notable: list[int] = field(init=False, repr=False)
    covered_years: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        first_pkg, last_pkg = _package_years()
        by_year = {o.year: o for o in self.overrides}
        self.covered_years = frozenset(range(first_pkg, last_pkg + 1)) | frozenset(by_year)
        self._base = SPAN_FIRST.toordinal()
        n = SPAN_LAST.toordinal() - self._base + 1
        self._work = bytearray(n)
        self._covered = bytearray(n)
        self._reason = {}
        for i in range(n):
            self._classify(i, dt.date.fromordinal(self._base + i), by_year, first_pkg, last_pkg)
        self._cum_work = [0] * (n + 1)
        self._cum_uncovered = [0] * (n + 1)
        for i in range(n):
            self._cum_work[i + 1] = self._cum_work[i] + self._work[i]
            self._cum_uncovered[i + 1] = self._cum_uncovered[i] + (not self._covered[i])
        self._work_ordinals = [self._base + i for i in range(n) if self._work[i]]
        # the days a trace may list without a pause: not working, named, or not covered
        self._notable = [i for i in range(n)
                         if not self._work[i] or i in self._reason or not self._covered[i]]

    def _classify(
        self, i: int, d: dt.date, by_year: dict[int, YearOverride], first: int, last: int
    ) -> None:
        weekend = d.weekday() >= 5
        if d.year in by_year:
            self._covered[i] = 1
            ov = by_year[d.year]
            hol = next((h.name for h in ov.holidays if h.first <= d <= h.last), None)
            mk = next((w.name for w in ov.workdays if w.date == d), None)
            if hol:
                self._reason[i] = hol
            elif mk:
                self._work[i] = 1
                self._reason[i] = f"{mk}调休上班"
            elif weekend:
                self._reason[i] = WEEKEND
            else:
                self._work[i] = 1
        elif first <= d.year <= last:
            # the package's own tables (what get_holiday_detail reads), without
            # its per-call validation: this runs for every day of the span
            self._covered[i] = 1
            if d in chinese_calendar.holidays:
                self._reason[i] = _zh(chinese_calendar.holidays[d])
            elif d in chinese_calendar.workdays:
                self._work[i] = 1
                if weekend:
                    self._reason[i] = f"{_zh(chinese_calendar.workdays[d])}调休上班"
            elif weekend:
                self._reason[i] = WEEKEND
            else:
                self._work[i] = 1
        else:
            self._work[i] = 0 if weekend else 1
            self._reason[i] = WEEKEND if weekend else UNCOVERED

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> WorkCalendar:
        return cls(load_overrides(paths))

    # --- look-ups ------------------------------------------------------------

    def _index(self, d: dt.date) -> int:
        i = d.toordinal() - self._base
        if not 0 <= i < len(self._work):
            raise OutOfSpan(f"date {d} is outside the calendar span {SPAN_FIRST}..{SPAN_LAST}")
        return i

    def is_workday(self, d: dt.date) -> bool:
        return bool(self._work[self._index(d)])

    def day_info(self, d: dt.date) -> DayInfo:
        i = self._index(d)
        return DayInfo(d, bool(self._work[i]), self._reason.get(i), bool(self._covered[i]))

    def days(self, first: dt.date, last: dt.date) -> Iterator[tuple[dt.date, bool, str | None, bool]]:
        """``(date, workday, reason, covered)`` for each day first..last: :meth:`day_info` in bulk.

        The evidence trace walks every day of every finding's span (hundreds
        of thousands of findings in a big scan), so this reads the arrays
        directly instead of building a DayInfo per day.
        """
        if last < first:
            return
        lo, hi = self._index(first), self._index(last)
        work, covered, reasons = self._work, self._covered, self._reason
        d = first
        for i in range(lo, hi + 1):
            yield d, bool(work[i]), reasons.get(i), bool(covered[i])
            d += _ONE_DAY

    def notable_days(self, first: dt.date, last: dt.date,
                     spans: Sequence[tuple[dt.date, dt.date | None]] = ()
                     ) -> Iterator[tuple[dt.date, bool, str | None, bool, bool]]:
        """``(date, workday, reason, covered, in_span)`` in date order for only the days of
        first..last that are not plain working days (not working, named such as 调休上班,
        or not covered by a notice), and every day d of the ``spans`` with S < d <= E
        (E None: to ``last``), for which ``in_span`` is true.

        Every other day is a covered, unnamed working day outside the spans, which
        :func:`sunlight.monitor.clock.trace` never lists: so it walks the few days
        that matter (a weekend or holiday every few days) instead of all of them.
        """
        if last < first:
            return
        lo, hi = self._index(first), self._index(last)
        notable = self._notable
        picked = notable[bisect_left(notable, lo):bisect_right(notable, hi)]
        extra: set[int] = set()
        if spans:
            extra = {i for s, e in spans
                     for i in range(max(lo, s.toordinal() - self._base + 1),
                                    min(hi, hi if e is None else e.toordinal() - self._base) + 1)}
            if extra:
                picked = sorted(extra.union(picked))
        work, covered, reasons, base = self._work, self._covered, self._reason, self._base
        fromordinal = dt.date.fromordinal
        for i in picked:
            yield fromordinal(base + i), bool(work[i]), reasons.get(i), bool(covered[i]), i in extra

    def workdays_between(self, a: dt.date, b: dt.date) -> int:
        """Working days d with a < d <= b (0 when b <= a)."""
        if b <= a:
            return 0
        return self._cum_work[self._index(b) + 1] - self._cum_work[self._index(a) + 1]

    def add_workdays(self, a: dt.date, n: int) -> dt.date:
        """The n-th working day after a (n >= 1); a itself when n == 0."""
        if n <= 0:
            return a
        k = self._cum_work[self._index(a) + 1] + n - 1
        if k >= len(self._work_ordinals):
            raise OutOfSpan(f"{n} working days after {a} is beyond {SPAN_LAST}")
        return dt.date.fromordinal(self._work_ordinals[k])

    def next_workday(self, d: dt.date) -> dt.date:
        """d itself if it is a working day, else the first working day after it."""
        k = bisect_right(self._work_ordinals, d.toordinal() - 1)
        if k >= len(self._work_ordinals):
            raise OutOfSpan(f"no working day on or after {d} before {SPAN_LAST}")
        return dt.date.fromordinal(self._work_ordinals[k])

    def uncovered_between(self, a: dt.date, b: dt.date) -> bool:
        """True if any day d with a < d <= b is outside every notice."""
        if b <= a:
            return False
        return self._cum_uncovered[self._index(b) + 1] - self._cum_uncovered[self._index(a) + 1] > 0

    def covered_until(self, today: dt.date) -> dt.date:
        """The last day of the run of covered days starting at ``today``."""
        year = today.year
        while year + 1 in self.covered_years:
            year += 1
        if year not in self.covered_years:
            return today - dt.timedelta(days=1)
        return dt.date(year, 12, 31)
