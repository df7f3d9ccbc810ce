"""``sunlight run`` as a real process: scrape it, reload it, stop it.

One daemon serves the whole module (starting it costs a second or two); the
tests run in file order: what it serves, then SIGHUP, then SIGTERM.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from sunlight.monitor.demo.run import build_sources
from sunlight.monitor.demo.schema import metadata as canonical
from sunlight.monitor.store import open_store
from tests.test_deploy import DASHBOARD, RULES, dashboard_metrics, rule_metrics
from tests.test_metrics import add_delivery, add_letter

TZ_OFFSET = dt.timedelta(hours=8)
#: how long the tests wait for the daemon to do something before they give up (not a timing check)
PATIENCE = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_text(port: int, interval: str = "1h") -> str:
    return (
        "timezone: Asia/Shanghai\n"
        "state:\n  url: sqlite:///state.db\n"
        "sources:\n  approvals:\n    url: sqlite:///approvals.db\n"
        f"    interval: {interval}\n"
        "server:\n"
        f"  listen: 127.0.0.1:{port}\n"
        "  deliver_every: 1h\n"
        "  shutdown_grace: 10s\n"
    )


@dataclass
class Running:
    proc: subprocess.Popen
    url: str
    folder: Path
    config: Path
    log: Path
    port: int

    def scrape(self) -> str:
        r = httpx.get(f"{self.url}/metrics", timeout=10)
        r.raise_for_status()
        return r.text


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def series(scrape: dict, name: str) -> dict[frozenset, float]:
    return {labels: v for (n, labels), v in scrape.items() if n == name}


def wait_for(predicate, what: str, proc: subprocess.Popen, log: Path):
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the daemon exited ({proc.returncode}) while waiting for {what}:\n"
                        f"{log.read_text()[-3000:]}")
        try:
            result = predicate()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}:\n{log.read_text()[-3000:]}")


def _add_recent_cases(db: Path) -> None:
    """Two cases dated from today, so the 30-day scorecard has something whatever the date."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None) + TZ_OFFSET  # naive Asia/Shanghai, as sources hold it
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(sa.insert(canonical.tables["cases"]), [
            {"case_id": "NOW-1", "unit_id": "SJJ", "item_code": "SJ-001", "item_name": "食品经营许可",
             "accepted_at": now - dt.timedelta(days=6), "promised_limit": Decimal(20),
             "limit_unit": "day", "completed_at": now - dt.timedelta(days=2), "outcome": "approved"},
            {"case_id": "NOW-2", "unit_id": "SJJ", "item_code": "SJ-001", "item_name": "食品经营许可",
             "accepted_at": now - dt.timedelta(days=90), "promised_limit": Decimal(5),
             "limit_unit": "day", "completed_at": None, "outcome": None},
        ])
    engine.dispose()


def _seed_letters(folder: Path) -> None:
    """Letters and deliveries beside the ones the daemon's own cycle will issue."""
    store = open_store(f"sqlite:///{folder / 'state.db'}")
    now = dt.datetime.now(dt.UTC)
    letters = [(1, "SJJ", "level3", "issued"), (2, "SJJ", "level3", "overdue"),
               (3, "ZJJ", "level2", "acknowledged"), (4, "ZJJ", "level3", "closed")]
    # pending ones are not due for a day: the delivery worker leaves them alone during the test
    deliveries = [(1, "office_email", "delivered"), (2, "office_email", "pending"),
                  (3, "office_email", "dead"), (4, "letters_folder", "delivered")]
    with store.begin() as conn:
        for lid, unit, tier, status in letters:
            add_letter(conn, lid, unit, tier, status, now - dt.timedelta(hours=1))
        for lid, channel, status in deliveries:
            add_delivery(conn, lid, channel, status, now - dt.timedelta(hours=1),
                         now + dt.timedelta(days=1))
    store.dispose()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("daemon")
    build_sources(folder, n_cases=60)
    _add_recent_cases(folder / "approvals.db")
    _seed_letters(folder)
    port = free_port()
    config = folder / "sunlight.yaml"
    config.write_text(config_text(port), encoding="utf-8")
    log = folder / "daemon.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            # no --log-level: run logs at INFO by default
            [sys.executable, "-m", "sunlight.monitor.cli", "run", "-c", str(config)],
            cwd=folder, stdout=err, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    running = Running(proc, f"http://127.0.0.1:{port}", folder, config, log, port)
    try:
        wait_for(lambda: httpx.get(f"{running.url}/readyz", timeout=5).status_code == 200,
                 "the first cycle (/readyz)", proc, log)
        yield running
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_logs_its_start_and_each_cycle_at_the_default_level(daemon):
    lines = [json.loads(line) for line in daemon.log.read_text(encoding="utf-8").splitlines()
             if line.startswith("{")]
    assert all("logger" in line for line in lines), "every line names its logger"
    [started] = [line for line in lines if line["event"] == "daemon started"]
    assert started["listen"] == daemon.url
    assert started["config"] == str(daemon.config)
    assert started["version"]
    cycles = [line for line in lines if line["event"] == "cycle done"]
    assert cycles and {"findings", "letters_issued", "seconds"} <= set(cycles[0])


