"""What a check is, what it produces, and what it may look at.

A check is a small class with a stable ``id``, a default tier, the regulation
it enforces (``cite`` is ``seed-file:line`` in ``shared/seeds``, for the office's
own record; ``citation`` names the same regulation and its article the way a
recipient can look it up, and is what letters print), a pydantic
``Params`` model for its config, and a ``feed`` method: given one canonical
record, the parameters for that record and the evaluation context, it yields
findings. Checks that need the whole stream (sums over a window, periods with
nothing published) collect in ``feed`` and yield in ``finish``.

Checks do no I/O (architecture invariant 2): everything they see is in the
record and the :class:`EvalContext`, which is why ``scan --at`` can replay any
past day and why the tests can state exact expectations.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.clock import Deadline, DeadlineMemo, SkippedDay, TraceMemo, skipped_days
from sunlight.monitor.finding import Finding, json_number
from sunlight.monitor.records.org import PersonInfo, UnitInfo
from sunlight.monitor.vocab import Tier

__all__ = ["Check", "EvalContext", "Finding", "Params", "ParamsT", "RecordT", "deadline_evidence",
           "deadline_evidence_days"]


def deadline_evidence(
    deadline: Deadline, start: dt.datetime, limit: Decimal, skipped: Sequence[SkippedDay]
) -> dict[str, Any]:
    """The calendar trace a person needs to recount a deadline (invariant 9)."""
    return deadline_evidence_days(deadline, start, limit, skipped_days(skipped))


def deadline_evidence_days(
    deadline: Deadline, start: dt.datetime, limit: Decimal, days: list[dict[str, str]]
) -> dict[str, Any]:
    """:func:`deadline_evidence` with the trace already in its JSON form.

    ``days`` from ``EvalContext.trace.days`` is memoised, since most late cases
    share their trace with others; the list is shared, never changed.
    """
    return {
        "counted_from": start.isoformat(),
        "limit": json_number(limit),
        "limit_unit": deadline.unit.value,
        "due_date": deadline.due_date.isoformat() if deadline.due_date else None,
        "deadline": deadline.display.isoformat() if deadline.display else None,
        "skipped_days": days,
        "calendar_uncovered": deadline.uncovered,
    }


class Params(BaseModel):
    """Every check's parameters extend this; ``enabled: false`` switches a check off."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True


@dataclass
class EvalContext:
    """Everything a check may look at besides the record itself."""

    at: dt.datetime  # the as-of instant, aware, in the configured zone
    calendar: WorkCalendar
    source: str = ""
    units: Mapping[str, UnitInfo] = field(default_factory=dict)
    tables: dict[str, list[Any]] = field(default_factory=dict)  # entities a check ``needs``
    params: Mapping[str, Any] = field(default_factory=dict)  # check id → CheckParams
    _memo_for: object = field(default=None, repr=False)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)
    _memo_people: dict[str, str] | None = field(default=None, repr=False)
    #: compute_deadline and trace with this calendar, memoised over the scan
    deadline: DeadlineMemo = field(init=False, repr=False)
    trace: TraceMemo = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.deadline = DeadlineMemo(self.calendar)
        self.trace = TraceMemo(self.calendar)

    def memo(self, record: object, key: str, compute: Any) -> Any:
        """Share a computation among the checks fed the same record (one slot).

        The engine feeds each record to every check in turn, so the deadline
        the C checks all need is computed once per case, not once per check.
        """
        if self._memo_for is not record:
            self._memo_for, self._memo = record, {}
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @functools.cached_property
    def as_of(self) -> str:
        """The as-of instant as the evidence writes it (ISO 8601), formatted once per scan."""
        return self.at.isoformat()

    @property
    def tz(self) -> dt.tzinfo:
        tz = self.at.tzinfo
        assert tz is not None
        return tz

    def person_name(self, person_id: str | None) -> str:
        """A person as letters name them: the ``people`` table's name (a check must ``need`` it).

        An id the table does not know is printed as it is: the office then sees
        which signer the source could not name, instead of a blank.
        """
        if person_id is None:
            return ""
        index = self._memo_people
        if index is None:
            rows = self.tables.get("people") or ()
            index = self._memo_people = {p.person_id: p.name for p in rows
                                         if isinstance(p, PersonInfo)}
        return index.get(person_id, person_id)

    def unit_name(self, unit_id: str | None) -> str:
        if unit_id is None:
            return ""
        info = self.units.get(unit_id)
        return info.name if info else unit_id


RecordT = TypeVar("RecordT")
ParamsT = TypeVar("ParamsT", bound=Params)


class Check(Generic[RecordT, ParamsT]):
    """Base class; subclasses set the class attributes and override ``feed``/``finish``.

    ``Check[CaseRecord, DueSoonParams]`` is a check fed case records with those
    parameters: the type checker holds each ``feed`` to the record and the
    parameters it declares (and ``Params`` must be that parameters class).
    """

    id: ClassVar[str]
    tier: ClassVar[Tier]
    title: ClassVar[str]  # the Chinese name the office uses, e.g. 办件超期
    cite: ClassVar[str]  # seed file:line of the rule, e.g. "003:565" (evidence only, never printed)
    #: the regulation by name and article, e.g. 《廉政风险预警与防范管理办法》第十条: what letters print
    citation: ClassVar[str | None] = None
    basis: ClassVar[str]  # the rule's words, quoted from that line
    entity: ClassVar[str]  # the canonical entity whose records ``feed`` receives
    needs: ClassVar[tuple[str, ...]] = ()  # entities loaded whole into ``ctx.tables``
    Params: ClassVar[type[Params]] = Params

    def feed(self, record: RecordT, params: ParamsT, ctx: EvalContext, /) -> Iterable[Finding]:
        return ()

    def finish(self, ctx: EvalContext) -> Iterable[Finding]:
        return ()

    def rule(self) -> dict[str, str | bool | None]:
        """The rule a finding breaks: its words, where a recipient finds them, where we found them.

        ``quote`` (default true) says the words are the regulation's own; a rule
        stated from the office's config or an item's data is not put in quotes.
        """
        return {"cite": self.cite, "citation": self.citation, "text": self.basis}

    def finding(self, subject: str, unit_id: str, summary: str, **kw: Any) -> Finding:
        """A finding of this check; ``rule=`` replaces the check's own rule (an item's or duty's)."""
        kw.setdefault("evidence", {})
        rule = kw.pop("rule", None)
        kw["evidence"].setdefault("rule", rule if rule is not None else self.rule())
        return Finding(check=self.id, subject=subject, unit_id=unit_id, tier=self.tier,
                       summary=summary, **kw)
