"""Which cases of a batch could fire which case check: the decision, column by column.

``shared/design/time-rules.md`` is the law, as in :mod:`sunlight.monitor.clock`;
each step below names the line of ``clock.py``/``checks/cases.py`` it mirrors.
All times are wall-clock microseconds in the configured zone, all days are
epoch days (see :mod:`sunlight.monitor.columnar.calendar`).

Evaluated here: cases with at most one pause (not on an hour limit) and at most
one extension, whole-number limits, every step. Everything else, and every
row that might not parse, is handed to the record path (``handover``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from sunlight.checks.cases import (
    CaseDueSoon,
    CaseOverdue,
    CaseOverdueStatutory,
    ExtensionInvalid,
    RefusalWithoutReason,
    RepeatedSupplement,
    StepOverdue,
)
from sunlight.checks.registry import CheckParams
from sunlight.monitor.columnar import fields as F
from sunlight.monitor.columnar.calendar import DAY_US, CalendarArrays
from sunlight.monitor.columnar.fetch import KEY
from sunlight.monitor.records.cases import OUTCOMES, PAUSE_KINDS, UNITS
from sunlight.monitor.records.org import UnitInfo

HOUR_US = 3_600_000_000

#: the checks this module decides; a cases check not listed makes the engine use the record path
FLAGS: dict[str, str] = {
    CaseOverdue.id: "f_overdue",
    CaseOverdueStatutory.id: "f_statutory",
    CaseDueSoon.id: "f_due_soon",
    StepOverdue.id: "f_step",
    ExtensionInvalid.id: "f_extension",
    RefusalWithoutReason.id: "f_refusal",
    # 补正 more than once needs two pauses: such cases are handed over whole
    RepeatedSupplement.id: "f_never",
}


@dataclass(frozen=True)
class Decision:
    """Per row of the batch that needs the record path: its position, and which checks."""

    rows: list[int]
    checks: list[tuple[str, ...] | None]  # None: every check (the row is handed over whole)


def _wall_us(at: dt.datetime) -> int:
    naive = at.replace(tzinfo=None)
    return (naive - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)


def _params(frame: pl.DataFrame, checks: tuple[str, ...], params: Mapping[str, CheckParams],
            units: Mapping[str, UnitInfo]) -> pl.DataFrame:
    """Each distinct (unit, item) of the batch with the parameters the engine would use."""
    combos = frame.select("unit_id", "item_code").unique()
    rows: dict[str, list[object]] = {"unit_id": [], "item_code": [], "warn": [], "max_ext": [],
                                     **{f"on_{c}": [] for c in checks}}
    ext_table = params.get(ExtensionInvalid.id)
    for unit_id, item_code in combos.iter_rows():
        info = units.get(unit_id) if unit_id else None
        kind = info.kind if info else None
        rows["unit_id"].append(unit_id)
        rows["item_code"].append(item_code)
        for c in checks:
            rows[f"on_{c}"].append(params[c].for_(unit_id, kind, item_code).enabled)
        warn: Decimal = params[CaseDueSoon.id].for_(unit_id, kind, item_code).warn_remaining  # type: ignore[attr-defined]
        rows["warn"].append(float(warn) + 1e-9)  # an over-estimate only hands a case over
        # (checks/cases.py _timing: the extension_invalid table, defaults when not configured)
        max_ext: Decimal = (ext_table.for_(unit_id, None if unit_id not in units else kind, item_code)
                            .max_extension if ext_table else Decimal(10))  # type: ignore[attr-defined]
        rows["max_ext"].append(math.floor(max_ext))
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "unit_id": pl.String, "item_code": pl.String, "warn": pl.Float64, "max_ext": pl.Int64,
        **{f"on_{c}": pl.Boolean for c in checks}}
    return pl.DataFrame(rows, schema=schema)


def _deadline(cal: CalendarArrays, unit: pl.Expr, start_us: pl.Expr, n: pl.Expr,
              p_s: pl.Expr | None = None, p_e: pl.Expr | None = None,
              has_pause: pl.Expr | None = None) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(first late instant, due day, stopped): ``clock.compute_deadline`` with at most one pause.

    Hour limits come here only without a pause (``clock._hour_deadline``; the
    record path adds the hours to the wall time, as Python's aware arithmetic does).
    """
    start = start_us.floordiv(DAY_US)
    workday = unit == "workday"
    cursor, remaining, stopped = start, n, pl.lit(False)
    if p_s is not None and p_e is not None and has_pause is not None:
        # clock._day_pauses drops a pause that ends on (or before) the day it starts
        live = has_pause & (p_e.is_null() | (p_e > p_s))
        # clock.compute_deadline: a pause over by the acceptance day changes nothing
        live = live & ~(p_e.is_not_null() & (p_e <= start))
        s = pl.max_horizontal(p_s, start)
        avail = pl.when(workday).then(cal.workdays_between(start, s)).otherwise(s - start)
        cut = live & (avail < n)
        stopped = cut & p_e.is_null()
        remaining = pl.when(cut).then(n - avail).otherwise(n)
        cursor = pl.when(cut & p_e.is_not_null()).then(p_e).otherwise(start)
    due_work = pl.when(remaining > 0).then(cal.add_workdays(cursor, remaining)).otherwise(start)
    due_day = cal.next_workday(cursor + remaining)
    due = pl.when(workday).then(due_work).otherwise(due_day)
    at = pl.when(unit == "hour").then(start_us + n * HOUR_US).otherwise((due + 1) * DAY_US)
    return pl.when(stopped).then(None).otherwise(at), due, stopped


