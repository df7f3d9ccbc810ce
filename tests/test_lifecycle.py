"""The rectification workflow: transitions, refusals in Chinese, the audit log, the CLI.

Dates by hand (2026 notices): Thu 10 Sep + 10 working days = 23 Sep (Sun 20 Sep
is a make-up working day); Thu 24 Sep + 10 = 15 Oct (中秋 25–27 Sep, 国庆 1–7
Oct, Sat 10 Oct worked).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from sunlight.alerts.letters import issue_letters
from sunlight.alerts.lifecycle import Act, TransitionError, apply_act
from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.demo.schema import create_all
from sunlight.monitor.demo.schema import metadata as canonical
from sunlight.monitor.store import open_store
from sunlight.monitor.store.letters_models import AuditEntry, LetterRow
from tests.test_letters_kit import (
    State,
    at,
    finding,
    quick_settings,
    record,
    run_cli,
    settings_for,
    state_fixture,  # noqa: F401 - the ``state`` fixture
)

CAL = WorkCalendar()


def issue_one(state: State, tmp_path: Path, tier: str = "level1"):
    """A letter of ``tier`` for one finding: ``matter_start: check`` lets it start there."""
    s = quick_settings(settings_for(tmp_path, state.url, "tiers:\n  matter_start: check\n"))
    record(state.engine, [finding("case_overdue", "SJJ-1", "SJJ", tier=tier)], at(2026, 9, 24, 9))
    [letter] = issue_letters(state.engine, s, CAL, at(2026, 9, 24, 9)).issued
    return letter


def trail(store: sa.Engine, letter_id: int) -> list[tuple]:
    with store.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(AuditEntry.actor, AuditEntry.action, AuditEntry.before, AuditEntry.after,
                      AuditEntry.note).where(AuditEntry.letter_id == letter_id).order_by(AuditEntry.id))]


def status(store: sa.Engine, letter_id: int) -> str:
    with store.connect() as conn:
        return conn.execute(sa.select(LetterRow.status).where(LetterRow.id == letter_id)).scalar_one()


def test_level1_workflow_and_audit(state: State, tmp_path: Path) -> None:
    letter = issue_one(state, tmp_path)
    n = letter.number

    def refused(action: str, why: str) -> None:
        with pytest.raises(TransitionError, match=why):
            apply_act(state.engine, n, Act(action, "王五"))

    refused("close", "尚缺签收、书面整改报告、诫勉谈话，不能办结")
    refused("admonition", "尚未收到书面整改报告")
    apply_act(state.engine, n, Act("ack", "李四", "联络员电话签收"))
    refused("ack", "已于此前签收")
    apply_act(state.engine, str(letter.id), Act("report", "李四", file="/srv/reports/sjj.pdf"))
    refused("report", "整改报告已登记")
    refused("close", "尚缺诫勉谈话")
    apply_act(state.engine, n, Act("admonition", "赵六", "县纪委第三谈话室"))
    apply_act(state.engine, n, Act("close", "王五", "已核实整改到位"))
    refused("ack", "已办结")
    with pytest.raises(TransitionError, match="办理人"):
        apply_act(state.engine, n, Act("close", " "))
    assert trail(state.engine, letter.id) == [
        ("sunlight", "issue", None, "issued", None),
        ("李四", "ack", "issued", "acknowledged", "联络员电话签收"),
        ("李四", "report", "acknowledged", "report_received", None),
        ("赵六", "admonition", "report_received", "admonition_held", "县纪委第三谈话室"),
        ("王五", "close", "admonition_held", "closed", "已核实整改到位"),
    ]
    with state.engine.connect() as conn:
        row = conn.execute(sa.select(LetterRow).where(LetterRow.id == letter.id)).one()
    assert row.report_file == "/srv/reports/sjj.pdf" and row.closed_at is not None


def test_level3_has_no_admonition_and_notices_have_no_workflow(state: State, tmp_path: Path) -> None:
    letter = issue_one(state, tmp_path, tier="level3")
    with pytest.raises(TransitionError, match="不是一级预警函"):
        apply_act(state.engine, letter.number, Act("admonition", "王五"))
    apply_act(state.engine, letter.number, Act("ack", "李四"))
    apply_act(state.engine, letter.number, Act("close", "王五"))  # level3: no report required
    assert status(state.engine, letter.id) == "closed"
    s = quick_settings(settings_for(tmp_path, state.url))
    record(state.engine, [finding("case_due_soon", "SJJ-2", "SJJ", tier="reminder")], at(2026, 9, 25, 9),
           source="other")
    [notice] = issue_letters(state.engine, s, CAL, at(2026, 9, 25, 9)).issued
    assert notice.number == "监提〔2026〕1号"
    with pytest.raises(TransitionError, match="提醒通知"):
        apply_act(state.engine, notice.number, Act("ack", "李四"))


def test_escalated_letter_refuses_acts(state: State, tmp_path: Path) -> None:
    letter = issue_one(state, tmp_path, tier="level3")
    s = quick_settings(settings_for(tmp_path, state.url))
    [new] = issue_letters(state.engine, s, CAL, at(2026, 10, 16, 9)).issued
    assert new.cites == letter.number
    with pytest.raises(TransitionError, match="已因逾期未整改升级"):
        apply_act(state.engine, letter.number, Act("ack", "李四"))


def late_case_source(path: Path) -> str:
    """One approval case of 县市场监督管理局, accepted 1 Sep, 5 working days, still open."""
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    create_all(engine, ["units", "cases"])
    with engine.begin() as conn:
        conn.execute(sa.insert(canonical.tables["units"]),
                     [{"unit_id": "SJJ", "name": "县市场监督管理局", "kind": "department",
                       "parent_id": None}])
        conn.execute(sa.insert(canonical.tables["cases"]), [{
            "case_id": "SJJ202609010001", "unit_id": "SJJ", "item_code": "SJ-001",
            "item_name": "食品经营许可",
            "handler": "张三", "accepted_at": dt.datetime(2026, 9, 1, 10), "promised_limit": 5,
            "statutory_limit": None, "limit_unit": "workday", "completed_at": None, "outcome": None,
            "outcome_reason": None, "updated_at": None}])
    engine.dispose()
    return url


def test_cycle_at_walks_level3_past_rectify_by_to_level2(tmp_path: Path) -> None:
    """``sunlight cycle --at``: a level3 letter not answered by 23 Sep becomes a level2 letter citing it."""
    cfg = tmp_path / "sunlight.yaml"
    cfg.write_text(
        f"state:\n  url: sqlite:///{tmp_path / 'state.db'}\n"
        f"sources:\n  approvals:\n    url: {late_case_source(tmp_path / 'approvals.db')}\n"
        "checks:\n  case_due_soon: {enabled: false}\n"
        "letters:\n  number_prefix: 监预\n  issuer: 中共示范县纪律检查委员会 示范县监察委员会\n"
        "routes:\n  - to: [printed]\nchannels:\n  printed: {type: folder, path: letters}\n",
        encoding="utf-8")
    first = run_cli("cycle", "-c", str(cfg), "--at", "2026-09-10T09:00")
    assert first.exit_code == 0, first.output
    assert "监预〔2026〕1号  三级预警函  县市场监督管理局" in first.output
    assert "2026-09-23" in first.output and "成功 1" in first.output

    second = run_cli("cycle", "-c", str(cfg), "--at", "2026-09-24T09:00")
    assert second.exit_code == 0, second.output
    assert "升级 1 件" in second.output
    assert "监预〔2026〕2号  二级预警函  县市场监督管理局" in second.output
    assert "由监预〔2026〕1号升级" in second.output and "2026-10-15" in second.output
    text = (tmp_path / "letters" / "监预〔2026〕2号.txt").read_text(encoding="utf-8")
    assert "三级预警函（监预〔2026〕1号）" in text and "SJJ202609010001" in text and "书面整改报告" in text

    shown = run_cli("letters", "show", "-c", str(cfg), "1")
    assert shown.exit_code == 0 and "已升级" in shown.output and "升级为监预〔2026〕2号" in shown.output
    listed = run_cli("letters", "list", "-c", str(cfg), "--status", "issued", "--tier", "二级预警函")
    assert "监预〔2026〕2号" in listed.output and "监预〔2026〕1号" not in listed.output
    report = tmp_path / "整改报告.pdf"
    report.write_bytes(b"%PDF-1.4 rectification report")
    acted = run_cli("letters", "report", "-c", str(cfg), "监预〔2026〕2号", "--file", str(report),
                    "--by", "李四", "--note", "机要交换")
    assert acted.exit_code == 0, acted.output
    assert "已发出 → 已收到整改报告（办理人 李四）" in acted.output
    refused = run_cli("letters", "close", "-c", str(cfg), "监预〔2026〕1号", "--by", "王五")
    assert refused.exit_code == 1 and "已因逾期未整改升级" in refused.output
    missing = run_cli("letters", "ack", "-c", str(cfg), "监预〔2026〕99号", "--by", "王五")
    assert missing.exit_code == 1 and "没有编号为" in missing.output
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    with store.connect() as conn:
        entry = conn.execute(sa.select(AuditEntry).where(AuditEntry.action == "report")).one()
    assert entry.actor == "李四" and entry.note == "机要交换" and "sha256:" in entry.detail["file"]


def test_bad_config_exits_2(tmp_path: Path) -> None:
    cfg = settings_for(tmp_path, "sqlite:///x.db", "routes:\n  - to: [nowhere]\n")
    result = run_cli("letters", "list", "-c", str(cfg))
    assert result.exit_code == 2 and "routes[0].to[0]" in result.output
