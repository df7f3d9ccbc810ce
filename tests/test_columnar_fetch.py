"""The columnar fetch reads the driver's own values; findings stay the record path's.

- SQLite rows as clerks and other programs leave them (times with and without
  fractional seconds, date only, a ``T``, a trailing zone, garbage, a number in a
  time column, a float in a whole-number column, a column whose type changes
  between rows): the columnar scan's findings (data quality included) equal the
  record path's, batch boundaries anywhere; the shapes it can read are read in
  columns, the others handed over.
- :meth:`Batch.rows` gives, for every row, exactly what ``Source.rows`` (the
  record path's read through SQLAlchemy) gives, on the three engines, also for
  a site's query holding a ``%``.
- SQLAlchemy's result processors: none for ``Source._select``'s untyped
  columns; for a typed statement they are applied as SQLAlchemy applies them.
- A SQLite scan never imports pyarrow or ADBC.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sunlight.monitor.columnar import fetch
from sunlight.monitor.columnar import scan as columnar_scan
from sunlight.monitor.demo import cases as sample
from sunlight.monitor.records.cases import CASE_FIELDS, EXTENSION_FIELDS, PAUSE_FIELDS, STEP_FIELDS
from sunlight.monitor.settings import SourceConfig
from sunlight.monitor.sources import Source
from tests.conftest import SourceDB, at
from tests.test_columnar_identical import scan

TABLES = {"cases": CASE_FIELDS, "case_pauses": PAUSE_FIELDS, "case_extensions": EXTENSION_FIELDS,
          "case_steps": STEP_FIELDS}
ACCEPTED = "2026-09-24 10:00:00"  # Thu 24 Sep 2026, 5 working days: overdue on 20 Oct


def _case(case_id: object, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {"case_id": case_id, "unit_id": "MZJ", "item_code": "MZ-001",
                              "item_name": "最低生活保障审批", "handler": "王芳",
                              "accepted_at": ACCEPTED, "promised_limit": 5, "statutory_limit": 10,
                              "limit_unit": "workday"}
    row.update(kw)
    return row


#: (row, who reads it: "columns" — decided from the columns; "record" — handed over whole)
ODD_CASES: list[tuple[dict[str, object], str]] = [
    (_case("T-FRACTION6", accepted_at="2026-09-24 10:00:00.000000"), "columns"),
    (_case("T-NOFRACTION"), "columns"),
    (_case("T-HALFSECOND", accepted_at="2026-09-24 10:00:00.5"), "columns"),
    (_case("T-MINUTES", accepted_at="2026-09-24 10:00"), "columns"),
    (_case("T-DATEONLY", accepted_at="2026-09-24"), "columns"),
    (_case("T-TSEP", accepted_at="2026-09-24T10:00:00"), "columns"),
    (_case("T-TSEP-MIN", accepted_at="2026-09-24T10:00"), "columns"),
    (_case("T-SPACES", accepted_at=" 2026-09-24 10:00:00 "), "columns"),
    (_case("T-ZONE", accepted_at="2026-09-24 10:00:00+08:00"), "record"),  # valid there
    (_case("T-UTC", accepted_at="2026-09-24T02:00:00Z"), "record"),
    (_case("T-7DIGITS", accepted_at="2026-09-24 10:00:00.1234567"), "record"),
    (_case("T-SLASHES", accepted_at="2026/09/24 10:00"), "record"),
    (_case("T-COMPACT", accepted_at="20260924"), "record"),
    (_case("T-LEAPSECOND", accepted_at="2026-09-24 23:59:60"), "record"),  # data quality
    (_case("T-FEB30", accepted_at="2026-02-30"), "record"),
    (_case("T-GARBAGE", accepted_at="下周一"), "record"),
    (_case("T-INT", accepted_at=20260924), "record"),  # a number in a time column
    (_case("T-FLOAT", accepted_at=20260924.5), "record"),
    (_case("T-BLOB", accepted_at=b"2026-09-24"), "record"),
    (_case("T-EMPTY", accepted_at=""), "record"),
    (_case("L-FLOAT", promised_limit=5.0), "columns"),  # a float in a whole-number column
    (_case("L-TEXT", promised_limit="5"), "columns"),
    (_case("L-TEXTFLOAT", promised_limit="5.0"), "columns"),
    (_case("L-STATFLOAT", statutory_limit=10.0), "columns"),
    (_case("L-HALF", promised_limit=5.5), "record"),  # fractional: rounded up there
    (_case("L-HALFTEXT", promised_limit="5.5"), "record"),
    (_case("L-EXP", promised_limit="1e1"), "record"),  # ten, for Decimal()
    (_case("L-ARABIC", promised_limit="٥"), "record"),  # five, for Decimal()
    (_case("L-NEGATIVE", promised_limit=-5), "record"),
    (_case("L-WORD", promised_limit="五"), "record"),
    (_case("L-BLOB", promised_limit=b"5"), "record"),
    (_case(20260001), "columns"),  # an integer key among text keys
    (_case("C-DONE-DATE", completed_at="2026-10-09", outcome="approved"), "columns"),
    (_case("C-DONE-T", completed_at="2026-10-21T09:30", outcome="approved"), "columns"),
    (_case("C-DONE-INT", completed_at=20261009, outcome="approved"), "record"),
    (_case("P-ODD"), "columns"),  # a pause in odd but readable shapes
    (_case("P-BAD"), "record"),  # a pause whose start is a number
    (_case("S-ODD"), "columns"),  # steps with a float and a text step number
    (_case("X-ODD"), "columns"),  # an extension of 3.0 days approved in a 'T' time
]
PAUSES = [("P-ODD", "supplement", "2026-09-25", "2026-09-29T09:00"),
          ("P-BAD", "supplement", 20260925, None)]
EXTENSIONS = [("X-ODD", 3.0, "局长 郑国强", "2026-09-30T09:00", "需现场核查")]
STEPS = [("S-ODD", 1.0, "受理", "王芳", "2026-09-24", "2026-09-25 10:00", 1, "workday"),
         ("S-ODD", "2", "审核", "李强", "2026-09-25T10:00", None, "2", "workday")]


def build_odd_source(path: Path) -> None:
    """Raw sqlite3 and columns without a declared type, so every value stays the type written."""
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE units (unit_id, name, parent_id, kind);"
        f"CREATE TABLE cases ({', '.join(CASE_FIELDS)});"
        f"CREATE TABLE case_pauses ({', '.join(PAUSE_FIELDS)});"
        f"CREATE TABLE case_extensions ({', '.join(EXTENSION_FIELDS)});"
        f"CREATE TABLE case_steps ({', '.join(STEP_FIELDS)});")
    con.executemany("INSERT INTO units VALUES (?, ?, NULL, ?)", sample.UNITS)
    con.executemany(f"INSERT INTO cases VALUES ({', '.join('?' * len(CASE_FIELDS))})",
                    [tuple(row.get(c) for c in CASE_FIELDS) for row, _ in ODD_CASES])
    con.executemany("INSERT INTO case_pauses VALUES (?, ?, ?, ?)", PAUSES)
    con.executemany("INSERT INTO case_extensions VALUES (?, ?, ?, ?, ?)", EXTENSIONS)
    con.executemany("INSERT INTO case_steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)", STEPS)
    con.commit()
    con.close()


@pytest.mark.parametrize("batch_rows", [3, 5000])
def test_odd_sqlite_values_give_the_record_paths_findings(
        tmp_path: Path, write_config: Any, monkeypatch: pytest.MonkeyPatch, batch_rows: int) -> None:
    """Batches of 3 rows: most columns of one type in a batch, some mixed; 5000: all in one."""
    path = tmp_path / "odd.db"
    build_odd_source(path)
    db = SourceDB("sqlite", f"sqlite:///{path}", sa.create_engine(f"sqlite:///{path}"))
    monkeypatch.setattr(fetch, "BATCH_ROWS", batch_rows)
    replayed: set[str] = set()
    original = columnar_scan._replay

    def spy(src: Any, rctx: Any, batch: fetch.Batch, offset: int, rows: list[int],
            *rest: Any) -> None:
        replayed.update(str(r["case_id"]) for r in batch.rows(rows))
        original(src, rctx, batch, offset, rows, *rest)

    monkeypatch.setattr(columnar_scan, "_replay", spy)
    checks: set[str] = set()
    dq: set[str] = set()
    for when in (at(2026, 10, 9, 9), at(2026, 10, 20, 9), at(2026, 11, 16, 9)):
        reference, _ = scan(db, write_config, False, when)
        replayed.clear()
        columnar, outcome = scan(db, write_config, True, when)
        assert columnar == reference, f"at {when}: the columnar findings differ"
        assert outcome.columnar_rows == len(ODD_CASES)
        by_who = {who: {str(row["case_id"]) for row, w in ODD_CASES if w == who}
                  for who in ("columns", "record")}
        assert by_who["record"] <= replayed, by_who["record"] - replayed
        assert not by_who["columns"] & replayed, by_who["columns"] & replayed
        found = [json.loads(x) for x in reference]
        checks |= {f["check"] for f in found}
        dq |= {f["subject"] for f in found if f["check"] == "data_quality"}
    db.engine.dispose()
    assert {"case_overdue", "case_due_soon", "data_quality"} <= checks
    # the values the record path cannot read are data quality there, and so here
    assert {f"main:cases:{k}" for k in ("T-LEAPSECOND", "T-FEB30", "T-GARBAGE", "T-INT", "T-FLOAT",
                                        "T-BLOB", "T-EMPTY", "L-WORD", "L-NEGATIVE", "L-BLOB",
                                        "C-DONE-INT")} <= dq, dq


# --- Batch.rows is what the record path reads --------------------------------------


def _typed(v: Any) -> tuple[str, Any]:
    if isinstance(v, dt.datetime):
        return ("datetime", (v.isoformat(), v.fold, str(v.tzinfo)))
    if isinstance(v, Decimal):
        return ("Decimal", str(v))  # the very digits: 5.00 is not 5 here
    return (type(v).__name__, v)


def _same_rows(src: Source, join: int | None = None) -> int:
    compared = 0
    for entity, fields in TABLES.items():
        if not src.has(entity):
            continue
        want = [{k: _typed(v) for k, v in r.items()}
                for r in src.rows(entity, fields, order_key="case_id")]
        got: list[dict[str, Any]] = []
        made = list(fetch.batches(src, entity, fields, "case_id", rows=join))
        if join is not None:  # joined to at least ``join`` rows, the last batch excepted
            assert all(b.frame.height >= join for b in made[:-1]), [b.frame.height for b in made]
        for batch in made:
            rows = batch.rows(range(batch.frame.height))
            got.extend({k: _typed(v) for k, v in r.items()} for r in rows)
            # the key the merge joins on: str() of the raw key, as the record path's readers
            assert batch.frame.get_column(fetch.KEY).to_list() == [
                None if r["case_id"] is None else str(r["case_id"]) for r in rows]
        assert got == want, entity
        compared += len(got)
    return compared


def _load_demo(db: SourceDB) -> None:
    db.load("units", [{"unit_id": u, "name": n, "kind": k} for u, n, k in sample.UNITS])
    for batch in sample.generate(700, seed=5):
        db.load("cases", batch.cases)
        db.load("case_pauses", batch.pauses)
        db.load("case_extensions", batch.extensions)
        db.load("case_steps", batch.steps)
    db.load("cases", sample.BAD_CASES)


@pytest.mark.parametrize("rows", [None, 350])
def test_batch_rows_are_the_record_paths_rows(source_db: SourceDB, monkeypatch: pytest.MonkeyPatch,
                                              rows: int | None) -> None:
    """Each driver's batches, and the same joined for a decision (``rows``: scan.DECIDE_ROWS)."""
    monkeypatch.setattr(fetch, "BATCH_ROWS", 250)
    monkeypatch.setattr(fetch, "BATCH_BYTES", 16_384)  # PostgreSQL: batches of a few hundred
    _load_demo(source_db)
    src = Source("main", SourceConfig(url=source_db.url, chunk_size=100))
    try:
        assert _same_rows(src, rows) > 1000
    finally:
        src.close()


