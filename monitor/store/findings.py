"""Recording findings: one row per fingerprint, however often a scan runs.

Upserts are a single ``INSERT … ON CONFLICT (fingerprint) DO UPDATE`` per batch,
so two replicas recording the same finding at once still leave one row
(invariant 3). A finding that a *complete* scan of its source no longer
produces is marked resolved; a failed or partial scan resolves nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from sunlight.monitor.finding import Finding
from sunlight.monitor.store.db import run_transaction
from sunlight.monitor.store.models import FindingRow, ScanRun

_UPDATED = ("unit_id", "item_code", "tier", "summary", "deadline", "overdue", "measure",
            "calendar_uncovered", "evidence", "last_seen", "last_run", "ended_at")


def _insert(engine: Engine):
    name = engine.dialect.name
    if name == "postgresql":
        return postgresql.insert(FindingRow)
    if name == "sqlite":
        return sqlite.insert(FindingRow)
    raise NotImplementedError(f"state store on {name} is not supported (use SQLite or PostgreSQL)")


def start_run(engine: Engine, source: str, as_of: dt.datetime, checks: Iterable[str]) -> int:
    with engine.begin() as conn:
        return conn.execute(
            sa.insert(ScanRun).returning(ScanRun.id),
            {"source": source, "as_of": as_of, "started_at": dt.datetime.now(dt.UTC),
             "ok": False, "rows_read": 0, "findings": 0, "checks": ",".join(sorted(checks))},
        ).scalar_one()


def finish_run(engine: Engine, run_id: int, *, ok: bool, error: str | None, rows_read: int,
               findings: int, resolve_checks: Iterable[str] = (), source: str = "",
               as_of: dt.datetime | None = None) -> int:
    """Close a run; if it was complete, resolve what it no longer saw. Returns how many."""
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
                   FindingRow.resolved_at.is_(None), FindingRow.last_run != run_id)
            .values(resolved_at=as_of or dt.datetime.now(dt.UTC))
        ).rowcount

    return run_transaction(engine, work)


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
            "calendar_uncovered": f.calendar_uncovered, "evidence": f.evidence, "ended_at": f.ended_at,
            "first_seen": self.seen_at, "last_seen": self.seen_at, "resolved_at": None,
            "opened_run": self.run_id, "last_run": self.run_id,
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
        stmt = ins.on_conflict_do_update(
            index_elements=[table.c.fingerprint],
            set_={
                **{c: ins.excluded[c] for c in _UPDATED},
                "resolved_at": None,
                "opened_run": sa.case(
                    (table.c.resolved_at.is_not(None), ins.excluded.opened_run),
                    else_=table.c.opened_run,
                ),
            },
        )
        run_transaction(self.engine, lambda conn: conn.execute(stmt, rows))
        self.count += len(rows)
        self._buf.clear()
