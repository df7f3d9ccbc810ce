"""One fixture with every family, on SQLite, PostgreSQL and MariaDB: the same findings.

The expected list is written out (each entry checked by hand against the rule
and the 2026 calendar), so "identical on all three" also means "right".
Money goes through each engine's NUMERIC (SQLite stores it as REAL or INTEGER)
and must still compare exactly: 49,999.99 stays one fen below 50,000.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.conftest import SourceDB, at
from tests.test_checks_publications import scan

D = dt.datetime
UNITS = [
    {"unit_id": "D1", "name": "县民政局", "kind": "department"},
    {"unit_id": "V1", "name": "东村村委会", "kind": "village"},
    {"unit_id": "V2", "name": "西村村委会", "kind": "village"},
]
PEOPLE = [
    {"person_id": "H1", "name": "局长甲", "unit_id": "D1", "is_head": True, "is_finance_leader": False},
    {"person_id": "F1", "name": "副局长丙", "unit_id": "D1", "is_head": False, "is_finance_leader": True},
]
CASES = [
    {"case_id": "C1", "unit_id": "D1", "item_code": "MZ-001", "item_name": "最低生活保障审批",
     "accepted_at": D(2026, 9, 10, 9), "promised_limit": Decimal(15), "limit_unit": "workday",
     "completed_at": D(2026, 9, 24, 10), "outcome": "approved"},
    {"case_id": "C2", "unit_id": "D1", "item_code": "MZ-001", "item_name": "最低生活保障审批",
     "accepted_at": D(2026, 9, 10, 9), "promised_limit": Decimal(15), "limit_unit": "workday",
     "completed_at": D(2026, 9, 24, 10), "outcome": "approved"},
]
PUBLICATIONS = [
    {"publication_id": "P1", "unit_id": "V2", "subject": "village_affairs", "period": "2026-Q3",
     "published_at": D(2026, 10, 15, 18)},
    {"publication_id": "P2", "unit_id": "V1", "subject": "village_affairs", "period": "2026-Q3",
     "published_at": D(2026, 10, 19, 10)},
    {"publication_id": "R1", "unit_id": "D1", "subject": "case_result", "ref_id": "C1",
     "published_at": D(2026, 10, 9, 16), "posted_until": D(2026, 10, 20, 17)},
    {"publication_id": "BAD", "unit_id": "V1", "subject": "village_affairs", "period": "2026-Q7",
     "published_at": D(2026, 10, 9, 16)},
]


def _sigs(vid: str, *pairs: tuple[str, str]) -> list[dict]:
    return [{"voucher_id": vid, "role": r, "person_id": p, "signed_at": D(2026, 10, 12, 9 + i)}
            for i, (r, p) in enumerate(pairs)]


CHAIN = (("handler", "E1"), ("reviewer", "R1"), ("area_leader", "A1"), ("finance_leader", "F1"))
EXPENSES = [
    {"voucher_id": "E-01", "unit_id": "V1", "amount": Decimal("3200.50"), "category": "project",
     "payee": "某砂石厂", "paid_at": D(2026, 10, 16, 15)},
    {"voucher_id": "E-02", "unit_id": "D1", "amount": Decimal("50000.00"), "category": "procurement",
     "payee": "某设备公司", "paid_at": D(2026, 10, 16, 15)},
    {"voucher_id": "E-03", "unit_id": "D1", "amount": Decimal("49999.99"), "category": "procurement",
     "payee": "某文具店", "paid_at": D(2026, 10, 16, 15)},
    {"voucher_id": "E-04", "unit_id": "D1", "amount": Decimal("30000.00"), "category": "project",
     "payee": "某建筑公司", "paid_at": D(2026, 10, 20, 15)},
    {"voucher_id": "E-05", "unit_id": "D1", "amount": Decimal("25000.00"), "category": "project",
     "payee": "某建筑公司", "paid_at": D(2026, 11, 5, 15)},
    {"voucher_id": "E-06", "unit_id": "D1", "amount": Decimal("900.00"), "category": "hospitality",
     "payee": "某酒店", "paid_at": D(2026, 10, 16, 15), "decision_id": None},
    {"voucher_id": "E-07", "unit_id": "D1", "amount": Decimal("80000.00"), "category": "project",
     "payee": "某路桥公司", "paid_at": D(2026, 10, 16, 15), "decision_id": "J-1"},
]
SIGNATURES = (
    _sigs("E-01", ("handler", "J1"), ("director", "Z1"), ("secretary", "S1"))
    + _sigs("E-02", *CHAIN) + _sigs("E-03", *CHAIN) + _sigs("E-04", *CHAIN) + _sigs("E-05", *CHAIN)
    + _sigs("E-06", ("handler", "H1"), ("finance_leader", "H1"))
    + _sigs("E-07", ("handler", "E1"), ("area_leader", "A1"), ("reviewer", "R1"), ("finance_leader", "F1"))
)
DECISIONS = [
    {"decision_id": "J-1", "unit_id": "D1", "category": "major_project", "method": "countersign",
     "meeting_at": D(2026, 10, 9, 15), "amount": Decimal("100000.00")},
    {"decision_id": "J-2", "unit_id": "D1", "category": "major_decision", "method": "meeting",
     "meeting_at": D(2026, 10, 8, 10), "materials_sent_at": D(2026, 10, 8, 8),
     "should_attend": 8, "present": 3, "votes_for": 3},
    # the 分管领导 H1 stayed away (000:898 分管领导必须参加); 4 of 8 is a quorum (半数以上)
    {"decision_id": "J-3", "unit_id": "D1", "category": "major_decision", "method": "meeting",
     "meeting_at": D(2026, 10, 13, 10), "materials_sent_at": D(2026, 10, 9, 8), "body": "局务会",
     "should_attend": 8, "present": 4, "votes_for": 4, "leader_in_charge": "H1",
     "leader_present": False},
    # an emergency of Fri 16 Oct not reported at the 局务会 of Tue 20 Oct (000:898)
    {"decision_id": "J-4", "unit_id": "D1", "category": "major_project", "method": "individual",
     "meeting_at": D(2026, 10, 16, 18), "emergency": True, "body": "局务会"},
    {"decision_id": "J-5", "unit_id": "D1", "category": "other", "method": "meeting",
     "meeting_at": D(2026, 10, 20, 10), "materials_sent_at": D(2026, 10, 16, 8), "body": "局务会",
     "should_attend": 8, "present": 7, "votes_for": 7},
]
COMPLAINTS = [
    {"complaint_id": "K-1", "unit_id": "D1", "received_at": D(2026, 9, 24, 10), "real_name": True,
     "accepted": True, "transferred_at": D(2026, 10, 10, 9), "result_notified_at": D(2026, 9, 28, 9)},
    {"complaint_id": "K-2", "unit_id": "D1", "received_at": D(2026, 11, 2, 9), "real_name": True,
     "accepted": False, "rejection_notified_at": D(2026, 11, 10, 9)},
    {"complaint_id": "K-3", "unit_id": "D1", "received_at": D(2026, 11, 18, 9), "real_name": True,
     "accepted": True},
]
INFO_REQUESTS = [
    {"request_id": "I-1", "unit_id": "D1", "received_at": D(2026, 11, 2, 9), "extended": False},
]
TENURES = [
    {"person_id": "P1", "unit_id": "D1", "post": "会计", "risk_class": "A",
     "started_at": D(2021, 3, 1, 9)},
]
CONFIG = """\
checks:
  large_amount_without_decision: {large_amount: '50000.00'}
  publication_missing:
    obligations:
      - {subject: village_affairs, units: {kind: village}, period: quarter,
         due: {day_of_next_period: 15}, since: 2026-Q3}
