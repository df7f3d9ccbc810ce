"""``sunlight``: the one command line (Typer), the top of the layers.

Each layer owns its commands (the letters workflow is :mod:`sunlight.alerts.cli`);
this module mounts them and holds the commands that run the pipeline: scan,
cycle, run, config, calendar, db, demo. Exit codes are those of
:mod:`sunlight.monitor.cli_common`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from sunlight.alerts.cli import audit_app, letters_app
from sunlight.checks.base import Finding
from sunlight.checks.registry import CheckParams, UnknownCheckError, load_all
from sunlight.monitor import logs
from sunlight.monitor.calendar import CalendarError, WorkCalendar
from sunlight.monitor.cli_common import (
    AtOpt,
    ConfigOpt,
    OutputFormat,
    fail,
    load_or_exit,
    open_state,
    parse_at,
    progress_totals,
    store_failures,
)
from sunlight.monitor.clock import UNIT_ZH, LimitUnit, compute_deadline, trace
from sunlight.monitor.console import table
from sunlight.monitor.cycle import deliver_report, run_cycle, unit_names
from sunlight.monitor.daemon import run as run_daemon
from sunlight.monitor.demo.run import run_demo
from sunlight.monitor.engine import Engine, SourceOutcome, scan_and_record
from sunlight.monitor.progress import terminal_progress
from sunlight.monitor.sources import safe_url
from sunlight.monitor.store.db import current_revision, masked
from sunlight.monitor.webconsole.cli_data import findings_app, report_app, units_app
from sunlight.monitor.webconsole.cli_users import users_app

app = typer.Typer(
    name="sunlight",
    help="sunlight 电子监察: reads approval, disclosure, finance and meeting databases "
    "(read-only) and raises tiered warning letters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Validate configuration.", no_args_is_help=True)
calendar_app = typer.Typer(help="Working-day calendar and deadlines.", no_args_is_help=True)
db_app = typer.Typer(help="The state store (findings, letters, outbox).", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(calendar_app, name="calendar")
app.add_typer(db_app, name="db")
app.add_typer(letters_app, name="letters")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.add_typer(findings_app, name="findings")
app.add_typer(units_app, name="units")
app.add_typer(report_app, name="report")


class _LogChoice:
    """What the global options asked for; ``run`` raises the default level to INFO."""

    level: logs.LogLevel | None = None
    json: bool | None = None


@app.callback()
def _main(
    log_level: Annotated[logs.LogLevel | None, typer.Option(
        help="log level (default: INFO for run, WARNING for the other commands)")] = None,
    log_json: Annotated[bool | None, typer.Option("--log-json/--log-console",
                                                  help="log format (default: JSON unless a TTY)")]
    = None,
) -> None:
    _LogChoice.level, _LogChoice.json = log_level, log_json
    logs.configure(log_level or logs.LogLevel.WARNING, log_json)


# --- scan ----------------------------------------------------------------------


@app.command()
def scan(
    config: ConfigOpt,
    at: AtOpt = None,
    check: Annotated[list[str] | None, typer.Option("--check", help="only this check (repeatable)")]
    = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="json: one object per line")]
    = OutputFormat.table,
    record: Annotated[bool, typer.Option(help="record the findings in the state store")] = False,
) -> None:
    """One evaluation: print the findings; deliver nothing."""
    settings = load_or_exit(config)
    when = parse_at(at, settings.tz)
    try:
        engine = Engine(settings, only=check)
    except UnknownCheckError as exc:
        raise fail(f"--check: {exc}", 2) from None
    rows: list[Finding] = []
    lookup = unit_names(engine)
    names: dict[str, str | None] = {}

    def name_of(unit_id: str) -> str | None:
        """A unit's name for the JSON line, read once per unit (the units tables are small)."""
        if unit_id not in names:
            names[unit_id] = lookup([unit_id]).get(unit_id) if unit_id else None
        return names[unit_id]

    def _line_writer() -> Callable[[Finding], object]:
        """One finding's JSON line onto stdout: as bytes when stdout has a byte stream (a pipe,
        a file), the UTF-8 text stream otherwise."""
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is not None:
            return lambda f: buffer.write(f.to_json_bytes(name_of(f.unit_id)))
        return lambda f: sys.stdout.write(f.to_json_line(name_of(f.unit_id)))

    sys.stdout.flush()  # JSON lines go to the byte stream below the text one: nothing pending
    write_line = _line_writer()

    def sink(f: Finding) -> None:
        if fmt is OutputFormat.json:
            try:
                write_line(f)
            except BrokenPipeError:
                # the reader went away (`scan ... | head`): stop quietly, as Unix tools do.
                # SystemExit is not an Exception, so the engine does not count it as a
                # failed check; the engine and the store are still closed on the way out.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise SystemExit(0) from None
        else:
            rows.append(f)

    try:
        store = open_state(settings) if record else None
        # rows read and the time left, on a terminal only (never in a pipe or --format json)
        with terminal_progress(progress_totals(settings, engine.sources, store)) as progress:
            engine.progress = progress.rows if progress is not None else None
            if store is not None:
                with store_failures(settings):
                    outcomes = scan_and_record(engine, store, when, sink,
                                               wait=settings.state.claim_wait.total_seconds())
            else:
                outcomes = engine.scan(when, sink)
    finally:
        engine.close()
    if fmt is OutputFormat.table:
        seen = {u: info.name for o in outcomes for u, info in o.units.items()}
        rows.sort(key=lambda f: (f.check, f.unit_id, f.subject))
        typer.echo(table(
            ["检查项", "单位", "对象", "等级", "期限", "超期", "摘要"],
            [[f.check, seen.get(f.unit_id, f.unit_id), f.subject, settings.tiers.label(f.tier),
              (f.deadline.strftime("%Y-%m-%d") + ("*" if f.calendar_uncovered else ""))
              if f.deadline else "",
              "" if f.overdue is None else f"{f.overdue}", f.summary] for f in rows],
        ))
        total = sum(sum(o.findings.values()) for o in outcomes)
        typer.echo(f"\n截至 {when:%Y-%m-%d %H:%M}（{settings.timezone}）共 {total} 项发现。")
        if any(f.calendar_uncovered for f in rows):
            typer.echo("* 期限经过节假日安排未覆盖的年份，按周一至周五推定；"
                       "请在 calendar.overrides 中补充该年国务院办公厅通知。")
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        typer.echo(source_failure_line(o), err=True)
    if failed:
        raise typer.Exit(1)


