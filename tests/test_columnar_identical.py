"""The columnar case evaluation gives the record path's findings, field by field, on three engines.

The same generated cases (pauses, open pauses, extensions with and without
approval, steps, refusals, bad rows) plus rows built to reach every shape the
columnar path hands over (several pauses or extensions, an hour limit with a
pause, a fractional limit, a pause that ends the day it starts, a case accepted
after the as-of time) are scanned twice on each engine, ``columnar: true`` and
``columnar: false``, at several instants over two months of cycles; every
finding must be equal, and the columnar scans must have evaluated most cases
themselves (``SourceOutcome.handed_over``).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from decimal import Decimal
from typing import Any

import pytest

from sunlight.monitor.columnar import fetch
from sunlight.monitor.columnar import scan as columnar_scan
from sunlight.monitor.configure import load_settings
from sunlight.monitor.demo import cases as sample
from sunlight.monitor.engine import Engine, SourceOutcome
from sunlight.monitor.metrics import CaseTallies
from tests.conftest import SourceDB, at

CHECKS = """\
checks:
  case_due_soon: {warn_remaining: 2}
  extension_invalid: {max_extension: 10}
  overrides:
    - match: {item_code: YJ-002}
      case_due_soon: {warn_remaining: 5}
    - match: {item_code: SJ-002}
      case_due_soon: {warn_remaining: 30}
    - match: {unit_kind: township}
      step_overdue: {enabled: false}
