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


def gather(store: Engine, periods: list[Period], tz: dt.tzinfo, as_of: dt.date,
           units: list[str]) -> list[dict[str, UnitCounts]]:
    """Each period's counts for every unit in ``units`` (zero counts included), as of ``as_of``.

    One query over the findings for all the periods (each row falls in at
    most one of them, by a CASE on its first-seen time) and one over the letters.
    """
    out = [{u: UnitCounts() for u in units} for _ in periods]
    if not periods:
        return out
    f = FindingRow
    bounds = [(dt.datetime.combine(p.start, dt.time(), tz), dt.datetime.combine(p.end, dt.time(), tz))
              for p in periods]
    bucket = sa.case(*[(sa.and_(f.first_seen >= a, f.first_seen < b), i)
                       for i, (a, b) in enumerate(bounds)], else_=-1).label("bucket")
    lo, hi = min(a for a, _ in bounds), max(b for _, b in bounds)
    first_day, last_day = min(p.start for p in periods), max(p.end for p in periods)
    with store.connect() as conn:
        for i, unit, tier, n in conn.execute(
            sa.select(bucket, f.unit_id, f.tier, sa.func.count())
            .where(f.first_seen >= lo, f.first_seen < hi, f.check_id != DATA_QUALITY)
            .group_by(bucket, f.unit_id, f.tier)):
            if i >= 0:
                out[i].setdefault(unit, UnitCounts()).findings[tier] = n
        letters = conn.execute(
            sa.select(LetterRow.unit_id, LetterRow.rectify_by, LetterRow.closed_at)
            .where(LetterRow.audience == "unit", LetterRow.tier != "reminder",
                   # a letter withdrawn as issued in error counts against no unit
                   LetterRow.status != "withdrawn",
                   LetterRow.rectify_by >= first_day, LetterRow.rectify_by < last_day)).all()
    for row in letters:
        for i, p in enumerate(periods):
            # a rectification date not yet passed is not yet due
            if p.start <= row.rectify_by < min(p.end, as_of):
                c = out[i].setdefault(row.unit_id, UnitCounts())
                c.letters_due += 1
                if row.closed_at is not None and row.closed_at.astimezone(tz).date() <= row.rectify_by:
                    c.letters_on_time += 1
    return out


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
    """The ranking for ``period``, each unit beside its place in the period before."""
    return assess_many(store, [period], tz, today, rule, units)[0]


def assess_many(store: Engine, periods: list[Period], tz: dt.tzinfo, today: dt.date,
                rule: AssessmentRule, units: list[str]) -> list[list[AssessmentRow]]:
    """:func:`assess` for several periods with one read of the store."""
    wanted = list(dict.fromkeys([*periods, *(p.previous() for p in periods)]))
    counts = dict(zip(wanted, gather(store, wanted, tz, today, units), strict=True))
    ranked = {p: rank(c, rule) for p, c in counts.items()}
    out = []
    for p in periods:
        before = {r.unit_id: r for r in ranked[p.previous()]}
        out.append([AssessmentRow(r.unit_id, r, before.get(r.unit_id)) for r in ranked[p]])
    return out
