"""Issuing letters: load the letters' state, plan (a pure function), persist the plan.

One call of :func:`issue_letters` is one transaction that

1. takes the issue lock (``sunlight.alerts.numbering.take_issue_lock``), so two
   processes sharing a PostgreSQL store never letter one finding twice, and
   the audit lock, so the audit chain never forks;
2. records on open letters which of their findings are rectified in the
   source (resolved, or ended but kept on record like a case completed late);
   recorded, never used to close: only a person closes (letters.md);
3. loads the planner's input (open letters with their findings' state, the
   findings on no letter, the units' history of matters, the accepted
   explanations) and calls :func:`sunlight.alerts.planner.plan_letters`, page
   by page (:meth:`_Issuer.plan`: whole letters, a source's data-quality
   findings, whole units; every page read before anything is written), so the
   first cycle after a backlog holds one page of findings, not all of them
   with their evidence (issue 11);
4. persists the plan: status changes, new letters numbered and queued in the
   outbox (architecture invariant 4), every step in the audit log.

Reminders (提醒) are issued the same way as notices with their own number
prefix; data-quality findings go to the source's data owner as a notice,
never to the unit as a warning (architecture invariant 7).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine

from sunlight.alerts.audit import SYSTEM_ACTOR, audit, take_audit_lock
from sunlight.alerts.config import TIERS
from sunlight.alerts.numbering import next_number, take_issue_lock
from sunlight.alerts.planner import (
    DATA_QUALITY,
    Assessment,
    LetterFinding,
    NewFinding,
    OpenLetter,
    PastLetter,
    Plan,
    PlanInput,
    PlannedLetter,
    facts_digest,
    plan_letters,
    plan_periodic,
    previous_period,
)
from sunlight.alerts.queue import queue_deliveries
from sunlight.alerts.routing import channels_for
from sunlight.alerts.tiers import (
    LETTER_TIERS,
    SERIOUS,
    is_letter_tier,
    months_before,
    requirements,
    resolve_tier,
)
from sunlight.checks.quality import source_label
from sunlight.checks.registry import load_all
from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.records.org import PersonInfo
from sunlight.monitor.settings import Settings
from sunlight.monitor.store.letters_models import (
    OPEN_STATUSES,
    FindingExplanation,
    LetterFindingRow,
    LetterRow,
)
from sunlight.monitor.store.models import FindingRow

log = structlog.get_logger("sunlight.letters")


#: findings per page of the planner's input (whole units and letters: a larger one is one page)
PAGE = 5000
#: findings whose snapshots are built and inserted at once
_SNAPSHOT_PAGE = 1000
#: values in one IN list (PostgreSQL's driver allows 65,535 parameters, SQLite 32,766)
_IN_MAX = 10_000

UnitNames = Callable[[Iterable[str]], dict[str, str]]  # unit ids → names (missing ids: unknown)
People = Callable[[], Sequence[PersonInfo]]  # the sources' people tables (letters to a person)


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
    unit_id: str | None = None


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
    """One issuing transaction: load the planner's input, then persist its plan."""

    def __init__(self, conn: Connection, settings: Settings, calendar: WorkCalendar,
                 at: dt.datetime, now: dt.datetime, names: dict[str, str],
                 people: Mapping[str, PersonInfo] | None = None, page: int = PAGE) -> None:
        self.conn, self.settings, self.calendar = conn, settings, calendar
        self.people = people or {}
        self.tz = settings.tz
        self.at = at.astimezone(self.tz)
        self.now = now
        self._names = names
        self.titles = _check_titles()
        self.report = IssueReport()
        self.on_issued: Callable[[int], None] | None = None  # told how many letters are created
        self.page = page
        self._evidence: dict[int, dict[str, Any]] = {}  # the current page's, for person_of
        self._by_name: dict[tuple[str, str | None], list[str]] = defaultdict(list)  # (name, unit) → ids
        for p in self.people.values():
            self._by_name[(p.name, p.unit_id)].append(p.person_id)
        self._person_names = {pid: p.name for pid, p in self.people.items()}
        # who a source's data-quality notice is addressed to: its data owner, else the
        # source as the office names it (display_name), never the config key alone
        self._data_owners = {name: src.data_owner or f"{source_label(name, src)}的数据责任单位"
                             for name, src in settings.sources.items()}

    # --- step 2 ------------------------------------------------------------------

    def record_resolutions(self) -> None:
        """Mirror on open letters when each finding's violation ended in the source."""
        lf, f = LetterFindingRow, FindingRow
        self.conn.execute(
            sa.update(lf).where(lf.open_fingerprint.is_not(None)).values(
                resolved_at=sa.select(sa.func.coalesce(f.ended_at, f.resolved_at))
                .where(f.id == lf.finding_id).scalar_subquery()
            )
        )

    # --- step 3: the planner's input ----------------------------------------------

    def open_letter_pages(self) -> Iterator[list[OpenLetter]]:
        """The open warning letters with their findings' state, in pages of about ``page`` findings.

        A letter is never split (its escalation is decided on all its findings),
        and pages follow letter ids, the order in which the planner escalates.
        """
        letters = self.conn.execute(
            sa.select(LetterRow.id, LetterRow.number, LetterRow.tier, LetterRow.status, LetterRow.unit_id,
                      LetterRow.audience, LetterRow.recipient, LetterRow.source, LetterRow.matter_id,
                      LetterRow.rectify_by, LetterRow.report_received_at, LetterRow.admonition_held_at,
                      LetterRow.person_id, LetterRow.copy_to)
            .where(LetterRow.status.in_(OPEN_STATUSES), LetterRow.tier.in_(LETTER_TIERS))
            .order_by(LetterRow.id)
        ).all()
        if not letters:
            return
        lf = LetterFindingRow
        sizes = dict(self.conn.execute(
            sa.select(lf.letter_id, sa.func.count()).join(LetterRow, LetterRow.id == lf.letter_id)
            .where(LetterRow.status.in_(OPEN_STATUSES), LetterRow.tier.in_(LETTER_TIERS))
            .group_by(lf.letter_id)
        ).all())
        for chunk in _pages(letters, lambda x: sizes.get(x.id, 0), self.page, most=_IN_MAX):
            yield self._open_letters(chunk)

    def _open_letters(self, letters: Sequence[Any]) -> list[OpenLetter]:
        links: dict[int, list[LetterFinding]] = defaultdict(list)
        lf = LetterFindingRow
        f = FindingRow
        for letter_id, explained_at, finding_id, fp, check, resolved_at, ended_at in self.conn.execute(
            sa.select(lf.letter_id, lf.explained_at, f.id, f.fingerprint, f.check_id, f.resolved_at,
                      f.ended_at)
            .join(f, f.id == lf.finding_id)
            .where(lf.letter_id.in_([x.id for x in letters]))
            .order_by(lf.id)
        ):
            links[letter_id].append(LetterFinding(
                finding_id, fp, check, resolved_at is not None or ended_at is not None,
                explained_at is not None))
        return [OpenLetter(
            id=x.id, number=x.number, tier=x.tier, status=x.status,
            unit_id=x.unit_id, audience=x.audience, recipient=x.recipient, source=x.source,
            matter_id=x.matter_id or x.id, rectify_by=x.rectify_by,
            report_received=x.report_received_at is not None,
            admonition_held=x.admonition_held_at is not None, findings=tuple(links[x.id]),
            person_id=x.person_id, copy_to=x.copy_to,
        ) for x in letters]

    def new_finding_pages(self) -> Iterator[list[Any]]:
        """Open findings whose current opening no (unwithdrawn) letter answers, on no open letter.

        In pages of about ``page`` findings that never split what one letter
        decides on: the data-quality findings of one source (one notice to its
        data owner), then the other findings by whole units (a unit's letters,
        and its persons' letters, are planned from its findings alone), units
        in the planner's order. Only the columns the planner needs are read;
        the evidence only of the checks whose letters go to a person.
        """
        f = FindingRow
        unresolved: sa.ColumnElement[bool] = f.resolved_at.is_(None)
        if self.conn.dialect.name == "sqlite":
            # SQLite, without statistics, takes ``resolved_at IS NULL`` for the narrow condition
            # and reads the whole table for every page (at 1M findings, hundreds of GB from the
            # page cache); likely() says it holds for most rows, so the units' index is used
            unresolved = sa.func.likely(unresolved, type_=sa.Boolean)
        new = sa.and_(unresolved, ~_answered(), ~_on_open_letter())
        dq = f.check_id == DATA_QUALITY
        sources = self.conn.execute(
            sa.select(f.source, sa.func.count()).where(new, dq).group_by(f.source)).all()
        for source, _ in sorted(sources):
            yield self._findings(sa.and_(new, dq, f.source == source))
        units = sorted(self.conn.execute(
            sa.select(f.unit_id, sa.func.count()).where(new, ~dq).group_by(f.unit_id)).all())
        for chunk in _pages(units, lambda u: u[1], self.page, most=_IN_MAX):
            yield self._findings(sa.and_(new, ~dq, f.unit_id.in_([u for u, _ in chunk])))

    def _findings(self, where: sa.ColumnElement[bool]) -> list[Any]:
        """One page's findings (the columns the planner reads), by id."""
        f = FindingRow
        rows: list[Any] = list(self.conn.execute(
            sa.select(f.id, f.fingerprint, f.check_id, f.subject, f.unit_id, f.item_code, f.source,
                      f.tier, f.deadline).where(where).order_by(f.id)
        ))
        to_person = sorted(self.settings.letters.to_person)
        if to_person and self.people:  # the person a finding is about is in its evidence
            self._evidence = dict(self.conn.execute(
                sa.select(f.id, f.evidence).where(where, f.check_id.in_(to_person))).all())
        return rows

    def history(self, units: set[str], persons: Iterable[str] = ()) -> list[PastLetter]:
        """The units' letters and the persons' letters in the repeat window (each its own history)."""
        persons = set(persons)
        if not units and not persons:
            return []
        since = months_before(self.at, self.settings.tiers.repeat.window_months)
        whose = sa.or_(sa.and_(LetterRow.unit_id.in_(sorted(units)), LetterRow.audience == "unit"),
                       sa.and_(LetterRow.person_id.in_(sorted(persons)), LetterRow.audience == "person"))
        rows = self.conn.execute(
            sa.select(LetterRow.unit_id, LetterRow.matter_id, LetterRow.id, LetterRow.tier,
                      LetterRow.issued_at, LetterRow.person_id, LetterRow.audience)
            .where(whose, LetterRow.status != "withdrawn", LetterRow.tier.in_(LETTER_TIERS),
                   LetterRow.issued_at >= since, LetterRow.issued_at <= self.at)
        ).all()
        return [PastLetter(r.unit_id or "", r.matter_id or r.id, r.tier, r.issued_at,
                           r.person_id if r.audience == "person" else None) for r in rows]

    def person_of(self, row: Any) -> str | None:
        """The person a finding is about, if its check's letters go to the person and it names one.

        ``evidence.person_id`` (a voucher's only signer); else a case's ``handler``,
        which sources hold as a name: the one person of that name in the case's
        unit (none, or two of one name, and the finding stays on the unit's letter).
        """
        if row.check_id not in self.settings.letters.to_person or not self.people:
            return None
        ev = self._evidence.get(row.id) or {}
        pid = ev.get("person_id")
        if isinstance(pid, str) and pid in self.people:
            return pid
        handler = ev.get("handler")
        if isinstance(handler, str) and handler:
            same = self._by_name.get((handler, row.unit_id), [])
            if len(same) == 1:
                return same[0]
        return None

    def explained(self, fingerprints: set[str]) -> dict[str, str]:
        """The latest accepted facts per fingerprint (read in parts of ``_IN_MAX``)."""
        wanted = sorted(fingerprints)
        rows: list[Any] = []
        for i in range(0, len(wanted), _IN_MAX):
            rows += self.conn.execute(
                sa.select(FindingExplanation.id, FindingExplanation.fingerprint, FindingExplanation.facts)
                .where(FindingExplanation.fingerprint.in_(wanted[i:i + _IN_MAX]))
            ).all()
        return {fp: facts for _, fp, facts in sorted(rows)}  # by id: the latest wins

    def plan_input(self, found: Sequence[Any], open_letters: Sequence[OpenLetter] = ()) -> PlanInput:
        """The planner's input for one page: open letters, or new findings (columns as in ``_findings``)."""
        persons = {r.id: self.person_of(r) for r in found}
        return PlanInput(
            at=self.at, policy=self.settings.tiers, open_letters=open_letters,
            new_findings=[NewFinding(r.id, r.fingerprint, r.check_id, r.unit_id, r.item_code, r.source,
                                     r.tier, facts_digest(r.check_id, r.subject, r.unit_id,
                                                          r.item_code, r.deadline), persons[r.id])
                          for r in found],
            history=self.history({r.unit_id for r in found if r.check_id != DATA_QUALITY},
                                 {p for p in persons.values() if p}),
            to_person=frozenset(self.settings.letters.to_person),
            person_names=self._person_names,
            explained=self.explained({r.fingerprint for r in found}),
            unit_names=self._names,
            data_owners=self._data_owners,
        )

    def plan(self) -> Plan:
        """The whole cycle's plan, planned page by page before anything is written.

        Every read sees the store as the cycle found it (as when the plan was
        made in one piece): no page's letters are in another page's history,
        and the findings an escalation frees are lettered, if at all, next
        cycle. The pages split only what the planner decides independently
        (letters one by one; a source's notice; a unit with its persons), and
        come in the planner's order, so the letters and their numbers are the
        same whatever the page size (tests/test_letter_pages.py). What is kept
        across pages is the plan itself: finding ids, not findings.
        """
        plan = Plan()
        for letters in self.open_letter_pages():
            _merge(plan, plan_letters(self.plan_input((), letters)))
        for found in self.new_finding_pages():
            _merge(plan, plan_letters(self.plan_input(found)))
            self._evidence = {}
        return plan

    # --- step 4: persisting the plan ------------------------------------------------

    def persist(self, plan: Plan) -> None:
        by_cites = {p.cites: p for p in plan.letters if p.cites is not None}
        for change in plan.changes:
            values: dict[str, Any] = {"status": change.after}
            values["overdue_at" if change.after == "overdue" else "escalated_at"] = self.at
            self.conn.execute(sa.update(LetterRow).where(LetterRow.id == change.letter_id).values(**values))
            if change.release:
                self.conn.execute(sa.update(LetterFindingRow)
                                  .where(LetterFindingRow.letter_id == change.letter_id)
                                  .values(open_fingerprint=None))
            detail: dict[str, Any] = {"number": change.number}
            if change.after == "overdue":
                audit(self.conn, self.now, SYSTEM_ACTOR, "overdue", change.letter_id, change.before,
                      "overdue", note=change.note, detail=detail, as_of=self.at)
                self.report.overdue.append(change.number)
                continue
            new = self.create(by_cites[change.letter_id], cites_number=change.number)
            detail["new_letter"] = new.number
            label = self.settings.tiers.label(new.tier)
            audit(self.conn, self.now, SYSTEM_ACTOR, "escalate", change.letter_id, change.before,
                  "escalated", note=f"升级为{new.number}（{label}），{change.note}", detail=detail,
                  as_of=self.at)
            self.report.escalated.append(change.number)
        for planned in plan.letters:
            if planned.cites is None:
                self.create(planned)

    # --- 定期预警 (seed 004:68) ------------------------------------------------------

    def periodic(self) -> list[PlannedLetter]:
        """The periodic letters due at this cycle: the last complete period, once per unit."""
        cfg = self.settings.letters.periodic
        if cfg.every is None:
            return []
        period = previous_period(cfg.every, self.at.date())
        if self.at.date() < self.calendar.add_workdays(period.end, cfg.issue_after_workdays):
            return []
        already: set[str] = set(self.conn.execute(
            sa.select(LetterRow.unit_id).where(LetterRow.reason == "periodic", LetterRow.period == period.key,
                                               LetterRow.status != "withdrawn",
                                               LetterRow.unit_id.is_not(None))
        ).scalars())  # type: ignore[arg-type]
        start = dt.datetime.combine(period.start, dt.time(0), self.tz)
        end = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(0), self.tz)
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        f = FindingRow
        for check, unit_id, item_code, tier, n in self.conn.execute(  # counted by the store
            sa.select(f.check_id, f.unit_id, f.item_code, f.tier, sa.func.count())
            .where(f.first_seen >= start, f.first_seen < end, f.check_id != DATA_QUALITY)
            .group_by(f.check_id, f.unit_id, f.item_code, f.tier)
        ):
            resolved = resolve_tier(self.settings.tiers, check, tier if tier in TIERS else "level3",
                                    unit_id, item_code)
            if resolved in LETTER_TIERS:
                counts[unit_id][0] += n
                counts[unit_id][1] += n * (resolved in SERIOUS)
        for letter_unit, n in self.conn.execute(
            sa.select(LetterRow.unit_id, sa.func.count()).where(
                LetterRow.audience == "unit", LetterRow.tier.in_(LETTER_TIERS),
                LetterRow.status != "withdrawn", LetterRow.overdue_at.is_not(None),
                LetterRow.rectify_by >= period.start, LetterRow.rectify_by <= period.end,
            ).group_by(LetterRow.unit_id)
        ):
            if letter_unit:
                counts[letter_unit][2] = n
        assessments = [Assessment(u, *c) for u, c in counts.items() if u]
        names = {**{u: u for u in counts}, **self._names}
        return plan_periodic(period, cfg, assessments, already, names)

    def create(self, planned: PlannedLetter, cites_number: str | None = None) -> IssuedLetter:
        letters = self.settings.letters
        tier = planned.tier
        warning = is_letter_tier(tier)
        prefix = letters.number_prefix if warning else letters.reminder_prefix
        seq, number = next_number(self.conn, prefix, self.at.year)
        rectify_by = (self.calendar.add_workdays(self.at.date(), self.settings.tiers.rectify_workdays[tier])
                      if warning else None)
        req = requirements(tier)
        findings = self._letter_order(planned.finding_ids)
        checks = sorted({r.check_id for r in findings})
        letter_id = self.conn.execute(
            sa.insert(LetterRow).returning(LetterRow.id),
            {"number": number, "prefix": prefix, "year": self.at.year, "seq": seq, "tier": tier,
             "status": "issued", "audience": planned.audience, "unit_id": planned.unit_id,
             "recipient": planned.recipient, "source": planned.source, "checks": ",".join(checks),
             "reason": planned.reason, "issued_at": self.at, "rectify_by": rectify_by,
             "requires_report": req.report, "requires_admonition": req.admonition,
             "cites_letter_id": planned.cites, "matter_id": planned.matter_id, "created_at": self.now,
             "period": planned.period, "person_id": planned.person_id, "copy_to": planned.copy_to,
             "assessment": dict(planned.assessment) if planned.assessment is not None else None},
        ).scalar_one()
        if planned.matter_id is None:  # the first letter of a matter names it
            self.conn.execute(sa.update(LetterRow).where(LetterRow.id == letter_id)
                              .values(matter_id=letter_id))
        for i in range(0, len(findings), _SNAPSHOT_PAGE):
            self._link(letter_id, [r.id for r in findings[i:i + _SNAPSHOT_PAGE]], warning)
        channels = channels_for(self.settings.routes, tier, planned.unit_id, checks)
        if not channels:
            log.warning("no route for letter: kept in the store, not delivered", number=number)
        queue_deliveries(self.conn, letter_id, number, channels, self.now)
        audit(self.conn, self.now, SYSTEM_ACTOR, "issue", letter_id, None, "issued",
              detail={"number": number, "tier": tier, "reason": planned.reason, "channels": channels,
                      "findings": [r.fingerprint for r in findings], "cites": cites_number,
                      "matter": planned.matter_id or letter_id,
                      "serious_matters": planned.serious_matters},
              as_of=self.at)
        issued = IssuedLetter(letter_id, number, tier, planned.recipient, planned.reason, len(findings),
                              channels, cites_number, rectify_by, planned.unit_id)
        self.report.issued.append(issued)
        if self.on_issued is not None:
            self.on_issued(len(self.report.issued))
        log.info("letter issued", number=number, tier=tier, unit=planned.unit_id, findings=len(findings),
                 reason=planned.reason)
        return issued

    def _letter_order(self, ids: Sequence[int]) -> list[Any]:
        """The letter's findings (id, fingerprint, check) in the letter's order: unit, check, subject.

        The store sorts them when they fit one query (any letter up to
        ``_IN_MAX`` findings, which is what a letter holds); a larger letter is
        read in parts and sorted here by the same keys (code-point order, which
        is SQLite's and the C collation's).
        """
        f = FindingRow
        if not ids:
            return []
        order = (f.unit_id, f.check_id, f.subject, f.id)
        if len(ids) <= _IN_MAX:
            return list(self.conn.execute(sa.select(f.id, f.fingerprint, f.check_id)
                                          .where(f.id.in_(ids)).order_by(*order)).all())
        rows: list[Any] = []
        for i in range(0, len(ids), _IN_MAX):
            rows += self.conn.execute(sa.select(*order, f.fingerprint)
                                      .where(f.id.in_(ids[i:i + _IN_MAX]))).all()
        rows.sort(key=lambda r: (r.unit_id, r.check_id, r.subject, r.id))
        return rows

    def _link(self, letter_id: int, ids: list[int], warning: bool) -> None:
        """Put these findings on the letter, each with the snapshot of its facts (in ``ids``' order)."""
        f = FindingRow
        got = {r.id: r for r in self.conn.execute(
            sa.select(f.id, f.fingerprint, f.opened_run, f.ended_at, f.resolved_at, f.check_id,
                      f.subject, f.unit_id, f.item_code, f.evidence, f.summary, f.deadline, f.overdue,
                      f.measure, f.source).where(f.id.in_(ids)))}
        self.conn.execute(sa.insert(LetterFindingRow), [
            {"letter_id": letter_id, "finding_id": r.id, "fingerprint": r.fingerprint,
             "opened_run": r.opened_run, "open_fingerprint": r.fingerprint if warning else None,
             "snapshot": snapshot(r, self.tz, self.titles),
             "resolved_at": r.ended_at or r.resolved_at}
            for r in (got[i] for i in ids)
        ])



