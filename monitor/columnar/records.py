"""The case records of the rows the columnar decision did not hand over, built from its columns.

A flagged row that :func:`sunlight.monitor.columnar.cases.decide` evaluates
itself (it parses, at most one pause and one extension, nothing to screen) was
replayed through :func:`sunlight.monitor.readers.read_cases`: its raw row
rebuilt as a dict, screened, parsed field by field and merged with its
children, about a fifth of a full scan. Here the same :class:`CaseRecord` is
built from the values ``decide`` has already parsed, so the checks (the
reference's own code) see the very record the record path would have read:
``tests/test_columnar_identical.py`` compares the two, field by field, for
every such row on three engines.

How each value matches ``monitor/records``:

- text: ``F.text`` strips and makes empty text missing, as ``records.base.text``;
- numbers: only whole numbers come here (``F.whole``), as ``Decimal(int)``; the
  record path's ``Decimal`` of the driver's value is equal to it (a driver's
  ``5.0`` is ``Decimal('5.0')``, which no check prints unnormalised: ``zh_number``,
  ``json_number``, ``float``);
- times: a naive or text value is the wall time in the configured zone
  (``datetime.combine``, as ``records.base.timestamp``); an aware value from the
  driver is converted with ``astimezone``, as there (the instant, so the fold of
  an ambiguous wall time is the record path's too).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import polars as pl

from sunlight.monitor.clock import LimitUnit
from sunlight.monitor.columnar.fetch import KEY
from sunlight.monitor.records.cases import CaseExtension, CasePause, CaseRecord, CaseStep

_UNIT = {u.value: u for u in LimitUnit}
_EPOCH = dt.datetime(1970, 1, 1)
_US = dt.timedelta(microseconds=1)


def _times(frame: pl.DataFrame, wall: str, original: str, tz: dt.tzinfo) -> list[dt.datetime | None]:
    """A time column as the record path's aware datetimes in ``tz``."""
    dtype = frame.schema[original]
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return [None if v is None else v.astimezone(tz) for v in frame.get_column(original).to_list()]
    combine, time_of, date_of = dt.datetime.combine, dt.datetime.time, dt.datetime.date
    out: list[dt.datetime | None] = []
    for us in frame.get_column(wall).to_list():
        if us is None:
            out.append(None)
        else:
            naive = _EPOCH + us * _US
            out.append(combine(date_of(naive), time_of(naive), tz))
    return out


def _decimals(frame: pl.DataFrame, name: str) -> list[Decimal | None]:
    return [None if v is None else Decimal(v) for v in frame.get_column(name).to_list()]


def build_steps(steps: pl.DataFrame, tz: dt.tzinfo) -> dict[str, tuple[CaseStep, ...]]:
    """Each case key's steps, sorted by ``seq`` as the reader sorts them (stable: stream order)."""
    if not steps.height:
        return {}
    keys = steps.get_column(KEY).to_list()
    started = _times(steps, "ss", "ss_o", tz)
    finished = _times(steps, "sf0", "sf_o", tz)
    limits = _decimals(steps, "sl")
    by_key: dict[str, list[CaseStep]] = {}
    for key, seq, name, handler, s, f, limit, unit in zip(
            keys, steps.get_column("s_seq").to_list(), steps.get_column("s_name").to_list(),
            steps.get_column("s_handler").to_list(), started, finished, limits,
            steps.get_column("su").to_list(), strict=True):
        assert s is not None and limit is not None  # required: a step without them was handed over
        by_key.setdefault(key, []).append(
            CaseStep(seq=seq, name=name or "", handler=handler, started_at=s, finished_at=f,
                     step_limit=limit, limit_unit=_UNIT[unit]))
    return {k: tuple(sorted(v, key=_seq)) for k, v in by_key.items()}


def _seq(step: CaseStep) -> int:
    return step.seq


def build_cases(rows: pl.DataFrame, tz: dt.tzinfo,
                steps_of: Callable[[int, str], tuple[CaseStep, ...]]) -> list[CaseRecord]:
    """The records of ``rows`` (rows of ``decide``, none handed over), in their order.

    ``steps_of(i, key)`` gives the steps of the i-th row (empty when no check
    chosen for it looks at steps, as the replay did).
    """
    if not rows.height:
        return []
    col = rows.get_column
    accepted = _times(rows, "acc", "acc_o", tz)
    completed = _times(rows, "comp0", "comp_o", tz)
    p_start = _times(rows, "ps", "ps_o", tz)
    p_end = _times(rows, "pe", "pe_o", tz)
    x_at = _times(rows, "x_at", "x_at_o", tz)
    promised = _decimals(rows, "prom")
    statutory = _decimals(rows, "stat")
    extra = _decimals(rows, "x")
    out: list[CaseRecord] = []
    columns: Sequence[list[Any]] = [col(n).to_list() for n in (
        KEY, "case_id", "unit_id", "item_code", "item_name", "handler", "statutory_basis", "unit",
        "outcome0", "reason0", "p_n", "p_kind", "x_n", "x_by", "x_reason")]
    for i, (key, case_id, unit_id, item_code, item_name, handler, basis, unit, outcome, reason,
            p_n, p_kind, x_n, x_by, x_reason) in enumerate(zip(*columns, strict=True)):
        acc, prom = accepted[i], promised[i]
        assert acc is not None and prom is not None  # required: a row without them was handed over
        pauses: tuple[CasePause, ...] = ()
        if p_n:
            ps = p_start[i]
            assert ps is not None
            pauses = (CasePause(p_kind, ps, p_end[i]),)
        extensions: tuple[CaseExtension, ...] = ()
        if x_n:
            x = extra[i]
            assert x is not None
            extensions = (CaseExtension(x, x_by, x_at[i], x_reason),)
        out.append(CaseRecord(
            case_id=case_id, unit_id=unit_id, item_code=item_code, item_name=item_name,
            handler=handler, accepted_at=acc, promised_limit=prom, statutory_limit=statutory[i],
            limit_unit=_UNIT[unit], completed_at=completed[i], outcome=outcome,
            outcome_reason=reason, pauses=pauses, extensions=extensions,
            steps=steps_of(i, key), statutory_basis=basis))
    return out
