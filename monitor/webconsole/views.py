"""Turning store rows into what the pages print: names, labels, local times, evidence in Chinese.

Evidence keys are the checks' canonical field names; the office reads them
under Chinese labels. Keys without a label are kept under 技术信息 for the
operator, never mixed into the finding's facts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sunlight.alerts.lifecycle import ACTION_ZH as LIFECYCLE_ACTION_ZH
from sunlight.alerts.lifecycle import STATUS_ZH
from sunlight.checks.registry import load_all
from sunlight.monitor.clock import UNIT_ZH, LimitUnit

#: the lifecycle's acts, and the console's own audit-only entry (a unit's 情况说明)
ACTION_ZH = {**LIFECYCLE_ACTION_ZH, "statement": "提交情况说明"}
DELIVERY_ZH = {"pending": "待投递", "delivered": "已送达", "dead": "失败（不再重试）",
               "cancelled": "已取消（预警函已撤销）"}
EVIDENCE_ZH = {
    "case_id": "办件编号", "item_code": "事项编码", "item_name": "事项名称", "handler": "经办人",
    "accepted_at": "受理时间", "completed_at": "办结时间", "counted_from": "起算时间",
    "limit": "时限", "limit_kind": "时限类型", "due_date": "期限日", "deadline": "期限",
    "extension": "延长", "state": "状态", "as_of": "评估时点", "pauses": "暂停计时",
    "voucher_id": "凭证号", "amount": "金额", "payee": "收款方", "decision_id": "决策编号",
    "meeting_date": "会议日期", "present": "到会人数", "members": "应到人数", "votes_for": "赞成票",
    "complaint_id": "投诉编号", "request_id": "申请编号", "received_at": "收到时间",
    "replied_at": "答复时间", "period": "期间", "subject": "公开事项", "published_at": "公开时间",
    "person": "人员", "post": "岗位", "since": "任职起始", "years": "任职年限",
    "signers": "签字人", "step": "环节", "source": "数据源", "row": "源数据行", "problem": "问题",
}
STATE_ZH = {"open": "在办", "completed_late": "超期办结", "completed": "已办结", "missing": "缺失",
            "late": "逾期"}
FINDING_STATE_ZH = {"open": "未解除", "resolved": "已解除"}
SKIP_EVIDENCE = {"skipped_days", "rule", "calendar_uncovered", "limit_unit"}


def tier_labels(labels: Mapping[Any, str]) -> dict[str, str]:
    """The configured tier names keyed by plain strings (the store holds tiers as text)."""
    return {str(k): v for k, v in labels.items()}


def check_titles() -> dict[str, str]:
    return {cid: cls.title for cid, cls in load_all().items()} | {"data_quality": "数据质量问题"}


def local(t: dt.datetime | None, tz: dt.tzinfo, minutes: bool = True) -> str:
    if t is None:
        return ""
    return f"{t.astimezone(tz):%Y-%m-%d %H:%M}" if minutes else f"{t.astimezone(tz):%Y-%m-%d}"


def overdue_text(value: Any, measure: str | None) -> str:
    if value is None or str(value).startswith("-"):
        return ""
    try:
        unit = UNIT_ZH[LimitUnit(measure)] if measure else ""
    except ValueError:
        unit = ""
    number = f"{value}".rstrip("0").rstrip(".") if "." in f"{value}" else f"{value}"
    return f"{number}{unit}"


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, str):
        if len(value) >= 19 and value[10] == "T":
            try:
                return f"{dt.datetime.fromisoformat(value):%Y-%m-%d %H:%M}"
            except ValueError:
                return value
        return STATE_ZH.get(value, value)
    if isinstance(value, list):
        return "；".join(_plain(v) for v in value) or "无"
    if isinstance(value, dict):
        return "，".join(f"{EVIDENCE_ZH.get(k, k)}：{_plain(v)}" for k, v in value.items())
    return "" if value is None else str(value)


@dataclass
class EvidenceView:
    facts: list[tuple[str, str]]
    technical: list[tuple[str, str]]
    rule_text: str | None
    rule_name: str | None  # the regulation's name and article, once the rule carries it
    trace: list[tuple[str, str, str]]  # (date, weekday, why it did not count)


def evidence_view(evidence: Mapping[str, Any]) -> EvidenceView:
    facts, technical = [], []
    for key, value in evidence.items():
        if key in SKIP_EVIDENCE or (key == "due_date" and "deadline" in evidence):
            continue
        if key == "limit" and evidence.get("limit_unit"):
            facts.append((EVIDENCE_ZH[key], overdue_text(value, str(evidence["limit_unit"])) or str(value)))
            continue
        if key == "extension" and not value:
            facts.append((EVIDENCE_ZH[key], "无"))
            continue
        if key in EVIDENCE_ZH:
            facts.append((EVIDENCE_ZH[key], _plain(value)))
        else:
            technical.append((key, _plain(value)))
    rule = evidence.get("rule") or {}
    trace = []
    for day in evidence.get("skipped_days") or []:
        try:
            d = dt.date.fromisoformat(day["date"])
        except (KeyError, TypeError, ValueError):
            continue
        trace.append((f"{d:%Y-%m-%d}", "一二三四五六日"[d.weekday()], str(day.get("reason", ""))))
    name = rule.get("citation") or rule.get("name") if isinstance(rule, dict) else None
    return EvidenceView(facts, technical, rule.get("text") if isinstance(rule, dict) else None,
                        name, trace)


__all__ = ["ACTION_ZH", "DELIVERY_ZH", "STATUS_ZH", "EvidenceView", "check_titles", "evidence_view", "local",
           "overdue_text", "tier_labels"]
