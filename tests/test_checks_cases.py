"""Family C and Q through the real path: SQLite source → readers → engine → findings.

Deadlines are worked by hand (see test_time_rules.py for the calendar facts).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from sunlight.checks.base import Finding
from sunlight.monitor.configure import load_settings
from sunlight.monitor.engine import Engine
from tests.conftest import SourceDB, at

UNITS = [{"unit_id": "MZJ", "name": "县民政局", "kind": "department"},
         {"unit_id": "CGZ", "name": "城关镇人民政府", "kind": "township"}]


def case(case_id: str = "C1", **kw: Any) -> dict[str, Any]:
    row = {"case_id": case_id, "unit_id": "MZJ", "item_code": "MZ-001",
           "item_name": "最低生活保障审批", "handler": "王芳",
           "accepted_at": dt.datetime(2026, 9, 24, 10), "promised_limit": 5,
           "limit_unit": "workday"}
    row.update(kw)
    return row


@pytest.fixture
def scan(sqlite_db: SourceDB, write_config):
    """``scan(cases, when, pauses=..., extensions=..., steps=..., extra=..., only=...)``."""

    def run(cases: list[dict], when: dt.datetime, *, pauses: list[dict] = (),
            extensions: list[dict] = (), steps: list[dict] = (), extra: str = "",
            only: list[str] | None = None, units: list[dict] = UNITS) -> list[Finding]:
        sqlite_db.reset()
        sqlite_db.load("units", list(units))
        sqlite_db.load("cases", cases)
        sqlite_db.load("case_pauses", list(pauses))
        sqlite_db.load("case_extensions", list(extensions))
        sqlite_db.load("case_steps", list(steps))
        engine = Engine(load_settings(write_config(sqlite_db.url, extra)), only=only)
        found: list[Finding] = []
        [outcome] = engine.scan(when, found.append)
        assert outcome.ok, outcome.error
        assert not outcome.check_errors
        return sorted(found, key=lambda f: (f.check, f.subject))

    return run


def by_check(found: list[Finding], check: str) -> list[Finding]:
    return [f for f in found if f.check == check]


# --- case_overdue / case_overdue_statutory -----------------------------------------------


def test_open_case_past_promised_limit(scan) -> None:
    [f] = by_check(scan([case()], at(2026, 10, 10, 9)), "case_overdue")
    assert (f.subject, f.unit_id, f.tier, f.overdue) == ("C1", "MZJ", "level3", 1)
    assert f.deadline == at(2026, 10, 9, 23, 59, 59)
    assert f.deadline.isoformat() == "2026-10-09T23:59:59+08:00"
    assert f.evidence["state"] == "open"
    assert f.evidence["due_date"] == "2026-10-09"
    assert {"date": "2026-10-01", "reason": "国庆节"} in f.evidence["skipped_days"]
    assert f.evidence["rule"]["cite"] == "003:565; 000:1162"
    assert "超期1个工作日" in f.summary


def test_completed_late_and_on_time(scan) -> None:
    found = scan([case("LATE", completed_at=dt.datetime(2026, 10, 12, 10), outcome="approved"),
                  case("OK", completed_at=dt.datetime(2026, 10, 9, 18), outcome="approved")],
                 at(2026, 11, 1, 9))
    [f] = by_check(found, "case_overdue")
    assert (f.subject, f.overdue, f.evidence["state"]) == ("LATE", 2, "completed_late")


def test_statutory_limit_is_a_second_finding_at_level2(scan) -> None:
    """Statutory 10 wd from 24 Sep: 28, 29, 30 Sep, 8, 9, 10 (Sat, worked), 12–15 Oct."""
    found = scan([case(statutory_limit=10)], at(2026, 10, 16, 9))
    [stat] = by_check(found, "case_overdue_statutory")
    assert (stat.tier, stat.overdue, stat.deadline) == ("level2", 1, at(2026, 10, 15, 23, 59, 59))
    [prom] = by_check(found, "case_overdue")
    assert prom.overdue == 6  # 10, 12, 13, 14, 15, 16 Oct
    assert by_check(scan([case(statutory_limit=10)], at(2026, 10, 15, 20)),
                    "case_overdue_statutory") == []


def test_hour_limit(scan) -> None:
    rows = [case("H1", promised_limit=24, limit_unit="hour",
                 accepted_at=dt.datetime(2026, 11, 2, 10))]
    [f] = by_check(scan(rows, at(2026, 11, 3, 12, 30)), "case_overdue")
    assert f.overdue == pytest.approx(2.5) and f.measure.value == "hour"


# --- case_due_soon -------------------------------------------------------------------------


def test_due_soon_with_default_and_per_item_threshold(scan) -> None:
    """Accepted Mon 2 Nov, 5 wd → due Mon 9 Nov. On Fri 6 Nov 2 days are left (Fri, Mon)."""
    rows = [case("S1", accepted_at=dt.datetime(2026, 11, 2, 9))]
    [f] = by_check(scan(rows, at(2026, 11, 6, 10)), "case_due_soon")
    assert (f.tier, f.overdue, f.evidence["remaining"]) == ("reminder", -2, 2.0)
    assert by_check(scan(rows, at(2026, 11, 5, 10)), "case_due_soon") == []  # 3 left
    extra = """checks:
  overrides:
    - match: {item_code: MZ-001}
      case_due_soon: {warn_remaining: 5}
