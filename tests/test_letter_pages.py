"""Issuing letters in pages changes nothing (issue 11, item 3: bounded memory after a backlog).

``issue_letters`` reads and plans the findings page by page (whole units, a
source's data-quality findings, open letters whole) so that the first cycle
after a backlog holds a page at a time, not every finding with its evidence.
The letters must be exactly those of one page: the same numbers, tiers,
reasons, recipients, findings and snapshots, the same escalations and audit
entries. Here one scripted history of eight weekly cycles runs on two stores,
once with one page for everything and once with pages of one finding and IN
lists of two values (every paged path taken: letters larger than an IN list,
explanations read in parts, open letters in parts), and the two stores are
compared letter by letter and audit entry by audit entry.

The history has a unit that ignores every letter (三级 → 二级 → 一级), one that
rectifies at once, one whose matters start at 二级 by an override and offends
again (the repeat rule lifts it to 一级), a unit with more findings than any
page, letters to a person (the same person named in two units, whose own
history makes the repeat), findings a report rectifies, an accepted
explanation, and data-quality findings of two sources.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import sunlight.alerts.letters as letters_module
from sunlight.alerts.letters import issue_letters
from sunlight.alerts.lifecycle import Act, apply_act
from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.finding import Finding
from sunlight.monitor.records.org import PersonInfo
from sunlight.monitor.store import open_store
from sunlight.monitor.store.letters_models import AuditEntry, LetterFindingRow, LetterRow
from tests.conftest import postgres_schema
from tests.test_letters_kit import at, finding, quick_settings, record, settings_for

CAL = WorkCalendar()
NOW = dt.datetime(2026, 12, 31, 12, tzinfo=dt.UTC)
NAMES = {"U1": "县民政局", "U2": "县教育局", "U3": "县交通运输局", "U4": "县财政局", "U5": "县卫健委",
         "BIG": "县市场监督管理局"}
PEOPLE = [PersonInfo("P1", "王芳", "U4"), PersonInfo("P2", "李建国", "U5")]
EXTRA = ("tiers:\n  overrides:\n    - match: {check: case_overdue, unit_id: U3}\n      tier: level2\n"
         "letters:\n  to_person: [single_signature]\n")
MONDAYS = [at(2026, 9, 28, 9) + dt.timedelta(weeks=w) for w in range(8)]


def signature(subject: str, unit: str, person: str) -> Finding:
    return Finding(check="single_signature", subject=subject, unit_id=unit, tier="level3",
                   summary=f"凭证{subject}仅一人签字", evidence={"person_id": person, "voucher_id": subject})


def quality(subject: str, source: str) -> Finding:
    return Finding(check="data_quality", subject=subject, unit_id="", tier="reminder",
                   summary=f"{subject}的日期无法解析", evidence={"entity": "cases", "key": subject,
                                                              "field": "accepted_at", "reason": "bad"})


def seen(week: int) -> dict[str, list[Finding]]:
    """What the scans of each source see in ``week`` (0 is the first Monday)."""
    main = [finding("case_overdue", f"C1-{i}", "U1") for i in range(3)]  # U1 never rectifies
    if week == 0:
        main += [finding("case_overdue", f"C2-{i}", "U2") for i in range(2)]  # U2 rectifies at once
    main += [finding("case_overdue", f"C3-{w}", "U3") for w in range(0, week + 1, 3)]  # new ones
    main += [finding("case_overdue", f"CB-{i:03d}", "BIG", overdue=i % 7 + 1) for i in range(12)]
    main += [signature("V1", "U4", "P1"), signature("V2", "U4", "P1"), signature("V9", "U4", "NOBODY")]
    if week >= 3:
        main += [signature("V3", "U5", "P1"), signature("V4", "U5", "P2")]  # 王芳 again, elsewhere
    main += [quality(f"Q{i}", "main") for i in range(2 + week % 2)]
    other = [quality(f"R{i}", "other") for i in range(3)]
    return {"main": main, "other": other}


def history(url: str, tmp_path: Path, page: int) -> None:
    """Eight weekly cycles; the office's acts go by what each unit does, not by letter numbers."""
    store = open_store(url)
    s = quick_settings(settings_for(tmp_path, url, EXTRA, name=f"s{page}.yaml"))
    try:
        for week, monday in enumerate(MONDAYS):
            for source, found in seen(week).items():
                record(store, found, monday - dt.timedelta(hours=1), source=source,
                       checks=("case_overdue", "single_signature", "data_quality"))
            issue_letters(store, s, CAL, monday, lambda ids: {u: NAMES[u] for u in ids if u in NAMES},
                          now=NOW, people=lambda: PEOPLE, page=page)
            with store.connect() as conn:
                open_of = {(x.unit_id, x.person_id): x.number for x in conn.execute(
                    sa.select(LetterRow.unit_id, LetterRow.person_id, LetterRow.number)
                    .where(LetterRow.status == "issued", LetterRow.tier != "reminder")
                    .order_by(LetterRow.id))}
            when = monday + dt.timedelta(days=1)
            if ("BIG", None) in open_of and week == 1:  # the office accepts one explanation
                apply_act(store, open_of[("BIG", None)],
                          Act("explain", "王五", "经核实系申请人要求暂缓", finding="2", as_of=when), now=NOW)
            if ("U3", None) in open_of:  # U3 reports and completes on time (a report rectifies nothing
                apply_act(store, open_of[("U3", None)],  # by itself: its findings end below)
                          Act("report", "李四", "整改报告", file="r.pdf", as_of=when), now=NOW)
            if ("U4", "P1") in open_of:
                apply_act(store, open_of[("U4", "P1")], Act("ack", "李四", as_of=when), now=NOW)
    finally:
        store.dispose()