"""
AT = at(2026, 12, 1, 9)


def _end(y: int, m: int, d: int) -> dt.datetime:
    return at(y, m, d, 23, 59, 59)


#: (check, subject, unit, tier, overdue, deadline), each worked out by hand
EXPECTED = sorted([
    # C2 completed Thu 24 Sep: +5 working days → end of Fri 9 Oct; unpublished on Tue 1 Dec:
    # 10 Oct (Sat, worked) + 12 Oct … 1 Dec = 1 + 37 working days
    ("case_result_unpublished", "C2", "D1", "level3", 38, _end(2026, 10, 9)),
    # R1 posted Fri 9 Oct → 7 working days are 10, 12, 13, 14, 15, 16, 19 Oct: taken down 20 Oct, fine
    ("publication_late", "V1:village_affairs:2026-Q3", "V1", "reminder", 4, _end(2026, 10, 15)),
    ("signature_chain_incomplete", "E-01", "V1", "level3", None, None),   # no supervisor
    ("signature_chain_incomplete", "E-06", "D1", "level3", None, None),
    ("single_signature", "E-06", "D1", "level2", None, None),
    ("duplicate_role_signer", "E-06", "D1", "level3", None, None),
    ("head_signs_directly", "E-06", "D1", "level3", None, None),
    ("large_amount_without_decision", "E-02", "D1", "level2", None, None),  # 50,000.00 exactly
    ("large_amount_without_decision", "E-07", "D1", "level2", None, None),  # J-1 by 会签
    ("split_payment", "D1:某建筑公司:E-04", "D1", "level2", None, None),    # 30,000 + 25,000 in 16 days
    ("signature_order", "E-07", "D1", "reminder", None, None),             # reviewer after area leader
    ("decision_not_collective", "J-1", "D1", "level2", None, None),
    ("quorum_not_met", "J-2", "D1", "level2", None, None),                 # 3 of 8: under half
    ("votes_insufficient", "J-2", "D1", "level2", None, None),
    ("materials_late", "J-2", "D1", "reminder", 1, _end(2026, 9, 30)),
    ("leader_in_charge_absent", "J-3", "D1", "level2", None, None),
    ("votes_insufficient", "J-3", "D1", "level2", None, None),            # 4 votes of 8: not 超过
    ("emergency_not_reported", "J-4", "D1", "reminder", None, _end(2026, 10, 20)),
    # K-1 received Thu 24 Sep, transferred Sat 10 Oct (worked): due end of Fri 9 Oct, 1 working day
    ("complaint_transfer_late", "K-1", "D1", "level3", 1, _end(2026, 10, 9)),
    # K-2 received Mon 2 Nov, 5 days → Sat 7 Nov → Mon 9 Nov; notified Tue 10 Nov: 1 day
    ("complaint_rejection_late", "K-2", "D1", "level3", 1, _end(2026, 11, 9)),
    # K-3 received Wed 18 Nov, 7 days → Wed 25 Nov; not notified on Tue 1 Dec: 26 Nov … 1 Dec = 6 days
    ("complaint_reply_late", "K-3", "D1", "level3", 6, _end(2026, 11, 25)),
    # I-1 received Mon 2 Nov, 20 working days → Mon 30 Nov; 1 Dec is 1 working day late
    ("info_request_overdue", "I-1", "D1", "level3", 1, _end(2026, 11, 30)),
    # P1 since 1 Mar 2021: five years on 1 Mar 2026; 2 Mar … 1 Dec 2026 = 275 days
    ("post_rotation_due", "P1@D1:会计", "D1", "reminder", 275, _end(2026, 3, 1)),
    ("data_quality", "main:publications:BAD", "V1", "reminder", None, None),
])


def test_every_family_gives_the_same_findings_on_each_engine(source_db: SourceDB,
                                                            write_config) -> None:
    for table, rows in (("units", UNITS), ("people", PEOPLE), ("cases", CASES),
                        ("publications", PUBLICATIONS), ("expenses", EXPENSES),
                        ("expense_signatures", SIGNATURES), ("decisions", DECISIONS),
                        ("complaints", COMPLAINTS), ("info_requests", INFO_REQUESTS),
                        ("post_tenures", TENURES)):
        source_db.load(table, rows)
    found = scan(source_db, write_config, AT, None, CONFIG)
    got = sorted((f.check, f.subject, f.unit_id, f.tier,
                  None if f.overdue is None else int(f.overdue), f.deadline)
                 for f in found if not f.check.startswith(("case_overdue", "case_due", "step_")))
    assert got == EXPECTED
    # the money in the evidence is exact text on every engine
    [large] = [f for f in found if f.check == "large_amount_without_decision" and f.subject == "E-02"]
    assert large.evidence["amount"] == "50000.00"
    [split] = [f for f in found if f.check == "split_payment"]
    assert split.evidence["total"] == "55000.00"


def test_the_demo_shows_every_family(tmp_path) -> None:
    """`sunlight demo` builds approvals.db and finance.db: every check of P, F, D, K, R finds something."""
    from sunlight.checks.registry import load_all
    from sunlight.monitor.demo.run import build_finance, build_sources, write_config
    from sunlight.monitor.engine import Engine
    from tests.test_checks_publications import calendar, settings

    build_sources(tmp_path)
    build_finance(tmp_path)
    engine = Engine(settings(write_config(tmp_path)), calendar=calendar())
    found = []
    try:
        outcomes = engine.scan(at(2026, 11, 16, 9), found.append)
    finally:
        engine.close()
    assert [(o.source, o.ok, dict(o.check_errors)) for o in outcomes] == [
        ("approvals", True, {}), ("finance", True, {})]
    mine = {cid for cid, cls in load_all().items()
            if cls.__module__.split(".")[-1] in ("publications", "spending", "decisions",
                                                 "complaints", "posts")}
    assert len(mine) == 22  # P 4, F 7, D 6, K 4, R 1
    assert mine - {f.check for f in found} == set()
    dq = {(f.source, f.evidence["entity"]) for f in found if f.check == "data_quality"}
    assert {("approvals", "publications"), ("finance", "expenses"), ("finance", "decisions")} <= dq