"""

#: as-of instants over two months of daily cycles, holidays and a make-up Saturday included
INSTANTS = [at(2026, 9, 24, 9), at(2026, 10, 1, 0), at(2026, 10, 10, 9), at(2026, 10, 12, 23, 59),
            at(2026, 11, 2, 8, 30), at(2026, 11, 16, 9), at(2026, 12, 1, 17)]


def _case(case_id: str, **kw: Any) -> dict[str, Any]:
    row = {"case_id": case_id, "unit_id": "MZJ", "item_code": "MZ-001", "item_name": "最低生活保障审批",
           "handler": "王芳", "accepted_at": dt.datetime(2026, 9, 24, 10), "promised_limit": Decimal(5),
           "statutory_limit": Decimal(10), "limit_unit": "workday"}
    row.update(kw)
    return row


def shapes() -> dict[str, list[dict[str, Any]]]:
    """Rows for the shapes the columnar path hands over, and some it evaluates at their edges."""
    cases = [
        _case("Z001"),  # accepted Thu 24 Sep 2026, 5 working days: due end of Fri 9 Oct (time-rules.md)
        _case("Z002", completed_at=dt.datetime(2026, 10, 10, 9), outcome="approved"),  # make-up Saturday
        _case("Z003"),  # two pauses
        _case("Z004"),  # two extensions, one beyond the maximum
        _case("Z005", item_code="SJ-002", unit_id="SJJ", promised_limit=Decimal(24),
              statutory_limit=None, limit_unit="hour"),  # an hour limit with a pause
        _case("Z006", item_code="SJ-002", unit_id="SJJ", promised_limit=Decimal(24),
              statutory_limit=None, limit_unit="hour", accepted_at=dt.datetime(2026, 10, 9, 16)),
        _case("Z007", promised_limit=Decimal("2.5")),  # fractional: rounded up by the record path
        _case("Z008"),  # a pause that ends on the day it starts
        _case("Z009", accepted_at=dt.datetime(2026, 11, 20, 9)),  # after some as-of instants
        _case("Z010", limit_unit="day", promised_limit=Decimal(3),
              accepted_at=dt.datetime(2026, 9, 28, 9)),  # day 3 is 1 Oct, a holiday: rolls to 8 Oct
        _case("Z011", completed_at=dt.datetime(2026, 10, 20, 9), outcome="refused"),  # no reason
        _case("Z012", limit_unit="WorkDay"),  # case and spacing of a choice
        _case("Z013", promised_limit=Decimal(0)),
        _case("Z014"),  # an open pause
        _case("Z015"),  # one approved extension within the maximum, approved after some instants
        _case("Z016", unit_id=" MZJ "),
        _case("Z017", limit_unit="fortnight"),  # not a unit: data quality
        # hostile rows (issue 10, item 4): read by the record path, whatever the columnar path says
        _case("Z018", item_name="最低\x07生活保障审批"),  # a control character: cleaned, a notice
        _case("Z019", completed_at=dt.datetime(2026, 10, 20, 9), outcome="refused",
              outcome_reason="不符合条件" * 90),  # 450 characters: longer than a name
        _case("Z020", promised_limit=Decimal(9000)),  # beyond the calendar: data quality
        _case("Z021", handler="王\t芳"),  # a tab in a name
        _case("", item_name="甲"),  # keyless (the key is a primary key here: one such row)
    ]
    pauses = [
        {"case_id": "Z003", "kind": "supplement", "started_at": dt.datetime(2026, 9, 25, 9),
         "ended_at": dt.datetime(2026, 9, 29, 9)},
        {"case_id": "Z003", "kind": "supplement", "started_at": dt.datetime(2026, 10, 9, 9),
         "ended_at": dt.datetime(2026, 10, 13, 9)},
        {"case_id": "Z005", "kind": "special_procedure", "started_at": dt.datetime(2026, 9, 24, 15),
         "ended_at": dt.datetime(2026, 9, 25, 15)},
        {"case_id": "Z008", "kind": "supplement", "started_at": dt.datetime(2026, 9, 29, 9),
         "ended_at": dt.datetime(2026, 9, 29, 17)},
        {"case_id": "Z014", "kind": "special_procedure", "started_at": dt.datetime(2026, 9, 29, 9),
         "ended_at": None},
        # orphans: before the first case, between cases (across batches), after the last
        {"case_id": "A-ORPHAN", "kind": "supplement", "started_at": dt.datetime(2026, 9, 25, 9),
         "ended_at": None},
        {"case_id": "MZJ~ORPHAN", "kind": "supplement", "started_at": dt.datetime(2026, 9, 25, 9),
         "ended_at": None},
        {"case_id": "ZZZ-ORPHAN", "kind": "supplement", "started_at": dt.datetime(2026, 9, 25, 9),
         "ended_at": None},
    ]
    extensions = [
        {"case_id": "Z004", "extra": Decimal(5), "approved_by": "局长 郑国强",
         "approved_at": dt.datetime(2026, 9, 30, 9), "reason": "需现场核查"},
        {"case_id": "Z004", "extra": Decimal(8), "approved_by": "局长 郑国强",
         "approved_at": dt.datetime(2026, 10, 9, 9), "reason": "再次核查"},
        {"case_id": "Z015", "extra": Decimal(5), "approved_by": "局长 马永红",
         "approved_at": dt.datetime(2026, 10, 12, 9), "reason": "需现场核查"},
    ]
    return {"cases": cases, "case_pauses": pauses, "case_extensions": extensions}


def load(db: SourceDB) -> None:
    db.load("units", [{"unit_id": u, "name": n, "kind": k} for u, n, k in sample.UNITS])
    completed: list[dict[str, Any]] = []
    for batch in sample.generate(1500, seed=11, first=dt.date(2026, 8, 3), last=dt.date(2026, 11, 27)):
        db.load("cases", batch.cases)
        db.load("case_pauses", batch.pauses)
        db.load("case_extensions", batch.extensions)
        db.load("case_steps", batch.steps)
        completed.extend(c for c in batch.cases if c["completed_at"] is not None)
    db.load("cases", sample.BAD_CASES)
    # result notices (case_result_unpublished) for a third of the completed cases, early and late
    pubs = [{"publication_id": f"P{i:05d}", "unit_id": c["unit_id"], "subject": "case_result",
             "ref_id": c["case_id"], "published_at": c["completed_at"] + dt.timedelta(days=i % 13)}
            for i, c in enumerate(completed) if i % 3 == 0]
    db.load("publications", pubs)
    for table, rows in shapes().items():
        db.load(table, rows)


def scan(db: SourceDB, write_config: Any, columnar: bool, when: dt.datetime,
         tallies: CaseTallies | None = None) -> tuple[list[str], SourceOutcome]:
    cfg = write_config(db.url, f"    columnar: {'true' if columnar else 'false'}\n{CHECKS}",
                       name=f"{db.kind}-{columnar}.yaml")
    out: list[str] = []
    engine = Engine(load_settings(cfg), watchers=[tallies] if tallies else [])
    try:
        [outcome] = engine.scan(when, lambda f: out.append(json.dumps(f.to_json(), sort_keys=True,
                                                                       ensure_ascii=False)))
    finally:
        engine.close()
    assert outcome.ok, outcome.error
    return sorted(out), outcome


def _same(db: SourceDB, write_config: Any) -> None:
    load(db)
    seen: set[str] = set()
    for when in INSTANTS:
        ref_tally, col_tally = CaseTallies(), CaseTallies()
        reference, ref_out = scan(db, write_config, False, when, ref_tally)
        columnar, col_out = scan(db, write_config, True, when, col_tally)
        # the daemon's case figures (metrics) agree too: counted column by column for most cases
        [ref_fig], [col_fig] = ref_tally.snapshot().values(), col_tally.snapshot().values()
        for name in ("open", "overdue", "completed", "on_time"):
            assert +getattr(col_fig, name) == +getattr(ref_fig, name), f"{db.kind} at {when}: {name}"
        assert sum(ref_fig.open.values()) + sum(ref_fig.completed.values()) > 0
        assert columnar == reference, f"{db.kind} at {when}: the columnar findings differ"
        assert col_out.rows_read == ref_out.rows_read
        assert col_out.findings == ref_out.findings
        assert ref_out.columnar_rows == 0
        # every case was read column by column; the record path saw the cases with a finding
        # and few others (the decision may only err on the side of handing a case over)
        assert col_out.columnar_rows == ref_out.rows_read["cases"]
        found = {json.loads(x)["subject"].split("#")[0] for x in reference}
        assert col_out.handed_over - len(found) < col_out.columnar_rows * 0.2
        seen |= {json.loads(x)["check"] for x in reference}
    assert {"case_overdue", "case_overdue_statutory", "case_due_soon", "step_overdue",
            "extension_invalid", "refusal_without_reason", "repeated_supplement",
            "case_result_unpublished", "data_quality"} <= seen


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of a few hundred rows, so that keys and children cross batch boundaries."""
    monkeypatch.setattr(fetch, "BATCH_ROWS", 300)
    monkeypatch.setattr(fetch, "BATCH_BYTES", 16_384)
    monkeypatch.setattr(columnar_scan, "DECIDE_ROWS", 700)  # a decision over joined batches


