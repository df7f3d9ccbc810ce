"""Resolution by what a run saw (issue 10, item 2), on SQLite and PostgreSQL state stores.

Two scan runs of one source interleave here step by step, as two replicas or
an overlapping ``sunlight cycle`` interleave them in time. Before the fix
``finish_run`` resolved every finding whose ``last_run`` was not its own, so
the run that finished first resolved everything the other had upserted
meanwhile: these tests then fail with every finding resolved.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from sunlight.checks.base import Finding
from sunlight.monitor.configure import load_settings
from sunlight.monitor.engine import Engine, scan_and_record
from sunlight.monitor.store import FindingRow, ScanRun, open_store
from sunlight.monitor.store.claims import FileClaims, PostgresClaims, claims_folder, scan_claim
from sunlight.monitor.store.findings import ABANDONED, FindingRecorder, finish_run, start_run
from tests.conftest import SourceDB, postgres_schema
from tests.test_letters_kit import (
    State,
    at,
    finding,
    run_cli,
    state_fixture,  # noqa: F401 - the ``state`` fixture
)

CHECKS = ("case_overdue", "data_quality")
WHEN = at(2026, 10, 16, 9)


def found(*subjects: str) -> list[Finding]:
    out = []
    for s in subjects:
        f = finding("case_overdue", s, "SJJ")
        f.source = "main"
        out.append(f)
    return out


class Run:
    """One scan run driven by hand: start, upsert, finish."""

    def __init__(self, store: sa.Engine) -> None:
        self.store = store
        self.id = start_run(store, "main", WHEN, CHECKS)
        self.recorder = FindingRecorder(store, self.id, WHEN)

    def see(self, findings: list[Finding]) -> None:
        for f in findings:
            self.recorder(f)
        self.recorder.flush()

    def finish(self, ok: bool = True) -> int:
        return finish_run(self.store, self.id, ok=ok, error=None, rows_read=0,
                          findings=self.recorder.count, resolve_checks=CHECKS, source="main",
                          as_of=WHEN)


def states(store: sa.Engine) -> dict[str, tuple[bool, int]]:
    """subject → (resolved?, opened_run)."""
    with store.connect() as conn:
        return {s: (r is not None, o) for s, r, o in conn.execute(
            sa.select(FindingRow.subject, FindingRow.resolved_at, FindingRow.opened_run))}


def test_two_overlapping_runs_that_saw_the_same_findings_resolve_nothing(state: State) -> None:
    store = state.engine
    subjects = [f"C{i:03d}" for i in range(50)]
    first = Run(store)
    first.see(found(*subjects))
    first.finish()
    # both orders of finishing, with the upserts crossing in between
    a, b = Run(store), Run(store)
    a.see(found(*subjects))
    b.see(found(*subjects))
    assert a.finish() == 0  # before the fix: 50 (b's upserts moved last_run)
    assert b.finish() == 0
    c, d = Run(store), Run(store)
    d.see(found(*subjects))  # the newer run writes first …
    c.see(found(*subjects))  # … the older one last
    assert d.finish() == 0
    assert c.finish() == 0
    assert all(not resolved for resolved, _ in states(store).values())
    assert len(states(store)) == 50  # one row per fingerprint


def test_a_complete_run_resolves_what_it_did_not_see_but_not_what_a_newer_run_saw(
        state: State) -> None:
    store = state.engine
    Run(store).see(found("GONE", "STAYS", "NEWER"))
    older, newer = Run(store), Run(store)
    newer.see(found("STAYS", "NEWER"))
    older.see(found("STAYS"))  # older did not see NEWER (nor GONE)
    assert older.finish() == 1  # GONE only: NEWER was seen by a run that began after it
    assert newer.finish() == 0  # GONE already resolved
    got = states(store)
    assert got["GONE"][0] and not got["STAYS"][0] and not got["NEWER"][0]


def test_an_incomplete_run_resolves_nothing(state: State) -> None:
    store = state.engine
    Run(store).see(found("A", "B"))
    run = Run(store)
    run.see(found("A"))
    assert run.finish(ok=False) == 0
    assert not any(resolved for resolved, _ in states(store).values())


def test_a_late_sighting_by_an_older_run_does_not_reopen_what_a_newer_run_resolved(
        state: State) -> None:
    store = state.engine
    first = Run(store)
    first.see(found("X", "Y"))
    first.finish()
    opened = states(store)["Y"][1]
    slow, quick = Run(store), Run(store)
    quick.see(found("X"))
    assert quick.finish() == 1  # Y resolved by the newer run
    slow.see(found("X", "Y"))  # the older run's upsert arrives afterwards
    slow.finish()
    assert states(store)["Y"] == (True, opened)  # still resolved, same opening: no new letter
    later = Run(store)
    later.see(found("X", "Y"))  # a run newer than the resolving one does re-open it
    later.finish()
    resolved, reopened = states(store)["Y"]
    assert not resolved and reopened == later.id


def test_a_run_a_killed_process_left_unfinished_is_closed_at_the_next_scan(
        state: State, sqlite_db: SourceDB, write_config) -> None:
    store = state.engine
    sqlite_db.load("cases", [{"case_id": "LATE", "unit_id": "MZJ",
                              "accepted_at": dt.datetime(2026, 9, 24, 10), "promised_limit": 5}])
    engine = Engine(load_settings(write_config(sqlite_db.url)))
    try:
        killed = start_run(store, "main", WHEN, CHECKS)  # its process died here
        [outcome] = scan_and_record(engine, store, WHEN)
    finally:
        engine.close()
    assert outcome.ok
    with store.connect() as conn:
        runs = {r.id: r for r in conn.execute(sa.select(ScanRun))}
    assert runs[killed].finished_at is not None and runs[killed].ok is False
    assert runs[killed].error == ABANDONED
    assert all(r.finished_at is not None for r in runs.values())


def test_a_source_another_process_is_scanning_is_skipped_not_scanned_twice(
        state: State, sqlite_db: SourceDB, write_config, tmp_path: Path) -> None:
    """Another process's claim (its own connection or lock file) makes this scan wait, then skip."""
    store = state.engine
    sqlite_db.load("cases", [{"case_id": "LATE", "unit_id": "MZJ",
                              "accepted_at": dt.datetime(2026, 9, 24, 10), "promised_limit": 5}])
    folder = claims_folder(store)
    other = (FileClaims(folder, "other:1") if folder is not None
             else PostgresClaims(store, "other:1"))
    engine = Engine(load_settings(write_config(sqlite_db.url)))
    try:
        assert other.try_claim(scan_claim("main"))
        [skipped] = scan_and_record(engine, store, WHEN, wait=0.5)
        assert skipped.claimed_elsewhere and not skipped.ok
        with store.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(ScanRun)).scalar() == 0
        other.release(scan_claim("main"))
        [done] = scan_and_record(engine, store, WHEN, wait=0.5)
        assert done.ok and not done.claimed_elsewhere
    finally:
        other.close()
        engine.close()


