"""Family F (spending): signature chains from 003:567 and 003:1253/1299, 一支笔, 一把手,
大额 without a sound collective decision, split payments, signing order; money exact."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.conftest import SourceDB, at
from tests.test_checks_publications import scan

UNITS = [
    {"unit_id": "D1", "name": "县民政局", "kind": "department"},
    {"unit_id": "V1", "name": "东村村委会", "kind": "village"},
]
PEOPLE = [
    {"person_id": "H1", "name": "局长甲", "unit_id": "D1", "is_head": True},
    {"person_id": "A1", "name": "副局长乙", "unit_id": "D1", "is_head": False},
    {"person_id": "F1", "name": "副局长丙", "unit_id": "D1", "is_head": False,
     "is_finance_leader": True},
    {"person_id": "S1", "name": "村支书丁", "unit_id": "V1", "is_head": True},
]
T0 = dt.datetime(2026, 10, 12, 9)  # Mon 12 Oct 2026
DEPT = ("handler", "reviewer", "area_leader", "finance_leader")
ALL_F = ["signature_chain_incomplete", "single_signature", "duplicate_role_signer",
         "head_signs_directly", "large_amount_without_decision", "split_payment", "signature_order"]


def voucher(vid: str, unit: str = "D1", amount: str = "1200.00", category: str = "travel",
            payee: str | None = None, paid: dt.datetime = dt.datetime(2026, 10, 16, 15),
            decision: str | None = None) -> dict:
    return {"voucher_id": vid, "unit_id": unit, "amount": Decimal(amount), "category": category,
            "payee": payee, "paid_at": paid, "decision_id": decision}


def signs(vid: str, *pairs: tuple[str, str], start: dt.datetime = T0) -> list[dict]:
    """(role, person) in signing order, one hour apart."""
    return [{"voucher_id": vid, "role": role, "person_id": person,
             "signed_at": start + dt.timedelta(hours=i)} for i, (role, person) in enumerate(pairs)]


def dept_chain(vid: str, start: dt.datetime = T0) -> list[dict]:
    return signs(vid, ("handler", "E1"), ("reviewer", "R1"), ("area_leader", "A1"),
                 ("finance_leader", "F1"), start=start)


def load(db: SourceDB, vouchers: list[dict], sigs: list[dict], decisions: list[dict] | None = None
         ) -> None:
    db.load("units", UNITS)
    db.load("people", PEOPLE)
    db.load("expenses", vouchers)
    db.load("expense_signatures", sigs)
    if decisions is not None:
        db.load("decisions", decisions)


def found(db: SourceDB, write_config, checks: list[str] | None = None,
          when: dt.datetime | None = None, extra: str = "") -> list[tuple[str, str]]:
    when = when or at(2026, 11, 2, 9)
    return [(f.check, f.subject) for f in scan(db, write_config, when, checks or ALL_F, extra)]


def test_village_voucher_missing_the_supervisors_stamp(sqlite_db: SourceDB, write_config) -> None:
    """003:1299: 经手人签字, 交村务监督委员会…盖章, 再由村支部书记、村委会主任联签."""
    load(sqlite_db, [voucher("V1-001", unit="V1"), voucher("V1-002", unit="V1")],
         signs("V1-001", ("handler", "J1"), ("director", "Z1"), ("secretary", "S1"))
         + signs("V1-002", ("handler", "J1"), ("supervisor", "M1"), ("secretary", "S1"),
                 ("director", "Z1")))
    fs = scan(sqlite_db, write_config, at(2026, 11, 2, 9), ALL_F)
    assert [(f.check, f.subject) for f in fs] == [("signature_chain_incomplete", "V1-001")]
    assert "缺少村务监督委员会签字" in fs[0].summary and fs[0].tier == "level3"
    assert fs[0].evidence["profile"] == "village"
    # secretary before director is fine: they sign jointly (联签), in no order


def test_department_chain_complete_and_missing_finance_leader(sqlite_db: SourceDB,
                                                             write_config) -> None:
    """003:567: 经办人、审核人、分管领导、分管财务工作领导的程序履行签字审批后方能报销."""
    load(sqlite_db, [voucher("D-001"), voucher("D-002")],
         dept_chain("D-001") + signs("D-002", ("handler", "E1"), ("reviewer", "R1"),
                                     ("area_leader", "A1")))
    fs = scan(sqlite_db, write_config, at(2026, 11, 2, 9), ALL_F)
    assert [(f.check, f.subject) for f in fs] == [("signature_chain_incomplete", "D-002")]
    assert fs[0].evidence["missing_roles"] == ["finance_leader"]


def test_one_pen_and_one_person_in_two_roles(sqlite_db: SourceDB, write_config) -> None:
    """000:2252 一把手“一支笔”; 003:467 审查与批准相分离."""
    load(sqlite_db, [voucher("D-010"), voucher("D-011")],
         signs("D-010", ("handler", "A1"), ("reviewer", "A1"), ("area_leader", "A1"),
               ("finance_leader", "A1"))
         + signs("D-011", ("handler", "E1"), ("reviewer", "F1"), ("area_leader", "A1"),
                 ("finance_leader", "F1")))
    got = found(sqlite_db, write_config)
    assert got == [("duplicate_role_signer", "D-010"), ("duplicate_role_signer", "D-011"),
                   ("single_signature", "D-010")]


def test_two_people_are_not_one_pen(sqlite_db: SourceDB, write_config) -> None:
    load(sqlite_db, [voucher("D-020")], signs("D-020", ("handler", "E1"), ("finance_leader", "F1")))
    assert found(sqlite_db, write_config, ["single_signature", "duplicate_role_signer"]) == []


def test_head_signs_as_finance_leader_but_may_sign_as_head(sqlite_db: SourceDB,
                                                           write_config) -> None:
    """003:561 一把手不直接分管…财务; signing as 主要负责人 (审核决策, 000:900) is allowed."""
    load(sqlite_db, [voucher("D-030"), voucher("D-031"), voucher("V1-030", unit="V1")],
         signs("D-030", ("handler", "E1"), ("reviewer", "R1"), ("area_leader", "A1"),
               ("finance_leader", "H1"))
         + dept_chain("D-031") + signs("D-031", ("head", "H1"), start=T0 + dt.timedelta(hours=5))
         + signs("V1-030", ("handler", "J1"), ("supervisor", "M1"), ("director", "Z1"),
                 ("secretary", "S1")))
    fs = scan(sqlite_db, write_config, at(2026, 11, 2, 9), ["head_signs_directly"])
    assert [f.subject for f in fs] == ["D-030"]
    assert "主要负责人局长甲以分管财务领导身份签字" in fs[0].summary


DECISIONS = [
    {"decision_id": "JC-1", "unit_id": "D1", "category": "large_fund", "method": "meeting",
     "meeting_at": dt.datetime(2026, 10, 9, 15), "materials_sent_at": dt.datetime(2026, 9, 30, 10),
     "should_attend": 7, "present": 6, "votes_for": 5, "amount": Decimal("100000")},
    {"decision_id": "JC-2", "unit_id": "D1", "category": "large_fund", "method": "countersign",
     "meeting_at": dt.datetime(2026, 10, 9, 15), "amount": Decimal("100000")},
    {"decision_id": "JC-3", "unit_id": "D1", "category": "large_fund", "method": "meeting",
     "meeting_at": dt.datetime(2026, 10, 20, 15), "materials_sent_at": dt.datetime(2026, 10, 16, 10),
     "should_attend": 7, "present": 6, "votes_for": 5},
]
LARGE = "checks:\n  large_amount_without_decision: {large_amount: '50000.00'}\n"


def test_large_amount_needs_a_sound_collective_decision(sqlite_db: SourceDB, write_config) -> None:
    """003:567 对于大额的需要经过领导班子会议集体审定; 003:811 不得以…会签…代替集体决策."""
    vs = [
        voucher("L-1", amount="50000.00"),                   # at the threshold, no decision
        voucher("L-2", amount="49999.99"),                   # one fen below: not large
        voucher("L-3", amount="80000.00", decision="JC-1"),  # sound meeting decision
        voucher("L-4", amount="80000.00", decision="JC-2"),  # decided by 会签
        voucher("L-5", amount="80000.00", decision="JC-3"),  # decided after the payment
        voucher("L-6", amount="80000.00", decision="JC-9"),  # no such decision
        voucher("L-7", amount="120000.00", decision="JC-1"),  # more than the decision allowed
    ]
    load(sqlite_db, vs, [s for v in vs for s in dept_chain(v["voucher_id"])], DECISIONS)
    fs = scan(sqlite_db, write_config, at(2026, 11, 2, 9), ["large_amount_without_decision"], LARGE)
    assert {f.subject: f.evidence["problem"] for f in fs} == {
        "L-1": "无集体决策依据",
        "L-4": "所引决策JC-2不合规：以会签方式代替领导班子会议集体讨论决定",
        "L-5": "所引决策JC-3晚于付款（事后补决策）",
        "L-6": "所引决策JC-9不存在",
        "L-7": "所引决策JC-1批准金额100,000.00元小于支付金额",
    }
    assert all(f.tier == "level2" for f in fs)
    assert fs[0].evidence["amount"] == "50000.00"


def test_split_payment_sum_reaches_the_threshold(sqlite_db: SourceDB, write_config) -> None:
    vs = [
        voucher("S-1", amount="20000.00", payee="某建筑公司", paid=dt.datetime(2026, 10, 8, 10)),
        voucher("S-2", amount="20000.00", payee="某建筑公司", paid=dt.datetime(2026, 10, 20, 10)),
        voucher("S-3", amount="10000.00", payee="某建筑公司", paid=dt.datetime(2026, 11, 6, 10)),
        # near miss: 20,000 + 20,000 + 9,999.99 = 49,999.99
        voucher("N-1", amount="20000.00", payee="某印刷厂", paid=dt.datetime(2026, 10, 8, 10)),
        voucher("N-2", amount="20000.00", payee="某印刷厂", paid=dt.datetime(2026, 10, 20, 10)),
        voucher("N-3", amount="9999.99", payee="某印刷厂", paid=dt.datetime(2026, 11, 6, 10)),
        # 31 days apart: not within the window
        voucher("W-1", amount="30000.00", payee="某车队", paid=dt.datetime(2026, 10, 1, 10)),
        voucher("W-2", amount="30000.00", payee="某车队", paid=dt.datetime(2026, 11, 1, 10, 0, 1)),
    ]
    load(sqlite_db, vs, [s for v in vs for s in dept_chain(v["voucher_id"])], [])
    fs = scan(sqlite_db, write_config, at(2026, 11, 10, 9), ["split_payment"], LARGE)
    # 8 Oct → 6 Nov is 29 days: all three in one window, 50,000.00 in total
    assert [(f.subject, f.evidence["total"]) for f in fs] == [("D1:某建筑公司:S-1", "50000.00")]
    assert [v["voucher_id"] for v in fs[0].evidence["vouchers"]] == ["S-1", "S-2", "S-3"]
    # as of 1 Nov, S-3 is not paid yet: 40,000 is below the threshold
    assert scan(sqlite_db, write_config, at(2026, 11, 1, 9), ["split_payment"], LARGE) == []


def test_signature_order(sqlite_db: SourceDB, write_config) -> None:
    """003:567 按…的程序: the finance leader signed before the reviewer and the area leader."""
    load(sqlite_db, [voucher("O-1"), voucher("O-2")],
         signs("O-1", ("handler", "E1"), ("finance_leader", "F1"), ("reviewer", "R1"),
               ("area_leader", "A1")) + dept_chain("O-2"))
    fs = scan(sqlite_db, write_config, at(2026, 11, 2, 9), ["signature_order"])
    assert [(f.subject, f.evidence["out_of_order"]["role"]) for f in fs] == [("O-1", "finance_leader")]
    assert fs[0].tier == "reminder"


def test_as_of_signatures_after_t_are_not_there_yet(sqlite_db: SourceDB, write_config) -> None:
    """A signature made on 14 Oct does not exist on 13 Oct; a voucher paid on 16 Oct does not either."""
    sig = dept_chain("A-1")
    sig[-1]["signed_at"] = dt.datetime(2026, 10, 14, 10)
    load(sqlite_db, [voucher("A-1", paid=dt.datetime(2026, 10, 12, 16)), voucher("A-2")],
         sig + signs("A-2", ("handler", "E1")))
    assert found(sqlite_db, write_config, when=at(2026, 10, 13, 9)) == [
        ("signature_chain_incomplete", "A-1")]
    assert found(sqlite_db, write_config, when=at(2026, 10, 15, 9)) == []
    assert found(sqlite_db, write_config, when=at(2026, 10, 17, 9)) == [
        ("signature_chain_incomplete", "A-2"), ("single_signature", "A-2")]


def test_profiles_by_amount_band_from_config(sqlite_db: SourceDB, write_config) -> None:
    extra = """\
