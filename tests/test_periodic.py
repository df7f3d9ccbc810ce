"""定期预警 (seed 004:68): a periodic letter per unit from the period's assessment.

Dates by hand: Q3 2026 ends Wed 30 Sep; 国庆 1–7 Oct are off and Sat 10 Oct is
worked, so 5 working days after the quarter are 8, 9, Sat 10, 12, 13 Oct: the
letters go out at the first cycle on or after 13 Oct.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from sunlight.alerts.config import PeriodicConfig, PeriodicThreshold
from sunlight.alerts.letters import issue_letters
from sunlight.alerts.planner import Assessment, period_of, periodic_tier, plan_periodic, previous_period
from sunlight.alerts.render import Renderer, letter_view
from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.store.letters_models import LetterRow
from tests.test_letters_kit import (
    State,
    at,
    finding,
    quick_settings,
    record,
    settings_for,
    state_fixture,  # noqa: F401 - the ``state`` fixture
)

CAL = WorkCalendar()
NAMES = {"SJJ": "县市场监督管理局", "MZJ": "县民政局", "ZJJ": "县住房和城乡建设局"}


def names(ids):
    return {i: NAMES[i] for i in ids if i in NAMES}


def test_periods() -> None:
    q = period_of("quarter", dt.date(2026, 11, 16))
    assert (q.key, q.label, q.start, q.end) == ("2026-Q4", "2026年第四季度", dt.date(2026, 10, 1),
                                                dt.date(2026, 12, 31))
    m = previous_period("month", dt.date(2026, 3, 5))
    assert (m.key, m.start, m.end) == ("2026-02", dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    h = previous_period("half_year", dt.date(2027, 1, 8))
    assert (h.key, h.label, h.end) == ("2026-H2", "2026年下半年", dt.date(2026, 12, 31))
    y = previous_period("year", dt.date(2027, 1, 8))
    assert (y.key, y.label, y.start) == ("2026", "2026年度", dt.date(2026, 1, 1))


def test_the_most_severe_tier_reached_wins_and_once_per_unit() -> None:
    cfg = PeriodicConfig(every="quarter")  # defaults: 一级 2 unrectified, 二级 1 or 2 serious, 三级 3
    assert periodic_tier(cfg.thresholds, Assessment("A", findings=2)) is None
    assert periodic_tier(cfg.thresholds, Assessment("A", findings=3)) == "level3"
    assert periodic_tier(cfg.thresholds, Assessment("A", findings=9, serious_findings=2)) == "level2"
    assert periodic_tier(cfg.thresholds, Assessment("A", letters_unrectified=2)) == "level1"
    rate = {"level3": PeriodicThreshold(on_time_below=0.9)}
    assert periodic_tier(rate, Assessment("A", on_time_rate=0.89)) == "level3"
    assert periodic_tier(rate, Assessment("A", on_time_rate=0.9)) is None
    p = previous_period("quarter", dt.date(2026, 10, 13))
    planned = plan_periodic(p, cfg, [Assessment("B", findings=3), Assessment("A", letters_unrectified=1),
                                     Assessment("C", findings=1)], already={"B"}, unit_names={"A": "甲局"})
    assert [(x.unit_id, x.recipient, x.tier, x.reason, x.period, x.finding_ids) for x in planned] == [
        ("A", "甲局", "level2", "periodic", "2026-Q3", ())]


def test_a_quarter_after_its_end_gives_one_periodic_letter_per_unit(state: State, tmp_path: Path) -> None:
    s = quick_settings(settings_for(tmp_path, state.url, "letters:\n  number_prefix: 监预\n"
                                    "  periodic: {every: quarter, issue_after_workdays: 5}\n"))
    record(state.engine, [finding("case_overdue", f"SJ-{i}", "SJJ") for i in range(3)]
           + [finding("case_overdue_statutory", f"MZ-{i}", "MZJ", tier="level2") for i in range(2)]
           + [finding("case_overdue", "ZJ-1", "ZJJ")], at(2026, 8, 10, 9))
    first = issue_letters(state.engine, s, CAL, at(2026, 8, 10, 9), names).issued
    assert [x.reason for x in first] == ["new"] * 3
    record(state.engine, [], at(2026, 8, 20, 9))  # all rectified: nothing escalates later
    assert issue_letters(state.engine, s, CAL, at(2026, 10, 12, 9), names).issued == []  # not yet due
    due = issue_letters(state.engine, s, CAL, at(2026, 10, 13, 9), names).issued
    assert [(x.recipient, x.tier, x.reason, x.findings) for x in due] == [
        ("县民政局", "level2", "periodic", 0), ("县市场监督管理局", "level3", "periodic", 0)]
    assert issue_letters(state.engine, s, CAL, at(2026, 10, 20, 9), names).issued == []  # once
    with state.engine.connect() as conn:
        row = conn.execute(sa.select(LetterRow).where(LetterRow.id == due[0].id)).one()
    assert (row.period, row.assessment["serious_findings"], row.assessment["findings"]) == ("2026-Q3", 2, 2)
    text = Renderer(s).text(letter_view(state.engine, s, row.id))
    assert "关于县民政局2026年第三季度廉政风险定期预警的二级预警函" in text
    assert "新发现问题2项，其中二级以上2项" in text and "书面整改报告" in text
