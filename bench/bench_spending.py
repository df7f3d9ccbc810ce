"""Spending benchmark: 1,000,000 vouchers with 4 signatures each, family F through the engine.

Usage::

    .venv/bin/python bench/bench_spending.py                 # SQLite and PostgreSQL, 1,000,000
    .venv/bin/python bench/bench_spending.py --n 100000 --engines sqlite --paths columnar
    .venv/bin/python bench/bench_spending.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/bench_spending.py --pg-schema bench_spending_mine --dir /tmp/mine \
        --save-findings /tmp/mine/before      # a schema and files of your own; findings kept

For each engine it generates the vouchers (monitor.demo.spending, deterministic),
loads them with the bare driver in big batches (sqlite3 ``executemany``,
PostgreSQL ``COPY``), then runs two measurements, each in a fresh process so
that peak RSS belongs to the measurement alone:

- ``engine``: the seven F checks through ``Engine.scan`` with a counting sink,
  as ``sunlight scan --check … --format json > /dev/null`` would run them, once
  per path of ``--paths`` (``record``: the source's ``columnar: false``;
  ``columnar``: the columnar voucher path, monitor/columnar/scan_spending.py);
  the two paths' per-check digests must be equal;
- ``raw``: the same columns of ``expenses`` and ``expense_signatures``, in the
  same order the engine reads them (by voucher_id, binary), fetched with the
  bare driver (sqlite3 / psycopg server-side cursor) and thrown away.

It prints wall time, CPU time, peak RSS, the ratio engine / raw, the load average,
and per check an order-independent digest of the findings (two runs with equal
digests found the same findings, field by field; ``--save-findings`` keeps them
for ``compare_findings.py``). No assertion: the
targets (≤ 30 s on PostgreSQL, ≤ 400 MB, ratio ≤ 3) are read off the output.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

F_CHECKS = ["signature_chain_incomplete", "single_signature", "duplicate_role_signer",
            "head_signs_directly", "large_amount_without_decision", "split_payment",
            "signature_order"]
AT = "2026-11-16T09:00:00+08:00"
UNITS = [(f"U{i:02d}", f"单位{i:02d}", "village" if i % 4 == 0 else "department") for i in range(40)]
SCHEMA = os.environ.get("SUNLIGHT_BENCH_PG_SCHEMA", "bench_spending")  # --pg-schema
EXPENSE_SQL = "SELECT voucher_id, unit_id, amount, category, payee, paid_at, decision_id FROM expenses"
SIGNATURE_SQL = "SELECT voucher_id, role, person_id, signed_at FROM expense_signatures"


def cpu_seconds() -> float:
    """User + system CPU of this process: steadier than wall time on a shared machine."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). ru_maxrss would carry the parent's peak across exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- loading -----------------------------------------------------------------------------


def _tables(engine: Any) -> None:
    from sunlight.monitor.demo.schema import create_all

    create_all(engine, ["units", "people", "expenses", "expense_signatures", "decisions"])


def _small_tables(engine: Any) -> None:
    import sqlalchemy as sa

    from sunlight.monitor.demo import decisions, spending
    from sunlight.monitor.demo.schema import metadata

    t = metadata.tables
    with engine.begin() as conn:
        conn.execute(sa.insert(t["units"]), [{"unit_id": u, "name": n, "kind": k} for u, n, k in UNITS])
        conn.execute(sa.insert(t["people"]), spending.people(UNITS))
        conn.execute(sa.insert(t["decisions"]), decisions.generate(UNITS, flawed=False))