def decide(cases: pl.DataFrame, pauses: pl.DataFrame | None, extensions: pl.DataFrame | None,
           steps: pl.DataFrame | None, *, at: dt.datetime, tz: dt.tzinfo, cal: CalendarArrays,
           checks: tuple[str, ...], params: Mapping[str, CheckParams],
           units: Mapping[str, UnitInfo], known_units: frozenset[str] | None,
           duplicate: Callable[[pl.Series], pl.Series] | None = None) -> pl.DataFrame:
    """The rows needing the record path: ``_row``, ``handover`` and one ``f_*`` column per flag."""
    at_us = _wall_us(at)
    at_day = at_us // DAY_US
    c = cases.with_row_index("_row")
    bad = pl.lit(False)
    exprs: dict[str, pl.Expr] = {}
    for name, required in (("case_id", True), ("unit_id", True), ("item_code", False),
                           ("outcome_reason", False)):
        exprs[name], b = F.text(c, name, required=required)
        bad = bad | b
    exprs["acc"], b = F.timestamp(c, "accepted_at", tz, cal, required=True)
    bad = bad | b
    exprs["comp"], b = F.timestamp(c, "completed_at", tz, cal)
    bad = bad | b
    exprs["prom"], b = F.whole(c, "promised_limit", required=True)
    bad = bad | b
    exprs["stat"], b = F.whole(c, "statutory_limit")
    bad = bad | b
    exprs["unit"], b = F.choice(c, "limit_unit", UNITS, "workday")
    bad = bad | b
    exprs["outcome"], b = F.choice(c, "outcome", OUTCOMES, None)
    bad = bad | b
    c = c.with_columns(**exprs, _bad=bad | pl.col(KEY).is_null() | pl.col(KEY).is_duplicated())
    c = c.with_columns(_bad=pl.col("_bad") | (pl.col("comp") < pl.col("acc")).fill_null(False))
    if known_units is not None:
        c = c.with_columns(_bad=pl.col("_bad") | ~pl.col("unit_id").is_in(sorted(known_units)))
    c = c.select("_row", KEY, "_bad", "unit_id", "item_code", "outcome_reason", "acc", "comp",
                 "prom", "stat", "unit", "outcome")

    # --- children: one row per case key, and the keys whose children need the record path
    if pauses is not None and pauses.height:
        pe: dict[str, pl.Expr] = {}
        pe["ps"], b1 = F.timestamp(pauses, "started_at", tz, cal, required=True)
        pe["pe"], b2 = F.timestamp(pauses, "ended_at", tz, cal)
        _, b3 = F.choice(pauses, "kind", PAUSE_KINDS, "supplement")
        p = pauses.with_columns(**pe).with_columns(
            _b=b1 | b2 | b3 | (pl.col("pe") < pl.col("ps")).fill_null(False))
        pg = p.group_by(KEY).agg(pl.len().alias("p_n"), pl.col("_b").any().alias("p_bad"),
                                 pl.col("ps").first(), pl.col("pe").first())
        c = c.join(pg, on=KEY, how="left")
    else:
        c = c.with_columns(p_n=pl.lit(None, pl.UInt32), p_bad=pl.lit(None, pl.Boolean),
                           ps=pl.lit(None, pl.Int64), pe=pl.lit(None, pl.Int64))
    if extensions is not None and extensions.height:
        ee: dict[str, pl.Expr] = {}
        ee["x"], b1 = F.whole(extensions, "extra", required=True)
        ee["x_at"], b2 = F.timestamp(extensions, "approved_at", tz, cal)
        ee["x_by"], b3 = F.text(extensions, "approved_by")
        _, b4 = F.text(extensions, "reason")
        x = extensions.with_columns(**ee).with_columns(_b=b1 | b2 | b3 | b4)
        xg = x.group_by(KEY).agg(pl.len().alias("x_n"), pl.col("_b").any().alias("x_bad"),
                                 pl.col("x").first(), pl.col("x_at").first(), pl.col("x_by").first())
        c = c.join(xg, on=KEY, how="left")
    else:
        c = c.with_columns(x_n=pl.lit(None, pl.UInt32), x_bad=pl.lit(None, pl.Boolean),
                           x=pl.lit(None, pl.Int64), x_at=pl.lit(None, pl.Int64),
                           x_by=pl.lit(None, pl.String))
    step_flags: pl.DataFrame | None = None
    if steps is not None and steps.height:
        se: dict[str, pl.Expr] = {}
        se["seq"], b1 = F.whole(steps, "seq", required=True)
        se["ss"], b2 = F.timestamp(steps, "started_at", tz, cal, required=True)
        se["sf"], b3 = F.timestamp(steps, "finished_at", tz, cal)
        se["sl"], b4 = F.whole(steps, "step_limit", required=True)
        se["su"], b5 = F.choice(steps, "limit_unit", UNITS, "workday")
        _, b6 = F.text(steps, "name")
        _, b7 = F.text(steps, "handler")
        s = steps.with_columns(**se).with_columns(
            _b=b1 | b2 | b3 | b4 | b5 | b6 | b7 | (pl.col("sf") < pl.col("ss")).fill_null(False))
        # as of ``at`` (CaseRecord.as_of): a later step does not exist, a later finish has not happened
        s = s.with_columns(sf=pl.when(pl.col("sf") > at_us).then(None).otherwise(pl.col("sf")))
        s_at, _, _ = _deadline(cal, pl.col("su"), pl.col("ss"), pl.col("sl"))
        end = pl.col("sf").fill_null(at_us)
        s = s.with_columns(
            _late=(pl.col("ss") <= at_us) & (end >= s_at).fill_null(True),  # beyond the span: record path
        )
        step_flags = s.group_by(KEY).agg(pl.col("_b").any().alias("s_bad"),
                                         pl.col("_late").any().alias("s_late"))
        c = c.join(step_flags, on=KEY, how="left")
    else:
        c = c.with_columns(s_bad=pl.lit(None, pl.Boolean), s_late=pl.lit(None, pl.Boolean))

    # --- rare shapes and rows that may not parse go to the record path whole
    c = c.with_columns(handover=(
        pl.col("_bad") | pl.col("p_bad").fill_null(False) | pl.col("x_bad").fill_null(False)
        | pl.col("s_bad").fill_null(False)
        | (pl.col("p_n").fill_null(0) > 1) | (pl.col("x_n").fill_null(0) > 1)
        | ((pl.col("p_n").fill_null(0) > 0) & (pl.col("unit") == "hour"))
    ).fill_null(True))
    # not yet accepted at ``at``: not a record (CaseRecord.as_of returns None)
    c = c.filter(pl.col("handover") | (pl.col("acc") <= at_us))

    # --- as of ``at`` (CaseRecord.as_of)
    later = (pl.col("comp") > at_us).fill_null(False)
    p_live = pl.col("p_n").fill_null(0).gt(0) & (pl.col("ps") <= at_us).fill_null(False)
    c = c.with_columns(
        comp=pl.when(later).then(None).otherwise(pl.col("comp")),
        outcome=pl.when(later).then(None).otherwise(pl.col("outcome")),
        outcome_reason=pl.when(later).then(None).otherwise(pl.col("outcome_reason")),
        has_p=p_live,
        p_s=pl.col("ps").floordiv(DAY_US),
        p_e=pl.when((pl.col("pe") > at_us).fill_null(False)).then(None)
        .otherwise(pl.col("pe")).floordiv(DAY_US),
        has_x=pl.col("x_n").fill_null(0).gt(0) & (pl.col("x_at").is_null() | (pl.col("x_at") <= at_us)),
    )

    # --- parameters of the unit and item (the engine's CheckParams.for_)
    c = c.join(_params(c, checks, params, units), on=["unit_id", "item_code"], how="left",
               nulls_equal=True)

    # --- extensions (checks/cases.py _timing): approved, within the maximum
    rejected = pl.col("has_x") & (pl.col("x_by").is_null() | (pl.col("x") > pl.col("max_ext")))
    total = pl.when(pl.col("has_x") & ~rejected).then(pl.col("x")).otherwise(0)
    c = c.with_columns(_rejected=rejected, _total=total)

    unit = pl.col("unit")
    p_s, p_e, has_p = pl.col("p_s"), pl.col("p_e"), pl.col("has_p")
    prom_at, prom_due, prom_stopped = _deadline(cal, unit, pl.col("acc"), pl.col("prom") + pl.col("_total"),
                                                p_s, p_e, has_p)
    stat_at, _, stat_stopped = _deadline(cal, unit, pl.col("acc"), pl.col("stat") + pl.col("_total"),
                                         p_s, p_e, has_p)
    c = c.with_columns(prom_at=prom_at, prom_due=prom_due, prom_stopped=prom_stopped.fill_null(False),
                       stat_at=stat_at, stat_stopped=stat_stopped.fill_null(False))
    end = pl.col("comp").fill_null(at_us)

    # --- time left (clock.time_left / counted_between), for case_due_soon
    day_a = pl.lit(at_day - 1)
    due = pl.col("prom_due")
    workday = unit == "workday"

    def count(x: pl.Expr, y: pl.Expr) -> pl.Expr:
        return pl.when(y > x).then(
            pl.when(workday).then(cal.workdays_between(x, y)).otherwise(y - x)).otherwise(0)

    pause_on = has_p & (p_e.is_null() | (p_e > p_s))
    lo = pl.max_horizontal(p_s, day_a)
    hi = pl.min_horizontal(p_e.fill_null(due), due)
    left_days = count(day_a, due) - pl.when(pause_on).then(count(lo, hi)).otherwise(0)
    left_hours = (pl.col("prom_at") - at_us).floordiv(1_000_000) / 3600
    left = pl.when(unit == "hour").then(left_hours - 0.05).otherwise(left_days.cast(pl.Float64))

    def on(check: str) -> pl.Expr:
        return pl.col(f"on_{check}") if check in checks else pl.lit(False)

    c = c.with_columns(
        # a deadline beyond the calendar's span is null without being stopped: the record path decides
        f_overdue=on(CaseOverdue.id) & ~pl.col("prom_stopped") & (end >= pl.col("prom_at")).fill_null(True),
        f_statutory=on(CaseOverdueStatutory.id) & pl.col("stat").is_not_null() & ~pl.col("stat_stopped")
        & (end >= pl.col("stat_at")).fill_null(True),
        f_due_soon=on(CaseDueSoon.id) & pl.col("comp").is_null() & ~pl.col("prom_stopped")
        & (pl.lit(at_us) < pl.col("prom_at")).fill_null(True) & (left <= pl.col("warn")).fill_null(True),
        f_step=on(StepOverdue.id) & pl.col("s_late").fill_null(False),
        f_extension=on(ExtensionInvalid.id) & pl.col("_rejected").fill_null(False),
        f_refusal=on(RefusalWithoutReason.id) & pl.col("outcome").is_in(["refused", "not_accepted"])
        .fill_null(False) & pl.col("outcome_reason").is_null(),
        f_never=pl.lit(False),
    )
    flags = [v for v in dict.fromkeys(FLAGS.values())]
    keep = pl.col("handover") | pl.any_horizontal(*(pl.col(f) for f in flags))
    return c.filter(keep).select("_row", "handover", *flags).sort("_row")


def decision(frame: pl.DataFrame, checks: tuple[str, ...]) -> Decision:
    """The rows of :func:`decide` as positions and check tuples."""
    rows: list[int] = []
    out: list[tuple[str, ...] | None] = []
    cols = [FLAGS[c] for c in checks]
    for row in frame.select("_row", "handover", *cols).iter_rows():
        rows.append(row[0])
        if row[1]:
            out.append(None)
        else:
            out.append(tuple(c for c, f in zip(checks, row[2:], strict=True) if f))
    return Decision(rows, out)
