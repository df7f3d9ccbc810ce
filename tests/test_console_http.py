# ruff: noqa: F811
"""The console over HTTP (a real server on 127.0.0.1): access control, CSRF, throttling, logs, lists."""

from __future__ import annotations

import csv
import io
import logging
import re

import httpx
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from structlog.testing import capture_logs

from sunlight.monitor.store.letters_models import (
    AuditEntry,
    FindingExplanation,
    LetterFindingRow,
    LetterReport,
    LetterRow,
)
from sunlight.monitor.store.models import FindingRow
from tests.console_kit import ACCOUNTS, Console, console, csrf_of, demo_template  # noqa: F401

PAGES = ["/overview", "/findings", "/findings/1", "/letters", "/letters/1", "/units", "/units/MZJ",
         "/assessment", "/reports?period=2026-11", "/accounts"]
EXPORTS = ["/findings/export.csv", "/findings/export.xlsx", "/letters/export.csv", "/letters/export.xlsx",
           "/units/export.csv", "/assessment/export.xlsx", "/letters/1/download.docx",
           "/letters/1/download.html", "/reports/download.docx?period=2026-11",
           "/reports/download.xlsx?period=2026-11"]


def test_nothing_without_a_session_but_the_operator_endpoints(console: Console) -> None:
    c = console.client()
    for path in PAGES + EXPORTS:
        r = c.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next="), path
        assert "监预" not in r.text and "办件" not in r.text, path
    # a made-up cookie is no session either
    c.cookies.set("sunlight_session", "forged-token")
    assert c.get("/findings/export.csv").status_code == 303
    assert c.post("/letters/1/act/ack", data={"csrf": "x"}).status_code == 401
    # Prometheus and the probes need no login
    assert c.get("/healthz").json() == {"status": "alive"}
    assert c.get("/metrics").status_code == 200
    assert c.get("/readyz").status_code == 200


def test_security_headers_and_cookie_flags(console: Console) -> None:
    c = console.client()
    r = c.get("/login")
    assert r.headers["x-frame-options"] == "DENY"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "<script>" not in r.text and " style=" not in r.text  # nothing inline for the CSP to allow
    r = c.post("/login", data={"csrf": csrf_of(r.text), "username": "wang",
                               "password": ACCOUNTS["wang"][0]})
    cookie = r.headers["set-cookie"]
    assert "sunlight_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = c.get("/overview")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"


def test_every_page_renders_for_staff_and_accounts_only_for_admin(console: Console) -> None:
    staff = console.login("wang")
    for path in PAGES[:-1]:
        r = staff.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        assert "总览" in r.text
    assert staff.get("/accounts").status_code == 403
    admin = console.login("root")
    r = admin.get("/accounts")
    assert r.status_code == 200 and "刘联络" in r.text and "单位联络员" in r.text
    assert "$argon2" not in r.text
    r = admin.get("/settings")
    assert r.status_code == 200 and "办件超承诺时限" in r.text and "sqlite:///" in r.text
    assert staff.get("/settings").status_code == 403


def test_a_liaison_sees_only_its_own_unit(console: Console) -> None:
    liu = console.login("liu")  # 县民政局
    mine = console.letter_of("MZJ", "level2")
    other = console.letter_of("SJJ", "level3")
    with console.store.connect() as conn:
        other_finding = conn.execute(sa.select(FindingRow.id).where(FindingRow.unit_id == "SJJ")).scalar()
        own_finding = conn.execute(sa.select(FindingRow.id).where(FindingRow.unit_id == "MZJ")).scalar()
        mzj_count = conn.execute(sa.select(sa.func.count()).select_from(FindingRow)
                                 .where(FindingRow.unit_id == "MZJ")).scalar()
    assert liu.get(f"/letters/{mine.id}").status_code == 200
    assert liu.get(f"/findings/{own_finding}").status_code == 200
    for path in (f"/letters/{other.id}", f"/findings/{other_finding}", f"/letters/{other.id}/download.docx",
                 f"/letters/{other.id}/download.html", "/units/SJJ"):
        r = liu.get(path)
        assert r.status_code == 404, path
        assert other.number not in r.text
    # acting on another unit's letter is refused and changes nothing
    r = liu.post(f"/letters/{other.id}/act/ack", data={"csrf": csrf_of(liu.get("/letters").text)})
    assert r.status_code == 404
    assert console.letter(other.id).acknowledged_at is None
    # the lists and their exports hold the own unit only, whatever the filter says
    rows = list(csv.reader(io.StringIO(liu.get("/findings/export.csv?unit=SJJ").text.lstrip("\ufeff"))))
    assert rows[1:] == []
    rows = list(csv.reader(io.StringIO(liu.get("/findings/export.csv").text.lstrip("\ufeff"))))
    assert len(rows) - 1 == mzj_count
    assert {r[2] for r in rows[1:]} == {"县民政局"}
    letters = list(csv.reader(io.StringIO(liu.get("/letters/export.csv").text.lstrip("\ufeff"))))
    assert letters[1:] and {r[2] for r in letters[1:]} == {"县民政局"}
    assert "县市场监督管理局" not in liu.get("/findings").text
    wb = load_workbook(io.BytesIO(liu.get("/findings/export.xlsx").content))
    assert {row[2] for row in wb.active.iter_rows(min_row=2, values_only=True)} == {"县民政局"}
    units = liu.get("/units/export.csv").text
    assert "县民政局" in units and "县市场监督管理局" not in units
    # a leader reads everything; its one act is 签批 of a 一级 letter (this one is not)
    chen = console.login("chen")
    page = chen.get(f"/letters/{other.id}")
    assert page.status_code == 200
    acts = re.findall(r'/act/(\w+)"', page.text)
    assert acts == ["sign_off"] and "无需领导签批" in page.text
    r = chen.post(f"/letters/{other.id}/act/ack", data={"csrf": csrf_of(chen.get("/letters").text)})
    assert r.status_code == 403 and console.letter(other.id).acknowledged_at is None


