"""The peer SQL for ``case_overdue``: what a DBA would write instead of sunlight (issue 11, item 6).

One SQL query (PostgreSQL and SQLite) computes every ``case_overdue`` finding
with its deadline and overdue figure, the working-day calendar passed in as
two temporary tables and the per-item parameters as a third:

- ``story_cal(d, cum, nxt)``: every day of the calendar's span as an epoch day,
  the working days up to and including it (prefix sum) and the first working
  day on or after it (``monitor.columnar.calendar.CalendarArrays``);
- ``story_wd(k, d)``: the k-th working day of the span (k from 1), so that
  "n working days after a" is ``story_wd.k = cum(a) + n``;
- ``story_params(unit_id, item_code, max_extension, enabled)``: per (unit, item)
  of the source, the ``extension_invalid.max_extension`` the case's timing uses
  and whether ``case_overdue`` is on, resolved in Python from the config exactly
  as the engine resolves them (``CheckParams.for_``).

What it reproduces, rule by rule (``shared/design/time-rules.md``,
``monitor/clock.py``, ``checks/cases.py``):

- ``as_of``: a case accepted after ``at`` does not exist; a completion after
  ``at`` is undone; a pause that starts after ``at`` is dropped and one that
  ends after ``at`` is open; an extension approved after ``at`` does not exist;
- extensions (``cases._timing``): approved ones (``approved_by`` not blank), in
  order of approval (undated last), each added while the running total stays
  within the item's maximum (a recursive CTE: the cap is greedy, not a sum);
- pauses: merged into disjoint intervals (``clock._day_pauses``: a day pause
  ending on its start day removes nothing; overlapping and touching ones
  merge; an open one swallows the rest), then the deadline is the ``n``-th
  counted unit after acceptance, counting only the gaps between pauses
  (``compute_deadline`` / ``_hour_deadline``); an open pause before it stops
  the clock (no finding);
- units: ``workday`` (the n-th working day, 24:00), ``day`` (n calendar days,
  rolled to the next working day), ``hour`` (clock hours, pauses subtracted);
  day limits rounded up (``_ceil_units``);
- the finding: the case is completed on or after the deadline, or open at
  ``at`` after it; ``overdue`` is ``clock.overdue_by``: counted days in (due
  date, end day] minus paused ones, or hours to one decimal (half-even, as
  ``Decimal.quantize``); the deadline shown is the last on-time second.

Not reproduced, as a DBA's query would not: rows the record path refuses as
data-quality problems (unparsable values, unknown units, completion before
acceptance is skipped here as there), dates outside the calendar's span, and
ties between two extensions approved at the same instant (source order there,
``approved_at`` order here). The generated data has none of these.

Run on its own it proves identity against sunlight on a generated dataset::

    .venv/bin/python bench/peer_case_overdue.py --n 200000            # SQLite and PostgreSQL
    .venv/bin/python bench/peer_case_overdue.py --n 20000 --db sqlite
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scan_config import scan_config  # noqa: E402  (after the sys.path line above)

#: what the axis value of an open pause is: later than any day or microsecond
INF = 9_000_000_000_000_000_000
DAY_US = 86_400_000_000
PG_WORK_MEM = "256MB"

#: per dialect: a timestamp column as wall-clock microseconds since 1970, rounding up, bigger/smaller
DIALECT = {
    "postgresql": {
        "us": "(EXTRACT(EPOCH FROM {0}) * 1000000)::bigint",
        "ceil": "CEIL({0})::bigint",
        "hour_us": "ROUND({0} * 3600000000)::bigint",
        "greatest": "GREATEST", "least": "LEAST", "num": "numeric",
        "show_ts": "to_char(timestamp '1970-01-01' + ({0}) * interval '1 microsecond', "
                   "'YYYY-MM-DD HH24:MI:SS.US')",
        "show_tenths": "(({0})::numeric / 10)::text",
        "at_ts": "TIMESTAMP '{0}'",
    },
    "sqlite": {
        # the text SQLAlchemy stores ('YYYY-MM-DD HH:MM:SS[.ffffff]'): seconds, then the microseconds
        "us": "(CAST(strftime('%s', {0}) AS INTEGER) * 1000000 "
              "+ CAST(substr({0} || '.000000', 21, 6) AS INTEGER))",
        "ceil": "(CAST({0} AS INTEGER) + (({0}) > CAST({0} AS INTEGER)))",
        "hour_us": "CAST(ROUND({0} * 3600000000.0) AS INTEGER)",
        "greatest": "MAX", "least": "MIN", "num": "REAL",
        "show_ts": "(strftime('%Y-%m-%d %H:%M:%S', ({0}) / 1000000, 'unixepoch') "
                   "|| printf('.%06d', ({0}) % 1000000))",
        "show_tenths": "printf('%.1f', ({0}) / 10.0)",
        "at_ts": "'{0}'",
    },
}

SQL = """\
WITH RECURSIVE
-- the cases as of :at (no filter the planner cannot estimate: its row counts steer every join)
c AS MATERIALIZED (
  SELECT k.case_id, k.unit_id, COALESCE(k.item_code, '') AS item_code,
         COALESCE(k.limit_unit, 'workday') AS unit,
         {us_acc} AS acc_us,
         CASE WHEN k.completed_at <= {at_ts} THEN {us_comp} END AS comp_us,
         k.promised_limit AS lim
  FROM cases k
  WHERE k.accepted_at <= {at_ts}
),
-- approved extensions as of :at, in order of approval; the cap is applied greedily
xa AS MATERIALIZED (
  SELECT x.case_id, x.extra,
         CAST(ROW_NUMBER() OVER (PARTITION BY x.case_id
                            ORDER BY (CASE WHEN x.approved_at IS NULL THEN 1 ELSE 0 END),
                                     x.approved_at) AS BIGINT) AS rn
  FROM case_extensions x
  WHERE NULLIF(TRIM(x.approved_by), '') IS NOT NULL
    AND (x.approved_at IS NULL OR x.approved_at <= {at_ts})
),
xt (case_id, rn, total, max_ext) AS (
  SELECT c.case_id, CAST(0 AS BIGINT), CAST(0 AS {num}), CAST(p.max_extension AS {num})
  FROM c JOIN story_params p ON p.unit_id = c.unit_id AND p.item_code = c.item_code
  WHERE c.case_id IN (SELECT case_id FROM xa)
  UNION ALL
  SELECT xt.case_id, xa.rn,
         CASE WHEN xt.total + xa.extra <= xt.max_ext THEN xt.total + xa.extra ELSE xt.total END,
         xt.max_ext
  FROM xt JOIN xa ON xa.case_id = xt.case_id AND xa.rn = xt.rn + 1
),
ext AS (SELECT case_id, MAX(total) AS total FROM xt GROUP BY case_id),
-- each case on its unit's axis: epoch days, or microseconds for hours; n = the limit on it
cx AS MATERIALIZED (
  SELECT c.case_id, c.unit_id, c.item_code, c.unit, c.comp_us, c.acc_us,
         CASE WHEN c.unit = 'hour' THEN c.acc_us ELSE c.acc_us / {day_us} END AS acc_x,
         CASE WHEN c.unit = 'hour' THEN {hour_us}
              ELSE {greatest}(0, {ceil_lim}) END AS n
  FROM c LEFT JOIN ext ON ext.case_id = c.case_id
),
-- pauses as of :at on the same axis (an open one ends at INF); a day pause that ends
-- on the day it starts removes no day (clock._day_pauses)
pt AS (
  SELECT cx.case_id, cx.unit,
         CASE WHEN cx.unit = 'hour' THEN {us_ps} ELSE {us_ps} / {day_us} END AS s,
         CASE WHEN p.ended_at IS NULL OR p.ended_at > {at_ts} THEN {inf}
              WHEN cx.unit = 'hour' THEN {us_pe} ELSE {us_pe} / {day_us} END AS e
  FROM case_pauses p JOIN cx ON cx.case_id = p.case_id
  WHERE p.started_at <= {at_ts}
),
pn AS (SELECT case_id, s, e FROM pt WHERE unit = 'hour' OR e > s),
-- merged into disjoint intervals: a pause starting at or before the running end joins it
pw AS (
  SELECT case_id, s, e,
         MAX(e) OVER (PARTITION BY case_id ORDER BY s, e
                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_e
  FROM pn
),
pg AS (
  SELECT case_id, s, e,
         SUM(CASE WHEN prev_e IS NULL OR s > prev_e THEN 1 ELSE 0 END)
           OVER (PARTITION BY case_id ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS isl
  FROM pw
),
isl AS MATERIALIZED (SELECT case_id, MIN(s) AS s, MAX(e) AS e FROM pg GROUP BY case_id, isl),
-- the gaps the clock runs in: before each pause that ends after acceptance, and after the last
ik AS MATERIALIZED (
  SELECT i.case_id, cx.unit_id, cx.item_code, cx.unit, cx.comp_us, cx.acc_us, cx.acc_x, cx.n, i.e,
         {greatest}(i.s, cx.acc_x) AS hi,
         COALESCE(LAG(i.e) OVER (PARTITION BY i.case_id ORDER BY i.s), cx.acc_x) AS lo
  FROM isl i JOIN cx ON cx.case_id = i.case_id
  WHERE i.e > cx.acc_x
),
gap AS (
  SELECT ik.case_id, ik.unit_id, ik.item_code, ik.unit, ik.comp_us, ik.acc_us, ik.acc_x,
         ik.n, ik.lo, 0 AS final,
         CASE WHEN ik.unit = 'workday' THEN chi.cum - clo.cum ELSE ik.hi - ik.lo END AS cap
  FROM ik
  LEFT JOIN story_cal clo ON ik.unit = 'workday' AND clo.d = ik.lo
  LEFT JOIN story_cal chi ON ik.unit = 'workday' AND chi.d = ik.hi
  UNION ALL
  SELECT case_id, unit_id, item_code, unit, comp_us, acc_us, acc_x, n, MAX(e), 1, 0
  FROM ik GROUP BY case_id, unit_id, item_code, unit, comp_us, acc_us, acc_x, n HAVING MAX(e) < {inf}
),
gs AS (
  SELECT case_id, unit_id, item_code, unit, comp_us, acc_us, acc_x, n, lo, final, cap,
         COALESCE(CAST(SUM(cap) OVER (PARTITION BY case_id ORDER BY lo
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS BIGINT),
                  0) AS before
  FROM gap
),
-- the first gap the limit runs out in (none: an open pause stopped the clock)
hit AS (
  SELECT case_id, unit_id, item_code, unit, comp_us, acc_us, acc_x, lo AS start, n - before AS rem
  FROM (SELECT gs.*, ROW_NUMBER() OVER (PARTITION BY case_id ORDER BY lo) AS k
        FROM gs WHERE final = 1 OR before + cap >= n) q
  WHERE k = 1
),
-- where each case's clock runs out: after acceptance, or in the gap found above
st AS (
  SELECT cx.case_id, cx.unit_id, cx.item_code, cx.unit, cx.comp_us, cx.acc_us, cx.acc_x,
         cx.acc_x AS start, cx.n AS rem
  FROM cx WHERE NOT EXISTS (SELECT 1 FROM ik WHERE ik.case_id = cx.case_id)
  UNION ALL
  SELECT case_id, unit_id, item_code, unit, comp_us, acc_us, acc_x, start, rem FROM hit
),
-- the due date (day units) and the first late instant
dd AS (
  SELECT st.case_id, st.unit_id, st.item_code, st.unit, COALESCE(st.comp_us, {at_us}) AS end_us,
         CASE WHEN st.unit = 'workday' THEN (CASE WHEN st.rem > 0 THEN w.d ELSE st.acc_x END)
              WHEN st.unit = 'day' THEN cn.nxt END AS due,
         st.start + st.rem AS hour_at
  FROM st
  LEFT JOIN story_cal cs ON st.unit = 'workday' AND cs.d = st.start
  LEFT JOIN story_wd w ON st.unit = 'workday' AND w.k = cs.cum + st.rem
  LEFT JOIN story_cal cn ON st.unit = 'day' AND cn.d = st.start + st.rem
  -- a completion before acceptance is a data-quality finding, not lateness
  WHERE st.comp_us IS NULL OR st.comp_us >= st.acc_us
),
late AS MATERIALIZED (
  SELECT case_id, unit_id, item_code, unit, end_us, due, end_us / {day_us} AS end_day,
         CASE WHEN unit = 'hour' THEN hour_at ELSE (due + 1) * {day_us} END AS at_us
  FROM dd
  WHERE (unit = 'hour' OR due IS NOT NULL)
    AND end_us >= CASE WHEN unit = 'hour' THEN hour_at ELSE (due + 1) * {day_us} END
),
-- counted days of the overdue span that were paused (clock.counted_between)
sub AS (
  SELECT q.case_id,
         SUM(CASE WHEN q.hi <= q.lo THEN 0
                  WHEN q.unit = 'workday' THEN chi.cum - clo.cum ELSE q.hi - q.lo END) AS paused
  FROM (SELECT l.case_id, l.unit, {greatest}(i.s, l.due) AS lo, {least}(i.e, l.end_day) AS hi
        FROM late l JOIN isl i ON i.case_id = l.case_id
        WHERE l.unit <> 'hour') q
  LEFT JOIN story_cal clo ON q.unit = 'workday' AND clo.d = q.lo
  LEFT JOIN story_cal chi ON q.unit = 'workday' AND chi.d = q.hi
  GROUP BY q.case_id
),
fig AS (
  SELECT l.case_id, l.unit_id, l.item_code, l.unit, l.at_us,
         CASE WHEN l.unit = 'hour' THEN NULL
              WHEN l.unit = 'workday' THEN ce.cum - cd.cum - COALESCE(sub.paused, 0)
              ELSE l.end_day - l.due - COALESCE(sub.paused, 0) END AS days,
         CASE WHEN l.unit = 'hour' THEN (l.end_us - l.at_us) / 1000000 END AS secs
  FROM late l
  LEFT JOIN sub ON sub.case_id = l.case_id
  LEFT JOIN story_cal cd ON l.unit = 'workday' AND cd.d = l.due
  LEFT JOIN story_cal ce ON l.unit = 'workday' AND ce.d = l.end_day
)
SELECT case_id,
       {show_deadline} AS deadline,
       CASE WHEN unit = 'hour'
            -- hours to one decimal, half to even: secs / 360 tenths
            THEN {show_tenths}
            ELSE CAST(days AS TEXT) END AS overdue
FROM fig
JOIN story_params p ON p.unit_id = fig.unit_id AND p.item_code = fig.item_code
WHERE p.enabled = 1
"""

TENTHS = ("(secs / 360 + CASE WHEN secs % 360 > 180 THEN 1 "
          "WHEN secs % 360 = 180 THEN (secs / 360) % 2 ELSE 0 END)")


def at_text(at_us: int) -> str:
    """Wall-clock µs as the text both databases compare naive timestamps with."""
    at = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=at_us)
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def peer_sql(dialect: str, at_us: int) -> str:
    """The query for one dialect, with the evaluation instant (wall-clock µs) inlined."""
    d = DIALECT[dialect]

    def us(col: str) -> str:
        return d["us"].format(col)

    return SQL.format(
        at_us=int(at_us), at_ts=d["at_ts"].format(at_text(at_us)), day_us=DAY_US, inf=INF, num=d["num"],
        greatest=d["greatest"], least=d["least"],
        us_acc=us("k.accepted_at"), us_comp=us("k.completed_at"), us_xat=us("x.approved_at"),
        us_ps=us("p.started_at"), us_pe=us("p.ended_at"),
        hour_us=d["hour_us"].format("(c.lim + COALESCE(ext.total, 0))"),
        ceil_lim=d["ceil"].format("(c.lim + COALESCE(ext.total, 0))"),
        show_deadline=d["show_ts"].format("at_us - 1000000"),
        show_tenths=d["show_tenths"].format(TENTHS),
    )


# --- the inputs: calendar and parameters -------------------------------------------------


def calendar_rows(config: Path) -> tuple[list[tuple[int, int, int | None]], list[tuple[int, int]]]:
    """``story_cal`` and ``story_wd`` rows from the calendar the config's engine would load."""
    from sunlight.monitor.calendar import SPAN_FIRST, SPAN_LAST
    from sunlight.monitor.configure import load_settings
    from sunlight.monitor.engine import load_calendar

    cal = load_calendar(load_settings(config))
    base = (SPAN_FIRST - dt.date(1970, 1, 1)).days
    cum: list[tuple[int, int, bool]] = []
    wd: list[tuple[int, int]] = []
    total = 0
    for i, (_d, workday, _reason, _covered) in enumerate(cal.days(SPAN_FIRST, SPAN_LAST)):
        if workday:
            total += 1
            wd.append((total, base + i))
        cum.append((base + i, total, workday))
    rows: list[tuple[int, int, int | None]] = []
    nxt: int | None = None  # the first working day on or after each day, walking backwards
    for d, c, workday in reversed(cum):
        nxt = d if workday else nxt
        rows.append((d, c, nxt))
    rows.reverse()
    return rows, wd


def params_rows(config: Path, combos: list[tuple[str, str | None]],
                kinds: dict[str, str | None]) -> list[tuple[str, str, Decimal, int]]:
    """Per (unit, item): the max extension ``cases._timing`` uses and whether case_overdue is on."""
    from sunlight.checks.cases import CaseOverdue, ExtensionInvalid
    from sunlight.checks.registry import CheckParams
    from sunlight.monitor.configure import load_settings

    settings = load_settings(config)
    ext = CheckParams(ExtensionInvalid, settings.checks)
    over = CheckParams(CaseOverdue, settings.checks)
    rows = []
    for unit_id, item_code in combos:
        kind = kinds.get(unit_id)
        max_ext = ext.for_(unit_id, kind, item_code).max_extension  # type: ignore[attr-defined]
        on = over.for_(unit_id, kind, item_code).enabled
        rows.append((unit_id, item_code or "", Decimal(max_ext), 1 if on else 0))
    return rows


INPUT_DDL = [
    "CREATE TEMP TABLE story_cal (d BIGINT PRIMARY KEY, cum BIGINT NOT NULL, nxt BIGINT)",
    "CREATE TEMP TABLE story_wd (k BIGINT PRIMARY KEY, d BIGINT NOT NULL)",
    "CREATE TEMP TABLE story_params (unit_id TEXT, item_code TEXT, max_extension {num}, "
    "enabled INTEGER, PRIMARY KEY (unit_id, item_code))",
]


def _inputs(conn: Any, dialect: str, config: Path, ph: str) -> None:
    """Create and fill the three input tables in this connection's session."""
    cal, wd = calendar_rows(config)
    cur = conn.cursor()
    for ddl in INPUT_DDL:
        cur.execute(ddl.format(num="numeric" if dialect == "postgresql" else "REAL"))
    combos = cur.execute("SELECT DISTINCT unit_id, item_code FROM cases").fetchall()
    kinds = dict(cur.execute("SELECT unit_id, kind FROM units").fetchall())
    params = params_rows(config, combos, kinds)
    if dialect == "sqlite":
        params = [(u, i, float(m), on) for u, i, m, on in params]  # type: ignore[misc]
    cur.executemany(f"INSERT INTO story_cal VALUES ({ph}, {ph}, {ph})", cal)
    cur.executemany(f"INSERT INTO story_wd VALUES ({ph}, {ph})", wd)
    cur.executemany(f"INSERT INTO story_params VALUES ({ph}, {ph}, {ph}, {ph})", params)
    for t in ("story_cal", "story_wd", "story_params"):
        cur.execute(f"ANALYZE {t}")


def at_wall_us(at: str) -> int:
    """``--at`` (naive local time, as bench_cases passes it) as wall-clock µs since 1970."""
    naive = dt.datetime.fromisoformat(at).replace(tzinfo=None)
    return (naive - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)


def run_peer(dialect: str, target: str, config: Path, at: str,
             out: Path | None = None) -> dict[str, Any]:
    """Build the inputs, run the query, fetch every row (to ``out`` as TSV when given).

    ``target``: the SQLite file, or a libpq conninfo. Returns rows and timings
    (``setup`` is the calendar and parameter tables, ``query`` the query with its fetch).
    """
    started = time.perf_counter()
    sql = peer_sql(dialect, at_wall_us(at))
    if dialect == "sqlite":
        conn: Any = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
        _inputs(conn, dialect, config, "?")
        ready = time.perf_counter()
        cur = conn.execute(sql)
    else:
        import psycopg

        conn = psycopg.connect(target)
        # what a DBA sets for one report query: its sorts and hashes in memory, not on disk
        # (the server's default is 4 MB)
        conn.execute(f"SET work_mem = '{PG_WORK_MEM}'")
        # and no JIT: the planner's row estimates of a CTE chain are far off, so the server
        # compiled the query for 7.5 of its 13 s at 200k (EXPLAIN ANALYZE)
        conn.execute("SET jit = off")
        _inputs(conn, dialect, config, "%s")
        ready = time.perf_counter()
        cur = conn.cursor(name="peer")  # server-side: the rows stream as the floor's do
        cur.execute(sql)
    rows = 0
    sink = open(out, "w", encoding="utf-8") if out else None  # noqa: SIM115 - closed below
    while chunk := cur.fetchmany(5000):
        rows += len(chunk)
        if sink:
            sink.writelines(f"{a}\t{b}\t{c}\n" for a, b, c in chunk)
    if sink:
        sink.close()
    done = time.perf_counter()
    conn.close()
    return {"rows": rows, "setup": round(ready - started, 3), "query": round(done - ready, 3)}


# --- comparison --------------------------------------------------------------------------


def _naive(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=None)


def sunlight_set(jsonl: Path) -> set[tuple[str, dt.datetime, Decimal]]:
    """(case, deadline, overdue) of every case_overdue finding of a ``scan --format json`` output."""
    import json

    out = set()
    with open(jsonl, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if d["check"] == "case_overdue":
                out.add((d["subject"], _naive(d["deadline"]), Decimal(str(d["overdue"]))))
    return out


def peer_set(tsv: Path) -> set[tuple[str, dt.datetime, Decimal]]:
    out = set()
    with open(tsv, encoding="utf-8") as f:
        for line in f:
            case_id, deadline, overdue = line.rstrip("\n").split("\t")
            out.add((case_id, _naive(deadline), Decimal(overdue)))
    return out


def compare(jsonl: Path, tsv: Path) -> tuple[bool, str]:
    """Whether the two sets are the same, and a line saying so (with the first differences)."""
    ours, peer = sunlight_set(jsonl), peer_set(tsv)
    if ours == peer:
        return True, f"identical: {len(ours):,} case_overdue findings (case, deadline, overdue)"
    only_s, only_p = sorted(ours - peer)[:5], sorted(peer - ours)[:5]
    return False, (f"DIFFERENT: sunlight {len(ours):,}, peer SQL {len(peer):,}; "
                   f"only sunlight {len(ours - peer):,} e.g. {only_s}; "
                   f"only peer {len(peer - ours):,} e.g. {only_p}")


def main(argv: list[str] | None = None) -> int:
    import bench_cases as bc

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--pg-url", default=os.environ.get("SUNLIGHT_BENCH_POSTGRES_URL", bc.DEFAULT_PG))
    ap.add_argument("--pg-database", default="bench_story")
    ap.add_argument("--data-dir", type=Path, default=ROOT / "bench" / ".data" / "story")
    ap.add_argument("--keep", type=Path, help="keep both outputs in this folder")
    args = ap.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    keep = args.keep or args.data_dir
    keep.mkdir(parents=True, exist_ok=True)
    sqlite_path = args.data_dir / f"cases-{args.n}.sqlite"
    pg = bc.PostgresLoader(args.pg_url, args.pg_database)
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    loaders: list[bc.Loader] = [bc.SQLiteLoader(sqlite_path) if k == "sqlite" else pg for k in kinds]
    bc.ensure_dataset(loaders, args.n, rebuild=False)
    ok = True
    for kind in kinds:
        url = f"sqlite:///{sqlite_path}" if kind == "sqlite" else pg.url
        config = args.data_dir / f"peer-{kind}.yaml"
        config.write_text(scan_config("sqlite:///bench-state.db", url, chunk=bc.CHUNK, columnar=True,
                                       written_by="bench/peer_case_overdue.py"), encoding="utf-8")
        jsonl = keep / f"case_overdue-{kind}-{args.n}.jsonl"
        tsv = keep / f"peer-{kind}-{args.n}.tsv"
        t = time.perf_counter()
        with open(jsonl, "wb") as f:
            subprocess.run([*bc.sunlight_command(), "scan", "-c", str(config), "--at", bc.AT,
                            "--format", "json", "--check", "case_overdue"], stdout=f, check=True)
        scan_s = time.perf_counter() - t
        target = str(sqlite_path) if kind == "sqlite" else bc._pg_conninfo(pg.url)
        got = run_peer(kind, target, config, bc.AT, tsv)
        same, line = compare(jsonl, tsv)
        ok = ok and same
        print(f"[{kind}] {args.n:,} cases: sunlight --check case_overdue {scan_s:.1f} s; peer SQL "
              f"{got['query']:.1f} s (+ {got['setup']:.1f} s inputs), {got['rows']:,} rows; {line}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
