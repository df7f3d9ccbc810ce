"""One benchmark that tells the story (issue 11, item 6): every figure from one run.

For N cases (default 1,000,000) on SQLite and PostgreSQL, and N vouchers × 4
signatures, it prints one table per engine:

- the raw fetch: the scan's columns of the four case tables with the bare
  driver, without ORDER BY (the base of every ratio) and with the scan's ORDER BY;
- the peer SQL for ``case_overdue`` (``bench/peer_case_overdue.py``), checked
  against sunlight's ``--check case_overdue`` findings of the same run
  (same set of case, deadline, overdue);
- sunlight's full scan of the 7 case checks, record path and columnar path;
- ``scan --record`` into a new SQLite state store: its extra cost per finding; and the
  same an hour later into that store (every finding seen again: the everyday cycle);
- an incremental cycle with 1% of rows changed (``bench/bench_incremental.py``)
  and the first cycle after the backlog (``bench/bench_backlog.py``), run as
  they are if the branch has them, else "not built on this branch";
- spending (``bench/bench_spending.py``): its raw fetch and the engine.

Each measurement is its own child process (``os.wait4``: wall, CPU user +
system, peak RSS of that child alone; this parent imports nothing heavy, so
its memory does not leak into a child's peak). Ratios are to the raw fetch of
the same run. Datasets are generated once per N and reused (``--data-dir``,
and a PostgreSQL database of the bench's own, ``bench_story_<N>``).
Nothing here asserts a time.

    .venv/bin/python bench/bench_story.py                         # 1M, both engines (~1 h on 2 busy cores)
    .venv/bin/python bench/bench_story.py --n 20000 --db sqlite

A slot script is called as ``SCRIPT --n N --db sqlite|postgresql --data-dir DIR``;
if a line of its output reads ``STORY {"wall": s, "cpu": s, "rss_mb": MB, "what": "..."}``
that is the figure the table shows (the script's own measured part), else the
whole child's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scan_config import scan_config

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
AT = "2026-11-16T09:00"  # bench_cases.AT: the generator's "today", 09:00 local
LATER = "2026-11-16T10:00"  # the next hourly cycle
CASE_CHECKS = ("case_due_soon", "case_overdue", "case_overdue_statutory", "step_overdue",
               "extension_invalid", "refusal_without_reason", "repeated_supplement")
CHUNK = 5000
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/sunlight_test"
SKIPPABLE = ("peer", "record-path")
SLOTS = (("incremental cycle, 1% of rows changed", "bench_incremental.py"),
         ("first cycle after the backlog", "bench_backlog.py"))
TABLES = {
    "cases": "case_id, unit_id, item_code, item_name, handler, accepted_at, promised_limit, "
             "statutory_limit, limit_unit, completed_at, outcome, outcome_reason, updated_at, "
             "statutory_basis",
    "case_pauses": "case_id, kind, started_at, ended_at",
    "case_extensions": "case_id, extra, approved_by, approved_at, reason",
    "case_steps": "case_id, seq, name, handler, started_at, finished_at, step_limit, limit_unit",
}


# --- children ----------------------------------------------------------------------------


def child_prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Generate (or reuse) the case and voucher datasets; say where they are."""
    sys.path.insert(0, str(HERE))
    import bench_cases as bc
    import bench_spending as bs

    kinds = args.db.split(",")
    sqlite_path = args.data_dir / f"cases-{args.n}.sqlite"
    pg = bc.PostgresLoader(args.pg_url, args.pg_database)
    loaders: list[Any] = [bc.SQLiteLoader(sqlite_path) if k == "sqlite" else pg for k in kinds]
    bc.ensure_dataset(loaders, args.n, rebuild=args.rebuild)
    out: dict[str, Any] = {}
    for kind in kinds:
        url = f"sqlite:///{sqlite_path}" if kind == "sqlite" else pg.url
        info: dict[str, Any] = {"url": url, "raw": str(sqlite_path) if kind == "sqlite"
                                else bc._pg_conninfo(pg.url)}
        if args.vouchers:
            mark = args.data_dir / f"spending-{kind}-{args.vouchers}-{args.pg_database}.ok"
            spend_db = args.data_dir / f"spending-{args.vouchers}.sqlite"
            if args.rebuild or not mark.exists():
                print(f"[{kind}] generating {args.vouchers:,} vouchers", flush=True)
                if kind == "sqlite":
                    bs.load_sqlite(spend_db, args.vouchers)
                else:
                    bs.load_postgres(pg.url, args.vouchers)
                mark.write_text("loaded\n")
            else:
                print(f"[{kind}] reusing the {args.vouchers:,} vouchers already there", flush=True)
            info["spend_source"] = f"sqlite:///{spend_db}" if kind == "sqlite" else bs.pg_url(pg.url)
            info["spend_raw"] = str(spend_db) if kind == "sqlite" else pg.url
        out[kind] = info
    return out