def test_a_form_without_its_csrf_token_is_refused(console: Console) -> None:
    wang = console.login("wang")
    letter = console.letter_of("MZJ", "level3")
    for data in ({}, {"csrf": "wrong-token"}, {"csrf": csrf_of(console.login("liu").get("/letters").text)}):
        r = wang.post(f"/letters/{letter.id}/act/ack", data=data)
        assert r.status_code == 403, data
        assert "安全校验" in r.text
    assert console.letter(letter.id).acknowledged_at is None
    # the login form has its own token
    assert console.client().post("/login", data={"username": "wang",
                                                 "password": ACCOUNTS["wang"][0]}).status_code == 403
    # with the token the same act goes through, audited with the account
    r = wang.post(f"/letters/{letter.id}/act/ack", data={"csrf": csrf_of(wang.get("/letters").text)})
    assert r.status_code == 303
    assert console.letter(letter.id).status == "acknowledged"
    with console.store.connect() as conn:
        entry = conn.execute(sa.select(AuditEntry).where(AuditEntry.letter_id == letter.id)
                             .order_by(AuditEntry.id.desc())).first()
    assert entry is not None and (entry.actor, entry.action, entry.after) == ("wang", "ack", "acknowledged")


def _try(console: Console, username: str, password: str) -> httpx.Response:
    c = console.client()
    token = csrf_of(c.get("/login").text)
    return c.post("/login", data={"csrf": token, "username": username, "password": password})


def test_five_wrong_passwords_lock_the_account(console: Console) -> None:
    for _ in range(4):
        r = _try(console, "wang", "not-the-password")
        assert r.status_code == 401 and "用户名或密码错误" in r.text
    r = _try(console, "wang", "not-the-password")
    assert r.status_code == 401 and "已锁定" in r.text
    r = _try(console, "wang", ACCOUNTS["wang"][0])  # even the right password now
    assert r.status_code == 401 and "已锁定" in r.text
    assert "sunlight_session" not in r.headers.get("set-cookie", "")
    assert _try(console, "liu", ACCOUNTS["liu"][0]).status_code == 303  # others are not affected
    # an unknown name reads exactly like a wrong password
    assert "用户名或密码错误" in _try(console, "nobody", "whatever-pw").text


