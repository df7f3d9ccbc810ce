"""``sunlight run``: the long-running daemon.

What runs where:

- the **main thread** installs the signal handlers and waits for them:
  SIGHUP reloads the config, SIGTERM/SIGINT stop the daemon;
- the **scheduler** (APScheduler, :mod:`sunlight.monitor.scheduler`) runs one cycle per
  source on its interval and cron times (:func:`sunlight.monitor.cycle.run_cycle`) and
  drains the outbox every few seconds (:func:`sunlight.monitor.cycle.deliver`), in a
  small thread pool;
- the **HTTP thread** (:mod:`sunlight.monitor.web`) serves ``/metrics``, ``/healthz``,
  ``/readyz`` and ``POST /-/reload``.

Everything a job needs (settings, engine, state store, calendar) is one
:class:`Runtime`. A reload builds a complete new one from a validated config
and swaps it in; a config that does not load is logged and counted and the
running one stays (architecture invariant 6). Jobs already running finish on
the runtime they started with, which is closed when the last of them ends.

Several replicas on one state store share the sources: a replica evaluates a
source only while it holds the source's ``own:<source>`` claim
(``sunlight.monitor.store.claims``: a PostgreSQL advisory lock, or an ``flock``
beside a SQLite store), taking free sources up to its fair share (the sources
divided by the live replicas, rounded up) and letting go of one above its
share after that source's cycle. A claim dies with its process, so a killed
replica's sources are taken by the others at their next scheduled time,
within one interval. Each scan itself runs under the ``scan:<source>`` claim,
which a manual ``sunlight cycle`` takes too.

Stopping: no new job starts, the running scans are abandoned at the next
record (their runs are recorded as incomplete, so they resolve nothing), and
the process exits 0 when the work has ended or ``server.shutdown_grace`` has
passed, whichever comes first.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import prometheus_client
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine as SAEngine

from sunlight.alerts.render import Renderer
from sunlight.monitor import cycle
from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.configure import ConfigError, Settings, load_settings
from sunlight.monitor.engine import Engine, load_calendar
from sunlight.monitor.metrics import (
    CaseTallies,
    ClaimsCollector,
    ClaimsView,
    Metrics,
    StoreCollector,
    UnitInfoCollector,
)
from sunlight.monitor.records.org import UnitInfo
from sunlight.monitor.scheduler import make_scheduler, schedule_jobs
from sunlight.monitor.sources import safe_url
from sunlight.monitor.store import open_store
from sunlight.monitor.store.claims import (
    METRICS_CLAIM,
    Claims,
    claims_for,
    default_replica,
    own_claim,
    release_claims,
)
from sunlight.monitor.store.db import StoreError, describe
from sunlight.monitor.store.findings import expected_rows
from sunlight.monitor.web import ProbeResult, WebServer, make_app
from sunlight.monitor.webconsole.app import make_console
from sunlight.monitor.webconsole.units import UnitDirectory

log = structlog.get_logger("sunlight.daemon")

#: /readyz: a source whose last successful cycle is older than this many intervals is stale
READY_INTERVALS = 3
#: how often the main loop checks its claims and reads the other replicas' last cycles
HEARTBEAT_SECONDS = 5.0


@dataclass(eq=False)
class Runtime:
    """One loaded configuration and what was built from it."""

    settings: Settings
    engine: Engine
    store: SAEngine
    store_url: str
    calendar: WorkCalendar
    renderer: Renderer  # renders letters for the outbox; its cache lives as long as this config
    claims: Claims  # this process's claims on the store (shared by runtimes on one store)
    users: int = 0  # jobs running on it
    retired: bool = False  # replaced by a reload: close when the last user leaves
    #: incremental sources fully scanned on this runtime: only then are their cycles incremental
    #: (a new config may change what the checks find in records no edit touched)
    full_done: set[str] = field(default_factory=set)

    def close(self, keep_store: bool = False) -> None:
        self.engine.close()
        if not keep_store:
            release_claims(self.store)
            self.store.dispose()


Clock = Callable[[], dt.datetime]


class Daemon:
    def __init__(self, config_path: Path, settings: Settings, clock: Clock | None = None) -> None:
        self.config_path = Path(config_path)
        #: the as-of time of each cycle: now, or the demo's own time (``demo --serve``)
        self.clock = clock
        #: each source's units as its last cycle here read them (unit_info, per-unit zeros)
        self._units: dict[str, dict[str, UnitInfo]] = {}
        self.stopping = threading.Event()
        self.tallies = CaseTallies()
        self.metrics = Metrics(_version())
        self._lock = threading.Lock()  # guards runtime swaps and users counts
        self._reload_lock = threading.Lock()  # one reload at a time (SIGHUP and HTTP)
        self._active = threading.Condition()
        self._running_jobs = 0
        self._source_locks: dict[str, threading.Lock] = {}
        self._full_owed: set[str] = set()  # incremental sources whose next cycle must be full
        self._share_lock = threading.Lock()  # one ownership decision at a time
        self._signals: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.replica = settings.server.replica or default_replica()
        #: the calendar's key (override files and their mtimes) and the calendar built from it:
        #: a reload that did not touch the override files reuses it
        self._calendar: tuple[tuple[tuple[str, int], ...], WorkCalendar] | None = None
        self.runtime = self._build(settings, None)
        self.metrics.configure_sources(settings)
        self.metrics.seed_last_success(_last_successes(self.runtime.store))
        self.metrics.registry.register(StoreCollector(
            self._current, self.tallies, exporter=self._store_exporter,
            units=lambda: list(self.units_known())))
        self.metrics.registry.register(ClaimsCollector(self._claims_view))
        self.metrics.registry.register(UnitInfoCollector(self.units_known))
        self.scheduler = make_scheduler(settings)
        console = (make_console(self._console_runtime, UnitDirectory(self._unit_names))
                   if settings.console.enabled else None)
        self.web = WebServer(settings.server.listen,
                             make_app(self.metrics.registry, self.ready, self._reload_endpoint, console))

    # --- building and swapping the runtime -----------------------------------------

    def _calendar_for(self, settings: Settings) -> WorkCalendar:
        """The work calendar, rebuilt only when its override files changed (reloads stay quick)."""
        paths = [settings.resolve(p) for p in settings.calendar.overrides]
        key = tuple((str(p.resolve()), p.stat().st_mtime_ns) for p in paths)
        if self._calendar is None or self._calendar[0] != key:
            self._calendar = (key, load_calendar(settings))
        return self._calendar[1]

    def _build(self, settings: Settings, old: Runtime | None) -> Runtime:
        calendar = self._calendar_for(settings)
        engine = Engine(settings, calendar=calendar, watchers=[self.tallies],
                        stop_requested=self.stopping.is_set, progress=self.metrics.scan_progress)
        url = settings.state_url()
        store = (old.store if old is not None and old.store_url == url
                 else open_store(url, lock_timeout=settings.state.lock_timeout.total_seconds()))
        claims = claims_for(store, self.replica)
        claims.announce()
        return Runtime(settings, engine, store, url, calendar, Renderer(settings), claims)

    def units_known(self) -> dict[str, UnitInfo]:
        """The units the last cycles of this replica read, over all its sources."""
        return {u: info for units in list(self._units.values()) for u, info in units.items()}

    def _current(self) -> tuple[SAEngine, WorkCalendar, Settings]:
        rt = self.runtime
        return rt.store, rt.calendar, rt.settings

    def _console_runtime(self) -> tuple[SAEngine, Settings, WorkCalendar]:
        """What the console reads: the current runtime's store, settings and calendar."""
        rt = self.runtime
        return rt.store, rt.settings, rt.calendar

    def _unit_names(self, ids: Iterable[str]) -> dict[str, str]:
        return cycle.unit_names(self.runtime.engine)(ids)

    def _acquire(self) -> Runtime:
        with self._lock:
            rt = self.runtime
            rt.users += 1
            return rt

    def _release(self, rt: Runtime) -> None:
        with self._lock:
            rt.users -= 1
            done = rt.retired and rt.users == 0
        if done:
            rt.close(keep_store=rt.store is self.runtime.store)

    # --- jobs --------------------------------------------------------------------

    def _tracked(self, fn: Any, *args: Any) -> None:
        """Run a job, counted, so that shutdown knows when the work has ended."""
        with self._active:  # stopping is set under this lock: no job slips past a shutdown
            if self.stopping.is_set():
                return
            self._running_jobs += 1
        try:
            fn(*args)
        finally:
            with self._active:
                self._running_jobs -= 1
                self._active.notify_all()

    def run_source(self, name: str, full: bool = False) -> None:
        """One cycle of ``name``; ``full``: the scheduled full scan of an incremental source.

        A full scan that cannot run now (the previous cycle still runs) or fails
        stays owed: the source's next cycle is full.
        """
        if full:
            self._full_owed.add(name)
        self._tracked(self._cycle, name)

    def deliver_outbox(self) -> None:
        self._tracked(self._deliver)

    def _cycle(self, name: str) -> None:
        lock = self._source_locks.setdefault(name, threading.Lock())
        if not lock.acquire(blocking=False):  # an interval and a cron job met
            log.info("cycle skipped: the previous one is still running", source=name)
            return
        rt = self._acquire()
        started = time.monotonic()
        try:
            if name not in rt.settings.sources:  # removed by a reload since it was scheduled
                return
            if not self._owns(rt, name):
                log.debug("cycle left to another replica", source=name)
                return
            with structlog.contextvars.bound_contextvars(source=name):
                try:
                    at = self.clock() if self.clock is not None else dt.datetime.now(rt.settings.tz)
                    incremental = (rt.settings.sources[name].incremental is not None
                                   and name in rt.full_done and name not in self._full_owed)
                    # an incremental cycle reads a few rows: the full scan's totals would mislead
                    self.metrics.scan_started(name, {} if incremental else self._expected(rt, name))
                    report = cycle.run_cycle(rt.engine, rt.store, rt.settings, at, sources=[name],
                                             claims=rt.claims, incremental=incremental)
                except Exception as exc:  # a fault stays local (invariant 5): the next cycle retries
                    log.exception("cycle failed", error=str(exc))
                    self.metrics.observe_cycle(name, [], time.monotonic() - started, ok=False)
                    return
                if report.outcomes and all(o.claimed_elsewhere for o in report.outcomes):
                    return  # a manual `sunlight cycle` is scanning it right now: not a failure
                if report.ok and not incremental:
                    rt.full_done.add(name)
                    self._full_owed.discard(name)
                seconds = time.monotonic() - started
                self._units[name] = {u: info for o in report.outcomes for u, info in o.units.items()}
                self.metrics.observe_cycle(name, report.outcomes, seconds, report.ok)
                log.info("cycle done", ok=report.ok, seconds=round(seconds, 3),
                         mode="incremental" if incremental else "full",
                         findings=sum(sum(o.findings.values()) for o in report.outcomes),
                         letters_issued=len(report.letters_issued),
                         letters_escalated=len(report.letters_escalated))
        finally:
            self._rebalance(rt, name)
            self._release(rt)
            lock.release()

    def _expected(self, rt: Runtime, name: str) -> dict[str, int]:
        """What the last complete scan of ``name`` read per entity (the gauge's expected totals)."""
        try:
            return {entity: n for (_, entity), n in expected_rows(rt.store, [name]).items()}
        except sa.exc.SQLAlchemyError as exc:  # the cycle meets the store's failure and reports it
            log.debug("expected rows unreadable", error=type(exc).__name__)
            return {}

    # --- sharing the sources between replicas ----------------------------------------

    def _share(self, rt: Runtime) -> tuple[int, set[str]]:
        """This replica's fair share of the sources, and the sources it owns now."""
        sources = list(rt.settings.sources)
        replicas = rt.claims.replicas()
        held = rt.claims.held()
        return math.ceil(len(sources) / replicas), {n for n in sources if own_claim(n) in held}

    def _owns(self, rt: Runtime, name: str) -> bool:
        """Whether this replica evaluates ``name``: it holds it, or takes it (free, within share)."""
        with self._share_lock:
            share, owned = self._share(rt)
            if name in owned:
                return True
            if len(owned) >= share or not rt.claims.try_claim(own_claim(name)):
                return False
        log.info("source claimed", source=name, replica=self.replica, share=share)
        return True

    def _rebalance(self, rt: Runtime, name: str) -> None:
        """Above its share (a replica joined), let ``name`` go for another replica to take."""
        with self._share_lock:
            share, owned = self._share(rt)
            if name not in owned or len(owned) <= share:
                return
            rt.claims.release(own_claim(name))
        self.metrics.forget_health(name)
        self.tallies.forget(name)
        log.info("source released to another replica", source=name, replica=self.replica,
                 share=share)

    def _claims_view(self) -> ClaimsView:
        rt = self.runtime
        held = rt.claims.held()
        return ClaimsView(self.replica, rt.claims.replicas(),
                          {n: own_claim(n) in held for n in rt.settings.sources},
                          METRICS_CLAIM in held)

    def _store_exporter(self) -> bool:
        """Only the replica holding the ``metrics`` claim exports what the store holds."""
        claims = self.runtime.claims
        return METRICS_CLAIM in claims.held() or claims.try_claim(METRICS_CLAIM)

    def heartbeat(self) -> None:
        """Every few seconds: notice lost claims, and take in the other replicas' cycles."""
        rt = self.runtime
        try:
            for lost in rt.claims.verify():
                if lost.startswith("own:"):
                    self.metrics.forget_health(lost.removeprefix("own:"))
            self.metrics.seed_last_success(_last_successes(rt.store))
        except Exception as exc:  # the store is down: /readyz says so; the next beat retries
            log.warning("heartbeat failed", error=f"{type(exc).__name__}: {exc}")

    def _deliver(self) -> None:
        rt = self._acquire()
        try:
            sent = cycle.deliver_report(rt.store, rt.settings, dt.datetime.now(rt.settings.tz),
                                        rt.renderer, claims=rt.claims)
        except Exception as exc:
            log.exception("delivery run failed", error=str(exc))
            self.metrics.delivery_runs.labels(result="failed").inc()
        else:
            self.metrics.delivery_runs.labels(result="ok").inc()
            self.metrics.delivered.inc(len(sent.delivered))
            if sent.delivered or sent.failed or sent.dead:  # a line per run that attempted anything
                log.info("delivery run", delivered=len(sent.delivered), failed=len(sent.failed),
                         dead=len(sent.dead))
        finally:
            self._release(rt)

    def _schedule(self, rt: Runtime) -> None:
        jobs = schedule_jobs(self.scheduler, rt.settings, rt.calendar, self.run_source,
                             self.deliver_outbox)
        log.info("jobs scheduled", jobs=jobs)

    # --- reload ------------------------------------------------------------------

    def reload(self, origin: str) -> ProbeResult:
        """Load, validate and swap in the config file; on any problem keep the running one."""
        with self._reload_lock:
            try:
                settings = load_settings(self.config_path)
                new = self._build(settings, self.runtime)
            except ConfigError as exc:
                return self._reload_failed(origin, str(exc))
            except Exception as exc:  # e.g. a new state store that cannot be opened
                return self._reload_failed(origin, f"{type(exc).__name__}: {exc}")
            with self._lock:
                old, self.runtime = self.runtime, new
                old.retired = True
                idle = old.users == 0
            if idle:
                old.close(keep_store=old.store is new.store)
            for name in set(old.settings.sources) - set(settings.sources):
                new.claims.release(own_claim(name))
            self.metrics.configure_sources(settings)
            self.tallies.keep_only(settings.sources)
            if not self.stopping.is_set():
                self._schedule(new)
            if settings.server.listen != old.settings.server.listen:
                log.warning("server.listen changed: restart the daemon to move the port",
                            listening=old.settings.server.listen, configured=settings.server.listen)
            self.metrics.observe_reload(True)
            log.info("config reloaded", origin=origin, config=str(self.config_path),
                     sources=sorted(settings.sources), state=safe_url(new.store_url))
            return ProbeResult(True, {"config": str(self.config_path)})

    def _reload_failed(self, origin: str, error: str) -> ProbeResult:
        self.metrics.observe_reload(False)
        log.error("config reload failed; the running config stays", origin=origin,
                  config=str(self.config_path), error=error)
        return ProbeResult(False, {"error": error})

    def _reload_endpoint(self) -> ProbeResult | None:
        if not self.runtime.settings.server.reload_endpoint:
            return None
        return self.reload("http")

    # --- health ------------------------------------------------------------------

    def ready(self) -> ProbeResult:
        """Ready: the state store answers and every source succeeded within 3 intervals."""
        rt = self.runtime
        try:
            with rt.store.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            return ProbeResult(False, {"state_store": f"unreachable ({type(exc).__name__})"})
        now = time.time()
        sources: dict[str, Any] = {}
        ok = True
        for name, h in self.metrics.health().items():
            limit = READY_INTERVALS * h.interval
            age = now - h.last_success if h.last_success else None
            fresh = age is not None and age <= limit
            ok &= fresh
            sources[name] = {"fresh": fresh, "last_success_age_seconds": None if age is None
                             else round(age, 1), "limit_seconds": limit}
        return ProbeResult(ok, {"state_store": "ok", "sources": sources})

    # --- the main loop -------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if signum == signal.SIGHUP:
            self._signals.put("reload")
        elif self.stopping.is_set():  # a second SIGTERM/SIGINT: do not wait any longer
            os._exit(0)
        else:
            self._signals.put("stop")

    def run(self, on_ready: Callable[[str], None] | None = None) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        rt = self.runtime
        self.web.start()
        self._schedule(rt)
        self.scheduler.start()
        log.info("daemon started", version=_version(), config=str(self.config_path), listen=self.web.url,
                 sources=sorted(rt.settings.sources), replica=self.replica, state=safe_url(rt.store_url),
                 metrics=f"{self.web.url}/metrics", pid=os.getpid())
        if on_ready is not None:
            on_ready(self.web.url)
        beat = time.monotonic()
        while True:
            if time.monotonic() - beat >= HEARTBEAT_SECONDS:
                beat = time.monotonic()
                self.heartbeat()
            try:
                command = self._signals.get(timeout=1.0)
            except queue.Empty:
                continue
            if command == "reload":
                self.reload("SIGHUP")
            elif command == "stop":
                return self.shutdown()

    def shutdown(self) -> int:
        grace = self.runtime.settings.server.shutdown_grace.total_seconds()
        log.info("stopping", grace_seconds=grace)
        with self._active:
            self.stopping.set()
        self.scheduler.shutdown(wait=False)
        with self._active:
            finished = self._active.wait_for(lambda: self._running_jobs == 0, timeout=grace)
        self.web.stop()
        if not finished:
            log.warning("work still running after the grace period; exiting without it",
                        running_jobs=self._running_jobs)
            sys.stderr.flush()
            os._exit(0)  # threads stuck in a driver call cannot be joined; the store is consistent
        self.runtime.close()
        log.info("stopped")
        return 0