def child_raw(kind: str, target: str, ordered: bool) -> dict[str, Any]:
    """The floor: the scan's columns with the bare driver, ``fetchmany`` in the source's chunks."""
    rows = 0
    if kind == "sqlite":
        import sqlite3

        conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
        for table, cols in TABLES.items():
            sql = f"SELECT {cols} FROM {table}" + (" ORDER BY CAST(case_id AS TEXT)" if ordered else "")
            cur = conn.execute(sql)
            while chunk := cur.fetchmany(CHUNK):
                rows += len(chunk)
        conn.close()
    else:
        import psycopg

        with psycopg.connect(target) as conn:
            for table, cols in TABLES.items():
                sql = f"SELECT {cols} FROM {table}" + (
                    ' ORDER BY CAST(case_id AS TEXT) COLLATE "C"' if ordered else "")
                with conn.cursor(name=f"raw_{table}") as cur:  # server-side, as stream_results
                    cur.execute(sql)
                    while chunk := cur.fetchmany(CHUNK):
                        rows += len(chunk)
    return {"rows": rows}


def child_peer(kind: str, target: str, config: Path, out: Path) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    import peer_case_overdue as peer

    return peer.run_peer(kind, target, config, AT, out)


# --- measuring a child -------------------------------------------------------------------


def measure(cmd: list[str], stdout: Path | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> dict[str, Any]:
    """Run ``cmd``; its wall time, CPU (user + system) and peak RSS from ``os.wait4``.

    stdout goes to ``stdout`` when given (else it is kept in memory: children
    that print one JSON line); stderr to a file, so a chatty child cannot block.
    """
    err = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    out = open(stdout, "wb") if stdout else tempfile.TemporaryFile()  # noqa: SIM115
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err.seek(0)
    text = ""
    if stdout is None:
        out.seek(0)
        text = out.read().decode(errors="replace")
    out.close()
    stderr = err.read().decode(errors="replace")
    err.close()
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "rc": proc.returncode, "stdout": text, "stderr": stderr}


def _json_tail(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)  # type: ignore[no-any-return]
    return {}


def _self(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args]


def _sunlight() -> str:
    exe = Path(sys.executable).parent / "sunlight"
    if not exe.exists():
        raise SystemExit("cannot find the `sunlight` command next to this python: pip install -e . first")
    return str(exe)


def _lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


# --- one engine --------------------------------------------------------------------------


