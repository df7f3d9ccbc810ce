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
from sunlight.monitor.textsafe import (
    CONTROL_OR_BREAK,
    KEY_MAX,
    NAME_MAX,
    TEXT_MAX,
    cap,
    strip_controls,
)
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
    #: the row was read all the same (its text had to be cleaned or cut): a notice, not a loss
    kept: bool = False
    #: where the row came in its read (1-based), for rows that have no key to name them by
    position: int | None = None


#: fields that identify a row or point at another: a control character or an absurd length
#: there means the row cannot be told apart from another, so it is not read at all
KEY_FIELDS = frozenset({"case_id", "unit_id", "item_code", "voucher_id", "person_id",
                        "decision_id", "publication_id", "complaint_id", "request_id",
                        "parent_id", "ref_id"})
#: names shown in letters and consoles: kept up to NAME_MAX characters, the rest cut with a note
NAME_FIELDS = frozenset({"name", "item_name", "handler", "approved_by", "payee"})


def screen(row: dict[str, Any]) -> tuple[dict[str, Any], BadField | None, BadField | None]:
    """A source row made safe to read: ``(row, fatal, notice)``.

    ``fatal`` is a problem that stops the row being read (a control character
    in a key or a time, a key longer than ``KEY_MAX``); ``notice`` says what
    was cleaned in text that is read all the same (control characters
    removed, an overlong value cut with its length and hash kept). Most rows
    hold nothing of the kind and are returned as they are, after one cheap
    look at each string.
    """
    for v in row.values():
        if type(v) is str and (len(v) > NAME_MAX or not v.isprintable()):
            return _screen(row)
    return row, None, None


def _screen(row: dict[str, Any]) -> tuple[dict[str, Any], BadField | None, BadField | None]:
    out = dict(row)
    fatal: BadField | None = None
    notes: list[tuple[str, str]] = []
    for k, v in row.items():
        if type(v) is not str:
            continue
        if k in KEY_FIELDS or k.endswith("_at"):
            s = v.strip()
            if fatal is None and CONTROL_OR_BREAK.search(s):
                fatal = BadField(k, "含控制字符（如NUL），无法读取", "unreadable")
            elif fatal is None and k in KEY_FIELDS and len(s) > KEY_MAX:
                fatal = BadField(k, f"长度{len(s)}字符，超过{KEY_MAX}字符上限", "unreadable")
            if len(v) > NAME_MAX or not v.isprintable():
                out[k] = cap(strip_controls(v)[0], KEY_MAX)  # what the evidence shows of it
            continue
        cleaned, removed = strip_controls(v)
        if removed:
            notes.append((k, f"含{removed}个控制字符（如NUL），已删除"))
        limit = NAME_MAX if k in NAME_FIELDS else TEXT_MAX
        if len(cleaned) > limit:
            notes.append((k, f"长{len(cleaned)}字，超过{limit}字，已截断"))
            cleaned = cap(cleaned, limit)
        out[k] = cleaned
    # the notice names the first such field (the site's column, in checks/quality.py) and says
    # what was done to each; the evidence keeps the row
    notice = BadField(notes[0][0], "；".join(n for _, n in notes), "invalid") if notes else None
    return out, fatal, notice


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
        if not s.isprintable():  # a NUL inside a time is damage, not a time (issue 10, item 4)
            raise BadField(field, "时间含控制字符（如NUL），无法识别")
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
                raise BadField(field, f"时间无法识别：{cap(s, 100)!r}") from None
    else:
        raise BadField(field, f"时间无法识别：{cap(repr(v), 100)}")
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


@overload
def choice(row: dict[str, Any], field: str, allowed: frozenset[str], *,
           default: str, required: bool = ...) -> str: ...
@overload
def choice(row: dict[str, Any], field: str, allowed: frozenset[str], *,
           default: None = ..., required: Literal[True]) -> str: ...
@overload
def choice(row: dict[str, Any], field: str, allowed: frozenset[str], *,
           default: str | None = ..., required: bool = ...) -> str | None: ...
def choice(row: dict[str, Any], field: str, allowed: frozenset[str], *,
           default: str | None = None, required: bool = False) -> str | None:
    """A lower-cased value from ``allowed``; a default or ``required`` makes it a plain str."""
    v = text(row, field, required=required)
    if v is None:
        return default
    v = v.lower()
    if v not in allowed:
        raise BadField(field, f"取值{v!r}不在允许范围（{'、'.join(sorted(allowed))}）")
    return v
