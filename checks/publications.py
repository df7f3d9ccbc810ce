"""Family P: disclosure (公开). rules.md, section P.

What must be published is config, because it differs per office: an
*obligation* names a subject code, the units it binds, a period kind and a due
rule, and the first period it applies to (``since``), so adding an obligation
today does not flag ten years of history.

Due rules:

- ``day_of_next_period: D`` — "by day D of the first month of the next
  period", as in 003:1085 (每季度第一个月15日前…对上一季度村务情况予以发布) and
  000:2432 (次季度首月15日前). Day D itself is on time; the day after is late.
  A day D that is not a working day moves to the next working day (Civil Code
  art. 203, as for ``day`` limits in time-rules.md).
- ``workdays_after_period: N`` — N working days counted from the day after
  the period's last day (time-rules.md, "Counting a limit of N working days").

Event obligations are separate checks: ``case_result_unpublished`` (a
completed case's result within N working days, 003:483) and
``posting_too_short`` (a notice kept up at least M working days, 000:1168).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sunlight.checks.base import Check, EvalContext, Finding, Params, ParamsT, deadline_evidence
from sunlight.checks.registry import register
from sunlight.monitor.clock import UNIT_ZH, Deadline, LimitUnit, compute_deadline, overdue_by, trace
from sunlight.monitor.matching import OneOrMany
from sunlight.monitor.readers import loaded
from sunlight.monitor.records.cases import CaseRecord
from sunlight.monitor.records.publications import Period, PeriodKind, PublicationRecord
from sunlight.monitor.zh import zh_date

# --- obligations (config) ---------------------------------------------------------

#: what letters call the subject codes the demo and the reference config use; an
#: obligation's own ``name`` comes first (:meth:`Obligation.label`)
SUBJECT_ZH = {"case_result": "办理结果公示", "draft_decision": "决策草案公示",
              "village_affairs": "村务公开", "village_finance": "村级财务公开",
              "fund_use": "部门经费使用情况公开", "decision": "决策公开"}


_EACH = {PeriodKind.month: "月", PeriodKind.quarter: "季度", PeriodKind.half_year: "半年",
         PeriodKind.year: "年"}


def subject_zh(subject: str) -> str:
    return SUBJECT_ZH.get(subject, subject)


class UnitSelector(BaseModel):
    """Which units an obligation binds: by id, by kind, or (both None) every unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ids: list[str] | None = None
    kind: OneOrMany[str] = None

    def pick(self, ctx: EvalContext) -> list[str]:
        if self.ids is not None:
            return sorted(self.ids)
        return sorted(u for u in ctx.units if self.binds(u, ctx))

    def binds(self, unit_id: str, ctx: EvalContext) -> bool:
        if self.ids is not None:
            return unit_id in self.ids
        if self.kind is None:
            return True
        info = ctx.units.get(unit_id)
        return info is not None and info.kind in self.kind


class DueRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    day_of_next_period: int | None = Field(default=None, ge=1, le=28)
    workdays_after_period: int | None = Field(default=None, ge=1, le=250)

    @model_validator(mode="after")
    def _one(self) -> DueRule:
        if (self.day_of_next_period is None) == (self.workdays_after_period is None):
            raise ValueError("set exactly one of day_of_next_period, workdays_after_period")
        return self


