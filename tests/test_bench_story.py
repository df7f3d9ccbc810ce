"""bench/bench_story.py must not rot: at 2,000 cases on SQLite it runs and prints every row.

No timing is asserted (figures are the benchmark's business); what is checked is
that every measurement ran, that the peer SQL agreed with sunlight's
case_overdue findings, and that the slots other branches fill are named.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ROWS = [
    "raw fetch, bare driver, no ORDER BY (the base)",
    "raw fetch, ORDER BY key (as the scan)",
    "peer SQL for case_overdue",
    "sunlight `--check case_overdue` (columnar)",
    "sunlight full scan, 7 case checks, record path",
    "sunlight full scan, 7 case checks, columnar path",
    "sunlight full scan `--record` (columnar, new SQLite store)",
    "incremental cycle, 1% of rows changed",
    "first cycle after the backlog",
    "spending: raw fetch, ORDER BY voucher",
    "spending: sunlight, 7 F checks (Engine.scan)",
]


def test_bench_story_small_sqlite_prints_every_row(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_story.py"), "--n", "2000", "--db", "sqlite",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    for label in ROWS:
        hits = [line for line in lines if line.startswith(f"| {label}")]
        assert hits, f"no row {label!r} in:\n{out.stdout}"
        # a measured row has its figures; a slot not on this branch says so
        assert "not built on this branch" in hits[0] or hits[0].split("|")[2].strip(), hits[0]
    assert any("peer SQL vs sunlight: identical:" in line for line in lines), out.stdout
    assert "load average before" in out.stdout and "CPUs" in out.stdout


def test_bench_story_skips_the_parts_it_is_told_to(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_story.py"), "--n", "500", "--vouchers", "0",
         "--db", "sqlite", "--data-dir", str(tmp_path), "--skip", "peer", "--skip", "record-path"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert any(line.startswith("| peer SQL for case_overdue |") and "skipped (--skip peer)" in line
               for line in lines), out.stdout
    assert any(line.startswith("| sunlight full scan, 7 case checks, record path |")
               and "skipped (--skip record-path)" in line for line in lines), out.stdout
    assert not any("peer SQL vs sunlight" in line for line in lines)
    # what was not skipped is measured
    [columnar] = [line for line in lines if line.startswith("| sunlight full scan, 7 case checks, columnar")]
    assert columnar.split("|")[2].strip()
