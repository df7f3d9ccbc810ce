"""Family P (disclosure): scenarios from the seed texts, near misses, as-of, data quality.

Dates are worked out by hand from the 2026 State Council notice (国庆 1–7 Oct,
Sat 10 Oct worked; 中秋 25–27 Sep).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from sunlight.checks.base import Finding
from sunlight.checks.registry import validate_checks_config
from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.configure import ConfigError, Settings, load_settings
from sunlight.monitor.engine import Engine
from sunlight.monitor.records.publications import Period, PeriodKind
from tests.conftest import SourceDB, at

UNITS = [
    {"unit_id": "V1", "name": "东村村委会", "kind": "village"},
    {"unit_id": "V2", "name": "西村村委会", "kind": "village"},
    {"unit_id": "D1", "name": "县民政局", "kind": "department"},
]

QUARTERLY = """\
checks:
  publication_missing:
    obligations:
      - subject: village_affairs
        name: 村务公开
        units: {kind: village}
        period: quarter
        due: {day_of_next_period: 15}
        since: 2026-Q3
"""


def pub(pid: str, unit: str, subject: str, period: str | None, published: dt.datetime,
        until: dt.datetime | None = None, ref: str | None = None) -> dict:
    return {"publication_id": pid, "unit_id": unit, "subject": subject, "period": period,
            "ref_id": ref, "published_at": published, "posted_until": until}


@lru_cache(maxsize=1)
def calendar() -> WorkCalendar:
    """One calendar for all the family tests (building it takes seconds)."""
    return WorkCalendar()


def settings(path: Path) -> Settings:
    """``load_settings`` without re-building the calendar it validates overrides with (2 s each)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["base_dir"] = path.parent
    out = Settings.model_validate(raw)
    validate_checks_config(out.checks)
    return out


def load_once(db: SourceDB, table: str, rows: list[dict]) -> None:
    """Load a table the first time a test's helper asks; later scans reuse it."""
    done = db.__dict__.setdefault("_loaded", set())
    if table not in done:
        db.load(table, rows)
        done.add(table)


def scan(db: SourceDB, write_config, when: dt.datetime, checks: list[str] | None,
         extra: str = "") -> list[Finding]:
    """One engine scan of ``db`` with the given checks (None: all); sorted findings."""
    engine = Engine(settings(write_config(db.url, extra)), calendar=calendar(), only=checks)
    found: list[Finding] = []
    try:
        [outcome] = engine.scan(when, found.append)
    finally:
        engine.close()
    assert outcome.ok, outcome.error
    assert not outcome.check_errors, outcome.check_errors
    return sorted(found, key=lambda f: (f.check, f.subject))


# --- periods ----------------------------------------------------------------------------


def test_period_codes_round_trip_and_bounds() -> None:
    q3 = Period.parse("2026-Q3")
    assert (q3.first_day, q3.last_day, q3.next().code) == (dt.date(2026, 7, 1), dt.date(2026, 9, 30),
                                                           "2026-Q4")
    assert Period.parse("2026-Q4").next().code == "2027-Q1"
    assert Period.parse("2026-H2").last_day == dt.date(2026, 12, 31)
    assert Period.parse("2026-02").last_day == dt.date(2026, 2, 28)
    assert Period.parse("2026").kind is PeriodKind.year
    for bad in ("2026-13", "2026-Q5", "26-Q1", "2026/09", "Q3"):
        with pytest.raises(ValueError):
            Period.parse(bad)


# --- publication_missing / publication_late ------------------------------------------------