def test_batch_rows_of_the_odd_sqlite_values(tmp_path: Path) -> None:
    path = tmp_path / "odd.db"
    build_odd_source(path)
    src = Source("main", SourceConfig(url=f"sqlite:///{path}"))
    try:
        assert _same_rows(src) == len(ODD_CASES) + len(PAUSES) + len(EXTENSIONS) + len(STEPS)
    finally:
        src.close()


def test_a_sites_query_with_a_percent_sign(source_db: SourceDB) -> None:
    """The compiler writes ``%`` as ``%%`` for a format-style driver (PyMySQL, psycopg); the
    fetch passes the parameters SQLAlchemy passes, so the driver reads it back as ``%``."""
    _load_demo(source_db)
    query = "SELECT * FROM cases WHERE item_name LIKE '%许可' OR case_id LIKE '%0'"
    src = Source("main", SourceConfig(url=source_db.url, entities={"cases": {"query": query}}))
    try:
        rows = list(src.rows("cases", CASE_FIELDS, order_key="case_id"))
        assert 0 < len(rows) < 700
        got = [r for b in fetch.batches(src, "cases", CASE_FIELDS, "case_id")
               for r in b.rows(range(b.frame.height))]
        assert [{k: _typed(v) for k, v in r.items()} for r in got] == \
            [{k: _typed(v) for k, v in r.items()} for r in rows]
    finally:
        src.close()


