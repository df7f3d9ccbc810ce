"""An entity's rows as batches of columns, in key order, through the fastest path the driver has.

The SELECT is the one :class:`sunlight.monitor.sources.Source` builds (the
site's table or query and column renames, the ORDER BY on the key as text in
byte order), compiled by SQLAlchemy for the source's dialect. Then:

- **PostgreSQL**: the ADBC driver (libpq ``COPY … TO STDOUT (FORMAT binary)``
  straight into Arrow), on its own connection opened from the same URL with
  ``default_transaction_read_only=on``, as the SQLAlchemy engine opens it.
  ADBC and pyarrow are imported there and only there (docs/developing.md):
  a SQLite or MariaDB source never loads them (~50 MB of a scan's RSS);
- **SQLite, MariaDB/MySQL (PyMySQL, mysqlclient)**: the statement runs on the
  DBAPI cursor of the source's own read-only SQLAlchemy connection
  (``create_readonly_engine``'s session settings, SQLAlchemy's
  ``do_execute``; an unbuffered cursor on MySQL, as ``stream_results``), and
  the driver's tuples become columns in one polars call: no ``Row`` per row,
  no transposition in Python. ADBC's SQLite driver was tried and refuses a
  column whose values change type between rows ("Type mismatch in column 0:
  expected INT64 but got DOUBLE"), which SQLite allows and the record path reads;
- anything else (another driver, PostgreSQL when ADBC cannot connect): the
  rows of SQLAlchemy's result, turned into columns the same way.

The record path reads the same statement through SQLAlchemy's result, which
applies the result processors of the statement's column types to the
driver's values. ``Source._select`` selects untyped columns (``sa.column``),
which have none: the driver's values *are* the record path's values. Should a
column carry a type with a processor, SQLAlchemy's own processor is applied to
every value of that column before the columns are built (``_Processors``), so
the columns and :meth:`Batch.rows` still hold what the record path receives.

Every batch keeps a way back to the very values the record path would have
received for a row (:meth:`Batch.rows`), so the rows the columnar evaluation
hands over are read by the record path as if it had fetched them itself.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate
from operator import itemgetter
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import polars as pl
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Dialect, make_url

from sunlight.monitor.collection import collection_paused
from sunlight.monitor.sources import Source, SourceError

if TYPE_CHECKING:
    import pyarrow as pa

log = structlog.get_logger("sunlight.columnar")

#: rows per batch: big enough that polars' per-call cost vanishes, small enough
#: that a batch of cases with their evidence stays a few MB
BATCH_ROWS = 5_000
BATCH_BYTES = 1 << 20
KEY = "_key"
#: the drivers whose own cursor is read (the others through SQLAlchemy's rows)
RAW_DRIVERS = frozenset({"pysqlite", "pymysql", "mysqldb"})
_NONE = type(None)


@dataclass
class Batch:
    """Some rows of one entity: ``frame`` (canonical names, plus ``_key`` as text) and the raw rows."""

    frame: pl.DataFrame
    rows: Callable[[Sequence[int]], list[dict[str, Any]]]
    #: one column's raw values at some positions (None: taken from ``rows``)
    column: Callable[[str, Sequence[int]], list[Any]] | None = None

    def values(self, name: str, idx: Sequence[int]) -> list[Any]:
        """The values of column ``name`` the record path would receive for rows ``idx``."""
        if self.column is not None:
            return self.column(name, idx)
        return [r[name] for r in self.rows(idx)]


def _key_series(values: Sequence[Any]) -> pl.Series:
    # the record path merges on str(raw key): the same text here
    return pl.Series(KEY, [k if type(k) is str else (None if k is None else str(k)) for k in values],
                     dtype=pl.String)


def _text(name: str, values: Sequence[Any]) -> pl.Series:
    """str() of each value, as the record path's parsers read a value of an unexpected type."""
    return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)