def test_quarterly_village_disclosure_missing_on_the_16th(sqlite_db: SourceDB, write_config) -> None:
    """003:1085: 每季度第一个月15日前…对上一季度村务情况予以发布. Q3 2026 is due Thu 15 Oct."""
    sqlite_db.load("units", UNITS)
    sqlite_db.load("publications", [
        pub("P1", "V2", "village_affairs", "2026-Q3", dt.datetime(2026, 10, 15, 18, 0)),  # the due day
    ])
    found = scan(sqlite_db, write_config, at(2026, 10, 16, 9), ["publication_missing",
                                                               "publication_late"], QUARTERLY)
    assert [(f.check, f.subject, f.unit_id, f.overdue) for f in found] == [
        ("publication_missing", "V1:village_affairs:2026-Q3", "V1", 1)]
    f = found[0]
    assert f.deadline == at(2026, 10, 15, 23, 59, 59)
    assert f.tier == "level3" and "东村村委会" in f.summary and "2026年第三季度" in f.summary
    # D1 is a department: the village obligation does not bind it; Q2 is before `since`


def test_not_missing_before_the_due_day_ends(sqlite_db: SourceDB, write_config) -> None:
    sqlite_db.load("units", UNITS)
    sqlite_db.load("publications", [])
    assert scan(sqlite_db, write_config, at(2026, 10, 15, 23, 0), ["publication_missing"],
                QUARTERLY) == []


def test_published_late_is_late_not_missing_and_as_of_before_it_is_missing(
        sqlite_db: SourceDB, write_config) -> None:
    sqlite_db.load("units", UNITS)
    sqlite_db.load("publications", [
        pub("P1", "V1", "village_affairs", "2026-Q3", dt.datetime(2026, 10, 19, 10, 0)),
        pub("P2", "V2", "village_affairs", "2026-Q3", dt.datetime(2026, 10, 9, 10, 0)),
    ])
    checks = ["publication_missing", "publication_late"]
    found = scan(sqlite_db, write_config, at(2026, 10, 20, 9), checks, QUARTERLY)
    # 15 Oct → 19 Oct: 16, 17, 18, 19 = 4 calendar days late
    assert [(f.check, f.subject, f.overdue, f.tier) for f in found] == [
        ("publication_late", "V1:village_affairs:2026-Q3", 4, "reminder")]
    # as of 16 Oct, P1 (published 19 Oct) does not exist yet: missing
    early = scan(sqlite_db, write_config, at(2026, 10, 16, 9), checks, QUARTERLY)
    assert [(f.check, f.subject) for f in early] == [
        ("publication_missing", "V1:village_affairs:2026-Q3")]


def test_due_day_on_a_holiday_moves_to_the_next_working_day(sqlite_db: SourceDB, write_config) -> None:
    """Day 5 of October 2026 is in the National Day holiday (1–7 Oct): due end of Thu 8 Oct."""
    sqlite_db.load("units", UNITS)
    sqlite_db.load("publications", [
        pub("P1", "V1", "village_finance", "2026-09", dt.datetime(2026, 10, 8, 15, 0)),
    ])
    extra = """\
checks:
  publication_missing:
    obligations:
      - {subject: village_finance, units: {ids: [V1, V2]}, period: month,
         due: {day_of_next_period: 5}, since: 2026-09}
"""
    found = scan(sqlite_db, write_config, at(2026, 10, 9, 9), ["publication_missing",
                                                              "publication_late"], extra)
    assert [(f.check, f.subject, f.deadline, f.overdue) for f in found] == [
        ("publication_missing", "V2:village_finance:2026-09", at(2026, 10, 8, 23, 59, 59), 1)]


def test_workdays_after_period_counts_the_holiday_and_the_makeup_saturday(
        sqlite_db: SourceDB, write_config) -> None:
    """September 2026 + 10 working days: 8, 9, 10 (Sat, worked), 12–16, 19, 20 Oct → end of Tue 20 Oct."""
    sqlite_db.load("units", UNITS)
    sqlite_db.load("publications", [])
    extra = """\
checks:
  publication_missing:
    obligations:
      - {subject: fund_use, units: {ids: [D1]}, period: month,
         due: {workdays_after_period: 10}, since: 2026-09}
"""
    assert scan(sqlite_db, write_config, at(2026, 10, 20, 23, 0), ["publication_missing"], extra) == []
    [f] = scan(sqlite_db, write_config, at(2026, 10, 21, 9), ["publication_missing"], extra)
    assert (f.subject, f.deadline, f.overdue, f.measure.value) == (
        "D1:fund_use:2026-09", at(2026, 10, 20, 23, 59, 59), 1, "workday")


