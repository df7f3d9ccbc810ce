"""Publications (公开记录) and the reporting periods they cover.

A periodic disclosure names its period with a code (data-model.md): ``2026-09``
(month), ``2026-Q3`` (quarter), ``2026-H2`` (half year), ``2026`` (year).
:class:`Period` is that code with its first and last day, so the P checks can
say "2026-Q3 is due by day 15 of the first month of the next period" without
date arithmetic scattered over the checks.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sunlight.monitor.records.base import BadField, text, timestamp

PUBLICATION_FIELDS = ("publication_id", "unit_id", "subject", "period", "ref_id",
                      "published_at", "posted_until", "channel", "url")


class PeriodKind(StrEnum):
    month = "month"
    quarter = "quarter"
    half_year = "half_year"
    year = "year"


_MONTHS = {PeriodKind.month: 1, PeriodKind.quarter: 3, PeriodKind.half_year: 6, PeriodKind.year: 12}
_PATTERNS = (
    (re.compile(r"^(\d{4})-(\d{2})$"), PeriodKind.month),
    (re.compile(r"^(\d{4})-[Qq]([1-4])$"), PeriodKind.quarter),
    (re.compile(r"^(\d{4})-[Hh]([12])$"), PeriodKind.half_year),
    (re.compile(r"^(\d{4})$"), PeriodKind.year),
)
PERIOD_ZH = {PeriodKind.month: "月度", PeriodKind.quarter: "季度", PeriodKind.half_year: "半年度",
             PeriodKind.year: "年度"}


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """One reporting period. ``index`` counts from 1 within the year (month 1–12, Q1–4, H1–2, 1)."""

    year: int
    index: int
    kind: PeriodKind

    @classmethod
    def parse(cls, code: str) -> Period:
        """``2026-09`` / ``2026-Q3`` / ``2026-H2`` / ``2026`` → Period; ValueError otherwise."""
        s = code.strip()
        for pattern, kind in _PATTERNS:
            m = pattern.match(s)
            if m:
                year = int(m.group(1))
                index = int(m.group(2)) if kind is not PeriodKind.year else 1
                if kind is PeriodKind.month and not 1 <= index <= 12:
                    break
                return cls(year, index, kind)
        raise ValueError(f"期间代码{code!r}无法识别（应为2026-09、2026-Q3、2026-H2或2026）")

    @property
    def code(self) -> str:
        if self.kind is PeriodKind.month:
            return f"{self.year}-{self.index:02d}"
        if self.kind is PeriodKind.quarter:
            return f"{self.year}-Q{self.index}"
        if self.kind is PeriodKind.half_year:
            return f"{self.year}-H{self.index}"
        return f"{self.year}"

    @property
    def zh(self) -> str:
        if self.kind is PeriodKind.month:
            return f"{self.year}年{self.index}月"
        if self.kind is PeriodKind.quarter:
            return f"{self.year}年第{'一二三四'[self.index - 1]}季度"
        if self.kind is PeriodKind.half_year:
            return f"{self.year}年{'上下'[self.index - 1]}半年"
        return f"{self.year}年度"

    @property
    def first_month(self) -> int:
        return (self.index - 1) * _MONTHS[self.kind] + 1

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.first_month, 1)

    @property
    def last_day(self) -> dt.date:
        return self.next().first_day - dt.timedelta(days=1)

    def next(self) -> Period:
        per_year = 12 // _MONTHS[self.kind]
        if self.index < per_year:
            return Period(self.year, self.index + 1, self.kind)
        return Period(self.year + 1, 1, self.kind)


@dataclass(frozen=True, slots=True)
class PublicationRecord:
    """One published notice, as it stood at some time (see :meth:`as_of`)."""

    publication_id: str
    unit_id: str
    subject: str
    period: Period | None
    ref_id: str | None
    published_at: dt.datetime
    posted_until: dt.datetime | None
    channel: str | None
    url: str | None

    def as_of(self, at: dt.datetime) -> PublicationRecord | None:
        """Not yet published at ``at`` → None; taken down after ``at`` → still posted."""
        if self.published_at > at:
            return None
        if self.posted_until is not None and self.posted_until > at:
            return replace(self, posted_until=None)
        return self


def parse_publication(row: dict[str, Any], tz: dt.tzinfo) -> PublicationRecord:
    published = timestamp(row, "published_at", tz)
    until = timestamp(row, "posted_until", tz, required=False)
    assert published is not None
    if until is not None and until < published:
        raise BadField("posted_until", f"撤下时间{until:%Y-%m-%d %H:%M}早于"
                                       f"公开时间{published:%Y-%m-%d %H:%M}")
    code = text(row, "period", required=False)
    try:
        period = Period.parse(code) if code is not None else None
    except ValueError as exc:
        raise BadField("period", str(exc)) from None
    return PublicationRecord(
        publication_id=text(row, "publication_id"),
        unit_id=text(row, "unit_id"),
        subject=text(row, "subject"),
        period=period,
        ref_id=text(row, "ref_id", required=False),
        published_at=published,
        posted_until=until,
        channel=text(row, "channel", required=False),
        url=text(row, "url", required=False),
    )


__all__ = ["PERIOD_ZH", "PUBLICATION_FIELDS", "Period", "PeriodKind", "PublicationRecord",
           "parse_publication"]
