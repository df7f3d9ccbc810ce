"""Family Q: rows that cannot be read, or read but contradict themselves (architecture invariant 7).

A bad row never crashes a cycle and is never guessed at: it becomes a
``data_quality`` finding addressed to whoever owns the source data (the
source's ``data_owner``), with the row's key, the field and the reason.

The finding's summary is what the data owner's notice prints, so it names the
site's own table and column (the mapping's renames, ``sources.<name>.entities``),
never our canonical field names, and says what to fix: a missing value is
filled in, an unreadable one rewritten in a readable form, an impossible or
contradictory one checked against the paper record. Only missing and
unreadable rows are "无法读取"; the others were read and are worded as what
they are (:func:`sunlight.monitor.records.base.problem_kind`).
"""

from __future__ import annotations

from sunlight.checks.base import Check, Finding, Params
from sunlight.checks.registry import register
from sunlight.monitor.records.base import RowProblem
from sunlight.monitor.settings import SourceConfig

ENTITY_ZH = {
    "cases": "办件", "case_pauses": "办件暂停记录", "case_extensions": "办件延期记录",
    "case_steps": "办件环节记录", "units": "单位", "people": "人员", "publications": "公开记录",
    "expenses": "支出凭证", "expense_signatures": "凭证签字记录", "decisions": "决策记录",
    "complaints": "投诉举报", "info_requests": "依申请公开", "post_tenures": "岗位任职记录",
}

#: canonical fields in the words of the site's own forms (data-model.md)
FIELD_ZH = {
    "case_id": "申办流水号", "unit_id": "单位", "item_code": "事项编码", "item_name": "事项名称",
    "handler": "承办人", "accepted_at": "受理时间", "promised_limit": "承诺时限",
    "statutory_limit": "法定时限", "limit_unit": "时限单位", "completed_at": "办结时间",
    "outcome": "办理结果", "outcome_reason": "办理结果理由", "updated_at": "更新时间",
    "statutory_basis": "法定依据",
    "kind": "类别", "started_at": "开始时间", "ended_at": "结束时间", "extra": "延长时限",
    "approved_by": "批准人", "approved_at": "批准时间", "reason": "理由", "seq": "环节序号",
    "name": "名称", "finished_at": "完成时间", "step_limit": "环节时限",
    "publication_id": "公开记录编号", "subject": "公开事项", "period": "公开期间",
    "ref_id": "所涉办件或决策编号", "published_at": "发布时间", "posted_until": "撤下时间",
    "channel": "公开渠道", "url": "网址", "voucher_id": "凭证编号", "amount": "金额",
    "category": "类别", "payee": "收款人", "paid_at": "支付时间", "decision_id": "决策编号",
    "role": "签字环节", "person_id": "人员编号", "signed_at": "签字时间", "method": "决策方式",
    "meeting_at": "会议时间", "materials_sent_at": "材料送达时间", "should_attend": "应到人数",
    "present": "实到人数", "votes_for": "赞成票数", "emergency": "紧急决策标记",
    "body": "会议名称", "leader_in_charge": "分管领导", "leader_present": "分管领导是否到会",
    "reported_at": "向会议报告时间",
    "complaint_id": "投诉举报编号", "received_at": "收到时间", "real_name": "是否实名",
    "accepted": "是否受理", "rejection_notified_at": "不予受理告知时间",
    "transferred_at": "转办时间", "result_notified_at": "处理结果告知时间",
    "closed_at": "办结时间", "request_id": "申请编号", "extended": "是否延期",
    "extension_approved_by": "延期批准人", "replied_at": "答复时间", "post": "岗位",
    "risk_class": "风险等级", "parent_id": "上级单位", "is_head": "是否主要负责人",
    "is_finance_leader": "是否分管财务领导",
}

#: what the data owner is asked to do, per kind of problem
FIX_ZH = {
    "missing": "请补录",
    "unreadable": "请按规范格式更正",
    "invalid": "请核实原始记录后更正",
    "inconsistent": "请核对原始记录，更正有误的一项",
}


