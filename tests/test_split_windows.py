"""split_payment in one ordered pass (checks/split_windows.py, issue 11 item 3) finds exactly what
the algorithm it replaced found, field by field and in the same order.

The replaced algorithm is kept below, verbatim, as the reference: it held every voucher below
the threshold until the end and then walked each (unit, payee) group sorted by time.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from sunlight.checks.base import EvalContext, Finding
from sunlight.checks.registry import REGISTRY, load_all
from sunlight.checks.spending import (
    SplitParams,
    SplitPayment,
    decision_problem,
    large_amount,
    money,
    yuan,
)
from sunlight.monitor.records.spending import ExpenseRecord
from tests.conftest import TZ, SourceDB, at
from tests.test_checks_publications import calendar, scan

# --- the reference: split_payment before issue 11 ------------------------------------------


@dataclass
class _Group:
    times: array  # epoch seconds
    cents: array | list[Decimal]  # exact cents, or Decimals when an amount is finer than a fen
    ids: list[str]
    threshold: Decimal


class ReferenceSplitPayment(SplitPayment):
    """The algorithm before issue 11: every kept voucher in memory until ``finish``."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[tuple[str, str], _Group] = {}
        self.window: dict[tuple[str, str], int] = {}

    def feed(self, v: ExpenseRecord, params: SplitParams, ctx: EvalContext) -> tuple[Finding, ...]:
        if v.payee is None:
            return ()
        threshold = params.large_amount or self.thresholds.get(v.unit_id)
        if threshold is None:
            threshold = self.thresholds[v.unit_id] = large_amount(v, ctx)
        if v.amount >= threshold:
            return ()
        if v.decision_id is not None and decision_problem(v, self.decisions, ctx) is None:
            return ()  # authorised by a sound collective decision: not an evasion
        key = (v.unit_id, v.payee)
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = _Group(array("q"), array("q"), [], threshold)
            self.window[key] = params.window_days
        cents = v.amount.scaleb(2)
        if isinstance(g.cents, array) and cents == cents.to_integral_value():
            g.cents.append(int(cents))
        else:
            if isinstance(g.cents, array):
                g.cents = [Decimal(c).scaleb(-2) for c in g.cents]
            g.cents.append(v.amount)
        g.times.append(int(v.paid_at.timestamp()))
        g.ids.append(v.voucher_id)
        return ()

    def finish(self, ctx: EvalContext) -> Iterator[Finding]:
        for (unit_id, payee), g in sorted(self.groups.items()):
            if len(g.ids) < 2:
                continue
            exact = isinstance(g.cents, array)
            amounts = [Decimal(c).scaleb(-2) if exact else c for c in g.cents]
            order = sorted(range(len(g.ids)), key=lambda i: (g.times[i], g.ids[i]))
            span = self.window[(unit_id, payee)] * 86400
            i = 0
            while i < len(order):
                j, total = i, Decimal(0)
                while j < len(order) and g.times[order[j]] - g.times[order[i]] <= span:
                    total += amounts[order[j]]
                    j += 1
                if j - i >= 2 and total >= g.threshold:
                    yield self._reference_found(unit_id, payee, g,
                                                [order[k] for k in range(i, j)], amounts, total, ctx)
                    i = j
                else:
                    i += 1

    def _reference_found(self, unit_id: str, payee: str, g: _Group, members: list[int],
                         amounts: list[Decimal], total: Decimal, ctx: EvalContext) -> Finding:
        first = g.ids[members[0]]
        days = self.window[(unit_id, payee)]
        vouchers = [{"voucher_id": g.ids[k], "amount": money(amounts[k]),
                     "paid_at": dt.datetime.fromtimestamp(g.times[k], ctx.tz).isoformat()}
                    for k in members]
        return self.finding(
            f"{unit_id}:{payee}:{first}", unit_id,
            f"向{payee}在{days}日内分{len(members)}笔支付合计{yuan(total)}，每笔均低于大额标准"
            f"{yuan(g.threshold)}，合计达到标准，疑似拆分规避集体决策",
            evidence={"payee": payee, "window_days": days, "total": money(total),
                      "large_amount": money(g.threshold), "vouchers": vouchers},
        )


def lines(findings: list[Finding]) -> list[str]:
    """Each finding as its JSON, keys sorted: equal lists are equal findings, field by field."""
    return [json.dumps(f.to_json(), sort_keys=True, ensure_ascii=False) for f in findings]


# --- the pass itself, fed directly ---------------------------------------------------------

T0 = dt.datetime(2026, 9, 1, 10, tzinfo=TZ)
DAY = dt.timedelta(days=1)


def _run(check: SplitPayment, vouchers: list[ExpenseRecord], params: dict[str, SplitParams]
         ) -> list[Finding]:
    ctx = EvalContext(at=at(2027, 1, 1, 9), calendar=calendar())
    out = [f for v in vouchers for f in check.feed(v, params[v.unit_id], ctx)]
    return out + list(check.finish(ctx))


