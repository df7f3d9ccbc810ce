# ruff: noqa: F811
"""The console's parts without a browser: periods, the scoring rule, accounts, act buttons, the CLI."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
import structlog
from docx import Document
from openpyxl import load_workbook
from typer.testing import CliRunner

from sunlight.monitor.cli import app
from sunlight.monitor.store import open_store
from sunlight.monitor.store.console_models import ConsoleUser
from sunlight.monitor.store.models import FindingRow
from sunlight.monitor.webconsole.accounts import (
    AccountError,
    User,
    add_user,
    authenticate,
    resume_session,
    set_disabled,
    set_password,
    start_session,
)
from sunlight.monitor.webconsole.acts import offers
from sunlight.monitor.webconsole.assessment import UnitCounts, rank, score
from sunlight.monitor.webconsole.config import AssessmentRule, ConsoleConfig
from sunlight.monitor.webconsole.periods import PeriodError, parse_period
from tests.console_kit import demo_template  # noqa: F401
from tests.test_one_line_failures import read_only

T0 = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)


# --- periods ---------------------------------------------------------------------------


def test_periods_and_the_one_before() -> None:
    nov = parse_period("2026-11")
    assert (nov.start, nov.end, nov.label) == (dt.date(2026, 11, 1), dt.date(2026, 12, 1), "2026年11月")
    q4 = parse_period("2026-Q4")
    assert (q4.start, q4.end, q4.label) == (dt.date(2026, 10, 1), dt.date(2027, 1, 1), "2026年第四季度")
    assert parse_period("2026-01").previous().key == "2025-12"
    assert parse_period("2026-Q1").previous().key == "2025-Q4"
    assert parse_period("2026").previous().label == "2025年"
    for bad in ("2026-13", "2026-Q5", "Nov 2026", ""):
        with pytest.raises(PeriodError):
            parse_period(bad)


# --- the scoring rule ---------------------------------------------------------------------


def test_score_is_100_minus_the_deductions_worked_by_hand() -> None:
    rule = AssessmentRule()  # 6 / 3 / 1 / 0 per finding, 5 per unrectified letter, 20 for on-time
    c = UnitCounts(findings={"level1": 1, "level2": 2, "level3": 3, "reminder": 9}, letters_due=4,
                   letters_on_time=3)
    s = score(c, rule)
    # 100 − (6 + 2×3 + 3×1 + 0) − 1×5 − (1 − 3/4)×20 = 100 − 15 − 5 − 5 = 75
    assert s.total == 75.0 and s.on_time_rate == 0.75
    assert score(UnitCounts(findings={"level1": 30}), rule).total == 0.0  # never below 0
    assert score(UnitCounts(), rule).on_time_rate is None  # nothing fell due: no rate, no deduction
    custom = AssessmentRule(per_finding={"level3": 10.0}, per_unrectified_letter=0, on_time_weight=0)
    assert score(c, custom).total == 70.0


def test_equal_scores_share_a_rank() -> None:
    rule = AssessmentRule()
    ranked = rank({"A": UnitCounts(findings={"level3": 2}), "B": UnitCounts(),
                   "C": UnitCounts(findings={"level2": 1}), "D": UnitCounts(findings={"level3": 2})}, rule)
    assert [(r.unit_id, r.score.total, r.rank) for r in ranked] == [
        ("B", 100.0, 1), ("A", 98.0, 2), ("D", 98.0, 2), ("C", 97.0, 4)]


# --- accounts ---------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> sa.Engine:
    return open_store(f"sqlite:///{tmp_path / 'state.db'}")


def test_accounts_store_argon2_hashes_and_check_their_input(store: sa.Engine) -> None:
    add_user(store, "wang", "王监察", "staff", "a-long-password")
    with store.connect() as conn:
        hashed = conn.execute(sa.select(ConsoleUser.password_hash)).scalar_one()
    assert hashed.startswith("$argon2id$") and "a-long-password" not in hashed
    with pytest.raises(AccountError, match="已存在"):
        add_user(store, "wang", "", "staff", "a-long-password")
    with pytest.raises(AccountError, match="至少10个字符"):
        add_user(store, "li", "", "staff", "short")
    with pytest.raises(AccountError, match="所属单位"):
        add_user(store, "li", "", "liaison", "a-long-password")
    with pytest.raises(AccountError, match="角色"):
        add_user(store, "li", "", "superuser", "a-long-password")


def test_five_wrong_passwords_lock_for_the_configured_time(store: sa.Engine) -> None:
    cfg = ConsoleConfig()  # 5 wrong, 15 minutes
    add_user(store, "wang", "王监察", "staff", "a-long-password")
    for i in range(4):
        r = authenticate(store, cfg, "wang", "wrong", now=T0 + dt.timedelta(seconds=i))
        assert r.user is None and r.problem == "用户名或密码错误"
    assert "已锁定" in (authenticate(store, cfg, "wang", "wrong", now=T0).problem or "")
    assert authenticate(store, cfg, "wang", "a-long-password", now=T0 + dt.timedelta(minutes=14)).user is None
    ok = authenticate(store, cfg, "wang", "a-long-password", now=T0 + dt.timedelta(minutes=16))
    assert ok.user is not None and ok.user.role == "staff"
    # the count starts again after a success: four more wrong ones do not lock
    for _ in range(4):
        authenticate(store, cfg, "wang", "wrong", now=T0 + dt.timedelta(minutes=17))
    assert authenticate(store, cfg, "wang", "a-long-password", now=T0 + dt.timedelta(minutes=17)).user
    set_disabled(store, "wang")
    assert "停用" in (authenticate(store, cfg, "wang", "a-long-password").problem or "")


def test_sessions_expire_when_idle_and_end_with_a_new_password(store: sa.Engine) -> None:
    cfg = ConsoleConfig()  # 30 minutes idle, 12 hours at most
    user = add_user(store, "wang", "王监察", "staff", "a-long-password")
    token, csrf = start_session(store, user, now=T0)
    s = resume_session(store, cfg, token, now=T0 + dt.timedelta(minutes=29))
    assert s is not None and s.csrf == csrf and s.user.username == "wang"
    assert resume_session(store, cfg, token, now=T0 + dt.timedelta(minutes=58)) is not None  # touched at 29
    assert resume_session(store, cfg, token, now=T0 + dt.timedelta(minutes=89)) is None
    assert resume_session(store, cfg, token, now=T0 + dt.timedelta(minutes=90)) is None  # deleted
    busy, _ = start_session(store, user, now=T0)
    for minutes in range(20, 12 * 60, 20):
        assert resume_session(store, cfg, busy, now=T0 + dt.timedelta(minutes=minutes)) is not None
    assert resume_session(store, cfg, busy, now=T0 + dt.timedelta(hours=12, minutes=10)) is None
    token, _ = start_session(store, user)
    set_password(store, "wang", "another-long-password")
    assert resume_session(store, cfg, token) is None
    assert resume_session(store, cfg, "") is None and resume_session(store, cfg, "made-up") is None


@pytest.fixture
def pg_store() -> Iterator[sa.Engine]:
    url = os.environ.get("SUNLIGHT_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("PostgreSQL tests need SUNLIGHT_TEST_POSTGRES_URL (set by .ci/run)")
    schema = f"c_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    store = open_store(sa.engine.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
                       .render_as_string(hide_password=False))
    try:
        yield store
    finally:
        store.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.mark.postgres
def test_accounts_locking_and_sessions_on_postgresql(pg_store: sa.Engine) -> None:
    cfg = ConsoleConfig()
    user = add_user(pg_store, "wang", "王监察", "staff", "a-long-password")
    for _ in range(5):
        authenticate(pg_store, cfg, "wang", "wrong", now=T0)
    later = T0 + dt.timedelta(minutes=1)
    assert authenticate(pg_store, cfg, "wang", "a-long-password", now=later).user is None
    later = T0 + dt.timedelta(minutes=16)
    assert authenticate(pg_store, cfg, "wang", "a-long-password", now=later).user
    token, _ = start_session(pg_store, user, now=T0)
    assert resume_session(pg_store, cfg, token, now=T0 + dt.timedelta(minutes=10)) is not None
    assert resume_session(pg_store, cfg, token, now=T0 + dt.timedelta(minutes=45)) is None


# --- act buttons ----------------------------------------------------------------------------


def _letter(**kw: object) -> SimpleNamespace:
    base = {"number": "监预〔2026〕17号", "tier": "level2", "status": "issued", "acknowledged_at": None,
            "report_received_at": None, "admonition_held_at": None, "requires_report": True,
            "requires_admonition": False, "signed_off_at": None}
    return SimpleNamespace(**(base | kw))


def test_buttons_follow_the_role_and_the_lifecycle() -> None:
    staff = User(1, "wang", "王监察", "staff", None)
    liaison = User(2, "liu", "刘联络", "liaison", "MZJ")
    leader = User(3, "chen", "陈书记", "leader", None)
    shown = {o.button.action: o for o in offers(_letter(), staff)}
    # every act of the lifecycle that staff may do (签批 is the leader's)
    assert list(shown) == ["ack", "report", "admonition", "close", "withdraw", "extend", "explain", "reopen"]
    assert shown["ack"].enabled and shown["report"].enabled
    assert not shown["close"].enabled and "尚缺签收、书面整改报告" in (shown["close"].reason or "")
    assert not shown["admonition"].enabled  # a 二级 letter asks for no admonition talk
    assert shown["withdraw"].enabled and shown["extend"].enabled and shown["explain"].enabled
    assert not shown["reopen"].enabled and "只有已办结的预警函才能重新打开" in (shown["reopen"].reason or "")
    assert all(shown[a].button.note_required for a in ("withdraw", "extend", "explain", "reopen"))
    assert shown["extend"].button.until and shown["explain"].button.finding
    assert [o.button.action for o in offers(_letter(), liaison)] == ["ack", "report"]
    # the leader signs off a 一级 letter (签批), once; a 二级 letter needs no sign-off
    [sign] = offers(_letter(), leader)
    assert sign.button.action == "sign_off" and not sign.enabled and "不是一级预警函" in (sign.reason or "")
    [sign] = offers(_letter(tier="level1", requires_admonition=True), leader)
    assert sign.enabled
    [sign] = offers(_letter(tier="level1", signed_off_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)), leader)
    assert not sign.enabled and "已签批" in (sign.reason or "")
    done = {o.button.action: o.enabled for o in offers(_letter(status="closed"), staff)}
    assert [a for a, enabled in done.items() if enabled] == ["withdraw", "reopen"]
    withdrawn = offers(_letter(status="withdrawn"), staff)
    assert not any(o.enabled for o in withdrawn) and all("已撤销" in (o.reason or "") for o in withdrawn)


# --- the command line -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _cli_logging() -> Iterator[None]:
    """The CLI points structlog at the runner's stderr, which closes: put the config back."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_users_cli_reads_the_password_from_stdin_and_never_prints_it(tmp_path: Path) -> None:
    config = tmp_path / "sunlight.yaml"
    config.write_text(f"state: {{url: 'sqlite:///{tmp_path / 's.db'}'}}\nsources:\n"
                      f"  a: {{url: 'sqlite:///{tmp_path / 'a.db'}'}}\nroutes: none\n", encoding="utf-8")
    runner = CliRunner()
    r = runner.invoke(app, ["users", "add", "-c", str(config), "root", "--role", "admin", "--name", "管理员",
                            "--password-stdin"], input="first-admin-pw\n")
    assert r.exit_code == 0, r.output
    assert "first-admin-pw" not in r.output
    r = runner.invoke(app, ["users", "add", "-c", str(config), "liu", "--role", "liaison", "--unit", "MZJ",
                            "--password-stdin"], input="liaison-pw-0001\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["users", "add", "-c", str(config), "x", "--role", "staff", "--password-stdin"],
                      input="short\n")
    assert r.exit_code == 1 and "至少10个字符" in r.output
    r = runner.invoke(app, ["users", "disable", "-c", str(config), "liu"])
    assert r.exit_code == 0
    r = runner.invoke(app, ["users", "list", "-c", str(config)])
    assert "系统管理员" in r.output and "停用" in r.output and "共 2 个账户" in r.output
    r = runner.invoke(app, ["users", "passwd", "-c", str(config), "nobody", "--password-stdin"],
                      input="a-long-password\n")
    assert r.exit_code == 1 and "没有用户" in r.output
    assert runner.invoke(app, ["users", "list", "-c", str(tmp_path / "missing.yaml")]).exit_code == 2


