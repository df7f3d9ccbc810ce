"""The columnar path's fetch alone (issue 11): ways to turn a source's rows into polars columns.

Reads the four case tables (``cases`` and its three child tables, the columns
and ORDER BY the scan uses) of a case dataset, fetch only (no decision, no
checks), in ``fetch.BATCH_ROWS`` batches, each way ``--repeat`` times in this
process; prints the best CPU time (user + system) and its wall time, and the
ratio to the bare driver:

- ``driver``: the bare driver's ``fetchmany`` (the floor; tuples dropped);
- ``sqlalchemy rows``: SQLAlchemy's result as the record path reads it
  (``stream_results``, ``partitions()``: a ``Row`` per row);
- ``rows, zip, Series``: what the columnar fetch did before: SQLAlchemy's rows
  transposed in Python (``zip(*rows)``) and a ``pl.Series`` per column;
- ``driver, zip, Series``: the driver's tuples, the same transposition;
- ``driver, orient=row``: the driver's tuples in one ``pl.DataFrame(orient="row")``;
- ``driver, itemgetter, Series``: each column taken out by ``map(itemgetter(i), rows)``;
- ``fetch.batches``: the columnar fetch as it is (the driver's tuples, itemgetter, the
  look at each column's Python types that keeps mixed columns exact, the key column;
  garbage collection paused while a batch is built, which matters in a scan's big
  heap, hardly here).

The SQLite file is the one ``bench_cases.py`` builds (``bench/.data/cases.sqlite``
by default: run it once first); ``--url`` reads a MariaDB database holding the
same tables instead.

    .venv/bin/python bench/bench_fetch.py
    .venv/bin/python bench/bench_fetch.py --url mysql+pymysql://root@127.0.0.1:3306/bench_x
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa

from sunlight.monitor.columnar import fetch
from sunlight.monitor.records.cases import CASE_FIELDS, EXTENSION_FIELDS, PAUSE_FIELDS, STEP_FIELDS
from sunlight.monitor.settings import SourceConfig
from sunlight.monitor.sources import Source

ROOT = Path(__file__).resolve().parent.parent
TABLES = {"cases": CASE_FIELDS, "case_pauses": PAUSE_FIELDS, "case_extensions": EXTENSION_FIELDS,
          "case_steps": STEP_FIELDS}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _driver_chunks(src: Source, entity: str) -> Iterator[tuple[tuple[str, ...], list[Any]]]:
    """The driver's tuples, BATCH_ROWS at a time, on the source's own connection."""
    stmt = src._select(entity, TABLES[entity], "case_id")
    keys = tuple(stmt.selected_columns.keys())
    with src.engine.connect() as conn:
        cur = fetch._cursor(conn, src.engine.dialect)
        src.engine.dialect.do_execute(cur, fetch._compiled(src, stmt),
                                      () if src.engine.dialect.positional else {}, None)
        try:
            while rows := cur.fetchmany(fetch.BATCH_ROWS):
                yield keys, rows
        finally:
            cur.close()


def _sa_chunks(src: Source, entity: str) -> Iterator[tuple[tuple[str, ...], list[Any]]]:
    stmt = src._select(entity, TABLES[entity], "case_id")
    with src.engine.connect() as conn:
        result = conn.execution_options(stream_results=True,
                                        yield_per=fetch.BATCH_ROWS).execute(stmt)
        keys = tuple(result.keys())
        for part in result.partitions():
            yield keys, part


def _zip_series(keys: tuple[str, ...], rows: list[Any]) -> pl.DataFrame:
    cols = list(zip(*rows, strict=True))
    return pl.DataFrame([pl.Series(k, c, strict=False) for k, c in zip(keys, cols, strict=True)])


def _itemgetter_series(keys: tuple[str, ...], rows: list[Any]) -> pl.DataFrame:
    return pl.DataFrame([pl.Series(k, list(map(itemgetter(i), rows)), strict=False)
                         for i, k in enumerate(keys)])


def ways(src: Source) -> dict[str, Callable[[], int]]:
    def over(chunks: Callable[[Source, str], Iterator[tuple[tuple[str, ...], list[Any]]]],
             build: Callable[[tuple[str, ...], list[Any]], Any] | None) -> Callable[[], int]:
        def run() -> int:
            n = 0
            for entity in TABLES:
                for keys, rows in chunks(src, entity):
                    if build is not None:
                        build(keys, rows)
                    n += len(rows)
            return n
        return run

    def batches() -> int:
        return sum(b.frame.height for e, f in TABLES.items()
                   for b in fetch.batches(src, e, f, "case_id"))

    return {
        "driver": over(_driver_chunks, None),
        "sqlalchemy rows": over(_sa_chunks, None),
        "rows, zip, Series": over(_sa_chunks, _zip_series),
        "driver, zip, Series": over(_driver_chunks, _zip_series),
        "driver, orient=row": over(_driver_chunks, lambda k, r: pl.DataFrame(
            r, schema=list(k), orient="row", infer_schema_length=None)),
        "driver, itemgetter, Series": over(_driver_chunks, _itemgetter_series),
        "fetch.batches": batches,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sqlite", type=Path, default=ROOT / "bench" / ".data" / "cases.sqlite")
    ap.add_argument("--url", help="a MariaDB/MySQL database with the case tables (instead of --sqlite)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    if args.url is None and not args.sqlite.exists():
        raise SystemExit(f"{args.sqlite} not found: run bench/bench_cases.py --db sqlite first")
    url = args.url or f"sqlite:///{args.sqlite}"
    src = Source("bench", SourceConfig(url=url))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{sa.engine.make_url(url).render_as_string(hide_password=True)}; best of {args.repeat}; "
          f"load average {load}")
    base: float | None = None
    try:
        for name, run in ways(src).items():
            best: tuple[float, float, int] | None = None
            for _ in range(args.repeat):
                c0, w0 = _cpu(), time.perf_counter()
                n = run()
                took = (_cpu() - c0, time.perf_counter() - w0, n)
                if best is None or took[0] < best[0]:
                    best = took
            assert best is not None
            base = base or best[0]
            print(f"  {name:27s} CPU {best[0]:6.2f} s  wall {best[1]:6.2f} s  "
                  f"CPU / driver {best[0] / base:5.2f}  rows {best[2]:,}", flush=True)
    finally:
        src.close()
    print(f"load average after {', '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"python {sys.version.split()[0]}, polars {pl.__version__}, sqlalchemy {sa.__version__}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
