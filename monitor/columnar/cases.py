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
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from sunlight.checks.cases import (
    CaseDueSoon,
    CaseOverdue,
    CaseOverdueStatutory,
    ExtensionInvalid,
    RefusalWithoutReason,
    StepOverdue,
)
from sunlight.checks.publications import CaseResultUnpublished
from sunlight.checks.registry import CheckParams
from sunlight.monitor.columnar import fields as F
from sunlight.monitor.columnar.calendar import DAY_US, CalendarArrays
from sunlight.monitor.columnar.fetch import KEY
from sunlight.monitor.columnar.scope import FLAGS
from sunlight.monitor.records.cases import OUTCOMES, PAUSE_KINDS, UNITS
from sunlight.monitor.records.org import UnitInfo

HOUR_US = 3_600_000_000

#: the parsed columns :func:`decide` returns with each row, as read (before ``as of``)
BUILD = ("case_id", "unit_id", "item_code", "item_name", "handler", "statutory_basis",
         "acc", "acc_o", "comp0", "comp_o", "prom", "stat", "unit", "outcome0", "reason0",
         "p_n", "p_kind", "ps", "ps_o", "pe", "pe_o",
         "x_n", "x", "x_by", "x_at", "x_at_o", "x_reason", KEY)


@dataclass(frozen=True)
class Decision:
    """Per row of the batch that needs the record path: its position, and which checks."""

    rows: list[int]
    checks: list[tuple[str, ...] | None]  # None: every check (the row is handed over whole)


def _wall_us(at: dt.datetime) -> int:
    naive = at.replace(tzinfo=None)
    return (naive - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)


def wall_us(at: dt.datetime) -> int:
    """An aware time as wall-clock microseconds in its own zone (what the record path compares)."""
    return _wall_us(at)


def _params(frame: pl.DataFrame, checks: tuple[str, ...], params: Mapping[str, CheckParams],
            units: Mapping[str, UnitInfo]) -> pl.DataFrame:
    """Each distinct (unit, item) of the batch with the parameters the engine would use."""
    combos = frame.select("unit_id", "item_code").unique()
    rows: dict[str, list[object]] = {"unit_id": [], "item_code": [], "warn": [], "max_ext": [],
                                     "within": [], "subject": [], **{f"on_{c}": [] for c in checks}}
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
        result = params[CaseResultUnpublished.id].for_(unit_id, kind, item_code)
        rows["within"].append(result.within)  # type: ignore[attr-defined]
        rows["subject"].append(result.subject)  # type: ignore[attr-defined]
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "unit_id": pl.String, "item_code": pl.String, "warn": pl.Float64, "max_ext": pl.Int64,
        "within": pl.Int64, "subject": pl.String,
        **{f"on_{c}": pl.Boolean for c in checks}}
    return pl.DataFrame(rows, schema=schema)


