"""Letters: grouping, numbering, deadlines, one finding one letter, escalation, repeat, rendering.

Working days below are counted by hand from the State Council notices for
2026 (中秋 25–27 Sep; 国庆 1–7 Oct, Sun 20 Sep and Sat 10 Oct worked; 春节
15–23 Feb, Sat 14 Feb and Sat 28 Feb worked).
"""

from __future__ import annotations

import datetime as dt
import io
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from docx import Document

from sunlight.alerts.config import TierMatch, TierOverride, TiersConfig
from sunlight.alerts.letters import issue_letters
from sunlight.alerts.lifecycle import Act, apply_act
from sunlight.alerts.numbering import format_number, next_number
from sunlight.alerts.render import Renderer, letter_view
from sunlight.alerts.routing import channels_for
from sunlight.alerts.tiers import months_before, resolve_tier, start_tier
from sunlight.checks.base import Finding
from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.configure import ConfigError, load_settings
from sunlight.monitor.store import open_store
from sunlight.monitor.store.letters_models import AuditEntry, LetterFindingRow, LetterRow
from sunlight.monitor.store.models import FindingRow
from tests.test_letters_kit import (
    POSTGRES_URL,
    State,
    at,
    finding,
    pg_schema_url,
    quick_settings,
    record,
    settings_for,
    state_fixture,  # noqa: F401 - the ``state`` fixture
)

CAL = WorkCalendar()
NAMES = {"SJJ": "县市场监督管理局", "MZJ": "县民政局", "ZJJ": "县住房和城乡建设局"}


def names(ids):
    return {i: NAMES[i] for i in ids if i in NAMES}


def letters(store: sa.Engine) -> list:
    with store.connect() as conn:
        return conn.execute(sa.select(LetterRow).order_by(LetterRow.id)).all()


def links(store: sa.Engine, letter_id: int) -> list:
    with store.connect() as conn:
        return conn.execute(sa.select(LetterFindingRow).where(LetterFindingRow.letter_id == letter_id)
                            .order_by(LetterFindingRow.id)).all()


def dq(subject: str, unit: str) -> Finding:
    return Finding(check="data_quality", subject=f"main:cases:{subject}", unit_id=unit,
                   tier="reminder", summary=f"办件{subject}数据无法读取：字段accepted_at缺失",
                   evidence={"entity": "cases", "key": subject, "field": "accepted_at",
                             "reason": "缺失", "rule": {"cite": "architecture.md invariant 7",
                                                        "text": "源数据行无法读取为规范记录"}})


def test_one_letter_per_unit_and_tier_numbered_with_deadlines(state: State, tmp_path: Path) -> None:
    s = quick_settings(settings_for(tmp_path, state.url))
    when = at(2026, 9, 24, 9)
    record(state.engine, [
        finding("case_overdue", "SJ-1", "SJJ"), finding("case_overdue", "SJ-2", "SJJ"),
        finding("case_overdue_statutory", "SJ-3", "SJJ", tier="level2"),
        finding("case_overdue", "MZ-1", "MZJ"),
        finding("case_due_soon", "SJ-4", "SJJ", tier="reminder"),
        dq("SJ-9", "SJJ"),
    ], when)
    report = issue_letters(state.engine, s, CAL, when, names)
    got = [(x.number, x.tier, x.recipient, x.findings, x.rectify_by) for x in report.issued]
    # Thu 24 Sep + 10 working days: 25–27 Sep 中秋, 28, 29, 30 Sep, 1–7 Oct 国庆, 8, 9, Sat 10, 12–15 Oct
    # the statutory-limit case (a 二级 check) starts its matter at 三级 with the unit's other
    # findings (seed 004:68, 随时预警 sends 三级); the reminder stays a reminder
    assert got == [
        ("监提〔2026〕1号", "reminder", "县政务服务中心信息科", 1, None),  # data quality → data owner
        ("监预〔2026〕1号", "level3", "县民政局", 1, dt.date(2026, 10, 15)),
        ("监预〔2026〕2号", "level3", "县市场监督管理局", 3, dt.date(2026, 10, 15)),
        ("监提〔2026〕2号", "reminder", "县市场监督管理局", 1, None),
    ]
    rows = letters(state.engine)
    notice = rows[0]
    assert (notice.audience, notice.unit_id, notice.source) == ("data_owner", None, "main")
    assert not any(link.snapshot["check"] == "data_quality"
                   for r in rows if r.audience == "unit" for link in links(state.engine, r.id))
    assert [(r.requires_report, r.requires_admonition) for r in rows[1:3]] == [(False, False)] * 2
    with state.engine.connect() as conn:  # the finding keeps its check's tier as its severity
        assert conn.execute(sa.select(FindingRow.tier).where(FindingRow.subject == "SJ-3")).scalar_one() \
            == "level2"
    # the same findings, seen again by later scans, never make another letter
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ", overdue=5)], at(2026, 9, 25, 9))
    assert issue_letters(state.engine, s, CAL, at(2026, 9, 25, 9), names).issued == []
    assert len(letters(state.engine)) == 4


