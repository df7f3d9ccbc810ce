"""When a case must be evaluated again though nobody edits it: its entry in the time index.

A case's findings depend on the as-of time in two ways (``checks/cases.py``,
``monitor/clock.py``, ``shared/design/time-rules.md``):

- events dated after the as-of time have not happened yet
  (:meth:`CaseRecord.as_of`): an acceptance, a completion, a pause's start or
  end, an extension's approval, a step's start or finish;
- while a case is open (and while a step is unfinished), its deadline is
  reached, its due-soon window opens and its overdue and remaining counts
  grow. For day-counted limits (working days, calendar days) all of these
  change only at midnight in the configured zone: a deadline is the first
  instant of a day, and ``overdue_by``/``time_left``/the evidence trace count
  the day the as-of time falls on. Hour limits change by the tenth of an hour.

So the next instant at which the evaluation can change is the earliest of
the events still to come and the boundary of the open parts. Without the
checks' context that is the next midnight for an open day-counted case or
step and "now" (the next cycle) for an hour-counted one; the engine passes
``checks.cases.open_boundary``, which keeps that tick only for an open part
whose finding fires (its figures move with the clock) and otherwise takes
its deadlines and the first instant its due-soon window can open (a lower
bound). Both are conservative, never late: re-evaluating early costs a
read, re-evaluating late would leave a wrong finding. A case with none of
these (completed, every step finished, nothing dated later) has no entry:
only an edit can change it.

Only the finding's ``evidence.as_of`` (and the store's ``last_seen``) record
the time of the evaluation itself; they stay those of the cycle that last
evaluated the case.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sunlight.monitor.clock import LimitUnit
from sunlight.monitor.records.cases import CaseRecord

__all__ = ["next_due", "next_midnight"]


def next_midnight(at: dt.datetime) -> dt.datetime:
    """The first instant of the day after ``at``'s day, in ``at``'s zone."""
    tz = at.tzinfo
    assert tz is not None
    return dt.datetime.combine(at.astimezone(tz).date() + dt.timedelta(days=1), dt.time(), tzinfo=tz)


#: the open parts' boundary of a case as of the as-of time (``checks.cases.open_boundary``)
OpenBoundary = Callable[[CaseRecord], "dt.datetime | None"]


def next_due(case: CaseRecord, at: dt.datetime, exact: OpenBoundary | None = None,
             seen: CaseRecord | None = None) -> dt.datetime | None:
    """The first instant after ``at`` at which ``case`` (as read, before ``as_of``) may evaluate
    differently; ``at`` itself when it must be evaluated at every cycle; None: only an edit can
    change it.

    ``exact`` (the engine passes ``checks.cases.open_boundary`` with its
    context) bounds the open parts by their deadlines and due-soon windows;
    without it every open day-counted part is due at the next midnight.
    ``seen``: ``case.as_of(at)`` when the caller has it (its deadlines are memoised).
    """
    events = [case.accepted_at, case.completed_at]
    for p in case.pauses:
        events += (p.started_at, p.ended_at)
    events += [e.approved_at for e in case.extensions]
    for s in case.steps:
        events += (s.started_at, s.finished_at)
    candidates = [t for t in events if t is not None and t > at]
    if seen is None:
        seen = case.as_of(at)
    if seen is not None:
        if exact is not None:
            bound = exact(seen)
            if bound is not None:
                candidates.append(bound)
        else:
            if seen.completed_at is None:
                candidates.append(at if seen.limit_unit is LimitUnit.hour else next_midnight(at))
            for s in seen.steps:
                if s.finished_at is None:
                    candidates.append(at if s.limit_unit is LimitUnit.hour else next_midnight(at))
    return min(candidates) if candidates else None


def enter(index: dict[str, dt.datetime | None], key: str, due: dt.datetime | None) -> None:
    """Put ``key``'s entry in ``index``; a key entered twice keeps the earliest instant.

    (A key read twice is a duplicate, which the full scan reports: evaluating
    it early is safe, late is not.)
    """
    if key in index:
        old = index[key]
        due = old if due is None else (due if old is None else min(old, due))
    index[key] = due
