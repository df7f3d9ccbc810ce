"""The rectification workflow (整改流程) of a letter: one function per act, shared by CLI and console.

::

    issued ─► acknowledged ─► report_received ─► [admonition_held] ─► closed
       │            │                 │
       └────────────┴─────────────────┴── rectify_by passed, a requirement unmet ─► overdue ─► escalated
     withdrawn (撤销, with a reason) · reopened (a closed letter, back to where it stood)

People act with ``sunlight letters ack|report|admonition|close|withdraw|explain|extend|reopen``
and the console calls the same :func:`apply_act`; the cycle marks ``overdue``
and ``escalated``. Only a person closes a letter, after the office has
verified the rectification (letters.md). Every act, a person's or the
system's, is one entry of the hash-chained audit log (:mod:`sunlight.alerts.audit`):
who, why, the real time and the as-of time, status before and after. An act
that the drawing does not allow raises :class:`TransitionError` with the
reason in Chinese, for the office.

The office's own acts besides the workflow:

- ``withdraw`` (撤销) a letter issued in error: reason required; its findings
  are free again (the next cycle may letter them), its pending deliveries are
  cancelled, and it counts for no repeat;
- ``explain`` (核实不予追究): the office accepts the unit's explanation for one
  finding: it is rectified for the letter, and its fingerprint is not
  lettered again while its facts stay the same (:func:`sunlight.alerts.planner.facts_digest`);
- ``extend`` ``rectify_by`` to a later day, with a reason (an overdue letter
  becomes open again);
- ``reopen`` a closed letter, with a reason: back to the stage it had reached.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sunlight.alerts.audit import SYSTEM_ACTOR, audit, take_audit_lock
from sunlight.alerts.planner import facts_digest
from sunlight.alerts.tiers import is_letter_tier
from sunlight.monitor.store.letters_models import (
    DeliveryRow,
    FindingExplanation,
    LetterFindingRow,
    LetterReport,
    LetterRow,
)
from sunlight.monitor.store.models import FindingRow

__all__ = ["ACTIONS", "SYSTEM_ACTOR", "Act", "LetterNotFound", "ReportFile", "TransitionError",
           "apply_act", "audit", "find_letter", "next_status"]

ACTIONS = ("ack", "report", "admonition", "close", "withdraw", "explain", "extend", "reopen", "sign_off")
#: the acts that must say why (the office's own decisions)
NEED_REASON = ("withdraw", "explain", "extend", "reopen")
DEFAULT_REPORT_MAX_BYTES = 20 * 1024 * 1024

STATUS_ZH = {
    "issued": "已发出", "acknowledged": "已签收", "report_received": "已收到整改报告",
    "admonition_held": "已诫勉谈话", "closed": "已办结", "overdue": "逾期未整改", "escalated": "已升级",
    "withdrawn": "已撤销",
}
ACTION_ZH = {"ack": "签收", "report": "登记整改报告", "admonition": "登记诫勉谈话", "close": "办结",
             "issue": "发函", "overdue": "逾期", "escalate": "升级", "withdraw": "撤销",
             "explain": "核实不予追究", "extend": "延长整改期限", "reopen": "重新打开",
             "sign_off": "签批"}


class TransitionError(Exception):
    """An act the lifecycle does not allow; ``str()`` is the Chinese message for the office."""


class LetterNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ReportFile:
    """The written rectification report itself, stored in the state store."""

    filename: str
    content: bytes


@dataclass(frozen=True)
class Act:
    """One person's act on one letter.

    ``note`` is the reason (required for withdraw, explain, extend, reopen);
    ``as_of`` the time the act applies to (default: now), e.g. the day the
    report arrived; ``finding`` names the finding an ``explain`` is about (its
    number on the letter, 1 for the first, or its fingerprint); ``until`` is
    the new ``rectify_by`` of an ``extend``.
    """

    action: str
    by: str
    note: str | None = None
    file: str | None = None  # a label for the report (path and hash), for ``report``
    as_of: dt.datetime | None = None
    report: ReportFile | None = None
    finding: str | None = None
    until: dt.date | None = None


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
    if status == "withdrawn":
        raise TransitionError(f"{number} 已撤销，不能再{ACTION_ZH.get(action, action)}")
    if action == "reopen":
        if status != "closed":
            raise TransitionError(f"{number} 当前状态为{STATUS_ZH[status]}，只有已办结的预警函才能重新打开")
        return progress_status(letter), {"closed_at": "clear", "reopened_at": None}
    if action == "withdraw":
        if status == "escalated":
            raise TransitionError(f"{number} 已升级，请撤销升级后的新函")
        return "withdrawn", {"withdrawn_at": None}
    if status == "closed":
        raise TransitionError(f"{number} 已办结，不能再{ACTION_ZH[action]}")
    if status == "escalated":
        raise TransitionError(f"{number} 已因逾期未整改升级，请办理升级后的新函")
    if action == "explain":
        return status, {}
    if action == "sign_off":  # a leader's 签批 of the most severe letter: recorded, no change of status
        if letter.tier != "level1":
            raise TransitionError(f"{number} 不是一级预警函，无需领导签批")
        if letter.signed_off_at is not None:
            raise TransitionError(f"{number} 已签批，不能重复签批")
        return status, {"signed_off_at": None}
    if action == "extend":
        return (progress_status(letter) if status == "overdue" else status), {"overdue_at": "clear"}
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


def progress_status(letter: Any) -> str:
    """The furthest workflow stage a letter reached (for reopen, and extend of an overdue one)."""
    if letter.admonition_held_at is not None:
        return "admonition_held"
    if letter.report_received_at is not None:
        return "report_received"
    if letter.acknowledged_at is not None:
        return "acknowledged"
    return "issued"


def apply_act(store: Engine, ref: str, act: Act, now: dt.datetime | None = None,
              max_report_bytes: int = DEFAULT_REPORT_MAX_BYTES) -> tuple[Any, str]:
    """Apply one person's act to a letter, with its audit entry, in one transaction.

    The one entry point for every act (CLI and console). Returns (the letter as
    it was, the new status). The audit lock is taken first, then the letter
    row (PostgreSQL: FOR UPDATE), in the order the cycle takes them, so two
    clerks cannot both close it and a clerk and a cycle never deadlock.
    """
    if not act.by.strip():
        raise TransitionError("请写明办理人（--by）")
    if act.action in NEED_REASON and not (act.note or "").strip():
        raise TransitionError(f"{ACTION_ZH.get(act.action, act.action)}须写明理由（--reason）")
    if act.report is not None and len(act.report.content) > max_report_bytes:
        raise TransitionError(f"整改报告文件过大（{len(act.report.content) / 1048576:.1f} MiB），"
                              f"上限为 {max_report_bytes / 1048576:.1f} MiB")
    now = now or dt.datetime.now(dt.UTC)
    as_of = act.as_of or now
    by = act.by.strip()
    with store.begin() as conn:
        take_audit_lock(conn)
        letter = find_letter(conn, ref)
        if conn.dialect.name == "postgresql":
            letter = conn.execute(sa.select(LetterRow).where(LetterRow.id == letter.id)
                                  .with_for_update()).one()
        status, columns = next_status(letter, act.action)
        values: dict[str, Any] = {k: as_of for k, v in columns.items()
                                  if v is None and getattr(letter, k) is None}
        values.update({k: None for k, v in columns.items() if v == "clear"})
        values["status"] = status
        detail: dict[str, Any] = {"number": letter.number}
        if act.action == "report":
            values["report_file"] = act.file or (act.report.filename if act.report else None)
            if act.report is not None:
                detail["report"] = _store_report(conn, letter.id, act.report, by, now, as_of)
        if act.action == "extend":
            values["rectify_by"] = _extended(letter, act.until)
            detail.update(rectify_by_before=letter.rectify_by.isoformat() if letter.rectify_by else None,
                          rectify_by=values["rectify_by"].isoformat())
        if act.action == "explain":
            detail.update(_explain(conn, letter, act, by, now, as_of))
        if act.action == "withdraw":
            detail["deliveries_cancelled"] = conn.execute(
                sa.update(DeliveryRow).where(DeliveryRow.letter_id == letter.id,
                                             DeliveryRow.status == "pending")
                .values(status="cancelled", last_error="预警函已撤销")).rowcount
        if status in ("closed", "withdrawn"):
            conn.execute(sa.update(LetterFindingRow).where(LetterFindingRow.letter_id == letter.id)
                         .values(open_fingerprint=None))
        if act.action == "reopen":
            _reopen_findings(conn, letter)
        changed = conn.execute(sa.update(LetterRow).where(LetterRow.id == letter.id,
                                                          LetterRow.status == letter.status)
                               .values(**values)).rowcount
        if changed != 1:  # another clerk or the cycle acted in between (SQLite has no row lock)
            raise TransitionError(f"{letter.number} 的状态刚被他人更新，请查看后重试")
        if act.file:
            detail["file"] = act.file
        audit(conn, now, by, act.action, letter.id, letter.status, status, act.note, detail, as_of=as_of)
    return letter, status


def _extended(letter: Any, until: dt.date | None) -> dt.date:
    if until is None:
        raise TransitionError("请写明延长后的整改期限（--until）")
    if letter.rectify_by is not None and until <= letter.rectify_by:
        raise TransitionError(f"{letter.number} 的整改期限为{letter.rectify_by.isoformat()}，"
                              f"延长后的期限应晚于此日")
    return until


def _store_report(conn: Connection, letter_id: int, report: ReportFile, by: str, now: dt.datetime,
                  as_of: dt.datetime) -> dict[str, Any]:
    digest = hashlib.sha256(report.content).hexdigest()
    report_id = conn.execute(sa.insert(LetterReport).returning(LetterReport.id), {
        "letter_id": letter_id, "filename": report.filename[:255], "size": len(report.content),
        "sha256": digest, "content": report.content, "by": by, "at": now, "as_of": as_of,
    }).scalar_one()
    return {"id": int(report_id), "filename": report.filename, "size": len(report.content),
            "sha256": digest}


def _explain(conn: Connection, letter: Any, act: Act, by: str, now: dt.datetime,
             as_of: dt.datetime) -> dict[str, Any]:
    """Accept the unit's explanation for one finding of the letter (核实不予追究)."""
    lf, f = LetterFindingRow, FindingRow
    links = conn.execute(
        sa.select(lf.id, lf.explained_at, f.fingerprint, f.check_id, f.subject, f.unit_id, f.item_code,
                  f.deadline).join(f, f.id == lf.finding_id)
        .where(lf.letter_id == letter.id).order_by(lf.id)
    ).all()
    ref = (act.finding or "").strip()
    chosen = None
    if ref.isdigit() and 1 <= int(ref) <= len(links):
        chosen = links[int(ref) - 1]
    else:
        chosen = next((x for x in links if ref and x.fingerprint.startswith(ref)), None)
    if chosen is None:
        raise TransitionError(f"{letter.number} 上没有第 {ref or '?'} 项问题（共 {len(links)} 项）")
    if chosen.explained_at is not None:
        raise TransitionError(f"{letter.number} 第 {links.index(chosen) + 1} 项问题已核实不予追究")
    c = chosen
    facts = facts_digest(c.check_id, c.subject, c.unit_id, c.item_code, c.deadline)
    conn.execute(sa.update(LetterFindingRow).where(LetterFindingRow.id == c.id)
                 .values(explained_at=as_of))
    conn.execute(sa.insert(FindingExplanation), {
        "fingerprint": c.fingerprint, "facts": facts, "letter_id": letter.id, "by": by,
        "reason": (act.note or "").strip(), "at": now, "as_of": as_of,
    })
    return {"finding": c.fingerprint, "subject": c.subject, "check": c.check_id, "facts": facts}


def _reopen_findings(conn: Connection, letter: Any) -> None:
    """A reopened letter holds its findings again, unless another open letter now does."""
    links = conn.execute(sa.select(LetterFindingRow).where(LetterFindingRow.letter_id == letter.id)).all()
    taken = set(conn.execute(
        sa.select(LetterFindingRow.open_fingerprint)
        .where(LetterFindingRow.open_fingerprint.in_([x.fingerprint for x in links]))
    ).scalars()) if links else set()
    if taken:
        other = conn.execute(
            sa.select(LetterRow.number).join(LetterFindingRow, LetterFindingRow.letter_id == LetterRow.id)
            .where(LetterFindingRow.open_fingerprint.in_(sorted(taken)))
        ).scalars().first()
        raise TransitionError(f"{letter.number} 的问题已列入{other}，不能重新打开；请办理{other}")
    for x in links:
        conn.execute(sa.update(LetterFindingRow).where(LetterFindingRow.id == x.id)
                     .values(open_fingerprint=x.fingerprint))

