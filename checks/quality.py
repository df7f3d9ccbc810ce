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

    def unstorable(self, f: Finding, error: str) -> Finding:
        """A finding the state store refused, as a notice to the source's data owner.

        Whatever the row held that the store could not keep (after the
        boundary cleaned it), the data owner learns which row, and the
        finding's other facts stay in the evidence.
        """
        what = f"{f.check}:{f.subject}"
        return self.finding(
            f"{f.source}:store:{f.fingerprint}",
            f.unit_id,
            f"源数据行{what[:200]}无法保存：{error[:200]}，请核对该行数据",
            source=f.source,
            evidence={"check": f.check, "subject": f.subject[:1000], "fingerprint": f.fingerprint,
                      "error": error, "summary": f.summary[:1000]},
        )

    def from_problem(self, p: RowProblem, source: str) -> Finding:
        what = ENTITY_ZH.get(p.entity, p.entity)
        named = (f"{what}{p.key}" if not p.key.startswith("?")
                 else f"{what}（无编号，读取顺序第{p.position}行）")
        summary = (f"{named}数据已读取，但需更正：{p.reason}" if p.kept
                   else f"{named}数据无法读取：字段{p.field}{p.reason}")
        evidence = {"entity": p.entity, "key": p.key, "field": p.field,
                    "reason": p.reason, "row": p.values, "read": p.kept}
        if p.position is not None:
            evidence["position"] = p.position
        return self.finding(
            f"{source}:{p.entity}:{p.key}",
            p.unit_id or "",
            summary,
            source=source,
            evidence=evidence,
        )
