"""Letters fit to send (issue 9, items 6 and 7): what a recipient reads, in text and DOCX.

One real cycle over a small SQLite source whose case table uses the site's own
names (``xk_slxx.slsj`` for 受理时间, as the Hangzhou access spec's tables do),
with a people table, vouchers and one unreadable row: every letter and notice
it issues is rendered as text and DOCX and read back. Nothing in them may be a
seed-file reference, a config key, a canonical field name or a person id.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from docx import Document

from sunlight.alerts.message import Formats, Message
from sunlight.alerts.render import Renderer
from sunlight.alerts.view import letter_view
from sunlight.checks.registry import load_all
from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.configure import load_settings
from sunlight.monitor.cycle import run_cycle
from sunlight.monitor.demo.schema import create_all, metadata
from sunlight.monitor.engine import Engine
from sunlight.monitor.records.cases import CASE_FIELDS
from sunlight.monitor.records.decisions import DECISION_FIELDS
from sunlight.monitor.records.org import PERSON_FIELDS
from sunlight.monitor.records.spending import EXPENSE_FIELDS, SIGNATURE_FIELDS
from sunlight.monitor.store.db import open_store
from sunlight.monitor.store.letters_models import LetterRow
from sunlight.monitor.zh import zh_due
from tests.conftest import at

SEED_REF = re.compile(r"\d{3}:\d+")  # 000:1162, （003:565）
PERSON_IDS = ("MZJ-P1", "MZJ-P2", "MZJ-P3")
#: canonical names a site renames here or that never belong in a letter
CANONICAL = sorted({*CASE_FIELDS, *EXPENSE_FIELDS, *SIGNATURE_FIELDS, *DECISION_FIELDS,
                    *PERSON_FIELDS} - {"name", "kind", "role", "body"})
CONFIG_KEYS = ("approvals", "data_owner", "display_name", "case_overdue", "single_signature",
               "architecture", "invariant", "level3", "level2", "level1")


def build_source(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    create_all(engine, ["units", "people", "expenses", "expense_signatures"])
    t = metadata.tables
    with engine.begin() as conn:
        conn.execute(sa.insert(t["units"]), [{"unit_id": "MZJ", "name": "县民政局", "kind": "department"}])
        conn.execute(sa.insert(t["people"]), [
            {"person_id": "MZJ-P1", "name": "王芳", "unit_id": "MZJ", "is_head": False},
            {"person_id": "MZJ-P2", "name": "李建国", "unit_id": "MZJ", "is_head": False},
            {"person_id": "MZJ-P3", "name": "赵敏", "unit_id": "MZJ", "is_head": False}])
        conn.execute(sa.insert(t["expenses"]), [
            {"voucher_id": "PZ-1", "unit_id": "MZJ", "amount": "800.00", "category": "travel",
             "paid_at": dt.datetime(2026, 10, 20, 10)},
            {"voucher_id": "PZ-2", "unit_id": "MZJ", "amount": "900.00", "category": "travel",
             "paid_at": dt.datetime(2026, 10, 21, 10)}])
        conn.execute(sa.insert(t["expense_signatures"]), [
            # PZ-1: 一支笔, only 王芳 signed (twice)
            {"voucher_id": "PZ-1", "role": "handler", "person_id": "MZJ-P1",
             "signed_at": dt.datetime(2026, 10, 19, 9)},
            {"voucher_id": "PZ-1", "role": "finance_leader", "person_id": "MZJ-P1",
             "signed_at": dt.datetime(2026, 10, 19, 10)},
            # PZ-2: 李建国 signed as finance leader and handler; 赵敏 reviewed; no area leader
            {"voucher_id": "PZ-2", "role": "finance_leader", "person_id": "MZJ-P2",
             "signed_at": dt.datetime(2026, 10, 20, 11)},
            {"voucher_id": "PZ-2", "role": "handler", "person_id": "MZJ-P2",
             "signed_at": dt.datetime(2026, 10, 20, 9)},
            {"voucher_id": "PZ-2", "role": "reviewer", "person_id": "MZJ-P3",
             "signed_at": dt.datetime(2026, 10, 20, 10)}])
        # the site's own case table (受理信息), renamed in the config
        conn.exec_driver_sql(
            "CREATE TABLE xk_slxx (sqlsh TEXT PRIMARY KEY, dwbm TEXT, sxbm TEXT, sxmc TEXT, "
            "slsj TEXT, cnsx NUMERIC, fdsx NUMERIC, sxdw TEXT, bjsj TEXT, fdyj TEXT)")
        conn.exec_driver_sql(
            "INSERT INTO xk_slxx VALUES "
            # 24 clock hours from Tue 3 Nov 09:00: due 09:00 Wed 4 Nov, still open
            "('MZJ2026110300001', 'MZJ', 'MZ-009', '临时救助审批', '2026-11-03 09:00:00', 24, NULL, "
            "'hour', NULL, NULL),"
            # statutory 10 working days from Thu 15 Oct: 16, 19–23, 26–29 Oct; open on 4 Nov. The
            # item catalogue gives its 法定依据, which the letter cites (no config for MZ-010)
            "('MZJ2026101500001', 'MZJ', 'MZ-010', '孤儿基本生活费审批', '2026-10-15 10:00:00', 5, 10, "
            "'workday', NULL, '《示范县孤儿基本生活保障办法》第八条'),"
            # 低保: promised 5 and statutory 20 working days from Thu 1 Oct (holiday) ...
            "('MZJ2026092800001', 'MZJ', 'MZ-001', '最低生活保障审批', '2026-09-28 10:00:00', 5, 20, "
            "'workday', NULL, NULL),"
            # an unreadable 受理时间
            "('MZJ2026101500009', 'MZJ', 'MZ-001', '最低生活保障审批', '2026年10月15日上午', 5, 20, "
            "'workday', NULL, NULL)")
    engine.dispose()
    return url


CONFIG = """\
timezone: Asia/Shanghai
state:
  url: sqlite:///{state}