def test_since_keeps_history_quiet_and_every_later_period_is_checked(
        sqlite_db: SourceDB, write_config) -> None:
    sqlite_db.load("units", UNITS[:1])
    sqlite_db.load("publications", [])
    extra = """\
checks:
  publication_missing:
    obligations:
      - {subject: fund_use, units: all, period: half_year, due: {day_of_next_period: 15},
         since: 2025-H2}
"""
    found = scan(sqlite_db, write_config, at(2026, 11, 16, 9), ["publication_missing"], extra)
    # 2025-H2 due 15 Jan 2026, 2026-H1 due 15 Jul 2026; 2026-H2 not yet due; nothing before 2025-H2
    assert [f.subject for f in found] == ["V1:fund_use:2025-H2", "V1:fund_use:2026-H1"]


def test_bad_obligation_is_a_config_error(tmp_path, write_config) -> None:
    extra = """\
checks:
  publication_missing:
    obligations:
      - {subject: x, period: quarter, due: {day_of_next_period: 15}, since: 2026-09}
"""
    with pytest.raises(ConfigError) as err:
        load_settings(write_config(f"sqlite:///{tmp_path / 'x.db'}", extra))
    assert "publication_missing.obligations" in str(err.value) and "month" in str(err.value)


# --- case_result_unpublished --------------------------------------------------------------

CASE = {"case_id": "C1", "unit_id": "D1", "item_code": "MZ-001", "item_name": "最低生活保障审批",
        "accepted_at": dt.datetime(2026, 9, 10, 9), "promised_limit": 15, "limit_unit": "workday",
        "completed_at": dt.datetime(2026, 9, 24, 10), "outcome": "approved"}


def test_case_result_published_on_the_last_day_is_on_time(sqlite_db: SourceDB, write_config) -> None:
    """003:483 办理结果在办结后公开; completed Thu 24 Sep + 5 working days = end of Fri 9 Oct."""
    sqlite_db.load("units", UNITS)
    sqlite_db.load("cases", [CASE])
    sqlite_db.load("publications", [pub("R1", "D1", "case_result", None,
                                        dt.datetime(2026, 10, 9, 16), ref="C1")])
    assert scan(sqlite_db, write_config, at(2026, 10, 12, 9), ["case_result_unpublished"]) == []


def test_case_result_unpublished_and_published_late(sqlite_db: SourceDB, write_config) -> None:
    sqlite_db.load("units", UNITS)
    withdrawn = {**CASE, "case_id": "C3", "outcome": "withdrawn"}
    sqlite_db.load("cases", [CASE, {**CASE, "case_id": "C2"}, withdrawn])
    sqlite_db.load("publications", [pub("R2", "D1", "case_result", None,
                                        dt.datetime(2026, 10, 12, 9), ref="C2")])
    found = scan(sqlite_db, write_config, at(2026, 10, 10, 9), ["case_result_unpublished"])
    # Sat 10 Oct is a make-up working day: 1 working day late; R2 (12 Oct) is not published yet
    assert [(f.subject, f.overdue, f.deadline) for f in found] == [
        ("C1", 1, at(2026, 10, 9, 23, 59, 59)), ("C2", 1, at(2026, 10, 9, 23, 59, 59))]
    later = scan(sqlite_db, write_config, at(2026, 10, 13, 9), ["case_result_unpublished"])
    # C2 published Mon 12 Oct: 10 Oct and 12 Oct late = 2; C1 still unpublished: 10, 12, 13 = 3
    assert [(f.subject, f.overdue) for f in later] == [("C1", 3), ("C2", 2)]
    assert "至今未公开" in later[0].summary and "2026年10月12日才公开" in later[1].summary


def test_case_result_check_skips_a_source_without_publications(sqlite_db: SourceDB,
                                                               write_config) -> None:
    """No publications table here: the source is still scanned, and no case is accused."""
    sqlite_db.load("units", UNITS)
    sqlite_db.load("cases", [CASE])
    found = scan(sqlite_db, write_config, at(2026, 10, 13, 9),
                 ["case_result_unpublished", "case_overdue"])
    assert found == []


