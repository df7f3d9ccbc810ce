"""``sunlight letters …``: the rectification workflow on the command line.

The top-level app (:mod:`sunlight.monitor.cli`) mounts :data:`letters_app`.
Exit codes as everywhere in sunlight (:mod:`sunlight.monitor.cli_common`): 0
done; 1 the act was refused or failed (an invalid transition, an unknown
letter); 2 the command line or the config is bad. Messages for the office are
Chinese.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer

from sunlight.alerts.audit import verify_audit
from sunlight.alerts.lifecycle import (
    ACTION_ZH,
    STATUS_ZH,
    Act,
    LetterNotFound,
    ReportFile,
    TransitionError,
    apply_act,
    find_letter,
)
from sunlight.alerts.render import Renderer, letter_view
from sunlight.monitor.cli_common import (
    ConfigOpt,
    fail,
    load_or_exit,
    open_state,
    parse_at,
    store_failures,
)
from sunlight.monitor.console import table
from sunlight.monitor.settings import Settings
from sunlight.monitor.store.letters_models import AuditEntry, DeliveryRow, LetterRow
from sunlight.monitor.vocab import TIERS

letters_app = typer.Typer(help="Warning letters (预警函): list, show and the rectification workflow.",
                          no_args_is_help=True)

LetterArg = Annotated[str, typer.Argument(help="the letter's number (监预〔2026〕17号) or its id")]
ByOpt = Annotated[str, typer.Option("--by", help="who acts (recorded in the audit log)")]
DELIVERY_ZH = {"pending": "待投递", "delivered": "已送达", "dead": "失败（不再重试）"}
NoteOpt = Annotated[str | None, typer.Option("--note", help="a remark for the audit log")]
ReasonOpt = Annotated[str, typer.Option("--reason", "--note", help="why (recorded in the audit log)")]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="the time the act applies to (ISO); "
                                             "default now")]
audit_app = typer.Typer(help="The audit log of letter acts (hash-chained).", no_args_is_help=True)


class LetterStatus(StrEnum):
    """``--status``: every status a letter can have (the store's LETTER_STATUSES)."""

    issued = "issued"
    acknowledged = "acknowledged"
    report_received = "report_received"
    admonition_held = "admonition_held"
    closed = "closed"
    overdue = "overdue"
    escalated = "escalated"
    withdrawn = "withdrawn"


class TierChoice(StrEnum):
    """``--tier``: a tier by its key or by its default name."""

    reminder = "reminder"
    level3 = "level3"
    level2 = "level2"
    level1 = "level1"
    reminder_zh = "提醒"
    level3_zh = "三级预警函"
    level2_zh = "二级预警函"
    level1_zh = "一级预警函"


class ListFormat(StrEnum):
    table = "table"
    json = "json"


_DEFAULT_LABELS = ("提醒", "三级预警函", "二级预警函", "一级预警函")  # in the order of TIERS


def _settings_and_store(config: Path, read_only: bool = False) -> tuple[Settings, sa.Engine]:
    """The config and the store; ``read_only`` for the commands that only look (no migration)."""
    settings = load_or_exit(config)
    return settings, open_state(settings, read_only=read_only)


def local_time(settings: Settings, t: dt.datetime | None) -> str:
    return "" if t is None else f"{t.astimezone(settings.tz):%Y-%m-%d %H:%M}"


# --- letters ---------------------------------------------------------------------


@letters_app.command("list")
def letters_list(
    config: ConfigOpt,
    unit: Annotated[str | None, typer.Option(help="only this unit (its name or its id)")] = None,
    status: Annotated[LetterStatus | None, typer.Option(help="only this status")] = None,
    tier: Annotated[TierChoice | None, typer.Option(help="only this tier (its key or its name)")] = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json (one object a line)")]
    = ListFormat.table,
) -> None:
    """The letters, newest first, with their delivery state."""
    settings, store = _settings_and_store(config, read_only=True)
    query = sa.select(LetterRow).order_by(LetterRow.issued_at.desc(), LetterRow.id.desc())
    if unit:
        name = unit.strip()  # a letter to a person is the unit's too: it is copied to the unit
        query = query.where(sa.or_(LetterRow.unit_id == name, LetterRow.recipient == name,
                                   sa.and_(LetterRow.audience == "person", LetterRow.copy_to == name)))
    if status:
        query = query.where(LetterRow.status == status.value)
    if tier:
        by_label = dict(zip(_DEFAULT_LABELS, TIERS, strict=True))
        query = query.where(LetterRow.tier == by_label.get(tier.value, tier.value))
    with store_failures(settings), store.connect() as conn:
        letters = conn.execute(query).all()
        counts: dict[int, dict[str, int]] = {}
        for letter_id, state, n in conn.execute(
            sa.select(DeliveryRow.letter_id, DeliveryRow.status, sa.func.count())
            .group_by(DeliveryRow.letter_id, DeliveryRow.status)
        ):
            counts.setdefault(letter_id, {})[state] = n
    if fmt is ListFormat.json:
        for x in letters:
            typer.echo(json.dumps({
                "id": x.id, "number": x.number, "tier": x.tier, "status": x.status,
                "unit_id": x.unit_id,
                "unit_name": {"unit": x.recipient, "person": x.copy_to}.get(x.audience),
                "recipient": x.recipient, "person_id": x.person_id, "issued_at": x.issued_at.isoformat(),
                "rectify_by": x.rectify_by.isoformat() if x.rectify_by else None,
                "matter_id": x.matter_id or x.id, "cites_letter_id": x.cites_letter_id,
                "deliveries": counts.get(x.id, {})}, ensure_ascii=False))
        return
    rows = []
    for x in letters:
        c = counts.get(x.id, {})
        delivery = f"{c.get('delivered', 0)}/{sum(c.values())}"
        if c.get("dead"):
            delivery += f" 失败{c['dead']}"
        rows.append([x.id, x.number, settings.tiers.label(x.tier), x.recipient,
                     STATUS_ZH.get(x.status, x.status), local_time(settings, x.issued_at)[:10],
                     x.rectify_by.isoformat() if x.rectify_by else "", delivery])
    typer.echo(table(["ID", "编号", "等级", "主送", "状态", "发出", "整改期限", "投递"], rows))
    typer.echo(f"\n共 {len(rows)} 件。")


@letters_app.command("show")
def letters_show(config: ConfigOpt, letter: LetterArg) -> None:
    """One letter: its text, findings, deliveries (dead ones too) and audit trail."""
    settings, store = _settings_and_store(config, read_only=True)
    with store_failures(settings), store.connect() as conn:
        try:
            row = find_letter(conn, letter)
        except LetterNotFound as exc:
            raise fail(str(exc), 1) from None
        deliveries = conn.execute(sa.select(DeliveryRow).where(DeliveryRow.letter_id == row.id)
                                  .order_by(DeliveryRow.id)).all()
        trail = conn.execute(sa.select(AuditEntry).where(AuditEntry.letter_id == row.id)
                             .order_by(AuditEntry.id)).all()
    status = STATUS_ZH.get(row.status, row.status)
    typer.echo(f"{row.number}  {settings.tiers.label(row.tier)}  状态：{status}")
    facts = [("主送", row.recipient), *([("抄送", row.copy_to)] if row.copy_to else []),
             ("发出", local_time(settings, row.issued_at)),
             ("整改期限", row.rectify_by.isoformat() if row.rectify_by else "（提醒，无整改期限）"),
             ("签收", local_time(settings, row.acknowledged_at)),
             ("整改报告", local_time(settings, row.report_received_at)
              + (f" {row.report_file}" if row.report_file else "")),
             ("诫勉谈话", local_time(settings, row.admonition_held_at)),
             ("办结", local_time(settings, row.closed_at))]
    for name, value in facts:
        if value:
            typer.echo(f"  {name}：{value}")
    with store_failures(settings):
        view = letter_view(store, settings, row.id, with_resolutions=True)
    typer.echo("\n" + Renderer(settings).text(view))
    typer.echo("投递 deliveries:")
    typer.echo(table(["渠道", "状态", "次数", "最近尝试", "下次尝试", "最近错误"], [
        [d.channel, DELIVERY_ZH.get(d.status, d.status),
         d.attempts, local_time(settings, d.last_attempt_at),
         local_time(settings, d.next_attempt_at) if d.status == "pending" else "", (d.last_error or "")[:120]]
        for d in deliveries
    ]) if deliveries else "  （无投递：没有匹配的路由）")
    typer.echo("\n办理记录 audit:")
    typer.echo(table(["时间", "办理人", "操作", "状态变化", "备注"], [
        [local_time(settings, a.at), a.actor, ACTION_ZH.get(a.action, a.action),
         f"{STATUS_ZH.get(a.before or '', a.before or '')} → {STATUS_ZH.get(a.after or '', a.after or '')}",
         a.note or ""] for a in trail
    ]))


def _act(config: Path, letter: str, act_: Act) -> None:
    """Run one act through :func:`sunlight.alerts.lifecycle.apply_act` (the console's entry point too)."""
    settings, store = _settings_and_store(config)
    try:
        with store_failures(settings):
            before, after = apply_act(store, letter, act_,
                                      max_report_bytes=settings.letters.report_max_bytes)
    except (TransitionError, LetterNotFound) as exc:
        raise fail(f"不能办理：{exc}", 1) from None
    typer.echo(f"{before.number}：{STATUS_ZH.get(before.status, before.status)} → "
               f"{STATUS_ZH.get(after, after)}（办理人 {act_.by}）")


def _as_of(config: Path, value: str | None) -> dt.datetime | None:
    return None if value is None else parse_at(value, load_or_exit(config).tz)


def _simple(config: Path, letter: str, action: str, by: str, note: str | None, as_of: str | None) -> None:
    _act(config, letter, Act(action, by, note, as_of=_as_of(config, as_of)))


@letters_app.command("ack")
def letters_ack(config: ConfigOpt, letter: LetterArg, by: ByOpt, note: NoteOpt = None,
                as_of: AsOfOpt = None) -> None:
    """The unit has received the letter (签收)."""
    _simple(config, letter, "ack", by, note, as_of)


@letters_app.command("report")
def letters_report(
    config: ConfigOpt, letter: LetterArg, by: ByOpt,
    file: Annotated[Path, typer.Option("--file", help="the written rectification report")],
    note: NoteOpt = None, as_of: AsOfOpt = None,
) -> None:
    """The unit's written rectification report has arrived (整改报告); the file is kept in the store."""
    limit = load_or_exit(config).letters.report_max_bytes
    try:
        size = file.stat().st_size
        if size > limit:
            raise fail(f"不能办理：整改报告文件过大（{size / 1048576:.1f} MiB），上限为 "
                       f"{limit / 1048576:.1f} MiB", 1)
        content = file.read_bytes()
    except OSError as exc:
        raise fail(f"不能读取整改报告文件 {file}：{exc.strerror}", 1) from None
    digest = hashlib.sha256(content).hexdigest()
    _act(config, letter, Act("report", by, note, f"{file.name} sha256:{digest}",
                             as_of=_as_of(config, as_of), report=ReportFile(file.name, content)))


@letters_app.command("admonition")
def letters_admonition(config: ConfigOpt, letter: LetterArg, by: ByOpt, note: NoteOpt = None,
                       as_of: AsOfOpt = None) -> None:
    """The admonition talk (诫勉谈话) a level1 letter requires has been held."""
    _simple(config, letter, "admonition", by, note, as_of)


@letters_app.command("sign-off")
def letters_sign_off(config: ConfigOpt, letter: LetterArg, by: ByOpt, note: NoteOpt = None,
                     as_of: AsOfOpt = None) -> None:
    """A leader signs off a level1 letter (签批); recorded in the audit log, the status stays."""
    _simple(config, letter, "sign_off", by, note, as_of)


@letters_app.command("close")
def letters_close(config: ConfigOpt, letter: LetterArg, by: ByOpt, note: NoteOpt = None,
                  as_of: AsOfOpt = None) -> None:
    """The office has verified the rectification and closes the letter (办结). Only a person closes."""
    _simple(config, letter, "close", by, note, as_of)


@letters_app.command("withdraw")
def letters_withdraw(config: ConfigOpt, letter: LetterArg, by: ByOpt, reason: ReasonOpt,
                     as_of: AsOfOpt = None) -> None:
    """Withdraw a letter issued in error (撤销); its findings are free again."""
    _simple(config, letter, "withdraw", by, reason, as_of)


@letters_app.command("explain")
def letters_explain(
    config: ConfigOpt, letter: LetterArg, by: ByOpt, reason: ReasonOpt,
    finding: Annotated[str, typer.Option("--finding", help="the finding's number on the letter "
                                         "(1 for the first) or its fingerprint")],
    as_of: AsOfOpt = None,
) -> None:
    """Accept the unit's explanation for one finding (核实不予追究).

    The finding is then not lettered again unless its facts change.
    """
    _act(config, letter, Act("explain", by, reason, as_of=_as_of(config, as_of), finding=finding))


@letters_app.command("extend")
def letters_extend(
    config: ConfigOpt, letter: LetterArg, by: ByOpt, reason: ReasonOpt,
    until: Annotated[str, typer.Option("--until", help="the new rectify_by (YYYY-MM-DD)")],
    as_of: AsOfOpt = None,
) -> None:
    """Extend the letter's rectification deadline (延长整改期限)."""
    try:
        day = dt.date.fromisoformat(until)
    except ValueError:
        raise fail(f"--until 应为日期（YYYY-MM-DD），而不是 {until!r}", 2) from None
    _act(config, letter, Act("extend", by, reason, as_of=_as_of(config, as_of), until=day))


@letters_app.command("reopen")
def letters_reopen(config: ConfigOpt, letter: LetterArg, by: ByOpt, reason: ReasonOpt,
                   as_of: AsOfOpt = None) -> None:
    """Reopen a closed letter (重新打开): back to the stage it had reached."""
    _simple(config, letter, "reopen", by, reason, as_of)


@audit_app.command("verify")
def audit_verify(config: ConfigOpt) -> None:
    """Check the audit log's hash chain; exit 1 naming the first broken entry."""
    _, store = _settings_and_store(config)
    checked, broken = verify_audit(store)
    if broken is not None:
        raise fail(f"审计记录第 {broken.entry_id} 条校验失败（audit entry {broken.entry_id}: "
                   f"{broken.problem}）；已核对 {checked} 条", 1)
    typer.echo(f"审计记录完整：{checked} 条，哈希链无断裂（audit chain intact）。")
