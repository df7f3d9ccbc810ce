"""Approval cases (办件) and what hangs off them: pauses, extensions, steps."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sunlight.monitor.clock import LimitUnit, Pause
from sunlight.monitor.records.base import BadField, choice, decimal, integer, text, timestamp

OUTCOMES = frozenset({"approved", "refused", "not_accepted", "withdrawn", "transferred"})
PAUSE_KINDS = frozenset({"supplement", "special_procedure"})
UNITS = frozenset(u.value for u in LimitUnit)
_UNIT_BY_NAME = {u.value: u for u in LimitUnit}  # LimitUnit(name) is a slow Enum call per row

CASE_FIELDS = (
    "case_id", "unit_id", "item_code", "item_name", "handler", "accepted_at",
    "promised_limit", "statutory_limit", "limit_unit", "completed_at", "outcome",
    "outcome_reason", "updated_at", "statutory_basis",
)
PAUSE_FIELDS = ("case_id", "kind", "started_at", "ended_at")
EXTENSION_FIELDS = ("case_id", "extra", "approved_by", "approved_at", "reason")
STEP_FIELDS = ("case_id", "seq", "name", "handler", "started_at", "finished_at",
               "step_limit", "limit_unit")


@dataclass(frozen=True, slots=True)
class CasePause:
    kind: str
    started_at: dt.datetime
    ended_at: dt.datetime | None

    def as_pause(self) -> Pause:
        return Pause(self.started_at, self.ended_at)


@dataclass(frozen=True, slots=True)
class CaseExtension:
    extra: Decimal
    approved_by: str | None
    approved_at: dt.datetime | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class CaseStep:
    seq: int
    name: str
    handler: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    step_limit: Decimal
    limit_unit: LimitUnit


@dataclass(frozen=True)
class CaseRecord:
    """One case with its children, as it stood at some time (see :meth:`as_of`)."""

    case_id: str
    unit_id: str
    item_code: str | None
    item_name: str | None
    handler: str | None
    accepted_at: dt.datetime
    promised_limit: Decimal
    statutory_limit: Decimal | None
    limit_unit: LimitUnit
    completed_at: dt.datetime | None
    outcome: str | None
    outcome_reason: str | None
    pauses: tuple[CasePause, ...] = ()
    extensions: tuple[CaseExtension, ...] = ()
    steps: tuple[CaseStep, ...] = ()
    #: the item's 法定依据 as the item catalogue states it (e.g. 《…》第X条): what sets its
    #: statutory limit; letters cite it for this case's statutory lateness
    statutory_basis: str | None = None

    @property
    def clock_pauses(self) -> tuple[Pause, ...]:
        # A plain property: most cases have no pause, and Python 3.11's
        # cached_property takes a lock on every access, which cost more than
        # rebuilding the few Pause objects of the cases that have them.
        if not self.pauses:
            return ()
        return tuple(p.as_pause() for p in self.pauses)

    def as_of(self, at: dt.datetime) -> CaseRecord | None:
        """The case as the office could have seen it at ``at``; None if not yet accepted.

        Events after ``at`` have not happened: a completion is undone, a pause
        or step that started later is dropped and one that ended later is open,
        an extension approved later does not exist.
        """
        if self.accepted_at > at:
            return None
        changed: dict[str, Any] = {}
        if self.completed_at is not None and self.completed_at > at:
            changed.update(completed_at=None, outcome=None, outcome_reason=None)
        # (most cases have no children: the ``if``s skip building empty tuples)
        if self.pauses:
            pauses = tuple(
                p if p.ended_at is None or p.ended_at <= at else replace(p, ended_at=None)
                for p in self.pauses
                if p.started_at <= at
            )
            if pauses != self.pauses:
                changed["pauses"] = pauses
        if self.extensions:
            exts = tuple(e for e in self.extensions if e.approved_at is None or e.approved_at <= at)
            if exts != self.extensions:
                changed["extensions"] = exts
        if self.steps:
            steps = tuple(
                s if s.finished_at is None or s.finished_at <= at else replace(s, finished_at=None)
                for s in self.steps
                if s.started_at <= at
            )
            if steps != self.steps:
                changed["steps"] = steps
        return replace(self, **changed) if changed else self


def parse_case(row: dict[str, Any], tz: dt.tzinfo, *, pauses: tuple[CasePause, ...] = (),
               extensions: tuple[CaseExtension, ...] = (),
               steps: tuple[CaseStep, ...] = ()) -> CaseRecord:
    """A ``cases`` row → CaseRecord, with the children the reader parsed (sorted) already."""
    accepted_at = timestamp(row, "accepted_at", tz)
    completed_at = timestamp(row, "completed_at", tz, required=False)
    assert accepted_at is not None
    if completed_at is not None and completed_at < accepted_at:
        raise BadField("completed_at", f"办结时间{completed_at:%Y-%m-%d %H:%M}早于"
                                       f"受理时间{accepted_at:%Y-%m-%d %H:%M}")
    promised = decimal(row, "promised_limit")
    statutory = decimal(row, "statutory_limit", required=False)
    unit = choice(row, "limit_unit", UNITS, default="workday")
    outcome = choice(row, "outcome", OUTCOMES)
    return CaseRecord(
        case_id=text(row, "case_id"),
        unit_id=text(row, "unit_id"),
        item_code=text(row, "item_code", required=False),
        item_name=text(row, "item_name", required=False),
        handler=text(row, "handler", required=False),
        accepted_at=accepted_at,
        promised_limit=promised,
        statutory_limit=statutory,
        limit_unit=_UNIT_BY_NAME[unit],
        completed_at=completed_at,
        outcome=outcome,
        outcome_reason=text(row, "outcome_reason", required=False),
        statutory_basis=text(row, "statutory_basis", required=False),
        pauses=pauses,
        extensions=extensions,
        steps=steps,
    )


def parse_pause(row: dict[str, Any], tz: dt.tzinfo) -> CasePause:
    started = timestamp(row, "started_at", tz)
    ended = timestamp(row, "ended_at", tz, required=False)
    assert started is not None
    if ended is not None and ended < started:
        raise BadField("ended_at", "暂停结束时间早于开始时间")
    kind = choice(row, "kind", PAUSE_KINDS, default="supplement")
    return CasePause(kind or "supplement", started, ended)


def parse_extension(row: dict[str, Any], tz: dt.tzinfo) -> CaseExtension:
    return CaseExtension(
        extra=decimal(row, "extra"),
        approved_by=text(row, "approved_by", required=False),
        approved_at=timestamp(row, "approved_at", tz, required=False),
        reason=text(row, "reason", required=False),
    )


def parse_step(row: dict[str, Any], tz: dt.tzinfo) -> CaseStep:
    started = timestamp(row, "started_at", tz)
    finished = timestamp(row, "finished_at", tz, required=False)
    assert started is not None
    if finished is not None and finished < started:
        raise BadField("finished_at", "环节完成时间早于开始时间")
    return CaseStep(
        seq=integer(row, "seq"),
        name=text(row, "name", required=False) or "",
        handler=text(row, "handler", required=False),
        started_at=started,
        finished_at=finished,
        step_limit=decimal(row, "step_limit"),
        limit_unit=_UNIT_BY_NAME[choice(row, "limit_unit", UNITS, default="workday")],
    )


__all__ = [
    "CASE_FIELDS", "EXTENSION_FIELDS", "PAUSE_FIELDS", "STEP_FIELDS",
    "CaseExtension", "CasePause", "CaseRecord", "CaseStep",
    "parse_case", "parse_extension", "parse_pause", "parse_step",
]
