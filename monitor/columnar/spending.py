"""Which vouchers of a batch could fire which F check: a conservative decision, column by column.

The record path (``monitor/readers.py`` ``read_expenses`` → ``checks/spending.py``)
parses every voucher and its signatures in Python; only a few percent fire. Here
each check's condition is mirrored from its code *from above*: a voucher is
flagged for a check whenever the check could fire on it, and the flagged rows
are replayed through the reader and fed to those checks, so the findings are
the checks' own. A row this module does not evaluate (a value that may not
parse the same way, hostile text, a key seen twice, a signature that may not
parse) is handed over whole, with every check. Missing a voucher would be a
false negative; flagging one too many only costs time.

Amounts are compared as floats with a margin of a fen (an over-estimate only
flags a voucher); times are wall-clock microseconds in the configured zone,
as in :mod:`sunlight.monitor.columnar.cases`.

``split_payment`` needs the whole stream of small vouchers of one unit and
payee: :class:`SplitGroups` finds, in a first pass over a few columns of the
vouchers, the (unit, payee) groups that could hold a window reaching the
threshold; every voucher of those groups is then fed to that check.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from sunlight.checks.registry import CheckParams
from sunlight.checks.spending import (
    ChainParams,
    ChainProfile,
    DuplicateRoleSigner,
    HeadSignsDirectly,
    LargeAmountWithoutDecision,
    SignatureChainIncomplete,
    SignatureOrder,
    SingleSignature,
    SplitPayment,
)
from sunlight.monitor.calendar import SPAN_FIRST
from sunlight.monitor.columnar import fields as F
from sunlight.monitor.columnar.calendar import CalendarArrays, epoch_day
from sunlight.monitor.columnar.cases import wall_us
from sunlight.monitor.columnar.fetch import KEY, Batch
from sunlight.monitor.records.base import BadField, screen, text
from sunlight.monitor.records.org import UnitInfo

#: the checks this module decides; an F check not listed makes the engine use the record path
FLAGS: dict[str, str] = {
    SignatureChainIncomplete.id: "f_chain",
    SingleSignature.id: "f_single",
    DuplicateRoleSigner.id: "f_duplicate",
    HeadSignsDirectly.id: "f_head",
    LargeAmountWithoutDecision.id: "f_large",
    SplitPayment.id: "f_split",
    SignatureOrder.id: "f_order",
}

#: one fen: the margin of every float comparison with a threshold
FEN = 0.01
#: seconds added to a split window: the wall clock of a DST zone may differ from the epoch
#: seconds the check compares (``int(paid_at.timestamp())``) by its shift; a day covers any
SPAN_MARGIN = 86_400
_AMOUNT = r"^\d{1,15}(?:\.\d{0,12})?$"
_ASCII = r"^[\x00-\x7f]*$"
GROUP_FIELDS = ("voucher_id", "unit_id", "amount", "payee", "paid_at")


def amount(df: pl.DataFrame, name: str = "amount") -> tuple[pl.Expr, pl.Expr]:
    """``records.base.decimal`` (required, not negative) as a float; ``bad``: may read otherwise."""
    col = pl.col(name)
    dtype = df.schema[name]
    if dtype == pl.String:
        s = col.str.strip_chars()
        ok = s.str.contains(_AMOUNT).fill_null(False) & ~col.str.contains(F._PY_ONLY_SPACE).fill_null(False)
        return pl.when(ok).then(s.cast(pl.Float64, strict=False)), ~ok
    if dtype.is_float() or dtype.is_integer() or isinstance(dtype, pl.Decimal):
        f = col.cast(pl.Float64)
        ok = (f.is_finite() & (f >= 0)).fill_null(False)
        return pl.when(ok).then(f), ~ok
    return pl.lit(None, pl.Float64), pl.lit(True)


def _group_hash(unit: pl.Expr, payee: pl.Expr) -> pl.Expr:
    # a collision only merges two groups: their windows hold more vouchers, never fewer
    return pl.struct(unit.alias("u"), payee.alias("p")).hash(seed=11)


def _groups(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(unit, payee) of raw voucher rows as ``read_expenses`` reads them; rows it refuses left out."""
    out: list[tuple[str, str]] = []
    for raw in rows:
        row, fatal, _ = screen(raw)
        if fatal is not None:
            continue
        try:
            unit = text(row, "unit_id")
            payee = text(row, "payee", required=False) if row.get("payee") is not None else None
        except BadField:
            continue
        if payee is not None:
            out.append((unit, payee))
    return out


