"""Incremental cycles (issue 11, item 4): a full scan against an incremental cycle with 1% changed.

For SQLite and PostgreSQL this script

1. builds the sample case source of ``bench_cases.py`` (N cases, default
   200,000) in a database of its own (SQLite file in a temporary folder;
   PostgreSQL database ``bench_incremental``), with an index on
   ``cases.updated_at`` (a site with a watermark column has one);
2. runs, each phase in its own process (so wall, CPU and peak RSS are the
   phase's own), on one SQLite state store:

   - ``full``: the full scan at AT that builds the time index and watermark
     (``engine.scan_and_record``, findings recorded);
   - then 1% of the cases are edited (half of the open ones completed, the
     rest touched), every edit moving ``updated_at``;
   - ``incremental``: the incremental cycle at AT + 2 h
     (``incremental.incremental_scan_and_record``);
   - ``full again``: a full scan at the same AT + 2 h (the baseline);
   - ``midnight``: the first incremental cycle after midnight (the open
     cases whose finding fires, their counts move on, and those whose
     deadline or due-soon window is reached: ``checks.cases.open_boundary``);
   - ``full at midnight`` (not run here): a full scan at the midnight cycle's
     as-of, the reference a driver compares the midnight cycle's findings with.

Target (issue 11): the incremental cycle <= 5% of the full scan. Nothing here
asserts a time. Usage::

    .venv/bin/python bench/bench_incremental.py                 # 200,000 cases, both databases
    .venv/bin/python bench/bench_incremental.py --n 20000 --db sqlite
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_cases  # the dataset and its loaders
from bench_spending import peak_rss_mb  # VmHWM: ru_maxrss carries the parent's peak (edit())
from scan_config import scan_config

TZ = ZoneInfo("Asia/Shanghai")
AT = dt.datetime(2026, 11, 16, 9, tzinfo=TZ)
EDIT_AT = AT + dt.timedelta(hours=1)
CYCLE_AT = AT + dt.timedelta(hours=2)
MIDNIGHT_AT = dt.datetime(2026, 11, 17, 0, 5, tzinfo=TZ)
PG_DATABASE = "bench_incremental"

def phase(config: Path, name: str) -> dict[str, Any]:
    """One phase in this process: what it did, wall, CPU, peak RSS."""
    from sunlight.monitor.configure import load_settings
    from sunlight.monitor.engine import Engine, scan_and_record
    from sunlight.monitor.incremental import incremental_scan_and_record
    from sunlight.monitor.store import open_store

    settings = load_settings(config)
    engine = Engine(settings)
    store = open_store(settings.state_url())
    at = {"full": AT, "incremental": CYCLE_AT, "full again": CYCLE_AT, "midnight": MIDNIGHT_AT,
          "full at midnight": MIDNIGHT_AT}[name]  # the last: a reference for the midnight cycle
    wall, cpu = time.perf_counter(), time.process_time()
    if name.startswith("full"):
        outcomes = scan_and_record(engine, store, at)
    else:
        outcomes = incremental_scan_and_record(engine, store, at)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    engine.close()
    store.dispose()
    o = outcomes[0]
    return {"phase": name, "ok": o.ok, "error": o.error, "wall": wall, "cpu": cpu,
            "rss_mb": peak_rss_mb(),
            "rows": sum(o.rows_read.values()), "findings": sum(o.findings.values())}


def run_phase(config: Path, name: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--phase", name, "--config", str(config)],
                         check=True, capture_output=True, text=True,
                         env={**os.environ, "SUNLIGHT_LOG_LEVEL": "warning"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def edit(kind: str, target: Any, n: int, rng: random.Random) -> int:
    """1% of the cases edited at EDIT_AT: open ones completed, the others touched."""
    ts = EDIT_AT.replace(tzinfo=None)
    stamp: Any = ts.strftime("%Y-%m-%d %H:%M:%S.%f") if kind == "sqlite" else ts
    p = "?" if kind == "sqlite" else "%s"
    conn = sqlite3.connect(target) if kind == "sqlite" else target
    cur = conn.cursor()
    cur.execute("SELECT case_id, completed_at FROM cases")
    rows = cur.fetchall()
    picked = rng.sample(rows, max(1, n // 100))
    for cid, completed in picked:
        if completed is None and rng.random() < 0.5:
            cur.execute(f"UPDATE cases SET completed_at = {p}, outcome = 'approved', updated_at = {p} "
                        f"WHERE case_id = {p}", (stamp, stamp, cid))
        else:
            cur.execute(f"UPDATE cases SET handler = 'edited', updated_at = {p} WHERE case_id = {p}",
                        (stamp, cid))
    conn.commit()
    if kind == "sqlite":
        conn.close()
    return len(picked)


def bench(kind: str, n: int, pg_admin: str, work: Path) -> None:
    if kind == "sqlite":
        path = work / "source.db"
        loader: Any = bench_cases.SQLiteLoader(path)
        url = f"sqlite:///{path}"
    else:
        loader = bench_cases.PostgresLoader(pg_admin, PG_DATABASE)
        url = loader.url
    bench_cases.ensure_dataset([loader], n, rebuild=True)
    if kind == "sqlite":
        with sqlite3.connect(path) as c:
            c.execute("CREATE INDEX ix_cases_updated ON cases (updated_at)")
        target: Any = path
    else:
        import psycopg

        target = psycopg.connect(bench_cases._pg_conninfo(url))
        target.execute("CREATE INDEX ix_cases_updated ON cases (updated_at)")
        target.commit()
    state = work / f"state-{kind}.db"
    state.unlink(missing_ok=True)
    config = work / f"{kind}.yaml"
    config.write_text(scan_config(f"sqlite:///{state}", url,
                                  source_extra="    incremental: {cases: {watermark: updated_at}}"),
                      encoding="utf-8")
    results = [run_phase(config, "full")]
    edited = edit(kind, target, n, random.Random(7))
    if kind != "sqlite":
        target.close()
    results += [run_phase(config, "incremental"), run_phase(config, "full again"),
                run_phase(config, "midnight")]
    base = results[2]
    print(f"\n[{kind}] {n:,} cases, {edited:,} edited (1%); load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"  {'phase':<12} {'wall s':>8} {'CPU s':>8} {'RSS MB':>7} {'rows':>9} {'findings':>9}"
          f" {'wall/full':>9} {'CPU/full':>9}")
    for r in results:
        print(f"  {r['phase']:<12} {r['wall']:8.2f} {r['cpu']:8.2f} {r['rss_mb']:7.0f} {r['rows']:9,}"
              f" {r['findings']:9,} {r['wall'] / base['wall']:9.3f} {r['cpu'] / base['cpu']:9.3f}"
              + ("" if r["ok"] else f"  FAILED: {r['error']}"))
    inc = results[1]
    # the line bench_story.py shows in its table
    print("STORY " + json.dumps({
        "wall": inc["wall"], "cpu": inc["cpu"], "rss_mb": inc["rss_mb"],
        "what": f"{inc['rows']:,} rows read; {inc['wall'] / base['wall']:.1%} of a full scan's wall, "
                f"{inc['cpu'] / base['cpu']:.1%} of its CPU ({base['wall']:.1f} s, {base['cpu']:.1f} s)"}))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--million", action="store_true")
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--pg", default=os.environ.get("SUNLIGHT_BENCH_POSTGRES_URL",
                                                    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--phase")
    ap.add_argument("--config", type=Path)
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="working folder (default: a temporary one); the dataset is rebuilt in it")
    args = ap.parse_args(argv)
    if args.phase:
        print(json.dumps(phase(args.config, args.phase)))
        return 0
    n = 1_000_000 if args.million else args.n
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if args.data_dir is not None:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        for kind in kinds:
            bench(kind, n, args.pg, args.data_dir)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-incremental-") as tmp:
        for kind in kinds:
            bench(kind, n, args.pg, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
