"""The write side of the outbox: a letter's deliveries, queued in the letter's own transaction.

In the letters layer, below the outbox that sends them, so that issuing a
letter and queuing its deliveries is one commit (architecture invariant 4)
without the letters knowing how anything is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sunlight.monitor.store.letters_models import DeliveryRow


def idempotency_key(number: str, channel: str) -> str:
    """The key as stored and shown: ``监预〔2026〕17号:oa``."""
    return f"{number}:{channel}"


def queue_deliveries(conn: Connection, letter_id: int, number: str, channels: Iterable[str],
                     now: dt.datetime) -> None:
    """Insert one pending delivery per channel, inside the letter's transaction."""
    rows = [{"letter_id": letter_id, "channel": ch, "idempotency_key": idempotency_key(number, ch),
             "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
            for ch in channels]
    if rows:
        conn.execute(sa.insert(DeliveryRow), rows)
