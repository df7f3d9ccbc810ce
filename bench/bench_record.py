"""What recording findings costs (issue 11, "``--record`` <= 20 µs per finding").

For a SQLite and a PostgreSQL state store, and for this tree and any other
checkout given with ``--code`` (e.g. ``main`` exported with ``git archive``:
before/after figures from one run), over one SQLite case source of N cases
(``bench_cases.py``'s dataset, default 200,000, about 65,800 findings):

====================  =========================================================
scenario              what the store sees
====================  =========================================================
``first``             a first scan at AT: every finding new
``again``             a re-scan at the same AT, nothing changed: every finding
                      seen again, field for field the same
``later``             a re-scan an hour later, the source unchanged (the
                      everyday cycle): every finding seen again; what moves is
                      ``evidence.as_of`` and whatever an hour changes
``changed``           1% of the cases edited (``bench_incremental.edit``: half
                      of the open ones picked completed, the others touched),
                      re-scan two hours after AT
====================  =========================================================

Two figures per scenario, each from its own child process (``os.wait4``:
wall, CPU user + system, peak RSS):

- **scan --record − scan**: ``sunlight scan --format json --record`` against
  ``sunlight scan --format json`` of the same config and as-of time (run just
  before it), the difference divided by the findings: what ``--record``
  adds, including start-up noise;
- **recording alone**: a child scans into a list (not timed), then times the
  record protocol of ``engine.scan_and_record_one`` on those findings
  (``close_abandoned``, ``start_run``, ``FindingRecorder``, ``finish_run``
  resolving): steadier, and the figure to read. Its own store, which goes
  through the same scenarios.

``--profile DIR`` also runs py-spy (``.venv/bin/pip install py-spy``) on the
``recording alone`` child of each scenario and prints the functions where the
recording's samples are (collapsed stacks kept in DIR). Nothing here asserts a
time.

    .venv/bin/python bench/bench_record.py                                  # 200,000 cases, both stores
    .venv/bin/python bench/bench_record.py --n 20000 --db sqlite
    .venv/bin/python bench/bench_record.py --code /tmp/record-main --profile /tmp/record-prof
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import bench_cases
from bench_incremental import edit
from bench_story import measure
from scan_config import scan_config

HERE = Path(__file__).resolve().parent
AT = dt.datetime.fromisoformat(bench_cases.AT)  # naive: local time of the config's zone
SCENARIOS = {"first": AT, "again": AT, "later": AT + dt.timedelta(hours=1),
             "changed": AT + dt.timedelta(hours=2)}
PG_ADMIN = os.environ.get("SUNLIGHT_BENCH_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = "bench_record"
CLI = "import sys; from sunlight.monitor.cli import main; sys.exit(main())"


# --- the child that times recording alone ------------------------------------------------


def child_replay(config: Path, at: str) -> dict[str, Any]:
    """Scan into a list (not timed), then time recording those findings as a scan run does."""
    import resource

    from sunlight.monitor import logs
    from sunlight.monitor.configure import load_settings
    from sunlight.monitor.engine import Engine
    from sunlight.monitor.store import open_store

    logs.configure("WARNING")
    settings = load_settings(config)
    when = dt.datetime.fromisoformat(at).replace(tzinfo=settings.tz)
    engine = Engine(settings)
    found: list[Any] = []
    src = engine.sources["approvals"]
    out = engine.scan_source(src, when, found.append)
    store = open_store(settings.state_url())
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu = time.perf_counter(), time.process_time()
    count, resolved, seen = _timed(engine, store, src, when, found, out)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    engine.close()
    store.dispose()
    return {"wall": wall, "cpu": cpu, "findings": len(found), "recorded": count, "seen": seen,
            "resolved": resolved, "rss_before_mb": rss0 / 1024,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _timed(engine: Any, store: Any, src: Any, when: dt.datetime, found: list[Any], out: Any
           ) -> tuple[int, int, int]:
    """The record protocol of ``engine.scan_and_record_one`` (without the claim) on ``found``."""
    from sunlight.monitor.store.findings import FindingRecorder, close_abandoned, finish_run, start_run

    checks = {c.id for c in engine.checks} | {engine.quality.id}
    close_abandoned(store, src.name)
    run = start_run(store, src.name, when, checks)
    rec = FindingRecorder(store, run, when, on_reject=engine.quality.unstorable)
    for f in found:
        rec(f)
    rec.flush()
    resolved = finish_run(store, run, ok=out.ok, error=out.error,
                          rows_read=sum(out.rows_read.values()), findings=rec.count,
                          entity_rows=out.rows_read, resolve_checks=out.checks_run & checks,
                          source=src.name, as_of=when)
    return rec.count, resolved, getattr(rec, "seen", 0)  # (``seen``: not on main's recorder)


# --- stores, configs ---------------------------------------------------------------------


def _pg(database: str | None = None, schema: str | None = None) -> str:
    import sqlalchemy as sa

    url = sa.engine.make_url(PG_ADMIN)
    if database:
        url = url.set(database=database)
    if schema:
        url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def new_store(kind: str, work: Path, name: str) -> str:
    """An empty state store: a SQLite file, or a PostgreSQL schema in ``--pg-database``."""
    if kind == "sqlite":
        path = work / f"state-{name}.db"
        for p in work.glob(f"state-{name}.db*"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        return f"sqlite:///{path}"
    import psycopg

    with psycopg.connect(bench_cases._pg_conninfo(PG_ADMIN), autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)).fetchone():
            admin.execute(f"CREATE DATABASE {PG_DATABASE}")
    with psycopg.connect(bench_cases._pg_conninfo(_pg(PG_DATABASE)), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.execute(f"CREATE SCHEMA {name}")
    return _pg(PG_DATABASE, name)


def settle(config: Path) -> None:
    """PostgreSQL: ``VACUUM ANALYZE findings`` before a scenario (not timed), what autovacuum
    does between a site's daily scans; the bench server runs with autovacuum off, and a table
    of dead row versions and no statistics would be timed instead of recording."""
    import yaml

    url = yaml.safe_load(config.read_text(encoding="utf-8"))["state"]["url"]
    if not url.startswith("postgresql"):
        return
    import psycopg
    import sqlalchemy as sa

    u = sa.engine.make_url(url)
    schema = str(u.query["options"]).removeprefix("-csearch_path=")
    with psycopg.connect(bench_cases._pg_conninfo(url.split("?")[0]), autocommit=True) as conn:
        if conn.execute("SELECT to_regclass(%s)", (f"{schema}.findings",)).fetchone()[0]:
            conn.execute(f"VACUUM ANALYZE {schema}.findings")


def child_env(code: Path | None) -> dict[str, str]:
    env = {**os.environ, "SUNLIGHT_LOG_LEVEL": "warning"}
    if code is not None:  # another checkout, imported as ``sunlight``
        env["PYTHONPATH"] = str(code)
    return env


def _scan(config: Path, at: dt.datetime, record: bool, code: Path | None, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-c", CLI, "scan", "-c", str(config), "--at", at.isoformat(timespec="minutes"),
           "--format", "json", *(["--record"] if record else [])]
    m = measure(cmd, stdout=out, env=child_env(code))
    if m["rc"]:
        raise SystemExit(f"scan failed ({' '.join(cmd[3:])}):\n{m['stderr'][-2000:]}")
    with open(out, "rb") as f:
        m["findings"] = sum(1 for _ in f)
    out.unlink()
    return m


def _replay(config: Path, at: dt.datetime, code: Path | None, profile: Path | None,
            label: str) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--replay", str(config),
           "--at", at.isoformat(timespec="minutes")]
    if profile is not None:
        raw = profile / f"{label}.txt"
        spy = Path(sys.executable).parent / "py-spy"
        cmd = [str(spy), "record", "--rate", "200", "--format", "raw", "--output", str(raw),
               "--nonblocking", "--", *cmd]
    m = measure(cmd, env=child_env(code))
    if m["rc"]:
        raise SystemExit(f"replay failed:\n{m['stderr'][-2000:]}")
    lines = [x for x in m["stdout"].splitlines() if x.startswith("{")]
    return json.loads(lines[-1])


# --- the profile ---------------------------------------------------------------------------


def _frame(f: str) -> str:
    """``Class.method (path:line)`` without the line."""
    name, _, where = f.partition(" (")
    return f"{name} ({where.rpartition(':')[0]})"


def summarize(raw: Path, top: int = 12) -> list[str]:
    """Where the recording's samples are: frames under :func:`_timed`, inclusive and self."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        at = next((i for i, f in enumerate(frames) if f.startswith("_timed ")), None)
        if not count.isdigit() or at is None:
            continue
        n = int(count)
        total += n
        below = [_frame(f) for f in frames[at + 1:]]
        for f in set(below):
            inclusive[f] += n
        own[below[-1] if below else "_timed"] += n
    if not total:
        return ["  (no samples of the recording)"]
    out = [f"  {total:,} samples of the recording (200 Hz); inclusive:"]
    out += [f"    {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    out += ["  self:"] + [f"    {n / total:6.1%}  {name}" for name, n in own.most_common(top // 2)]
    return out


# --- the sequence --------------------------------------------------------------------------


def bench(kind: str, code: Path | None, master: Path, work: Path,
          profile: Path | None, alone_only: bool = False) -> list[dict[str, Any]]:
    label = "this tree" if code is None else str(code)
    tag = "this" if code is None else code.name.replace("-", "_")
    source = work / "source.db"
    shutil.copyfile(master, source)
    configs = {}
    for which in ("cli", "replay"):
        url = new_store(kind, work, f"rec_{tag}_{which}")
        configs[which] = work / f"record-{kind}-{tag}-{which}.yaml"
        configs[which].write_text(scan_config(url, f"sqlite:///{source}", chunk=bench_cases.CHUNK,
                                              written_by="bench/bench_record.py"), encoding="utf-8")
    out = work / "scan.jsonl"
    rows = []
    print(f"\n[{kind} store, {label}] load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
          flush=True)
    plain: dict[str, Any] | None = None
    for scenario, at in SCENARIOS.items():
        if scenario == "changed":
            import random

            edited = edit("sqlite", source, N_CASES, random.Random(7))
            print(f"  edited {edited:,} cases (1%)", flush=True)
        for config in configs.values():
            settle(config)
        if alone_only:
            plain = rec = {"wall": 0.0, "cpu": 0.0, "rss_mb": 0.0, "findings": 1}
        else:
            if plain is None or scenario != "again":  # "again": the same as-of, the same source
                plain = _scan(configs["cli"], at, False, code, out)
            rec = _scan(configs["cli"], at, True, code, out)
        alone = _replay(configs["replay"], at, code, profile, f"{kind}-{tag}-{scenario}")
        n = rec["findings"] if not alone_only else alone["findings"]
        row = {"store": kind, "code": label, "scenario": scenario, "findings": n,
               "plain_wall": plain["wall"], "plain_cpu": plain["cpu"], "plain_rss": plain["rss_mb"],
               "rec_wall": rec["wall"], "rec_cpu": rec["cpu"], "rec_rss": rec["rss_mb"],
               "extra_wall_us": (rec["wall"] - plain["wall"]) / n * 1e6,
               "extra_cpu_us": (rec["cpu"] - plain["cpu"]) / n * 1e6,
               "alone_wall_us": alone["wall"] / alone["findings"] * 1e6,
               "alone_cpu_us": alone["cpu"] / alone["findings"] * 1e6,
               "alone_rss": alone["rss_mb"], "alone_rss_before": alone["rss_before_mb"],
               "resolved": alone["resolved"], "seen": alone["seen"], "load": os.getloadavg()[0]}
        rows.append(row)
        print(f"  {scenario:<8} {n:>7,} findings  scan {plain['wall']:6.2f} s wall {plain['cpu']:6.2f} s CPU"
              f" | --record {rec['wall']:6.2f} / {rec['cpu']:6.2f} s, peak RSS {rec['rss_mb']:4.0f} MB"
              f" (scan {plain['rss_mb']:4.0f}): +{row['extra_wall_us']:6.1f} µs wall"
              f" +{row['extra_cpu_us']:6.1f} µs CPU a finding"
              f" | recording alone {row['alone_wall_us']:6.1f} µs wall {row['alone_cpu_us']:6.1f} µs CPU,"
              f" RSS {alone['rss_before_mb']:.0f}→{alone['rss_mb']:.0f} MB, {alone['seen']:,} only seen,"
              f" {alone['resolved']:,} resolved"
              f"  load {row['load']:.1f}", flush=True)
        if profile is not None:
            for line in summarize(profile / f"{kind}-{tag}-{scenario}.txt"):
                print("   " + line, flush=True)
    return rows


N_CASES = 200_000


def main(argv: list[str] | None = None) -> int:
    global N_CASES, PG_DATABASE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200_000, help="cases in the source (default 200,000)")
    ap.add_argument("--db", default="sqlite,postgresql", help="state stores: sqlite, postgresql")
    ap.add_argument("--code", type=Path, action="append", default=[],
                    help="a checkout to run as well (its folder holds it as 'sunlight'); repeatable")
    ap.add_argument("--data-dir", type=Path, default=HERE / ".data" / "record")
    ap.add_argument("--profile", type=Path, help="run py-spy on the recording children; stacks here")
    ap.add_argument("--json", type=Path, help="write every row as JSON here too")
    ap.add_argument("--pg-database", default=PG_DATABASE,
                    help=f"the PostgreSQL database of the stores' schemas (default {PG_DATABASE})")
    ap.add_argument("--alone", action="store_true",
                    help="only the 'recording alone' children (no sunlight scan pairs): quicker")
    ap.add_argument("--replay", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--at", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.replay:
        print(json.dumps(child_replay(args.replay, args.at)))
        return 0
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    N_CASES, PG_DATABASE = args.n, args.pg_database
    args.data_dir.mkdir(parents=True, exist_ok=True)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    master = args.data_dir / f"cases-{args.n}.sqlite"
    bench_cases.ensure_dataset([bench_cases.SQLiteLoader(master)], args.n, rebuild=False)
    started = os.getloadavg()
    rows = []
    for kind in args.db.split(","):
        for code in [*args.code, None]:
            rows += bench(kind, code, master, args.data_dir, args.profile, args.alone)
    print(f"\nload average at the start {' '.join(f'{x:.2f}' for x in started)}, at the end "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs; target: --record <= 20 µs per finding")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
