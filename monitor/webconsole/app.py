"""The console as an ASGI app (Starlette + Jinja2, rendered on the server).

Every page and export goes through :func:`Console.page`, which resumes the
session from its cookie (or redirects to the login page), checks the CSRF
token of every POST, checks the role, and runs the handler in the thread
pool (the store is synchronous SQLAlchemy). Handlers read through
:mod:`sunlight.monitor.webconsole.queries` with the reader's scope, so a
unit liaison sees only its own unit whatever the URL says.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
import structlog
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from sunlight.alerts import lifecycle
from sunlight.alerts.render import Renderer, build_view, render_docx
from sunlight.alerts.tiers import is_letter_tier
from sunlight.checks.registry import CheckParams, load_all
from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.settings import Settings
from sunlight.monitor.sources import safe_url
from sunlight.monitor.store.letters_models import LETTER_STATUSES
from sunlight.monitor.webconsole import charts, queries
from sunlight.monitor.webconsole.accounts import (
    ROLE_ZH,
    Session,
    authenticate,
    end_session,
    list_users,
    purge_sessions,
    resume_session,
    start_session,
)
from sunlight.monitor.webconsole.acts import BY_ACTION, EXPLAIN, offers
from sunlight.monitor.webconsole.assessment import assess, assess_many
from sunlight.monitor.webconsole.exports import Cell, csv_chunks, xlsx_bytes
from sunlight.monitor.webconsole.periods import Period, PeriodError, containing, parse_period
from sunlight.monitor.webconsole.reports import (
    CHECK_HEADERS,
    TIER_HEADERS,
    build_report,
    percent,
    report_docx,
    report_xlsx,
    summary_rows,
    tier_rows,
    unit_headers,
    unit_rows,
)
from sunlight.monitor.webconsole.security import SecurityHeaders
from sunlight.monitor.webconsole.units import UnitDirectory
from sunlight.monitor.webconsole.views import (
    ACTION_ZH,
    FINDING_STATE_ZH,
    STATUS_ZH,
    check_titles,
    evidence_view,
    local,
    overdue_text,
    tier_labels,
)

log = structlog.get_logger("sunlight.console")
HERE = Path(__file__).parent
COOKIE = "sunlight_session"
LOGIN_CSRF_COOKIE = "sunlight_login_csrf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
UNIT_LIST_SECONDS = 60.0
EXPORT_LIMIT = 200_000  # rows in one export: more is a database dump, not a list

#: (store, settings, calendar) of the running configuration; a reload swaps them
Runtime = Callable[[], tuple[Engine, Settings, WorkCalendar | None]]


class Refused(Exception):
    """A request the console refuses; rendered as a Chinese error page with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Ctx:
    """One request as a handler sees it."""

    request: Request
    session: Session
    form: FormData | None
    store: Engine
    settings: Settings
    calendar: WorkCalendar | None
    console: Console
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def user(self) -> Any:
        return self.session.user

    @property
    def scope(self) -> str | None:
        """None: every unit; a liaison: its own unit only."""
        return self.session.user.unit_id if self.session.user.is_liaison else None

    @property
    def tz(self) -> dt.tzinfo:
        return self.settings.tz

    def arg(self, name: str) -> str | None:
        v = self.request.query_params.get(name, "").strip()
        return v or None

    def int_arg(self, name: str) -> int | None:
        v = self.arg(name)
        return int(v) if v and v.isdigit() else None

    def date_arg(self, name: str) -> dt.date | None:
        v = self.arg(name)
        if not v:
            return None
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            raise Refused(400, f"日期格式应为 2026-11-01，收到“{v}”") from None

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        return self.console.render(template, self, status, **values)

    def tier(self, tier: str) -> str:
        return tier_labels(self.settings.tiers.labels).get(tier, tier)

    def names(self, ids: Iterable[str]) -> dict[str, str]:
        return self.console.units.names(self.store, ids)

    def unit_name(self, unit_id: str | None) -> str:
        return self.console.units.name(self.store, unit_id)


