"""Letters to the person (issue 9 item 4; seed 004:66 "对所在单位(部门)或当事人分别发出…预警函").

With ``letters.to_person: [single_signature]`` a voucher signed by one person
only (一支笔) goes in a letter to that signer, by name, copied to the unit; a
voucher nobody signed has no person and stays on the unit's letter; an
ignored person letter escalates one rung, to the same person. The cycles run
weekly on a real SQLite source and a real SMTP receiver (aiosmtpd).

Dates, worked by hand (November 2026 has no holidays or adjusted workdays):
a 三级 letter issued Wed 4 Nov has 10 working days (``tiers.rectify_workdays``):
5, 6, 9, 10, 11, 12, 13, 16, 17, 18 Nov, so ``rectify_by`` is Wed 18 Nov; the
cycle of Wed 25 Nov is the first after it and escalates to 二级, whose 10
working days run 26, 27, 30 Nov, 1–4, 7, 8, 9 Dec: rectify_by Wed 9 Dec.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
from email.utils import getaddresses
from pathlib import Path

import pytest
import sqlalchemy as sa
from docx import Document

from sunlight.alerts.channels.webhook import payload
from sunlight.alerts.config import TiersConfig
from sunlight.alerts.planner import LetterFinding, NewFinding, OpenLetter, PastLetter, PlanInput, plan_letters
from sunlight.alerts.render import Renderer
from sunlight.alerts.view import letter_view
from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.configure import ConfigError, load_settings
from sunlight.monitor.cycle import deliver, run_cycle
from sunlight.monitor.demo.schema import create_all, metadata
from sunlight.monitor.engine import Engine
from sunlight.monitor.store.db import open_store
from sunlight.monitor.store.letters_models import LetterRow
from tests.conftest import at, postgres_schema
from tests.receivers import SmtpReceiver, smtp_receiver  # noqa: F401 (fixture)

WANG = "wangfang@mzj.example.gov.cn"
LIAISON = "liu@mzj.example.gov.cn"


def build_source(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    create_all(engine, ["units", "people", "expenses", "expense_signatures"])
    t = metadata.tables
    with engine.begin() as conn:
        conn.execute(sa.insert(t["units"]), [{"unit_id": "MZJ", "name": "县民政局", "kind": "department"}])
        conn.execute(sa.insert(t["people"]), [
            {"person_id": "MZJ-P1", "name": "王芳", "unit_id": "MZJ", "is_head": False},
            {"person_id": "MZJ-P2", "name": "李建国", "unit_id": "MZJ", "is_head": False}])
        conn.execute(sa.insert(t["expenses"]), [
            {"voucher_id": "PZ-1", "unit_id": "MZJ", "amount": "800.00", "category": "travel",
             "paid_at": dt.datetime(2026, 10, 20, 10)},
            {"voucher_id": "PZ-2", "unit_id": "MZJ", "amount": "900.00", "category": "travel",
             "paid_at": dt.datetime(2026, 10, 21, 10)}])
        conn.execute(sa.insert(t["expense_signatures"]), [
            # PZ-1: 一支笔, only 王芳 signed (twice): a finding about 王芳
            {"voucher_id": "PZ-1", "role": "handler", "person_id": "MZJ-P1",
             "signed_at": dt.datetime(2026, 10, 19, 9)},
            {"voucher_id": "PZ-1", "role": "finance_leader", "person_id": "MZJ-P1",
             "signed_at": dt.datetime(2026, 10, 19, 10)}])
        # PZ-2 has no signature at all (无人签字): a single_signature finding about nobody
    engine.dispose()
    return url


CONFIG = """\
timezone: Asia/Shanghai
state:
  url: "{state}"
sources:
  finance:
    url: "{url}"
letters:
  issuer: 中共示范县纪律检查委员会 示范县监察委员会
  copy_to: [县人民政府办公室]
  to_person: [single_signature]
routes:
  - to: [mail]
channels:
  mail:
    type: email
    smtp: smtp://{host}:{port}
    from: 县纪委监委 <jw@example.gov.cn>
    to: []
    unit_to: {{MZJ: ["刘联络 <{liaison}>"]}}
    person_to: {{MZJ-P1: ["王芳 <{wang}>"]}}