def load_sqlite(path: Path, n: int) -> float:
    import sqlalchemy as sa

    from sunlight.monitor.demo import spending

    path.unlink(missing_ok=True)
    started = time.perf_counter()
    engine = sa.create_engine(f"sqlite:///{path}")
    _tables(engine)
    _small_tables(engine)
    engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    for batch in spending.generate(n, UNITS, payees_per_unit=2000, batch_size=50_000):
        conn.executemany("INSERT INTO expenses VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [(v, u, str(a), c, p, str(t), d) for v, u, a, c, p, t, d in batch.expenses])
        conn.executemany("INSERT INTO expense_signatures VALUES (?, ?, ?, ?)",
                         [(v, r, p, str(t)) for v, r, p, t in batch.signatures])
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - started


def load_postgres(url: str, n: int) -> float:
    import psycopg
    import sqlalchemy as sa

    from sunlight.monitor.demo import spending

    started = time.perf_counter()
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
    admin.dispose()
    engine = sa.create_engine(pg_url(url))
    _tables(engine)
    _small_tables(engine)
    engine.dispose()
    with psycopg.connect(dsn(url)) as conn, conn.cursor() as cur:
        cur.execute(f"SET search_path TO {SCHEMA}")
        for batch in spending.generate(n, UNITS, payees_per_unit=2000, batch_size=50_000):
            with cur.copy("COPY expenses (voucher_id, unit_id, amount, category, payee, paid_at, "
                          "decision_id) FROM STDIN") as copy:
                for row in batch.expenses:
                    copy.write_row(row)
            with cur.copy("COPY expense_signatures (voucher_id, role, person_id, signed_at) "
                          "FROM STDIN") as copy:
                for row in batch.signatures:
                    copy.write_row(row)
        conn.commit()
        cur.execute("ANALYZE expenses")
        cur.execute("ANALYZE expense_signatures")
        conn.commit()
    return time.perf_counter() - started


def pg_url(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).update_query_dict(
        {"options": f"-csearch_path={SCHEMA}"}).render_as_string(hide_password=False)


def dsn(url: str) -> str:
    import sqlalchemy as sa

    u = sa.engine.make_url(url)
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


# --- measurements (each in its own process) ------------------------------------------------


def measure_engine(source_url: str, save: str | None = None, columnar: bool = True) -> dict[str, Any]:
    from sunlight.monitor.cli_common import parse_at
    from sunlight.monitor.configure import load_settings
    from sunlight.monitor.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bench.yaml"
        cfg.write_text(
            f"timezone: Asia/Shanghai\nstate:\n  url: sqlite:///{tmp}/state.db\n"
            f"sources:\n  finance:\n    url: \"{source_url}\"\n    chunk_size: 20000\n"
            f"    columnar: {'true' if columnar else 'false'}\n"
            "checks:\n  large_amount_without_decision: {large_amount: '50000.00'}\n"
            "routes: none\n",  # a scan issues no letters; the config is refused without routes
            encoding="utf-8",
        )
        started = time.perf_counter()
        settings = load_settings(cfg)
        engine = Engine(settings, only=F_CHECKS)
        ready = time.perf_counter()
        cpu0 = cpu_seconds()
        counts: dict[str, int] = {}
        digests: dict[str, int] = {}
        keep = open(save, "w", encoding="utf-8") if save else None  # noqa: SIM115

        def sink(f: Any) -> None:
            counts[f.check] = counts.get(f.check, 0) + 1
            # what `scan --format json` writes per finding (Finding.to_json_bytes: orjson, keys in
            # their fixed order). Until 2026-12-06 this was json.dumps with sorted keys, ~35 µs a
            # finding more than the command costs (~4 s of the 1M scan's CPU; digests of then
            # and now differ for that reason only)
            line = f.to_json_bytes()
            # order-independent digest of every finding, field by field: two runs with equal
            # digests hold the same findings (compare_findings.py for the differences)
            h = int.from_bytes(hashlib.blake2b(line, digest_size=8).digest(), "big")
            digests[f.check] = (digests.get(f.check, 0) + h) % (1 << 64)
            if keep is not None:
                keep.write(line.decode())

        [outcome] = engine.scan(parse_at(AT, settings.tz), sink)
        done = time.perf_counter()
        cpu = cpu_seconds() - cpu0
        engine.close()
        if keep is not None:
            keep.close()
    return {"ok": outcome.ok, "error": outcome.error, "rows": dict(outcome.rows_read),
            "findings": counts, "digests": {k: f"{v:016x}" for k, v in sorted(digests.items())},
            "check_errors": dict(outcome.check_errors),
            "columnar_rows": outcome.columnar_rows, "handed_over": outcome.handed_over,
            "scan_seconds": round(done - ready, 2), "scan_cpu": round(cpu, 2),
            "startup_seconds": round(ready - started, 2),
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def measure_raw(kind: str, target: str) -> dict[str, Any]:
    started = time.perf_counter()
    cpu0 = cpu_seconds()
    rows = 0
    if kind == "sqlite":
        conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
        for sql in (EXPENSE_SQL, SIGNATURE_SQL):
            cur = conn.execute(f"{sql} ORDER BY CAST(voucher_id AS TEXT)")
            while chunk := cur.fetchmany(20_000):
                rows += len(chunk)
        conn.close()
    else:
        import psycopg

        with psycopg.connect(dsn(target)) as conn:
            conn.execute(f"SET search_path TO {SCHEMA}")
            for i, sql in enumerate((EXPENSE_SQL, SIGNATURE_SQL)):
                with conn.cursor(name=f"raw{i}") as cur:
                    cur.itersize = 20_000
                    cur.execute(f'{sql} ORDER BY CAST(voucher_id AS TEXT) COLLATE "C"')
                    while chunk := cur.fetchmany(20_000):
                        rows += len(chunk)
    return {"rows": rows, "seconds": round(time.perf_counter() - started, 2),
            "cpu": round(cpu_seconds() - cpu0, 2),
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def _child(*args: str) -> dict[str, Any]:
    env = {**os.environ, "SUNLIGHT_LOG_LEVEL": "warning", "SUNLIGHT_BENCH_PG_SCHEMA": SCHEMA}
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--engines", default="sqlite,postgres")
    ap.add_argument("--pg-url", default=os.environ.get(
        "SUNLIGHT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--pg-schema", default=os.environ.get("SUNLIGHT_BENCH_PG_SCHEMA", "bench_spending"),
                    help="schema the PostgreSQL vouchers are loaded into (one of your own)")
    ap.add_argument("--save-findings", type=Path,
                    help="directory: write each engine's findings as JSON lines (compare_findings.py)")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "sunlight-bench")
    ap.add_argument("--reuse", action="store_true", help="skip generating/loading (data already there)")
    ap.add_argument("--paths", default="record,columnar",
                    help="the engine's paths to measure: record (columnar: false), columnar, or both")
    ap.add_argument("--phase", choices=["engine", "raw"], help=argparse.SUPPRESS)
    ap.add_argument("--target", help=argparse.SUPPRESS)
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    ap.add_argument("--save", help=argparse.SUPPRESS)
    ap.add_argument("--columnar", choices=["true", "false"], default="true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    globals()["SCHEMA"] = args.pg_schema  # the loaders and the children read the module's name
    if args.phase == "engine":
        print(json.dumps(measure_engine(args.target, args.save, args.columnar == "true")))
        return
    if args.phase == "raw":
        print(json.dumps(measure_raw(args.kind, args.target)))
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"{args.n:,} vouchers × 4 signatures; checks: {', '.join(F_CHECKS)}")
    for kind in args.engines.split(","):
        if kind == "sqlite":
            path = args.dir / "spending.db"
            load = 0.0 if args.reuse else load_sqlite(path, args.n)
            source, raw_target = f"sqlite:///{path}", str(path)
        elif kind == "postgres":
            load = 0.0 if args.reuse else load_postgres(args.pg_url, args.n)
            source, raw_target = pg_url(args.pg_url), args.pg_url
        else:
            raise SystemExit(f"unknown engine {kind!r}")
        if args.save_findings is not None:
            args.save_findings.mkdir(parents=True, exist_ok=True)
        paths = [p for p in args.paths.split(",") if p]
        if not paths or any(p not in ("record", "columnar") for p in paths):
            raise SystemExit(f"--paths: record, columnar or both, not {args.paths!r}")
        print(f"\n[{kind}] load {load:.1f} s")
        raw = _child("--phase", "raw", "--kind", kind, "--target", raw_target)
        print(f"  raw fetch ({kind} driver): {raw['seconds']} s wall, {raw['cpu']} s CPU "
              f"for {raw['rows']:,} rows, "
              f"peak RSS {raw['peak_rss_mb']} MB")
        digests = {}
        for path in paths:
            save = ([] if args.save_findings is None
                    else ["--save", str(args.save_findings / f"{kind}-{path}.jsonl")])
            load_avg = os.getloadavg()[0]
            eng = _child("--phase", "engine", "--target", source, *save,
                         "--columnar", "true" if path == "columnar" else "false")
            digests[path] = eng["digests"]
            print(f"  engine, {path} path: scan {eng['scan_seconds']} s wall, {eng['scan_cpu']} s CPU "
                  f"(+ startup {eng['startup_seconds']} s), "
                  f"peak RSS {eng['peak_rss_mb']} MB, ok={eng['ok']} rows={eng['rows']}")
            if path == "columnar":
                print(f"    columnar rows {eng['columnar_rows']:,}, handed to the record path "
                      f"{eng['handed_over']:,}")
            print(f"    findings: {eng['findings']}" + (f" check_errors={eng['check_errors']}"
                                                        if eng["check_errors"] else ""))
            print(f"    findings digest: {eng['digests']}")
            print(f"    ratio engine/raw: {eng['scan_seconds'] / raw['seconds']:.2f} wall, "
                  f"{eng['scan_cpu'] / raw['cpu']:.2f} CPU; "
                  f"engine CPU / raw wall {eng['scan_cpu'] / raw['seconds']:.2f}")
            print(f"    system load average: {load_avg:.1f} before, {os.getloadavg()[0]:.1f} after, "
                  f"on {os.cpu_count()} CPUs")
        if len(digests) == 2:
            same = digests["record"] == digests["columnar"]
            print(f"  per-check digests of the two paths: {'equal' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
