"""Tier policy: which tier a finding gets, what each tier requires, when a letter escalates.

A finding's tier is its check's default (rules.md) unless a config override
matches its check, unit or item. The ladder is 提醒 < 三级 < 二级 < 一级
(seed 004:64-66); labels and colours are config, the ladder is not.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from sunlight.alerts.config import TIERS, Tier, TiersConfig


def resolve_tier(
    config: TiersConfig, check: str, default: Tier, unit_id: str | None, item_code: str | None
) -> Tier:
    """First matching override wins; otherwise the check's default tier (rules.md)."""
    for ov in config.overrides:
        if ov.match.matches(check=check, unit_id=unit_id, item_code=item_code):
            return ov.tier
    return default


# --- the ladder: severity, escalation, requirements (letters.md; seed 004:64-66) ----------

LETTER_TIERS: tuple[Tier, ...] = ("level3", "level2", "level1")  # least to most severe


def is_letter_tier(tier: str) -> bool:
    """Reminders (提醒) are notices; only level3..level1 are warning letters (预警函)."""
    return tier in LETTER_TIERS


def higher(tier: Tier) -> Tier | None:
    """One step up the ladder (level3 → level2 → level1); None above level1."""
    if tier not in LETTER_TIERS:
        return None
    i = LETTER_TIERS.index(tier)
    return LETTER_TIERS[i + 1] if i + 1 < len(LETTER_TIERS) else None


def more_severe(a: Tier, b: Tier) -> Tier:
    return a if TIERS.index(a) >= TIERS.index(b) else b


@dataclass(frozen=True)
class Requirements:
    """What a letter asks of the unit (seed 004:66, 第十条).

    三级: rectify within the deadline; 二级: rectify and submit a written
    report; 一级: also accept an admonition talk (诫勉谈话).
    """

    report: bool
    admonition: bool


def requirements(tier: str) -> Requirements:
    return Requirements(report=tier in ("level2", "level1"), admonition=tier == "level1")


def requirement_unmet(tier: str, report_received: bool, admonition_held: bool,
                      all_findings_resolved: bool) -> bool:
    """Is something the letter asked for still missing?

    A letter that asks for a report is answered by the report (the office then
    verifies the rectification and closes it); a level3 letter asks for the
    rectification alone, which the store can see when every finding on it has
    resolved in the source. The admonition talk is a requirement of its own.
    """
    req = requirements(tier)
    if req.admonition and not admonition_held:
        return True
    if req.report:
        return not report_received
    return not all_findings_resolved


# --- repeat rule (seed 000:150 一年内出现2次以上被问责的…从重) -------------------------------


def months_before(at: dt.datetime, months: int) -> dt.datetime:
    """The same wall-clock time ``months`` calendar months earlier (day clamped to the month)."""
    total = at.year * 12 + (at.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def repeat_tier(config: TiersConfig, tier: Tier, prior_serious: int) -> Tier:
    """Level1 for a unit that already had ``repeat.count`` letters of level2 or worse in the window."""
    if tier in ("level3", "level2") and prior_serious >= config.repeat.count:
        return "level1"
    return tier