# --- posting_too_short -------------------------------------------------------------------


def test_posting_seven_working_days_and_one_short(sqlite_db: SourceDB, write_config) -> None:
    """000:1168 公示、公告不少于7个工作日: posted Mon 2 Nov → must stay up through Wed 11 Nov."""
    sqlite_db.load("units", UNITS)
    sqlite_db.load("publications", [
        pub("G1", "D1", "case_result", None, dt.datetime(2026, 11, 2, 9), dt.datetime(2026, 11, 11, 17)),
        pub("G2", "D1", "case_result", None, dt.datetime(2026, 11, 2, 9), dt.datetime(2026, 11, 10, 17)),
        # 000:364 draft decisions: 5 working days → through Mon 9 Nov
        pub("G3", "D1", "draft_decision", None, dt.datetime(2026, 11, 2, 9), dt.datetime(2026, 11, 9, 8)),
        pub("G4", "D1", "other_notice", None, dt.datetime(2026, 11, 2, 9), dt.datetime(2026, 11, 3, 8)),
    ])
    found = scan(sqlite_db, write_config, at(2026, 11, 20, 9), ["posting_too_short"])
    assert [(f.subject, f.overdue) for f in found] == [("G2", 1)]
    assert "公示6个工作日，不足7个工作日" in found[0].summary
    # as of 10 Nov noon G2 is still up: nothing to say yet
    assert scan(sqlite_db, write_config, at(2026, 11, 10, 12), ["posting_too_short"]) == []


def test_unreadable_publications_are_data_quality(sqlite_db: SourceDB, write_config) -> None:
    sqlite_db.load("units", UNITS)
    sqlite_db.load("publications", [
        pub("B1", "V1", "village_affairs", "2026-Q5", dt.datetime(2026, 10, 9)),
        pub("B2", "V1", "village_affairs", "2026-Q3", dt.datetime(2026, 10, 9), dt.datetime(2026, 10, 1)),
        pub("B3", "ZZ", "village_affairs", "2026-Q3", dt.datetime(2026, 10, 9)),
        pub("B4", "V1", "village_affairs", "2026-Q3", None),
    ])
    found = scan(sqlite_db, write_config, at(2026, 10, 20, 9), ["publication_missing"], QUARTERLY)
    dq = {f.evidence["key"]: f.evidence["field"] for f in found if f.check == "data_quality"}
    assert dq == {"B1": "period", "B2": "posted_until", "B3": "unit_id", "B4": "published_at"}
    # none of them counts as published: both villages are missing Q3
    assert sorted(f.subject for f in found if f.check == "publication_missing") == [
        "V1:village_affairs:2026-Q3", "V2:village_affairs:2026-Q3"]


def test_due_day_in_the_spring_festival_moves_to_tue_24_feb(sqlite_db: SourceDB, write_config) -> None:
    """January 2026, due day 15 of February: 15–23 Feb is 春节, so the end of Tue 24 Feb."""
    sqlite_db.load("units", UNITS)
    sqlite_db.load("publications", [])
    extra = """\
checks:
  publication_missing:
    obligations:
      - {subject: village_finance, units: {ids: [V1]}, period: month,
         due: {day_of_next_period: 15}, since: 2026-01, until: 2026-01}
"""
    assert scan(sqlite_db, write_config, at(2026, 2, 24, 23), ["publication_missing"], extra) == []
    [f] = scan(sqlite_db, write_config, at(2026, 2, 25, 9), ["publication_missing"], extra)
    assert (f.subject, f.deadline, f.overdue) == ("V1:village_finance:2026-01",
                                                  at(2026, 2, 24, 23, 59, 59), 1)
    # `until` ends the duty: nothing for February or later, even on 1 Dec
    assert [g.subject for g in scan(sqlite_db, write_config, at(2026, 12, 1, 9),
                                    ["publication_missing"], extra)] == ["V1:village_finance:2026-01"]
