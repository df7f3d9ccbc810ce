"""The columnar voucher evaluation gives the record path's findings, field by field, on three engines.

Generated vouchers (monitor.demo.spending: missing roles, one pen, the head
signing, signatures out of order, large amounts with and without decisions,
dense payees so that split windows fire) plus rows built for the edges: amounts
at each threshold and a fen either side, split windows exactly on their span
and a second beyond it, a unit whose override changes every threshold and a
banded profile, signatures without a time or after the as-of time, vouchers
paid after it, orphan signatures before, between and after the vouchers,
unknown units, roles and categories in odd case and spacing, hostile text. A
second scenario loads the same rows into tables of text columns without a
primary key, with duplicate voucher ids and values that do not parse. Each is
scanned with ``columnar: true`` and ``false`` at several instants; every finding
must be equal, and the columnar scans must have handed over few vouchers.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from sunlight.monitor.columnar import fetch
from sunlight.monitor.configure import load_settings
from sunlight.monitor.demo import decisions, spending
from sunlight.monitor.demo.schema import metadata as canonical
from sunlight.monitor.engine import Engine, SourceOutcome
from tests.conftest import SourceDB, at

UNITS = [("U00", "甲村", "village"), ("U01", "乙局", "department"), ("U02", "丙局", "department"),
         ("U03", "丁局", "department"), ("U04", "戊村", "village"), ("U05", "己局", "department")]

CHECKS = """\
checks:
  large_amount_without_decision: {large_amount: '50000.00'}
  overrides:
    - match: {unit_id: U02}
      large_amount_without_decision: {large_amount: '20000.00'}
      split_payment: {window_days: 10}
      single_signature: {min_signers: 3}
    - match: {unit_id: U03}
      split_payment: {large_amount: '30000.00'}
      head_signs_directly: {categories: [travel, project]}
      signature_chain_incomplete:
        profiles:
          - {name: small, below: '1000.00', chain: [handler, reviewer]}
          - {name: big, min_amount: '1000.00', chain: [handler, reviewer, [area_leader, finance_leader]]}
