"""What ``/metrics`` says: the daemon's own health and the office's picture of the units.

Three kinds of numbers, each from where it is true:

- **What the daemon did** (cycles, their duration, rows read, check errors,
  config reloads, outbox runs): counters and histograms fed by the daemon as
  each cycle ends (:meth:`Metrics.observe_cycle`).
- **What the state store holds** (open findings, letters, deliveries, the
  outbox): read with plain SQL at scrape time by :class:`StoreCollector`, so
  every replica and every restart reports the same numbers and nothing is
  counted twice. On a store older than the letters migration (0002) the
  letter and delivery metrics are simply absent (logged once).
- **What the sources look like** (cases open and overdue per unit, the 30-day
  on-time rate: the unit scorecard, 绩效评估): these are not findings, so the
  store cannot answer them, and reading the source a second time would double
  the load on databases we promise to tread lightly on. :class:`CaseTallies`
  counts them while the engine streams the cases anyway, reusing the deadline
  the case checks already computed (``sunlight.checks.cases.case_timing`` is memoised
  per record), and publishes the tally of a source only when its scan was
  complete; a failed scan leaves the previous tally standing.

Label sets are bounded by the config and the units table: ``source``,
``check``, ``unit``, ``tier``, ``status``, ``channel``, ``entity``, ``result``.
Case ids, people and letter numbers never become labels.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import structlog
from prometheus_client import (
    CollectorRegistry,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine as SAEngine

from sunlight.checks.base import EvalContext
from sunlight.checks.cases import case_timing  # memoised: the C checks computed it already
from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.columnar.scope import Tally
from sunlight.monitor.engine import SourceOutcome
from sunlight.monitor.records.cases import CaseRecord
from sunlight.monitor.records.org import UnitInfo
from sunlight.monitor.settings import Settings
from sunlight.monitor.store.letters_models import OPEN_STATUSES

log = structlog.get_logger("sunlight.metrics")

#: the scorecard's window (绩效评估 over the last 30 days)
SCORECARD_DAYS = 30
#: ``sunlight_calendar_uncovered_ahead`` looks this many days ahead (the alert's horizon)
CALENDAR_HORIZON_DAYS = 60

CYCLE_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


# --- the case tally (scorecard) --------------------------------------------------


@dataclass
class CaseTally:
    """Per unit, as of one scan of one source: open, overdue, completed and on time."""

    at: dt.datetime
    open: Counter[str] = field(default_factory=Counter)
    overdue: Counter[str] = field(default_factory=Counter)
    completed: Counter[str] = field(default_factory=Counter)  # in the last SCORECARD_DAYS
    on_time: Counter[str] = field(default_factory=Counter)

    def add(self, case: CaseRecord, ctx: EvalContext) -> None:
        """Count one case as it stood at ``ctx.at``.

        Late means the same as in the case checks: a case is late when its end
        (completion, or now while open) is at or after the promised deadline
        (``sunlight.checks.cases._LateCase``), so the tally and the findings agree.
        """

        deadline = case_timing(case, ctx).promised.at
        unit = case.unit_id
        if case.completed_at is None:
            self.open[unit] += 1
            if deadline is not None and ctx.at >= deadline:
                self.overdue[unit] += 1
        elif ctx.at - dt.timedelta(days=SCORECARD_DAYS) < case.completed_at <= ctx.at:
            self.completed[unit] += 1
            if deadline is None or case.completed_at < deadline:
                self.on_time[unit] += 1


class CaseTallies:
    """The last complete tally of each source; shared by the engines across reloads.

    A :class:`sunlight.monitor.engine.ScanWatcher`: it counts the cases while the engine
    streams them for the checks (no second read of the source), and publishes a
    source's tally only when its scan saw every record.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_source: dict[str, CaseTally] = {}
        self._counting: dict[str, CaseTally] = {}  # a source scans in one thread at a time

    def begin(self, source: str, at: dt.datetime) -> Callable[[Any, EvalContext], None]:
        tally = self._counting[source] = CaseTally(at)

        def count(record: Any, ctx: EvalContext) -> None:
            if isinstance(record, CaseRecord):
                tally.add(record, ctx)

        return count

    def columns(self, source: str) -> Tally:
        """The same figures from the columnar case path (engine): per unit, added in batches."""

        def add(rows: list[dict[str, Any]]) -> None:
            tally = self._counting.get(source)
            if tally is None:
                return
            for r in rows:
                unit = r["unit_id"]
                for name in ("open", "overdue", "completed", "on_time"):
                    if r[name]:
                        getattr(tally, name)[unit] += r[name]

        return Tally(SCORECARD_DAYS, add)

    def end(self, source: str, outcome: SourceOutcome) -> None:
        tally = self._counting.pop(source, None)
        if tally is not None and outcome.ok:
            self.publish(source, tally)

    def publish(self, source: str, tally: CaseTally) -> None:
        with self._lock:
            self._by_source[source] = tally

    def forget(self, source: str) -> None:
        """Another replica evaluates ``source`` now: its figures come from that replica."""
        with self._lock:
            self._by_source.pop(source, None)

    def keep_only(self, sources: Iterable[str]) -> None:
        keep = set(sources)
        with self._lock:
            for name in set(self._by_source) - keep:
                del self._by_source[name]

    def snapshot(self) -> dict[str, CaseTally]:
        with self._lock:
            return dict(self._by_source)


