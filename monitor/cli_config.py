"""``sunlight config``, ``calendar`` and ``db``: the commands around a config and its store.

Mounted by :mod:`sunlight.monitor.cli`, imported only when one of them runs.
``config check`` validates (every section's cross-checks, through
:mod:`sunlight.monitor.configure`) without reading a source; ``db upgrade``
loads Alembic to migrate (as a writing command does when it creates a new store).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from sunlight.checks.registry import CheckParams, load_all
from sunlight.monitor.calendar import CalendarError, WorkCalendar
from sunlight.monitor.cli_common import ConfigOpt, fail, load_or_exit, open_state, parse_at, store_failures
from sunlight.monitor.clock import UNIT_ZH, LimitUnit, compute_deadline, trace
from sunlight.monitor.sources import safe_url
from sunlight.monitor.store.db import current_revision, masked

config_app = typer.Typer(help="Validate configuration.", no_args_is_help=True)
calendar_app = typer.Typer(help="Working-day calendar and deadlines.", no_args_is_help=True)
db_app = typer.Typer(help="The state store (findings, letters, outbox).", no_args_is_help=True)


# --- config ---------------------------------------------------------------------


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


# --- calendar -------------------------------------------------------------------


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


# --- db -------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt) -> None:
    """Create or migrate the state store to the current schema."""
    settings = load_or_exit(config)
    engine = open_state(settings, migrate=True)
    with store_failures(settings):
        revision = current_revision(engine)
    typer.echo(f"状态库已升级 (state store at revision {revision}): {masked(settings.state_url())}")
