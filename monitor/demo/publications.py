"""Sample publications (公开记录) for the demo.

- village affairs, quarterly (003:1085, due day 15 of the first month of the
  next quarter) and village finance, monthly (003:1259), for the villages;
- department fund use, half-yearly (002:264–272);
- case results for completed cases (003:483), kept up for the posting period
  (000:1168).

Most are on time; a few are late, missing or taken down early, so that every
P check has something to say in the demo.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import Any

from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.records.publications import Period

FIELDS = ("publication_id", "unit_id", "subject", "period", "ref_id", "published_at",
          "posted_until", "channel", "url")


def _row(pid: str, unit_id: str, subject: str, published: dt.datetime, *, period: str | None = None,
         ref: str | None = None, until: dt.datetime | None = None,
         channel: str = "公开栏") -> dict[str, Any]:
    return {"publication_id": pid, "unit_id": unit_id, "subject": subject, "period": period,
            "ref_id": ref, "published_at": published, "posted_until": until, "channel": channel,
            "url": None}


def periodic(units: Iterable[str], subject: str, first: str, last: str, due_day: int,
             skip: AbstractSet[tuple[str, str]] = frozenset(),
             late: AbstractSet[tuple[str, str]] = frozenset()) -> list[dict[str, Any]]:
    """One publication per unit and period, on day ``due_day - 5`` (or 8 days late, or none)."""
    out = []
    for unit_id in units:
        p, end = Period.parse(first), Period.parse(last)
        while p <= end:
            nxt = p.next()
            day = due_day + 8 if (unit_id, p.code) in late else max(1, due_day - 5)
            published = dt.datetime(nxt.year, nxt.first_month, day, 10)
            if (unit_id, p.code) not in skip:
                out.append(_row(f"GK-{subject}-{unit_id}-{p.code}", unit_id, subject, published,
                                period=p.code))
            p = nxt
    return out


def case_results(completed: Iterable[tuple[str, str, dt.datetime, str | None]], cal: WorkCalendar,
                 seed: int = 483) -> list[dict[str, Any]]:
    """Result notices for completed cases: (case_id, unit_id, completed_at, outcome)."""
    rng = random.Random(seed)
    out = []
    for case_id, unit_id, done, outcome in completed:
        if outcome in ("withdrawn", "transferred"):
            continue
        r = rng.random()
        if r < 0.06:
            continue  # never published
        wait = rng.randint(6, 10) if r < 0.14 else rng.randint(1, 4)
        day = cal.add_workdays(done.date(), wait)
        published = dt.datetime.combine(day, dt.time(rng.randint(9, 16)))
        keep = 5 if rng.random() < 0.05 else rng.randint(7, 9)
        until = dt.datetime.combine(cal.add_workdays(day, keep), dt.time(17))
        out.append(_row(f"GS-{case_id}", unit_id, "case_result", published, ref=case_id, until=until,
                        channel="政务服务网"))
    return out


BAD_PUBLICATIONS = [
    _row("GK-BAD-1", "CGDC", "village_affairs", dt.datetime(2026, 10, 9, 10), period="2026年三季度"),
]

__all__ = ["BAD_PUBLICATIONS", "FIELDS", "case_results", "periodic"]