def test_level1_deadline_and_new_year_numbering(state: State, tmp_path: Path) -> None:
    # matter_start: check, so each letter starts at its finding's tier (the deadlines by tier)
    s = quick_settings(settings_for(tmp_path, state.url,
                                    "tiers:\n  matter_start: check\n  rectify_workdays: {level2: 10}\n"))
    record(state.engine, [finding("case_overdue", "A", "SJJ", tier="level1")], at(2026, 9, 24, 9))
    [one] = issue_letters(state.engine, s, CAL, at(2026, 9, 24, 9), names).issued
    # level1 keeps its default of 5 working days: 28, 29, 30 Sep, 8, 9 Oct
    assert (one.number, one.rectify_by) == ("监预〔2026〕1号", dt.date(2026, 10, 9))
    record(state.engine, [finding("case_overdue_statutory", "B", "SJJ", tier="level2")],
           at(2026, 2, 12, 9), source="other")
    [two] = issue_letters(state.engine, s, CAL, at(2026, 2, 12, 9), names).issued
    # Thu 12 Feb + 10: 13, Sat 14 (worked), 15–23 春节, 24, 25, 26, 27, Sat 28 (worked), 2, 3, 4 Mar
    assert (two.number, two.rectify_by) == ("监预〔2026〕2号", dt.date(2026, 3, 4))
    record(state.engine, [finding("case_overdue", "C", "MZJ")], at(2027, 1, 5, 9), source="third")
    issued = issue_letters(state.engine, s, CAL, at(2027, 1, 5, 9), names).issued
    # n counts up within the year (the unanswered level2 letter escalates first)
    assert [(x.number, x.reason) for x in issued] == [("监预〔2027〕1号", "escalation"),
                                                      ("监预〔2027〕2号", "new")]


def test_a_finding_on_an_open_letter_is_never_on_a_second(state: State, tmp_path: Path) -> None:
    s = quick_settings(settings_for(tmp_path, state.url))
    f = finding("case_overdue", "SJ-1", "SJJ")
    record(state.engine, [f], at(2026, 9, 24, 9))
    [first] = issue_letters(state.engine, s, CAL, at(2026, 9, 24, 9), names).issued
    record(state.engine, [], at(2026, 9, 28, 9))  # resolved in the source …
    issue_letters(state.engine, s, CAL, at(2026, 9, 28, 9), names)
    [link] = links(state.engine, first.id)
    assert link.resolved_at is not None  # … recorded on the letter
    assert letters(state.engine)[0].status == "issued"  # … and the letter is not closed by itself
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ")], at(2026, 9, 29, 9))  # re-opened
    assert issue_letters(state.engine, s, CAL, at(2026, 9, 29, 9), names).issued == []
    apply_act(state.engine, first.number, Act("ack", "李四"))
    apply_act(state.engine, first.number, Act("close", "王五", "已核实整改"))
    record(state.engine, [], at(2026, 9, 30, 9))
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ")], at(2026, 10, 8, 9))
    [again] = issue_letters(state.engine, s, CAL, at(2026, 10, 8, 9), names).issued
    assert again.number == "监预〔2026〕2号"  # closed letter: the re-opened finding gets a new one


