"""Rendering a letter: plain text, Markdown, HTML (Jinja2 templates) and DOCX (python-docx).

The templates in ``alerts/templates/`` follow the parts of a Chinese official
letter (GB/T 9704 公文格式): 标题, 发文字号, 主送机关, 正文, 落款 and 成文日期.
An office can override any of them by putting a file of the same name in the
folder named by ``letters.templates``. The DOCX is built from the same
:class:`LetterView`, so all four outputs state the same facts.

Rendering reads only what the store kept when the letter was issued (the
findings' snapshots), so a letter re-sent after a crash is identical.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sunlight.alerts.message import Message
from sunlight.alerts.tiers import is_letter_tier, requirements
from sunlight.monitor.clock import UNIT_ZH, LimitUnit
from sunlight.monitor.settings import Settings
from sunlight.monitor.store.letters_models import LetterFindingRow, LetterRow
from sunlight.monitor.zh import zh_date

TEMPLATES = Path(__file__).with_name("templates")
RULE_BASIS = "《廉政风险预警与防范管理办法》第十条"  # seed 004:64-66
NUMERALS = "一二三四五六七八九十"
MESSAGE_CACHE = 256  # rendered letters kept for retries, per Renderer



def zh_ordinal(n: int) -> str:
    """1 → 一, 12 → 十二, 23 → 二十三 (enough for the items of one letter)."""
    if n <= 10:
        return NUMERALS[n - 1]
    if n < 20:
        return "十" + NUMERALS[n - 11]
    if n < 100:
        tens, ones = divmod(n, 10)
        return NUMERALS[tens - 1] + "十" + (NUMERALS[ones - 1] if ones else "")
    return str(n)


@dataclass
class FindingView:
    index: str  # 一, 二, ...
    check_title: str
    subject: str
    item: str | None
    summary: str
    deadline: str | None  # 2026年10月9日
    overdue: str | None  # 20个工作日
    rule_text: str | None
    rule_cite: str | None
    resolved: bool


@dataclass
class LetterView:
    """Everything a template needs, already in the office's words."""

    number: str
    tier: str
    tier_label: str
    colour: str
    is_notice: bool  # 提醒 / data-quality notice, not a 预警函
    audience: str
    recipient: str
    title: str
    issuer: str
    issued_date: str
    rectify_by: str | None
    requirements: list[str]
    reason: str
    cites_number: str | None
    cites_rectify_by: str | None
    repeat_count: int
    repeat_window_months: int
    basis: str
    findings: list[FindingView] = field(default_factory=list)
    assessment: dict[str, Any] | None = None  # 定期预警: the period's figures
    opening: list[str] = field(default_factory=list)  # 正文 before the findings
    closing: list[str] = field(default_factory=list)  # requirements and 特此函告


def _overdue_text(snap: dict[str, Any]) -> str | None:
    raw, measure = snap.get("overdue"), snap.get("measure")
    if raw is None or raw.startswith("-"):
        return None
    try:
        unit = UNIT_ZH[LimitUnit(measure)] if measure else ""
    except ValueError:
        unit = measure or ""
    return f"{raw}{unit}"


def _finding_view(i: int, snap: dict[str, Any], resolved: bool) -> FindingView:
    rule = snap.get("rule") or {}
    deadline = snap.get("deadline")
    item = snap.get("item_name") or snap.get("item_code")
    return FindingView(
        index=zh_ordinal(i), check_title=snap.get("check_title") or snap.get("check", ""),
        subject=snap.get("subject", ""), item=item, summary=snap.get("summary", ""),
        deadline=zh_date(dt.datetime.fromisoformat(deadline)) if deadline else None,
        overdue=_overdue_text(snap), rule_text=rule.get("text"), rule_cite=rule.get("cite"),
        resolved=resolved,
    )


def requirement_lines(tier: str, rectify_by: str | None) -> list[str]:
    """What the letter asks, in the words of seed 004:66 (第十条)."""
    if not is_letter_tier(tier):
        return []
    req = requirements(tier)
    lines = []
    if req.admonition:
        lines.append("单位主要负责人及相关责任人接受纪检监察机关诫勉谈话")
    lines.append(f"于{rectify_by}前完成整改")
    if req.report:
        lines.append(f"于{rectify_by}前向纪检监察机关提交书面整改报告")
    return lines


