"""Three months of weekly ``sunlight cycle --at`` runs with scripted unit behaviour.

Five units, each scripted (the cases' completion dates are the source data,
read as of each cycle; the acts are the office registering what the unit sent):

- 县市场监督管理局 (SJJ) rectifies in time, twice: never escalated;
- 县教育局 (JYJ) completed its case late before the first letter: lettered
  once, rectified from the start, never escalated (the issue's 监预〔2026〕32号);
- 县民政局 (MZJ) ignores every letter: 三级 → 二级 → 一级, one matter, three rungs,
  then 一级 stays overdue. Its case M1 is past its statutory limit too (a 二级
  check): the matter still starts at 三级 (seed 004:68, 随时预警 sends 三级; no
  override), the finding keeps 二级 as its severity, and 一级 comes only after
  the 三级 and the 二级 were both ignored (before this rule it would have
  started at 二级 on 28 Sep and reached 一级 on 19 Oct, after one letter);
- 县住房和城乡建设局 (ZJJ) acknowledges and reports every time but never completes
  the case: escalated the same way (a report is not the rectification);
- 县交通运输局 (JTJ) rectifies every time but offends again: two serious matters
  (二级), then its next new letter is 一级 for the repeat (seed 000:150).

Dates by hand from the 2026 notices (中秋 25–27 Sep; 国庆 1–7 Oct, Sun 20 Sep and
Sat 10 Oct worked):

- Mon 28 Sep + 10 working days: 29, 30 Sep, 8, 9, Sat 10, 12, 13, 14, 15, 16 Oct → 16 Oct
- Mon 19 Oct + 10: 20–23, 26–30 Oct, 2 Nov → 2 Nov
- Mon 26 Oct + 10: 27–30 Oct, 2–6, 9 Nov → 9 Nov
- Mon 9 Nov + 5 (一级): 10–13, 16 Nov → 16 Nov
- Mon 16 Nov + 10: 17–20, 23–27, 30 Nov → 30 Nov
- Mon 30 Nov + 5 (一级): 1–4, 7 Dec → 7 Dec
- case J2 accepted Mon 12 Oct, 5 working days: 13–16, 19 Oct → due 19 Oct (overdue at 26 Oct)
- case S2 accepted Mon 2 Nov, 5: 3–6, 9 Nov → due 9 Nov (overdue at 16 Nov)
- case J3 accepted Mon 16 Nov, 5: 17–20, 23 Nov → due 23 Nov (overdue at 30 Nov)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from sunlight.alerts.lifecycle import Act, apply_act
from sunlight.monitor.demo.schema import create_all
from sunlight.monitor.demo.schema import metadata as canonical
from sunlight.monitor.store import open_store
from sunlight.monitor.store.letters_models import LetterFindingRow, LetterRow
from sunlight.monitor.store.models import FindingRow
from tests.test_letters_kit import at, run_cli

UNITS = [("SJJ", "县市场监督管理局"), ("JYJ", "县教育局"), ("MZJ", "县民政局"),
         ("ZJJ", "县住房和城乡建设局"), ("JTJ", "县交通运输局")]


def case(case_id: str, unit: str, accepted: dt.datetime, completed: dt.datetime | None,
         promised: int = 5, statutory: int | None = None) -> dict:
    return {"case_id": case_id, "unit_id": unit, "item_code": "X-001", "item_name": "行政许可",
            "handler": "张三", "accepted_at": accepted, "promised_limit": promised,
            "statutory_limit": statutory, "limit_unit": "workday", "completed_at": completed,
            "outcome": "approved" if completed else None, "outcome_reason": None, "updated_at": None}


D = dt.datetime
CASES = [
    case("S1", "SJJ", D(2026, 9, 14, 10), D(2026, 10, 14, 10)),  # done before rectify_by 16 Oct
    case("S2", "SJJ", D(2026, 11, 2, 10), D(2026, 11, 27, 10)),  # done before rectify_by 30 Nov
    case("Y1", "JYJ", D(2026, 9, 1, 10), D(2026, 9, 18, 10)),  # completed late before any letter
    case("M1", "MZJ", D(2026, 9, 14, 10), None, statutory=5),  # never completed; past both limits
    case("Z1", "ZJJ", D(2026, 9, 14, 10), None),  # never completed (reports anyway)
    # JTJ: its late cases are 二级 by a tier override (applied when letters are planned)
    case("J1", "JTJ", D(2026, 9, 14, 10), D(2026, 10, 9, 10)),
    case("J2", "JTJ", D(2026, 10, 12, 10), D(2026, 11, 5, 10)),
    case("J3", "JTJ", D(2026, 11, 16, 10), D(2026, 12, 3, 10)),
]

# what the office registers, as of the day the unit's answer arrived: (day, letter, act)
ACTS = [
    (at(2026, 9, 30, 10), "监预〔2026〕4号", "ack"),  # SJJ
    (at(2026, 10, 12, 10), "监预〔2026〕5号", "ack"),  # ZJJ: acknowledges and reports, fixes nothing
    (at(2026, 10, 12, 11), "监预〔2026〕5号", "report"),
    (at(2026, 10, 12, 10), "监预〔2026〕1号", "report"),  # JTJ: J1 completed 9 Oct, report 12 Oct
    (at(2026, 10, 30, 10), "监预〔2026〕7号", "report"),  # ZJJ
    (at(2026, 11, 5, 15), "监预〔2026〕8号", "report"),  # JTJ: J2 completed 5 Nov
    (at(2026, 11, 13, 10), "监预〔2026〕10号", "report"),  # ZJJ, 一级: report and talk, still no fix
    (at(2026, 11, 13, 15), "监预〔2026〕10号", "admonition"),
    (at(2026, 11, 17, 10), "监预〔2026〕11号", "ack"),  # SJJ
    (at(2026, 12, 3, 15), "监预〔2026〕12号", "report"),  # JTJ: J3 completed 3 Dec
    (at(2026, 12, 4, 10), "监预〔2026〕12号", "admonition"),
]

MONDAYS = [at(2026, 9, 28, 9) + dt.timedelta(weeks=w) for w in range(14)]  # 28 Sep … 28 Dec

# every letter of the three months: number → (tier, unit, reason, cites, case ids, final status)
EXPECTED = {
    "监预〔2026〕1号": ("level2", "JTJ", "new", None, ["J1"], "report_received"),
    "监预〔2026〕2号": ("level3", "JYJ", "new", None, ["Y1"], "issued"),
    "监预〔2026〕3号": ("level3", "MZJ", "new", None, ["M1", "M1"], "escalated"),
    "监预〔2026〕4号": ("level3", "SJJ", "new", None, ["S1"], "acknowledged"),
    "监预〔2026〕5号": ("level3", "ZJJ", "new", None, ["Z1"], "escalated"),
    "监预〔2026〕6号": ("level2", "MZJ", "escalation", "监预〔2026〕3号", ["M1", "M1"], "escalated"),
    "监预〔2026〕7号": ("level2", "ZJJ", "escalation", "监预〔2026〕5号", ["Z1"], "escalated"),
    "监预〔2026〕8号": ("level2", "JTJ", "new", None, ["J2"], "report_received"),
    "监预〔2026〕9号": ("level1", "MZJ", "escalation", "监预〔2026〕6号", ["M1", "M1"], "overdue"),
    "监预〔2026〕10号": ("level1", "ZJJ", "escalation", "监预〔2026〕7号", ["Z1"], "overdue"),
    "监预〔2026〕11号": ("level3", "SJJ", "new", None, ["S2"], "acknowledged"),
    "监预〔2026〕12号": ("level1", "JTJ", "repeat", None, ["J3"], "admonition_held"),
}
# the letters each cycle issued, and the rectify_by of each (worked out above)
PER_CYCLE = {
    dt.date(2026, 9, 28): ["1号", "2号", "3号", "4号", "5号"],
    dt.date(2026, 10, 19): ["6号", "7号"],
    dt.date(2026, 10, 26): ["8号"],
    dt.date(2026, 11, 9): ["9号", "10号"],
    dt.date(2026, 11, 16): ["11号"],
    dt.date(2026, 11, 30): ["12号"],
}
RECTIFY_BY = {"1号": dt.date(2026, 10, 16), "3号": dt.date(2026, 10, 16), "6号": dt.date(2026, 11, 2),
              "8号": dt.date(2026, 11, 9), "9号": dt.date(2026, 11, 16), "11号": dt.date(2026, 11, 30),
              "12号": dt.date(2026, 12, 7)}


def build(tmp_path: Path) -> Path:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'approvals.db'}")
    create_all(engine, ["units", "cases"])
    with engine.begin() as conn:
        conn.execute(sa.insert(canonical.tables["units"]),
                     [{"unit_id": u, "name": n, "kind": "department", "parent_id": None} for u, n in UNITS])
        conn.execute(sa.insert(canonical.tables["cases"]), CASES)
    engine.dispose()
    cfg = tmp_path / "sunlight.yaml"
    cfg.write_text(
        f"state:\n  url: sqlite:///{tmp_path / 'state.db'}\n"
        f"sources:\n  approvals:\n    url: sqlite:///{tmp_path / 'approvals.db'}\n"
        "checks:\n  case_due_soon: {enabled: false}\n"
        "tiers:\n  overrides:\n    - match: {check: case_overdue, unit_id: JTJ}\n      tier: level2\n"
        "letters:\n  number_prefix: 监预\n  issuer: 中共示范县纪律检查委员会 示范县监察委员会\n"
        "routes:\n  - to: [printed]\nchannels:\n  printed: {type: folder, path: letters}\n",
        encoding="utf-8")
    return cfg


def test_three_months_of_weekly_cycles_with_scripted_units(tmp_path: Path) -> None:
    cfg = build(tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    issued_per_cycle: dict[dt.date, list[str]] = {}
    pending = sorted(ACTS, key=lambda a: a[0])
    for monday in MONDAYS:
        while pending and pending[0][0] < monday:  # what the units did during the week before
            when, number, action = pending.pop(0)
            apply_act(store, number, Act(action, "纪委办公室 李四", "单位报送", as_of=when,
                                         file="整改报告.pdf" if action == "report" else None))
        with store.connect() as conn:
            before = conn.execute(sa.select(sa.func.max(LetterRow.id))).scalar() or 0
        result = run_cli("cycle", "-c", str(cfg), "--at", monday.isoformat())
        assert result.exit_code == 0, result.output
        with store.connect() as conn:
            new = conn.execute(sa.select(LetterRow.number).where(LetterRow.id > before)
                               .order_by(LetterRow.id)).scalars().all()
        if new:
            issued_per_cycle[monday.date()] = [n.removeprefix("监预〔2026〕") for n in new]
    assert not pending
    assert issued_per_cycle == PER_CYCLE

    with store.connect() as conn:
        letters = {x.number: x for x in conn.execute(sa.select(LetterRow).order_by(LetterRow.id))}
        by_id = {x.id: x for x in letters.values()}
        subjects = {x.number: [s.snapshot["subject"] for s in conn.execute(
            sa.select(LetterFindingRow).where(LetterFindingRow.letter_id == x.id)
            .order_by(LetterFindingRow.id))] for x in letters.values()}
    got = {n: (x.tier, x.unit_id, x.reason,
               by_id[x.cites_letter_id].number if x.cites_letter_id else None, subjects[n], x.status)
           for n, x in letters.items()}
    assert got == EXPECTED
    for short, day in RECTIFY_BY.items():
        assert letters[f"监预〔2026〕{short}"].rectify_by == day, short

    # the units that rectified in time were never escalated, whatever else happened
    for unit in ("SJJ", "JYJ", "JTJ"):
        assert all(x.reason != "escalation" and x.status != "escalated"
                   for x in letters.values() if x.unit_id == unit), unit
    # the one ignoring every letter climbed all three rungs of one matter, in order
    chain = [x for x in letters.values() if x.unit_id == "MZJ"]
    assert [x.tier for x in chain] == ["level3", "level2", "level1"]
    assert {x.matter_id for x in chain} == {chain[0].id}
    assert all(x.checks == "case_overdue,case_overdue_statutory" for x in chain)
    with store.connect() as conn:  # the statutory finding keeps its check's tier as its severity
        severity = dict(conn.execute(sa.select(FindingRow.check_id, FindingRow.tier)
                                     .where(FindingRow.subject == "M1")).all())
    assert severity == {"case_overdue": "level3", "case_overdue_statutory": "level2"}
    # the repeat offender's 一级 came from two distinct serious matters, not from rungs
    jtj = [x for x in letters.values() if x.unit_id == "JTJ"]
    assert len({x.matter_id for x in jtj}) == 3 and jtj[-1].reason == "repeat"
    # the escalated letter's text cites the old number
    text = (tmp_path / "letters" / "监预〔2026〕9号.txt").read_text(encoding="utf-8")
    assert "二级预警函（监预〔2026〕6号）" in text and "M1" in text and "诫勉谈话" in text
    assert run_cli("audit", "verify", "-c", str(cfg)).exit_code == 0
