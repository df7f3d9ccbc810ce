"""The tier policy, in one place: a finding's tier, what each tier requires, escalation, repeats.

All of it is applied when letters are planned (:mod:`sunlight.alerts.planner`),
never at scan time: a finding keeps its check's default tier (rules.md), and
the planner resolves it here.

- A finding's tier (its severity: store, metrics, console, periodic
  assessments) is its check's default unless a config override matches its
  check, unit or item (first match wins): :func:`resolve_tier`.
- A new matter's first letter (随时预警) starts at 三级 (seed 004:66-68, 第十一条:
  随时预警 "向所在单位(部门)或当事人发出三级廉政风险预警函"), whatever its finding's
  severity, unless an override matches (the office's deliberate choice) or
  ``tiers.matter_start`` is ``check``; reminders stay reminders:
  :func:`start_tier`. A unit reaches 一级 only by ignoring 三级 and 二级 of one
  matter, or by the repeat rule.
- The ladder is 提醒 < 三级 < 二级 < 一级 (seed 004:64-66); labels and colours
  are config, the ladder is not.
- What a letter asks (seed 004:66): 三级 rectification; 二级 also the written
  report; 一级 also the admonition talk.
- Escalation one rung up the ladder; nothing above 一级.
- Repeat (seed 000:150 "1年内出现2次以上被问责的…从重问责"): a unit with
  ``repeat.count`` serious *matters* in the window gets its next new letter
  at 一级; a matter counts once however many rungs it climbed.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sunlight.alerts.config import TIERS, Tier, TiersConfig

LETTER_TIERS: tuple[Tier, ...] = ("level3", "level2", "level1")  # least to most severe


def _override(config: TiersConfig, check: str, unit_id: str | None, item_code: str | None) -> Tier | None:
    """The tier of the first ``tiers.overrides`` entry that matches, if any."""
    for ov in config.overrides:
        if ov.match.matches(check=check, unit_id=unit_id, item_code=item_code):
            return ov.tier
    return None


def resolve_tier(
    config: TiersConfig, check: str, default: Tier, unit_id: str | None, item_code: str | None
) -> Tier:
    """A finding's severity: the first matching override, else its check's default tier (rules.md)."""
    return _override(config, check, unit_id, item_code) or default


def start_tier(
    config: TiersConfig, check: str, default: Tier, unit_id: str | None, item_code: str | None
) -> Tier:
    """The tier a new matter's first letter starts at (before the repeat rule).

    - A matching ``tiers.overrides`` entry sets it: an office that wants a
      check to start at 二级 says so.
    - A reminder (提醒) stays a reminder: it is a notice, not a matter.
    - Otherwise ``tiers.matter_start``: ``level3`` (default; seed 004:68
      随时预警 sends 三级廉政风险预警函), or ``check`` (the check's default tier).
    """
    chosen = _override(config, check, unit_id, item_code)
    if chosen is not None:
        return chosen
    if default not in LETTER_TIERS or config.matter_start == "check":
        return default
    return "level3"


# --- the ladder: severity, escalation, requirements (letters.md; seed 004:64-66) ----------



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


RECTIFICATION, REPORT, ADMONITION = "rectification", "report", "admonition"
UNMET_ZH = {RECTIFICATION: "整改", REPORT: "书面整改报告", ADMONITION: "诫勉谈话"}


def unmet_requirements(tier: str, report_received: bool, admonition_held: bool,
                       unrectified: int) -> list[str]:
    """What the letter asked for that is still missing (empty: every requirement met).

    Every tier asks for the rectification, which is a property of each finding
    (its violation ended in the source, or the office accepted the unit's
    explanation: :func:`rectified`); 二级 and 一级 also ask for the written
    report, 一级 also for the admonition talk (seed 004:66).
    """
    req = requirements(tier)
    missing = []
    if unrectified:
        missing.append(RECTIFICATION)
    if req.report and not report_received:
        missing.append(REPORT)
    if req.admonition and not admonition_held:
        missing.append(ADMONITION)
    return missing


#: checks whose violation is a finished act the source can never show as undone (a decision
#: taken by circulation, a payment split, a supplement asked twice): the unit's written report
#: of what it did is the rectification, verified by the office before it closes the letter
PAST_ACT_CHECKS = frozenset({
    "repeated_supplement", "decision_not_collective", "quorum_not_met", "votes_insufficient",
    "split_payment", "head_signs_directly", "duplicate_role_signer",
})


def rectified(check: str, ended_in_source: bool, explained: bool, report_received: bool) -> bool:
    """Is one finding on a letter rectified? (letters.md, "Lifecycle")

    Its violation ended in the source (the finding resolved, or it ended but
    stays on record, like a case completed late), or the office accepted the
    unit's explanation (核实不予追究), or, for a finished act, the report came.
    Lateness that stays on record never makes the letter unmet.
    """
    return ended_in_source or explained or (check in PAST_ACT_CHECKS and report_received)


# --- repeat rule (seed 000:150 一年内出现2次以上被问责的…从重) -------------------------------


def months_before(at: dt.datetime, months: int) -> dt.datetime:
    """The same wall-clock time ``months`` calendar months earlier (day clamped to the month)."""
    total = at.year * 12 + (at.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


SERIOUS: tuple[Tier, ...] = ("level2", "level1")


def serious_matters(config: TiersConfig, at: dt.datetime,
                    letters: Iterable[tuple[int, str, dt.datetime]]) -> int:
    """How many distinct matters had a letter of level2 or worse within the window before ``at``.

    ``letters`` are (matter id, tier, issued at) of one unit's letters, withdrawn
    ones left out. A 三级 letter escalated to 二级 and then 一级 is one matter.
    """
    since = months_before(at, config.repeat.window_months)
    return len({m for m, tier, issued in letters if tier in SERIOUS and since <= issued <= at})


def repeat_tier(config: TiersConfig, tier: Tier, prior_serious_matters: int) -> Tier:
    """Level1 for a unit that already had ``repeat.count`` serious matters in the window.

    Seed 000:150 "2次以上" includes two, hence ``>=``.
    """
    if tier in ("level3", "level2") and prior_serious_matters >= config.repeat.count:
        return "level1"
    return tier