def test_level3_past_rectify_by_escalates_to_level2_citing_it(state: State, tmp_path: Path) -> None:
    s = quick_settings(settings_for(tmp_path, state.url))
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ"), finding("case_overdue", "SJ-2", "SJJ")],
           at(2026, 9, 24, 9))
    [old] = issue_letters(state.engine, s, CAL, at(2026, 9, 24, 9), names).issued
    assert old.rectify_by == dt.date(2026, 10, 15)
    late_day = issue_letters(state.engine, s, CAL, at(2026, 10, 15, 18), names)
    assert late_day.issued == [] and late_day.escalated == []  # the last day still counts
    report = issue_letters(state.engine, s, CAL, at(2026, 10, 16, 9), names)
    assert report.escalated == ["监预〔2026〕1号"]
    [new] = report.issued
    # Fri 16 Oct + 10 working days: 19–23, 26–30 Oct
    assert (new.number, new.tier, new.cites, new.reason, new.findings, new.rectify_by) == (
        "监预〔2026〕2号", "level2", "监预〔2026〕1号", "escalation", 2, dt.date(2026, 10, 30))
    rows = letters(state.engine)
    assert [r.status for r in rows] == ["escalated", "issued"]
    assert rows[1].cites_letter_id == rows[0].id
    with state.engine.connect() as conn:
        trail = conn.execute(sa.select(AuditEntry.action, AuditEntry.before, AuditEntry.after)
                             .where(AuditEntry.letter_id == rows[0].id).order_by(AuditEntry.id)).all()
    assert [tuple(t) for t in trail] == [("issue", None, "issued"), ("overdue", "issued", "overdue"),
                                         ("escalate", "overdue", "escalated")]
    assert [x.open_fingerprint is None for x in links(state.engine, rows[0].id)] == [True, True]
    assert all(x.open_fingerprint for x in links(state.engine, rows[1].id))
    text = Renderer(s).text(letter_view(state.engine, s, rows[1].id))
    assert "三级预警函（监预〔2026〕1号）" in text and "二级预警函" in text and "2026年10月15日" in text
    # a report alone is not the rectification: the level2 letter whose cases are still open
    # escalates, carrying only the finding not rectified (SJ-2 was completed on 29 Oct)
    apply_act(state.engine, new.number, Act("report", "李四", file="/reports/sjj.pdf"))
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ")], at(2026, 10, 29, 9))
    up = issue_letters(state.engine, s, CAL, at(2026, 11, 2, 9), names)
    assert up.escalated == ["监预〔2026〕2号"]
    assert [(x.tier, x.cites, x.findings) for x in up.issued] == [("level1", "监预〔2026〕2号", 1)]
    assert [x.snapshot["subject"] for x in links(state.engine, up.issued[0].id)] == ["SJ-1"]


def test_level3_whose_findings_all_resolved_does_not_escalate(state: State, tmp_path: Path) -> None:
    s = quick_settings(settings_for(tmp_path, state.url))
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ")], at(2026, 9, 24, 9))
    issue_letters(state.engine, s, CAL, at(2026, 9, 24, 9), names)
    record(state.engine, [], at(2026, 10, 12, 9))  # rectified in the source before the deadline
    report = issue_letters(state.engine, s, CAL, at(2026, 10, 16, 9), names)
    assert report.escalated == [] and report.issued == []
    assert letters(state.engine)[0].status == "issued"  # waits for a person to close it


def test_level1_overdue_stays_overdue(state: State, tmp_path: Path) -> None:
    # an office's override sets the start: this matter starts (and stays) at 一级
    s = quick_settings(settings_for(tmp_path, state.url, "tiers:\n  overrides:\n"
                                    "    - {match: {check: case_overdue}, tier: level1}\n"))
    record(state.engine, [finding("case_overdue", "SJ-1", "SJJ", tier="level1")], at(2026, 9, 24, 9))
    issue_letters(state.engine, s, CAL, at(2026, 9, 24, 9), names)
    report = issue_letters(state.engine, s, CAL, at(2026, 10, 12, 9), names)  # rectify_by 9 Oct
    assert (report.overdue, report.escalated, report.issued) == (["监预〔2026〕1号"], [], [])
    assert letters(state.engine)[0].status == "overdue"
    assert issue_letters(state.engine, s, CAL, at(2026, 10, 13, 9), names).overdue == []  # once