def _series(name: str, values: list[Any]) -> pl.Series:
    """One column, each value what the record path parses.

    polars' constructor is exact for a column of one Python type, with three
    exceptions it does not report even with ``strict=True``: a Decimal it cannot
    fit in its common scale becomes null (and ``Decimal('NaN')`` panics), naive
    and aware datetimes lose their zones, and a column of mixed types is coerced
    (``1e+16`` printed as ``1e16``, ints made floats). Those columns are the text
    of each value instead, which is what ``records.base`` reads of a value of an
    unexpected type (``str(v)``), and the column parsers read text exactly.
    """
    kinds = set(map(type, values))
    kinds.discard(_NONE)
    if len(kinds) > 1 or Decimal in kinds or (
            dt.datetime in kinds and any(v.tzinfo is not None for v in values if v is not None)):
        return _text(name, values)
    try:
        return pl.Series(name, values, strict=True)
    except (Exception, pl.exceptions.PanicException):  # a value polars cannot hold: its text
        return _text(name, values)


def _values(keys: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """The rows' values column by column.

    Each column is taken out of the tuples by ``map(itemgetter(i), rows)``, in C
    (three times faster than ``zip(*rows)``; ``pl.DataFrame(rows, orient="row")``
    is no faster than ``zip`` and coerces mixed columns silently: bench/README.md).
    """
    return [list(map(itemgetter(i), rows)) for i in range(len(keys))]


def _columns(keys: tuple[str, ...], key_at: int, rows: Sequence[Sequence[Any]]) -> pl.DataFrame:
    """The rows as columns (canonical names and ``_key``, the key as text)."""
    return _frame_of(keys, key_at, _values(keys, rows))


def _frame_of(keys: tuple[str, ...], key_at: int, columns: list[list[Any]]) -> pl.DataFrame:
    """The values of :func:`_values` as a frame (canonical names and ``_key``, the key as text)."""
    series = [_series(k, c) for k, c in zip(keys, columns, strict=True)]
    key = series[key_at]
    if key.dtype == pl.String or key.dtype.is_integer():  # polars prints integers as str() does
        key = key.cast(pl.String).alias(KEY)
    else:
        key = _key_series(columns[key_at])
    return pl.DataFrame([*series, key])


#: column types whose values polars gives back exactly as the driver gave them (to_list)
_EXACT = {str: pl.String, int: pl.Int64, float: pl.Float64}


def _exact(values: list[Any], series: pl.Series) -> bool:
    kinds = set(map(type, values))
    kinds.discard(_NONE)
    if not kinds:
        return series.dtype == pl.Null or series.null_count() == series.len()
    return len(kinds) == 1 and series.dtype == _EXACT.get(next(iter(kinds)))


def _rows_to_batch(keys: tuple[str, ...], key_at: int, rows: Sequence[Sequence[Any]]) -> Batch:
    columns = _values(keys, rows)
    frame = _frame_of(keys, key_at, columns)
    exact = all(_exact(c, frame.get_column(k)) for k, c in zip(keys, columns, strict=True))
    if exact:
        plain = frame.select(keys)  # the tuples are not kept: polars gives the same values back

        def raw_f(idx: Sequence[int]) -> list[dict[str, Any]]:
            return [dict(zip(keys, r, strict=True)) for r in plain[list(idx)].rows()]

        def column_f(name: str, idx: Sequence[int]) -> list[Any]:
            return plain.get_column(name).gather(list(idx)).to_list()

        return Batch(frame, raw_f, column_f)

    def raw(idx: Sequence[int]) -> list[dict[str, Any]]:
        return [dict(zip(keys, rows[i], strict=True)) for i in idx]

    def column(name: str, idx: Sequence[int]) -> list[Any]:
        at = keys.index(name)
        return [rows[i][at] for i in idx]

    return Batch(frame, raw, column)


def _joined(keys: tuple[str, ...], key_at: int, parts: list[Batch]) -> Batch:
    """Sub-batches as one batch: the frames concatenated, ``rows``/``column`` by each part's offset.

    Parts whose columns differ in type (ints in one, floats or text in another) are
    rebuilt as one from their raw values: the batch's columns are then what
    :func:`_columns` makes of all its rows (a mixed column is text), never a cast.
    """
    if len(parts) == 1:
        return parts[0]
    for name in keys:
        kinds = {p.frame.schema[name] for p in parts} - {pl.Null}
        if len(kinds) > 1:
            rows = [tuple(r[k] for k in keys) for p in parts
                    for r in p.rows(range(p.frame.height))]
            return _rows_to_batch(keys, key_at, rows)
    starts = [0, *accumulate(p.frame.height for p in parts[:-1])]
    frame = pl.concat([p.frame for p in parts], how="vertical_relaxed")

    def split(idx: Sequence[int]) -> Iterator[tuple[Batch, list[int]]]:
        cur, local = -1, []  # type: int, list[int]
        for i in idx:
            at = bisect.bisect_right(starts, i) - 1
            if at != cur:
                if local:
                    yield parts[cur], local
                cur, local = at, []
            local.append(i - starts[at])
        if local:
            yield parts[cur], local

    def raw(idx: Sequence[int]) -> list[dict[str, Any]]:
        return [r for p, loc in split(idx) for r in p.rows(loc)]

    def column(name: str, idx: Sequence[int]) -> list[Any]:
        return [v for p, loc in split(idx) for v in p.values(name, loc)]

    return Batch(frame, raw, column)


def _compiled(src: Source, stmt: sa.Select) -> str:
    return str(stmt.compile(dialect=src.engine.dialect, compile_kwargs={"literal_binds": True}))


class _Processors:
    """SQLAlchemy's result processors of the statement's columns, for the driver's description.

    What its ``CursorResult`` applies (``DefaultExecutionContext.get_result_processor``:
    the type's dialect implementation's ``result_processor(dialect, coltype)``).
    ``Source._select`` selects untyped columns, which have none: then ``__call__``
    gives the driver's rows back as they are.
    """

    def __init__(self, stmt: sa.Select, dialect: Dialect, description: Sequence[Sequence[Any]]
                 ) -> None:
        columns = list(stmt.selected_columns)
        if len(columns) != len(description):  # a bug: the source fails rather than misread
            raise RuntimeError(f"{len(columns)} columns selected, the driver describes "
                               f"{len(description)}")
        self.each = [c.type.dialect_impl(dialect).result_processor(dialect, d[1])
                     for c, d in zip(columns, description, strict=True)]
        self.any = any(p is not None for p in self.each)

    def __call__(self, rows: list[Any]) -> list[Any]:
        if not self.any:
            return rows
        each = self.each
        return [tuple(v if p is None else p(v) for p, v in zip(each, r, strict=True)) for r in rows]


def _cursor(conn: Connection, dialect: Dialect) -> Any:
    """A DBAPI cursor of the connection: unbuffered on MySQL, as SQLAlchemy's ``stream_results``."""
    raw = conn.connection  # the pooled DBAPI connection, read-only as create_readonly_engine made it
    if dialect.name in ("mysql", "mariadb"):
        # a buffered cursor would hold the whole table in memory before the first row
        return raw.cursor(dialect.loaded_dbapi.cursors.SSCursor)
    return raw.cursor()


def _driver_batches(src: Source, stmt: sa.Select, key_field: str) -> Iterator[Batch]:
    """Rows from the DBAPI cursor of the source's read-only connection, as column batches."""
    dialect = src.engine.dialect
    sql = _compiled(src, stmt)
    keys = tuple(stmt.selected_columns.keys())
    key_at = keys.index(key_field)
    chunk = src.config.chunk_size
    errors = (sa.exc.SQLAlchemyError, dialect.loaded_dbapi.Error)
    try:
        with src.engine.connect() as conn:
            cursor = _cursor(conn, dialect)
            try:
                # SQLAlchemy's own call, with the empty parameters it passes (a format-style
                # driver then reads the compiler's "%%" as "%")
                dialect.do_execute(cursor, sql, () if dialect.positional else {}, None)
                process = _Processors(stmt, dialect, cursor.description)
                pending: list[Batch] = []
                count = 0
                done = False
                while not done:
                    with collection_paused():
                        part = cursor.fetchmany(BATCH_ROWS)
                        done = not part
                        if part:
                            pending.append(_rows_to_batch(keys, key_at, process(part)))
                            count += len(part)
                        ready = count >= chunk or (done and bool(pending))
                        batch = _joined(keys, key_at, pending) if ready else None
                    if batch is not None:
                        pending, count = [], 0
                        yield batch
            finally:  # also when the scan stops early (the generator is closed)
                cursor.close()
    except errors as exc:
        raise SourceError(src.name, src._why(exc)) from exc  # the record path's message


def _row_batches(src: Source, stmt: sa.Select, key_field: str) -> Iterator[Batch]:
    """Rows from the source's read-only SQLAlchemy connection, gathered into column batches."""
    chunk = src.config.chunk_size
    try:
        with src.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk).execute(stmt)
            keys = tuple(result.keys())
            key_at = keys.index(key_field)
            pending: list[Any] = []
            for part in result.partitions():
                pending.extend(part)
                if len(pending) >= BATCH_ROWS:
                    yield _rows_to_batch(keys, key_at, pending)
                    pending = []
            if pending:
                yield _rows_to_batch(keys, key_at, pending)
    except sa.exc.SQLAlchemyError as exc:
        raise SourceError(src.name, src._why(exc)) from exc  # the record path's message


