"""Column parsers: the field parsers of :mod:`sunlight.monitor.records.base`, for whole columns.

Each returns ``(value, bad)`` expressions. ``bad`` is true where the record
path *might* judge the value differently from the value given here (it may
raise :class:`BadField`, or read a shape this module does not): those rows are
handed to the record path, which then decides for itself. So ``bad`` may be
true too often (a cost), never too rarely (a wrong finding).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from sunlight.monitor.columnar.calendar import DAY_US, CalendarArrays
from sunlight.monitor.textsafe import NAME_MAX

# Python's str.strip() also strips \x1c-\x1f, which polars (Unicode White_Space) keeps
_PY_ONLY_SPACE = r"[\x1c-\x1f]"
# ASCII digits only ([0-9]: polars' \d is any Unicode digit, which Decimal() reads but a cast
# to Int64 refuses), and times of day Python accepts: 23:59:60 parses in polars (as the next
# midnight, a leap second) and not in datetime.fromisoformat
_ISO = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
        r"(?:[ T](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?)?$")
_WHOLE = r"^\+?[0-9]{1,9}(?:\.0*)?$"
MAX_WHOLE = 999_999_999


# what records.base.screen() acts on (textsafe.CONTROL_OR_BREAK, CONTROL): one pattern for
# every field, the wider one (a tab in a free text field is handed over too: a cost, not an error)
_CONTROL_OR_BREAK = r"[\x00-\x1f\x7f-\x9f]"


def unsafe(df: pl.DataFrame) -> pl.Expr:
    """Rows that :func:`sunlight.monitor.records.base.screen` may refuse, clean or cut.

    A control character or a line break anywhere, or a text longer than the
    shortest limit (``NAME_MAX``): the record path reads such a row (its
    data-quality notice, or its refusal) itself, so hostile rows give the
    findings of the record path (issue 10, item 4).
    """
    bad = _false()
    for name, dtype in df.schema.items():
        if dtype == pl.String:
            col = pl.col(name)
            bad = bad | (col.str.contains(_CONTROL_OR_BREAK) | (col.str.len_chars() > NAME_MAX)
                         ).fill_null(False)
    return bad


def _false() -> pl.Expr:
    return pl.lit(False)


def text(df: pl.DataFrame, name: str, *, required: bool = False) -> tuple[pl.Expr, pl.Expr]:
    """``records.base.text``: stripped, empty is missing."""
    col = pl.col(name)
    dtype = df.schema[name]
    if dtype == pl.String:
        s = col.str.strip_chars()
        value = pl.when(s == "").then(None).otherwise(s)
        bad = col.str.contains(_PY_ONLY_SPACE).fill_null(False)
    elif dtype.is_integer():
        value, bad = col.cast(pl.String), _false()
    elif dtype == pl.Null:
        value, bad = pl.lit(None, dtype=pl.String), _false()
    else:  # a float or a date as text: str() of it is the record path's business
        value, bad = pl.lit(None, dtype=pl.String), col.is_not_null()
    if required:
        bad = bad | value.is_null()
    return value, bad


def choice(df: pl.DataFrame, name: str, allowed: frozenset[str], default: str | None
           ) -> tuple[pl.Expr, pl.Expr]:
    """``records.base.choice``: lower-cased text from ``allowed``, ``default`` when missing."""
    value, bad = text(df, name)
    low = value.str.to_lowercase()
    ok = low.is_in(sorted(allowed)) & value.str.contains(r"^[\x00-\x7f]*$")
    bad = bad | (value.is_not_null() & ~ok.fill_null(False))
    out = low if default is None else low.fill_null(pl.lit(default))
    return out, bad


def timestamp(df: pl.DataFrame, name: str, out: str, tz: dt.tzinfo, cal: CalendarArrays, *,
              required: bool = False) -> tuple[pl.DataFrame, pl.Expr]:
    """``records.base.timestamp`` as the wall-clock time in ``tz``, in microseconds, as column ``out``.

    The record path compares aware datetimes that all carry the configured
    zone object, which Python compares by wall time; so the wall time is the
    whole truth here. Naive values are read in the zone; aware ones converted.
    Returns the frame with ``out`` and the expression of the rows to hand over.
    """
    col = pl.col(name)
    dtype = df.schema[name]
    us: pl.Expr
    bad: pl.Expr
    if dtype == pl.String:
        s = col.str.strip_chars()
        norm = s.str.replace("T", " ", literal=True)
        full = norm.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S%.f", strict=False)
        df = df.with_columns(full.dt.epoch("us").alias(out),
                             (s.is_null() | (s == "")).alias(f"{out}__missing"),
                             (s.str.contains(_ISO) & ~col.str.contains(_PY_ONLY_SPACE))
                             .fill_null(False).alias(f"{out}__shaped"))
        missing = pl.col(f"{out}__missing")
        if df.select((pl.col(out).is_null() & ~missing).any()).item():
            # the shorter ISO forms, parsed only when a batch has them (each pass costs)
            df = df.with_columns(pl.coalesce(
                pl.col(out),
                norm.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M", strict=False).dt.epoch("us"),
                norm.str.strptime(pl.Date, "%Y-%m-%d", strict=False).cast(pl.Datetime("us"))
                .dt.epoch("us"),
            ).alias(out))
        bad = ~missing & (~pl.col(f"{out}__shaped") | pl.col(out).is_null())
        df = df.with_columns(pl.when(missing).then(None).otherwise(pl.col(out)).alias(out))
    else:
        if isinstance(dtype, pl.Datetime):
            wall = col if dtype.time_zone is None else \
                col.dt.convert_time_zone(str(tz)).dt.replace_time_zone(None)
            us, bad = wall.dt.epoch("us"), _false()
        elif dtype == pl.Date:
            us, bad = col.cast(pl.Datetime("us")).dt.epoch("us"), _false()
        elif dtype == pl.Null:
            us, bad = pl.lit(None, dtype=pl.Int64), _false()
        else:
            us, bad = pl.lit(None, dtype=pl.Int64), col.is_not_null()
        df = df.with_columns(us.alias(out))
    v = pl.col(out)
    bad = bad | (v.is_not_null() & ~cal.in_span(v.floordiv(DAY_US)))
    if required:
        bad = bad | v.is_null()
    return df, bad


def whole(df: pl.DataFrame, name: str, *, required: bool = False) -> tuple[pl.Expr, pl.Expr]:
    """A non-negative whole number (limits, extensions, step numbers); anything else is handed over.

    A fractional limit is legal (rounded up, clock.py) but rare: the record path takes it.
    """
    col = pl.col(name)
    dtype = df.schema[name]
    if isinstance(dtype, pl.Decimal):  # by its digits: as a float, 15.000…001 would be whole
        col, dtype = col.cast(pl.String), pl.String()
    if dtype == pl.String:
        s = col.str.strip_chars()
        missing = s.is_null() | (s == "")
        ok = s.str.contains(_WHOLE).fill_null(False)
        value = pl.when(ok).then(s.str.extract(r"^\+?([0-9]+)", 1).cast(pl.Int64)).otherwise(None)
        bad = ~missing & ~ok
    elif dtype.is_integer():
        value = col.cast(pl.Int64)
        missing = col.is_null()
        bad = (value < 0) | (value > MAX_WHOLE)
    elif dtype.is_float():
        f = col.cast(pl.Float64)
        missing = col.is_null()
        ok = f.is_finite() & (f >= 0) & (f <= MAX_WHOLE) & (f == f.floor())
        value = pl.when(ok).then(f.cast(pl.Int64)).otherwise(None)
        bad = ~missing & ~ok.fill_null(False)
    elif dtype == pl.Null:
        value, missing, bad = pl.lit(None, dtype=pl.Int64), pl.lit(True), _false()
    else:
        value, missing, bad = pl.lit(None, dtype=pl.Int64), col.is_null(), col.is_not_null()
    bad = bad.fill_null(False)
    if required:
        bad = bad | missing
    return value, bad
