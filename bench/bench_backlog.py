"""The first cycle after a backlog, and the cost of recording findings (issue 11, items 2-3).

For each store (SQLite file, and a PostgreSQL schema of its own) and each N:

1. **builds** a state store holding N open findings on no letter: copies of a
   real demo scan's findings (their real evidence JSON, ~1 KB each), with new
   fingerprints, spread over N/400 units plus 20 large ones (a fifth of the
   findings), every check and tier the demo produces, data-quality findings
   included; ``letters.to_person`` is on for the voucher checks, so letters to
   a person are planned too. Built once per ``--dir`` and N, then reused;
2. **issues the letters** of the first cycle (``sunlight.monitor.cycle.issue``,
   what ``sunlight cycle`` runs after its scans) in a fresh child process,
   after emptying the letter tables, and prints the child's wall time, CPU
   time, peak RSS (``ru_maxrss``), the RSS after its imports, and the letters
   issued. ``--code DIR`` runs the child on another checkout (e.g. ``main``
   exported with ``git archive``), for before/after figures from one run;
3. **times recording** (``--record N``): ``FindingRecorder`` upserting N
   findings into an empty store (first insert), then the same fingerprints
   again from a newer run (re-upsert), µs per finding, wall and CPU.

No assertions: figures.

    .venv/bin/python bench/bench_backlog.py --n 65800 --db sqlite --dir /tmp/backlog
    .venv/bin/python bench/bench_backlog.py --n 65800,200000,1000000 --dir /tmp/backlog
    .venv/bin/python bench/bench_backlog.py --n 0 --record 20000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from synthetic import copy_of, insert_findings

DEMO_AT = dt.datetime(2026, 11, 16, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
PG_URL = os.environ.get("SUNLIGHT_BENCH_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/sunlight_test")
TO_PERSON = ["single_signature", "duplicate_role_signer", "head_signs_directly"]
#: what issuing writes; emptied before each timed issue, so every run starts from the same backlog
LETTER_TABLES = ("delivery_attempts", "deliveries", "letter_reports", "letter_findings", "audit_log",
                 "letters")


def _pg_url(schema: str) -> str:
    return sa.engine.make_url(PG_URL).update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def state_url(folder: Path, db: str, n: int) -> str:
    return f"sqlite:///{folder / f'state-{n}.db'}" if db == "sqlite" else _pg_url(f"bench_backlog_{n}")


def write_config(folder: Path, url: str, name: str) -> Path:
    from sunlight.monitor.demo.run import DEMO_CONFIG

    text = DEMO_CONFIG.replace("sqlite:///state.db", url).replace("{listen}", "127.0.0.1:0")
    text = text.replace("letters:\n", f"letters:\n  to_person: [{', '.join(TO_PERSON)}]\n", 1)
    cfg = folder / name
    cfg.write_text(text, encoding="utf-8")
    return cfg


def seeds(folder: Path) -> list[dict[str, Any]]:
    """A real scan's findings (demo sources of 3,000 cases and 3,000 vouchers), built once."""
    from sunlight.monitor.configure import load_settings
    from sunlight.monitor.demo.run import build_finance, build_sources
    from sunlight.monitor.engine import Engine, scan_and_record
    from sunlight.monitor.store import open_store
    from sunlight.monitor.store.models import FindingRow

    marker = folder / ".seeds"
    if not marker.exists():
        (folder / "seed.db").unlink(missing_ok=True)
        build_sources(folder, 3000)
        build_finance(folder, 3000)
    settings = load_settings(write_config(folder, f"sqlite:///{folder / 'seed.db'}", "seed.yaml"))
    store = open_store(settings.state_url())
    if not marker.exists():
        engine = Engine(settings)
        scan_and_record(engine, store, DEMO_AT, lambda f: None)
        engine.close()
        marker.touch()
    with store.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(FindingRow)
                                                        .where(FindingRow.resolved_at.is_(None)))]
    store.dispose()
    return rows


