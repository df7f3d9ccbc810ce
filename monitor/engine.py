"""One evaluation of the sources, top to bottom.

For each source: open it read-only, load the small lookup tables (units, and
whatever the enabled checks ``need`` whole), then stream each entity once and
feed every record, as it stood at the as-of time, to every enabled check of
that entity. Findings go to a *sink* (print, record, count: the caller
decides). A failing source is reported in its outcome and the next source
runs (invariant 5); a check that raises on one record is counted and the rest
go on.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from sqlalchemy.engine import Engine as SAEngine

from sunlight.alerts.outbox import crash_point
from sunlight.checks.base import Check, EvalContext, Finding
from sunlight.checks.cases import open_boundary
from sunlight.checks.quality import DataQuality
from sunlight.checks.registry import CheckParams, load_all, require_known
from sunlight.monitor.calendar import OutOfSpan, WorkCalendar
from sunlight.monitor.collection import collection_relaxed
from sunlight.monitor.columnar import scope as columnar
from sunlight.monitor.readers import READERS, ReadContext
from sunlight.monitor.records.base import RowProblem
from sunlight.monitor.records.cases import CaseRecord
from sunlight.monitor.records.due import enter as enter_due
from sunlight.monitor.records.due import next_due
from sunlight.monitor.records.org import UnitInfo
from sunlight.monitor.settings import Settings
from sunlight.monitor.sources import Source, SourceError
from sunlight.monitor.store.claims import Claims, claims_for, scan_claim
from sunlight.monitor.store.findings import FindingRecorder, close_abandoned, finish_run, start_run
from sunlight.monitor.store.incremental import encode_mark, finish_full
from sunlight.monitor.textsafe import KEY_MAX, SUMMARY_MAX, cap, cut

if TYPE_CHECKING:
    from sunlight.monitor.columnar.calendar import CalendarArrays

#: a record's own key, by the attribute its record type names it with
_RECORD_KEYS = ("case_id", "voucher_id", "publication_id", "decision_id", "complaint_id",
                "request_id", "person_id")
#: what a record beyond the calendar's counting becomes (a data-quality reason, in Chinese)
BEYOND_CALENDAR = "推算出的期限超出工作日历可计算的范围（至2060年12月31日）"

log = structlog.get_logger("sunlight.engine")

Sink = Callable[[Finding], None]
#: told how far a scan is: (source, entity, rows of that entity read so far); cheap, called often
Progress = Callable[[str, str, int], None]
#: the record path reports progress every this many rows
PROGRESS_EVERY = 2000
#: unit ids → names (ids it cannot name are left out): what letters and printed findings take
UnitLookup = Callable[[Iterable[str]], dict[str, str]]


class ScanWatcher(Protocol):
    """Sees the records a scan feeds to the checks, without a second read of the source.

    The metrics' case tally (open, overdue, on-time rate per unit) is one: it
    counts while the engine streams the cases anyway.
    """

    def begin(self, source: str, at: dt.datetime) -> Callable[[Any, EvalContext], None] | None:
        """Start watching one scan; return the per-record callback (or None to skip it)."""

    def end(self, source: str, outcome: SourceOutcome) -> None:
        """The scan is over; ``outcome.ok`` says whether it saw every record."""


@dataclass
class SourceOutcome:
    """How one source's evaluation went: what the metrics and the console report."""

    source: str
    ok: bool = True
    error: str | None = None
    rows_read: Counter[str] = field(default_factory=Counter)
    findings: Counter[str] = field(default_factory=Counter)  # by check id
    check_errors: Counter[str] = field(default_factory=Counter)
    checks_run: set[str] = field(default_factory=set)
    uncovered: int = 0  # findings whose deadline touches a year no holiday notice covers
    claimed_elsewhere: bool = False  # not scanned: another process was scanning the source
    #: an incremental run (only changed and due records read): its counts are not the source's size
    incremental: bool = False
    #: cases read by the columnar path, and how many of them it handed to the record path
    columnar_rows: int = 0
    handed_over: int = 0
    seconds: float = 0.0
    #: the source's units as this scan read them (the letters name their recipients from it)
    units: dict[str, UnitInfo] = field(default_factory=dict)