"""


def letters(store: sa.Engine) -> list:
    with store.connect() as conn:
        return list(conn.execute(sa.select(LetterRow).order_by(LetterRow.id)).all())


def _office(tmp_path: Path, smtp_receiver: SmtpReceiver, state_url: str):  # noqa: F811
    url = build_source(tmp_path / "source.db")
    cfg = tmp_path / "sunlight.yaml"
    cfg.write_text(CONFIG.format(state=state_url, url=url, host=smtp_receiver.host,
                                 port=smtp_receiver.port, liaison=LIAISON, wang=WANG), encoding="utf-8")
    settings = load_settings(cfg)
    store = open_store(state_url)
    engine = Engine(settings, calendar=WorkCalendar())
    yield settings, store, engine
    engine.close()
    store.dispose()


@pytest.fixture
def office(tmp_path: Path, smtp_receiver: SmtpReceiver):  # noqa: F811 (fixture)
    yield from _office(tmp_path, smtp_receiver, f"sqlite:///{tmp_path / 'state.db'}")


@pytest.fixture(params=["sqlite", "postgres"])
def any_office(request: pytest.FixtureRequest, tmp_path: Path,
               smtp_receiver: SmtpReceiver):  # noqa: F811 (fixture)
    """The office with its state store on SQLite, then on PostgreSQL."""
    if request.param == "sqlite":
        yield from _office(tmp_path, smtp_receiver, f"sqlite:///{tmp_path / 'state.db'}")
        return
    with postgres_schema() as url:
        yield from _office(tmp_path, smtp_receiver, url)


def test_single_signature_goes_to_the_signer_by_name_copied_to_the_unit(office, smtp_receiver) -> None:  # noqa: F811
    settings, store, engine = office
    run_cycle(engine, store, settings, at(2026, 11, 4, 9))
    rows = letters(store)
    person = [r for r in rows if r.audience == "person"]
    unit = [r for r in rows if r.audience == "unit"]
    assert len(person) == 1 and len(unit) == 1
    p = person[0]
    assert (p.person_id, p.unit_id, p.recipient, p.copy_to, p.tier) == (
        "MZJ-P1", "MZJ", "王芳", "县民政局", "level3")
    assert p.rectify_by == dt.date(2026, 11, 18)
    # the voucher nobody signed names no person: it stays on the unit's letter
    assert (unit[0].recipient, unit[0].person_id, unit[0].copy_to) == ("县民政局", None, None)

    view = Renderer(settings).worded(letter_view(store, settings, p.id))
    text = Renderer(settings).text(view)
    assert view.recipient == "王芳同志" and view.you == "你"
    assert text.splitlines().count("王芳同志：") == 1
    assert "关于王芳同志一支笔审批问题的三级预警函" in text
    assert "你在履职中存在以下问题" in text
    assert "仅由王芳一人签字" in text
    assert "请你于2026年11月18日前完成整改。" in text
    assert "你单位" not in text and "MZJ-P1" not in text
    assert "抄送：县民政局、县人民政府办公室。" in text
    unit_text = Renderer(settings).text(letter_view(store, settings, unit[0].id))
    # 无人签字 (PZ-2) on the unit's letter; 王芳's 一支笔 only on hers (the unit's letter keeps
    # PZ-1's other findings: the doubled role and the missing signers are not in to_person)
    assert "无人签字" in unit_text and "你单位" in unit_text and "仅由王芳一人签字" not in unit_text
    assert "同时作为经办人、分管财务领导签字" in unit_text

    message = Renderer(settings).message(store, p.id)
    assert (message.person_id, message.unit_id, message.unit_name) == ("MZJ-P1", "MZJ", "县民政局")
    assert payload(message)["person_id"] == "MZJ-P1"
    assert "person_id" not in payload(Renderer(settings).message(store, unit[0].id))

    assert deliver(store, settings, dt.datetime.now(dt.UTC)) == 2
    by_subject = {str(m.message["Subject"]): m for m in smtp_receiver.messages}
    mail = next(m for s, m in by_subject.items() if "王芳" in s)
    assert [a for _, a in getaddresses([str(mail.message["To"])])] == [WANG]
    assert [a for _, a in getaddresses([str(mail.message["Cc"])])] == [LIAISON]
    assert sorted(mail.rcpt_tos) == sorted([WANG, LIAISON])
    unit_mail = next(m for s, m in by_subject.items() if "王芳" not in s)
    assert unit_mail.rcpt_tos == [LIAISON] and unit_mail.message["Cc"] is None


def test_letters_list_finds_a_person_letter_by_its_unit(office, tmp_path: Path) -> None:
    settings, store, engine = office
    run_cycle(engine, store, settings, at(2026, 11, 4, 9))
    out = subprocess.run(
        [sys.executable, "-m", "sunlight.monitor.cli", "letters", "list", "--config",
         str(tmp_path / "sunlight.yaml"), "--unit", "县民政局", "--format", "json"],
        capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"}, timeout=120)
    assert out.returncode == 0, out.stderr
    listed = sorted((x["recipient"], x["unit_name"], x["person_id"])
                    for x in map(json.loads, out.stdout.splitlines()))
    assert listed == [("县民政局", "县民政局", None), ("王芳", "县民政局", "MZJ-P1")]


def test_an_ignored_person_letter_escalates_one_rung_to_the_same_person(any_office, smtp_receiver) -> None:  # noqa: F811
    settings, store, engine = any_office
    for day in (4, 11, 18):  # weekly; nothing happens before the deadline has passed
        run_cycle(engine, store, settings, at(2026, 11, day, 9))
    assert [r.status for r in letters(store)] == ["issued", "issued"]
    report = run_cycle(engine, store, settings, at(2026, 11, 25, 9))  # first cycle after 18 Nov
    rows = letters(store)
    assert len(report.letters_escalated) == 2 and len(rows) == 4
    first, second = (r for r in rows if r.person_id == "MZJ-P1")
    assert first.status == "escalated"
    assert (second.audience, second.recipient, second.copy_to, second.unit_id) == (
        "person", "王芳", "县民政局", "MZJ")
    assert (second.tier, second.reason, second.cites_letter_id, second.matter_id) == (
        "level2", "escalation", first.id, first.matter_id)
    assert second.rectify_by == dt.date(2026, 12, 9)
    text = Renderer(settings).text(letter_view(store, settings, second.id))
    assert f"我委此前向你发出三级预警函（{first.number}）" in text
    assert "请你于2026年12月9日前完成整改，并向我委提交书面整改报告。" in text
    # the unit's own letter climbs its own rung, to the unit
    unit_second = [r for r in rows if r.audience == "unit"][-1]
    assert (unit_second.tier, unit_second.recipient, unit_second.person_id) == ("level2", "县民政局", None)
    deliver(store, settings, dt.datetime.now(dt.UTC))
    escalated = [m for m in smtp_receiver.messages
                 if str(m.message["Subject"]) == "关于王芳同志一支笔审批问题的二级预警函"]
    assert len(escalated) == 1
    assert sorted(escalated[0].rcpt_tos) == sorted([WANG, LIAISON])
    assert str(escalated[0].message["X-Sunlight-Idempotency-Key"]).startswith(second.number)


def test_to_person_names_a_known_check(tmp_path: Path) -> None:
    cfg = tmp_path / "sunlight.yaml"
    cfg.write_text("state: {url: 'sqlite:///x.db'}\nsources: {finance: {url: 'sqlite:///s.db'}}\n"
                   "routes: none\nletters: {to_person: [one_pen]}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "letters.to_person[0]" in str(err.value) and "one_pen" in str(err.value)


# --- the planner, pure --------------------------------------------------------------------


def finding(fid: int, check: str = "single_signature", person: str | None = "P1",
            unit: str = "U1") -> NewFinding:
    return NewFinding(fid, f"fp{fid}", check, unit, None, "finance", "level2", f"facts{fid}", person)


AT = at(2026, 11, 4, 9)
POLICY = TiersConfig()


def test_planner_groups_per_person_and_falls_back_to_the_unit() -> None:
    plan = plan_letters(PlanInput(
        at=AT, policy=POLICY, to_person=frozenset({"single_signature"}),
        person_names={"P1": "王芳", "P2": "李建国"}, unit_names={"U1": "县民政局"},
        new_findings=[finding(1), finding(2), finding(3, person="P2"),
                      finding(4, person=None),  # nobody signed
                      finding(5, person="P9"),  # a person the people table does not know
                      finding(6, check="duplicate_role_signer")]))  # not in to_person
    got = sorted((p.audience, p.recipient, p.person_id, p.copy_to, p.finding_ids) for p in plan.letters)
    assert got == [("person", "李建国", "P2", "县民政局", (3,)),
                   ("person", "王芳", "P1", "县民政局", (1, 2)),
                   ("unit", "县民政局", None, None, (4, 5, 6))]
    assert {p.tier for p in plan.letters} == {"level3"}


def test_planner_without_to_person_letters_the_unit() -> None:
    plan = plan_letters(PlanInput(at=AT, policy=POLICY, person_names={"P1": "王芳"},
                                  unit_names={"U1": "县民政局"}, new_findings=[finding(1)]))
    assert [(p.audience, p.recipient) for p in plan.letters] == [("unit", "县民政局")]


def test_repeat_counts_the_persons_own_matters_not_the_units() -> None:
    serious = [PastLetter("U1", m, "level2", at(2026, 6, 1, 9), person_id="P1") for m in (10, 11)]
    unit_serious = [PastLetter("U1", m, "level2", at(2026, 6, 1, 9)) for m in (20, 21)]
    base = dict(at=AT, policy=POLICY, to_person=frozenset({"single_signature"}),
                person_names={"P1": "王芳", "P2": "李建国"}, unit_names={"U1": "县民政局"},
                new_findings=[finding(1), finding(2, person="P2"), finding(3, person=None)])
    plan = plan_letters(PlanInput(**base, history=serious))  # type: ignore[arg-type]
    tiers = {(p.recipient, p.tier, p.reason) for p in plan.letters}
    assert tiers == {("王芳", "level1", "repeat"), ("李建国", "level3", "new"), ("县民政局", "level3", "new")}
    plan = plan_letters(PlanInput(**base, history=unit_serious))  # type: ignore[arg-type]
    tiers = {(p.recipient, p.tier, p.reason) for p in plan.letters}
    assert tiers == {("王芳", "level3", "new"), ("李建国", "level3", "new"), ("县民政局", "level1", "repeat")}


def test_escalation_keeps_the_person_and_the_copy() -> None:
    letter = OpenLetter(id=7, number="监预〔2026〕7号", tier="level3", status="issued", unit_id="U1",
                        audience="person", recipient="王芳", source=None, matter_id=7,
                        rectify_by=dt.date(2026, 11, 3), report_received=False, admonition_held=False,
                        findings=(LetterFinding(1, "fp1", "single_signature", ended=False),),
                        person_id="P1", copy_to="县民政局")
    plan = plan_letters(PlanInput(at=AT, policy=POLICY, open_letters=[letter]))
    (up,) = plan.letters
    assert (up.tier, up.audience, up.recipient, up.person_id, up.copy_to, up.cites, up.matter_id) == (
        "level2", "person", "王芳", "P1", "县民政局", 7, 7)


# --- a case's handler: sources hold a name, matched in the case's unit ----------------------


def test_an_overdue_case_goes_to_its_handler_when_the_unit_has_one_person_of_that_name(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    src = sa.create_engine(url)
    create_all(src, ["units", "people", "cases", "case_pauses", "case_extensions", "case_steps"])
    t = metadata.tables
    accepted = dt.datetime(2026, 10, 12, 10)  # promised 5 working days: long overdue on 4 Nov
    with src.begin() as conn:
        conn.execute(sa.insert(t["units"]), [{"unit_id": "MZJ", "name": "县民政局", "kind": "department"},
                                             {"unit_id": "CGZ", "name": "城关镇人民政府",
                                              "kind": "township"}])
        conn.execute(sa.insert(t["people"]), [
            {"person_id": "MZJ-P1", "name": "王芳", "unit_id": "MZJ"},
            {"person_id": "MZJ-P4", "name": "张伟", "unit_id": "MZJ"},
            {"person_id": "MZJ-P5", "name": "张伟", "unit_id": "MZJ"},  # two of one name
            {"person_id": "CGZ-P1", "name": "刘洋", "unit_id": "CGZ"}])
        conn.execute(sa.insert(t["cases"]), [
            {"case_id": f"C{i}", "unit_id": "MZJ", "item_code": "MZ-001", "item_name": "最低生活保障审批",
             "handler": handler, "accepted_at": accepted, "promised_limit": 5, "limit_unit": "workday"}
            for i, handler in enumerate(["王芳", "张伟", "刘洋", None], start=1)])
        # 刘洋 is in another unit: not the handler of a 民政局 case; C4 names no handler
    src.dispose()
    cfg = tmp_path / "sunlight.yaml"
    cfg.write_text(f"""\