# --- the registry ----------------------------------------------------------------


@dataclass
class SourceHealth:
    interval: float  # seconds
    up: int | None = None  # None: not scanned yet
    last_success: float = 0.0  # unix time; 0: never


class Metrics:
    """The daemon's registry and the instruments it feeds."""

    def __init__(self, version: str = "") -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # memory, CPU, open files, start time
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.cycle_duration = Histogram(
            "sunlight_cycle_duration_seconds",
            "Wall time of one evaluation cycle of a source (scan, record, letters).",
            ["source"], buckets=CYCLE_BUCKETS, registry=r)
        self.cycles = PromCounter(
            "sunlight_cycles_total", "Evaluation cycles by source and result (ok, failed).",
            ["source", "result"], registry=r)
        self.rows_read = PromCounter(
            "sunlight_rows_read_total", "Rows read from a source, by canonical entity.",
            ["source", "entity"], registry=r)
        self.scan_rows = Gauge(
            "sunlight_scan_rows_read",
            "Rows of an entity read so far by the running scan of a source (0 when it starts; "
            "the last scan's count between scans).",
            ["source", "entity"], registry=r)
        self.scan_expected = Gauge(
            "sunlight_scan_rows_expected",
            "Rows of an entity the last complete scan of the source read: what the running scan "
            "should reach (an estimate; absent before a complete scan recorded its counts).",
            ["source", "entity"], registry=r)
        self._scan_entities: dict[str, set[str]] = {}  # per source, the entities with a series
        self.check_errors = PromCounter(
            "sunlight_check_errors_total", "Records on which a check raised an error (a bug).",
            ["source", "check"], registry=r)
        self.reloads = PromCounter(
            "sunlight_config_reloads_total", "Configuration reloads (SIGHUP, POST /-/reload) by result.",
            ["result"], registry=r)
        self.reload_ok = Gauge(
            "sunlight_config_last_reload_successful",
            "1 if the last configuration reload succeeded (or none was tried), 0 if it failed.",
            registry=r)
        self.reload_time = Gauge(
            "sunlight_config_last_reload_success_timestamp_seconds",
            "When the running configuration was loaded (Unix time).", registry=r)
        self.delivery_runs = PromCounter(
            "sunlight_delivery_runs_total", "Runs of the delivery worker by result (ok, failed).",
            ["result"], registry=r)
        self.delivered = PromCounter(
            "sunlight_delivery_sent_total", "Deliveries this process sent successfully.", registry=r)
        build = Gauge("sunlight_build_info", "The running sunlight version (always 1).", ["version"],
                      registry=r)
        build.labels(version=version or "unknown").set(1)
        for result in ("success", "failure"):
            self.reloads.labels(result=result)
        for result in ("ok", "failed"):
            self.delivery_runs.labels(result=result)
        self.reload_ok.set(1)
        self.reload_time.set(time.time())
        self._health_lock = threading.Lock()
        self.sources: dict[str, SourceHealth] = {}
        r.register(_SourceHealthCollector(self))

    # --- fed by the daemon -------------------------------------------------------

    def configure_sources(self, settings: Settings) -> None:
        """Track the configured sources (after start and every reload); forget removed ones."""
        with self._health_lock:
            old = self.sources
            self.sources = {
                name: SourceHealth(src.interval.total_seconds(),
                                   old[name].up if name in old else None,
                                   old[name].last_success if name in old else 0.0)
                for name, src in settings.sources.items()
            }
        for name in settings.sources:
            for result in ("ok", "failed"):
                self.cycles.labels(source=name, result=result)
        for name in set(old) - set(settings.sources):  # a removed source leaves the scrape
            for result in ("ok", "failed"):
                with suppress(KeyError):
                    self.cycles.remove(name, result)
            with suppress(KeyError):
                self.cycle_duration.remove(name)
        for name in set(self._scan_entities) - set(settings.sources):
            for entity in self._scan_entities.pop(name):
                for gauge in (self.scan_rows, self.scan_expected):
                    with suppress(KeyError):
                        gauge.remove(name, entity)

    def seed_last_success(self, last: dict[str, float]) -> None:
        """Carry the last successful cycle over a restart (from the store's scan runs)."""
        with self._health_lock:
            for name, ts in last.items():
                if name in self.sources:
                    self.sources[name].last_success = max(self.sources[name].last_success, ts)

    def scan_started(self, source: str, expected: Mapping[str, int]) -> None:
        """A scan of ``source`` begins: its rows read go back to 0, its expected totals are set.

        Without the reset a scrape early in a scan would show the previous
        scan's counts as if this one had read them. ``expected``: per entity,
        what the last complete scan read (``store.findings.expected_rows``).
        """
        for entity in list(self._scan_entities.get(source, ())):
            self.scan_rows.labels(source=source, entity=entity).set(0)
        for entity, n in expected.items():
            self.scan_expected.labels(source=source, entity=entity).set(n)

    def scan_progress(self, source: str, entity: str, rows: int) -> None:
        """The engine's progress hook (engine.Progress): rows read so far, while the scan runs."""
        self._scan_entities.setdefault(source, set()).add(entity)
        self.scan_rows.labels(source=source, entity=entity).set(rows)

    def observe_cycle(self, source: str, outcomes: list[SourceOutcome], seconds: float,
                      ok: bool) -> None:
        self.cycle_duration.labels(source=source).observe(seconds)
        self.cycles.labels(source=source, result="ok" if ok else "failed").inc()
        for out in outcomes:
            for entity, n in out.rows_read.items():
                self.rows_read.labels(source=out.source, entity=entity).inc(n)
                if out.ok and not out.incremental:  # a full scan's counts: what the next one reaches
                    self.scan_expected.labels(source=out.source, entity=entity).set(n)
            for check, n in out.check_errors.items():
                self.check_errors.labels(source=out.source, check=check).inc(n)
        with self._health_lock:
            health = self.sources.get(source)
            if health is not None:
                health.up = 1 if ok else 0
                if ok:
                    health.last_success = time.time()

    def forget_health(self, source: str) -> None:
        """This replica no longer evaluates ``source``: no ``sunlight_source_up`` from it.

        The last success stays: it is read from the store, whoever ran the cycle.
        """
        with self._health_lock:
            health = self.sources.get(source)
            if health is not None:
                health.up = None

    def observe_reload(self, ok: bool) -> None:
        self.reloads.labels(result="success" if ok else "failure").inc()
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_time.set(time.time())

    def health(self) -> dict[str, SourceHealth]:
        with self._health_lock:
            return {k: SourceHealth(v.interval, v.up, v.last_success) for k, v in self.sources.items()}


