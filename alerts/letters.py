"""Issuing letters: group new findings per unit and tier, number them, escalate the overdue.

One call of :func:`issue_letters` is one transaction that

1. takes the issue lock (``sunlight.alerts.numbering.take_issue_lock``), so two
   processes sharing a PostgreSQL store never letter one finding twice;
2. records on open letters which of their findings resolved in the source
   (recorded, never used to close: only a person closes, letters.md);
3. escalates: a letter past ``rectify_by`` with a requirement unmet becomes
   ``overdue`` and then ``escalated``, and a letter one tier higher is issued
   for the same findings, citing the old number (level1 has no higher tier: it
   stays ``overdue`` for the office to act on);
4. issues one letter per unit and tier for every finding whose current
   opening is not on a letter yet and that is not on an open letter, applying
   the repeat rule (seed 000:150) to the tier;
5. queues each letter's deliveries in the outbox (architecture invariant 4).

Reminders (提醒) are issued the same way as notices with their own number
prefix; data-quality findings go to the source's data owner as a notice,
never to the unit as a warning (architecture invariant 7).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine

from sunlight.alerts.config import TIERS, Tier
from sunlight.alerts.lifecycle import SYSTEM_ACTOR, audit
from sunlight.alerts.numbering import next_number, take_issue_lock
from sunlight.alerts.queue import queue_deliveries
from sunlight.alerts.routing import channels_for
from sunlight.alerts.tiers import (
    LETTER_TIERS,
    higher,
    is_letter_tier,
    months_before,
    more_severe,
    repeat_tier,
    requirement_unmet,
    requirements,
)
from sunlight.checks.quality import source_label
from sunlight.checks.registry import load_all
from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.settings import Settings
from sunlight.monitor.store.letters_models import OPEN_STATUSES, LetterFindingRow, LetterRow
from sunlight.monitor.store.models import FindingRow

log = structlog.get_logger("sunlight.letters")

DATA_QUALITY = "data_quality"
UnitNames = Callable[[Iterable[str]], dict[str, str]]  # unit ids → names (missing ids: unknown)


@dataclass
class IssuedLetter:
    """What the cycle reports about one letter it issued."""

    id: int
    number: str
    tier: str
    recipient: str
    reason: str  # new | repeat | escalation
    findings: int
    channels: list[str]
    cites: str | None = None
    rectify_by: dt.date | None = None


@dataclass
class IssueReport:
    issued: list[IssuedLetter] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)  # numbers of letters escalated this cycle
    overdue: list[str] = field(default_factory=list)  # numbers newly marked overdue


def _check_titles() -> dict[str, str]:
    return {cid: cls.title for cid, cls in load_all().items()}


def snapshot(row: Any, tz: dt.tzinfo, titles: dict[str, str]) -> dict[str, Any]:
    """The finding's facts as the letter states them (kept: the letter never changes)."""
    ev = row.evidence or {}
    return {
        "check": row.check_id,
        "check_title": titles.get(row.check_id, row.check_id),
        "subject": row.subject,
        "unit_id": row.unit_id,
        "item_code": row.item_code,
        "item_name": ev.get("item_name"),
        "summary": row.summary,
        "deadline": row.deadline.astimezone(tz).isoformat() if row.deadline else None,
        "overdue": None if row.overdue is None else format(row.overdue.normalize(), "f"),
        "measure": row.measure,
        "rule": ev.get("rule") or {},
        "source": row.source,
        "evidence": {k: ev[k] for k in ("entity", "key", "field", "reason") if k in ev},
    }


