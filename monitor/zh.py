"""How the office's Chinese text writes dates and numbers, in one place.

Findings, letters and consoles all say "2026年10月9日" and "15个工作日"; a
second spelling in one module would show up side by side in the same letter.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal


def zh_date(d: dt.date | dt.datetime) -> str:
    """2026-10-09 → 2026年10月9日."""
    return f"{d.year}年{d.month}月{d.day}日"


def zh_number(n: Decimal | int) -> str:
    """15.00 → 15, 0.50 → 0.5: no trailing zeros, never an exponent."""
    return format(Decimal(n).normalize(), "f")


def zh_due(display: dt.datetime, hourly: bool = False) -> str:
    """A deadline as a letter states it: "2026年11月4日" or, for a limit in hours, "2026年11月4日9时".

    ``display`` is the last on-time second (Deadline.display). An hour deadline
    is named by the hour it runs out at ("应于…9时前办结"), the first late
    instant, so 08:59:59 reads as 9时 and 09:29:59 as 9时30分.
    """
    if not hourly:
        return zh_date(display)
    end = display + dt.timedelta(seconds=1)
    minutes = f"{end.minute}分" if end.minute else ""
    return f"{zh_date(end)}{end.hour}时{minutes}"
