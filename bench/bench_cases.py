"""Case benchmark (issue #2, item 12): the case checks over N cases against the raw-fetch floor.

For SQLite and PostgreSQL this script

1. builds (or reuses) a canonical case source with N sample cases from
   :func:`sunlight.monitor.demo.cases.generate` (about 20% paused, 5% extended, 30% with
   steps), with the indexes a real system has (primary keys, ``case_id`` on
   the child tables);
2. times the *floor*: the same columns of ``cases`` and its three child
   tables fetched with the bare driver (psycopg server-side cursor / sqlite3,
   ``fetchmany`` in the source's chunk size). The floor is measured twice:
   ``plain`` (no ORDER BY) and ``ordered`` (the exact ORDER BY the scan
   issues: case ids in binary order, needed for the merge join);
3. times the real path: ``sunlight scan -c CONFIG --check <the case checks>
   --format json`` as a subprocess, so wall time and peak RSS are the scan's
   own (``os.wait4``); stdout is counted (findings), not kept. Twice: the
   record path (``columnar: false``, before issue 11) and the columnar path
   (``columnar: true``, the default), with the ratios between them.

It prints wall time, rows/s, peak RSS, findings and the ratio scan / floor.
Targets (issue 11) on the 2-core bench machine: a full scan of 1M cases <= 3x the
raw fetch, peak RSS <= 256 MB. Nothing here asserts a time.

Usage::

    .venv/bin/python bench/bench_cases.py                  # 200,000 cases, both databases, both paths
    .venv/bin/python bench/bench_cases.py --million        # 1,000,000 cases
    .venv/bin/python bench/bench_cases.py --n 20000 --db sqlite
    .venv/bin/python bench/bench_cases.py --save-findings /tmp/out   # keep the JSON lines

A generated dataset is reused when the database already holds one of the same
N and generator version (the output says so); ``--rebuild`` forces a new one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from scan_config import scan_config

from sunlight.monitor.demo import cases as sample
from sunlight.monitor.demo.schema import create_all
from sunlight.monitor.demo.schema import metadata as canonical
from sunlight.monitor.records.cases import (
    CASE_FIELDS,
    EXTENSION_FIELDS,
    PAUSE_FIELDS,
    STEP_FIELDS,
)

#: bump when the data this script writes changes, so old datasets are rebuilt
DATASET_VERSION = 1
#: the evaluation instant: the generator's "today" (its as_of), 09:00 local time
AT = "2026-11-16T09:00"
CASE_CHECKS = ("case_due_soon", "case_overdue", "case_overdue_statutory", "step_overdue",
               "extension_invalid", "refusal_without_reason", "repeated_supplement")
TABLES = {"cases": CASE_FIELDS, "case_pauses": PAUSE_FIELDS,
          "case_extensions": EXTENSION_FIELDS, "case_steps": STEP_FIELDS}
ROOT = Path(__file__).resolve().parent.parent
CHUNK = 5000  # SourceConfig.chunk_size default: the floor fetches in the same chunks
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_DATABASE = "sunlight_bench"

# --- the dataset -----------------------------------------------------------------


class Loader:
    """One database being filled: tables, then batches of rows, then indexes."""

    kind: str

    def existing(self) -> int | None:
        """N of the dataset already there (same version), or None."""
        raise NotImplementedError

    def begin(self) -> None:
        raise NotImplementedError

    def write(self, table: str, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def finish(self, n: int) -> None:
        raise NotImplementedError


def _meta_sql(n: int) -> list[str]:
    return ["CREATE TABLE bench_meta (n INTEGER, version INTEGER)",
            f"INSERT INTO bench_meta VALUES ({int(n)}, {DATASET_VERSION})"]


def _sqlite_ts(v: dt.datetime | None) -> str | None:
    # the text SQLAlchemy's SQLite DateTime type stores, so the scan reads it back as it would
    return None if v is None else v.strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_num(v: Any) -> Any:
    return float(v) if isinstance(v, Decimal) else v  # SQLAlchemy binds Numeric as float on SQLite


class SQLiteLoader(Loader):
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def existing(self) -> int | None:
        if not self.path.exists():
            return None
        with sqlite3.connect(self.path) as conn:
            try:
                n, version = conn.execute("SELECT n, version FROM bench_meta").fetchone()
            except sqlite3.Error:
                return None
        return n if version == DATASET_VERSION else None

    def begin(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        engine = sa.create_engine(f"sqlite:///{self.path}")
        create_all(engine, ["units", *TABLES])
        engine.dispose()
        self.conn = sqlite3.connect(self.path)
        self.conn.execute("PRAGMA journal_mode=OFF")  # a throw-away file: no journal, no fsync
        self.conn.execute("PRAGMA synchronous=OFF")
        self._insert_units(self.conn.executemany)

    def _insert_units(self, executemany: Any) -> None:
        executemany("INSERT INTO units (unit_id, name, parent_id, kind) VALUES (?, ?, NULL, ?)",
                    [(u, name, kind) for u, name, kind in sample.UNITS])

    def write(self, table: str, rows: list[dict[str, Any]]) -> None:
        assert self.conn is not None
        cols = [c.name for c in canonical.tables[table].columns]
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        self.conn.executemany(sql, (
            tuple(_sqlite_ts(v) if isinstance(v, dt.datetime) else _sqlite_num(v)
                  for v in (r.get(c) for c in cols))
            for r in rows
        ))

    def finish(self, n: int) -> None:
        assert self.conn is not None
        for sql in _meta_sql(n):
            self.conn.execute(sql)
        self.conn.commit()
        self.conn.execute("ANALYZE")
        self.conn.close()


def _pg_conninfo(sa_url: str, database: str | None = None) -> str:
    url = sa.engine.make_url(sa_url)
    if database:
        url = url.set(database=database)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresLoader(Loader):
    kind = "postgresql"

    def __init__(self, admin_url: str, database: str = PG_DATABASE) -> None:
        self.admin_url, self.database = admin_url, database
        self.url = sa.engine.make_url(admin_url).set(database=database).render_as_string(
            hide_password=False)
        self.conn: Any = None

    def existing(self) -> int | None:
        import psycopg

        try:
            with psycopg.connect(_pg_conninfo(self.url)) as conn:
                n, version = conn.execute("SELECT n, version FROM bench_meta").fetchone()
        except psycopg.Error:
            return None
        return n if version == DATASET_VERSION else None

    def begin(self) -> None:
        import psycopg

        with psycopg.connect(_pg_conninfo(self.admin_url), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {self.database}")
            admin.execute(f"CREATE DATABASE {self.database}")
        engine = sa.create_engine(self.url)
        create_all(engine, ["units", *TABLES])
        engine.dispose()
        self.conn = psycopg.connect(_pg_conninfo(self.url))
        with self.conn.cursor() as cur:
            cur.executemany("INSERT INTO units (unit_id, name, parent_id, kind) "
                            "VALUES (%s, %s, NULL, %s)",
                            [(u, name, kind) for u, name, kind in sample.UNITS])

    def write(self, table: str, rows: list[dict[str, Any]]) -> None:
        cols = [c.name for c in canonical.tables[table].columns]
        with self.conn.cursor() as cur, cur.copy(
            f"COPY {table} ({', '.join(cols)}) FROM STDIN"
        ) as copy:
            for r in rows:
                copy.write_row([r.get(c) for c in cols])

    def finish(self, n: int) -> None:
        with self.conn.cursor() as cur:
            for sql in _meta_sql(n):
                cur.execute(sql)
        self.conn.commit()
        self.conn.autocommit = True
        self.conn.execute("VACUUM ANALYZE")  # a loaded production table has statistics and a visibility map
        self.conn.close()


def ensure_dataset(loaders: list[Loader], n: int, rebuild: bool) -> None:
    """Fill every loader that lacks an N-case dataset, from one pass of the generator."""
    todo = []
    for ld in loaders:
        have = None if rebuild else ld.existing()
        if have == n:
            print(f"[{ld.kind}] reusing the dataset already there ({n:,} cases)")
        else:
            why = "rebuild requested" if rebuild else (
                "none there" if have is None else f"it has {have:,} cases")
            print(f"[{ld.kind}] generating {n:,} cases ({why})")
            todo.append(ld)
    if not todo:
        return
    started = time.perf_counter()
    for ld in todo:
        ld.begin()
    counts = dict.fromkeys(TABLES, 0)
    for batch in sample.generate(n, id_prefix="B"):
        for table, rows in (("cases", batch.cases), ("case_pauses", batch.pauses),
                            ("case_extensions", batch.extensions), ("case_steps", batch.steps)):
            counts[table] += len(rows)
            if rows:
                for ld in todo:
                    ld.write(table, rows)
    for ld in todo:
        ld.finish(n)
    print(f"  generated and loaded in {time.perf_counter() - started:.1f} s: "
          + ", ".join(f"{t} {c:,}" for t, c in counts.items()))


# --- the floor -------------------------------------------------------------------


def _select(table: str, ordered: bool, dialect: str) -> str:
    sql = f"SELECT {', '.join(TABLES[table])} FROM {table}"
    if ordered:  # what monitor.sources.Source._binary_text orders by, per dialect
        sql += (' ORDER BY CAST(case_id AS TEXT) COLLATE "C"' if dialect == "postgresql"
                else " ORDER BY CAST(case_id AS TEXT)")
    return sql


def _drain(fetchmany: Any) -> int:
    n = 0
    while rows := fetchmany(CHUNK):
        n += len(rows)
    return n


def floor_sqlite(path: Path, ordered: bool) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    counts = {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    for table in TABLES:
        cur = conn.execute(_select(table, ordered, "sqlite"))
        counts[table] = _drain(cur.fetchmany)
    conn.close()
    return time.perf_counter() - started, counts


def floor_postgres(url: str, ordered: bool) -> tuple[float, dict[str, int]]:
    import psycopg

    started = time.perf_counter()
    counts = {}
    with psycopg.connect(_pg_conninfo(url)) as conn:
        for table in TABLES:
            with conn.cursor(name=f"floor_{table}") as cur:  # server-side, like stream_results
                cur.execute(_select(table, ordered, "postgresql"))
                counts[table] = _drain(cur.fetchmany)
    return time.perf_counter() - started, counts


# --- the scan --------------------------------------------------------------------


@dataclass
class ScanResult:
    seconds: float
    cpu_seconds: float  # user + system: less sensitive than wall time to a busy machine
    peak_rss_mb: float
    findings: int
    exit_code: int
    stderr: str


def sunlight_command() -> list[str]:
    exe = Path(sys.executable).parent / "sunlight"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("sunlight")
    if found is None:
        raise SystemExit("cannot find the `sunlight` command: pip install -e . first")
    return [found]


def run_scan(config: Path, checks: tuple[str, ...], save: Path | None) -> ScanResult:
    """``sunlight scan`` as a child process; its own wall time and peak RSS (os.wait4)."""
    cmd = [*sunlight_command(), "scan", "-c", str(config), "--at", AT, "--format", "json"]
    for c in checks:
        cmd += ["--check", c]
    out = open(save, "wb") if save else None  # noqa: SIM115 - closed below
    err = tempfile.TemporaryFile()  # noqa: SIM115 - a file, not a pipe: a chatty stderr cannot block
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out or subprocess.PIPE, stderr=err)
    findings = 0
    if out is None:
        assert proc.stdout is not None
        while block := proc.stdout.read(1 << 20):
            findings += block.count(b"\n")
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err.seek(0)
    stderr = err.read().decode(errors="replace")
    err.close()
    if out is not None:
        out.close()
        with open(save, "rb") as f:
            findings = sum(1 for _ in f)
    return ScanResult(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, findings,
                      proc.returncode, stderr)


# --- report ----------------------------------------------------------------------


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}/s" if seconds > 0 else "-"


def bench_one(kind: str, url: str, sqlite_path: Path | None, data_dir: Path,
              checks: tuple[str, ...], save: Path | None, n: int, paths: tuple[str, ...]) -> dict[str, Any]:
    floors = {}
    for ordered in (False, True):
        if kind == "sqlite":
            assert sqlite_path is not None
            seconds, counts = floor_sqlite(sqlite_path, ordered)
        else:
            seconds, counts = floor_postgres(url, ordered)
        floors["ordered" if ordered else "plain"] = seconds
    rows = sum(counts.values())
    print(f"\n[{kind}] {n:,} cases, {rows:,} rows in 4 tables "
          + "(" + ", ".join(f"{t} {c:,}" for t, c in counts.items()) + ")")
    print(f"  floor, bare driver, no ORDER BY : {floors['plain']:7.2f} s  {_rate(rows, floors['plain'])}")
    print(f"  floor, bare driver, ORDER BY key: {floors['ordered']:7.2f} s  "
          f"{_rate(rows, floors['ordered'])}")
    scans: dict[str, ScanResult] = {}
    for path in paths:
        config = data_dir / f"bench-{kind}-{path}.yaml"
        config.write_text(scan_config("sqlite:///bench-state.db", url, chunk=CHUNK,
                                      columnar=path == "columnar", written_by="bench/bench_cases.py"),
                          encoding="utf-8")
        scan = scans[path] = run_scan(config, checks, save / f"{kind}-{path}.jsonl" if save else None)
        if scan.exit_code != 0:
            print(scan.stderr, file=sys.stderr)
            raise SystemExit(f"[{kind}] sunlight scan ({path}) exited {scan.exit_code}")
        print(f"  sunlight scan, {path + ' path':15}: {scan.seconds:7.2f} s  "
              f"({_rate(n, scan.seconds)} cases)  CPU {scan.cpu_seconds:6.1f} s  "
              f"peak RSS {scan.peak_rss_mb:4.0f} MB  findings {scan.findings:,}")
        print(f"    ratio to the floor: {scan.seconds / floors['plain']:.2f} (no ORDER BY), "
              f"{scan.seconds / floors['ordered']:.2f} (same ORDER BY); "
              f"CPU / floor wall {scan.cpu_seconds / floors['plain']:.2f}")
    if len(scans) == 2:
        rec, col = scans["record"], scans["columnar"]
        same = "same count" if rec.findings == col.findings else "COUNTS DIFFER"
        print(f"  columnar vs record: wall {rec.seconds / col.seconds:.2f}x faster, "
              f"CPU {rec.cpu_seconds / col.cpu_seconds:.2f}x less, findings {same} "
              f"({'compare with compare_findings.py' if save else 'use --save-findings to compare them'})")
    return {"kind": kind, "rows": rows, "floors": floors, "scans": scans}


def main(argv: list[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # progress shows up at once, even into a file
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200_000, help="number of cases (default 200,000)")
    ap.add_argument("--million", action="store_true", help="1,000,000 cases (the issue's size)")
    ap.add_argument("--path", choices=("record", "columnar", "both"), default="both",
                    help="which evaluation path to time (default both: before and after)")
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--pg-url", default=os.environ.get("SUNLIGHT_BENCH_POSTGRES_URL", DEFAULT_PG),
                    help="an admin URL; the data goes to --pg-database on that server")
    ap.add_argument("--pg-database", default=PG_DATABASE,
                    help=f"the database the bench creates and fills (default {PG_DATABASE})")
    ap.add_argument("--data-dir", type=Path, default=ROOT / "bench" / ".data",
                    help="where the SQLite file and the configs go")
    ap.add_argument("--rebuild", action="store_true", help="regenerate even if a dataset is there")
    ap.add_argument("--check", action="append", dest="checks",
                    help=f"check to run (repeatable; default the case checks: {', '.join(CASE_CHECKS)})")
    ap.add_argument("--save-findings", type=Path, metavar="DIR",
                    help="keep the scan's JSON lines in DIR/<db>-<path>.jsonl (to compare runs)")
    args = ap.parse_args(argv)
    if args.million:
        args.n = 1_000_000
    paths = ("record", "columnar") if args.path == "both" else (args.path,)
    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())

    args.data_dir.mkdir(parents=True, exist_ok=True)
    if args.save_findings:
        args.save_findings.mkdir(parents=True, exist_ok=True)
    sqlite_path = args.data_dir / "cases.sqlite"
    pg = PostgresLoader(args.pg_url, args.pg_database)
    loaders: list[Loader] = []
    if args.db in ("sqlite", "both"):
        loaders.append(SQLiteLoader(sqlite_path))
    if args.db in ("postgresql", "both"):
        loaders.append(pg)
    ensure_dataset(loaders, args.n, args.rebuild)

    checks = tuple(args.checks or CASE_CHECKS)
    results = []
    if args.db in ("sqlite", "both"):
        results.append(bench_one("sqlite", f"sqlite:///{sqlite_path}", sqlite_path, args.data_dir,
                                 checks, args.save_findings, args.n, paths))
    if args.db in ("postgresql", "both"):
        results.append(bench_one("postgresql", pg.url, None, args.data_dir, checks,
                                 args.save_findings, args.n, paths))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nload average before the run {load_before}, after {load}")
    print("targets (issue 11, 1M cases, 2 cores): scan <= 3x the raw fetch, peak RSS <= 256 MB;  "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
