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

Stopping: no new job starts, the running scans are abandoned at the next
record (their runs are recorded as incomplete, so they resolve nothing), and
the process exits 0 when the work has ended or ``server.shutdown_grace`` has
passed, whichever comes first.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import prometheus_client
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine as SAEngine

from sunlight.monitor import cycle
from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.engine import Engine, load_calendar
from sunlight.monitor.metrics import CaseTallies, Metrics, StoreCollector
from sunlight.monitor.scheduler import make_scheduler, schedule_jobs
from sunlight.monitor.settings import ConfigError, Settings, load_settings
from sunlight.monitor.sources import safe_url
from sunlight.monitor.store import open_store
from sunlight.monitor.web import Check, WebServer, make_app

log = structlog.get_logger("sunlight.daemon")

#: /readyz: a source whose last successful cycle is older than this many intervals is stale
READY_INTERVALS = 3


@dataclass(eq=False)
class Runtime:
    """One loaded configuration and what was built from it."""

    settings: Settings
    engine: Engine
    store: SAEngine
    store_url: str
    calendar: WorkCalendar
    users: int = 0  # jobs running on it
    retired: bool = False  # replaced by a reload: close when the last user leaves

    def close(self, keep_store: bool = False) -> None:
        self.engine.close()
        if not keep_store:
            self.store.dispose()


class Daemon:
    def __init__(self, config_path: Path, settings: Settings) -> None:
        self.config_path = Path(config_path)
        self.stopping = threading.Event()
        self.tallies = CaseTallies()
        self.metrics = Metrics(_version())
        self._lock = threading.Lock()  # guards runtime swaps and users counts
        self._reload_lock = threading.Lock()  # one reload at a time (SIGHUP and HTTP)
        self._active = threading.Condition()
        self._running_jobs = 0
        self._source_locks: dict[str, threading.Lock] = {}
        self._signals: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.runtime = self._build(settings, None)
        self.metrics.configure_sources(settings)
        self.metrics.seed_last_success(_last_successes(self.runtime.store))
        self.metrics.registry.register(StoreCollector(self._current, self.tallies))
        self.scheduler = make_scheduler(settings)
        self.web = WebServer(settings.server.listen,
                             make_app(self.metrics.registry, self.ready, self._reload_endpoint))

    # --- building and swapping the runtime -----------------------------------------

    def _build(self, settings: Settings, old: Runtime | None) -> Runtime:
        calendar = _calendar(settings)
        engine = Engine(settings, calendar=calendar, watchers=[self.tallies],
                        stop_requested=self.stopping.is_set, progress=self.metrics.scan_progress)
        url = settings.state_url()
        store = old.store if old is not None and old.store_url == url else open_store(url)
        return Runtime(settings, engine, store, url, calendar)

    def _current(self) -> tuple[SAEngine, WorkCalendar, Settings]:
        rt = self.runtime
        return rt.store, rt.calendar, rt.settings

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

    def run_source(self, name: str) -> None:
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
            with structlog.contextvars.bound_contextvars(source=name):
                try:
                    report = cycle.run_cycle(rt.engine, rt.store, rt.settings,
                                             dt.datetime.now(rt.settings.tz), sources=[name])
                except Exception as exc:  # a fault stays local (invariant 5): the next cycle retries
                    log.exception("cycle failed", error=str(exc))
                    self.metrics.observe_cycle(name, [], time.monotonic() - started, ok=False)
                    return
                seconds = time.monotonic() - started
                self.metrics.observe_cycle(name, report.outcomes, seconds, report.ok)
                log.info("cycle done", ok=report.ok, seconds=round(seconds, 3),
                         findings=sum(sum(o.findings.values()) for o in report.outcomes),
                         letters_issued=len(report.letters_issued),
                         letters_escalated=len(report.letters_escalated))
        finally:
            self._release(rt)
            lock.release()

    def _deliver(self) -> None:
        rt = self._acquire()
        try:
            sent = cycle.deliver(rt.store, rt.settings, dt.datetime.now(rt.settings.tz))
        except Exception as exc:
            log.exception("delivery run failed", error=str(exc))
            self.metrics.delivery_runs.labels(result="failed").inc()
        else:
            self.metrics.delivery_runs.labels(result="ok").inc()
            self.metrics.delivered.inc(sent)
            if sent:
                log.info("outbox drained", delivered=sent)
        finally:
            self._release(rt)

    def _schedule(self, rt: Runtime) -> None:
        jobs = schedule_jobs(self.scheduler, rt.settings, rt.calendar, self.run_source,
                             self.deliver_outbox)
        log.info("jobs scheduled", jobs=jobs)

    # --- reload ------------------------------------------------------------------

    def reload(self, origin: str) -> Check:
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
            return Check(True, {"config": str(self.config_path)})

    def _reload_failed(self, origin: str, error: str) -> Check:
        self.metrics.observe_reload(False)
        log.error("config reload failed; the running config stays", origin=origin,
                  config=str(self.config_path), error=error)
        return Check(False, {"error": error})

    def _reload_endpoint(self) -> Check | None:
        if not self.runtime.settings.server.reload_endpoint:
            return None
        return self.reload("http")

    # --- health ------------------------------------------------------------------

    def ready(self) -> Check:
        """Ready: the state store answers and every source succeeded within 3 intervals."""
        rt = self.runtime
        try:
            with rt.store.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            return Check(False, {"state_store": f"unreachable ({type(exc).__name__})"})
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
        return Check(ok, {"state_store": "ok", "sources": sources})

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
        log.info("daemon started", config=str(self.config_path), sources=sorted(rt.settings.sources),
                 state=safe_url(rt.store_url), metrics=f"{self.web.url}/metrics", pid=os.getpid())
        if on_ready is not None:
            on_ready(self.web.url)
        while True:
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