# --- PostgreSQL through ADBC -------------------------------------------------------


def _adbc_uri(src: Source) -> str:
    """The libpq URI of the source: read-only, with the source's connect and statement limits.

    The same settings :func:`sunlight.monitor.sources.create_readonly_engine`
    gives the SQLAlchemy connections. One difference: the read is one ``COPY``
    statement, so ``statement_timeout`` bounds the whole read of an entity
    (its fetch and the evaluation of its batches), not one fetch of it.
    """
    url = make_url(src.config.url.get_secret_value())
    statement_ms = int(src.config.statement_timeout.total_seconds() * 1000)
    options = " ".join(filter(None, [url.query.get("options"),  # type: ignore[list-item]
                                     "-c default_transaction_read_only=on",
                                     f"-c statement_timeout={statement_ms}"]))
    query = {k: v for k, v in url.query.items() if k not in ("options", "connect_timeout")}
    # libpq takes whole seconds (and treats 1 as 2), as in create_readonly_engine
    connect = max(2, math.ceil(src.config.connect_timeout.total_seconds()))
    url = url.set(drivername="postgresql", query={})
    # libpq decodes %20 in a URI, not SQLAlchemy's "+"
    params = "&".join(f"{quote(k)}={quote(str(v))}" for k, v in
                      {**query, "connect_timeout": connect, "options": options}.items())
    return f"{url.render_as_string(hide_password=False)}?{params}"


