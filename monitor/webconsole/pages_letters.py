"""The 预警函 pages: the list, a letter with its acts, downloads, and the unit's explanation."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any

import structlog
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from sunlight.alerts import lifecycle
from sunlight.alerts.render import Renderer, build_view, render_docx
from sunlight.alerts.tiers import is_letter_tier
from sunlight.monitor.store.letters_models import LETTER_STATUSES
from sunlight.monitor.webconsole import queries
from sunlight.monitor.webconsole.acts import BY_ACTION, EXPLAIN, offers
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
    STATUS_ZH,
    local,
    overdue_text,
)

log = structlog.get_logger("sunlight.console")

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
        return Response(render_docx(view), media_type=DOCX, headers=attachment(f"{name}.docx"))
    if fmt == "html":
        return Response(Renderer(ctx.settings).html(view), media_type="text/html; charset=utf-8",
                        headers=attachment(f"{name}.html") | {"Content-Security-Policy": "sandbox"})
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