class Table:
    """The rows of one engine's table, printed as they come (a long run shows progress)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.base: dict[str, Any] | None = None
        self.rows: list[str] = []
        head = (f"| {kind} | wall s | CPU s | peak RSS MB | wall / raw | CPU / raw CPU | count |\n"
                "| --- | ---: | ---: | ---: | ---: | ---: | --- |")
        print(f"\n{head}", flush=True)
        self.rows.append(head)

    def row(self, label: str, m: dict[str, Any] | None, count: str = "",
            base: dict[str, Any] | None = None) -> None:
        b = base or self.base
        if m is None:
            line = f"| {label} | | | | | | {count} |"
        else:
            ratio = (f"{m['wall'] / b['wall']:.2f}" if b and b["wall"] else "")
            cratio = (f"{m['cpu'] / b['cpu']:.2f}" if b and b["cpu"] else "")
            line = (f"| {label} | {m['wall']:.2f} | {m['cpu']:.2f} | {m['rss_mb']:.0f} | {ratio} | "
                    f"{cratio} | {count} |")
        print(line, flush=True)
        self.rows.append(line)


def _failed(what: str, m: dict[str, Any]) -> None:
    print(m["stderr"][-3000:], file=sys.stderr)
    raise SystemExit(f"{what} exited {m['rc']}")


def bench_engine(kind: str, info: dict[str, Any], args: argparse.Namespace) -> list[str]:
    data = args.data_dir
    t = Table(kind)
    raw = info["raw"]
    plain = measure(_self("--phase", "raw", "--kind", kind, "--target", raw))
    if plain["rc"]:
        _failed("raw fetch", plain)
    rows = _json_tail(plain["stdout"])["rows"]
    t.base = plain
    t.row("raw fetch, bare driver, no ORDER BY (the base)", plain, f"{rows:,} rows")
    ordered = measure(_self("--phase", "raw", "--kind", kind, "--target", raw, "--ordered"))
    if ordered["rc"]:
        _failed("raw fetch (ordered)", ordered)
    t.row("raw fetch, ORDER BY key (as the scan)", ordered, f"{rows:,} rows")

    configs = {}
    for path in ("record", "columnar"):
        configs[path] = data / f"story-{kind}-{path}.yaml"
        configs[path].write_text(scan_config(
            f"sqlite:///{data / f'state-{kind}-{path}.db'}", info["url"], chunk=CHUNK,
            columnar=path == "columnar", written_by="bench/bench_story.py"), encoding="utf-8")
    scan = [_sunlight(), "scan", "--at", AT, "--format", "json"]
    checks = [a for c in CASE_CHECKS for a in ("--check", c)]

    # the peer SQL against sunlight's --check case_overdue
    if "peer" in args.skip:
        t.row("peer SQL for case_overdue", None, "skipped (--skip peer)")
    else:
        _peer(kind, raw, configs["columnar"], scan, t, args)

    # the full scans
    full: dict[str, dict[str, Any]] = {}
    for path in ("record", "columnar"):
        if path == "record" and "record-path" in args.skip:
            t.row("sunlight full scan, 7 case checks, record path", None,
                  "skipped (--skip record-path)")
            continue
        out = data / f"scan-{kind}-{path}.jsonl"
        full[path] = m = measure([*scan, "-c", str(configs[path]), *checks], stdout=out)
        if m["rc"]:
            _failed(f"sunlight scan ({path} path)", m)
        m["findings"] = _lines(out)
        t.row(f"sunlight full scan, 7 case checks, {path} path", m, f"{m['findings']:,} findings")
    _rest(kind, info, args, t, full, scan, checks, configs["columnar"])
    return t.rows


def _peer(kind: str, raw: str, config: Path, scan: list[str], t: Table,
          args: argparse.Namespace) -> None:
    """The peer SQL against sunlight's ``--check case_overdue``: both timed, the findings compared."""
    data = args.data_dir
    tsv = data / f"peer-{kind}.tsv"
    peer = measure(_self("--phase", "peer", "--kind", kind, "--target", raw,
                         "--config", str(config), "--out", str(tsv)))
    if peer["rc"]:
        _failed("peer SQL", peer)
    got = _json_tail(peer["stdout"])
    only = data / f"case_overdue-{kind}.jsonl"
    m = measure([*scan, "-c", str(config), "--check", "case_overdue"], stdout=only)
    if m["rc"]:
        _failed("sunlight scan --check case_overdue", m)
    sys.path.insert(0, str(HERE))
    import peer_case_overdue as pc  # stdlib and Decimal only at import time

    same, verdict = pc.compare(only, tsv)
    t.row("peer SQL for case_overdue (query and fetch; inputs "
          f"{got['setup']:.1f} s)", peer, f"{got['rows']:,} findings")
    t.row("sunlight `--check case_overdue` (columnar)", m, f"{_lines(only):,} findings")
    print(f"  peer SQL vs sunlight: {verdict}", flush=True)
    if not same:
        args.differ.append(kind)
    if m["wall"] and peer["wall"]:
        print(f"  sunlight / peer SQL: wall {m['wall'] / peer['wall']:.2f}, "
              f"CPU {m['cpu'] / peer['cpu']:.2f}", flush=True)


