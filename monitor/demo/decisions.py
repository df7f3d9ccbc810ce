"""Sample collective decisions (三重一大) for the demo and the spending benchmark.

Per unit: ``JC-<unit>-0`` is a large-fund decision taken by 会签 (countersign,
003:811 forbids it), ``-1`` … ``-3`` are proper meetings that spending vouchers
may cite. With ``flawed=True`` a few units also get a meeting short of quorum
(000:898), one whose vote did not pass (003:825), one whose materials
arrived the same morning (003:821), one the leader in charge (分管领导) stayed
away from (000:898), and an emergency decision of Fri 16 Oct 2026 that the
body's next meeting (Tue 20 Oct) was not told of (000:898); exactly half
present (5 of 10, ``-H``) is a quorum and fires nothing of its own.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

FIELDS = ("decision_id", "unit_id", "category", "method", "meeting_at", "materials_sent_at",
          "should_attend", "present", "votes_for", "amount", "emergency", "body",
          "leader_in_charge", "leader_present", "reported_at")
BODY = "领导班子会议"


def _row(decision_id: str, unit_id: str, **kw: Any) -> dict[str, Any]:
    return {f: kw.get(f) for f in FIELDS} | {"decision_id": decision_id, "unit_id": unit_id,
                                             "emergency": kw.get("emergency", False)}


def generate(units: list[tuple[str, str, str]], per_unit: int = 4,
             flawed: bool = True) -> list[dict[str, Any]]:
    out = []
    for n, (unit_id, _, kind) in enumerate(units):
        leader = f"{unit_id}-director-0" if kind == "village" else f"{unit_id}-area_leader-0"
        for k in range(per_unit):
            meeting = dt.datetime(2026, 7, 8 + k, 15)  # Wed 8 Jul 2026 onwards
            if k == 0:
                out.append(_row(f"JC-{unit_id}-0", unit_id, category="large_fund",
                                method="countersign", meeting_at=meeting,
                                amount=Decimal("500000.00")))
            else:
                out.append(_row(f"JC-{unit_id}-{k}", unit_id, category="large_fund", method="meeting",
                                meeting_at=meeting, materials_sent_at=meeting - dt.timedelta(days=2),
                                should_attend=7, present=6, votes_for=5,
                                amount=Decimal("500000.00"), body=BODY,
                                leader_in_charge=leader, leader_present=True))
        if flawed and n % 4 == 0:
            m = dt.datetime(2026, 10, 14, 9)  # Wed 14 Oct 2026
            out.append(_row(f"JC-{unit_id}-Q", unit_id, category="major_decision", method="meeting",
                            meeting_at=m, materials_sent_at=m - dt.timedelta(days=1),
                            should_attend=9, present=4, votes_for=4))
            out.append(_row(f"JC-{unit_id}-V", unit_id, category="major_project", method="meeting",
                            meeting_at=m, materials_sent_at=m - dt.timedelta(days=1),
                            should_attend=9, present=8, votes_for=4))
            out.append(_row(f"JC-{unit_id}-M", unit_id, category="major_decision", method="meeting",
                            meeting_at=m, materials_sent_at=m - dt.timedelta(hours=1),
                            should_attend=9, present=8, votes_for=7))
            out.append(_row(f"JC-{unit_id}-R", unit_id, category="appointment", method="circulation",
                            meeting_at=m))
            out.append(_row(f"JC-{unit_id}-L", unit_id, category="major_decision", method="meeting",
                            meeting_at=m, materials_sent_at=m - dt.timedelta(days=1),
                            should_attend=9, present=8, votes_for=8, body=BODY,
                            leader_in_charge=leader, leader_present=False))
            out.append(_row(f"JC-{unit_id}-E", unit_id, category="major_project", method="individual",
                            meeting_at=dt.datetime(2026, 10, 16, 18), emergency=True, body=BODY))
            nxt = dt.datetime(2026, 10, 20, 9)  # Tue 20 Oct 2026: the body's next meeting
            out.append(_row(f"JC-{unit_id}-H", unit_id, category="other", method="meeting",
                            meeting_at=nxt, materials_sent_at=nxt - dt.timedelta(days=4),
                            should_attend=10, present=5, body=BODY))  # no vote recorded
    return out


#: unreadable: more present than should attend
BAD_DECISIONS = [_row("JC-BAD-1", "MZJ", category="major_decision", method="meeting",
                      meeting_at=dt.datetime(2026, 10, 21, 9), should_attend=7, present=9,
                      votes_for=6)]

__all__ = ["BAD_DECISIONS", "FIELDS", "generate"]