def letter_view(store: Engine, settings: Settings, letter_id: int,
                with_resolutions: bool = False) -> LetterView:
    """The letter as issued; ``with_resolutions`` also marks findings resolved since (for ``show``).

    What is delivered never carries resolutions, so a re-send after a crash is
    byte-for-byte the letter first sent.
    """
    with store.connect() as conn:
        letter = conn.execute(sa.select(LetterRow).where(LetterRow.id == letter_id)).one()
        links = conn.execute(sa.select(LetterFindingRow).where(LetterFindingRow.letter_id == letter_id)
                             .order_by(LetterFindingRow.id)).all()
        cited = None
        if letter.cites_letter_id is not None:
            cited = conn.execute(sa.select(LetterRow).where(LetterRow.id == letter.cites_letter_id)).one()
    return build_view(settings, letter, links, cited, with_resolutions)


def build_view(settings: Settings, letter: Any, links: Sequence[Any], cited: Any | None,
               with_resolutions: bool = False) -> LetterView:
    tz = settings.tz
    labels = settings.tiers.labels
    notice = not is_letter_tier(letter.tier)
    label = labels.get(letter.tier, letter.tier)
    titles = list(dict.fromkeys(link.snapshot.get("check_title", "") for link in links))
    issues = "、".join(t for t in titles if t)
    assessment = getattr(letter, "assessment", None)
    if letter.audience == "data_owner":
        title = f"关于{letter.source or ''}数据源数据质量问题的{label}"
    elif letter.reason == "periodic" and assessment:
        title = f"关于{letter.recipient}{assessment.get('period_label', '')}廉政风险定期预警的{label}"
    else:
        title = f"关于{letter.recipient}{issues}问题的{label}"
    rectify_by = zh_date(letter.rectify_by) if letter.rectify_by else None
    view = LetterView(
        number=letter.number, tier=letter.tier, tier_label=label,
        colour=settings.tiers.colours.get(letter.tier, "#000000"), is_notice=notice,
        audience=letter.audience, recipient=letter.recipient, title=title,
        issuer=settings.letters.issuer, issued_date=zh_date(letter.issued_at.astimezone(tz)),
        rectify_by=rectify_by, requirements=requirement_lines(letter.tier, rectify_by),
        reason=letter.reason, cites_number=cited.number if cited is not None else None,
        cites_rectify_by=zh_date(cited.rectify_by) if cited is not None and cited.rectify_by else None,
        repeat_count=settings.tiers.repeat.count,
        repeat_window_months=settings.tiers.repeat.window_months, basis=RULE_BASIS,
        findings=[_finding_view(i, link.snapshot, with_resolutions and link.resolved_at is not None)
                  for i, link in enumerate(links, start=1)],
        assessment=assessment,
    )
    view.opening, view.closing = _body_paragraphs(view), _closing_paragraphs(view)
    return view


