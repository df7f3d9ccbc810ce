"""Read-only access to the source databases, mapped onto canonical names.

Architecture invariant 1: sources are read-only. Each dialect is opened in its
own read-only mode (SQLite ``mode=ro``, PostgreSQL
``default_transaction_read_only``, MySQL/MariaDB ``SET SESSION TRANSACTION READ
ONLY``), and this module only ever builds SELECTs.

Rows are streamed (server-side cursors) in the source's chunk size, so a
million cases never sit in memory. Child tables are read as separate streams
sorted by the parent key in *binary* order, the same order Python compares
``str`` in, so :mod:`sunlight.monitor.readers` can merge-join them in one pass.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from sunlight.monitor.settings import EntityMapping, SourceConfig


class SourceError(Exception):
    """A source that cannot be read this cycle. ``str()`` names the source."""

    def __init__(self, source: str, problem: str) -> None:
        self.source, self.problem = source, problem
        super().__init__(f"source {source!r}: {problem}")


def safe_url(url: str | URL) -> str:
    """The URL with its password masked: the only form that may reach a log."""
    return make_url(url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class Timeouts:
    """Bounded waits for one source (issue 10, item 5), in seconds."""

    connect: float = 10.0
    statement: float = 300.0


def _sqlite_ro_creator(url: URL, base_dir: Path | None, timeouts: Timeouts
                       ) -> Callable[[], sqlite3.Connection]:
    path = url.database
    if not path or path == ":memory:":
        raise SourceError(str(url), "an SQLite source needs a file path")
    if base_dir is not None and not Path(path).is_absolute():
        path = str(base_dir / path)  # relative to the config file, not the working folder

    def connect() -> sqlite3.Connection:
        # mode=ro: the file is opened read-only by SQLite itself; writes fail
        # with "attempt to write a readonly database", and a missing file is an
        # error instead of a new empty database.
        # timeout: SQLite's busy timeout, how long a read waits for a writer's lock
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False,
                               timeout=timeouts.statement)

    return connect


def create_readonly_engine(raw_url: str, base_dir: Path | None = None,
                           timeouts: Timeouts = Timeouts()) -> Engine:
    """An engine whose every connection refuses writes and waits a bounded time.

    Each dialect bounds its waits as it can: PostgreSQL ``connect_timeout``
    and ``statement_timeout``; MySQL/MariaDB the driver's ``connect_timeout``
    and ``read_timeout`` plus the server's own limit (MySQL
    ``max_execution_time``, MariaDB ``max_statement_time``); SQLite its busy
    timeout. A source that accepts a connection and never answers is then
    reported down after ``timeouts.connect`` (or ``timeouts.statement``).
    """
    url = make_url(raw_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        creator = _sqlite_ro_creator(url, base_dir, timeouts)
        return sa.create_engine("sqlite://", creator=creator, poolclass=sa.NullPool)
    if backend == "postgresql":
        # keep any options the URL carries (e.g. a search_path) and add read-only and the limit
        statement_ms = int(timeouts.statement * 1000)
        options = " ".join(filter(None, [url.query.get("options"),  # type: ignore[list-item]
                                         "-c default_transaction_read_only=on",
                                         f"-c statement_timeout={statement_ms}"]))
        return sa.create_engine(
            url.difference_update_query(["options"]),
            # libpq takes whole seconds (and treats 1 as 2)
            connect_args={"options": options, "connect_timeout": max(2, math.ceil(timeouts.connect))},
            pool_pre_ping=True,
        )
    if backend in ("mysql", "mariadb"):
        connect = max(1, math.ceil(timeouts.connect))
        statement = max(1, math.ceil(timeouts.statement))
        args: dict[str, Any] = {"connect_timeout": connect}
        pymysql = url.get_driver_name() == "pymysql"
        if pymysql:
            # PyMySQL waits for the server's greeting with read_timeout, not connect_timeout:
            # the handshake gets the connect limit, the session the statement limit (below)
            args["read_timeout"] = connect
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args=args)

        @sa.event.listens_for(engine, "connect")
        def _read_only(dbapi_conn: Any, _record: Any) -> None:
            if pymysql:  # a read that waits longer than a statement may run: the server is gone
                dbapi_conn._read_timeout = statement
            cur = dbapi_conn.cursor()
            cur.execute("SET SESSION TRANSACTION READ ONLY")
            server = str(getattr(dbapi_conn, "get_server_info", lambda: "")())
            if "mariadb" in server.lower():
                cur.execute(f"SET SESSION max_statement_time = {float(timeouts.statement)}")
            else:
                cur.execute(f"SET SESSION max_execution_time = {int(timeouts.statement * 1000)}")
            cur.close()

        return engine
    raise SourceError(safe_url(url), f"unsupported database {backend!r}")


#: keys per keyed query (``Source.rows_for_keys``): 15 queries a table for the 14,700 keys of a
#: 1%-changed cycle at a million cases (30 at 500); larger chunks only raised the peak (4,000:
#: +16 MB) for no CPU we could measure. SQLite: at most its limit of bound variables
KEY_CHUNK = 1000


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


class Source:
    """One configured source database: which entities it has and how to stream them."""

    def __init__(self, name: str, config: SourceConfig, base_dir: Path | None = None) -> None:
        self.name = name
        self.config = config
        self.base_dir = base_dir
        self._engine: Engine | None = None
        self._columns: dict[str, list[str]] = {}

    # --- connection ----------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            try:
                self._engine = create_readonly_engine(
                    self.config.url.get_secret_value(), self.base_dir,
                    Timeouts(self.config.connect_timeout.total_seconds(),
                             self.config.statement_timeout.total_seconds()))
            except SourceError as exc:
                raise SourceError(self.name, exc.problem) from None
            except Exception as exc:
                raise SourceError(self.name, f"cannot create engine: {exc}") from exc
        return self._engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def ping(self) -> None:
        """Raise :class:`SourceError` if the database cannot be reached."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(self.name, f"cannot connect: {self._why(exc)}") from exc

    def _why(self, exc: BaseException) -> str:
        """The driver's line, with the configured limit when a bounded wait ran out."""
        msg = _short(exc)
        low = msg.lower()
        if "timeout" in low or "timed out" in low or "lost connection" in low:
            msg += (f" (connect_timeout {self.config.connect_timeout.total_seconds():g}s, "
                    f"statement_timeout {self.config.statement_timeout.total_seconds():g}s)")
        return msg

    # --- entities ------------------------------------------------------------

    def mapping(self, entity: str) -> EntityMapping:
        return self.config.entities.get(entity) or EntityMapping(table=entity)

    def _table(self, m: EntityMapping) -> sa.TableClause:
        assert m.table
        schema, _, name = m.table.rpartition(".")
        return sa.table(name, schema=schema or None)

    def available_columns(self, entity: str) -> list[str] | None:
        """Columns of the entity's table or query; None if the entity is absent here."""
        if entity in self._columns:
            return self._columns[entity]
        m = self.mapping(entity)
        try:
            with self.engine.connect() as conn:
                if m.query is not None:
                    sel = sa.text(f"SELECT * FROM ({m.query}) q WHERE 1 = 0")
                    cols = list(conn.execute(sel).keys())
                else:
                    assert m.table
                    schema, _, name = m.table.rpartition(".")
                    insp = sa.inspect(conn)
                    if not insp.has_table(name, schema=schema or None):
                        if entity in self.config.entities:
                            raise SourceError(self.name, f"{entity}: table {m.table!r} not found")
                        return None
                    cols = [c["name"] for c in insp.get_columns(name, schema=schema or None)]
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(self.name, f"{entity}: {self._why(exc)}") from exc
        self._columns[entity] = cols
        return cols

    def has(self, entity: str) -> bool:
        return self.available_columns(entity) is not None

    def _from(self, entity: str) -> tuple[Any, dict[str, str]]:
        """The entity's table (or query as a subquery), and its columns by lower-case name."""
        m = self.mapping(entity)
        cols = self.available_columns(entity)
        if cols is None:
            raise SourceError(self.name, f"{entity}: not present in this source")
        lower = {c.lower(): c for c in cols}
        if m.query is not None:
            src: Any = sa.text(m.query).columns(*(sa.column(c) for c in cols)).subquery("q")
        else:
            src = self._table(m)
        return src, lower

    def column(self, entity: str, name: str) -> str:
        """The site's column for a canonical field (mapped by ``columns``) or a column of its own."""
        _, lower = self._from(entity)
        m = self.mapping(entity)
        actual = lower.get(m.columns.get(name, name).lower())
        if actual is None:
            raise SourceError(self.name, f"{entity}: column {name!r} not found")
        return actual

    def _select(self, entity: str, fields: Sequence[str], order_key: str | None,
                keys: Sequence[str] | None = None) -> sa.Select:
        m = self.mapping(entity)
        src, lower = self._from(entity)
        exprs: list[Any] = []
        for f in fields:
            col = m.columns.get(f, f)
            actual = lower.get(col.lower())
            if actual is None:
                if f in m.columns:
                    raise SourceError(
                        self.name, f"{entity}: column {col!r} (mapped to {f}) not found"
                    )
                exprs.append(sa.null().label(f))
            else:
                exprs.append(sa.column(actual, _selectable=src).label(f))
        stmt = sa.select(*exprs).select_from(src)
        if order_key is not None:
            key_col = lower.get(m.columns.get(order_key, order_key).lower())
            if key_col is None:
                raise SourceError(self.name, f"{entity}: key column for {order_key} not found")
            key: Any = sa.column(key_col, _selectable=src)
            if keys is not None:  # the key as stored, so that an index on it serves the look-up
                stmt = stmt.where(key.in_(list(keys)))
            stmt = stmt.order_by(self._binary_text(key))
        return stmt

    def _binary_text(self, col: Any) -> Any:
        """The key as text in byte order, so every engine sorts as Python compares str."""
        d = self.dialect
        if d == "postgresql":
            return sa.cast(col, sa.Text).collate("C")
        if d in ("mysql", "mariadb"):
            return sa.cast(sa.cast(col, sa.CHAR), sa.BINARY)
        return sa.cast(col, sa.Text)

    @contextmanager
    def _stream(self, stmt: sa.Select) -> Iterator[Iterator[dict[str, Any]]]:
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(
                    stream_results=True, yield_per=self.config.chunk_size
                ).execute(stmt)
                yield _dicts(result)
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(self.name, self._why(exc)) from exc

    def rows(
        self, entity: str, fields: Sequence[str], order_key: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Stream an entity's rows as dicts of canonical field names."""
        stmt = self._select(entity, fields, order_key)
        with self._stream(stmt) as it:
            try:
                yield from it
            except sa.exc.SQLAlchemyError as exc:
                raise SourceError(self.name, f"{entity}: {self._why(exc)}") from exc


    # --- incremental reads (monitor/incremental.py) --------------------------------

    def max_value(self, entity: str, column: str) -> Any:
        """The greatest value of a column (the watermark a full scan starts from); None if empty."""
        src, _ = self._from(entity)
        stmt: Any = sa.select(sa.func.max(sa.column(self.column(entity, column), _selectable=src)))
        try:
            with self.engine.connect() as conn:
                return conn.execute(stmt.select_from(src)).scalar()
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(self.name, f"{entity}: {self._why(exc)}") from exc

    def changed(self, entity: str, key_field: str, column: str, since: Any
                ) -> Iterator[tuple[Any, Any]]:
        """(key, watermark value) of the rows whose watermark is at least ``since`` (all for None)."""
        src, _ = self._from(entity)
        key: Any = sa.column(self.column(entity, key_field), _selectable=src)
        mark: Any = sa.column(self.column(entity, column), _selectable=src)
        stmt = sa.select(key, mark).select_from(src)
        if since is not None:
            stmt = stmt.where(mark >= since)
        with self._stream(stmt) as it:
            try:
                for row in it:
                    k, v = row.values()
                    yield k, v
            except sa.exc.SQLAlchemyError as exc:
                raise SourceError(self.name, f"{entity}: {self._why(exc)}") from exc

    def rows_for_keys(self, entity: str, fields: Sequence[str], key_field: str,
                      keys: Sequence[str], chunk: int = KEY_CHUNK) -> Iterator[dict[str, Any]]:
        """The rows of the given keys (sorted in byte order), in key order, ``chunk`` keys a query.

        Each query is ordered as :meth:`rows` orders a whole table, and the
        chunks follow each other in key order, so the readers merge-join the
        result exactly as a full read. One connection serves every chunk (a
        checkout pings the server), and a chunk's rows, bounded by its keys,
        come without a server-side cursor (the driver buffers them): on
        PostgreSQL that cursor cost round trips per chunk and table. On SQLite
        a chunk is at most the connection's limit of bound variables.
        """
        ordered = sorted(set(keys))
        if not ordered:
            return
        try:
            with self.engine.connect() as conn:
                if self.dialect == "sqlite":
                    chunk = min(chunk, sqlite_variables(conn.connection.driver_connection))
                for i in range(0, len(ordered), chunk):
                    stmt = self._select(entity, fields, key_field, ordered[i:i + chunk])
                    yield from _dicts(conn.execute(stmt), self.config.chunk_size)
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(self.name, f"{entity}: {self._why(exc)}") from exc


def _dicts(result: sa.CursorResult[Any], size: int | None = None) -> Iterator[dict[str, Any]]:
    """A result's rows as dicts of its column names, ``size`` rows fetched at a time.

    Plain rows zipped with the keys: a RowMapping per row, then a dict of it,
    cost twice as much (a million cases: seconds).
    """
    keys = tuple(result.keys())
    return (dict(zip(keys, row, strict=True)) for part in result.partitions(size) for row in part)


def sqlite_variables(raw: Any) -> int:
    """How many bound variables one statement of this SQLite connection may hold (999 before
    SQLite 3.32, 32,766 since, unless the library was built otherwise)."""
    try:
        return max(1, int(raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)))
    except (AttributeError, sqlite3.Error):
        return 999 if sqlite3.sqlite_version_info < (3, 32) else 32766


def _short(exc: BaseException) -> str:
    """One line of a driver error, without the SQL text or parameters."""
    orig = getattr(exc, "orig", None)
    msg = str(orig if orig is not None else exc).strip().splitlines()
    return msg[0] if msg else type(exc).__name__
