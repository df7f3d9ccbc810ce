"""``scan --format json`` lines: Finding.to_json_line() is to_json() on one line, UTF-8 as is."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

from sunlight.checks.base import Finding
from sunlight.monitor.clock import LimitUnit


def _finding() -> Finding:
    return Finding(
        check="case_overdue", subject="MZJ202610090001", unit_id="MZJ", tier="level3",
        summary="办件MZJ202610090001（最低生活保障审批）承诺时限15个工作日，\n至今未办结",
        deadline=dt.datetime(2026, 10, 30, 23, 59, 59, tzinfo=ZoneInfo("Asia/Shanghai")),
        overdue=Decimal("2.5"), measure=LimitUnit.workday, item_code="MZ-001",
        evidence={"skipped_days": [{"date": "2026-10-01", "reason": "国庆节"}],
                  "extension": 10.0, "handler": None, "uncovered": False, "limit": 15},
        source="approvals",
    )


def test_line_is_the_json_object_on_one_line() -> None:
    f = _finding()
    line = f.to_json_line()
    assert line.endswith("\n") and line.count("\n") == 1  # the summary's newline is escaped
    assert json.loads(line) == f.to_json()


def test_line_keeps_chinese_text_readable_and_numbers_exact() -> None:
    line = _finding().to_json_line()
    assert "国庆节" in line and "\\u" not in line
    obj = json.loads(line)
    assert obj["overdue"] == 2.5 and obj["evidence"]["limit"] == 15
    assert obj["deadline"] == "2026-10-30T23:59:59+08:00"
    assert obj["measure"] == "workday"
