"""绩效评估: each unit's score for a period under the office's scoring rule, and its ranking.

Seed 004:68 (定期预警) and published practice rank units monthly by automatic
scoring; the seeds name the measures but not their weights, so the default
weights (``console.assessment``) are ours and the page says so.

:func:`score` and :func:`rank` are pure; :func:`gather` reads the counts
they need from the state store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sunlight.monitor.store.letters_models import LetterRow
from sunlight.monitor.store.models import FindingRow
from sunlight.monitor.webconsole.config import AssessmentRule
from sunlight.monitor.webconsole.periods import Period

DATA_QUALITY = "data_quality"


@dataclass
class UnitCounts:
    """What one unit did in one period."""

    findings: dict[str, int] = field(default_factory=dict)  # tier → findings first seen in the period
    letters_due: int = 0  # letters whose rectification date fell in the period and has passed
    letters_on_time: int = 0  # of those, closed by their rectification date


@dataclass(frozen=True)
class Score:
    total: float
    deductions: dict[str, float]
    on_time_rate: float | None  # None: no letter fell due


def score(c: UnitCounts, rule: AssessmentRule) -> Score:
    """100 minus the deductions of ``rule``, never below 0."""
    d = {f"findings_{tier}": n * rule.per_finding.get(tier, 0.0) for tier, n in c.findings.items()}
    unrectified = c.letters_due - c.letters_on_time
    d["unrectified_letters"] = unrectified * rule.per_unrectified_letter
    rate = c.letters_on_time / c.letters_due if c.letters_due else None
    d["on_time"] = (1 - rate) * rule.on_time_weight if rate is not None else 0.0
    return Score(round(max(0.0, 100.0 - sum(d.values())), 2), d, rate)


@dataclass(frozen=True)
class Ranked:
    unit_id: str
    counts: UnitCounts
    score: Score
    rank: int  # 1 is best; equal scores share a rank


def rank(counts: dict[str, UnitCounts], rule: AssessmentRule) -> list[Ranked]:
    scored = sorted(((u, c, score(c, rule)) for u, c in counts.items()),
                    key=lambda t: (-t[2].total, t[0]))
    out: list[Ranked] = []
    for i, (u, c, s) in enumerate(scored):
        place = out[-1].rank if out and out[-1].score.total == s.total else i + 1
        out.append(Ranked(u, c, s, place))
    return out


def gather(store: Engine, period: Period, tz: dt.tzinfo, as_of: dt.date,
           units: list[str]) -> dict[str, UnitCounts]:
    """The counts of every unit in ``units`` (zero counts included) for ``period`` as of ``as_of``."""
    start = dt.datetime.combine(period.start, dt.time(), tz)
    end = dt.datetime.combine(period.end, dt.time(), tz)
    counts = {u: UnitCounts() for u in units}
    f = FindingRow
    due_until = min(period.end, as_of)  # a rectification date not yet passed is not yet due
    with store.connect() as conn:
        for unit, tier, n in conn.execute(
            sa.select(f.unit_id, f.tier, sa.func.count())
            .where(f.first_seen >= start, f.first_seen < end, f.check_id != DATA_QUALITY)
            .group_by(f.unit_id, f.tier)):
            counts.setdefault(unit, UnitCounts()).findings[tier] = n
        for row in conn.execute(
            sa.select(LetterRow.unit_id, LetterRow.rectify_by, LetterRow.closed_at)
            .where(LetterRow.audience == "unit", LetterRow.tier != "reminder",
                   LetterRow.rectify_by >= period.start, LetterRow.rectify_by < due_until)):
            c = counts.setdefault(row.unit_id, UnitCounts())
            c.letters_due += 1
            if row.closed_at is not None and row.closed_at.astimezone(tz).date() <= row.rectify_by:
                c.letters_on_time += 1
    return counts


@dataclass(frozen=True)
class AssessmentRow:
    unit_id: str
    now: Ranked
    before: Ranked | None

    @property
    def change(self) -> float | None:
        return None if self.before is None else round(self.now.score.total - self.before.score.total, 2)

    @property
    def rank_change(self) -> int | None:
        """Places gained (positive) or lost against the previous period."""
        return None if self.before is None else self.before.rank - self.now.rank


def assess(store: Engine, period: Period, tz: dt.tzinfo, today: dt.date, rule: AssessmentRule,
           units: list[str]) -> list[AssessmentRow]:
    now = rank(gather(store, period, tz, today, units), rule)
    prev = period.previous()
    before = {r.unit_id: r for r in rank(gather(store, prev, tz, today, units), rule)}
    return [AssessmentRow(r.unit_id, r, before.get(r.unit_id)) for r in now]
