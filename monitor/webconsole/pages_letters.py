"""The 预警函 pages: the list, a letter with its acts, downloads, and the unit's explanation."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import structlog
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from sunlight.alerts import lifecycle
from sunlight.alerts.render import Renderer, build_view
from sunlight.alerts.tiers import is_letter_tier
from sunlight.monitor.store.letters_models import LETTER_STATUSES, OPEN_STATUSES
from sunlight.monitor.webconsole import queries
from sunlight.monitor.webconsole.acts import BY_ACTION, STATEMENT, offers
from sunlight.monitor.webconsole.context import (
    DOCX,
    Ctx,
    Refused,
    attachment,
    export_response,
    limited,
    tiers_of,
)
from sunlight.monitor.webconsole.views import (
    ACTION_ZH,
    DELIVERY_ZH,
    STATUS_ZH,
    local,
    overdue_text,
)

log = structlog.get_logger("sunlight.console")
NOTE_MAX = 4000  # a reason or an explanation, as the audit log keeps it

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
    return ctx.render("letters.html.j2", page=page, flt=flt, units=units, tiers=tiers_of(ctx),
                      statuses=LETTER_STATUSES)


LETTER_HEADERS = ["编号", "等级", "主送", "状态", "发出日期", "整改期限", "签收", "整改报告", "办结"]


def letters_export(ctx: Ctx) -> Response:
    rows = limited(queries.iter_letters(ctx.store, _letter_filter(ctx), ctx.scope, ctx.tz))
    cells = ([x.number, ctx.tier(x.tier), x.recipient, STATUS_ZH.get(x.status, x.status),
              local(x.issued_at, ctx.tz, False), x.rectify_by.isoformat() if x.rectify_by else "",
              local(x.acknowledged_at, ctx.tz), local(x.report_received_at, ctx.tz),
              local(x.closed_at, ctx.tz)] for x in rows)
    return export_response(ctx, "预警函清单", LETTER_HEADERS, cells)


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
                      done=ACTION_ZH.get(done, None) if done in (*BY_ACTION, STATEMENT) else None,
                      is_letter=is_letter_tier(detail.letter.tier), overdue_text=overdue_text,
                      DELIVERY_ZH=DELIVERY_ZH, statement_open=detail.letter.status in OPEN_STATUSES,
                      min_until=_min_until(detail.letter))


def _min_until(letter: queries.Row) -> str:
    """The earliest date 延期 accepts (the day after the current rectification date)."""
    return (letter.rectify_by + dt.timedelta(days=1)).isoformat() if letter.rectify_by else ""


def letter_page(ctx: Ctx) -> Response:
    return _letter_response(ctx, _detail(ctx))


def letter_download(ctx: Ctx) -> Response:
    detail = _detail(ctx)
    view = build_view(ctx.settings, detail.letter, detail.findings, detail.cites)
    fmt = ctx.request.path_params["fmt"]
    name = re.sub(r"[〔〕]", "", detail.letter.number)
    log.info("console letter download", username=ctx.user.username, letter=detail.letter.number,
             format=fmt)
    renderer = Renderer(ctx.settings)
    if fmt == "docx":
        return Response(renderer.docx(view), media_type=DOCX, headers=attachment(f"{name}.docx"))
    if fmt == "html":
        return Response(renderer.html(view), media_type="text/html; charset=utf-8",
                        headers=attachment(f"{name}.html") | {"Content-Security-Policy": "sandbox"})
    raise Refused(404, "只能下载 DOCX 或 HTML")


def letter_act(ctx: Ctx) -> Response:
    """One act button: its inputs, then :func:`lifecycle.apply_act` with the logged-in account as actor."""
    detail = _detail(ctx)
    action = ctx.request.path_params["action"]
    button = BY_ACTION.get(action)
    if button is None or action not in lifecycle.ACTIONS:
        raise Refused(404, "没有这项操作")
    if ctx.user.role not in button.roles:
        raise Refused(403, f"您的账户无权{button.label}")
    assert ctx.form is not None
    note = str(ctx.form.get("note") or "").strip()[:NOTE_MAX] or None
    if button.note_required and not note:
        return _letter_response(ctx, detail, 400, f"{button.label}须填写{button.note}")
    until = None
    if button.until:
        try:
            until = dt.date.fromisoformat(str(ctx.form.get("until") or ""))
        except ValueError:
            return _letter_response(ctx, detail, 400, "请填写延长后的整改期限（年-月-日）")
    finding = None
    if button.finding:
        finding = str(ctx.form.get("finding") or "").strip()
        if not any(link.fingerprint == finding for link in detail.findings):
            return _letter_response(ctx, detail, 400, "请选择核实不予追究的问题")
    file_label, report = None, None
    max_bytes = ctx.settings.letters.report_max_bytes
    if button.file:
        upload = ctx.form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return _letter_response(ctx, detail, 400, "请选择整改报告文件")
        content = upload.file.read(max_bytes + 1)  # one byte over: apply_act refuses it with the limit
        if not content:
            return _letter_response(ctx, detail, 400, "整改报告文件为空")
        name = Path(upload.filename).name[:200] or "整改报告"
        file_label = f"{name} sha256:{hashlib.sha256(content).hexdigest()}"
        report = lifecycle.ReportFile(name, content)
    act = lifecycle.Act(action, ctx.user.username, note, file_label, report=report, finding=finding,
                        until=until)
    try:
        lifecycle.apply_act(ctx.store, str(detail.letter.id), act, max_report_bytes=max_bytes)
    except (lifecycle.TransitionError, lifecycle.LetterNotFound) as exc:
        status = 413 if report is not None and len(report.content) > max_bytes else 409
        return _letter_response(ctx, _detail(ctx), status, str(exc))
    log.info("console act", username=ctx.user.username, letter=detail.letter.number, action=action)
    return RedirectResponse(f"/letters/{detail.letter.id}?done={action}", status_code=303)


def letter_statement(ctx: Ctx) -> Response:
    """The unit's written explanation (情况说明): recorded in the letter's audit log, status unchanged.

    The office then weighs it: 核实不予追究 (the lifecycle's ``explain``) for a
    finding it accepts, or the letter goes on.
    """
    detail = _detail(ctx)
    assert ctx.form is not None
    note = str(ctx.form.get("note") or "").strip()
    if not note:
        return _letter_response(ctx, detail, 400, "请填写情况说明")
    if not is_letter_tier(detail.letter.tier) or detail.letter.status not in OPEN_STATUSES:
        return _letter_response(ctx, detail, 409, f"{detail.letter.number} 当前不接受情况说明")
    with ctx.store.begin() as conn:
        lifecycle.audit(conn, dt.datetime.now(dt.UTC), ctx.user.username, STATEMENT, detail.letter.id,
                        detail.letter.status, detail.letter.status, note[:NOTE_MAX])
    log.info("console act", username=ctx.user.username, letter=detail.letter.number, action=STATEMENT)
    return RedirectResponse(f"/letters/{detail.letter.id}?done={STATEMENT}", status_code=303)


def letter_report_download(ctx: Ctx) -> Response:
    """A rectification report kept in the state store, for whoever may see the letter."""
    row = queries.letter_report(ctx.store, int(ctx.request.path_params["id"]),
                                int(ctx.request.path_params["report"]), ctx.scope)
    if row is None:
        raise Refused(404, "没有这份整改报告，或您无权查看。")
    log.info("console report download", username=ctx.user.username, letter_id=row.letter_id,
             report_id=row.id)
    return Response(row.content, media_type="application/octet-stream",
                    headers=attachment(row.filename) | {"Content-Security-Policy": "sandbox"})
