"""Reporting periods: a month (2026-11), a quarter (2026-Q4) or a year (2026), and the one before."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

QUARTER_ZH = "一二三四"


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    kind: str  # month | quarter | year
    start: dt.date  # first day
    end: dt.date  # the day after the last

    @property
    def key(self) -> str:
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return str(self.start.year)

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.start.year}年{self.start.month}月"
        if self.kind == "quarter":
            return f"{self.start.year}年第{QUARTER_ZH[(self.start.month - 1) // 3]}季度"
        return f"{self.start.year}年"

    def previous(self) -> Period:
        return containing(self.kind, self.start - dt.timedelta(days=1))


def _add_months(d: dt.date, n: int) -> dt.date:
    y, m = divmod(d.month - 1 + n, 12)
    return dt.date(d.year + y, m + 1, 1)


def containing(kind: str, day: dt.date) -> Period:
    if kind == "month":
        start = day.replace(day=1)
        return Period(kind, start, _add_months(start, 1))
    if kind == "quarter":
        start = dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        return Period(kind, start, _add_months(start, 3))
    if kind == "year":
        return Period(kind, dt.date(day.year, 1, 1), dt.date(day.year + 1, 1, 1))
    raise PeriodError(f"unknown period kind {kind!r}")


def parse_period(value: str) -> Period:
    """``2026-11`` → November 2026, ``2026-Q4`` → the fourth quarter, ``2026`` → the year."""
    value = value.strip()
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})", value):
        year, month = int(m[1]), int(m[2])
        if 1 <= month <= 12:
            return containing("month", dt.date(year, month, 1))
    if m := re.fullmatch(r"(\d{4})-?[Qq]([1-4])", value):
        return containing("quarter", dt.date(int(m[1]), (int(m[2]) - 1) * 3 + 1, 1))
    if re.fullmatch(r"\d{4}", value):
        return containing("year", dt.date(int(value), 1, 1))
    raise PeriodError(f"{value!r} is not a month (2026-11), a quarter (2026-Q4) or a year (2026)")