def _per_finding(m: dict[str, Any], base: dict[str, Any], n: int) -> str:
    """What ``m`` costs more than ``base``, per finding (``--record``'s share)."""
    cpu = (m["cpu"] - base["cpu"]) / n * 1e6 if n else 0.0
    wall = (m["wall"] - base["wall"]) / n * 1e6 if n else 0.0
    return f"+{cpu:.0f} µs CPU, +{wall:.0f} µs wall per finding"


def _rest(kind: str, info: dict[str, Any], args: argparse.Namespace, t: Table,
          full: dict[str, dict[str, Any]], scan: list[str], checks: list[str], config: Path) -> None:
    """``--record``, the slots other benches fill, and spending."""
    data = args.data_dir

    # scan --record: the same columnar scan, recording into a new state store
    state = data / f"state-{kind}-columnar.db"
    state.unlink(missing_ok=True)
    m = measure([*scan, "-c", str(config), *checks, "--record"],
                stdout=data / f"scan-{kind}-record-store.jsonl")
    if m["rc"]:
        _failed("sunlight scan --record", m)
    t.row("sunlight full scan `--record` (columnar, new SQLite store)", m,
          _per_finding(m, full["columnar"], full["columnar"]["findings"]))

    # the everyday cycle's recording: the same source an hour later, into that store (every
    # finding seen again; what moves is evidence.as_of and what an hour changes), against the
    # same scan an hour later without --record
    later = [a if a != AT else LATER for a in scan]
    bare = measure([*later, "-c", str(config), *checks], stdout=data / f"scan-{kind}-later.jsonl")
    again = measure([*later, "-c", str(config), *checks, "--record"],
                    stdout=data / f"scan-{kind}-later-record.jsonl")
    if bare["rc"] or again["rc"]:
        _failed("sunlight scan --record an hour later", again if again["rc"] else bare)
    seen = _lines(data / f"scan-{kind}-later-record.jsonl")
    t.row("sunlight full scan `--record` an hour later (the same store: every finding seen again)",
          again, f"{_per_finding(again, bare, seen)} ({seen:,} findings)")

    # the slots other branches fill
    for label, script in SLOTS:
        path = HERE / script
        if not path.exists():
            t.row(label, None, "not built on this branch")
            continue
        slot_dir = data / script.removesuffix(".py")
        slot_dir.mkdir(exist_ok=True)
        m = measure([sys.executable, str(path), "--n", str(args.n), "--db", kind,
                     "--data-dir", str(slot_dir)], cwd=ROOT)
        story = next((json.loads(line[6:]) for line in m["stdout"].splitlines()
                      if line.startswith("STORY ")), None)
        if m["rc"]:
            t.row(label, None, f"{script} exited {m['rc']}: "
                  + (m["stderr"].strip().splitlines() or [""])[-1][:120])
        elif story:
            t.row(label, {"wall": story["wall"], "cpu": story["cpu"], "rss_mb": story["rss_mb"]},
                  story.get("what", ""))
        else:
            t.row(label, m, "whole script (no STORY line): "
                  + " / ".join(m["stdout"].strip().splitlines()[-2:])[:160])

    # spending: the same N of vouchers
    if args.vouchers:
        env = {**os.environ, "SUNLIGHT_LOG_LEVEL": "warning"}
        sk = "postgres" if kind == "postgresql" else "sqlite"
        spend = str(HERE / "bench_spending.py")
        sraw = measure([sys.executable, spend, "--phase", "raw", "--kind", sk, "--target",
                        info["spend_raw"]], env=env)
        if sraw["rc"]:
            _failed("spending raw fetch", sraw)
        r = _json_tail(sraw["stdout"])
        t.row(f"spending: raw fetch, ORDER BY voucher ({args.vouchers:,} vouchers; its base)", sraw,
              f"{r['rows']:,} rows", base=sraw)
        seng = measure([sys.executable, spend, "--phase", "engine", "--target", info["spend_source"]],
                       env=env)
        if seng["rc"]:
            _failed("spending engine", seng)
        e = _json_tail(seng["stdout"])
        t.row("spending: sunlight, 7 F checks (Engine.scan)", seng,
              f"{sum(e['findings'].values()):,} findings; scan alone {e['scan_seconds']} s wall, "
              f"{e['scan_cpu']} s CPU", base=sraw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="cases (default 1,000,000)")
    ap.add_argument("--vouchers", type=int, help="vouchers for spending (default: N; 0 skips)")
    ap.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both (comma)")
    ap.add_argument("--pg-url", default=os.environ.get("SUNLIGHT_BENCH_POSTGRES_URL", DEFAULT_PG),
                    help="an admin URL; the data goes to --pg-database on that server")
    ap.add_argument("--pg-database", help="the database the bench fills (default bench_story_<N>)")
    ap.add_argument("--data-dir", type=Path, default=HERE / ".data" / "story")
    ap.add_argument("--rebuild", action="store_true", help="regenerate the datasets")
    ap.add_argument("--skip", action="append", default=[], choices=SKIPPABLE,
                    help="leave out a part that a change did not touch (repeatable): 'peer' "
                         "(the peer SQL and --check case_overdue), 'record-path' (the full scan "
                         "by the record path)")
    ap.add_argument("--phase", choices=("prepare", "raw", "peer"), help=argparse.SUPPRESS)
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    ap.add_argument("--target", help=argparse.SUPPRESS)
    ap.add_argument("--ordered", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.vouchers is None:
        args.vouchers = args.n
    args.pg_database = args.pg_database or f"bench_story_{args.n}"
    if args.phase == "prepare":
        print(json.dumps(child_prepare(args)))
        return 0
    if args.phase == "raw":
        print(json.dumps(child_raw(args.kind, args.target, args.ordered)))
        return 0
    if args.phase == "peer":
        print(json.dumps(child_peer(args.kind, args.target, args.config, args.out)))
        return 0

    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    if not kinds or any(k not in ("sqlite", "postgresql") for k in kinds):
        raise SystemExit("--db: sqlite, postgresql, or both (sqlite,postgresql)")
    args.data_dir = args.data_dir.resolve()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    started = dt.datetime.now(dt.UTC)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip() or "?"
    print(f"bench_story: {args.n:,} cases, {args.vouchers:,} vouchers, {', '.join(kinds)}; "
          f"{started:%Y-%m-%d %H:%M} UTC, commit {commit}; python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs; load average before {', '.join(f'{x:.1f}' for x in load_before)}")
    prep_args = ["--phase", "prepare", "--n", str(args.n), "--vouchers", str(args.vouchers),
                 "--db", ",".join(kinds), "--pg-url", args.pg_url, "--pg-database", args.pg_database,
                 "--data-dir", str(args.data_dir)] + (["--rebuild"] if args.rebuild else [])
    prep = subprocess.run(_self(*prep_args), capture_output=True, text=True)
    print("\n".join(line for line in prep.stdout.splitlines() if not line.startswith("{")))
    if prep.returncode:
        print(prep.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"preparing the datasets failed ({prep.returncode})")
    infos = _json_tail(prep.stdout)
    args.differ = []
    for kind in kinds:
        bench_engine(kind, infos[kind], args)
    load_after = os.getloadavg()
    print(f"\nload average before {', '.join(f'{x:.1f}' for x in load_before)}, "
          f"after {', '.join(f'{x:.1f}' for x in load_after)}; "
          f"{(dt.datetime.now(dt.UTC) - started).total_seconds() / 60:.1f} min")
    print("targets (issue 11): full scan <= 3x the raw fetch, peak RSS <= 256 MB; spending <= 3x; "
          "incremental <= 5% of a full scan; first cycle after a 1M backlog <= 512 MB; "
          "--record <= 20 µs per finding")
    if args.differ:
        print(f"the peer SQL's findings DIFFER from sunlight's on {', '.join(args.differ)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
