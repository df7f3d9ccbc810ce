"""``sunlight``: the one command line (Typer).

Exit codes: 0 done (with or without findings); 1 a failure prevented the work
(a source could not be read, ...); 2 the config is bad (the message names the
file, the key path and the problem).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from sunlight.monitor import logs
from sunlight.monitor.progress import terminal_progress
from sunlight.monitor.settings import ConfigError, Settings, load_settings

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

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="the sunlight YAML config file")]


def fail(message: str, code: int) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def load_or_exit(path: Path) -> Settings:
    """Load the config; on any problem print it and exit 2 (bad config never runs)."""
    try:
        return load_settings(path)
    except ConfigError as exc:
        raise fail(f"配置错误 (config error): {exc}", 2) from None


def parse_at(value: str | None, tz: dt.tzinfo) -> dt.datetime:
    """``--at``: ISO date or date-time; naive values are in the configured zone.

    A bare date means the start of that day (00:00).
    """
    if value is None:
        return dt.datetime.now(tz)
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--at: {value!r} is not an ISO date or date-time (e.g. 2026-10-10T09:00)",
                   2) from None
    return t.replace(tzinfo=tz) if t.tzinfo is None else t.astimezone(tz)


@app.callback()
def _main(
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ERROR")] = "WARNING",
    log_json: Annotated[bool | None, typer.Option("--log-json/--log-console",
                                                  help="log format (default: JSON unless a TTY)")]
    = None,
) -> None:
    logs.configure(log_level, log_json)


# --- scan ----------------------------------------------------------------------


@app.command()
def scan(
    config: ConfigOpt,
    at: Annotated[str | None, typer.Option(help="evaluate as of this time (ISO); default now")]
    = None,
    check: Annotated[list[str] | None, typer.Option("--check", help="only this check (repeatable)")]
    = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json (one object per line)")]
    = "table",
    record: Annotated[bool, typer.Option(help="record the findings in the state store")] = False,
) -> None:
    """One evaluation: print the findings; deliver nothing."""
    from sunlight.monitor.console import table
    from sunlight.monitor.engine import Engine, scan_and_record

    settings = load_or_exit(config)
    if fmt not in ("table", "json"):
        raise fail("--format must be 'table' or 'json'", 2)
    when = parse_at(at, settings.tz)
    try:
        engine = Engine(settings, only=check)
    except KeyError as exc:
        raise fail(f"--check: unknown check {exc.args[0]}", 2) from None
    rows: list = []

    def sink(f):
        if fmt == "json":
            try:
                sys.stdout.write(f.to_json_line())
            except BrokenPipeError:
                # the reader went away (`scan ... | head`): stop quietly, as Unix tools do.
                # SystemExit is not an Exception, so the engine does not count it as a
                # failed check; the engine and the store are still closed on the way out.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise SystemExit(0) from None
        else:
            rows.append(f)

    try:
        with terminal_progress() as progress:
            engine.progress = progress
            if record:
                from sunlight.monitor.store import open_store

                store = open_store(settings.state_url())
                outcomes = scan_and_record(engine, store, when, sink)
            else:
                outcomes = engine.scan(when, sink)
    finally:
        engine.close()
    if fmt == "table":
        rows.sort(key=lambda f: (f.check, f.unit_id, f.subject))
        typer.echo(table(
            ["检查项", "单位", "对象", "等级", "期限", "超期", "摘要"],
            [[f.check, f.unit_id, f.subject, settings.tiers.labels.get(f.tier, f.tier),
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
        typer.echo(f"数据源读取失败 (source failed): {o.error}", err=True)
    if failed:
        raise typer.Exit(1)


# --- run -----------------------------------------------------------------------


@app.command()
def run(config: ConfigOpt) -> None:
    """The daemon: scheduled cycles, outbox delivery, /metrics and health on server.listen."""
    from sunlight.monitor.daemon import run as run_daemon

    raise typer.Exit(run_daemon(config, load_or_exit(config)))


# --- config --------------------------------------------------------------------


@config_app.command("check")
def config_check(file: Annotated[Path, typer.Argument(help="the config file")]) -> None:
    """Validate a config file and print what would run."""
    from sunlight.checks.registry import CheckParams, load_all
    from sunlight.monitor.sources import safe_url

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


# --- calendar ------------------------------------------------------------------


@calendar_app.command("due")
def calendar_due(
    start: Annotated[str, typer.Argument(help="acceptance date or date-time (ISO)")],
    n: Annotated[str, typer.Argument(help="the limit, e.g. 5")],
    unit: Annotated[str, typer.Option(help="workday, day or hour")] = "workday",
    config: Annotated[Path | None, typer.Option("--config", "-c",
                                                help="use this config's calendar overrides")] = None,
    override: Annotated[list[Path] | None, typer.Option(help="a calendar override file")] = None,
    timezone: Annotated[str, typer.Option(help="time zone when no config is given")]
    = "Asia/Shanghai",
) -> None:
    """Print the deadline and every day that did not count, with the reason."""
    from decimal import Decimal, InvalidOperation
    from zoneinfo import ZoneInfo

    from sunlight.monitor.calendar import CalendarError, WorkCalendar
    from sunlight.monitor.clock import UNIT_ZH, LimitUnit, compute_deadline, trace

    try:
        limit_unit = LimitUnit(unit)
    except ValueError:
        raise fail("--unit must be workday, day or hour", 2) from None
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
    from sunlight.monitor.sources import safe_url
    from sunlight.monitor.store.db import create_state_engine, current_revision, upgrade

    settings = load_or_exit(config)
    url = settings.state_url()
    engine = create_state_engine(url)
    upgrade(engine)
    typer.echo(f"状态库已升级 (state store at revision {current_revision(engine)}): {safe_url(url)}")


# --- demo ----------------------------------------------------------------------


@app.command()
def demo(
    folder: Annotated[Path, typer.Option("--dir", help="working folder for the demo")]
    = Path("sunlight-demo"),
    at: Annotated[str, typer.Option(help="evaluate as of this time")] = "2026-11-16T09:00:00",
    serve: Annotated[bool, typer.Option(help="keep the daemon and its HTTP endpoints running")]
    = False,
) -> None:
    """Build sample databases and a config in a folder, run one cycle, print a summary."""
    from sunlight.monitor.demo.run import run_demo

    code = run_demo(folder, at, serve=serve)
    raise typer.Exit(code)


from sunlight.alerts.cli import register as _register_letters  # noqa: E402, I001 - imports this module lazily
_register_letters(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