def test_healthz_and_readyz(daemon):
    assert httpx.get(f"{daemon.url}/healthz").json() == {"status": "alive"}
    ready = httpx.get(f"{daemon.url}/readyz").json()
    assert ready["state_store"] == "ok"
    assert ready["sources"]["approvals"]["fresh"] is True
    assert httpx.get(f"{daemon.url}/-/reload").status_code == 405  # reload is POST only
    assert httpx.get(f"{daemon.url}/nothing").status_code == 404


def test_open_findings_in_the_scrape_match_the_state_store(daemon):
    scrape = parse(daemon.scrape())
    engine = sa.create_engine(f"sqlite:///{daemon.folder / 'state.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT check_id, unit_id, tier, resolved_at, evidence FROM findings")).all()
    engine.dispose()
    # data_quality findings carry no unit label: a bad row's unit id is not a bounded value
    want = Counter((c, "" if c == "data_quality" else u, t) for c, u, t, resolved, _ in rows
                   if resolved is None)
    assert want[("data_quality", "", "reminder")] >= 1  # the demo's unreadable rows
    got = {(dict(k)["check"], dict(k)["unit"], dict(k)["tier"]): v
           for k, v in series(scrape, "sunlight_findings_open").items()}
    assert want and got == dict(want)
    assert series(scrape, "sunlight_findings_raised_total") == {
        frozenset({("check", c)}): n for c, n in Counter(c for c, *_ in rows).items()}
    # the case tally agrees with the findings: open late cases per unit
    late_open = Counter(u for c, u, _, resolved, ev in rows
                        if c == "case_overdue" and resolved is None
                        and json.loads(ev).get("state") == "open")
    overdue = {dict(k)["unit"]: v for k, v in series(scrape, "sunlight_cases_overdue").items() if v}
    assert overdue == dict(late_open)
    # the case dated from today: one completion in SJJ's last 30 days, on time
    assert scrape[("sunlight_cases_completed_30d",
                   frozenset({("source", "approvals"), ("unit", "SJJ")}))] >= 1
    assert scrape[("sunlight_source_up", frozenset({("source", "approvals")}))] == 1
    assert scrape[("sunlight_cycles_total",
                   frozenset({("source", "approvals"), ("result", "ok")}))] == 1


