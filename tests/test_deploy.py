"""The deploy/ files: Prometheus config and rules, the dashboard, compose, systemd, Docker.

What can run here runs (promtool, systemd-analyze); Docker cannot, so the
Dockerfile and compose file are checked for the properties that matter.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sunlight.monitor.configure import load_settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "sunlight.json"
RULES = DEPLOY / "prometheus" / "rules" / "sunlight.yml"

#: PromQL words that look like metric names but are not
_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
                 "unless", "offset", "bool", "inf", "nan"}


def promql_metrics(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels and keywords removed)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # range selectors
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        if e[m.end():].lstrip().startswith("("):  # a function or aggregation
            continue
        if m.group(0).lower() not in _PROMQL_WORDS:
            names.add(m.group(0))
    return names


def dashboard_metrics(dashboard: dict) -> set[str]:
    names: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            names |= promql_metrics(target["expr"])
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        query = query.get("query", "") if isinstance(query, dict) else (query or "")
        m = re.match(r"label_values\((\w+)\s*,", query)
        if m:
            names.add(m.group(1))
    return names


def rule_metrics(path: Path) -> set[str]:
    rules = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {n for g in rules["groups"] for r in g["rules"] for n in promql_metrics(r["expr"])}


def test_promql_metric_extraction():
    assert promql_metrics(
        'sort(sum by (unit) (a_total{unit=~"$unit"}) / sum by (unit) (b{x="y"}))') == {"a_total", "b"}
    assert promql_metrics("histogram_quantile(0.95, sum by (le) (rate(c_bucket[$__rate_interval])))") \
        == {"c_bucket"}
    assert promql_metrics("time() - d > 3 * e or vector(0)") == {"d", "e"}


def test_dashboard_uses_only_sunlight_metrics_and_the_provisioned_datasource():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    names = dashboard_metrics(dashboard)
    assert names and all(n.startswith("sunlight_") for n in names), names
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]["uid"]
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == provisioned
    titles = " ".join(p["title"] for p in dashboard["panels"])
    for wanted in ("按预警等级", "超期在办件趋势", "按状态与等级", "按时办结率排名", "投递"):
        assert wanted in titles
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_is_provisioned_from_where_compose_mounts_it():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/sunlight.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert f"./grafana/dashboards:{path}:ro" in compose["services"]["grafana"]["volumes"]


def _promtool() -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus); CI installs it")
    return promtool


def test_promtool_check_config():
    done = subprocess.run([_promtool(), "check", "config", "prometheus.yml"],
                          cwd=DEPLOY / "prometheus", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rule files found" in done.stdout + done.stderr


def test_promtool_check_rules():
    done = subprocess.run([_promtool(), "check", "rules", str(RULES)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_alert_unit_tests():
    """The alerts fire after their `for` and not before (deploy/prometheus/tests)."""
    done = subprocess.run([_promtool(), "test", "rules", "tests/sunlight.test.yml"],
                          cwd=DEPLOY / "prometheus", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_alert_rules_cover_sunlight_health():
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    assert "sunlight_cycle_last_success_timestamp_seconds" in alerts["SunlightNoSuccessfulCycle"]
    assert "sunlight_source_up" in alerts["SunlightSourceDown"]
    assert "sunlight_outbox_dead" in alerts["SunlightDeadDeliveries"]
    assert "sunlight_calendar_uncovered_ahead" in alerts["SunlightCalendarNotCovered"]


def test_systemd_unit_is_hardened_and_verifies(tmp_path):
    text = (DEPLOY / "systemd" / "sunlight.service").read_text()
    keys = [line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")]
    service = {k: v for k, v in keys}
    assert service["User"] == "sunlight"
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "yes"
    assert service["StateDirectory"] == "sunlight"
    assert "ReadWritePaths" not in service  # the state directory is the only writable place
    assert service["CapabilityBoundingSet"] == ""
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["RestartPreventExitStatus"] == "2"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    sunlight = shutil.which("sunlight") or str(Path(__import__("sys").executable).with_name("sunlight"))
    unit = tmp_path / "sunlight.service"
    unit.write_text(text.replace("/opt/sunlight/bin/sunlight", sunlight))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (done.stdout + done.stderr).splitlines() if str(unit) in line]
    assert done.returncode == 0 and problems == [], done.stdout + done.stderr


def test_compose_stack():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "sunlight", "prometheus", "grafana"}
    assert services["db"]["image"].startswith("postgres:")
    for name, svc in services.items():  # published on loopback only
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    sunlight = services["sunlight"]
    assert sunlight["build"]["dockerfile"] == "deploy/Dockerfile"
    assert sunlight["depends_on"]["db"]["condition"] == "service_healthy"
    assert "./sunlight.yaml:/etc/sunlight/sunlight.yaml:ro" in sunlight["volumes"]
    # stop_grace_period outlasts the daemon's own grace, so SIGTERM ends it, not SIGKILL
    config = load_settings(DEPLOY / "sunlight.yaml", env={
        "SUNLIGHT_DB_PASSWORD": "x", "APPROVALS_DB_URL": "mysql+pymysql://reader:y@10.0.0.1/shenpi"})
    assert int(sunlight["stop_grace_period"].rstrip("s")) > config.server.shutdown_grace.total_seconds()
    assert config.state_url().startswith("postgresql+psycopg://sunlight:x@db:5432/")
    assert config.server.listen.endswith(":9464")
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == ["sunlight:9464"]


def test_dockerfile():
    text = (DEPLOY / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert froms and all(f.startswith("python:") and f.endswith("-slim") for f in froms)
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and not users[-1].startswith(("root", "0"))
    assert re.search(r"^HEALTHCHECK .*\n?.*?/healthz", text, re.MULTILINE | re.DOTALL)
    assert '"run", "-c", "/etc/sunlight/sunlight.yaml"' in text


def test_dashboard_shows_zero_and_names_units():
    """Zero counts show 0 (not "No data"), per-unit panels show names, letters follow $unit."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert all(p["fieldConfig"]["defaults"].get("noValue") == "0" for p in panels)
    exprs = {p["id"]: [t["expr"] for t in p["targets"]] for p in panels}
    by_unit = [e for es in exprs.values() for e in es if "group_left (name)" in e]
    assert len(by_unit) >= 3 and all("sunlight_unit_info" in e for e in by_unit)
    for e in (e for es in exprs.values() for e in es):
        if "sunlight_letters_" in e:
            assert 'unit=~"$unit"' in e, e
    [var] = dashboard["templating"]["list"]
    assert "sunlight_unit_info" in var["definition"]
