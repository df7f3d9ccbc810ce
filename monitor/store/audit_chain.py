"""The audit log's hash chain: each entry holds the hash of the one before it.

Below the letters (the store layer), so that the migration that chains the
entries written before the chain existed, the letters that append to it and
``sunlight audit verify`` all hash an entry the same way. An entry's hash
covers every column a person could alter (who, what, when, why, the status
change, the detail) and the previous entry's hash, so an UPDATE or DELETE of
one row breaks the chain at that row or at the one after it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

GENESIS = "0" * 64  # the "previous hash" of the first entry

#: the columns an entry's hash covers, in this order
HASHED = ("id", "at", "as_of", "actor", "action", "letter_id", "before", "after", "note", "detail")


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # the store keeps naive UTC (UTCDateTime); read raw in migrations
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash and the entry's columns as canonical JSON."""
    body = orjson.dumps({k: _canonical(entry.get(k)) for k in HASHED}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev_hash.encode() + b"\x1f" + body).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first entry whose stored hashes do not match what it says."""

    entry_id: int
    problem: str


def verify_chain(entries: Iterable[Mapping[str, Any]]) -> tuple[int, Break | None]:
    """Walk the entries in id order; returns (entries checked, the first break or None)."""
    prev = GENESIS
    n = 0
    for entry in entries:
        n += 1
        if entry.get("prev_hash") != prev:
            return n, Break(int(entry["id"]), "prev_hash does not match the previous entry's hash "
                                              "(an entry before it was changed or removed)")
        expected = entry_hash(prev, entry)
        if entry.get("hash") != expected:
            return n, Break(int(entry["id"]), "hash does not match the entry's content (it was changed)")
        prev = expected
    return n, None