def test_columnar_identical_sqlite(sqlite_db: SourceDB, write_config: Any) -> None:
    _same(sqlite_db, write_config)


@pytest.mark.postgres
def test_columnar_identical_postgres(postgres_db: SourceDB, write_config: Any) -> None:
    _same(postgres_db, write_config)


@pytest.mark.mariadb
def test_columnar_identical_mariadb(mariadb_db: SourceDB, write_config: Any) -> None:
    _same(mariadb_db, write_config)


@pytest.mark.parametrize("columnar", [True, False])
def test_progress_reports_rows_as_they_are_read(sqlite_db: SourceDB, write_config: Any,
                                                columnar: bool) -> None:
    """The progress hook (terminal bar, daemon gauge) sees the rows grow to what the scan read."""
    sqlite_db.load("units", [{"unit_id": u, "name": n, "kind": k} for u, n, k in sample.UNITS])
    for batch in sample.generate(5000, seed=3):
        sqlite_db.load("cases", batch.cases)
        sqlite_db.load("case_pauses", batch.pauses)
    cfg = write_config(sqlite_db.url,
                       f"    columnar: {'true' if columnar else 'false'}\n    chunk_size: 1000\n")
    calls: list[tuple[str, str, int]] = []
    engine = Engine(load_settings(cfg), progress=lambda *a: calls.append(a))
    try:
        [outcome] = engine.scan(at(2026, 11, 16, 9), lambda f: None)
    finally:
        engine.close()
    cases = [n for src, entity, n in calls if src == "main" and entity == "cases"]
    assert cases == sorted(cases) and len(cases) >= 2
    assert cases[-1] == outcome.rows_read["cases"] == 5000
    assert (outcome.columnar_rows > 0) is columnar


