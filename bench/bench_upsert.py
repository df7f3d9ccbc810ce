"""SQLite's upsert of changed findings: the whole ``SET`` against the lean one (issue 11).

A finding written whole that the store already holds (its figures moved: an
hour case's overdue, an edited case) goes through ``INSERT … ON CONFLICT DO
UPDATE``. SQLite rewrites the entry of every index holding a column the
``SET`` names, to the same value or not; ``SqliteWriter`` therefore writes a
finding still open with the same indexed values by the upsert without those
columns (``store/recording.py``, ``SqliteWriter.split``). This bench takes a
copy of a SQLite state store, picks ``--rows`` of its open findings at random,
moves their ``overdue``, ``last_run`` and evidence as a later run would, and
times each statement of the writer (its own SQL, bound as the writer binds it)
on a fresh copy, in batches of 2,000 (the recorder's), CPU µs a row.

    .venv/bin/python bench/bench_upsert.py STATE.db                  # e.g. bench_cases' bench-state.db
    .venv/bin/python bench/bench_upsert.py STATE.db --rows 6900 --rounds 3

Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import tempfile
from pathlib import Path

from bench_spending import cpu_seconds

from sunlight.monitor.store import open_store
from sunlight.monitor.store.db import SQLITE_PRAGMAS
from sunlight.monitor.store.findings import _upsert_set
from sunlight.monitor.store.recording import COLUMNS, SqliteWriter


def copy(store: Path, to: Path) -> None:
    for ext in ("", "-wal", "-shm"):
        Path(f"{to}{ext}").unlink(missing_ok=True)
    src = sqlite3.connect(store)
    dst = sqlite3.connect(to)
    src.backup(dst)  # a consistent copy, WAL included
    src.close()
    dst.close()


def changed(path: Path, n: int) -> list[tuple[object, ...]]:
    """``n`` open findings as a later run writes them: overdue + 1, last_run + 1, evidence moved."""
    conn = sqlite3.connect(path)
    rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM findings WHERE resolved_at IS NULL "
                        f"ORDER BY random() LIMIT {int(n)}").fetchall()
    conn.close()
    at = {c: i for i, c in enumerate(COLUMNS)}
    out = []
    for r in rows:
        row = list(r)
        row[at["overdue"]] = (row[at["overdue"]] or 0) + 1
        row[at["last_run"]] = row[at["last_run"]] + 1
        row[at["evidence"]] = str(row[at["evidence"]]).replace('"as_of":"', '"as_of":"~', 1)
        out.append(tuple(row))
    return sorted(out)  # the recorder writes a batch in fingerprint order


def timed(path: Path, sql: str, rows: list[tuple[object, ...]]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:  # as the store's own connections
        conn.execute(f"PRAGMA {pragma}")
    started = cpu_seconds()
    for i in range(0, len(rows), 2000):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows[i:i + 2000])
        conn.execute("COMMIT")
    spent = cpu_seconds() - started
    conn.close()
    return spent / len(rows) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", type=Path, help="a SQLite state store holding findings (not changed)")
    ap.add_argument("--rows", type=int, default=6900, help="changed findings (default 6,900: "
                    "what the 1M incremental cycle writes)")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-upsert-") as tmp:
        work = Path(tmp) / "store.db"
        copy(args.store, work)
        engine = open_store(f"sqlite:///{work}")
        writer = SqliteWriter(engine, 0, dt.datetime.now(dt.UTC), _upsert_set)
        engine.dispose()
        rows = changed(work, args.rows)
        print(f"{len(rows):,} changed findings of {args.store} (CPU µs a row, batches of 2,000); "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"  the SET of the lean upsert leaves out: {', '.join(writer._kept)}")
        for r in range(args.rounds):
            for name, sql in (("whole upsert", writer._upsert), ("lean upsert", writer._lean)):
                trial = Path(tmp) / "trial.db"
                copy(work, trial)
                print(f"  round {r + 1}  {name:<13} {timed(trial, sql, rows):7.1f}")


if __name__ == "__main__":
    main()
