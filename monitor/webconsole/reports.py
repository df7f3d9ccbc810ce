"""统计报表: the monthly or quarterly report — counts by tier, check and unit, letters and rates.

:func:`build_report` reads the store once into a :class:`Report`; the HTML
page, :func:`report_docx` (python-docx) and :func:`report_xlsx` (openpyxl)
all render that one object, so the three state the same figures. python-docx
and openpyxl are imported when a DOCX or a workbook is made.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sunlight.monitor.store.letters_models import LetterRow
from sunlight.monitor.store.models import FindingRow
from sunlight.monitor.webconsole.exports import Cell, xlsx_bytes
from sunlight.monitor.webconsole.periods import Period

DATA_QUALITY = "data_quality"
TIER_ORDER = ("level1", "level2", "level3", "reminder")


@dataclass
class Report:
    period: Period
    as_of: dt.date
    issuer: str
    tier_labels: dict[str, str]
    findings_total: int = 0
    findings_resolved: int = 0  # of those first seen in the period, resolved since
    by_tier: dict[str, int] = field(default_factory=dict)
    by_check: list[tuple[str, int]] = field(default_factory=list)  # (check title, n)
    by_unit: list[tuple[str, dict[str, int]]] = field(default_factory=list)  # (unit name, tier → n)
    letters_issued: dict[str, int] = field(default_factory=dict)  # tier → n
    letters_due: int = 0
    letters_closed: int = 0
    letters_on_time: int = 0

    @property
    def title(self) -> str:
        return f"{self.period.label}电子监察统计报表"

    @property
    def rectification_rate(self) -> float | None:
        return self.letters_closed / self.letters_due if self.letters_due else None

    @property
    def on_time_rate(self) -> float | None:
        return self.letters_on_time / self.letters_due if self.letters_due else None

    def tiers(self) -> list[str]:
        return [t for t in TIER_ORDER if t in self.tier_labels]


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def build_report(store: Engine, period: Period, tz: dt.tzinfo, today: dt.date, issuer: str,
                 tier_labels: dict[str, str], check_titles: dict[str, str],
                 unit_names: Callable[[Iterable[str]], dict[str, str]],
                 scope: str | None = None) -> Report:
    start = dt.datetime.combine(period.start, dt.time(), tz)
    end = dt.datetime.combine(period.end, dt.time(), tz)
    rep = Report(period, today, issuer, tier_labels)
    f = FindingRow
    fconds = [f.first_seen >= start, f.first_seen < end, f.check_id != DATA_QUALITY]
    # a letter withdrawn as issued in error is in no figure (as for the periodic letters)
    lconds = [LetterRow.audience == "unit", LetterRow.status != "withdrawn"]
    if scope is not None:
        fconds.append(f.unit_id == scope)
        lconds.append(LetterRow.unit_id == scope)
    due_until = min(period.end, today)
    with store.connect() as conn:
        rep.by_tier = dict(conn.execute(sa.select(f.tier, sa.func.count()).where(*fconds)
                                        .group_by(f.tier)).all())
        rep.findings_total = sum(rep.by_tier.values())
        rep.findings_resolved = conn.execute(sa.select(sa.func.count()).select_from(f).where(
            *fconds, f.resolved_at.is_not(None))).scalar_one()
        checks = conn.execute(sa.select(f.check_id, sa.func.count()).where(*fconds)
                              .group_by(f.check_id)).all()
        rep.by_check = sorted(((check_titles.get(c, c), n) for c, n in checks), key=lambda t: -t[1])
        per_unit: dict[str, dict[str, int]] = {}
        for unit, tier, n in conn.execute(sa.select(f.unit_id, f.tier, sa.func.count()).where(*fconds)
                                          .group_by(f.unit_id, f.tier)):
            per_unit.setdefault(unit, {})[tier] = n
        rep.letters_issued = dict(conn.execute(
            sa.select(LetterRow.tier, sa.func.count())
            .where(*lconds, LetterRow.issued_at >= start, LetterRow.issued_at < end)
            .group_by(LetterRow.tier)).all())
        for row in conn.execute(sa.select(LetterRow.rectify_by, LetterRow.closed_at).where(
                *lconds, LetterRow.tier != "reminder", LetterRow.rectify_by >= period.start,
                LetterRow.rectify_by < due_until)):
            rep.letters_due += 1
            if row.closed_at is not None:
                rep.letters_closed += 1
                if row.closed_at.astimezone(tz).date() <= row.rectify_by:
                    rep.letters_on_time += 1
    names = unit_names(per_unit)
    rep.by_unit = sorted(((names.get(u, u), c) for u, c in per_unit.items()),
                         key=lambda t: (-sum(t[1].values()), t[0]))
    return rep


# --- the tables every format shares ---------------------------------------------------


def summary_rows(rep: Report) -> list[tuple[str, Cell]]:
    return [
        ("统计期间", f"{rep.period.label}（{rep.period.start:%Y-%m-%d}至"
                     f"{rep.period.end - dt.timedelta(days=1):%Y-%m-%d}）"),
        ("新发现问题", rep.findings_total),
        ("其中已整改（源数据已纠正）", rep.findings_resolved),
        ("发出预警函及提醒", sum(rep.letters_issued.values())),
        ("整改期限届满的预警函", rep.letters_due),
        ("已办结", rep.letters_closed),
        ("整改率", percent(rep.rectification_rate)),
        ("按期整改率", percent(rep.on_time_rate)),
        ("统计截至", f"{rep.as_of:%Y-%m-%d}"),
    ]


def tier_rows(rep: Report) -> list[list[Cell]]:
    return [[rep.tier_labels.get(t, t), rep.by_tier.get(t, 0), rep.letters_issued.get(t, 0)]
            for t in rep.tiers()]


def unit_rows(rep: Report) -> list[list[Cell]]:
    return [[name, *[c.get(t, 0) for t in rep.tiers()], sum(c.values())] for name, c in rep.by_unit]


def unit_headers(rep: Report) -> list[str]:
    return ["单位", *[rep.tier_labels.get(t, t) for t in rep.tiers()], "合计"]


TIER_HEADERS = ["等级", "新发现问题", "发出函件"]
CHECK_HEADERS = ["问题类型", "数量"]


def report_xlsx(rep: Report) -> bytes:
    return xlsx_bytes([
        ("概况", ["项目", "数值"], [list(r) for r in summary_rows(rep)]),
        ("按等级", TIER_HEADERS, tier_rows(rep)),
        ("按问题类型", CHECK_HEADERS, [list(r) for r in rep.by_check]),
        ("按单位", unit_headers(rep), unit_rows(rep)),
    ])


def _table(doc: object, headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    table = doc.add_table(rows=1, cols=len(headers))  # type: ignore[attr-defined]
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, headers, strict=True):
        cell.text = text
        for run in cell.paragraphs[0].runs:
            run.bold = True
    for row in rows:
        cells = table.add_row().cells
        for cell, value in zip(cells, row, strict=True):
            cell.text = "" if value is None else str(value)


def report_docx(rep: Report) -> bytes:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = "FangSong"
    normal.font.size = Pt(14)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), "仿宋_GB2312")
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = title.add_run(rep.title)
    run.bold = True
    run.font.size = Pt(20)
    if rep.issuer:
        sub = doc.add_paragraph(rep.issuer)
        sub.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_paragraph("一、总体情况")
    _table(doc, ["项目", "数值"], summary_rows(rep))
    doc.add_paragraph("二、按预警等级")
    _table(doc, TIER_HEADERS, tier_rows(rep))
    doc.add_paragraph("三、按问题类型")
    _table(doc, CHECK_HEADERS, rep.by_check or [("（无）", 0)])
    doc.add_paragraph("四、按单位")
    _table(doc, unit_headers(rep), unit_rows(rep) or [["（无）", *[0] * (len(rep.tiers()) + 1)]])
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
