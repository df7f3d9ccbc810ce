"""The vouchers by the columnar path: fetch in batches, decide in polars, replay the flagged rows.

As :func:`sunlight.monitor.columnar.scan.scan_cases` does for the cases: the
vouchers and their signatures come as column batches in key order
(:func:`sunlight.monitor.columnar.fetch.batches`), merged by key;
:func:`sunlight.monitor.columnar.spending.decide` says which rows could fire
which check, and only those rows are read by the record path
(:func:`sunlight.monitor.readers.read_expenses` over the very raw rows
fetched here) and fed those checks. Data quality is the reader's too: the rows
handed over whole give its problems, orphan signatures are named as it names
them, and a key the previous batch ended with is its duplicate.

``split_payment`` first gets its groups (:class:`SplitGroups`, one pass over
five columns of the vouchers); a voucher of a flagged group is fed to it, in
the stream's order (the order its spill keeps for ties).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import polars as pl
import structlog

from sunlight.checks.base import Check, EvalContext
from sunlight.checks.spending import SplitPayment
from sunlight.monitor.columnar.calendar import CalendarArrays
from sunlight.monitor.columnar.fetch import KEY, Batch, batches
from sunlight.monitor.columnar.scan import _child_rows, _Children, _frame, _orphans, _Piece, _Replay
from sunlight.monitor.columnar.spending import (
    GROUP_FIELDS,
    SplitGroups,
    decide,
    decision,
    split_direct,
)
from sunlight.monitor.readers import ORPHAN, ReadContext, loaded, problem, read_expenses
from sunlight.monitor.records.base import BadField, RowProblem, screen
from sunlight.monitor.records.spending import (
    EXPENSE_FIELDS,
    SIGNATURE_FIELDS,
    ExpenseRecord,
    amount_and_second,
)
from sunlight.monitor.sources import Source, SourceError

log = structlog.get_logger("sunlight.columnar")

#: what the engine does with each row handed back: (record or problem, the checks to feed; None: all)
Handle = Callable[[ExpenseRecord | RowProblem, tuple[str, ...] | None], None]
#: what feeds ``split_payment`` one voucher from its values: unit, payee, epoch second, id, amount
Keep = Callable[[str, str, int, str, Decimal], None]
#: a voucher for ``keep``: its position in the batch, then ``keep``'s arguments
Direct = tuple[int, str, str, int, str, Decimal]
_SPLIT_ONLY = (SplitPayment.id,)


def _stopping(src: Source, stop: Callable[[], bool] | None) -> None:
    if stop is not None and stop():
        raise SourceError(src.name, "abandoned: the daemon is shutting down")


def scan_expenses(src: Source, rctx: ReadContext, ctx: EvalContext, feeders: Sequence[Check],
                  arrays: CalendarArrays, params: Any, handle: Handle,
                  count: Callable[[int], None], stop: Callable[[], bool] | None = None,
                  keep: Keep | None = None) -> bool:
    """Evaluate every voucher of ``src`` as of ``ctx.at``; ``handle`` gets the rows that need Python.

    False (and nothing handled) when the source has a voucher without a key:
    the reader gives such a voucher the signatures without a key that stand
    next to it in the stream, which depends on where the database sorts NULL;
    the record path reads such a source itself. The first pass (``split_payment``'s
    groups, or the keys alone) finds them before anything is handed over.

    ``keep``: what feeds ``split_payment`` a voucher from its values (unit, payee,
    epoch second, id, amount); with it, the vouchers only that check could
    fire on and that cite no decision are not replayed (``split_direct``).
    """
    checks = tuple(c.id for c in feeders)
    split = SplitGroups(ctx.at, ctx.tz, arrays, params, ctx.units) \
        if SplitPayment.id in checks else None
    keyless = pl.col(KEY).is_null() | (pl.col(KEY) == "")
    for batch in batches(src, "expenses", GROUP_FIELDS if split else ("voucher_id",), "voucher_id"):
        _stopping(src, stop)
        if batch.frame.select(keyless.any()).item():
            log.info("a voucher without a key: the record path reads the vouchers", source=src.name)
            return False
        if split is not None:
            split.add(batch)
    if split is not None:
        split.finish()
    people = loaded(ctx.tables, "people")
    heads = None if people is None else frozenset(p.person_id for p in people if p.is_head)
    has_signatures = src.has("expense_signatures")
    kids = (_Children("expense_signatures",
                      batches(src, "expense_signatures", SIGNATURE_FIELDS, "voucher_id"))
            if has_signatures else None)
    previous: str | None = None
    offset = 0  # voucher rows in the batches before this one (positions name keyless rows)
    for batch in batches(src, "expenses", EXPENSE_FIELDS, "voucher_id"):
        _stopping(src, stop)
        frame = batch.frame
        count(frame.height)
        non_null = frame.get_column(KEY).drop_nulls()
        last = non_null[-1] if non_null.len() else previous
        pieces: list[_Piece] = kids.upto(last) if kids is not None else []
        if kids is not None:  # signatures of no voucher: orphans (data quality)
            found = _orphans(kids, pieces, non_null.unique().to_list(), "voucher_id", "支出凭证")
            if found:
                count(len(found))  # the record path counts them among the rows it read
                for p in found:
                    handle(p, None)
        # a key the previous batch ended with: the record path saw it there first (duplicate)
        carried = [] if previous is None else \
            frame.with_row_index("_r").filter(pl.col(KEY) == previous).get_column("_r").to_list()
        for r, row in zip(carried, batch.rows(carried), strict=True):
            handle(problem("expenses", screen(row)[0], "voucher_id",
                           BadField("voucher_id", "凭证编号重复"), position=offset + r + 1), None)
        try:
            decided = decide(frame, _frame(pieces), has_signatures=has_signatures, at=ctx.at,
                             tz=ctx.tz, cal=arrays, checks=checks, params=params, units=ctx.units,
                             known_units=rctx.known_units, heads=heads, split=split)
            decided, alone = split_direct(decided, checks) if keep is not None \
                else (decided, decided.clear())
            rows, chosen = decision(decided, checks)
        except Exception as exc:  # columns polars cannot join (or a bug): the record path reads all
            log.warning("columnar decision failed; the batch goes to the record path",
                        source=src.name, error=str(exc).splitlines()[0] if str(exc) else repr(exc),
                        exc_info=not isinstance(exc, pl.exceptions.PolarsError))
            rows, chosen = list(range(frame.height)), [None] * frame.height
            alone = None
        skip = set(carried)
        picked = [(r, ch) for r, ch in zip(rows, chosen, strict=True) if r not in skip]
        direct = _direct(batch, alone, skip, rctx.tz, picked) if alone is not None else []
        if picked:
            _replay(src, rctx, batch, offset, picked, pieces, handle, direct, keep)
        elif direct:
            assert keep is not None
            for d in direct:
                keep(*d[1:])
        if non_null.len():
            previous = non_null[-1]
        offset += frame.height
    if kids is not None:  # signatures after the last voucher: orphans
        found = _orphans(kids, kids.upto(None), [], "voucher_id", "支出凭证")
        if found:
            count(len(found))
            for p in found:
                handle(p, None)
    return True


def _direct(batch: Batch, alone: pl.DataFrame, skip: set[int], tz: dt.tzinfo,
            picked: list[tuple[int, tuple[str, ...] | None]]) -> list[Direct]:
    """The rows ``split_payment`` alone is fed from their columns, with the values it reads.

    Unit, payee and id come from the parsed columns (equal to the reader's on
    rows not handed over); the amount and the epoch second are parsed from the
    fetched values by the reader's own parser (``amount_and_second``), so the
    spill holds the very Decimal (its exponent too) the record path would feed.
    A row that parser refuses after all is replayed instead (added to ``picked``).
    """
    if not alone.height:
        return []
    positions = alone.get_column("_row").to_list()
    out: list[Direct] = []
    refused = False
    for r, vid, unit, payee, amount, paid in zip(
            positions, alone.get_column("vid").to_list(), alone.get_column("unit").to_list(),
            alone.get_column("payee").to_list(), batch.values("amount", positions),
            batch.values("paid_at", positions), strict=True):
        if r in skip:
            continue
        try:
            value, second = amount_and_second(amount, paid, tz)
        except (BadField, OverflowError, ValueError):  # not expected on a row not handed over
            picked.append((r, _SPLIT_ONLY))
            refused = True
            continue
        out.append((r, unit, payee, second, vid, value))
    if refused:
        picked.sort(key=lambda p: p[0])
    return out


def _replay(src: Source, rctx: ReadContext, batch: Batch, offset: int,
            picked: list[tuple[int, tuple[str, ...] | None]], pieces: list[_Piece],
            handle: Handle, direct: list[Direct], keep: Keep | None) -> None:
    rows = [r for r, _ in picked]
    checks = [ch for _, ch in picked]
    voucher_rows = batch.rows(rows)
    # signatures matter to every check but split_payment (its feed and finding never read
    # them): the rows fed to it alone are replayed without them (fewer to parse)
    keys = {str(k) for r, ch in zip(voucher_rows, checks, strict=True)
            if (k := r.get("voucher_id")) is not None and ch != _SPLIT_ONLY}
    replay = _Replay(src, {"expenses": voucher_rows,
                           "expense_signatures": _child_rows(pieces, keys) if keys else []})
    items = read_expenses(replay, rctx, [offset + r + 1 for r in rows])  # type: ignore[arg-type]
    # each voucher row gives one item (its record, or the problem that stops it), then the
    # notice of what was cleaned in a row that was read all the same (a kept problem)
    # the rows fed from their columns go in between, in the stream's order: the order of
    # arrival the spill keeps (split_windows.Group.inexact_from, ties)
    d = 0
    i = -1
    for item in items:
        if isinstance(item, RowProblem) and (item.kept or item.reason.startswith(ORPHAN)):
            handle(item, None)
            continue
        i += 1
        while d < len(direct) and direct[d][0] < rows[i]:
            keep(*direct[d][1:])  # type: ignore[misc]
            d += 1
        handle(item, checks[i])
    for rest in direct[d:]:
        keep(*rest[1:])  # type: ignore[misc]
    if i != len(checks) - 1:  # a bug: the source fails (and resolves nothing) rather than guess
        raise SourceError(src.name, f"columnar replay: {len(checks)} voucher rows gave {i + 1} records")
