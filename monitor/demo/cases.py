"""Realistic sample approval cases for the demo, the tests and the benchmark.

Deterministic for a seed. The shape follows data-model.md: most cases finish
on time, some late, a few past the statutory limit; about a fifth are paused
for 补正 or a special procedure, some are extended (not always with approval),
some carry workflow steps, a few are refused (not always with a reason).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sunlight.monitor.calendar import WorkCalendar

UNITS: list[tuple[str, str, str]] = [  # unit_id, name, kind
    ("CGZ", "城关镇人民政府", "township"),
    ("HKZ", "河口镇人民政府", "township"),
    ("MZJ", "县民政局", "department"),
    ("YJJ", "县应急管理局", "department"),
    ("SJJ", "县市场监督管理局", "department"),
    ("ZRJ", "县自然资源局", "department"),
    ("ZJJ", "县住房和城乡建设局", "department"),
    ("HBJ", "县生态环境局", "department"),
    ("RSJ", "县人力资源和社会保障局", "department"),
    ("JTJ", "县交通运输局", "department"),
    ("WJJ", "县卫生健康局", "department"),
    ("JYJ", "县教育局", "department"),
]


@dataclass(frozen=True)
class Item:
    code: str
    name: str
    promised: int
    statutory: int | None
    unit: str = "workday"


ITEMS: dict[str, list[Item]] = {
    "CGZ": [Item("XZ-001", "农村宅基地审批", 20, 30, "day"),
            Item("XZ-002", "临时救助审批", 5, 10)],
    "HKZ": [Item("XZ-001", "农村宅基地审批", 20, 30, "day"),
            Item("XZ-003", "乡村建设规划许可", 10, 20)],
    "MZJ": [Item("MZ-001", "最低生活保障审批", 15, 30),
            Item("MZ-002", "社会团体成立登记", 20, 60)],
    "YJJ": [Item("YJ-001", "危险化学品经营许可", 15, 30),
            Item("YJ-002", "非煤矿矿山企业安全生产许可", 15, 45)],
    "SJJ": [Item("SJ-001", "食品经营许可", 10, 20),
            Item("SJ-002", "营业执照设立登记", 24, None, "hour")],
    "ZRJ": [Item("ZR-001", "建设用地规划许可", 10, 20),
            Item("ZR-002", "不动产首次登记", 5, 30)],
    "ZJJ": [Item("ZJ-001", "建筑工程施工许可", 7, 15),
            Item("ZJ-002", "商品房预售许可", 10, 20)],
    "HBJ": [Item("HB-001", "建设项目环境影响评价审批", 30, 60),
            Item("HB-002", "排污许可证核发", 20, 30)],
    "RSJ": [Item("RS-001", "人力资源服务许可", 10, 20)],
    "JTJ": [Item("JT-001", "道路运输经营许可", 10, 20),
            Item("JT-002", "公路超限运输许可", 5, 15)],
    "WJJ": [Item("WJ-001", "医疗机构执业许可", 20, 45)],
    "JYJ": [Item("JY-001", "民办学校办学许可", 30, 90)],
}

HANDLERS = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周婷", "吴军",
            "徐丽", "孙浩", "胡敏", "朱杰", "高翔", "林娟"]
APPROVERS = ["局长 郑国强", "镇长 何建华", "局长 马永红"]
STEPS = ["受理", "审查", "决定"]


@dataclass
class Generated:
    cases: list[dict[str, Any]]
    pauses: list[dict[str, Any]]
    extensions: list[dict[str, Any]]
    steps: list[dict[str, Any]]


def _work_time(rng: random.Random, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(rng.randint(8, 16), rng.choice((0, 15, 30, 45))))


def _nth_workday(cal: WorkCalendar, day: dt.date, n: int) -> dt.date:
    return cal.add_workdays(day, max(n, 1))


def generate(
    n: int,
    *,
    seed: int = 20261116,
    first: dt.date = dt.date(2026, 8, 3),
    last: dt.date = dt.date(2026, 11, 13),
    as_of: dt.date = dt.date(2026, 11, 16),
    cal: WorkCalendar | None = None,
    id_prefix: str = "",
) -> Iterator[Generated]:
    """Yield cases in batches of at most 10,000 (with their children).

    Times are naive (the source's local zone). Completion times are drawn
    relative to the working-day deadline so the mix of on-time and late cases
    is realistic; the checks, not this generator, decide what is late.
    """
    rng = random.Random(seed)
    cal = cal or WorkCalendar()
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    workdays = [d for d in days if cal.is_workday(d)]
    batch = Generated([], [], [], [])
    seqs: dict[tuple[str, dt.date], int] = {}
    for i in range(n):
        unit_id, _, _ = UNITS[rng.randrange(len(UNITS))]
        item = rng.choice(ITEMS[unit_id])
        day = rng.choice(workdays)
        seq = seqs[(unit_id, day)] = seqs.get((unit_id, day), 0) + 1
        case_id = f"{id_prefix}{unit_id}{day:%Y%m%d}{seq:04d}" if not id_prefix else \
            f"{id_prefix}{i:08d}"
        accepted = _work_time(rng, day)
        handler = rng.choice(HANDLERS)
        limit_days = item.promised if item.unit != "hour" else 1
        # pauses: about one case in five
        pause_days = 0
        r = rng.random()
        if r < 0.20:
            start = _nth_workday(cal, day, rng.randint(1, max(1, limit_days // 2)))
            length = rng.randint(1, 6)
            end = _nth_workday(cal, start, length)
            kind = "supplement" if rng.random() < 0.75 else "special_procedure"
            still_open = end >= as_of and rng.random() < 0.5
            batch.pauses.append({"case_id": case_id, "kind": kind,
                                 "started_at": _work_time(rng, start),
                                 "ended_at": None if still_open else _work_time(rng, end)})
            pause_days = length
            if kind == "supplement" and rng.random() < 0.12:  # 一次性告知 broken
                s2 = _nth_workday(cal, end, 1)
                e2 = _nth_workday(cal, s2, 2)
                batch.pauses.append({"case_id": case_id, "kind": "supplement",
                                     "started_at": _work_time(rng, s2),
                                     "ended_at": _work_time(rng, e2)})
                pause_days += 3
        # extensions: about one in twenty
        ext_days = 0
        if rng.random() < 0.05 and item.unit == "workday":
            ext_days = rng.choice((5, 10, 10, 15))
            approved = rng.random() < 0.8
            at = _work_time(rng, _nth_workday(cal, day, max(1, item.promised - 2)))
            batch.extensions.append({
                "case_id": case_id, "extra": Decimal(ext_days),
                "approved_by": rng.choice(APPROVERS) if approved else None,
                "approved_at": at if approved else None,
                "reason": "需现场核查" if approved else "材料复杂",
            })
        # completion: 72% finish; of those most on time
        outcome, reason, completed = None, None, None
        # old cases are nearly all finished; recent ones often still open
        age = cal.workdays_between(day, as_of)
        finish_rate = 0.97 if age > limit_days + 10 else 0.6
        if rng.random() < finish_rate:
            u = rng.random()
            if u < 0.85:
                used = rng.randint(1, max(1, limit_days))
            elif u < 0.96:
                used = limit_days + rng.randint(1, 6)
            else:
                used = (item.statutory or limit_days) + rng.randint(1, 10)
            if item.unit == "hour":
                completed = accepted + dt.timedelta(hours=rng.choice((4, 20, 23, 30, 50)))
            elif item.unit == "day":
                completed = accepted + dt.timedelta(days=used + pause_days)
            else:
                completed = _work_time(rng, _nth_workday(cal, day, used + pause_days + ext_days))
            if completed.date() >= as_of:
                completed = None
            else:
                v = rng.random()
                if v < 0.90:
                    outcome = "approved"
                elif v < 0.97:
                    outcome = "refused"
                    reason = None if rng.random() < 0.3 else "申请材料不符合法定条件"
                else:
                    outcome = "withdrawn"
        if completed is not None and completed < accepted:
            completed = accepted + dt.timedelta(hours=2)
        batch.cases.append({
            "case_id": case_id, "unit_id": unit_id, "item_code": item.code,
            "item_name": item.name, "handler": handler, "accepted_at": accepted,
            "promised_limit": Decimal(item.promised),
            "statutory_limit": None if item.statutory is None else Decimal(item.statutory),
            "limit_unit": item.unit, "completed_at": completed, "outcome": outcome,
            "outcome_reason": reason, "updated_at": completed or accepted,
        })
        if item.unit == "workday" and rng.random() < 0.3:
            t = accepted
            for k, name in enumerate(STEPS, start=1):
                step_limit = max(1, item.promised // 3)
                used = rng.randint(1, step_limit + (2 if rng.random() < 0.1 else 0))
                done = _work_time(rng, _nth_workday(cal, t.date(), used))
                finished = None if done.date() >= as_of else done
                batch.steps.append({"case_id": case_id, "seq": k, "name": name,
                                    "handler": handler, "started_at": t,
                                    "finished_at": finished, "step_limit": Decimal(step_limit),
                                    "limit_unit": "workday"})
                if finished is None:
                    break
                t = finished
        if len(batch.cases) >= 10_000:
            yield batch
            batch = Generated([], [], [], [])
    if batch.cases:
        yield batch


#: rows no reader may accept: each becomes a data_quality finding in the demo
BAD_CASES: list[dict[str, Any]] = [
    {"case_id": "MZJ202610090099", "unit_id": "MZJ", "item_code": "MZ-001",
     "item_name": "最低生活保障审批", "handler": "王芳", "accepted_at": None,
     "promised_limit": Decimal(15), "statutory_limit": Decimal(30), "limit_unit": "workday"},
    {"case_id": "ZJJ202609300098", "unit_id": "ZJJ", "item_code": "ZJ-001",
     "item_name": "建筑工程施工许可", "handler": "杨磊",
     "accepted_at": dt.datetime(2026, 9, 30, 10), "completed_at": dt.datetime(2026, 9, 28, 15),
     "promised_limit": Decimal(7), "statutory_limit": Decimal(15), "limit_unit": "workday",
     "outcome": "approved"},
    {"case_id": "HBJ202610120097", "unit_id": "HBJ", "item_code": "HB-002",
     "item_name": "排污许可证核发", "handler": "黄强",
     "accepted_at": dt.datetime(2026, 10, 12, 9), "promised_limit": Decimal(-20),
     "statutory_limit": Decimal(30), "limit_unit": "workday"},
    {"case_id": "XXX202610150096", "unit_id": "XXX", "item_code": "XX-001",
     "item_name": "未登记单位的事项", "handler": "无名",
     "accepted_at": dt.datetime(2026, 10, 15, 9), "promised_limit": Decimal(5),
     "limit_unit": "workday"},
]
