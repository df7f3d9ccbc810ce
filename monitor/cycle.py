"""One full cycle: scan, record findings, issue and escalate letters, queue deliveries.

``sunlight cycle`` and the daemon's scheduled jobs both call :func:`run_cycle`;
the delivery worker calls :func:`deliver`. The steps read top to bottom.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine as SAEngine

from sunlight.alerts.letters import IssuedLetter, IssueReport, People, issue_letters
from sunlight.alerts.outbox import DeliveryReport, crash_point, deliver_due
from sunlight.alerts.render import Renderer
from sunlight.monitor.engine import Engine, SourceOutcome, scan_and_record, unit_names
from sunlight.monitor.incremental import incremental_scan_and_record
from sunlight.monitor.readers import READERS, ReadContext
from sunlight.monitor.records.org import PersonInfo
from sunlight.monitor.settings import Settings
from sunlight.monitor.sources import SourceError
from sunlight.monitor.store.claims import Claims


@dataclass
class CycleReport:
    at: dt.datetime
    outcomes: list[SourceOutcome] = field(default_factory=list)
    letters_issued: list[str] = field(default_factory=list)  # letter numbers
    letters_escalated: list[str] = field(default_factory=list)
    letters: list[IssuedLetter] = field(default_factory=list)  # the issued letters in detail
    letters_overdue: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)


def people(engine: Engine) -> People:
    """The people tables of the sources that are up (letters to a person name them from it)."""

    def lookup() -> list[PersonInfo]:
        found: dict[str, PersonInfo] = {}
        for src in engine.sources.values():
            if src.name in engine.down:
                continue
            try:
                if not src.has("people") or "people" not in READERS:
                    continue
                for item in READERS["people"](src, ReadContext(engine.settings.tz, None)):
                    if isinstance(item, PersonInfo):
                        found.setdefault(item.person_id, item)
            except SourceError:
                continue  # its findings stay on their units' letters; the scan reported the source
        return list(found.values())

    return lookup


def run_cycle(engine: Engine, store: SAEngine, settings: Settings, at: dt.datetime,
              sources: list[str] | None = None, claims: Claims | None = None,
              wait: float = 0.0, incremental: bool = False,
              letters_progress: Callable[[int, int], None] | None = None) -> CycleReport:
    """Scan (all or the named sources), record, then let the tier policy act.

    ``incremental``: the sources with ``incremental`` configured re-read only
    what changed since their last cycle (:mod:`sunlight.monitor.incremental`);
    the others, and any without a full scan yet, are scanned fully.

    Each source is scanned under its claim (``wait``: how long to wait for
    another process scanning it, see :func:`scan_and_record`). The letters
    and their queued deliveries are committed together before anything is
    sent (invariant 4); :func:`deliver` sends them. ``letters_progress`` is
    told (letters created, letters planned) while the letters are issued.
    """
    report = CycleReport(at)
    scan = incremental_scan_and_record if incremental else scan_and_record
    report.outcomes = scan(engine, store, at, sources=sources, claims=claims, wait=wait)
    issued = issue(engine, store, settings, at, report.outcomes, letters_progress)
    report.letters = issued.issued
    report.letters_issued = [letter.number for letter in issued.issued]
    report.letters_escalated = issued.escalated
    report.letters_overdue = issued.overdue
    crash_point("after_commit")
    return report


def issue(engine: Engine, store: SAEngine, settings: Settings, at: dt.datetime,
          outcomes: Iterable[SourceOutcome] = (),
          progress: Callable[[int, int], None] | None = None) -> IssueReport:
    """Escalate overdue letters and issue letters for new findings (one transaction)."""
    return issue_letters(store, settings, engine.calendar, at, unit_names(engine, outcomes),
                         people=people(engine), progress=progress)


def deliver_report(store: SAEngine, settings: Settings, now: dt.datetime,
                   renderer: Renderer | None = None, claims: Claims | None = None,
                   wait: float = 0.0) -> DeliveryReport:
    """Send what the outbox holds that is due, with what happened to each delivery.

    The daemon passes the renderer of its running config (its cache of rendered
    letters serves the retries); a one-off command renders with a fresh one.
    On SQLite the pass waits up to ``wait`` seconds for another process's pass
    (``sunlight.alerts.outbox.deliver_due``).
    """
    render = renderer or Renderer(settings)
    return deliver_due(store, settings, now, lambda letter_id: render.message(store, letter_id),
                       claims=claims, wait=wait)


def deliver(store: SAEngine, settings: Settings, now: dt.datetime, renderer: Renderer | None = None,
            claims: Claims | None = None) -> int:
    """Send what the outbox holds that is due; returns how many were delivered."""
    return len(deliver_report(store, settings, now, renderer, claims=claims).delivered)
