"""Durations as people write them in config: ``30s``, ``5m``, ``1h``, ``2d``, ``1w``."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import BeforeValidator

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(value: object) -> dt.timedelta:
    """``"1h30m"`` → 90 minutes. Numbers are seconds. Raises ValueError with the reason."""
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError(f"a duration like '5m' or '1h' is required, not {value!r}")
    text = value.strip().replace(" ", "")
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration (use s, m, h, d, w: e.g. '5m', '1h30m')")
    delta = dt.timedelta(0)
    for number, unit in parts:
        delta += dt.timedelta(**{_UNITS[unit]: float(number)})
    if delta <= dt.timedelta(0):
        raise ValueError(f"{value!r} must be longer than zero")
    return delta


Duration = Annotated[dt.timedelta, BeforeValidator(parse_duration)]
