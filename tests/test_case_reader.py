"""The cases reader: children attached (sorted), bad child rows reported, case problems first.

Runs on each source engine, since the child streams are merge-joined in
binary key order and the values come straight from each driver.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sunlight.monitor.readers import READERS, ReadContext
from sunlight.monitor.records.base import RowProblem
from sunlight.monitor.records.cases import CaseRecord
from sunlight.monitor.settings import SourceConfig
from sunlight.monitor.sources import Source
from tests.conftest import TZ, SourceDB, at


def _case(case_id: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "case_id": case_id, "unit_id": "MZJ", "item_code": "MZ-001", "item_name": "最低生活保障审批",
        "accepted_at": dt.datetime(2026, 9, 1, 9, 0), "promised_limit": Decimal(15),
        "statutory_limit": Decimal(30), "limit_unit": "workday",
    }
    row.update(kw)
    return row


def _read(db: SourceDB) -> dict[str, CaseRecord | RowProblem]:
    src = Source("main", SourceConfig(url=db.url))
    try:
        items = list(READERS["cases"](src, ReadContext(TZ, None)))
    finally:
        src.close()
    return {(i.case_id if isinstance(i, CaseRecord) else i.key): i for i in items}


def test_children_attached_sorted_and_bad_children_reported(source_db: SourceDB) -> None:
    source_db.load("cases", [
        _case("A1"),
        _case("A2"),
        _case("A3", accepted_at=None),  # bad case row *and* a bad pause: the case is reported
        _case("A4"),
    ])
    source_db.load("case_pauses", [
        {"case_id": "A1", "kind": "supplement", "started_at": dt.datetime(2026, 9, 10, 9),
         "ended_at": dt.datetime(2026, 9, 11, 9)},
        {"case_id": "A1", "kind": "special_procedure", "started_at": dt.datetime(2026, 9, 3, 9),
         "ended_at": dt.datetime(2026, 9, 4, 9)},
        {"case_id": "A2", "kind": "supplement", "started_at": dt.datetime(2026, 9, 5, 9),
         "ended_at": dt.datetime(2026, 9, 2, 9)},  # ends before it starts
        {"case_id": "A3", "kind": "supplement", "started_at": dt.datetime(2026, 9, 5, 9),
         "ended_at": dt.datetime(2026, 9, 2, 9)},
    ])
    source_db.load("case_extensions", [
        {"case_id": "A1", "extra": Decimal(5), "approved_by": "局长 郑国强",
         "approved_at": dt.datetime(2026, 9, 15, 9), "reason": "需现场核查"},
    ])
    source_db.load("case_steps", [
        {"case_id": "A1", "seq": 2, "name": "审查", "started_at": dt.datetime(2026, 9, 2, 9),
         "step_limit": Decimal(5), "limit_unit": "workday"},
        {"case_id": "A1", "seq": 1, "name": "受理", "started_at": dt.datetime(2026, 9, 1, 9),
         "finished_at": dt.datetime(2026, 9, 2, 9), "step_limit": Decimal(1),
         "limit_unit": "workday"},
    ])
    got = _read(source_db)
    assert sorted(got) == ["A1", "A2", "A3", "A4"]

    a1 = got["A1"]
    assert isinstance(a1, CaseRecord)
    assert [p.started_at for p in a1.pauses] == [at(2026, 9, 3, 9), at(2026, 9, 10, 9)]
    assert [p.kind for p in a1.pauses] == ["special_procedure", "supplement"]
    assert [(s.seq, s.name) for s in a1.steps] == [(1, "受理"), (2, "审查")]
    assert [(e.extra, e.approved_by) for e in a1.extensions] == [(Decimal(5), "局长 郑国强")]

    a2 = got["A2"]
    assert isinstance(a2, RowProblem)
    assert (a2.entity, a2.unit_id, a2.field) == ("case_pauses", "MZJ", "ended_at")

    a3 = got["A3"]
    assert isinstance(a3, RowProblem)
    assert (a3.entity, a3.field) == ("cases", "accepted_at")

    a4 = got["A4"]
    assert isinstance(a4, CaseRecord)
    assert (a4.pauses, a4.extensions, a4.steps) == ((), (), ())
    assert a4.accepted_at == at(2026, 9, 1, 9)
