"""Metrics computed in process: the case tally, the store collectors, the calendar gauges.

Dates are worked out by hand from the 2026 notice (国庆 1–7 Oct, Sat 10 Oct
worked; 中秋 25–27 Sep), never by the code under test.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.configure import load_settings
from sunlight.monitor.engine import Engine, scan_and_record
from sunlight.monitor.metrics import CaseTallies, StoreCollector
from sunlight.monitor.store import FindingRow, ScanRun, open_store
from sunlight.monitor.store.letters_models import DeliveryRow, LetterRow
from sunlight.monitor.store.models import Base
from tests.conftest import SourceDB, at

UTC = dt.UTC


def add_letter(conn: sa.Connection, letter_id: int, unit: str | None, tier: str, status: str,
               at: dt.datetime) -> None:
    """A letter row as the letters code writes it (only what the metrics read matters here)."""
    conn.execute(sa.insert(LetterRow.__table__), {
        "id": letter_id, "number": f"测〔2026〕{letter_id}号", "prefix": "测", "year": 2026,
        "seq": letter_id, "tier": tier, "status": status, "audience": "unit", "unit_id": unit,
        "recipient": unit or "", "checks": "case_overdue", "reason": "new", "issued_at": at,
        "created_at": at})


def add_delivery(conn: sa.Connection, letter_id: int, channel: str, status: str,
                 created: dt.datetime, next_attempt: dt.datetime) -> None:
    conn.execute(sa.insert(DeliveryRow.__table__), {
        "letter_id": letter_id, "channel": channel, "idempotency_key": f"{letter_id}:{channel}",
        "status": status, "attempts": 1, "next_attempt_at": next_attempt, "created_at": created})


@pytest.fixture(scope="module")
def calendar() -> WorkCalendar:
    """One materialised calendar for the module (building one takes a moment)."""
    return WorkCalendar.from_files([])


def samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape: (name, labels) → value."""
    text = generate_latest(registry).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(scrape: dict, name: str, **labels: str) -> float | None:
    return scrape.get((name, frozenset(labels.items())))


def family_names(registry: CollectorRegistry) -> set[str]:
    return {s[0] for s in samples(registry)}


def _case(case_id: str, unit: str, accepted: dt.datetime, completed: dt.datetime | None = None,
          limit: int = 5) -> dict:
    return {"case_id": case_id, "unit_id": unit, "item_code": "SJ-001", "item_name": "食品经营许可",
            "accepted_at": accepted.replace(tzinfo=None), "promised_limit": Decimal(limit),
            "statutory_limit": Decimal(20), "limit_unit": "workday",
            "completed_at": completed.replace(tzinfo=None) if completed else None,
            "outcome": "approved" if completed else None}


#: As of Mon 12 Oct 2026 09:00 (Asia/Shanghai). 5 working days each, the acceptance day not
#: counted; 中秋 25–27 Sep and 国庆 1–7 Oct are holidays, Sat 10 Oct is worked.
CASES = [
    # accepted Tue 29 Sep: Wed 30 Sep (1), 1–7 Oct holiday, Thu 8 (2), Fri 9 (3), Sat 10 worked (4),
    # Mon 12 (5): due end of Mon 12 Oct → open, not yet overdue at 09:00
    _case("A1", "A", at(2026, 9, 29, 10)),
    # accepted Mon 21 Sep: Tue 22 (1), Wed 23 (2), Thu 24 (3), 中秋 Fri 25 – Sun 27, Mon 28 (4),
    # Tue 29 (5): due end of Tue 29 Sep → open, overdue
    _case("A2", "A", at(2026, 9, 21, 10)),
    # same deadline, completed Tue 29 Sep 15:00 → on time, inside the last 30 days
    _case("A3", "A", at(2026, 9, 21, 10), completed=at(2026, 9, 29, 15)),
    # same deadline, completed Wed 30 Sep 10:00 → late, inside the last 30 days
    _case("A4", "A", at(2026, 9, 21, 10), completed=at(2026, 9, 30, 10)),
    # completed Wed 5 Aug: before 12 Sep 09:00, outside the 30-day window
    _case("A5", "A", at(2026, 8, 3, 10), completed=at(2026, 8, 5, 10)),
    # accepted Fri 9 Oct: Sat 10 worked (1), Mon 12 (2) … → open, not overdue
    _case("B1", "B", at(2026, 10, 9, 10)),
    # accepted after the as-of time: did not exist yet
    _case("B2", "B", at(2026, 10, 13, 10)),
]
AS_OF = at(2026, 10, 12, 9)