def dump(url: str) -> dict[str, Any]:
    """Every letter with its findings' snapshots, and the audit log, as comparable values."""
    store = open_store(url, migrate=False)
    try:
        with store.connect() as conn:
            rows = conn.execute(sa.select(LetterRow).order_by(LetterRow.id)).all()
            number = {x.id: x.number for x in rows}
            out: dict[str, Any] = {}
            for x in rows:
                links = conn.execute(sa.select(LetterFindingRow.fingerprint, LetterFindingRow.snapshot,
                                               LetterFindingRow.open_fingerprint,
                                               LetterFindingRow.resolved_at)
                                     .where(LetterFindingRow.letter_id == x.id)
                                     .order_by(LetterFindingRow.id)).all()
                out[x.number] = (x.tier, x.status, x.audience, x.unit_id, x.recipient, x.source, x.checks,
                                 x.reason, x.issued_at, x.rectify_by, number.get(x.cites_letter_id),
                                 number.get(x.matter_id), x.person_id, x.copy_to, x.overdue_at,
                                 x.escalated_at, [tuple(link) for link in links])
            audit = [(e.action, number.get(e.letter_id), e.before, e.after, e.note, e.detail, e.as_of)
                     for e in conn.execute(sa.select(AuditEntry).order_by(AuditEntry.id))]
        return {"letters": out, "audit": audit}
    finally:
        store.dispose()


@contextmanager
def two_stores(kind: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'paged.db'}"
        return
    with ExitStack() as stack:
        yield stack.enter_context(postgres_schema()), stack.enter_context(postgres_schema())


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_pages_of_one_finding_issue_the_same_letters_as_one_page(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with two_stores(kind, tmp_path) as (one, paged):
        history(one, tmp_path, page=1_000_000)
        monkeypatch.setattr(letters_module, "_IN_MAX", 2)
        monkeypatch.setattr(letters_module, "_SNAPSHOT_PAGE", 1)
        history(paged, tmp_path, page=1)
        a, b = dump(one), dump(paged)
    assert a["letters"].keys() == b["letters"].keys()
    for number in a["letters"]:
        assert a["letters"][number] == b["letters"][number], number
    assert a["audit"] == b["audit"]
    # the history did what it says, so the comparison covers every kind of letter
    got = a["letters"].values()
    assert {x[0] for x in got} == {"reminder", "level3", "level2", "level1"}
    assert {x[7] for x in got} >= {"new", "escalation", "repeat"}
    assert {x[2] for x in got} == {"unit", "person", "data_owner"}
    assert any(len(x[16]) > 2 for x in got)  # a letter larger than the IN lists of the paged run
    assert any(e[0] == "explain" for e in a["audit"])
