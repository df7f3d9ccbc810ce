"""One full cycle: scan, record findings, issue and escalate letters, queue deliveries.

``sunlight cycle`` and the daemon's scheduled jobs both call :func:`run_cycle`;
the delivery worker calls :func:`deliver`. The steps read top to bottom.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine as SAEngine

from sunlight.alerts.letters import IssuedLetter, IssueReport, UnitNames, issue_letters
from sunlight.alerts.outbox import DeliveryReport, crash_point, deliver_due
from sunlight.alerts.render import Renderer
from sunlight.monitor.engine import Engine, SourceOutcome, scan_and_record
from sunlight.monitor.settings import Settings


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


def unit_names(engine: Engine) -> UnitNames:
    """Unit names for the letters' 主送单位, read from the sources' ``units`` tables on demand."""
    from sunlight.monitor.readers import READERS, ReadContext
    from sunlight.monitor.records.base import RowProblem
    from sunlight.monitor.sources import SourceError

    def lookup(ids: Iterable[str]) -> dict[str, str]:
        wanted = set(ids)
        # the scan has just read the units tables: only a unit it did not see costs a read
        names = {u: engine.units_seen[u].name for u in wanted if u in engine.units_seen}
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


def run_cycle(engine: Engine, store: SAEngine, settings: Settings, at: dt.datetime,
              sources: list[str] | None = None) -> CycleReport:
    """Scan (all or the named sources), record, then let the tier policy act.

    The letters and their queued deliveries are committed together before
    anything is sent (invariant 4); :func:`deliver` sends them.
    """
    report = CycleReport(at)
    report.outcomes = scan_and_record(engine, store, at, sources=sources)
    issued = issue(engine, store, settings, at)
    report.letters = issued.issued
    report.letters_issued = [letter.number for letter in issued.issued]
    report.letters_escalated = issued.escalated
    report.letters_overdue = issued.overdue
    crash_point("after_commit")
    return report


def issue(engine: Engine, store: SAEngine, settings: Settings, at: dt.datetime) -> IssueReport:
    """Escalate overdue letters and issue letters for new findings (one transaction)."""
    return issue_letters(store, settings, engine.calendar, at, unit_names(engine))


_renderers: list[tuple[Settings, Renderer]] = []  # the last few configs' renderers (retries reuse them)


def _renderer(settings: Settings) -> Renderer:
    for known, renderer in _renderers:
        if known is settings:
            return renderer
    renderer = Renderer(settings)
    _renderers.insert(0, (settings, renderer))
    del _renderers[3:]
    return renderer


def deliver_report(store: SAEngine, settings: Settings, now: dt.datetime) -> DeliveryReport:
    """Send what the outbox holds that is due, with what happened to each delivery."""
    renderer = _renderer(settings)
    return deliver_due(store, settings, now, lambda letter_id: renderer.message(store, letter_id))


def deliver(store: SAEngine, settings: Settings, now: dt.datetime) -> int:
    """Send what the outbox holds that is due; returns how many were delivered."""
    return len(deliver_report(store, settings, now).delivered)