def _plain(table: pa.Table) -> tuple[pa.Table, list[str], list[str]]:
    """Extension (opaque) columns as their storage; which are NUMERIC and which aware timestamps."""
    import pyarrow as pa  # the PostgreSQL path only (module docstring)

    numeric, aware, cols = [], [], []
    for field, col in zip(table.schema, table.columns, strict=True):
        meta = field.metadata or {}
        typ = meta.get(b"POSTGRESQL:type", b"").decode()
        if isinstance(field.type, pa.BaseExtensionType):
            col = pa.chunked_array([c.storage for c in col.chunks], type=field.type.storage_type)
        if typ == "numeric":
            numeric.append(field.name)
        if pa.types.is_timestamp(col.type) and col.type.tz is not None:
            aware.append(field.name)
        cols.append(col)
    return pa.table(cols, names=table.column_names), numeric, aware


def _adbc_batches(src: Source, sql: str, key_field: str) -> Iterator[Batch]:
    # imported here, not at the top: only a PostgreSQL source needs them (module docstring)
    import adbc_driver_postgresql.dbapi as adbc_pg
    import pyarrow as pa

    try:
        conn = adbc_pg.connect(_adbc_uri(src))
    except Exception as exc:
        if _timed_out(str(exc)):  # the server is down: not worth a second wait through SQLAlchemy
            raise SourceError(src.name, f"cannot connect: {_first_line(exc)}{_limits(src)}") from exc
        raise _NoAdbc(str(exc)) from exc
    cur = conn.cursor()
    try:
        cur.execute("SELECT current_setting('TimeZone')")
        session_tz = ZoneInfo(cur.fetchone()[0])  # what psycopg hands the record path
        # batches of a few MB, not the driver's default (~100k rows): memory is one batch per stream
        cur.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_BYTES)})
        cur.execute(sql)
        reader = cur.fetch_record_batch()
        pending: list[pa.RecordBatch] = []
        count = 0
        for rb in reader:
            pending.append(rb)
            count += rb.num_rows
            if count >= BATCH_ROWS:
                yield _arrow_to_batch(pa.Table.from_batches(pending), key_field, session_tz)
                pending, count = [], 0
        if pending:
            yield _arrow_to_batch(pa.Table.from_batches(pending), key_field, session_tz)
    except Exception as exc:
        line = _first_line(exc)
        raise SourceError(src.name, line + (_limits(src) if _timed_out(line) else "")) from exc
    finally:  # also when the scan stops early (the generator is closed): statement first
        cur.close()
        conn.close()


