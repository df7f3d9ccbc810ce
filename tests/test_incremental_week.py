"""A week of daily incremental cycles with exact time-index boundaries (issue 11, item 4).

Mon 21 Sep to Mon 28 Sep 2026, across the Mid-Autumn holiday: the State
Council's 2026 notice makes Fri 25 to Sun 27 Sep holidays and Sun 20 Sep a
make-up working day (time-rules.md, "Working days"). Store A is scanned fully
once, at Mon 00:10, then only incrementally (after every midnight and at
10:00 and 16:00, with edits on some days); store B by a full scan at each of A's
times. After every cycle A's open findings equal B's (``test_incremental``'s
comparison), and after every midnight A re-reads far fewer cases than the
open ones, all of which the conservative rule (every open case at every
midnight) re-read: two thirds over the week here (the rest are late, due soon
or counted in hours).

Worked by hand (warn_remaining 2 working days, the default):

- W1, accepted Thu 17 Sep, 5 working days: Fri 18, Sun 20 (make-up), Mon 21,
  Tue 22, Wed 23: due at the end of Wed 23; 3 left on Mon 21, 2 on Tue 22 (due
  soon from Tue 00:00), overdue from Thu 24 00:00.
- W2, accepted Tue 22 Sep 09:00, 3 working days: Wed 23, Thu 24, then the
  holiday, Mon 28: due at the end of Mon 28. Left on Tue 22: Tue 22, Wed 23,
  Thu 24, Mon 28 = 4, so its window cannot open before 4 - 2 = 2 midnights
  later: Thu 24 00:00, when [Thu 24, Mon 28] holds 2 working days (due soon).
  It is due soon through the holiday, and not overdue on Mon 28.
- W3, accepted Fri 18 Sep, 20 working days: Sun 20 (make-up), Mon 21 to Thu
  24, Mon 28 to Wed 30 (8), the National Day holiday 1-7 Oct, Thu 8, Fri 9,
  Sat 10 (make-up), 12-16 and 19-22 Oct: due at the end of Thu 22 Oct. On Mon
  21 Sep 19 are left, so its window cannot open before 19 - 2 = 17 midnights
  later (Thu 8 Oct): no midnight of the week re-reads it unless it is edited.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sunlight.monitor.demo.schema import metadata as canonical
from sunlight.monitor.store.incremental import index_entries
from tests.conftest import SourceDB, at
from tests.test_incremental import Day, children, differences, findings, no_false_resolution, source_rows, ts

MON = dt.date(2026, 9, 21)


def week_rows(rng: random.Random, n: int = 120) -> dict[str, list[dict[str, Any]]]:
    """Cases of every shape as they stand on Sun 20 Sep at night, and the three worked ones."""
    cases, steps, pauses, extensions = [], [], [], []
    night = ts(MON, 0)
    for i in range(n):
        unit = rng.choice(["workday"] * 7 + ["day", "hour"])
        if unit == "hour":
            accepted = night - dt.timedelta(hours=rng.randint(1, 70))
            limit = rng.choice([24, 48, 72, 120])
        else:
            accepted = ts(MON - dt.timedelta(days=rng.randint(1, 20)), rng.randint(8, 17))
            limit = rng.randint(3, 40)
        done = accepted + dt.timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 6))
        completed = done if rng.random() < 0.4 and done < night else None
        cid = f"C{i:04d}"
        cases.append({"case_id": cid, "unit_id": rng.choice(["MZJ", "SJJ"]),
                      "accepted_at": accepted, "promised_limit": limit,
                      "statutory_limit": limit + 5 if rng.random() < 0.3 else None,
                      "limit_unit": unit, "completed_at": completed,
                      "outcome": None if completed is None else "approved",
                      "updated_at": completed or accepted})
        children(rng, cid, unit, accepted, night, steps, extensions, pauses)
    cases += [
        {"case_id": "W1", "unit_id": "MZJ", "accepted_at": ts(dt.date(2026, 9, 17), 10),
         "promised_limit": 5, "limit_unit": "workday", "updated_at": ts(dt.date(2026, 9, 17), 10)},
        {"case_id": "W3", "unit_id": "SJJ", "accepted_at": ts(dt.date(2026, 9, 18), 9),
         "promised_limit": 20, "limit_unit": "workday", "updated_at": ts(dt.date(2026, 9, 18), 9)},
    ]
    return source_rows(cases, pauses, extensions, steps)


def open_at(day: Day, when: dt.datetime) -> int:
    """Cases open at ``when``: what the conservative rule re-read at every midnight."""
    t = canonical.tables["cases"]
    wall = when.replace(tzinfo=None)
    with day.db.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t).where(
            t.c.accepted_at <= wall,
            sa.or_(t.c.completed_at.is_(None), t.c.completed_at > wall))).scalar_one())


def subjects(day: Day, check: str) -> set[str]:
    return {f["subject"] for f in findings(day.a).values() if f["check_id"] == check}


def test_a_week_of_daily_cycles_with_exact_boundaries(source_db: SourceDB, tmp_path: Path) -> None:
    day = Day(source_db, tmp_path, rows=week_rows(random.Random(5)))
    try:
        run_week(day)
    finally:
        day.close()


def run_week(day: Day) -> None:
    day.start(at(2026, 9, 21, 0, 10))
    index = index_entries(day.a, "main", "cases")
    # W3's first boundary: 19 working days left on Mon 21, 17 midnights ahead (naive UTC stored)
    assert index["W3"].replace(tzinfo=dt.UTC) == at(2026, 10, 8).astimezone(dt.UTC)
    assert index["W1"].replace(tzinfo=dt.UTC) == at(2026, 9, 22).astimezone(dt.UTC)
    rng = random.Random(3)
    reads: list[tuple[dt.datetime, int, int]] = []

    def cycle(when: dt.datetime) -> int:
        n = day.incremental_a(when)
        day.reference(when)
        no_false_resolution(day)
        assert differences(day) == {}, (when, differences(day))
        # the time index: the records a full scan at the same as-of indexes (a completed case
        # dropped, a new one added), each due again no later than the full scan has it (the
        # bound is a lower one: a full scan on a holiday finds it later, time-rules.md), and
        # due before this cycle only where the full scan has it so too (an hour case whose
        # window may open at any time): an entry this cycle was due at was moved on
        mine, full = index_entries(day.a, "main", "cases"), index_entries(day.b, "main", "cases")
        assert mine.keys() == full.keys(), when
        wrong = {k: (v, full[k]) for k, v in mine.items()
                 if v > full[k] or (v < when and full[k] >= when)}
        assert not wrong, (when, wrong)
        return n

    for offset in range(8):  # Mon 21 .. Mon 28
        d = MON + dt.timedelta(days=offset)
        if offset:
            midnight = at(d.year, d.month, d.day, 0, 5)
            reads.append((midnight, cycle(midnight), open_at(day, midnight)))
        if d.weekday() in (1, 3, 5):  # Tue, Thu, and Sat (a holiday): some edits at 09:30
            for cid in rng.sample([c for c in day.open_cases() if c[0] != "W"], 3):
                day.update("cases", {"case_id": cid}, completed_at=ts(d, 9, 30),
                           outcome="approved", updated_at=ts(d, 9, 30))
            if d == dt.date(2026, 9, 22):
                day.insert("cases", {"case_id": "W2", "unit_id": "MZJ", "item_code": "X-1",
                                     "item_name": "事项", "accepted_at": ts(d, 9),
                                     "promised_limit": 3, "limit_unit": "workday",
                                     "updated_at": ts(d, 9, 30)})
        cycle(at(d.year, d.month, d.day, 10))
        cycle(at(d.year, d.month, d.day, 16))
        if d == dt.date(2026, 9, 22):
            assert "W1" in subjects(day, "case_due_soon")
            assert "W2" not in subjects(day, "case_due_soon")  # 4 working days left
        if d == dt.date(2026, 9, 24):
            assert "W1" in subjects(day, "case_overdue")
            assert "W2" in subjects(day, "case_due_soon")  # Thu 24 and Mon 28 left
        if d == dt.date(2026, 9, 28):
            assert "W2" in subjects(day, "case_due_soon") and "W2" not in subjects(day, "case_overdue")
    # after every midnight at most three quarters of the open cases were re-read, two thirds
    # over the week (the conservative
    # rule: all of them); those left are the late, the due soon and the hour cases
    for when, read, open_ in reads:
        assert read <= open_ * 3 / 4, (when, read, open_)
    assert sum(r for _, r, _ in reads) <= sum(o for _, _, o in reads) * 2 / 3, reads
    # W3 has no finding and still waits for Thu 8 Oct
    assert index_entries(day.a, "main", "cases")["W3"].replace(tzinfo=dt.UTC) == \
        at(2026, 10, 8).astimezone(dt.UTC)
