# ruff: noqa: F811
"""The console in a real browser (Playwright for Python driving Debian's /usr/bin/chromium).

A letter goes from issue to close as an office and a unit would do it; the
monthly report and a findings list are downloaded and opened with
python-docx and openpyxl; every page is photographed at 1366×768 into
``tests/screenshots/`` (or ``$SUNLIGHT_SCREENSHOTS``) for a reviewer.

Without chromium or Playwright these tests skip with the reason; with
``SUNLIGHT_REQUIRE_BROWSER=1`` (CI) they fail instead.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import importlib.util
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from docx import Document
from openpyxl import load_workbook

from sunlight.alerts.audit import verify_audit
from sunlight.monitor.store.letters_models import AuditEntry, DeliveryRow, LetterReport
from sunlight.monitor.store.models import FindingRow
from tests.console_kit import ACCOUNTS, Console, console, demo_template  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(os.environ.get("SUNLIGHT_SCREENSHOTS") or Path(__file__).with_name("screenshots"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _unavailable() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install playwright; never `playwright install`)"
    if not CHROMIUM.exists():
        return "no /usr/bin/chromium (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _unavailable()
    if reason:
        if os.environ.get("SUNLIGHT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"SUNLIGHT_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright  # only once we know it is there

    pw = sync_playwright().start()
    chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {SHOTS}")
    try:
        yield chromium
    finally:
        chromium.close()
        pw.stop()


class Tab:
    """One logged-in browser context, collecting the page's console errors (CSP violations among them)."""

    def __init__(self, browser: Any, console: Console, username: str) -> None:
        self.console = console
        self.context = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True,
                                           locale="zh-CN")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("dialog", lambda d: d.accept())
        self.page.goto(f"{console.url}/login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", ACCOUNTS[username][0])
        self.page.click("button[type=submit]")
        self.page.wait_for_url("**/overview")

    def go(self, path: str) -> Any:
        self.page.goto(f"{self.console.url}{path}")
        return self.page

    def shot(self, name: str) -> Path:
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def close(self) -> None:
        self.context.close()


def test_a_letter_from_issue_to_close_in_the_browser(browser: Any, console: Console, tmp_path: Path) -> None:
    letter = console.letter_of("MZJ", "level2")  # 二级: acknowledgement and a written report
    liaison = Tab(browser, console, "liu")
    page = liaison.go("/letters")
    assert "县市场监督管理局" not in page.content()
    page.click(f"text={letter.number}")
    assert page.locator("pre.letter").inner_text().count("县民政局") >= 1
    assert page.locator("button:has-text('办结')").count() == 0  # the office's act, not the unit's
    liaison.shot("letter-liaison-before")
    page.fill("form[action$='/act/ack'] input[name=note]", "已收悉，立即整改")
    page.click("form[action$='/act/ack'] button[type=submit]")
    assert page.locator("p.done").inner_text() == "已签收。"
    report = tmp_path / "整改报告.pdf"
    report.write_bytes("%PDF-1.4 rectification report of 县民政局\n".encode())
    page.set_input_files("form[action$='/act/report'] input[type=file]", str(report))
    page.fill("form[action$='/act/report'] input[name=note]", "整改报告见附件")
    page.click("form[action$='/act/report'] button[type=submit]")
    assert page.locator("p.done").inner_text() == "已登记整改报告。"
    liaison.shot("letter-liaison-after-report")
    assert liaison.errors == []
    liaison.close()

    staff = Tab(browser, console, "wang")
    page = staff.go(f"/letters/{letter.id}")
    assert "已收到整改报告" in page.locator("h1").inner_text()
    page.fill("form[action$='/act/close'] input[name=note]", "经核查已整改到位")
    page.click("form[action$='/act/close'] button[type=submit]")  # confirm() accepted by the tab
    assert page.locator("p.done").inner_text() == "已办结。"
    assert "已办结" in page.locator("h1").inner_text()
    staff.shot("letter-closed")
    assert staff.errors == []
    staff.close()

    row = console.letter(letter.id)
    assert row.status == "closed" and row.closed_at is not None
    with console.store.connect() as conn:
        trail = conn.execute(sa.select(AuditEntry).where(AuditEntry.letter_id == letter.id,
                                                         AuditEntry.actor != "sunlight")
                             .order_by(AuditEntry.id)).all()
    assert [(a.actor, a.action, a.after) for a in trail] == [
        ("liu", "ack", "acknowledged"), ("liu", "report", "report_received"), ("wang", "close", "closed")]
    assert [a.note for a in trail] == ["已收悉，立即整改", "整改报告见附件", "经核查已整改到位"]
    name, digest = row.report_file.rsplit(" sha256:", 1)
    assert (name, digest) == ("整改报告.pdf", hashlib.sha256(report.read_bytes()).hexdigest())
    with console.store.connect() as conn:  # the report itself is kept in the state store
        [kept] = conn.execute(sa.select(LetterReport).where(LetterReport.letter_id == letter.id)).all()
    assert (kept.filename, kept.content, kept.by, kept.sha256) == ("整改报告.pdf", report.read_bytes(), "liu",
                                                                    digest)


