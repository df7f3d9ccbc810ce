"""Incremental cycles: between full scans, re-read only what changed or what time reached.

For a source with ``incremental: {cases: {watermark: <column>}}``, a cycle
under the source's scan claim

1. reads the keys of the cases whose watermark is at least the greatest it
   read before (``Source.changed``), and the keys the store's time index
   says are due (a deadline, due-soon or statutory boundary, an event dated
   later than the last cycle: :mod:`sunlight.monitor.records.due`);
2. reads those cases and their child rows by key (``Source.rows_for_keys``)
   through the very reader of a full scan (``read_cases``) and feeds them to
   every enabled case check that needs no other table (the record path,
   the reference for findings);
3. records what fires, and resolves only the findings of the records it
   re-evaluated whole that it no longer produced
   (:func:`sunlight.monitor.store.incremental.finish_incremental`); then
   moves their time-index entries and the watermark, in the same transaction.

What it leaves to the full scans (``server.full_scan``, and the first cycle
of a daemon and after a reload): every other entity and check (publications,
spending, …, ``case_result_unpublished`` which needs the publications), data
quality (a row that cannot be read is reported by the full scan: its key is
not re-evaluated here, so nothing of it is resolved either), edits of child
rows that do not move the case's watermark, rows whose watermark did not
move (written with an older value, a long transaction), deleted rows, and
the daemon's per-unit case figures (metrics). A record read here with any
problem (a duplicate key, a child row that cannot be read, a check that
failed, a deadline beyond the calendar) is not counted as re-evaluated: its
findings stay as they are until a full scan judges them.

A finding of a record not re-evaluated keeps the ``evidence.as_of`` and
``last_seen`` of the cycle that last evaluated it; every other field is what
a full scan at the same as-of time writes (the time index guarantees that
nothing else of it can have changed: ``tests/test_incremental.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.engine import Engine as SAEngine

from sunlight.checks.base import Check, Finding
from sunlight.checks.cases import open_boundary
from sunlight.monitor.calendar import OutOfSpan
from sunlight.monitor.engine import (
    Engine,
    Sink,
    SourceOutcome,
    each_claimed,
    scan_and_record_one,
)
from sunlight.monitor.readers import read_cases
from sunlight.monitor.records.base import RowProblem
from sunlight.monitor.records.cases import CaseRecord
from sunlight.monitor.records.due import next_due
from sunlight.monitor.sources import Source, SourceError
from sunlight.monitor.store.claims import Claims, scan_claim
from sunlight.monitor.store.findings import FindingRecorder, close_abandoned, start_run
from sunlight.monitor.store.incremental import (
    State,
    due_keys,
    encode_mark,
    finish_incremental,
    greatest,
    load_state,
)

log = structlog.get_logger("sunlight.incremental")

ENTITY = "cases"


def incremental_checks(engine: Engine, src: Source) -> list[type[Check[Any, Any]]]:
    """The checks an incremental run evaluates: the case checks that need no other table."""
    if not src.has(ENTITY):
        return []
    return [c for c in engine.checks if c.entity == ENTITY and not c.needs]


@dataclass
class Evaluation:
    """What one incremental read did: the outcome, and the records re-evaluated whole."""

    outcome: SourceOutcome
    asked: int = 0  # keys asked for
    #: key → new time-index entry, for every record read and fed to every check without a problem
    evaluated: dict[str, dt.datetime | None] = field(default_factory=dict)


class _Keyed:
    """The source seen through some keys only, for :func:`read_cases` (children by key too)."""

    def __init__(self, src: Source, keys: Sequence[str]) -> None:
        self._src, self._keys = src, keys

    def has(self, entity: str) -> bool:
        return self._src.has(entity)

    def rows(self, entity: str, fields: Sequence[str], order_key: str | None = None
             ) -> Iterator[dict[str, Any]]:
        return self._src.rows_for_keys(entity, fields, order_key or "case_id", self._keys)


def evaluate_keys(engine: Engine, src: Source, at: dt.datetime, keys: Sequence[str],
                  sink: Sink) -> Evaluation:
    """Read the cases of ``keys`` (with their children) and feed them to the incremental checks."""
    tz = engine.settings.tz
    at = at.astimezone(tz)
    out = SourceOutcome(src.name, incremental=True)
    result = Evaluation(out, asked=len(keys))
    emit = engine._emitter(src, out, sink)

    def drop(_f: Finding) -> None:  # data quality is the full scan's: positions differ here
        return None

    with engine.evaluating(src, out):
        checks = incremental_checks(engine, src)
        out.checks_run = {c.id for c in checks}
        rctx, ctx = engine.contexts(src, at, out, drop)
        instances = [cls() for cls in checks]
        asked = set(keys)
        troubled: set[str] = set()  # keys read with a problem: not re-evaluated whole

        def exact(seen: CaseRecord) -> dt.datetime | None:
            return open_boundary(seen, ctx)

        stop = engine.stop_requested
        for item in read_cases(_Keyed(src, keys), rctx):  # type: ignore[arg-type]
            if stop is not None and stop():
                raise SourceError(src.name, "abandoned: the daemon is shutting down")
            if isinstance(item, RowProblem):
                if not item.kept:
                    troubled.add(item.key)
                    out.rows_read[item.entity] += 1
                continue
            out.rows_read[ENTITY] += 1
            key = item.case_id
            record: CaseRecord | None = item.as_of(at)
            failed = sum(out.check_errors.values())
            if record is not None:
                try:
                    engine._feed(instances, record, ctx, out, emit)
                except (OutOfSpan, OverflowError):  # a data-quality finding of the full scan
                    troubled.add(key)
                    continue
            if sum(out.check_errors.values()) != failed or key not in asked:
                # a check failed on it, or its key as read differs from the key as stored
                # (padded with spaces): not re-evaluated whole
                troubled.add(key)
                continue
            if key in result.evaluated:  # read twice: a duplicate key, for the full scan
                troubled.add(key)
            # after the checks: the record's deadlines are memoised in ``ctx``
            result.evaluated[key] = next_due(item, at, exact, seen=record)
        for key in troubled:
            result.evaluated.pop(key, None)
    return result


def incremental_scan_and_record(engine: Engine, store: SAEngine, at: dt.datetime,
                                sources: Iterable[str] | None = None, claims: Claims | None = None,
                                wait: float = 0.0) -> list[SourceOutcome]:
    """One cycle's scans: incremental where the source allows it, else full.

    A source without ``incremental``, or whose state is missing (no full scan
    yet) or ahead of ``at`` (a clock set back), is scanned fully, which also
    (re)builds its time index and watermark.
    """
    def scan_one(src: Source, held: Claims) -> SourceOutcome:
        state = (load_state(store, src.name, ENTITY)
                 if src.config.incremental is not None and not engine.only else None)
        if state is None or at < state.as_of:
            return scan_and_record_one(engine, store, at, src, None, held)
        return _incremental_one(engine, store, at, src, state, held)

    return each_claimed(engine, store, sources, claims, wait, scan_one)


def _incremental_one(engine: Engine, store: SAEngine, at: dt.datetime, src: Source, state: State,
                     claims: Claims) -> SourceOutcome:
    abandoned = close_abandoned(store, src.name)
    if abandoned:
        log.warning("closed scan runs a killed process left unfinished", source=src.name,
                    runs=abandoned)
    assert src.config.incremental is not None
    column = src.config.incremental.cases.watermark
    checks = [c.id for c in incremental_checks(engine, src)]
    run_id = start_run(store, src.name, at, checks, replica=claims.replica, mode="incremental")
    recorder = FindingRecorder(store, run_id, at, on_reject=engine.quality.unstorable)
    mark: tuple[str | None, str | None] | None = None
    changed: set[str] = set()
    due: list[str] = []
    try:
        values = []
        for key, value in src.changed(ENTITY, "case_id", column, state.watermark):
            values.append(value)
            if key is not None and str(key) != "":
                changed.add(str(key))
        newest = greatest(state.watermark, values)
        mark = encode_mark(newest)
        if mark is None:
            raise SourceError(src.name, f"cases.{column}: a value of type {type(newest).__name__} "
                                        "cannot serve as a watermark")
        due = due_keys(store, src.name, ENTITY, at)
        result = evaluate_keys(engine, src, at, sorted(changed | set(due)), recorder)
        outcome = result.outcome
    except SourceError as exc:
        outcome = SourceOutcome(src.name, ok=False, error=str(exc))
        engine.down.add(src.name)
        log.error("source failed", source=src.name, error=exc.problem)
        result = Evaluation(outcome)
    recorder.flush()
    if outcome.ok and not claims.holds(scan_claim(src.name)):
        outcome.ok, outcome.error = False, f"{src.name}: the scan claim was lost; nothing resolved"
        log.error("scan claim lost before the run finished: it resolves nothing", source=src.name,
                  run=run_id)
    resolved = finish_incremental(
        store, run_id, ok=outcome.ok and mark is not None, error=outcome.error,
        rows_read=sum(outcome.rows_read.values()), findings=recorder.count, source=src.name,
        entity=ENTITY, checks=checks, evaluated=result.evaluated, mark=mark or (None, None), at=at)
    log.info("incremental scan", source=src.name, run=run_id, ok=outcome.ok, changed=len(changed),
             due=len(due), evaluated=len(result.evaluated), upserted=recorder.count,
             resolved=resolved, seconds=round(outcome.seconds, 3))
    return outcome


__all__ = ["Evaluation", "evaluate_keys", "incremental_checks", "incremental_scan_and_record"]