class Obligation(BaseModel):
    """One periodic disclosure duty."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    subject: str
    name: str | None = None  # what the office calls it (村务公开, 财务公开…)
    units: Literal["all"] | UnitSelector = "all"
    period: PeriodKind
    due: DueRule
    since: str  # the first period the duty applies to (same kind)
    until: str | None = None  # the last one, if the duty ended
    cite: str | None = None  # where the duty comes from (seed file:line), for the record
    #: the duty's rule as a letter quotes it, and the regulation and article it is in
    basis: str | None = None
    citation: str | None = None

    @field_validator("since", "until", mode="before")
    @classmethod
    def _code(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v

    @model_validator(mode="after")
    def _periods(self) -> Obligation:
        for label, code in (("since", self.since), ("until", self.until)):
            if code is None:
                continue
            try:
                p = Period.parse(code)
            except ValueError:
                raise ValueError(f"{label}: {code!r} is not a period code "
                                 "(2026-09, 2026-Q3, 2026-H2, 2026)") from None
            if p.kind is not self.period:
                raise ValueError(f"{label}: {code!r} is a {p.kind.value}, "
                                 f"the obligation's period is {self.period.value}")
        return self

    @property
    def first(self) -> Period:
        return Period.parse(self.since)

    @property
    def last(self) -> Period | None:
        return Period.parse(self.until) if self.until else None

    @property
    def selector(self) -> UnitSelector:
        return UnitSelector() if self.units == "all" else self.units

    @property
    def label(self) -> str:
        return self.name or subject_zh(self.subject)

    def rule(self) -> dict[str, str | bool | None]:
        """The rule a missing publication breaks: this duty's own, never another duty's.

        Without a configured ``basis`` the letter states the duty as configured
        (its period and due rule) and cites nothing it cannot name.
        """
        if self.basis:
            return {"cite": self.cite, "citation": self.citation, "text": self.basis}
        each = _EACH[self.period]
        if self.due.day_of_next_period is not None:
            first = "" if self.period is PeriodKind.month else "第一个月"
            when = f"次{each}{first}{self.due.day_of_next_period}日前"
        else:
            when = f"{each}结束后{self.due.workdays_after_period}个工作日内"
        return {"cite": self.cite, "citation": self.citation, "quote": False,
                "text": f"{self.label}每{each}公开一次，{when}公开上一{each}情况"}

    def limit(self, period: Period) -> tuple[int, LimitUnit]:
        """The due rule as a limit counted from the period's last day (time-rules.md)."""
        if self.due.day_of_next_period is not None:
            nxt = period.next()
            nominal = dt.date(nxt.year, nxt.first_month, self.due.day_of_next_period)
            return (nominal - period.last_day).days, LimitUnit.day
        assert self.due.workdays_after_period is not None
        return self.due.workdays_after_period, LimitUnit.workday

    def deadline(self, period: Period, ctx: EvalContext) -> tuple[Deadline, dt.datetime]:
        """The period's deadline and the instant it is counted from (the period's last day)."""
        start = dt.datetime.combine(period.last_day, dt.time(), tzinfo=ctx.tz)
        n, unit = self.limit(period)
        return compute_deadline(start, n, unit, ctx.calendar), start

    def applies(self, period: Period) -> bool:
        last = self.last
        return period.kind is self.period and period >= self.first and (last is None or period <= last)


class ObligationParams(Params):
    obligations: list[Obligation] = Field(default=[], description="periodic disclosure duties")


def obligations(ctx: EvalContext) -> list[Obligation]:
    table = ctx.params.get(PublicationMissing.id)
    return list(table.default.obligations) if table is not None else []


def _due_text(ob: Obligation, period: Period, deadline: Deadline) -> str:
    assert deadline.display is not None
    return f"{ob.label}（{period.zh}）应于{zh_date(deadline.display)}前公开"


def _period_evidence(ob: Obligation, period: Period, deadline: Deadline, start: dt.datetime,
                     ctx: EvalContext, until: dt.date) -> dict[str, Any]:
    ev = deadline_evidence(deadline, start, Decimal(ob.limit(period)[0]),
                           trace(start, deadline, ctx.calendar, until=until))
    ev.update(subject=ob.subject, period=period.code, obligation=ob.model_dump(mode="json"),
              as_of=ctx.as_of)
    return ev


class _Earliest(Check[PublicationRecord, ParamsT]):
    """Collects the earliest publication per (unit, subject, period) as the stream goes by."""

    entity = "publications"

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str, Period], PublicationRecord] = {}

    def feed(self, p: PublicationRecord, params: ParamsT, ctx: EvalContext) -> Iterator[Finding]:
        if p.period is not None:
            key = (p.unit_id, p.subject, p.period)
            old = self.seen.get(key)
            if old is None or (p.published_at, p.publication_id) < (old.published_at,
                                                                   old.publication_id):
                self.seen[key] = p
        return iter(())


@register
class PublicationMissing(_Earliest[ObligationParams]):
    id = "publication_missing"
    tier = "level3"
    title = "应公开未公开"
    cite = "003:1085; 003:1259; 000:2432; 002:264–272"
    citation = None
    basis = "应公开的事项按规定期限公开"  # never quoted: each duty states its own rule (Obligation.rule)
    Params = ObligationParams

    def finish(self, ctx: EvalContext) -> Iterator[Finding]:
        table = ctx.params.get(self.id)
        if table is None or not table.default.enabled:
            return
        for ob in obligations(ctx):
            units = ob.selector.pick(ctx)
            period = ob.first
            while ob.applies(period):
                deadline, start = ob.deadline(period, ctx)
                assert deadline.at is not None
                if deadline.at > ctx.at:
                    break
                for unit_id in units:
                    if (unit_id, ob.subject, period) in self.seen:
                        continue
                    yield self._missing(ob, period, unit_id, deadline, start, ctx)
                period = period.next()

    def _missing(self, ob: Obligation, period: Period, unit_id: str, deadline: Deadline,
                 start: dt.datetime, ctx: EvalContext) -> Finding:
        late = overdue_by(deadline, ctx.at, ctx.calendar)
        unit_zh = UNIT_ZH[deadline.unit]
        ev = _period_evidence(ob, period, deadline, start, ctx, ctx.at.date())
        return self.finding(
            f"{unit_id}:{ob.subject}:{period.code}", unit_id,
            f"{ctx.unit_name(unit_id)}{_due_text(ob, period, deadline)}，至今未公开，"
            f"逾期{late}{unit_zh}", rule=ob.rule(),
            deadline=deadline.display, overdue=late, measure=deadline.unit,
            calendar_uncovered=deadline.uncovered, evidence=ev,
        )


