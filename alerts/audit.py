"""The audit log: one row per act on a letter, chained by hashes so that tampering shows.

Every act, a person's or the cycle's, is appended with :func:`audit` in the
transaction that does it. Each entry records who, why, the real time of the
act (``at``) and the as-of time it applies to (``as_of``: a cycle's ``--at``,
or the office's own date for a back-dated act), and the hash of the entry
before it (:mod:`sunlight.monitor.store.audit_chain`). Appends are serialised
by the ``AUDIT_LOCK`` counter row, so the chain never forks between replicas;
``sunlight audit verify`` walks it and names the first broken entry.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sunlight.monitor.store.audit_chain import GENESIS, Break, entry_hash, verify_chain
from sunlight.monitor.store.letters_models import AUDIT_LOCK, AuditEntry, LetterCounter

SYSTEM_ACTOR = "sunlight"

__all__ = ["SYSTEM_ACTOR", "Break", "audit", "take_audit_lock", "verify_audit"]


def take_audit_lock(conn: Connection) -> None:
    """Serialise audit appends for the rest of this transaction (take it before letter rows)."""
    prefix, year = AUDIT_LOCK
    updated = conn.execute(
        sa.update(LetterCounter).where(LetterCounter.prefix == prefix, LetterCounter.year == year)
        .values(last=LetterCounter.last + 1)
    ).rowcount
    if updated != 1:
        conn.execute(sa.insert(LetterCounter).values(prefix=prefix, year=year, last=1))


def audit(conn: Connection, at: dt.datetime, actor: str, action: str, letter_id: int | None,
          before: str | None, after: str | None, note: str | None = None,
          detail: dict[str, Any] | None = None, as_of: dt.datetime | None = None) -> int:
    """Append one entry to the chain; returns its id. ``at`` is the wall clock."""
    take_audit_lock(conn)  # idempotent within a transaction: the row is ours already
    prev = conn.execute(sa.select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).scalar()
    prev = prev or GENESIS
    values: dict[str, Any] = {
        "at": at, "as_of": as_of or at, "actor": actor, "action": action, "letter_id": letter_id,
        "before": before, "after": after, "note": note, "detail": detail or {}, "prev_hash": prev,
    }
    entry_id = conn.execute(sa.insert(AuditEntry).returning(AuditEntry.id), values).scalar_one()
    # hash what the store will give back (UTC, microseconds), so verify recomputes the same
    stored = conn.execute(sa.select(AuditEntry).where(AuditEntry.id == entry_id)).mappings().one()
    conn.execute(sa.update(AuditEntry).where(AuditEntry.id == entry_id)
                 .values(hash=entry_hash(prev, dict(stored))))
    return int(entry_id)


def verify_audit(store: Engine) -> tuple[int, Break | None]:
    """Check the whole chain: (entries checked, the first broken entry or None)."""
    with store.connect() as conn:
        rows = conn.execute(sa.select(AuditEntry).order_by(AuditEntry.id)).mappings()
        return verify_chain(dict(r) for r in rows)
