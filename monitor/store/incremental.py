"""The state of incremental cycles: watermarks, the time index, and resolving by record.

A full scan of a source with ``incremental`` configured leaves here the
watermark it started from and the time index of every case that time alone
can change (:mod:`sunlight.monitor.records.due`). An incremental run then
re-reads the rows changed since and the records due, and, in one
transaction, closes its run, resolves the findings *of the records it
re-evaluated* that it no longer produced, moves their index entries and the
watermark. It never resolves a finding of a record it did not read, nor of a
check it did not run (:func:`finish_incremental`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sunlight.monitor.store.db import run_transaction
from sunlight.monitor.store.models import FindingRow, IncrementalState, ScanRun, TimeIndexRow

#: keys per statement (IN lists, inserts)
CHUNK = 500


@dataclass(frozen=True)
class State:
    """Where one source's incremental cycles stand."""

    watermark: Any  # the greatest value read so far (None: the table was empty)
    as_of: dt.datetime
    full_as_of: dt.datetime
    full_run: int
    last_run: int


# --- watermark values: kept as text with their type, compared in the source as read -------


def encode_mark(value: Any) -> tuple[str | None, str | None] | None:
    """A watermark value as (text, type); None when its type cannot be kept (no incremental)."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value, "str"
    if isinstance(value, int):
        return str(value), "int"
    if isinstance(value, Decimal):
        return str(value), "decimal"
    if isinstance(value, float):
        return repr(value), "float"
    if isinstance(value, dt.datetime):
        return value.isoformat(), "datetime"
    if isinstance(value, dt.date):
        return value.isoformat(), "date"
    return None


def decode_mark(text: str | None, kind: str | None) -> Any:
    if text is None or kind is None:
        return None
    if kind == "str":
        return text
    if kind == "int":
        return int(text)
    if kind == "decimal":
        return Decimal(text)
    if kind == "float":
        return float(text)
    if kind == "datetime":
        return dt.datetime.fromisoformat(text)
    if kind == "date":
        return dt.date.fromisoformat(text)
    raise ValueError(f"unknown watermark type {kind!r}")


def greatest(current: Any, values: Iterable[Any]) -> Any:
    """The greatest of ``current`` and ``values`` (None values ignored)."""
    best = current
    for v in values:
        if v is not None and (best is None or v > best):
            best = v
    return best


# --- reading ----------------------------------------------------------------------------


def load_state(engine: Engine, source: str, entity: str) -> State | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(IncrementalState).where(
            IncrementalState.source == source, IncrementalState.entity == entity)).first()
    if row is None:
        return None
    return State(decode_mark(row.watermark, row.watermark_type), row.as_of, row.full_as_of,
                 row.full_run, row.last_run)


def due_keys(engine: Engine, source: str, entity: str, at: dt.datetime) -> list[str]:
    """The records whose time boundary is at or before ``at``."""
    with engine.connect() as conn:
        return list(conn.execute(sa.select(TimeIndexRow.record_key).where(
            TimeIndexRow.source == source, TimeIndexRow.entity == entity,
            TimeIndexRow.next_due <= at)).scalars())


def index_entries(engine: Engine, source: str, entity: str) -> dict[str, dt.datetime]:
    """The whole time index of one source's entity (tests and the benchmark look at it)."""
    with engine.connect() as conn:
        return {k: v for k, v in conn.execute(sa.select(TimeIndexRow.record_key, TimeIndexRow.next_due)
                                              .where(TimeIndexRow.source == source,
                                                     TimeIndexRow.entity == entity)).all()}


# --- writing ----------------------------------------------------------------------------


def _save_state(conn: sa.Connection, source: str, entity: str, values: dict[str, Any]) -> None:
    where = (IncrementalState.source == source, IncrementalState.entity == entity)
    if conn.execute(sa.update(IncrementalState).where(*where).values(**values)).rowcount == 0:
        conn.execute(sa.insert(IncrementalState).values(source=source, entity=entity, **values))


def _insert_index(conn: sa.Connection, source: str, entity: str,
                  entries: Mapping[str, dt.datetime | None]) -> None:
    rows = [{"source": source, "entity": entity, "record_key": k, "next_due": v}
            for k, v in entries.items() if v is not None]
    for i in range(0, len(rows), 5000):
        conn.execute(sa.insert(TimeIndexRow), rows[i:i + 5000])


def finish_full(engine: Engine, source: str, entity: str, run_id: int, at: dt.datetime,
                mark: tuple[str | None, str | None], index: Mapping[str, dt.datetime | None]) -> None:
    """After a complete full scan: the time index replaced whole, the watermark it started from."""

    def work(conn: sa.Connection) -> None:
        conn.execute(sa.delete(TimeIndexRow).where(TimeIndexRow.source == source,
                                                   TimeIndexRow.entity == entity))
        _insert_index(conn, source, entity, index)
        _save_state(conn, source, entity, {
            "watermark": mark[0], "watermark_type": mark[1], "as_of": at, "full_as_of": at,
            "full_run": run_id, "last_run": run_id})

    run_transaction(engine, work)


def finish_incremental(engine: Engine, run_id: int, *, ok: bool, error: str | None, rows_read: int,
                       findings: int, source: str, entity: str, checks: Iterable[str],
                       evaluated: Mapping[str, dt.datetime | None],
                       mark: tuple[str | None, str | None], at: dt.datetime) -> int:
    """Close an incremental run; if it completed, resolve, re-index and move the watermark.

    ``evaluated``: the records the run read and fed to every check in
    ``checks`` without a problem, with their new time-index entry. Only their
    findings of those checks are candidates, and only those no run started at
    or after this one saw (``last_run < run_id``, as :func:`finish_run`).
    Returns how many findings were resolved.
    """
    wanted = list(checks)
    keys = sorted(evaluated)

    def work(conn: sa.Connection) -> int:
        conn.execute(sa.update(ScanRun).where(ScanRun.id == run_id).values(
            finished_at=dt.datetime.now(dt.UTC), ok=ok, error=error, rows_read=rows_read,
            findings=findings))
        if not ok:
            return 0
        resolved = 0
        for i in range(0, len(keys), CHUNK):
            part = keys[i:i + CHUNK]
            if wanted:
                resolved += conn.execute(
                    sa.update(FindingRow)
                    .where(FindingRow.source == source, FindingRow.record_key.in_(part),
                           FindingRow.check_id.in_(wanted), FindingRow.resolved_at.is_(None),
                           FindingRow.last_run < run_id)
                    .values(resolved_at=at, resolved_run=run_id)).rowcount
            conn.execute(sa.delete(TimeIndexRow).where(
                TimeIndexRow.source == source, TimeIndexRow.entity == entity,
                TimeIndexRow.record_key.in_(part)))
        _insert_index(conn, source, entity, evaluated)
        _save_state(conn, source, entity, {
            "watermark": mark[0], "watermark_type": mark[1], "as_of": at, "last_run": run_id})
        return resolved

    return run_transaction(engine, work)