def test_no_password_or_session_token_in_the_logs(console: Console, caplog: pytest.LogCaptureFixture,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs:
        _try(console, "wang", "wrong-secret-pw-1")
        _try(console, "pw-typed-as-name-9", "x")  # a password typed into the name field
        c = console.login("wang")
        token = c.cookies["sunlight_session"]
        c.get("/findings/export.csv")
        letter = console.letter_of("MZJ", "level3")
        c.post(f"/letters/{letter.id}/act/ack", data={"csrf": csrf_of(c.get("/letters").text)})
        c.post("/logout", data={"csrf": csrf_of(c.get("/overview").text)})
    out, err = capfd.readouterr()
    # the server's records (the test's own HTTP client logs the cookies it receives: not ours)
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    text = repr(logs) + "\n".join(r.getMessage() for r in server) + out + err
    assert "console login" in text and "console act" in text  # the acts are logged ...
    for secret in ("wrong-secret-pw-1", "pw-typed-as-name-9", ACCOUNTS["wang"][0], token):
        assert secret not in text  # ... but never a password or a session token
    with console.store.connect() as conn:
        stored = " ".join(str(v) for row in conn.execute(sa.text("SELECT * FROM console_sessions"))
                          for v in row)
    assert token not in stored


def test_logged_out_and_idle_sessions_end(console: Console) -> None:
    c = console.login("wang")
    assert c.get("/overview").status_code == 200
    c.post("/logout", data={"csrf": csrf_of(c.get("/overview").text)})
    assert c.get("/overview").status_code == 303
    c = console.login("wang")
    with console.store.begin() as conn:  # 31 minutes without a request (session_idle is 30m)
        conn.execute(sa.text("UPDATE console_sessions "
                             "SET last_seen_at = datetime(last_seen_at, '-31 minutes')"))
    assert c.get("/overview").status_code == 303


def test_findings_pages_by_key_cover_the_list_once(console: Console) -> None:
    c = console.login("wang")
    with console.store.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(FindingRow)
                             .where(FindingRow.resolved_at.is_(None))).scalar()
    seen: list[int] = []
    path = "/findings?state=open"
    while path:
        html = c.get(path).text
        assert f"共 {total} 条" in html
        seen += [int(i) for i in re.findall(r'<td><a href="/findings/(\d+)">', html)]
        nxt = re.search(r'href="(\?[^"]*before=\d+[^"]*)">下一页', html)
        path = "/findings" + nxt[1].replace("&amp;", "&") if nxt else ""
    assert len(seen) == total == len(set(seen)) and seen == sorted(seen, reverse=True)


def test_a_liaison_writes_an_explanation_into_the_letters_history(console: Console) -> None:
    liu = console.login("liu")
    letter = console.letter_of("MZJ", "level3")
    html = liu.get(f"/letters/{letter.id}").text
    r = liu.post(f"/letters/{letter.id}/statement",
                 data={"csrf": csrf_of(html), "note": "该件因申请人补正材料延误"})
    assert r.status_code == 303
    page = liu.get(r.headers["location"]).text
    assert "已提交情况说明" in page and "该件因申请人补正材料延误" in page
    with console.store.connect() as conn:
        entry = conn.execute(sa.select(AuditEntry).where(AuditEntry.letter_id == letter.id)
                             .order_by(AuditEntry.id.desc())).first()
    assert entry is not None and (entry.actor, entry.action, entry.note) == ("liu", "statement",
                                                                             "该件因申请人补正材料延误")
    assert console.letter(letter.id).status == "issued"  # no change of status
    assert liu.post(f"/letters/{letter.id}/statement", data={"csrf": csrf_of(html)}).status_code == 400


def test_an_act_the_lifecycle_refuses_is_shown_with_its_reason(console: Console) -> None:
    wang = console.login("wang")
    letter = console.letter_of("MZJ", "level2")
    html = wang.get(f"/letters/{letter.id}").text
    assert re.search(r'<button type="submit" disabled title="[^"]*尚缺[^"]*">办结</button>', html)
    r = wang.post(f"/letters/{letter.id}/act/close", data={"csrf": csrf_of(html)})
    assert r.status_code == 409 and "尚缺签收、书面整改报告" in r.text
    with console.store.connect() as conn:
        assert conn.execute(sa.select(LetterRow.status).where(LetterRow.id == letter.id)).scalar() == "issued"


def _act(client: httpx.Client, letter_id: int, action: str, files: dict[str, tuple[str, bytes]] | None = None,
         **fields: str) -> httpx.Response:
    html = client.get(f"/letters/{letter_id}").text
    return client.post(f"/letters/{letter_id}/act/{action}", data={"csrf": csrf_of(html), **fields},
                       files=files)


def _trail(console: Console, letter_id: int) -> list[tuple[str, str, str | None]]:
    with console.store.connect() as conn:
        return [(a.actor, a.action, a.note) for a in conn.execute(
            sa.select(AuditEntry).where(AuditEntry.letter_id == letter_id, AuditEntry.actor != "sunlight")
            .order_by(AuditEntry.id))]


def test_the_offices_acts_need_their_reason_and_date(console: Console) -> None:
    wang = console.login("wang")
    letter = console.letter_of("MZJ", "level2")
    assert letter.rectify_by is not None
    r = _act(wang, letter.id, "withdraw", note="  ")
    assert r.status_code == 400 and "撤销须填写撤销理由" in r.text
    r = _act(wang, letter.id, "extend", note="单位申请")
    assert r.status_code == 400 and "请填写延长后的整改期限" in r.text
    r = _act(wang, letter.id, "extend", note="单位申请", until=letter.rectify_by.isoformat())
    assert r.status_code == 409 and "延长后的期限应晚于此日" in r.text  # the lifecycle's own refusal
    r = _act(wang, letter.id, "explain", note="经核实", finding="not-a-fingerprint")
    assert r.status_code == 400 and "请选择核实不予追究的问题" in r.text
    assert console.letter(letter.id).status == "issued" and _trail(console, letter.id) == []
    liu = console.login("liu")  # a liaison may not take the office's decisions
    assert _act(liu, letter.id, "withdraw", note="我们认为误发").status_code == 403
    assert console.letter(letter.id).status == "issued"