class _Issuer:
    """One issuing transaction's working state."""

    def __init__(self, conn: Connection, settings: Settings, calendar: WorkCalendar,
                 at: dt.datetime, now: dt.datetime, names: dict[str, str]) -> None:
        self.conn, self.settings, self.calendar = conn, settings, calendar
        self.tz = settings.tz
        self.at = at.astimezone(self.tz)
        self.now = now
        self._names = names
        self.titles = _check_titles()
        self.report = IssueReport()

    # --- look-ups ----------------------------------------------------------------

    def unit_name(self, unit_id: str) -> str:
        return self._names.get(unit_id, unit_id) or "单位不明"

    def serious_letters(self, unit_id: str) -> int:
        """Letters of level2 or worse this unit received within the repeat window."""
        since = months_before(self.at, self.settings.tiers.repeat.window_months)
        return self.conn.execute(
            sa.select(sa.func.count()).select_from(LetterRow).where(
                LetterRow.unit_id == unit_id, LetterRow.audience == "unit",
                LetterRow.tier.in_(("level2", "level1")),
                LetterRow.issued_at >= since, LetterRow.issued_at <= self.at,
            )
        ).scalar_one()

    # --- steps -------------------------------------------------------------------

    def record_resolutions(self) -> None:
        """Mirror each open letter's findings' resolution onto the letter."""
        lf, f = cast(sa.Table, LetterFindingRow.__table__), cast(sa.Table, FindingRow.__table__)
        self.conn.execute(
            sa.update(lf).where(lf.c.open_fingerprint.is_not(None)).values(
                resolved_at=sa.select(f.c.resolved_at).where(f.c.id == lf.c.finding_id)
                .scalar_subquery()
            )
        )

    def escalate(self) -> None:
        today = self.at.date()
        due = self.conn.execute(
            sa.select(LetterRow).where(
                LetterRow.status.in_(OPEN_STATUSES), LetterRow.tier.in_(LETTER_TIERS),
                LetterRow.rectify_by < today,
            ).order_by(LetterRow.id)
        ).all()
        for letter in due:
            rows = self.conn.execute(
                sa.select(FindingRow).join(LetterFindingRow, LetterFindingRow.finding_id == FindingRow.id)
                .where(LetterFindingRow.letter_id == letter.id).order_by(LetterFindingRow.id)
            ).all()
            unmet = requirement_unmet(
                letter.tier, letter.report_received_at is not None,
                letter.admonition_held_at is not None,
                all(r.resolved_at is not None for r in rows),
            )
            if not unmet:
                continue
            status = letter.status
            if status != "overdue":
                self._set_status(letter, "overdue", overdue_at=self.at)
                audit(self.conn, self.now, SYSTEM_ACTOR, "overdue", letter.id, status, "overdue",
                      note=f"整改期限{letter.rectify_by}已过，要求未落实",
                      detail={"number": letter.number, "as_of": self.at.isoformat()})
                self.report.overdue.append(letter.number)
            nxt = higher(letter.tier)
            if nxt is None:
                continue
            self._set_status(letter, "escalated", escalated_at=self.at)
            self.conn.execute(
                sa.update(LetterFindingRow).where(LetterFindingRow.letter_id == letter.id)
                .values(open_fingerprint=None)
            )
            tier = more_severe(nxt, repeat_tier(self.settings.tiers, nxt,
                                                self.serious_letters(letter.unit_id or "")))
            new = self.create(tier=tier, audience=letter.audience, unit_id=letter.unit_id,
                              recipient=letter.recipient, source=letter.source, findings=rows,
                              reason="escalation", cites=letter)
            audit(self.conn, self.now, SYSTEM_ACTOR, "escalate", letter.id, "overdue", "escalated",
                  note=f"升级为{new.number}",
                  detail={"number": letter.number, "new_letter": new.number, "as_of": self.at.isoformat()})
            self.report.escalated.append(letter.number)

    def issue_new(self) -> None:
        lf = LetterFindingRow
        answered = sa.exists().where(lf.finding_id == FindingRow.id, lf.opened_run == FindingRow.opened_run)
        on_open_letter = sa.exists().where(lf.open_fingerprint == FindingRow.fingerprint)
        rows = self.conn.execute(
            sa.select(FindingRow).where(FindingRow.resolved_at.is_(None), ~answered, ~on_open_letter)
            .order_by(FindingRow.unit_id, FindingRow.check_id, FindingRow.subject)
        ).all()
        if not rows:
            return
        notices: dict[str, list[Any]] = defaultdict(list)  # data owner notices per source
        per_unit: dict[str, dict[Tier, list[Any]]] = defaultdict(lambda: defaultdict(list))
        for r in rows:
            if r.check_id == DATA_QUALITY:
                notices[r.source].append(r)
            else:
                per_unit[r.unit_id][r.tier if r.tier in TIERS else "level3"].append(r)
        for source, found in sorted(notices.items()):
            cfg = self.settings.sources.get(source)
            owner = cfg.data_owner if cfg is not None else None
            self.create(tier="reminder", audience="data_owner", unit_id=None,
                        recipient=owner or f"{source_label(source, cfg)}的数据责任单位", source=source,
                        findings=found, reason="new")
        for unit_id, by_tier in sorted(per_unit.items()):
            serious = self.serious_letters(unit_id)
            merged: dict[Tier, tuple[list[Any], str]] = {}
            for tier in sorted(by_tier, key=TIERS.index, reverse=True):
                effective = repeat_tier(self.settings.tiers, tier, serious)
                found, reason = merged.get(effective, ([], "new"))
                merged[effective] = (found + by_tier[tier], "repeat" if effective != tier else reason)
            for tier, (found, reason) in sorted(merged.items(), key=lambda kv: -TIERS.index(kv[0])):
                self.create(tier=tier, audience="unit", unit_id=unit_id,
                            recipient=self.unit_name(unit_id), source=None, findings=found,
                            reason=reason)

    # --- one letter --------------------------------------------------------------

    def _set_status(self, letter: Any, status: str, **values: Any) -> None:
        self.conn.execute(sa.update(LetterRow).where(LetterRow.id == letter.id)
                          .values(status=status, **values))

    def create(self, *, tier: Tier, audience: str, unit_id: str | None, recipient: str,
               source: str | None, findings: Sequence[Any], reason: str,
               cites: Any | None = None) -> IssuedLetter:
        letters = self.settings.letters
        warning = is_letter_tier(tier)
        prefix = letters.number_prefix if warning else letters.reminder_prefix
        seq, number = next_number(self.conn, prefix, self.at.year)
        rectify_by = (self.calendar.add_workdays(self.at.date(), self.settings.tiers.rectify_workdays[tier])
                      if warning else None)
        req = requirements(tier)
        checks = sorted({r.check_id for r in findings})
        letter_id = self.conn.execute(
            sa.insert(LetterRow).returning(LetterRow.id),
            {"number": number, "prefix": prefix, "year": self.at.year, "seq": seq, "tier": tier,
             "status": "issued", "audience": audience, "unit_id": unit_id, "recipient": recipient,
             "source": source, "checks": ",".join(checks), "reason": reason, "issued_at": self.at,
             "rectify_by": rectify_by, "requires_report": req.report,
             "requires_admonition": req.admonition, "cites_letter_id": cites.id if cites else None,
             "created_at": self.now},
        ).scalar_one()
        self.conn.execute(sa.insert(LetterFindingRow), [
            {"letter_id": letter_id, "finding_id": r.id, "fingerprint": r.fingerprint,
             "opened_run": r.opened_run, "open_fingerprint": r.fingerprint if warning else None,
             "snapshot": snapshot(r, self.tz, self.titles), "resolved_at": r.resolved_at}
            for r in findings
        ])
        channels = channels_for(self.settings.routes, tier, unit_id, checks)
        if not channels:
            log.warning("no route for letter: kept in the store, not delivered", number=number)
        queue_deliveries(self.conn, letter_id, number, channels, self.now)
        audit(self.conn, self.now, SYSTEM_ACTOR, "issue", letter_id, None, "issued",
              detail={"number": number, "tier": tier, "reason": reason, "channels": channels,
                      "findings": [r.fingerprint for r in findings],
                      "cites": cites.number if cites else None, "as_of": self.at.isoformat()})
        issued = IssuedLetter(letter_id, number, tier, recipient, reason, len(findings), channels,
                              cites.number if cites else None, rectify_by)
        self.report.issued.append(issued)
        log.info("letter issued", number=number, tier=tier, unit=unit_id, findings=len(findings),
                 reason=reason)
        return issued


