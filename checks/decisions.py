"""Family D: collective decisions (三重一大 集体决策). rules.md, section D.

Each check states its condition once, in ``fault``: the check's ``feed`` turns
a fault into a finding, and :func:`decision_faults` (used by the spending
check ``large_amount_without_decision``) asks every D check whether a decision
is sound, so "a valid collective decision" means the same thing in both
places.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field

from sunlight.checks.base import Check, EvalContext, Finding, Params, ParamsT
from sunlight.checks.counting import BOUNDARY_ZH, Boundary, reaches, share, share_zh
from sunlight.checks.registry import register
from sunlight.monitor.clock import LimitUnit
from sunlight.monitor.records.decisions import CATEGORY_ZH, METHOD_ZH, DecisionRecord
from sunlight.monitor.zh import zh_date

#: the four categories of 三重一大 (003:811; 000:2460)
SANZHONG_YIDA = ("major_decision", "appointment", "major_project", "large_fund")



def _what(d: DecisionRecord) -> str:
    when = f"（{zh_date(d.meeting_at)}）" if d.meeting_at else ""
    return f"决策{d.decision_id}{when}「{CATEGORY_ZH.get(d.category, d.category)}」"


def _money(amount: Decimal | None) -> str | None:
    if amount is None:
        return None
    return f"{amount:.2f}" if amount == amount.quantize(Decimal("0.01")) else str(amount)


def _evidence(d: DecisionRecord) -> dict[str, Any]:
    return {
        "decision_id": d.decision_id, "category": d.category, "method": d.method,
        "meeting_at": d.meeting_at.isoformat() if d.meeting_at else None,
        "materials_sent_at": d.materials_sent_at.isoformat() if d.materials_sent_at else None,
        "should_attend": d.should_attend, "present": d.present, "votes_for": d.votes_for,
        "amount": _money(d.amount), "emergency": d.emergency, "body": d.body,
        "leader_in_charge": d.leader_in_charge, "leader_present": d.leader_present,
    }


class _DecisionCheck(Check[DecisionRecord, ParamsT]):
    """A D check: ``fault`` says what is wrong with a decision (Chinese), or None."""

    entity = "decisions"
    order: ClassVar[int] = 0

    def fault(self, d: DecisionRecord, params: ParamsT, ctx: EvalContext) -> str | None:
        raise NotImplementedError

    def timing(self, d: DecisionRecord, params: ParamsT, ctx: EvalContext) -> dict[str, Any]:
        """Deadline fields of the finding, for the checks that have one."""
        return {}

    def feed(self, d: DecisionRecord, params: ParamsT, ctx: EvalContext) -> Iterator[Finding]:
        why = self.fault(d, params, ctx)
        if why is None:
            return
        ev = _evidence(d)
        ev["problem"] = why
        extra = self.timing(d, params, ctx)
        yield self.finding(d.decision_id, d.unit_id, f"{_what(d)}{why}", evidence=ev, **extra)


class VotesParams(Params):
    """003:825 "赞成票超过应到会人数的半数为通过": 超过 excludes the number (half fails)."""

    share: str = Field(default="1/2", pattern=r"^\d+/\d+$",
                       description="share of should_attend that must vote for (003:825: 半数)")
    boundary: Boundary = Field(default="exclusive",
                               description="exclusive: 超过 (003:825; exactly half does not pass)")


class CollectiveParams(Params):
    categories: list[str] = Field(default=list(SANZHONG_YIDA),
                                  description="categories that must be decided by a meeting")


@register
class DecisionNotCollective(_DecisionCheck[CollectiveParams]):
    id = "decision_not_collective"
    tier = "level2"
    title = "三重一大事项未集体决策"
    cite = "003:811"
    citation = '《关于“五权”工作推进党政领导班子阳光示权实施方案》第一部分第1项'
    basis = ("凡属“三重一大”事项决策(重大决策、重要干部任免、重大项目安排和大额度资金的使用),"
             "除重大突发事件和紧急情况外,各级党政领导班子要严格按照“集体领导、民主集中、个别酝酿、"
             "会议决定”的原则,以领导班子会议形式集体讨论决定,不得以传阅、会签或个别征求意见等方式"
             "代替集体决策")
    Params = CollectiveParams

    def fault(self, d: DecisionRecord, params: CollectiveParams, ctx: EvalContext) -> str | None:
        if d.category not in params.categories or d.method == "meeting" or d.emergency:
            return None
        return f"以{METHOD_ZH.get(d.method, d.method)}方式代替领导班子会议集体讨论决定"


class QuorumParams(Params):
    """000:898 "到会率要求半数以上…讨论干部问题时则要求三分之二以上参加": 以上 includes the number."""

    share: str = Field(default="1/2", pattern=r"^\d+/\d+$",
                       description="share of should_attend that must be present (000:898: 半数)")
    boundary: Boundary = Field(default="inclusive",
                               description="inclusive: 以上 (000:898; exactly half is a quorum)")
    appointment_share: str = Field(default="2/3", pattern=r"^\d+/\d+$",
                                   description="share of should_attend present for appointments")
    appointment_boundary: Boundary = Field(default="inclusive",
                                           description="inclusive: 三分之二以上 (000:898)")


@register
class QuorumNotMet(_DecisionCheck[QuorumParams]):
    id = "quorum_not_met"
    tier = "level2"
    title = "决策会议到会人数不足"
    cite = "000:898"
    citation = '《加强制度建设 规范权力运行》第三部分'
    basis = "到会率要求半数以上且分管领导必须参加,讨论干部问题时则要求三分之二以上参加"
    Params = QuorumParams

    def fault(self, d: DecisionRecord, params: QuorumParams, ctx: EvalContext) -> str | None:
        if d.method != "meeting" or d.should_attend is None or d.present is None:
            return None
        appointment = d.category == "appointment"
        part = share(params.appointment_share if appointment else params.share)
        boundary = params.appointment_boundary if appointment else params.boundary
        if reaches(d.present, d.should_attend, part, boundary):
            return None
        what = "讨论干部任免" if appointment else ""
        return (f"{what}应到{d.should_attend}人、实到{d.present}人，"
                f"未达到应到会人数的{share_zh(part)}{BOUNDARY_ZH[boundary]}")


class LeaderParams(Params):
    missing_counts_as_absent: bool = Field(
        default=False,
        description="a meeting that names its leader in charge but not whether they came is a finding")


@register
class LeaderInChargeAbsent(_DecisionCheck[LeaderParams]):
    id = "leader_in_charge_absent"
    tier = "level2"
    title = "分管领导未参加决策会议"
    cite = "000:898"
    citation = '《加强制度建设 规范权力运行》第三部分'
    basis = "到会率要求半数以上且分管领导必须参加"
    needs = ("people",)
    Params = LeaderParams

    def fault(self, d: DecisionRecord, params: LeaderParams, ctx: EvalContext) -> str | None:
        if d.method != "meeting" or d.leader_in_charge is None or d.leader_present:
            return None
        if d.leader_present is None and not params.missing_counts_as_absent:
            return None  # the source does not say: nobody is accused on a guess
        who = ctx.person_name(d.leader_in_charge)
        if d.leader_present is None:
            return f"未记录分管领导{who}是否参加会议"
        return f"分管领导{who}未参加会议"


@register
class VotesInsufficient(_DecisionCheck[VotesParams]):
    id = "votes_insufficient"
    tier = "level2"
    title = "表决赞成票未过半数"
    cite = "003:825"
    citation = '《关于“五权”工作推进党政领导班子阳光示权实施方案》第二部分第7项'
    basis = "按照少数服从多数的原则进行会议表决,赞成票超过应到会人数的半数为通过"
    Params = VotesParams

    def fault(self, d: DecisionRecord, params: VotesParams, ctx: EvalContext) -> str | None:
        if d.method != "meeting" or d.should_attend is None or d.votes_for is None:
            return None
        part = share(params.share)
        if reaches(d.votes_for, d.should_attend, part, params.boundary):
            return None
        return (f"赞成票{d.votes_for}票，未{BOUNDARY_ZH[params.boundary]}应到会人数"
                f"{d.should_attend}人的{share_zh(part)}，不能视为通过")


class MaterialsParams(Params):
    workdays_before: int = Field(default=1, ge=0, description="working days before the meeting")
    missing_counts_as_late: bool = Field(
        default=False, description="a meeting with no recorded materials_sent_at is a finding")
    exempt_categories: list[str] = Field(default=["appointment"],
                                         description="categories exempt (干部任免事项)")


def materials_due(meeting: dt.datetime, days: int, ctx: EvalContext) -> dt.date:
    """The last day materials may reach members: ``days`` working days before the meeting's day."""
    due = meeting.astimezone(ctx.tz).date()
    for _ in range(days):
        due -= dt.timedelta(days=1)
        while not ctx.calendar.is_workday(due):
            due -= dt.timedelta(days=1)
    return due


