"""Family D (三重一大 collective decisions): 003:811, 000:898, 003:825, 003:821."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.conftest import SourceDB, at
from tests.test_checks_publications import load_once, scan

UNITS = [{"unit_id": "D1", "name": "县民政局", "kind": "department"}]
D_CHECKS = ["decision_not_collective", "quorum_not_met", "votes_insufficient", "materials_late"]


def decision(did: str, category: str = "major_decision", method: str = "meeting",
             meeting: dt.datetime | None = dt.datetime(2026, 10, 8, 10),
             materials: dt.datetime | None = dt.datetime(2026, 9, 30, 16),
             should: int | None = 9, present: int | None = 7, votes: int | None = 6,
             emergency: bool = False, amount: str | None = None) -> dict:
    return {"decision_id": did, "unit_id": "D1", "category": category, "method": method,
            "meeting_at": meeting, "materials_sent_at": materials, "should_attend": should,
            "present": present, "votes_for": votes, "emergency": emergency,
            "amount": Decimal(amount) if amount else None}


def run(db: SourceDB, write_config, rows: list[dict], when: dt.datetime | None = None,
        extra: str = "") -> list[tuple[str, str]]:
    load_once(db, "units", UNITS)
    load_once(db, "decisions", rows)
    return [(f.check, f.subject)
            for f in scan(db, write_config, when or at(2026, 11, 2, 9), D_CHECKS, extra)]


def test_sanzhong_yida_decided_by_countersign(sqlite_db: SourceDB, write_config) -> None:
    """003:811 不得以传阅、会签或个别征求意见等方式代替集体决策 (except emergencies)."""
    rows = [
        decision("J-1", "large_fund", "countersign", materials=None, should=None, present=None,
                 votes=None, amount="300000"),
        decision("J-2", "appointment", "circulation", materials=None, should=None, present=None,
                 votes=None),
        decision("J-3", "major_project", "individual", materials=None, should=None, present=None,
                 votes=None, emergency=True),  # 重大突发事件和紧急情况: exempt
        decision("J-4", "other", "circulation", materials=None, should=None, present=None,
                 votes=None),  # not 三重一大
        decision("J-5", "large_fund"),  # a proper meeting
    ]
    assert run(sqlite_db, write_config, rows) == [("decision_not_collective", "J-1"),
                                                  ("decision_not_collective", "J-2")]
    [f] = [f for f in scan(sqlite_db, write_config, at(2026, 11, 2, 9), ["decision_not_collective"])
           if f.subject == "J-1"]
    assert f.tier == "level2" and "以会签方式代替领导班子会议集体讨论决定" in f.summary


def test_quorum_more_than_half_and_two_thirds_for_appointments(sqlite_db: SourceDB,
                                                               write_config) -> None:
    """000:898 到会率要求半数以上…讨论干部问题时则要求三分之二以上参加."""
    rows = [
        decision("Q-1", should=9, present=4, votes=4),
        decision("Q-2", should=9, present=5, votes=5),          # 5 of 9: more than half
        decision("Q-3", should=8, present=4, votes=4),          # exactly half: not more than half
        decision("Q-4", "appointment", should=9, present=5, votes=5),  # 5 < 6 (two thirds of 9)
        decision("Q-5", "appointment", should=9, present=6, votes=6),  # exactly two thirds
    ]
    got = [x for x in run(sqlite_db, write_config, rows) if x[0] == "quorum_not_met"]
    assert got == [("quorum_not_met", "Q-1"), ("quorum_not_met", "Q-3"), ("quorum_not_met", "Q-4")]


def test_votes_must_exceed_half_of_those_who_should_attend(sqlite_db: SourceDB,
                                                          write_config) -> None:
    """003:825 赞成票超过应到会人数的半数为通过: of 9, 5 votes pass and 4 do not; of 8, 4 do not."""
    rows = [
        decision("V-1", should=9, present=9, votes=4),
        decision("V-2", should=9, present=6, votes=5),
        decision("V-3", should=8, present=8, votes=4),
    ]
    assert run(sqlite_db, write_config, rows) == [("votes_insufficient", "V-1"),
                                                  ("votes_insufficient", "V-3")]


def test_materials_one_working_day_before(sqlite_db: SourceDB, write_config) -> None:
    """003:821 除干部任免事项外…有关资料至少提前1个工作日送达. Meeting Thu 8 Oct 2026:
    the working day before is Wed 30 Sep (1–7 Oct is the National Day holiday)."""
    rows = [
        decision("M-1"),                                                       # sent 30 Sep: on time
        decision("M-2", materials=dt.datetime(2026, 10, 8, 8)),               # the same morning
        decision("M-3", "appointment", materials=dt.datetime(2026, 10, 8, 8)),  # 干部任免: exempt
        # meeting Mon 12 Oct: Sat 10 Oct is a make-up working day, so sending then is on time
        decision("M-4", meeting=dt.datetime(2026, 10, 12, 9), materials=dt.datetime(2026, 10, 10, 17)),
        decision("M-5", materials=None),                                     # not recorded
    ]
    fs = [f for f in scan_all(sqlite_db, write_config, rows) if f.check == "materials_late"]
    assert [(f.subject, f.deadline, f.overdue) for f in fs] == [
        ("M-2", at(2026, 9, 30, 23, 59, 59), 1)]
    assert fs[0].tier == "reminder"
    strict = "checks:\n  materials_late: {missing_counts_as_late: true}\n"
    assert [s for c, s in run(sqlite_db, write_config, rows, extra=strict)
            if c == "materials_late"] == ["M-2", "M-5"]


def scan_all(db: SourceDB, write_config, rows: list[dict]):
    load_once(db, "units", UNITS)
    load_once(db, "decisions", rows)
    return scan(db, write_config, at(2026, 11, 2, 9), D_CHECKS)


def test_as_of_a_later_decision_does_not_exist_yet(sqlite_db: SourceDB, write_config) -> None:
    rows = [decision("T-1", "large_fund", "countersign", meeting=dt.datetime(2026, 10, 20, 15),
                     materials=None, should=None, present=None, votes=None)]
    assert run(sqlite_db, write_config, rows, when=at(2026, 10, 20, 14)) == []
    assert run(sqlite_db, write_config, rows, when=at(2026, 10, 20, 16)) == [
        ("decision_not_collective", "T-1")]


def test_unreadable_decisions_are_data_quality(sqlite_db: SourceDB, write_config) -> None:
    rows = [decision("B-1", present=10), decision("B-2", method="vote"),
            decision("B-3", votes=8, present=7), decision("B-4", should=-1, present=None, votes=None)]
    fs = scan_all(sqlite_db, write_config, rows)
    assert {(f.evidence["key"], f.evidence["field"]) for f in fs} == {
        ("B-1", "present"), ("B-2", "method"), ("B-3", "votes_for"), ("B-4", "should_attend")}
    assert {f.check for f in fs} == {"data_quality"}
