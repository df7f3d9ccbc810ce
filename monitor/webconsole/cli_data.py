"""``sunlight findings list``, ``sunlight units show`` and ``sunlight report monthly|quarterly``.

The console's data for scripts: read from the state store (never the
sources, except for unit names), through the same queries and report
builder as the pages, so a script and the console agree.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from sqlalchemy.engine import Engine

from sunlight.monitor.cli_common import (
    AtOpt,
    ConfigOpt,
    fail,
    load_or_exit,
    open_state,
    parse_at,
    store_failures,
)
from sunlight.monitor.console import table
from sunlight.monitor.engine import Engine as ScanEngine
from sunlight.monitor.engine import unit_names
from sunlight.monitor.settings import Settings
from sunlight.monitor.webconsole import queries
from sunlight.monitor.webconsole.assessment import assess_many
from sunlight.monitor.webconsole.exports import csv_chunks
from sunlight.monitor.webconsole.periods import Period, PeriodError, containing, parse_period
from sunlight.monitor.webconsole.reports import Report, build_report, report_docx, report_xlsx
from sunlight.monitor.webconsole.units import UnitDirectory
from sunlight.monitor.webconsole.views import STATUS_ZH, check_titles, local, overdue_text, tier_labels

findings_app = typer.Typer(help="Findings recorded in the state store.", no_args_is_help=True)
units_app = typer.Typer(help="Units: their findings, letters and assessment.", no_args_is_help=True)
report_app = typer.Typer(help="Statistical reports (统计报表) as DOCX or XLSX.", no_args_is_help=True)



class FindingsFormat(StrEnum):
    table = "table"
    json = "json"  # one object per line
    csv = "csv"


class FindingState(StrEnum):
    open = "open"
    resolved = "resolved"


class ReportFormat(StrEnum):
    docx = "docx"
    xlsx = "xlsx"


def _read_only_store(config: Path) -> tuple[Settings, Engine]:
    """These commands only look: the store is opened read-only (no migration, a read-only file works)."""
    settings = load_or_exit(config)
    return settings, open_state(settings, read_only=True)


def _directory(settings: Settings) -> tuple[UnitDirectory, ScanEngine | None]:
    """Unit names from the letters and, when the sources can be opened, their units tables."""
    try:
        engine = ScanEngine(settings)
    except Exception:  # a source that cannot be opened: names from the letters only
        return UnitDirectory(), None
    return UnitDirectory(unit_names(engine)), engine


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option}: {value!r} is not a date (e.g. 2026-11-01)", 2) from None


@findings_app.command("list")
def findings_list(
    config: ConfigOpt,
    check: Annotated[str | None, typer.Option(help="only this check id")] = None,
    unit: Annotated[str | None, typer.Option(help="only this unit id")] = None,
    tier: Annotated[str | None, typer.Option(help="only this tier (level1, level2, level3, ...)")] = None,
    state: Annotated[FindingState | None, typer.Option(help="open or resolved")] = None,
    source: Annotated[str | None, typer.Option(help="only this source")] = None,
    since: Annotated[str | None, typer.Option(help="first seen on or after this date")] = None,
    until: Annotated[str | None, typer.Option(help="first seen on or before this date")] = None,
    limit: Annotated[int, typer.Option(help="at most this many (0: all)")] = 0,
    fmt: Annotated[FindingsFormat, typer.Option("--format", help="json is one object per line")]
    = FindingsFormat.table,
) -> None:
    """Findings from the store, newest first."""
    flt = queries.FindingFilter(check=check, unit=unit, tier=tier, state=state.value if state else None,
                                source=source, since=_date(since, "--since"), until=_date(until, "--until"))
    settings, store = _read_only_store(config)
    with store_failures(settings):
        _findings_list(settings, store, flt, limit, fmt)


def _findings_list(settings: Settings, store: Engine, flt: queries.FindingFilter, limit: int,
                   fmt: FindingsFormat) -> None:
    rows: Iterable[Any] = queries.iter_findings(store, flt, None, settings.tz)
    if limit > 0:
        rows = (r for i, r in zip(range(limit), rows, strict=False))
    tz = settings.tz
    directory, engine = _directory(settings)
    titles = check_titles()
    try:
        if fmt is FindingsFormat.json:
            for r in rows:
                sys.stdout.write(orjson.dumps({
                    "id": r.id, "fingerprint": r.fingerprint, "check": r.check_id, "subject": r.subject,
                    "unit_id": r.unit_id, "unit_name": directory.name(store, r.unit_id), "source": r.source,
                    "tier": r.tier, "summary": r.summary,
                    "deadline": r.deadline.astimezone(tz).isoformat() if r.deadline else None,
                    "overdue": float(r.overdue) if r.overdue is not None else None, "measure": r.measure,
                    "first_seen": r.first_seen.astimezone(tz).isoformat(),
                    "resolved_at": r.resolved_at.astimezone(tz).isoformat() if r.resolved_at else None,
                    "evidence": r.evidence}).decode() + "\n")
            return
        headers = ["ID", "检查项", "单位", "对象", "等级", "期限", "超期", "首次发现", "状态", "摘要"]
        cells = ([r.id, titles.get(r.check_id, r.check_id), directory.name(store, r.unit_id), r.subject,
                  settings.tiers.labels.get(r.tier, r.tier), local(r.deadline, tz, False),
                  overdue_text(r.overdue, r.measure), local(r.first_seen, tz, False),
                  "已解除" if r.resolved_at else "未解除", r.summary] for r in rows)
        if fmt is FindingsFormat.csv:
            for chunk in csv_chunks(headers, cells):
                sys.stdout.buffer.write(chunk)
            return
        shown = list(cells)
        typer.echo(table(headers, shown))
        typer.echo(f"\n共 {len(shown)} 项。")
    finally:
        if engine is not None:
            engine.close()


@units_app.command("show")
def units_show(config: ConfigOpt, unit: Annotated[str, typer.Argument(help="the unit id")],
               at: AtOpt = None) -> None:
    """One unit: open findings by tier, its letters, and its assessment over the last six months."""
    settings, store = _read_only_store(config)
    now = parse_at(at, settings.tz).astimezone(dt.UTC)
    with store_failures(settings):
        _units_show(settings, store, unit, now)


def _units_show(settings: Settings, store: Engine, unit: str, now: dt.datetime) -> None:
    if unit not in queries.unit_ids(store):
        raise fail(f"状态库中没有单位 {unit} 的记录", 1)
    directory, engine = _directory(settings)
    try:
        name = directory.name(store, unit)
    finally:
        if engine is not None:
            engine.close()
    tz = settings.tz
    ov = queries.overview(store, unit, tz, now, weeks=1)
    typer.echo(f"{name}（{unit}）")
    labels = tier_labels(settings.tiers.labels)
    typer.echo("未解除的发现：" + ("，".join(f"{labels.get(t, t)} {n} 项"
                                       for t, n in sorted(ov.open_by_tier.items())) or "无"))
    letters = list(queries.iter_letters(store, queries.LetterFilter(unit=unit), None, tz))
    typer.echo(f"\n预警函 {len(letters)} 件：")
    typer.echo(table(["编号", "等级", "状态", "发出", "整改期限"], [
        [x.number, settings.tiers.labels.get(x.tier, x.tier), STATUS_ZH.get(x.status, x.status),
         local(x.issued_at, tz, False), x.rectify_by.isoformat() if x.rectify_by else ""] for x in letters]))
    typer.echo("\n绩效评估（近六个月）：")
    periods = [containing("month", now.astimezone(tz).date())]
    for _ in range(5):
        periods.insert(0, periods[0].previous())
    units = queries.unit_ids(store)
    lines = []
    for period, rows in zip(periods, assess_many(store, periods, tz, now.astimezone(tz).date(),
                                                 settings.console.assessment, units), strict=True):
        row = next(r for r in rows if r.unit_id == unit)
        lines.append([period.label, row.now.score.total, f"{row.now.rank}/{len(units)}",
                      sum(row.now.counts.findings.values())])
    typer.echo(table(["期间", "得分", "名次", "新发现问题"], lines))


def _write_report(config: Path, period_value: str, fmt: ReportFormat, out: Path | None, kind: str,
                  at: str | None) -> None:
    try:
        period = parse_period(period_value)
    except PeriodError as exc:
        raise fail(str(exc), 2) from None
    if period.kind != kind:
        raise fail(f"{period_value!r} is not a {kind}", 2)
    settings, store = _read_only_store(config)
    today = parse_at(at, settings.tz).date()
    with store_failures(settings):
        rep = _build(settings, store, period, today)
    data = report_docx(rep) if fmt is ReportFormat.docx else report_xlsx(rep)
    target = out or Path(f"{rep.title}.{fmt.value}")
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise fail(f"不能写入 {target}：{exc.strerror}", 1) from None
    typer.echo(f"已生成 {rep.title}：{target}")


def _build(settings: Settings, store: Engine, period: Period, today: dt.date) -> Report:
    directory, engine = _directory(settings)
    try:
        return build_report(store, period, settings.tz, today, settings.letters.issuer,
                            tier_labels(settings.tiers.labels), check_titles(),
                            lambda ids: directory.names(store, ids))
    finally:
        if engine is not None:
            engine.close()


OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="the file to write (default: the title)")]
FmtOpt = Annotated[ReportFormat, typer.Option("--format", help="the file's format")]


@report_app.command("monthly")
def report_monthly(config: ConfigOpt, month: Annotated[str, typer.Option(help="e.g. 2026-11")],
                   fmt: FmtOpt = ReportFormat.docx, out: OutOpt = None, at: AtOpt = None) -> None:
    """The monthly report: counts by tier, check and unit, letters, rectification and on-time rates."""
    _write_report(config, month, fmt, out, "month", at)


@report_app.command("quarterly")
def report_quarterly(config: ConfigOpt, quarter: Annotated[str, typer.Option(help="e.g. 2026-Q4")],
                     fmt: FmtOpt = ReportFormat.docx, out: OutOpt = None, at: AtOpt = None) -> None:
    """The quarterly report, as the monthly one."""
    _write_report(config, quarter, fmt, out, "quarter", at)
