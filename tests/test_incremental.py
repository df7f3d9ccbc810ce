"""Incremental cycles (issue 11, item 4): a day of edits, cycle by cycle, against full scans.

Two state stores watch one source through a day: store A as the daemon does
it (a full scan at 00:10, then incremental cycles), store B by a full scan at
every one of A's times. After each cycle A's open findings must equal B's
field by field (except ``evidence.as_of`` and the store's bookkeeping: see
``monitor/incremental.py``), and no finding A resolved may be open in B
(never a false resolution). The one edit an incremental cycle cannot see, a
child row added to a completed case without moving its watermark, shows as
exactly that difference until the next full scan, which then agrees.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sunlight.monitor.configure import load_settings
from sunlight.monitor.cycle import run_cycle
from sunlight.monitor.demo.schema import metadata as canonical
from sunlight.monitor.engine import Engine, scan_and_record
from sunlight.monitor.incremental import incremental_scan_and_record
from sunlight.monitor.store import FindingRow, ScanRun, open_store
from sunlight.monitor.store.incremental import index_entries, load_state
from tests.conftest import SourceDB, at

D = dt.date(2026, 11, 10)  # a Tuesday
#: fields compared; evidence without its as_of
FIELDS = ("check_id", "subject", "unit_id", "item_code", "source", "tier", "summary", "deadline",
          "overdue", "measure", "calendar_uncovered", "ended_at", "record_key")


def ts(day: dt.date, h: int, m: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(h, m))  # naive: the source's local time


def day_rows(rng: random.Random, n: int = 90) -> dict[str, list[dict[str, Any]]]:
    """Cases of every shape as they stand the night before D (updated_at: their last event)."""
    cases, pauses, extensions, steps = [], [], [], []
    night = ts(D, 0)
    for i in range(n):
        cid = f"C{i:04d}"
        unit = rng.choice(["workday"] * 8 + ["day", "hour"])
        if unit == "hour":
            accepted = night - dt.timedelta(hours=rng.randint(2, 60))
            limit = rng.choice([24, 48, 72])
        else:
            accepted = ts(D - dt.timedelta(days=rng.randint(1, 40)), rng.randint(8, 17))
            limit = rng.randint(3, 20)
        done = accepted + dt.timedelta(days=rng.randint(0, 30), hours=rng.randint(0, 6))
        completed = done if rng.random() < 0.5 and done < night else None
        last = completed or accepted
        outcome = None if completed is None else rng.choice(["approved"] * 5 + ["refused"])
        cases.append({"case_id": cid, "unit_id": rng.choice(["MZJ", "SJJ"]), "item_code": "X-1",
                      "item_name": "事项", "accepted_at": accepted, "promised_limit": limit,
                      "statutory_limit": limit + 10 if rng.random() < 0.3 else None,
                      "limit_unit": unit, "completed_at": completed, "outcome": outcome,
                      "outcome_reason": "理由" if outcome == "refused" and rng.random() < 0.5 else None,
                      "updated_at": last})
        children(rng, cid, unit, accepted, night, steps, extensions, pauses)
    # a case due on D (5 working days from Tue 3 Nov): overdue at midnight with no edit
    cases.append({"case_id": "DL1", "unit_id": "MZJ", "accepted_at": ts(dt.date(2026, 11, 3), 10),
                  "promised_limit": 5, "limit_unit": "workday", "updated_at": ts(dt.date(2026, 11, 3), 10)})
    # due Thu 12 Nov: 3 working days left on D, 2 on D+1 (warn_remaining 2): due soon at midnight
    cases.append({"case_id": "DS1", "unit_id": "SJJ", "accepted_at": ts(dt.date(2026, 11, 5), 9),
                  "promised_limit": 5, "limit_unit": "workday", "updated_at": ts(dt.date(2026, 11, 5), 9)})
    # completed, one pause: two more supplement pauses will be added without touching the case
    cases.append({"case_id": "CP1", "unit_id": "SJJ", "accepted_at": ts(dt.date(2026, 10, 20), 9),
                  "promised_limit": 10, "limit_unit": "workday",
                  "completed_at": ts(dt.date(2026, 10, 28), 9), "outcome": "approved",
                  "updated_at": ts(dt.date(2026, 10, 28), 9)})
    return source_rows(cases, pauses, extensions, steps)


def source_rows(cases: list[dict[str, Any]], pauses: list[dict[str, Any]],
                extensions: list[dict[str, Any]], steps: list[dict[str, Any]]
                ) -> dict[str, list[dict[str, Any]]]:
    """The tables of a test source: the two units, the cases (item X-1 unless given), children."""
    for c in cases:
        c.setdefault("item_code", "X-1")
        c.setdefault("item_name", "事项")
    return {"units": [{"unit_id": "MZJ", "name": "县民政局", "kind": "department"},
                      {"unit_id": "SJJ", "name": "县市场监管局", "kind": "department"}],
            "cases": cases, "case_pauses": pauses, "case_extensions": extensions, "case_steps": steps}


def children(rng: random.Random, cid: str, unit: str, accepted: dt.datetime, night: dt.datetime,
             steps: list[dict[str, Any]], extensions: list[dict[str, Any]],
             pauses: list[dict[str, Any]]) -> None:
    """Some steps, an extension, a pause of a case (none for hour limits), as of ``night``."""
    if rng.random() < 0.3 and unit != "hour":
        for seq in (1, 2):
            start = accepted + dt.timedelta(days=seq - 1)
            finished = start + dt.timedelta(days=rng.randint(0, 5)) if rng.random() < 0.6 else None
            steps.append({"case_id": cid, "seq": seq, "name": f"环节{seq}", "started_at": start,
                          "finished_at": finished if finished and finished < night else None,
                          "step_limit": rng.randint(1, 4), "limit_unit": "workday"})
    if rng.random() < 0.1 and unit != "hour":
        extensions.append({"case_id": cid, "extra": rng.choice([3, 15]),
                           "approved_by": rng.choice([None, "局长"]),
                           "approved_at": accepted + dt.timedelta(days=2)})
    if rng.random() < 0.1 and unit != "hour":
        pauses.append({"case_id": cid, "kind": "supplement",
                       "started_at": accepted + dt.timedelta(days=1),
                       "ended_at": accepted + dt.timedelta(days=3)})


class Day:
    """The source, the two stores, and the edits of the day."""

    def __init__(self, db: SourceDB, tmp: Path, store_a: str | None = None,
                 rows: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.db = db
        for table, rows_ in (rows or day_rows(random.Random(11))).items():
            db.load(table, rows_)
        cfg = tmp / "sunlight.yaml"
        cfg.write_text(f'timezone: Asia/Shanghai\nsources:\n  main:\n    url: "{db.url}"\n'
                       "    incremental: {cases: {watermark: updated_at}}\nroutes: none\n",
                       encoding="utf-8")
        self.settings = load_settings(cfg)
        self.engine = Engine(self.settings)
        self.a = open_store(store_a or f"sqlite:///{tmp / 'a.db'}")
        self.b = open_store(f"sqlite:///{tmp / 'b.db'}")
        self.open_ids: list[str] = []

    def close(self) -> None:
        self.engine.close()
        self.a.dispose()
        self.b.dispose()

    def update(self, table: str, where: dict[str, Any], **values: Any) -> None:
        t = canonical.tables[table]
        with self.db.engine.begin() as conn:
            conn.execute(sa.update(t).where(*(t.c[k] == v for k, v in where.items())).values(**values))

    def insert(self, table: str, *rows: dict[str, Any]) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(sa.insert(canonical.tables[table]), list(rows))

    def open_cases(self) -> list[str]:
        t = canonical.tables["cases"]
        with self.db.engine.connect() as conn:
            return sorted(conn.execute(sa.select(t.c.case_id).where(
                t.c.completed_at.is_(None), t.c.limit_unit != "hour")).scalars())

    def start(self, when: dt.datetime) -> None:
        """A's first full scan and B's, which agree."""
        self.full_a(when)
        self.reference(when)
        assert differences(self) == {}

    def full_a(self, when: dt.datetime) -> None:
        assert all(o.ok for o in scan_and_record(self.engine, self.a, when))

    def incremental_a(self, when: dt.datetime) -> int:
        """One incremental cycle of A; how many cases it read."""
        outcomes = incremental_scan_and_record(self.engine, self.a, when)
        assert all(o.ok for o in outcomes)
        return sum(o.rows_read["cases"] for o in outcomes)

    def reference(self, when: dt.datetime) -> None:
        assert all(o.ok for o in scan_and_record(self.engine, self.b, when))


def findings(store: sa.Engine, open_: bool = True) -> dict[str, dict[str, Any]]:
    cond = FindingRow.resolved_at.is_(None) if open_ else FindingRow.resolved_at.is_not(None)
    with store.connect() as conn:
        rows = conn.execute(sa.select(FindingRow).where(cond)).mappings().all()
    out = {}
    for r in rows:
        evidence = dict(r["evidence"])
        evidence.pop("as_of", None)
        out[r["fingerprint"]] = {**{f: r[f] for f in FIELDS}, "evidence": evidence}
    return out


def differences(day: Day) -> dict[str, str]:
    """Subjects whose open findings differ between A (incremental) and B (full), and how."""
    a, b = findings(day.a), findings(day.b)
    out = {}
    for fp in a.keys() | b.keys():
        if fp not in b:
            out[a[fp]["subject"]] = f"only incremental: {a[fp]['check_id']}"
        elif fp not in a:
            out[b[fp]["subject"]] = f"only full: {b[fp]['check_id']}"
        elif a[fp] != b[fp]:
            diff = [k for k in a[fp] if a[fp][k] != b[fp][k]]
            out[a[fp]["subject"]] = f"{a[fp]['check_id']} differs in {diff}"
    return out


def no_false_resolution(day: Day) -> None:
    falsely = set(findings(day.a, open_=False)) & set(findings(day.b))
    assert not falsely, f"resolved by the incremental store but found by the full scan: {falsely}"


def test_a_day_of_edits_incremental_equals_full(source_db: SourceDB, tmp_path: Path) -> None:
    day = Day(source_db, tmp_path)
    try:
        run_day(day)
    finally:
        day.close()


def run_day(day: Day) -> None:
    start = at(2026, 11, 10, 0, 10)
    day.start(start)
    state = load_state(day.a, "main", "cases")
    assert state is not None and state.full_as_of == start
    index = index_entries(day.a, "main", "cases")
    assert "DL1" in index and "CP1" not in index  # open: indexed; completed: only an edit changes it

    def cycle(when: dt.datetime, allowed: set[str] = frozenset()) -> dict[str, str]:  # type: ignore[assignment]
        day.incremental_a(when)
        day.reference(when)
        no_false_resolution(day)
        diff = differences(day)
        assert set(diff) <= allowed, diff
        return diff

    # 07:30 three open cases completed, two new cases accepted
    done = day.open_cases()[:3]
    for cid in done:
        day.update("cases", {"case_id": cid}, completed_at=ts(D, 7, 30), outcome="approved",
                   updated_at=ts(D, 7, 30))
    day.insert("cases",
               {"case_id": "N1", "unit_id": "MZJ", "item_code": "X-1", "accepted_at": ts(D, 7),
                "promised_limit": 1, "limit_unit": "workday", "updated_at": ts(D, 7)},
               {"case_id": "N2", "unit_id": "SJJ", "item_code": "X-1", "accepted_at": ts(D, 7),
                "promised_limit": 3, "limit_unit": "workday", "outcome": "refused",
                "completed_at": ts(D, 7, 20), "updated_at": ts(D, 7, 20)})
    cycle(at(2026, 11, 10, 8))
    with day.a.connect() as conn:
        mode = conn.execute(sa.select(ScanRun.mode).order_by(ScanRun.id.desc())).scalars().first()
    assert mode == "incremental"

    # 09:40 a completion entered ahead of the clock (10:30); an hour case due at 14:00
    late = day.open_cases()[3]
    day.update("cases", {"case_id": late}, completed_at=ts(D, 10, 30), outcome="approved",
               updated_at=ts(D, 9, 40))
    day.insert("cases", {"case_id": "H1", "unit_id": "MZJ", "item_code": "X-1",
                         "accepted_at": ts(D, 9), "promised_limit": 5, "limit_unit": "hour",
                         "updated_at": ts(D, 9, 40)})
    cycle(at(2026, 11, 10, 10))
    cycle(at(2026, 11, 10, 12))  # the completion has happened; H1 is due soon (2 hours left)
    assert "H1" in {f["subject"] for f in findings(day.a).values() if f["check_id"] == "case_due_soon"}

    # 14:30 two supplement pauses added to a completed case, the case row untouched:
    # only a full scan sees them (repeated_supplement)
    day.insert("case_pauses",
               {"case_id": "CP1", "kind": "supplement", "started_at": ts(dt.date(2026, 10, 21), 9),
                "ended_at": ts(dt.date(2026, 10, 22), 9)},
               {"case_id": "CP1", "kind": "supplement", "started_at": ts(dt.date(2026, 10, 23), 9),
                "ended_at": ts(dt.date(2026, 10, 26), 9)})
    diff = cycle(at(2026, 11, 10, 15), allowed={"CP1"})  # H1 overdue since 14:00 with no edit
    assert diff == {"CP1": "only full: repeated_supplement"}
    assert "H1" in {f["subject"] for f in findings(day.a).values() if f["check_id"] == "case_overdue"}

    # 17:00 a refusal recorded without a reason, the step of an open case finished (parent bumped)
    refused = day.open_cases()[4]
    day.update("cases", {"case_id": refused}, completed_at=ts(D, 17), outcome="refused",
               updated_at=ts(D, 17))
    cycle(at(2026, 11, 10, 18), allowed={"CP1"})
    cycle(at(2026, 11, 10, 23, 50), allowed={"CP1"})
    # past midnight, no edit: DL1 is overdue, DS1 due soon, every open case's count moves on
    cycle(at(2026, 11, 11, 0, 5), allowed={"CP1"})
    overdue = {f["subject"] for f in findings(day.a).values() if f["check_id"] == "case_overdue"}
    soon = {f["subject"] for f in findings(day.a).values() if f["check_id"] == "case_due_soon"}
    assert "DL1" in overdue and "DS1" in soon
    cycle(at(2026, 11, 11, 9), allowed={"CP1"})
    # the scheduled full scan catches the child rows: then both agree again
    day.full_a(at(2026, 11, 11, 9, 30))
    day.reference(at(2026, 11, 11, 9, 30))
    assert differences(day) == {}
    no_false_resolution(day)
    cycle(at(2026, 11, 11, 10))
    # and the cycle path: letters after an incremental scan
    report = run_cycle(day.engine, day.a, day.settings, at(2026, 11, 11, 11), incremental=True)
    assert report.ok


def test_incremental_on_a_postgresql_state_store(sqlite_db: SourceDB, tmp_path: Path) -> None:
    from tests.conftest import postgres_schema

    with postgres_schema() as url:
        day = Day(sqlite_db, tmp_path, store_a=url)
        try:
            run_day(day)
        finally:
            day.close()


def test_an_incremental_run_resolves_only_records_it_read(sqlite_db: SourceDB, tmp_path: Path) -> None:
    """A finding of a record the run did not read stays open even though it no longer fires."""
    day = Day(sqlite_db, tmp_path)
    try:
        start = at(2026, 11, 10, 0, 10)
        day.full_a(start)
        overdue = sorted(f["subject"] for f in findings(day.a).values()
                         if f["check_id"] == "case_overdue" and f["ended_at"] is None)
        assert len(overdue) >= 2
        quiet, edited = overdue[0], overdue[1]
        # both are completed in the source; only ``edited`` moves its watermark
        day.update("cases", {"case_id": quiet}, completed_at=ts(D, 7), outcome="approved")
        day.update("cases", {"case_id": edited}, completed_at=ts(D, 7), outcome="approved",
                   updated_at=ts(D, 7))
        day.incremental_a(at(2026, 11, 10, 8))
        open_a = {(f["check_id"], f["subject"]): f for f in findings(day.a).values()}
        # still open, unchanged: the incremental run never read it (the full scan will)
        assert open_a[("case_overdue", quiet)]["ended_at"] is None
        # read again: completed late, its finding ended (stays on record), not resolved
        assert open_a[("case_overdue", edited)]["ended_at"] is not None
    finally:
        day.close()


def test_the_columnar_and_record_paths_build_the_same_time_index(sqlite_db: SourceDB,
                                                                  tmp_path: Path) -> None:
    day = Day(sqlite_db, tmp_path)
    try:
        when = at(2026, 11, 10, 0, 10)
        day.full_a(when)
        columnar = index_entries(day.a, "main", "cases")
        record = Engine(day.settings.model_copy(update={"sources": {
            "main": day.settings.sources["main"].model_copy(update={"columnar": False})}}))
        store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
        try:
            assert all(o.ok for o in scan_and_record(record, store, when))
            assert index_entries(store, "main", "cases") == columnar
        finally:
            record.close()
            store.dispose()
    finally:
        day.close()


@pytest.mark.parametrize("value", ["updated at", "1x"])
def test_a_bad_watermark_is_a_config_error(tmp_path: Path, value: str) -> None:
    from sunlight.monitor.configure import ConfigError

    cfg = tmp_path / "c.yaml"
    cfg.write_text("sources:\n  main:\n    url: sqlite:///x.db\n"
                   f"    incremental: {{cases: {{watermark: '{value}'}}}}\nroutes: none\n",
                   encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "sources.main.incremental.cases.watermark" in str(err.value)


def test_the_daemon_scans_fully_first_then_incrementally_and_at_full_scan(sqlite_db: SourceDB,
                                                                          tmp_path: Path) -> None:
    from sunlight.monitor.daemon import Daemon
    from sunlight.monitor.scheduler import full_job_id

    for table, rows in day_rows(random.Random(3), 10).items():
        sqlite_db.load(table, rows)
    cfg = tmp_path / "d.yaml"
    cfg.write_text(f'timezone: Asia/Shanghai\nstate:\n  url: "sqlite:///{tmp_path / "s.db"}"\n'
                   f'sources:\n  main:\n    url: "{sqlite_db.url}"\n'
                   "    incremental: {cases: {watermark: updated_at}}\n"
                   'server:\n  listen: 127.0.0.1:0\n  full_scan: "10 0 * * *"\nroutes: none\n',
                   encoding="utf-8")
    times = iter([at(2026, 11, 10, 0, 10), at(2026, 11, 10, 8), at(2026, 11, 11, 0, 10),
                  at(2026, 11, 11, 8)])
    daemon = Daemon(cfg, load_settings(cfg), clock=lambda: next(times))
    try:
        daemon.scheduler.start(paused=True)
        daemon._schedule(daemon.runtime)
        jobs = {j.id: j for j in daemon.scheduler.get_jobs()}
        daemon.scheduler.shutdown(wait=False)
        trigger = jobs[full_job_id("main")].trigger
        assert (str(trigger.fields[5]), str(trigger.fields[6])) == ("0", "10")  # hour, minute
        assert jobs[full_job_id("main")].args == ("main", True)
        daemon.run_source("main")  # the first cycle of a runtime: full
        daemon.run_source("main")  # then incremental
        daemon.run_source("main", True)  # the scheduled full scan
        daemon.run_source("main")
        with daemon.runtime.store.connect() as conn:
            modes = conn.execute(sa.select(ScanRun.mode, ScanRun.ok).order_by(ScanRun.id)).all()
        assert modes == [("full", True), ("incremental", True), ("full", True), ("incremental", True)]
    finally:
        daemon.runtime.close()