def test_staff_withdraw_one_letter_and_extend_another_in_the_browser(browser: Any, console: Console) -> None:
    wrong = console.letter_of("MZJ", "level2")
    late = console.letter_of("SJJ", "level2")
    assert late.rectify_by is not None
    new_date = late.rectify_by + dt.timedelta(days=10)
    staff = Tab(browser, console, "wang")
    page = staff.go(f"/letters/{wrong.id}")
    page.fill("form[action$='/act/withdraw'] input[name=note]", "经核实系数据源录入错误，误发")
    page.click("form[action$='/act/withdraw'] button[type=submit]")  # confirm() accepted by the tab
    assert page.locator("p.done").inner_text() == "已撤销。"
    assert "已撤销" in page.locator("h1").inner_text()
    assert page.locator("form[action$='/act/ack'] button[disabled]").count() == 1  # nothing more to do
    staff.shot("letter-withdrawn")
    page = staff.go(f"/letters/{late.id}")
    page.fill("form[action$='/act/extend'] input[name=until]", new_date.isoformat())
    page.fill("form[action$='/act/extend'] input[name=note]", "单位申请延期，理由充分")
    page.click("form[action$='/act/extend'] button[type=submit]")
    assert page.locator("p.done").inner_text() == "已延长整改期限。"
    assert new_date.isoformat() in page.locator("table.facts").inner_text()
    staff.shot("letter-extended")
    assert staff.errors == []
    staff.close()

    assert console.letter(wrong.id).status == "withdrawn" and console.letter(wrong.id).withdrawn_at
    assert console.letter(late.id).rectify_by == new_date and console.letter(late.id).status == "issued"
    with console.store.connect() as conn:
        entries = {x: conn.execute(sa.select(AuditEntry).where(AuditEntry.letter_id == x,
                                                               AuditEntry.actor != "sunlight")).all()
                   for x in (wrong.id, late.id)}
        deliveries = dict(conn.execute(sa.select(DeliveryRow.status, sa.func.count())
                                       .where(DeliveryRow.letter_id == wrong.id)
                                       .group_by(DeliveryRow.status)).all())
    [withdrawn] = entries[wrong.id]
    assert (withdrawn.actor, withdrawn.action, withdrawn.before, withdrawn.after, withdrawn.note) == (
        "wang", "withdraw", "issued", "withdrawn", "经核实系数据源录入错误，误发")
    [extended] = entries[late.id]
    assert (extended.actor, extended.action, extended.note) == ("wang", "extend", "单位申请延期，理由充分")
    assert extended.detail["rectify_by"] == new_date.isoformat()
    assert extended.detail["rectify_by_before"] == late.rectify_by.isoformat()
    assert deliveries == {"cancelled": 1}  # the letter's pending delivery (the demo's folder) is cancelled
    assert extended.detail.get("deliveries_cancelled") is None
    assert verify_audit(console.store)[1] is None  # the chain holds


def _download(page: Any, selector: str, folder: Path) -> Path:
    with page.expect_download() as info:
        page.click(selector)
    target = folder / info.value.suggested_filename
    info.value.save_as(str(target))
    return target


