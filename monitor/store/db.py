"""Opening the state store and migrating it (Alembic, run programmatically).

Alembic (with Mako and its dialect modules, ~70 ms and ~15 MB) is imported
only to migrate: :func:`current_revision` reads the version table itself and
:func:`head_revision` reads the revision files, so the commands that open an
existing store at head (``scan --record``, ``letters``, the console's
commands) never load it; ``tests/test_store.py`` checks both against Alembic.

Every way the store can fail to open (a folder that cannot be written, a
read-only file, a lock held too long, a PostgreSQL server that is down) is a
:class:`StoreError` naming the store (password masked) and the cause in one
line: the CLI prints it and exits 1, with no traceback (issue 10, item 7).
"""

from __future__ import annotations

import ast
import errno
import random
import sqlite3
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from sunlight.monitor.store.claims import MIGRATE_CLAIM, claims_for

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"  # Alembic's default, which migrations/env.py keeps
T = TypeVar("T")
#: how long a SQLite writer waits for another's lock before giving up (state.lock_timeout)
LOCK_TIMEOUT = 30.0


#: every connection to a SQLite state store. ``synchronous=FULL`` stated, not left to the
#: build (``SQLITE_DEFAULT_WAL_SYNCHRONOUS`` can make a WAL database default to ``NORMAL``):
#: the WAL is synced at every commit, so a finding the recorder counted as recorded (its
#: batch committed) survives a crash of the process, the OS or the power; with ``NORMAL``
#: the last commits before an OS crash or a power cut could be lost, which the office cannot
#: have. It costs nothing measurable: one sync per batch of 2,000 findings. A larger page
#: cache, a rarer checkpoint and temporary tables in memory were measured and not taken
#: (``bench/README.md``, issue 11).
SQLITE_PRAGMAS = (
    "journal_mode=WAL",  # readers (console, metrics) never block a cycle
    "foreign_keys=ON",
    "synchronous=FULL",
)


class StoreError(Exception):
    """The state store cannot be used. ``str()`` is one line: the store (password masked) and why."""

    def __init__(self, url: str, cause: str) -> None:
        self.url, self.cause = masked(url), cause
        super().__init__(f"{self.url}: {cause}")


def masked(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not even a URL: show nothing of it that could be a secret
        return "(unparseable URL)"


#: driver messages → what they mean for the person at the terminal
_CAUSES = (
    ("unable to open database file", "无法打开或创建数据库文件（目录不存在、不可写或文件不可读）"),
    ("readonly database", "数据库文件只读，无法写入"),
    ("read-only", "数据库只读，无法写入"),
    ("database is locked", "数据库被其他进程锁定，等待超时后放弃"),
    ("disk i/o error", "磁盘读写错误"),
    ("connection refused", "无法连接数据库服务器（连接被拒绝，服务器未运行？）"),
    ("timeout expired", "连接数据库服务器超时"),
    ("password authentication failed", "数据库用户名或密码错误"),
    ("no such table", "状态库尚未初始化（请先运行 sunlight db upgrade）"),
    ("relation", "状态库尚未初始化或结构过旧（请先运行 sunlight db upgrade）"),
    ("does not exist", "数据库不存在"),
)


def describe(exc: BaseException, lock_timeout: float | None = None) -> str:
    """One line saying why the store failed: the meaning, then the driver's own first line."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    first = lines[0] if lines else type(orig).__name__
    if len(first) > 300:
        first = first[:300] + "…"
    low = first.lower()
    if isinstance(orig, OSError) and orig.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        # the store's own files beside it (the SQLite claims folder) in a folder we may not write
        return f"{_CAUSES[0][1]} ({first})"
    for pattern, meaning in _CAUSES:
        if pattern in low:
            if pattern == "database is locked" and lock_timeout:
                meaning = f"数据库被其他进程锁定超过{lock_timeout:g}秒，已放弃"
            return f"{meaning} ({first})"
    return first


def create_state_engine(url: str, *, read_only: bool = False,
                        lock_timeout: float = LOCK_TIMEOUT) -> Engine:
    """An engine on the store. ``read_only``: for commands that only look (no write can happen)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if read_only:
            return _sqlite_read_only(url, lock_timeout)
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(u, connect_args={"timeout": lock_timeout})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            for pragma in SQLITE_PRAGMAS:
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        return engine
    if read_only and u.get_backend_name() == "postgresql":
        options = " ".join(filter(None, [u.query.get("options"),  # type: ignore[list-item]
                                         "-c default_transaction_read_only=on"]))
        return sa.create_engine(u.difference_update_query(["options"]), pool_pre_ping=True,
                                connect_args={"options": options})
    return sa.create_engine(u, pool_pre_ping=True)


def _sqlite_read_only(url: str, lock_timeout: float) -> Engine:
    """SQLite opened ``mode=ro``: works on a read-only file and never creates one.

    A WAL database in a folder we cannot write has no place for its shared
    memory file; it is then read as an immutable snapshot (what the store
    held when its last writer finished).
    """
    path = make_url(url).database
    if not path or path == ":memory:":
        raise StoreError(url, "a read-only look needs a store file")
    if not Path(path).exists():
        raise StoreError(url, "状态库文件不存在（请先运行 sunlight db upgrade 或 sunlight cycle）")

    def connect() -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=lock_timeout,
                                   check_same_thread=False)
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return conn
        except sqlite3.OperationalError as exc:
            if "unable to open" not in str(exc):
                raise
            return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True,
                                   check_same_thread=False)

    return sa.create_engine("sqlite://", creator=connect, poolclass=sa.NullPool)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

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
        from alembic import command

        command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The store's schema revision (None: no schema yet), as Alembic's ``get_current_revision``."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return None
        found = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
        if len(found) <= 1:
            return found[0] if found else None
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()  # says what is wrong