sources:
  approvals:
    url: "{url}"
    data_owner: 县政务服务中心信息科
    display_name: 县政务服务中心行政审批系统
    entities:
      cases:
        table: xk_slxx
        columns: {{case_id: sqlsh, unit_id: dwbm, item_code: sxbm, item_name: sxmc,
                  accepted_at: slsj, promised_limit: cnsx, statutory_limit: fdsx,
                  limit_unit: sxdw, completed_at: bjsj, statutory_basis: fdyj}}
checks:
  case_overdue_statutory:
    bases:
      MZ-001: {{basis: 最低生活保障审批应当自受理申请之日起20个工作日内作出审批决定,
               citation: 《示范县最低生活保障审批办法》第十二条}}
tiers:
  overrides:   # 一支笔 at this office is a level-1 matter: a real 一级预警函 to read
    - {{match: {{check: single_signature}}, tier: level1}}
letters:
  number_prefix: 监预
  issuer: 中共示范县纪律检查委员会 示范县监察委员会
  copy_to: [县人民政府办公室]
routes:
  - to: [files]
channels:
  files: {{type: folder, path: letters}}
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("text")


@pytest.fixture(scope="module")
def issued(workdir: Path) -> tuple[Renderer, sa.Engine, list]:
    tmp = workdir
    url = build_source(tmp / "source.db")
    cfg = tmp / "sunlight.yaml"
    cfg.write_text(CONFIG.format(state=tmp / "state.db", url=url), encoding="utf-8")
    settings = load_settings(cfg)
    store = open_store(f"sqlite:///{tmp / 'state.db'}")
    engine = Engine(settings, calendar=WorkCalendar())
    try:
        run_cycle(engine, store, settings, at(2026, 11, 4, 15))
    finally:
        engine.close()
    with store.connect() as conn:
        rows = conn.execute(sa.select(LetterRow).order_by(LetterRow.id)).all()
    renderer = Renderer(settings)
    return renderer, store, [letter_view(store, settings, r.id) for r in rows]


def docx_text(data: bytes) -> str:
    doc = Document(io.BytesIO(data))
    parts = [p.text for p in doc.paragraphs]
    for section in doc.sections:
        parts += [p.text for p in section.footer.paragraphs]
    return "\n".join(parts)


def by_audience(views: list, audience: str, tier: str | None = None) -> list:
    return [v for v in views if v.audience == audience and (tier is None or v.tier == tier)]


def test_letters_and_notices_carry_nothing_internal(issued) -> None:
    renderer, _, views = issued
    letters = by_audience(views, "unit")
    notices = by_audience(views, "data_owner")
    assert letters and len(notices) == 1
    for view in letters + notices:
        for content in (renderer.text(view), docx_text(renderer.docx(view)), renderer.html(view),
                        renderer.markdown(view)):
            assert not SEED_REF.search(content), SEED_REF.search(content)
            assert "（0" not in content or not re.search(r"（\d{3}:\d+）", content)
            for word in (*CANONICAL, *PERSON_IDS, *CONFIG_KEYS):
                assert word not in content, (view.number, word)
            assert "单位单位" not in content