"""
    [f] = by_check(scan(rows, at(2026, 11, 5, 10), extra=extra), "case_due_soon")
    assert f.overdue == -3


def test_completed_or_paused_cases_are_not_due_soon(scan) -> None:
    rows = [case("S1", accepted_at=dt.datetime(2026, 11, 2, 9)),
            case("S2", accepted_at=dt.datetime(2026, 11, 2, 9),
                 completed_at=dt.datetime(2026, 11, 5, 9), outcome="approved")]
    pauses = [{"case_id": "S1", "kind": "supplement", "started_at": dt.datetime(2026, 11, 4, 9)}]
    found = scan(rows, at(2026, 11, 6, 10), pauses=pauses)
    assert by_check(found, "case_due_soon") == []
    assert by_check(scan(rows, at(2026, 12, 31, 10), pauses=pauses), "case_overdue") == []


# --- step_overdue ----------------------------------------------------------------------------


def test_step_finished_after_its_limit(scan) -> None:
    """Step started Mon 2 Nov, 2 wd → due end of Wed 4 Nov; finished Thu 5 Nov: 1 late."""
    steps = [{"case_id": "C1", "seq": 1, "name": "审查", "handler": "王芳",
              "started_at": dt.datetime(2026, 11, 2, 9), "finished_at": dt.datetime(2026, 11, 5, 9),
              "step_limit": 2, "limit_unit": "workday"},
             {"case_id": "C1", "seq": 2, "name": "决定", "started_at": dt.datetime(2026, 11, 5, 9),
              "step_limit": 3, "limit_unit": "workday"}]
    rows = [case(accepted_at=dt.datetime(2026, 11, 2, 8), promised_limit=20)]
    found = by_check(scan(rows, at(2026, 11, 9, 10), steps=steps), "step_overdue")
    assert [(f.subject, f.overdue, f.tier) for f in found] == [("C1#1", 1, "reminder")]


# --- extension_invalid -------------------------------------------------------------------------


def test_approved_extension_moves_the_deadline(scan) -> None:
    """Mon 2 Nov + 5 + 5 approved wd → end of Mon 16 Nov."""
    rows = [case(accepted_at=dt.datetime(2026, 11, 2, 9))]
    ext = [{"case_id": "C1", "extra": 5, "approved_by": "局长 马永红",
            "approved_at": dt.datetime(2026, 11, 6, 9)}]
    found = scan(rows, at(2026, 11, 17, 9), extensions=ext)
    [f] = by_check(found, "case_overdue")
    assert f.deadline == at(2026, 11, 16, 23, 59, 59)
    assert by_check(found, "extension_invalid") == []


def test_unapproved_extension_is_a_finding_and_does_not_count(scan) -> None:
    rows = [case(accepted_at=dt.datetime(2026, 11, 2, 9))]
    ext = [{"case_id": "C1", "extra": 5, "reason": "材料复杂"}]
    found = scan(rows, at(2026, 11, 10, 9), extensions=ext)
    [inv] = by_check(found, "extension_invalid")
    assert inv.tier == "level3" and "未经批准" in inv.summary
    [late] = by_check(found, "case_overdue")
    assert late.deadline == at(2026, 11, 9, 23, 59, 59)


def test_extension_beyond_the_maximum(scan) -> None:
    """10 approved wd count; 5 more exceed max 10: due Mon 2 Nov + 15 wd = end of Mon 23 Nov."""
    rows = [case(accepted_at=dt.datetime(2026, 11, 2, 9))]
    ext = [{"case_id": "C1", "extra": 10, "approved_by": "局长", "approved_at": dt.datetime(2026, 11, 5)},
           {"case_id": "C1", "extra": 5, "approved_by": "局长", "approved_at": dt.datetime(2026, 11, 20)}]
    found = scan(rows, at(2026, 11, 24, 9), extensions=ext)
    [inv] = by_check(found, "extension_invalid")
    assert inv.evidence["extensions"][0]["extra"] == 5.0
    [late] = by_check(found, "case_overdue")
    assert late.deadline == at(2026, 11, 23, 23, 59, 59)


# --- refusal_without_reason, repeated_supplement -----------------------------------------------


def test_refusal_needs_a_reason(scan) -> None:
    done = dt.datetime(2026, 9, 28, 9)
    found = scan([case("R1", completed_at=done, outcome="refused"),
                  case("R2", completed_at=done, outcome="refused", outcome_reason="不符合条件"),
                  case("R3", completed_at=done, outcome="not_accepted")], at(2026, 10, 1, 9))
    assert [f.subject for f in by_check(found, "refusal_without_reason")] == ["R1", "R3"]


def test_more_than_one_supplement_breaks_tell_once(scan) -> None:
    pauses = [
        {"case_id": "C1", "kind": "supplement", "started_at": dt.datetime(2026, 9, 25),
         "ended_at": dt.datetime(2026, 9, 28)},
        {"case_id": "C1", "kind": "supplement", "started_at": dt.datetime(2026, 9, 29),
         "ended_at": dt.datetime(2026, 9, 30)},
        {"case_id": "C2", "kind": "supplement", "started_at": dt.datetime(2026, 9, 25),
         "ended_at": dt.datetime(2026, 9, 28)},
        {"case_id": "C2", "kind": "special_procedure", "started_at": dt.datetime(2026, 9, 29),
         "ended_at": dt.datetime(2026, 9, 30)},
    ]
    found = scan([case("C1"), case("C2")], at(2026, 10, 1, 9), pauses=pauses)
    assert [f.subject for f in by_check(found, "repeated_supplement")] == ["C1"]


# --- data quality --------------------------------------------------------------------------------


def test_bad_rows_become_data_quality_findings_and_the_scan_completes(scan) -> None:
    rows = [
        case("GOOD"),
        case("NOACC", accepted_at=None),
        case("BACKWARDS", completed_at=dt.datetime(2026, 9, 20, 9), outcome="approved"),
        case("NEG", promised_limit=-5),
        case("GHOST", unit_id="NOPE"),
        case("BADPAUSE"),
    ]
    pauses = [{"case_id": "BADPAUSE", "kind": "holiday", "started_at": dt.datetime(2026, 9, 25)}]
    found = scan(rows, at(2026, 10, 10, 9), pauses=pauses)
    dq = {f.subject: f for f in by_check(found, "data_quality")}
    assert set(dq) == {"main:cases:NOACC", "main:cases:BACKWARDS", "main:cases:NEG",
                       "main:cases:GHOST", "main:case_pauses:BADPAUSE"}
    assert dq["main:cases:NOACC"].evidence["field"] == "accepted_at"
    assert dq["main:cases:NEG"].evidence["field"] == "promised_limit"
    assert dq["main:cases:GHOST"].evidence["field"] == "unit_id"
    assert dq["main:case_pauses:BADPAUSE"].evidence["field"] == "kind"
    assert [f.subject for f in by_check(found, "case_overdue")] == ["GOOD"]


def test_unreadable_time_text(sqlite_db: SourceDB, write_config) -> None:
    sqlite_db.load("cases", [case("OK")])
    with sqlite_db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO cases (case_id, unit_id, accepted_at, promised_limit) "
                             "VALUES ('TXT', 'MZJ', '二〇二六年九月', 5)")
    found: list[Finding] = []
    Engine(load_settings(write_config(sqlite_db.url))).scan(at(2026, 10, 10, 9), found.append)
    [dq] = by_check(found, "data_quality")
    assert dq.subject == "main:cases:TXT" and "时间无法识别" in dq.evidence["reason"]
    assert "受理时间无法读取（填写为'二〇二六年九月'，不是可识别的时间）" in dq.summary


def test_duplicate_case_numbers(sqlite_db: SourceDB, write_config) -> None:
    """A source without a primary key can hold one case number twice: report, don't guess."""
    with sqlite_db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE cases (case_id TEXT, unit_id TEXT, "
                             "accepted_at TEXT, promised_limit INTEGER)")
        conn.exec_driver_sql("INSERT INTO cases VALUES ('C1', 'MZJ', '2026-09-24 10:00:00', 5), "
                             "('C1', 'CGZ', '2026-09-25 10:00:00', 5)")
    found: list[Finding] = []
    Engine(load_settings(write_config(sqlite_db.url))).scan(at(2026, 10, 10, 9), found.append)
    assert [f.subject for f in by_check(found, "data_quality")] == ["main:cases:C1"]
    assert [(f.subject, f.unit_id) for f in by_check(found, "case_overdue")] == [("C1", "MZJ")]


