"""The windows of ``split_payment`` in one ordered pass, keeping only the open window.

The rule (``shared/design/rules.md``:46, ours: the evasion of 003:567
"对于大额的需要经过领导班子会议集体审定" and 004:102 "在大额资金的使用上，未经集体讨论"):
payments from one unit to one payee, each below the large-amount threshold,
within ``window_days`` calendar days, that together reach it.

Vouchers reach the check in ``voucher_id`` order (the reader merge-joins them
with their signatures), not by unit, payee and time, so the check cannot close
a window while it reads. Holding every voucher until the end cost ~113 bytes
a voucher (113 MB at a million); instead :class:`VoucherSpill` writes each
kept voucher to a private temporary SQLite database (on disk, deleted when it
is closed; SQLite's page cache is its only memory) and reads them back ordered
by unit, payee, time and id, and :func:`windows` walks each group with a deque
holding only the vouchers of the open window.

The windows are exactly those of the reference algorithm (kept in
tests/test_split_windows.py): sorted by (epoch second, voucher id), a window
starts at voucher i and holds every later one paid at most ``span`` seconds
after it; it fires when it holds two or more and their sum reaches the
threshold, and then the next window starts after it, otherwise at i + 1.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterator
from decimal import Decimal
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple

#: sums below this many fen are exact both as int and as Decimal (28 digits): above it
#: the comparison is made with Decimals, as the reference did, rounding included
_EXACT_FEN = 10**26
_INT64 = 2**63  # SQLite's INTEGER
_BATCH = 5_000


class Member(NamedTuple):
    """One voucher as the spill gives it back."""

    t: int  # epoch seconds, truncated (the reference's ``int(paid_at.timestamp())``)
    voucher_id: str
    cents: int | None  # exact fen when it fits a 64-bit integer, else None
    big: str | None  # exact fen too large for 64 bits, as text
    raw: str | None  # str(amount), unless it is exactly Decimal(cents).scaleb(-2)
    seq: int  # position in the stream the check was fed


class Group(NamedTuple):
    unit_id: str
    payee: str
    members: Iterator[Member]
    #: seq of the group's first voucher finer than a fen (None: every amount is exact fen)
    inexact_from: int | None
    #: every amount is exact fen in 64 bits: the window's sum is kept as an int
    in_fen: bool


def amount_of(m: Member, inexact_from: int | None) -> Decimal:
    """The voucher's amount as the reference held it.

    The reference kept exact fen as ints (``int(amount.scaleb(2))``) until the
    group's first amount finer than a fen, then turned those into
    ``Decimal(c).scaleb(-2)`` and kept the later ones as read: the exponent
    (and so the text of a total finer than a fen) depends on that order, and
    is kept.
    """
    exact = m.cents is not None or m.big is not None
    if exact and (inexact_from is None or m.seq < inexact_from):
        return Decimal(m.cents if m.cents is not None else int(m.big or 0)).scaleb(-2)
    if m.raw is not None:
        return Decimal(m.raw)
    return Decimal(m.cents or 0).scaleb(-2)


class VoucherSpill:
    """Kept vouchers, on disk, read back grouped by (unit, payee) and ordered by (time, id).

    SQLite compares TEXT bytewise in UTF-8, which is the order Python compares
    ``str`` in: the groups come back in the reference's ``sorted()`` order.
    """

    def __init__(self) -> None:
        self._db: sqlite3.Connection | None = None
        self._buf: list[tuple[str, str, int, str, int | None, str | None, str | None, int]] = []
        self._seq = 0

    def add(self, unit_id: str, payee: str, t: int, voucher_id: str, amount: Decimal) -> None:
        cents = amount.scaleb(2)
        fen: int | None = None
        big: str | None = None
        if cents == cents.to_integral_value():
            fen = int(cents)
            if not -_INT64 <= fen < _INT64:
                fen, big = None, str(fen)
        raw = None if fen is not None and amount.as_tuple().exponent == -2 else str(amount)
        self._seq += 1
        self._buf.append((unit_id, payee, t, voucher_id, fen, big, raw, self._seq))
        if len(self._buf) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._buf:
            return
        if self._db is None:
            # "": a private temporary database on disk, removed when it is closed
            self._db = sqlite3.connect("", isolation_level=None)
            self._db.execute("PRAGMA journal_mode=OFF")
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.execute("CREATE TABLE v (unit TEXT, payee TEXT, t INTEGER, id TEXT,"
                             " cents INTEGER, big TEXT, raw TEXT, seq INTEGER)")
        with self._db:  # one transaction a batch
            self._db.executemany("INSERT INTO v VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self._buf)
        self._buf.clear()

    def groups(self) -> Iterator[Group]:
        """Every (unit, payee) group in sorted order, its members by (time, id, arrival)."""
        self._flush()
        if self._db is None:
            return
        db = self._db
        # groups with an amount that is not exact fen in 64 bits: few (none on most sources)
        odd = {(u, p): s for u, p, s in db.execute(
            "SELECT unit, payee, MIN(CASE WHEN big IS NULL THEN seq END) FROM v"
            " WHERE cents IS NULL GROUP BY unit, payee")}
        rows = db.execute("SELECT unit, payee, t, id, cents, big, raw, seq FROM v"
                          " ORDER BY unit, payee, t, id, seq")
        for (unit_id, payee), members in groupby(rows, key=itemgetter(0, 1)):
            key = (unit_id, payee)
            yield Group(unit_id, payee, (Member(*r[2:]) for r in members),
                        odd.get(key), key not in odd)

    def close(self) -> None:
        self._buf.clear()
        if self._db is not None:
            self._db.close()
            self._db = None


def windows(group: Group, span: int, threshold: Decimal) -> Iterator[list[Member]]:
    """The group's windows that fire, in order; only the open window is held."""
    inexact_from, in_fen = group.inexact_from, group.in_fen
    fen_threshold = threshold.scaleb(2)
    open_: deque[Member] = deque()
    fen = 0  # sum of the open window in fen (exact groups)

    def reaches() -> bool:
        if in_fen and fen < _EXACT_FEN:
            return fen >= fen_threshold
        total = Decimal(0)  # the reference's sum, in the same order
        for m in open_:
            total += amount_of(m, inexact_from)
        return total >= threshold

    for m in group.members:
        # the window of the oldest open voucher is complete once a voucher lies beyond it
        while open_ and m.t - open_[0].t > span:
            if len(open_) >= 2 and reaches():
                yield list(open_)
                open_.clear()
                fen = 0
            else:
                fen -= open_.popleft().cents or 0
        open_.append(m)
        fen += m.cents or 0
    while open_:
        if len(open_) >= 2 and reaches():
            yield list(open_)
            return
        fen -= open_.popleft().cents or 0
