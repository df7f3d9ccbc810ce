"""Recording findings: one row per fingerprint, however often a scan runs.

Upserts are a single ``INSERT … ON CONFLICT (fingerprint) DO UPDATE`` per batch,
so two replicas recording the same finding at once still leave one row
(invariant 3). A finding that a *complete* scan of its source no longer
produces is marked resolved; a failed or partial scan resolves nothing, and
what counts as "no longer produced" is judged by run ids, not by which
process wrote last (see :func:`finish_run`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from sunlight.monitor.finding import Finding
from sunlight.monitor.store.db import run_transaction
from sunlight.monitor.store.models import FindingRow, ScanRun

_UPDATED = ("unit_id", "item_code", "tier", "summary", "deadline", "overdue", "measure",
            "calendar_uncovered", "evidence", "last_seen", "last_run")


def _insert(engine: Engine):
    name = engine.dialect.name
    if name == "postgresql":
        return postgresql.insert(FindingRow)
    if name == "sqlite":
        return sqlite.insert(FindingRow)
    raise NotImplementedError(f"state store on {name} is not supported (use SQLite or PostgreSQL)")


def start_run(engine: Engine, source: str, as_of: dt.datetime, checks: Iterable[str],
              replica: str | None = None) -> int:
    """Open a scan run; its id orders it after every run started before it."""
    with engine.begin() as conn:
        return conn.execute(
            sa.insert(ScanRun).returning(ScanRun.id),
            {"source": source, "as_of": as_of, "started_at": dt.datetime.now(dt.UTC),
             "ok": False, "rows_read": 0, "findings": 0, "checks": ",".join(sorted(checks)),
             "replica": replica},
        ).scalar_one()


ABANDONED = "abandoned: the process ended before the scan finished"


def close_abandoned(engine: Engine, source: str) -> int:
    """Close the unfinished runs of ``source``; call it only while holding its scan claim.

    A run is unfinished while its process scans; whoever holds the source's
    scan claim is the only one who may scan it, so any other unfinished run
    belongs to a process that was killed mid-scan. Closed as incomplete, such
    a run resolves nothing. Returns how many were closed.
    """
    def work(conn: sa.Connection) -> int:
        return conn.execute(
            sa.update(ScanRun).where(ScanRun.source == source, ScanRun.finished_at.is_(None))
            .values(finished_at=dt.datetime.now(dt.UTC), ok=False, error=ABANDONED)
        ).rowcount

    return run_transaction(engine, work)


def finish_run(engine: Engine, run_id: int, *, ok: bool, error: str | None, rows_read: int,
               findings: int, resolve_checks: Iterable[str] = (), source: str = "",
               as_of: dt.datetime | None = None) -> int:
    """Close a run; if it was complete, resolve what it did not see. Returns how many.

    Resolution goes by what *this* run saw, whatever other runs did meanwhile:
    a finding is resolved only if no run started at or after this one saw it
    (``last_run < run_id``: every upsert keeps the newest sighting, see
    :class:`FindingRecorder`). A finding this run upserted has ``last_run >=
    run_id``; one that a newer run (another replica, an overlapping ``sunlight
    cycle``) saw is left for that run to judge. Run ids come from one sequence
    at start, so they order runs by when they began.
    """
    checks = list(resolve_checks)

    def work(conn: sa.Connection) -> int:
        conn.execute(
            sa.update(ScanRun).where(ScanRun.id == run_id).values(
                finished_at=dt.datetime.now(dt.UTC), ok=ok, error=error,
                rows_read=rows_read, findings=findings,
            )
        )
        if not (ok and checks):
            return 0
        return conn.execute(
            sa.update(FindingRow)
            .where(FindingRow.source == source, FindingRow.check_id.in_(checks),
                   FindingRow.resolved_at.is_(None), FindingRow.last_run < run_id)
            .values(resolved_at=as_of or dt.datetime.now(dt.UTC), resolved_run=run_id)
        ).rowcount

    return run_transaction(engine, work)


def _upsert_set(ins: Any) -> dict[str, Any]:
    """What an upsert changes on a known finding, so that the newest run's view wins.

    - ``last_run`` only moves forward (the newest sighting, which
      :func:`finish_run` compares with);
    - the finding's facts are replaced only by a run at least as new as the
      one that last wrote them (a slow older run does not undo a newer one);
    - a resolved finding re-opens (new ``opened_run``, so a new letter may
      follow) only on a sighting by a run newer than the one that resolved it.
    """
    table = FindingRow.__table__
    new = ins.excluded
    newer = new.last_run >= table.c.last_run
    reopen = sa.and_(table.c.resolved_at.is_not(None),
                     new.last_run > sa.func.coalesce(table.c.resolved_run, 0))
    return {
        **{c: sa.case((newer, new[c]), else_=table.c[c]) for c in _UPDATED if c != "last_run"},
        "last_run": sa.case((new.last_run > table.c.last_run, new.last_run), else_=table.c.last_run),
        "resolved_at": sa.case((reopen, sa.null()), else_=table.c.resolved_at),
        "resolved_run": sa.case((reopen, sa.null()), else_=table.c.resolved_run),
        "opened_run": sa.case((reopen, new.opened_run), else_=table.c.opened_run),
    }


class FindingRecorder:
    """A sink for the engine: buffers findings and upserts them in batches."""

    def __init__(self, engine: Engine, run_id: int, seen_at: dt.datetime,
                 batch: int = 1000) -> None:
        self.engine, self.run_id, self.seen_at, self.batch = engine, run_id, seen_at, batch
        self._buf: list[dict] = []
        self.count = 0

    def __call__(self, f: Finding) -> None:
        self._buf.append({
            "fingerprint": f.fingerprint, "check_id": f.check, "subject": f.subject[:255],
            "unit_id": f.unit_id, "item_code": f.item_code, "source": f.source, "tier": f.tier,
            "summary": f.summary, "deadline": f.deadline,
            "overdue": None if f.overdue is None else Decimal(f.overdue),
            "measure": f.measure.value if f.measure else None,
            "calendar_uncovered": f.calendar_uncovered, "evidence": f.evidence,
            "first_seen": self.seen_at, "last_seen": self.seen_at, "resolved_at": None,
            "opened_run": self.run_id, "last_run": self.run_id, "resolved_run": None,
        })
        if len(self._buf) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self._buf:
            return
        # one fingerprint twice in a batch would be two updates of one row in one
        # statement, which PostgreSQL refuses: the last occurrence wins. Sorted,
        # so that concurrent recorders lock rows in the same order.
        rows = sorted({r["fingerprint"]: r for r in self._buf}.values(),
                      key=lambda r: r["fingerprint"])
        ins = _insert(self.engine)
        table = FindingRow.__table__
        stmt = ins.on_conflict_do_update(index_elements=[table.c.fingerprint], set_=_upsert_set(ins))
        run_transaction(self.engine, lambda conn: conn.execute(stmt, rows))
        self.count += len(rows)
        self._buf.clear()