def load_calendar(settings: Settings) -> WorkCalendar:
    return WorkCalendar.from_files([settings.resolve(p) for p in settings.calendar.overrides])


class Engine:
    """Holds what does not change between cycles: config, calendar, check plan."""

    def __init__(self, settings: Settings, calendar: WorkCalendar | None = None,
                 only: Iterable[str] | None = None, watchers: Iterable[ScanWatcher] = (),
                 stop_requested: Callable[[], bool] | None = None,
                 progress: Progress | None = None) -> None:
        self.settings = settings
        self.progress = progress  # a terminal's progress bar, the daemon's rows-read gauge
        self.watchers = list(watchers)
        # checked between records: a daemon that is shutting down abandons the scan
        # (its run then counts as incomplete and resolves nothing)
        self.stop_requested = stop_requested
        self.calendar = calendar or load_calendar(settings)
        registry = load_all()
        wanted = set(only) if only else None
        self.only = wanted
        if wanted:
            require_known(wanted)
        self.params = {cid: CheckParams(cls, settings.checks) for cid, cls in registry.items()}
        self.checks: list[type[Check[Any, Any]]] = [
            cls for cid, cls in registry.items()
            if cls.entity != "*" and self.params[cid].ever_enabled
            and (wanted is None or cid in wanted)
        ]
        self.sources = {
            name: Source(name, cfg, settings.base_dir) for name, cfg in settings.sources.items()
        }
        self.quality = DataQuality()
        #: sources whose last scan failed: not asked again in the same cycle (a hung source
        #: would cost its timeout a second time when letters look up unit names)
        self.down: set[str] = set()
        self._arrays: CalendarArrays | None = None  # the calendar as arrays, for the columnar path

    def close(self) -> None:
        for src in self.sources.values():
            src.close()

    # --- one scan ----------------------------------------------------------------

    def scan(self, at: dt.datetime, sink: Sink, sources: Iterable[str] | None = None
             ) -> list[SourceOutcome]:
        """Evaluate every (or the named) source as of ``at``; findings go to ``sink``."""
        names = list(sources) if sources is not None else list(self.sources)
        return [self.scan_source(self.sources[n], at, sink) for n in names]

    def _emitter(self, src: Source, out: SourceOutcome, sink: Sink) -> Sink:
        def emit(f: Finding) -> None:
            # f.tier stays the check's default: the tier policy (overrides, repeat,
            # escalation) is applied once, when letters are planned (alerts/planner.py)
            f.source = src.name
            if len(f.summary) > SUMMARY_MAX:  # a 5 MB field must not become a 5 MB letter line
                f.summary = cut(f.summary, SUMMARY_MAX, "……（内容过长，已截断，全文见证据）")
            out.findings[f.check] += 1
            out.uncovered += f.calendar_uncovered
            sink(f)

        return emit

    @contextmanager
    def evaluating(self, src: Source, out: SourceOutcome) -> Iterator[None]:
        """One evaluation of ``src``: a source failure ends it in ``out`` (invariant 5).

        Afterwards the source is up or down by ``out`` and ``out.seconds`` is set.
        """
        started = time.perf_counter()
        try:
            with collection_relaxed():  # a scan makes millions of objects, next to no cycles
                yield
        except SourceError as exc:
            out.ok, out.error = False, str(exc)
            log.error("source failed", source=src.name, error=exc.problem)
        if out.ok:
            self.down.discard(src.name)
        else:
            self.down.add(src.name)
        out.seconds = time.perf_counter() - started

    def contexts(self, src: Source, at: dt.datetime, out: SourceOutcome, emit: Sink
                 ) -> tuple[ReadContext, EvalContext]:
        """The source's units read (their problems to ``emit``), and the reading and checking contexts."""
        units = self._units(src, self.settings.tz, out, emit)
        rctx = ReadContext(self.settings.tz, frozenset(units) if units is not None else None)
        ctx = EvalContext(at=at, calendar=self.calendar, source=src.name,
                          units=units or {}, params=self.params)
        return rctx, ctx

    def scan_source(self, src: Source, at: dt.datetime, sink: Sink,
                    index: TimeIndex | None = None) -> SourceOutcome:
        """Evaluate one source as of ``at``; with ``index``, collect every case's time-index entry.

        ``index`` (case key → :func:`sunlight.monitor.records.due.next_due`) is
        what an incremental source's full scan leaves for the cycles after it.
        """
        out = SourceOutcome(src.name)
        tz = self.settings.tz
        at = at.astimezone(tz)
        emit = self._emitter(src, out, sink)

        watching = [cb for w in self.watchers if (cb := w.begin(src.name, at)) is not None]
        with self.evaluating(src, out):
            checks = [c for c in self.checks if src.has(c.entity)]
            out.checks_run = {c.id for c in checks} | {self.quality.id}
            rctx, ctx = self.contexts(src, at, out, emit)
            instances = [cls() for cls in checks]
            for entity in sorted({n for c in instances for n in c.needs}):
                ctx.tables[entity] = list(self._records(src, entity, rctx, at, out, emit))
            for entity in sorted({c.entity for c in instances}):
                feeders = [c for c in instances if c.entity == entity]
                tally = self._columnar_tally(src.name) if watching else None
                if (entity == "cases" and entity not in ctx.tables
                        and (not watching or tally is not None)
                        and src.config.columnar and columnar.applies(feeders)):
                    self._columnar_cases(src, rctx, ctx, feeders, out, emit, watching, tally, index)
                    continue
                # watchers count cases only: the vouchers go columnar when they could too
                if (entity == "expenses" and entity not in ctx.tables
                        and (not watching or tally is not None)
                        and src.config.columnar and columnar.applies_spending(feeders)
                        and self._columnar_expenses(src, rctx, ctx, feeders, out, emit)):
                    continue
                raw = _indexer(index, ctx) if entity == "cases" and index is not None else None
                records = (ctx.tables[entity] if entity in ctx.tables
                           else self._records(src, entity, rctx, at, out, emit, raw))
                for record in records:
                    try:
                        self._feed(feeders, record, ctx, out, emit)
                        for watch in watching:
                            watch(record, ctx)
                    except (OutOfSpan, OverflowError):
                        # a limit no calendar can count (9,000 working days, 1e12 hours):
                        # the row is the problem, not the check (issue 10, item 4)
                        emit(self.quality.from_problem(_beyond_calendar(entity, record), src.name,
                                                       src.config))
            for c in instances:
                self._guard(c, out, emit, partial(c.finish, ctx))
        for w in self.watchers:
            w.end(src.name, out)
        if out.uncovered:
            log.warning("deadlines in a year no holiday notice covers: counted Monday-Friday; "
                        "add the year under calendar.overrides", source=src.name,
                        findings=out.uncovered,
                        covered_until=self.calendar.covered_until(at.date()).isoformat())
        log.info("source scanned", source=src.name, ok=out.ok, seconds=round(out.seconds, 3),
                 rows=sum(out.rows_read.values()), findings=sum(out.findings.values()),
                 **({"columnar_rows": out.columnar_rows, "handed_over": out.handed_over}
                    if out.columnar_rows else {}))
        return out

    # --- steps -------------------------------------------------------------------

    def _units(self, src: Source, tz: dt.tzinfo, out: SourceOutcome, emit: Sink
               ) -> dict[str, UnitInfo] | None:
        if not src.has("units") or "units" not in READERS:
            return None
        units: dict[str, UnitInfo] = {}
        for item in READERS["units"](src, ReadContext(tz, None)):
            if isinstance(item, RowProblem):
                out.rows_read["units"] += not item.kept  # a kept row is counted as its record
                emit(self.quality.from_problem(item, src.name, src.config))
                continue
            out.rows_read["units"] += 1
            units[item.unit_id] = item
        out.units = units
        return units

    def _records(self, src: Source, entity: str, rctx: ReadContext, at: dt.datetime,
                 out: SourceOutcome, emit: Sink, raw: Callable[[Any], None] | None = None
                 ) -> Iterator[Any]:
        """An entity's records as of ``at``; unreadable rows go out as data_quality.

        ``raw`` sees each record as read, before ``as_of`` (the time index needs
        the events still to come, which ``as_of`` drops).
        """
        read = READERS.get(entity)
        if read is None:
            raise SourceError(src.name, f"no reader for entity {entity!r}")
        stop = self.stop_requested
        progress = self.progress
        rows = out.rows_read
        if progress is not None:  # the bar appears when the read starts, not 2,000 rows in
            progress(src.name, entity, rows[entity])
        for item in read(src, rctx):
            if stop is not None and stop():
                raise SourceError(src.name, "abandoned: the daemon is shutting down")
            if isinstance(item, RowProblem):
                rows[entity] += not item.kept  # a kept row is counted as its record
                emit(self.quality.from_problem(item, src.name, src.config))
                continue
            rows[entity] += 1
            if progress is not None and rows[entity] % PROGRESS_EVERY == 0:
                progress(src.name, entity, rows[entity])
            if raw is not None:
                raw(item)
            as_of = getattr(item, "as_of", None)
            item = as_of(at) if as_of is not None else item
            if item is not None:
                yield item
        if progress is not None:
            progress(src.name, entity, rows[entity])

    def _columnar_tally(self, source: str) -> columnar.Tally | None:
        """The watchers' figures for the columnar path, if every watcher can take them (else None)."""
        tallies = [w.columns(source) for w in self.watchers if hasattr(w, "columns")]
        if len(tallies) != len(self.watchers) or len({t.days for t in tallies}) != 1:
            return None

        def add(rows: list[dict[str, Any]]) -> None:
            for t in tallies:
                t.add(rows)

        return columnar.Tally(tallies[0].days, add)

    def _columnar_cases(self, src: Source, rctx: ReadContext, ctx: EvalContext,
                        feeders: list[Check], out: SourceOutcome, emit: Sink,
                        watching: Sequence[Callable[[Any, EvalContext], None]] = (),
                        tally: columnar.Tally | None = None, index: TimeIndex | None = None) -> None:
        """The cases by the columnar path: only the rows it hands back reach the checks here.

        Watchers see the records of the rows handed over whole; the figures of
        the others reach them through ``tally``, computed column by column.
        """
        # polars and Arrow are loaded here, by the first source read column by column
        from sunlight.monitor.columnar.scan import scan_cases

        raw = _indexer(index, ctx) if index is not None else None

        def whole(record: Any) -> None:  # a row handed over whole: the watchers count it here
            for watch in watching:
                watch(record, ctx)

        handle = self._handback(src, "cases", ctx, feeders, out, emit, raw, whole)
        count = self._columnar_count(src, "cases", out)
        scan_cases(src, rctx, ctx, feeders, self._calendar_arrays(), self.params, handle, count,
                   self.stop_requested, tally, index)

    def _calendar_arrays(self) -> CalendarArrays:
        """The calendar as arrays for the columnar path, built once per engine (polars loaded here)."""
        from sunlight.monitor.columnar.calendar import CalendarArrays

        if self._arrays is None:
            self._arrays = CalendarArrays.build(self.calendar)
        return self._arrays

    def _handback(self, src: Source, entity: str, ctx: EvalContext, feeders: list[Check],
                  out: SourceOutcome, emit: Sink, on_whole_item: Callable[[Any], None] | None = None,
                  on_whole_record: Callable[[Any], None] | None = None
                  ) -> Callable[[Any, tuple[str, ...] | None], None]:
        """What a columnar scan calls with each row it hands back: a problem becomes a
        data-quality finding, a record is fed the chosen checks (all of them: None).

        For a row handed over whole, ``on_whole_item`` sees the item before ``as_of``
        and ``on_whole_record`` the record after the checks (the cases' time index
        and watchers; the other rows are indexed and counted column by column).
        """
        by_id = {c.id: c for c in feeders}
        at = ctx.at

        def handle(item: Any, chosen: tuple[str, ...] | None) -> None:
            if isinstance(item, RowProblem):
                out.handed_over += not item.kept  # a kept row was counted as its record
                emit(self.quality.from_problem(item, src.name, src.config))
                return
            out.handed_over += 1
            if chosen is None and on_whole_item is not None:
                on_whole_item(item)
            record = item.as_of(at)
            if record is None:
                return
            try:
                self._feed(feeders if chosen is None else [by_id[c] for c in chosen],
                           record, ctx, out, emit)
                if chosen is None and on_whole_record is not None:
                    on_whole_record(record)
            except (OutOfSpan, OverflowError):
                # as on the record path: a limit no calendar can count is the row's problem
                emit(self.quality.from_problem(_beyond_calendar(entity, record), src.name,
                                               src.config))

        return handle

    def _columnar_count(self, src: Source, entity: str, out: SourceOutcome) -> Callable[[int], None]:
        """What a columnar scan calls with each batch's rows: the counts and the progress (shown now)."""
        def count(n: int) -> None:
            out.rows_read[entity] += n
            out.columnar_rows += n
            if self.progress is not None:
                self.progress(src.name, entity, out.rows_read[entity])

        if self.progress is not None:
            self.progress(src.name, entity, out.rows_read[entity])
        return count

    def _columnar_expenses(self, src: Source, rctx: ReadContext, ctx: EvalContext,
                           feeders: list[Check], out: SourceOutcome, emit: Sink) -> bool:
        """The vouchers by the columnar path: only the rows it hands back reach the checks here.

        False when the path declined the source before handing anything over (the record path reads it).
        """
        from sunlight.monitor.columnar.scan_spending import scan_expenses

        handle = self._handback(src, "expenses", ctx, feeders, out, emit)
        count = self._columnar_count(src, "expenses", out)
        return scan_expenses(src, rctx, ctx, feeders, self._calendar_arrays(), self.params, handle,
                             count, self.stop_requested, self._split_keeper(ctx, feeders, out))

    def _split_keeper(self, ctx: EvalContext, feeders: list[Check], out: SourceOutcome
                      ) -> Callable[[str, str, int, str, Any], None] | None:
        """What feeds ``split_payment`` a voucher from its values, as ``_feed`` feeds it a record:
        its unit's params (not enabled: nothing), a failure counted as the check's.
        """
        from sunlight.checks.spending import SplitPayment

        check = next((c for c in feeders if isinstance(c, SplitPayment)), None)
        if check is None or type(check).feed is not SplitPayment.feed:
            return None  # a check of another feed (a test's reference) is fed records
        table = self.params[check.id]
        by_unit: dict[str, Any] = {}

        def keep(unit_id: str, payee: str, t: int, voucher_id: str, amount: Any) -> None:
            params = by_unit.get(unit_id)
            if params is None:
                info = ctx.units.get(unit_id)
                params = by_unit[unit_id] = table.for_(unit_id, info.kind if info else None, None)
            if not params.enabled:
                return
            try:
                check.keep(unit_id, payee, t, voucher_id, amount, params, ctx)  # type: ignore[arg-type]
            except (SourceError, OutOfSpan, OverflowError):
                raise
            except Exception as exc:  # as in _feed: a bug in one check must not stop the others
                self._check_failed(check, out, exc)

        return keep

    def _feed(self, feeders: list[Check], record: Any, ctx: EvalContext,
              out: SourceOutcome, emit: Sink) -> None:
        unit_id = getattr(record, "unit_id", None)
        info = ctx.units.get(unit_id) if unit_id else None
        item_code = getattr(record, "item_code", None)
        kind = info.kind if info else None
        key = getattr(record, "case_id", None)
        for c in feeders:
            params = self.params[c.id].for_(unit_id, kind, item_code)
            if not params.enabled:
                continue
            # _guard() inlined: this runs for every record and every check (millions
            # of times a scan), where a closure and a call each time add up.
            try:
                for f in c.feed(record, params, ctx):
                    f.record_key = key  # what an incremental run resolves by
                    emit(f)
            except (SourceError, OutOfSpan, OverflowError):
                raise
            except Exception as exc:  # a bug in one check must not stop the others
                self._check_failed(c, out, exc)

    def _guard(self, check: Check, out: SourceOutcome, emit: Sink,
               produce: Callable[[], Iterable[Finding]]) -> None:
        try:
            for f in produce():
                emit(f)
        except SourceError:
            raise
        except Exception as exc:  # a bug in one check must not stop the others
            self._check_failed(check, out, exc)

    def _check_failed(self, check: Check, out: SourceOutcome, exc: Exception) -> None:
        """Count a check's failure; log the first one per source and check (with the traceback)."""
        out.check_errors[check.id] += 1
        if out.check_errors[check.id] == 1:
            log.exception("check failed", source=out.source, check=check.id, error=str(exc))