def _group_hash_of(groups: list[tuple[str, str]]) -> pl.Series:
    frame = pl.DataFrame({"u": [u for u, _ in groups], "p": [p for _, p in groups]},
                         schema={"u": pl.String, "p": pl.String})
    return frame.select(_group_hash(pl.col("u"), pl.col("p")).alias("h")).get_column("h")


@dataclass(frozen=True)
class Rules:
    """The parameters of one unit, as the checks look them up (``for_(unit_id, kind)``)."""

    min_signers: int
    large: float  # large_amount_without_decision's threshold
    split_threshold: float
    split_span: int  # seconds


def unit_rules(unit_id: str | None, params: Mapping[str, CheckParams],
               units: Mapping[str, UnitInfo]) -> Rules:
    info = units.get(unit_id) if unit_id else None
    kind = info.kind if info else None
    large: Decimal = params[LargeAmountWithoutDecision.id].for_(unit_id, kind).large_amount  # type: ignore[attr-defined]
    split = params[SplitPayment.id].for_(unit_id, kind)
    threshold: Decimal = split.large_amount or large  # type: ignore[attr-defined]
    return Rules(min_signers=params[SingleSignature.id].for_(unit_id, kind).min_signers,  # type: ignore[attr-defined]
                 large=float(large), split_threshold=float(threshold),
                 split_span=split.window_days * 86_400)  # type: ignore[attr-defined]


def _unit_frame(unit_ids: list[str | None], params: Mapping[str, CheckParams],
                units: Mapping[str, UnitInfo]) -> pl.DataFrame:
    rules = [unit_rules(u, params, units) for u in unit_ids]
    return pl.DataFrame({"unit_id": unit_ids,
                         "min_signers": [r.min_signers for r in rules],
                         "large": [r.large for r in rules],
                         "thr": [r.split_threshold for r in rules],
                         "span": [r.split_span for r in rules]},
                        schema={"unit_id": pl.String, "min_signers": pl.Int64, "large": pl.Float64,
                                "thr": pl.Float64, "span": pl.Int64})


# --- split_payment's groups (a first pass) ----------------------------------------------


