"""What every console request shares: the session guard, the request context, rendering, exports.

:meth:`Console.page` wraps each handler: it resumes the session from its
cookie (or redirects to the login page), checks the CSRF token of every
POST, checks the role, and runs the handler in the thread pool (the store is
synchronous SQLAlchemy). Handlers read through
:mod:`sunlight.monitor.webconsole.queries` with ``ctx.scope``, so a unit
liaison sees only its own unit whatever the URL says.
"""

from __future__ import annotations

import datetime as dt
import hmac
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
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.settings import Settings
from sunlight.monitor.webconsole import queries
from sunlight.monitor.webconsole.accounts import (
    ROLE_ZH,
    Session,
    authenticate,
    end_session,
    purge_sessions,
    resume_session,
    start_session,
)
from sunlight.monitor.webconsole.exports import Cell, csv_chunks, xlsx_bytes
from sunlight.monitor.webconsole.reports import (
    percent,
)
from sunlight.monitor.webconsole.units import UnitDirectory
from sunlight.monitor.webconsole.views import (
    ACTION_ZH,
    FINDING_STATE_ZH,
    STATUS_ZH,
    check_titles,
    local,
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
                limit = settings.letters.report_max_bytes  # the one upload: a rectification report
                if length > limit + 65536:
                    return self.render("error.html.j2", None, 413,
                                       message=f"上传的文件超过{limit / 1048576:.1f} MiB的上限。")
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




def limited(rows: Iterable[Any]) -> Iterable[Any]:
    for i, row in enumerate(rows):
        if i >= EXPORT_LIMIT:
            return
        yield row


def export_response(ctx: Ctx, name: str, headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Response:
    fmt = ctx.request.path_params["fmt"]
    stamp = ctx.now.astimezone(ctx.tz).strftime("%Y%m%d-%H%M")
    log.info("console export", username=ctx.user.username, list=name, format=fmt)
    if fmt == "csv":
        return StreamingResponse(csv_chunks(headers, rows), media_type="text/csv; charset=utf-8",
                                 headers=attachment(f"{name}-{stamp}.csv"))
    if fmt == "xlsx":
        return Response(xlsx_bytes([(name, headers, rows)]), media_type=XLSX,
                        headers=attachment(f"{name}-{stamp}.xlsx"))
    raise Refused(404, "只能导出为 CSV 或 XLSX")


def attachment(filename: str) -> dict[str, str]:
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                                   f"filename*=UTF-8''{quote(filename)}"}

def tiers_of(ctx: Ctx) -> list[str]:
    return [t for t in ("level1", "level2", "level3", "reminder") if t in ctx.settings.tiers.labels]
