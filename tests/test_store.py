"""The state store: one finding per fingerprint, first/last seen, resolution; SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from sunlight.monitor.configure import load_settings
from sunlight.monitor.engine import Engine, scan_and_record
from sunlight.monitor.store import FindingRow, ScanRun, open_store
from sunlight.monitor.store.db import current_revision
from tests.conftest import SourceDB, at, postgres_schema

CASES = [
    {"case_id": "LATE", "unit_id": "MZJ", "accepted_at": dt.datetime(2026, 9, 24, 10),
     "promised_limit": 5},
    {"case_id": "SOON", "unit_id": "MZJ", "accepted_at": dt.datetime(2026, 11, 2, 9),
     "promised_limit": 5},
]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        engine = open_store(f"sqlite:///{tmp_path / 'state.db'}")
        yield engine
        engine.dispose()
        return
    with postgres_schema() as url:
        engine = open_store(url)
        yield engine
        engine.dispose()


@pytest.fixture
def engine(sqlite_db: SourceDB, write_config) -> Engine:
    sqlite_db.load("cases", CASES)
    return Engine(load_settings(write_config(sqlite_db.url)))


def rows(store: sa.Engine) -> dict[tuple[str, str], FindingRow]:
    with sa.orm.Session(store) as s:
        return {(r.check_id, r.subject): r for r in s.scalars(sa.select(FindingRow))}


def test_migrations_reach_head(store: sa.Engine) -> None:
    assert current_revision(store) is not None
    assert {"findings", "scan_runs"} <= set(sa.inspect(store).get_table_names())


def test_revisions_read_without_alembic_are_alembics(store: sa.Engine, tmp_path: Path) -> None:
    """``current_revision`` / ``head_revision`` skip Alembic (start-up): they must say what it says."""
    from alembic.runtime.migration import MigrationContext

    from sunlight.monitor.store import db

    assert db._head_of_files() is not None
    assert db._head_of_files() == db._alembic_head() == db.head_revision()
    with store.connect() as conn:
        assert current_revision(store) == MigrationContext.configure(conn).get_current_revision()
    assert current_revision(store) == db.head_revision()
    empty = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert current_revision(empty) is None
    with empty.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is None


def test_recording_the_same_scan_twice_changes_last_seen_only(store: sa.Engine,
                                                              engine: Engine) -> None:
    scan_and_record(engine, store, at(2026, 11, 6, 10))
    first = rows(store)
    assert set(first) == {("case_overdue", "LATE"), ("case_due_soon", "SOON")}
    scan_and_record(engine, store, at(2026, 11, 6, 10))
    scan_and_record(engine, store, at(2026, 11, 6, 11))
    again = rows(store)
    assert set(again) == set(first)  # no duplicates
    for key, old in first.items():
        new = again[key]
        assert new.id == old.id and new.first_seen == old.first_seen
        assert new.last_seen == at(2026, 11, 6, 11)
        assert new.opened_run == old.opened_run and new.last_run > old.last_run
        assert new.resolved_at is None
        assert (new.summary, new.tier, new.deadline, new.overdue) == (
            old.summary, old.tier, old.deadline, old.overdue)
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(FindingRow)).scalar() == 2


def test_a_finding_no_longer_seen_is_resolved_and_can_reopen(store: sa.Engine,
                                                             engine: Engine) -> None:
    scan_and_record(engine, store, at(2026, 11, 6, 10))  # SOON is due soon (2 left)
    scan_and_record(engine, store, at(2026, 11, 10, 10))  # now overdue, no longer "due soon"
    r = rows(store)
    assert r[("case_due_soon", "SOON")].resolved_at == at(2026, 11, 10, 10)
    assert r[("case_overdue", "SOON")].resolved_at is None
    scan_and_record(engine, store, at(2026, 11, 6, 12))  # a backtest brings it back
    r2 = rows(store)
    assert r2[("case_due_soon", "SOON")].resolved_at is None
    assert r2[("case_due_soon", "SOON")].opened_run > r[("case_due_soon", "SOON")].opened_run


def test_a_failed_scan_resolves_nothing(store: sa.Engine, engine: Engine,
                                        sqlite_db: SourceDB) -> None:
    scan_and_record(engine, store, at(2026, 11, 6, 10))
    sqlite_db.engine.dispose()
    Path(sa.engine.make_url(sqlite_db.url).database).unlink()  # the source disappears
    [outcome] = scan_and_record(engine, store, at(2026, 11, 10, 10))
    assert not outcome.ok
    assert all(r.resolved_at is None for r in rows(store).values())
    with sa.orm.Session(store) as session:
        last = session.scalars(sa.select(ScanRun).order_by(ScanRun.id.desc())).first()
    assert last.ok is False and "unable to open" in last.error


def test_two_replicas_recording_at_once_leave_one_row(store: sa.Engine, engine: Engine) -> None:
    """Invariant 3 under concurrency: the upsert is atomic per fingerprint."""
    errors: list[BaseException] = []

    def replica() -> None:
        try:
            for _ in range(5):
                scan_and_record(engine, store, at(2026, 11, 6, 10))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(FindingRow)).scalar() == 2