def test_letters_and_outbox_in_the_scrape_match_the_state_store(daemon):
    scrape = parse(daemon.scrape())
    engine = sa.create_engine(f"sqlite:///{daemon.folder / 'state.db'}")
    with engine.connect() as conn:
        letters = conn.execute(sa.text("SELECT unit_id, tier, status FROM letters")).all()
        deliveries = conn.execute(sa.text("SELECT channel, status FROM deliveries")).all()
    engine.dispose()
    assert len(letters) > 4, "the daemon's cycle issued no letters of its own"
    open_statuses = {"issued", "acknowledged", "report_received", "admonition_held", "overdue"}
    want_open = Counter((t, s) for _, t, s in letters if s in open_statuses and t != "reminder")
    got_open = {(dict(k)["tier"], dict(k)["status"]): v
                for k, v in series(scrape, "sunlight_letters_open").items()}
    assert got_open == dict(want_open) and got_open[("level3", "overdue")] >= 1
    assert {dict(k)["tier"]: v for k, v in series(scrape, "sunlight_letters_issued_total").items()} \
        == dict(Counter(t for _, t, _ in letters))
    assert {dict(k)["unit"]: v for k, v in series(scrape, "sunlight_letters_overdue").items()} \
        == dict(Counter(u or "" for u, _, s in letters if s == "overdue"))
    assert {(dict(k)["channel"], dict(k)["result"]): v
            for k, v in series(scrape, "sunlight_deliveries_total").items()} \
        == dict(Counter((c, s) for c, s in deliveries if s in ("delivered", "dead")))
    assert {dict(k)["channel"]: v for k, v in series(scrape, "sunlight_outbox_pending").items()} \
        == dict(Counter(c for c, s in deliveries if s == "pending"))
    assert {dict(k)["channel"]: v for k, v in series(scrape, "sunlight_outbox_dead").items()} \
        == dict(Counter(c for c, s in deliveries if s == "dead"))


def test_no_case_ids_or_people_in_labels(daemon):
    text = daemon.scrape()
    label_values = {v for fam in text_string_to_metric_families(text) for s in fam.samples
                    for v in s.labels.values()}
    assert not {v for v in label_values if v.startswith(("NOW-", "SJJ2026", "ZJJ2026"))}
    assert "_created" not in text  # switched off: they would double the series


def test_promtool_check_metrics_passes_on_a_real_scrape(daemon):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus); CI installs it")
    done = subprocess.run([promtool, "check", "metrics"], input=daemon.scrape().encode(),
                          capture_output=True, timeout=60)
    assert done.returncode == 0, (done.stdout + done.stderr).decode()


def test_every_dashboard_and_alert_metric_exists_in_a_real_scrape(daemon):
    text = daemon.scrape()
    with_samples = {name for name, _ in parse(text)}
    used = dashboard_metrics(json.loads(DASHBOARD.read_text(encoding="utf-8")))
    assert used, "no metric found in the dashboard: the PromQL parser is broken"
    assert sorted(used - with_samples) == []  # every dashboard metric has data, too
    # the alert rules: declared in the scrape (a counter of errors may have no series yet);
    # ``up`` is Prometheus's own
    declared = with_samples | {f.name + ("_total" if f.type == "counter" else "")
                               for f in text_string_to_metric_families(text)}
    assert sorted(rule_metrics(RULES) - declared - {"up"}) == []


def test_sighup_with_a_broken_config_keeps_the_old_one(daemon):
    good = daemon.config.read_text(encoding="utf-8")
    daemon.config.write_text(good.replace("interval: 1h", "interval: often"), encoding="utf-8")
    daemon.proc.send_signal(signal.SIGHUP)
    failed = ("sunlight_config_reloads_total", frozenset({("result", "failure")}))
    wait_for(lambda: parse(daemon.scrape())[failed] == 1, "the reload failure counter",
             daemon.proc, daemon.log)
    scrape = parse(daemon.scrape())
    assert scrape[("sunlight_config_last_reload_successful", frozenset())] == 0
    # still serving, still on the old config
    assert scrape[("sunlight_source_interval_seconds", frozenset({("source", "approvals")}))] == 3600
    assert httpx.get(f"{daemon.url}/healthz").status_code == 200
    # the same through the HTTP endpoint: rejected with the file, key and problem
    r = httpx.post(f"{daemon.url}/-/reload")
    assert r.status_code == 400
    assert "sources.approvals.interval" in r.json()["error"]
    assert parse(daemon.scrape())[failed] == 2
    log_lines = [json.loads(line) for line in daemon.log.read_text().splitlines()
                 if line.startswith("{")]
    rejected = [e for e in log_lines if e["event"].startswith("config reload failed")]
    assert [e["origin"] for e in rejected] == ["SIGHUP", "http"]

    # a good config is swapped in: the interval changes
    daemon.config.write_text(good.replace("interval: 1h", "interval: 2h"), encoding="utf-8")
    daemon.proc.send_signal(signal.SIGHUP)
    ok = ("sunlight_config_reloads_total", frozenset({("result", "success")}))
    wait_for(lambda: parse(daemon.scrape())[ok] == 1, "the reload success counter",
             daemon.proc, daemon.log)
    scrape = parse(daemon.scrape())
    assert scrape[("sunlight_source_interval_seconds", frozenset({("source", "approvals")}))] == 7200
    assert scrape[("sunlight_config_last_reload_successful", frozenset())] == 1