class Renderer:
    """Jinja2 environment: the office's template folder first, then the built-in templates."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        folders = [str(TEMPLATES)]
        if settings.letters.templates:
            folders.insert(0, str(settings.resolve(settings.letters.templates)))
        loader = jinja2.FileSystemLoader(folders, encoding="utf-8")
        self.text_env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined,
                                           keep_trailing_newline=True, trim_blocks=True,
                                           lstrip_blocks=True, autoescape=False)
        self.html_env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined,
                                           trim_blocks=True, lstrip_blocks=True,
                                           autoescape=True)
        self._messages: OrderedDict[tuple[str, int], Message] = OrderedDict()

    def text(self, view: LetterView) -> str:
        return self.text_env.get_template("letter.txt.j2").render(v=view)

    def markdown(self, view: LetterView) -> str:
        return self.text_env.get_template("letter.md.j2").render(v=view)

    def html(self, view: LetterView) -> str:
        return self.html_env.get_template("letter.html.j2").render(v=view)

    def docx(self, view: LetterView) -> bytes:
        return render_docx(view)

    def message(self, store: Engine, letter_id: int) -> Message:
        """The letter as the channels take it; the outbox fills in the idempotency key.

        A delivered letter never changes (no resolutions, see :func:`letter_view`),
        so retries reuse the rendering instead of building the DOCX again.
        """
        key = (store.url.render_as_string(hide_password=True), letter_id)
        if key not in self._messages:
            self._messages[key] = self._message(store, letter_id)
            while len(self._messages) > MESSAGE_CACHE:
                self._messages.popitem(last=False)
        return self._messages[key]

    def _message(self, store: Engine, letter_id: int) -> Message:
        view = letter_view(store, self.settings, letter_id)
        with store.connect() as conn:
            letter = conn.execute(sa.select(LetterRow).where(LetterRow.id == letter_id)).one()
        return Message(
            idempotency_key="", letter_number=view.number, unit_id=letter.unit_id or "",
            unit_name=view.recipient, tier=view.tier, tier_label=view.tier_label, title=view.title,
            text=self.text(view), markdown=self.markdown(view), html=self.html(view),
            docx=self.docx(view), issued_at=letter.issued_at.astimezone(self.settings.tz),
        )


def render_docx(view: LetterView) -> bytes:
    """The printable letter: A4, 仿宋 body, 小标宋 title, as a clerk would lay it out to stamp."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt, RGBColor

    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(3.7), Cm(3.5)
    section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)
    normal = doc.styles["Normal"]
    normal.font.name = "FangSong"
    normal.font.size = Pt(16)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), "仿宋_GB2312")

    def para(text: str, align: Any = None, bold: bool = False, size: int | None = None,
             indent: bool = False, colour: str | None = None) -> None:
        p = doc.add_paragraph()
        if align is not None:
            p.alignment = align
        if indent:
            p.paragraph_format.first_line_indent = Pt(32)
        run = p.add_run(text)
        run.bold = bold
        if size:
            run.font.size = Pt(size)
        if colour:
            run.font.color.rgb = RGBColor.from_string(colour.lstrip("#").upper())

    para(view.tier_label, WD_ALIGN_PARAGRAPH.CENTER, bold=True, size=26, colour=view.colour)
    para(view.number, WD_ALIGN_PARAGRAPH.CENTER)
    para(view.title, WD_ALIGN_PARAGRAPH.CENTER, bold=True, size=22)
    para(f"{view.recipient}：")
    for line in view.opening:
        para(line, indent=True)
    if view.findings:
        table = doc.add_table(rows=1, cols=6)
        table.style = "Table Grid"
        for cell, head in zip(table.rows[0].cells, ("序号", "问题", "对象", "期限", "超期", "依据"),
                              strict=True):
            cell.text = head
        for f in view.findings:
            cells = table.add_row().cells
            basis = f"{f.rule_text or ''}（{f.rule_cite}）" if f.rule_cite else (f.rule_text or "")
            values = (f.index, f"{f.check_title}：{f.summary}" + ("（已整改）" if f.resolved else ""),
                      f.subject + (f"（{f.item}）" if f.item else ""), f.deadline or "",
                      f.overdue or "", basis)
            for cell, value in zip(cells, values, strict=True):
                cell.text = value
    for line in view.closing:
        para(line, indent=True)
    para(view.issuer, WD_ALIGN_PARAGRAPH.RIGHT)
    para(view.issued_date, WD_ALIGN_PARAGRAPH.RIGHT)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _body_paragraphs(view: LetterView) -> list[str]:
    """The opening of the 正文 (the DOCX's; the templates say the same in their own markup)."""
    lines = []
    if view.cites_number:
        lines.append(f"我委于此前向你单位发出《{view.cites_number}》，要求于{view.cites_rectify_by}前"
                     f"完成整改。经核查，你单位逾期未落实整改要求，现升级发出{view.tier_label}。")
    if view.reason == "repeat":
        lines.append(f"你单位近{view.repeat_window_months}个月内已收到二级以上预警函"
                     f"{view.repeat_count}次以上，依规从重，发出{view.tier_label}。")
    if view.reason == "periodic" and view.assessment:
        a = view.assessment
        rate = a.get("on_time_rate")
        lines.append(
            f"根据电子监察系统对你单位{a.get('period_label', '')}廉政风险情况的定期考核：新发现问题"
            f"{a.get('findings', 0)}项，其中二级以上{a.get('serious_findings', 0)}项；整改期限届满"
            f"仍未整改的预警函{a.get('letters_unrectified', 0)}件"
            + (f"；办件按时办结率{rate:.1%}" if isinstance(rate, int | float) else "") + "。")
        return lines
    if view.audience == "data_owner":
        lines.append("经电子监察系统监测，你单位负责的数据源存在以下无法读取的数据，请核实更正：")
    elif view.is_notice:
        lines.append("经电子监察系统监测，你单位有以下事项需要关注，请及时办理：")
    else:
        lines.append("经电子监察系统监测，你单位存在以下问题：")
    return lines


def _closing_paragraphs(view: LetterView) -> list[str]:
    if view.is_notice:
        return ["特此提醒。"]
    return [f"根据{view.basis}，现向你单位发出{view.tier_label}。请你单位" + "；".join(view.requirements)
            + "。逾期未整改的，将升级预警。", "特此函告。"]
