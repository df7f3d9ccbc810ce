"""Letter planning: a pure function from the state of the letters to what this cycle does.

:func:`plan_letters` takes everything a cycle's letter step depends on (the
open letters with the state of each of their findings, the findings not yet on
a letter, each unit's history of letters and matters, the accepted
explanations, the tier policy and the as-of time) and returns a :class:`Plan`:
the letters to issue, the escalations, the status changes. It reads no
database and no clock, so its rules are tested directly
(tests/test_planner.py); :mod:`sunlight.alerts.letters` loads its input and
persists its plan in one transaction.

The rules (letters.md; seed 004:64-68, 000:150):

1. **Overdue and escalation.** At the first cycle after ``rectify_by`` (the
   deadline is the whole of that day), a letter with a requirement unmet
   (:func:`sunlight.alerts.tiers.unmet_requirements`) becomes ``overdue``.
   If some of its findings are not rectified and a higher tier exists, it is
   ``escalated`` into one new letter one tier up, citing it, in the same
   matter, carrying only the unrectified findings. 一级 has nothing above it;
   a letter whose findings are all rectified but whose report or talk is
   missing has nothing to carry: both stay ``overdue`` for the office.
2. **New letters.** Findings not on a letter for their current opening and
   not on an open letter are grouped per unit and tier (data-quality
   findings per source, to its data owner). A finding whose explanation the
   office accepted is skipped while its facts are unchanged. The tier is the
   matter's start (:func:`sunlight.alerts.tiers.start_tier`: 三级 by default,
   seed 004:68, whatever the finding's severity; an override sets it;
   reminders stay reminders), then the repeat rule by matters lifts
   level3/level2 to level1; two groups lifted to one tier become one letter.
   So a unit reaches 一级 only through the rungs of one matter or by repeat.
   **Letters to a person** (当事人, seed 004:66 "对所在单位(部门)或当事人"): a
   finding of a check in ``letters.to_person`` that names a known person
   (``NewFinding.person_id``) is grouped per person instead of per unit, into a
   letter to that person copied to the unit. Tier, matter, escalation and the
   repeat rule work the same, with the person's own letters as the history;
   a finding with no known person stays on its unit's letter.
3. **Periodic letters** (定期预警, seed 004:68): :func:`plan_periodic` gives one
   letter per unit whose period assessment reaches a threshold, once per
   unit and period; the loader decides when a period is due.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import orjson

from sunlight.alerts.config import TIERS, PeriodicConfig, PeriodicThreshold, Tier, TiersConfig
from sunlight.alerts.tiers import (
    LETTER_TIERS,
    UNMET_ZH,
    higher,
    rectified,
    repeat_tier,
    serious_matters,
    start_tier,
    unmet_requirements,
)

DATA_QUALITY = "data_quality"


def facts_digest(check: str, subject: str, unit_id: str, item_code: str | None,
                 deadline: dt.datetime | None) -> str:
    """The facts an accepted explanation (核实不予追究) was about.

    The same check on the same subject, unit, item and deadline is the same
    matter of fact; a changed deadline or a move to another unit is new facts
    and is lettered again. How far overdue it runs is not a new fact.
    """
    body = orjson.dumps([check, subject, unit_id, item_code,
                         deadline.astimezone(dt.UTC).isoformat() if deadline else None])
    return hashlib.sha256(body).hexdigest()[:32]


# --- input ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NewFinding:
    """A finding that is on no letter for its current opening and on no open letter."""

    finding_id: int
    fingerprint: str
    check: str
    unit_id: str
    item_code: str | None
    source: str
    tier: Tier  # the check's default tier, as the scan found it (its severity)
    facts: str  # facts_digest(...)
    person_id: str | None = None  # the person it is about (a voucher's only signer), if known


@dataclass(frozen=True)
class LetterFinding:
    """One finding on an open letter, and what the unit has done about it."""

    finding_id: int
    fingerprint: str
    check: str
    ended: bool  # the violation ended in the source (resolved, or ended but kept on record)
    explained: bool = False  # the office accepted the unit's explanation


@dataclass(frozen=True)
class OpenLetter:
    """A warning letter in one of the open statuses (issued … overdue)."""

    id: int
    number: str
    tier: Tier
    status: str
    unit_id: str | None
    audience: str
    recipient: str
    source: str | None
    matter_id: int
    rectify_by: dt.date | None
    report_received: bool
    admonition_held: bool
    findings: tuple[LetterFinding, ...]
    person_id: str | None = None  # a letter to a person
    copy_to: str | None = None  # … copied to the person's unit


@dataclass(frozen=True)
class PastLetter:
    """One of a unit's (or a person's) letters, for the repeat rule (withdrawn letters are left out)."""

    unit_id: str
    matter_id: int
    tier: Tier
    issued_at: dt.datetime
    person_id: str | None = None  # a letter to a person: that person's history, not the unit's


@dataclass(frozen=True)
class PlanInput:
    at: dt.datetime  # the cycle's as-of time, in the configured zone
    policy: TiersConfig
    open_letters: Sequence[OpenLetter] = ()
    new_findings: Sequence[NewFinding] = ()
    history: Sequence[PastLetter] = ()
    explained: Mapping[str, str] = field(default_factory=dict)  # fingerprint → accepted facts
    unit_names: Mapping[str, str] = field(default_factory=dict)
    data_owners: Mapping[str, str] = field(default_factory=dict)  # source → its data owner
    to_person: frozenset[str] = frozenset()  # checks whose findings go to the person (letters.to_person)
    person_names: Mapping[str, str] = field(default_factory=dict)  # person id → name (people table)


# --- output --------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedLetter:
    tier: Tier
    audience: str  # unit | data_owner | person
    unit_id: str | None
    recipient: str
    source: str | None
    finding_ids: tuple[int, ...]
    reason: str  # new | repeat | escalation | periodic
    cites: int | None = None  # the letter it escalates (its id)
    matter_id: int | None = None  # the matter it continues; None: it starts a matter of its own
    serious_matters: int = 0  # the unit's prior serious matters in the window (repeat rule)
    period: str | None = None  # 定期预警: the period it assesses
    assessment: Mapping[str, object] | None = None  # 定期预警: the figures it states
    person_id: str | None = None  # a letter to a person (当事人)
    copy_to: str | None = None  # … copied to the person's unit (抄送)


@dataclass(frozen=True)
class StatusChange:
    letter_id: int
    number: str
    before: str
    after: str  # overdue | escalated
    note: str
    release: bool = False  # the letter leaves the open ones: its findings are free of it


@dataclass
class Plan:
    changes: list[StatusChange] = field(default_factory=list)
    letters: list[PlannedLetter] = field(default_factory=list)
    skipped_explained: list[str] = field(default_factory=list)  # fingerprints not lettered again

    @property
    def escalated(self) -> list[str]:
        return [c.number for c in self.changes if c.after == "escalated"]

    @property
    def overdue(self) -> list[str]:
        return [c.number for c in self.changes if c.after == "overdue"]


# --- the rules -----------------------------------------------------------------------


def _unrectified(letter: OpenLetter) -> list[LetterFinding]:
    return [f for f in letter.findings
            if not rectified(f.check, f.ended, f.explained, letter.report_received)]


def _escalate(inp: PlanInput, plan: Plan) -> None:
    today = inp.at.date()
    for letter in sorted(inp.open_letters, key=lambda x: x.id):
        if letter.tier not in LETTER_TIERS or letter.rectify_by is None or letter.rectify_by >= today:
            continue
        left = _unrectified(letter)
        unmet = unmet_requirements(letter.tier, letter.report_received, letter.admonition_held, len(left))
        if not unmet:
            continue
        status = letter.status
        if status != "overdue":
            missing = "、".join(UNMET_ZH[u] for u in unmet)
            plan.changes.append(StatusChange(
                letter.id, letter.number, status, "overdue",
                f"整改期限{letter.rectify_by.isoformat()}已过，尚未落实：{missing}"
                + (f"（{len(left)}项问题未整改）" if left else "")))
            status = "overdue"
        nxt = higher(letter.tier)
        if nxt is None or not left:
            continue  # 一级, or nothing left to rectify: overdue for the office to act on
        plan.changes.append(StatusChange(letter.id, letter.number, status, "escalated",
                                         f"{len(left)}项问题逾期未整改", release=True))
        plan.letters.append(PlannedLetter(
            tier=nxt, audience=letter.audience, unit_id=letter.unit_id, recipient=letter.recipient,
            source=letter.source, finding_ids=tuple(f.finding_id for f in left), reason="escalation",
            cites=letter.id, matter_id=letter.matter_id, person_id=letter.person_id,
            copy_to=letter.copy_to))


def _new_letters(inp: PlanInput, plan: Plan) -> None:
    notices: dict[str, list[NewFinding]] = defaultdict(list)
    # (unit, person): person None is the unit's own letter
    per_unit: dict[tuple[str, str | None], dict[Tier, list[NewFinding]]] = defaultdict(
        lambda: defaultdict(list))
    for f in sorted(inp.new_findings, key=lambda f: (f.unit_id, f.check, f.finding_id)):
        if inp.explained.get(f.fingerprint) == f.facts:
            plan.skipped_explained.append(f.fingerprint)
            continue
        if f.check == DATA_QUALITY:
            notices[f.source].append(f)
            continue
        tier = start_tier(inp.policy, f.check, f.tier, f.unit_id, f.item_code)
        per_unit[(f.unit_id, _person_of(inp, f))][tier if tier in TIERS else "level3"].append(f)
    for source, found in sorted(notices.items()):
        plan.letters.append(PlannedLetter(
            tier="reminder", audience="data_owner", unit_id=None,
            recipient=inp.data_owners.get(source) or f"{source}数据源的数据责任单位", source=source,
            finding_ids=tuple(f.finding_id for f in found), reason="new"))
    history: dict[tuple[str, str | None], list[tuple[int, str, dt.datetime]]] = defaultdict(list)
    for h in inp.history:
        # a person's letters are the person's history; the unit's are the unit's
        history[("", h.person_id) if h.person_id else (h.unit_id, None)].append(
            (h.matter_id, h.tier, h.issued_at))
    for (unit_id, person_id), by_tier in sorted(per_unit.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        serious = serious_matters(inp.policy, inp.at,
                                  history[("", person_id) if person_id else (unit_id, None)])
        merged: dict[Tier, tuple[list[NewFinding], str]] = {}
        for tier in sorted(by_tier, key=TIERS.index, reverse=True):
            effective = repeat_tier(inp.policy, tier, serious)
            found, reason = merged.get(effective, ([], "new"))
            merged[effective] = (found + by_tier[tier], "repeat" if effective != tier else reason)
        name = inp.unit_names.get(unit_id) or unit_id or "单位不明"
        for tier, (found, reason) in sorted(merged.items(), key=lambda kv: -TIERS.index(kv[0])):
            plan.letters.append(PlannedLetter(
                tier=tier, audience="person" if person_id else "unit", unit_id=unit_id,
                recipient=inp.person_names[person_id] if person_id else name, source=None,
                finding_ids=tuple(sorted(f.finding_id for f in found)), reason=reason,
                serious_matters=serious, person_id=person_id, copy_to=name if person_id else None))


def _person_of(inp: PlanInput, f: NewFinding) -> str | None:
    """The person a finding's letter goes to: its check is in ``to_person`` and the person is known.

    A person the ``people`` table does not name stays on the unit's letter: a
    letter is addressed by name, never by an id.
    """
    if f.check in inp.to_person and f.person_id and inp.person_names.get(f.person_id):
        return f.person_id
    return None


def plan_letters(inp: PlanInput) -> Plan:
    """What this cycle does to the letters: escalations first, then new letters."""
    plan = Plan()
    _escalate(inp, plan)
    _new_letters(inp, plan)
    return plan


# --- 定期预警: periodic letters (seed 004:68) ----------------------------------------------

LetterTier = Literal["level3", "level2", "level1"]
_MOST_SEVERE_FIRST: tuple[LetterTier, ...] = ("level1", "level2", "level3")
PERIOD_MONTHS = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}


@dataclass(frozen=True)
class Period:
    key: str  # 2026-11, 2026-Q4, 2026-H2, 2026
    label: str  # 2026年11月, 2026年第四季度, 2026年下半年, 2026年度
    start: dt.date
    end: dt.date  # the last day


def period_of(every: str, day: dt.date) -> Period:
    """The calendar period of length ``every`` that contains ``day``."""
    months = PERIOD_MONTHS[every]
    first = (day.month - 1) // months * months + 1
    start = dt.date(day.year, first, 1)
    nxt = dt.date(day.year + (first + months > 12), (first + months - 1) % 12 + 1, 1)
    end = nxt - dt.timedelta(days=1)
    n = (first - 1) // months + 1
    if every == "month":
        key, label = f"{day.year}-{first:02d}", f"{day.year}年{first}月"
    elif every == "quarter":
        key, label = f"{day.year}-Q{n}", f"{day.year}年第{'一二三四'[n - 1]}季度"
    elif every == "half_year":
        key, label = f"{day.year}-H{n}", f"{day.year}年{'上下'[n - 1]}半年"
    else:
        key, label = f"{day.year}", f"{day.year}年度"
    return Period(key, label, start, end)


def previous_period(every: str, day: dt.date) -> Period:
    """The last complete period before the one containing ``day``."""
    return period_of(every, period_of(every, day).start - dt.timedelta(days=1))


@dataclass(frozen=True)
class Assessment:
    """One unit's period, as the store saw it (the figures a periodic letter states)."""

    unit_id: str
    findings: int = 0  # first seen in the period, of a letter tier (policy applied)
    serious_findings: int = 0  # of them, level2 or level1
    letters_unrectified: int = 0  # letters whose rectify_by fell in the period and went overdue
    on_time_rate: float | None = None  # completed cases on time / completed, if known

    def as_dict(self) -> dict[str, int | float | None]:
        return {"findings": self.findings, "serious_findings": self.serious_findings,
                "letters_unrectified": self.letters_unrectified, "on_time_rate": self.on_time_rate}