# --- SQLAlchemy's result processors ------------------------------------------------


def test_the_select_of_a_source_has_no_result_processor(source_db: SourceDB) -> None:
    """What makes the driver's values the record path's: SQLAlchemy converts none of them."""
    _load_demo(source_db)
    src = Source("main", SourceConfig(url=source_db.url))
    try:
        for entity, fields in TABLES.items():
            stmt = src._select(entity, fields, "case_id")
            with src.engine.connect() as conn:
                result = conn.execute(stmt)
                assert result.cursor is not None
                processors = fetch._Processors(stmt, src.engine.dialect, result.cursor.description)
                result.close()
            assert not processors.any and processors.each == [None] * len(fields), entity
    finally:
        src.close()


def test_typed_columns_get_sqlalchemys_processors(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A statement whose columns carry types: the batch holds what SQLAlchemy's rows hold."""
    path = tmp_path / "typed.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    meta = sa.MetaData()
    table = sa.Table("t", meta, sa.Column("case_id", sa.String), sa.Column("at", sa.DateTime),
                     sa.Column("n", sa.Numeric(8, 2)), sa.Column("ok", sa.Boolean),
                     sa.Column("doc", sa.JSON))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(table), [
            {"case_id": f"K{i:03d}", "at": dt.datetime(2026, 10, 19, 13, 30, i),
             "n": Decimal(i) / 4, "ok": i % 2 == 0, "doc": {"i": i}} for i in range(40)])
    engine.dispose()
    monkeypatch.setattr(fetch, "BATCH_ROWS", 16)
    src = Source("main", SourceConfig(url=f"sqlite:///{path}"))
    try:
        stmt = sa.select(*table.c).order_by(table.c.case_id)
        with src.engine.connect() as conn:
            want = [dict(r._mapping) for r in conn.execute(stmt)]
        got: list[dict[str, Any]] = []
        frames = []
        for batch in fetch._driver_batches(src, stmt, "case_id"):
            got.extend(batch.rows(range(batch.frame.height)))
            frames.append(batch.frame)
        assert [{k: _typed(v) for k, v in r.items()} for r in got] == \
            [{k: _typed(v) for k, v in r.items()} for r in want]
        assert isinstance(want[1]["at"], dt.datetime) and isinstance(want[1]["n"], Decimal)
        assert frames[0].schema["at"] == fetch.pl.Datetime("us")  # columns of the processed values
    finally:
        src.close()


