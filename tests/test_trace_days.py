"""The evidence trace walks only the days it can list (``WorkCalendar.notable_days``).

Reference: the day-by-day walk ``clock.trace`` did before (every day of the
span, each through the same chain of reasons). Random starts, limits, units,
pauses (open, overlapping, ending the day they start) and ``until`` dates over
2025–2027, holidays, make-up working days and a year no notice covers (2027)
included, with an office's calendar override for one year: both give the same
list, day for day. ``TraceMemo.days`` (what the checks' evidence uses: memoised,
and cut from a year's list of listed days with the paused days put in) gives
the same list in its JSON form, on memo hits and misses alike (a small memo,
so that it also starts afresh many times), hour limits included.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from sunlight.monitor.calendar import WorkCalendar, load_override
from sunlight.monitor.clock import (
    ONE_DAY,
    Deadline,
    LimitUnit,
    Pause,
    SkippedDay,
    TraceMemo,
    _day_pauses,
    compute_deadline,
    skipped_days,
    trace,
)

TZ = dt.timezone(dt.timedelta(hours=8))


def reference_trace(start: dt.datetime, deadline: Deadline, cal: WorkCalendar,
                    pauses: Sequence[Pause] = (), until: dt.date | None = None) -> list[SkippedDay]:
    """``clock.trace`` as it was: every day of the span, one by one."""
    tz = start.tzinfo
    assert tz is not None
    if deadline.unit is LimitUnit.hour:
        return [SkippedDay(p.start.astimezone(tz).date(), "暂停计时") for p in pauses]
    first = start.date() + ONE_DAY
    last = until or deadline.due_date or first
    paused = _day_pauses(pauses, tz)
    by_workday = deadline.unit is LimitUnit.workday
    rolled_from, due = deadline.rolled_from, deadline.due_date
    out: list[SkippedDay] = []
    for d, workday, reason, covered in cal.days(first, last):
        if paused and any(s < d and (e is None or d <= e) for s, e in paused):
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


def _moment(rng: random.Random, lo: dt.date, days: int) -> dt.datetime:
    d = lo + dt.timedelta(days=rng.randrange(days))
    return dt.datetime(d.year, d.month, d.day, rng.randrange(24), rng.choice((0, 30)), tzinfo=TZ)


OVERRIDE = """\
year: 2027
holidays:
  - {name: 元旦, first: 2027-01-01, last: 2027-01-03}
  - {name: 春节, first: 2027-02-06, last: 2027-02-13}
workdays:
  - {date: 2027-02-14, name: 春节}
"""


@pytest.mark.parametrize("override", [False, True])
def test_trace_walks_only_the_days_it_can_list(tmp_path: Path, override: bool) -> None:
    if override:
        path = tmp_path / "2027.yaml"
        path.write_text(OVERRIDE, encoding="utf-8")
        cal = WorkCalendar([load_override(path)])
    else:
        cal = WorkCalendar()
    rng = random.Random(20261116 + override)
    first = dt.date(2025, 11, 1)
    span = (dt.date(2027, 3, 1) - first).days
    listed = paused_listed = rolled = 0
    memo = TraceMemo(cal, limit=300)
    for _ in range(3000):
        start = _moment(rng, first, span)
        unit = rng.choice((LimitUnit.workday, LimitUnit.workday, LimitUnit.day, LimitUnit.hour))
        limit = rng.choice((0, 1, 3, 5, 10, 20, 45))
        pauses = []
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            ps = start + dt.timedelta(days=rng.randrange(-3, 40), hours=rng.randrange(24))
            end = None if rng.random() < 0.2 else ps + dt.timedelta(days=rng.randrange(0, 15),
                                                                     hours=rng.randrange(12))
            if all(ps.date() != q.start.date() for q in pauses):
                # (two pauses starting on one day, one of them open, make _day_pauses compare
                # None with a date: a separate problem, left out here)
                pauses.append(Pause(ps, end))
        deadline = compute_deadline(start, limit, unit, cal, pauses)
        for until in (None, (start + dt.timedelta(days=rng.randrange(0, 90))).date()):
            if deadline.due_date is None and until is None:
                continue
            got = trace(start, deadline, cal, pauses, until)
            want = reference_trace(start, deadline, cal, pauses, until)
            assert got == want, (start, limit, unit, pauses, until)
            for _ in range(2):  # a miss, then (unless the memo started afresh) a hit
                assert memo.days(start, deadline, pauses, until) == skipped_days(want), \
                    (start, limit, unit, pauses, until)
            rolled += deadline.rolled_from is not None
            listed += len(got)
            paused_listed += sum(s.reason == "暂停计时" for s in got)
    # the walks did list days, paused ones too, and some deadlines were rolled over
    assert listed > 10_000 and paused_listed > 1_000 and rolled > 50
