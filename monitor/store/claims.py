"""Claims: which process may do a piece of shared work right now (several replicas, one store).

Several ``sunlight run`` replicas and manual ``sunlight cycle`` runs may share
one state store. A *claim* is an exclusive, named lock that every process on
that store respects:

- ``scan:<source>`` is held while a process scans and records one source, so
  two processes never evaluate one source at once;
- ``own:<source>`` is held by the daemon replica that schedules a source
  between its cycles, so the replicas share the sources instead of each
  evaluating all of them;
- ``outbox`` (SQLite only) is held while a process delivers, so two processes
  on one machine never send one letter at once (on PostgreSQL each delivery
  row is claimed with ``FOR UPDATE SKIP LOCKED`` instead, see
  ``sunlight.alerts.outbox``);
- ``migrate`` is held while a process migrates the store, so replicas
  started together on a new store do not run the migrations twice;
- ``metrics`` is held by the one replica that exports the store-derived
  metrics, so a dashboard summing over replicas does not count twice.

A claim dies with its process, never by a timer: on PostgreSQL it is a
session advisory lock on a connection of its own (a killed process's
connection closes and the server drops its locks), on SQLite an ``flock`` on a
file beside the store (the kernel drops it when the process ends). So a dead
replica's sources are free at once, and a slow but live one never loses its
claim to a timeout while it is still writing.

Fencing: a process checks :meth:`Claims.holds` (which asks the server, not
its own memory) before a write that depends on the claim; a PostgreSQL
connection lost mid-scan then shows as a lost claim, and the scan resolves
nothing (``sunlight.monitor.engine.scan_and_record``).
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
import weakref
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

log = structlog.get_logger("sunlight.claims")

#: how often :meth:`Claims.claim` tries again while it waits
POLL_SECONDS = 0.2
#: SQLite: at most this many daemon replicas are counted on one machine
MAX_FILE_REPLICAS = 64
_PRESENCE = "*replica*"


def default_replica() -> str:
    """``host:pid``: unique among the live processes on a store."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Claims(ABC):
    """Exclusive named claims of one process on one state store (thread-safe)."""

    def __init__(self, replica: str) -> None:
        self.replica = replica
        self._lock = threading.RLock()
        self._announced = False

    # --- the backend ---------------------------------------------------------------

    @abstractmethod
    def _acquire(self, name: str) -> bool:
        """Take ``name`` if no process holds it (this one included); never waits."""

    @abstractmethod
    def _release(self, name: str) -> None: ...

    @abstractmethod
    def _local(self) -> set[str]:
        """The names this process believes it holds."""

    @abstractmethod
    def _verified(self, name: str) -> bool:
        """Whether the backend still has ``name`` held by this process."""

    @abstractmethod
    def _announce(self) -> None: ...

    @abstractmethod
    def _count_replicas(self) -> int: ...

    @abstractmethod
    def _close(self) -> None: ...

    # --- the interface ---------------------------------------------------------------

    def try_claim(self, name: str) -> bool:
        """Take the claim if it is free; False if any process (this one too) holds it."""
        with self._lock:
            if name in self._local():
                return False
            return self._acquire(name)

    def claim(self, name: str, wait: float) -> bool:
        """Take the claim, waiting up to ``wait`` seconds for its holder to let go."""
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            if self.try_claim(name):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())) or POLL_SECONDS)

    def release(self, name: str) -> None:
        with self._lock:
            if name in self._local():
                self._release(name)

    @contextmanager
    def claimed(self, name: str, wait: float = 0.0) -> Iterator[bool]:
        """``with claims.claimed("scan:x", 60) as got:`` — held inside the block if ``got``."""
        got = self.claim(name, wait)
        try:
            yield got
        finally:
            if got:
                self.release(name)

    def held(self) -> set[str]:
        """What this process holds, as it last knew (see :meth:`verify`)."""
        with self._lock:
            return set(self._local())

    def holds(self, name: str) -> bool:
        """Whether this process still holds ``name``, asked of the backend (fencing)."""
        with self._lock:
            return name in self._local() and self._verified(name)

    def verify(self) -> set[str]:
        """Re-check every held claim with the backend; forget the lost ones and return them."""
        with self._lock:
            lost = {n for n in list(self._local()) if not self._verified(n)}
            for name in lost:
                log.warning("claim lost", claim=name, replica=self.replica)
                with suppress(Exception):
                    self._release(name)
            if self._announced:
                self._announce()
            return lost

    def announce(self) -> None:
        """Count this process among the live daemon replicas (until it ends or :meth:`close`)."""
        with self._lock:
            self._announced = True
            self._announce()

    def replicas(self) -> int:
        """How many daemon replicas are alive on this store (at least 1: this one)."""
        with self._lock:
            return max(1, self._count_replicas())

    def close(self) -> None:
        """Let go of everything."""
        with self._lock:
            self._announced = False
            self._close()