def test_repeat_rule_gives_level1(state: State, tmp_path: Path) -> None:
    # the office starts statutory-limit cases at 二级 (an override), so each is a serious matter
    s = quick_settings(settings_for(tmp_path, state.url, "tiers:\n  overrides:\n"
                                    "    - {match: {check: case_overdue_statutory}, tier: level2}\n"))
    history = [(at(2025, 9, 1, 9), "ZJJ"), (at(2026, 1, 10, 9), "ZJJ"),  # ZJJ: one is out of window
               (at(2026, 1, 12, 9), "SJJ"), (at(2026, 6, 10, 9), "SJJ")]  # SJJ: both within 12 months
    for i, (when, unit) in enumerate(history):
        record(state.engine, [finding("case_overdue_statutory", f"{unit}-old-{i}", unit, tier="level2")],
               when, source=f"s{i}")
        [letter] = issue_letters(state.engine, s, CAL, when, names).issued
        assert letter.tier == "level2" and letter.reason == "new"
        apply_act(state.engine, letter.number, Act("report", "李四", file="/reports/r.pdf"))
        record(state.engine, [], when + dt.timedelta(days=1), source=f"s{i}")  # rectified
    when = at(2026, 9, 24, 9)
    record(state.engine, [finding("case_overdue", "SJJ-new", "SJJ"),
                          finding("case_overdue_statutory", "SJJ-new2", "SJJ", tier="level2"),
                          finding("case_overdue", "ZJJ-new", "ZJJ")], when, source="now")
    issued = issue_letters(state.engine, s, CAL, when, names).issued
    got = [(x.recipient, x.tier, x.reason, x.findings, x.rectify_by) for x in issued]
    assert got == [
        ("县市场监督管理局", "level1", "repeat", 2, dt.date(2026, 10, 9)),  # level2 + level3 → one level1
        ("县住房和城乡建设局", "level3", "new", 1, dt.date(2026, 10, 15)),
    ]
    text = Renderer(s).text(letter_view(state.engine, s, issued[0].id))
    assert "近12个月内已有2起以上事项被发出二级以上预警函" in text and "诫勉谈话" in text


def test_months_before_clamps_the_day() -> None:
    assert months_before(at(2026, 3, 31, 9), 1) == at(2026, 2, 28, 9)
    assert months_before(at(2026, 9, 24, 9), 12) == at(2025, 9, 24, 9)


def test_tier_overrides_by_check_unit_and_item() -> None:
    config = TiersConfig(overrides=[
        TierOverride(match=TierMatch(unit_id="YJJ", item_code="YJ-002"), tier="level1"),
        TierOverride(match=TierMatch(check="case_overdue", unit_id=["MZJ", "ZJJ"]), tier="level2"),
        TierOverride(match=TierMatch(check="repeated_supplement"), tier="reminder"),
    ])
    assert resolve_tier(config, "case_overdue", "level3", "YJJ", "YJ-002") == "level1"
    assert resolve_tier(config, "case_overdue", "level3", "YJJ", "YJ-001") == "level3"
    assert resolve_tier(config, "case_overdue", "level3", "ZJJ", None) == "level2"
    assert resolve_tier(config, "repeated_supplement", "level3", "SJJ", None) == "reminder"
    # the matter's start: an override sets it; otherwise 三级 (seed 004:68), a reminder stays one
    assert start_tier(config, "case_overdue", "level3", "ZJJ", None) == "level2"
    assert start_tier(config, "case_overdue_statutory", "level2", "SJJ", None) == "level3"
    assert start_tier(config, "decision_not_collective", "level1", "SJJ", None) == "level3"
    assert start_tier(config, "case_due_soon", "reminder", "SJJ", None) == "reminder"
    assert start_tier(config, "repeated_supplement", "level3", "SJJ", None) == "reminder"
    as_checked = config.model_copy(update={"matter_start": "check"})
    assert start_tier(as_checked, "case_overdue_statutory", "level2", "SJJ", None) == "level2"


