"""State-store models of the alerting half: letters, their findings, the outbox, the audit log.

Change them only with a new migration (``0002_letters`` created them; ``0004_letter_acts``
added matters, withdrawal, explanations, stored reports and the audit chain;
``0009_person_letters`` letters to a person).

Reminders (提醒) and data-quality notices live in ``letters`` too, with tier
``reminder`` and their own number prefix: they are numbered so that the outbox
has a stable idempotency key, but they carry no requirement and never enter
the rectification lifecycle.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from sunlight.monitor.store.models import Base

# every status a letter can have (letters.md, "Lifecycle")
LETTER_STATUSES = ("issued", "acknowledged", "report_received", "admonition_held", "closed",
                   "overdue", "escalated", "withdrawn")
OPEN_STATUSES = ("issued", "acknowledged", "report_received", "admonition_held", "overdue")

#: the counter row every issuer updates first, so issuing is serialised across processes
ISSUE_LOCK = ("*issue-lock*", 0)
#: the counter row every audit append updates first, so the hash chain never forks
AUDIT_LOCK = ("*audit-chain*", 0)


class LetterRow(Base):
    """One warning letter (预警函) or notice (提醒), numbered for ever."""

    __tablename__ = "letters"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(64), unique=True)  # 监预〔2026〕17号
    prefix: Mapped[str] = mapped_column(sa.String(32))
    year: Mapped[int]
    seq: Mapped[int]
    tier: Mapped[str] = mapped_column(sa.String(16), index=True)
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    audience: Mapped[str] = mapped_column(sa.String(16))  # unit | data_owner | person
    unit_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)  # widths: 0008_wide_text
    recipient: Mapped[str] = mapped_column(sa.String(1000))  # 主送单位 as printed
    source: Mapped[str | None] = mapped_column(sa.String(255))  # for data-owner notices
    checks: Mapped[str] = mapped_column(sa.Text)  # comma-separated check ids (routing, titles)
    reason: Mapped[str] = mapped_column(sa.String(16))  # new | escalation | repeat
    issued_at: Mapped[dt.datetime]  # the cycle's as-of time
    rectify_by: Mapped[dt.date | None] = mapped_column(sa.Date)
    requires_report: Mapped[bool] = mapped_column(default=False)
    requires_admonition: Mapped[bool] = mapped_column(default=False)
    cites_letter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("letters.id"))
    acknowledged_at: Mapped[dt.datetime | None]
    report_received_at: Mapped[dt.datetime | None]
    report_file: Mapped[str | None] = mapped_column(sa.Text)
    admonition_held_at: Mapped[dt.datetime | None]
    overdue_at: Mapped[dt.datetime | None]
    escalated_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]  # wall clock
    #: the first letter of its matter (a letter and the letters it escalated into, letters.md)
    matter_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    withdrawn_at: Mapped[dt.datetime | None]  # 撤销 (as-of time); its findings are free again
    reopened_at: Mapped[dt.datetime | None]
    signed_off_at: Mapped[dt.datetime | None]  # a leader's 签批 of a 一级 letter (0010_sign_off)
    period: Mapped[str | None] = mapped_column(sa.String(16))  # 定期预警: e.g. 2026-Q4
    assessment: Mapped[dict[str, Any] | None]  # 定期预警: the period's figures the letter states
    #: a letter to a person (当事人, seed 004:66): the person's id in the source (0009_person_letters)
    person_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    copy_to: Mapped[str | None] = mapped_column(sa.String(1000))  # 抄送: the person's unit, as printed

    __table_args__ = (sa.UniqueConstraint("prefix", "year", "seq", name="uq_letters_prefix_year_seq"),)


class LetterFindingRow(Base):
    """A finding as it stood when the letter was written (the letter's facts never change).

    ``open_fingerprint`` is the finding's fingerprint while the letter is open
    and NULL after: its unique index is how the database itself refuses a
    second open letter for one finding (architecture invariant 3).
    """

    __tablename__ = "letter_findings"
    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id"), index=True)
    finding_id: Mapped[int] = mapped_column(sa.ForeignKey("findings.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    opened_run: Mapped[int]  # the finding's opening this letter answers
    open_fingerprint: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    snapshot: Mapped[dict[str, Any]]
    #: the violation ended in the source (resolved, or e.g. the late case completed): rectified
    #: for this letter; recorded, never closing it
    resolved_at: Mapped[dt.datetime | None]
    explained_at: Mapped[dt.datetime | None]  # the office accepted the unit's explanation (核实不予追究)

    __table_args__ = (sa.UniqueConstraint("letter_id", "finding_id", name="uq_letter_findings"),)


class LetterCounter(Base):
    """The last number given per prefix and year; updated atomically in the issuing transaction."""

    __tablename__ = "letter_counters"
    prefix: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class DeliveryRow(Base):
    """One letter to one channel: the outbox (architecture invariant 4)."""

    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(100))
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(index=True)
    last_attempt_at: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime]


class DeliveryAttempt(Base):
    """Every attempt, so the backoff an operator is told about can be checked."""

    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(sa.ForeignKey("deliveries.id"), index=True)
    at: Mapped[dt.datetime]
    ok: Mapped[bool]
    error: Mapped[str | None] = mapped_column(sa.Text)
    retry_in_seconds: Mapped[float | None]  # the backoff chosen after a failure; NULL if none


class FindingExplanation(Base):
    """The office accepted a unit's explanation for one finding (核实不予追究).

    The fingerprint is not lettered again while its facts (``facts``, a digest:
    see :func:`sunlight.alerts.planner.facts_digest`) stay the same.
    """

    __tablename__ = "finding_explanations"
    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64), index=True)
    facts: Mapped[str] = mapped_column(sa.String(64))
    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id"))
    by: Mapped[str] = mapped_column(sa.String(100))
    reason: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[dt.datetime]
    as_of: Mapped[dt.datetime]


class LetterReport(Base):
    """The written rectification report itself (整改报告), kept with the letter."""

    __tablename__ = "letter_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    by: Mapped[str] = mapped_column(sa.String(100))
    at: Mapped[dt.datetime]
    as_of: Mapped[dt.datetime]


class AuditEntry(Base):
    """Who did what to which letter, when (really, and as of), why, and the status before and after.

    ``prev_hash``/``hash`` chain the entries (:mod:`sunlight.monitor.store.audit_chain`).
    """

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime]  # the real time of the act
    as_of: Mapped[dt.datetime | None]  # the as-of time it applies to (a cycle's --at)
    actor: Mapped[str] = mapped_column(sa.String(100))
    action: Mapped[str] = mapped_column(sa.String(32))
    letter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("letters.id"), index=True)
    before: Mapped[str | None] = mapped_column(sa.String(20))
    after: Mapped[str | None] = mapped_column(sa.String(20))
    note: Mapped[str | None] = mapped_column(sa.Text)
    detail: Mapped[dict[str, Any]]
    prev_hash: Mapped[str | None] = mapped_column(sa.String(64))
    hash: Mapped[str | None] = mapped_column(sa.String(64))