def test_people_by_name_roles_in_signing_order_hours_with_their_hour(issued) -> None:
    renderer, _, views = issued
    text = "\n".join(renderer.text(v) for v in by_audience(views, "unit"))
    assert "仅由王芳一人签字" in text
    # signing order (003:567): 经办人 before 分管财务领导, never alphabetical
    assert "李建国同时作为经办人、分管财务领导签字" in text
    assert "缺少分管领导签字" in text
    # 24 clock hours from 09:00 Tue 3 Nov run out at 09:00 Wed 4 Nov
    assert "应于2026年11月4日9时前办结" in text
    assert zh_due(dt.datetime(2026, 11, 4, 8, 59, 59)) == "2026年11月4日"
    assert zh_due(dt.datetime(2026, 11, 4, 9, 29, 59), hourly=True) == "2026年11月4日9时30分"


def test_a_case_quotes_its_own_items_basis(issued) -> None:
    """The statutory basis is the item's (config), never the mine-safety figure of 000:1162."""
    renderer, _, views = issued
    text = "\n".join(renderer.text(v) for v in by_audience(views, "unit"))
    assert "依据：《示范县最低生活保障审批办法》第十二条规定，“最低生活保障审批应当自受理申请之日起" in text
    # no config for the item: its own limit, cited by the item catalogue's 法定依据, not quoted
    assert ("依据：《示范县孤儿基本生活保障办法》第八条；孤儿基本生活费审批的法定办理时限为10个工作日。"
            in text)
    assert "非煤矿" not in text and "45个工作日" not in text
    assert "一把手‘一支笔’现象" not in text  # 一支笔 quotes the signing rule, not praise
    assert "《关于“五权”工作从分解制衡入手合理配置一把手权力实施方案》第三部分第二项" in text


def test_level_wording_has_no_doubled_words_and_states_what_follows(issued) -> None:
    renderer, _, views = issued
    for view in by_audience(views, "unit"):
        text = renderer.text(view)
        assert "根据《廉政风险预警与防范管理办法》第十条" in text
        if view.tier == "level3":
            assert "逾期未整改的，将升级发出二级预警函。" in text
        if view.tier == "level2":
            assert "并向我委提交书面整改报告" in text and "将升级发出一级预警函" in text
    # the level1 letter: the admonition talk, and the office's consequence; nothing "升级"
    [level1] = by_audience(views, "unit", "level1")
    text = renderer.text(level1)
    assert "请你单位主要负责人及相关责任人接受我委诫勉谈话" in text
    assert "逾期仍未落实上述要求的，我委将依规依纪追究有关人员责任。" in text
    assert "升级" not in text and "仅由王芳一人签字" in text


def test_data_quality_notice_in_the_sites_terms(issued) -> None:
    renderer, _, views = issued
    [notice] = by_audience(views, "data_owner")
    text = renderer.text(notice)
    assert "关于县政务服务中心行政审批系统数据质量问题的提醒" in text
    assert "县政务服务中心信息科：" in text
    assert ("办件MZJ2026101500009的受理时间（xk_slxx表slsj列）无法读取（填写为'2026年10月15日上午'，"
            "不是可识别的时间），请按规范格式更正。") in text
    assert "期限" not in text and "超期" not in text and "依据" not in text
    html = renderer.html(notice)
    assert "<th>期限</th>" not in html and "<th>依据</th>" not in html


def test_docx_is_a_gbt9704_letter(issued) -> None:
    renderer, _, views = issued
    view = by_audience(views, "unit")[0]
    data = renderer.docx(view)
    doc = Document(io.BytesIO(data))
    paras = [p for p in doc.paragraphs if p.text.strip()]
    texts = [p.text for p in paras]
    # 版头 in red, then the 发文字号 over a red rule, the title, 主送, body, 落款, date, 抄送
    # a joint letter's 版头: one issuing body a line, red
    assert texts[:2] == ["中共示范县纪律检查委员会", "示范县监察委员会"]
    for header in paras[:2]:
        assert str(header.runs[0].font.color.rgb) == "E60012"
    paras, texts = paras[1:], texts[1:]
    assert texts[1] == view.number
    assert 'w:color="E60012"' in paras[1]._p.xml and "w:bottom" in paras[1]._p.xml
    assert texts[2] == view.title and texts[2].endswith("预警函")
    assert paras[2].runs[0].font.size.pt == 22
    assert 'w:eastAsia="方正小标宋简体"' in paras[2].runs[0]._r.xml
    assert texts[3] == "县民政局："
    assert texts[4].startswith("经电子监察系统监测，你单位存在以下问题")
    body = paras[5]
    assert body.runs[0].font.size.pt == 16 and 'w:eastAsia="仿宋_GB2312"' in body.runs[0]._r.xml
    assert "特此函告。" in texts
    assert texts[-4:] == ["中共示范县纪律检查委员会 示范县监察委员会", "2026年11月4日",
                          "抄送：县人民政府办公室。",
                          "中共示范县纪律检查委员会 示范县监察委员会\t2026年11月4日印发"]
    # page numbers: a PAGE field in the odd and the even footer ("— 1 —")
    section = doc.sections[0]
    for footer in (section.footer, section.even_page_footer):
        xml = footer.paragraphs[0]._p.xml
        assert "PAGE" in xml and "— " in footer.paragraphs[0].text
    assert round(section.top_margin.mm) == 37 and round(section.left_margin.mm) == 28
    # rendered from the committed template, not built by layout code
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert "{{" not in z.read("word/document.xml").decode()