"""

INSTANTS = [at(2026, 9, 30, 9), at(2026, 11, 16, 9), at(2026, 12, 31, 23, 59)]

DEPT = spending.DEPARTMENT_CHAIN


def _v(vid: str, unit: str = "U01", amount: str = "100.00", *, payee: str | None = "某公司",
       paid: dt.datetime = dt.datetime(2026, 10, 12, 10), category: str | None = "travel",
       decision: str | None = None) -> dict[str, Any]:
    return {"voucher_id": vid, "unit_id": unit, "amount": Decimal(amount), "category": category,
            "payee": payee, "paid_at": paid, "decision_id": decision}


def _sigs(vid: str, unit: str = "U01", roles: tuple[str, ...] = DEPT,
          paid: dt.datetime = dt.datetime(2026, 10, 12, 10),
          people: dict[str, str] | None = None) -> list[dict[str, Any]]:
    return [{"voucher_id": vid, "role": r, "person_id": (people or {}).get(r, spending.signer(unit, r)),
             "signed_at": paid - dt.timedelta(days=1) + dt.timedelta(hours=i)}
            for i, r in enumerate(roles)]


def edges() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Vouchers and signatures on the edges of every check (keys ``E…`` sort after ``PZ…``)."""
    v: list[dict[str, Any]] = []
    s: list[dict[str, Any]] = []

    def add(row: dict[str, Any], sigs: list[dict[str, Any]] | None = None) -> None:
        v.append(row)
        s.extend(_sigs(row["voucher_id"], row["unit_id"], paid=row["paid_at"]) if sigs is None else sigs)

    # large amounts: the threshold and a fen either side, with no decision and a sound one
    for k, amt in enumerate(("49999.99", "50000.00", "50000.01", "19999.99", "20000.00", "20000.01")):
        for unit in ("U01", "U02"):
            add(_v(f"E-L{k}-{unit}", unit, amt, payee=f"大额{k}"))
            add(_v(f"E-LD{k}-{unit}", unit, amt, payee=f"大额{k}", decision=f"JC-{unit}-0"))
    # split windows: two payments summing to the threshold, a fen short, exactly on the span,
    # a second beyond it (U01: 30 days, 50,000; U02: 10 days, 20,000; U03: 30 days, 30,000)
    base = dt.datetime(2026, 9, 1, 10)
    cases = [("U01", "25000.00", "25000.00", dt.timedelta(days=30)),
             ("U01", "25000.00", "24999.99", dt.timedelta(days=1)),
             ("U01", "25000.00", "25000.00", dt.timedelta(days=30, seconds=1)),
             ("U02", "10000.00", "10000.00", dt.timedelta(days=10)),
             ("U02", "10000.00", "10000.00", dt.timedelta(days=10, seconds=1)),
             ("U03", "15000.00", "15000.00", dt.timedelta(days=29, hours=23)),
             ("U03", "15000.00", "14999.99", dt.timedelta(hours=1)),
             ("U03", "15000.00", "15000.00", dt.timedelta(seconds=0))]
    for k, (unit, a, b, gap) in enumerate(cases):
        add(_v(f"E-S{k}-a", unit, a, payee=f"拆分{k}", paid=base))
        add(_v(f"E-S{k}-b", unit, b, payee=f"拆分{k}", paid=base + gap))
    # three under a threshold in a window, one with a sound decision (not an evasion)
    for k, d in enumerate((None, "JC-U05-0", None)):
        add(_v(f"E-S9-{k}", "U05", "20000.00", payee="拆分9", paid=base + dt.timedelta(days=k * 5),
               decision=d))
    # signatures: missing roles, no time, after the as-of, out of order, one person twice
    add(_v("E-G1"), _sigs("E-G1", roles=("handler", "reviewer")))
    add(_v("E-G2"), [{**r, "signed_at": None} for r in _sigs("E-G2")])
    add(_v("E-G3", paid=dt.datetime(2026, 11, 10, 10)),
        _sigs("E-G3", paid=dt.datetime(2026, 11, 20, 10)))  # signed after some instants
    late = _sigs("E-G4")
    late[0]["signed_at"], late[3]["signed_at"] = late[3]["signed_at"], late[0]["signed_at"]
    add(_v("E-G4"), late)
    add(_v("E-G5"), _sigs("E-G5", people={"reviewer": "U01-handler-0", "handler": "U01-handler-0"}))
    add(_v("E-G6"), [])  # no signature at all
    add(_v("E-G7"), _sigs("E-G7", people={"finance_leader": "U01-head"}))  # the head signs
    add(_v("E-G8", "U03", category="travel"), _sigs("E-G8", "U03", people={"reviewer": "U03-head"}))
    add(_v("E-G9", "U03", category="other"), _sigs("E-G9", "U03", people={"reviewer": "U03-head"}))
    # the banded profile of U03: below 1,000 two roles, from 1,000 the joint stage
    for k, amt in enumerate(("999.99", "1000.00", "1000.01")):
        add(_v(f"E-B{k}", "U03", amt), _sigs(f"E-B{k}", "U03", roles=("handler", "reviewer")))
        add(_v(f"E-BO{k}", "U03", amt),
            _sigs(f"E-BO{k}", "U03", roles=("reviewer", "handler", "finance_leader", "area_leader")))
    # a village voucher with the department chain, and one with the joint stage in either order
    add(_v("E-V1", "U00"), _sigs("E-V1", "U00"))
    add(_v("E-V2", "U00"), _sigs("E-V2", "U00", roles=("handler", "supervisor", "secretary", "director")))
    # paid after some instants; an unknown unit; odd case and spacing; no payee; no category
    add(_v("E-P1", paid=dt.datetime(2026, 12, 1, 10)), _sigs("E-P1", paid=dt.datetime(2026, 12, 1, 10)))
    add(_v("E-U1", "U99"), _sigs("E-U1", "U99"))
    add(_v("E-C1", category=" Travel "), [{**r, "role": f" {r['role'].upper()} "} for r in _sigs("E-C1")])
    add(_v("E-C2", category=None, payee=None))
    add(_v("E-C3", " U01 ", payee=" 某公司 "))
    # hostile text: read by the record path, whatever the columnar path says
    add(_v("E-H1", payee="某\x07公司"))
    add(_v("E-H2", payee="某公司" * 60))
    add(_v("E-H3"), [{**r, "person_id": "U01-handler\t0"} for r in _sigs("E-H3")])
    add(_v("E-H4", category="差旅"))
    # orphan signatures: before the first voucher, between vouchers, after the last
    s += [{"voucher_id": k, "role": "handler", "person_id": "x", "signed_at": None}
          for k in ("A-ORPHAN", "E-G55", "ZZZ-ORPHAN")]
    return v, s


