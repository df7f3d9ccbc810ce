"""Bounded waits (issue 10, item 5): a source that accepts and never answers is down, the rest go on.

The hung servers are real sockets on 127.0.0.1 that accept every connection
and never send a byte (a firewall that half-works, a frozen VM). The timeouts
are applied as each dialect allows; the figures the tests measure are printed
(``-s``) and quoted in README.md, "Bounded waits".
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc_pg
import pytest
import sqlalchemy as sa

from sunlight.monitor.columnar import fetch
from sunlight.monitor.settings import SourceConfig
from sunlight.monitor.sources import Source, SourceError
from tests.conftest import small_source

MARIADB_URL = os.environ.get("SUNLIGHT_TEST_MARIADB_URL")
POSTGRES_URL = os.environ.get("SUNLIGHT_TEST_POSTGRES_URL")


class HungServer:
    """Accepts TCP connections on 127.0.0.1 and never answers (until stopped)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)  # held open, never read from or written to

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        for c in self.accepted:
            c.close()
        self.sock.close()


@pytest.fixture
def hung() -> Iterator[HungServer]:
    server = HungServer()
    yield server
    server.stop()


def _good_source(path: Path) -> None:
    small_source(path)


def test_a_hung_source_is_down_within_its_timeout_and_the_others_are_recorded(
        hung: HungServer, tmp_path: Path) -> None:
    _good_source(tmp_path / "good.db")
    config = tmp_path / "sunlight.yaml"
    config.write_text(
        "timezone: Asia/Shanghai\n"
        f"state:\n  url: sqlite:///{tmp_path / 'state.db'}\n"
        "routes: none\n"  # letters kept, not delivered: these tests look at the sources
        "sources:\n"
        f"  hung_pg:\n    url: postgresql+psycopg://reader:secret@127.0.0.1:{hung.port}/db\n"
        "    connect_timeout: 2s\n"
        f"  hung_mysql:\n    url: mysql+pymysql://reader:secret@127.0.0.1:{hung.port}/db\n"
        "    connect_timeout: 2s\n"
        f"  good:\n    url: sqlite:///{tmp_path / 'good.db'}\n",
        encoding="utf-8")
    started = time.monotonic()
    # the subprocess bound is a safety net for a hang (before: about 133 s), not a timing test
    done = subprocess.run([sys.executable, "-m", "sunlight.monitor.cli", "cycle", "-c", str(config),
                           "--at", "2026-10-20T09:00"], capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - started
    print(f"\ncycle with two hung sources (connect_timeout 2s): {seconds:.1f} s")
    assert done.returncode == 1, done.stderr
    failed = [line for line in done.stderr.splitlines() if line.startswith("数据源读取失败")]
    assert len(failed) == 2 and any("hung_pg" in x for x in failed) and any("hung_mysql" in x
                                                                              for x in failed)
    assert all("timeout" in x for x in failed), failed
    assert "secret" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    store = sa.create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    with store.connect() as conn:
        runs = dict(conn.execute(sa.text("SELECT source, ok FROM scan_runs")).all())
        overdue = conn.execute(sa.text(
            "SELECT subject FROM findings WHERE source = 'good' AND check_id = 'case_overdue'")).all()
    store.dispose()
    assert runs == {"hung_pg": 0, "hung_mysql": 0, "good": 1}
    assert overdue == [("C1",)]


def _source(url: str, **kw: str) -> Source:
    return Source("s", SourceConfig.model_validate({"url": url, **kw}))


def test_postgres_sessions_carry_the_statement_timeout() -> None:
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need SUNLIGHT_TEST_POSTGRES_URL (set by .ci/run)")
    src = _source(POSTGRES_URL, statement_timeout="7s")
    try:
        with src.engine.connect() as conn:
            assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "7s"
            assert conn.execute(sa.text("SHOW default_transaction_read_only")).scalar() == "on"
            with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
                conn.execute(sa.text("SELECT pg_sleep(9)"))
    finally:
        src.close()


def test_mariadb_sessions_carry_the_statement_limit() -> None:
    if not MARIADB_URL:
        pytest.skip("MariaDB tests need SUNLIGHT_TEST_MARIADB_URL (set by .ci/run)")
    src = _source(MARIADB_URL, statement_timeout="7s")
    try:
        with src.engine.connect() as conn:
            version = conn.execute(sa.text("SELECT VERSION()")).scalar()
            name = "max_statement_time" if "mariadb" in str(version).lower() else "max_execution_time"
            value = conn.execute(sa.text(f"SELECT @@SESSION.{name}")).scalar()
            assert float(value) == (7.0 if name == "max_statement_time" else 7000)
    finally:
        src.close()


def test_sqlite_busy_timeout_is_the_statement_timeout(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _good_source(path)
    src = _source(f"sqlite:///{path}", statement_timeout="1s")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")  # a writer holding the file (rollback journal)
    try:
        started = time.monotonic()
        with pytest.raises(Exception, match="locked"):
            list(src.rows("cases", ["case_id"]))
        print(f"\nSQLite source locked, busy timeout 1s: gave up after {time.monotonic() - started:.1f} s")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        src.close()


def test_the_columnar_adbc_connection_is_read_only_and_carries_the_source_limits() -> None:
    """The columnar path reads PostgreSQL through ADBC on a connection of its own: same limits."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need SUNLIGHT_TEST_POSTGRES_URL (set by .ci/run)")
    src = _source(POSTGRES_URL, statement_timeout="7s", connect_timeout="3s")
    uri = fetch._adbc_uri(src)
    assert "connect_timeout=3" in uri
    conn = adbc_pg.connect(uri)
    try:
        cur = conn.cursor()
        cur.execute("SELECT current_setting('statement_timeout'), "
                    "current_setting('default_transaction_read_only')")
        assert cur.fetchone() == ("7s", "on")
        with pytest.raises(Exception, match="read-only"):
            cur.execute("CREATE TABLE sunlight_adbc_probe (x int)")
        cur.close()
    finally:
        conn.close()
        src.close()


def test_the_columnar_adbc_connection_to_a_hung_server_is_a_source_error(hung: HungServer) -> None:
    """A hung server is down once (not waited for again through SQLAlchemy), named with its limits."""
    src = _source(f"postgresql+psycopg://reader:secret@127.0.0.1:{hung.port}/db", connect_timeout="2s")
    try:
        with pytest.raises(SourceError, match="timeout") as caught:
            list(fetch._adbc_batches(src, "SELECT 1 AS case_id", "case_id"))
        assert "connect_timeout 2s" in str(caught.value) and "secret" not in str(caught.value)
    finally:
        src.close()