_calendars: dict[tuple[tuple[str, int], ...], WorkCalendar] = {}


def _calendar(settings: Settings) -> WorkCalendar:
    """The work calendar, rebuilt only when its override files changed (reloads stay quick)."""
    paths = [settings.resolve(p) for p in settings.calendar.overrides]
    key = tuple((str(p.resolve()), p.stat().st_mtime_ns) for p in paths)
    if key not in _calendars:
        _calendars.clear()
        _calendars[key] = load_calendar(settings)
    return _calendars[key]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sunlight")
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


class _StdlibToStructlog(logging.Handler):
    """APScheduler logs through the standard library; give its warnings our format."""

    def emit(self, record: logging.LogRecord) -> None:
        structlog.get_logger(record.name).log(record.levelno, record.getMessage())


def _route_library_logs() -> None:
    handler = _StdlibToStructlog(logging.WARNING)
    for name in ("apscheduler",):
        lib = logging.getLogger(name)
        lib.handlers[:] = [handler]
        lib.setLevel(logging.WARNING)
        lib.propagate = False


def run(config_path: Path, settings: Settings, on_ready: Callable[[str], None] | None = None) -> int:
    """The daemon on a validated config, until SIGTERM/SIGINT. Returns the exit code.

    ``on_ready`` is called with the base URL once the port is bound and the jobs run.
    """
    _route_library_logs()
    prometheus_client.disable_created_metrics()  # *_created series double the scrape for nothing
    try:
        daemon = Daemon(config_path, settings)
    except OSError as exc:
        log.error("cannot listen", listen=settings.server.listen, error=str(exc))
        print(f"无法监听 (cannot listen on) {settings.server.listen}: {exc}", file=sys.stderr)
        return 1
    except sa.exc.SQLAlchemyError as exc:
        log.error("state store unavailable", state=safe_url(settings.state_url()),
                  error=type(exc).__name__)
        print(f"状态库不可用 (state store unavailable): {safe_url(settings.state_url())}",
              file=sys.stderr)
        return 1
    return daemon.run(on_ready)