def test_labels_and_colours_from_config(tmp_path: Path) -> None:
    extra = "tiers:\n  labels: {level1: 红牌预警函}\n  colours: {level1: '#990000'}\n"
    s = quick_settings(settings_for(tmp_path, "sqlite:///x.db", extra))
    assert s.tiers.labels["level1"] == "红牌预警函" and s.tiers.labels["level3"] == "三级预警函"
    assert s.tiers.colours["level1"] == "#990000"


def test_routes_first_match_wins(tmp_path: Path) -> None:
    s = quick_settings(settings_for(tmp_path, "sqlite:///x.db", """\
routes:
  - match: {tier: reminder}
    to: [handlers]
  - match: {tier: [level2, level1], unit_id: YJJ}
    to: [office, folder]
  - match: {check: extension_invalid}
    to: [office]
  - to: [folder]
channels:
  handlers: {type: folder, path: h}
  office: {type: folder, path: o}
  folder: {type: folder, path: f}
"""))
    assert channels_for(s.routes, "reminder", "YJJ", ["case_due_soon"]) == ["handlers"]
    assert channels_for(s.routes, "level1", "YJJ", ["case_overdue"]) == ["office", "folder"]
    assert channels_for(s.routes, "level3", "YJJ", ["case_overdue"]) == ["folder"]
    assert channels_for(s.routes, "level3", "MZJ", ["case_overdue", "extension_invalid"]) == ["office"]