def _deadline(df: pl.DataFrame, cal: CalendarArrays, out: str, unit: str, start_us: str, n: str,
              pause: bool = False) -> pl.DataFrame:
    """``clock.compute_deadline`` with at most one pause, as columns ``out_at``, ``out_due``, ``out_stopped``.

    ``out_at`` is the first late instant (null while stopped, or beyond the
    calendar's span), ``out_due`` the last day that counts. With ``pause`` the
    frame has ``has_p``, ``p_s``, ``p_e`` (the pause's first and last day, as
    of ``at``). Hour limits come here only without a pause (``clock._hour_deadline``;
    the record path adds the hours to the wall time, as Python's aware arithmetic does).
    Each step is its own column: polars evaluates a reused expression again each time.
    """
    U, S, N = pl.col(unit), pl.col(f"{out}__start"), pl.col(n)
    workday = U == "workday"
    df = df.with_columns(pl.col(start_us).floordiv(DAY_US).alias(f"{out}__start"))
    if pause:
        p_s, p_e = pl.col("p_s"), pl.col("p_e")
        # clock._day_pauses drops a pause that ends on (or before) the day it starts;
        # compute_deadline skips one over by the acceptance day
        live = pl.col("has_p") & (p_e.is_null() | (p_e > p_s)) & ~(p_e.is_not_null() & (p_e <= S))
        df = df.with_columns(live.alias(f"{out}__live"), pl.max_horizontal(p_s, S).alias(f"{out}__s"))
        s = pl.col(f"{out}__s")
        avail = pl.when(workday).then(cal.workdays_between(S, s)).otherwise(s - S)
        df = df.with_columns((pl.col(f"{out}__live") & (avail < N)).alias(f"{out}__cut"),
                             avail.alias(f"{out}__avail"))
        cut = pl.col(f"{out}__cut")
        df = df.with_columns(
            (cut & p_e.is_null()).fill_null(False).alias(f"{out}_stopped"),
            pl.when(cut).then(N - pl.col(f"{out}__avail")).otherwise(N).alias(f"{out}__rem"),
            pl.when(cut & p_e.is_not_null()).then(p_e).otherwise(S).alias(f"{out}__cur"),
        )
    else:
        df = df.with_columns(pl.lit(False).alias(f"{out}_stopped"), N.alias(f"{out}__rem"),
                             S.alias(f"{out}__cur"))
    rem, cur = pl.col(f"{out}__rem"), pl.col(f"{out}__cur")
    due = (pl.when(workday).then(pl.when(rem > 0).then(cal.add_workdays(cur, rem)).otherwise(S))
           .otherwise(cal.next_workday(cur + rem)))
    df = df.with_columns(due.alias(f"{out}_due"))
    at = pl.when(U == "hour").then(pl.col(start_us) + N * HOUR_US) \
        .otherwise((pl.col(f"{out}_due") + 1) * DAY_US)
    return df.with_columns(pl.when(pl.col(f"{out}_stopped")).then(None).otherwise(at).alias(f"{out}_at"))


