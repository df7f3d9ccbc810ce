"""The outbox against a real HTTP receiver on 127.0.0.1: retries, backoff, dead, isolation.

Time is passed in (``now``): each "cycle" below is a delivery pass at a
chosen instant, so the backoff can be checked without waiting for it.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from sunlight.alerts.config import DeliveryConfig
from sunlight.alerts.letters import issue_letters
from sunlight.alerts.outbox import backoff
from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.cycle import deliver, deliver_report
from sunlight.monitor.store import open_store
from sunlight.monitor.store.letters_models import DeliveryAttempt, DeliveryRow
from tests.test_letters_kit import (
    Receiver,
    State,
    at,
    finding,
    pg_schema_url,
    quick_settings,
    record,
    run_cli,
    settings_for,
    state_fixture,  # noqa: F401 - the ``state`` fixture
)

CAL = WorkCalendar()
T0 = dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC)
DELIVERY = "  delivery: {backoff: 30s, max_backoff: 5m, max_age: 1d, jitter: 0.5}\n"


def webhook_config(url: str, extra_channels: str = "", to: str = "[oa]") -> str:
    return (DELIVERY + f"routes:\n  - to: {to}\n"
            f"channels:\n  oa: {{type: webhook, url: \"{url}\", timeout: 5}}\n" + extra_channels)


def deliveries(store: sa.Engine) -> list:
    with store.connect() as conn:
        return conn.execute(sa.select(DeliveryRow).order_by(DeliveryRow.id)).all()


def attempts(store: sa.Engine, delivery_id: int) -> list:
    with store.connect() as conn:
        return conn.execute(sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
                            .order_by(DeliveryAttempt.id)).all()


def issue_three(state: State, settings) -> list[str]:
    when = at(2026, 10, 16, 9)
    record(state.engine, [finding("case_overdue", f"{u}-1", u) for u in ("SJJ", "MZJ", "ZJJ")], when)
    issued = issue_letters(state.engine, settings, CAL, when, now=T0).issued
    return [x.number for x in issued]


def test_receiver_down_for_several_cycles_loses_nothing(state: State, tmp_path: Path) -> None:
    receiver = Receiver().start()
    receiver.stop()  # the OA system is down; the port is known
    s = quick_settings(settings_for(tmp_path, state.url, webhook_config(receiver.url)))
    numbers = issue_three(state, s)
    keys = [f"{n}:oa" for n in numbers]
    assert [d.idempotency_key for d in deliveries(state.engine)] == keys

    now = T0
    for cycle in range(1, 5):  # four passes while the receiver is down, each when the retry is due
        assert deliver(state.engine, s, now) == 0
        rows = deliveries(state.engine)
        assert [d.attempts for d in rows] == [cycle] * 3
        assert all(d.status == "pending" and "ConnectError" in (d.last_error or "") for d in rows)
        # a pass before the next attempt is due does nothing
        assert deliver(state.engine, s, now + dt.timedelta(seconds=14)) == 0
        assert [d.attempts for d in deliveries(state.engine)] == [cycle] * 3
        now = max(d.next_attempt_at for d in rows) + dt.timedelta(seconds=1)

    for d in deliveries(state.engine):
        tries = attempts(state.engine, d.id)
        waits = [a.retry_in_seconds for a in tries]
        # backoff 30 s doubling, jitter 0.5: each wait in [w/2, w] for w = 30, 60, 120, 240
        for wait, ceiling in zip(waits, (30, 60, 120, 240), strict=True):
            assert ceiling / 2 <= wait <= ceiling
        assert [a.ok for a in tries] == [False] * 4
        drift = d.next_attempt_at - (tries[-1].at + dt.timedelta(seconds=waits[-1]))
        assert abs(drift) < dt.timedelta(milliseconds=1)

    receiver.start()  # back on the same port
    try:
        assert deliver(state.engine, s, now) == 3
        rows = deliveries(state.engine)
        assert [(d.status, d.attempts, d.last_error) for d in rows] == [("delivered", 5, None)] * 3
        assert sorted(receiver.keys()) == sorted(keys)  # every one arrived, once
        assert {p["letter_number"] for p in receiver.payloads()} == set(numbers)
        assert deliver(state.engine, s, now + dt.timedelta(hours=1)) == 0  # nothing is sent twice
        assert len(receiver.keys()) == 3
    finally:
        receiver.stop()


def test_too_old_or_refused_deliveries_go_dead_and_show(tmp_path: Path) -> None:
    receiver = Receiver().start()
    receiver.stop()
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    cfg = settings_for(tmp_path, state_url, webhook_config(receiver.url))
    s = quick_settings(cfg)
    store = open_store(state_url)
    state = State("sqlite", state_url, store)
    numbers = issue_three(state, s)
    assert deliver(store, s, T0) == 0
    next_at = deliveries(store)[0].next_attempt_at
    report = deliver_report(store, s, T0 + dt.timedelta(days=1))  # max_age reached
    assert len(report.dead) == 3 and report.failed == []
    assert next_at < T0 + dt.timedelta(days=1)
    assert [d.status for d in deliveries(store)] == ["dead"] * 3
    assert deliver(store, s, T0 + dt.timedelta(days=2)) == 0  # dead is final
    result = run_cli("letters", "show", "-c", str(cfg), numbers[0])
    assert result.exit_code == 0, result.output
    assert "失败（不再重试）" in result.output and "ConnectError" in result.output
    listing = run_cli("letters", "list", "-c", str(cfg))
    assert "失败1" in listing.output

    # a receiver that refuses the letter (HTTP 400): retrying cannot help, dead at once
    receiver.status = 400
    receiver.start()
    try:
        record(store, [finding("case_overdue", "YJJ-1", "YJJ")], at(2026, 10, 19, 9), source="other")
        [letter] = issue_letters(store, s, CAL, at(2026, 10, 19, 9), now=T0).issued
        report = deliver_report(store, s, T0)
        assert [k for k, _ in report.dead] == [f"{letter.number}:oa"]
        assert "HTTP 400" in report.dead[0][1]
        assert receiver.keys() == [f"{letter.number}:oa"]
    finally:
        receiver.stop()


def test_a_failing_channel_never_stops_the_others(tmp_path: Path) -> None:
    receiver = Receiver().start()
    receiver.stop()
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    folder = "  printed: {type: folder, path: printed}\n"
    cfg = settings_for(tmp_path, state_url, webhook_config(receiver.url, folder, to="[oa, printed]"))
    s = quick_settings(cfg)
    store = open_store(state_url)
    numbers = issue_three(State("sqlite", state_url, store), s)
    report = deliver_report(store, s, T0)
    assert sorted(report.delivered) == sorted(f"{n}:printed" for n in numbers)
    assert sorted(k for k, _ in report.failed) == sorted(f"{n}:oa" for n in numbers)
    for n in numbers:
        for ext in ("html", "docx", "txt"):
            assert (tmp_path / "printed" / f"{n}.{ext}").stat().st_size > 0


def test_backoff_is_capped_and_jittered() -> None:
    config = DeliveryConfig.model_validate({"backoff": "10s", "max_backoff": "1m", "jitter": 0.25})
    for n, ceiling in ((1, 10), (2, 20), (3, 40), (4, 60), (9, 60)):
        for _ in range(20):
            wait = backoff(config, n).total_seconds()
            assert 0.75 * ceiling <= wait <= ceiling


@pytest.fixture
def pg_url():
    yield from pg_schema_url()


def test_two_delivery_workers_on_postgres_send_each_letter_once(tmp_path: Path, pg_url: str) -> None:
    """Replicas sharing a PostgreSQL store: FOR UPDATE SKIP LOCKED gives each delivery to one of them."""
    store = open_store(pg_url)
    receiver = Receiver().start()
    try:
        s = quick_settings(settings_for(tmp_path, pg_url, webhook_config(receiver.url)))
        record(store, [finding("case_overdue", f"U{i}-1", f"U{i}") for i in range(8)], at(2026, 10, 16, 9))
        numbers = [x.number for x in issue_letters(store, s, CAL, at(2026, 10, 16, 9), now=T0).issued]
        barrier = threading.Barrier(2)
        counts: list[int] = []

        def worker() -> None:
            engine = open_store(pg_url, migrate=False)
            barrier.wait()
            counts.append(deliver(engine, s, T0))
            engine.dispose()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(counts) == 8
        assert sorted(receiver.keys()) == sorted(f"{n}:oa" for n in numbers)  # each exactly once
    finally:
        receiver.stop()
        store.dispose()