def test_logs_are_json_lines_naming_their_source(daemon):
    lines = daemon.log.read_text().splitlines()
    events = [json.loads(line) for line in lines]  # every line is JSON when stderr is not a TTY
    cycles = [e for e in events if e["event"] in ("cycle done", "source scanned", "findings recorded")]
    assert cycles and all(e["source"] == "approvals" for e in cycles)


def test_sigterm_exits_0(daemon):
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=PATIENCE) == 0
    events = [json.loads(line)["event"] for line in daemon.log.read_text().splitlines()]
    assert "stopping" in events and events[-1] == "stopped"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{daemon.url}/healthz", timeout=2)


def test_demo_serve_runs_the_daemon_and_prints_the_metrics_url(tmp_path):
    with socket.socket() as s:  # the demo config uses the default port
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the daemon's server does
        try:
            s.bind(("127.0.0.1", 9464))
        except OSError:
            pytest.skip("port 9464 is in use here; sunlight demo --serve listens on it")
    out = tmp_path / "demo.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "sunlight.monitor.cli", "demo",
                                 "--dir", str(tmp_path / "d"), "--serve"],
                                stdout=sink, stderr=subprocess.STDOUT)
    try:
        line = wait_for(lambda: next((ln for ln in out.read_text().splitlines() if "/metrics" in ln),
                                     None), "the metrics URL", proc, out)
        url = line.split("metrics: ", 1)[1].split()[0]
        assert url == "http://127.0.0.1:9464/metrics"
        # the daemon's own first cycle (the demo's one-off scan recorded findings before it started)
        text = wait_for(lambda: (t := httpx.get(url, timeout=5).text)
                        and 'sunlight_source_up{source="approvals"} 1.0' in t and t,
                        "the daemon's first cycle", proc, out)
        assert "sunlight_findings_open{" in text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=PATIENCE) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.postgres
def test_sigterm_during_a_stuck_read_exits_0_after_the_grace_period(postgres_db, tmp_path):
    """A source query that will not return for 30 s: SIGTERM still ends the daemon, exit 0."""
    postgres_db.load("units", [{"unit_id": "A", "name": "甲局", "kind": "bureau"}])
    postgres_db.load("cases", [])
    marker = f"sunlight_stuck_{os.getpid()}"  # the source connection's application_name
    url = sa.engine.make_url(postgres_db.url).update_query_dict({"application_name": marker})
    config = tmp_path / "sunlight.yaml"
    config.write_text(
        "timezone: Asia/Shanghai\n"
        f"state:\n  url: sqlite:///{tmp_path / 'state.db'}\n"
        f"sources:\n  slow:\n    url: \"{url.render_as_string(hide_password=False)}\"\n"
        "    interval: 1h\n    entities:\n      units:\n        query: >-\n"
        "          SELECT u.unit_id, u.name, u.kind, u.parent_id\n"
        "          FROM units u CROSS JOIN (SELECT pg_sleep(30)) s\n"
        f"server:\n  listen: 127.0.0.1:{free_port()}\n  shutdown_grace: 1s\n",
        encoding="utf-8")
    log = tmp_path / "daemon.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "sunlight.monitor.cli", "--log-level", "INFO", "run",
                                 "-c", str(config)], stdout=err, stderr=subprocess.STDOUT)
    admin = sa.create_engine(postgres_db.url)
    try:

        def sleeping() -> bool:  # the streamed read waits on its first FETCH while pg_sleep runs
            with admin.connect() as conn:
                return conn.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = :m "
                    "AND state = 'active' AND query LIKE 'FETCH%'"), {"m": marker}).scalar_one() > 0

        wait_for(sleeping, "the daemon's read to be stuck in pg_sleep", proc, log)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=PATIENCE) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with admin.connect() as conn:  # the server would sleep on; it holds a lock on the schema
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE application_name = :m"), {"m": marker})
        admin.dispose()
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert "work still running after the grace period; exiting without it" in events
