"""Sample tenures in key posts (重点岗位) for the demo: some longer than five years."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sunlight.monitor.demo.spending import person_name

POSTS = [("会计", "A"), ("出纳", "A"), ("政府采购经办", "A"), ("审批窗口", "B"), ("档案管理", "C")]


def tenures(units: list[str], seed: int = 487) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for unit_id in units:
        for k, (post, risk) in enumerate(POSTS):
            start = dt.date(rng.randint(2016, 2025), rng.randint(1, 12), 1)
            row = {"person_id": f"{unit_id}-staff-{k}", "unit_id": unit_id, "post": post,
                   "risk_class": risk, "started_at": dt.datetime.combine(start, dt.time(9)),
                   "ended_at": None}
            if start.year < 2020 and rng.random() < 0.5:  # rotated out in time
                row["ended_at"] = dt.datetime(start.year + 4, start.month, 1, 9)
            out.append(row)
    return out


def people(units: list[str], first: int) -> list[dict[str, Any]]:
    """The post holders as people (so letters name them), numbered on from ``first``."""
    return [{"person_id": f"{unit_id}-staff-{k}", "name": person_name(first + i * len(POSTS) + k),
             "unit_id": unit_id, "is_head": False, "is_finance_leader": False}
            for i, unit_id in enumerate(units) for k in range(len(POSTS))]


__all__ = ["POSTS", "people", "tenures"]
