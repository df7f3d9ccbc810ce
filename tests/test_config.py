"""Bad config never runs: exit 2 with the file, the key path and the problem."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sunlight.monitor.configure import ConfigError, load_settings

GOOD = """\
routes: none
sources:
  approvals:
    url: "sqlite:///cases.db"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "sunlight.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def sunlight(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sunlight.monitor.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=60)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("timezone: Asia/Shanghai\n", "sources", "Field required"),
        ("sources: {}\n", "sources", "at least one source"),
        ("sources:\n  a: {url: 'oracle://x'}\n", "sources.a.url", "SQLAlchemy URL"),
        ("sources:\n  a: {url: 'sqlite:///x.db', interval: often}\n", "sources.a.interval",
         "not a duration"),
        ("sources:\n  a: {url: 'sqlite:///x.db', entities: {cats: {table: x}}}\n",
         "sources.a.entities", "unknown entity 'cats'"),
        ("sources:\n  a:\n    url: 'sqlite:///x.db'\n    entities:\n      cases: {query: 'DELETE FROM x'}\n",
         "sources.a.entities.cases.query", "must be a SELECT"),
        (GOOD + "timezone: Mars/Olympus\n", "timezone", "unknown time zone"),
        (GOOD + "checks:\n  case_due_soon: {warn_remaining: -1}\n",
         "checks.case_due_soon.warn_remaining", "greater than or equal to 0"),
        (GOOD + "checks:\n  case_due_son: {}\n", "checks.case_due_son", "unknown check"),
        (GOOD + "checks:\n  case_overdue: {colour: red}\n", "checks.case_overdue.colour",
         "Extra inputs are not permitted"),
        (GOOD + "checks:\n  overrides:\n    - match: {item_code: X}\n"
                "      case_due_soon: {warn_remaining: x}\n",
         "checks.overrides[0].case_due_soon.warn_remaining", "decimal"),
        (GOOD.replace("routes: none\n", "") + "routes:\n  - to: [nowhere]\n", "routes[0].to[0]",
         "no channel named 'nowhere'"),
        (GOOD + "channels:\n  f: {type: folder}\n", "channels.f.path", "Field required"),
        (GOOD + "channels:\n  f: {type: pigeon}\n", "channels.f.type", "unknown channel type"),
        (GOOD + "tiers:\n  rectify_workdays: {level9: 3}\n", "tiers.rectify_workdays.level9",
         "Input should be"),
        (GOOD + "tiers:\n  matter_start: level2\n", "tiers.matter_start", "'level3' or 'check'"),
        (GOOD + "calendar:\n  overrides: [missing-2027.yaml]\n", "calendar.overrides",
         "cannot read"),
    ],
)
def test_config_errors_name_file_key_and_problem(tmp_path: Path, text: str, key: str,
                                                 problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert err.value.file == str(path)
    assert err.value.key == key
    assert problem.lower() in err.value.problem.lower()


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  a: {url: 'x'\n")
    with pytest.raises(ConfigError, match="not valid YAML: line"):
        load_settings(path)


def test_env_substitution_and_secrets_stay_secret(tmp_path: Path) -> None:
    path = write(tmp_path, "routes: none\nsources:\n  fin:\n    url: postgresql+psycopg://reader:${FIN_PW}@db/caiwu\n")
    settings = load_settings(path, env={"FIN_PW": "t0p-secret"})
    url = settings.sources["fin"].url
    assert url.get_secret_value() == "postgresql+psycopg://reader:t0p-secret@db/caiwu"
    assert "t0p-secret" not in repr(settings)
    assert "t0p-secret" not in str(settings.sources["fin"])


def test_missing_env_var_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  fin:\n    url: postgresql+psycopg://r:${NOPE_PW}@db/x\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert err.value.key == "sources.fin.url"
    assert "NOPE_PW" in err.value.problem


def test_cli_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "checks:\n  case_due_soon: {warn_remaining: -1}\n")
    for args in (["config", "check", str(path)], ["scan", "-c", str(path)]):
        r = sunlight(*args)
        assert r.returncode == 2, r.stderr
        assert str(path) in r.stderr and "checks.case_due_soon.warn_remaining" in r.stderr
    r = sunlight("config", "check", str(tmp_path / "absent.yaml"))
    assert r.returncode == 2 and "cannot read the file" in r.stderr


def test_config_check_prints_what_would_run_without_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  fin:\n    url: postgresql+psycopg://reader:${FIN_PW}@db/caiwu\n"
                 "checks:\n  case_overdue: {enabled: false}\nroutes: none\n")
    r = sunlight("config", "check", str(path), env={"FIN_PW": "t0p-secret"})
    assert r.returncode == 0, r.stderr
    assert "routes: none" in r.stderr  # letters delivered to nobody: valid, but said out loud
    assert "t0p-secret" not in r.stdout + r.stderr
    assert "reader:***@db/caiwu" in r.stdout
    assert "[off] case_overdue" in r.stdout and "[on ] case_due_soon" in r.stdout


def test_reference_and_demo_configs_are_valid() -> None:
    root = Path(__file__).resolve().parents[1]
    env = {"APPROVAL_DB_PASSWORD": "x", "FINANCE_DB_PASSWORD": "x", "SMTP_PASSWORD": "x",
           "SUNLIGHT_DB_PASSWORD": "x", "WECOM_HOOK": "http://127.0.0.1:1/hook",
           "WEBHOOK_SECRET": "x", "OA_TOKEN": "x", "DINGTALK_TOKEN": "x", "DINGTALK_SECRET": "x",
           "FEISHU_HOOK": "http://127.0.0.1:1/hook", "FEISHU_SECRET": "x"}
    settings = load_settings(root / "config/reference.yaml", env=env)
    assert "approvals" in settings.sources


def test_channel_secrets_do_not_leak_through_settings_repr(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("routes: none\n", "") + "channels:\n  im:\n    type: wecom\n"
                 "    webhook: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=${WECOM_KEY}\n"
                 "routes:\n  - to: [im]\n")
    settings = load_settings(path, env={"WECOM_KEY": "k-3f9a-secret"})
    assert "k-3f9a-secret" not in repr(settings)
    assert "k-3f9a-secret" not in str(settings.channels)
    assert settings.channels["im"]["type"] == "wecom"
