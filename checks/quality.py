"""Family Q: rows that cannot be read (architecture invariant 7).

A bad row never crashes a cycle and is never guessed at: it becomes a
``data_quality`` finding addressed to whoever owns the source data (the
source's ``data_owner``), with the row's key, the field and the reason.
"""

from __future__ import annotations

from sunlight.checks.base import Check, Finding, Params
from sunlight.checks.registry import register
from sunlight.monitor.records.base import RowProblem

ENTITY_ZH = {
    "cases": "办件", "case_pauses": "办件暂停记录", "case_extensions": "办件延期记录",
    "case_steps": "办件环节记录", "units": "单位", "people": "人员", "publications": "公开记录",
    "expenses": "支出凭证", "expense_signatures": "凭证签字记录", "decisions": "决策记录",
    "complaints": "投诉举报", "info_requests": "依申请公开", "post_tenures": "岗位任职记录",
}


@register
class DataQuality(Check[RowProblem, Params]):
    id = "data_quality"
    tier = "reminder"
    title = "数据质量问题"
    cite = "architecture.md invariant 7"
    basis = "源数据行无法读取为规范记录"
    entity = "*"

    def from_problem(self, p: RowProblem, source: str) -> Finding:
        what = ENTITY_ZH.get(p.entity, p.entity)
        return self.finding(
            f"{source}:{p.entity}:{p.key}",
            p.unit_id or "",
            f"{what}{p.key}数据无法读取：字段{p.field}{p.reason}",
            source=source,
            evidence={"entity": p.entity, "key": p.key, "field": p.field,
                      "reason": p.reason, "row": p.values},
        )