checks:
  signature_chain_incomplete:
    profiles:
      - {name: small, below: '1000', chain: [handler, finance_leader]}
      - {name: large, min_amount: '1000', chain: [handler, reviewer, area_leader, finance_leader, head]}
"""
    load(sqlite_db, [voucher("B-1", amount="999.99"), voucher("B-2", amount="1000.00")],
         signs("B-1", ("handler", "E1"), ("finance_leader", "F1")) + dept_chain("B-2"))
    fs = scan(sqlite_db, write_config, at(2026, 11, 2, 9), ["signature_chain_incomplete"], extra)
    assert [(f.subject, f.evidence["missing_roles"]) for f in fs] == [("B-2", ["head"])]


def test_unreadable_vouchers_and_signatures_are_data_quality(sqlite_db: SourceDB,
                                                             write_config) -> None:
    load(sqlite_db, [voucher("Q-1"), voucher("Q-3", unit="ZZ")],
         [*dept_chain("Q-1"), {"voucher_id": "Q-1", "role": None, "person_id": "X"}])
    with sqlite_db.engine.begin() as conn:  # what a careless import leaves behind
        conn.exec_driver_sql("INSERT INTO expenses (voucher_id, unit_id, amount, paid_at) "
                             "VALUES ('Q-2', 'D1', '壹仟元', '2026-10-12 10:00:00')")
        conn.exec_driver_sql("INSERT INTO expenses (voucher_id, unit_id, amount, paid_at) "
                             "VALUES ('Q-4', 'D1', -5, '2026-10-12 10:00:00')")
    fs = scan(sqlite_db, write_config, at(2026, 11, 2, 9), ALL_F)
    assert {(f.evidence["entity"], f.evidence["key"], f.evidence["field"])
            for f in fs if f.check == "data_quality"} == {
        ("expense_signatures", "Q-1", "role"), ("expenses", "Q-2", "amount"),
        ("expenses", "Q-3", "unit_id"), ("expenses", "Q-4", "amount")}
    assert [f for f in fs if f.check != "data_quality"] == []


def test_a_finance_source_without_signatures_or_decisions_tables(sqlite_db: SourceDB,
                                                                 write_config) -> None:
    """Absent tables are not evidence: no chain findings, and the source still scans."""
    sqlite_db.load("units", UNITS)
    sqlite_db.load("expenses", [voucher("X-1", amount="60000.00", decision="JC-1"),
                                voucher("X-2", amount="60000.00")])
    assert found(sqlite_db, write_config, extra=LARGE) == [("large_amount_without_decision", "X-2")]


def test_a_sites_own_voucher_tables_through_the_mapping(sqlite_db: SourceDB, write_config) -> None:
    """Vouchers and signatures under the site's names (凭证表 / 签字表) join on the mapped key."""
    sqlite_db.load("units", UNITS)
    with sqlite_db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE cw_pz (pzh VARCHAR(40), dw VARCHAR(40), je NUMERIC(14, 2), "
                             "zfsj TIMESTAMP)")
        conn.exec_driver_sql("CREATE TABLE cw_qz (pzh VARCHAR(40), js VARCHAR(20), ry VARCHAR(40), "
                             "qzsj TIMESTAMP)")
        conn.exec_driver_sql("INSERT INTO cw_pz VALUES ('M-2', 'V1', 880.5, '2026-10-16 15:00:00'), "
                             "('M-1', 'D1', 1200, '2026-10-16 15:00:00')")
        for role, person in CHAIN_ROWS:
            conn.exec_driver_sql(f"INSERT INTO cw_qz VALUES ('M-1', '{role}', '{person}', "
                                 "'2026-10-12 09:00:00')")
        conn.exec_driver_sql("INSERT INTO cw_qz VALUES ('M-2', 'handler', 'J1', '2026-10-12 09:00:00')")
    extra = """\
    entities:
      expenses:
        table: cw_pz
        columns: {voucher_id: pzh, unit_id: dw, amount: je, paid_at: zfsj}
      expense_signatures:
        query: SELECT pzh AS voucher_id, js AS role, ry AS person_id, qzsj AS signed_at FROM cw_qz
"""
    fs = scan(sqlite_db, write_config, at(2026, 11, 2, 9), ["signature_chain_incomplete"], extra)
    assert [(f.subject, f.evidence["missing_roles"]) for f in fs] == [
        ("M-2", ["supervisor", "director", "secretary"])]
    assert fs[0].evidence["amount"] == "880.50"


CHAIN_ROWS = (("handler", "E1"), ("reviewer", "R1"), ("area_leader", "A1"), ("finance_leader", "F1"))