def test_monthly_report_and_a_findings_list_download_and_open(browser: Any, console: Console,
                                                              tmp_path: Path) -> None:
    # November 2026 in Beijing time, counted here without the console's code
    start, end = dt.datetime(2026, 10, 31, 16, tzinfo=dt.UTC), dt.datetime(2026, 11, 30, 16, tzinfo=dt.UTC)
    with console.store.connect() as conn:
        november = conn.execute(sa.select(sa.func.count()).select_from(FindingRow).where(
            FindingRow.first_seen >= start, FindingRow.first_seen < end,
            FindingRow.check_id != "data_quality")).scalar()
        level2_open = conn.execute(sa.select(sa.func.count()).select_from(FindingRow).where(
            FindingRow.tier == "level2", FindingRow.resolved_at.is_(None))).scalar()
    assert november and level2_open
    staff = Tab(browser, console, "wang")
    page = staff.go("/reports?period=2026-11")
    assert "2026年11月电子监察统计报表" in page.locator("h1").inner_text()
    docx = _download(page, "a[href^='/reports/download.docx']", tmp_path)
    doc = Document(str(docx))
    assert doc.paragraphs[0].text == "2026年11月电子监察统计报表"
    summary = {r.cells[0].text: r.cells[1].text for r in doc.tables[0].rows}
    assert summary["新发现问题"] == str(november)
    xlsx = _download(page, "a[href^='/reports/download.xlsx']", tmp_path)
    wb = load_workbook(xlsx)
    assert wb.sheetnames == ["概况", "按等级", "按问题类型", "按单位"]
    facts = {row[0]: row[1] for row in wb["概况"].iter_rows(min_row=2, values_only=True)}
    assert facts["新发现问题"] == november
    assert sum(row[1] for row in wb["按问题类型"].iter_rows(min_row=2, values_only=True)) == november

    page = staff.go("/findings")
    page.select_option("select[name=tier]", "level2")
    page.select_option("select[name=state]", "open")
    page.click("form.filters button[type=submit]")
    assert f"共 {level2_open} 条" in page.content()
    exported = _download(page, "a[href^='/findings/export.csv']", tmp_path)
    rows = list(csv.reader(io.StringIO(exported.read_text(encoding="utf-8-sig"))))
    assert rows[0][:5] == ["编号", "问题类型", "单位", "对象", "等级"]
    assert len(rows) - 1 == level2_open and {r[4] for r in rows[1:]} == {"二级预警函"}
    exported = _download(page, "a[href^='/findings/export.xlsx']", tmp_path)
    sheet = load_workbook(exported).active
    assert sheet.max_row - 1 == level2_open
    assert staff.errors == []
    staff.close()


PAGES = {
    "overview": "/overview", "findings": "/findings",
    "findings-filtered": "/findings?tier=level2&state=open", "letters": "/letters", "units": "/units",
    "unit": "/units/MZJ", "assessment": "/assessment?period=2026-11", "reports": "/reports?period=2026-11",
}


def test_every_page_at_1366x768_with_no_console_error(browser: Any, console: Console) -> None:
    """Screenshots for a reviewer; a CSP violation or a script error would show as a console error."""
    anonymous = browser.new_context(viewport={"width": 1366, "height": 768})
    login = anonymous.new_page()
    login.goto(f"{console.url}/findings")
    assert login.url.endswith("/login?next=/findings")
    login.screenshot(path=str(SHOTS / "login.png"))
    anonymous.close()

    staff = Tab(browser, console, "wang")
    with console.store.connect() as conn:
        finding = conn.execute(sa.select(FindingRow.id).where(FindingRow.check_id == "case_overdue")
                               .order_by(FindingRow.id)).scalar()
    letter = console.letter_of("MZJ", "level3")
    pages = PAGES | {"finding": f"/findings/{finding}", "letter": f"/letters/{letter.id}"}
    for name, path in pages.items():
        page = staff.go(path)
        assert page.locator("header.top nav a.here").count() == 1, name
        # nothing sticks out sideways at 1366 px
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366, name
        assert staff.shot(name).stat().st_size > 10_000
    page = staff.go(f"/findings/{finding}")
    assert page.locator("table.trace tr").count() > 1  # the day-by-day trace of the deadline
    assert staff.errors == []
    staff.close()

    liaison = Tab(browser, console, "liu")
    for name in ("overview", "letters", "findings"):
        liaison.go(PAGES[name])
        liaison.shot(f"liaison-{name}")
    assert "县民政局" in liaison.page.content() and liaison.errors == []
    liaison.close()
    admin = Tab(browser, console, "root")
    admin.go("/accounts")
    admin.shot("accounts")
    admin.go("/settings")
    admin.shot("settings")
    assert admin.errors == []
    admin.close()
