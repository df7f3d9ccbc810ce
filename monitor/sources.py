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

import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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


def _sqlite_ro_creator(url: URL, base_dir: Path | None) -> Callable[[], sqlite3.Connection]:
    path = url.database
    if not path or path == ":memory:":
        raise SourceError(str(url), "an SQLite source needs a file path")
    if base_dir is not None and not Path(path).is_absolute():
        path = str(base_dir / path)  # relative to the config file, not the working folder

    def connect() -> sqlite3.Connection:
        # mode=ro: the file is opened read-only by SQLite itself; writes fail
        # with "attempt to write a readonly database", and a missing file is an
        # error instead of a new empty database.
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    return connect


def create_readonly_engine(raw_url: str, base_dir: Path | None = None) -> Engine:
    """An engine whose every connection refuses writes."""
    url = make_url(raw_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        creator = _sqlite_ro_creator(url, base_dir)
        return sa.create_engine("sqlite://", creator=creator, poolclass=sa.NullPool)
    if backend == "postgresql":
        # keep any options the URL carries (e.g. a search_path) and add read-only
        options = " ".join(filter(None, [url.query.get("options"),  # type: ignore[list-item]
                                         "-c default_transaction_read_only=on"]))
        return sa.create_engine(
            url.difference_update_query(["options"]),
            connect_args={"options": options},
            pool_pre_ping=True,
        )
    if backend in ("mysql", "mariadb"):
        engine = sa.create_engine(url, pool_pre_ping=True)

        @sa.event.listens_for(engine, "connect")
        def _read_only(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("SET SESSION TRANSACTION READ ONLY")
            cur.close()

        return engine
    raise SourceError(safe_url(url), f"unsupported database {backend!r}")


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
                self._engine = create_readonly_engine(self.config.url.get_secret_value(), self.base_dir)
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
            raise SourceError(self.name, f"cannot connect: {_short(exc)}") from exc

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
            raise SourceError(self.name, f"{entity}: {_short(exc)}") from exc
        self._columns[entity] = cols
        return cols

    def has(self, entity: str) -> bool:
        return self.available_columns(entity) is not None

    def _select(self, entity: str, fields: Sequence[str], order_key: str | None) -> sa.Select:
        m = self.mapping(entity)
        cols = self.available_columns(entity)
        if cols is None:
            raise SourceError(self.name, f"{entity}: not present in this source")
        lower = {c.lower(): c for c in cols}
        if m.query is not None:
            src: Any = sa.text(m.query).columns(*(sa.column(c) for c in cols)).subquery("q")
        else:
            src = self._table(m)
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
            stmt = stmt.order_by(self._binary_text(sa.column(key_col, _selectable=src)))
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
                # Plain rows zipped with the keys: a RowMapping per row, then a
                # dict of it, cost twice as much (a million cases: seconds).
                keys = tuple(result.keys())
                yield (dict(zip(keys, row, strict=True))
                       for chunk in result.partitions() for row in chunk)
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(self.name, _short(exc)) from exc

    def rows(
        self, entity: str, fields: Sequence[str], order_key: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Stream an entity's rows as dicts of canonical field names."""
        stmt = self._select(entity, fields, order_key)
        with self._stream(stmt) as it:
            try:
                yield from it
            except sa.exc.SQLAlchemyError as exc:
                raise SourceError(self.name, f"{entity}: {_short(exc)}") from exc


def _short(exc: BaseException) -> str:
    """One line of a driver error, without the SQL text or parameters."""
    orig = getattr(exc, "orig", None)
    msg = str(orig if orig is not None else exc).strip().splitlines()
    return msg[0] if msg else type(exc).__name__
