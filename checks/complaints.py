"""Family K: complaints (投诉举报) and requests for information (依申请公开). rules.md, section K.

Day units follow the text (time-rules.md): 工作日 is ``workday``, plain 日 is
``day`` (calendar days, the last one moved to the next working day when it is
not one). The deadlines come from :func:`sunlight.monitor.clock.compute_deadline`, so
they are counted exactly as case deadlines are: the day of receipt does not
count.

Seed 002 is in traditional characters with pinyin glosses after some of them
(``規(guī)定``); the quotations below drop the glosses and keep the characters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from pydantic import Field

from sunlight.checks.base import Check, EvalContext, Finding, Params, ParamsT, RecordT, deadline_evidence
from sunlight.checks.registry import register
from sunlight.monitor.clock import UNIT_ZH, LimitUnit, compute_deadline, overdue_by, trace
from sunlight.monitor.records.complaints import ComplaintRecord, InfoRequestRecord
from sunlight.monitor.zh import zh_date


class _Late(Check[RecordT, ParamsT]):
    """A step that must happen within ``limit`` units of receipt."""

    what: str  # the step, in Chinese (转办, 告知处理结果…)
    unit: LimitUnit

    def late(self, subject: str, unit_id: str, noun: str, received: dt.datetime,
             done: dt.datetime | None, limit: int, ctx: EvalContext,
             **more: Any) -> Iterator[Finding]:
        deadline = compute_deadline(received, limit, self.unit, ctx.calendar)
        assert deadline.at is not None and deadline.display is not None
        end = done or ctx.at
        if end < deadline.at:
            return
        late = overdue_by(deadline, end, ctx.calendar)
        unit_zh = UNIT_ZH[self.unit]
        state = f"于{zh_date(done)}{self.what}" if done else f"至今未{self.what}"
        ev = deadline_evidence(deadline, received, Decimal(limit),
                               trace(received, deadline, ctx.calendar,
                                     until=end.astimezone(ctx.tz).date()))
        ev.update(received_at=received.isoformat(), done_at=done.isoformat() if done else None,
                  as_of=ctx.as_of, **more)
        yield self.finding(
            subject, unit_id,
            f"{noun}于{zh_date(received)}收到，应在{limit}{unit_zh}内（{zh_date(deadline.display)}前）"
            f"{self.what}，{state}，逾期{late}{unit_zh}",
            deadline=deadline.display, overdue=late, measure=self.unit,
            calendar_uncovered=deadline.uncovered, evidence=ev, ended_at=done,
        )


def _noun(c: ComplaintRecord) -> str:
    return f"{'实名' if c.real_name else ''}投诉举报{c.complaint_id}"


class TransferParams(Params):
    within: int = Field(default=5, ge=1, description="working days from receipt")


@register
class ComplaintTransferLate(_Late[ComplaintRecord, TransferParams]):
    id = "complaint_transfer_late"
    tier = "level3"
    title = "投诉举报转办超时"
    cite = "002:245"
    citation = '《保定市政务公开暨行政权力公开透明运行工作投诉举报受理工作制度（试行）》第七条第（三）项'
    basis = '对需要转办的,应在收到举报之日起5个工作日内转交有关单位处理'
    entity = "complaints"
    what = "转交有关单位"
    unit = LimitUnit.workday
    Params = TransferParams

    def feed(self, c: ComplaintRecord, params: TransferParams, ctx: EvalContext) -> Iterator[Finding]:
        if c.transferred_at is None:
            return  # whether it needs transferring is known only once it is transferred
        yield from self.late(c.complaint_id, c.unit_id, _noun(c), c.received_at, c.transferred_at,
                             params.within, ctx, complaint_id=c.complaint_id)


class ReplyParams(Params):
    within: int = Field(default=7, ge=1, description="calendar days from receipt")


@register
class ComplaintReplyLate(_Late[ComplaintRecord, ReplyParams]):
    id = "complaint_reply_late"
    tier = "level3"
    title = "实名举报未按时告知处理情况"
    cite = "002:247"
    citation = '《保定市政务公开暨行政权力公开透明运行工作投诉举报受理工作制度（试行）》第七条第（五）项'
    basis = '对实名举报的,应当自收到举报之日起7日内将处理情况以书面形式告知举报人'
    entity = "complaints"
    what = "书面告知举报人处理情况"
    unit = LimitUnit.day
    Params = ReplyParams

    def feed(self, c: ComplaintRecord, params: ReplyParams, ctx: EvalContext) -> Iterator[Finding]:
        if not c.real_name or c.accepted is False:
            return  # anonymous, or not accepted (complaint_rejection_late covers that)
        yield from self.late(c.complaint_id, c.unit_id, _noun(c), c.received_at,
                             c.result_notified_at, params.within, ctx, complaint_id=c.complaint_id)


class RejectionParams(Params):
    within: int = Field(default=5, ge=1, description="calendar days from receipt")


@register
class ComplaintRejectionLate(_Late[ComplaintRecord, RejectionParams]):
    id = "complaint_rejection_late"
    tier = "level3"
    title = "不予受理未按时告知理由"
    cite = "002:248"
    citation = '《保定市政务公开暨行政权力公开透明运行工作投诉举报受理工作制度（试行）》第七条第（六）项'
    basis = '对不予受理的投诉举报,应当自收到举报之日起5日内将不受理的理由告知本人'
    entity = "complaints"
    what = "告知不予受理的理由"
    unit = LimitUnit.day
    Params = RejectionParams

    def feed(self, c: ComplaintRecord, params: RejectionParams, ctx: EvalContext) -> Iterator[Finding]:
        if c.accepted is not False:
            return
        yield from self.late(c.complaint_id, c.unit_id, _noun(c), c.received_at,
                             c.rejection_notified_at, params.within, ctx,
                             complaint_id=c.complaint_id)


class InfoParams(Params):
    within: int = Field(default=20, ge=1, description="working days from receipt")
    extension: int = Field(default=20, ge=0, description="extra working days when approved")


@register
class InfoRequestOverdue(_Late[InfoRequestRecord, InfoParams]):
    id = "info_request_overdue"
    tier = "level3"
    title = "依申请公开逾期未答复"
    cite = "《政府信息公开条例》(2019) 第三十三条 (outside the seeds)"
    citation = '《中华人民共和国政府信息公开条例》第三十三条'
    basis = ("行政机关不能当场答复的,应当自收到申请之日起20个工作日内予以答复；需要延长答复期限的,"
             "应当经政府信息公开工作机构负责人同意并告知申请人,延长的期限最长不得超过20个工作日")
    entity = "info_requests"
    what = "答复"
    unit = LimitUnit.workday
    Params = InfoParams

    def feed(self, r: InfoRequestRecord, params: InfoParams, ctx: EvalContext) -> Iterator[Finding]:
        approved = r.extended and r.extension_approved_by is not None
        limit = params.within + (params.extension if approved else 0)
        note = "（延期未经批准，不予计入）" if r.extended and not approved else ""
        yield from self.late(r.request_id, r.unit_id, f"政府信息公开申请{r.request_id}{note}",
                             r.received_at, r.replied_at, limit, ctx, request_id=r.request_id,
                             extended=r.extended, extension_approved_by=r.extension_approved_by)
