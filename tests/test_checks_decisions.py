"""Family D (三重一大 collective decisions): 003:811, 000:898, 003:825, 003:821."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.conftest import SourceDB, at
from tests.test_checks_publications import load_once, scan

UNITS = [{"unit_id": "D1", "name": "县民政局", "kind": "department"}]
D_CHECKS = ["decision_not_collective", "quorum_not_met", "votes_insufficient", "materials_late",
            "leader_in_charge_absent", "emergency_not_reported"]
PEOPLE = [{"person_id": "MZJ-P-7", "name": "李建国", "unit_id": "D1", "is_head": False}]


def decision(did: str, category: str = "major_decision", method: str = "meeting",
             meeting: dt.datetime | None = dt.datetime(2026, 10, 8, 10),
             materials: dt.datetime | None = dt.datetime(2026, 9, 30, 16),
             should: int | None = 9, present: int | None = 7, votes: int | None = 6,
             emergency: bool = False, amount: str | None = None, body: str | None = None,
             leader: str | None = None, leader_present: bool | None = None,
             reported: dt.datetime | None = None) -> dict:
    return {"decision_id": did, "unit_id": "D1", "category": category, "method": method,
            "meeting_at": meeting, "materials_sent_at": materials, "should_attend": should,
            "present": present, "votes_for": votes, "emergency": emergency,
            "amount": Decimal(amount) if amount else None, "body": body,
            "leader_in_charge": leader, "leader_present": leader_present, "reported_at": reported}


def run(db: SourceDB, write_config, rows: list[dict], when: dt.datetime | None = None,
        extra: str = "") -> list[tuple[str, str]]:
    load_once(db, "units", UNITS)
    load_once(db, "people", PEOPLE)
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


def test_quorum_half_or_more_and_two_thirds_for_appointments(sqlite_db: SourceDB,
                                                             write_config) -> None:
    """000:898 到会率要求半数以上…讨论干部问题时则要求三分之二以上参加: 以上 includes the number
    (Civil Code art. 1259), so exactly half (and exactly two thirds) is a quorum."""
    rows = [
        decision("Q-1", should=9, present=4, votes=4),          # 4 < 4.5: no quorum
        decision("Q-2", should=9, present=5, votes=5),          # 5 of 9: more than half
        decision("Q-3", should=10, present=5, votes=5),         # exactly half: a quorum
        decision("Q-4", "appointment", should=9, present=5, votes=5),  # 5 < 6 (two thirds of 9)
        decision("Q-5", "appointment", should=9, present=6, votes=6),  # exactly two thirds: a quorum
        decision("Q-6", should=10, present=4, votes=4),         # 4 of 10: no quorum
    ]
    found = run(sqlite_db, write_config, rows)
    got = [x for x in found if x[0] == "quorum_not_met"]
    assert got == [("quorum_not_met", "Q-1"), ("quorum_not_met", "Q-4"), ("quorum_not_met", "Q-6")]
    # 5 of 10 is a quorum, but 5 votes of 10 do not pass: 003:825 says 超过, not 以上
    assert ("votes_insufficient", "Q-3") in found
    [f] = [f for f in scan_all(sqlite_db, write_config, rows) if f.subject == "Q-6"
           and f.check == "quorum_not_met"]
    assert "应到10人、实到4人，未达到应到会人数的半数以上" in f.summary


def test_quorum_boundary_is_a_parameter(sqlite_db: SourceDB, write_config) -> None:
    """An office whose own rules say 超过半数 sets ``boundary: exclusive``: then 5 of 10 fails."""
    rows = [decision("Q-3", should=10, present=5, votes=5), decision("Q-7", should=10, present=6)]
    strict = "checks:\n  quorum_not_met: {boundary: exclusive}\n"
    assert [x for x in run(sqlite_db, write_config, rows, extra=strict)
            if x[0] == "quorum_not_met"] == [("quorum_not_met", "Q-3")]


def test_leader_in_charge_must_attend(sqlite_db: SourceDB, write_config) -> None:
    """000:898 …且分管领导必须参加: the leader in charge absent fires, named from ``people``."""
    rows = [
        decision("L-1", leader="MZJ-P-7", leader_present=False),
        decision("L-2", leader="MZJ-P-7", leader_present=True),
        decision("L-3", leader="MZJ-P-7", leader_present=None),  # not recorded: no guess
        decision("L-4"),                                        # no leader named
        decision("L-5", "large_fund", "countersign", materials=None, should=None, present=None,
                 votes=None, leader="MZJ-P-7", leader_present=False),  # no meeting: the other rule
    ]
    assert [x for x in run(sqlite_db, write_config, rows)
            if x[0] == "leader_in_charge_absent"] == [("leader_in_charge_absent", "L-1")]
    [f] = [f for f in scan_all(sqlite_db, write_config, rows) if f.check == "leader_in_charge_absent"]
    assert f.tier == "level2" and "分管领导李建国未参加会议" in f.summary
    assert "MZJ-P-7" not in f.summary
    strict = "checks:\n  leader_in_charge_absent: {missing_counts_as_absent: true}\n"
    assert [s for c, s in run(sqlite_db, write_config, rows, extra=strict)
            if c == "leader_in_charge_absent"] == ["L-1", "L-3"]


def test_emergency_decision_reported_at_the_next_meeting(sqlite_db: SourceDB,
                                                          write_config) -> None:
    """000:898 因突发事件和紧急情况需马上决定的…并在下一次会议上报告情况.

    Emergencies decided Fri 9 Oct 2026 by the 局党组会's chair; that body next meets
    Thu 15 Oct, then Thu 22 Oct. Reported at the 15 Oct meeting: fine; reported on 22
    Oct or never: fires, as soon as 15 Oct has passed. An emergency of 28 Oct has had
    no next meeting by 2 Nov; one of the 局长办公会 has none either (other bodies'
    meetings do not count).
    """
    body = "局党组会"
    emergency = dict(method="individual", materials=None, should=None, present=None, votes=None,
                     emergency=True, body=body, meeting=dt.datetime(2026, 10, 9, 17))
    rows = [
        decision("M-15", body=body, meeting=dt.datetime(2026, 10, 15, 9),
                 materials=dt.datetime(2026, 10, 13, 9)),
        decision("M-22", body=body, meeting=dt.datetime(2026, 10, 22, 9),
                 materials=dt.datetime(2026, 10, 20, 9)),
        decision("E-1", **emergency),
        decision("E-2", **{**emergency, "reported": dt.datetime(2026, 10, 15, 10, 30)}),
        decision("E-3", **{**emergency, "reported": dt.datetime(2026, 10, 22, 9, 30)}),
        decision("E-4", **{**emergency, "meeting": dt.datetime(2026, 10, 28, 17)}),
        decision("E-5", **{**emergency, "body": "局长办公会"}),
    ]
    got = [s for c, s in run(sqlite_db, write_config, rows) if c == "emergency_not_reported"]
    assert got == ["E-1", "E-3"]
    fs = {f.subject: f for f in scan_all(sqlite_db, write_config, rows)
          if f.check == "emergency_not_reported"}
    assert ("系紧急决策，应在局党组会下一次会议（2026年10月15日召开）上报告情况，至今未报告"
            in fs["E-1"].summary)
    assert "于2026年10月22日才报告" in fs["E-3"].summary
    assert fs["E-1"].deadline == at(2026, 10, 15, 23, 59, 59) and fs["E-1"].tier == "reminder"
    # before the next meeting nothing is due; on its day E-3's later report is not made yet
    assert [s for c, s in run(sqlite_db, write_config, rows, when=at(2026, 10, 14, 18))
            if c == "emergency_not_reported"] == []
    assert [s for c, s in run(sqlite_db, write_config, rows, when=at(2026, 10, 16, 9))
            if c == "emergency_not_reported"] == ["E-1", "E-3"]
    # the emergency itself is exempt from the collective-decision rule (003:811)
    assert not [c for c, s in run(sqlite_db, write_config, rows) if c == "decision_not_collective"]


def test_votes_must_exceed_half_of_those_who_should_attend(sqlite_db: SourceDB,
                                                          write_config) -> None:
    """003:825 赞成票超过应到会人数的半数为通过: of 9, 5 votes pass and 4 do not; of 10 (and of
    8), exactly half does not pass (超过 excludes the number)."""
    rows = [
        decision("V-1", should=9, present=9, votes=4),
        decision("V-2", should=9, present=6, votes=5),
        decision("V-3", should=8, present=8, votes=4),
        decision("V-4", should=10, present=10, votes=5),
        decision("V-5", should=10, present=10, votes=6),
    ]
    assert run(sqlite_db, write_config, rows) == [("votes_insufficient", "V-1"),
                                                  ("votes_insufficient", "V-3"),
                                                  ("votes_insufficient", "V-4")]


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
    load_once(db, "people", PEOPLE)
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
