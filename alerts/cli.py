"""``sunlight cycle`` and ``sunlight letters …``: the rectification workflow on the command line.

Exit codes as everywhere in sunlight: 0 done; 1 the act was refused or failed
(an invalid transition, an unknown letter, a source that could not be read);
2 the config is bad. Messages for the office are Chinese.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer

letters_app = typer.Typer(help="Warning letters (预警函): list, show and the rectification workflow.",
                          no_args_is_help=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="the sunlight YAML config file")]
LetterArg = Annotated[str, typer.Argument(help="the letter's number (监预〔2026〕17号) or its id")]
ByOpt = Annotated[str, typer.Option("--by", help="who acts (recorded in the audit log)")]
DELIVERY_ZH = {"pending": "待投递", "delivered": "已送达", "dead": "失败（不再重试）"}
NoteOpt = Annotated[str | None, typer.Option("--note", help="a remark for the audit log")]


def register(app: typer.Typer) -> None:
    """Add ``cycle`` and ``letters`` to the main app (monitor/cli.py calls this)."""
    app.command("cycle")(cycle)
    app.add_typer(letters_app, name="letters")


def _settings_and_store(config: Path) -> tuple[Any, sa.Engine]:
    from sunlight.monitor.cli import load_or_exit
    from sunlight.monitor.store import open_store

    settings = load_or_exit(config)
    return settings, open_store(settings.state_url())


def _label(settings: Any, tier: str) -> str:
    return settings.tiers.labels.get(tier, tier)


def _local(settings: Any, t: dt.datetime | None) -> str:
    return "" if t is None else f"{t.astimezone(settings.tz):%Y-%m-%d %H:%M}"


# --- cycle -----------------------------------------------------------------------


def cycle(
    config: ConfigOpt,
    at: Annotated[str | None, typer.Option(help="evaluate as of this time (ISO); default now")] = None,
) -> None:
    """One full cycle: scan, record findings, issue and escalate letters, deliver."""
    from sunlight.monitor.cli import load_or_exit, parse_at
    from sunlight.monitor.console import table
    from sunlight.monitor.cycle import deliver_report, run_cycle
    from sunlight.monitor.engine import Engine
    from sunlight.monitor.progress import terminal_progress
    from sunlight.monitor.store import open_store

    settings = load_or_exit(config)
    when = parse_at(at, settings.tz)
    engine = Engine(settings)
    try:
        store = open_store(settings.state_url())
        with terminal_progress() as progress:  # rows read, on a terminal only
            engine.progress = progress
            report = run_cycle(engine, store, settings, when)
    finally:
        engine.close()
    sent = deliver_report(store, settings, dt.datetime.now(dt.UTC))
    typer.echo(f"截至 {when:%Y-%m-%d %H:%M}（{settings.timezone}）："
               f"发现 {sum(sum(o.findings.values()) for o in report.outcomes)} 项，"
               f"发出 {len(report.letters)} 件，升级 {len(report.letters_escalated)} 件。")
    if report.letters:
        typer.echo(table(
            ["编号", "等级", "主送", "事项", "整改期限", "说明", "投递渠道"],
            [[x.number, _label(settings, x.tier), x.recipient, x.findings,
              x.rectify_by.isoformat() if x.rectify_by else "",
              {"new": "", "repeat": "重复预警从重", "escalation": f"由{x.cites}升级"}.get(x.reason, ""),
              ", ".join(x.channels) or "（无路由，未投递）"] for x in report.letters],
        ))
    for number in report.letters_overdue:
        if number not in report.letters_escalated:
            typer.echo(f"逾期未整改（已是最高等级，请办理）：{number}")
    typer.echo(f"投递 deliveries：成功 {len(sent.delivered)}，待重试 {len(sent.failed)}，"
               f"失败（不再重试）{len(sent.dead)}")
    for key, error in sent.failed + sent.dead:
        typer.echo(f"  {key}: {error}", err=True)
    failed = [o for o in report.outcomes if not o.ok]
    for o in failed:
        typer.echo(f"数据源读取失败 (source failed): {o.error}", err=True)
    if failed:
        raise typer.Exit(1)


# --- letters ---------------------------------------------------------------------


@letters_app.command("list")
def letters_list(
    config: ConfigOpt,
    unit: Annotated[str | None, typer.Option(help="only this unit id")] = None,
    status: Annotated[str | None, typer.Option(help="only this status (issued, overdue, closed, …)")]
    = None,
    tier: Annotated[str | None, typer.Option(help="only this tier (level3, 二级预警函, …)")] = None,
) -> None:
    """The letters, newest first, with their delivery state."""
    from sunlight.alerts.lifecycle import STATUS_ZH
    from sunlight.monitor.cli import fail
    from sunlight.monitor.console import table
    from sunlight.monitor.store.letters_models import LETTER_STATUSES, DeliveryRow, LetterRow

    settings, store = _settings_and_store(config)
    query = sa.select(LetterRow).order_by(LetterRow.issued_at.desc(), LetterRow.id.desc())
    if unit:
        query = query.where(LetterRow.unit_id == unit)
    if status:
        if status not in LETTER_STATUSES:
            raise fail(f"--status 应为 {', '.join(LETTER_STATUSES)} 之一", 2)
        query = query.where(LetterRow.status == status)
    if tier:
        by_label = {label: key for key, label in settings.tiers.labels.items()}
        key = by_label.get(tier, tier)
        if key not in settings.tiers.labels:
            raise fail(f"--tier 应为 {', '.join(settings.tiers.labels)} 或其名称之一", 2)
        query = query.where(LetterRow.tier == key)
    with store.connect() as conn:
        letters = conn.execute(query).all()
        counts: dict[int, dict[str, int]] = {}
        for letter_id, state, n in conn.execute(
            sa.select(DeliveryRow.letter_id, DeliveryRow.status, sa.func.count())
            .group_by(DeliveryRow.letter_id, DeliveryRow.status)
        ):
            counts.setdefault(letter_id, {})[state] = n
    rows = []
    for x in letters:
        c = counts.get(x.id, {})
        delivery = f"{c.get('delivered', 0)}/{sum(c.values())}"
        if c.get("dead"):
            delivery += f" 失败{c['dead']}"
        rows.append([x.id, x.number, _label(settings, x.tier), x.recipient,
                     STATUS_ZH.get(x.status, x.status), _local(settings, x.issued_at)[:10],
                     x.rectify_by.isoformat() if x.rectify_by else "", delivery])
    typer.echo(table(["ID", "编号", "等级", "主送", "状态", "发出", "整改期限", "投递"], rows))
    typer.echo(f"\n共 {len(rows)} 件。")


@letters_app.command("show")
def letters_show(config: ConfigOpt, letter: LetterArg) -> None:
    """One letter: its text, findings, deliveries (dead ones too) and audit trail."""
    from sunlight.alerts.lifecycle import ACTION_ZH, STATUS_ZH, LetterNotFound, find_letter
    from sunlight.alerts.render import Renderer, letter_view
    from sunlight.monitor.cli import fail
    from sunlight.monitor.console import table
    from sunlight.monitor.store.letters_models import AuditEntry, DeliveryRow

    settings, store = _settings_and_store(config)
    with store.connect() as conn:
        try:
            row = find_letter(conn, letter)
        except LetterNotFound as exc:
            raise fail(str(exc), 1) from None
        deliveries = conn.execute(sa.select(DeliveryRow).where(DeliveryRow.letter_id == row.id)
                                  .order_by(DeliveryRow.id)).all()
        trail = conn.execute(sa.select(AuditEntry).where(AuditEntry.letter_id == row.id)
                             .order_by(AuditEntry.id)).all()
    typer.echo(f"{row.number}  {_label(settings, row.tier)}  状态：{STATUS_ZH.get(row.status, row.status)}")
    facts = [("主送", row.recipient), ("发出", _local(settings, row.issued_at)),
             ("整改期限", row.rectify_by.isoformat() if row.rectify_by else "（提醒，无整改期限）"),
             ("签收", _local(settings, row.acknowledged_at)),
             ("整改报告", _local(settings, row.report_received_at) + (f" {row.report_file}" if row.report_file
                                                                      else "")),
             ("诫勉谈话", _local(settings, row.admonition_held_at)),
             ("办结", _local(settings, row.closed_at))]
    for name, value in facts:
        if value:
            typer.echo(f"  {name}：{value}")
    typer.echo("\n" + Renderer(settings).text(letter_view(store, settings, row.id, with_resolutions=True)))
    typer.echo("投递 deliveries:")
    typer.echo(table(["渠道", "状态", "次数", "最近尝试", "下次尝试", "最近错误"], [
        [d.channel, DELIVERY_ZH.get(d.status, d.status),
         d.attempts, _local(settings, d.last_attempt_at),
         _local(settings, d.next_attempt_at) if d.status == "pending" else "", (d.last_error or "")[:120]]
        for d in deliveries
    ]) if deliveries else "  （无投递：没有匹配的路由）")
    typer.echo("\n办理记录 audit:")
    typer.echo(table(["时间", "办理人", "操作", "状态变化", "备注"], [
        [_local(settings, a.at), a.actor, ACTION_ZH.get(a.action, a.action),
         f"{STATUS_ZH.get(a.before or '', a.before or '')} → {STATUS_ZH.get(a.after or '', a.after or '')}",
         a.note or ""] for a in trail
    ]))


def _act(config: Path, letter: str, action: str, by: str, note: str | None,
         file: str | None = None) -> None:
    from sunlight.alerts.lifecycle import STATUS_ZH, Act, LetterNotFound, TransitionError, apply_act
    from sunlight.monitor.cli import fail

    _, store = _settings_and_store(config)
    try:
        before, after = apply_act(store, letter, Act(action, by, note, file))
    except (TransitionError, LetterNotFound) as exc:
        raise fail(f"不能办理：{exc}", 1) from None
    typer.echo(f"{before.number}：{STATUS_ZH.get(before.status, before.status)} → "
               f"{STATUS_ZH.get(after, after)}（办理人 {by}）")


@letters_app.command("ack")
def letters_ack(config: ConfigOpt, letter: LetterArg, by: ByOpt, note: NoteOpt = None) -> None:
    """The unit has received the letter (签收)."""
    _act(config, letter, "ack", by, note)


@letters_app.command("report")
def letters_report(
    config: ConfigOpt, letter: LetterArg, by: ByOpt,
    file: Annotated[Path, typer.Option("--file", help="the written rectification report")],
    note: NoteOpt = None,
) -> None:
    """The unit's written rectification report has arrived (整改报告); its SHA-256 is recorded."""
    from sunlight.monitor.cli import fail

    try:
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
    except OSError as exc:
        raise fail(f"不能读取整改报告文件 {file}：{exc.strerror}", 1) from None
    _act(config, letter, "report", by, note, f"{file.resolve()} sha256:{digest}")


@letters_app.command("admonition")
def letters_admonition(config: ConfigOpt, letter: LetterArg, by: ByOpt, note: NoteOpt = None) -> None:
    """The admonition talk (诫勉谈话) a level1 letter requires has been held."""
    _act(config, letter, "admonition", by, note)


@letters_app.command("close")
def letters_close(config: ConfigOpt, letter: LetterArg, by: ByOpt, note: NoteOpt = None) -> None:
    """The office has verified the rectification and closes the letter (办结). Only a person closes."""
    _act(config, letter, "close", by, note)