def build(folder: Path, db: str, n: int) -> Path:
    """The store of N open unlettered findings (reused when already built), and its config."""
    from sunlight.monitor.store import open_store

    url = state_url(folder, db, n)
    cfg = write_config(folder, url, f"bench-{db}-{n}.yaml")
    marker = folder / f".built-{db}-{n}"
    if marker.exists():
        return cfg
    if db == "sqlite":
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    else:
        admin = sa.create_engine(PG_URL)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS bench_backlog_{n} CASCADE")
            conn.exec_driver_sql(f"CREATE SCHEMA bench_backlog_{n}")
        admin.dispose()
    base = seeds(folder)
    rng = random.Random(11)
    units = [f"U{i:05d}" for i in range(max(20, n // 400))]
    big = [f"B{i:02d}" for i in range(20)]
    store = open_store(url)
    t = time.perf_counter()

    def rows() -> Iterator[dict[str, Any]]:
        for i in range(n):
            s = copy_of(rng.choice(base), i, "backlog")
            # voucher checks keep their unit (the signer is a person of that unit: a person letter)
            unit = s["unit_id"] if s["check_id"] in TO_PERSON or s["check_id"] == "data_quality" else (
                rng.choice(big) if rng.random() < 0.2 else rng.choice(units))
            s.update(unit_id=unit, opened_run=1, last_run=1)
            yield s

    insert_findings(store, rows())
    store.dispose()
    print(f"  built {db} store of {n:,} findings in {time.perf_counter() - t:.0f} s", flush=True)
    marker.touch()
    return cfg


def reset(url: str) -> None:
    """Empty the letter tables (and the letter numbers), keeping the findings."""
    from sunlight.monitor.store import open_store

    store = open_store(url, migrate=False)
    with store.begin() as conn:
        for table in LETTER_TABLES:
            conn.exec_driver_sql(f"DELETE FROM {table}")
        conn.execute(sa.text("DELETE FROM letter_counters WHERE prefix NOT LIKE '*%'"))
    if store.dialect.name == "sqlite":
        with store.connect() as conn:
            conn.exec_driver_sql("VACUUM")
    else:
        with store.begin() as conn:  # what autovacuum does after a bulk load
            conn.exec_driver_sql("ANALYZE findings")
    store.dispose()


def child_issue(cfg: str) -> None:
    """The child: the first cycle's letter step, then its own figures as one JSON line."""
    from sunlight.monitor import logs
    from sunlight.monitor.configure import load_settings
    from sunlight.monitor.cycle import issue
    from sunlight.monitor.engine import Engine
    from sunlight.monitor.store import open_store

    logs.configure("WARNING")
    settings = load_settings(Path(cfg))
    engine = Engine(settings)
    store = open_store(settings.state_url())
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t, c = time.perf_counter(), time.process_time()
    report = issue(engine, store, settings, DEMO_AT)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    letters = report.issued
    print(json.dumps({"wall": wall, "cpu": cpu, "rss_start_mb": rss0 / 1024,
                      "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "letters": len(letters), "findings": sum(x.findings for x in letters)}))


def run_issue(cfg: Path, code: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    if code is not None:  # another checkout imported as ``sunlight``
        env["PYTHONPATH"] = str(code)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", str(cfg)], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:  # the error's class and first words, never its SQL and parameters
        lines = [x for x in out.stderr.splitlines() if re.match(r"[\w.]+(Error|Exception)\b", x)]
        return {"failed": (lines[-1] if lines else f"exit status {out.returncode}")[:160],
                "wall": time.perf_counter() - t}
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_record(n: int, dbs: list[str], folder: Path) -> None:
    from sunlight.monitor.finding import Finding
    from sunlight.monitor.store import open_store
    from sunlight.monitor.store.findings import FindingRecorder, start_run

    base = seeds(folder)
    found = [Finding(check=s["check_id"], subject=f"{s['subject']}-R{i}", unit_id=s["unit_id"],
                     tier=s["tier"], summary=s["summary"], deadline=s["deadline"], overdue=s["overdue"],
                     measure=None, calendar_uncovered=s["calendar_uncovered"], item_code=s["item_code"],
                     evidence=s["evidence"], source=s["source"], ended_at=s["ended_at"])
             for i, s in enumerate(base[j % len(base)] for j in range(n))]
    for db in dbs:
        url = state_url(folder, db, -1).replace("state--1", "record").replace("bench_backlog_-1",
                                                                              "bench_backlog_record")
        if db == "sqlite":
            Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        else:
            admin = sa.create_engine(PG_URL)
            with admin.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA IF EXISTS bench_backlog_record CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA bench_backlog_record")
            admin.dispose()
        store = open_store(url)
        for label in ("first insert", "re-upsert"):
            run = start_run(store, "approvals", DEMO_AT, ["case_overdue"])
            rec = FindingRecorder(store, run, DEMO_AT)
            t, c = time.perf_counter(), time.process_time()
            for f in found:
                rec(f)
            rec.flush()
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            print(f"  record {db:<10} {label:<12} {n:,} findings: {wall / n * 1e6:6.1f} µs wall, "
                  f"{cpu / n * 1e6:6.1f} µs CPU per finding", flush=True)
        store.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="65800", help="backlog sizes, comma-separated (0: none)")
    ap.add_argument("--db", default="sqlite,postgresql")
    ap.add_argument("--dir", "--data-dir", type=Path, default=Path("bench/.data/backlog"),
                    help="where the stores are built and kept (bench_story.py passes --data-dir)")
    ap.add_argument("--code", type=Path, action="append", default=[],
                    help="a checkout to run the issuing child on as well (its parent folder holds "
                         "it as 'sunlight'); repeatable")
    ap.add_argument("--record", type=int, default=0, help="time FindingRecorder on this many findings")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_issue(args.child)
        return
    from sunlight.monitor import logs

    logs.configure("WARNING")
    args.dir.mkdir(parents=True, exist_ok=True)
    dbs = args.db.split(",")
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    for n in [int(x) for x in args.n.split(",") if int(x)]:
        for db in dbs:
            cfg = build(args.dir, db, n)
            for code in [*args.code, None]:
                reset(state_url(args.dir, db, n))
                r = run_issue(cfg, code)
                where = "this tree" if code is None else str(code)
                if "failed" in r:
                    print(f"  issue {db:<10} N={n:>9,} {where:<22} FAILED after {r['wall']:.0f} s: "
                          f"{r['failed']}", flush=True)
                    continue
                print(f"  issue {db:<10} N={n:>9,} {where:<22} "
                      f"wall {r['wall']:7.1f} s  CPU {r['cpu']:7.1f} s  peak RSS {r['rss_peak_mb']:6.0f} MB "
                      f"(after imports {r['rss_start_mb']:4.0f})  {r['letters']:,} letters, "
                      f"{r['findings']:,} findings  load {os.getloadavg()[0]:.1f}", flush=True)
                if code is None:  # the line bench_story.py shows in its table (the last one wins)
                    print("STORY " + json.dumps({
                        "wall": r["wall"], "cpu": r["cpu"], "rss_mb": r["rss_peak_mb"],
                        "what": f"{n:,} findings on no letter; {r['letters']:,} letters issued"}),
                          flush=True)
    if args.record:
        bench_record(args.record, dbs, args.dir)


if __name__ == "__main__":
    main()
