"""Family C: approval-case timeliness (办件时效). rules.md, section C.

The deadline of a case is computed once per case (``case_timing``) and shared
by the checks through :meth:`EvalContext.memo`. Extensions count only when they
are approved and within the item's maximum (time-rules.md, "Extensions").
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sunlight.checks.base import (
    Check,
    EvalContext,
    Finding,
    Params,
    deadline_evidence_days,
)
from sunlight.checks.registry import register
from sunlight.monitor.calendar import OutOfSpan
from sunlight.monitor.clock import (
    UNIT_ZH,
    Deadline,
    LimitUnit,
    overdue_by,
    time_left,
)
from sunlight.monitor.records.cases import CaseExtension, CaseRecord
from sunlight.monitor.records.due import next_midnight
from sunlight.monitor.zh import zh_date, zh_due, zh_number

# --- shared timing ---------------------------------------------------------------


@dataclass(frozen=True)
class CaseTiming:
    """What every C check needs to know about one case's clock."""

    extension: Decimal  # approved extension that counts
    rejected: tuple[tuple[CaseExtension, str], ...]  # extensions that do not count, and why
    promised: Deadline
    statutory: Deadline | None


class ExtensionParams(Params):
    max_extension: Decimal = Field(default=Decimal(10), ge=0,
                                   description="most extension an item allows, in its limit unit")


def case_timing(case: CaseRecord, ctx: EvalContext) -> CaseTiming:
    return ctx.memo(case, "timing", lambda: _timing(case, ctx))


def _timing(case: CaseRecord, ctx: EvalContext) -> CaseTiming:
    total = Decimal(0)
    rejected: list[tuple[CaseExtension, str]] = []
    if case.extensions:  # most cases have none: then no parameters to look up, nothing to sort
        table = ctx.params.get(ExtensionInvalid.id)
        unit_kind = ctx.units[case.unit_id].kind if case.unit_id in ctx.units else None
        p = table.for_(case.unit_id, unit_kind, case.item_code) if table else ExtensionParams()
        max_ext = p.max_extension
        for ext in sorted(case.extensions,
                          key=lambda e: (e.approved_at is None, e.approved_at or ctx.at)):
            if not ext.approved_by:
                rejected.append((ext, "延期未经批准"))
            elif total + ext.extra > max_ext:
                rejected.append((ext, f"延期累计超过{zh_number(max_ext)}{UNIT_ZH[case.limit_unit]}上限"))
            else:
                total += ext.extra
    pauses = case.clock_pauses
    # (only the limit's value matters to the deadline: no sum without extensions)
    promised_limit = case.promised_limit + total if total else case.promised_limit
    promised = ctx.deadline(case.accepted_at, promised_limit, case.limit_unit, pauses)
    statutory = None
    if case.statutory_limit is not None:
        statutory_limit = case.statutory_limit + total if total else case.statutory_limit
        statutory = ctx.deadline(case.accepted_at, statutory_limit, case.limit_unit, pauses)
    return CaseTiming(total, tuple(rejected), promised, statutory)


def _case_evidence(case: CaseRecord, deadline: Deadline, limit: Decimal,
                   ctx: EvalContext, until: dt.date | None = None) -> dict[str, Any]:
    ev = deadline_evidence_days(deadline, case.accepted_at, limit,
                                ctx.trace.days(case.accepted_at, deadline, case.clock_pauses, until))
    ev.update(
        case_id=case.case_id,
        item_code=case.item_code,
        item_name=case.item_name,
        handler=case.handler,
        accepted_at=ev["counted_from"],
        completed_at=case.completed_at.isoformat() if case.completed_at else None,
        pauses=[{"kind": p.kind, "started_at": p.started_at.isoformat(),
                 "ended_at": p.ended_at.isoformat() if p.ended_at else None} for p in case.pauses],
        as_of=ctx.as_of,
    )
    return ev