def _unit_names_for_new_letters(store: Engine, unit_names: UnitNames | None) -> dict[str, str]:
    """Names of the units that may get a letter, read before the issuing transaction.

    Reading the sources can be slow; doing it first keeps the issue lock (and,
    on SQLite, the store's write lock) short. A unit whose name cannot be read
    is addressed by its id.
    """
    if unit_names is None:
        return {}
    lf = LetterFindingRow
    answered = sa.exists().where(lf.finding_id == FindingRow.id, lf.opened_run == FindingRow.opened_run)
    with store.connect() as conn:
        ids = set(conn.execute(
            sa.select(FindingRow.unit_id).distinct()
            .where(FindingRow.resolved_at.is_(None), FindingRow.check_id != DATA_QUALITY, ~answered)
        ).scalars())
    ids.discard("")
    if not ids:
        return {}
    try:
        return unit_names(ids)
    except Exception as exc:  # a source down must not stop the letters
        log.warning("unit names unavailable", error=str(exc))
        return {}


def issue_letters(store: Engine, settings: Settings, calendar: WorkCalendar, at: dt.datetime,
                  unit_names: UnitNames | None = None, now: dt.datetime | None = None) -> IssueReport:
    """Escalate overdue letters and issue letters for new findings, in one transaction.

    ``at`` is the cycle's as-of time (issue dates, deadlines, the repeat
    window); ``now`` is the wall clock (audit and outbox times).
    """
    now = now or dt.datetime.now(dt.UTC)
    names = _unit_names_for_new_letters(store, unit_names)
    with store.begin() as conn:
        take_issue_lock(conn)
        issuer = _Issuer(conn, settings, calendar, at, now, names)
        issuer.record_resolutions()
        issuer.escalate()
        issuer.issue_new()
    return issuer.report
