"""On the demo, 一级 letters come only through the rungs of one matter or by the repeat rule.

The issue's acceptance: "four weekly cycles give 一级 letters only to units
that ignored two letters of one matter or had two serious matters". The test
builds the demo (``sunlight demo``, as of Mon 16 Nov 2026) and runs the weekly
``sunlight cycle --at`` of 23 Nov, 30 Nov, 7 Dec and 14 Dec, then two more
(21 and 28 Dec) so that 一级 letters exist to be checked. Nobody answers any
letter in the demo.

Worked by hand (2026 has no holiday from mid-November to the end of December;
a letter's 10 working days):

- a matter starts at 三级 (seed 004:68, 随时预警): the 三级 of Mon 16 Nov has
  rectify_by 30 Nov (17–20, 23–27, 30 Nov), so it escalates at the cycle of
  7 Dec to a 二级 with rectify_by 21 Dec (8–11, 14–18, 21 Dec), which
  escalates at 28 Dec to 一级: the earliest 一级 through the rungs is 28 Dec;
- the repeat rule needs two serious (二级 or worse) matters: a unit gets at
  most one new 三级 letter a cycle, so one matter per cycle reaches 二级, the
  first on 7 Dec (from 16 Nov) and the second on 14 Dec (from 23 Nov); a
  cycle counts the letters before it, so the earliest repeat 一级 is 21 Dec.

Hence no 一级 in the four cycles of the acceptance, and from 21 Dec each 一级
is either an escalation of an ignored 二级 that escalated an ignored 三级 of
the same matter, or a repeat whose unit had at least two distinct serious
matters in the twelve months before it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sunlight.alerts.tiers import months_before
from sunlight.monitor.store import open_store
from sunlight.monitor.store.letters_models import AuditEntry, LetterRow
from tests.test_letters_kit import at, run_cli

ACCEPTANCE = [at(2026, 11, 23, 9), at(2026, 11, 30, 9), at(2026, 12, 7, 9), at(2026, 12, 14, 9)]
LATER = [at(2026, 12, 21, 9), at(2026, 12, 28, 9)]


def test_demo_level1_letters_come_only_from_ignored_rungs_or_two_serious_matters(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    made = run_cli("demo", "--dir", str(folder))
    assert made.exit_code == 0, made.output
    cfg = folder / "sunlight.yaml"
    store = open_store(f"sqlite:///{folder / 'state.db'}", migrate=False)

    def letters() -> list[sa.Row[Any]]:
        with store.connect() as conn:
            return list(conn.execute(sa.select(LetterRow).order_by(LetterRow.id)).all())

    first = letters()
    # the demo's own cycle (16 Nov): every new matter starts at 三级, reminders stay reminders
    assert first and {x.tier for x in first} == {"level3", "reminder"}

    for monday in ACCEPTANCE:
        result = run_cli("cycle", "-c", str(cfg), "--at", monday.isoformat())
        assert result.exit_code == 0, result.output
    four = [x for x in letters() if x.issued_at.date() > dt.date(2026, 11, 16)]
    assert four and not [x.number for x in four if x.tier == "level1"]
    # every 二级 of the four cycles is a rung of a matter whose 三级 was ignored, none a first letter
    for x in four:
        if x.tier == "level2":
            assert x.reason == "escalation", x.number
    assert {x.issued_at.date() for x in four if x.tier == "level2"} == {dt.date(2026, 12, 7),
                                                                          dt.date(2026, 12, 14)}

    for monday in LATER:
        result = run_cli("cycle", "-c", str(cfg), "--at", monday.isoformat())
        assert result.exit_code == 0, result.output
    everything = letters()
    by_id = {x.id: x for x in everything}
    with store.connect() as conn:
        issue_detail = {e.letter_id: e.detail for e in conn.execute(
            sa.select(AuditEntry.letter_id, AuditEntry.detail).where(AuditEntry.action == "issue"))}
    kinds: Counter[str] = Counter()
    for x in everything:
        if x.tier != "level1":
            continue
        if x.reason == "escalation":
            # ignored 二级, which escalated an ignored 三级, all one matter of one unit
            two = by_id[x.cites_letter_id]  # type: ignore[index]
            assert (two.tier, two.status, two.reason) == ("level2", "escalated", "escalation"), x.number
            three = by_id[two.cites_letter_id]  # type: ignore[index]
            assert (three.tier, three.status, three.cites_letter_id) == ("level3", "escalated", None)
            assert {x.matter_id, two.matter_id, three.matter_id} == {three.id}, x.number
            assert {x.unit_id, two.unit_id, three.unit_id} == {x.unit_id}
            assert three.rectify_by < two.issued_at.date() and two.rectify_by < x.issued_at.date()
            assert two.report_received_at is None and three.acknowledged_at is None
            kinds["rungs"] += 1
        else:
            assert x.reason == "repeat", x.number
            # counted from the store, independently of the planner: distinct serious matters
            since = months_before(x.issued_at, 12)
            serious = {y.matter_id for y in everything
                       if y.unit_id == x.unit_id and y.tier in ("level2", "level1")
                       and y.status != "withdrawn" and since <= y.issued_at < x.issued_at}
            assert len(serious) >= 2, (x.number, serious)
            assert issue_detail[x.id]["serious_matters"] == len(serious), x.number
            kinds["repeat"] += 1
    assert kinds["rungs"] >= 1 and kinds["repeat"] >= 1, kinds  # both ways to 一级 are exercised
    # the earliest dates worked by hand above
    assert min(x.issued_at for x in everything if x.tier == "level1" and x.reason == "escalation"
               ).date() == dt.date(2026, 12, 28)
    assert min(x.issued_at for x in everything if x.tier == "level1" and x.reason == "repeat"
               ).date() == dt.date(2026, 12, 21)
    store.dispose()
