"""Rows as clerks leave them (issue 10, items 3 and 4): every bad row one finding, nothing stops.

The source is SQLite, which keeps NUL bytes and any length; the state store is
SQLite and PostgreSQL (which refuses NUL in text and overlong VARCHARs, and
before 0008_wide_text stopped the whole cycle on one such row).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from sunlight.monitor.configure import load_settings
from sunlight.monitor.cycle import run_cycle
from sunlight.monitor.engine import Engine
from sunlight.monitor.finding import Finding
from sunlight.monitor.store.findings import FindingRecorder, finish_run, start_run
from sunlight.monitor.store.models import FindingRow
from sunlight.monitor.textsafe import KEY_MAX, SUMMARY_MAX
from tests.conftest import SourceDB, at  # noqa: F401
from tests.test_letters_kit import State, state_fixture  # noqa: F401 (the fixture)

LONG_NAME = "示范县" + "很长的单位名称" * 35  # 248 characters: letters must still go out
BIG = "甲" * 5_000_000  # a 5 MB memo pasted into a text field

CASE_COLUMNS = ("case_id", "unit_id", "item_code", "item_name", "handler", "accepted_at",
                "promised_limit", "statutory_limit", "limit_unit", "completed_at", "outcome",
                "outcome_reason")


def case(case_id: object, unit: str = "MZJ", **kw: object) -> dict[str, object]:
    """An open case accepted 2026-09-24 10:00 with 5 working days: overdue on 2026-10-20."""
    row: dict[str, object] = {"case_id": case_id, "unit_id": unit, "item_code": "MZ-001",
                              "item_name": "最低生活保障审批", "handler": "王芳",
                              "accepted_at": "2026-09-24 10:00:00", "promised_limit": 5,
                              "limit_unit": "workday"}
    row.update(kw)
    return row


#: (case row, the data-quality subject it must produce or None, why)
CASES: list[tuple[dict[str, object], str | None]] = [
    (case("C-OK-1"), None),
    (case("C-OK-2", "CGZ"), None),
    (case("C-LONGNAME", "LONG"), None),
    (case("C-ITEM150", item_code="I" * 150), None),  # longer than the old VARCHAR(100): stored
    (case("C-NULNAME", item_name="最低\x00生活保障审批"), "cases:C-NULNAME"),  # read, reported
    (case("C-\x00NUL"), "cases:C-\x00NUL"),  # a NUL in the key: not read
    (case("C-NULTIME", accepted_at="2026-09-24 10:00:00\x00"), "cases:C-NULTIME"),
    (case("C-LONGUNIT", "U" * 250), "cases:C-LONGUNIT"),
    (case("C-ITEM300", item_code="I" * 300), "cases:C-ITEM300"),
    (case("C-1E12", promised_limit="1e12"), "cases:C-1E12"),
    (case("C-9000WD", promised_limit=9000), "cases:C-9000WD"),
    (case("C-20000D", promised_limit=20000, limit_unit="day"), "cases:C-20000D"),
    (case("C-1E12H", promised_limit="1e12", limit_unit="hour"), "cases:C-1E12H"),
    (case(None), "?"), (case(""), "?"), (case("   "), "?"),  # three keyless rows: three findings
    (case("C-BIG", completed_at="2026-10-19 10:00:00", outcome="approved", outcome_reason=BIG),
     "cases:C-BIG"),
]
UNITS = [("MZJ", "县民政局", "department"), ("CGZ", "城关镇人民政府", "township"),
         ("LONG", LONG_NAME, "department"), ("NULU", "县\x00财政局", "department")]


def build_source(path: Path) -> None:
    """Raw sqlite3, so that the values reach the file exactly as written (NULs, 5 MB)."""
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE units (unit_id TEXT, name TEXT, parent_id TEXT, kind TEXT);"
        f"CREATE TABLE cases ({', '.join(CASE_COLUMNS)}, updated_at TEXT);"
        "CREATE TABLE case_extensions (case_id TEXT, extra NUMERIC, approved_by TEXT,"
        " approved_at TEXT, reason TEXT);")
    con.executemany("INSERT INTO units VALUES (?, ?, NULL, ?)", UNITS)
    con.executemany(f"INSERT INTO cases ({', '.join(CASE_COLUMNS)}) VALUES "
                    f"({', '.join('?' * len(CASE_COLUMNS))})",
                    [tuple(row.get(c) for c in CASE_COLUMNS) for row, _ in CASES])
    con.execute("INSERT INTO case_extensions VALUES ('C-GHOST', 3, '李强', '2026-09-25 10:00:00', "
                "'补正材料')")  # an extension of a case that does not exist
    con.commit()
    con.close()


@pytest.fixture
def hostile(tmp_path: Path, state: State) -> Iterator[tuple[State, Path]]:
    source = tmp_path / "hostile.db"
    build_source(source)
    config = tmp_path / "sunlight.yaml"
    config.write_text(
        "timezone: Asia/Shanghai\n"
        f"state:\n  url: \"{state.url}\"\n"
        "routes: none\n"
        f"sources:\n  hostile:\n    url: \"sqlite:///{source}\"\n    data_owner: 县政务服务中心信息科\n"
        f"  clean:\n    url: \"sqlite:///{tmp_path / 'clean.db'}\"\n    data_owner: 县财政局\n"
        "letters:\n  number_prefix: 监预\n  issuer: 中共示范县纪律检查委员会 示范县监察委员会\n",
        encoding="utf-8")
    clean = sqlite3.connect(tmp_path / "clean.db")
    clean.executescript(
        "CREATE TABLE units (unit_id TEXT, name TEXT, parent_id TEXT, kind TEXT);"
        f"CREATE TABLE cases ({', '.join(CASE_COLUMNS)}, updated_at TEXT);"
        "INSERT INTO units VALUES ('JYJ', '县教育局', NULL, 'department');"
        "INSERT INTO cases (case_id, unit_id, item_code, item_name, accepted_at, promised_limit,"
        " limit_unit) VALUES ('J-1', 'JYJ', 'JY-001', '教师资格认定', '2026-09-24 10:00:00', 5,"
        " 'workday');")
    clean.commit()
    clean.close()
    yield state, config


def test_every_bad_row_is_one_finding_and_the_other_units_get_their_letters(hostile) -> None:
    state, config = hostile
    settings = load_settings(config)
    engine = Engine(settings)
    when = at(2026, 10, 20, 9)
    try:
        report = run_cycle(engine, state.engine, settings, when)
    finally:
        engine.close()
    assert all(o.ok for o in report.outcomes), [o.error for o in report.outcomes]
    assert not any(o.check_errors for o in report.outcomes)
    # on the columnar path (the default): every hostile row was handed to the record path
    assert all(o.columnar_rows for o in report.outcomes)

    with state.engine.connect() as conn:
        rows = conn.execute(sa.select(FindingRow.__table__).where(FindingRow.resolved_at.is_(None))).all()
    dq = [r for r in rows if r.check_id == "data_quality"]
    subjects = sorted(r.subject for r in dq)
    expected_cases = sorted(f"hostile:{s}" for _, s in CASES if s not in (None, "?"))
    # NUL removed from the stored subject; the key stays recognisable
    expected_cases = sorted(s.replace("\x00", "") for s in expected_cases)
    keyless = [s for s in subjects if s.startswith("hostile:cases:?@")]
    assert len(keyless) == 3  # one per row, each named by its position in the read
    assert sorted(s for s in subjects if s.startswith("hostile:cases:") and s not in keyless) \
        == expected_cases
    assert [s for s in subjects if s.startswith("hostile:case_extensions:")] == \
        ["hostile:case_extensions:C-GHOST#1"]
    assert sorted(s for s in subjects if s.startswith("hostile:units:")) == \
        ["hostile:units:LONG", "hostile:units:NULU"]  # read (named), and reported
    assert len(dq) == len(expected_cases) + 3 + 1 + 2  # 13 cases, 3 keyless, 1 orphan, 2 units

    by_subject = {r.subject: r for r in dq}
    big = by_subject["hostile:cases:C-BIG"]
    assert "已截断" in big.summary and len(big.summary) <= SUMMARY_MAX
    assert len(big.evidence["row"]["outcome_reason"]) <= 4000
    assert "全文2000字" in big.evidence["row"]["outcome_reason"] or "SHA-256" in \
        big.evidence["row"]["outcome_reason"]
    assert "超出工作日历" in by_subject["hostile:cases:C-9000WD"].summary
    assert "控制字符" in by_subject["hostile:cases:C-NULTIME"].summary
    assert f"超过{KEY_MAX}字符" in by_subject["hostile:cases:C-LONGUNIT"].summary
    for r in rows:  # nothing the store holds carries a NUL
        assert "\x00" not in r.subject + r.summary + r.unit_id

    # the ordinary findings of the hostile source are there, and the clean source's
    overdue = {r.subject for r in rows if r.check_id == "case_overdue"}
    assert {"C-OK-1", "C-OK-2", "C-LONGNAME", "C-ITEM150", "C-NULNAME", "J-1"} <= overdue
    assert not overdue & {"C-1E12", "C-9000WD", "C-20000D", "C-1E12H", "C-LONGUNIT"}
    # letters go out to every unit as usual, the one with the 248-character name too
    units_with_letters = {x.recipient for x in report.letters}
    assert {"县民政局", "城关镇人民政府", "县教育局"} <= units_with_letters
    long_letters = [x for x in report.letters if x.recipient.startswith("示范县很长的单位名称")]
    assert long_letters and all(len(x.recipient) <= 200 for x in long_letters)

    # three more weekly cycles: the same rows are the same findings (positions and cut keys
    # are stable), none is resolved or duplicated, and no letter is issued twice for them
    fingerprints = {r.fingerprint for r in dq}
    for week in (1, 2, 3):
        engine = Engine(settings)
        try:
            later = run_cycle(engine, state.engine, settings, when + dt.timedelta(weeks=week))
        finally:
            engine.close()
        assert all(o.ok for o in later.outcomes)
        with state.engine.connect() as conn:
            again = conn.execute(sa.select(FindingRow.fingerprint, FindingRow.resolved_at)
                                 .where(FindingRow.check_id == "data_quality")).all()
        assert {fp for fp, _ in again} == fingerprints
        assert all(resolved is None for _, resolved in again)
        assert not [x for x in later.letters if x.reason == "new" and x.tier == "reminder"]


def test_a_finding_the_store_refuses_becomes_data_quality_and_the_batch_goes_on(state) -> None:
    """A value no boundary rule foresaw (an overdue beyond NUMERIC(14,2)): only that row is lost."""
    when = at(2026, 10, 20, 9)
    run = start_run(state.engine, "main", when, ["case_overdue", "data_quality"])
    from sunlight.checks.quality import DataQuality

    rec = FindingRecorder(state.engine, run, when, on_reject=DataQuality().unstorable)
    good = [Finding("case_overdue", f"C-{i}", "MZJ", "level3", f"办件C-{i}超期", source="main")
            for i in range(5)]
    bad = Finding("case_overdue", "C-HUGE", "MZJ", "level3", "办件C-HUGE超期", source="main",
                  overdue=Decimal("1e15"))
    for f in [*good[:2], bad, *good[2:]]:
        rec(f)
    rec.flush()
    finish_run(state.engine, run, ok=True, error=None, rows_read=6, findings=rec.count,
               resolve_checks=["case_overdue", "data_quality"], source="main", as_of=when)
    with state.engine.connect() as conn:
        stored = dict(conn.execute(sa.select(FindingRow.subject, FindingRow.check_id)).all())
    assert {f"C-{i}" for i in range(5)} <= set(stored)
    if state.kind == "postgres":  # SQLite keeps any number; PostgreSQL refuses it
        assert rec.rejected == 1 and "C-HUGE" not in stored
        [notice] = [s for s, c in stored.items() if c == "data_quality"]
        assert notice.startswith(f"main:store:{bad.fingerprint}")
    else:
        assert rec.rejected == 0 and "C-HUGE" in stored


def test_a_nul_in_a_time_is_not_a_time() -> None:
    from sunlight.monitor.records.base import BadField, timestamp

    tz = dt.timezone(dt.timedelta(hours=8))
    assert timestamp({"t": "2026-09-24 10:00:00"}, "t", tz) == dt.datetime(2026, 9, 24, 10, tzinfo=tz)
    for value in ("2026-09-24 10:00:00\x00", "2026-09-24\x0010:00", "2026-09-24 10:00\x07"):
        with pytest.raises(BadField, match="控制字符"):
            timestamp({"t": value}, "t", tz)


def test_keyless_nul_and_orphan_rows_on_every_source_engine(source_db, write_config) -> None:
    """The same rows read from SQLite, PostgreSQL and MariaDB give the same findings.

    PostgreSQL cannot hold a NUL in text, so its source gets the control character BEL instead.
    """
    bad = "\x07" if source_db.kind == "postgres" else "\x00"
    accepted = dt.datetime(2026, 9, 24, 10)
    rows = [{"case_id": cid, "unit_id": "MZJ", "item_code": "MZ-001", "item_name": name,
             "accepted_at": accepted, "promised_limit": 5, "limit_unit": "workday"}
            for cid, name in (("C-OK", "最低生活保障审批"), ("C-CTRL", f"最低{bad}生活保障审批"),
                              ("", "甲"))]  # the canonical key is a primary key: one keyless row
    source_db.load("units", [{"unit_id": "MZJ", "name": "县民政局", "kind": "department"}])
    source_db.load("cases", rows)
    source_db.load("case_extensions", [{"case_id": "C-GHOST", "extra": 3,
                                        "approved_at": accepted}])
    engine = Engine(load_settings(write_config(source_db.url)))
    found: list[Finding] = []
    try:
        [outcome] = engine.scan(at(2026, 10, 20, 9), found.append)
    finally:
        engine.close()
    assert outcome.ok and not outcome.check_errors
    # the columnar path (the default) read them and handed these rows to the record path
    assert outcome.columnar_rows == len(rows) + 1  # the orphan extension is a row read too
    dq = sorted(f.subject for f in found if f.check == "data_quality")
    assert dq == ["main:case_extensions:C-GHOST#1", "main:cases:?@1", "main:cases:C-CTRL"], dq
    ctrl = next(f for f in found if f.subject == "main:cases:C-CTRL")
    assert ctrl.evidence["read"] is True and "控制字符" in ctrl.summary
    overdue = {f.subject for f in found if f.check == "case_overdue"}
    assert overdue == {"C-OK", "C-CTRL"}  # the cleaned row is still judged
    item = next(f for f in found if f.check == "case_overdue" and f.subject == "C-CTRL")
    assert bad not in item.summary + str(item.evidence)
