"""Collective decisions (三重一大 / 集体决策): how a decision was taken and by how many."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sunlight.monitor.records.base import BadField, boolean, choice, decimal, integer, text, timestamp

DECISION_FIELDS = ("decision_id", "unit_id", "category", "method", "meeting_at",
                   "materials_sent_at", "should_attend", "present", "votes_for", "amount",
                   "emergency", "body", "leader_in_charge", "leader_present", "reported_at")
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
    #: the body that decided (党委会, 局务会…): "the next meeting" of 000:898 is this body's
    body: str | None = None
    #: person_id of the leader in charge of the matter (分管领导), and whether they attended
    leader_in_charge: str | None = None
    leader_present: bool | None = None
    #: an emergency decision: when it was reported to a meeting of the body (000:898)
    reported_at: dt.datetime | None = None

    def as_of(self, at: dt.datetime) -> DecisionRecord | None:
        """Taken after ``at`` → None (it does not exist yet); materials sent (or a report made)
        later are not sent (made) yet.

        A decision with no date cannot be placed in time and is kept.
        """
        if self.meeting_at is not None and self.meeting_at > at:
            return None
        late: dict[str, Any] = {}
        if self.materials_sent_at is not None and self.materials_sent_at > at:
            late["materials_sent_at"] = None
        if self.reported_at is not None and self.reported_at > at:
            late["reported_at"] = None
        return replace(self, **late) if late else self


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
        category=choice(row, "category", CATEGORIES, default="other"),
        method=choice(row, "method", METHODS, required=True),
        meeting_at=timestamp(row, "meeting_at", tz, required=False),
        materials_sent_at=timestamp(row, "materials_sent_at", tz, required=False),
        should_attend=should,
        present=present,
        votes_for=votes,
        amount=decimal(row, "amount", required=False),
        emergency=bool(boolean(row, "emergency", default=False)),
        body=text(row, "body", required=False),
        leader_in_charge=text(row, "leader_in_charge", required=False),
        leader_present=boolean(row, "leader_present", default=None),
        reported_at=timestamp(row, "reported_at", tz, required=False),
    )


__all__ = ["CATEGORIES", "CATEGORY_ZH", "DECISION_FIELDS", "METHODS", "METHOD_ZH",
           "DecisionRecord", "parse_decision"]
