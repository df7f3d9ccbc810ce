"""The console's pages other than the letters': 总览, 发现, 单位, 绩效评估, 统计报表, 账户, 配置."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import structlog
from starlette.responses import Response

from sunlight.checks.registry import CheckParams, load_all
from sunlight.monitor.sources import safe_url
from sunlight.monitor.webconsole import charts, queries
from sunlight.monitor.webconsole.accounts import (
    list_users,
)
from sunlight.monitor.webconsole.assessment import assess, assess_many
from sunlight.monitor.webconsole.context import (
    DOCX,
    XLSX,
    Ctx,
    Refused,
    attachment,
    export_response,
    limited,
    tiers_of,
)
from sunlight.monitor.webconsole.exports import Cell
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
from sunlight.monitor.webconsole.views import (
    evidence_view,
    local,
    overdue_text,
    tier_labels,
)

log = structlog.get_logger("sunlight.console")



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
                      coverage=coverage, tiers=tiers_of(ctx))




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
                      sources=sources, tiers=tiers_of(ctx), overdue_text=overdue_text,
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


def findings_export(ctx: Ctx) -> Response:
    flt = _finding_filter(ctx)
    rows = limited(queries.iter_findings(ctx.store, flt, ctx.scope, ctx.tz))
    return export_response(ctx, "发现清单", FINDING_HEADERS, _finding_cells(ctx, rows))


def finding_page(ctx: Ctx) -> Response:
    row = queries.finding(ctx.store, int(ctx.request.path_params["id"]), ctx.scope)
    if row is None:
        raise Refused(404, "没有这条发现，或您无权查看。")
    ev = evidence_view(row.evidence or {})
    letters = queries.letters_of_finding(ctx.store, row.id)
    return ctx.render("finding.html.j2", f=row, ev=ev, letters=letters, overdue_text=overdue_text)


def units_page(ctx: Ctx) -> Response:
    ids = [ctx.scope] if ctx.scope else ctx.console.unit_ids(ctx.store)
    names = ctx.names(ids)
    open_by_unit = queries.open_by_unit(ctx.store, ctx.scope)
    rows = sorted(((u, names.get(u, u), open_by_unit.get(u, {})) for u in ids),
                  key=lambda t: (-sum(t[2].values()), t[1]))
    return ctx.render("units.html.j2", rows=rows, tiers=tiers_of(ctx))


def units_export(ctx: Ctx) -> Response:
    ids = [ctx.scope] if ctx.scope else ctx.console.unit_ids(ctx.store)
    names = ctx.names(ids)
    per = queries.open_by_unit(ctx.store, ctx.scope)
    tiers = tiers_of(ctx)
    return export_response(ctx, "单位清单", ["单位", *[f"未解除{ctx.tier(t)}" for t in tiers], "合计"],
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
                      rule=ctx.settings.console.assessment, tiers=tiers_of(ctx))


def assessment_export(ctx: Ctx) -> Response:
    period = _period(ctx)
    rows = _assessment(ctx, period)
    names = ctx.names(r.unit_id for r in rows)
    return export_response(ctx, f"绩效评估-{period.key}",
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
        return Response(report_docx(rep), media_type=DOCX, headers=attachment(f"{rep.title}.docx"))
    if fmt == "xlsx":
        return Response(report_xlsx(rep), media_type=XLSX, headers=attachment(f"{rep.title}.xlsx"))
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
                      channels=sorted(s.channels), tiers=tiers_of(ctx))


