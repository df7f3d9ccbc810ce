"""Field parsers shared by every record type.

Each parser turns one raw value from a database driver into the canonical type
or raises :class:`BadField` with a reason a data owner can act on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, overload

from sunlight.monitor.calendar import SPAN_FIRST, SPAN_LAST
from sunlight.monitor.zh import zh_number as plain  # the same text whatever NUMERIC scale a source uses


class BadField(ValueError):
    """One field of a row cannot be read. ``field`` names the canonical field.

    ``reason`` is shown to the data owner, so it is in Chinese.
    """

    def __init__(self, field: str, reason: str, kind: str | None = None) -> None:
        self.field, self.reason = field, reason
        self.kind = kind or problem_kind(reason)
        super().__init__(f"{field}: {reason}")


#: what went wrong with a field, as the data owner's notice words it (checks/quality.py)
PROBLEM_KINDS = ("missing", "unreadable", "invalid", "inconsistent")


def problem_kind(reason: str) -> str:
    """``missing`` (empty), ``unreadable`` (cannot be read as its type), ``invalid`` (read, but
    not a possible value) or ``inconsistent`` (read, but contradicts another field or table).

    Only ``missing`` and ``unreadable`` rows "cannot be read"; the notice words
    the other two as what they are.
    """
    if reason == "缺失":
        return "missing"
    if "无法识别" in reason or reason.startswith(("不是", "取值")):
        return "unreadable"
    if reason.startswith(("为负数", "时间")):
        return "invalid"
    return "inconsistent"


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A source row that could not become a record: a data_quality finding."""

    entity: str
    key: str  # the row's key as far as it could be read ("?" when missing)
    unit_id: str | None
    field: str
    reason: str
    values: dict[str, Any]
    kind: str = "unreadable"  # see problem_kind


_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
            "%Y%m%d%H%M%S", "%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")


@overload
def text(row: dict[str, Any], field: str, *, required: Literal[True] = ...) -> str: ...
@overload
def text(row: dict[str, Any], field: str, *, required: bool) -> str | None: ...
def text(row: dict[str, Any], field: str, *, required: bool = True) -> str | None:
    """Stripped text; empty counts as missing (a :class:`BadField` when ``required``)."""
    v = row.get(field)
    if isinstance(v, str):  # the common case first: one strip, no str() copy
        s = v.strip()
        if s:
            return s
    elif v is not None:
        return str(v).strip()
    if required:
        raise BadField(field, "缺失")
    return None


@overload
def timestamp(row: dict[str, Any], field: str, tz: dt.tzinfo, *,
              required: Literal[True] = ...) -> dt.datetime: ...
@overload
def timestamp(row: dict[str, Any], field: str, tz: dt.tzinfo, *, required: bool) -> dt.datetime | None: ...
def timestamp(
    row: dict[str, Any], field: str, tz: dt.tzinfo, *, required: bool = True
) -> dt.datetime | None:
    """A timestamp in the configured zone; naive values are read in that zone (invariant 8)."""
    v = row.get(field)
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise BadField(field, "缺失")
        return None
    if isinstance(v, dt.datetime):
        out = v
    elif isinstance(v, dt.date):
        out = dt.datetime.combine(v, dt.time())
    elif isinstance(v, str):
        s = v.strip()
        try:
            out = dt.datetime.fromisoformat(s)
        except ValueError:
            for fmt in _FORMATS:
                try:
                    out = dt.datetime.strptime(s, fmt)
                    break
                except ValueError:
                    continue
            else:
                raise BadField(field, f"时间无法识别：{s!r}") from None
    else:
        raise BadField(field, f"时间无法识别：{v!r}")
    # combine() rather than out.replace(tzinfo=tz): the same value (fold
    # included), but replace() with a keyword costs ~1.4 µs on CPython 3.11
    # against ~0.3 µs, and a big scan reads millions of timestamps.
    out = dt.datetime.combine(out.date(), out.time(), tz) if out.tzinfo is None else out.astimezone(tz)
    if not SPAN_FIRST <= out.date() <= SPAN_LAST:
        raise BadField(field, f"时间{out.date()}超出{SPAN_FIRST.year}–{SPAN_LAST.year}年范围", "invalid")
    return out


@overload
def decimal(row: dict[str, Any], field: str, *, required: Literal[True] = ...,
            negative_ok: bool = ...) -> Decimal: ...
@overload
def decimal(row: dict[str, Any], field: str, *, required: bool,
            negative_ok: bool = ...) -> Decimal | None: ...
def decimal(row: dict[str, Any], field: str, *, required: bool = True,
            negative_ok: bool = False) -> Decimal | None:
    """Exact decimals (money is never float): a float from a driver goes through str()."""
    v = row.get(field)
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise BadField(field, "缺失")
        return None
    try:
        # A Decimal or int from the driver is already exact (str() round-trips
        # it unchanged), so skip the text detour; floats and text go through it.
        d = v if isinstance(v, Decimal) else Decimal(v) if type(v) is int else Decimal(str(v).strip())
    except InvalidOperation:
        raise BadField(field, f"不是数字：{v!r}") from None
    if not d.is_finite():
        raise BadField(field, f"不是有效数字：{v!r}")
    if d < 0 and not negative_ok:
        raise BadField(field, f"为负数（{plain(d)}）")
    return d


@overload
def integer(row: dict[str, Any], field: str, *, required: Literal[True] = ...) -> int: ...
@overload
def integer(row: dict[str, Any], field: str, *, required: bool) -> int | None: ...
def integer(row: dict[str, Any], field: str, *, required: bool = True) -> int | None:
    v = row.get(field)
    if type(v) is int and v >= 0:  # an integer column: nothing to check or convert
        return v
    d = decimal(row, field, required=required)
    if d is None:
        return None
    if d != d.to_integral_value():
        raise BadField(field, f"不是整数：{plain(d)}")
    return int(d)


_TRUE = {"1", "true", "t", "yes", "y", "是", "on"}
_FALSE = {"0", "false", "f", "no", "n", "否", "off", ""}


def boolean(row: dict[str, Any], field: str, *, default: bool | None = None) -> bool | None:
    v = row.get(field)
    if v is None:
        return default
    if isinstance(v, bool):
        return v
    if isinstance(v, int | Decimal):
        return bool(v)
    s = str(v).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise BadField(field, f"不是是/否值：{v!r}")


def choice(row: dict[str, Any], field: str, allowed: frozenset[str], *,
           default: str | None = None, required: bool = False) -> str | None:
    v = text(row, field, required=required)
    if v is None:
        return default
    v = v.lower()
    if v not in allowed:
        raise BadField(field, f"取值{v!r}不在允许范围（{'、'.join(sorted(allowed))}）")
    return v
