"""One source's cases, batch by batch: fetch columns, decide, hand the few rows to the record path.

The cases stream and its child streams (pauses, extensions, steps) are all in
key order (byte order of the key as text, as the record path's merge join).
Each batch of cases takes, from every child stream, the rows whose key is at
most the batch's last key; what is left waits for the next batch. So memory is
one batch of each, whatever the table sizes.

Of the rows :func:`sunlight.monitor.columnar.cases.decide` returns, those it
handed over are replayed through :func:`sunlight.monitor.readers.read_cases`
from the very values fetched here (with their children), so their records and
data-quality problems are the record path's own; the others (flagged, of a
shape decided here) have their records built from the parsed columns
(:mod:`sunlight.monitor.columnar.records`), equal to the reader's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
import structlog

from sunlight.checks.base import Check, EvalContext
from sunlight.checks.cases import StepOverdue
from sunlight.monitor.columnar.calendar import CalendarArrays
from sunlight.monitor.columnar.cases import FLAGS, decide, decision, wall_us
from sunlight.monitor.columnar.fetch import KEY, Batch, batches
from sunlight.monitor.columnar.records import build_cases, build_steps
from sunlight.monitor.columnar.scope import Tally
from sunlight.monitor.readers import ORPHAN, ReadContext, loaded, orphan, problem, read_cases
from sunlight.monitor.records.base import BadField, RowProblem
from sunlight.monitor.records.cases import (
    CASE_FIELDS,
    EXTENSION_FIELDS,
    PAUSE_FIELDS,
    STEP_FIELDS,
    CaseRecord,
    CaseStep,
)
from sunlight.monitor.records.due import enter
from sunlight.monitor.sources import Source, SourceError

log = structlog.get_logger("sunlight.columnar")

#: cases a :func:`decide` call takes at least (the driver's batches joined, their children
#: with them): each call costs ~40 ms of polars' planning whatever its rows, a fifth of a
#: scan in batches of 5,000. 1M cases (bench/README.md, stop 17): 10,000 took 8-12% off the
#: scan's CPU for +12-16 MB; 20,000 more CPU off on SQLite but 275 MB on PostgreSQL
DECIDE_ROWS = 10_000

CHILDREN = (("case_pauses", PAUSE_FIELDS), ("case_extensions", EXTENSION_FIELDS),
            ("case_steps", STEP_FIELDS))

#: what the engine does with each row handed back: (record or problem, the checks to feed; None: all)
Handle = Callable[[CaseRecord | RowProblem, tuple[str, ...] | None], None]
#: a batch's item placed at its row (its position in the batch), handled once the batch is done
Place = Callable[[tuple[int, CaseRecord | RowProblem, tuple[str, ...] | None]], None]


@dataclass
class _Piece:
    batch: Batch
    frame: pl.DataFrame  # rows of the batch with a key, with their position ``_pos``


class _Children:
    """A child stream consumed in step with the case batches.

    ``orphans`` collects, with their position in the stream (1-based, as the
    record path counts them), the rows that belong to no case: rows without a
    key at once, the others when :func:`scan_cases` finds no case of their key.
    """

    def __init__(self, entity: str, it: Iterator[Batch] | None) -> None:
        self.entity = entity
        self._it = it
        self._head: _Piece | None = None
        self._offset = 0  # rows of the stream in the batches before the current one
        self.orphans: list[tuple[int, dict[str, Any]]] = []

    def _next(self) -> _Piece | None:
        if self._it is None:
            return None
        for batch in self._it:
            offset = self._offset
            self._offset += batch.frame.height
            indexed = batch.frame.with_row_index("_pos")
            keyed = pl.col(KEY).is_not_null() & (pl.col(KEY) != "")
            keyless = indexed.filter(~keyed).get_column("_pos").to_list()
            if keyless:  # no case can be theirs: orphans, as the record path reports them
                self.orphans.extend(self.numbered(batch, offset, keyless))
            frame = indexed.filter(keyed).with_columns(_at=pl.lit(offset, pl.Int64))
            if frame.height:
                return _Piece(batch, frame)
        self._it = None
        return None

    @staticmethod
    def numbered(batch: Batch, offset: int, pos: list[int]) -> list[tuple[int, dict[str, Any]]]:
        return list(zip((offset + p + 1 for p in pos), batch.rows(pos), strict=True))

    def upto(self, last: str | None) -> list[_Piece]:
        """Every remaining row whose key is <= ``last`` (all of them for None)."""
        out: list[_Piece] = []
        while True:
            head = self._head or self._next()
            if head is None:
                self._head = None
                return out
            cut = head.frame.height if last is None else \
                int(head.frame.get_column(KEY).search_sorted(last, side="right"))
            if cut >= head.frame.height:
                out.append(head)
                self._head = None
                continue
            if cut:
                out.append(_Piece(head.batch, head.frame.slice(0, cut)))
            self._head = _Piece(head.batch, head.frame.slice(cut))
            return out


def _frame(pieces: list[_Piece]) -> pl.DataFrame | None:
    if not pieces:
        return None
    return pl.concat([p.frame for p in pieces], how="vertical_relaxed")


def _orphans(kids: _Children, pieces: list[_Piece], keys: list[str], parent_key: str = "case_id",
             parent: str = "办件") -> list[RowProblem]:
    """The rows of ``pieces`` whose key no parent of the batch has, and those set aside before."""
    for p in pieces:
        pos = p.frame.filter(~pl.col(KEY).is_in(keys)).get_column("_pos").to_list()
        if pos:
            kids.orphans.extend(kids.numbered(p.batch, int(p.frame.get_column("_at")[0]), pos))
    found, kids.orphans = kids.orphans, []
    return [orphan(kids.entity, n, row, parent_key, parent) for n, row in found]


def _child_rows(pieces: list[_Piece], keys: set[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for p in pieces:
        pos = p.frame.filter(pl.col(KEY).is_in(sorted(keys))).get_column("_pos").to_list()
        if pos:
            rows.extend(p.batch.rows(pos))
    return rows


class _Replay:
    """A source of the handed-over rows only, for :func:`read_cases`."""

    def __init__(self, src: Source, rows: dict[str, list[dict[str, Any]]]) -> None:
        self._src, self._rows = src, rows

    def has(self, entity: str) -> bool:
        return self._src.has(entity)

    def rows(self, entity: str, fields: Sequence[str], order_key: str | None = None
             ) -> Iterator[dict[str, Any]]:
        return iter(self._rows.get(entity, []))


def scan_cases(src: Source, rctx: ReadContext, ctx: EvalContext, feeders: Sequence[Check],
               arrays: CalendarArrays, params: Any, handle: Handle,
               count: Callable[[int], None], stop: Callable[[], bool] | None = None,
               tally: Tally | None = None,
               index: dict[str, dt.datetime | None] | None = None) -> None:
    """Evaluate every case of ``src`` as of ``ctx.at``; ``handle`` gets the rows that need Python.

    ``tally`` (the daemon's case figures) receives, per batch, the figures of the
    cases not handed over; ``handle`` sees the others, which it counts itself.
    ``index`` (an incremental source's time index) receives the entry of every
    case not handed over whole; ``handle`` enters the others.
    """
    checks = tuple(c.id for c in feeders)
    kids = {name: _Children(name, batches(src, name, fields, "case_id") if src.has(name) else None)
            for name, fields in CHILDREN}
    pubs = loaded(ctx.tables, "publications")
    published: dict[str, dict[str, int]] | None = None
    if pubs is not None:  # the first publication of each case, per subject (as the check indexes them)
        published = {}
        for p in pubs:
            if getattr(p, "ref_id", None) is None:
                continue
            first = published.setdefault(p.subject, {})
            t = wall_us(p.published_at)
            if p.ref_id not in first or t < first[p.ref_id]:
                first[p.ref_id] = t
    previous: str | None = None
    offset = 0  # case rows in the batches before this one (positions name keyless rows)
    for batch in batches(src, "cases", CASE_FIELDS, "case_id", rows=DECIDE_ROWS):
        if stop is not None and stop():
            raise SourceError(src.name, "abandoned: the daemon is shutting down")
        frame = batch.frame
        count(frame.height)
        keys = frame.get_column(KEY)
        non_null = keys.drop_nulls()
        last = non_null[-1] if non_null.len() else previous
        pieces = {name: k.upto(last) for name, k in kids.items()}
        # child rows of no case of this batch (nor of an earlier one): orphans (data quality)
        case_keys = non_null.unique().to_list()
        for name, k in kids.items():
            found = _orphans(k, pieces[name], case_keys)
            if found:
                count(len(found))  # the record path counts them among the rows it read
                for p in found:
                    handle(p, None)
        # a key the previous batch ended with: the record path saw it there first (duplicate)
        carried = [] if previous is None else \
            frame.with_row_index("_r").filter(pl.col(KEY) == previous).get_column("_r").to_list()
        for r, row in zip(carried, batch.rows(carried), strict=True):
            handle(problem("cases", row, "case_id", BadField("case_id", "办件编号重复"),
                           position=offset + r + 1), None)
        tallies: list[pl.DataFrame] = []
        entries: list[pl.DataFrame] | None = [] if index is not None else None
        parts: dict[str, pl.DataFrame] = {}
        try:
            decided = decide(frame, _frame(pieces["case_pauses"]), _frame(pieces["case_extensions"]),
                             _frame(pieces["case_steps"]), at=ctx.at, tz=ctx.tz, cal=arrays,
                             checks=checks, params=params, units=ctx.units,
                             known_units=rctx.known_units, published=published,
                             tally_days=None if tally is None else tally.days, tallies=tallies,
                             index=entries, parts=parts)
            d = decision(decided, checks)
        except Exception as exc:  # columns polars cannot join (or a bug): the record path reads all
            log.warning("columnar decision failed; the batch goes to the record path",
                        source=src.name, error=str(exc).splitlines()[0] if str(exc) else repr(exc),
                        exc_info=not isinstance(exc, pl.exceptions.PolarsError))
            decided = pl.DataFrame({"_row": range(frame.height), "handover": [True] * frame.height,
                                    **{FLAGS[c]: [False] * frame.height for c in checks}})
            d = decision(decided, checks)
            tallies = []  # every row goes to the record path, where the watchers count it
            entries = []  # and where each is entered in the time index
        if index is not None and entries:
            _enter(index, entries, ctx.tz)
        if tally is not None:
            for figures in tallies:
                tally.add(figures.rows(named=True))
        skip = set(carried)
        rows = [(r, ch) for r, ch in zip(d.rows, d.checks, strict=True) if r not in skip]
        whole = [(r, ch) for r, ch in rows if ch is None]
        # rows replayed whole and rows built here, handled in the source's order (as the record path)
        placed: list[tuple[int, CaseRecord | RowProblem, tuple[str, ...] | None]] = []
        place: Place = placed.append
        if whole:
            _replay(src, rctx, batch, offset, [r for r, _ in whole], [ch for _, ch in whole], pieces,
                    place)
        built = [(r, ch) for r, ch in rows if ch is not None]
        if built:
            _build(decided, parts.get("steps"), built, ctx.tz, place)
        placed.sort(key=lambda p: p[0])  # stable: a row's notices stay after its record
        for _, item, chosen in placed:
            handle(item, chosen)
        if non_null.len():
            previous = non_null[-1]
        offset += frame.height
    for k in kids.values():  # child rows after the last case: orphans
        found = _orphans(k, k.upto(None), [])
        if found:
            count(len(found))
            for p in found:
                handle(p, None)


def _enter(index: dict[str, dt.datetime | None], entries: list[pl.DataFrame], tz: dt.tzinfo) -> None:
    """The batch's time-index entries (wall microseconds in ``tz``) as aware times; earliest wins."""
    epoch = dt.datetime(1970, 1, 1)
    for frame in entries:
        for key, us in frame.iter_rows():
            due = None if us is None else (epoch + dt.timedelta(microseconds=us)).replace(tzinfo=tz)
            enter(index, key, due)


def _build(decided: pl.DataFrame, steps: pl.DataFrame | None,
           rows: Sequence[tuple[int, tuple[str, ...] | None]], tz: Any, place: Place) -> None:
    """The rows decided here: their records built from the parsed columns, fed the chosen checks."""
    chosen = dict(rows)
    sub = decided.filter(pl.col("_row").is_in(list(chosen)) & ~pl.col("handover"))
    if sub.height != len(rows):  # a bug: the source fails (and resolves nothing) rather than guess
        raise RuntimeError(f"columnar build: {len(rows)} rows chosen, {sub.height} decided")
    order = sub.get_column("_row").to_list()
    want = {k for r, k in zip(order, sub.get_column(KEY).to_list(), strict=True)
            if StepOverdue.id in (chosen[r] or ())}
    by_key = build_steps(steps.filter(pl.col(KEY).is_in(sorted(want))), tz) \
        if steps is not None and want else {}
    none: tuple[CaseStep, ...] = ()

    def steps_of(i: int, key: str) -> tuple[CaseStep, ...]:
        return by_key.get(key, none) if key in want else none

    for r, record in zip(order, build_cases(sub, tz, steps_of), strict=True):
        place((r, record, chosen[r]))


def _replay(src: Source, rctx: ReadContext, batch: Batch, offset: int, rows: list[int],
            checks: list[tuple[str, ...] | None], pieces: dict[str, list[_Piece]],
            place: Place) -> None:
    case_rows = batch.rows(rows)
    keys = {str(k) for r in case_rows if (k := r.get("case_id")) is not None}
    # steps only matter to step_overdue: the other rows are replayed without them (fewer to parse)
    step_keys = {str(k) for r, ch in zip(case_rows, checks, strict=True)
                 if (k := r.get("case_id")) is not None and (ch is None or StepOverdue.id in ch)}
    replay = _Replay(src, {"cases": case_rows,
                           **{name: _child_rows(p, step_keys if name == "case_steps" else keys)
                              for name, p in pieces.items()}})
    items = read_cases(replay, rctx, [offset + r + 1 for r in rows])  # type: ignore[arg-type]
    # each case row gives one item (its record, or the problem that stops it), then the
    # notices of what was cleaned in a row that was read all the same (kept problems)
    i = -1
    for item in items:
        if isinstance(item, RowProblem) and (item.kept or item.reason.startswith(ORPHAN)):
            place((rows[max(i, 0)], item, None))  # with the row just read (orphans: before the next)
            continue
        i += 1
        place((rows[i], item, checks[i]))
    if i != len(checks) - 1:  # a bug: the source fails (and resolves nothing) rather than guess
        raise SourceError(src.name, f"columnar replay: {len(checks)} case rows gave {i + 1} records")

