"""One full cycle: scan, record findings, issue and escalate letters, queue deliveries.

``sunlight cycle`` and the daemon's scheduled jobs both call :func:`run_cycle`;
the delivery worker calls :func:`deliver`. The steps read top to bottom.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine as SAEngine

from monitor.engine import Engine, SourceOutcome, scan_and_record
from monitor.settings import Settings


@dataclass
class CycleReport:
    at: dt.datetime
    outcomes: list[SourceOutcome] = field(default_factory=list)
    letters_issued: list[str] = field(default_factory=list)  # letter numbers
    letters_escalated: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)


def run_cycle(engine: Engine, store: SAEngine, settings: Settings, at: dt.datetime,
              sources: list[str] | None = None) -> CycleReport:
    """Scan (all or the named sources), record, then let the tier policy act."""
    report = CycleReport(at)
    report.outcomes = scan_and_record(engine, store, at, sources=sources)
    # letters: issue for new findings, escalate overdue letters (alerts, issue #3)
    return report


def deliver(store: SAEngine, settings: Settings, now: dt.datetime) -> int:
    """Send what the outbox holds that is due; returns how many were delivered."""
    return 0
