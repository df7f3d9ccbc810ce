"""The working-day calendar as arrays indexed by day, for polars ``gather``.

Days are numbered as polars numbers dates: days since 1970-01-01 (the local
date of a wall-clock time in microseconds is ``us // 86_400_000_000``). Index
``i`` of every array is the day ``base + i``; the span is the calendar's
(``SPAN_FIRST..SPAN_LAST``), and a day outside it is a data-quality problem
that the record path reports, so the columnar path hands such rows over.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from sunlight.monitor.calendar import SPAN_FIRST, SPAN_LAST, WorkCalendar

EPOCH = dt.date(1970, 1, 1)
DAY_US = 86_400_000_000


def epoch_day(d: dt.date) -> int:
    return (d - EPOCH).days


@dataclass(frozen=True)
class CalendarArrays:
    """Prefix sums over the calendar: the same O(1) questions as :class:`WorkCalendar`.

    - ``workdays_between(a, b)`` (working days d with a < d <= b) is
      ``cum[b] - cum[a]``;
    - ``add_workdays(a, n)`` (n >= 1) is ``work_days[cum[a] + n - 1]``;
    - ``next_workday(d)`` is ``next_work[d]``.
    """

    base: int  # epoch day of index 0
    size: int
    cum: pl.Series  # working days <= day i
    work_days: pl.Series  # epoch day of the k-th working day (k from 0)
    next_work: pl.Series  # epoch day of the first working day >= day i (-1 past the last)

    @classmethod
    def build(cls, cal: WorkCalendar) -> CalendarArrays:
        base = epoch_day(SPAN_FIRST)
        cum: list[int] = []
        work_days: list[int] = []
        total = 0
        for i, (_d, workday, _reason, _covered) in enumerate(cal.days(SPAN_FIRST, SPAN_LAST)):
            if workday:
                total += 1
                work_days.append(base + i)
            cum.append(total)
        size = len(cum)
        next_work = [-1] * size
        nxt = -1
        for i in range(size - 1, -1, -1):
            if cum[i] != (cum[i - 1] if i else 0):  # day i is a working day
                nxt = base + i
            next_work[i] = nxt
        return cls(base, size, pl.Series("cum", cum, dtype=pl.Int64),
                   pl.Series("work_days", work_days, dtype=pl.Int64),
                   pl.Series("next_work", next_work, dtype=pl.Int64))

    def in_span(self, day: pl.Expr) -> pl.Expr:
        return (day >= self.base) & (day < self.base + self.size)

    def _at(self, arr: pl.Series, day: pl.Expr) -> pl.Expr:
        # clipped into the span: callers mark rows outside it with in_span()
        return pl.lit(arr).gather((day - self.base).clip(0, self.size - 1))

    def cum_at(self, day: pl.Expr) -> pl.Expr:
        """Working days <= ``day``."""
        return self._at(self.cum, day)

    def workdays_between(self, a: pl.Expr, b: pl.Expr) -> pl.Expr:
        """Working days d with a < d <= b; 0 when b <= a."""
        return pl.when(b > a).then(self.cum_at(b) - self.cum_at(a)).otherwise(0)

    def add_workdays(self, a: pl.Expr, n: pl.Expr) -> pl.Expr:
        """The n-th working day after a; a itself when n <= 0; null beyond the span."""
        k = self.cum_at(a) + n - 1
        last = len(self.work_days) - 1
        got = pl.lit(self.work_days).gather(k.clip(0, last))
        return pl.when(n <= 0).then(a).when(k <= last).then(got).otherwise(None)

    def next_workday(self, d: pl.Expr) -> pl.Expr:
        """d if it is a working day, else the first working day after it; null beyond the span."""
        got = self._at(self.next_work, d)
        return pl.when(self.in_span(d) & (got >= 0)).then(got).otherwise(None)
