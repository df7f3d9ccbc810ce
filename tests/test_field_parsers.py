"""The field parsers' fast paths give what the plain paths gave (bench optimisations).

Each expectation is written out by hand, not computed by the parser.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from sunlight.monitor.records.base import BadField, decimal, integer, text, timestamp

TZ = ZoneInfo("Asia/Shanghai")


def test_naive_timestamp_is_read_in_the_configured_zone() -> None:
    got = timestamp({"t": dt.datetime(2026, 8, 3, 9, 15, 7, 123)}, "t", TZ)
    assert got == dt.datetime(2026, 8, 3, 9, 15, 7, 123, tzinfo=TZ)
    assert got.tzinfo is TZ and got.utcoffset() == dt.timedelta(hours=8)


def test_naive_timestamp_keeps_fold() -> None:
    got = timestamp({"t": dt.datetime(2026, 11, 1, 1, 30, fold=1)}, "t", TZ)
    assert got.fold == 1 and got.tzinfo is TZ


def test_text_and_aware_timestamps() -> None:
    assert timestamp({"t": " 2026-08-03 09:15:00.000000 "}, "t", TZ) == dt.datetime(
        2026, 8, 3, 9, 15, tzinfo=TZ)
    utc = dt.datetime(2026, 8, 3, 1, 0, tzinfo=dt.UTC)
    assert timestamp({"t": utc}, "t", TZ) == dt.datetime(2026, 8, 3, 9, 0, tzinfo=TZ)


def test_decimal_from_driver_types() -> None:
    assert decimal({"x": Decimal("15.00")}, "x") == Decimal("15.00")
    assert str(decimal({"x": Decimal("15.00")}, "x")) == "15.00"
    assert str(decimal({"x": 15}, "x")) == "15"
    assert str(decimal({"x": 0.1}, "x")) == "0.1"  # a float goes through str(), not binary
    assert str(decimal({"x": " 2.5 "}, "x")) == "2.5"


@pytest.mark.parametrize("bad", [True, Decimal("NaN"), "abc", -1, Decimal("-0.5")])
def test_decimal_rejects(bad: object) -> None:
    with pytest.raises(BadField):
        decimal({"x": bad}, "x")


def test_text() -> None:
    assert text({"a": "  城关镇 "}, "a") == "城关镇"
    assert text({"a": 42}, "a") == "42"
    assert text({"a": "   "}, "a", required=False) is None
    assert text({}, "a", required=False) is None
    with pytest.raises(BadField):
        text({"a": " "}, "a")


def test_integer() -> None:
    assert integer({"n": 3}, "n") == 3
    assert integer({"n": Decimal("2.0")}, "n") == 2
    assert integer({"n": "7"}, "n") == 7
    for bad in (-1, 2.5, True, "x"):
        with pytest.raises(BadField):
            integer({"n": bad}, "n")
