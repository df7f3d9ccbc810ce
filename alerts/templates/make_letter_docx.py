"""Write ``letter.docx``, the office-editable Word template of the printed letter (GB/T 9704-2012).

Run once after changing the layout (``python alerts/templates/make_letter_docx.py``)
and commit the .docx; the daemon never runs this: it renders the committed
file with docxtpl (:mod:`sunlight.alerts.render`). An office edits its own
copy in Word (fonts, the red 版头, margins, a seal image) and names its folder
in ``letters.templates``; the ``{{ … }}`` and ``{%p … %}`` tags must stay whole
inside one paragraph.

The layout follows GB/T 9704-2012 《党政机关公文格式》:

- A4; 天头 37 mm, 订口 28 mm, 版心 156 × 225 mm (left 28, right 26, bottom 35 mm);
- 版头: 发文机关标志 in red 小标宋, the 发文字号 in 3号仿宋 below it, then the red
  分隔线 the width of the 版心;
- 标题 in 2号小标宋, centred; 主送机关 flush left with a full-width colon;
- 正文 in 3号仿宋_GB2312 (16 pt), two characters' first-line indent, 28.95 pt
  exact line spacing (22 lines a page);
- 落款 and 成文日期 on the right;
- 版记: 抄送 in 4号仿宋 between rules, then 印发机关 and 印发日期;
- 页码 in 4号半角宋体 as "— 1 —", odd pages on the right and even pages on the
  left, one character in from the edge.

The wording is not here: every paragraph is a tag filled from the letter's
view, whose sentences come from ``wording.j2`` (shared with the text, Markdown
and HTML letters).
"""

from __future__ import annotations

import sys
from pathlib import Path

from docx import Document
from docx.document import Document as DocumentType
from docx.enum.section import WD_SECTION_START
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph

RED = RGBColor(0xE6, 0x00, 0x12)  # 公文红
FANGSONG = "仿宋_GB2312"
XIAOBIAOSONG = "方正小标宋简体"
SONG = "宋体"
SIZE_2, SIZE_3, SIZE_4 = Pt(22), Pt(16), Pt(14)  # 2号, 3号, 4号
LINE = Pt(28.95)  # 22 lines in the 225 mm 版心


def _fonts(run_or_style: object, east_asia: str, latin: str = "Times New Roman") -> None:
    font = run_or_style.font  # type: ignore[attr-defined]
    font.name = latin
    element = run_or_style.element  # type: ignore[attr-defined]
    rpr = element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attr in ("w:eastAsia", "w:hint"):
        fonts.set(qn(attr), east_asia if attr == "w:eastAsia" else "eastAsia")


def _border(paragraph: Paragraph, side: str, size_eighths: int, colour: str) -> None:
    """A paragraph rule (GB/T 9704 分隔线): ``size_eighths`` in 1/8 pt."""
    ppr = paragraph._p.get_or_add_pPr()
    borders = ppr.find(qn("w:pBdr"))
    if borders is None:
        borders = OxmlElement("w:pBdr")
        ppr.append(borders)
    edge = OxmlElement(f"w:{side}")
    edge.set(qn("w:val"), "single")
    edge.set(qn("w:sz"), str(size_eighths))
    edge.set(qn("w:space"), "1")
    edge.set(qn("w:color"), colour)
    borders.append(edge)


def _para(doc: DocumentType, text: str = "", *, align: WD_ALIGN_PARAGRAPH | None = None, size: Pt = SIZE_3,
          font: str = FANGSONG, colour: RGBColor | None = None, indent: bool = False,
          bold: bool = False, space_before: Pt | None = None) -> Paragraph:
    p = doc.add_paragraph()
    fmt = p.paragraph_format
    fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    fmt.line_spacing = LINE if size <= SIZE_3 else Pt(size.pt * 1.5)
    fmt.space_after = Pt(0)
    fmt.space_before = space_before or Pt(0)
    if align is not None:
        p.alignment = align
    if indent:
        fmt.first_line_indent = Pt(size.pt * 2)
    if text:
        run = p.add_run(text)
        run.font.size = size
        run.bold = bold
        _fonts(run, font)
        if colour is not None:
            run.font.color.rgb = colour
    return p


def _page_number(paragraph: Paragraph) -> None:
    """"— PAGE —" in 4号半角宋体 (a PAGE field Word fills in)."""
    def run(text: str | None = None, field: str | None = None) -> None:
        r = paragraph.add_run()
        r.font.size = SIZE_4
        _fonts(r, SONG)
        if text is not None:
            r.text = text
            return
        begin, instr, end = OxmlElement("w:fldChar"), OxmlElement("w:instrText"), OxmlElement("w:fldChar")
        begin.set(qn("w:fldCharType"), "begin")
        instr.set(qn("xml:space"), "preserve")
        instr.text = f" {field} "
        end.set(qn("w:fldCharType"), "end")
        r._r.append(begin)
        r._r.append(instr)
        r._r.append(end)

    run("— ")
    run(field="PAGE")
    run(" —")