class ItemBasis(BaseModel):
    """One item's statutory basis as the office words it (e.g. the law that sets its time limit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    basis: str = Field(min_length=1, description="the rule's words")
    citation: str | None = Field(default=None, description="《法规名称》第X条")
    cite: str | None = Field(default=None, description="where the office found it (for the record)")


class StatutoryParams(Params):
    bases: dict[str, ItemBasis] = Field(
        default={}, description="item code → its statutory basis, quoted in letters")


class _LateCase(Check[CaseRecord, Params]):
    """Shared logic of the promised and statutory lateness checks."""

    entity = "cases"
    limit_name: str

    def _deadline(self, timing: CaseTiming) -> Deadline | None:
        raise NotImplementedError

    def _limit(self, case: CaseRecord) -> Decimal | None:
        raise NotImplementedError

    def rule_for(self, case: CaseRecord, params: Params, limit: Decimal) -> dict[str, str | bool | None]:
        return self.rule()

    def feed(self, case: CaseRecord, params: Params, ctx: EvalContext) -> Iterator[Finding]:
        timing = case_timing(case, ctx)
        deadline = self._deadline(timing)
        limit = self._limit(case)
        if deadline is None or deadline.at is None or limit is None:
            return
        end = case.completed_at or ctx.at
        if end < deadline.at:
            return
        late = overdue_by(deadline, end, ctx.calendar, case.clock_pauses)
        unit_zh = UNIT_ZH[case.limit_unit]
        state = f"于{zh_date(case.completed_at)}办结" if case.completed_at else "至今未办结"
        assert deadline.display is not None
        summary = (
            f"办件{case.case_id}（{case.item_name or case.item_code or '未知事项'}）"
            f"{self.limit_name}{zh_number(limit + timing.extension)}{unit_zh}，"
            f"应于{zh_due(deadline.display, case.limit_unit is LimitUnit.hour)}前办结，{state}，"
            f"超期{zh_number(late)}{unit_zh}"
        )
        ev = _case_evidence(case, deadline, limit + timing.extension, ctx,
                            until=end.astimezone(ctx.tz).date())
        ev.update(limit_kind=self.limit_name, extension=float(timing.extension),
                  state="completed_late" if case.completed_at else "open")
        yield self.finding(
            case.case_id, case.unit_id, summary,
            deadline=deadline.display, overdue=late, measure=case.limit_unit,
            calendar_uncovered=deadline.uncovered, item_code=case.item_code, evidence=ev,
            ended_at=case.completed_at,
            rule=self.rule_for(case, params, limit),
        )


@register
class CaseOverdue(_LateCase):
    id = "case_overdue"
    tier = "level3"
    title = "办件超承诺时限"
    cite = "003:565; 000:1162"
    citation = '《关于“五权”工作从分解制衡入手合理配置一把手权力实施方案》第三部分第一项'
    basis = "审批事项一经受理,必须在承诺的时限内办结"
    limit_name = "承诺时限"

    def _deadline(self, timing: CaseTiming) -> Deadline | None:
        return timing.promised

    def _limit(self, case: CaseRecord) -> Decimal | None:
        return case.promised_limit


@register
class CaseOverdueStatutory(_LateCase):
    id = "case_overdue_statutory"
    tier = "level2"
    title = "办件超法定时限"
    cite = "000:1162"
    citation = None
    basis = "办件应在法定时限内办结"
    limit_name = "法定时限"
    Params = StatutoryParams

    def rule_for(self, case: CaseRecord, params: StatutoryParams,  # type: ignore[override]
                 limit: Decimal) -> dict[str, str | bool | None]:
        """The statutory basis of this case's own item: the office's (config), else the item's
        limit, cited by the item's ``statutory_basis`` (法定依据) when the source gives one.

        Never another item's figure: the seed's one example (000:1162, 45
        working days for a mine-safety licence) belongs to that item only.
        """
        item = case.item_name or case.item_code or "该事项"
        configured = params.bases.get(case.item_code or "")
        if configured is not None:
            return {"cite": configured.cite or "config", "citation": configured.citation,
                    "text": configured.basis}
        # the item's own limit, cited by the item's 法定依据 when the source has it
        return {"cite": "item", "citation": case.statutory_basis, "quote": False,
                "text": f"{item}的法定办理时限为{zh_number(limit)}{UNIT_ZH[case.limit_unit]}"}

    def _deadline(self, timing: CaseTiming) -> Deadline | None:
        return timing.statutory

    def _limit(self, case: CaseRecord) -> Decimal | None:
        return case.statutory_limit


class DueSoonParams(Params):
    warn_remaining: Decimal = Field(default=Decimal(2), ge=0,
                                    description="warn when this much (case's unit) is left")


@register
class CaseDueSoon(Check[CaseRecord, DueSoonParams]):
    id = "case_due_soon"
    tier = "reminder"
    title = "办件临期"
    cite = "003:951"
    citation = '《关于“五权”工作深化行政审批制度改革规范行政审批权力实施方案》第二部分第（三）项'
    basis = "办理时限预警"
    entity = "cases"
    Params = DueSoonParams

    def feed(self, case: CaseRecord, params: DueSoonParams, ctx: EvalContext) -> Iterator[Finding]:
        if case.completed_at is not None:
            return
        deadline = case_timing(case, ctx).promised
        if deadline.at is None or ctx.at >= deadline.at:
            return
        left = time_left(deadline, ctx.at, ctx.calendar, case.clock_pauses)
        if left > params.warn_remaining:
            return
        unit_zh = UNIT_ZH[case.limit_unit]
        assert deadline.display is not None
        summary = (
            f"办件{case.case_id}（{case.item_name or case.item_code or '未知事项'}）"
            f"将于{zh_due(deadline.display, case.limit_unit is LimitUnit.hour)}到期，"
            f"剩余{zh_number(left)}{unit_zh}"
        )
        ev = _case_evidence(case, deadline, case.promised_limit, ctx)
        ev["remaining"] = float(left)
        yield self.finding(
            case.case_id, case.unit_id, summary,
            deadline=deadline.display, overdue=-left, measure=case.limit_unit,
            calendar_uncovered=deadline.uncovered, item_code=case.item_code, evidence=ev,
        )


@register
class StepOverdue(Check[CaseRecord, Params]):
    id = "step_overdue"
    tier = "reminder"
    title = "环节超时"
    cite = "000:2200"
    citation = '《违反权力运行责任追究制度》第五条第（六）项'
    basis = "延时…依环节分别进行责任追究"
    entity = "cases"

    def feed(self, case: CaseRecord, params: Params, ctx: EvalContext) -> Iterator[Finding]:
        for step in case.steps:
            deadline = ctx.deadline(step.started_at, step.step_limit, step.limit_unit)
            assert deadline.at is not None and deadline.display is not None
            end = step.finished_at or ctx.at
            if end < deadline.at:
                continue
            late = overdue_by(deadline, end, ctx.calendar)
            unit_zh = UNIT_ZH[step.limit_unit]
            state = f"于{zh_date(step.finished_at)}完成" if step.finished_at else "尚未完成"
            summary = (
                f"办件{case.case_id}第{step.seq}环节（{step.name or '未命名环节'}）"
                f"时限{zh_number(step.step_limit)}{unit_zh}，{state}，超时{zh_number(late)}{unit_zh}"
            )
            ev = deadline_evidence_days(deadline, step.started_at, step.step_limit,
                                        ctx.trace.days(step.started_at, deadline,
                                                       until=end.astimezone(ctx.tz).date()))
            ev.update(case_id=case.case_id, seq=step.seq, step=step.name, handler=step.handler,
                      finished_at=step.finished_at.isoformat() if step.finished_at else None,
                      as_of=ctx.as_of)
            yield self.finding(
                f"{case.case_id}#{step.seq}", case.unit_id, summary,
                deadline=deadline.display, overdue=late, measure=step.limit_unit,
                calendar_uncovered=deadline.uncovered, item_code=case.item_code, evidence=ev,
            )


@register
class ExtensionInvalid(Check[CaseRecord, ExtensionParams]):
    id = "extension_invalid"
    tier = "level3"
    title = "违规延期"
    # 000:1162 words the rule for one licence; the general rule every approving body is
    # bound by is the Administrative Licensing Law's (art. 42; its days are working days, art. 82)
    cite = "000:1162"
    citation = '《中华人民共和国行政许可法》第四十二条'
    basis = ("二十日内不能作出决定的，经本行政机关负责人批准，可以延长十日，"
             "并应当将延长期限的理由告知申请人")
    entity = "cases"
    Params = ExtensionParams

    def rule_for(self, case: CaseRecord, max_extension: Decimal) -> dict[str, str | bool | None]:
        """The seed's rule when the office keeps its 10 working days; else the office's own figure."""
        if max_extension == 10 and case.limit_unit is LimitUnit.workday:
            return self.rule()
        return {"cite": "config", "citation": None, "quote": False,
                "text": f"延期须经批准，延长时限累计不得超过{zh_number(max_extension)}"
                        f"{UNIT_ZH[case.limit_unit]}"}

    def feed(self, case: CaseRecord, params: ExtensionParams,
             ctx: EvalContext) -> Iterator[Finding]:
        rejected = case_timing(case, ctx).rejected
        if not rejected:
            return
        unit_zh = UNIT_ZH[case.limit_unit]
        reasons = "；".join(f"延期{zh_number(e.extra)}{unit_zh}：{why}" for e, why in rejected)
        yield self.finding(
            case.case_id, case.unit_id,
            f"办件{case.case_id}（{case.item_name or case.item_code or '未知事项'}）{reasons}",
            item_code=case.item_code, rule=self.rule_for(case, params.max_extension),
            evidence={
                "case_id": case.case_id,
                "max_extension": float(params.max_extension),
                "limit_unit": case.limit_unit.value,
                "extensions": [
                    {"extra": float(e.extra), "approved_by": e.approved_by,
                     "approved_at": e.approved_at.isoformat() if e.approved_at else None,
                     "reason": e.reason, "problem": why}
                    for e, why in rejected
                ],
            },
        )


@register
class RefusalWithoutReason(Check[CaseRecord, Params]):
    id = "refusal_without_reason"
    tier = "level3"
    title = "不予许可未说明理由"
    # 000:1158 (one licence's rule) and 002:248 say the same for their cases; the general
    # rule is the Administrative Licensing Law's art. 38
    cite = "000:1158; 002:248"
    citation = '《中华人民共和国行政许可法》第三十八条'
    basis = "行政机关依法作出不予行政许可的书面决定的，应当说明理由"
    entity = "cases"

    def feed(self, case: CaseRecord, params: Params, ctx: EvalContext) -> Iterator[Finding]:
        if case.outcome not in ("refused", "not_accepted") or case.outcome_reason:
            return
        what = "不予许可" if case.outcome == "refused" else "不予受理"
        yield self.finding(
            case.case_id, case.unit_id,
            f"办件{case.case_id}（{case.item_name or case.item_code or '未知事项'}）{what}，未说明理由",
            item_code=case.item_code,
            evidence={"case_id": case.case_id, "outcome": case.outcome,
                      "completed_at": case.completed_at.isoformat() if case.completed_at else None},
        )


class SupplementParams(Params):
    max_supplements: int = Field(default=1, ge=1, description="补正 requests allowed per case")


@register
class RepeatedSupplement(Check[CaseRecord, SupplementParams]):
    id = "repeated_supplement"
    tier = "level3"
    title = "多次要求补正(违反一次性告知)"
    cite = "000:230; 000:1148"
    citation = '《权力查究问责制度》第三部分第（六）项'
    basis = ("对手续、材料不完备或不符合法定条件、未按规定程序和受理要求办理的,"
             "应一次性告知需补办的手续、材料、办理程序、受理要求等")
    entity = "cases"
    Params = SupplementParams

    def feed(self, case: CaseRecord, params: SupplementParams,
             ctx: EvalContext) -> Iterator[Finding]:
        supplements = [p for p in case.pauses if p.kind == "supplement"]
        if len(supplements) <= params.max_supplements:
            return
        yield self.finding(
            case.case_id, case.unit_id,
            f"办件{case.case_id}（{case.item_name or case.item_code or '未知事项'}）"
            f"先后{len(supplements)}次要求补正，未一次性告知",
            item_code=case.item_code,
            evidence={"case_id": case.case_id,
                      "supplements": [{"started_at": p.started_at.isoformat(),
                                       "ended_at": p.ended_at.isoformat() if p.ended_at else None}
                                      for p in supplements]},
        )


# --- the time index's exact boundaries (monitor/records/due.py) ----------------------------


def open_boundary(case: CaseRecord, ctx: EvalContext) -> dt.datetime | None:
    """The first instant after ``ctx.at`` at which the open parts of ``case`` (as of
    ``ctx.at``) can evaluate differently without an edit; None: it has no open part.

    An open case or unfinished step whose finding fires at ``ctx.at`` (overdue,
    statutory, due soon; a late step) has figures that move with the clock:
    the next midnight for day limits, ``ctx.at`` (every cycle) for hours. One
    that fires nothing changes first when a deadline is reached (promised,
    statutory, the step's) or when the due-soon window can open. That window
    is bounded from below, never late: a day-counted case with ``left`` days
    left (``time_left``) loses at most one counted day per calendar day, so
    ``left <= warn_remaining`` cannot hold before ``left - floor(warn)``
    midnights have passed (time-rules.md, "Remaining time"); an hour case's
    window cannot open before ``floor(warn) + 2`` hours before its deadline
    (``time_left`` rounds to the tenth of an hour). A stopped clock or a
    deadline beyond the calendar keeps the conservative tick. The columnar
    path computes the same (``monitor/columnar/cases.py`` ``_index``).
    """
    at = ctx.at
    found: list[dt.datetime] = []
    if case.completed_at is None:
        found.append(_case_boundary(case, ctx))
    for s in case.steps:
        if s.finished_at is not None:
            continue
        tick = at if s.limit_unit is LimitUnit.hour else next_midnight(at)
        try:
            d = ctx.deadline(s.started_at, s.step_limit, s.limit_unit).at
        except (OutOfSpan, OverflowError):
            d = None
        found.append(tick if d is None or at >= d else d)
    return min(found) if found else None


def _case_boundary(case: CaseRecord, ctx: EvalContext) -> dt.datetime:
    at = ctx.at
    hours = case.limit_unit is LimitUnit.hour
    tick = at if hours else next_midnight(at)
    try:
        timing = case_timing(case, ctx)
    except (OutOfSpan, OverflowError):
        return tick
    p, s = timing.promised.at, timing.statutory
    if p is None or at >= p or (s is not None and (s.at is None or at >= s.at)):
        return tick
    table = ctx.params.get(CaseDueSoon.id)
    kind = ctx.units[case.unit_id].kind if case.unit_id in ctx.units else None
    warn = (table.for_(case.unit_id, kind, case.item_code) if table else DueSoonParams()
            ).warn_remaining
    whole = math.floor(warn)
    if hours:
        # the columnar path's test (left - 0.05 h <= warn): a superset of time_left <= warn
        if Decimal(int((p - at).total_seconds())) / 3600 - Decimal("0.05") <= warn:
            return tick
        opens = p - dt.timedelta(hours=whole + 2)
    else:
        left = time_left(timing.promised, at, ctx.calendar, case.clock_pauses)
        if left <= warn:
            return tick
        opens = dt.datetime.combine(at.date() + dt.timedelta(days=int(left) - whole), dt.time(),
                                    tzinfo=at.tzinfo)
    return min(p, opens, p if s is None or s.at is None else s.at)