def _both(vouchers: list[ExpenseRecord], params: dict[str, SplitParams]
          ) -> tuple[list[str], list[str]]:
    return (lines(_run(ReferenceSplitPayment(), vouchers, params)),
            lines(_run(SplitPayment(), vouchers, params)))


def v(vid: str, amount: str | Decimal, when: dt.datetime, unit: str = "D1",
      payee: str | None = "某公司") -> ExpenseRecord:
    return ExpenseRecord(vid, unit, Decimal(amount), None, payee, when, None)


TEN = {"D1": SplitParams(window_days=30, large_amount=Decimal("10000"))}


def test_worked_by_hand() -> None:
    """30 days are 2,592,000 s, counted inclusive; a window that fires is not reused."""
    span = 30 * DAY
    cases = [
        # exactly 30 days apart and exactly the threshold together: one window
        ([v("A1", "5000.00", T0), v("A2", "5000.00", T0 + span)], ["D1:某公司:A1"]),
        # one second more: two windows of one voucher each
        ([v("A1", "5000.00", T0), v("A2", "5000.00", T0 + span + dt.timedelta(seconds=1))], []),
        # one fen short
        ([v("A1", "5000.00", T0), v("A2", "4999.99", T0 + DAY)], []),
        # a voucher at the threshold itself is large (the other check's): never part of a split
        ([v("A1", "10000.00", T0), v("A2", "1.00", T0 + DAY)], []),
        # a → b (20 days) falls short, b → c (20 days) reaches it: the window starts at b
        ([v("A1", "1000.00", T0), v("A2", "6000.00", T0 + 20 * DAY),
          v("A3", "4000.00", T0 + 40 * DAY)], ["D1:某公司:A2"]),
        # four in a row, each pair reaching it: two windows, the second after the first
        ([v(f"A{i}", "9000.00", T0 + i * 40 * DAY) for i in range(2)]
         + [v(f"B{i}", "9000.00", T0 + i * 40 * DAY + DAY) for i in range(2)],
         ["D1:某公司:A0", "D1:某公司:A1"]),
        # ids against time: the window is ordered by time, the subject is its first voucher
        ([v("Z9", "6000.00", T0), v("A1", "6000.00", T0 + DAY)], ["D1:某公司:Z9"]),
        # the same second (microseconds differ): ordered by id within the second
        ([v("B", "6000.00", T0.replace(microsecond=900)), v("A", "6000.00", T0.replace(microsecond=1))],
         ["D1:某公司:A"]),
        # no payee: nothing to group by
        ([v("A1", "6000.00", T0, payee=None), v("A2", "6000.00", T0 + DAY, payee=None)], []),
    ]
    for vouchers, subjects in cases:
        ref, new = _both(vouchers, TEN)
        assert ref == new
        assert [json.loads(x)["subject"] for x in new] == subjects, vouchers


def test_amounts_finer_than_a_fen_keep_the_references_text() -> None:
    """A group with 1.005 yuan: the total's text follows the reference's Decimal exponents."""
    vouchers = [v("P1", Decimal("2.50000"), T0), v("P2", "1.005", T0 + DAY),
                v("P3", Decimal("3.00000"), T0 + 2 * DAY), v("P4", "9993.5", T0 + 3 * DAY)]
    ref, new = _both(vouchers, TEN)
    assert ref == new
    [finding] = [json.loads(x) for x in new]
    assert finding["evidence"]["total"] == "10000.00500"  # 2.50 + 1.005 + 3.00000 + 9993.5


AMOUNTS = ["0.00", "0.01", "1000.00", "2500.00", "3333.33", "3333.34", "4999.99", "5000.00",
           "5000.01", "9999.99", "10000.00", "12000.00", "7000", "6999.9", "1.005", "0.001"]


def _random_vouchers(rng: random.Random, n: int, fine: bool) -> list[ExpenseRecord]:
    """Few units and payees, instants on the window's edges, ids shuffled against time."""
    edges = [0, 1, 86399, 86400, 29 * 86400, 30 * 86400 - 1, 30 * 86400, 30 * 86400 + 1,
             10 * 86400, 10 * 86400 + 1, 45 * 86400, 60 * 86400]
    out = []
    for k in range(n):
        base = rng.choice((0, 0, 13 * 86400, 30 * 86400, 61 * 86400))
        when = T0 + dt.timedelta(seconds=base + rng.choice(edges),
                                 microseconds=rng.choice((0, 0, 1, 999_999)))
        amount = rng.choice(AMOUNTS if fine else AMOUNTS[:-2])
        out.append(v(f"V{rng.randrange(10 ** 6):06d}-{k}", amount, when,
                     unit=rng.choice(("D1", "D2", "V1")),
                     payee=rng.choice(("甲公司", "乙公司", "丙", None))))
    rng.shuffle(out)  # the stream is in voucher_id order, which says nothing of time
    out.sort(key=lambda r: r.voucher_id)
    return out


