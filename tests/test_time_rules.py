"""Every worked example of shared/design/time-rules.md, and the cases issue #2 names.

Expected dates are worked out by hand from the State Council notices
(国办发明电〔2025〕7号 for 2026), written down as literals, and never
computed by the code under test. Weekdays are noted to make the
hand-counting checkable: 1 Oct 2026 is a Thursday, 2 Nov 2026 a Monday,
1 Feb 2026 a Sunday, 1 Jan 2027 a Friday.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from sunlight.monitor.calendar import CalendarError, WorkCalendar, load_override
from sunlight.monitor.clock import LimitUnit, Pause, compute_deadline, overdue_by, time_left, trace
from tests.conftest import at

ROOT = Path(__file__).resolve().parents[1]
D = dt.date
WD = LimitUnit.workday


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar()


# --- working days (2026 notice) ------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "workday"),
    [
        (D(2026, 10, 1), False), (D(2026, 10, 7), False),  # 国庆 1–7 Oct
        (D(2026, 10, 10), True),  # Saturday worked
        (D(2026, 9, 25), False), (D(2026, 9, 27), False),  # 中秋 25–27 Sep
        (D(2026, 9, 20), True),  # Sunday worked
        (D(2026, 9, 19), False),  # an ordinary Saturday
        (D(2026, 2, 14), True), (D(2026, 2, 28), True),  # 春节 make-up Saturdays
        (D(2026, 2, 15), False), (D(2026, 2, 23), False),  # 春节 15–23 Feb
        (D(2026, 2, 24), True),
        (D(2026, 1, 4), True),  # 元旦 make-up Sunday
        (D(2026, 5, 9), True),  # 劳动节 make-up Saturday
    ],
)
def test_working_days_2026(cal: WorkCalendar, day: dt.date, workday: bool) -> None:
    assert cal.is_workday(day) is workday


def test_day_reasons_are_named(cal: WorkCalendar) -> None:
    assert cal.day_info(D(2026, 10, 3)).reason == "国庆节"
    assert cal.day_info(D(2026, 9, 26)).reason == "中秋节"
    assert cal.day_info(D(2026, 10, 10)).reason == "国庆节调休上班"
    assert cal.day_info(D(2026, 11, 7)).reason == "周末"
    assert cal.day_info(D(2026, 11, 9)).reason is None


# --- counting N working days ---------------------------------------------------------


def test_worked_example_five_working_days_over_the_october_holidays(cal: WorkCalendar) -> None:
    """Accepted Thu 24 Sep, 5 working days: 28, 29, 30 Sep, 8, 9 Oct → end of Fri 9 Oct."""
    d = compute_deadline(at(2026, 9, 24, 15, 30), 5, WD, cal)
    assert d.due_date == D(2026, 10, 9)
    assert d.display == at(2026, 10, 9, 23, 59, 59)
    assert d.at == at(2026, 10, 10, 0, 0)
    assert not d.uncovered
    # open on Sat 10 Oct at 09:00 → overdue by 1 working day (10 Oct is a make-up day)
    assert overdue_by(d, at(2026, 10, 10, 9), cal) == 1
    assert time_left(d, at(2026, 10, 10, 9), cal) == -1
    # Mon 12 Oct: 10 and 12 Oct have passed (Sun 11 does not count)
    assert overdue_by(d, at(2026, 10, 12, 9), cal) == 2
    skipped = [(s.date, s.reason) for s in trace(at(2026, 9, 24, 15, 30), d, cal)]
    assert skipped == [
        (D(2026, 9, 25), "中秋节"), (D(2026, 9, 26), "中秋节"), (D(2026, 9, 27), "中秋节"),
        (D(2026, 10, 1), "国庆节"), (D(2026, 10, 2), "国庆节"), (D(2026, 10, 3), "国庆节"),
        (D(2026, 10, 4), "国庆节"), (D(2026, 10, 5), "国庆节"), (D(2026, 10, 6), "国庆节"),
        (D(2026, 10, 7), "国庆节"),
    ]


def test_the_acceptance_day_does_not_count(cal: WorkCalendar) -> None:
    """Accepted Mon 2 Nov at 08:00, 1 working day → end of Tue 3 Nov, not Mon."""
    assert compute_deadline(at(2026, 11, 2, 8), 1, WD, cal).due_date == D(2026, 11, 3)


def test_on_time_until_midnight_of_the_last_day(cal: WorkCalendar) -> None:
    d = compute_deadline(at(2026, 9, 24, 10), 5, WD, cal)
    assert at(2026, 10, 9, 23, 59) < d.at
    assert at(2026, 10, 10, 0, 0) >= d.at


def test_remaining_counts_today(cal: WorkCalendar) -> None:
    d = compute_deadline(at(2026, 9, 24, 10), 5, WD, cal)
    assert time_left(d, at(2026, 10, 8, 10), cal) == 2  # Thu 8 and Fri 9 Oct
    assert time_left(d, at(2026, 10, 9, 10), cal) == 1  # due today
    assert time_left(d, at(2026, 9, 30, 10), cal) == 3  # Wed 30 Sep, Thu 8, Fri 9 Oct


def test_late_over_a_weekend_only_is_late_by_zero_working_days(cal: WorkCalendar) -> None:
    """Due end of Fri 13 Nov; on Sat 14 Nov it is past the deadline, 0 working days late."""
    d = compute_deadline(at(2026, 11, 6, 10), 5, WD, cal)  # Mon 9 … Fri 13
    assert d.due_date == D(2026, 11, 13)
    assert at(2026, 11, 14, 10) >= d.at
    assert overdue_by(d, at(2026, 11, 14, 10), cal) == 0


def test_spring_festival_2026(cal: WorkCalendar) -> None:
    """Accepted Thu 12 Feb, 5 working days: Fri 13, Sat 14 (make-up), Tue 24, Wed 25, Thu 26."""
    d = compute_deadline(at(2026, 2, 12, 9), 5, WD, cal)
    assert d.due_date == D(2026, 2, 26)
    reasons = {s.date: s.reason for s in trace(at(2026, 2, 12, 9), d, cal)}
    assert reasons[D(2026, 2, 14)] == "春节调休上班"
    assert all(reasons[D(2026, 2, x)] == "春节" for x in range(15, 24))
    # Accepted Wed 25 Feb, 3 working days: Thu 26, Fri 27, Sat 28 (make-up) → end of Sat 28 Feb
    assert compute_deadline(at(2026, 2, 25, 9), 3, WD, cal).due_date == D(2026, 2, 28)


# --- calendar days --------------------------------------------------------------------


def test_day_limit_ending_on_a_working_day(cal: WorkCalendar) -> None:
    """Accepted Mon 2 Nov, 4 days → end of Fri 6 Nov."""
    d = compute_deadline(at(2026, 11, 2, 10), 4, LimitUnit.day, cal)
    assert d.due_date == D(2026, 11, 6)
    assert d.rolled_from is None


def test_day_limit_ending_on_a_weekend_rolls_forward(cal: WorkCalendar) -> None:
    """Accepted Mon 2 Nov, 5 days → Sat 7 Nov, moved to the end of Mon 9 Nov (art. 203)."""
    d = compute_deadline(at(2026, 11, 2, 10), 5, LimitUnit.day, cal)
    assert d.due_date == D(2026, 11, 9)
    assert d.rolled_from == D(2026, 11, 7)


def test_day_limit_ending_on_a_holiday(cal: WorkCalendar) -> None:
    """Accepted Wed 23 Sep, 10 days → Sat 3 Oct (国庆); 4–7 Oct holiday → end of Thu 8 Oct."""
    d = compute_deadline(at(2026, 9, 23, 10), 10, LimitUnit.day, cal)
    assert d.due_date == D(2026, 10, 8)
    rolled = [(s.date, s.reason) for s in trace(at(2026, 9, 23, 10), d, cal)
              if "顺延" in s.reason]
    assert rolled == [(D(2026, 10, x), "国庆节，期限顺延") for x in range(3, 8)]


def test_day_limit_counts_weekends_inside(cal: WorkCalendar) -> None:
    """Calendar days count holidays inside the period: 24 Sep + 6 days = Wed 30 Sep."""
    d = compute_deadline(at(2026, 9, 24, 10), 6, LimitUnit.day, cal)
    assert d.due_date == D(2026, 9, 30)


# --- hours ------------------------------------------------------------------------------


def test_hours_are_clock_hours(cal: WorkCalendar) -> None:
    d = compute_deadline(at(2026, 10, 1, 10), 24, LimitUnit.hour, cal)  # a holiday: no matter
    assert d.at == at(2026, 10, 2, 10)
    assert time_left(d, at(2026, 10, 2, 7), cal) == Decimal("3.0")
    assert overdue_by(d, at(2026, 10, 2, 11, 30), cal) == Decimal("1.5")


def test_hours_minus_paused_hours(cal: WorkCalendar) -> None:
    pause = Pause(at(2026, 11, 2, 12), at(2026, 11, 2, 15))
    d = compute_deadline(at(2026, 11, 2, 10), 24, LimitUnit.hour, cal, [pause])
    assert d.at == at(2026, 11, 3, 13)


# --- pauses -----------------------------------------------------------------------------


def test_worked_example_pause(cal: WorkCalendar) -> None:
    """Accepted Mon 2 Nov, 5 wd; paused Wed 4 → Fri 6 Nov removes Thu 5, Fri 6 → end of Wed 11 Nov."""
    pause = Pause(at(2026, 11, 4, 10), at(2026, 11, 6, 16))
    assert compute_deadline(at(2026, 11, 2, 9), 5, WD, cal).due_date == D(2026, 11, 9)
    d = compute_deadline(at(2026, 11, 2, 9), 5, WD, cal, [pause])
    assert d.due_date == D(2026, 11, 11)
    reasons = {s.date: s.reason for s in trace(at(2026, 11, 2, 9), d, cal, [pause])}
    assert reasons == {D(2026, 11, 5): "暂停计时", D(2026, 11, 6): "暂停计时",
                       D(2026, 11, 7): "周末", D(2026, 11, 8): "周末"}


def test_open_pause_stops_the_clock(cal: WorkCalendar) -> None:
    d = compute_deadline(at(2026, 11, 2, 9), 5, WD, cal, [Pause(at(2026, 11, 4, 10), None)])
    assert d.at is None
    # the same pause, ended Tue 10 Nov: used Tue 3, Wed 4; then Wed 11, Thu 12, Fri 13
    ended = Pause(at(2026, 11, 4, 10), at(2026, 11, 10, 11))
    assert compute_deadline(at(2026, 11, 2, 9), 5, WD, cal, [ended]).due_date == D(2026, 11, 13)


def test_a_pause_after_the_deadline_changes_nothing(cal: WorkCalendar) -> None:
    late_pause = Pause(at(2026, 11, 20, 10), at(2026, 11, 24, 10))
    d = compute_deadline(at(2026, 11, 2, 9), 5, WD, cal, [late_pause])
    assert d.due_date == D(2026, 11, 9)


def test_overlapping_pauses_count_once(cal: WorkCalendar) -> None:
    """4→6 Nov and 5→9 Nov together pause Thu 5 … Mon 9: then Tue 10, Wed 11, Thu 12."""
    pauses = [Pause(at(2026, 11, 4, 10), at(2026, 11, 6, 10)),
              Pause(at(2026, 11, 5, 10), at(2026, 11, 9, 10))]
    d = compute_deadline(at(2026, 11, 2, 9), 5, WD, cal, pauses)
    assert d.due_date == D(2026, 11, 12)


def test_two_pauses_from_one_day_one_still_open(cal: WorkCalendar) -> None:
    """Paused Wed 4 Nov 10:00 → Thu 5 Nov and again from Wed 4 Nov 15:00, still open.

    Together they pause every day after Wed 4 Nov: the clock stops (used Tue 3,
    Wed 4), in whichever order the source lists the pauses. Both ended, the
    longer one (to Tue 10 Nov) wins: Wed 11, Thu 12, Fri 13 → due Fri 13 Nov.
    (Two pauses of one day used to stop the whole case's evaluation.)
    """
    short = Pause(at(2026, 11, 4, 10), at(2026, 11, 5, 10))
    open_ = Pause(at(2026, 11, 4, 15), None)
    for pauses in ([short, open_], [open_, short]):
        assert compute_deadline(at(2026, 11, 2, 9), 5, WD, cal, pauses).at is None
    ended = Pause(at(2026, 11, 4, 15), at(2026, 11, 10, 11))
    for pauses in ([short, ended], [ended, short]):
        assert compute_deadline(at(2026, 11, 2, 9), 5, WD, cal, pauses).due_date == D(2026, 11, 13)


def test_day_limit_with_pause(cal: WorkCalendar) -> None:
    """Calendar days: accepted Mon 2 Nov, 4 days, paused 3→5 Nov removes 4 and 5 Nov.

    Days used: 3 Nov, then 6, 7, 8 Nov → Sun 8 Nov, rolled to the end of Mon 9 Nov.
    """
    pause = Pause(at(2026, 11, 3, 10), at(2026, 11, 5, 10))
    d = compute_deadline(at(2026, 11, 2, 10), 4, LimitUnit.day, cal, [pause])
    assert d.due_date == D(2026, 11, 9)


# --- uncovered years and override files ----------------------------------------------


def test_deadline_into_2027_without_override_is_flagged(cal: WorkCalendar) -> None:
    """Accepted Wed 23 Dec 2026, 10 wd: 24, 25, 28, 29, 30, 31 Dec; 2027 by Mon–Fri:
    Fri 1, Mon 4, Tue 5, Wed 6 Jan → end of Wed 6 Jan 2027, calendar_uncovered."""
    d = compute_deadline(at(2026, 12, 23, 10), 10, WD, cal)
    assert d.due_date == D(2027, 1, 6)
    assert d.uncovered is True
    assert cal.day_info(D(2027, 1, 1)).covered is False


def test_deadline_into_2027_with_override_file() -> None:
    """With the fixture year (1–3 Jan off): Mon 4, Tue 5, Wed 6, Thu 7 → end of Thu 7 Jan."""
    cal = WorkCalendar.from_files([ROOT / "tests/data/fixture-2027.yaml"])
    d = compute_deadline(at(2026, 12, 23, 10), 10, WD, cal)
    assert d.due_date == D(2027, 1, 7)
    assert d.uncovered is False
    assert cal.is_workday(D(2027, 1, 9))  # the fixture's make-up Saturday
    assert cal.day_info(D(2027, 1, 1)).reason == "元旦"


def test_a_deadline_inside_a_covered_year_is_not_flagged(cal: WorkCalendar) -> None:
    assert compute_deadline(at(2026, 12, 1, 10), 5, WD, cal).uncovered is False


def test_override_2026_file_agrees_with_the_package_every_day() -> None:
    """config/calendar/2026.yaml (transcribed by hand) and chinese-calendar agree on 2026."""
    import chinese_calendar

    ours = WorkCalendar([load_override(ROOT / "config/calendar/2026.yaml")])
    day = D(2026, 1, 1)
    while day.year == 2026:
        assert ours.is_workday(day) == chinese_calendar.is_workday(day), day
        day += dt.timedelta(days=1)


def test_covered_until(cal: WorkCalendar) -> None:
    assert cal.covered_until(D(2026, 11, 22)) == D(2026, 12, 31)
    with_2027 = WorkCalendar.from_files([ROOT / "tests/data/fixture-2027.yaml"])
    assert with_2027.covered_until(D(2026, 11, 22)) == D(2027, 12, 31)


def test_bad_override_file_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "2027.yaml"
    bad.write_text("year: 2027\nworkdays:\n  - {name: 春节, date: 2027-02-10}\n", encoding="utf-8")
    with pytest.raises(CalendarError, match=r"2027\.yaml.*not a Saturday or Sunday"):
        load_override(bad)
    bad.write_text("year: 2027\nholidays:\n  - {name: x, from: 2026-12-31, to: 2027-01-01}\n",
                   encoding="utf-8")
    with pytest.raises(CalendarError, match="not in year 2027"):
        load_override(bad)
