"""Compare findings: two ``sunlight scan --format json`` outputs, or the two evaluation paths.

Used to prove that a performance change changed nothing a user can see: each
finding is re-serialised with sorted keys, so key order, whitespace and line
order do not matter, but every value (summary, deadline, evidence, skipped
days, ...) must be equal.

    python bench/compare_findings.py before.jsonl after.jsonl
    python bench/compare_findings.py --paths [--n 20000] [--url SQLALCHEMY_URL]

``--paths`` (what CI runs) generates N sample cases (``monitor.demo.cases``:
pauses, extensions, steps, result notices for a third of the completed cases,
the demo's bad rows) and N/4 sample vouchers with their signatures
(``monitor.demo.spending``, with the people and decisions the F checks need)
into a fresh SQLite file (or a new schema of the PostgreSQL server ``--url``
names), scans them as of 2026-11-16 09:00 with the record path (``columnar:
false``) and with the columnar path, and compares.
A MariaDB/MySQL ``--url`` gets a new database instead of a schema.

Exit 0 when the two hold the same findings, 1 otherwise (the first
differences are printed, by fingerprint).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from scan_config import scan_config

from sunlight.monitor.configure import load_settings
from sunlight.monitor.demo import cases as sample
from sunlight.monitor.demo import decisions, spending
from sunlight.monitor.demo.schema import create_all
from sunlight.monitor.demo.schema import metadata as canonical
from sunlight.monitor.engine import Engine

AT = "2026-11-16T09:00:00+08:00"
def _canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def load(path: Path) -> Counter[str]:
    with path.open(encoding="utf-8") as f:
        return Counter(_canon(json.loads(line)) for line in f if line.strip())


def compare(a: Counter[str], b: Counter[str], name_a: str, name_b: str) -> int:
    only_a, only_b = a - b, b - a
    print(f"{name_a}: {sum(a.values()):,} findings; {name_b}: {sum(b.values()):,} findings")
    if not only_a and not only_b:
        print("identical")
        return 0
    print(f"different: {sum(only_a.values()):,} only in the first, "
          f"{sum(only_b.values()):,} only in the second")
    by_fp = {json.loads(s)["fingerprint"]: s for s in only_b}
    for s in list(only_a)[:5]:
        fp = json.loads(s)["fingerprint"]
        print(f"- {s}\n+ {by_fp.get(fp, '(missing)')}")
    return 1


def _fill(engine: sa.Engine, n: int) -> None:
    create_all(engine, ["units", "cases", "case_pauses", "case_extensions", "case_steps",
                        "publications", "people", "decisions", "expenses", "expense_signatures"])

    def insert(table: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            cols = [c.name for c in canonical.tables[table].columns]
            with engine.begin() as conn:
                conn.execute(sa.insert(canonical.tables[table]), [{c: r.get(c) for c in cols} for r in rows])

    insert("units", [{"unit_id": u, "name": nm, "kind": k} for u, nm, k in sample.UNITS])
    k = 0
    for batch in sample.generate(n, id_prefix="C"):
        insert("cases", batch.cases)
        insert("case_pauses", batch.pauses)
        insert("case_extensions", batch.extensions)
        insert("case_steps", batch.steps)
        pubs = []
        for c in batch.cases:
            if c["completed_at"] is not None:
                k += 1
                if k % 3 == 0:
                    pubs.append({"publication_id": f"P{k:08d}", "unit_id": c["unit_id"],
                                 "subject": "case_result", "ref_id": c["case_id"],
                                 "published_at": c["completed_at"] + dt.timedelta(days=k % 13)})
        insert("publications", pubs)
    insert("cases", sample.BAD_CASES)
    # the F checks' vouchers (monitor/columnar/scan_spending.py), a quarter as many
    insert("people", spending.people(sample.UNITS))
    insert("decisions", decisions.generate(sample.UNITS))
    for vb in spending.generate(max(n // 4, 1), sample.UNITS, payees_per_unit=20):
        insert("expenses", spending.as_dicts(vb.expenses, spending.EXPENSE_COLUMNS))
        insert("expense_signatures", spending.as_dicts(vb.signatures, spending.SIGNATURE_COLUMNS))


def _scan(url: str, folder: Path, columnar: bool) -> tuple[Counter[str], float]:
    cfg = folder / f"compare-{columnar}.yaml"
    cfg.write_text(scan_config(f"sqlite:///{folder / 'state.db'}", url, columnar=columnar),
                   encoding="utf-8")
    out: Counter[str] = Counter()
    engine = Engine(load_settings(cfg))
    started = time.perf_counter()
    try:
        for o in engine.scan(dt.datetime.fromisoformat(AT),
                             lambda f: out.update([_canon(f.to_json())])):
            if not o.ok:
                raise SystemExit(f"scan failed: {o.error}")
    finally:
        engine.close()
    return out, time.perf_counter() - started


def paths(n: int, url: str | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        schema = None
        if url is None:
            url = f"sqlite:///{folder / 'source.db'}"
            admin = sa.create_engine(url)
            source_url = url
        else:
            admin = sa.create_engine(url)
            schema = f"cmp_{uuid.uuid4().hex[:10]}"
            mysql = admin.dialect.name in ("mysql", "mariadb")
            with admin.begin() as conn:  # MySQL's schemas are databases: the URL names it
                conn.exec_driver_sql(f"CREATE DATABASE {schema} CHARACTER SET utf8mb4" if mysql
                                     else f"CREATE SCHEMA {schema}")
            base = sa.engine.make_url(url)
            source_url = (base.set(database=schema) if mysql else base.update_query_dict(
                {"options": f"-csearch_path={schema}"})).render_as_string(hide_password=False)
        try:
            started = time.perf_counter()
            _fill(sa.create_engine(source_url), n)
            print(f"{n:,} cases generated in {time.perf_counter() - started:.1f} s")
            ref, t_ref = _scan(source_url, folder, False)
            col, t_col = _scan(source_url, folder, True)
            print(f"record path {t_ref:.2f} s, columnar path {t_col:.2f} s (in process, one run)")
            return compare(ref, col, "record path", "columnar path")
        finally:
            if schema is not None:
                with admin.begin() as conn:
                    conn.exec_driver_sql(f"DROP DATABASE {schema}" if mysql
                                         else f"DROP SCHEMA {schema} CASCADE")
            admin.dispose()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path, help="two scan --format json outputs")
    ap.add_argument("--paths", action="store_true", help="compare the record and columnar paths")
    ap.add_argument("--n", type=int, default=20_000, help="cases for --paths (default 20,000)")
    ap.add_argument("--url", help="a PostgreSQL or MariaDB URL for --paths (default: a temporary "
                                  "SQLite file)")
    args = ap.parse_args(argv)
    if args.paths:
        return paths(args.n, args.url)
    if len(args.files) != 2:
        ap.print_usage(sys.stderr)
        return 2
    a, b = args.files
    return compare(load(a), load(b), str(a), str(b))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