def source_failure_line(outcome: SourceOutcome) -> str:
    """The one line for a source a command could not evaluate."""
    if outcome.claimed_elsewhere:  # not a failure of the source: another process holds it
        return (f"数据源正由另一进程检查，本次已跳过 (another process is scanning source "
                f"{outcome.source}; skipped after waiting state.claim_wait)")
    return f"数据源读取失败 (source failed): {outcome.error}"


# --- cycle -----------------------------------------------------------------------


@app.command()
def cycle(config: ConfigOpt, at: AtOpt = None) -> None:
    """One full cycle: scan, record findings, issue and escalate letters, deliver."""
    settings = load_or_exit(config)
    when = parse_at(at, settings.tz)
    engine = Engine(settings)
    wait = settings.state.claim_wait.total_seconds()  # for another process on the same source
    try:
        store = open_state(settings)
        # rows read, then letters created, on a terminal only
        with store_failures(settings), \
                terminal_progress(progress_totals(settings, engine.sources, store)) as progress:
            engine.progress = progress.rows if progress is not None else None
            report = run_cycle(engine, store, settings, when, wait=wait,
                               letters_progress=progress.letters if progress is not None else None)
    finally:
        engine.close()
    with store_failures(settings):
        sent = deliver_report(store, settings, dt.datetime.now(dt.UTC), wait=wait)
    typer.echo(f"截至 {when:%Y-%m-%d %H:%M}（{settings.timezone}）："
               f"发现 {sum(sum(o.findings.values()) for o in report.outcomes)} 项，"
               f"发出 {len(report.letters)} 件，升级 {len(report.letters_escalated)} 件。")
    if report.letters:
        typer.echo(table(
            ["编号", "等级", "主送", "事项", "整改期限", "说明", "投递渠道"],
            [[x.number, settings.tiers.label(x.tier), x.recipient, x.findings,
              x.rectify_by.isoformat() if x.rectify_by else "",
              {"new": "", "repeat": "重复预警从重", "escalation": f"由{x.cites}升级",
               "periodic": "定期预警"}.get(x.reason, ""),
              ", ".join(x.channels) or "（无路由，未投递）"] for x in report.letters],
        ))
    for number in report.letters_overdue:
        if number not in report.letters_escalated:
            typer.echo(f"逾期未落实整改要求、未升级（一级预警函无更高等级，或问题均已整改而缺书面报告、"
                       f"诫勉谈话），请办理：{number}")
    typer.echo(f"投递 deliveries：成功 {len(sent.delivered)}，待重试 {len(sent.failed)}，"
               f"失败（不再重试）{len(sent.dead)}")
    if sent.skipped:
        typer.echo("另一进程正在投递，本次未投递 (another process is delivering; it sends what is due)")
    for key, error in sent.failed + sent.dead:
        typer.echo(f"  {key}: {error}", err=True)
    failed = [o for o in report.outcomes if not o.ok]
    for o in failed:
        typer.echo(source_failure_line(o), err=True)
    if failed:
        raise typer.Exit(1)