def test_explain_one_finding_then_close_and_reopen(console: Console) -> None:
    wang = console.login("wang")
    letter = console.letter_of("MZJ", "level2")
    with console.store.connect() as conn:
        links = conn.execute(sa.select(LetterFindingRow.fingerprint)
                             .where(LetterFindingRow.letter_id == letter.id)
                             .order_by(LetterFindingRow.id)).scalars().all()
    html = wang.get(f"/letters/{letter.id}").text
    assert all(f'<option value="{fp}">' in html for fp in links)  # each finding offered by its fingerprint
    r = _act(wang, letter.id, "explain", note="经核实系申请人要求暂缓办理", finding=links[0])
    assert r.status_code == 303, r.text
    page = wang.get(r.headers["location"]).text
    assert "已核实不予追究" in page and f'<option value="{links[0]}">' not in page
    with console.store.connect() as conn:
        explained = conn.execute(sa.select(FindingExplanation)).all()
    assert [(x.fingerprint, x.by, x.letter_id) for x in explained] == [(links[0], "wang", letter.id)]
    assert _act(wang, letter.id, "ack", note="电话确认").status_code == 303
    report = {"file": ("整改报告.docx", b"PK rectification")}
    assert _act(wang, letter.id, "report", files=report, note="纸质报告已扫描").status_code == 303
    assert _act(wang, letter.id, "close", note="整改到位").status_code == 303
    assert console.letter(letter.id).status == "closed"
    r = _act(wang, letter.id, "reopen", note="群众再次反映未整改")
    assert r.status_code == 303 and console.letter(letter.id).status == "report_received"
    assert [(a, n) for _, a, n in _trail(console, letter.id)] == [
        ("explain", "经核实系申请人要求暂缓办理"), ("ack", "电话确认"), ("report", "纸质报告已扫描"),
        ("close", "整改到位"), ("reopen", "群众再次反映未整改")]
    assert {actor for actor, _, _ in _trail(console, letter.id)} == {"wang"}


def test_a_report_over_the_limit_is_refused_and_a_kept_one_downloads_in_scope(console: Console) -> None:
    letters = console.settings.letters.model_copy(update={"report_max_bytes": 1000})
    console.settings = console.settings.model_copy(update={"letters": letters})
    liu = console.login("liu")
    letter = console.letter_of("MZJ", "level2")
    r = _act(liu, letter.id, "report", files={"file": ("大文件.pdf", b"x" * 1001)})
    assert r.status_code == 413 and "整改报告文件过大" in r.text
    assert console.letter(letter.id).report_received_at is None
    r = _act(liu, letter.id, "report", files={"file": ("整改报告.pdf", b"%PDF-1.4 ok")}, note="见附件")
    assert r.status_code == 303
    with console.store.connect() as conn:
        [kept] = conn.execute(sa.select(LetterReport.id, LetterReport.size)
                              .where(LetterReport.letter_id == letter.id)).all()
    assert kept.size == len(b"%PDF-1.4 ok")
    page = liu.get(f"/letters/{letter.id}").text
    assert f'href="/letters/{letter.id}/reports/{kept.id}"' in page
    got = liu.get(f"/letters/{letter.id}/reports/{kept.id}")
    assert got.status_code == 200 and got.content == b"%PDF-1.4 ok"
    assert "attachment" in got.headers["content-disposition"]
    assert console.login("wang").get(f"/letters/{letter.id}/reports/{kept.id}").content == b"%PDF-1.4 ok"
    assert console.login("zhao").get(f"/letters/{letter.id}/reports/{kept.id}").status_code == 404
    assert console.client().get(f"/letters/{letter.id}/reports/{kept.id}").status_code == 303  # to login


def test_a_withdrawn_letter_takes_no_statement_and_counts_in_no_report(console: Console) -> None:
    wang = console.login("wang")
    letter = console.letter_of("MZJ", "level2")
    assert _act(wang, letter.id, "withdraw", note="误发").status_code == 303
    liu = console.login("liu")
    html = liu.get(f"/letters/{letter.id}").text
    assert "/statement" not in html and "已撤销" in html
    r = liu.post(f"/letters/{letter.id}/statement", data={"csrf": csrf_of(html), "note": "说明"})
    assert r.status_code == 409
    assert _trail(console, letter.id) == [("wang", "withdraw", "误发")]