class _SourceHealthCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        health = self.metrics.health()
        up = GaugeMetricFamily("sunlight_source_up",
                               "1 if the last cycle of the source read it completely, 0 if it failed.",
                               labels=["source"])
        last = GaugeMetricFamily(
            "sunlight_cycle_last_success_timestamp_seconds",
            "When the last successful cycle of the source ended (Unix time; 0: never).",
            labels=["source"])
        interval = GaugeMetricFamily("sunlight_source_interval_seconds",
                                     "The configured evaluation interval of the source.",
                                     labels=["source"])
        for name, h in sorted(health.items()):
            if h.up is not None:
                up.add_metric([name], h.up)
            last.add_metric([name], h.last_success)
            interval.add_metric([name], h.interval)
        yield from (up, last, interval)


# --- read from the store at scrape time --------------------------------------------


class StoreCollector(Collector):
    """Findings, letters, deliveries and the calendar, read when Prometheus scrapes.

    ``current`` returns what is running now (the store, the calendar and the
    case tallies), so a reload that changes the state store is picked up.
    """

    def __init__(self, current: Callable[[], tuple[SAEngine, WorkCalendar, Settings]],
                 tallies: CaseTallies, now: Callable[[], dt.datetime] | None = None,
                 exporter: Callable[[], bool] | None = None,
                 units: Callable[[], Iterable[str]] | None = None) -> None:
        self.current = current
        self.tallies = tallies
        # several replicas on one store: only the one this says True for exports the store's
        # figures (findings, letters, outbox), so a sum over replicas counts them once
        self.exporter = exporter
        #: the units the scans know: each gets its 0 on the per-unit letter gauges
        self.units = units or (lambda: ())
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        store, calendar, settings = self.current()
        now = self.now()
        up = GaugeMetricFamily("sunlight_state_store_up",
                               "1 if the state store answered this scrape, 0 if not.")
        try:
            with store.connect() as conn:
                exporting = self.exporter is None or self.exporter()
                families = list(self._from_store(conn, now, settings)) if exporting else []
            up.add_metric([], 1)
        except sa.exc.SQLAlchemyError as exc:
            log.error("state store unreadable for metrics", error=type(exc).__name__)
            families = []
            up.add_metric([], 0)
        yield up
        yield from families
        yield from self._calendar(calendar, now.astimezone(settings.tz).date(), settings.tz)
        yield from self._cases()

    # each family below is documented in README.md, "Operating sunlight" → "Metrics"

    def _from_store(self, conn: sa.Connection, now: dt.datetime, settings: Settings
                    ) -> Iterator[Metric]:
        open_f = GaugeMetricFamily("sunlight_findings_open", "Open (unresolved) findings.",
                                   labels=["check", "unit", "tier"])
        # a data_quality finding's unit is whatever an unreadable row said: not a bounded label
        unit = "CASE WHEN check_id = 'data_quality' THEN '' ELSE unit_id END"
        for check, unit_id, tier, n in conn.execute(sa.text(
                f"SELECT check_id, {unit}, tier, COUNT(*) FROM findings WHERE resolved_at IS NULL "
                f"GROUP BY check_id, {unit}, tier")):
            open_f.add_metric([check, unit_id, tier], n)
        yield open_f
        raised = CounterMetricFamily("sunlight_findings_raised",
                                     "Findings ever raised (one per fingerprint: re-runs never count twice).",
                                     labels=["check"])
        for check, n in conn.execute(sa.text(
                "SELECT check_id, COUNT(*) FROM findings GROUP BY check_id")):
            raised.add_metric([check], n)
        yield raised
        # the daemon migrates the store at start, so the letters revision's tables are there
        yield from self._letters(conn)
        yield from self._deliveries(conn, now, settings)

    def _letters(self, conn: sa.Connection) -> Iterator[Metric]:
        # reminders (提醒) are numbered notices in the same table, outside the lifecycle;
        # a data-owner notice has no unit: its unit label is ""
        statuses = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
        open_l = GaugeMetricFamily(
            "sunlight_letters_open",
            "Warning letters that still ask something of the unit, by unit, tier and status.",
            labels=["unit", "tier", "status"])
        for unit, tier, status, n in conn.execute(sa.text(
                f"SELECT unit_id, tier, status, COUNT(*) FROM letters WHERE status IN ({statuses}) "
                "AND tier <> 'reminder' GROUP BY unit_id, tier, status")):
            open_l.add_metric([unit or "", tier, status], n)
        yield open_l
        issued = CounterMetricFamily("sunlight_letters_issued",
                                     "Letters ever issued, by unit and tier (reminder: numbered notices).",
                                     labels=["unit", "tier"])
        for unit, tier, n in conn.execute(sa.text(
                "SELECT unit_id, tier, COUNT(*) FROM letters GROUP BY unit_id, tier")):
            issued.add_metric([unit or "", tier], n)
        yield issued
        overdue = GaugeMetricFamily("sunlight_letters_overdue",
                                    "Letters past their rectification deadline with a requirement unmet "
                                    "(0 for every known unit without one).",
                                    labels=["unit"])
        counts = {unit or "": n for unit, n in conn.execute(sa.text(
            "SELECT unit_id, COUNT(*) FROM letters WHERE status = 'overdue' GROUP BY unit_id"))}
        lettered = {unit or "" for (unit,) in conn.execute(sa.text(
            "SELECT DISTINCT unit_id FROM letters WHERE tier <> 'reminder'"))}
        # a healthy scrape says 0, not nothing: dashboards and alerts then see a zero
        units = sorted(set(counts) | lettered | set(self.units())) or [""]
        for unit in units:
            overdue.add_metric([unit], counts.get(unit, 0))
        yield overdue

    def _deliveries(self, conn: sa.Connection, now: dt.datetime, settings: Settings
                    ) -> Iterator[Metric]:
        done = CounterMetricFamily("sunlight_deliveries",
                                   "Deliveries that reached an end, by channel and result (delivered, dead).",
                                   labels=["channel", "result"])
        pending = GaugeMetricFamily("sunlight_outbox_pending", "Deliveries waiting in the outbox.",
                                    labels=["channel"])
        dead = GaugeMetricFamily("sunlight_outbox_dead",
                                 "Deliveries given up after their retries (need a person).",
                                 labels=["channel"])
        oldest = GaugeMetricFamily("sunlight_outbox_oldest_pending_age_seconds",
                                   "Age of the oldest delivery still waiting in the outbox.",
                                   labels=["channel"])
        n_pending: dict[str, int] = {}
        n_dead: dict[str, int] = {}
        age: dict[str, float] = {}
        channels = set(settings.channels)
        for channel, status, n, first in conn.execute(sa.text(
                "SELECT channel, status, COUNT(*), MIN(created_at) FROM deliveries "
                "GROUP BY channel, status")):
            channels.add(channel)
            if status in ("delivered", "dead"):
                done.add_metric([channel, status], n)
            if status == "dead":
                n_dead[channel] = n
            elif status == "pending":
                n_pending[channel] = n
                created = _utc(first)
                if created is not None:
                    age[channel] = max(0.0, (now - created).total_seconds())
        # every configured channel has its series, 0 when nothing waits (not absent)
        for channel in sorted(channels) or [""]:
            pending.add_metric([channel], n_pending.get(channel, 0))
            dead.add_metric([channel], n_dead.get(channel, 0))
            oldest.add_metric([channel], age.get(channel, 0.0))
        yield from (done, pending, dead, oldest)

    def _calendar(self, calendar: WorkCalendar, today: dt.date, tz: dt.tzinfo) -> Iterator[Metric]:
        last = calendar.covered_until(today)  # the day before today when today is not covered
        covered_days = max(0, (last - today).days + 1)
        until = GaugeMetricFamily(
            "sunlight_calendar_covered_until_timestamp_seconds",
            "End of the last day that State Council holiday notices cover, from today on (Unix time).")
        until.add_metric([], dt.datetime.combine(last + dt.timedelta(days=1), dt.time(),
                                                 tzinfo=tz).timestamp())
        uncovered = GaugeMetricFamily(
            "sunlight_calendar_uncovered_ahead",
            f"Days among the next {CALENDAR_HORIZON_DAYS} (today included) that no holiday notice covers; "
            "deadlines there are presumed Monday to Friday.")
        uncovered.add_metric([], max(0, CALENDAR_HORIZON_DAYS - covered_days))
        yield from (until, uncovered)

    def _cases(self) -> Iterator[Metric]:
        tallies = self.tallies.snapshot()
        open_c = GaugeMetricFamily("sunlight_cases_open", "Approval cases not yet completed.",
                                   labels=["source", "unit"])
        overdue = GaugeMetricFamily("sunlight_cases_overdue",
                                    "Open approval cases past their promised deadline.",
                                    labels=["source", "unit"])
        completed = GaugeMetricFamily(
            "sunlight_cases_completed_30d", "Approval cases completed in the last 30 days.",
            labels=["source", "unit"])
        on_time = GaugeMetricFamily(
            "sunlight_cases_completed_on_time_30d",
            "Approval cases completed within their promised deadline in the last 30 days.",
            labels=["source", "unit"])
        ratio = GaugeMetricFamily(
            "sunlight_unit_on_time_ratio",
            "Share of the last 30 days' completed cases done on time (the unit scorecard, 绩效评估).",
            labels=["source", "unit"])
        scanned = GaugeMetricFamily("sunlight_cases_tally_timestamp_seconds",
                                    "As-of time of the case figures of the source (Unix time).",
                                    labels=["source"])
        for source, t in sorted(tallies.items()):
            scanned.add_metric([source], t.at.timestamp())
            for unit in sorted(set(t.open) | set(t.completed)):
                open_c.add_metric([source, unit], t.open[unit])
                overdue.add_metric([source, unit], t.overdue[unit])
            for unit in sorted(t.completed):
                completed.add_metric([source, unit], t.completed[unit])
                on_time.add_metric([source, unit], t.on_time[unit])
                ratio.add_metric([source, unit], t.on_time[unit] / t.completed[unit])
        yield from (open_c, overdue, completed, on_time, ratio, scanned)


