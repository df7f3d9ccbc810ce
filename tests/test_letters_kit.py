"""Shared parts of the letters, outbox and lifecycle tests (no tests of its own).

- ``state`` fixture: a real state store, SQLite file or a fresh PostgreSQL schema;
- ``record``: puts findings into the store exactly as a scan does (scan run,
  FindingRecorder upsert, finish_run resolving what was not seen);
- ``settings_for``: a validated Settings from YAML, as an office writes it;
- ``Receiver``: a real HTTP server on 127.0.0.1 that records every request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from sunlight.checks.base import Finding
from sunlight.monitor.clock import LimitUnit
from sunlight.monitor.settings import Settings
from sunlight.monitor.store import open_store
from sunlight.monitor.store.findings import FindingRecorder, finish_run, start_run
from tests.conftest import at, postgres_schema
from tests.receivers import HttpReceiver

POSTGRES_URL = os.environ.get("SUNLIGHT_TEST_POSTGRES_URL")

__all__ = ["POSTGRES_URL", "Receiver", "State", "at", "finding", "pg_schema_url", "quick_settings",
           "record", "run_cli", "settings_for", "state_fixture"]


@dataclass
class State:
    kind: str
    url: str
    engine: sa.Engine


def pg_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped after (``tests.conftest.postgres_schema``)."""
    with postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"], name="state")
def state_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[State]:
    """The state store on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
        engine = open_store(url)
        yield State("sqlite", url, engine)
        engine.dispose()
    else:
        for url in pg_schema_url():
            engine = open_store(url)
            try:
                yield State("postgres", url, engine)
            finally:
                engine.dispose()


def finding(check: str, subject: str, unit: str, tier: str = "level3", overdue: int = 3,
            item: str = "食品经营许可") -> Finding:
    """A finding as the case checks produce it (summary, deadline, rule in evidence)."""
    return Finding(
        check=check, subject=subject, unit_id=unit, tier=tier,  # type: ignore[arg-type]
        summary=f"办件{subject}（{item}）应于2026年9月30日前办结，至今未办结，超期{overdue}个工作日",
        deadline=at(2026, 9, 30, 23, 59, 59), overdue=Decimal(overdue),
        item_code="SJ-001", evidence={"item_name": item, "case_id": subject,
                                      "rule": {"cite": "003:565", "text": "在承诺时限内办结"}},
        measure=LimitUnit.workday,
    )


def record(store: sa.Engine, found: list[Finding], when, source: str = "main",
           checks: tuple[str, ...] = ("case_overdue", "case_overdue_statutory", "case_due_soon",
                                      "data_quality")) -> int:
    """One complete scan run of ``source`` that saw exactly ``found``; returns the run id."""
    run = start_run(store, source, when, checks)
    rec = FindingRecorder(store, run, when)
    for f in found:
        f.source = source
        rec(f)
    rec.flush()
    finish_run(store, run, ok=True, error=None, rows_read=len(found), findings=rec.count,
               resolve_checks=checks, source=source, as_of=when)
    return run


def settings_for(tmp_path: Path, state_url: str, extra: str = "", name: str = "sunlight.yaml") -> Path:
    """Write a config file (state store, one dummy source, ``extra`` YAML) and return its path."""
    path = tmp_path / name
    path.write_text(
        "timezone: Asia/Shanghai\n"
        f"state:\n  url: \"{state_url}\"\n"
        + ("" if "routes:" in extra else "routes: none\n")  # these tests look at the store only
        +
        f"sources:\n  main:\n    url: \"sqlite:///{tmp_path / 'source.db'}\"\n"
        "    data_owner: 县政务服务中心信息科\n"
        "letters:\n  number_prefix: 监预\n  issuer: 中共示范县纪律检查委员会 示范县监察委员会\n"
        + extra,
        encoding="utf-8",
    )
    return path


def run_cli(*args: str):
    """``sunlight …`` in this process (Typer's CliRunner); returns the result."""
    import structlog
    from typer.testing import CliRunner

    from sunlight.monitor.cli import app

    try:
        return CliRunner().invoke(app, list(args))
    finally:
        structlog.reset_defaults()  # the CLI pointed the logs at the runner's (now closed) stream


def quick_settings(path: Path) -> Settings:
    """Settings validated by the models and ``validate_alerts`` only.

    ``load_settings`` also builds a whole working-day calendar to validate the
    override files (about a second); the tests that are not about config use
    this to stay fast. The config tests use ``load_settings`` itself.
    """
    import yaml

    from sunlight.alerts.validation import validate_alerts

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["base_dir"] = path.resolve().parent
    settings = Settings.model_validate(raw)
    problems = list(validate_alerts(settings))
    assert not problems, problems
    return settings


@dataclass
class Hit:
    key: str
    body: bytes


class Receiver(HttpReceiver):
    """The shared HTTP receiver (tests/receivers.py), seen as the outbox tests use it:
    the keys and payloads that arrived, and one status for every answer."""

    @property
    def url(self) -> str:
        return f"{HttpReceiver.url.fget(self)}/hook"

    @property
    def status(self) -> int:
        return self._default.status

    @status.setter
    def status(self, code: int) -> None:
        self.respond_with(code, {})

    @property
    def hits(self) -> list[Hit]:
        with self._lock:
            return [Hit(r.idempotency_key or "", r.body) for r in self.requests]

    def keys(self) -> list[str]:
        return [h.key for h in self.hits]

    def payloads(self) -> list[dict]:
        return [json.loads(h.body) for h in self.hits]