def _arrow_to_batch(table: pa.Table, key_field: str, session_tz: dt.tzinfo) -> Batch:
    table, numeric, aware = _plain(table)
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    key = frame.get_column(key_field)
    key = (key.cast(pl.String) if key.dtype == pl.String or key.dtype.is_integer()
           else _key_series(key.to_list()))
    frame = frame.with_columns(key.alias(KEY))

    names = table.column_names
    plain = frame.select(names)

    def raw(idx: Sequence[int]) -> list[dict[str, Any]]:
        # polars' rows() is several times faster than pyarrow's to_pylist(), with the same values
        rows = [dict(zip(names, r, strict=True)) for r in plain[list(idx)].rows()]
        for r in rows:
            for c in numeric:
                if r[c] is not None:
                    r[c] = Decimal(r[c])
            for c in aware:
                if r[c] is not None:
                    r[c] = r[c].astimezone(session_tz)
        return rows

    def column(name: str, idx: Sequence[int]) -> list[Any]:
        values = plain.get_column(name).gather(list(idx)).to_list()
        if name in numeric:
            return [None if v is None else Decimal(v) for v in values]
        if name in aware:
            return [None if v is None else v.astimezone(session_tz) for v in values]
        return values

    return Batch(frame, raw, column)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _timed_out(message: str) -> bool:
    low = message.lower()
    return "timeout" in low or "timed out" in low or "canceling statement" in low


def _limits(src: Source) -> str:
    """The configured limits, as the record path's messages name them (Source._why)."""
    return (f" (connect_timeout {src.config.connect_timeout.total_seconds():g}s, "
            f"statement_timeout {src.config.statement_timeout.total_seconds():g}s)")


class _NoAdbc(Exception):
    """ADBC could not connect: the rows come through SQLAlchemy instead."""


def batches(src: Source, entity: str, fields: Sequence[str], key_field: str,
            rows: int | None = None) -> Iterator[Batch]:
    """The entity's rows in batches, ordered by ``key_field`` as the record path orders them.

    ``rows``: batches of at least that many rows (the driver's joined, the last one
    excepted), whatever the driver's own size.
    """
    if rows is None:
        yield from _batches(src, entity, fields, key_field)
        return
    stmt = src._select(entity, fields, key_field)
    keys = tuple(stmt.selected_columns.keys())
    key_at = keys.index(key_field)
    pending: list[Batch] = []
    count = 0
    for batch in _batches(src, entity, fields, key_field):
        pending.append(batch)
        count += batch.frame.height
        if count >= rows:
            yield _joined(keys, key_at, pending)
            pending, count = [], 0
    if pending:
        yield _joined(keys, key_at, pending)


def _batches(src: Source, entity: str, fields: Sequence[str], key_field: str) -> Iterator[Batch]:
    stmt = src._select(entity, fields, key_field)
    if src.dialect == "postgresql":
        try:
            yield from _adbc_batches(src, _compiled(src, stmt), key_field)
            return
        except _NoAdbc as exc:
            log.warning("ADBC cannot connect; reading rows through SQLAlchemy", source=src.name,
                        error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if src.engine.dialect.driver in RAW_DRIVERS:
        yield from _driver_batches(src, stmt, key_field)
    else:
        yield from _row_batches(src, stmt, key_field)