# --- as-of ---------------------------------------------------------------------------------------


def test_as_of_undoes_what_happened_later(scan) -> None:
    """At Sat 10 Oct 09:00 the case completed on 12 Oct was still open, and the pause
    and extension of later dates did not exist yet; a case accepted on 11 Oct is ignored."""
    rows = [case("C1", completed_at=dt.datetime(2026, 10, 12, 10), outcome="approved"),
            case("LATER", accepted_at=dt.datetime(2026, 10, 11, 10))]
    pauses = [{"case_id": "C1", "kind": "supplement", "started_at": dt.datetime(2026, 10, 11),
               "ended_at": dt.datetime(2026, 10, 20)}]
    ext = [{"case_id": "C1", "extra": 5, "approved_by": "局长",
            "approved_at": dt.datetime(2026, 10, 11)}]
    found = scan(rows, at(2026, 10, 10, 9), pauses=pauses, extensions=ext)
    [f] = by_check(found, "case_overdue")
    assert (f.subject, f.overdue, f.evidence["state"]) == ("C1", 1, "open")
    assert f.evidence["completed_at"] is None and f.evidence["pauses"] == []
    assert all(f.subject != "LATER" for f in found)


def test_as_of_a_pause_that_ended_later_is_still_open(scan) -> None:
    """Paused from Wed 30 Sep (ended 20 Oct): at 10 Oct the clock is stopped — not overdue."""
    pauses = [{"case_id": "C1", "kind": "special_procedure",
               "started_at": dt.datetime(2026, 9, 30, 9), "ended_at": dt.datetime(2026, 10, 20)}]
    assert scan([case()], at(2026, 10, 10, 9), pauses=pauses, only=["case_overdue"]) == []


