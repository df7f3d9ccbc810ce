"""Monitoring tested for real (issue 10, item 8): Prometheus → Alertmanager → a webhook receiver.

Debian's ``prometheus`` scrapes a running ``sunlight run`` on 127.0.0.1 and
evaluates a copy of ``deploy/prometheus/rules`` (the ``for:`` of each rule
shortened so the test takes seconds, nothing else changed); Debian's
``prometheus-alertmanager`` receives the alerts and posts them to a real HTTP
receiver (``tests/receivers.py``). One of sunlight's two sources cannot be
read, so ``SunlightSourceDown`` must arrive at the receiver naming it.

Without the binaries the test skips with the reason; with
``SUNLIGHT_REQUIRE_SERVERS=1`` (``.ci/run``) it fails instead. Install:
``apt-get install -y prometheus prometheus-alertmanager``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import small_source
from tests.receivers import HttpReceiver, free_port
from tests.test_deploy import RULES

PATIENCE = 120.0  # seconds: a bound on every wait, not a timing assertion


def _binary(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if found is None:
        reason = (f"{name} not installed (Debian: apt-get install -y prometheus "
                  "prometheus-alertmanager); .ci/run installs it")
        if os.environ.get("SUNLIGHT_REQUIRE_SERVERS"):
            pytest.fail(f"SUNLIGHT_REQUIRE_SERVERS is set but {reason}")
        pytest.skip(reason)
    return found


def _wait(what: str, check: Callable[[], Any], procs: dict[str, subprocess.Popen[bytes]],
          logs: Path) -> Any:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited ({proc.returncode}) while waiting for {what}:\n"
                            + (logs / f"{name}.log").read_text()[-3000:])
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.5)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(logs.glob("*.log")))
    pytest.fail(f"gave up waiting for {what} after {PATIENCE:.0f} s\n{tails}")


def _test_rules(target: Path) -> None:
    """The shipped rules with every ``for:`` shortened to 2s: the same expressions and labels."""
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "2s"
    target.mkdir()
    (target / "sunlight.yml").write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")


def _source(path: Path) -> None:
    small_source(path, (
        "INSERT INTO units VALUES ('MZJ', '县民政局', NULL, 'department');"
        "INSERT INTO units VALUES ('CGZ', '城关镇人民政府', NULL, 'township');"
        "INSERT INTO cases (case_id, unit_id, item_code, item_name, accepted_at, promised_limit,"
        " limit_unit, completed_at, outcome) VALUES ('C1', 'MZJ', 'MZ-001', '最低生活保障审批',"
        " '2026-09-24 10:00:00', 5, 'workday', '2026-09-25 10:00:00', 'approved');"))


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    prometheus = _binary("prometheus")
    alertmanager = _binary("prometheus-alertmanager")
    receiver = HttpReceiver().start()
    logs = tmp_path / "logs"
    logs.mkdir()
    ports = {name: free_port() for name in ("sunlight", "prometheus", "alertmanager")}
    _source(tmp_path / "good.db")
    config = tmp_path / "sunlight.yaml"
    config.write_text(
        "timezone: Asia/Shanghai\n"
        f"state:\n  url: sqlite:///{tmp_path / 'state.db'}\n"
        "routes: none\n"
        "sources:\n"
        f"  good:\n    url: sqlite:///{tmp_path / 'good.db'}\n    interval: 2s\n"
        f"  gone:\n    url: sqlite:///{tmp_path / 'no-such-file.db'}\n    interval: 2s\n"
        "channels:\n  office_hook: {type: webhook, url: \"" + receiver.url + "/letters\"}\n"
        f"server:\n  listen: 127.0.0.1:{ports['sunlight']}\n  shutdown_grace: 2s\n",
        encoding="utf-8")
    _test_rules(tmp_path / "rules")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules/*.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}]},
        "scrape_configs": [{"job_name": "sunlight", "metrics_path": "/metrics",
                            "static_configs": [{"targets": [f"127.0.0.1:{ports['sunlight']}"]}]}],
    }), encoding="utf-8")
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump({
        "route": {"receiver": "office", "group_by": ["alertname", "source"], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "office", "webhook_configs": [
            {"url": f"{receiver.url}/alerts", "send_resolved": False}]}],
    }), encoding="utf-8")
    commands = {
        "sunlight": [sys.executable, "-m", "sunlight.monitor.cli", "run", "-c", str(config)],
        "alertmanager": [alertmanager, f"--config.file={tmp_path / 'alertmanager.yml'}",
                         f"--storage.path={tmp_path / 'am-data'}",
                         f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
                         "--cluster.listen-address="],
        "prometheus": [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                       f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                       f"--web.listen-address=127.0.0.1:{ports['prometheus']}"],
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, cmd in commands.items():
            with (logs / f"{name}.log").open("wb") as out:
                procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                               cwd=tmp_path)
        yield {"receiver": receiver, "procs": procs, "logs": logs, "ports": ports}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        receiver.stop()


def test_prometheus_scrapes_sunlight_and_alertmanager_posts_the_source_down_alert(stack) -> None:
    receiver: HttpReceiver = stack["receiver"]
    procs, logs, ports = stack["procs"], stack["logs"], stack["ports"]
    api = f"http://127.0.0.1:{ports['prometheus']}/api/v1"
    started = time.monotonic()

    def query(expr: str) -> list[dict[str, Any]]:
        r = httpx.get(f"{api}/query", params={"query": expr}, timeout=5)
        if r.status_code != 200:  # 503 "Service Unavailable" while Prometheus is starting
            return []
        body = r.json()
        return body["data"]["result"] if body.get("status") == "success" else []

    # the scrape is healthy and carries the zero series and the unit names
    _wait("sunlight scraped by Prometheus", lambda: [r for r in query('up{job="sunlight"}')
                                                     if r["value"][1] == "1"], procs, logs)
    for name in ("sunlight_letters_overdue", "sunlight_outbox_pending", "sunlight_outbox_dead",
                 "sunlight_outbox_oldest_pending_age_seconds"):
        result = _wait(f"{name} in Prometheus", lambda name=name: query(name), procs, logs)
        assert all(r["value"][1] == "0" for r in result), (name, result)  # 0, not absent
    names = _wait("sunlight_unit_info", lambda: query("sunlight_unit_info"), procs, logs)
    assert {r["metric"]["unit"]: r["metric"]["name"] for r in names} == \
        {"MZJ": "县民政局", "CGZ": "城关镇人民政府"}

    # every shipped rule is loaded
    groups = httpx.get(f"{api}/rules", timeout=5).json()["data"]["groups"]
    loaded = {r["name"] for g in groups for r in g["rules"]}
    shipped = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert loaded == shipped

    # the unreadable source: down in the scrape, firing in Prometheus, posted by Alertmanager
    assert _wait("sunlight_source_up of gone", lambda: query('sunlight_source_up{source="gone"} == 0'),
                 procs, logs)
    assert query('sunlight_source_up{source="good"}')[0]["value"][1] == "1"

    def posted() -> list[dict[str, Any]]:
        return [a for r in receiver.requests if r.path == "/alerts"
                for a in r.json().get("alerts", [])
                if a["labels"].get("alertname") == "SunlightSourceDown"]

    alerts = _wait("SunlightSourceDown at the receiver", posted, procs, logs)
    print(f"\nSunlightSourceDown reached the webhook {time.monotonic() - started:.1f} s after the "
          "stack started (scrape and evaluation 1s, for: 2s)")
    assert {a["labels"]["source"] for a in alerts} == {"gone"}
    assert alerts[0]["status"] == "firing"
    assert alerts[0]["labels"]["severity"] == "warning"
    assert "gone" in alerts[0]["annotations"]["summary"]