def _pages(items: Sequence[Any], size: Callable[[Any], int], page: int,
           most: int | None = None) -> Iterator[Sequence[Any]]:
    """Consecutive runs of ``items`` of about ``page`` in total size (an item larger is a run alone)."""
    start, total = 0, 0
    for i, item in enumerate(items):
        n = size(item)
        if i > start and (total + n > page or (most is not None and i - start >= most)):
            yield items[start:i]
            start, total = i, 0
        total += n
    if start < len(items):
        yield items[start:]


def _merge(plan: Plan, page: Plan) -> None:
    """One page's plan after the previous pages' (the planner's order is the pages' order)."""
    plan.changes.extend(page.changes)
    plan.letters.extend(page.letters)
    plan.skipped_explained.extend(page.skipped_explained)


def _answered() -> sa.ColumnElement[bool]:
    """The finding's current opening is on a letter that was not withdrawn."""
    lf = LetterFindingRow
    return sa.exists().where(lf.finding_id == FindingRow.id, lf.opened_run == FindingRow.opened_run,
                             lf.letter_id == LetterRow.id, LetterRow.status != "withdrawn")


def _on_open_letter() -> sa.ColumnElement[bool]:
    return sa.exists().where(LetterFindingRow.open_fingerprint == FindingRow.fingerprint)