@register
class PublicationLate(_Earliest[ObligationParams]):
    id = "publication_late"
    tier = "reminder"
    title = "未按时公开"
    cite = "002:21; 002:131"
    citation = '《保定市政务公开暨行政权力公开透明运行工作责任追究办法》第六条第（一）项'
    basis = '未按规定的程序、范围和时间要求公开的'

    def finish(self, ctx: EvalContext) -> Iterator[Finding]:
        obs = obligations(ctx)
        for (unit_id, subject, period), p in sorted(self.seen.items(), key=lambda kv: kv[1].publication_id):
            for ob in obs:
                if ob.subject != subject or not ob.applies(period) or not ob.selector.binds(unit_id, ctx):
                    continue
                deadline, start = ob.deadline(period, ctx)
                assert deadline.at is not None
                if p.published_at < deadline.at:
                    continue
                late = overdue_by(deadline, p.published_at, ctx.calendar)
                ev = _period_evidence(ob, period, deadline, start, ctx,
                                      p.published_at.astimezone(ctx.tz).date())
                ev.update(publication_id=p.publication_id, published_at=p.published_at.isoformat())
                yield self.finding(
                    f"{unit_id}:{subject}:{period.code}", unit_id,
                    f"{ctx.unit_name(unit_id)}{_due_text(ob, period, deadline)}，"
                    f"于{zh_date(p.published_at)}才公开，逾期{late}{UNIT_ZH[deadline.unit]}",
                    deadline=deadline.display, overdue=late, measure=deadline.unit,
                    calendar_uncovered=deadline.uncovered, evidence=ev,
                )
                break


# --- event obligations -------------------------------------------------------------


class CaseResultParams(Params):
    subject: str = Field(default="case_result", description="subject code of result notices")
    within: int = Field(default=5, ge=0, description="working days after completion")
    since: dt.date | None = Field(default=None, description="only cases completed on/after this day")
    items: list[str] | None = Field(default=None, description="item codes covered (None: all)")
    skip_outcomes: list[str] = Field(default=["withdrawn", "transferred"],
                                     description="outcomes with no result to publish")


@register
class CaseResultUnpublished(Check[CaseRecord, CaseResultParams]):
    id = "case_result_unpublished"
    tier = "level3"
    title = "办理结果未按时公开"
    cite = "003:483"
    citation = '《关于“五权”工作分岗交流合理配置重点岗位权力实施方案》第二部分第3项'
    basis = "办理结果在办结后公开,切实强化办事过程监督,未按规定公开的,视为违反办事程序"
    entity = "cases"
    needs = ("publications",)
    Params = CaseResultParams

    def __init__(self) -> None:
        self._index: dict[str, dict[str, PublicationRecord]] = {}
        self._absent: bool | None = None

    def _published(self, subject: str, ctx: EvalContext) -> dict[str, PublicationRecord] | None:
        if self._absent is None:
            self._absent = loaded(ctx.tables, "publications") is None
        if self._absent:
            return None
        index = self._index.get(subject)
        if index is None:
            index = self._index[subject] = {}
            for p in loaded(ctx.tables, "publications") or ():
                if p.subject == subject and p.ref_id is not None:
                    old = index.get(p.ref_id)
                    if old is None or p.published_at < old.published_at:
                        index[p.ref_id] = p
        return index

    def feed(self, case: CaseRecord, params: CaseResultParams, ctx: EvalContext) -> Iterator[Finding]:
        done = case.completed_at
        if done is None or case.outcome in params.skip_outcomes:
            return
        if params.since is not None and done.astimezone(ctx.tz).date() < params.since:
            return
        if params.items is not None and case.item_code not in params.items:
            return
        published = self._published(params.subject, ctx)
        if published is None:
            return
        deadline = compute_deadline(done, params.within, LimitUnit.workday, ctx.calendar)
        assert deadline.at is not None and deadline.display is not None
        pub = published.get(case.case_id)
        end = pub.published_at if pub is not None else ctx.at
        if end < deadline.at:
            return
        late = overdue_by(deadline, end, ctx.calendar)
        state = f"于{zh_date(pub.published_at)}才公开" if pub is not None else "至今未公开"
        ev = deadline_evidence(deadline, done, Decimal(params.within),
                               trace(done, deadline, ctx.calendar,
                                     until=end.astimezone(ctx.tz).date()))
        ev.update(case_id=case.case_id, item_code=case.item_code, item_name=case.item_name,
                  completed_at=done.isoformat(), outcome=case.outcome,
                  publication_id=pub.publication_id if pub else None,
                  published_at=pub.published_at.isoformat() if pub else None,
                  as_of=ctx.as_of)
        yield self.finding(
            case.case_id, case.unit_id,
            f"办件{case.case_id}（{case.item_name or case.item_code or '未知事项'}）"
            f"于{zh_date(done)}办结，办理结果应于{zh_date(deadline.display)}前公开，{state}，"
            f"逾期{late}个工作日",
            deadline=deadline.display, overdue=late, measure=LimitUnit.workday,
            calendar_uncovered=deadline.uncovered, item_code=case.item_code, evidence=ev,
            ended_at=pub.published_at if pub is not None else None,
        )