def load(db: SourceDB, text: bool = False, keyless: bool = False) -> None:
    """The scenario; with ``text``, into text columns without a primary key, with bad values."""
    db.load("units", [{"unit_id": u, "name": n, "kind": k} for u, n, k in UNITS])
    db.load("people", spending.people(UNITS))
    db.load("decisions", decisions.generate(UNITS, flawed=True))
    exp: list[dict[str, Any]] = []
    sig: list[dict[str, Any]] = []
    for batch in spending.generate(3000, UNITS, seed=7, payees_per_unit=40, large_share=0.05):
        exp += spending.as_dicts(batch.expenses, spending.EXPENSE_COLUMNS)
        sig += spending.as_dicts(batch.signatures, spending.SIGNATURE_COLUMNS)
    e2, s2 = edges()
    exp += e2
    sig += s2
    if not text:
        db.load("expenses", exp)
        db.load("expense_signatures", sig)
    else:

        def plain(r: dict[str, Any]) -> dict[str, Any]:
            return {k: (None if x is None else x.isoformat(sep=" ") if isinstance(x, dt.datetime)
                        else str(x)) for k, x in r.items()}

        exp = [plain(r) for r in exp]
        sig = [plain(r) for r in sig]
        exp += [dict(exp[i]) for i in range(0, len(exp), 97)]  # duplicate voucher ids
        exp += [dict(exp[500]) for _ in range(400)]  # more than a batch of one id: across batches
        exp += [{**_plain_v(f"E-X{k}"), **bad} for k, bad in enumerate((
            {"amount": "abc"}, {"amount": "-5.00"}, {"amount": "1e3"}, {"amount": ""},
            {"amount": " 120.50 "}, {"paid_at": "2026-13-01 10:00:00"}, {"paid_at": "yesterday"},
            {"paid_at": "2026-10-12"}, {"paid_at": "2026-10-12T10:00"}, {"voucher_id": " E-X9 "},
            {"unit_id": ""}, {"paid_at": "2099-01-01 00:00:00"}, {"payee": "某公司" * 100},
            {"unit_id": "U01\x1f"}, {"payee": "供应商0001\x07", "unit_id": "U01"}))]
        sig += [{"voucher_id": "E-X0", "role": "handler", "person_id": "p", "signed_at": "garbage"},
                {"voucher_id": "E-G1", "role": None, "person_id": "p", "signed_at": None},
                {"voucher_id": "E-G2", "role": "handler", "person_id": "", "signed_at": None},
                {"voucher_id": None, "role": "handler", "person_id": "p", "signed_at": None}]
        if keyless:  # the reader gives it the signatures without a key next to it in the stream
            exp.append({**_plain_v("x"), "voucher_id": None})
        md = sa.MetaData()
        for name, rows in (("expenses", exp), ("expense_signatures", sig)):
            table = sa.Table(name, md, *[sa.Column(c.name, sa.String(800))
                                         for c in canonical.tables[name].columns])
            table.create(db.engine)
            with db.engine.begin() as conn:
                conn.execute(sa.insert(table), rows)


def _plain_v(vid: str) -> dict[str, Any]:
    return {"voucher_id": vid, "unit_id": "U01", "amount": "300.00", "category": "travel",
            "payee": "某公司", "paid_at": "2026-10-12 10:00:00", "decision_id": None}


