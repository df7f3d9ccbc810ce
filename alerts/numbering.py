"""Letter numbers: ``{prefix}〔{year}〕{n}号``, counting up within the year, never reused.

The counter is one row per (prefix, year) in ``letter_counters``. Taking a
number is a single atomic ``INSERT … ON CONFLICT DO UPDATE SET last = last + 1
RETURNING last`` in the same transaction that inserts the letter: on
PostgreSQL the row stays locked until that transaction commits, so two
processes can never get the same n, and a rolled-back transaction gives its n
back without a gap visible to anyone (the letter never existed). SQLite
serialises writers on the whole database, which gives the same guarantee.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from sunlight.monitor.store.letters_models import ISSUE_LOCK, LetterCounter


def format_number(prefix: str, year: int, seq: int) -> str:
    """监预, 2026, 17 → 监预〔2026〕17号 (the 六角括号 of GB/T 9704 发文字号)."""
    return f"{prefix}〔{year}〕{seq}号"


def next_number(conn: Connection, prefix: str, year: int) -> tuple[int, str]:
    """Take the next number for (prefix, year) inside the caller's transaction."""
    dialect = conn.dialect.name
    ins = postgresql.insert(LetterCounter) if dialect == "postgresql" else sqlite.insert(LetterCounter)
    table = LetterCounter.__table__
    stmt = (
        ins.values(prefix=prefix, year=year, last=1)
        .on_conflict_do_update(index_elements=[table.c.prefix, table.c.year],
                               set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    seq = int(conn.execute(stmt).scalar_one())
    return seq, format_number(prefix, year, seq)


def take_issue_lock(conn: Connection) -> None:
    """Serialise issuing across processes for the rest of this transaction.

    Issuing reads which findings are not yet on a letter and then writes
    letters for them; holding this row lock (PostgreSQL) or the write lock
    (SQLite: the UPDATE is the transaction's first statement) makes that
    read-then-write one step, so two replicas never letter the same finding.
    The unique ``letter_findings.open_fingerprint`` backs this up in the schema.
    """
    prefix, year = ISSUE_LOCK
    # the lock row is created by the letters revision (0002_letters)
    conn.execute(
        sa.update(LetterCounter)
        .where(LetterCounter.prefix == prefix, LetterCounter.year == year)
        .values(last=LetterCounter.last + 1)
    )