def test_a_scan_whose_claim_is_lost_midway_resolves_nothing(sqlite_db: SourceDB, write_config) -> None:
    """PostgreSQL: the claims connection dies mid-scan (the server ends it); fencing stops resolution."""
    sqlite_db.load("cases", [{"case_id": "LATE", "unit_id": "MZJ",
                              "accepted_at": dt.datetime(2026, 9, 24, 10), "promised_limit": 5}])
    engine = Engine(load_settings(write_config(sqlite_db.url)))
    with postgres_schema() as url:
        store = open_store(url)
        claims = PostgresClaims(store, "fenced:1")
        admin = sa.create_engine(url)
        try:
            gone = Run(store)  # an earlier complete run saw a finding the source no longer has
            gone.see(found("GONE"))
            gone.finish()

            def cut(_f: Finding) -> None:  # the server ends the claims session during the scan
                with admin.connect() as conn:
                    conn.execute(sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = 'sunlight claims fenced:1'"))

            [lost] = scan_and_record(engine, store, WHEN, also=cut, claims=claims)
            assert not lost.ok and "claim was lost" in (lost.error or "")
            assert not states(store)["GONE"][0]  # not resolved by a run that lost its claim
            [ok] = scan_and_record(engine, store, WHEN, claims=claims)  # reconnects, claims again
            assert ok.ok
            assert states(store)["GONE"][0]  # a run that kept its claim does resolve it
        finally:
            claims.close()
            admin.dispose()
            store.dispose()
            engine.close()


def test_sunlight_cycle_skips_a_source_another_process_scans_and_says_so(
        sqlite_db: SourceDB, tmp_path: Path) -> None:
    sqlite_db.load("cases", [{"case_id": "LATE", "unit_id": "MZJ",
                              "accepted_at": dt.datetime(2026, 9, 24, 10), "promised_limit": 5}])
    cfg = tmp_path / "sunlight.yaml"
    cfg.write_text(
        "timezone: Asia/Shanghai\n"
        f"state:\n  url: sqlite:///{tmp_path / 'state.db'}\n  claim_wait: 1s\n"
        f"sources:\n  main:\n    url: \"{sqlite_db.url}\"\n", encoding="utf-8")
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    other = FileClaims(claims_folder(store), "other:2")  # what another process's flock looks like
    try:
        assert other.try_claim(scan_claim("main"))
        held = run_cli("cycle", "-c", str(cfg), "--at", "2026-10-16T09:00")
        assert held.exit_code == 1
        assert "数据源正由另一进程检查，本次已跳过" in held.stderr and "main" in held.stderr
        other.release(scan_claim("main"))
        free = run_cli("cycle", "-c", str(cfg), "--at", "2026-10-16T09:00")
        assert free.exit_code == 0, free.stderr
    finally:
        other.close()
        store.dispose()
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ScanRun)).scalar() == 1
