"""Sample complaints (投诉举报, 002:245–248) and information requests (依申请公开) for the demo."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sunlight.monitor.calendar import WorkCalendar


def _t(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour))


def _workdays(first: dt.date, until: dt.date, cal: WorkCalendar) -> list[dt.date]:
    """Working days from ``first`` up to (not including) ``until``: when things arrive."""
    return [d for d in (first + dt.timedelta(days=i) for i in range((until - first).days))
            if cal.is_workday(d)]


def complaints(units: list[str], cal: WorkCalendar, n: int = 60, seed: int = 245,
               first: dt.date = dt.date(2026, 9, 1), as_of: dt.date = dt.date(2026, 11, 16)
               ) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    days = _workdays(first, as_of, cal)
    out = []
    for i in range(n):
        received = rng.choice(days)
        real_name = rng.random() < 0.7
        accepted = rng.random() < 0.85
        row: dict[str, Any] = {"complaint_id": f"TS2026{i:04d}", "unit_id": rng.choice(units),
                               "received_at": _t(received, rng.randint(9, 16)),
                               "real_name": real_name, "accepted": accepted}
        if not accepted:
            wait = rng.choice((1, 2, 3, 4, 8, 10))  # calendar days; 8 and 10 are late
            row["rejection_notified_at"] = _t(received + dt.timedelta(days=wait))
        else:
            if rng.random() < 0.3:  # needs transferring: usually within 5 working days
                row["transferred_at"] = _t(cal.add_workdays(received, rng.choice((1, 2, 3, 4, 7))))
            wait = rng.choice((2, 3, 5, 6, 6, 9))  # calendar days; 9 is late
            notified = received + dt.timedelta(days=wait)
            if notified < as_of and rng.random() < 0.9:
                row["result_notified_at"] = _t(notified, 15)
                row["closed_at"] = _t(notified, 16)
        out.append({k: v for k, v in row.items() if not (isinstance(v, dt.datetime) and v.date() >= as_of)})
    # 002:248: received Mon 2 Nov 2026, the reason is due by Mon 9 Nov (day 5 is a Saturday)
    out.append({"complaint_id": "TS2026R001", "unit_id": units[0], "received_at": _t(dt.date(2026, 11, 2)),
                "real_name": True, "accepted": False,
                "rejection_notified_at": _t(dt.date(2026, 11, 11))})
    return out


def info_requests(units: list[str], cal: WorkCalendar, n: int = 25, seed: int = 33,
                  first: dt.date = dt.date(2026, 8, 3), as_of: dt.date = dt.date(2026, 11, 16)
                  ) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    days = _workdays(first, as_of, cal)
    out = []
    for i in range(n):
        received = rng.choice(days)
        extended = rng.random() < 0.2
        approved = extended and rng.random() < 0.7
        wait = rng.choice((5, 10, 15, 18, 25)) + (15 if extended else 0)
        replied = cal.add_workdays(received, wait)
        out.append({"request_id": f"YSQ2026{i:04d}", "unit_id": rng.choice(units),
                    "received_at": _t(received), "extended": extended,
                    "extension_approved_by": "政府信息公开工作机构负责人" if approved else None,
                    "replied_at": _t(replied, 16) if replied < as_of else None})
    return out


__all__ = ["complaints", "info_requests"]