#: case key → the first instant it must be evaluated again (None: only an edit can change it)
TimeIndex = dict[str, dt.datetime | None]


def _indexer(index: TimeIndex, ctx: EvalContext) -> Callable[[Any], None]:
    """Enter each case read (before ``as_of``) in ``index``; the earliest entry wins for a key.

    Its open parts are bounded exactly (``checks.cases.open_boundary``).
    """
    at = ctx.at

    def exact(seen: CaseRecord) -> dt.datetime | None:
        return open_boundary(seen, ctx)

    def enter(record: Any) -> None:
        if not isinstance(record, CaseRecord):
            return
        enter_due(index, record.case_id, next_due(record, at, exact))

    return enter


def _beyond_calendar(entity: str, record: Any) -> RowProblem:
    key = next((str(v) for k in _RECORD_KEYS if (v := getattr(record, k, None)) is not None), "?")
    unit = getattr(record, "unit_id", None)
    shown = ("promised_limit", "statutory_limit", "limit_unit", "accepted_at")
    limits = {k: str(getattr(v, "value", v)) for k in shown
              if (v := getattr(record, k, None)) is not None}
    field = "promised_limit" if "promised_limit" in limits else "limit"
    return RowProblem(entity=entity, key=cap(key, KEY_MAX), unit_id=unit, field=field,
                      reason=BEYOND_CALENDAR, values=limits, kind="invalid")