def build(out: Path) -> None:
    doc = Document()
    section = doc.sections[0]
    section.start_type = WD_SECTION_START.NEW_PAGE
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    section.footer_distance = Mm(28) - Mm(7)  # 页码 7 mm below the 版心
    normal = doc.styles["Normal"]
    normal.font.size = SIZE_3
    _fonts(normal, FANGSONG)

    # 版头: 发文机关标志, 发文字号, red rule
    # 联合行文: each issuing body's name on its own line (v.header_lines)
    _para(doc, "{%p for line in v.header_lines %}")
    _para(doc, "{{ line }}", align=WD_ALIGN_PARAGRAPH.CENTER, size=Pt(26), font=XIAOBIAOSONG,
          colour=RED, bold=True, space_before=Pt(0))
    _para(doc, "{%p endfor %}")
    _para(doc)
    number = _para(doc, "{{ v.number }}", align=WD_ALIGN_PARAGRAPH.CENTER)
    _border(number, "bottom", 18, "E60012")  # red 分隔线 under the 发文字号
    _para(doc)
    # 标题 and 主送
    _para(doc, "{{ v.title }}", align=WD_ALIGN_PARAGRAPH.CENTER, size=SIZE_2, font=XIAOBIAOSONG)
    _para(doc)
    _para(doc, "{{ v.recipient }}：")
    # 正文: opening, one paragraph per finding and its basis, closing
    _para(doc, "{%p for line in v.opening %}")
    _para(doc, "{{ line }}", indent=True)
    _para(doc, "{%p endfor %}")
    _para(doc, "{%p for f in v.findings %}")
    _para(doc, "{{ f.line }}", indent=True)
    _para(doc, "{%p if f.basis_line %}")
    _para(doc, "{{ f.basis_line }}", indent=True)
    _para(doc, "{%p endif %}")
    _para(doc, "{%p endfor %}")
    _para(doc, "{%p for line in v.closing %}")
    _para(doc, "{{ line }}", indent=True)
    _para(doc, "{%p endfor %}")
    # 落款 and 成文日期 (右空四字), room for the seal above the date
    _para(doc)
    _para(doc)
    signature = _para(doc, "{{ v.issuer }}", align=WD_ALIGN_PARAGRAPH.RIGHT)
    signature.paragraph_format.right_indent = Pt(SIZE_3.pt * 2)
    date = _para(doc, "{{ v.issued_date }}", align=WD_ALIGN_PARAGRAPH.RIGHT)
    date.paragraph_format.right_indent = Pt(SIZE_3.pt * 4)
    # 版记: 抄送 between rules, then 印发机关 and 印发日期
    _para(doc)
    _para(doc, "{%p if v.copy_to %}")
    copy = _para(doc, "抄送：{{ v.copy_to }}。", size=SIZE_4)
    copy.paragraph_format.left_indent = copy.paragraph_format.right_indent = Pt(SIZE_4.pt)
    _border(copy, "top", 8, "000000")
    _para(doc, "{%p endif %}")
    # 印发机关 on the left, 印发日期 on the right (a right tab stop one character in)
    printed = _para(doc, "{{ v.printer }}", size=SIZE_4)
    printed.paragraph_format.left_indent = printed.paragraph_format.right_indent = Pt(SIZE_4.pt)
    printed.paragraph_format.tab_stops.add_tab_stop(Mm(156) - Pt(SIZE_4.pt * 2), WD_TAB_ALIGNMENT.RIGHT)
    date_run = printed.add_run("\t{{ v.printed_date }}印发")
    date_run.font.size = SIZE_4
    _fonts(date_run, FANGSONG)
    _border(printed, "top", 4, "000000")
    _border(printed, "bottom", 8, "000000")

    # 页码: odd pages right, even pages left, one character in
    settings = doc.settings.element
    even = OxmlElement("w:evenAndOddHeaders")
    settings.insert(0, even)
    odd = section.footer.paragraphs[0]
    odd.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    odd.paragraph_format.right_indent = Pt(SIZE_4.pt)
    _page_number(odd)
    even_footer = section.even_page_footer.paragraphs[0]
    even_footer.alignment = WD_ALIGN_PARAGRAPH.LEFT
    even_footer.paragraph_format.left_indent = Pt(SIZE_4.pt)
    _page_number(even_footer)
    doc.core_properties.title = "预警函模板（GB/T 9704-2012）"
    doc.core_properties.author = "sunlight"
    doc.save(str(out))


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("letter.docx"))
