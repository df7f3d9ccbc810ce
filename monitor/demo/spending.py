"""Sample vouchers, signatures, people and decisions for the demo and the spending benchmark.

Deterministic for a seed. Most vouchers carry the full chain of their unit's
profile (department: 经办人 → 审核人 → 分管领导 → 分管财务领导, 003:567;
village: 经手人 → 村务监督委员会 → 村委会主任、村支部书记联签, 003:1299), signed
in order an hour apart on the days before payment; a few break a rule on
purpose. Rows are tuples in the column order of :data:`EXPENSE_COLUMNS` and
:data:`SIGNATURE_COLUMNS` so the benchmark can COPY them straight in.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

EXPENSE_COLUMNS = ("voucher_id", "unit_id", "amount", "category", "payee", "paid_at", "decision_id")
SIGNATURE_COLUMNS = ("voucher_id", "role", "person_id", "signed_at")

DEPARTMENT_CHAIN = ("handler", "reviewer", "area_leader", "finance_leader")
VILLAGE_CHAIN = ("handler", "supervisor", "director", "secretary")
CATEGORIES = ("travel", "hospitality", "procurement", "project", "other")
LARGE = Decimal("50000")  # the demo config's large_amount (an example figure, not the law's)


@dataclass
class Batch:
    expenses: list[tuple[Any, ...]]
    signatures: list[tuple[Any, ...]]


def signer(unit_id: str, role: str, k: int = 0) -> str:
    """Person ids by unit and role: ``MZJ-handler-2``; the unit head is ``MZJ-head``."""
    return f"{unit_id}-{role}-{k}" if role != "head" else f"{unit_id}-head"


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = ("建国", "秀英", "志强", "丽娟", "海燕", "文军", "晓东", "红梅", "国庆", "玉兰", "永红",
         "德明", "春花", "振华", "桂芳", "立新", "淑珍", "学文", "晓燕", "宏伟", "金凤", "光明",
         "玉梅", "建华", "小平", "凤英", "卫东", "秀兰", "俊杰", "美玲", "长青")


def person_name(n: int) -> str:
    """The n-th demo person's name: letters name people, so the demo's have names, not roles."""
    return SURNAMES[n % len(SURNAMES)] + GIVEN[(n * 7 + n // len(SURNAMES)) % len(GIVEN)]


def people(units: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """The people table: per unit a head (一把手), a finance leader and the other signers."""
    out: list[dict[str, Any]] = []
    for unit_id, _name, kind in units:
        out.append({"person_id": signer(unit_id, "head"), "name": person_name(len(out)),
                    "unit_id": unit_id, "is_head": True, "is_finance_leader": False})
        chain = VILLAGE_CHAIN if kind == "village" else DEPARTMENT_CHAIN
        for role in chain:
            for k in range(3 if role == "handler" else 1):
                out.append({"person_id": signer(unit_id, role, k), "name": person_name(len(out)),
                            "unit_id": unit_id, "is_head": False,
                            "is_finance_leader": role == "finance_leader"})
    return out


def generate(n: int, units: list[tuple[str, str, str]], *, seed: int = 20261116,
             first: dt.date = dt.date(2026, 8, 3), last: dt.date = dt.date(2026, 11, 13),
             payees_per_unit: int = 40, batch_size: int = 10_000,
             id_prefix: str = "PZ", large_share: float = 0.02) -> Iterator[Batch]:
    """``n`` vouchers with their signatures, in batches. Times are naive (local zone)."""
    rng = random.Random(seed)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    days = [d for d in days if d.weekday() < 5]
    batch = Batch([], [])
    for i in range(n):
        unit_id, _, kind = units[rng.randrange(len(units))]
        village = kind == "village"
        chain = VILLAGE_CHAIN if village else DEPARTMENT_CHAIN
        paid = dt.datetime.combine(rng.choice(days), dt.time(rng.randint(9, 16), rng.choice((0, 30))))
        r = rng.random()
        decision = None
        if r < large_share:  # large: usually under a decision, sometimes a 会签 one or none
            amount = Decimal(rng.randint(50_000, 300_000))
            u = rng.random()
            decision = None if u < 0.2 else f"JC-{unit_id}-{0 if u < 0.3 else rng.randint(1, 3)}"
        else:
            amount = Decimal(rng.randint(5_000, 1_500_000)).scaleb(-2)  # 50.00 … 15,000.00
        voucher_id = f"{id_prefix}{i:08d}"
        batch.expenses.append((voucher_id, unit_id, amount, rng.choice(CATEGORIES),
                               f"供应商{rng.randrange(payees_per_unit):04d}", paid, decision))
        signed = [(role, signer(unit_id, role, rng.randrange(3) if role == "handler" else 0))
                  for role in chain]
        a = rng.random()
        if a < 0.02:  # a role missing
            signed.pop(rng.randrange(1, len(signed)))
        elif a < 0.03:  # one pen: the same person in every role
            signed = [(role, signed[-1][1]) for role, _ in signed]
        elif a < 0.035 and not village:  # the head signs as finance leader
            signed[-1] = ("finance_leader", signer(unit_id, "head"))
        start = paid - dt.timedelta(days=rng.randint(1, 3), hours=rng.randint(0, 3))
        times = [start + dt.timedelta(hours=k) for k in range(len(signed))]
        if rng.random() < 0.01 and len(times) > 2:  # two signatures out of order
            times[1], times[2] = times[2], times[1]
        for (role, person), t in zip(signed, times, strict=True):
            batch.signatures.append((voucher_id, role, person, t))
        if len(batch.expenses) >= batch_size:
            yield batch
            batch = Batch([], [])
    if batch.expenses:
        yield batch


def as_dicts(rows: list[tuple[Any, ...]], columns: tuple[str, ...]) -> list[dict[str, Any]]:
    return [dict(zip(columns, r, strict=True)) for r in rows]


def split_example(unit_id: str = "ZJJ") -> Batch:
    """Three payments to one contractor in 20 days, each under 50,000, 60,000 in all."""
    batch = Batch([], [])
    for k, day in enumerate((5, 15, 25)):
        voucher_id = f"PZ-SPLIT-{k + 1}"
        paid = dt.datetime(2026, 10, day, 15)
        batch.expenses.append((voucher_id, unit_id, Decimal("20000.00"), "project", "某建筑工程有限公司",
                               paid, None))
        for i, role in enumerate(DEPARTMENT_CHAIN):
            batch.signatures.append((voucher_id, role, signer(unit_id, role),
                                     paid - dt.timedelta(days=1) + dt.timedelta(hours=i)))
    return batch


#: rows no reader may accept (each becomes a data_quality finding in the demo)
BAD_EXPENSES: list[dict[str, Any]] = [
    {"voucher_id": "PZ-BAD-1", "unit_id": "MZJ", "amount": Decimal("-300.00"), "category": "travel",
     "payee": "某酒店", "paid_at": dt.datetime(2026, 10, 14, 10)},
    {"voucher_id": "PZ-BAD-2", "unit_id": "MZJ", "amount": Decimal("1200.00"), "category": "travel",
     "payee": "某酒店", "paid_at": None},
]

__all__ = ["BAD_EXPENSES", "CATEGORIES", "DEPARTMENT_CHAIN", "EXPENSE_COLUMNS", "SIGNATURE_COLUMNS",
           "VILLAGE_CHAIN", "Batch", "as_dicts", "generate", "people", "signer", "split_example"]
