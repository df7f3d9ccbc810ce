"""The command line as a user runs it: real subprocesses, real files."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import SourceDB


def sunlight(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sunlight.monitor.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "NO_COLOR": "1"}, timeout=120)


def test_scan_json_lines(sqlite_db: SourceDB, write_config) -> None:
    sqlite_db.load("units", [{"unit_id": "MZJ", "name": "县民政局", "kind": "department",
                              "parent_id": None}])
    sqlite_db.load("cases", [
        {"case_id": "C1", "unit_id": "MZJ", "item_code": "MZ-001", "item_name": "最低生活保障审批",
         "accepted_at": dt.datetime(2026, 9, 24, 10), "promised_limit": 5},
        {"case_id": "C2", "unit_id": "MZJ", "accepted_at": dt.datetime(2026, 10, 9, 10),
         "promised_limit": 5},
    ])
    cfg = write_config(sqlite_db.url)
    r = sunlight("scan", "-c", str(cfg), "--at", "2026-10-10T09:00", "--format", "json")
    assert r.returncode == 0, r.stderr
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(o["check"], o["subject"]) for o in objs] == [("case_overdue", "C1")]
    [o] = objs
    assert {"check", "fingerprint", "subject", "unit", "tier", "deadline", "overdue",
            "calendar_uncovered", "evidence"} <= set(o)
    assert o["unit"] == "MZJ" and o["tier"] == "level3" and o["overdue"] == 1
    assert o["ended_at"] is None
    assert o["deadline"] == "2026-10-09T23:59:59+08:00"
    assert o["calendar_uncovered"] is False
    assert o["evidence"]["due_date"] == "2026-10-09"
    # --check narrows. C2, accepted Fri 9 Oct, counts Sat 10 (worked), 12, 13, 14, 15 Oct:
    # due end of Thu 15 Oct, so on Wed 14 Oct two days are left and it is due soon
    r = sunlight("scan", "-c", str(cfg), "--at", "2026-10-14T09:00", "--format", "json",
                 "--check", "case_due_soon")
    assert [json.loads(x)["subject"] for x in r.stdout.splitlines()] == ["C2"]


def test_scan_table_and_record(sqlite_db: SourceDB, write_config, tmp_path: Path) -> None:
    sqlite_db.load("cases", [{"case_id": "C1", "unit_id": "MZJ",
                              "accepted_at": dt.datetime(2026, 9, 24, 10), "promised_limit": 5}])
    cfg = write_config(sqlite_db.url)
    r = sunlight("scan", "-c", str(cfg), "--at", "2026-10-10T09:00", "--record")
    assert r.returncode == 0, r.stderr
    assert "case_overdue" in r.stdout and "三级预警函" in r.stdout and "共 1 项发现" in r.stdout
    state = sa.create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    with state.connect() as conn:
        assert conn.exec_driver_sql("SELECT check_id, subject FROM findings").all() == [
            ("case_overdue", "C1")]


def test_scan_exit_codes(tmp_path: Path, write_config) -> None:
    cfg = write_config(f"sqlite:///{tmp_path / 'missing.db'}")
    r = sunlight("scan", "-c", str(cfg), "--at", "2026-10-10")
    assert r.returncode == 1 and "source 'main'" in r.stderr
    r = sunlight("scan", "-c", str(cfg), "--at", "yesterday")
    assert r.returncode == 2 and "--at" in r.stderr
    r = sunlight("scan", "-c", str(cfg), "--check", "no_such_check")
    assert r.returncode == 2 and "no_such_check" in r.stderr


def test_calendar_due_explains_itself() -> None:
    r = sunlight("calendar", "due", "2026-09-24", "5")
    assert r.returncode == 0, r.stderr
    assert "2026-10-09T23:59:59+08:00" in r.stdout
    assert "2026-10-01 四 国庆节" in r.stdout and "2026-09-25 五 中秋节" in r.stdout
    r = sunlight("calendar", "due", "2026-09-23", "10", "--unit", "day")
    assert "2026-10-08T23:59:59+08:00" in r.stdout and "顺延" in r.stdout
    r = sunlight("calendar", "due", "2026-12-23", "10")
    assert "2027-01-06T23:59:59+08:00" in r.stdout and "日历未覆盖" in r.stderr


def test_db_upgrade(tmp_path: Path, write_config) -> None:
    cfg = write_config("sqlite:///whatever.db")
    r = sunlight("db", "upgrade", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "state.db").exists()
    tables = sa.inspect(sa.create_engine(f"sqlite:///{tmp_path / 'state.db'}")).get_table_names()
    assert {"findings", "scan_runs", "alembic_version"} <= set(tables)


def test_demo_runs_in_a_fresh_folder(tmp_path: Path) -> None:
    r = sunlight("demo", "--dir", str(tmp_path / "demo"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for text in ("case_overdue", "case_overdue_statutory", "case_due_soon", "data_quality",
                 "县民政局", "超期最严重的十件在办件"):
        assert text in out
    assert (tmp_path / "demo" / "sunlight.yaml").exists()
    assert (tmp_path / "demo" / "state.db").exists()
    # running it again is refused (the folder now holds a config and a state store) ...
    again = sunlight("demo", "--dir", str(tmp_path / "demo"))
    assert again.returncode == 2 and "--replace" in again.stderr and again.stdout == ""
    # ... unless told to replace them: then it says what it replaces and gives the same summary
    again = sunlight("demo", "--dir", str(tmp_path / "demo"), "--replace")
    assert again.returncode == 0 and again.stdout == out
    assert "replacing" in again.stderr and "state.db" in again.stderr and "sunlight.yaml" in again.stderr


def test_scan_json_into_a_closed_pipe_stops_quietly(sqlite_db: SourceDB, write_config) -> None:
    """`sunlight scan --format json | head -n 1`: exit 0, and no failure is logged."""
    sqlite_db.load("cases", [{"case_id": f"C{i:05d}", "unit_id": "MZJ",
                              "accepted_at": dt.datetime(2026, 9, 24, 10), "promised_limit": 5}
                             for i in range(3000)])
    cfg = write_config(sqlite_db.url)
    proc = subprocess.Popen([sys.executable, "-m", "sunlight.monitor.cli", "--log-level", "INFO", "scan",
                             "-c", str(cfg), "--at", "2026-10-10T09:00", "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert json.loads(first)["check"] == "case_overdue"
    assert proc.returncode == 0, err
    assert "check failed" not in err and "Traceback" not in err


def test_scan_json_lines_are_whole_with_an_unbuffered_stdout(sqlite_db: SourceDB, write_config
                                                             ) -> None:
    """``PYTHONUNBUFFERED`` (the image sets it) or not, the same lines, each whole, all of them.

    The lines are joined into chunks of 64 KiB for the write: 3,000 findings are ~70 of them.
    """
    sqlite_db.load("cases", [{"case_id": f"C{i:05d}", "unit_id": "MZJ",
                              "accepted_at": dt.datetime(2026, 9, 24, 10), "promised_limit": 5}
                             for i in range(3000)])
    cfg = write_config(sqlite_db.url)
    outs = []
    for unbuffered in ("1", ""):
        r = subprocess.run([sys.executable, "-m", "sunlight.monitor.cli", "scan", "-c", str(cfg),
                            "--at", "2026-10-10T09:00", "--format", "json"], capture_output=True,
                           timeout=120, env={**os.environ, "PYTHONUNBUFFERED": unbuffered})
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout)
    assert outs[0] == outs[1]
    lines = outs[0].decode().splitlines()
    assert [json.loads(x)["subject"] for x in lines] == [f"C{i:05d}" for i in range(3000)]


def test_json_lines_written_whole_to_a_stream_that_takes_a_part() -> None:
    """A raw (unbuffered) stream may take a part of each write: the rest is written after."""
    from sunlight.monitor.cli_scan import _write_all

    class Raw(io.RawIOBase):
        def __init__(self) -> None:
            self.got = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b) -> int:  # type: ignore[override]
            self.got += bytes(b[:7])
            return min(7, len(b))

    raw = Raw()
    _write_all(raw, "办件超期\n".encode() * 100)
    assert bytes(raw.got) == "办件超期\n".encode() * 100


def test_a_bad_choice_is_a_usage_error_with_exit_2() -> None:
    r = sunlight("--log-level", "verbose", "calendar", "due", "2026-09-23", "5")
    assert r.returncode == 2
    assert "verbose" in r.stderr and "Traceback" not in r.stderr
    r = sunlight("calendar", "due", "2026-09-23", "5", "--unit", "fortnight")
    assert r.returncode == 2 and "fortnight" in r.stderr and "Traceback" not in r.stderr


def test_an_unknown_check_lists_the_known_ones(tmp_path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"routes: none\nsources:\n  a: {{url: 'sqlite:///{tmp_path}/none.db'}}\n",
                   encoding="utf-8")
    r = sunlight("scan", "-c", str(cfg), "--check", "case_overdoo")
    assert r.returncode == 2
    assert "case_overdoo" in r.stderr and "case_overdue" in r.stderr and "Traceback" not in r.stderr


def test_config_check_takes_minus_c_and_the_positional_alias(tmp_path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"routes: none\nsources:\n  a: {{url: 'sqlite:///{tmp_path}/none.db'}}\n",
                   encoding="utf-8")
    assert sunlight("config", "check", "-c", str(cfg)).returncode == 0
    assert sunlight("config", "check", str(cfg)).returncode == 0
    assert sunlight("config", "check").returncode == 2


def test_the_cli_choices_cover_every_status_and_tier() -> None:
    from sunlight.alerts.cli import LetterStatus, TierChoice
    from sunlight.monitor.store.letters_models import LETTER_STATUSES
    from sunlight.monitor.vocab import TIERS

    assert tuple(s.value for s in LetterStatus) == LETTER_STATUSES
    assert set(TIERS) <= {t.value for t in TierChoice}
