"""Recording a batch of findings set-based: the unchanged ones marked seen, the rest written.

Most findings a scan records are findings the store already holds exactly as
they are: a daemon's every cycle sees again every finding that still stands.
Writing each of them whole again (cleaning its text, encoding its evidence,
binding a row's worth of values, rewriting eleven indexes) cost 100-150 µs a
finding (``bench/bench_record.py``). A batch here

1. hashes each finding (:func:`content_hash`: every column the upsert writes,
   the evidence without its ``as_of``), which the recorder does as it takes it;
2. marks *seen*, in one statement per batch, the findings whose stored hash
   is that hash (:meth:`Writer.seen`), by the rules of the upsert
   (``findings._upsert_set``, :func:`seen_set`): ``last_run`` moves forward,
   ``last_seen`` and ``evidence.as_of`` become the sighting's when the run is
   at least as new as the one that wrote them, and a resolved finding
   re-opens when the run is newer than the one that resolved it;
3. writes the others whole with the same upsert as before, in bulk
   (:meth:`Writer.write`): on PostgreSQL a COPY into a temporary table and one
   ``INSERT … SELECT … ON CONFLICT``, on SQLite the driver's executemany of
   values bound once by the columns' own types.

The stored hash is compared under the same lock as the update (PostgreSQL:
in the UPDATE's own WHERE clause; SQLite: read after ``BEGIN IMMEDIATE``), so a
row another process changed meanwhile is not marked seen but written whole.
What the store holds afterwards is what writing every finding whole would
have left (``tests/test_recording.py`` compares both, row by row).
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa
import xxhash
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from sunlight.monitor.clock import LimitUnit
from sunlight.monitor.finding import Finding
from sunlight.monitor.store.models import FindingRow, UTCDateTime
from sunlight.monitor.textsafe import EVIDENCE_TEXT_MAX, cap, safe_json, strip_controls

#: column widths (migration 0008_wide_text)
SUBJECT_MAX, KEY_COLUMN_MAX = 1000, 255
#: bump when what :func:`content_hash` covers, how it hashes, or how :func:`values` cleans a
#: finding changes: every stored hash then differs, and the next scan writes each finding whole
#: once (``tests/test_recording.py``). 1: BLAKE2b-128 of the evidence with ``as_of`` null;
#: 2: XXH3-128 of it with ``as_of`` as :data:`MASK`
RECIPE = "sunlight-finding-2"
#: the columns a finding's row is written with, in this order (``id`` is the store's)
COLUMNS = ("fingerprint", "check_id", "subject", "unit_id", "item_code", "source", "tier", "summary",
           "deadline", "overdue", "measure", "calendar_uncovered", "evidence", "first_seen",
           "last_seen", "resolved_at", "ended_at", "opened_run", "last_run", "resolved_run",
           "record_key", "content_hash")
_EVIDENCE = COLUMNS.index("evidence")
_TIMES = [COLUMNS.index(c) for c in ("deadline", "first_seen", "last_seen", "resolved_at", "ended_at")]
#: fingerprints per IN list (SQLite's default limit on variables is 32,766)
IN_CHUNK = 900
#: what a finding's evidence cannot be turned into JSON for: it goes the row-by-row way
UNENCODABLE = (TypeError, ValueError, OverflowError)


#: what the evidence's top-level ``as_of`` (a string) is replaced by in the JSON a finding waits
#: with and is hashed by: a fixed text, so that the hash is the same in every process; a finding
#: whose evidence holds it anywhere else is never marked seen (:func:`pending`)
MASK = "sunlight:as_of"
_MASK_JSON = orjson.dumps(MASK)
#: orjson refuses what ``json.dumps`` refuses (a datetime, a dataclass) in evidence
_ORJSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class Pending(NamedTuple):
    """A finding as the recorder keeps it until its batch is written: atomic values only.

    A tuple of strings, numbers and times is not tracked by Python's cyclic
    garbage collector; a buffer of findings with their evidence dicts was
    (2,000 findings of ~50 values each), and the collections it caused cost a
    scan more than the writing (``bench/README.md``). The evidence is kept as
    orjson's bytes, ``as_of`` masked (:data:`MASK`) when it is given apart: the
    bytes it was hashed by. The text is made only for a finding written whole
    (:meth:`evidence_json`; cleaned then: :func:`stored_evidence`), not for the
    many only marked seen.
    """

    fingerprint: str
    digest: str | None  # None: never marked seen, always written whole
    as_of: str | None  # the evidence's own ``as_of`` (a string), which a sighting moves
    masked: bytes | None  # the evidence's JSON, ``as_of`` masked; None: orjson cannot encode it
    check: str
    subject: str
    unit_id: str
    item_code: str | None
    source: str
    tier: str
    summary: str
    deadline: dt.datetime | None
    overdue: Decimal | int | None
    measure: LimitUnit | None
    calendar_uncovered: bool
    ended_at: dt.datetime | None
    record_key: str | None
    original: Finding | None = None  # only when ``masked`` is None: the row-by-row path's

    def evidence_json(self) -> str | None:
        """orjson's text of the evidence as the finding held it (None: orjson cannot encode it)."""
        if self.masked is None:
            return None
        if self.as_of is None:
            return self.masked.decode()
        return self.masked.replace(_MASK_JSON, orjson.dumps(self.as_of), 1).decode()

    def loaded_evidence(self) -> Any:
        """The evidence as values again (for the row-by-row path and ``on_reject``)."""
        if self.original is not None:
            return self.original.evidence
        return orjson.loads(self.evidence_json() or "{}")

    def as_finding(self) -> Finding:
        if self.original is not None:
            return self.original
        return Finding(check=self.check, subject=self.subject, unit_id=self.unit_id,
                       tier=self.tier, summary=self.summary,  # type: ignore[arg-type]
                       deadline=self.deadline, overdue=self.overdue, measure=self.measure,
                       calendar_uncovered=self.calendar_uncovered, item_code=self.item_code,
                       evidence=self.loaded_evidence(), source=self.source, ended_at=self.ended_at,
                       record_key=self.record_key)