# --- helpers ---------------------------------------------------------------------------


def _version() -> str:
    try:
        return version("sunlight-jiancha")
    except PackageNotFoundError:
        return ""


def _last_successes(store: SAEngine) -> dict[str, float]:
    """When each source last completed a scan, from the store (survives a restart)."""
    with store.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT source, MAX(finished_at) FROM scan_runs WHERE ok = :ok GROUP BY source"),
            {"ok": True}).all()
    out = {}
    for source, finished in rows:
        if finished is None:
            continue
        if isinstance(finished, str):
            finished = dt.datetime.fromisoformat(finished)
        out[source] = finished.replace(tzinfo=dt.UTC).timestamp()
    return out


def run(config_path: Path, settings: Settings, on_ready: Callable[[str], None] | None = None,
        clock: Clock | None = None) -> int:
    """The daemon on a validated config, until SIGTERM/SIGINT. Returns the exit code.

    ``on_ready`` is called with the base URL once the port is bound and the jobs run.
    """
    prometheus_client.disable_created_metrics()  # *_created series double the scrape for nothing
    try:
        daemon = Daemon(config_path, settings, clock)
    except OSError as exc:
        log.error("cannot listen", listen=settings.server.listen, error=str(exc))
        print(f"无法监听 (cannot listen on) {settings.server.listen}: {exc}", file=sys.stderr)
        return 1
    except (sa.exc.SQLAlchemyError, StoreError) as exc:
        cause = exc.cause if isinstance(exc, StoreError) else describe(exc)
        log.error("state store unavailable", state=safe_url(settings.state_url()), error=cause)
        print(f"状态库不可用 (state store unavailable): {safe_url(settings.state_url())}: {cause}",
              file=sys.stderr)
        return 1
    return daemon.run(on_ready)