class PostingParams(Params):
    min_posting: dict[str, int] = Field(
        default={"case_result": 7, "draft_decision": 5},
        description="subject → working days a notice must stay up (subjects not listed: no minimum)")


@register
class PostingTooShort(Check[PublicationRecord, PostingParams]):
    id = "posting_too_short"
    tier = "reminder"
    title = "公示期不足"
    cite = "000:1168; 000:364"
    citation = '《非煤矿矿山企业安全生产许可证初审制度》第七部分'
    basis = "初审结果在该网站公示、公告不少于7个工作日"
    entity = "publications"
    Params = PostingParams
    #: the rule of each subject's minimum: a draft decision's is another regulation's (000:364)
    RULES: ClassVar[dict[str, dict[str, str | bool | None]]] = {
        "draft_decision": {"cite": "000:364", "citation": "《决策公开制度》第七条",
                           "text": "拟做出的行政决策事项对外公开时间不少于5个工作日"},
    }

    def rule_for(self, subject: str, minimum: int,
                 default_minimum: int | None) -> dict[str, str | bool | None]:
        """The subject's own rule; a minimum the office changed is stated as the office's."""
        if subject in self.RULES and (default_minimum is None or minimum == default_minimum):
            return self.RULES[subject]
        # the 7 working days come from the mining-licence rules (000:1168 and its twins): quoted
        # to a unit that issues no such licence they would not be its rule, so the letter states
        # the minimum as the office applies it; the seed line stays in the evidence
        cite = "config" if default_minimum is not None and minimum != default_minimum else self.cite
        return {"cite": cite, "citation": None, "quote": False,
                "text": f"{subject_zh(subject)}公示时间不少于{minimum}个工作日"}

    def feed(self, p: PublicationRecord, params: PostingParams, ctx: EvalContext) -> Iterator[Finding]:
        minimum = params.min_posting.get(p.subject)
        if p.posted_until is None or minimum is None:
            return
        deadline = compute_deadline(p.published_at, minimum, LimitUnit.workday, ctx.calendar)
        assert deadline.due_date is not None and deadline.display is not None
        until = p.posted_until.astimezone(ctx.tz).date()
        if until >= deadline.due_date:
            return
        posted = ctx.calendar.workdays_between(p.published_at.date(), until)
        ev = deadline_evidence(deadline, p.published_at, Decimal(minimum),
                               trace(p.published_at, deadline, ctx.calendar))
        ev.update(publication_id=p.publication_id, subject=p.subject, ref_id=p.ref_id,
                  published_at=p.published_at.isoformat(), posted_until=p.posted_until.isoformat(),
                  posted_workdays=posted, min_posting=minimum)
        yield self.finding(
            p.publication_id, p.unit_id,
            f"{ctx.unit_name(p.unit_id)}公示{p.publication_id}（{subject_zh(p.subject)}）"
            f"于{zh_date(p.published_at)}"
            f"发布、{zh_date(until)}撤下，公示{posted}个工作日，不足{minimum}个工作日"
            f"（应至少公示至{zh_date(deadline.display)}）",
            deadline=deadline.display, overdue=minimum - posted, measure=LimitUnit.workday,
            calendar_uncovered=deadline.uncovered, evidence=ev,
            rule=self.rule_for(p.subject, minimum,
                               PostingParams().min_posting.get(p.subject)),
        )