def pending(f: Finding) -> Pending:
    """``f`` as the recorder keeps it, with its content hash.

    The hash covers every column the upsert writes, each as the finding holds
    it before cleaning (cleaning is a function of it, and :data:`RECIPE` names
    its version). The evidence's top-level ``as_of`` (when it is a string) is
    masked in place (:data:`MASK`), keeping its key's position: a finding that
    differs only in it is the same finding seen at another time. The evidence
    is encoded once: the hash is taken over the masked bytes themselves, which
    are what the finding waits with. Values orjson cannot encode exactly (a
    non-string key, an integer beyond 64 bits, a type JSON does not have) give
    no hash: such a finding is always written whole, row by row.

    The hash is XXH3's 128 bits (``xxhash``): it only tells a change from none,
    between what one store wrote and what a scan saw (no secret, nothing
    anyone signs); BLAKE2 over the same ~1 KB took 1.7 µs a finding, XXH3 0.1.
    """
    ev = f.evidence
    as_of = ev.get("as_of") if type(ev) is dict else None
    if type(as_of) is not str:
        as_of = None
    overdue = f.overdue
    fields = (f.check, f.subject, f.unit_id, f.item_code, f.source, f.tier, f.summary,
              f.deadline, overdue, f.measure, f.calendar_uncovered, f.ended_at, f.record_key)
    try:
        if as_of is None:
            masked = orjson.dumps(ev, option=_ORJSON)
        else:
            masked = orjson.dumps({**ev, "as_of": MASK}, option=_ORJSON)
            if masked.count(_MASK_JSON) != 1:  # the mask's text is in the evidence itself
                return Pending(f.fingerprint, None, None, orjson.dumps(ev, option=_ORJSON), *fields)
        head = orjson.dumps(
            (RECIPE, f.check, f.subject, f.unit_id, f.item_code, f.source, f.tier, f.summary,
             f.deadline, None if overdue is None else str(overdue), f.measure,
             f.calendar_uncovered, f.ended_at, f.record_key, as_of is not None),
            option=orjson.OPT_PASSTHROUGH_DATACLASS)
    except UNENCODABLE:
        return Pending(f.fingerprint, None, None, None, *fields, original=f)
    h = xxhash.xxh3_128(head)
    h.update(b"\x1e")
    h.update(masked)
    return Pending(f.fingerprint, h.hexdigest(), as_of, masked, *fields)


