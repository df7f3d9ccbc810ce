"""The daemon's parts in process: triggers, jobs, reload, readiness, HTTP, a PostgreSQL store.

Cron dates are worked out by hand from the 2026 notice: 中秋 25–27 Sep,
国庆 1–7 Oct, Sat 10 Oct worked.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from structlog.testing import capture_logs

from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.configure import ConfigError, load_settings
from sunlight.monitor.daemon import Daemon
from sunlight.monitor.scheduler import DELIVER_JOB, WorkdayCronTrigger, cron_job_id, cycle_job_id
from tests.conftest import TZ, at


@pytest.fixture(scope="module")
def calendar() -> WorkCalendar:
    return WorkCalendar.from_files([])


# --- triggers --------------------------------------------------------------------------


def _fires(trigger, start: dt.datetime, n: int) -> list[dt.datetime]:
    out, prev, now = [], None, start
    for _ in range(n):
        prev = trigger.get_next_fire_time(prev, now)
        out.append(prev)
        now = prev
    return out


def test_workday_cron_skips_holidays_and_fires_on_makeup_saturdays(calendar):
    trigger = WorkdayCronTrigger(CronTrigger.from_crontab("30 8 * * *", timezone=TZ), calendar)
    fires = _fires(trigger, at(2026, 9, 24, 9), 5)
    assert fires == [
        at(2026, 9, 28, 8, 30),  # Thu 24 Sep 08:30 has passed; Fri 25 – Sun 27 中秋
        at(2026, 9, 29, 8, 30),
        at(2026, 9, 30, 8, 30),
        at(2026, 10, 8, 8, 30),  # 国庆 1–7 Oct
        at(2026, 10, 9, 8, 30),
    ]
    assert _fires(trigger, at(2026, 10, 9, 9), 2) == [
        at(2026, 10, 10, 8, 30),  # Sat 10 Oct is a working day (调休)
        at(2026, 10, 12, 8, 30),
    ]
    # what cron's own mon-fri would have done: fire on National Day
    plain = CronTrigger.from_crontab("30 8 * * mon-fri", timezone=TZ)
    assert plain.get_next_fire_time(None, at(2026, 9, 30, 9)) == at(2026, 10, 1, 8, 30)


# --- a daemon on a small config ----------------------------------------------------------


def _config(path: Path, source_url: str, state_url: str, extra: str = "") -> Path:
    path.write_text(
        "timezone: Asia/Shanghai\n"
        f"state:\n  url: \"{state_url}\"\n"
        + ("" if "routes:" in extra else "routes: none\n") +
        f"sources:\n  main:\n    url: \"{source_url}\"\n    interval: 10m\n    misfire_grace: 2m\n"
        "    cron:\n      - {crontab: \"30 8 * * *\", workdays_only: true}\n      - \"0 17 * * 5\"\n"
        f"server:\n  listen: 127.0.0.1:0\n  deliver_every: 5s\n{extra}",
        encoding="utf-8")
    return path


@pytest.fixture
def source_url(sqlite_db) -> str:
    sqlite_db.load("units", [{"unit_id": "A", "name": "甲局", "kind": "bureau"}])
    sqlite_db.load("cases", [{"case_id": "A1", "unit_id": "A", "accepted_at": dt.datetime(2026, 9, 21, 10),
                              "promised_limit": 5, "limit_unit": "workday"}])
    for t in ("case_pauses", "case_extensions", "case_steps"):
        sqlite_db.load(t, [])
    return sqlite_db.url


@pytest.fixture
def daemon(tmp_path, source_url):
    config = _config(tmp_path / "sunlight.yaml", source_url, f"sqlite:///{tmp_path / 'state.db'}")
    d = Daemon(config, load_settings(config))
    d.web.start()
    yield d
    d.web.stop()
    d.runtime.close()


def test_jobs_coalesce_run_one_at_a_time_and_have_a_misfire_grace(daemon):
    daemon.scheduler.start(paused=True)  # job defaults apply once the scheduler runs
    daemon._schedule(daemon.runtime)
    jobs = {j.id: j for j in daemon.scheduler.get_jobs()}
    daemon.scheduler.shutdown(wait=False)
    assert set(jobs) == {cycle_job_id("main"), cron_job_id("main", 0), cron_job_id("main", 1),
                         DELIVER_JOB}
    cycle = jobs[cycle_job_id("main")]
    assert isinstance(cycle.trigger, IntervalTrigger)
    assert cycle.trigger.interval == dt.timedelta(minutes=10)
    assert isinstance(jobs[cron_job_id("main", 0)].trigger, WorkdayCronTrigger)
    assert isinstance(jobs[cron_job_id("main", 1)].trigger, CronTrigger)  # no workdays_only
    for job in jobs.values():
        assert job.coalesce is True
        assert job.max_instances == 1
    assert cycle.misfire_grace_time == 120
    assert jobs[DELIVER_JOB].trigger.interval == dt.timedelta(seconds=5)


def test_not_ready_until_a_cycle_succeeded(daemon):
    r = httpx.get(f"{daemon.web.url}/readyz")
    assert r.status_code == 503
    assert r.json()["sources"]["main"]["fresh"] is False
    daemon.run_source("main")  # one cycle, here and now
    r = httpx.get(f"{daemon.web.url}/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["sources"]["main"]["limit_seconds"] == 3 * 600


def test_stale_source_makes_it_unready(daemon):
    daemon.run_source("main")
    daemon.metrics.sources["main"].last_success -= 3 * 600 + 1  # as if 3 intervals had passed
    assert httpx.get(f"{daemon.web.url}/readyz").status_code == 503


def test_readiness_needs_the_state_store(daemon, tmp_path):
    daemon.run_source("main")
    daemon.runtime.store = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 's.db'}")
    r = httpx.get(f"{daemon.web.url}/readyz")
    assert r.status_code == 503 and r.json()["state_store"].startswith("unreachable")


def test_reload_swaps_a_valid_config_and_reschedules(daemon):
    old = daemon.runtime
    cfg = daemon.config_path
    cfg.write_text(cfg.read_text().replace("interval: 10m", "interval: 20m"))
    result = daemon.reload("test")
    assert result.ok
    assert daemon.runtime is not old and old.retired
    assert daemon.runtime.store is old.store  # same state URL: the store stays open
    job = daemon.scheduler.get_job(cycle_job_id("main"))
    assert job.trigger.interval == dt.timedelta(minutes=20)
    assert daemon.metrics.reloads.labels(result="success")._value.get() == 1


def test_reload_keeps_the_running_config_when_the_new_one_is_bad(daemon):
    old = daemon.runtime
    cfg = daemon.config_path
    good = cfg.read_text()
    for broken, key in [(good.replace("interval: 10m", "interval: soon"), "sources.main.interval"),
                        (good.replace("30 8 * * *", "30 25 * * *"), "sources.main.cron[0].crontab"),
                        (good + "  listen: nowhere\n", "server.listen")]:
        cfg.write_text(broken)
        with pytest.raises(ConfigError) as err:
            load_settings(cfg)
        assert key in str(err.value)
        with capture_logs() as logs:
            result = daemon.reload("test")
        assert not result.ok and daemon.runtime is old
        assert any(e["event"].startswith("config reload failed") for e in logs)
    assert daemon.metrics.reloads.labels(result="failure")._value.get() == 3
    assert daemon.metrics.reload_ok._value.get() == 0


def test_reload_endpoint_can_be_switched_off(daemon):
    cfg = daemon.config_path
    cfg.write_text(cfg.read_text() + "  reload_endpoint: false\n")
    assert httpx.post(f"{daemon.web.url}/-/reload").status_code == 200  # still on when asked
    r = httpx.post(f"{daemon.web.url}/-/reload")
    assert r.status_code == 403
    assert daemon.reload("SIGHUP").ok  # SIGHUP always works


def test_a_removed_source_is_forgotten(daemon, tmp_path, source_url):
    daemon.run_source("main")
    cfg = daemon.config_path
    cfg.write_text(cfg.read_text().replace("  main:\n", "  other:\n"))
    assert daemon.reload("test").ok
    text = httpx.get(f"{daemon.web.url}/metrics").text
    assert 'sunlight_source_interval_seconds{source="other"}' in text
    assert 'sunlight_source_interval_seconds{source="main"}' not in text
    assert 'sunlight_cases_open{source="main"' not in text
    assert 'sunlight_cycles_total{result="ok",source="main"}' not in text
    assert 'sunlight_cycles_total{result="ok",source="other"} 0.0' in text
    daemon.run_source("main")  # a job scheduled before the reload does nothing now
    text = httpx.get(f"{daemon.web.url}/metrics").text
    assert 'sunlight_cycles_total{result="ok",source="main"}' not in text


def test_shutdown_with_nothing_running_returns_0(tmp_path, source_url):
    config = _config(tmp_path / "sunlight.yaml", source_url, f"sqlite:///{tmp_path / 'state.db'}")
    d = Daemon(config, load_settings(config))
    d.web.start()
    d.scheduler.start(paused=True)
    assert d.shutdown() == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{d.web.url}/healthz", timeout=2)


# --- PostgreSQL as the state store ---------------------------------------------------------


@pytest.fixture
def postgres_state() -> str:
    url = os.environ.get("SUNLIGHT_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("PostgreSQL tests need SUNLIGHT_TEST_POSTGRES_URL (set by .ci/run)")
    schema = f"s_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    # trust auth ignores the password: it is here to prove it never reaches a log or a scrape
    state = sa.engine.make_url(url).set(password="pg-s3cret-pw").update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    try:
        yield state
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.mark.postgres
def test_postgres_state_store_metrics_and_no_secret_in_logs(tmp_path, source_url, postgres_state):
    config = _config(tmp_path / "sunlight.yaml", source_url, postgres_state)
    with capture_logs() as logs:
        d = Daemon(config, load_settings(config))
        d.web.start()
        try:
            d.run_source("main")
            d.reload("test")
            text = httpx.get(f"{d.web.url}/metrics").text
            ready = httpx.get(f"{d.web.url}/readyz")
        finally:
            d.web.stop()
            d.runtime.close()
    assert ready.status_code == 200, ready.text
    # A1: accepted Mon 21 Sep, 5 working days, due end of Tue 29 Sep (中秋 25–27): open and late now
    assert 'sunlight_findings_open{check="case_overdue",tier="level3",unit="A"} 1.0' in text
    assert 'sunlight_state_store_up 1.0' in text
    assert "pg-s3cret-pw" not in text
    assert "pg-s3cret-pw" not in repr(logs)
    assert any("***" in str(e.get("state", "")) for e in logs)


# --- the command line --------------------------------------------------------------------


@pytest.fixture
def cli_logging():
    """The CLI points structlog at the runner's stderr, which closes: put the config back."""
    import structlog

    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_run_with_a_bad_config_exits_2_and_names_the_key(tmp_path, source_url, cli_logging):
    from typer.testing import CliRunner

    from sunlight.monitor.cli import app

    config = _config(tmp_path / "sunlight.yaml", source_url, f"sqlite:///{tmp_path / 'state.db'}",
                     extra="  shutdown_grace: never\n")
    result = CliRunner().invoke(app, ["run", "-c", str(config)])
    assert result.exit_code == 2
    assert "server.shutdown_grace" in result.output


def test_run_on_a_taken_port_exits_1(tmp_path, source_url, cli_logging):
    import socket

    from typer.testing import CliRunner

    from sunlight.monitor.cli import app

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = _config(tmp_path / "sunlight.yaml", source_url, f"sqlite:///{tmp_path / 'state.db'}")
        config.write_text(config.read_text().replace("127.0.0.1:0", f"127.0.0.1:{port}"))
        result = CliRunner().invoke(app, ["run", "-c", str(config)])
    assert result.exit_code == 1
    assert f"127.0.0.1:{port}" in result.output