def test_findings_units_and_report_from_the_command_line(demo_template: Path, tmp_path: Path) -> None:
    config = str(demo_template / "sunlight.yaml")
    store = open_store(f"sqlite:///{demo_template / 'state.db'}")
    with store.connect() as conn:
        level2 = conn.execute(sa.select(sa.func.count()).select_from(FindingRow)
                              .where(FindingRow.tier == "level2")).scalar()
        mzj_open = conn.execute(sa.select(sa.func.count()).select_from(FindingRow).where(
            FindingRow.unit_id == "MZJ", FindingRow.resolved_at.is_(None))).scalar()
    runner = CliRunner()
    r = runner.invoke(app, ["findings", "list", "-c", config, "--tier", "level2", "--format", "csv"])
    assert r.exit_code == 0, r.output
    rows = list(csv.reader(io.StringIO(r.stdout.lstrip("\ufeff"))))
    assert len(rows) - 1 == level2 and {x[4] for x in rows[1:]} == {"二级预警函"}
    r = runner.invoke(app, ["findings", "list", "-c", config, "--unit", "MZJ", "--state", "open",
                            "--format", "json"])
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(lines) == mzj_open and {x["unit_name"] for x in lines} == {"县民政局"}
    r = runner.invoke(app, ["findings", "list", "-c", config, "--limit", "3"])
    assert r.exit_code == 0 and "共 3 项" in r.stdout
    assert runner.invoke(app, ["findings", "list", "-c", config, "--format", "xml"]).exit_code == 2
    r = runner.invoke(app, ["units", "show", "-c", config, "MZJ"])
    assert r.exit_code == 0 and r.stdout.startswith("县民政局（MZJ）") and "监预〔2026〕" in r.stdout
    assert runner.invoke(app, ["units", "show", "-c", config, "NOPE"]).exit_code == 1
    out = tmp_path / "nov.docx"
    r = runner.invoke(app, ["report", "monthly", "-c", config, "--month", "2026-11", "--format", "docx",
                            "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert Document(str(out)).paragraphs[0].text == "2026年11月电子监察统计报表"
    out = tmp_path / "q4.xlsx"
    r = runner.invoke(app, ["report", "quarterly", "-c", config, "--quarter", "2026-Q4", "--format", "xlsx",
                            "-o", str(out)])
    assert r.exit_code == 0 and "按单位" in load_workbook(out).sheetnames
    assert runner.invoke(app, ["report", "monthly", "-c", config, "--month", "2026-Q4"]).exit_code == 2


def test_the_consoles_read_commands_work_on_a_read_only_store(demo_template: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(demo_template, site)
    config = str(site / "sunlight.yaml")
    out = tmp_path / "out.xlsx"
    runner = CliRunner()
    with read_only(site / "state.db", site):
        r = runner.invoke(app, ["findings", "list", "-c", config, "--limit", "2"])
        assert r.exit_code == 0 and "共 2 项" in r.stdout, r.output
        r = runner.invoke(app, ["units", "show", "-c", config, "MZJ", "--at", "2026-08-15"])
        assert r.exit_code == 0 and r.stdout.startswith("县民政局（MZJ）"), r.output
        # the six months end with --at's month: March to August 2026
        assert "2026年3月" in r.stdout and "2026年8月" in r.stdout and "2026年9月" not in r.stdout
        r = runner.invoke(app, ["report", "monthly", "-c", config, "--month", "2026-11", "--format", "xlsx",
                                "-o", str(out), "--at", "2026-12-01"])
        assert r.exit_code == 0 and "按单位" in load_workbook(out).sheetnames, r.output
        assert runner.invoke(app, ["users", "list", "-c", config]).exit_code == 0
        r = runner.invoke(app, ["users", "add", "-c", config, "x", "--role", "staff", "--password-stdin"],
                          input="a-long-password\n")
        assert r.exit_code == 1 and "状态库错误" in r.output and "Traceback" not in r.output
    assert runner.invoke(app, ["units", "show", "-c", config, "MZJ", "--at", "30 Nov"]).exit_code == 2
    assert runner.invoke(app, ["users", "add", "-c", config, "x", "--role", "boss"]).exit_code == 2
