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