def unit_names(engine: Engine, outcomes: Iterable[SourceOutcome] = ()) -> UnitLookup:
    """Unit names (for letters' 主送单位, the printed findings): what the scans just read, else ``units``.

    The lookup the letters take (``alerts.letters.UnitNames``); it lives here, with
    the sources it reads, so that ``sunlight scan`` names units without importing
    the letters (``monitor.cycle`` re-exports it).
    """
    seen: dict[str, str] = {u: info.name for o in outcomes for u, info in o.units.items()}

    def lookup(ids: Iterable[str]) -> dict[str, str]:
        wanted = set(ids)
        # the scan has just read the units tables: only a unit it did not see costs a read
        names = {u: seen[u] for u in wanted if u in seen}
        for src in engine.sources.values():
            if not wanted - set(names) or src.name in engine.down:
                continue
            try:
                if not src.has("units") or "units" not in READERS:
                    continue
                for item in READERS["units"](src, ReadContext(engine.settings.tz, None)):
                    if not isinstance(item, RowProblem) and item.unit_id in wanted:
                        names.setdefault(item.unit_id, item.name)
            except SourceError:
                continue  # the letter then names the unit by its id; the scan reported the source
        return names

    return lookup


def scan_and_record(engine: Engine, store: SAEngine, at: dt.datetime,
                    also: Sink | None = None, sources: Iterable[str] | None = None,
                    claims: Claims | None = None, wait: float = 0.0
                    ) -> list[SourceOutcome]:
    """Scan every source and record its findings; a complete scan resolves what it did not see.

    Each source is its own scan run, so one failing source neither blocks the
    others nor resolves its own findings by mistake. Each source is scanned
    under its ``scan:<source>`` claim (``sunlight.monitor.store.claims``), so two
    processes on one store never scan one source at once; ``wait`` is how
    long to wait for another process's scan of it to end (then the source is
    reported skipped). Holding the claim, the source's runs left unfinished
    by a killed process are closed first; and the run resolves nothing if the
    claim was lost before it finished (fencing).
    """
    return each_claimed(engine, store, sources, claims, wait,
                        lambda src, held: scan_and_record_one(engine, store, at, src, also, held))