# --- PostgreSQL: session advisory locks -----------------------------------------------


def _key(text: str) -> int:
    """A positive int4 for ``pg_advisory_lock(int4, int4)`` (CRC-32, top bit cleared)."""
    return zlib.crc32(text.encode("utf-8")) & 0x7FFFFFFF


class PostgresClaims(Claims):
    """Advisory locks on a dedicated connection; the server drops them when it closes.

    The first key names the store (database and schema), so two stores on one
    server never block each other; the second names the claim.
    """

    def __init__(self, store: Engine, replica: str) -> None:
        super().__init__(replica)
        # a connection of its own, outside the store's pool: its life is the claims' life
        self._engine = sa.create_engine(
            store.url, poolclass=NullPool,
            connect_args={"application_name": f"sunlight claims {replica}"[:63]})
        self._conn: Connection | None = None
        self._space = 0
        self._names: set[str] = set()

    def _connection(self) -> Connection:
        if self._conn is None:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            db, schema = conn.execute(sa.text("SELECT current_database(), current_schema()")).one()
            self._space = _key(f"sunlight:{db}.{schema}")
            self._conn = conn
        return self._conn

    def _run(self, sql: str, **params: int) -> object:
        """One statement on the claims connection; a broken connection loses every claim."""
        try:
            conn = self._connection()
            return conn.execute(sa.text(sql), {"space": self._space, **params}).scalar()
        except sa.exc.DBAPIError as exc:
            if self._conn is not None:
                log.error("claims connection lost: every claim of this process is gone",
                          replica=self.replica, error=type(exc).__name__)
                with suppress(Exception):
                    self._conn.invalidate()
                self._conn = None
                self._names.clear()
            raise

    def _acquire(self, name: str) -> bool:
        try:
            got = bool(self._run("SELECT pg_try_advisory_lock(:space, :key)", key=_key(name)))
        except sa.exc.DBAPIError:
            return False
        if got:
            self._names.add(name)
        return got

    def _release(self, name: str) -> None:
        self._names.discard(name)
        with suppress(sa.exc.DBAPIError):
            self._run("SELECT pg_advisory_unlock(:space, :key)", key=_key(name))
        if not self._names and not self._announced:
            self._disconnect()  # nothing held: no connection kept open for nothing

    def _disconnect(self) -> None:
        if self._conn is not None:
            with suppress(Exception):
                self._conn.close()  # the server drops the session's advisory locks
            self._conn = None

    def _local(self) -> set[str]:
        return self._names

    def _held_by_me(self, key: int, mode: str) -> bool:
        try:
            return bool(self._run(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND classid::bigint = :space AND objid::bigint = :key "
                f"AND objsubid = 2 AND mode = '{mode}'", key=key))
        except sa.exc.DBAPIError:
            return False

    def _verified(self, name: str) -> bool:
        return self._held_by_me(_key(name), "ExclusiveLock")

    def _announce(self) -> None:
        key = _key(_PRESENCE)
        with suppress(sa.exc.DBAPIError):
            if not self._held_by_me(key, "ShareLock"):
                self._run("SELECT pg_try_advisory_lock_shared(:space, :key)", key=key)

    def _count_replicas(self) -> int:
        try:
            return int(self._run(  # type: ignore[call-overload]
                "SELECT count(DISTINCT pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid::bigint = :space AND objid::bigint = :key AND objsubid = 2",
                key=_key(_PRESENCE)) or 0)
        except sa.exc.DBAPIError:
            return 1

    def _close(self) -> None:
        self._names.clear()
        self._disconnect()
        self._engine.dispose()


# --- SQLite: flock on files beside the store ------------------------------------------