def test_every_check_cites_a_regulation_by_name() -> None:
    """``citation`` beside ``cite``: a name and an article, never a file reference."""
    derived = {"data_quality", "case_overdue_statutory", "publication_missing"}  # item / duty / none
    for cid, cls in load_all().items():
        if cid in derived:
            continue
        assert cls.citation and cls.citation.startswith("《"), cid
        assert not SEED_REF.search(cls.citation) and not SEED_REF.search(cls.basis), cid
        assert SEED_REF.search(cls.cite) or "条例" in cls.cite, cid  # the seed stays for the office


def test_formats_are_rendered_only_when_asked(issued) -> None:
    renderer, store, _ = issued
    with store.connect() as conn:
        letter_id = conn.execute(sa.select(LetterRow.id).order_by(LetterRow.id)).scalars().first()
    message = renderer._message(store, letter_id)
    assert message.formats.rendered == frozenset()
    assert message.letter_number in message.markdown
    assert message.formats.rendered == {"markdown"}  # no DOCX for a group robot
    assert message.docx is not None and message.docx[:2] == b"PK"
    fixed = Message("k", "n", "u", "县民政局", "level3", "三级预警函", "t",
                    dt.datetime(2026, 11, 4, tzinfo=dt.UTC), Formats(text="正文", docx=None))
    assert fixed.text == "正文" and fixed.docx is None


def test_letters_list_takes_a_unit_by_name(issued, workdir: Path) -> None:
    from tests.test_cli import sunlight

    by_name = sunlight("letters", "list", "-c", str(workdir / "sunlight.yaml"), "--unit", "县民政局")
    by_id = sunlight("letters", "list", "-c", str(workdir / "sunlight.yaml"), "--unit", "MZJ")
    assert by_name.returncode == 0, by_name.stderr
    assert "监预〔2026〕1号" in by_name.stdout and by_name.stdout == by_id.stdout
    assert "监提" not in by_name.stdout  # the data owner's notice is not the unit's


def test_scan_json_carries_the_units_name(issued, workdir: Path) -> None:
    from tests.test_cli import sunlight

    r = sunlight("scan", "-c", str(workdir / "sunlight.yaml"), "--at", "2026-11-04T15:00:00",
                 "--format", "json", "--check", "single_signature")
    assert r.returncode == 0, r.stderr
    [line] = r.stdout.splitlines()
    found = json.loads(line)
    assert (found["unit"], found["unit_name"], found["subject"]) == ("MZJ", "县民政局", "PZ-1")


def test_the_committed_docx_template_is_what_the_generator_writes(tmp_path: Path) -> None:
    """The runtime renders the committed .docx; its generator must not have drifted from it."""
    import runpy

    root = Path(__file__).resolve().parents[1] / "alerts" / "templates"
    built = tmp_path / "letter.docx"
    runpy.run_path(str(root / "make_letter_docx.py"))["build"](built)
    tags = re.compile(r"\{[{%].*?[}%]\}")

    def tags_of(path: Path) -> list[str]:
        with zipfile.ZipFile(path) as z:
            xml = z.read("word/document.xml").decode()
        return tags.findall(re.sub(r"<[^>]+>", "", xml))

    assert tags_of(built) == tags_of(root / "letter.docx")
    assert "{{ v.title }}" in tags_of(built)


def test_one_wording_for_every_format(issued, tmp_path: Path) -> None:
    """An office that rewords wording.j2 changes the text, Markdown, HTML and DOCX alike."""
    renderer, _, views = issued
    builtin = Path(__file__).resolve().parents[1] / "alerts" / "templates" / "wording.j2"
    folder = tmp_path / "tpl"
    folder.mkdir()
    (folder / "wording.j2").write_text(
        builtin.read_text(encoding="utf-8").replace("特此函告。", "此函。"), encoding="utf-8")
    s = renderer.settings
    office = Renderer(s.model_copy(update={
        "letters": s.letters.model_copy(update={"templates": str(folder)})}))
    view = copy.deepcopy(by_audience(views, "unit")[0])
    view.worded = False
    outputs = (office.text(view), office.markdown(view), office.html(view),
               docx_text(office.docx(view)))
    for content in outputs:
        assert "此函。" in content and "特此函告" not in content