@pytest.mark.parametrize(("extra", "key"), [
    ("routes:\n  - match: {tier: level1}\n    to: [f]\nchannels:\n  f: {type: folder, path: f}\n",
     "routes[0]"),
    ("routes:\n  - to: [nowhere]\n", "routes[0].to[0]"),
    ("letters:\n  number_prefix: 监预\n  reminder_prefix: 监预\n", "letters.reminder_prefix"),
    ("tiers:\n  rectify_workdays: {level2: 0}\n", "tiers.rectify_workdays.level2"),
    ("tiers:\n  labels: {level9: 九级}\n", "tiers.labels.level9"),
    ("letters:\n  templates: no-such-folder\n", "letters.templates"),
    ("letters:\n  delivery: {max_age: forever}\n", "letters.delivery.max_age"),
])
def test_bad_alerting_config_names_the_key(tmp_path: Path, extra: str, key: str) -> None:
    path = settings_for(tmp_path, "sqlite:///x.db").read_text(encoding="utf-8")
    if extra.startswith("letters:"):  # replace the kit's letters section
        path = path.split("letters:")[0]
    if "routes:" in extra:  # the kit's 'routes: none' makes way for the routes under test
        path = path.replace("routes: none\n", "")
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(path + extra, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert err.value.key.startswith(key), err.value


def test_numbers_unique_across_threads_and_restarts_on_postgres() -> None:
    """Six writers take 90 numbers at once through PostgreSQL row locks: 1..90, no gaps, no twins."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need SUNLIGHT_TEST_POSTGRES_URL (set by .ci/run)")
    for url in pg_schema_url():
        open_store(url).dispose()
        taken: list[int] = []
        lock = threading.Lock()
        barrier = threading.Barrier(6)

        def worker(url: str = url, barrier: threading.Barrier = barrier,
                   lock: threading.Lock = lock, taken: list[int] = taken) -> None:
            engine = sa.create_engine(url)
            barrier.wait()
            for _ in range(15):
                with engine.begin() as conn:
                    seq, number = next_number(conn, "监预", 2026)
                    assert number == format_number("监预", 2026, seq)
                with lock:
                    taken.append(seq)
            engine.dispose()

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(taken) == list(range(1, 91))
        restarted = open_store(url)  # a new process: the counter lives in the store
        with restarted.begin() as conn:
            assert next_number(conn, "监预", 2026)[0] == 91
            assert next_number(conn, "监提", 2026)[0] == 1
        with restarted.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        with pytest.raises(sa.exc.DBAPIError), restarted.begin() as conn:  # rolled back: not used
            next_number(conn, "监预", 2026)
            conn.execute(sa.text("SELECT 1/0"))
        with restarted.begin() as conn:
            assert next_number(conn, "监预", 2026)[0] == 92
        restarted.dispose()


def test_concurrent_issuers_letter_each_finding_once(state: State, tmp_path: Path) -> None:
    """Two replicas run the letter step at the same moment on the same findings."""
    s = quick_settings(settings_for(tmp_path, state.url))
    when = at(2026, 9, 24, 9)
    record(state.engine, [finding("case_overdue", f"{u}-{i}", u) for u in NAMES for i in range(3)], when)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def replica() -> None:
        engine = open_store(state.url, migrate=False)
        try:
            barrier.wait()
            results.append(issue_letters(engine, s, CAL, when, names))
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = letters(state.engine)
    assert len(rows) == 3 and sorted(r.seq for r in rows) == [1, 2, 3]
    assert sorted(len(r.issued) for r in results) == [0, 3]
    with state.engine.connect() as conn:
        fps = conn.execute(sa.select(LetterFindingRow.fingerprint)).scalars().all()
    assert len(fps) == len(set(fps)) == 9


def test_docx_and_html_hold_number_unit_and_every_finding(tmp_path: Path) -> None:
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    store = open_store(state_url)
    s = quick_settings(settings_for(tmp_path, state_url))
    found = [finding("case_overdue", f"SJJ2026092400{i}", "SJJ", overdue=i + 1,
                     item="食品经营许可<特>") for i in range(4)]
    record(store, found, at(2026, 9, 24, 9))
    [letter] = issue_letters(store, s, CAL, at(2026, 9, 24, 9), names).issued
    renderer = Renderer(s)
    view = letter_view(store, s, letter.id)
    doc = Document(io.BytesIO(renderer.docx(view)))
    text = "\n".join(p.text for p in doc.paragraphs)
    html = renderer.html(view)
    for content in (text, html):
        assert "监预〔2026〕1号" in content and "县市场监督管理局" in content
        assert "中共示范县纪律检查委员会 示范县监察委员会" in content and "2026年9月24日" in content
        assert "于2026年10月15日前完成整改" in content
        assert "在承诺时限内办结" in content and "003:565" not in content  # the seed stays in evidence
        for i, f in enumerate(found):
            assert f.subject in content and f"{i + 1}个工作日" in content
    assert "食品经营许可&lt;特&gt;" in html and "<特>" not in html  # escaped
    assert "食品经营许可<特>" in text  # and escaped in the DOCX's XML, so Word reads it back
    assert len(doc.tables) == 0  # a 公文: findings are numbered paragraphs, not a table
    md = renderer.markdown(view)
    assert all(f.subject in md for f in found) and "**监预〔2026〕1号**" in md


def test_office_template_folder_overrides(tmp_path: Path) -> None:
    (tmp_path / "tpl").mkdir()
    template = "{{ v.number }}｜{{ v.recipient }}｜{{ v.findings|length }}"
    (tmp_path / "tpl" / "letter.txt.j2").write_text(template, encoding="utf-8")
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    store = open_store(state_url)
    s = quick_settings(settings_for(tmp_path, state_url).parent / "sunlight.yaml")
    cfg = settings_for(tmp_path, state_url)
    cfg.write_text(cfg.read_text(encoding="utf-8") + "  templates: tpl\n", encoding="utf-8")
    s = quick_settings(cfg)
    record(store, [finding("case_overdue", "A", "SJJ")], at(2026, 9, 24, 9))
    [letter] = issue_letters(store, s, CAL, at(2026, 9, 24, 9), names).issued
    renderer = Renderer(s)
    view = letter_view(store, s, letter.id)
    assert renderer.text(view) == "监预〔2026〕1号｜县市场监督管理局｜1"
    assert "<!DOCTYPE html>" in renderer.html(view)  # not overridden: the built-in one
