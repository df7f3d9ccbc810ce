"""Family K: complaints (002:245–248) and information requests (条例 art. 33).

工作日 where the text says so (转办, 依申请公开), calendar 日 otherwise (告知), with
the last day moved to the next working day when it is not one. Dates by hand
from the 2026 notice (中秋 25–27 Sep; 国庆 1–7 Oct; Sat 10 Oct worked).
"""

from __future__ import annotations

import datetime as dt

from tests.conftest import SourceDB, at
from tests.test_checks_publications import load_once, scan

UNITS = [{"unit_id": "D1", "name": "县民政局", "kind": "department"}]
K = ["complaint_transfer_late", "complaint_reply_late", "complaint_rejection_late",
     "info_request_overdue"]


def complaint(cid: str, received: dt.datetime, real_name: bool = True, accepted: bool | None = True,
              **times: dt.datetime) -> dict:
    return {"complaint_id": cid, "unit_id": "D1", "received_at": received, "real_name": real_name,
            "accepted": accepted, **times}


def run(db: SourceDB, write_config, complaints: list[dict], requests: list[dict],
        when: dt.datetime):
    load_once(db, "units", UNITS)
    load_once(db, "complaints", complaints)
    load_once(db, "info_requests", requests)
    return scan(db, write_config, when, K)


def test_transfer_within_five_working_days(sqlite_db: SourceDB, write_config) -> None:
    """002:245 收到举报之日起5个工作日内转交: received Thu 24 Sep → due end of Fri 9 Oct."""
    rows = [
        complaint("T-1", dt.datetime(2026, 9, 24, 10), transferred_at=dt.datetime(2026, 10, 9, 17),
                  result_notified_at=dt.datetime(2026, 9, 25, 9)),
        complaint("T-2", dt.datetime(2026, 9, 24, 10), transferred_at=dt.datetime(2026, 10, 10, 9),
                  result_notified_at=dt.datetime(2026, 9, 25, 9)),
    ]
    fs = run(sqlite_db, write_config, rows, [], at(2026, 10, 20, 9))
    assert [(f.check, f.subject, f.overdue, f.deadline) for f in fs] == [
        ("complaint_transfer_late", "T-2", 1, at(2026, 10, 9, 23, 59, 59))]
    assert fs[0].measure.value == "workday" and fs[0].tier == "level3"
    # as of 10 Oct 08:00 the transfer has not happened yet: nothing is known to be late
    assert run(sqlite_db, write_config, rows, [], at(2026, 10, 10, 8)) == []


def test_real_name_reply_within_seven_days_rolled_past_mid_autumn(sqlite_db: SourceDB,
                                                                  write_config) -> None:
    """002:247 实名举报…7日内…书面形式告知: received Fri 18 Sep; day 7 is Fri 25 Sep, a holiday
    (中秋 25–27 Sep), so the deadline moves to the end of Mon 28 Sep."""
    rows = [
        complaint("R-1", dt.datetime(2026, 9, 18, 10), result_notified_at=dt.datetime(2026, 9, 28, 17)),
        complaint("R-2", dt.datetime(2026, 9, 18, 10)),
        complaint("R-3", dt.datetime(2026, 9, 18, 10), real_name=False),  # anonymous: no duty
    ]
    fs = run(sqlite_db, write_config, rows, [], at(2026, 9, 29, 9))
    assert [(f.check, f.subject, f.overdue, f.deadline) for f in fs] == [
        ("complaint_reply_late", "R-2", 1, at(2026, 9, 28, 23, 59, 59))]
    assert fs[0].measure.value == "day" and "至今未书面告知举报人处理情况" in fs[0].summary
    assert run(sqlite_db, write_config, rows, [], at(2026, 9, 28, 23)) == []


def test_rejection_reason_within_five_days(sqlite_db: SourceDB, write_config) -> None:
    """002:248 不予受理…5日内告知: received Mon 2 Nov; day 5 is Sat 7 Nov → end of Mon 9 Nov."""
    rows = [
        complaint("N-1", dt.datetime(2026, 11, 2, 9), accepted=False,
                  rejection_notified_at=dt.datetime(2026, 11, 9, 16)),
        complaint("N-2", dt.datetime(2026, 11, 2, 9), accepted=False,
                  rejection_notified_at=dt.datetime(2026, 11, 10, 9)),
    ]
    fs = run(sqlite_db, write_config, rows, [], at(2026, 11, 20, 9))
    # Tue 10 Nov is one calendar day past; the reply check does not apply to rejected ones
    assert [(f.check, f.subject, f.overdue) for f in fs] == [("complaint_rejection_late", "N-2", 1)]


def test_information_request_twenty_working_days_or_forty_with_approval(
        sqlite_db: SourceDB, write_config) -> None:
    """Received Mon 2 Nov 2026: 20 working days → Mon 30 Nov; 40 → Mon 28 Dec (no holidays)."""
    reqs = [
        {"request_id": "I-1", "unit_id": "D1", "received_at": dt.datetime(2026, 11, 2, 9),
         "extended": False, "replied_at": dt.datetime(2026, 11, 30, 17)},
        {"request_id": "I-2", "unit_id": "D1", "received_at": dt.datetime(2026, 11, 2, 9),
         "extended": False},
        {"request_id": "I-3", "unit_id": "D1", "received_at": dt.datetime(2026, 11, 2, 9),
         "extended": True, "extension_approved_by": "信息公开办主任"},
        {"request_id": "I-4", "unit_id": "D1", "received_at": dt.datetime(2026, 11, 2, 9),
         "extended": True},  # extension never approved: 20 days still apply
    ]
    fs = run(sqlite_db, write_config, [], reqs, at(2026, 12, 1, 9))
    assert [(f.subject, f.overdue, f.deadline) for f in fs] == [
        ("I-2", 1, at(2026, 11, 30, 23, 59, 59)), ("I-4", 1, at(2026, 11, 30, 23, 59, 59))]
    assert "延期未经批准" in fs[1].summary
    later = run(sqlite_db, write_config, [], reqs, at(2026, 12, 29, 9))
    assert [(f.subject, f.deadline) for f in later if f.subject == "I-3"] == [
        ("I-3", at(2026, 12, 28, 23, 59, 59))]


def test_unreadable_complaints_and_requests_are_data_quality(sqlite_db: SourceDB,
                                                             write_config) -> None:
    rows = [complaint("B-1", dt.datetime(2026, 11, 2, 9), transferred_at=dt.datetime(2026, 11, 1, 9)),
            complaint("B-2", None)]
    reqs = [{"request_id": "  ", "unit_id": "D1", "received_at": dt.datetime(2026, 11, 2, 9)}]
    fs = run(sqlite_db, write_config, rows, reqs, at(2026, 11, 3, 9))
    assert {(f.evidence["entity"], f.evidence["key"], f.evidence["field"]) for f in fs} == {
        ("complaints", "B-1", "transferred_at"), ("complaints", "B-2", "received_at"),
        ("info_requests", "?@1", "request_id")}
