"""Opening the state store and migrating it (Alembic, run programmatically)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine, make_url

from sunlight.monitor.store.claims import MIGRATE_CLAIM, claims_for

MIGRATIONS = Path(__file__).with_name("migrations")
T = TypeVar("T")


def create_state_engine(url: str) -> Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(u, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers (console, metrics) never block a cycle
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return sa.create_engine(u, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


#: how long a process waits for another one's migration of the same store
MIGRATE_WAIT_SECONDS = 300.0


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run on every start.

    Replicas started together on a new store migrate one after the other
    (the ``migrate`` claim); the later ones then find the schema at head.
    """
    with claims_for(engine).claimed(MIGRATE_CLAIM, MIGRATE_WAIT_SECONDS) as got:
        if not got:
            raise TimeoutError(f"another process has been migrating the state store for "
                               f"{MIGRATE_WAIT_SECONDS:.0f} s")
        command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def open_store(url: str, migrate: bool = True) -> Engine:
    engine = create_state_engine(url)
    if migrate:
        upgrade(engine)
    return engine


_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


def is_transient(exc: BaseException) -> bool:
    """A conflict between concurrent writers that a retry of the transaction resolves."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state in _RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(orig or exc)


def run_transaction(engine: Engine, work: Callable[[sa.Connection], T], attempts: int = 6) -> T:
    """Run ``work`` in a transaction, retrying it when concurrent writers collide.

    Two replicas (or a console act and a cycle) may touch the same rows; the
    database resolves such a collision by aborting one transaction, which is
    then simply run again.
    """
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as conn:
                return work(conn)
        except sa.exc.DBAPIError as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            time.sleep(min(0.05 * 2**attempt, 1.0) * (0.5 + random.random()))
    raise AssertionError("unreachable")
