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

The file (~46 bytes a kept voucher: 46 MB at a million) goes where SQLite puts
temporary files: ``SQLITE_TMPDIR``, else ``TMPDIR``, else the first writable of
/var/tmp, /usr/tmp, /tmp. Where that is a tmpfs (deploy/compose.yaml mounts
/tmp so), the file is memory again, outside the process: point
``SQLITE_TMPDIR`` at a disk directory there.

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
_CENT = Decimal("0.01")
_BATCH = 5_000
_GROUP_KEY = itemgetter(0, 1)

#: one kept voucher as the spill gives it back: (epoch second, voucher id, fen, raw, arrival).
#: fen: the exact amount in fen (an int; text when it does not fit 64 bits), None when the
#: amount is finer than a fen; raw: ``str(amount)`` unless it is exactly Decimal(fen).scaleb(-2).
#: The epoch second is truncated, as the reference's ``int(paid_at.timestamp())``.
Member = tuple[int, str, "int | str | None", "str | None", int]


class Group(NamedTuple):
    unit_id: str
    payee: str
    #: arrival (rowid) of the group's first voucher finer than a fen; None: every amount is
    #: exact fen
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
    _, _, fen, raw, seq = m
    if fen is not None and (inexact_from is None or seq < inexact_from):
        return Decimal(int(fen)).scaleb(-2)
    if raw is not None:
        return Decimal(raw)
    return Decimal(int(fen or 0)).scaleb(-2)


class VoucherSpill:
    """Kept vouchers, on disk, read back grouped by (unit, payee) and ordered by (time, id).

    SQLite compares TEXT bytewise in UTF-8, which is the order Python compares
    ``str`` in: the groups come back in the reference's ``sorted()`` order.
    A row's rowid is its arrival: ties of (time, id) keep the order they came in.
    """

    def __init__(self) -> None:
        self._db: sqlite3.Connection | None = None
        self._buf: list[tuple[str, str, int, str, int | str | None, str | None]] = []

    def add(self, unit_id: str, payee: str, t: int, voucher_id: str, amount: Decimal) -> None:
        fen: int | str | None
        raw: str | None = None
        if amount.same_quantum(_CENT):  # the usual NUMERIC(…, 2): exact fen, nothing else to keep
            fen = int(amount.scaleb(2))
        else:
            cents = amount.scaleb(2)
            fen = int(cents) if cents == cents.to_integral_value() else None
            raw = str(amount)
        if fen is not None and not -_INT64 <= fen < _INT64:
            fen, raw = str(fen), str(amount)
        self._buf.append((unit_id, payee, t, voucher_id, fen, raw))
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
            # fen has no declared type: an int stays an int, a 30-digit fen stays text
            self._db.execute("CREATE TABLE v (unit TEXT, payee TEXT, t INTEGER, id TEXT, fen,"
                             " raw TEXT)")
        self._db.execute("BEGIN")  # one transaction a batch (autocommit would make one a row)
        self._db.executemany("INSERT INTO v VALUES (?, ?, ?, ?, ?, ?)", self._buf)
        self._db.execute("COMMIT")
        self._buf.clear()

    def rows(self) -> Iterator[tuple[Group, Iterator[Member]]]:
        """Every (unit, payee) group in sorted order, its members by (time, id, arrival).

        Each group's members must be consumed before the next group is asked for.
        """
        self._flush()
        if self._db is None:
            return
        db = self._db
        # groups with an amount that is not exact fen in 64 bits: few (none on most sources)
        odd = {(u, p): s for u, p, s in db.execute(
            "SELECT unit, payee, MIN(CASE WHEN fen IS NULL THEN rowid END) FROM v"
            " WHERE fen IS NULL OR typeof(fen) = 'text' GROUP BY unit, payee")}
        cursor = db.execute("SELECT unit, payee, t, id, fen, raw, rowid FROM v"
                            " ORDER BY unit, payee, t, id, rowid")
        for (unit, payee), members in groupby(cursor, key=_GROUP_KEY):
            key = (unit, payee)
            yield (Group(unit, payee, odd.get(key), key not in odd),
                   (r[2:] for r in members))

    def close(self) -> None:
        self._buf.clear()
        if self._db is not None:
            self._db.close()
            self._db = None


def windows(group: Group, members: Iterator[Member], span: int, threshold: Decimal
            ) -> Iterator[list[Member]]:
    """The group's windows that fire, in order.

    A deque holds the open window: the vouchers from its first one to at
    most ``span`` seconds after it. It is complete once a voucher lies beyond
    it: then it fires (two or more, sum reaching the threshold) and is
    emptied, or its first voucher leaves.
    """
    inexact_from, in_fen = group.inexact_from, group.in_fen
    fen_threshold = threshold.scaleb(2)
    open_: deque[Member] = deque()
    total = 0  # sum of the open window in fen (groups in fen)

    def reaches() -> bool:
        if in_fen and total < _EXACT_FEN:
            return total >= fen_threshold
        exact = Decimal(0)  # the reference's sum, in the same order
        for m in open_:
            exact += amount_of(m, inexact_from)
        return exact >= threshold

    for m in members:
        t = m[0]
        while open_ and t - open_[0][0] > span:
            if len(open_) >= 2 and reaches():
                yield list(open_)
                open_.clear()
                total = 0
            else:
                gone = open_.popleft()[2]
                if in_fen:
                    total -= gone  # type: ignore[operator]
        open_.append(m)
        if in_fen:
            total += m[2]  # type: ignore[operator]
    while open_:
        if len(open_) >= 2 and reaches():
            yield list(open_)
            return
        gone = open_.popleft()[2]
        if in_fen:
            total -= gone  # type: ignore[operator]
