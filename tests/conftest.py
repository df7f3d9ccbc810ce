"""Shared fixtures: real source databases on SQLite, PostgreSQL and MariaDB.

Server-backed tests read their server's URL from the environment and skip, with
the reason, when it is not set; ``.ci/run`` sets both and fails on such skips.
Each test gets its own PostgreSQL schema / MariaDB database, dropped after.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from sunlight.monitor.demo.schema import create_all
from sunlight.monitor.demo.schema import metadata as canonical

POSTGRES_URL = os.environ.get("SUNLIGHT_TEST_POSTGRES_URL")
MARIADB_URL = os.environ.get("SUNLIGHT_TEST_MARIADB_URL")
TZ = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> dt.datetime:
    """An aware Asia/Shanghai datetime: at(2026, 10, 10, 9)."""
    return dt.datetime(*args, tzinfo=TZ)  # type: ignore[misc]


@dataclass
class SourceDB:
    """An empty database holding canonical tables; write with ``load``, read via ``url``."""

    kind: str
    url: str
    engine: sa.Engine

    def reset(self) -> None:
        """Drop every canonical table, so one test can load a second scenario."""
        from sunlight.monitor.demo.schema import drop_all

        drop_all(self.engine)

    def create(self, *tables: str) -> None:
        create_all(self.engine, list(tables) or None)

    def load(self, table: str, rows: list[dict[str, Any]]) -> None:
        t = canonical.tables[table]
        create_all(self.engine, [table])
        if rows:
            cols = [c.name for c in t.columns]
            with self.engine.begin() as conn:
                conn.execute(sa.insert(t), [{c: r.get(c) for c in cols} for r in rows])


def _sqlite(tmp_path: Path) -> Iterator[SourceDB]:
    path = tmp_path / "source.db"
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    yield SourceDB("sqlite", url, engine)
    engine.dispose()


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test: yields a URL whose search_path is it."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need SUNLIGHT_TEST_POSTGRES_URL (set by .ci/run)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield sa.engine.make_url(POSTGRES_URL).update_query_dict(
            {"options": f"-csearch_path={schema}"}
        ).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def _postgres() -> Iterator[SourceDB]:
    with postgres_schema() as url:
        engine = sa.create_engine(url)
        try:
            yield SourceDB("postgres", url, engine)
        finally:
            engine.dispose()


def _mariadb() -> Iterator[SourceDB]:
    if not MARIADB_URL:
        pytest.skip("MariaDB tests need SUNLIGHT_TEST_MARIADB_URL (set by .ci/run)")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(MARIADB_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    url = sa.engine.make_url(MARIADB_URL).set(database=name).update_query_dict(
        {"charset": "utf8mb4"}).render_as_string(hide_password=False)
    engine = sa.create_engine(url)
    try:
        yield SourceDB("mariadb", url, engine)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {name}")
        admin.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[SourceDB]:
    yield from _sqlite(tmp_path)


@pytest.fixture
def postgres_db() -> Iterator[SourceDB]:
    yield from _postgres()


@pytest.fixture
def mariadb_db() -> Iterator[SourceDB]:
    yield from _mariadb()


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def source_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SourceDB]:
    """The same test on each of the three source engines."""
    if request.param == "sqlite":
        yield from _sqlite(tmp_path)
    elif request.param == "postgres":
        yield from _postgres()
    else:
        yield from _mariadb()


@pytest.fixture
def write_config(tmp_path: Path):
    """``write_config(source_url, extra_yaml="")`` → path of a config file in tmp_path."""

    def write(source_url: str, extra: str = "", name: str = "sunlight.yaml") -> Path:
        path = tmp_path / name
        path.write_text(
            f"timezone: Asia/Shanghai\n"
            f"state:\n  url: sqlite:///{tmp_path / 'state.db'}\n"
            f"sources:\n  main:\n    url: \"{source_url}\"\n{extra}"
            + ("" if "routes:" in extra else "routes: none\n"),  # letters kept, not delivered
            encoding="utf-8",
        )
        return path

    return write


# --- CI: server-backed tests must not be skipped ------------------------------------

_server_skips: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "SUNLIGHT_TEST_" in str(report.longrepr):
        _server_skips.append(report.nodeid)
    if report.skipped and "promtool" in str(report.longrepr):
        _server_skips.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("SUNLIGHT_REQUIRE_SERVERS") and _server_skips:
        print(f"\nSUNLIGHT_REQUIRE_SERVERS is set but {len(_server_skips)} server-backed tests "
              "were skipped:\n  " + "\n  ".join(_server_skips))
        session.exitstatus = 1


#: one unit and one open case, accepted Thu 24 Sep 2026 with 5 working days: late by October
ONE_OPEN_CASE = (
    "INSERT INTO units VALUES ('MZJ', '县民政局', NULL, 'department');"
    "INSERT INTO cases (case_id, unit_id, item_code, item_name, accepted_at, promised_limit,"
    " limit_unit) VALUES ('C1', 'MZJ', 'MZ-001', '最低生活保障审批', '2026-09-24 10:00:00', 5,"
    " 'workday');"
)


def small_source(path: Path, inserts: str = ONE_OPEN_CASE) -> None:
    """A SQLite source with the units and cases tables and the rows ``inserts`` adds."""
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE units (unit_id TEXT, name TEXT, parent_id TEXT, kind TEXT);"
        "CREATE TABLE cases (case_id TEXT, unit_id TEXT, item_code TEXT, item_name TEXT,"
        " handler TEXT, accepted_at TEXT, promised_limit NUMERIC, statutory_limit NUMERIC,"
        " limit_unit TEXT, completed_at TEXT, outcome TEXT, outcome_reason TEXT, updated_at TEXT);"
        + inserts)
    con.commit()
    con.close()
