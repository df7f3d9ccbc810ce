"""The office's acts (withdraw, explain, extend, reopen), stored reports and the audit chain,
on SQLite and PostgreSQL.

Working days counted by hand from the 2026 notices (国庆 1–7 Oct off, Sat 10 Oct
worked): a letter issued Thu 24 Sep has rectify_by 15 Oct (level3, 10 days)
and 9 Oct (level1, 5 days: 25, 28, 29, 30 Sep, 9 Oct … see test_letters.py).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from sunlight.alerts.audit import verify_audit
from sunlight.alerts.letters import issue_letters
from sunlight.alerts.lifecycle import Act, ReportFile, TransitionError, apply_act
from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.configure import ConfigError, load_settings
from sunlight.monitor.store.db import alembic_config, current_revision, upgrade
from sunlight.monitor.store.letters_models import (
    AuditEntry,
    DeliveryRow,
    FindingExplanation,
    LetterFindingRow,
    LetterReport,
    LetterRow,
)
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
NOW = dt.datetime(2026, 12, 2, 6, 0, tzinfo=dt.UTC)  # the wall clock of the acts
FOLDER = "routes:\n  - to: [printed]\nchannels:\n  printed: {type: folder, path: letters}\n"


def names(ids):
    return {i: {"SJJ": "县市场监督管理局", "MZJ": "县民政局"}[i] for i in ids}


def letter(store: sa.Engine, number: str):
    with store.connect() as conn:
        return conn.execute(sa.select(LetterRow).where(LetterRow.number == number)).one()


def last_audit(store: sa.Engine):
    with store.connect() as conn:
        return conn.execute(sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).one()


def refused(store: sa.Engine, number: str, act: Act, why: str) -> None:
    with pytest.raises(TransitionError) as err:
        apply_act(store, number, act, now=NOW)
    assert why in str(err.value)


def test_withdraw_frees_the_findings_cancels_deliveries_and_is_audited(state: State,
                                                                      tmp_path: Path) -> None:
    s = quick_settings(settings_for(tmp_path, state.url, FOLDER))
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ")], at(2026, 9, 24, 9))
    [first] = issue_letters(state.engine, s, CAL, at(2026, 9, 24, 9), names, now=NOW).issued
    refused(state.engine, first.number, Act("withdraw", "王五"), "撤销须写明理由")
    apply_act(state.engine, first.number,
              Act("withdraw", "王五", "数据源重复导入，办件实为按时办结", as_of=at(2026, 9, 25, 10)), now=NOW)
    row = letter(state.engine, first.number)
    assert (row.status, row.withdrawn_at) == ("withdrawn", at(2026, 9, 25, 10))
    with state.engine.connect() as conn:
        assert conn.execute(sa.select(DeliveryRow.status).where(DeliveryRow.letter_id == row.id)
                            ).scalars().all() == ["cancelled"]
    entry = last_audit(state.engine)
    assert (entry.actor, entry.action, entry.before, entry.after, entry.note) == (
        "王五", "withdraw", "issued", "withdrawn", "数据源重复导入，办件实为按时办结")
    assert (entry.at, entry.as_of) == (NOW, at(2026, 9, 25, 10))  # the act's real time and its as-of
    refused(state.engine, first.number, Act("ack", "李四"), "已撤销")
    # its finding is free again: the next cycle letters it anew
    again = issue_letters(state.engine, s, CAL, at(2026, 9, 28, 9), names, now=NOW).issued
    assert [(x.number, x.reason, x.findings) for x in again] == [("监预〔2026〕2号", "new", 1)]


def test_explain_one_finding_rectifies_it_and_it_is_not_lettered_again(state: State,
                                                                      tmp_path: Path) -> None:
    s = quick_settings(settings_for(tmp_path, state.url))
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ"), finding("case_overdue", "SJ-2", "SJJ")],
           at(2026, 9, 24, 9))
    [first] = issue_letters(state.engine, s, CAL, at(2026, 9, 24, 9), names, now=NOW).issued
    refused(state.engine, first.number, Act("explain", "王五", "系统故障", finding="3"), "没有第 3 项")
    apply_act(state.engine, first.number,
              Act("explain", "王五", "经核实系申请人要求暂缓办理，不予追究", finding="1"), now=NOW)
    refused(state.engine, first.number, Act("explain", "王五", "再次", finding="1"), "已核实不予追究")
    entry = last_audit(state.engine)
    assert (entry.action, entry.before, entry.after, entry.detail["subject"]) == (
        "explain", "issued", "issued", "SJ-1")
    # SJ-2 completed late by 12 Oct (stays a late case), SJ-1 explained: nothing escalates
    done = finding("case_overdue", "SJ-2", "SJJ")
    done.ended_at = at(2026, 10, 12, 9)
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ"), done], at(2026, 10, 12, 9))
    report = issue_letters(state.engine, s, CAL, at(2026, 10, 16, 9), names, now=NOW)
    assert (report.escalated, report.overdue, report.issued) == ([], [], [])
    apply_act(state.engine, first.number, Act("ack", "李四"), now=NOW)
    apply_act(state.engine, first.number, Act("close", "王五", "已核实"), now=NOW)
    # SJ-1 resolves and re-opens with the same facts: not lettered again
    record(state.engine, [], at(2026, 10, 19, 9))
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ")], at(2026, 10, 20, 9))
    assert issue_letters(state.engine, s, CAL, at(2026, 10, 20, 9), names, now=NOW).issued == []
    # … but new facts (another deadline) are a new matter of fact
    moved = finding("case_overdue", "SJ-1", "SJJ")
    moved.deadline = at(2026, 10, 9, 23, 59, 59)
    record(state.engine, [], at(2026, 10, 21, 9))
    record(state.engine, [moved], at(2026, 10, 22, 9))
    [again] = issue_letters(state.engine, s, CAL, at(2026, 10, 22, 9), names, now=NOW).issued
    assert (again.number, again.findings) == ("监预〔2026〕2号", 1)
    with state.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(FindingExplanation)).scalar_one() == 1


def test_extend_a_deadline_with_a_reason_and_an_overdue_letter_opens_again(state: State,
                                                                          tmp_path: Path) -> None:
    s = quick_settings(settings_for(tmp_path, state.url, "tiers:\n  matter_start: check\n"))  # starts at 一级
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ", tier="level1")], at(2026, 9, 24, 9))
    [one] = issue_letters(state.engine, s, CAL, at(2026, 9, 24, 9), names, now=NOW).issued
    assert one.rectify_by == dt.date(2026, 10, 9)
    assert issue_letters(state.engine, s, CAL, at(2026, 10, 12, 9), names, now=NOW).overdue == [one.number]
    refused(state.engine, one.number, Act("extend", "王五", until=dt.date(2026, 10, 30)), "须写明理由")
    refused(state.engine, one.number, Act("extend", "王五", "延期", until=dt.date(2026, 10, 9)), "应晚于")
    apply_act(state.engine, one.number,
              Act("extend", "王五", "涉及跨部门协调，经委领导同意延期", until=dt.date(2026, 10, 30)), now=NOW)
    row = letter(state.engine, one.number)
    assert (row.status, row.rectify_by, row.overdue_at) == ("issued", dt.date(2026, 10, 30), None)
    entry = last_audit(state.engine)
    assert (entry.before, entry.after, entry.detail["rectify_by_before"], entry.detail["rectify_by"]) == (
        "overdue", "issued", "2026-10-09", "2026-10-30")
    assert issue_letters(state.engine, s, CAL, at(2026, 10, 30, 17), names, now=NOW).overdue == []
    assert issue_letters(state.engine, s, CAL, at(2026, 11, 2, 9), names, now=NOW).overdue == [one.number]


def test_reopen_a_closed_letter_returns_it_to_its_stage_and_holds_its_findings(state: State,
                                                                              tmp_path: Path) -> None:
    s = quick_settings(settings_for(tmp_path, state.url))
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ")], at(2026, 9, 24, 9))
    [one] = issue_letters(state.engine, s, CAL, at(2026, 9, 24, 9), names, now=NOW).issued
    refused(state.engine, one.number, Act("reopen", "王五", "复查"), "只有已办结的预警函才能重新打开")
    apply_act(state.engine, one.number, Act("ack", "李四"), now=NOW)
    apply_act(state.engine, one.number, Act("close", "王五", "已核实"), now=NOW)
    refused(state.engine, one.number, Act("reopen", "王五"), "须写明理由")
    apply_act(state.engine, one.number, Act("reopen", "王五", "群众反映问题仍未解决，复查"), now=NOW)
    row = letter(state.engine, one.number)
    assert (row.status, row.closed_at, row.reopened_at) == ("acknowledged", None, NOW)
    with state.engine.connect() as conn:
        held = conn.execute(sa.select(LetterFindingRow.open_fingerprint)
                            .where(LetterFindingRow.letter_id == row.id)).scalars().all()
    assert held == [finding("case_overdue", "SJ-1", "SJJ").fingerprint]
    entry = last_audit(state.engine)
    assert (entry.action, entry.before, entry.after) == ("reopen", "closed", "acknowledged")
    # held again: the still-open case escalates after rectify_by as if never closed
    report = issue_letters(state.engine, s, CAL, at(2026, 10, 16, 9), names, now=NOW)
    assert report.escalated == [one.number]


def test_the_report_itself_is_stored_within_the_size_limit(state: State, tmp_path: Path) -> None:
    s = quick_settings(settings_for(tmp_path, state.url, "tiers:\n  matter_start: check\n"))  # a 二级 letter
    record(state.engine, [finding("case_overdue_statutory", "SJ-1", "SJJ", tier="level2")],
           at(2026, 9, 24, 9))
    [one] = issue_letters(state.engine, s, CAL, at(2026, 9, 24, 9), names, now=NOW).issued
    big = ReportFile("整改报告.pdf", b"%PDF" + b"x" * 2048)
    with pytest.raises(TransitionError, match="整改报告文件过大"):
        apply_act(state.engine, one.number, Act("report", "李四", report=big), now=NOW, max_report_bytes=1024)
    apply_act(state.engine, one.number, Act("report", "李四", report=big, as_of=at(2026, 10, 9, 15)), now=NOW)
    with state.engine.connect() as conn:
        kept = conn.execute(sa.select(LetterReport)).one()
    assert (kept.filename, kept.content, kept.size, kept.as_of) == (
        "整改报告.pdf", big.content, len(big.content), at(2026, 10, 9, 15))
    assert letter(state.engine, one.number).report_received_at == at(2026, 10, 9, 15)


def test_audit_chain_verifies_untouched_and_names_an_updated_entry(state: State, tmp_path: Path) -> None:
    cfg = settings_for(tmp_path, state.url)
    s = quick_settings(cfg)
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ"), finding("case_overdue", "MZ-1", "MZJ")],
           at(2026, 9, 24, 9))
    issued = issue_letters(state.engine, s, CAL, at(2026, 9, 24, 9), names, now=NOW).issued
    for x in issued:
        apply_act(state.engine, x.number, Act("ack", "李四"), now=NOW)
    issue_letters(state.engine, s, CAL, at(2026, 10, 16, 9), names, now=NOW)  # overdue + escalation
    checked, broken = verify_audit(state.engine)
    assert (checked, broken) == (10, None)  # 2 issued, 2 acks, 2 overdue, 2 escalations, 2 issued
    ok = run_cli("audit", "verify", "-c", str(cfg))
    assert ok.exit_code == 0 and "10 条" in ok.output, ok.output
    with state.engine.begin() as conn:
        target = conn.execute(sa.select(AuditEntry.id).where(AuditEntry.action == "ack")
                              .order_by(AuditEntry.id)).scalars().first()
        conn.execute(sa.update(AuditEntry).where(AuditEntry.id == target).values(actor="张三"))
    checked, broken = verify_audit(state.engine)
    assert broken is not None and broken.entry_id == target and "changed" in broken.problem
    bad = run_cli("audit", "verify", "-c", str(cfg))
    assert bad.exit_code == 1 and f"第 {target} 条" in bad.output
    with state.engine.begin() as conn:  # a deleted entry breaks the chain at the one after it
        conn.execute(sa.update(AuditEntry).where(AuditEntry.id == target).values(actor="李四"))
        conn.execute(sa.delete(AuditEntry).where(AuditEntry.id == target + 1))
    assert verify_audit(state.engine)[1].entry_id == target + 2  # type: ignore[union-attr]


def test_cycle_audit_carries_the_as_of_time_and_the_wall_clock(state: State, tmp_path: Path) -> None:
    s = quick_settings(settings_for(tmp_path, state.url))
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ")], at(2026, 9, 24, 9))
    issue_letters(state.engine, s, CAL, at(2026, 9, 24, 9), names, now=NOW)
    entry = last_audit(state.engine)
    assert (entry.action, entry.at, entry.as_of) == ("issue", NOW, at(2026, 9, 24, 9))


def test_cli_acts_and_unit_by_name(state: State, tmp_path: Path) -> None:
    cfg = settings_for(tmp_path, state.url)
    s = quick_settings(cfg)
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ"), finding("case_overdue", "MZ-1", "MZJ")],
           at(2026, 9, 24, 9))
    issue_letters(state.engine, s, CAL, at(2026, 9, 24, 9), names, now=NOW)
    by_name = run_cli("letters", "list", "-c", str(cfg), "--unit", "县民政局")
    by_id = run_cli("letters", "list", "-c", str(cfg), "--unit", "MZJ")
    assert "共 1 件" in by_name.output and by_name.output == by_id.output
    as_json = run_cli("letters", "list", "-c", str(cfg), "--unit", "县民政局", "--format", "json")
    assert '"unit_name": "县民政局"' in as_json.output and '"unit_id": "MZJ"' in as_json.output
    number = "监预〔2026〕1号"
    r = run_cli("letters", "explain", "-c", str(cfg), number, "--by", "王五", "--finding", "1",
                "--reason", "经核实不予追究")
    assert r.exit_code == 0, r.output
    r = run_cli("letters", "extend", "-c", str(cfg), number, "--by", "王五", "--until", "2026-10-30",
                "--reason", "延期")
    assert r.exit_code == 0 and "已发出 → 已发出" in r.output, r.output
    r = run_cli("letters", "withdraw", "-c", str(cfg), number, "--by", "王五", "--reason", "误发")
    assert r.exit_code == 0 and "已撤销" in r.output, r.output
    r = run_cli("letters", "reopen", "-c", str(cfg), number, "--by", "王五", "--reason", "复查")
    assert r.exit_code == 1 and "已撤销" in r.output
    r = run_cli("letters", "withdraw", "-c", str(cfg), "监预〔2026〕2号", "--by", "王五")
    assert r.exit_code != 0  # the reason is required
    assert run_cli("audit", "verify", "-c", str(cfg)).exit_code == 0


def test_no_route_is_refused_at_load_unless_routes_none(tmp_path: Path) -> None:
    base = settings_for(tmp_path, "sqlite:///x.db").read_text(encoding="utf-8").replace("routes: none\n", "")
    bad = tmp_path / "bad.yaml"
    bad.write_text(base, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(bad)
    assert err.value.key == "routes" and "routes: none" in err.value.problem
    bad.write_text(base + "routes:\n  - to: []\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(bad)
    assert err.value.key == "routes[0].to"
    bad.write_text(base + "routes: none\n", encoding="utf-8")
    assert load_settings(bad).routes == "none"


def test_migration_0004_sets_matters_and_chains_the_old_audit_log(state: State) -> None:
    """A store at 0002 with an escalation chain and audit rows, upgraded: matters follow the
    citations, the old entries are chained as they stood and verify; downgrade works."""
    command.downgrade(alembic_config(state.engine), "0002")  # the fixture's store is at head
    assert current_revision(state.engine) == "0002"
    t0 = dt.datetime(2026, 9, 24, 1, 0)
    with state.engine.begin() as conn:
        for i, cites in ((1, None), (2, 1), (3, 2), (4, None)):
            conn.execute(sa.text(
                "INSERT INTO letters (id, number, prefix, year, seq, tier, status, audience, unit_id, "
                "recipient, checks, reason, issued_at, requires_report, requires_admonition, "
                "cites_letter_id, created_at) VALUES (:id, :n, '监预', 2026, :id, 'level3', 'issued', "
                "'unit', 'SJJ', '县市场监督管理局', 'case_overdue', 'new', :t, false, false, :c, :t)"),
                {"id": i, "n": f"监预〔2026〕{i}号", "t": t0, "c": cites})
            conn.execute(sa.text(
                "INSERT INTO audit_log (at, actor, action, letter_id, before, after, note, detail) "
                "VALUES (:t, 'sunlight', 'issue', :id, NULL, 'issued', NULL, :d)"),
                {"t": t0, "id": i, "d": '{"number": "x"}'})
    upgrade(state.engine)
    with state.engine.connect() as conn:
        matters = {i: m for i, m in conn.execute(sa.select(LetterRow.id, LetterRow.matter_id))}
        as_of = conn.execute(sa.select(AuditEntry.as_of).order_by(AuditEntry.id)).scalars().first()
    assert matters == {1: 1, 2: 1, 3: 1, 4: 4}
    assert as_of == t0.replace(tzinfo=dt.UTC)
    assert verify_audit(state.engine) == (4, None)
    command.downgrade(alembic_config(state.engine), "0002")
    assert current_revision(state.engine) == "0002"


def test_concurrent_acts_and_a_cycle_keep_one_unbroken_chain(state: State, tmp_path: Path) -> None:
    """Clerks acting on letters while a cycle issues new ones: the chain never forks."""
    import threading

    from sunlight.monitor.store import open_store

    s = quick_settings(settings_for(tmp_path, state.url, "tiers:\n  matter_start: check\n"))  # 3 letters
    record(state.engine, [finding("case_overdue", f"U{i}", "SJJ" if i % 2 else "MZJ") for i in range(4)]
           + [finding("case_overdue_statutory", "V", "SJJ", tier="level2")], at(2026, 9, 24, 9))
    issued = issue_letters(state.engine, s, CAL, at(2026, 9, 24, 9), names, now=NOW).issued
    assert len(issued) == 3
    barrier = threading.Barrier(len(issued) + 1)
    errors: list[BaseException] = []

    def run(work) -> None:
        engine = open_store(state.url, migrate=False)
        try:
            barrier.wait()
            work(engine)
        except BaseException as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)
        finally:
            engine.dispose()

    jobs = [lambda e, n=x.number: apply_act(e, n, Act("ack", "李四"), now=NOW) for x in issued]
    record(state.engine, [finding("case_overdue", f"W{i}", "SJJ" if i % 2 else "MZJ") for i in range(4)],
           at(2026, 10, 12, 9), source="other")
    jobs.append(lambda e: issue_letters(e, s, CAL, at(2026, 10, 12, 9), names, now=NOW))
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    checked, broken = verify_audit(state.engine)
    assert (broken, checked) == (None, 3 + 3 + 2)  # issue ×3, ack ×3, the cycle's two new letters
    with state.engine.connect() as conn:
        prevs = conn.execute(sa.select(AuditEntry.prev_hash)).scalars().all()
    assert len(prevs) == len(set(prevs))  # no two entries follow the same one: no fork


def test_a_leader_signs_off_a_level1_letter_once(state: State, tmp_path: Path) -> None:
    """签批: recorded on the letter and in the audit chain; the status and the requirements stay."""
    s = quick_settings(settings_for(tmp_path, state.url))
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ"), finding("case_overdue", "MZ-1", "MZJ")],
           at(2026, 9, 24, 9))
    issue_letters(state.engine, s, CAL, at(2026, 9, 24, 9), names, now=NOW)
    first, second = "监预〔2026〕1号", "监预〔2026〕2号"
    with state.engine.begin() as conn:  # as if the matter had climbed to 一级
        conn.execute(sa.update(LetterRow).where(LetterRow.number == first).values(tier="level1"))
    refused(state.engine, second, Act("sign_off", "陈书记"), "不是一级预警函")
    before, after = apply_act(state.engine, first, Act("sign_off", "陈书记", "同意，督促整改"), now=NOW)
    assert after == before.status == "issued"
    signed = letter(state.engine, first)
    assert signed.signed_off_at is not None and signed.status == "issued"
    entry = last_audit(state.engine)
    assert (entry.actor, entry.action, entry.note) == ("陈书记", "sign_off", "同意，督促整改")
    refused(state.engine, first, Act("sign_off", "陈书记"), "已签批")
    r = run_cli("letters", "sign-off", "-c", str(settings_for(tmp_path, state.url)), first, "--by", "陈书记")
    assert r.exit_code == 1 and "已签批" in r.output