@register
class MaterialsLate(_DecisionCheck[MaterialsParams]):
    id = "materials_late"
    tier = "reminder"
    title = "会议材料未按时送达"
    cite = "003:821"
    citation = '《关于“五权”工作推进党政领导班子阳光示权实施方案》第二部分第5项'
    basis = ("除干部任免事项外,确定的议题内容及有关资料至少提前1个工作日送达与会人员,"
             "保证与会人员有足够时间熟悉情况")
    Params = MaterialsParams

    def fault(self, d: DecisionRecord, params: MaterialsParams, ctx: EvalContext) -> str | None:
        if d.method != "meeting" or d.meeting_at is None or d.category in params.exempt_categories:
            return None
        due = materials_due(d.meeting_at, params.workdays_before, ctx)
        if d.materials_sent_at is None:
            if not params.missing_counts_as_late:
                return None
            return f"未记录会议材料送达时间（应于{zh_date(due)}前送达）"
        sent = d.materials_sent_at.astimezone(ctx.tz).date()
        if sent <= due:
            return None
        return (f"会议材料于{zh_date(sent)}送达，应至少提前{params.workdays_before}个工作日"
                f"（{zh_date(due)}前）送达")

    def timing(self, d: DecisionRecord, params: MaterialsParams,
               ctx: EvalContext) -> dict[str, Any]:
        assert d.meeting_at is not None
        due = materials_due(d.meeting_at, params.workdays_before, ctx)
        deadline = dt.datetime.combine(due + dt.timedelta(days=1), dt.time(), tzinfo=ctx.tz)
        out: dict[str, Any] = {"deadline": deadline - dt.timedelta(seconds=1),
                               "measure": LimitUnit.workday,
                               "calendar_uncovered": ctx.calendar.uncovered_between(
                                   due - dt.timedelta(days=1),
                                   d.meeting_at.astimezone(ctx.tz).date())}
        if d.materials_sent_at is not None:
            sent = d.materials_sent_at.astimezone(ctx.tz).date()
            out["overdue"] = ctx.calendar.workdays_between(due, sent)
        return out


