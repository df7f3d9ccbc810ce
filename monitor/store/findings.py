"""Recording findings: one row per fingerprint, however often a scan runs.

Upserts are a single ``INSERT … ON CONFLICT (fingerprint) DO UPDATE`` per batch,
so two replicas recording the same finding at once still leave one row
(invariant 3). A finding that a *complete* scan of its source no longer
produces is marked resolved; a failed or partial scan resolves nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from sunlight.monitor.finding import Finding
from sunlight.monitor.store.db import run_transaction
from sunlight.monitor.store.models import FindingRow, ScanRun
from sunlight.monitor.textsafe import EVIDENCE_TEXT_MAX, cap, safe_json, strip_controls

log = structlog.get_logger("sunlight.store")

#: what a finding the store refused becomes: (the finding, the store's reason) → a
#: data-quality finding for the source's data owner, or None to drop it (logged)
Rejected = Callable[[Finding, str], Finding | None]

#: column widths (migration 0008_wide_text)
SUBJECT_MAX, KEY_COLUMN_MAX = 1000, 255


def _clean(s: str, limit: int) -> str:
    if not s.isprintable():
        s = strip_controls(s)[0]
    return cap(s, limit)


def is_row_error(exc: BaseException) -> bool:
    """The store refused these values (too long, NUL, out of range), not the connection.

    Such an error is the row's problem: the rest of the batch, the other
    sources, letters and deliveries go on. Anything else (the store down,
    read-only, locked) is the store's problem and stops the work with one line.
    """
    if isinstance(exc, sa.exc.DataError | sa.exc.IntegrityError):
        return True
    # a value the driver or a column type refused before it reached the database
    return isinstance(exc, sa.exc.StatementError) and not isinstance(exc, sa.exc.DBAPIError)

_UPDATED = ("unit_id", "item_code", "tier", "summary", "deadline", "overdue", "measure",
            "calendar_uncovered", "evidence", "last_seen", "last_run")


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
    """A sink for the engine: buffers findings and upserts them in batches.

    Every value is made storable on the way in (control characters removed,
    text capped with the hash of the whole: ``sunlight.monitor.textsafe``). A
    batch the store still refuses is recorded row by row, and a row that
    cannot be stored is handed to ``on_reject`` (the engine turns it into a
    data-quality finding for the source's data owner): one bad row never costs
    the others (issue 10, item 3).
    """

    def __init__(self, engine: Engine, run_id: int, seen_at: dt.datetime,
                 batch: int = 1000, on_reject: Rejected | None = None) -> None:
        self.engine, self.run_id, self.seen_at, self.batch = engine, run_id, seen_at, batch
        self.on_reject = on_reject
        self._buf: list[tuple[Finding, dict[str, Any]]] = []
        self.count = 0
        self.rejected = 0  # findings the store refused (each replaced by a data-quality one)

    def row(self, f: Finding) -> dict[str, Any]:
        return {
            "fingerprint": f.fingerprint, "check_id": f.check,
            "subject": _clean(f.subject, SUBJECT_MAX),
            "unit_id": _clean(f.unit_id or "", KEY_COLUMN_MAX),
            "item_code": None if f.item_code is None else _clean(f.item_code, KEY_COLUMN_MAX),
            "source": f.source, "tier": f.tier,
            "summary": strip_controls(f.summary)[0] if not f.summary.isprintable() else f.summary,
            "deadline": f.deadline,
            "overdue": None if f.overdue is None else Decimal(f.overdue),
            "measure": f.measure.value if f.measure else None,
            "calendar_uncovered": f.calendar_uncovered,
            "evidence": safe_json(f.evidence, EVIDENCE_TEXT_MAX),
            "first_seen": self.seen_at, "last_seen": self.seen_at, "resolved_at": None,
            "opened_run": self.run_id, "last_run": self.run_id,
        }

    def __call__(self, f: Finding) -> None:
        self._buf.append((f, self.row(f)))
        if len(self._buf) >= self.batch:
            self.flush()

    def _statement(self) -> Any:
        ins = _insert(self.engine)
        table = FindingRow.__table__
        return ins.on_conflict_do_update(
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

    def flush(self) -> None:
        if not self._buf:
            return
        # one fingerprint twice in a batch would be two updates of one row in one
        # statement, which PostgreSQL refuses: the last occurrence wins. Sorted,
        # so that concurrent recorders lock rows in the same order.
        last = {r["fingerprint"]: (f, r) for f, r in self._buf}
        pairs = [last[k] for k in sorted(last)]
        self._buf.clear()
        stmt = self._statement()
        try:
            run_transaction(self.engine, lambda conn: conn.execute(stmt, [r for _, r in pairs]))
        except sa.exc.SQLAlchemyError as exc:
            if not is_row_error(exc):
                raise
            self._one_by_one(pairs, stmt)
            return
        self.count += len(pairs)

    def _one_by_one(self, pairs: list[tuple[Finding, dict[str, Any]]], stmt: Any) -> None:
        """The batch was refused: store each row alone and report the ones that fail."""
        for f, r in pairs:
            def one(conn: sa.Connection, r: dict[str, Any] = r) -> Any:
                return conn.execute(stmt, [r])

            try:
                run_transaction(self.engine, one)
            except sa.exc.SQLAlchemyError as exc:
                if not is_row_error(exc):
                    raise
                self._reject(f, exc, stmt)
            else:
                self.count += 1

    def _reject(self, f: Finding, exc: BaseException, stmt: Any) -> None:
        self.rejected += 1
        reason = _short(exc)
        log.error("finding refused by the state store", source=f.source, check=f.check,
                  fingerprint=f.fingerprint, error=reason)
        replacement = self.on_reject(f, reason) if self.on_reject is not None else None
        if replacement is None:
            return
        try:
            run_transaction(self.engine, lambda conn: conn.execute(stmt, [self.row(replacement)]))
        except sa.exc.SQLAlchemyError as exc2:
            if not is_row_error(exc2):
                raise
            log.error("data-quality finding refused by the state store too", source=f.source,
                      fingerprint=replacement.fingerprint, error=_short(exc2))
        else:
            self.count += 1


def _short(exc: BaseException) -> str:
    """The driver's first line, without SQL or parameters (which hold the refused value)."""
    orig = getattr(exc, "orig", None)
    lines = str(orig if orig is not None else exc).strip().splitlines()
    return cap(lines[0], 300) if lines else type(exc).__name__