def _write_config(folder: Path, source_url: str) -> Path:
    path = folder / "sunlight.yaml"
    path.write_text(f"timezone: Asia/Shanghai\nstate:\n  url: sqlite:///{folder / 'state.db'}\n"
                    f"sources:\n  main:\n    url: \"{source_url}\"\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def case_source(tmp_path_factory):
    """The cases above in a SQLite source (read-only to the engine, so shared by the module)."""
    folder = tmp_path_factory.mktemp("cases")
    url = f"sqlite:///{folder / 'source.db'}"
    db = SourceDB("sqlite", url, sa.create_engine(url))
    db.load("units", [{"unit_id": "A", "name": "甲局", "kind": "bureau"},
                      {"unit_id": "B", "name": "乙局", "kind": "bureau"}])
    db.load("cases", CASES)
    for t in ("case_pauses", "case_extensions", "case_steps"):
        db.load(t, [])
    db.engine.dispose()
    return load_settings(_write_config(folder, url))


def test_case_tally_counts_open_overdue_and_on_time_per_unit(case_source, calendar):
    tallies = CaseTallies()
    engine = Engine(case_source, calendar=calendar, watchers=[tallies])
    findings = []
    try:
        [outcome] = engine.scan(AS_OF, findings.append)
    finally:
        engine.close()
    assert outcome.ok
    t = tallies.snapshot()["main"]
    assert dict(t.open) == {"A": 2, "B": 1}
    assert dict(t.overdue) == {"A": 1}
    assert dict(t.completed) == {"A": 2}
    assert dict(t.on_time) == {"A": 1}
    # the tally agrees with the case checks: A2 (open) and A4 (completed late) are the late ones
    late = {(f.subject, f.evidence["state"]) for f in findings if f.check == "case_overdue"}
    assert late == {("A2", "open"), ("A4", "completed_late")}


def test_case_gauges_and_scorecard_ratio(case_source, calendar, tmp_path):
    tallies = CaseTallies()
    engine = Engine(case_source, calendar=calendar, watchers=[tallies])
    try:
        engine.scan(AS_OF, lambda f: None)
    finally:
        engine.close()
    store = open_store(f"sqlite:///{tmp_path / 'metrics-state.db'}")
    registry = CollectorRegistry()
    registry.register(StoreCollector(lambda: (store, calendar, case_source), tallies,
                                     now=lambda: AS_OF))
    scrape = samples(registry)
    assert value(scrape, "sunlight_cases_open", source="main", unit="A") == 2
    assert value(scrape, "sunlight_cases_open", source="main", unit="B") == 1
    assert value(scrape, "sunlight_cases_overdue", source="main", unit="A") == 1
    assert value(scrape, "sunlight_cases_overdue", source="main", unit="B") == 0
    assert value(scrape, "sunlight_unit_on_time_ratio", source="main", unit="A") == 0.5
    # no completed case in B: no ratio rather than a made-up 0 or 1
    assert value(scrape, "sunlight_unit_on_time_ratio", source="main", unit="B") is None
    assert value(scrape, "sunlight_cases_tally_timestamp_seconds", source="main") == AS_OF.timestamp()


def test_failed_scan_keeps_the_previous_tally(case_source, calendar, tmp_path):
    tallies = CaseTallies()
    engine = Engine(case_source, calendar=calendar, watchers=[tallies])
    try:
        engine.scan(AS_OF, lambda f: None)
    finally:
        engine.close()
    before = tallies.snapshot()["main"]
    # the same source name, now pointing at a database that is not there
    missing = load_settings(_write_config(tmp_path, f"sqlite:///{tmp_path / 'gone.db'}"))
    engine = Engine(missing, calendar=calendar, watchers=[tallies])
    try:
        [outcome] = engine.scan(AS_OF, lambda f: None)
    finally:
        engine.close()
    assert not outcome.ok
    assert tallies.snapshot()["main"] is before


def test_stopping_abandons_the_scan_between_records(case_source, calendar):
    stopping = threading.Event()
    stopping.set()
    engine = Engine(case_source, calendar=calendar, watchers=[CaseTallies()],
                    stop_requested=stopping.is_set)
    try:
        [outcome] = engine.scan(AS_OF, lambda f: None)
    finally:
        engine.close()
    assert not outcome.ok
    assert "shutting down" in (outcome.error or "")


# --- the store collector ---------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> sa.Engine:
    engine = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield engine
    engine.dispose()


def _collector(store: sa.Engine, settings, now: dt.datetime, calendar: WorkCalendar):
    registry = CollectorRegistry()
    registry.register(StoreCollector(lambda: (store, calendar, settings),
                                     CaseTallies(), now=lambda: now))
    return registry


def test_open_findings_by_check_unit_tier_match_the_store(case_source, calendar, store):
    engine = Engine(case_source, calendar=calendar, watchers=[CaseTallies()])
    try:
        scan_and_record(engine, store, AS_OF)
    finally:
        engine.close()
    scrape = samples(_collector(store, case_source, AS_OF, calendar))
    # A2 open and late, A4 late: case_overdue level3 for unit A, nothing else late
    assert value(scrape, "sunlight_findings_open", check="case_overdue", unit="A", tier="level3") == 2
    assert value(scrape, "sunlight_findings_raised_total", check="case_overdue") == 2
    with store.begin() as conn:  # one of them resolved: no longer open, still raised
        conn.exec_driver_sql("UPDATE findings SET resolved_at = '2026-10-12 02:00:00' "
                             "WHERE subject = 'A4' AND check_id = 'case_overdue'")
    scrape = samples(_collector(store, case_source, AS_OF, calendar))
    assert value(scrape, "sunlight_findings_open", check="case_overdue", unit="A", tier="level3") == 1
    assert value(scrape, "sunlight_findings_raised_total", check="case_overdue") == 2


def test_a_store_behind_the_schema_is_reported_down_not_half_read(case_source, calendar, tmp_path):
    """A store with the findings tables only (as before the letters migration).

    The daemon migrates the store when it starts, so a store without the
    letters tables is one that someone else rolled back: the scrape says the
    store is unreadable instead of exporting a partial picture.
    """
    store = open_store(f"sqlite:///{tmp_path / 'findings-only.db'}", migrate=False)
    Base.metadata.create_all(store, tables=[FindingRow.__table__, ScanRun.__table__])
    with capture_logs() as logs:
        collector = _collector(store, case_source, AS_OF, calendar)
        families = {f.name: f for f in collector.collect()}
    store.dispose()
    [up] = families["sunlight_state_store_up"].samples
    assert up.value == 0
    assert not {n for n in families if n.startswith(("sunlight_findings", "sunlight_letters",
                                                     "sunlight_outbox", "sunlight_deliveries"))}
    assert [e["event"] for e in logs] == ["state store unreadable for metrics"]


def test_letters_and_deliveries_from_the_letters_tables(case_source, store, calendar):
    letters = [
        # id, unit, tier, status
        (1, "A", "level3", "issued"),
        (2, "A", "level3", "overdue"),
        (3, "A", "level2", "escalated"),
        (4, "B", "level3", "closed"),
        (5, "B", "level2", "acknowledged"),
        (6, "B", "level2", "overdue"),
        (7, "B", "level1", "overdue"),
        (8, "B", "reminder", "issued"),  # a numbered notice: not a letter that asks anything
        (9, None, "reminder", "issued"),  # a data-owner notice has no unit
    ]
    deliveries = [
        # letter, channel, status, created (minutes before now)
        (1, "office_email", "delivered", 50),
        (2, "office_email", "pending", 30),
        (3, "office_email", "pending", 10),
        (4, "office_email", "dead", 90),
        (5, "wecom", "delivered", 20),
        (6, "wecom", "delivered", 20),
        (7, "wecom", "pending", 5),
    ]
    now = dt.datetime(2026, 10, 12, 2, 0, tzinfo=UTC)
    with store.begin() as conn:
        for lid, unit, tier, status in letters:
            add_letter(conn, lid, unit, tier, status, now - dt.timedelta(days=20))
        for lid, channel, status, minutes in deliveries:
            created = now - dt.timedelta(minutes=minutes)
            add_delivery(conn, lid, channel, status, created, created)
    scrape = samples(_collector(store, case_source, now, calendar))
    v = lambda name, **kw: value(scrape, name, **kw)  # noqa: E731
    assert v("sunlight_letters_open", tier="level3", status="issued") == 1
    assert v("sunlight_letters_open", tier="level3", status="overdue") == 1
    assert v("sunlight_letters_open", tier="level2", status="overdue") == 1
    assert v("sunlight_letters_open", tier="level2", status="acknowledged") == 1
    assert v("sunlight_letters_open", tier="level1", status="overdue") == 1
    assert v("sunlight_letters_open", tier="level2", status="escalated") is None  # superseded
    assert v("sunlight_letters_open", tier="level3", status="closed") is None
    assert v("sunlight_letters_issued_total", tier="level3") == 3
    assert v("sunlight_letters_issued_total", tier="level2") == 3
    assert v("sunlight_letters_issued_total", tier="level1") == 1
    assert v("sunlight_letters_issued_total", tier="reminder") == 2
    assert v("sunlight_letters_open", tier="reminder", status="issued") is None
    assert v("sunlight_letters_overdue", unit="A") == 1
    assert v("sunlight_letters_overdue", unit="B") == 2
    assert v("sunlight_deliveries_total", channel="office_email", result="delivered") == 1
    assert v("sunlight_deliveries_total", channel="office_email", result="dead") == 1
    assert v("sunlight_deliveries_total", channel="wecom", result="delivered") == 2
    assert v("sunlight_outbox_pending", channel="office_email") == 2
    assert v("sunlight_outbox_pending", channel="wecom") == 1
    assert v("sunlight_outbox_dead", channel="office_email") == 1
    assert v("sunlight_outbox_dead", channel="wecom") is None
    assert v("sunlight_outbox_oldest_pending_age_seconds", channel="office_email") == 30 * 60
    assert v("sunlight_outbox_oldest_pending_age_seconds", channel="wecom") == 5 * 60


def test_state_store_down_is_reported_not_raised(case_source, calendar, tmp_path):
    broken = sa.create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'state.db'}")
    scrape = samples(_collector(broken, case_source, AS_OF, calendar))
    assert value(scrape, "sunlight_state_store_up") == 0
    # the calendar does not need the store
    assert value(scrape, "sunlight_calendar_uncovered_ahead") is not None


# --- the calendar ----------------------------------------------------------------------


def test_calendar_coverage_ahead(case_source, store, calendar, tmp_path):
    """2040 is beyond any notice: nothing covered until the office adds that year's file."""
    tz = case_source.tz
    now = dt.datetime(2040, 11, 15, 9, tzinfo=tz)
    scrape = samples(_collector(store, case_source, now, calendar))
    assert value(scrape, "sunlight_calendar_uncovered_ahead") == 60
    assert value(scrape, "sunlight_calendar_covered_until_timestamp_seconds") == dt.datetime(
        2040, 11, 15, tzinfo=tz).timestamp()

    override = tmp_path / "2040.yaml"
    override.write_text("year: 2040\nnotice: test\nholidays: []\nworkdays: []\n", encoding="utf-8")
    cal = WorkCalendar.from_files([override])
    scrape = samples(_collector(store, case_source, now, cal))
    # covered 15 Nov – 31 Dec 2040: 16 + 31 = 47 days; 60 - 47 = 13 uncovered
    assert value(scrape, "sunlight_calendar_uncovered_ahead") == 13
    assert value(scrape, "sunlight_calendar_covered_until_timestamp_seconds") == dt.datetime(
        2041, 1, 1, tzinfo=tz).timestamp()
