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
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from sunlight.monitor.finding import Finding
from sunlight.monitor.store.db import run_transaction
from sunlight.monitor.store.models import FindingRow, ScanRun
from sunlight.monitor.store.recording import (
    UNENCODABLE,
    Pending,
    Writer,
    pending,
    stored_evidence,
    values,
    writer_for,
)
from sunlight.monitor.textsafe import EVIDENCE_TEXT_MAX, cap, safe_json

log = structlog.get_logger("sunlight.store")

#: what a finding the store refused becomes: (the finding, the store's reason) → a
#: data-quality finding for the source's data owner, or None to drop it (logged)
Rejected = Callable[[Finding, str], Finding | None]

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
            "calendar_uncovered", "evidence", "last_seen", "last_run", "ended_at", "record_key",
            "content_hash")


def _insert(engine: Engine):
    name = engine.dialect.name
    if name == "postgresql":
        return postgresql.insert(FindingRow)
    if name == "sqlite":
        return sqlite.insert(FindingRow)
    raise NotImplementedError(f"state store on {name} is not supported (use SQLite or PostgreSQL)")


def start_run(engine: Engine, source: str, as_of: dt.datetime, checks: Iterable[str],
              replica: str | None = None, mode: str = "full") -> int:
    """Open a scan run; its id orders it after every run started before it."""
    with engine.begin() as conn:
        return conn.execute(
            sa.insert(ScanRun).returning(ScanRun.id),
            {"source": source, "as_of": as_of, "started_at": dt.datetime.now(dt.UTC),
             "ok": False, "rows_read": 0, "findings": 0, "checks": ",".join(sorted(checks)),
             "replica": replica, "mode": mode},
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
               as_of: dt.datetime | None = None, entity_rows: Mapping[str, int] | None = None) -> int:
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
                entity_rows=dict(entity_rows) if entity_rows is not None else None,
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


#: how many of a source's newest complete runs :func:`expected_rows` looks through
EXPECTED_RUNS = 20


def expected_rows(engine: Engine, sources: Iterable[str]) -> dict[tuple[str, str], int]:
    """Rows per (source, entity) that the last complete scan reading that entity read.

    What a progress bar takes as the total of the next scan (an estimate: the
    source may have grown), without counting the source first. A complete run
    is one that ended ``ok``; a partial scan (``--check``) reads only some
    entities, so each entity comes from the newest complete run that read it.
    An entity no complete run recorded (runs before 0012_progress) is absent.
    """
    found: dict[tuple[str, str], int] = {}
    with engine.connect() as conn:
        for source in sources:
            rows = conn.execute(
                sa.select(ScanRun.entity_rows)
                .where(ScanRun.source == source, ScanRun.ok.is_(True),
                       ScanRun.finished_at.is_not(None), ScanRun.entity_rows.is_not(None),
                       # an incremental run read only what changed: not the source's size
                       sa.or_(ScanRun.mode.is_(None), ScanRun.mode != "incremental"))
                .order_by(ScanRun.id.desc()).limit(EXPECTED_RUNS)).scalars()
            for counts in rows:
                for entity, n in (counts or {}).items():
                    if isinstance(n, int) and n > 0:
                        found.setdefault((source, entity), n)
    return found


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
    # (a literal 0, not a bound one: the set-based writers run this SQL without parameters)
    reopen = sa.and_(table.c.resolved_at.is_not(None),
                     new.last_run > sa.func.coalesce(table.c.resolved_run, sa.literal_column("0")))
    return {
        **{c: sa.case((newer, new[c]), else_=table.c[c]) for c in _UPDATED if c != "last_run"},
        "last_run": sa.case((new.last_run > table.c.last_run, new.last_run), else_=table.c.last_run),
        "resolved_at": sa.case((reopen, sa.null()), else_=table.c.resolved_at),
        "resolved_run": sa.case((reopen, sa.null()), else_=table.c.resolved_run),
        "opened_run": sa.case((reopen, new.opened_run), else_=table.c.opened_run),
    }


