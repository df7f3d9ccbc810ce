"""Synthetic findings for the benches that need a big state store (console, backlog).

Copies of a real demo scan's findings, each with a new fingerprint and
subject, so they carry real evidence JSON; written in batches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sunlight.monitor.store.models import FindingRow

BATCH = 5000


def copy_of(seed: Mapping[str, Any], i: int, tag: str) -> dict[str, Any]:
    """The ``i``-th copy of a stored finding: its row without the id, a new fingerprint and subject."""
    row = dict(seed)
    row.pop("id", None)
    row.pop("content_hash", None)  # the seed's hash: not this copy's content (its subject differs)
    row.update(fingerprint=hashlib.sha256(f"{tag}{i}".encode()).hexdigest()[:24],
               subject=f"{row['subject']}-B{i}")
    return row


def insert_findings(store: Engine, rows: Iterable[dict[str, Any]]) -> None:
    """Insert finding rows, one transaction per ``BATCH``."""
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            with store.begin() as conn:
                conn.execute(sa.insert(FindingRow), batch)
            batch.clear()
    if batch:
        with store.begin() as conn:
            conn.execute(sa.insert(FindingRow), batch)