def _unit_names_for_new_letters(store: Engine, settings: Settings,
                                unit_names: UnitNames | None) -> dict[str, str]:
    """Names of the units that may get a letter, read before the issuing transaction.

    Reading the sources can be slow; doing it first keeps the issue lock (and,
    on SQLite, the store's write lock) short. A unit whose name cannot be read
    is addressed by its id.
    """
    if unit_names is None:
        return {}
    with store.connect() as conn:
        wanted = FindingRow.check_id != DATA_QUALITY
        if settings.letters.periodic.every is None:  # periodic letters may go to any unit
            wanted = sa.and_(wanted, FindingRow.resolved_at.is_(None), ~_answered())
        ids = set(conn.execute(sa.select(FindingRow.unit_id).distinct().where(wanted)).scalars())
    ids.discard("")
    if not ids:
        return {}
    try:
        return unit_names(ids)
    except Exception as exc:  # a source down must not stop the letters
        log.warning("unit names unavailable", error=str(exc))
        return {}


def _people_for_person_letters(settings: Settings, people: People | None) -> dict[str, PersonInfo]:
    """The people tables, read before the issuing transaction, only if letters go to persons.

    A source down (or no people table) leaves the findings on their units' letters.
    """
    if people is None or not settings.letters.to_person:
        return {}
    try:
        return {p.person_id: p for p in people()}
    except Exception as exc:  # a source down must not stop the letters
        log.warning("people unavailable: letters go to the units", error=str(exc))
        return {}