F_CHECKS = ["signature_chain_incomplete", "single_signature", "duplicate_role_signer",
            "head_signs_directly", "large_amount_without_decision", "split_payment", "signature_order"]


def scan(db: SourceDB, write_config: Any, columnar: bool, when: dt.datetime,
         only: list[str] = F_CHECKS) -> tuple[list[str], SourceOutcome]:
    # chunks of 100 rows: batches of ~300 on every engine (BATCH_ROWS below)
    cfg = write_config(db.url, f"    columnar: {'true' if columnar else 'false'}\n"
                       f"    chunk_size: 100\n{CHECKS}",
                       name=f"{db.kind}-{columnar}.yaml")
    out: list[str] = []
    engine = Engine(load_settings(cfg), only=only)
    try:
        [outcome] = engine.scan(when, lambda f: out.append(json.dumps(f.to_json(), sort_keys=True,
                                                                       ensure_ascii=False)))
    finally:
        engine.close()
    assert outcome.ok, outcome.error
    assert not outcome.check_errors, outcome.check_errors
    if db.kind == "mariadb":
        out = [_tie_order(x) for x in out]
    return sorted(out), outcome


def _tie_order(line: str) -> str:
    """A finding with its evidence's signatures sorted.

    The evidence lists a voucher's signatures in the order the source returns
    them, and the read orders them by voucher only: MariaDB returns the rows of
    one voucher in a different order from one query to the next (two scans on
    the record path differ the same way), so on MariaDB that order is set aside.
    """
    f = json.loads(line)
    sigs = f.get("evidence", {}).get("signatures")
    if isinstance(sigs, list):
        f["evidence"]["signatures"] = sorted(sigs, key=lambda s: json.dumps(s, sort_keys=True))
    return json.dumps(f, sort_keys=True, ensure_ascii=False)


def _difference(reference: list[str], columnar: list[str]) -> list[str]:
    a, b = set(reference), set(columnar)
    return [f"record path only: {x}" for x in sorted(a - b)] + \
        [f"columnar only: {x}" for x in sorted(b - a)]


def _same(db: SourceDB, write_config: Any, text: bool = False) -> None:
    load(db, text)
    seen: set[str] = set()
    for when in INSTANTS:
        reference, ref_out = scan(db, write_config, False, when)
        columnar, col_out = scan(db, write_config, True, when)
        assert columnar == reference, (f"{db.kind} at {when}: the columnar findings differ",
                                       _difference(reference, columnar))
        assert col_out.rows_read == ref_out.rows_read
        assert col_out.findings == ref_out.findings
        assert ref_out.columnar_rows == 0
        assert col_out.columnar_rows == ref_out.rows_read["expenses"]  # orphans included
        # without split_payment (whose groups take most vouchers here: the payees are few),
        # the record path sees the vouchers with a finding and not many others
        six = [c for c in F_CHECKS if c != "split_payment"]
        alone, six_out = scan(db, write_config, True, when, six)
        assert alone == [x for x in reference if json.loads(x)["check"] != "split_payment"]
        found = {json.loads(x)["subject"] for x in alone}
        quality = sum(json.loads(x)["check"] == "data_quality" for x in alone)  # one per bad row
        assert six_out.handed_over < len(found) + quality + col_out.columnar_rows * 0.1
        seen |= {json.loads(x)["check"] for x in reference}
    assert {"signature_chain_incomplete", "single_signature", "duplicate_role_signer",
            "head_signs_directly", "large_amount_without_decision", "split_payment",
            "signature_order", "data_quality"} <= seen, seen


def test_a_voucher_without_a_key_sends_the_source_to_the_record_path(
        sqlite_db: SourceDB, write_config: Any) -> None:
    load(sqlite_db, text=True, keyless=True)
    when = INSTANTS[1]
    reference, ref_out = scan(sqlite_db, write_config, False, when)
    columnar, col_out = scan(sqlite_db, write_config, True, when)
    assert columnar == reference, _difference(reference, columnar)
    assert col_out.columnar_rows == 0 and col_out.rows_read == ref_out.rows_read
    assert any("编号为空" in x for x in reference)