def source_label(name: str, config: SourceConfig | None) -> str:
    """The source as the office names it (``display_name``), else its key."""
    return (config.display_name if config is not None and config.display_name else None) or name


def column_label(entity: str, field: str, config: SourceConfig | None) -> str:
    """「受理时间（slxx表slsj列）」: our word for the field, and where the site keeps it.

    The site's own table and column are named where the mapping renames them
    (``entities.<entity>.table`` / ``columns``); a site that uses the
    canonical names, or a mapping by query, gets the word alone, so a notice
    never prints our field names as if they were the site's.
    """
    word = FIELD_ZH.get(field, "该项")
    mapping = config.entities.get(entity) if config is not None else None
    if mapping is None or mapping.query:
        return word
    column = mapping.columns.get(field)
    if column is None:
        return word
    table = f"{mapping.table}表" if mapping.table else ""
    return f"{word}（{table}{column}列）"


def problem_text(p: RowProblem, config: SourceConfig | None) -> str:
    """One row's problem in the data owner's terms, with what to do about it."""
    what = ENTITY_ZH.get(p.entity, "记录")
    if p.key and not p.key.startswith("?"):
        row = f"{what}{p.key}"
    elif p.position is not None:  # keyless rows are told apart by where they came in the read
        row = f"一条{what}（编号为空，读取顺序第{p.position}条）"
    else:
        row = f"一条{what}（编号为空）"
    col = column_label(p.entity, p.field, config)
    fix = FIX_ZH.get(p.kind, FIX_ZH["invalid"])
    if p.kept:  # read all the same: what was cleaned, so the owner can correct the source
        return f"{row}的{col}{p.reason}，已按清理后的内容监测，{fix}"
    if p.kind == "missing":
        return f"{row}的{col}为空，无法读取，{fix}"
    if p.kind == "unreadable":
        if p.reason.startswith("时间无法识别："):  # the value as the site wrote it
            return f"{row}的{col}无法读取（填写为{p.reason.split('：', 1)[1]}，不是可识别的时间），{fix}"
        return f"{row}的{col}无法读取：{p.reason}，{fix}"
    if p.kind == "inconsistent":
        return f"{row}的{col}与其他数据不一致：{p.reason}，{fix}"
    return f"{row}的{col}{p.reason}，取值不合理，{fix}"


@register
class DataQuality(Check[RowProblem, Params]):
    id = "data_quality"
    tier = "reminder"
    title = "数据质量问题"
    cite = "architecture invariant 7"
    citation = None
    basis = "源数据行无法读取为规范记录"  # for the office's record; notices quote no rule
    entity = "*"

    def unstorable(self, f: Finding, error: str) -> Finding:
        """A finding the state store refused, as a notice to the source's data owner.

        Whatever the row held that the store could not keep (after the
        boundary cleaned it), the data owner learns which row, and the
        finding's other facts stay in the evidence.
        """
        return self.finding(
            f"{f.source}:store:{f.fingerprint}",
            f.unit_id,
            f"{f.subject[:200]}的数据无法保存到电子监察系统，请核对该条记录的内容（如过长或含特殊字符）",
            source=f.source,
            evidence={"check": f.check, "subject": f.subject[:1000], "fingerprint": f.fingerprint,
                      "error": error, "summary": f.summary[:1000]},
            rule={"cite": self.cite, "citation": None, "text": None},
        )

    def from_problem(self, p: RowProblem, source: str, config: SourceConfig | None = None) -> Finding:
        evidence = {"entity": p.entity, "key": p.key, "field": p.field,
                    "reason": p.reason, "kind": p.kind, "row": p.values, "read": p.kept,
                    "column": column_label(p.entity, p.field, config)}
        if p.position is not None:
            evidence["position"] = p.position
        return self.finding(
            f"{source}:{p.entity}:{p.key}",
            p.unit_id or "",
            problem_text(p, config),
            source=source,
            evidence=evidence,
            rule={"cite": self.cite, "citation": None, "text": None},
        )