# --- config: switches and tier overrides --------------------------------------------------------


def test_checks_can_be_switched_off_globally_and_per_unit(scan) -> None:
    rows = [case("A"), case("B", unit_id="CGZ")]
    off = scan(rows, at(2026, 10, 10, 9), extra="checks:\n  case_overdue: {enabled: false}\n")
    assert by_check(off, "case_overdue") == []
    per_unit = """checks:
  overrides:
    - match: {unit_kind: township}
      case_overdue: {enabled: false}
"""
    assert [f.subject for f in by_check(scan(rows, at(2026, 10, 10, 9), extra=per_unit),
                                        "case_overdue")] == ["A"]


def test_tier_override_by_unit(scan) -> None:
    extra = """tiers:
  overrides:
    - match: {check: case_overdue, unit_id: MZJ}
      tier: level2
"""
    [f] = by_check(scan([case()], at(2026, 10, 10, 9), extra=extra), "case_overdue")
    # the scan keeps the check's default tier: overrides are applied when letters are planned
    # (tests/test_planner.py::test_tier_overrides_are_applied_at_planning_time)
    assert f.tier == "level3"


def test_calendar_uncovered_is_flagged_until_the_year_is_added(scan) -> None:
    """Accepted 23 Dec 2026, 10 wd: by Mon–Fri due end of Wed 6 Jan 2027, flagged; with the
    fixture year (1–3 Jan off) due end of Thu 7 Jan and not flagged."""
    rows = [case("Y", accepted_at=dt.datetime(2026, 12, 23, 10), promised_limit=10)]
    [f] = by_check(scan(rows, at(2027, 1, 8, 9)), "case_overdue")
    assert f.calendar_uncovered is True and f.deadline == at(2027, 1, 6, 23, 59, 59)
    assert f.evidence["calendar_uncovered"] is True
    fixture = Path(__file__).with_name("data") / "fixture-2027.yaml"
    extra = f"calendar:\n  overrides: ['{fixture}']\n"
    [g] = by_check(scan(rows, at(2027, 1, 8, 9), extra=extra), "case_overdue")
    assert g.calendar_uncovered is False and g.deadline == at(2027, 1, 7, 23, 59, 59)


def test_a_check_that_raises_is_counted_and_the_rest_go_on(sqlite_db: SourceDB, write_config) -> None:
    """Invariant 5 for checks: a bug on one record does not stop the other checks or records."""
    from sunlight.checks.base import Check
    from sunlight.checks.registry import CheckParams

    class Exploding(Check):
        id = "exploding"
        tier = "level3"
        title = "测试"
        cite = basis = "test"
        entity = "cases"

        def feed(self, record, params, ctx):
            if record.case_id == "A":
                raise RuntimeError("bug")
            yield self.finding(record.case_id, record.unit_id, "ok")

    sqlite_db.load("cases", [case("A"), case("B")])
    engine = Engine(load_settings(write_config(sqlite_db.url)))
    engine.checks.append(Exploding)
    engine.params["exploding"] = CheckParams(Exploding, {})
    found: list[Finding] = []
    [outcome] = engine.scan(at(2026, 10, 10, 9), found.append)
    assert outcome.ok and outcome.check_errors == {"exploding": 1}
    assert [f.subject for f in by_check(found, "exploding")] == ["B"]
    assert [f.subject for f in by_check(found, "case_overdue")] == ["A", "B"]
