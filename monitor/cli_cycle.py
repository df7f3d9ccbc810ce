"""``sunlight cycle``: one full cycle (scan, record, letters, deliveries), as the daemon runs it.

Mounted by :mod:`sunlight.monitor.cli`, imported only when ``cycle`` runs.
"""

from __future__ import annotations

import datetime as dt

import typer

from sunlight.monitor.cli_common import (
    AtOpt,
    ConfigOpt,
    load_or_exit,
    open_state,
    parse_at,
    progress_totals,
    source_failure_line,
    store_failures,
)
from sunlight.monitor.console import table
from sunlight.monitor.cycle import deliver_report, run_cycle
from sunlight.monitor.engine import Engine
from sunlight.monitor.progress import terminal_progress

commands = typer.Typer()


@commands.command()
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


