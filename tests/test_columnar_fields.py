"""The column parsers read a value as the record path reads it, or hand its row over: never otherwise.

For every value a source driver can hand over (SQLite keeps any type in any
column; MySQL's drivers give Decimal and datetime), built into columns by the
columnar fetch itself (``fetch._columns``: a column of one type through polars,
a column whose type changes between rows as the text of each value), each
``fields`` parser either marks the row bad (the record path reads it) or gives
exactly the value ``records.base`` gives, and ``records.base`` does not refuse it.
The shapes a source commonly holds must be read in columns (not handed over),
or the columnar path would do nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.columnar import fetch
from sunlight.monitor.columnar import fields as F
from sunlight.monitor.columnar.calendar import CalendarArrays
from sunlight.monitor.records import base

TZ = ZoneInfo("Asia/Shanghai")
CAL = CalendarArrays.build(WorkCalendar())
EPOCH = dt.datetime(1970, 1, 1)

#: (raw value, read in columns?) — True: must not be handed over; False: must be; None: either
TIMES: list[tuple[Any, bool | None]] = [
    ("2026-10-19 13:30:00.000000", True),  # what SQLAlchemy's SQLite DateTime writes
    ("2026-10-19 13:30:00", True),  # no fractional seconds
    ("2026-10-19 13:30:00.5", True),  # a short fraction: half a second
    ("2026-10-19 13:30:00.123", True),
    ("2026-10-19 13:30", True),
    ("2026-10-19", True),  # date only: midnight
    ("2026-10-19T13:30:00", True),  # 'T' separator
    ("2026-10-19T13:30", True),
    (" 2026-10-19 13:30:00 ", True),
    ("\u30002026-10-19", True),  # an ideographic space, stripped by both
    ("2028-02-29 00:00", True),
    ("2026-10-19 13:30:00+08:00", False),  # a trailing zone: the record path converts it
    ("2026-10-19T05:30:00Z", False),
    ("2026-10-19 13:30:00 +0800", False),
    ("2026-10-19 13:30:00.1234567", False),  # 7 digits: fromisoformat cuts, strptime refuses
    ("2026-10-19 13", False),
    ("20261019", False),
    ("2026/10/19 13:30", False),
    ("20261019133000", False),
    ("2026-W42-1", False),  # an ISO week date: fromisoformat reads it
    ("2026-10-19t13:30", False),
    ("2026-10-19  13:30", False),
    ("2026-10-19 1:30", False),
    ("2026-10-19 13:30:5", False),
    ("2026-10-19 13:30:00,5", False),
    ("2026-10-19 23:59:60", False),  # a leap second: polars reads the next midnight, Python refuses
    ("2026-10-19 24:00:00", False),
    ("2026-10-19 13:60", False),
    ("2026-02-29", False),
    ("2026-13-01", False),
    ("+2026-10-19", False),
    ("٢٠٢٦-١٠-١٩", False),  # Arabic-Indic digits
    ("２０２６-１０-１９", False),  # full-width digits
    ("2026-10-19 13:30\x1f", False),  # Python's strip() removes \x1f, polars' does not
    ("2026-10-19\x0013:30", False),  # a NUL: damage (records.base refuses it)
    ("garbage", False),
    ("1999-12-31", False),  # outside the calendar: data quality on the record path
    ("2061-01-01", False),
    ("", True), ("   ", True), (None, True),  # missing
    (20261019, False),  # a number in a timestamp column
    (20261019.5, False),
    (1792416600, False),
    (b"2026-10-19", False),  # a BLOB
    (dt.datetime(2026, 10, 19, 13, 30, 0, 250000), True),  # MySQL drivers: datetime and date
    (dt.date(2026, 10, 19), True),
]

#: (raw value, read in columns?) for the whole-number fields (limits, extensions, step numbers)
WHOLES: list[tuple[Any, bool | None]] = [
    (5, True), (0, True), (999_999_999, True), (5.0, True), ("5", True), (" 5 ", True),
    ("+5", True), ("5.0", True), ("5.", True), ("005", True), ("", True), (None, True),
    (5.5, False), ("5.5", False), (-5, False), ("-5", False), ("-0", False),
    (1_000_000_000, False), ("1000000000", False), (2**63 - 1, False), ("1e1", False),
    ("1e12", False), (1e12, False), (float("inf"), False), ("五", False), ("١٥", False),
    ("１５", False), ("0x10", False), ("5\x1f", False), (b"5", False),
    (Decimal("5.00"), True), (Decimal("5"), True), (Decimal("5.50"), False),
    (Decimal("5.000000000000000000001"), False), (Decimal("-1.00"), False),
    (Decimal("1E+1"), False),
]

TEXTS: list[tuple[Any, bool | None]] = [
    ("王芳", True), (" 王芳 ", True), ("", True), ("   ", True), (None, True), ("a\u3000", True),
    (15, True), (-3, True),
    ("\x1fa", False),  # \x1c-\x1f: Python strips them, polars does not
    (15.5, None), (1e16, None), (b"ab", None), (Decimal("1.50"), None),
    (dt.datetime(2026, 10, 19, 13, 30), None),
]

CHOICES: list[tuple[Any, bool | None]] = [
    ("workday", True), (" WorkDay ", True), ("DAY", True), ("hour", True), ("", True),
    (None, True), ("fortnight", False), ("İ", False), ("workday\x1f", False), (1, False),
    (1.5, False), (b"day", False),
]


def _batches(values: list[tuple[Any, bool | None]]
             ) -> list[tuple[list[tuple[Any, bool | None]], pl.DataFrame]]:
    """The values as the fetch builds them: all in one batch (their types mixed: what is said of
    each alone need not hold there), and one batch per value (a column of one type)."""
    rows = [(f"k{i}", v) for i, (v, _) in enumerate(values)]
    out = [([(v, None) for v, _ in values], fetch._columns(("case_id", "v"), 0, rows))]
    out += [([e], fetch._columns(("case_id", "v"), 0, [r])) for e, r in zip(values, rows, strict=True)]
    return out


def _agree(values: list[tuple[Any, bool | None]], parse: Any, record: Any) -> None:
    """``parse(frame) -> (values, bad)`` against ``record(value)``, for every value and batch."""
    for expected, frame in _batches(values):
        got, bad = parse(frame)
        for (v, expect), g, b in zip(expected, got, bad, strict=True):
            if expect is not None:
                assert b is not expect, f"{v!r}: {'handed over' if b else 'read in columns'}"
            if b:
                continue  # the record path reads the row: whatever it says is the truth
            try:
                want = record(v)
            except base.BadField as exc:
                pytest.fail(f"{v!r}: read in columns as {g!r}, the record path refuses it: {exc}")
            assert g == want, f"{v!r}: columns {g!r}, record path {want!r}"


def _wall_us(v: dt.datetime | None) -> int | None:
    return None if v is None else (v.replace(tzinfo=None) - EPOCH) // dt.timedelta(microseconds=1)


def test_timestamps_are_read_as_the_record_path_reads_them() -> None:
    def parse(frame: pl.DataFrame) -> tuple[list[Any], list[bool]]:
        out, bad = F.timestamp(frame, "v", "t", TZ, CAL)
        res = out.select(pl.col("t"), bad.alias("bad"))
        return res["t"].to_list(), res["bad"].to_list()

    _agree(TIMES, parse, lambda v: _wall_us(base.timestamp({"v": v}, "v", TZ, required=False)))


def test_required_timestamps_hand_over_the_missing_ones() -> None:
    frame = fetch._columns(("case_id", "v"), 0, [("a", None), ("b", " "), ("c", "2026-10-19")])
    out, bad = F.timestamp(frame, "v", "t", TZ, CAL, required=True)
    assert out.select(bad.alias("bad"))["bad"].to_list() == [True, True, False]


def test_whole_numbers_are_read_as_the_record_path_reads_them() -> None:
    def parse(frame: pl.DataFrame) -> tuple[list[Any], list[bool]]:
        value, bad = F.whole(frame, "v")
        res = frame.select(value.alias("x"), bad.alias("bad"))
        return res["x"].to_list(), res["bad"].to_list()

    _agree(WHOLES, parse, lambda v: base.integer({"v": v}, "v", required=False))


def test_texts_are_read_as_the_record_path_reads_them() -> None:
    def parse(frame: pl.DataFrame) -> tuple[list[Any], list[bool]]:
        value, bad = F.text(frame, "v")
        res = frame.select(value.alias("x"), bad.alias("bad"))
        return res["x"].to_list(), res["bad"].to_list()

    _agree(TEXTS, parse, lambda v: base.text({"v": v}, "v", required=False))


def test_choices_are_read_as_the_record_path_reads_them() -> None:
    units = frozenset({"workday", "day", "hour"})

    def parse(frame: pl.DataFrame) -> tuple[list[Any], list[bool]]:
        value, bad = F.choice(frame, "v", units, "workday")
        res = frame.select(value.alias("x"), bad.alias("bad"))
        return res["x"].to_list(), res["bad"].to_list()

    _agree(CHOICES, parse, lambda v: base.choice({"v": v}, "v", units, default="workday"))


def test_a_column_whose_type_changes_is_the_text_of_each_value() -> None:
    """polars would print a float its own way (1e16, not 1e+16) or null a Decimal it cannot fit."""
    rows = [("a", 1e16, Decimal("123456789012345678901234567890.12"), 5),
            ("b", "x", Decimal("1.123456789"), 5.0),
            (7, None, None, "5")]
    frame = fetch._columns(("case_id", "f", "d", "n"), 0, rows)
    assert frame["f"].to_list() == ["1e+16", "x", None]
    assert frame["d"].to_list() == ["123456789012345678901234567890.12", "1.123456789", None]
    assert frame["n"].to_list() == ["5", "5.0", "5"]
    assert frame[fetch.KEY].to_list() == ["a", "b", "7"]  # the record path merges on str(key)
    # a column of one type keeps its type; integer keys are their text too
    one = fetch._columns(("case_id", "n", "t"), 0, [(1, 5, "x"), (2, None, "y")])
    assert one.schema["n"] == pl.Int64 and one.schema["t"] == pl.String
    assert one[fetch.KEY].to_list() == ["1", "2"]
    floats = fetch._columns(("case_id",), 0, [(1.5,), (2.0,)])
    assert floats[fetch.KEY].to_list() == ["1.5", "2.0"]


def test_a_decimal_column_is_whole_by_its_digits() -> None:
    """As a float, 5.000000000000000000001 is 5.0: whole, where the record path refuses it."""
    frame = pl.DataFrame({"v": pl.Series([Decimal("5.00"), Decimal("5.000000000000000000001"),
                                          Decimal("-1"), None])})
    assert isinstance(frame.schema["v"], pl.Decimal)
    value, bad = F.whole(frame, "v")
    res = frame.select(value.alias("x"), bad.alias("bad"))
    assert res["x"].to_list()[0] == 5 and res["bad"].to_list() == [False, True, True, False]