@pytest.mark.parametrize("fine", [False, True], ids=["fen", "finer-than-fen"])
def test_random_groups_match_the_reference(fine: bool) -> None:
    params = {"D1": SplitParams(window_days=30, large_amount=Decimal("10000")),
              "D2": SplitParams(window_days=10, large_amount=Decimal("5000.00")),
              "V1": SplitParams(window_days=1, large_amount=Decimal("7000"))}
    fired = 0
    for seed in range(300):
        rng = random.Random(seed)
        vouchers = _random_vouchers(rng, rng.randint(0, 60), fine)
        ref, new = _both(vouchers, params)
        assert new == ref, f"seed {seed}"
        fired += len(new)
    assert fired > 300  # the data does reach the threshold, often


# --- through the engine, on each source engine -------------------------------------------

UNITS = [{"unit_id": u, "name": f"单位{u}", "kind": k}
         for u, k in (("D1", "department"), ("D2", "department"), ("V1", "village"))]
CONFIG = """\
checks:
  large_amount_without_decision: {large_amount: '50000.00'}
  split_payment: {window_days: 30}
  overrides:
    - match: {unit_id: D2}
      large_amount_without_decision: {large_amount: '20000.00'}
    - match: {unit_kind: village}
      split_payment: {window_days: 10, large_amount: '30000'}
"""
AT = at(2026, 12, 1, 9)


def _source_rows(n: int, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                             list[dict[str, Any]]]:
    rng = random.Random(seed)
    amounts = ["49999.99", "25000.00", "24999.99", "20000.00", "19999.99", "15000.00",
               "10000.00", "9999.99", "30000.00", "50000.00", "60000.00", "0.01", "12345.67"]
    edges = [0, 1, 86400, 10 * 86400, 10 * 86400 + 1, 30 * 86400, 30 * 86400 + 1, 45 * 86400]
    vouchers = []
    for k in range(n):
        when = dt.datetime(2026, 8, 3, 9) + dt.timedelta(
            seconds=rng.choice((0, 20 * 86400, 50 * 86400, 95 * 86400)) + rng.choice(edges))
        if rng.random() < 0.05:
            when = dt.datetime(2026, 12, 5, 9)  # paid after the scan's as-of: not there yet
        vouchers.append({"voucher_id": f"E{rng.randrange(10 ** 6):06d}{k:03d}",
                         "unit_id": rng.choice(("D1", "D2", "V1")),
                         "amount": Decimal(rng.choice(amounts)), "category": "project",
                         "payee": rng.choice(("某建筑公司", "某印刷厂", "某车队", None)),
                         "paid_at": when,
                         "decision_id": rng.choice((None, None, None, "J-OK", "J-LATE"))})
    # J-OK authorises D1's payments (vouchers citing it are not evasions); J-LATE is D2's,
    # taken after the payments (事后补决策): citing it authorises nothing
    decisions = [{"decision_id": "J-OK", "unit_id": "D1", "category": "large_fund",
                  "method": "meeting", "meeting_at": dt.datetime(2026, 7, 9, 15),
                  "materials_sent_at": dt.datetime(2026, 6, 30, 10), "should_attend": 7,
                  "present": 6, "votes_for": 5, "amount": Decimal("1000000")},
                 {"decision_id": "J-LATE", "unit_id": "D2", "category": "large_fund",
                  "method": "meeting", "meeting_at": dt.datetime(2026, 11, 30, 15),
                  "materials_sent_at": dt.datetime(2026, 11, 20, 10), "should_attend": 7,
                  "present": 6, "votes_for": 5, "amount": Decimal("1000000")}]
    sigs = [{"voucher_id": r["voucher_id"], "role": "handler", "person_id": "P1",
             "signed_at": r["paid_at"] - dt.timedelta(days=1)} for r in vouchers]
    return vouchers, sigs, decisions


def test_engine_findings_match_the_reference(source_db: SourceDB, write_config,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    vouchers, sigs, decisions = _source_rows(400, seed=11)
    source_db.load("units", UNITS)
    source_db.load("people", [])
    source_db.load("expenses", vouchers)
    source_db.load("expense_signatures", sigs)
    source_db.load("decisions", decisions)
    new = lines(scan(source_db, write_config, AT, ["split_payment"], CONFIG))
    load_all()
    monkeypatch.setitem(REGISTRY, "split_payment", ReferenceSplitPayment)
    ref = lines(scan(source_db, write_config, AT, ["split_payment"], CONFIG))
    assert new == ref
    found = [json.loads(x) for x in new]
    assert len(found) >= 20
    # every unit's own window and threshold took part
    assert {(f["unit"], f["evidence"]["window_days"], f["evidence"]["large_amount"])
            for f in found} == {("D1", 30, "50000.00"), ("D2", 30, "20000.00"),
                                ("V1", 10, "30000.00")}