def head_revision() -> str | None:
    """The newest revision of ``migrations/versions``: the one no other revision follows."""
    return _head_of_files() or _alembic_head()


@cache
def _head_of_files() -> str | None:
    """The head from the revision files' ``revision`` / ``down_revision`` (None: not one head)."""
    follows: dict[str, object] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        names: dict[str, object] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            else:
                continue
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                try:
                    names[target.id] = ast.literal_eval(value)
                except ValueError:
                    return None  # not a literal: leave it to Alembic
        revision, down = names.get("revision"), names.get("down_revision")
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            return None  # a merge (a tuple of revisions), or no revision: Alembic knows
        follows[revision] = down
    heads = set(follows) - set(follows.values())
    return heads.pop() if len(heads) == 1 else None


def _alembic_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(sa.create_engine("sqlite://"))).get_current_head()


def open_store(url: str, migrate: bool | Literal["create"] = True, *, read_only: bool = False,
               lock_timeout: float = LOCK_TIMEOUT) -> Engine:
    """The store, reachable and at the current schema, or :class:`StoreError` in one line.

    ``migrate``: ``True`` brings the schema to head (``db upgrade``, the
    daemon's start, the demo; a store already there is left alone, without
    loading Alembic); ``"create"`` (the commands that write:
    ``cycle``, ``scan --record``, the letter acts) creates a new, empty store
    but refuses one at an older revision, whose upgrade is the operator's
    deliberate step (``sunlight db upgrade``, after a backup); ``False``
    returns the engine as it is.
    ``read_only``: the commands that only look (``letters list``, ``letters
    show``) open the store so that it cannot be written, and work on a
    read-only file.
    """
    engine: Engine | None = None
    try:
        engine = create_state_engine(url, read_only=read_only, lock_timeout=lock_timeout)
        if migrate and not read_only:
            # reach the server first: a store that is down is one line now, not a wait for
            # the migrate claim (whose attempts would each fail to connect)
            with engine.connect():
                pass
            # a store already at head needs no migration, nor Alembic (the daemon's every start)
            current, head = current_revision(engine), head_revision()
            if current != head:
                if current is not None and migrate == "create":
                    raise StoreError(url, f"状态库结构版本为 {current}，需要 {head}"
                                          "（请先备份，再运行 sunlight db upgrade）")
                upgrade(engine)
        elif read_only:  # a look at a store this version cannot read is refused, not guessed at
            current, head = current_revision(engine), head_revision()
            if current != head:
                raise StoreError(url, f"状态库结构版本为 {current or '（空）'}，需要 {head}"
                                      "（请先运行 sunlight db upgrade）")
    except StoreError:
        if engine is not None:
            engine.dispose()
        raise
    except (sa.exc.SQLAlchemyError, sqlite3.Error, OSError) as exc:
        if engine is not None:
            engine.dispose()
        raise StoreError(url, describe(exc, lock_timeout)) from exc
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
