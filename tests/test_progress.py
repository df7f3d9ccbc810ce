"""Progress of long work (issue 11, item 5): a terminal's bars and the daemon's gauge.

Real processes throughout: the terminal is a pseudo-terminal (``pty``), the
daemon is scraped over HTTP while it reads a source whose reads are slowed in
SQL (a per-row recursive count; an index on the key as text lets SQLite stream
the rows in the engine's order, so the rows arrive one by one, not all at the
end).
"""

from __future__ import annotations

import datetime as dt
import os
import pty
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from sunlight.monitor.demo import cases as sample
from sunlight.monitor.store import open_store
from sunlight.monitor.store.findings import expected_rows, finish_run, start_run
from tests.conftest import SourceDB
from tests.test_daemon import free_port, wait_for

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: a time left the bar computed (not 未知, not the -:--:-- of a bar with no speed yet)
TIME_LEFT = re.compile(r"剩余 \d+:\d\d:\d\d")


def slow_cases(spin: int) -> str:
    """The cases, each row costing a recursive count of ``spin`` steps in SQLite."""
    return (f"SELECT c.* FROM cases c WHERE (WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL "
            f"SELECT n + 1 FROM r WHERE n < {spin} + 0 * length(c.case_id)) "
            f"SELECT count(*) FROM r) > 0")


def load_cases(db: SourceDB, n: int) -> None:
    db.load("units", [{"unit_id": u, "name": name, "kind": k} for u, name, k in sample.UNITS])
    db.create("cases", "case_pauses")
    for batch in sample.generate(n, seed=5):
        db.load("cases", batch.cases)
        db.load("case_pauses", batch.pauses)
    with db.engine.begin() as conn:  # the engine orders by the key as text: stream in that order
        conn.exec_driver_sql("CREATE INDEX ix_cases_key_text ON cases (CAST(case_id AS TEXT))")


def config(tmp: Path, source_url: str, name: str, extra: str = "", port: int | None = None) -> Path:
    path = tmp / name
    path.write_text(
        "timezone: Asia/Shanghai\n"
        f"state:\n  url: sqlite:///{tmp / 'state.db'}\n"
        "routes: none\n"
        f"sources:\n  main:\n    url: \"{source_url}\"\n    interval: 1h\n{extra}"
        + (f"server:\n  listen: 127.0.0.1:{port}\n  deliver_every: 1h\n  shutdown_grace: 5s\n"
           if port else ""),
        encoding="utf-8")
    return path


def slow_entity(spin: int, columnar: bool = True) -> str:
    return (f"    columnar: {'true' if columnar else 'false'}\n"
            f"    entities:\n      cases:\n        query: \"{slow_cases(spin)}\"\n")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sunlight.monitor.cli", *args]