class FileClaims(Claims):
    """``flock`` on one file per claim in ``<store>.claims/`` (one machine, local disk).

    ``flock`` locks belong to the open file, so two threads of one process
    exclude each other as two processes do; the kernel releases them when the
    process ends, however it ends. Each file holds the name of its holder.
    """

    def __init__(self, folder: Path, replica: str) -> None:
        super().__init__(replica)
        self.folder = folder
        self._files: dict[str, IO[str]] = {}
        self._slot: IO[str] | None = None

    def _path(self, name: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
        return self.folder / f"{safe}-{_key(name):08x}.lock"

    def _lock_file(self, path: Path) -> IO[str] | None:
        self.folder.mkdir(parents=True, exist_ok=True)
        f = path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return None
        f.seek(0)
        f.truncate()
        f.write(f"{self.replica}\n")
        f.flush()
        return f

    def _acquire(self, name: str) -> bool:
        f = self._lock_file(self._path(name))
        if f is None:
            return False
        self._files[name] = f
        return True

    def _release(self, name: str) -> None:
        f = self._files.pop(name, None)
        if f is not None:
            f.close()  # closing the file drops its lock

    def _local(self) -> set[str]:
        return set(self._files)

    def _verified(self, name: str) -> bool:
        return name in self._files  # an flock on an open file cannot be taken away

    def _slot_path(self, k: int) -> Path:
        return self.folder / f"replica-{k:02d}.lock"

    def _announce(self) -> None:
        if self._slot is not None:
            return
        for k in range(MAX_FILE_REPLICAS):
            f = self._lock_file(self._slot_path(k))
            if f is not None:
                self._slot = f
                return
        log.warning("more SQLite replicas than counted", limit=MAX_FILE_REPLICAS)

    def _count_replicas(self) -> int:
        live = 0
        for k in range(MAX_FILE_REPLICAS):
            path = self._slot_path(k)
            if self._slot is not None and Path(self._slot.name) == path:
                live += 1
                continue
            if not path.exists():
                continue
            with path.open("a+", encoding="utf-8") as f:
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except OSError:
                    live += 1  # someone holds the slot: a live replica
        return live

    def _close(self) -> None:
        for name in list(self._files):
            self._release(name)
        if self._slot is not None:
            self._slot.close()
            self._slot = None


class LocalClaims(Claims):
    """An in-memory store (``sqlite://``) is one process's alone: claims only between its threads."""

    def __init__(self, replica: str) -> None:
        super().__init__(replica)
        self._names: set[str] = set()

    def _acquire(self, name: str) -> bool:
        self._names.add(name)
        return True

    def _release(self, name: str) -> None:
        self._names.discard(name)

    def _local(self) -> set[str]:
        return self._names

    def _verified(self, name: str) -> bool:
        return name in self._names

    def _announce(self) -> None:
        pass

    def _count_replicas(self) -> int:
        return 1

    def _close(self) -> None:
        self._names.clear()


# --- one Claims per store engine ------------------------------------------------------

_by_store: weakref.WeakKeyDictionary[Engine, Claims] = weakref.WeakKeyDictionary()
_by_store_lock = threading.Lock()


def claims_folder(store: Engine) -> Path | None:
    """Where a SQLite store's claim files live: ``state.db`` → ``state.db.claims/``."""
    database = store.url.database
    if store.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    path = Path(database).resolve()
    return path.with_name(path.name + ".claims")


def claims_for(store: Engine, replica: str | None = None) -> Claims:
    """The claims of this process on ``store`` (made on first use; ``replica`` names it)."""
    with _by_store_lock:
        claims = _by_store.get(store)
        if claims is None:
            name = replica or default_replica()
            if store.dialect.name == "postgresql":
                claims = PostgresClaims(store, name)
            else:
                folder = claims_folder(store)
                claims = FileClaims(folder, name) if folder is not None else LocalClaims(name)
            _by_store[store] = claims
        elif replica:
            claims.replica = replica
        return claims


def release_claims(store: Engine) -> None:
    """Let go of every claim on ``store`` (the store is being closed)."""
    with _by_store_lock:
        claims = _by_store.pop(store, None)
    if claims is not None:
        claims.close()


def scan_claim(source: str) -> str:
    return f"scan:{source}"


def own_claim(source: str) -> str:
    return f"own:{source}"


OUTBOX_CLAIM = "outbox"
MIGRATE_CLAIM = "migrate"
METRICS_CLAIM = "metrics"