def issue_letters(store: Engine, settings: Settings, calendar: WorkCalendar, at: dt.datetime,
                  unit_names: UnitNames | None = None, now: dt.datetime | None = None,
                  people: People | None = None, page: int = PAGE,
                  progress: Callable[[int, int], None] | None = None) -> IssueReport:
    """Escalate overdue letters and issue letters for new findings, in one transaction.

    ``at`` is the cycle's as-of time (issue dates, deadlines, the repeat
    window); ``now`` is the wall clock (audit and outbox times). ``people``
    reads the people tables, for letters to a person (``letters.to_person``).
    ``progress`` is told (letters created, letters planned) as the plan is
    persisted: a terminal's progress bar.
    ``page``: about how many findings are read and planned at once (the
    letters are the same whatever it is; it bounds the memory).
    """
    now = now or dt.datetime.now(dt.UTC)
    names = _unit_names_for_new_letters(store, settings, unit_names)
    persons = _people_for_person_letters(settings, people)
    with store.begin() as conn:
        take_issue_lock(conn)
        take_audit_lock(conn)
        issuer = _Issuer(conn, settings, calendar, at, now, names, persons, page)
        issuer.record_resolutions()
        plan = issuer.plan()
        plan.letters.extend(issuer.periodic())
        if progress is not None:
            planned = len(plan.letters)
            progress(0, planned)
            issuer.on_issued = lambda created: progress(created, planned)
        issuer.persist(plan)
    return issuer.report
