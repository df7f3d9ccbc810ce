"""Collective decisions (三重一大 / 集体决策): how a decision was taken and by how many."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sunlight.monitor.records.base import BadField, boolean, choice, decimal, integer, text, timestamp

DECISION_FIELDS = ("decision_id", "unit_id", "category", "method", "meeting_at",
                   "materials_sent_at", "should_attend", "present", "votes_for", "amount",
                   "emergency")
CATEGORIES = frozenset({"major_decision", "appointment", "major_project", "large_fund", "other"})
METHODS = frozenset({"meeting", "circulation", "countersign", "individual"})
CATEGORY_ZH = {"major_decision": "重大决策", "appointment": "重要干部任免",
               "major_project": "重大项目安排", "large_fund": "大额度资金使用", "other": "其他事项"}
METHOD_ZH = {"meeting": "会议决定", "circulation": "传阅", "countersign": "会签",
             "individual": "个别征求意见/个人决定"}


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision. ``meeting_at`` is when it was taken (the meeting, or the decision date)."""

    decision_id: str
    unit_id: str
    category: str
    method: str
    meeting_at: dt.datetime | None
    materials_sent_at: dt.datetime | None
    should_attend: int | None
    present: int | None
    votes_for: int | None
    amount: Decimal | None
    emergency: bool

    def as_of(self, at: dt.datetime) -> DecisionRecord | None:
        """Taken after ``at`` → None (it does not exist yet); materials sent later are not sent.

        A decision with no date cannot be placed in time and is kept.
        """
        if self.meeting_at is not None and self.meeting_at > at:
            return None
        if self.materials_sent_at is not None and self.materials_sent_at > at:
            return replace(self, materials_sent_at=None)
        return self


def parse_decision(row: dict[str, Any], tz: dt.tzinfo) -> DecisionRecord:
    should = integer(row, "should_attend", required=False)
    present = integer(row, "present", required=False)
    votes = integer(row, "votes_for", required=False)
    if should is not None and present is not None and present > should:
        raise BadField("present", f"实到人数{present}多于应到人数{should}")
    if votes is not None and present is not None and votes > present:
        raise BadField("votes_for", f"赞成票{votes}多于实到人数{present}")
    return DecisionRecord(
        decision_id=text(row, "decision_id"),
        unit_id=text(row, "unit_id"),
        category=choice(row, "category", CATEGORIES, default="other"),  # type: ignore[arg-type]
        method=choice(row, "method", METHODS, required=True),  # type: ignore[arg-type]
        meeting_at=timestamp(row, "meeting_at", tz, required=False),
        materials_sent_at=timestamp(row, "materials_sent_at", tz, required=False),
        should_attend=should,
        present=present,
        votes_for=votes,
        amount=decimal(row, "amount", required=False),
        emergency=bool(boolean(row, "emergency", default=False)),
    )


__all__ = ["CATEGORIES", "CATEGORY_ZH", "DECISION_FIELDS", "METHODS", "METHOD_ZH",
           "DecisionRecord", "parse_decision"]