def decide(cases: pl.DataFrame, pauses: pl.DataFrame | None, extensions: pl.DataFrame | None,
           steps: pl.DataFrame | None, *, at: dt.datetime, tz: dt.tzinfo, cal: CalendarArrays,
           checks: tuple[str, ...], params: Mapping[str, CheckParams],
           units: Mapping[str, UnitInfo], known_units: frozenset[str] | None,
           published: dict[str, dict[str, int]] | None = None,
           tally_days: int | None = None, tallies: list[pl.DataFrame] | None = None,
           index: list[pl.DataFrame] | None = None,
           parts: dict[str, pl.DataFrame] | None = None) -> pl.DataFrame:
    """The rows needing the record path: ``_row``, ``handover``, one ``f_*`` column per flag.

    And the parsed values of :data:`BUILD`, from which
    :mod:`sunlight.monitor.columnar.records` builds the records of the rows not
    handed over (their steps go to ``parts["steps"]`` when ``parts`` is given).

    ``published``: per publication subject, the case ids publications refer to
    with the wall time of the first (None: the source has no publications, so
    case_result_unpublished cannot fire). With ``tally_days``, the per-unit case
    figures of the rows not handed over are appended to ``tallies``. With
    ``index``, their time-index entries (``case_id``, wall microseconds or
    null), as :func:`sunlight.monitor.records.due.next_due` computes them.
    """
    if tallies is None:
        tallies = []
    at_us = _wall_us(at)
    at_day = at_us // DAY_US
    c = cases.with_row_index("_row")
    bad = F.unsafe(cases)  # hostile text: the record path screens it (records.base.screen)
    exprs: dict[str, pl.Expr] = {}
    for name, required in (("case_id", True), ("unit_id", True), ("item_code", False),
                           ("outcome_reason", False), ("item_name", False), ("handler", False),
                           ("statutory_basis", False)):
        exprs[name], b = F.text(c, name, required=required)
        bad = bad | b
    exprs["prom"], b = F.whole(c, "promised_limit", required=True)
    bad = bad | b
    exprs["stat"], b = F.whole(c, "statutory_limit")
    bad = bad | b
    exprs["unit"], b = F.choice(c, "limit_unit", UNITS, "workday")
    bad = bad | b
    exprs["outcome"], b = F.choice(c, "outcome", OUTCOMES, None)
    bad = bad | b
    c = c.with_columns(**{f"{k}__b": v for k, v in exprs.items()}, _bad0=bad)
    c, b1 = F.timestamp(c, "accepted_at", "acc", tz, cal, required=True)
    c, b2 = F.timestamp(c, "completed_at", "comp", tz, cal)
    c = c.drop([k for k in exprs if k in c.columns]).rename({f"{k}__b": k for k in exprs})
    bad = pl.col("_bad0") | b1 | b2 | pl.col(KEY).is_null() | pl.col(KEY).is_duplicated() \
        | (pl.col("comp") < pl.col("acc")).fill_null(False)
    if known_units is not None:
        bad = bad | ~pl.col("unit_id").is_in(sorted(known_units)).fill_null(False)
    c = c.with_columns(_bad=bad)
    c = c.select("_row", KEY, "_bad", "case_id", "unit_id", "item_code", "outcome_reason", "acc", "comp",
                 "prom", "stat", "unit", "outcome", "item_name", "handler", "statutory_basis",
                 pl.col("accepted_at").alias("acc_o"), pl.col("completed_at").alias("comp_o"))

    # --- children: one row per case key, and whether they need the record path
    if pauses is not None and pauses.height:
        p, b1 = F.timestamp(pauses, "started_at", "ps", tz, cal, required=True)
        p, b2 = F.timestamp(p, "ended_at", "pe", tz, cal)
        pk, b3 = F.choice(p, "kind", PAUSE_KINDS, "supplement")
        p = p.with_columns(_b=b1 | b2 | b3 | F.unsafe(pauses)
                           | (pl.col("pe") < pl.col("ps")).fill_null(False), p_kind=pk)
        pg = p.group_by(KEY).agg(pl.len().alias("p_n"), pl.col("_b").any().alias("p_bad"),
                                 pl.col("ps").first(), pl.col("pe").first(), pl.col("p_kind").first(),
                                 pl.col("started_at").first().alias("ps_o"),
                                 pl.col("ended_at").first().alias("pe_o"))
        c = c.join(pg, on=KEY, how="left")
    else:
        c = c.with_columns(p_n=pl.lit(None, pl.UInt32), p_bad=pl.lit(None, pl.Boolean),
                           ps=pl.lit(None, pl.Int64), pe=pl.lit(None, pl.Int64),
                           p_kind=pl.lit(None, pl.String), ps_o=pl.lit(None, pl.Int64),
                           pe_o=pl.lit(None, pl.Int64))
    if extensions is not None and extensions.height:
        x, b2 = F.timestamp(extensions, "approved_at", "x_at", tz, cal)
        xv, b1 = F.whole(x, "extra", required=True)
        xb, b3 = F.text(x, "approved_by")
        xr, b4 = F.text(x, "reason")
        x = x.with_columns(x=xv, x_by=xb, x_reason=xr, _b=b1 | b2 | b3 | b4 | F.unsafe(extensions))
        xg = x.group_by(KEY).agg(pl.len().alias("x_n"), pl.col("_b").any().alias("x_bad"),
                                 pl.col("x").first(), pl.col("x_at").first(), pl.col("x_by").first(),
                                 pl.col("x_reason").first(),
                                 pl.col("approved_at").first().alias("x_at_o"))
        c = c.join(xg, on=KEY, how="left")
    else:
        c = c.with_columns(x_n=pl.lit(None, pl.UInt32), x_bad=pl.lit(None, pl.Boolean),
                           x=pl.lit(None, pl.Int64), x_at=pl.lit(None, pl.Int64),
                           x_by=pl.lit(None, pl.String), x_reason=pl.lit(None, pl.String),
                           x_at_o=pl.lit(None, pl.Int64))
    if steps is not None and steps.height:
        st, b2 = F.timestamp(steps, "started_at", "ss", tz, cal, required=True)
        st, b3 = F.timestamp(st, "finished_at", "sf", tz, cal)
        seq, b1 = F.whole(st, "seq", required=True)
        sl, b4 = F.whole(st, "step_limit", required=True)
        su, b5 = F.choice(st, "limit_unit", UNITS, "workday")
        s_name, b6 = F.text(st, "name")
        s_handler, b7 = F.text(st, "handler")
        st = st.with_columns(sl=sl, su=su, s_seq=seq, s_name=s_name, s_handler=s_handler,
                             sf0=pl.col("sf"),
                             _b=b1 | b2 | b3 | b4 | b5 | b6 | b7 | F.unsafe(steps)
                             | (pl.col("sf") < pl.col("ss")).fill_null(False))
        # the time index (records/due.py): a step's start or finish still to come
        tick = (at_day + 1) * DAY_US
        later = pl.col("sf") > at_us
        unfinished = (pl.col("ss") <= at_us) & (pl.col("sf").is_null() | later)
        st = st.with_columns(
            _s_ev=pl.min_horizontal(pl.when(pl.col("ss") > at_us).then(pl.col("ss")),
                                    pl.when(later).then(pl.col("sf"))), _s_open=unfinished)
        # as of ``at`` (CaseRecord.as_of): a later step does not exist, a later finish has not happened
        st = st.with_columns(sf=pl.when(later).then(None).otherwise(pl.col("sf")))
        st = _deadline(st, cal, "sd", "su", "ss", "sl")
        end = pl.col("sf").fill_null(at_us)
        # a deadline beyond the calendar's span is null: the record path decides
        st = st.with_columns(_late=(pl.col("ss") <= at_us) & (end >= pl.col("sd_at")).fill_null(True))
        # an unfinished step (checks.cases.open_boundary): late, its count moves (the next
        # midnight, every cycle for hours); else its deadline
        st = st.with_columns(_s_tick=pl.when(pl.col("_s_open")).then(
            pl.when(pl.col("_late")).then(
                pl.when(pl.col("su") == "hour").then(pl.lit(at_us)).otherwise(pl.lit(tick)))
            .otherwise(pl.col("sd_at"))))
        sg = st.group_by(KEY).agg(pl.col("_b").any().alias("s_bad"), pl.col("_late").any().alias("s_late"),
                                  pl.col("_s_ev").min(), pl.col("_s_tick").min())
        if parts is not None:  # the steps as read (before ``as of``), to build the records from
            parts["steps"] = st.select(KEY, "s_seq", "s_name", "s_handler", "ss", "sf0", "sl", "su",
                                       pl.col("started_at").alias("ss_o"),
                                       pl.col("finished_at").alias("sf_o"))
        c = c.join(sg, on=KEY, how="left")
    else:
        c = c.with_columns(s_bad=pl.lit(None, pl.Boolean), s_late=pl.lit(None, pl.Boolean),
                           _s_ev=pl.lit(None, pl.Int64), _s_tick=pl.lit(None, pl.Int64))

    # --- rare shapes and rows that may not parse go to the record path whole
    c = c.with_columns(handover=(
        pl.col("_bad") | pl.col("p_bad").fill_null(False) | pl.col("x_bad").fill_null(False)
        | pl.col("s_bad").fill_null(False)
        | (pl.col("p_n").fill_null(0) > 1) | (pl.col("x_n").fill_null(0) > 1)
        | ((pl.col("p_n").fill_null(0) > 0) & (pl.col("unit") == "hour"))
    ).fill_null(True))
    if index is not None:  # the rows not accepted yet: their events (the others below)
        index.append(_index(c.filter(pl.col("acc") > at_us), at_us, at_day))
    c = c.with_columns(_h0=pl.col("handover"))
    # not yet accepted at ``at``: not a record (CaseRecord.as_of returns None)
    c = c.filter(pl.col("handover") | (pl.col("acc") <= at_us))

    # --- as of ``at`` (CaseRecord.as_of); the values as read are kept to build the records from
    later = (pl.col("comp") > at_us).fill_null(False)
    c = c.with_columns(comp0=pl.col("comp"), outcome0=pl.col("outcome"),
                       reason0=pl.col("outcome_reason"))
    c = c.with_columns(
        comp=pl.when(later).then(None).otherwise(pl.col("comp")),
        outcome=pl.when(later).then(None).otherwise(pl.col("outcome")),
        outcome_reason=pl.when(later).then(None).otherwise(pl.col("outcome_reason")),
        has_p=pl.col("p_n").fill_null(0).gt(0) & (pl.col("ps") <= at_us).fill_null(False),
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
    c = c.with_columns(_rejected=rejected.fill_null(False))
    c = c.with_columns(_total=pl.when(pl.col("has_x") & ~pl.col("_rejected")).then(pl.col("x")).otherwise(0))
    c = c.with_columns(_pn=pl.col("prom") + pl.col("_total"), _sn=pl.col("stat") + pl.col("_total"))
    c = _deadline(c, cal, "pd", "unit", "acc", "_pn", pause=True)
    c = _deadline(c, cal, "sd", "unit", "acc", "_sn", pause=True)
    # a deadline beyond the calendar's span (null, not stopped): the record path makes the row a
    # data-quality finding and counts it nowhere else (engine), so the whole row goes there
    c = c.with_columns(handover=pl.col("handover")
                       | (pl.col("pd_at").is_null() & ~pl.col("pd_stopped")).fill_null(True)
                       | (pl.col("stat").is_not_null() & pl.col("sd_at").is_null()
                          & ~pl.col("sd_stopped")).fill_null(True))
    end = pl.col("comp").fill_null(at_us)

    # --- time left (clock.time_left / counted_between), for case_due_soon
    a = pl.lit(at_day - 1)
    due = pl.col("pd_due")
    unit = pl.col("unit")
    workday = unit == "workday"
    p_s, p_e, has_p = pl.col("p_s"), pl.col("p_e"), pl.col("has_p")

    def count(x: pl.Expr, y: pl.Expr) -> pl.Expr:
        return pl.when(y > x).then(
            pl.when(workday).then(cal.workdays_between(x, y)).otherwise(y - x)).otherwise(0)

    c = c.with_columns(_lo=pl.max_horizontal(p_s, a), _hi=pl.min_horizontal(p_e.fill_null(due), due),
                       _pon=has_p & (p_e.is_null() | (p_e > p_s)))
    left_days = count(a, due) - pl.when(pl.col("_pon")).then(count(pl.col("_lo"), pl.col("_hi"))).otherwise(0)
    left_hours = (pl.col("pd_at") - at_us).floordiv(1_000_000) / 3600
    left = pl.when(unit == "hour").then(left_hours - 0.05).otherwise(left_days.cast(pl.Float64))

    def on(check: str) -> pl.Expr:
        return pl.col(f"on_{check}") if check in checks else pl.lit(False)

    c = c.with_columns(
        # a deadline beyond the calendar's span is null without being stopped: the record path decides
        f_overdue=on(CaseOverdue.id) & ~pl.col("pd_stopped") & (end >= pl.col("pd_at")).fill_null(True),
        f_statutory=on(CaseOverdueStatutory.id) & pl.col("stat").is_not_null() & ~pl.col("sd_stopped")
        & (end >= pl.col("sd_at")).fill_null(True),
        f_due_soon=on(CaseDueSoon.id) & pl.col("comp").is_null() & ~pl.col("pd_stopped")
        & (pl.lit(at_us) < pl.col("pd_at")).fill_null(True) & (left <= pl.col("warn")).fill_null(True),
        f_step=on(StepOverdue.id) & pl.col("s_late").fill_null(False),
        f_extension=on(ExtensionInvalid.id) & pl.col("_rejected"),
        f_refusal=on(RefusalWithoutReason.id) & pl.col("outcome").is_in(["refused", "not_accepted"])
        .fill_null(False) & pl.col("outcome_reason").is_null(),
        f_never=pl.lit(False),
    )
    # case_result_unpublished (checks/publications.py): the result is due ``within`` working days
    # after completion; a case any publication names is left to the record path to judge
    if published is None or CaseResultUnpublished.id not in checks:
        c = c.with_columns(f_published=pl.lit(False))
    else:
        c = c.with_columns(_cday=pl.col("comp").floordiv(DAY_US))
        c = c.with_columns(_pdue=pl.when(pl.col("within") > 0)
                           .then(cal.add_workdays(pl.col("_cday"), pl.col("within")))
                           .otherwise(pl.col("_cday")))
        subjects = c.get_column("subject").drop_nulls().unique().to_list()
        if len(subjects) == 1:  # the usual config: one subject for result notices
            first = published.get(subjects[0], {})
            pub = pl.DataFrame({"case_id": list(first), "_pub": list(first.values())},
                               schema={"case_id": pl.String, "_pub": pl.Int64})
            c = c.join(pub, on="case_id", how="left")
            pub_end = pl.col("_pub").fill_null(at_us)
        else:  # several subjects: any case a publication names goes to the record path
            named = sorted({k for m in published.values() for k in m})
            pub_end = pl.when(pl.col("case_id").is_in(named)).then(None).otherwise(pl.lit(at_us))
        c = c.with_columns(f_published=on(CaseResultUnpublished.id) & pl.col("comp").is_not_null()
                           & (pub_end >= (pl.col("_pdue") + 1) * DAY_US).fill_null(True))
    if index is not None:
        index.append(_open_index(c, at_us, at_day, left_days))
    flags = list(dict.fromkeys(FLAGS.values()))
    keep = pl.col("handover") | pl.any_horizontal(*(pl.col(f).fill_null(True) for f in flags))
    if tally_days is not None:
        tallies.append(_tally(c.filter(~pl.col("handover")), at_us, tally_days))
    return c.filter(keep).select("_row", "handover", *flags, *BUILD).sort("_row")


def _index(c: pl.DataFrame, at_us: int, at_day: int) -> pl.DataFrame:
    """``records.due.next_due`` of the rows not handed over, before ``as_of`` (raw times).

    The earliest of: every event after ``at`` (acceptance, completion, the one
    pause's start and end, the one extension's approval, a step's start or
    finish), and for an accepted case open at ``at`` or a step unfinished at
    ``at``, ``at`` itself for an hour limit and the next midnight otherwise.
    """
    def later(col: str) -> pl.Expr:
        return pl.when(pl.col(col) > at_us).then(pl.col(col))

    tick = (at_day + 1) * DAY_US
    accepted = pl.col("acc") <= at_us
    is_open = accepted & (pl.col("comp").is_null() | (pl.col("comp") > at_us))
    case_tick = pl.when(is_open).then(
        pl.when(pl.col("unit") == "hour").then(pl.lit(at_us)).otherwise(pl.lit(tick)))
    due = pl.min_horizontal(later("acc"), later("comp"), later("ps"), later("pe"), later("x_at"),
                            case_tick, pl.col("_s_ev"), pl.when(accepted).then(pl.col("_s_tick")))
    return c.filter(~pl.col("handover")).select("case_id", due.alias("_due"))


def _open_index(c: pl.DataFrame, at_us: int, at_day: int, left_days: pl.Expr) -> pl.DataFrame:
    """``records.due.next_due`` with ``checks.cases.open_boundary``, of the accepted rows not
    handed over before the deadlines (as of ``at``; ``comp0``: the completion as read).

    An open case whose promised or statutory deadline has passed, whose clock
    is stopped, whose deadline lies beyond the calendar or that is due soon
    ticks (the next midnight; ``at`` for hours); else its next boundary is the
    earliest of its deadlines and the first instant its due-soon window can
    open: ``left - floor(warn)`` midnights ahead, or ``floor(warn) + 2`` hours
    before an hour deadline.
    """
    def later(col: str) -> pl.Expr:
        return pl.when(pl.col(col) > at_us).then(pl.col(col))

    hour = pl.col("unit") == "hour"
    tick = pl.when(hour).then(pl.lit(at_us)).otherwise(pl.lit((at_day + 1) * DAY_US))
    pd_at, sd_at = pl.col("pd_at"), pl.col("sd_at")
    has_stat = pl.col("stat").is_not_null()
    left_hours = (pd_at - at_us).floordiv(1_000_000) / 3600
    soon = pl.when(hour).then(left_hours - 0.05 <= pl.col("warn")) \
        .otherwise(left_days.cast(pl.Float64) <= pl.col("warn"))
    ticking = (pl.col("pd_stopped") | pd_at.is_null() | (pd_at <= at_us)
               | (has_stat & (pl.col("sd_stopped") | sd_at.is_null() | (sd_at <= at_us)))
               | soon).fill_null(True)
    whole = pl.col("warn").floor().cast(pl.Int64)
    opens = pl.when(hour).then(pd_at - (whole + 2) * 3_600_000_000) \
        .otherwise((at_day + left_days - whole) * DAY_US)
    case_due = pl.when(pl.col("comp").is_null()).then(
        pl.when(ticking).then(tick).otherwise(
            pl.min_horizontal(pd_at, opens, pl.when(has_stat).then(sd_at))))
    due = pl.min_horizontal(later("acc"), later("comp0"), later("ps"), later("pe"), later("x_at"),
                            case_due, pl.col("_s_ev"), pl.col("_s_tick"))
    return c.filter(~pl.col("_h0")).select("case_id", due.cast(pl.Int64).alias("_due"))


def _tally(c: pl.DataFrame, at_us: int, days: int) -> pl.DataFrame:
    """Per unit: open, overdue, completed in the last ``days`` and on time (metrics.CaseTally.add).

    The promised deadline is ``pd_at`` (null when an open pause stops the clock).
    """
    deadline = pl.col("pd_at")
    is_open = pl.col("comp").is_null()
    recent = ~is_open & (pl.col("comp") > at_us - days * DAY_US) & (pl.col("comp") <= at_us)
    return c.group_by("unit_id").agg(
        open=is_open.sum(),
        overdue=(is_open & (pl.lit(at_us) >= deadline).fill_null(False)).sum(),
        completed=recent.sum(),
        on_time=(recent & (deadline.is_null() | (pl.col("comp") < deadline)).fill_null(False)).sum(),
    )


def decision(frame: pl.DataFrame, checks: tuple[str, ...]) -> Decision:
    """The rows of :func:`decide` as positions and check tuples."""
    rows: list[int] = []
    out: list[tuple[str, ...] | None] = []
    cols = [FLAGS[c] for c in checks]
    chosen: dict[tuple[bool | None, ...], tuple[str, ...]] = {}  # a few patterns of flags recur
    for row in frame.select("_row", "handover", *cols).iter_rows():
        rows.append(row[0])
        if row[1]:
            out.append(None)
            continue
        flags = row[2:]
        got = chosen.get(flags)
        if got is None:
            got = chosen[flags] = tuple(c for c, f in zip(checks, flags, strict=True) if f)
        out.append(got)
    return Decision(rows, out)