def content_hash(f: Finding) -> tuple[str | None, str | None]:
    """The hash of what the store keeps of ``f`` but ``evidence.as_of``, and that ``as_of``."""
    p = pending(f)
    return p.digest, p.as_of


def _clean(s: str, limit: int) -> str:
    if not s.isprintable():
        s = strip_controls(s)[0]
    return cap(s, limit)


def values(f: Finding | Pending, run_id: int, seen_at: dt.datetime, digest: str | None,
           evidence: Any) -> dict[str, Any]:
    """A finding's row as the store keeps it: every value made storable (``textsafe``).

    ``evidence``: what the row holds as evidence, already cleaned
    (``safe_json`` of it for SQLAlchemy's JSON type, or :func:`stored_evidence`'s text).
    """
    return {
        "fingerprint": f.fingerprint, "check_id": f.check,
        "subject": _clean(f.subject, SUBJECT_MAX),
        "unit_id": _clean(f.unit_id or "", KEY_COLUMN_MAX),
        "item_code": None if f.item_code is None else _clean(f.item_code, KEY_COLUMN_MAX),
        "source": f.source, "tier": f.tier,
        "summary": strip_controls(f.summary)[0] if not f.summary.isprintable() else f.summary,
        "deadline": f.deadline,
        "overdue": None if f.overdue is None else Decimal(f.overdue),
        "measure": f.measure.value if f.measure else None,
        "calendar_uncovered": f.calendar_uncovered,
        "evidence": evidence, "ended_at": f.ended_at,
        "first_seen": seen_at, "last_seen": seen_at, "resolved_at": None,
        "opened_run": run_id, "last_run": run_id, "resolved_run": None,
        "record_key": None if f.record_key is None else _clean(f.record_key, KEY_COLUMN_MAX),
        "content_hash": digest,
    }


#: a JSON string longer than any limit of ``safe_json`` (keys 200, values 4,000), in a text
#: without a backslash (where every quote delimits a string)
_LONG_STRING = re.compile(r'"[^"]{201,}"')


def stored_evidence(text: str) -> str:
    """The stored JSON of a finding's evidence (orjson's ``text`` of it): that of ``safe_json``.

    ``text`` itself when cleaning could change nothing: a text without a
    backslash has no string holding a quote, a backslash or a C0 control
    (orjson escapes those), a printable text has no other non-printable
    character, and no string longer than 200 characters is within every cap.
    Otherwise cleaned (``safe_json`` walks the values, ~0.4 µs each, twenty
    times what this look costs).
    """
    if "\\" not in text and text.isprintable() and _LONG_STRING.search(text) is None:
        return text
    return orjson.dumps(safe_json(orjson.loads(text), EVIDENCE_TEXT_MAX), option=_ORJSON).decode()


def evidence_text(evidence: Any) -> str:
    """orjson's text of ``safe_json(evidence)`` by way of :func:`stored_evidence` (what the
    set-based path stores); raises one of :data:`UNENCODABLE` if even the cleaned value is
    not JSON. (The recorder sends evidence orjson refuses as it is, such as a non-string
    key, the row-by-row way instead: :func:`pending`.)"""
    try:
        text = orjson.dumps(evidence, option=_ORJSON).decode()
    except UNENCODABLE:
        return orjson.dumps(safe_json(evidence, EVIDENCE_TEXT_MAX), option=_ORJSON).decode()
    return stored_evidence(text)