def on_a_terminal(args: list[str], stdout: Path) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal (stdout to a file); returns (exit code, stderr as text)."""
    leader, follower = pty.openpty()
    with stdout.open("wb") as out:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=follower,
                                env={**os.environ, "COLUMNS": "200", "TERM": "xterm"})
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.wait(timeout=120), ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


def test_expected_rows_come_from_the_newest_complete_run_per_entity(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    at = dt.datetime(2026, 11, 16, 9, tzinfo=dt.UTC)
    try:
        assert expected_rows(store, ["main"]) == {}

        def run(source: str, ok: bool, rows: dict[str, int] | None) -> None:
            finish_run(store, start_run(store, source, at, ["case_overdue"]), ok=ok, error=None,
                       rows_read=sum((rows or {}).values()), findings=0, entity_rows=rows)

        run("main", True, {"cases": 900, "units": 12})
        run("main", True, None)  # a run recorded before 0012_progress: nothing to go by
        run("main", True, {"cases": 1000})  # a partial scan (--check) read only the cases
        run("main", False, {"cases": 40, "units": 12})  # failed midway: not a total
        run("other", True, {"cases": 7})
        open_run = start_run(store, "main", at, ["case_overdue"])  # running now: not complete
        assert open_run
        assert expected_rows(store, ["main"]) == {("main", "cases"): 1000, ("main", "units"): 12}
        assert expected_rows(store, ["main", "other"])[("other", "cases")] == 7
    finally:
        store.dispose()


def test_scan_and_cycle_on_a_terminal_show_time_left_and_letters_and_a_pipe_shows_none(
        sqlite_db: SourceDB, tmp_path: Path) -> None:
    load_cases(sqlite_db, 8000)
    plain = config(tmp_path, sqlite_db.url, "plain.yaml")
    slow = config(tmp_path, sqlite_db.url, "slow.yaml", slow_entity(600, columnar=False))

    # piped, logs on: findings and logs only, no bar, and the run's counts are recorded
    piped = subprocess.run(cli("--log-level", "INFO", "scan", "-c", str(plain), "--record",
                               "--at", "2026-11-16T09:00", "--format", "json"),
                           capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout and all(line.startswith("{") for line in piped.stdout.splitlines())
    assert "source scanned" in piped.stderr  # the log is there …
    for mark in ("行/秒", "剩余", "━", "main · cases"):  # … and no progress in it
        assert mark not in piped.stderr

    # on a terminal: a bar per entity with the last run's total and the time left
    code, err = on_a_terminal(cli("scan", "-c", str(slow), "--at", "2026-11-16T09:00",
                                  "--format", "json"), tmp_path / "scan.jsonl")
    assert code == 0, err
    assert "main · cases" in err and "/ 8,000 行" in err and "行/秒" in err
    assert TIME_LEFT.search(err), err[-2000:]
    lines = (tmp_path / "scan.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines == piped.stdout.splitlines()  # the bar took nothing from stdout

    # cycle on a terminal: the scan's bars, then the letters created of those planned
    code, err = on_a_terminal(cli("cycle", "-c", str(plain), "--at", "2026-11-16T09:00"),
                              tmp_path / "cycle.txt")
    assert code == 0, err
    summary = (tmp_path / "cycle.txt").read_text(encoding="utf-8")
    issued = int(re.search(r"发出 (\d+) 件", summary).group(1))  # type: ignore[union-attr]
    assert issued > 0
    assert "main · cases" in err and "/ 8,000 行" in err
    assert "预警函" in err and f"{issued:>12,} / {issued:,} 件" in err
    for mark in ("行/秒", "剩余", "main · cases", " 件 "):  # stdout holds the summary only
        assert mark not in summary


def test_the_daemon_publishes_rows_read_during_a_slow_scan(sqlite_db: SourceDB, tmp_path: Path
                                                           ) -> None:
    """A real scrape of /metrics mid-scan: 0 < rows read < the total the last complete run read."""
    total = 20_000
    load_cases(sqlite_db, total)
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:  # what a previous complete scan of the source left in the store
        run = start_run(store, "main", dt.datetime(2026, 11, 15, 9, tzinfo=dt.UTC), ["case_overdue"])
        finish_run(store, run, ok=True, error=None, rows_read=total, findings=0,
                   entity_rows={"cases": total, "units": len(sample.UNITS)})
    finally:
        store.dispose()
    port = free_port()
    path = config(tmp_path, sqlite_db.url, "sunlight.yaml", slow_entity(800), port=port)
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cli("run", "-c", str(path)), cwd=tmp_path, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        def rows_read() -> tuple[float, float] | None:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            found = {(s.name, s.labels.get("entity")): s.value
                     for fam in text_string_to_metric_families(text) for s in fam.samples
                     if s.labels.get("source") == "main"}
            read = found.get(("sunlight_scan_rows_read", "cases"))
            if not read:
                return None
            return read, found[("sunlight_scan_rows_expected", "cases")]

        read, expected = wait_for(rows_read, "rows read mid-scan", proc, log)
        assert expected == total
        assert 0 < read < total  # the scan is running: neither the start nor its end
        # the cycle is not over: nothing was counted in the cycle's counters yet
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    check = sa.create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    with check.connect() as conn:  # the abandoned scan records no totals for the next bar
        assert conn.execute(sa.text("SELECT count(*) FROM scan_runs WHERE ok")).scalar_one() == 1
    check.dispose()


def test_the_gauge_goes_back_to_0_when_a_scan_starts_and_expects_the_last_complete_count() -> None:
    from prometheus_client import generate_latest

    from sunlight.monitor.engine import SourceOutcome
    from sunlight.monitor.metrics import Metrics

    m = Metrics("test")

    def scraped() -> dict[tuple[str, str | None], float]:
        text = generate_latest(m.registry).decode()
        return {(s.name, s.labels.get("entity")): s.value
                for fam in text_string_to_metric_families(text) for s in fam.samples
                if s.name.startswith("sunlight_scan_rows")}

    m.scan_progress("main", "cases", 4000)
    m.scan_progress("main", "case_pauses", 300)
    done = SourceOutcome("main")
    done.rows_read.update({"cases": 5000, "case_pauses": 300})
    m.observe_cycle("main", [done], 1.0, ok=True)
    assert scraped()[("sunlight_scan_rows_expected", "cases")] == 5000
    m.scan_started("main", {"cases": 5100})  # the store's count at the next cycle's start
    now = scraped()
    assert now[("sunlight_scan_rows_read", "cases")] == 0  # not the last scan's 4,000
    assert now[("sunlight_scan_rows_read", "case_pauses")] == 0
    assert now[("sunlight_scan_rows_expected", "cases")] == 5100
    failed = SourceOutcome("main", ok=False)
    failed.rows_read.update({"cases": 12})
    m.observe_cycle("main", [failed], 1.0, ok=False)  # a failed scan's count is no total
    assert scraped()[("sunlight_scan_rows_expected", "cases")] == 5100


def test_the_bar_says_unknown_without_a_total_or_past_it_and_counts_letters() -> None:
    import io

    from rich.console import Console

    from sunlight.monitor.progress import terminal_progress

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    with terminal_progress({("main", "cases"): 1000}, enabled=True, console=console) as bar:
        assert bar is not None
        bar.rows("main", "units", 12)  # no earlier count
        console.print(bar.bar)
        assert "12 行" in out.getvalue() and "剩余 未知" in out.getvalue()
        bar.rows("main", "cases", 400)
        bar.rows("main", "cases", 1200)  # the source grew past the last count
        out.seek(0)
        out.truncate(0)
        console.print(bar.bar)
        grown = [line for line in ANSI.sub("", out.getvalue()).splitlines() if "main · cases" in line]
        assert grown and "1,200 / 1,000 行" in grown[0] and "剩余 未知" in grown[0]
        bar.letters(0, 0)  # nothing planned: no bar
        assert "预警函" not in [t.description for t in bar.bar.tasks]
        bar.letters(0, 3)
        bar.letters(2, 3)
        out.seek(0)
        out.truncate(0)
        console.print(bar.bar)
        letters = [line for line in ANSI.sub("", out.getvalue()).splitlines() if "预警函" in line]
        assert letters and "2 / 3 件" in letters[0]