def _reaches(t: PeriodicThreshold, a: Assessment) -> bool:
    return ((t.findings is not None and a.findings >= t.findings)
            or (t.serious_findings is not None and a.serious_findings >= t.serious_findings)
            or (t.letters_unrectified is not None and a.letters_unrectified >= t.letters_unrectified)
            or (t.on_time_below is not None and a.on_time_rate is not None
                and a.on_time_rate < t.on_time_below))


def periodic_tier(thresholds: Mapping[LetterTier, PeriodicThreshold], a: Assessment) -> Tier | None:
    """The most severe tier whose threshold the assessment reaches (any one of its figures)."""
    for tier in _MOST_SEVERE_FIRST:
        t = thresholds.get(tier)
        if t is not None and _reaches(t, a):
            return tier
    return None


def plan_periodic(period: Period, config: PeriodicConfig, assessments: Sequence[Assessment],
                  already: set[str], unit_names: Mapping[str, str]) -> list[PlannedLetter]:
    """One periodic letter per unit whose assessment reaches a tier, once per unit and period."""
    out = []
    for a in sorted(assessments, key=lambda a: a.unit_id):
        tier = periodic_tier(config.thresholds, a)
        if tier is None or a.unit_id in already:
            continue
        out.append(PlannedLetter(
            tier=tier, audience="unit", unit_id=a.unit_id,
            recipient=unit_names.get(a.unit_id) or a.unit_id, source=None, finding_ids=(),
            reason="periodic", period=period.key,
            assessment={**a.as_dict(), "period": period.key, "period_label": period.label}))
    return out