# --- run -----------------------------------------------------------------------


@app.command()
def run(config: ConfigOpt) -> None:
    """The daemon: scheduled cycles, outbox delivery, /metrics and health on server.listen."""
    if _LogChoice.level is None:  # an operator expects the start, each cycle and each delivery run
        logs.configure(logs.LogLevel.INFO, _LogChoice.json)
    raise typer.Exit(run_daemon(config, load_or_exit(config)))


# --- config --------------------------------------------------------------------


@config_app.command("check")
def config_check(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="the sunlight YAML config file")]
    = None,
    file: Annotated[Path | None, typer.Argument(help="the config file (same as -c)", show_default=False)]
    = None,
) -> None:
    """Validate a config file and print what would run."""
    if (config is None) == (file is None):
        raise fail("config check: give the config file once, as -c FILE", 2)
    file = config or file
    assert file is not None
    settings = load_or_exit(file)
    typer.echo(f"配置有效 (config OK): {file}")
    typer.echo(f"时区 timezone: {settings.timezone}")
    typer.echo(f"状态库 state: {safe_url(settings.state_url())}")
    for name, src in settings.sources.items():
        mapped = ", ".join(sorted(src.entities)) or "canonical tables"
        typer.echo(f"数据源 source {name}: {safe_url(src.url.get_secret_value())} "
                   f"every {src.interval}; entities: {mapped}")
    typer.echo("检查项 checks:")
    for cid, cls in sorted(load_all().items()):
        params = CheckParams(cls, settings.checks)
        state = "on " if params.default.enabled else "off"
        shown = params.default.model_dump(exclude={"enabled"}, mode="json")
        extra = f" (+{len(params.overrides)} overrides)" if params.overrides else ""
        typer.echo(f"  [{state}] {cid:<32} {cls.title}  {json.dumps(shown, ensure_ascii=False)}"
                   f"{extra}")
    for path in settings.calendar.overrides:
        typer.echo(f"日历 calendar override: {settings.resolve(path)}")
    if settings.routes == "none":
        typer.echo("警告 warning: routes: none — 预警函只保存在状态库中，不投递给任何人 "
                   "(letters are issued and kept, delivered to nobody)", err=True)


