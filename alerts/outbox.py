"""The outbox: durable delivery of letters to channels (architecture invariants 4 and 5).

A letter's deliveries are inserted by :func:`sunlight.alerts.queue.queue_deliveries` in the very
transaction that inserts the letter, so a letter never exists without them.
:func:`deliver_due` then sends every pending delivery whose time has come:

- one attempt per delivery per call, through ``sunlight.alerts.channels``; a channel
  that fails (or cannot even be built) is recorded and the others go on;
- success marks it ``delivered``; a failure schedules the next attempt after
  an exponential backoff with jitter (``letters.delivery``), and once the
  delivery is ``max_age`` old, or the channel says retrying cannot help, it
  is ``dead`` (shown by ``sunlight letters show``);
- every attempt is a ``delivery_attempts`` row (time, error, backoff chosen).

The idempotency key is ``{letter number}:{channel name}`` (each channel puts
it on the wire in a form its protocol allows, e.g. percent-encoded in an HTTP
header), the same on every attempt and after every restart, so a receiver can
drop the duplicate that a crash between "sent" and "recorded as sent"
produces. Restarting re-sends exactly what was not recorded as delivered.

On PostgreSQL each delivery is claimed with ``FOR UPDATE SKIP LOCKED`` for
the length of its attempt, so replicas never send the same delivery at the
same time; a crashed replica's claim dies with its connection. SQLite has no
row locks that a reader respects, and holding its write lock during a send
would stall every writer: there a whole pass is made under the store's
``outbox`` claim (an ``flock``, ``sunlight.monitor.store.claims``), so two
processes on the machine never deliver at once, and a killed one's claim
dies with it.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine

from sunlight.alerts.channels import Channel, ChannelError, build_channel
from sunlight.alerts.config import DeliveryConfig
from sunlight.alerts.message import Message
from sunlight.monitor.store.claims import OUTBOX_CLAIM, Claims, claims_for
from sunlight.monitor.store.letters_models import DeliveryAttempt, DeliveryRow

log = structlog.get_logger("sunlight.outbox")

#: Test-only: ``SUNLIGHT_TEST_CRASH_AT=after_commit|mid_delivery|mid_scan`` makes the process
#: kill itself with SIGKILL at that point, so the crash tests can prove nothing is lost
#: (``mid_scan``: a scan run's findings are upserted, the run is not finished).
CRASH_ENV = "SUNLIGHT_TEST_CRASH_AT"


def crash_point(name: str) -> None:
    """Die here, hard, if the crash tests asked for it (never set in production)."""
    if os.environ.get(CRASH_ENV) == name:
        log.warning("test crash point reached: killing this process", point=name)
        os.kill(os.getpid(), signal.SIGKILL)


def backoff(config: DeliveryConfig, attempts: int, rng: random.Random | None = None) -> dt.timedelta:
    """The wait after the ``attempts``-th failure: base·2^(n-1), capped, minus up to ``jitter`` of it."""
    draw = (rng or random).random()
    ceiling = min(config.backoff * (2 ** max(attempts - 1, 0)), config.max_backoff)
    return ceiling * (1 - config.jitter * draw)


@dataclass
class DeliveryReport:
    delivered: list[str] = field(default_factory=list)  # idempotency keys
    failed: list[tuple[str, str]] = field(default_factory=list)  # (key, error), will retry
    dead: list[tuple[str, str]] = field(default_factory=list)  # (key, error), given up
    skipped: bool = False  # SQLite: another process was delivering; this pass sent nothing


Renderer = Callable[[int], Message]  # letter id → the rendered message (key filled per channel)


class _Channels:
    """Channels built once per run; a channel that cannot be built fails only its deliveries."""

    def __init__(self, config: dict[str, Any], base_dir: Any) -> None:
        self.config, self.base_dir = config, base_dir
        self._built: dict[str, Channel | Exception] = {}

    def get(self, name: str) -> Channel:
        if name not in self._built:
            try:
                if name not in self.config:
                    raise ChannelError(f"channel {name!r} is no longer configured", retryable=True)
                self._built[name] = build_channel(name, self.config[name], self.base_dir)
            except Exception as exc:
                self._built[name] = exc
        got = self._built[name]
        if isinstance(got, Exception):
            raise got
        return got


def deliver_due(store: Engine, settings: Any, now: dt.datetime, render: Renderer,
                rng: random.Random | None = None, claims: Claims | None = None,
                wait: float = 0.0) -> DeliveryReport:
    """One pass over the due pending deliveries, oldest first.

    On SQLite the pass takes the ``outbox`` claim first, waiting up to ``wait``
    seconds for another process's pass to end; if it cannot, it sends nothing
    and says so (``skipped``): the other process is sending what is due.
    """
    if store.dialect.name == "postgresql":
        return _deliver_due(store, settings, now, render, rng)
    claims = claims or claims_for(store)
    with claims.claimed(OUTBOX_CLAIM, wait) as got:
        if not got:
            log.info("delivery pass skipped: another process is delivering")
            return DeliveryReport(skipped=True)
        return _deliver_due(store, settings, now, render, rng)


def _deliver_due(store: Engine, settings: Any, now: dt.datetime, render: Renderer,
                 rng: random.Random | None) -> DeliveryReport:
    config: DeliveryConfig = settings.letters.delivery
    report = DeliveryReport()
    channels = _Channels(settings.channels, settings.base_dir)
    rendered: dict[int, Message | Exception] = {}
    with store.connect() as conn:
        due = conn.execute(
            sa.select(DeliveryRow.id).where(DeliveryRow.status == "pending",
                                            DeliveryRow.next_attempt_at <= now)
            .order_by(DeliveryRow.id)
        ).scalars().all()
    first = True
    for delivery_id in due:
        with store.begin() as conn:
            stmt = sa.select(DeliveryRow).where(DeliveryRow.id == delivery_id,
                                                DeliveryRow.status == "pending",
                                                DeliveryRow.next_attempt_at <= now)
            if conn.dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            row = conn.execute(stmt).first()
            if row is None:  # another worker has it, or it is done
                continue
            error: ChannelError | None = None
            try:
                if row.letter_id not in rendered:
                    try:
                        rendered[row.letter_id] = render(row.letter_id)
                    except Exception as exc:
                        rendered[row.letter_id] = exc
                message = rendered[row.letter_id]
                if isinstance(message, Exception):
                    raise ChannelError(f"cannot render the letter: {message}")
                channel = channels.get(row.channel)
                channel.send(replace(message, idempotency_key=row.idempotency_key))
                if not first:
                    crash_point("mid_delivery")
            except ChannelError as exc:
                error = exc
            except Exception as exc:  # a bug in one channel must not stop the others
                error = ChannelError(f"{type(exc).__name__}: {exc}")
            first = False
            _record(conn, row, now, error, config, rng, report)
    return report


def _record(conn: Connection, row: Any, now: dt.datetime, error: ChannelError | None,
            config: DeliveryConfig, rng: random.Random | None, report: DeliveryReport) -> None:
    attempts = row.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "last_attempt_at": now}
    retry_in: dt.timedelta | None = None
    if error is None:
        values.update(status="delivered", delivered_at=now, last_error=None)
        report.delivered.append(row.idempotency_key)
        log.info("delivered", key=row.idempotency_key, attempts=attempts)
    else:
        message = str(error)[:2000]
        deadline = row.created_at + config.max_age
        if not error.retryable or now >= deadline:
            values.update(status="dead", last_error=message)
            report.dead.append((row.idempotency_key, message))
            log.error("delivery dead", key=row.idempotency_key, attempts=attempts, error=message)
        else:
            retry_in = backoff(config, attempts, rng)
            values.update(last_error=message, next_attempt_at=min(now + retry_in, deadline))
            report.failed.append((row.idempotency_key, message))
            log.warning("delivery failed, will retry", key=row.idempotency_key, attempts=attempts,
                        retry_in=retry_in.total_seconds(), error=message)
    conn.execute(sa.update(DeliveryRow).where(DeliveryRow.id == row.id).values(**values))
    conn.execute(sa.insert(DeliveryAttempt), {
        "delivery_id": row.id, "at": now, "ok": error is None,
        "error": None if error is None else str(error)[:2000],
        "retry_in_seconds": None if retry_in is None else retry_in.total_seconds(),
    })
