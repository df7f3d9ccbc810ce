"""Family R: key posts held longer than max_years (003:487, 003:517; the years are ours)."""

from __future__ import annotations

import datetime as dt

from tests.conftest import SourceDB, at
from tests.test_checks_publications import load_once, scan

UNITS = [{"unit_id": "D1", "name": "县民政局", "kind": "department"}]


def tenure(person: str, post: str, risk: str, started: dt.datetime | None,
           ended: dt.datetime | None = None) -> dict:
    return {"person_id": person, "unit_id": "D1", "post": post, "risk_class": risk,
            "started_at": started, "ended_at": ended}


ROWS = [
    tenure("P1", "会计", "A", dt.datetime(2021, 3, 1, 9)),
    tenure("P2", "出纳", "A", dt.datetime(2021, 3, 1, 9), ended=dt.datetime(2026, 2, 1, 9)),
    tenure("P3", "档案管理", "C", dt.datetime(2010, 1, 1, 9)),  # class C: not watched by default
    tenure("P4", "招标采购", "A", dt.datetime(2021, 3, 1, 9), ended=dt.datetime(2026, 6, 1, 9)),
]


def run(db: SourceDB, write_config, when: dt.datetime, extra: str = "") -> list:
    load_once(db, "units", UNITS)
    load_once(db, "post_tenures", ROWS)
    return scan(db, write_config, when, ["post_rotation_due"], extra)


def test_five_years_in_a_class_a_post(sqlite_db: SourceDB, write_config) -> None:
    """Since 1 Mar 2021: five full years on 1 Mar 2026; from 2 Mar it is longer than five."""
    assert run(sqlite_db, write_config, at(2026, 3, 1, 23)) == []
    fs = run(sqlite_db, write_config, at(2026, 3, 2, 9))
    # P4 left on 1 Jun 2026, which has not happened on 2 Mar: still in the post
    assert [(f.subject, f.overdue, f.deadline) for f in fs] == [
        ("P1@D1:会计", 1, at(2026, 3, 1, 23, 59, 59)), ("P4@D1:招标采购", 1, at(2026, 3, 1, 23, 59, 59))]
    assert fs[0].tier == "reminder" and "已超过5年未轮岗交流" in fs[0].summary
    assert [f.subject for f in run(sqlite_db, write_config, at(2026, 7, 1, 9))] == ["P1@D1:会计"]


def test_years_per_class_from_config_and_bad_rows(sqlite_db: SourceDB, write_config) -> None:
    extra = "checks:\n  post_rotation_due: {max_years: {A: 6, C: 10}}\n"
    sqlite_db.load("post_tenures", [*ROWS, tenure("P9", "会计", "A", None),
                                    tenure("P8", "会计", "A", dt.datetime(2026, 3, 1),
                                           ended=dt.datetime(2025, 3, 1))])
    load_once(sqlite_db, "post_tenures", [])
    fs = run(sqlite_db, write_config, at(2026, 3, 2, 9), extra)
    assert [f.subject for f in fs if f.check == "post_rotation_due"] == ["P3@D1:档案管理"]
    assert {(f.evidence["key"], f.evidence["field"]) for f in fs if f.check == "data_quality"} == {
        ("P9", "started_at"), ("P8", "ended_at")}