# --- calendar ------------------------------------------------------------------


@calendar_app.command("due")
def calendar_due(
    start: Annotated[str, typer.Argument(help="acceptance date or date-time (ISO)")],
    n: Annotated[str, typer.Argument(help="the limit, e.g. 5")],
    unit: Annotated[LimitUnit, typer.Option(help="the unit of the limit")] = LimitUnit.workday,
    config: Annotated[Path | None, typer.Option("--config", "-c",
                                                help="use this config's calendar overrides")] = None,
    override: Annotated[list[Path] | None, typer.Option(help="a calendar override file")] = None,
    timezone: Annotated[str, typer.Option(help="time zone when no config is given")]
    = "Asia/Shanghai",
) -> None:
    """Print the deadline and every day that did not count, with the reason."""
    limit_unit = unit
    try:
        limit = Decimal(n)
    except InvalidOperation:
        raise fail(f"N must be a number, not {n!r}", 2) from None
    paths = list(override or [])
    tz: dt.tzinfo = ZoneInfo(timezone)
    if config is not None:
        settings = load_or_exit(config)
        paths += [settings.resolve(p) for p in settings.calendar.overrides]
        tz = settings.tz
    try:
        cal = WorkCalendar.from_files(paths)
    except CalendarError as exc:
        raise fail(f"日历错误 (calendar error): {exc}", 2) from None
    begin = parse_at(start, tz)
    deadline = compute_deadline(begin, limit, limit_unit, cal)
    assert deadline.display is not None
    typer.echo(f"起算 start:    {begin.isoformat()}（受理当日不计）")
    typer.echo(f"时限 limit:    {limit}{UNIT_ZH[limit_unit]}")
    typer.echo(f"期限 deadline: {deadline.display.isoformat()}")
    if deadline.rolled_from:
        typer.echo(f"顺延 rolled:   {deadline.rolled_from} 非工作日，顺延至 {deadline.due_date}")
    skipped = trace(begin, deadline, cal)
    if skipped:
        typer.echo("不计入/特别说明的日期 skipped or notable days:")
        for s in skipped:
            typer.echo(f"  {s.date.isoformat()} {'一二三四五六日'[s.date.weekday()]} {s.reason}")
    if deadline.uncovered:
        typer.echo("警告 warning: 期限经过日历未覆盖的年份，已按周一至周五推定，"
                   "请在 config/calendar/ 中补充该年节假日安排。", err=True)


# --- db ------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt) -> None:
    """Create or migrate the state store to the current schema."""
    settings = load_or_exit(config)
    engine = open_state(settings, migrate=True)
    with store_failures(settings):
        revision = current_revision(engine)
    typer.echo(f"状态库已升级 (state store at revision {revision}): {masked(settings.state_url())}")


# --- demo ----------------------------------------------------------------------


@app.command()
def demo(
    folder: Annotated[Path, typer.Option("--dir", help="working folder for the demo")]
    = Path("sunlight-demo"),
    at: Annotated[str, typer.Option(help="evaluate as of this time")] = "2026-11-16T09:00:00",
    serve: Annotated[bool, typer.Option(help="keep the daemon and its HTTP endpoints running")]
    = False,
    replace: Annotated[bool, typer.Option(
        help="overwrite a folder that already holds a config or state store (says what it replaces)")]
    = False,
    listen: Annotated[str, typer.Option(help="host:port of the daemon's HTTP endpoint (--serve)")]
    = "127.0.0.1:9464",
) -> None:
    """Build sample databases and a config in a folder, run one cycle, print a summary.

    A folder that already holds a config or a state store is refused (exit 2)
    unless --replace is given.
    """
    code = run_demo(folder, at, serve=serve, replace=replace, listen=listen)
    raise typer.Exit(code)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
