"""The letter planner as a pure function: no database, no clock (alerts/planner.py).

Each test states the letters' state by hand and asserts the plan. Dates:
``rectify_by`` is the last day that still counts, so a cycle on that day does
nothing and the first cycle after it acts.
"""

from __future__ import annotations

import datetime as dt

from sunlight.alerts.config import TierMatch, TierOverride, TiersConfig
from sunlight.alerts.planner import (
    LetterFinding,
    NewFinding,
    OpenLetter,
    PastLetter,
    Plan,
    PlanInput,
    facts_digest,
    plan_letters,
)
from tests.conftest import at

POLICY = TiersConfig()
CHECK_START = TiersConfig(matter_start="check")  # today's behaviour before 第十一条: the check's tier
NAMES = {"SJJ": "县市场监督管理局", "MZJ": "县民政局"}


def new(fid: int, check: str = "case_overdue", unit: str = "SJJ", tier: str = "level3",
        item: str | None = "SJ-001", source: str = "main") -> NewFinding:
    return NewFinding(fid, f"fp{fid}", check, unit, item, source, tier,  # type: ignore[arg-type]
                      facts=f"facts{fid}")


def letter(lid: int, tier: str, findings: list[LetterFinding], *, status: str = "issued",
           rectify_by: dt.date = dt.date(2026, 10, 15), report: bool = False, talk: bool = False,
           matter: int | None = None, unit: str = "SJJ") -> OpenLetter:
    return OpenLetter(id=lid, number=f"监预〔2026〕{lid}号", tier=tier, status=status,  # type: ignore[arg-type]
                      unit_id=unit, audience="unit", recipient=NAMES[unit], source=None,
                      matter_id=matter or lid, rectify_by=rectify_by, report_received=report,
                      admonition_held=talk, findings=tuple(findings))


def lf(fid: int, ended: bool = False, explained: bool = False, check: str = "case_overdue") -> LetterFinding:
    return LetterFinding(fid, f"fp{fid}", check, ended, explained)


def plan(when: dt.datetime, **kw: object) -> Plan:
    return plan_letters(PlanInput(at=when, policy=kw.pop("policy", POLICY),  # type: ignore[arg-type]
                                  unit_names=NAMES, **kw))  # type: ignore[arg-type]


# --- rectification and escalation -------------------------------------------------------------


def test_nothing_happens_on_the_last_day_and_escalation_carries_only_the_unrectified() -> None:
    old = letter(1, "level3", [lf(10), lf(11, ended=True), lf(12)])
    assert plan(at(2026, 10, 15, 18), open_letters=[old]).changes == []  # 15 Oct still counts
    p = plan(at(2026, 10, 16, 9), open_letters=[old])
    assert [(c.number, c.before, c.after) for c in p.changes] == [
        ("监预〔2026〕1号", "issued", "overdue"), ("监预〔2026〕1号", "overdue", "escalated")]
    assert "尚未落实：整改（2项问题未整改）" in p.changes[0].note
    [up] = p.letters
    assert (up.tier, up.cites, up.matter_id, up.finding_ids, up.reason) == (
        "level2", 1, 1, (10, 12), "escalation")


def test_a_late_case_completed_is_rectified_the_letter_does_not_escalate() -> None:
    """The issue's 监预〔2026〕32号: a case completed late stays late, but the letter is answered."""
    done = letter(32, "level3", [lf(10, ended=True)], status="acknowledged")
    assert plan(at(2026, 12, 2, 9), open_letters=[done]).changes == []


def test_level2_needs_the_report_too_but_without_unrectified_findings_it_stays_overdue() -> None:
    rectified_no_report = letter(2, "level2", [lf(10, ended=True)])
    p = plan(at(2026, 10, 16, 9), open_letters=[rectified_no_report])
    assert [(c.after, c.note) for c in p.changes] == [
        ("overdue", "整改期限2026-10-15已过，尚未落实：书面整改报告")]
    assert p.letters == []  # nothing left to rectify: the office acts on it


def test_a_report_without_rectification_escalates() -> None:
    """The issue: a 二级 letter with a report but nothing fixed used to never escalate."""
    reported = letter(2, "level2", [lf(10), lf(11, ended=True)], status="report_received", report=True)
    p = plan(at(2026, 10, 16, 9), open_letters=[reported])
    assert [c.after for c in p.changes] == ["overdue", "escalated"]
    assert [(x.tier, x.finding_ids) for x in p.letters] == [("level1", (10,))]