# --- replicas ----------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimsView:
    """What one replica holds, for ``/metrics`` (``sunlight.monitor.daemon`` fills it)."""

    replica: str
    replicas: int  # live replicas on the store, as this one counts them
    sources: dict[str, bool]  # configured source → this replica evaluates it
    store_exporter: bool  # this replica exports the store-derived metrics


class ClaimsCollector(Collector):
    """``sunlight_source_claim{source,replica}``: which replica evaluates which source.

    Every replica reports 1 for the sources it holds and 0 for the others, so
    ``sum by (source) (sunlight_source_claim)`` is 1 for each source when the
    replicas share the work as they should (0: nobody evaluates it; 2: a bug).
    """

    def __init__(self, view: Callable[[], ClaimsView]) -> None:
        self.view = view

    def collect(self) -> Iterator[Metric]:
        try:
            v = self.view()
        except Exception as exc:  # the store is down: sunlight_state_store_up says so
            log.warning("claims unreadable for metrics", error=type(exc).__name__)
            return
        claim = GaugeMetricFamily("sunlight_source_claim",
                                  "1 if this replica evaluates the source, 0 if another one does.",
                                  labels=["source", "replica"])
        for source, held in sorted(v.sources.items()):
            claim.add_metric([source, v.replica], 1 if held else 0)
        replicas = GaugeMetricFamily("sunlight_replicas",
                                     "Live sunlight replicas on this state store, as this one counts them.",
                                     labels=["replica"])
        replicas.add_metric([v.replica], v.replicas)
        exporter = GaugeMetricFamily(
            "sunlight_store_metrics_exporter",
            "1 if this replica exports the store-derived metrics (findings, letters, outbox); "
            "the other replicas leave them out so sums do not count twice.",
            labels=["replica"])
        exporter.add_metric([v.replica], 1 if v.store_exporter else 0)
        yield from (claim, replicas, exporter)
class UnitInfoCollector(Collector):
    """``sunlight_unit_info{unit,name,kind} 1`` for every unit the scans read.

    Panels join on it (``* on (unit) group_left (name) sunlight_unit_info``)
    to show a unit's name instead of its id. The units come from the sources'
    ``units`` tables as the last scans read them, so the label set is bounded
    by those tables, as for the other per-unit series.
    """

    def __init__(self, units: Callable[[], Mapping[str, UnitInfo]]) -> None:
        self.units = units

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("sunlight_unit_info",
                                 "A unit the sources name, with its name and kind (always 1).",
                                 labels=["unit", "name", "kind"])
        for unit_id, u in sorted(dict(self.units()).items()):
            info.add_metric([unit_id, u.name, u.kind or ""], 1)
        yield info


def _utc(value: Any) -> dt.datetime | None:
    """A store timestamp (naive UTC, or a string from SQLite) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


__all__ = ["CaseTallies", "CaseTally", "ClaimsCollector", "ClaimsView", "Metrics", "StoreCollector",
           "UnitInfoCollector"]