Handler = Callable[[Ctx], Response]


class Console:
    def __init__(self, runtime: Runtime, units: UnitDirectory | None = None) -> None:
        self.runtime = runtime
        self.units = units or UnitDirectory()
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                                      autoescape=True, undefined=jinja2.StrictUndefined,
                                      trim_blocks=True, lstrip_blocks=True)
        self.env.globals.update(STATUS_ZH=STATUS_ZH, ACTION_ZH=ACTION_ZH, ROLE_ZH=ROLE_ZH,
                                FINDING_STATE_ZH=FINDING_STATE_ZH, percent=percent)
        self._titles: dict[str, str] | None = None
        self._units: tuple[float, list[str]] = (0.0, [])

    def unit_ids(self, store: Engine) -> list[str]:
        """The units the store knows, re-read at most once a minute (a new unit is rare)."""
        at, ids = self._units
        if time.monotonic() - at > UNIT_LIST_SECONDS:
            ids = queries.unit_ids(store)
            self._units = (time.monotonic(), ids)
        return ids

    @property
    def titles(self) -> dict[str, str]:
        if self._titles is None:
            self._titles = check_titles()
        return self._titles

    def render(self, template: str, ctx: Ctx | None, status: int = 200, **values: Any) -> HTMLResponse:
        base: dict[str, Any] = {"user": None, "csrf": "", "path": "", "nav": NAV, "issuer": ""}
        if ctx is not None:
            base.update(user=ctx.user, csrf=ctx.session.csrf, path=ctx.request.url.path,
                        issuer=ctx.settings.letters.issuer, tier=ctx.tier, tz=ctx.tz,
                        local=lambda t, m=True: local(t, ctx.tz, m), titles=self.titles,
                        unit_name=ctx.unit_name, qs=lambda **kw: _qs(ctx.request, **kw),
                        source_name=lambda name: _source_name(ctx.settings, name))
        html = self.env.get_template(template).render(**base, **values)
        return HTMLResponse(html, status_code=status)

    # --- the guard every page passes ---------------------------------------------------

    def page(self, handler: Handler, need: str | None = None
             ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            store, settings, calendar = self.runtime()
            cfg = settings.console
            token = request.cookies.get(COOKIE, "")
            session = await run_in_threadpool(resume_session, store, cfg, token)
            if session is None:
                if request.method == "GET":
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
                return self.render("error.html.j2", None, 401, message="登录已失效，请重新登录。")
            form = None
            if request.method == "POST":
                length = int(request.headers.get("content-length") or 0)
                if length > cfg.upload_max_bytes + 65536:
                    return self.render("error.html.j2", None, 413,
                                       message=f"上传的文件超过{cfg.upload_max_bytes // 1048576}MB的上限。")
                form = await request.form(max_files=1, max_fields=20)
                sent = str(form.get("csrf") or "")
                if not sent or not hmac.compare_digest(sent, session.csrf):
                    log.warning("console form refused: CSRF token missing or wrong",
                                path=request.url.path, username=session.user.username)
                    return self.render("error.html.j2", None, 403,
                                       message="表单已失效（安全校验未通过），请返回刷新页面后重试。")
            ctx = Ctx(request, session, form, store, settings, calendar, self)
            if need is not None and not session.user.can(need):
                return self.render("error.html.j2", ctx, 403, message="您的账户无权进行此项操作。")
            try:
                return await run_in_threadpool(handler, ctx)
            except Refused as exc:
                return self.render("error.html.j2", ctx, exc.status, message=exc.message)
            finally:
                if form is not None:
                    await form.close()

        return endpoint

    # --- login and logout ----------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        store, settings, _ = self.runtime()
        cfg = settings.console
        target = _safe_next(request.query_params.get("next"))
        if request.method == "GET":
            csrf = secrets.token_urlsafe(32)
            resp = self.render("login.html.j2", None, login_csrf=csrf, next=target, problem=None)
            resp.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="strict",
                            secure=cfg.secure_cookies, max_age=3600, path="/login")
            return resp
        form = await request.form(max_files=0, max_fields=5)
        sent, kept = str(form.get("csrf") or ""), request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not sent or not kept or not hmac.compare_digest(sent, kept):
            return self.render("error.html.j2", None, 403,
                               message="登录表单已失效（安全校验未通过），请刷新登录页后重试。")
        username, password = str(form.get("username") or ""), str(form.get("password") or "")
        result = await run_in_threadpool(authenticate, store, cfg, username, password)
        if result.user is None:
            csrf = secrets.token_urlsafe(32)
            resp = self.render("login.html.j2", None, 401, login_csrf=csrf, next=target,
                               problem=result.problem, username=username)
            resp.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="strict",
                            secure=cfg.secure_cookies, max_age=3600, path="/login")
            return resp
        await run_in_threadpool(purge_sessions, store, cfg)
        token, _csrf = await run_in_threadpool(start_session, store, result.user)
        done: Response = RedirectResponse(target, status_code=303)
        done.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=cfg.secure_cookies,
                        path="/")
        done.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return done

    def logout(self, ctx: Ctx) -> Response:
        end_session(ctx.store, ctx.request.cookies.get(COOKIE, ""))
        log.info("console logout", username=ctx.user.username)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp


def _source_name(settings: Settings, name: str) -> str:
    """A source as the office calls it: its display name once the config has one, else its name."""
    cfg = settings.sources.get(name)
    return str(getattr(cfg, "display_name", None) or name)


def _safe_next(value: str | None) -> str:
    """Only a path of this site (no ``//host``): the login never redirects elsewhere."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/overview"


def _qs(request: Request, **changes: Any) -> str:
    params = dict(request.query_params)
    for k, v in changes.items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = str(v)
    return "?" + urlencode(params) if params else "?"


NAV = [("/overview", "总览"), ("/findings", "发现"), ("/letters", "预警函"), ("/units", "单位"),
       ("/assessment", "绩效评估"), ("/reports", "统计报表")]


# --- pages ---------------------------------------------------------------------------------


def overview_page(ctx: Ctx) -> Response:
    ov = queries.overview(ctx.store, ctx.scope, ctx.tz, ctx.now)
    letters = ov.letters_due + ov.letters_overdue
    names = ctx.names([u for u, _ in ov.open_by_unit] + [x.unit_id for x in letters if x.unit_id])
    trend = charts.line([(f"{d.month}/{d.day}", float(n)) for d, n in ov.overdue_trend],
                        "超期办件趋势（各周末仍超期未解除的数量）")
    unit_chart = charts.bars([(names.get(u, u), float(sum(c.values()))) for u, c in ov.open_by_unit],
                             "未解除问题最多的单位")
    coverage = None
    if ctx.calendar is not None:
        today = ctx.now.astimezone(ctx.tz).date()
        coverage = ctx.calendar.covered_until(today)
    return ctx.render("overview.html.j2", ov=ov, names=names, trend=trend, unit_chart=unit_chart,
                      coverage=coverage, tiers=_tiers(ctx))


def _tiers(ctx: Ctx) -> list[str]:
    return [t for t in ("level1", "level2", "level3", "reminder") if t in ctx.settings.tiers.labels]


def _finding_filter(ctx: Ctx) -> queries.FindingFilter:
    state = ctx.arg("state")
    if state not in (None, "open", "resolved"):
        raise Refused(400, "状态只能是未解除或已解除")
    return queries.FindingFilter(check=ctx.arg("check"), unit=ctx.arg("unit"), tier=ctx.arg("tier"),
                                 state=state, source=ctx.arg("source"), since=ctx.date_arg("since"),
                                 until=ctx.date_arg("until"))


def findings_page(ctx: Ctx) -> Response:
    flt = _finding_filter(ctx)
    page = queries.findings_page(ctx.store, flt, ctx.scope, ctx.tz, before=ctx.int_arg("before"),
                                 after=ctx.int_arg("after"), size=ctx.settings.console.page_size)
    names = ctx.names({r.unit_id for r in page.rows})
    units = ({ctx.scope: ctx.unit_name(ctx.scope)} if ctx.scope
             else dict(sorted(ctx.names(ctx.console.unit_ids(ctx.store)).items(), key=lambda kv: kv[1])))
    sources = sorted(ctx.settings.sources)
    return ctx.render("findings.html.j2", page=page, flt=flt, names=names, units=units,
                      sources=sources, tiers=_tiers(ctx), overdue_text=overdue_text,
                      checks=sorted(ctx.console.titles.items(), key=lambda kv: kv[1]))


FINDING_HEADERS = ["编号", "问题类型", "单位", "对象", "等级", "期限", "超期", "摘要", "首次发现", "状态",
                   "解除时间"]


def _finding_cells(ctx: Ctx, rows: Iterable[Any]) -> Iterable[list[Cell]]:
    cache: dict[str, str] = {}
    for r in rows:
        if r.unit_id not in cache:
            cache[r.unit_id] = ctx.unit_name(r.unit_id)
        yield [r.id, ctx.console.titles.get(r.check_id, r.check_id), cache[r.unit_id], r.subject,
               ctx.tier(r.tier), local(r.deadline, ctx.tz), overdue_text(r.overdue, r.measure), r.summary,
               local(r.first_seen, ctx.tz), "已解除" if r.resolved_at else "未解除",
               local(r.resolved_at, ctx.tz)]


def _limited(rows: Iterable[Any]) -> Iterable[Any]:
    for i, row in enumerate(rows):
        if i >= EXPORT_LIMIT:
            return
        yield row


def _export(ctx: Ctx, name: str, headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Response:
    fmt = ctx.request.path_params["fmt"]
    stamp = ctx.now.astimezone(ctx.tz).strftime("%Y%m%d-%H%M")
    log.info("console export", username=ctx.user.username, list=name, format=fmt)
    if fmt == "csv":
        return StreamingResponse(csv_chunks(headers, rows), media_type="text/csv; charset=utf-8",
                                 headers=_attachment(f"{name}-{stamp}.csv"))
    if fmt == "xlsx":
        return Response(xlsx_bytes([(name, headers, rows)]), media_type=XLSX,
                        headers=_attachment(f"{name}-{stamp}.xlsx"))
    raise Refused(404, "只能导出为 CSV 或 XLSX")


def _attachment(filename: str) -> dict[str, str]:
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                                   f"filename*=UTF-8''{quote(filename)}"}


def findings_export(ctx: Ctx) -> Response:
    flt = _finding_filter(ctx)
    rows = _limited(queries.iter_findings(ctx.store, flt, ctx.scope, ctx.tz))
    return _export(ctx, "发现清单", FINDING_HEADERS, _finding_cells(ctx, rows))


def finding_page(ctx: Ctx) -> Response:
    row = queries.finding(ctx.store, int(ctx.request.path_params["id"]), ctx.scope)
    if row is None:
        raise Refused(404, "没有这条发现，或您无权查看。")
    ev = evidence_view(row.evidence or {})
    letters = queries.letters_of_finding(ctx.store, row.id)
    return ctx.render("finding.html.j2", f=row, ev=ev, letters=letters, overdue_text=overdue_text)


def _letter_filter(ctx: Ctx) -> queries.LetterFilter:
    status = ctx.arg("status")
    if status not in (None, "open", *LETTER_STATUSES):
        raise Refused(400, "未知的办理状态")
    return queries.LetterFilter(unit=ctx.arg("unit"), status=status, tier=ctx.arg("tier"),
                                since=ctx.date_arg("since"), until=ctx.date_arg("until"))


def letters_page(ctx: Ctx) -> Response:
    flt = _letter_filter(ctx)
    page = queries.letters_page(ctx.store, flt, ctx.scope, ctx.tz, before=ctx.int_arg("before"),
                                after=ctx.int_arg("after"), size=ctx.settings.console.page_size)
    units = ({ctx.scope: ctx.unit_name(ctx.scope)} if ctx.scope
             else dict(sorted(ctx.names(ctx.console.unit_ids(ctx.store)).items(), key=lambda kv: kv[1])))
    return ctx.render("letters.html.j2", page=page, flt=flt, units=units, tiers=_tiers(ctx),
                      statuses=LETTER_STATUSES)


LETTER_HEADERS = ["编号", "等级", "主送", "状态", "发出日期", "整改期限", "签收", "整改报告", "办结"]


def letters_export(ctx: Ctx) -> Response:
    rows = _limited(queries.iter_letters(ctx.store, _letter_filter(ctx), ctx.scope, ctx.tz))
    cells = ([x.number, ctx.tier(x.tier), x.recipient, STATUS_ZH.get(x.status, x.status),
              local(x.issued_at, ctx.tz, False), x.rectify_by.isoformat() if x.rectify_by else "",
              local(x.acknowledged_at, ctx.tz), local(x.report_received_at, ctx.tz),
              local(x.closed_at, ctx.tz)] for x in rows)
    return _export(ctx, "预警函清单", LETTER_HEADERS, cells)


def _detail(ctx: Ctx) -> queries.LetterDetail:
    detail = queries.letter_detail(ctx.store, int(ctx.request.path_params["id"]), ctx.scope)
    if detail is None:
        raise Refused(404, "没有这件预警函，或您无权查看。")
    return detail


def _letter_response(ctx: Ctx, detail: queries.LetterDetail, status: int = 200,
                     problem: str | None = None) -> Response:
    view = build_view(ctx.settings, detail.letter, detail.findings, detail.cites, with_resolutions=True)
    text = Renderer(ctx.settings).text(view)
    done = ctx.arg("done")
    return ctx.render("letter.html.j2", status, d=detail, x=detail.letter, text=text,
                      offers=offers(detail.letter, ctx.user), problem=problem,
                      done=ACTION_ZH.get(done, None) if done in (*BY_ACTION, EXPLAIN) else None,
                      is_letter=is_letter_tier(detail.letter.tier), overdue_text=overdue_text)


def letter_page(ctx: Ctx) -> Response:
    return _letter_response(ctx, _detail(ctx))


def letter_download(ctx: Ctx) -> Response:
    detail = _detail(ctx)
    view = build_view(ctx.settings, detail.letter, detail.findings, detail.cites)
    fmt = ctx.request.path_params["fmt"]
    name = re.sub(r"[〔〕]", "", detail.letter.number)
    log.info("console letter download", username=ctx.user.username, letter=detail.letter.number,
             format=fmt)
    if fmt == "docx":
        return Response(render_docx(view), media_type=DOCX, headers=_attachment(f"{name}.docx"))
    if fmt == "html":
        return Response(Renderer(ctx.settings).html(view), media_type="text/html; charset=utf-8",
                        headers=_attachment(f"{name}.html") | {"Content-Security-Policy": "sandbox"})
    raise Refused(404, "只能下载 DOCX 或 HTML")


def letter_act(ctx: Ctx) -> Response:
    detail = _detail(ctx)
    action = ctx.request.path_params["action"]
    button = BY_ACTION.get(action)
    if button is None or action not in lifecycle.ACTIONS:
        raise Refused(404, "没有这项操作")
    if ctx.user.role not in button.roles:
        raise Refused(403, f"您的账户无权{button.label}")
    assert ctx.form is not None
    note = str(ctx.form.get("note") or "").strip() or None
    if button.note_required and not note:
        return _letter_response(ctx, detail, 400, f"{button.label}须填写{button.note}")
    file_ref = None
    if button.file:
        upload = ctx.form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return _letter_response(ctx, detail, 400, "请选择整改报告文件")
        try:
            file_ref = _keep_upload(ctx, detail.letter, upload)
        except Refused as exc:
            return _letter_response(ctx, detail, exc.status, exc.message)
    act = lifecycle.Act(action, ctx.user.username, note, file_ref)
    try:
        lifecycle.apply_act(ctx.store, str(detail.letter.id), act)
    except (lifecycle.TransitionError, lifecycle.LetterNotFound) as exc:
        return _letter_response(ctx, _detail(ctx), 409, str(exc))
    log.info("console act", username=ctx.user.username, letter=detail.letter.number, action=action)
    return RedirectResponse(f"/letters/{detail.letter.id}?done={action}", status_code=303)


def letter_explain(ctx: Ctx) -> Response:
    """The unit's written explanation (情况说明): recorded in the letter's audit log, status unchanged."""
    detail = _detail(ctx)
    assert ctx.form is not None
    note = str(ctx.form.get("note") or "").strip()
    if not note:
        return _letter_response(ctx, detail, 400, "请填写情况说明")
    if not is_letter_tier(detail.letter.tier) or detail.letter.status in ("closed", "escalated"):
        return _letter_response(ctx, detail, 409, f"{detail.letter.number} 当前不接受情况说明")
    with ctx.store.begin() as conn:
        lifecycle.audit(conn, dt.datetime.now(dt.UTC), ctx.user.username, EXPLAIN, detail.letter.id,
                        detail.letter.status, detail.letter.status, note[:4000])
    log.info("console act", username=ctx.user.username, letter=detail.letter.number, action=EXPLAIN)
    return RedirectResponse(f"/letters/{detail.letter.id}?done={EXPLAIN}", status_code=303)


def _keep_upload(ctx: Ctx, letter: Any, upload: UploadFile) -> str:
    """Store the report under ``console.upload_dir``; the audit records its path and SHA-256."""
    limit = ctx.settings.console.upload_max_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise Refused(413, f"整改报告超过{limit // 1048576}MB的上限")
    if not data:
        raise Refused(400, "整改报告文件为空")
    digest = hashlib.sha256(data).hexdigest()
    stem = re.sub(r"[^\w.\-]", "_", Path(upload.filename or "report").name)[-80:]
    folder = ctx.settings.resolve(ctx.settings.console.upload_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{letter.id}-{digest[:12]}-{stem}"
    path.write_bytes(data)
    return f"{path.resolve()} sha256:{digest}"


def units_page(ctx: Ctx) -> Response:
    ids = [ctx.scope] if ctx.scope else ctx.console.unit_ids(ctx.store)
    names = ctx.names(ids)
    open_by_unit = queries.open_by_unit(ctx.store, ctx.scope)
    rows = sorted(((u, names.get(u, u), open_by_unit.get(u, {})) for u in ids),
                  key=lambda t: (-sum(t[2].values()), t[1]))
    return ctx.render("units.html.j2", rows=rows, tiers=_tiers(ctx))


def units_export(ctx: Ctx) -> Response:
    ids = [ctx.scope] if ctx.scope else ctx.console.unit_ids(ctx.store)
    names = ctx.names(ids)
    per = queries.open_by_unit(ctx.store, ctx.scope)
    tiers = _tiers(ctx)
    return _export(ctx, "单位清单", ["单位", *[f"未解除{ctx.tier(t)}" for t in tiers], "合计"],
                   ([names.get(u, u), *[per.get(u, {}).get(t, 0) for t in tiers],
                     sum(per.get(u, {}).values())] for u in ids))


def unit_page(ctx: Ctx) -> Response:
    unit_id = ctx.request.path_params["unit"]
    if ctx.scope is not None and unit_id != ctx.scope:
        raise Refused(404, "没有这个单位，或您无权查看。")
    if unit_id not in ctx.console.unit_ids(ctx.store):
        raise Refused(404, "没有这个单位的记录。")
    today = ctx.now.astimezone(ctx.tz).date()
    periods = [containing("month", today)]
    for _ in range(5):
        periods.insert(0, periods[0].previous())
    units = [ctx.scope] if ctx.scope else ctx.console.unit_ids(ctx.store)
    history = []
    for period, rows in zip(periods, assess_many(ctx.store, periods, ctx.tz, today,
                                                 ctx.settings.console.assessment, units), strict=True):
        mine = next((r for r in rows if r.unit_id == unit_id), None)
        if mine is not None:
            history.append((period, mine))
    findings = queries.findings_page(ctx.store, queries.FindingFilter(unit=unit_id, state="open"),
                                     ctx.scope, ctx.tz, size=20)
    letters = queries.letters_page(ctx.store, queries.LetterFilter(unit=unit_id), ctx.scope, ctx.tz,
                                   size=20)
    chart = charts.line([(p.label[5:], r.now.score.total) for p, r in history], "近六个月评估得分")
    return ctx.render("unit.html.j2", unit_id=unit_id, name=ctx.unit_name(unit_id), findings=findings,
                      letters=letters, history=history, chart=chart, overdue_text=overdue_text)


def _period(ctx: Ctx, default_kind: str = "month") -> Period:
    value = ctx.arg("period")
    if value:
        try:
            return parse_period(value)
        except PeriodError:
            raise Refused(400, "期间应写作 2026-11（月）、2026-Q4（季度）或 2026（年），"
                               f"收到“{value}”") from None
    kind = ctx.arg("kind") or default_kind
    if kind not in ("month", "quarter", "year"):
        raise Refused(400, "期间类型只能是月、季度或年")
    return containing(kind, ctx.now.astimezone(ctx.tz).date()).previous()


def _assessment(ctx: Ctx, period: Period) -> list[Any]:
    units = [ctx.scope] if ctx.scope else ctx.console.unit_ids(ctx.store)
    today = ctx.now.astimezone(ctx.tz).date()
    return assess(ctx.store, period, ctx.tz, today, ctx.settings.console.assessment, units)


def assessment_page(ctx: Ctx) -> Response:
    period = _period(ctx)
    rows = _assessment(ctx, period)
    names = ctx.names(r.unit_id for r in rows)
    chart = charts.bars([(names.get(r.unit_id, r.unit_id), r.now.score.total) for r in rows[:15]],
                        f"{period.label}评估得分", unit="分")
    return ctx.render("assessment.html.j2", period=period, rows=rows, names=names, chart=chart,
                      rule=ctx.settings.console.assessment, tiers=_tiers(ctx))


def assessment_export(ctx: Ctx) -> Response:
    period = _period(ctx)
    rows = _assessment(ctx, period)
    names = ctx.names(r.unit_id for r in rows)
    return _export(ctx, f"绩效评估-{period.key}",
                   ["名次", "单位", "得分", "上期得分", "得分变化", "名次变化", "按期整改率"],
                   ([r.now.rank, names.get(r.unit_id, r.unit_id), r.now.score.total,
                     r.before.score.total if r.before else "", r.change if r.change is not None else "",
                     r.rank_change if r.rank_change is not None else "", percent(r.now.score.on_time_rate)]
                    for r in rows))


def _report(ctx: Ctx) -> Any:
    period = _period(ctx)
    today = ctx.now.astimezone(ctx.tz).date()
    return build_report(ctx.store, period, ctx.tz, today, ctx.settings.letters.issuer,
                        tier_labels(ctx.settings.tiers.labels), ctx.console.titles, ctx.names, ctx.scope)


def reports_page(ctx: Ctx) -> Response:
    rep = _report(ctx)
    by_check = charts.bars([(t, float(n)) for t, n in rep.by_check[:12]], "按问题类型")
    by_unit = charts.bars([(name, float(sum(c.values()))) for name, c in rep.by_unit[:12]], "按单位")
    return ctx.render("reports.html.j2", rep=rep, by_check=by_check, by_unit=by_unit,
                      summary=summary_rows(rep), tier_rows=tier_rows(rep), unit_rows=unit_rows(rep),
                      unit_headers=unit_headers(rep), TIER_HEADERS=TIER_HEADERS, CHECK_HEADERS=CHECK_HEADERS)


def report_download(ctx: Ctx) -> Response:
    rep = _report(ctx)
    fmt = ctx.request.path_params["fmt"]
    log.info("console report download", username=ctx.user.username, period=rep.period.key, format=fmt)
    if fmt == "docx":
        return Response(report_docx(rep), media_type=DOCX, headers=_attachment(f"{rep.title}.docx"))
    if fmt == "xlsx":
        return Response(report_xlsx(rep), media_type=XLSX, headers=_attachment(f"{rep.title}.xlsx"))
    raise Refused(404, "报表只能下载 DOCX 或 XLSX")


def accounts_page(ctx: Ctx) -> Response:
    return ctx.render("accounts.html.j2", users=list_users(ctx.store), now=ctx.now)


def settings_page(ctx: Ctx) -> Response:
    """The running configuration for the administrator: read-only, passwords masked, no secrets."""
    s = ctx.settings
    sources = [(name, safe_url(src.url.get_secret_value()), str(src.interval), src.data_owner or "")
               for name, src in sorted(s.sources.items())]
    checks = []
    for cid, cls in sorted(load_all().items()):
        params = CheckParams(cls, s.checks)
        shown = params.default.model_dump(exclude={"enabled"}, mode="json")
        checks.append((cls.title, cid, params.default.enabled, json.dumps(shown, ensure_ascii=False),
                       len(params.overrides)))
    return ctx.render("settings.html.j2", sources=sources, checks=checks, state=safe_url(s.state_url()),
                      console_cfg=s.console.model_dump(mode="json"), routes=len(s.routes),
                      channels=sorted(s.channels), tiers=_tiers(ctx))


def make_console(runtime: Runtime, units: UnitDirectory | None = None) -> Starlette:
    """The console app; mount it at ``/`` beside the operator endpoints."""
    c = Console(runtime, units)

    async def root(request: Request) -> Response:
        return RedirectResponse("/overview", status_code=303)

    routes = [
        Route("/", root),
        Route("/login", c.login, methods=["GET", "POST"]),
        Route("/logout", c.page(c.logout), methods=["POST"]),
        Route("/overview", c.page(overview_page)),
        Route("/findings", c.page(findings_page)),
        Route("/findings/export.{fmt}", c.page(findings_export)),
        Route("/findings/{id:int}", c.page(finding_page)),
        Route("/letters", c.page(letters_page)),
        Route("/letters/export.{fmt}", c.page(letters_export)),
        Route("/letters/{id:int}", c.page(letter_page)),
        Route("/letters/{id:int}/download.{fmt}", c.page(letter_download)),
        Route("/letters/{id:int}/act/{action}", c.page(letter_act, need="unit_act"), methods=["POST"]),
        Route("/letters/{id:int}/explain", c.page(letter_explain, need="unit_act"), methods=["POST"]),
        Route("/units", c.page(units_page)),
        Route("/units/export.{fmt}", c.page(units_export)),
        Route("/units/{unit}", c.page(unit_page)),
        Route("/assessment", c.page(assessment_page)),
        Route("/assessment/export.{fmt}", c.page(assessment_export)),
        Route("/reports", c.page(reports_page)),
        Route("/reports/download.{fmt}", c.page(report_download)),
        Route("/accounts", c.page(accounts_page, need="accounts")),
        Route("/settings", c.page(settings_page, need="accounts")),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return c.render("error.html.j2", None, 404, message="没有这个页面。")

    app = Starlette(routes=routes, exception_handlers={404: not_found})
    app.add_middleware(SecurityHeaders)
    return app