class EmergencyParams(Params):
    same_body: bool = Field(
        default=True, description="the next meeting is the same body's (000:898 下一次会议); "
                                  "false: any meeting of the unit")


@register
class EmergencyNotReported(Check[DecisionRecord, EmergencyParams]):
    """000:898: an emergency decision is "在下一次会议上报告情况".

    The next meeting is the first meeting of the same body (``body``; a
    decision that names none matches any meeting of its unit) held after the
    emergency decision. Until that meeting has been held nothing is due. The
    report counts when ``reported_at`` falls on or before that meeting's day;
    reported later, or not at all, the check fires, dated by that meeting.
    """

    id = "emergency_not_reported"
    tier = "reminder"
    title = "紧急决策未在下一次会议上报告"
    cite = "000:898"
    citation = '《加强制度建设 规范权力运行》第三部分'
    basis = "因突发事件和紧急情况需马上决定的,事后要及时与其他班子成员通气,并在下一次会议上报告情况"
    entity = "decisions"
    Params = EmergencyParams

    def __init__(self) -> None:
        self.emergencies: list[DecisionRecord] = []
        self.meetings: dict[str, list[DecisionRecord]] = {}  # unit → its meetings, any order

    def feed(self, d: DecisionRecord, params: EmergencyParams, ctx: EvalContext, /) -> Iterator[Finding]:
        if d.emergency and d.meeting_at is not None:
            self.emergencies.append(d)
        if d.method == "meeting" and d.meeting_at is not None:
            self.meetings.setdefault(d.unit_id, []).append(d)
        return iter(())

    def next_meeting(self, d: DecisionRecord, same_body: bool) -> DecisionRecord | None:
        assert d.meeting_at is not None
        later = [m for m in self.meetings.get(d.unit_id, ())
                 if m.decision_id != d.decision_id and m.meeting_at is not None
                 and m.meeting_at > d.meeting_at
                 and (not same_body or d.body is None or m.body == d.body)]
        return min(later, key=lambda m: (m.meeting_at, m.decision_id), default=None)

    def finish(self, ctx: EvalContext) -> Iterator[Finding]:
        table = ctx.params.get(self.id)
        for d in sorted(self.emergencies, key=lambda d: d.decision_id):
            info = ctx.units.get(d.unit_id)
            params = table.for_(d.unit_id, info.kind if info else None) if table else EmergencyParams()
            if not params.enabled:
                continue
            nxt = self.next_meeting(d, params.same_body)
            if nxt is None:
                continue  # no meeting since: nothing is due yet
            assert nxt.meeting_at is not None
            day = nxt.meeting_at.astimezone(ctx.tz).date()
            if d.reported_at is not None and d.reported_at.astimezone(ctx.tz).date() <= day:
                continue
            body = d.body or "领导班子"
            state = (f"于{zh_date(d.reported_at)}才报告" if d.reported_at is not None
                     else "至今未报告")
            why = (f"系紧急决策，应在{body}下一次会议（{zh_date(nxt.meeting_at)}召开）上"
                   f"报告情况，{state}")
            ev = _evidence(d)
            ev.update(problem=why, next_meeting=nxt.decision_id,
                      next_meeting_at=nxt.meeting_at.isoformat(),
                      reported_at=d.reported_at.isoformat() if d.reported_at else None)
            deadline = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=ctx.tz)
            yield self.finding(d.decision_id, d.unit_id, f"{_what(d)}{why}", evidence=ev,
                               deadline=deadline)


D_CHECKS: tuple[type[_DecisionCheck], ...] = (DecisionNotCollective, QuorumNotMet,
                                              LeaderInChargeAbsent, VotesInsufficient,
                                              MaterialsLate)


def decision_faults(d: DecisionRecord, ctx: EvalContext) -> list[tuple[str, str]]:
    """(check id, reason) for every enabled D check the decision fails, with its unit's params."""
    info = ctx.units.get(d.unit_id)
    kind = info.kind if info else None
    out = []
    for cls in D_CHECKS:
        table = ctx.params.get(cls.id)
        params = table.for_(d.unit_id, kind) if table is not None else cls.Params()
        if not params.enabled:
            continue
        why = cls().fault(d, params, ctx)
        if why is not None:
            out.append((cls.id, why))
    return out
