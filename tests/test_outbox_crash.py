"""Nothing is lost (invariant 4): ``sunlight cycle`` killed with SIGKILL, then restarted.

The process kills itself at an exact point through the test-only
``SUNLIGHT_TEST_CRASH_AT`` hook: ``after_commit`` (letters and deliveries
committed, nothing sent) and ``mid_delivery`` (one letter sent and recorded,
the next sent but not yet recorded). After a restart every letter reaches the
real HTTP receiver; the only duplicate is the one sent-but-unrecorded letter,
identical to the first copy, and no letter number is given twice.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from sunlight.monitor.demo.schema import create_all
from sunlight.monitor.demo.schema import metadata as canonical
from sunlight.monitor.store.letters_models import DeliveryRow, LetterRow
from tests.test_letters_kit import Receiver, pg_schema_url

REPO = Path(__file__).resolve().parents[1]
UNITS = [("SJJ", "县市场监督管理局"), ("MZJ", "县民政局"), ("ZJJ", "县住房和城乡建设局")]


def build_source(path: Path) -> str:
    """Three units, each with one case five working days late on 16 Oct 2026."""
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    create_all(engine, ["units", "cases"])
    t = canonical.tables
    with engine.begin() as conn:
        conn.execute(sa.insert(t["units"]), [{"unit_id": u, "name": n, "kind": "department",
                                              "parent_id": None} for u, n in UNITS])
        conn.execute(sa.insert(t["cases"]), [
            {"case_id": f"{u}2026092400{i}", "unit_id": u, "item_code": f"{u}-001",
             "item_name": "行政许可", "handler": "张三", "accepted_at": dt.datetime(2026, 9, 1, 10),
             "promised_limit": 5, "statutory_limit": None, "limit_unit": "workday",
             "completed_at": None, "outcome": None, "outcome_reason": None, "updated_at": None}
            for i, (u, _) in enumerate(UNITS)
        ])
    engine.dispose()
    return url


def write_config(tmp_path: Path, state_url: str, hook: str) -> Path:
    cfg = tmp_path / "sunlight.yaml"
    cfg.write_text(
        "timezone: Asia/Shanghai\n"
        f"state:\n  url: \"{state_url}\"\n"
        f"sources:\n  approvals:\n    url: \"{build_source(tmp_path / 'approvals.db')}\"\n"
        "checks:\n  case_overdue_statutory: {enabled: false}\n  case_due_soon: {enabled: false}\n"
        "letters:\n  number_prefix: 监预\n  issuer: 中共示范县纪律检查委员会\n"
        "routes:\n  - to: [oa]\n"
        f"channels:\n  oa: {{type: webhook, url: \"{hook}\", timeout: 5}}\n",
        encoding="utf-8",
    )
    return cfg


def cycle(cfg: Path, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SUNLIGHT_TEST_CRASH_AT"}
    if crash_at:
        env["SUNLIGHT_TEST_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "sunlight.monitor.cli", "cycle", "-c", str(cfg), "--at", "2026-10-16T09:00"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def store_state(url: str) -> tuple[list[str], list[tuple[str, str]]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            numbers = conn.execute(sa.select(LetterRow.number).order_by(LetterRow.id)).scalars().all()
            rows = conn.execute(sa.select(DeliveryRow.idempotency_key, DeliveryRow.status)
                                .order_by(DeliveryRow.id)).all()
        return list(numbers), [tuple(r) for r in rows]
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
    else:
        yield from pg_schema_url()


def test_killed_after_commit_then_mid_delivery_loses_nothing(tmp_path: Path, state_url: str) -> None:
    """On SQLite both crash points in a row; on PostgreSQL (each run costs seconds of start-up)
    the one where a row lock is held while the process dies: mid_delivery."""
    receiver = Receiver().start()
    try:
        cfg = write_config(tmp_path, state_url, receiver.url)
        expected = ["监预〔2026〕1号", "监预〔2026〕2号", "监预〔2026〕3号"]

        if state_url.startswith("sqlite"):
            # 1. killed right after the letters and their deliveries were committed
            killed = cycle(cfg, "after_commit")
            assert killed.returncode == -signal.SIGKILL, killed.stderr
            numbers, deliveries = store_state(state_url)
            assert numbers == expected
            assert deliveries == [(f"{n}:oa", "pending") for n in expected]
            assert receiver.keys() == []  # committed, not sent: nothing lost, nothing out yet

        # 2. restarted, and killed again in the middle of delivering
        killed = cycle(cfg, "mid_delivery")
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        numbers, deliveries = store_state(state_url)
        assert numbers == expected  # the restart issued nothing new
        assert [s for _, s in deliveries] == ["delivered", "pending", "pending"]
        assert receiver.keys() == [f"{n}:oa" for n in expected[:2]]  # the 2nd went out, unrecorded

        # 3. restarted: the rest is delivered
        done = cycle(cfg)
        assert done.returncode == 0, done.stderr
        assert "发出 0 件" in done.stdout and "成功 2" in done.stdout
        numbers, deliveries = store_state(state_url)
        assert numbers == expected and len(set(numbers)) == len(numbers)
        assert [s for _, s in deliveries] == ["delivered"] * 3

        keys = receiver.keys()
        assert set(keys) == {f"{n}:oa" for n in expected}  # every letter arrived
        twice = [k for k, n in Counter(keys).items() if n > 1]
        assert twice == [f"{expected[1]}:oa"]  # only the one the crash left unrecorded …
        copies = [h.body for h in receiver.hits if h.key == twice[0]]
        assert len(copies) == 2 and copies[0] == copies[1]  # … and the copy is identical
        assert {p["letter_number"] for p in receiver.payloads()} == set(expected)
        assert all("县" in p["unit_name"] for p in receiver.payloads())
    finally:
        receiver.stop()
