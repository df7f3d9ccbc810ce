"""``split_payment`` fed from the columns gives the record path's findings, field by field.

The columnar path feeds ``split_payment`` the vouchers only it could fire on,
that cite no decision, straight from their columns (``SplitPayment.keep``),
between the vouchers it replays through the reader, in the stream's order. Here
most (unit, payee) groups reach their threshold: amounts at each threshold and
a fen either side, halves that sum to it, ties in the second a voucher was paid
(and in the whole timestamp), windows exactly on their span and a second
beyond it, amounts finer than a fen and whole yuan in some groups (the order
they arrive in sets the text of the totals), vouchers citing sound and unsound
decisions, and batches of a few hundred rows, so every group straddles batch
boundaries. In Asia/Shanghai and in a zone with clock changes (times in the
spring gap and the autumn hour that repeats), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sunlight.checks.spending import SplitPayment
from sunlight.checks.split_windows import VoucherSpill
from sunlight.monitor.columnar import fetch
from sunlight.monitor.demo import decisions, spending
from tests.conftest import SourceDB
from tests.test_columnar_spending import F_CHECKS, UNITS, _difference, scan

#: each unit's split threshold in CHECKS (tests/test_columnar_spending.py); U02 has 10-day windows
THRESHOLD = {"U00": "50000.00", "U01": "50000.00", "U02": "20000.00", "U03": "30000.00",
             "U04": "50000.00", "U05": "50000.00"}


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "BATCH_ROWS", 300)
    monkeypatch.setattr(fetch, "BATCH_BYTES", 16_384)


def _amounts(threshold: str) -> list[Decimal]:
    t = Decimal(threshold)
    fen = Decimal("0.01")
    half = (t / 2).quantize(fen)
    return [t - fen, t, t + fen, half, half - fen, half + fen, (t / 3).quantize(fen),
            Decimal("0.01"), Decimal("1234.56")]


def vouchers(n: int, seed: int, zone: str) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    base = dt.datetime(2026, 9, 1, 9) if zone == "Asia/Shanghai" else dt.datetime(2026, 10, 20, 9)
    # the window's span and a second either side, ties (offset 0 twice), and in the DST zone
    # wall times in the autumn hour that repeats (25 Oct 2026, 02:00-03:00 Berlin)
    offsets = [0, 0, 1, 3600, 86400, 10 * 86400, 10 * 86400 + 1, 30 * 86400, 30 * 86400 + 1,
               30 * 86400 - 1, 40 * 86400]
    if zone != "Asia/Shanghai":
        offsets += [int((dt.datetime(2026, 10, 25, 2, 30) - base).total_seconds())] * 3
    rows = []
    for k in range(n):
        unit = rng.choice([u for u, _, _ in UNITS])
        payee = f"供应商{rng.randrange(12):02d}"
        amount = rng.choice(_amounts(THRESHOLD[unit]))
        if payee == "供应商00" and rng.random() < 0.3:  # finer than a fen, or whole yuan
            amount = rng.choice((Decimal("0.005"), Decimal("7000"), Decimal("3333.333")))
        when = base + dt.timedelta(seconds=rng.choice(offsets) + rng.choice((0, 0, 20 * 86400)))
        if rng.random() < 0.3:  # the same second, a different microsecond (SQLite and PostgreSQL)
            when = when.replace(microsecond=rng.choice((0, 250_000, 999_999)))
        decision = rng.choice((None,) * 8 + (f"JC-{unit}-1", f"JC-{unit}-Q", "JC-NONE"))
        rows.append({"voucher_id": f"S{rng.randrange(10 ** 6):06d}{k:04d}", "unit_id": unit,
                     "amount": amount, "category": rng.choice(("travel", "procurement")),
                     "payee": rng.choice((payee,) * 12 + (None,)), "paid_at": when,
                     "decision_id": decision})
    return rows


def _signatures(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        for i, role in enumerate(spending.DEPARTMENT_CHAIN):
            out.append({"voucher_id": r["voucher_id"], "role": role,
                        "person_id": spending.signer(r["unit_id"], role),
                        "signed_at": r["paid_at"] - dt.timedelta(days=1) + dt.timedelta(hours=i)})
    return out


def _zoned(write_config: Any, zone: str) -> Any:
    def write(url: str, extra: str = "", name: str = "sunlight.yaml") -> Path:
        path: Path = write_config(url, extra, name)
        path.write_text(path.read_text(encoding="utf-8").replace(
            "timezone: Asia/Shanghai", f"timezone: {zone}"), encoding="utf-8")
        return path

    return write


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin"])
def test_split_payment_from_the_columns_identical(source_db: SourceDB, write_config: Any,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  zone: str) -> None:
    rows = vouchers(1500, seed=5, zone=zone)
    source_db.load("units", [{"unit_id": u, "name": n, "kind": k} for u, n, k in UNITS])
    source_db.load("people", spending.people(UNITS))
    source_db.load("decisions", decisions.generate(UNITS, flawed=True))
    source_db.load("expenses", rows)
    source_db.load("expense_signatures", _signatures(rows))
    config = _zoned(write_config, zone)
    kept: list[str] = []
    original = SplitPayment.keep

    def spy(self: SplitPayment, unit_id: str, payee: str, t: int, voucher_id: str,
            *a: Any) -> None:
        kept.append(voucher_id)
        original(self, unit_id, payee, t, voucher_id, *a)

    monkeypatch.setattr(SplitPayment, "keep", spy)
    spilled: list[tuple[Any, ...]] = []
    add = VoucherSpill.add

    def spill(self: VoucherSpill, *a: Any) -> None:  # what the spill is given, in arrival order
        spilled.append((*a[:4], str(a[4])))
        add(self, *a)

    monkeypatch.setattr(VoucherSpill, "add", spill)
    when = dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC)
    for only in (["split_payment"], F_CHECKS):
        reference, ref_out = scan(source_db, config, False, when, only)
        assert not kept  # the record path feeds records
        by_record, spilled[:] = list(spilled), []
        columnar, col_out = scan(source_db, config, True, when, only)
        assert columnar == reference, _difference(reference, columnar)
        # the vouchers the record path keeps, the same Decimals (their exponents too), in the
        # same order; less those of (unit, payee) intervals that cannot reach the threshold
        # (SplitGroups: they change no window)
        rest = iter(by_record)
        assert all(any(x == y for y in rest) for x in spilled), "not in the record path's order"
        assert len(spilled) > len(by_record) // 2
        spilled.clear()
        assert col_out.rows_read == ref_out.rows_read
        split = [json.loads(x) for x in reference if json.loads(x)["check"] == "split_payment"]
        assert len(split) >= 30
        # groups with amounts finer than a fen fired too (where the column keeps them: SQLite)
        fine = [f for f in split if f["evidence"]["payee"] == "供应商00"
                and len(f["evidence"]["total"].partition(".")[2]) > 2]
        assert source_db.kind != "sqlite" or fine
        # many vouchers reached split_payment from their columns, not through the reader
        # (alone, more than it was handed: the others cite a decision or have no payee)
        assert len(kept) > (col_out.handed_over if only != F_CHECKS else len(rows) // 5)
        assert col_out.handed_over + len(kept) <= len(rows)
        assert len(set(kept)) == len(kept)  # none fed twice
        kept.clear()