class FindingRecorder:
    """A sink for the engine: buffers findings and records them in batches, set-based.

    Each batch is one transaction (``store/recording.py``): the findings the
    store holds unchanged and open are marked seen in one statement, the
    others are written whole by one bulk upsert. Every value is made storable
    on the way in (control characters removed, text capped with the hash of the
    whole: ``sunlight.monitor.textsafe``). A batch the store still refuses is
    recorded row by row, and a row that cannot be stored is handed to
    ``on_reject`` (the engine turns it into a data-quality finding for the
    source's data owner): one bad row never costs the others (issue 10, item 3).
    A finding is kept as a :class:`~sunlight.monitor.store.recording.Pending`
    (atomic values, its evidence as JSON text) from the moment it is handed over:
    a buffer of findings with their evidence dicts made Python's garbage
    collector cost more than the writing.
    """

    def __init__(self, engine: Engine, run_id: int, seen_at: dt.datetime,
                 batch: int = 2000, on_reject: Rejected | None = None) -> None:
        self.engine, self.run_id, self.seen_at, self.batch = engine, run_id, seen_at, batch
        self.on_reject = on_reject
        self._buf: list[Pending] = []
        self._writer = writer_for(engine, run_id, seen_at, _upsert_set)
        self.count = 0
        self.seen = 0  # of ``count``: marked seen, unchanged (the rest were written whole)
        self.rejected = 0  # findings the store refused (each replaced by a data-quality one)

    def row(self, f: Finding | Pending) -> dict[str, Any]:
        """The row of the row-by-row path (SQLAlchemy's types; no content hash: written whole
        again at the finding's next sighting)."""
        evidence = f.loaded_evidence() if isinstance(f, Pending) else f.evidence
        return values(f, self.run_id, self.seen_at, None, safe_json(evidence, EVIDENCE_TEXT_MAX))

    def __call__(self, f: Finding) -> None:
        self._buf.append(pending(f))
        if len(self._buf) >= self.batch:
            self.flush()

    def _statement(self) -> Any:
        ins = _insert(self.engine)
        table = FindingRow.__table__
        return ins.on_conflict_do_update(index_elements=[table.c.fingerprint], set_=_upsert_set(ins))

    def flush(self) -> None:
        if not self._buf:
            return
        # one fingerprint twice in a batch would be two updates of one row in one
        # statement, which PostgreSQL refuses: the last occurrence wins. Sorted,
        # so that concurrent recorders lock rows in the same order.
        last = {p.fingerprint: p for p in self._buf}
        batch = [last[k] for k in sorted(last)]
        self._buf.clear()
        stmt = self._statement()
        writer = self._writer
        try:
            if writer is None:
                run_transaction(self.engine, lambda conn: conn.execute(
                    stmt, [self.row(p) for p in batch]))
                seen = 0
            else:
                seen = run_transaction(self.engine, lambda conn: self._set_based(conn, writer, batch, stmt))
        except sa.exc.SQLAlchemyError as exc:
            if not is_row_error(exc):
                raise
            self._one_by_one(batch, stmt)
            return
        self.count += len(batch)
        self.seen += seen

    def _set_based(self, conn: sa.Connection, writer: Writer, batch: list[Pending], stmt: Any) -> int:
        """One batch in one transaction: mark the unchanged seen, write the rest whole; how many seen."""
        hits = writer.seen(conn, batch)
        rows, odd = [], []
        for p in batch:
            if p.fingerprint in hits:
                continue
            text = p.evidence_json()
            if text is None:  # not JSON to orjson: SQLAlchemy's types judge it, as before
                odd.append(p)
                continue
            try:
                rows.append(writer.prepare(values(p, self.run_id, self.seen_at, p.digest,
                                                  stored_evidence(text))))
            except UNENCODABLE:  # a value a column's type refuses: a row error there, as before
                odd.append(p)
        if rows:
            writer.write(conn, rows)
        if odd:
            conn.execute(stmt, [self.row(p) for p in odd])
        return len(hits)

    def _one_by_one(self, batch: list[Pending], stmt: Any) -> None:
        """The batch was refused: store each row alone and report the ones that fail."""
        writer = self._writer
        for p in batch:
            if writer is not None:
                def alone(conn: sa.Connection, p: Pending = p, writer: Writer = writer) -> int:
                    return self._set_based(conn, writer, [p], stmt)

                try:
                    self.seen += run_transaction(self.engine, alone)
                except sa.exc.SQLAlchemyError as exc:
                    if not is_row_error(exc):
                        raise
                else:
                    self.count += 1
                    continue
            # alone through SQLAlchemy's types: what the store refuses there is the row's fault
            r = self.row(p)

            def one(conn: sa.Connection, r: dict[str, Any] = r) -> Any:
                return conn.execute(stmt, [r])

            try:
                run_transaction(self.engine, one)
            except sa.exc.SQLAlchemyError as exc:
                if not is_row_error(exc):
                    raise
                self._reject(p.as_finding(), exc, stmt)
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