def test_scan_rows_gauge_and_terminal_bar(capsys: pytest.CaptureFixture[str]) -> None:
    from prometheus_client import generate_latest

    from sunlight.monitor.metrics import Metrics
    from sunlight.monitor.progress import terminal_progress

    m = Metrics("test")
    m.scan_progress("approvals", "cases", 40_000)
    assert 'sunlight_scan_rows_read{entity="cases",source="approvals"} 40000.0' in \
        generate_latest(m.registry).decode()
    from rich.console import Console

    with terminal_progress(enabled=True, console=Console(file=sys.stderr, force_terminal=True)) as hook:
        assert hook is not None
        hook.rows("approvals", "cases", 20_000)
        sys.stdout.write('{"check": "case_overdue"}\n')  # a finding of scan --format json
        hook.rows("approvals", "cases", 40_000)
    captured = capsys.readouterr()
    assert "approvals · cases" in captured.err and "40,000" in captured.err
    # the findings stay on stdout, whole: the bar never takes them over
    assert captured.out == '{"check": "case_overdue"}\n'
    assert "case_overdue" not in captured.err
    with terminal_progress(enabled=False) as hook:
        assert hook is None


def test_a_failing_decision_hands_the_batch_to_the_record_path(
        sqlite_db: SourceDB, write_config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch the columnar decision cannot evaluate is read record by record: nothing is lost."""
    from sunlight.monitor.columnar import scan as columnar_scan

    load(sqlite_db)
    when = at(2026, 11, 16, 9)
    ref_tally, col_tally = CaseTallies(), CaseTallies()
    reference, _ = scan(sqlite_db, write_config, False, when, ref_tally)

    def broken(*_a: Any, **_k: Any) -> Any:
        raise ValueError("a shape nobody foresaw")

    monkeypatch.setattr(columnar_scan, "decide", broken)
    columnar, out = scan(sqlite_db, write_config, True, when, col_tally)
    assert columnar == reference
    assert out.handed_over == out.columnar_rows == out.rows_read["cases"]
    [ref_fig], [col_fig] = ref_tally.snapshot().values(), col_tally.snapshot().values()
    assert (+col_fig.open, +col_fig.overdue, +col_fig.on_time) == \
        (+ref_fig.open, +ref_fig.overdue, +ref_fig.on_time)


def _plain(v: Any) -> Any:
    """A value with everything that could tell two equal values apart: times by wall, zone and fold."""
    if isinstance(v, dt.datetime):
        return ("t", v.isoformat(), v.fold, str(v.tzinfo), v.utcoffset())
    if isinstance(v, Decimal):
        return ("d", v)  # equal by value: no check prints a limit unnormalised (zh_number, json_number)
    if isinstance(v, tuple):
        return tuple(_plain(x) for x in v)
    if hasattr(v, "__dataclass_fields__"):
        return (type(v).__name__, *((f, _plain(getattr(v, f))) for f in v.__dataclass_fields__))
    return (type(v).__name__, v)


def _records_same(db: SourceDB, write_config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every record built from the columns is the record the reader reads from the same row."""
    import dataclasses

    from sunlight.monitor.columnar import scan as columnar_scan
    from sunlight.monitor.readers import ReadContext, read_cases
    from sunlight.monitor.records.cases import CaseRecord

    load(db)
    built: list[tuple[CaseRecord, tuple[str, ...] | None]] = []
    original = columnar_scan._build

    def spy(decided: Any, steps: Any, rows: Any, tz: Any, place: Any) -> None:
        def keep(placed: tuple[int, Any, tuple[str, ...] | None]) -> None:
            built.append((placed[1], placed[2]))
            place(placed)
        original(decided, steps, rows, tz, keep)

    monkeypatch.setattr(columnar_scan, "_build", spy)
    cfg = write_config(db.url, f"    columnar: true\n{CHECKS}", name=f"{db.kind}-records.yaml")
    engine = Engine(load_settings(cfg))
    try:
        src = engine.sources["main"]
        reference = {r.case_id: r for r in read_cases(src, ReadContext(engine.settings.tz, None))
                     if isinstance(r, CaseRecord)}
        shapes = {"pause": 0, "pause open at the as-of time": 0, "extension": 0,
                  "unapproved extension": 0, "extension beyond the maximum": 0, "steps": 0,
                  "completed": 0, "completed after the as-of time": 0, "hour limit": 0,
                  "day limit": 0, "no statutory limit": 0}
        for when in (at(2026, 10, 1, 0), at(2026, 10, 10, 9), at(2026, 11, 16, 9), at(2026, 12, 1, 17)):
            built.clear()
            [outcome] = engine.scan(when, lambda f: None)
            assert outcome.ok, outcome.error
            assert len(built) > 100  # most flagged cases are built, not replayed
            for record, chosen in built:
                ref = reference[record.case_id]
                if "step_overdue" not in (chosen or ()):  # the steps matter to that check only
                    assert record.steps == ()
                    ref = dataclasses.replace(ref, steps=())
                assert record == ref, record.case_id
                assert _plain(record) == _plain(ref), record.case_id
                shapes["pause"] += bool(record.pauses)
                shapes["pause open at the as-of time"] += any(
                    p.started_at <= when and (p.ended_at is None or p.ended_at > when)
                    for p in record.pauses)
                shapes["extension"] += bool(record.extensions)
                shapes["unapproved extension"] += any(not e.approved_by for e in record.extensions)
                shapes["extension beyond the maximum"] += any(e.extra > 10 for e in record.extensions)
                shapes["steps"] += bool(record.steps)
                shapes["completed"] += record.completed_at is not None
                shapes["completed after the as-of time"] += (record.completed_at or when) > when
                shapes["hour limit"] += record.limit_unit.value == "hour"
                shapes["day limit"] += record.limit_unit.value == "day"
                shapes["no statutory limit"] += record.statutory_limit is None
        # every kind of child and of limit, and completed cases, were built, not replayed
        assert all(shapes.values()), shapes
    finally:
        engine.close()


def test_built_records_sqlite(sqlite_db: SourceDB, write_config: Any,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    _records_same(sqlite_db, write_config, monkeypatch)


@pytest.mark.postgres
def test_built_records_postgres(postgres_db: SourceDB, write_config: Any,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    _records_same(postgres_db, write_config, monkeypatch)


@pytest.mark.mariadb
def test_built_records_mariadb(mariadb_db: SourceDB, write_config: Any,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    _records_same(mariadb_db, write_config, monkeypatch)


def test_built_times_are_the_readers_times() -> None:
    """Aware driver times keep their instant (and the fold of an ambiguous wall time); naive ones
    are read in the zone, as records.base.timestamp reads them."""
    from zoneinfo import ZoneInfo

    import polars as pl

    from sunlight.monitor.columnar.records import _times
    from sunlight.monitor.records.base import timestamp

    ny = ZoneInfo("America/New_York")
    utc = dt.UTC
    aware = [dt.datetime(2026, 11, 1, 5, 30, tzinfo=utc),  # 01:30 EDT (fold 0)
             dt.datetime(2026, 11, 1, 6, 30, tzinfo=utc),  # 01:30 EST (fold 1)
             dt.datetime(2026, 3, 8, 12, 0, 0, 123456, tzinfo=utc), None]
    naive = [dt.datetime(2026, 11, 1, 1, 30), dt.datetime(2026, 3, 8, 2, 30), None]
    for values in (aware, naive):
        s = pl.Series("x", values)
        wall = s.dt.convert_time_zone(str(ny)).dt.replace_time_zone(None) if s.dtype.time_zone \
            else s  # type: ignore[attr-defined]
        frame = pl.DataFrame({"x": s, "w": wall.dt.epoch("us")})
        got = _times(frame, "w", "x", ny)
        want = [None if v is None else timestamp({"x": v}, "x", ny) for v in values]
        assert [_plain(g) for g in got] == [_plain(w) for w in want]
    assert _times(pl.DataFrame({"x": pl.Series("x", aware)}).with_columns(w=pl.lit(0)), "w", "x",
                  ny)[1].fold == 1  # type: ignore[union-attr]