def test_a_sqlite_scan_loads_neither_pyarrow_nor_adbc(tmp_path: Path) -> None:
    path = tmp_path / "odd.db"
    build_odd_source(path)
    config = tmp_path / "sunlight.yaml"
    config.write_text(f"timezone: Asia/Shanghai\nstate:\n  url: sqlite:///{tmp_path / 'state.db'}\n"
                      f"sources:\n  main:\n    url: \"sqlite:///{path}\"\nroutes: none\n",
                      encoding="utf-8")
    code = (
        "import sys, datetime as dt, zoneinfo\n"
        "from sunlight.monitor.configure import load_settings\n"
        "from sunlight.monitor.engine import Engine\n"
        f"engine = Engine(load_settings({str(config)!r}))\n"
        "when = dt.datetime(2026, 10, 20, 9, tzinfo=zoneinfo.ZoneInfo('Asia/Shanghai'))\n"
        "[outcome] = engine.scan(when, lambda f: None)\n"
        "assert outcome.ok and outcome.columnar_rows, outcome\n"
        "print(sorted(m for m in ('pyarrow', 'adbc_driver_postgresql', 'adbc_driver_manager')"
        " if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_the_fetch_leaves_garbage_collection_as_it_found_it(tmp_path: Path) -> None:
    """Collection is paused while a batch is built, and only then: on or off, as before."""
    import gc

    path = tmp_path / "odd.db"
    build_odd_source(path)
    src = Source("main", SourceConfig(url=f"sqlite:///{path}"))
    seen: list[bool] = []
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            for batch in fetch.batches(src, "cases", CASE_FIELDS, "case_id"):
                seen.append(gc.isenabled())  # the consumer runs with the caller's setting
                assert batch.frame.height
            assert gc.isenabled() is enabled
    finally:
        gc.enable()
        src.close()
    assert seen == [True, False]


def test_sub_chunks_make_batches_of_chunk_size_with_the_drivers_values(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cursor is read BATCH_ROWS rows at a time, joined into batches of ``chunk_size`` rows;
    ``rows``/``values`` give the driver's very values (types too) at positions across the parts,
    whether a part's tuples were kept (a column of mixed types) or rebuilt from its columns."""
    path = tmp_path / "mixed.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (case_id TEXT, v, w)")
    rows = [(f"K{i:03d}", (i * 1.5 if i % 2 else i) if 20 <= i < 30 else i * 0.5 if 125 <= i < 150
             else i, None if i % 3 else f"文{i}")
            for i in range(235)]  # rows 20-29: ints and floats in one part (kept as tuples); the
    # part of rows 125-149 floats, the batch's others ints
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    conn.commit()
    conn.close()
    monkeypatch.setattr(fetch, "BATCH_ROWS", 25)
    src = Source("main", SourceConfig(url=f"sqlite:///{path}", chunk_size=100))
    try:
        table = sa.table("t", sa.column("case_id"), sa.column("v"), sa.column("w"))
        stmt = sa.select(table.c.case_id, table.c.v, table.c.w).order_by(table.c.case_id)
        batches = list(fetch._driver_batches(src, stmt, "case_id"))
        assert [b.frame.height for b in batches] == [100, 100, 35]
        # as one _columns call of the batch's rows makes them: a column mixed anywhere is text
        assert [b.frame.schema["v"] for b in batches] == [fetch.pl.String, fetch.pl.String,
                                                          fetch.pl.Int64]
        want = [dict(zip(("case_id", "v", "w"), r, strict=True)) for r in rows]
        got = []
        for b in batches:
            idx = [i for i in range(b.frame.height - 1, -1, -1) if i % 4 != 1][::-1]  # skips, order
            part = b.rows(idx)
            assert b.values("v", idx) == [r["v"] for r in part]
            got.extend((b, i, r) for i, r in zip(idx, part, strict=True))
        offsets = {id(b): 100 * n for n, b in enumerate(batches)}
        for b, i, r in got:
            w = want[offsets[id(b)] + i]
            assert r == w and [type(x) for x in r.values()] == [type(x) for x in w.values()]
    finally:
        src.close()