@pytest.fixture
def carried(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys the columnar scans reported as duplicates of the previous batch's last key."""
    from sunlight.monitor.columnar import scan_spending

    seen: list[str] = []
    original = scan_spending.problem

    def spy(entity: str, row: dict[str, Any], *a: Any, **k: Any) -> Any:
        seen.append(str(row.get("voucher_id")))
        return original(entity, row, *a, **k)

    monkeypatch.setattr(scan_spending, "problem", spy)
    return seen


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of a few hundred rows, so that keys and signatures cross batch boundaries."""
    monkeypatch.setattr(fetch, "BATCH_ROWS", 300)
    monkeypatch.setattr(fetch, "BATCH_BYTES", 16_384)


def test_columnar_spending_identical_sqlite(sqlite_db: SourceDB, write_config: Any) -> None:
    _same(sqlite_db, write_config)


def test_columnar_spending_identical_text_sqlite(sqlite_db: SourceDB, write_config: Any,
                                               carried: list[str]) -> None:
    _same(sqlite_db, write_config, text=True)
    assert carried  # a key the previous batch ended with was seen


@pytest.mark.postgres
def test_columnar_spending_identical_postgres(postgres_db: SourceDB, write_config: Any) -> None:
    _same(postgres_db, write_config)


@pytest.mark.postgres
def test_columnar_spending_identical_text_postgres(postgres_db: SourceDB, write_config: Any,
                                               carried: list[str]) -> None:
    _same(postgres_db, write_config, text=True)
    assert carried  # a key the previous batch ended with was seen


@pytest.mark.mariadb
def test_columnar_spending_identical_mariadb(mariadb_db: SourceDB, write_config: Any) -> None:
    _same(mariadb_db, write_config)


@pytest.mark.mariadb
def test_columnar_spending_identical_text_mariadb(mariadb_db: SourceDB, write_config: Any,
                                               carried: list[str]) -> None:
    _same(mariadb_db, write_config, text=True)
    assert carried  # a key the previous batch ended with was seen


def test_a_check_the_decision_does_not_know_sends_the_vouchers_to_the_record_path(
        sqlite_db: SourceDB, write_config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from sunlight.monitor.columnar import scope

    load(sqlite_db)
    when = INSTANTS[1]
    reference, _ = scan(sqlite_db, write_config, False, when)
    monkeypatch.setattr(scope, "SPENDING_CHECKS", scope.SPENDING_CHECKS - {"signature_order"})
    columnar, out = scan(sqlite_db, write_config, True, when)
    assert columnar == reference
    assert out.columnar_rows == 0
    # without that check the others go columnar again
    others = [c for c in F_CHECKS if c != "signature_order"]
    alone, out = scan(sqlite_db, write_config, True, when, others)
    assert out.columnar_rows > 0
    assert alone == [x for x in reference if json.loads(x)["check"] != "signature_order"]


def test_a_failing_decision_hands_the_batch_to_the_record_path(
        sqlite_db: SourceDB, write_config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from sunlight.monitor.columnar import scan_spending

    load(sqlite_db)
    when = INSTANTS[1]
    reference, _ = scan(sqlite_db, write_config, False, when)

    def broken(*_a: Any, **_k: Any) -> Any:
        raise ValueError("a shape nobody foresaw")

    monkeypatch.setattr(scan_spending, "decide", broken)
    columnar, out = scan(sqlite_db, write_config, True, when)
    assert columnar == reference
    orphans = sum("孤立" in x for x in reference)
    assert out.handed_over == out.columnar_rows == out.rows_read["expenses"]
    assert orphans == 3


def _members(rows: list[dict[str, Any]], chosen: list[bool], unit: str, payee: str,
             threshold: Decimal, *, only_fed: bool) -> tuple[Any, list[Any]]:
    """The group and the members ``split_payment``'s spill would give back (split_windows.Member)."""
    from sunlight.checks.split_windows import Group

    picked = [(i, r) for i, r in enumerate(rows) if (r["unit_id"], r["payee"]) == (unit, payee)
              and Decimal(r["amount"]) < threshold and (chosen[i] or not only_fed)]
    inexact = [i for i, r in picked if Decimal(r["amount"]).scaleb(2) % 1]
    out = []
    for i, r in picked:
        cents = Decimal(r["amount"]).scaleb(2)
        out.append((int(dt.datetime.fromisoformat(r["paid_at"]).replace(tzinfo=dt.UTC).timestamp()),
                    r["voucher_id"], None if cents % 1 else int(cents), r["amount"], i))
    return Group(unit, payee, min(inexact) if inexact else None, not inexact), sorted(out)


def test_split_groups_feed_what_the_windows_need() -> None:
    """``SplitGroups`` against the check's own windows (checks/split_windows.py) on random groups
    on the edges: the windows over the vouchers it feeds are the windows over all of them."""
    import random

    import polars as pl

    from sunlight.checks.registry import CheckParams, load_all
    from sunlight.checks.split_windows import windows
    from sunlight.monitor.calendar import WorkCalendar
    from sunlight.monitor.columnar.calendar import CalendarArrays
    from sunlight.monitor.columnar.fetch import Batch
    from sunlight.monitor.columnar.fields import timestamp
    from sunlight.monitor.columnar.spending import SplitGroups

    registry = load_all()
    params = {cid: CheckParams(cls, {"large_amount_without_decision": {"large_amount": "1000.00"},
                                     "split_payment": {"window_days": 3}})
              for cid, cls in registry.items()}
    cal = CalendarArrays.build(WorkCalendar.from_files([]))
    utc = dt.UTC
    span, threshold = 3 * 86400, Decimal("1000.00")
    rng = random.Random(5)
    base = dt.datetime(2026, 9, 1)
    fired = fed = everything = 0
    for _ in range(300):
        rows: list[dict[str, Any]] = []
        for k in range(rng.randint(2, 60)):
            gap = rng.choice((0, 1, span - 1, span, span + 1, 3600, 86400))
            t = base + dt.timedelta(seconds=rng.randint(0, 6 * span) if k % 3 else gap)
            amount = rng.choice(("500.00", "499.99", "333.34", "999.99", "1000.00", "0.01", "120.00",
                                 "0.005" if k == 7 else "250.00"))
            rows.append({"voucher_id": f"V{k:03d}", "unit_id": rng.choice(("A", "B")),
                         "amount": amount, "payee": rng.choice(("p", "q", "r")),
                         "paid_at": t.isoformat(sep=" ")})
        frame = pl.DataFrame(rows).with_columns(pl.col("voucher_id").alias("_key"))
        groups = SplitGroups(dt.datetime(2030, 1, 1, tzinfo=utc), utc, cal, params, {})
        groups.add(Batch(frame, lambda idx, rows=rows: [rows[i] for i in idx]))
        groups.finish()
        paid, _ = timestamp(frame, "paid_at", "w", utc, cal)
        chosen = paid.select(groups.expr(pl.col("unit_id"), pl.col("payee"), pl.col("w"))
                             .alias("f")).get_column("f").to_list()
        for unit, payee in {(r["unit_id"], r["payee"]) for r in rows}:
            g_all, m_all = _members(rows, chosen, unit, payee, threshold, only_fed=False)
            g_fed, m_fed = _members(rows, chosen, unit, payee, threshold, only_fed=True)
            want = [[m[1] for m in w] for w in windows(g_all, iter(m_all), span, threshold)]
            got = [[m[1] for m in w] for w in windows(g_fed, iter(m_fed), span, threshold)]
            assert got == want, (unit, payee, m_all, m_fed)
            assert g_fed.inexact_from is None or g_fed == g_all  # finer than a fen: all fed
            fired += bool(want)
            fed += len(m_fed)
            everything += len(m_all)
    assert fired > 100 and fed < everything * 0.9, (fired, fed, everything)


def test_scope_names_the_checks_the_decision_flags() -> None:
    """The engine's gate (no polars) and the decision's flag columns name the same F checks."""
    from sunlight.monitor.columnar import scope
    from sunlight.monitor.columnar.spending import FLAGS

    assert set(FLAGS) == scope.SPENDING_CHECKS