timezone: Asia/Shanghai
state: {{url: "sqlite:///{tmp_path / 'state.db'}"}}
sources: {{approvals: {{url: "{url}"}}}}
letters: {{to_person: [case_overdue]}}
routes: [{{to: [files]}}]
channels: {{files: {{type: folder, path: letters}}}}
""", encoding="utf-8")
    settings = load_settings(cfg)
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    engine = Engine(settings, calendar=WorkCalendar())
    try:
        run_cycle(engine, store, settings, at(2026, 11, 4, 9))
    finally:
        engine.close()
    rows = letters(store)
    person = [r for r in rows if r.audience == "person"]
    assert [(r.recipient, r.person_id, r.copy_to) for r in person] == [("王芳", "MZJ-P1", "县民政局")]
    with store.connect() as conn:
        from_links = conn.execute(sa.text(
            "SELECT l.audience, f.subject FROM letter_findings lf JOIN letters l ON l.id = lf.letter_id "
            "JOIN findings f ON f.id = lf.finding_id WHERE f.check_id = 'case_overdue'")).all()
    assert sorted(from_links) == [("person", "C1"), ("unit", "C2"), ("unit", "C3"), ("unit", "C4")]
    assert deliver(store, settings, dt.datetime.now(dt.UTC)) == len(rows)
    files = sorted(p.name for p in (tmp_path / "letters").rglob("*") if p.is_file())
    assert any(person[0].number in name for name in files)


def test_a_level1_person_letter_asks_the_person_for_the_talk_in_text_and_docx(
        tmp_path: Path, smtp_receiver: SmtpReceiver) -> None:  # noqa: F811
    url = build_source(tmp_path / "source.db")
    cfg = tmp_path / "sunlight.yaml"
    cfg.write_text(CONFIG.format(state=f"sqlite:///{tmp_path / 'state.db'}", url=url, host=smtp_receiver.host,
                                 port=smtp_receiver.port, liaison=LIAISON, wang=WANG)
                   + "tiers:\n  overrides:\n    - {match: {check: single_signature}, tier: level1}\n",
                   encoding="utf-8")
    settings = load_settings(cfg)
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    engine = Engine(settings, calendar=WorkCalendar())
    try:
        run_cycle(engine, store, settings, at(2026, 11, 4, 9))
    finally:
        engine.close()
    (p,) = [r for r in letters(store) if r.audience == "person"]
    # 一级: 5 working days from Wed 4 Nov: 5, 6, 9, 10, 11 Nov
    assert (p.tier, p.recipient, p.rectify_by) == ("level1", "王芳", dt.date(2026, 11, 11))
    renderer = Renderer(settings)
    view = renderer.worded(letter_view(store, settings, p.id))
    text = renderer.text(view)
    assert "请你接受我委诫勉谈话，并于2026年11月11日前完成整改、向我委提交书面整改报告。" in text
    assert "主要负责人" not in text and "你单位" not in text
    doc = Document(io.BytesIO(renderer.docx(view)))
    paragraphs = [x.text for x in doc.paragraphs]
    assert "王芳同志：" in paragraphs
    assert any(x.startswith("抄送：县民政局") for x in paragraphs)
    assert not any("MZJ" in x for x in paragraphs)