class SplitGroups:
    """The (unit, payee) groups whose vouchers could form a window reaching the threshold.

    ``split_payment`` keeps a voucher (``feed``) when it has a payee, is paid by
    the as-of time and is below its unit's threshold (and, less often, when a
    sound decision does not authorise it: ignored here, which only keeps more);
    its windows (``checks/split_windows.py``) hold the kept vouchers of one unit
    and payee paid within ``window_days`` of the window's first, and fire when
    two or more reach the threshold. Every such window lies inside some
    interval ``[t_i - margin, t_i + span + margin]`` around a kept voucher
    (wall times: the margin covers the zone's clock changes), so a group none
    of whose intervals holds two vouchers summing (each plus a fen) to the
    threshold cannot fire. Those that can are flagged by the hash of (unit,
    payee). A row whose unit or payee may read otherwise (hostile text, odd
    spacing, a number) is read as the reader reads it, screened and parsed in
    Python, and its group is flagged; so is the group of a row whose amount or
    time may read otherwise.
    """

    def __init__(self, at: dt.datetime, tz: dt.tzinfo, cal: CalendarArrays,
                 params: Mapping[str, CheckParams], units: Mapping[str, UnitInfo]) -> None:
        self._at_us = wall_us(at)
        self._tz, self._cal, self._params, self._units = tz, cal, params, units
        self._parts: list[pl.DataFrame] = []
        self._flag: list[pl.Series] = []
        self._unit_index: dict[str, int] = {}
        self._rules: list[Rules] = []
        self._base = epoch_day(SPAN_FIRST) * 86_400
        self.hashes: pl.Series | None = None  # groups fed whole
        self.members: pl.Series | None = None  # (group, second) of the other vouchers to feed

    def add(self, batch: Batch) -> None:
        """One batch of the vouchers (the columns of :data:`GROUP_FIELDS`)."""
        frame = batch.frame
        if not frame.height:
            return
        unit, b_unit = F.text(frame, "unit_id", required=False)
        payee, b_payee = F.text(frame, "payee")
        hostile = F.unsafe(frame.select("unit_id", "payee"))
        value, b_amount = amount(frame)
        fine = finer_than_fen(frame)
        df, b_paid = F.timestamp(frame, "paid_at", "t", self._tz, self._cal, required=True)
        df = df.select(unit.alias("u"), payee.alias("p"), value.alias("a"), pl.col("t"),
                       (hostile | b_unit | b_payee).alias("unsure"), b_amount.alias("b_a"),
                       b_paid.alias("b_t"), fine.alias("fine")).with_row_index("_i")
        unsure = df.filter(pl.col("unsure")).get_column("_i").to_list()
        if unsure:  # the group as the reader reads it (screened, then parsed): its group is flagged
            self._flag.append(_group_hash_of(_groups(batch.rows(unsure))))
            df = df.filter(~pl.col("unsure"))
        df = df.filter(pl.col("u").is_not_null() & pl.col("p").is_not_null()
                       & (pl.col("b_t") | (pl.col("t") <= self._at_us)))  # paid later: not fed
        for u in df.get_column("u").unique().to_list():
            if u not in self._unit_index:
                self._unit_index[u] = len(self._unit_index)
                self._rules.append(unit_rules(u, self._params, self._units))
        index = pl.DataFrame({"u": list(self._unit_index), "ui": list(self._unit_index.values())},
                             schema={"u": pl.String, "ui": pl.UInt32})
        thr = pl.DataFrame({"ui": range(len(self._rules)),
                            "thr": [r.split_threshold for r in self._rules]},
                           schema={"ui": pl.UInt32, "thr": pl.Float64})
        df = df.join(index, on="u", how="left").join(thr, on="ui", how="left")
        df = df.with_columns(h=_group_hash(pl.col("u"), pl.col("p")))
        # a group is fed whole when an amount or time may read otherwise, or an amount may be
        # finer than a fen (the order such amounts arrive in sets the text of the totals:
        # split_windows.amount_of)
        odd = pl.col("b_a") | pl.col("b_t")
        small = df.filter(~odd & (pl.col("a") < pl.col("thr") + FEN))
        self._flag.append(pl.concat([df.filter(odd).get_column("h"),
                                     small.filter(pl.col("fine")).get_column("h")]))
        # 20 bytes a kept voucher (a million: 20 MB): seconds from the calendar's first day (the
        # time is in its span), each amount plus a fen rounded up to a float32, the unit's number
        # sorted by unit: finish() takes each unit's rows of every batch as slices (no copy)
        self._parts.append(small.select(
            "h", (pl.col("t") // 1_000_000 - self._base).cast(pl.UInt32).alias("t"),
            ((pl.col("a") + FEN) * (1 + 1e-6)).cast(pl.Float32).alias("c"), "ui").sort("ui"))

    def finish(self) -> None:
        """Compute the flagged groups and vouchers from every batch added."""
        flagged = [s for s in self._flag if s.len()]
        members: list[pl.Series] = []
        # one unit at a time (its threshold and span are scalars), gathered from the slices
        # of every batch: memory holds the batches' columns once and one unit's copy, not
        # two copies of the whole stream (concatenated, then sorted)
        units = [part.get_column("ui") for part in self._parts]
        for ui, rules in enumerate(self._rules):
            pieces = []
            for part, col in zip(self._parts, units, strict=True):
                lo = col.search_sorted(ui, side="left")
                hi = col.search_sorted(ui, side="right")
                if hi > lo:
                    pieces.append(part.slice(lo, hi - lo))
            if pieces:
                df = pl.concat(pieces).sort("h", "t")
                members.append(_firing(df, rules.split_span + SPAN_MARGIN, rules.split_threshold))
        self._parts.clear()
        self._flag.clear()
        self.hashes = (pl.concat(flagged).unique() if flagged
                       else pl.Series("h", [], dtype=pl.UInt64))
        self.members = (pl.concat(members).unique() if members
                        else pl.Series("m", [], dtype=pl.UInt64))

    def expr(self, unit: pl.Expr, payee: pl.Expr, paid: pl.Expr) -> pl.Expr:
        """Whether ``split_payment`` must be fed a voucher of ``unit`` and ``payee`` paid at ``paid``.

        ``paid``: wall microseconds, as :func:`sunlight.monitor.columnar.fields.timestamp` gives.
        """
        assert self.hashes is not None and self.members is not None, "finish() first"
        h = _group_hash(unit, payee)
        t = (paid // 1_000_000 - self._base).cast(pl.UInt32, strict=False)
        return payee.is_not_null() & (h.is_in(self.hashes.implode())
                                      | _member_hash(h, t).is_in(self.members.implode()))


def _member_hash(h: pl.Expr, t: pl.Expr) -> pl.Expr:
    # a voucher by its group and second; a collision only feeds a voucher too many
    return pl.struct(h.cast(pl.UInt64).alias("h"), t.cast(pl.UInt32).alias("t")).hash(seed=13)


def finer_than_fen(df: pl.DataFrame, name: str = "amount") -> pl.Expr:
    """Amounts that may be finer than a fen (``amount * 100`` not whole); true too often, never too rarely."""
    col = pl.col(name)
    dtype = df.schema[name]
    if dtype == pl.String:
        return ~col.str.strip_chars().str.contains(r"^\d{1,15}(?:\.\d{0,2})?$").fill_null(False)
    if dtype.is_integer():
        return pl.lit(False)
    if dtype.is_float() or isinstance(dtype, pl.Decimal):
        f = col.cast(pl.Float64)
        cents = f * 100
        return ((cents - cents.round()).abs() > 1e-6) | (f > 1e12) | ((f > 0) & (f < 0.01)) \
            | f.is_null()
    return pl.lit(True)


def _firing(df: pl.DataFrame, span: int, threshold: float) -> pl.Series:
    """The vouchers (member hashes) of one unit's kept vouchers that may be in a firing window.

    ``df`` is sorted by group and time; ``span`` is the window's length plus
    :data:`SPAN_MARGIN`. Around each voucher, the interval from ``SPAN_MARGIN``
    before it to ``span`` after it is found by binary searches on one sorted key
    (the group's number above the time, so a search never leaves its group); it
    is *heavy* when it holds two vouchers or more summing (each plus a fen) to
    the threshold. Every window that fires lies in the heavy interval around its
    first voucher (the margin before covers a wall clock that goes back: a DST
    zone's autumn hour). A voucher in no heavy interval is in no firing window,
    and feeding it or not changes no window: a window holding it does not fire,
    and without it holds less. So only the vouchers of heavy intervals are fed.
    """
    g = (pl.col("h") != pl.col("h").shift(1)).fill_null(False).cum_sum().cast(pl.Int64)
    key = df.select(g * (1 << 34) + pl.col("t").cast(pl.Int64)).to_series()
    starts = key.search_sorted(key - SPAN_MARGIN, side="left").cast(pl.Int64)
    ends = key.search_sorted(key + span, side="right").cast(pl.Int64)
    cum = pl.concat([pl.Series([0.0]), df.get_column("c").cast(pl.Float64).cum_sum()])
    heavy = ((ends - starts) >= 2) & ((cum.gather(ends) - cum.gather(starts)) >= threshold - FEN)
    if not heavy.any():
        return pl.Series("m", [], dtype=pl.UInt64)
    # the vouchers heavy intervals cover: +1 where one starts, -1 after it ends
    events = pl.DataFrame({"pos": pl.concat([starts.filter(heavy), ends.filter(heavy)]),
                           "d": pl.concat([pl.repeat(1, int(heavy.sum()), eager=True, dtype=pl.Int64),
                                           pl.repeat(-1, int(heavy.sum()), eager=True,
                                                     dtype=pl.Int64)])})
    steps = events.group_by("pos").agg(pl.col("d").sum())
    cover = (pl.DataFrame({"pos": pl.int_range(0, df.height, eager=True, dtype=pl.Int64)})
             .join(steps, on="pos", how="left").sort("pos")
             .select(pl.col("d").fill_null(0).cum_sum() > 0).to_series())
    kept = df.filter(cover)
    return kept.select(_member_hash(pl.col("h"), pl.col("t")).alias("m")).to_series()


# --- the signature profiles per (unit, category) -----------------------------------------


def _unbanded(p: ChainProfile) -> bool:
    return p.min_amount == 0 and p.below is None


@dataclass(frozen=True)
class _Combo:
    required: int  # bits of every role some candidate profile needs
    stages: list[dict[str, int]]  # per profile it may choose: the stage of each of its roles


def _combo(unit_id: str | None, category: str | None, params: Mapping[str, CheckParams],
           units: Mapping[str, UnitInfo], bits: dict[str, int]) -> _Combo:
    """What ``chain_plan`` may choose for a voucher of this unit and category, whatever its amount."""
    info = units.get(unit_id) if unit_id else None
    kind = info.kind if info else None
    table = params.get(SignatureChainIncomplete.id)
    chain: ChainParams = table.for_(unit_id, kind) if table is not None else ChainParams()  # type: ignore[assignment]
    candidates: list[ChainProfile] = []
    for p in chain.profiles:
        if ((p.unit_kinds is None or kind in p.unit_kinds)
                and (p.categories is None or category in p.categories)):
            candidates.append(p)
            if _unbanded(p):  # it matches every amount: no later profile is ever chosen
                break
    required = 0
    for p in candidates:
        for r in p.roles:
            required |= bits.setdefault(r, 1 << len(bits))
    return _Combo(required, [{r: i for i, stage in enumerate(p.stages) for r in stage}
                             for p in candidates])


# --- the decision -------------------------------------------------------------------------


def decide(expenses: pl.DataFrame, signatures: pl.DataFrame | None, *, has_signatures: bool,
           at: dt.datetime, tz: dt.tzinfo, cal: CalendarArrays, checks: tuple[str, ...],
           params: Mapping[str, CheckParams], units: Mapping[str, UnitInfo],
           known_units: frozenset[str] | None, heads: frozenset[str] | None,
           split: SplitGroups | None) -> pl.DataFrame:
    """The rows needing the record path: ``_row``, ``handover``, one ``f_*`` column per check.

    ``signatures``: the signature rows of the batch's keys (and maybe others);
    ``has_signatures``: whether the source has the table at all (without it
    the signature checks never fire). ``heads``: the people who are a unit's
    head (None: the source has no people table). ``split``: the groups of
    ``split_payment`` (None when it is not enabled).
    """
    at_us = wall_us(at)
    c = expenses.with_row_index("_row")
    bad = F.unsafe(expenses)
    exprs: dict[str, pl.Expr] = {}
    for name, required in (("voucher_id", True), ("unit_id", True), ("category", False),
                           ("payee", False), ("decision_id", False)):
        exprs[name], b = F.text(c, name, required=required)
        bad = bad | b
    # records.spending: category.lower(); non-ASCII text may lower otherwise in polars
    bad = bad | ~exprs["category"].str.contains(_ASCII).fill_null(True)
    exprs["category"] = exprs["category"].str.to_lowercase()
    exprs["amt"], b = amount(c)
    bad = bad | b
    c = c.with_columns(**{f"{k}__v": v for k, v in exprs.items()}, _bad0=bad)
    c, b_paid = F.timestamp(c, "paid_at", "paid", tz, cal, required=True)
    bad = pl.col("_bad0") | b_paid | pl.col(KEY).is_null() | pl.col(KEY).is_duplicated()
    if known_units is not None:
        bad = bad | ~pl.col("unit_id__v").is_in(sorted(known_units)).fill_null(False)
    c = c.select("_row", KEY, bad.alias("handover"), pl.col("unit_id__v").alias("unit"),
                 pl.col("category__v").alias("cat"), pl.col("payee__v").alias("payee"),
                 pl.col("amt__v").alias("amt"), "paid", pl.col("voucher_id__v").alias("vid"),
                 pl.col("decision_id__v").is_null().alias("undecided"))

    combos = c.select("unit", "cat").unique()
    bits: dict[str, int] = {}
    found = {(u, k): _combo(u, k, params, units, bits)
             for u, k in combos.iter_rows()} if checks else {}
    too_many = len(bits) > 62  # more roles than bits: the chain check is fed every voucher
    combo = pl.DataFrame({"unit": [u for u, _ in found], "cat": [k for _, k in found],
                          "_combo": list(range(len(found))),
                          "required": [0 if too_many else x.required for x in found.values()]},
                         schema={"unit": pl.String, "cat": pl.String, "_combo": pl.Int64,
                                 "required": pl.Int64})
    c = c.join(combo, on=["unit", "cat"], how="left", nulls_equal=True)
    rules = _unit_frame(c.get_column("unit").unique().to_list(), params, units)
    c = c.join(rules.rename({"unit_id": "unit"}), on="unit", how="left", nulls_equal=True)

    # --- the signatures as of ``at``, per voucher key
    if has_signatures and signatures is not None and signatures.height:
        s = signatures
        role, b1 = F.text(s, "role", required=True)
        person, b2 = F.text(s, "person_id", required=True)
        s, b3 = F.timestamp(s, "signed_at", "signed", tz, cal)
        s_bad = b1 | b2 | b3 | F.unsafe(signatures) | ~role.str.contains(_ASCII).fill_null(True)
        s = s.select(KEY, role.str.to_lowercase().alias("role"), person.alias("person"), "signed",
                     s_bad.alias("_b"))
        bad_keys = s.group_by(KEY).agg(pl.col("_b").any().alias("s_bad"))
        s = s.filter(pl.col("signed").is_null() | (pl.col("signed") <= at_us))  # ExpenseRecord.as_of
        usable = {} if too_many else bits
        bit_of = pl.DataFrame({"role": list(usable), "bit": list(usable.values())},
                              schema={"role": pl.String, "bit": pl.Int64})
        s = s.join(bit_of, on="role", how="left")
        one = c.filter(~pl.col(KEY).is_duplicated()).select(KEY, "_combo")
        s = s.join(one, on=KEY, how="inner")
        agg = s.group_by(KEY).agg(
            pl.len().alias("n_sig"), pl.col("person").n_unique().alias("n_people"),
            pl.col("bit").fill_null(0).bitwise_or().alias("signed_bits"),
            (pl.col("person").is_in(sorted(heads or ())).any()).alias("s_head"))
        # signature_order, for each profile the voucher's chain may be: in time order (ties:
        # the earlier stage first) a stage goes back
        stage_rows = [(i, k, r, st) for i, x in enumerate(found.values())
                      for k, stages in enumerate(x.stages) for r, st in stages.items()]
        stage = pl.DataFrame({"_combo": [i for i, _, _, _ in stage_rows],
                              "_cand": [k for _, k, _, _ in stage_rows],
                              "role": [r for _, _, r, _ in stage_rows],
                              "stage": [st for _, _, _, st in stage_rows]},
                             schema={"_combo": pl.Int64, "_cand": pl.Int64, "role": pl.String,
                                     "stage": pl.Int64})
        timed = s.filter(pl.col("signed").is_not_null()).join(stage, on=["_combo", "role"]) \
            .sort(KEY, "_cand", "signed", "stage")
        same = (pl.col(KEY) == pl.col(KEY).shift(1)) & (pl.col("_cand") == pl.col("_cand").shift(1))
        back = timed.select(KEY, ((pl.col("stage") < pl.col("stage").shift(1)) & same)
                            .fill_null(False).alias("_back")) \
            .group_by(KEY).agg(pl.col("_back").any().alias("s_back"))
        c = (c.join(bad_keys, on=KEY, how="left").join(agg, on=KEY, how="left")
             .join(back, on=KEY, how="left"))
    else:
        c = c.with_columns(s_bad=pl.lit(None, pl.Boolean), n_sig=pl.lit(None, pl.UInt32),
                           n_people=pl.lit(None, pl.UInt32), signed_bits=pl.lit(None, pl.Int64),
                           s_head=pl.lit(None, pl.Boolean), s_back=pl.lit(None, pl.Boolean))
    n_sig = pl.col("n_sig").fill_null(0)
    n_people = pl.col("n_people").fill_null(0)
    sig = pl.lit(has_signatures)
    live = pl.col("paid") <= at_us  # a voucher paid after ``at`` is not fed (ExpenseRecord.as_of)
    flags = {
        "f_chain": sig & (pl.lit(too_many) | ((pl.col("required")
                                               & ~pl.col("signed_bits").fill_null(0)) != 0)),
        "f_single": sig & (n_people < pl.col("min_signers")),
        "f_duplicate": sig & (n_sig >= 2) & (n_people < n_sig),
        "f_head": sig & pl.col("s_head").fill_null(False),
        "f_large": pl.col("amt") >= pl.col("large") - FEN,
        "f_split": (split.expr(pl.col("unit"), pl.col("payee"), pl.col("paid"))
                    if split is not None else pl.lit(False)),
        "f_order": sig & (n_sig >= 2) & pl.col("s_back").fill_null(False),
    }
    c = c.with_columns(handover=pl.col("handover") | pl.col("s_bad").fill_null(False),
                       **{k: (v & live).fill_null(True) for k, v in flags.items()})
    wanted = [FLAGS[x] for x in checks]
    keep = pl.col("handover") | pl.any_horizontal(*(pl.col(f) for f in wanted)) if wanted \
        else pl.col("handover")
    return c.filter(keep).select("_row", "handover", *FLAGS.values(), "vid", "unit", "payee",
                                 "undecided").sort("_row")


def split_direct(frame: pl.DataFrame, checks: tuple[str, ...]
                 ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows of :func:`decide` split in two: those for the record path, and those fed to
    ``split_payment`` alone straight from their columns (``_row``, ``vid``, ``unit``, ``payee``).

    The second are the rows not handed over (every column parses here as the
    reader parses it), flagged for ``split_payment`` and no other check, that
    cite no decision: the check then reads only their unit, payee, amount,
    time and id (``SplitPayment.keep``). A voucher citing a decision goes
    through the reader, so that the check itself asks whether the decision
    authorises it (``decision_problem``).
    """
    if SplitPayment.id not in checks:
        return frame, frame.clear()
    alone = ~pl.col("handover") & pl.col("f_split") & pl.col("undecided")
    for check in checks:
        if check != SplitPayment.id:
            alone = alone & ~pl.col(FLAGS[check])
    marked = frame.with_columns(_direct=alone)
    return (marked.filter(~pl.col("_direct")).drop("_direct"),
            marked.filter(pl.col("_direct")).select("_row", "vid", "unit", "payee"))


def decision(frame: pl.DataFrame, checks: tuple[str, ...]) -> tuple[list[int], list[tuple[str, ...] | None]]:
    """The rows of :func:`decide` as positions and check tuples (None: every check)."""
    rows: list[int] = []
    out: list[tuple[str, ...] | None] = []
    cols = [FLAGS[c] for c in checks]
    chosen: dict[tuple[bool, ...], tuple[str, ...]] = {}
    for row in frame.select("_row", "handover", *cols).iter_rows():
        rows.append(row[0])
        if row[1]:
            out.append(None)
            continue
        got = chosen.get(row[2:])
        if got is None:
            got = chosen[row[2:]] = tuple(c for c, f in zip(checks, row[2:], strict=True) if f)
        out.append(got)
    return rows, out