def test_level1_stays_overdue_and_is_marked_once() -> None:
    talk_missing = letter(3, "level1", [lf(10, ended=True)], report=True, status="report_received")
    p = plan(at(2026, 10, 16, 9), open_letters=[talk_missing])
    assert [(c.after, c.note) for c in p.changes] == [
        ("overdue", "整改期限2026-10-15已过，尚未落实：诫勉谈话")]
    again = letter(3, "level1", [lf(10)], status="overdue")
    assert plan(at(2026, 10, 20, 9), open_letters=[again]).changes == []  # nothing above 一级


def test_everything_met_nothing_happens_and_explained_findings_count_as_rectified() -> None:
    met = letter(4, "level1", [lf(10, ended=True), lf(11, explained=True)], report=True, talk=True,
                 status="admonition_held")
    assert plan(at(2026, 11, 1, 9), open_letters=[met]).changes == []


def test_a_finished_act_is_rectified_by_the_report() -> None:
    """decision_not_collective can never end in the source: the report is what the unit did."""
    decided = letter(5, "level2", [lf(10, check="decision_not_collective")])
    assert [c.after for c in plan(at(2026, 10, 16, 9), open_letters=[decided]).changes] == [
        "overdue", "escalated"]
    reported = letter(5, "level2", [lf(10, check="decision_not_collective")], report=True,
                      status="report_received")
    assert plan(at(2026, 10, 16, 9), open_letters=[reported]).changes == []


# --- new letters, tiers at planning time, repeats by matter --------------------------------------


def test_one_letter_per_unit_and_tier_and_data_quality_to_the_owner() -> None:
    """With ``matter_start: check`` a 二级 check (statutory limit) starts its own 二级 letter."""
    p = plan(at(2026, 9, 24, 9), policy=CHECK_START, new_findings=[
        new(1), new(2), new(3, "case_overdue_statutory", tier="level2"), new(4, unit="MZJ"),
        new(5, "data_quality", tier="reminder")], data_owners={"main": "县政务服务中心信息科"})
    assert [(x.tier, x.recipient, x.finding_ids, x.reason) for x in p.letters] == [
        ("reminder", "县政务服务中心信息科", (5,), "new"),
        ("level3", "县民政局", (4,), "new"),
        ("level2", "县市场监督管理局", (3,), "new"),
        ("level3", "县市场监督管理局", (1, 2), "new"),
    ]
    assert all(x.matter_id is None for x in p.letters)  # each starts a matter of its own


def test_a_new_matter_starts_at_level3_whatever_its_checks_tier() -> None:
    """Seed 004:68 (第十一条): 随时预警 sends a 三级 letter; the finding keeps its severity.

    Statutory-limit overdue (二级 check) and a 一级 finding join the unit's one
    三级 letter; a reminder (提醒) stays a reminder, a data-quality notice a notice.
    """
    p = plan(at(2026, 9, 24, 9), new_findings=[
        new(1), new(3, "case_overdue_statutory", tier="level2"),
        new(6, "decision_not_collective", tier="level1", item=None),
        new(7, "case_due_soon", tier="reminder"), new(8, "case_overdue_statutory", unit="MZJ", tier="level2"),
        new(9, "data_quality", tier="reminder")], data_owners={"main": "县政务服务中心信息科"})
    assert [(x.tier, x.recipient, x.finding_ids, x.reason) for x in p.letters] == [
        ("reminder", "县政务服务中心信息科", (9,), "new"),
        ("level3", "县民政局", (8,), "new"),
        ("level3", "县市场监督管理局", (1, 3, 6), "new"),
        ("reminder", "县市场监督管理局", (7,), "new"),
    ]


def test_a_matter_climbs_one_rung_at_a_time_from_level3() -> None:
    """A 二级 check ignored throughout: 三级 (28 Sep) → 二级 → 一级, never 二级 → 一级 in one step.

    28 Sep + 10 working days → 16 Oct (国庆 1–7 Oct, Sat 10 Oct worked); the
    二级 issued Mon 19 Oct + 10 → 2 Nov; the 一级 at the first cycle after, 9 Nov.
    """
    [first] = plan(at(2026, 9, 28, 9), new_findings=[new(1, "case_overdue_statutory", tier="level2")]).letters
    assert (first.tier, first.reason) == ("level3", "new")
    l3 = letter(1, "level3", [lf(1, check="case_overdue_statutory")], rectify_by=dt.date(2026, 10, 16))
    [second] = plan(at(2026, 10, 19, 9), open_letters=[l3]).letters
    assert (second.tier, second.cites, second.matter_id) == ("level2", 1, 1)
    l2 = letter(2, "level2", [lf(1, check="case_overdue_statutory")], rectify_by=dt.date(2026, 11, 2),
                matter=1)
    [third] = plan(at(2026, 11, 9, 9), open_letters=[l2]).letters
    assert (third.tier, third.cites, third.matter_id, third.reason) == ("level1", 2, 1, "escalation")