def each_claimed(engine: Engine, store: SAEngine, sources: Iterable[str] | None,
                 claims: Claims | None, wait: float,
                 scan_one: Callable[[Source, Claims], SourceOutcome]) -> list[SourceOutcome]:
    """``scan_one`` for each source (all, or the named ones) under its ``scan:<source>`` claim.

    A source another process is scanning (its claim not had within ``wait``
    seconds) is reported skipped, and the next source runs.
    """
    claims = claims or claims_for(store)
    outcomes = []
    names = list(sources) if sources is not None else list(engine.sources)
    for src in (engine.sources[n] for n in names):
        with claims.claimed(scan_claim(src.name), wait) as got:
            if not got:
                log.warning("source skipped: another process is scanning it", source=src.name,
                            waited_seconds=wait)
                outcomes.append(SourceOutcome(
                    src.name, ok=False, claimed_elsewhere=True,
                    error=f"{src.name}: another process is scanning this source; skipped"))
                continue
            outcomes.append(scan_one(src, claims))
    return outcomes


def scan_and_record_one(engine: Engine, store: SAEngine, at: dt.datetime, src: Source,
                         also: Sink | None, claims: Claims) -> SourceOutcome:
    abandoned = close_abandoned(store, src.name)
    if abandoned:
        log.warning("closed scan runs a killed process left unfinished", source=src.name,
                    runs=abandoned)
    checks = {c.id for c in engine.checks} | {engine.quality.id}
    if engine.only:  # a partial scan reads only some entities: it cannot vouch for data quality
        checks.discard(engine.quality.id)
    # an incremental source's full scan leaves the watermark it started from and the time index
    # (monitor/incremental.py); a partial scan (--check) leaves the state as it was
    incremental = src.config.incremental
    mark: tuple[str | None, str | None] | None = None
    index: TimeIndex | None = None
    if incremental is not None and not engine.only:
        mark, index = _starting_mark(src, incremental.cases.watermark), {}
    run_id = start_run(store, src.name, at, checks, replica=claims.replica)
    recorder = FindingRecorder(store, run_id, at, on_reject=engine.quality.unstorable)

    def sink(f: Finding) -> None:
        recorder(f)
        if also is not None:
            also(f)

    outcome = engine.scan_source(src, at, sink, index=index)
    recorder.flush()
    crash_point("mid_scan")  # test-only: findings upserted, the run not yet finished
    if outcome.ok and not claims.holds(scan_claim(src.name)):
        outcome.ok, outcome.error = False, f"{src.name}: the scan claim was lost; nothing resolved"
        log.error("scan claim lost before the run finished: it resolves nothing", source=src.name,
                  run=run_id)
    resolved = finish_run(
        store, run_id, ok=outcome.ok, error=outcome.error,
        rows_read=sum(outcome.rows_read.values()), findings=recorder.count,
        entity_rows=outcome.rows_read,
        resolve_checks=(outcome.checks_run & checks) if outcome.ok else (), source=src.name, as_of=at,
    )
    if outcome.ok and mark is not None and index is not None:
        finish_full(store, src.name, "cases", run_id, at, mark, index)
        log.info("time index built", source=src.name, run=run_id, cases=len(index),
                 entries=sum(v is not None for v in index.values()))
    log.info("findings recorded", source=src.name, run=run_id, upserted=recorder.count,
             resolved=resolved)
    return outcome


def _starting_mark(src: Source, column: str) -> tuple[str | None, str | None] | None:
    """The watermark before a full scan reads the cases: rows changed during it are read again.

    None when it cannot be had (the column is missing, its type cannot be kept):
    the scan goes on, and the next cycle is a full scan again.
    """
    try:
        value = src.max_value("cases", column)
    except SourceError as exc:
        log.error("incremental: no watermark; the next cycle scans fully", source=src.name,
                  column=column, error=exc.problem)
        return None
    mark = encode_mark(value)
    if mark is None:
        log.error("incremental: the watermark's type cannot be kept; the next cycle scans fully",
                  source=src.name, column=column, type=type(value).__name__)
    return mark
