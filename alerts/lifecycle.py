"""The rectification workflow (整改流程) of a letter, and its audit log.

::

    issued ─► acknowledged ─► report_received ─► [admonition_held] ─► closed
       │            │                 │
       └────────────┴─────────────────┴── rectify_by passed, a requirement unmet ─► overdue ─► escalated

People act with ``sunlight letters ack|report|admonition|close``; the cycle
marks ``overdue`` and ``escalated``. Only a person closes a letter, after the
office has verified the rectification (letters.md). Every act, a person's or
the system's, is one ``audit_log`` row: who, when, what, status before and
after. An act that the drawing does not allow raises :class:`TransitionError`
with the reason in Chinese, for the office.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sunlight.alerts.tiers import is_letter_tier
from sunlight.monitor.store.letters_models import AuditEntry, LetterFindingRow, LetterRow

SYSTEM_ACTOR = "sunlight"

STATUS_ZH = {
    "issued": "已发出", "acknowledged": "已签收", "report_received": "已收到整改报告",
    "admonition_held": "已诫勉谈话", "closed": "已办结", "overdue": "逾期未整改", "escalated": "已升级",
}
ACTION_ZH = {"ack": "签收", "report": "登记整改报告", "admonition": "登记诫勉谈话", "close": "办结",
             "issue": "发函", "overdue": "逾期", "escalate": "升级"}


class TransitionError(Exception):
    """An act the lifecycle does not allow; ``str()`` is the Chinese message for the office."""


class LetterNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Act:
    action: str
    by: str
    note: str | None = None
    file: str | None = None  # the report, for ``report``


def audit(conn: Connection, at: dt.datetime, actor: str, action: str, letter_id: int | None,
          before: str | None, after: str | None, note: str | None = None,
          detail: dict[str, Any] | None = None) -> None:
    conn.execute(sa.insert(AuditEntry), {
        "at": at, "actor": actor, "action": action, "letter_id": letter_id, "before": before,
        "after": after, "note": note, "detail": detail or {},
    })


def find_letter(conn: Connection, ref: str) -> Any:
    """A letter by its number (监预〔2026〕17号) or its id (the first column of ``letters list``)."""
    ref = ref.strip()
    cond = LetterRow.id == int(ref) if ref.isdigit() else LetterRow.number == ref
    row = conn.execute(sa.select(LetterRow).where(cond)).first()
    if row is None:
        raise LetterNotFound(f"没有编号为 {ref} 的预警函")
    return row


def next_status(letter: Any, action: str) -> tuple[str, dict[str, Any]]:
    """The status after ``action`` and the columns it sets, or TransitionError saying why not."""
    number, status = letter.number, letter.status
    if not is_letter_tier(letter.tier):
        raise TransitionError(f"{number} 是提醒通知，不是预警函，无需办理整改流程")
    if status == "closed":
        raise TransitionError(f"{number} 已办结，不能再{ACTION_ZH[action]}")
    if status == "escalated":
        raise TransitionError(f"{number} 已因逾期未整改升级，请办理升级后的新函")
    if action == "ack":
        if letter.acknowledged_at is not None:
            raise TransitionError(f"{number} 已于此前签收（当前状态：{STATUS_ZH[status]}）")
        return ("acknowledged" if status == "issued" else status), {"acknowledged_at": None}
    if action == "report":
        if letter.report_received_at is not None:
            raise TransitionError(f"{number} 的整改报告已登记，不能重复登记")
        if status not in ("issued", "acknowledged", "overdue"):
            raise TransitionError(f"{number} 当前状态为{STATUS_ZH[status]}，不能登记整改报告")
        return "report_received", {"report_received_at": None, "acknowledged_at": None}
    if action == "admonition":
        if not letter.requires_admonition:
            raise TransitionError(f"{number} 不是一级预警函，未要求诫勉谈话")
        if letter.admonition_held_at is not None:
            raise TransitionError(f"{number} 的诫勉谈话已登记，不能重复登记")
        if letter.report_received_at is None:
            raise TransitionError(f"{number} 尚未收到书面整改报告，请先登记整改报告（report）")
        return "admonition_held", {"admonition_held_at": None}
    if action == "close":
        missing = []
        if letter.acknowledged_at is None:
            missing.append("签收")
        if letter.requires_report and letter.report_received_at is None:
            missing.append("书面整改报告")
        if letter.requires_admonition and letter.admonition_held_at is None:
            missing.append("诫勉谈话")
        if missing:
            raise TransitionError(f"{number} 尚缺{'、'.join(missing)}，不能办结")
        return "closed", {"closed_at": None}
    raise TransitionError(f"未知的操作 {action}")


def apply_act(store: Engine, ref: str, act: Act, now: dt.datetime | None = None) -> tuple[Any, str]:
    """Apply one person's act to a letter, with its audit row, in one transaction.

    Returns (the letter as it was, the new status). The letter row is locked
    (PostgreSQL) for the transaction so two clerks cannot both close it.
    """
    if not act.by.strip():
        raise TransitionError("请用 --by 写明办理人")
    now = now or dt.datetime.now(dt.UTC)
    with store.begin() as conn:
        letter = find_letter(conn, ref)
        if conn.dialect.name == "postgresql":
            letter = conn.execute(sa.select(LetterRow).where(LetterRow.id == letter.id)
                                  .with_for_update()).one()
        status, columns = next_status(letter, act.action)
        values: dict[str, Any] = {k: now for k, v in columns.items()
                                  if v is None and getattr(letter, k) is None}
        values["status"] = status
        if act.action == "report":
            values["report_file"] = act.file
        if status == "closed":
            conn.execute(sa.update(LetterFindingRow).where(LetterFindingRow.letter_id == letter.id)
                         .values(open_fingerprint=None))
        changed = conn.execute(sa.update(LetterRow).where(LetterRow.id == letter.id,
                                                          LetterRow.status == letter.status)
                               .values(**values)).rowcount
        if changed != 1:  # another clerk or the cycle acted in between (SQLite has no row lock)
            raise TransitionError(f"{letter.number} 的状态刚被他人更新，请查看后重试")
        detail: dict[str, Any] = {"number": letter.number}
        if act.file:
            detail["file"] = act.file
        audit(conn, now, act.by.strip(), act.action, letter.id, letter.status, status, act.note, detail)
    return letter, status