def test_tier_overrides_are_applied_at_planning_time() -> None:
    policy = TiersConfig(overrides=[TierOverride(match=TierMatch(check="case_overdue", unit_id="MZJ"),
                                                 tier="level2")])
    p = plan(at(2026, 9, 24, 9), policy=policy, new_findings=[new(1, unit="MZJ"), new(2)])
    assert [(x.unit_id, x.tier) for x in p.letters] == [("MZJ", "level2"), ("SJJ", "level3")]
    # an override is the office's deliberate choice: it sets the start even above 三级
    policy = TiersConfig(overrides=[TierOverride(match=TierMatch(check="case_overdue_statutory"),
                                                 tier="level2")])
    p = plan(at(2026, 9, 24, 9), policy=policy,
             new_findings=[new(1, "case_overdue_statutory", tier="level2"),
                           new(2, "decision_not_collective", tier="level2", item=None)])
    assert [(x.tier, x.finding_ids) for x in p.letters] == [("level2", (1,)), ("level3", (2,))]


def test_repeat_counts_matters_not_letters() -> None:
    """A 三级 letter and its own escalation to 二级 and 一级 are one matter: no 从重."""
    one_matter = [PastLetter("SJJ", 7, "level3", at(2026, 3, 1, 9)),
                  PastLetter("SJJ", 7, "level2", at(2026, 3, 20, 9)),
                  PastLetter("SJJ", 7, "level1", at(2026, 4, 10, 9))]
    p = plan(at(2026, 9, 24, 9), new_findings=[new(1)], history=one_matter)
    assert [(x.tier, x.reason, x.serious_matters) for x in p.letters] == [("level3", "new", 1)]
    two = [*one_matter, PastLetter("SJJ", 9, "level2", at(2026, 6, 1, 9))]
    p = plan(at(2026, 9, 24, 9), new_findings=[new(1), new(2, "case_overdue_statutory", tier="level2")],
             history=two)
    # 2次以上 includes two (seed 000:150); both groups lifted to one level1 letter
    assert [(x.tier, x.reason, x.finding_ids, x.serious_matters) for x in p.letters] == [
        ("level1", "repeat", (1, 2), 2)]


def test_repeat_window_and_level3_matters() -> None:
    history = [PastLetter("SJJ", 1, "level2", at(2025, 9, 23, 9)),  # 12 months before 24 Sep: out
               PastLetter("SJJ", 2, "level2", at(2026, 1, 10, 9)),
               PastLetter("SJJ", 3, "level3", at(2026, 2, 10, 9))]  # never serious: does not count
    p = plan(at(2026, 9, 24, 9), new_findings=[new(1)], history=history)
    assert [(x.tier, x.serious_matters) for x in p.letters] == [("level3", 1)]
    history[0] = PastLetter("SJJ", 1, "level2", at(2025, 9, 24, 9))  # exactly 12 months: in
    p = plan(at(2026, 9, 24, 9), new_findings=[new(1)], history=history)
    assert [(x.tier, x.reason) for x in p.letters] == [("level1", "repeat")]


def test_an_explained_finding_is_not_lettered_again_unless_its_facts_change() -> None:
    f = new(1)
    p = plan(at(2026, 9, 24, 9), new_findings=[f], explained={"fp1": "facts1"})
    assert (p.letters, p.skipped_explained) == ([], ["fp1"])
    p = plan(at(2026, 9, 24, 9), new_findings=[f], explained={"fp1": "older facts"})
    assert [x.finding_ids for x in p.letters] == [(1,)]


def test_facts_digest_ignores_how_far_overdue_but_not_the_deadline() -> None:
    d = at(2026, 9, 30, 23, 59, 59)
    base = facts_digest("case_overdue", "A", "SJJ", "X", d)
    assert base == facts_digest("case_overdue", "A", "SJJ", "X", d)
    assert base != facts_digest("case_overdue", "A", "SJJ", "X", at(2026, 10, 9, 23, 59, 59))
    assert base != facts_digest("case_overdue", "A", "MZJ", "X", d)