def _chunks(items: Sequence[Any], n: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def seen_set(run: int, seen: str, evidence: str, row: str = "", reopen: bool = True) -> str:
    """The SET clause of a sighting of an unchanged finding: ``findings._upsert_set`` for a
    row whose facts are the sighting's but for ``evidence.as_of`` (``evidence``: the patched
    value) and ``last_seen`` (``seen``). ``row``: the table's alias with its dot.

    In an UPDATE every right-hand side reads the row as it was, as in ``ON CONFLICT``.
    """
    run = int(run)
    newer = f"{run} >= {row}last_run"
    parts = [f"last_seen = CASE WHEN {newer} THEN {seen} ELSE {row}last_seen END",
             f"evidence = CASE WHEN {newer} THEN {evidence} ELSE {row}evidence END",
             f"last_run = CASE WHEN {run} > {row}last_run THEN {run} ELSE {row}last_run END"]
    if reopen:
        again = f"{row}resolved_at IS NOT NULL AND {run} > COALESCE({row}resolved_run, 0)"
        parts += [f"resolved_at = CASE WHEN {again} THEN NULL ELSE {row}resolved_at END",
                  f"resolved_run = CASE WHEN {again} THEN NULL ELSE {row}resolved_run END",
                  f"opened_run = CASE WHEN {again} THEN {run} ELSE {row}opened_run END"]
    return ", ".join(parts)


class Writer:
    """The set-based statements of one run on one store (one per dialect)."""

    def __init__(self, engine: Engine, run_id: int, seen_at: dt.datetime) -> None:
        self.engine, self.run_id, self.seen_at = engine, run_id, seen_at

    def seen(self, conn: sa.Connection, batch: Sequence[Pending]) -> set[str]:
        """Mark seen the findings of ``batch`` stored with the same hash; their fingerprints."""
        raise NotImplementedError

    def prepare(self, row: dict[str, Any]) -> Sequence[Any]:
        """A row of :func:`values` as :meth:`write` binds it, in :data:`COLUMNS` order; raises
        one of :data:`UNENCODABLE` for a value only the row-by-row path can judge."""
        raise NotImplementedError

    def write(self, conn: sa.Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Upsert whole rows (:meth:`prepare`)."""
        raise NotImplementedError


def _upsert_sql(engine: Engine, ins: Any, set_: dict[str, Any]) -> sa.sql.compiler.SQLCompiler:
    table = FindingRow.__table__
    stmt = ins.on_conflict_do_update(index_elements=[table.c.fingerprint], set_=set_)
    compiled = stmt.compile(dialect=engine.dialect, column_keys=list(COLUMNS))
    assert isinstance(compiled, sa.sql.compiler.SQLCompiler)
    return compiled


class SqliteWriter(Writer):
    """SQLite: the store is in this process, so a statement per row costs no round trip; what
    costs is SQLAlchemy's work per row, which this does once (the columns' bind processors)."""

    def __init__(self, engine: Engine, run_id: int, seen_at: dt.datetime,
                 upsert_set: Callable[[Any], dict[str, Any]]) -> None:
        super().__init__(engine, run_id, seen_at)
        dialect = engine.dialect
        table = FindingRow.__table__
        set_ = upsert_set(sqlite.insert(FindingRow))
        compiled = _upsert_sql(engine, sqlite.insert(FindingRow), set_)
        self._upsert = compiled.string
        _check_binds(compiled)
        # a known finding whose indexed values stay as stored: the same upsert without the SET of
        # those columns (SQLite rewrites an index's entry whenever a column of it is SET, to the
        # same value or not: ~70 of the ~95 µs of a changed finding's upsert, bench/README.md)
        indexed = _indexed_columns(engine)
        self._kept = [c for c in set_ if c in indexed]
        self._kept_at = [COLUMNS.index(c) for c in self._kept]
        lean = _upsert_sql(engine, sqlite.insert(FindingRow),
                           {c: v for c, v in set_.items() if c not in indexed})
        _check_binds(lean)
        self._lean = lean.string
        # evidence is bound as its JSON text already; every other column by its own type
        procs = {c: table.c[c].type.dialect_impl(dialect).bind_processor(dialect)
                 for c in COLUMNS if c != "evidence"}
        self._procs = [(i, p) for i, c in enumerate(COLUMNS) if (p := procs.get(c)) is not None]
        when = table.c.last_seen.type.dialect_impl(dialect).bind_processor(dialect)
        self._seen_value = when(seen_at) if when is not None else seen_at
        self._run = int(run_id)
        self._json = _sqlite_has_json(engine)
        self._returning = sqlite3.sqlite_version_info >= (3, 35)  # UPDATE … FROM: 3.33
        # the open ones and the resolved ones apart: only a statement that sets resolved_at
        # makes SQLite rewrite the four indexes holding it, and a resolved one seen again is
        # rare; "+": not by resolved_at's index (the planner would read every open finding)
        patch = ("CASE WHEN s.as_of IS NULL THEN findings.evidence "
                 "ELSE json_replace(findings.evidence, '$.as_of', s.as_of) END")
        self._seen_sql = [
            f"UPDATE findings SET {seen_set(self._run, '?', patch, 'findings.', reopen=resolved)} "
            "FROM temp.sunlight_seen AS s WHERE findings.fingerprint = s.fingerprint "
            f"AND findings.content_hash = s.content_hash AND +findings.resolved_at {test} "
            "RETURNING findings.fingerprint"
            for resolved, test in ((False, "IS NULL"), (True, "IS NOT NULL"))]

    def seen(self, conn: sa.Connection, batch: Sequence[Pending]) -> set[str]:
        """The batch's hashes put in a temporary table, then one ``UPDATE … FROM`` it for the open
        findings stored with the same hash and one for the resolved ones, each ``RETURNING``
        what it marked: the hashes are compared by SQLite, no stored row comes to Python.

        The transaction takes SQLite's write lock first (``BEGIN IMMEDIATE``), so that concurrent
        recorders queue before their first statement rather than fail at their first write.
        SQLite before 3.35 (no ``RETURNING``): :meth:`_seen_read` instead.
        """
        hashed = [(p.fingerprint, p.digest, p.as_of) for p in batch if p.digest is not None]
        if not hashed or not self._json:
            return set()
        if not self._returning:
            return self._seen_read(conn, batch)
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        raw = conn.connection.driver_connection
        assert raw is not None
        for sql in (_SQLITE_SEEN, "DELETE FROM temp.sunlight_seen"):
            conn.exec_driver_sql(sql)
        cur = raw.cursor()
        try:
            cur.executemany(_SQLITE_SEEN_ROW, hashed)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise sa.exc.DBAPIError.instance(_SQLITE_SEEN_ROW, None, exc,
                                             conn.dialect.loaded_dbapi.Error) from exc
        finally:
            cur.close()
        hits: set[str] = set()
        for sql in self._seen_sql:
            hits.update(fp for (fp,) in _fetch(conn, sql, (self._seen_value,)))
        return hits

    def _seen_read(self, conn: sa.Connection, batch: Sequence[Pending]) -> set[str]:
        """The stored hashes read, then one UPDATE by fingerprint per ``as_of`` (one, as a rule)."""
        wanted = [p.fingerprint for p in batch if p.digest is not None]
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        stored: dict[str, tuple[str, bool]] = {}
        for part in _chunks(wanted, IN_CHUNK):
            # by the fingerprint alone: with "resolved_at IS NULL" in the WHERE clause SQLite
            # may pick that column's index and read every open finding for each batch
            for fp, digest, resolved in _fetch(
                    conn, "SELECT fingerprint, content_hash, resolved_at FROM findings "
                    f"WHERE fingerprint IN ({', '.join('?' * len(part))})", tuple(part)):
                if digest is not None:
                    stored[fp] = (digest, resolved is not None)
        # open ones and resolved ones apart: only a statement that sets resolved_at makes
        # SQLite rewrite the four indexes holding it, and a resolved one seen again is rare
        groups: dict[tuple[str | None, bool], list[str]] = {}
        for p in batch:
            got = stored.get(p.fingerprint)
            if p.digest is not None and got is not None and got[0] == p.digest:
                groups.setdefault((p.as_of, got[1]), []).append(p.fingerprint)
        marked = 0
        for (as_of, resolved), fps in groups.items():
            patch = "json_replace(evidence, '$.as_of', ?)" if as_of is not None else "evidence"
            assign = seen_set(self._run, "?", patch, reopen=resolved)
            for part in _chunks(fps, IN_CHUNK):
                marked += conn.exec_driver_sql(
                    f"UPDATE findings SET {assign} WHERE fingerprint IN ({', '.join('?' * len(part))})",
                    (self._seen_value, *((as_of,) if as_of is not None else ()), *part)).rowcount
        hits = {fp for fps in groups.values() for fp in fps}
        if marked != len(hits):  # cannot happen under the write lock; if it did, write them whole
            return set()
        return hits

    def prepare(self, row: dict[str, Any]) -> Sequence[Any]:
        out = [row[c] for c in COLUMNS]
        seen_at, seen = self.seen_at, self._seen_value
        for i, p in self._procs:
            v = out[i]
            if v is None:  # (every processor keeps NULL)
                continue
            out[i] = seen if v is seen_at else p(v)  # first_seen, last_seen: bound once
        return tuple(out)

    def write(self, conn: sa.Connection, rows: Sequence[Sequence[Any]]) -> None:
        """The rows of findings stored open with the same indexed values by the lean upsert
        (:meth:`split`), the others by the whole one."""
        lean, whole = self.split(conn, rows)
        if lean:
            conn.exec_driver_sql(self._lean, lean)
        if whole:
            conn.exec_driver_sql(self._upsert, whole)

    def split(self, conn: sa.Connection, rows: Sequence[Sequence[Any]]
              ) -> tuple[list[Sequence[Any]], list[Sequence[Any]]]:
        """``rows`` parted into those whose finding the store holds with every indexed column the
        upsert sets (``unit_id``, ``tier``, ``record_key``, ``resolved_at``) as the row has it,
        and the others (new findings, resolved ones, one moved to another unit).

        For the first the whole upsert would set each of those columns to the value it holds
        (the row's, or the stored one by its CASE: the same; a resolved finding, whose
        ``resolved_at`` the row's NULL differs from, is never among them), so leaving them out
        of the SET changes no value. The stored values are read under the write lock, which
        the transaction takes first if :meth:`seen` has not, so no other writer can change
        them before the upsert.
        """
        if not self._kept_at:
            return [], list(rows)
        raw = conn.connection.driver_connection
        assert raw is not None
        if not raw.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        stored: dict[str, tuple[Any, ...]] = {}
        wanted = ", ".join(self._kept)
        for part in _chunks([r[0] for r in rows], IN_CHUNK):
            for fp, *held in _fetch(conn, f"SELECT fingerprint, {wanted} FROM findings "
                                          f"WHERE fingerprint IN ({', '.join('?' * len(part))})",
                                    tuple(part)):
                stored[fp] = tuple(held)
        lean: list[Sequence[Any]] = []
        whole: list[Sequence[Any]] = []
        at = self._kept_at
        for r in rows:
            held = stored.get(r[0])
            (lean if held is not None and held == tuple(r[i] for i in at) else whole).append(r)
        return lean, whole


def _check_binds(compiled: sa.sql.compiler.SQLCompiler) -> None:
    order = list(compiled.positiontup or ())
    if order != list(COLUMNS):  # a literal bound in the ON CONFLICT clause would shift them
        raise AssertionError(f"upsert binds {order}, expected the columns {COLUMNS}")


def _indexed_columns(engine: Engine) -> set[str]:
    """The columns of ``findings`` that some index of the store holds (the store's own indexes,
    which the migrations made: not only the model's)."""
    with engine.connect() as conn:
        names = [r[1] for r in conn.exec_driver_sql("PRAGMA index_list(findings)")]
        return {r[2] for n in names
                for r in conn.exec_driver_sql(f"PRAGMA index_info({_quoted(n)})") if r[2]}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


#: the batch's hashes, in a temporary table of the connection. No key: with none the planner
#: loops over it and finds each finding by its fingerprint (with one, it read every finding
#: and looked each up in the batch: ~2.5 times the cost); ``tests/test_recording.py`` checks it
_SQLITE_SEEN = ("CREATE TEMPORARY TABLE IF NOT EXISTS sunlight_seen "
                "(fingerprint TEXT, content_hash TEXT, as_of TEXT)")
_SQLITE_SEEN_ROW = "INSERT INTO temp.sunlight_seen VALUES (?, ?, ?)"


def _fetch(conn: sa.Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    """Rows of a query by the driver's own cursor: SQLAlchemy's result rows cost more than the
    query (a fifth of a re-scan's recording); errors are raised as SQLAlchemy raises them."""
    raw = conn.connection.driver_connection
    assert raw is not None
    dbapi = conn.dialect.loaded_dbapi
    cur = raw.cursor()
    try:
        cur.execute(sql, params)
        return cur.fetchall()
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, params, exc, dbapi.Error) from exc
    finally:
        cur.close()


def _sqlite_has_json(engine: Engine) -> bool:
    """SQLite built without its JSON functions cannot move ``evidence.as_of``: no seen path."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT json_replace('{}', '$.a', 1)").scalar()
    except sa.exc.OperationalError:
        return False
    return True


#: the temporary tables of one PostgreSQL session (emptied at each commit)
_PG_SEEN = ("CREATE TEMPORARY TABLE IF NOT EXISTS sunlight_seen (fingerprint text, "
            "content_hash text, as_of text) ON COMMIT DELETE ROWS")
_PG_TYPES = {"deadline": "timestamp", "first_seen": "timestamp", "last_seen": "timestamp",
             "resolved_at": "timestamp", "ended_at": "timestamp", "overdue": "numeric",
             "calendar_uncovered": "boolean", "evidence": "json", "opened_run": "integer",
             "last_run": "integer", "resolved_run": "integer"}
# permissive types (text, numeric): a value the findings table refuses fails in the INSERT,
# through SQLAlchemy, as the refusal of a row (findings.is_row_error), not in the COPY
_PG_STAGE = ("CREATE TEMPORARY TABLE IF NOT EXISTS sunlight_stage ("
             + ", ".join(f"{c} {_PG_TYPES.get(c, 'text')}" for c in COLUMNS)
             + ") ON COMMIT DELETE ROWS")
#: a sighting moves ``evidence.as_of`` keeping the keys in their order (jsonb would sort them,
#: and the console lists the evidence in its order)
_PG_AS_OF = ("COALESCE((SELECT json_object_agg(e.key, CASE WHEN e.key = 'as_of' "
             "THEN to_json(s.as_of) ELSE e.value END ORDER BY e.n) "
             "FROM json_each(f.evidence) WITH ORDINALITY AS e(key, value, n)), f.evidence)")


class PostgresWriter(Writer):
    """PostgreSQL: a round trip per statement, so each step is one statement per batch, fed by COPY."""

    def __init__(self, engine: Engine, run_id: int, seen_at: dt.datetime,
                 upsert_set: Callable[[Any], dict[str, Any]]) -> None:
        super().__init__(engine, run_id, seen_at)
        stage = sa.table("sunlight_stage", *[sa.column(c) for c in COLUMNS], schema="pg_temp")
        ins = postgresql.insert(FindingRow).from_select(
            list(COLUMNS), sa.select(*[stage.c[c] for c in COLUMNS]).order_by(stage.c.fingerprint))
        compiled = _upsert_sql(engine, ins, upsert_set(ins))
        if compiled.params:  # the upsert must be plain SQL: it runs as it is after the COPY
            raise AssertionError(f"upsert binds {sorted(compiled.params)}")
        self._upsert = compiled.string
        self._to_utc = UTCDateTime().process_bind_param
        self._seen = self._to_utc(seen_at, None)
        patch = (f"CASE WHEN s.as_of IS NOT NULL AND (f.evidence ->> 'as_of') IS DISTINCT FROM "
                 f"s.as_of THEN {_PG_AS_OF} ELSE f.evidence END")
        # (no condition on resolved_at: without statistics the planner takes its index for a
        # few rows and reads every open finding; a resolved one re-opens by the rule)
        self._seen_sql = (
            f"UPDATE findings AS f SET {seen_set(run_id, '%(seen)s', patch, 'f.')} "
            "FROM pg_temp.sunlight_seen AS s WHERE f.fingerprint = s.fingerprint "
            "AND f.content_hash = s.content_hash RETURNING f.fingerprint")

    def _copy(self, conn: sa.Connection, ddl: str, table: str, columns: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> None:
        conn.exec_driver_sql(ddl)
        raw = conn.connection.driver_connection
        assert raw is not None
        sql = f"COPY pg_temp.{table} ({', '.join(columns)}) FROM STDIN"
        dbapi = self.engine.dialect.loaded_dbapi
        try:
            with raw.cursor() as cur, cur.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        except dbapi.Error as exc:  # as SQLAlchemy would have raised it (is_row_error, is_transient)
            raise sa.exc.DBAPIError.instance(sql, None, exc, dbapi.Error) from exc

    def seen(self, conn: sa.Connection, batch: Sequence[Pending]) -> set[str]:
        hashed = [(p.fingerprint, p.digest, p.as_of) for p in batch if p.digest is not None]
        if not hashed:
            return set()
        self._copy(conn, _PG_SEEN, "sunlight_seen", ("fingerprint", "content_hash", "as_of"), hashed)
        # a nested loop over the batch, each row found by its fingerprint: the planner, with
        # no statistics of the temporary table and old ones of findings (a store just filled,
        # not analyzed yet), chose a hash join reading every open finding, ~1 ms a row (for the
        # rest of this transaction only: the upsert that follows joins nothing)
        conn.exec_driver_sql("SELECT set_config('enable_hashjoin', 'off', true), "
                             "set_config('enable_mergejoin', 'off', true)")
        return set(conn.exec_driver_sql(self._seen_sql, {"seen": self._seen})
                   .scalars())

    def prepare(self, row: dict[str, Any]) -> Sequence[Any]:
        out = [row[c] for c in COLUMNS]
        to_utc, seen_at, seen = self._to_utc, self.seen_at, self._seen
        for i in _TIMES:
            v = out[i]
            if v is not None:
                out[i] = seen if v is seen_at else to_utc(v, None)
        return out

    def write(self, conn: sa.Connection, rows: Sequence[Sequence[Any]]) -> None:
        self._copy(conn, _PG_STAGE, "sunlight_stage", COLUMNS, rows)
        conn.exec_driver_sql(self._upsert)


def writer_for(engine: Engine, run_id: int, seen_at: dt.datetime,
               upsert_set: Callable[[Any], dict[str, Any]]) -> Writer | None:
    """The set-based writer of the store's dialect; None: write row by row through SQLAlchemy."""
    name = engine.dialect.name
    if name == "postgresql" and engine.dialect.driver == "psycopg":  # COPY is psycopg 3's
        return PostgresWriter(engine, run_id, seen_at, upsert_set)
    if name == "sqlite" and engine.dialect.driver == "pysqlite":
        return SqliteWriter(engine, run_id, seen_at, upsert_set)
    return None


__all__ = ["COLUMNS", "RECIPE", "Pending", "PostgresWriter", "SqliteWriter", "Writer",
           "content_hash", "evidence_text", "pending", "stored_evidence", "values", "writer_for"]
