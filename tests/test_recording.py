"""Set-based recording (``store/recording.py``), on SQLite and PostgreSQL state stores.

A re-scan marks the findings it sees unchanged as seen in one statement per
batch and writes only the others whole. What the store holds afterwards must
be, column by column, what writing every finding whole (the row-by-row path,
``writer_for`` returning None) leaves: after interleaved runs, resolutions and
re-openings, and after three months of weekly cycles with letters, acts and
units that complete, ignore or half-answer them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import tests.test_letters_over_time as weekly
from sunlight.alerts.lifecycle import Act, apply_act
from sunlight.checks.base import Finding
from sunlight.monitor.configure import load_settings
from sunlight.monitor.cycle import run_cycle
from sunlight.monitor.engine import Engine, scan_and_record
from sunlight.monitor.store import FindingRow, open_store
from sunlight.monitor.store import findings as store_findings
from sunlight.monitor.store.db import upgrade
from sunlight.monitor.store.findings import FindingRecorder, finish_run, start_run
from sunlight.monitor.store.letters_models import LetterFindingRow, LetterRow
from sunlight.monitor.store.recording import content_hash
from tests.conftest import SourceDB, postgres_schema
from tests.test_letters_kit import State, at, finding
from tests.test_letters_kit import state_fixture as state_fixture  # the ``state`` fixture

CHECKS = ("case_overdue", "data_quality")
WHEN = at(2026, 10, 16, 9)


@contextmanager
def store_of(kind: str, tmp_path: Path, name: str) -> Iterator[sa.Engine]:
    """A second, empty store of the same kind as ``state`` (the row-by-row reference)."""
    if kind == "sqlite":
        engine = open_store(f"sqlite:///{tmp_path / f'{name}.db'}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    with postgres_schema() as url:
        engine = open_store(url)
        try:
            yield engine
        finally:
            engine.dispose()


def dump(store: sa.Engine) -> dict[str, dict[str, Any]]:
    """Every finding row but its id and hash; the evidence as its (key, value) pairs, in order."""
    table = FindingRow.__table__
    cols = [c for c in table.c if c.name not in ("id", "content_hash")]
    with store.connect() as conn:
        rows = conn.execute(sa.select(*cols)).mappings().all()
    out = {}
    for r in rows:
        d = dict(r)
        d["evidence"] = list(d["evidence"].items())
        out[d["fingerprint"]] = d
    return out


def case_finding(subject: str, as_of: dt.datetime, handler: str = "张三", overdue: int = 3,
                 **changes: Any) -> Finding:
    """A case finding as the checks make it: its evidence ends with ``as_of`` and the rule."""
    f = finding("case_overdue", subject, "SJJ", overdue=overdue)
    f.source = "main"
    f.record_key = subject
    f.evidence = {"case_id": subject, "handler": handler, "days": [{"date": "2026-10-01", "kind": "节假日"}],
                  "as_of": as_of.isoformat(), "rule": {"cite": "003:565", "text": "在承诺时限内办结"}}
    for k, v in changes.items():
        setattr(f, k, v)
    return f


class Run:
    def __init__(self, store: sa.Engine, when: dt.datetime = WHEN, batch: int = 7) -> None:
        self.store, self.when = store, when
        self.id = start_run(store, "main", when, CHECKS)
        self.recorder = FindingRecorder(store, self.id, when, batch=batch)

    def see(self, found: list[Finding]) -> FindingRecorder:
        for f in found:
            self.recorder(f)
        self.recorder.flush()
        return self.recorder

    def finish(self, ok: bool = True) -> int:
        return finish_run(self.store, self.id, ok=ok, error=None, rows_read=0,
                          findings=self.recorder.count, resolve_checks=CHECKS, source="main",
                          as_of=self.when)


@contextmanager
def statements(store: sa.Engine) -> Iterator[list[str]]:
    """The SQL statements sent to ``store`` meanwhile (COPY goes by the driver: not in here)."""
    sent: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(" ".join(statement.split()))

    sa.event.listen(store, "before_cursor_execute", listen)
    try:
        yield sent
    finally:
        sa.event.remove(store, "before_cursor_execute", listen)


# --- the content hash ---------------------------------------------------------------------


def test_the_content_hash_ignores_the_evidence_as_of_and_nothing_else() -> None:
    base = case_finding("C1", WHEN)
    digest, as_of = content_hash(base)
    assert digest is not None and as_of == WHEN.isoformat()
    later = case_finding("C1", WHEN + dt.timedelta(hours=5))
    assert content_hash(later) == (digest, later.evidence["as_of"])
    changed = {
        "summary": case_finding("C1", WHEN, summary="办件C1超期4个工作日"),
        "overdue": case_finding("C1", WHEN, overdue=4),
        "deadline": case_finding("C1", WHEN, deadline=at(2026, 10, 1, 23, 59, 59)),
        "unit": case_finding("C1", WHEN, unit_id="MZJ"),
        "tier": case_finding("C1", WHEN, tier="level2"),
        "item": case_finding("C1", WHEN, item_code="SJ-002"),
        "ended": case_finding("C1", WHEN, ended_at=at(2026, 10, 15, 10)),
        "record key": case_finding("C1", WHEN, record_key="C9"),
        "uncovered": case_finding("C1", WHEN, calendar_uncovered=True),
        "evidence value": case_finding("C1", WHEN, handler="李四"),
        "source": case_finding("C1", WHEN, source="other"),
    }
    digests = {name: content_hash(f)[0] for name, f in changed.items()}
    assert digest not in digests.values() and len(set(digests.values())) == len(digests)
    # the evidence's key order is what the console lists: another order is another content
    reordered = case_finding("C1", WHEN)
    reordered.evidence = dict(reversed(list(reordered.evidence.items())))
    assert content_hash(reordered)[0] != digest
    # an as_of that is not the evidence's own top-level string is content like any other
    nested = case_finding("C1", WHEN)
    nested.evidence = {k: v for k, v in nested.evidence.items() if k != "as_of"}
    nested.evidence["rule"] = {"as_of": WHEN.isoformat()}
    other = case_finding("C1", WHEN)
    other.evidence = {**nested.evidence, "rule": {"as_of": (WHEN + dt.timedelta(hours=1)).isoformat()}}
    assert content_hash(nested)[1] is None and content_hash(nested)[0] != content_hash(other)[0]
    # what orjson cannot say exactly is never "unchanged": always written whole
    odd = case_finding("C1", WHEN)
    odd.evidence = {**odd.evidence, 7: "a key that is not a string"}
    assert content_hash(odd) == (None, None)


def test_the_stored_evidence_is_the_cleaned_evidence_whatever_it_holds() -> None:
    """``evidence_text`` skips cleaning only where cleaning changes nothing."""
    import orjson

    from sunlight.monitor.store.recording import UNENCODABLE, evidence_text
    from sunlight.monitor.textsafe import safe_json
    from tests.test_textsafe import value

    rng = random.Random(7)
    fast = 0
    for _ in range(5000):
        v = {"k": value(rng), "as_of": WHEN.isoformat(), "days": [value(rng) for _ in range(3)]}
        try:
            want = orjson.dumps(safe_json(v)).decode()
        except UNENCODABLE:
            with pytest.raises(UNENCODABLE):
                evidence_text(v)
            continue
        assert evidence_text(v) == want, v
        with contextlib.suppress(TypeError):  # a key that is not a string: cleaned first
            fast += orjson.dumps(v).decode() == want
    assert fast > 100  # both ways were taken: the evidence as it was, and cleaned first
    long_key = {"k" * 250: 1, "v": "值" * 300}
    assert evidence_text(long_key) == orjson.dumps(safe_json(long_key)).decode()
    assert len(orjson.loads(evidence_text(long_key))) == 2 and "k" * 250 not in evidence_text(long_key)


def test_the_recorder_keeps_no_container_of_a_finding_it_waits_to_write() -> None:
    """What waits in a batch is strings, numbers and times: nothing the garbage collector walks."""
    import enum
    import gc

    from sunlight.monitor.store.recording import pending

    f = case_finding("C1", WHEN, deadline=at(2026, 9, 30, 23, 59, 59), ended_at=at(2026, 10, 2, 9))
    p = pending(f)
    assert [type(x).__name__ for x in p if gc.is_tracked(x) and not isinstance(x, enum.Enum)] == []
    assert p.original is None and p.as_finding() == f  # the finding comes back whole
    odd = case_finding("C2", WHEN)
    odd.evidence = {**odd.evidence, "at": WHEN}  # a datetime: not JSON (json.dumps refuses it too)
    q = pending(odd)
    assert q.digest is None and q.masked is None and q.original is odd


# --- a re-scan ------------------------------------------------------------------------------


def test_an_unchanged_rescan_writes_no_finding_row_and_resolves_nothing(state: State) -> None:
    store = state.engine
    subjects = [f"C{i:02d}" for i in range(30)]
    first = Run(store)
    assert first.see([case_finding(s, WHEN) for s in subjects]).seen == 0  # all new
    first.finish()
    before = dump(store)
    later = WHEN + dt.timedelta(hours=6)
    second = Run(store, later)
    with statements(store) as sent:
        rec = second.see([case_finding(s, later) for s in subjects])
    assert rec.seen == rec.count == 30
    assert not [s for s in sent if s.startswith("INSERT INTO findings")], sent
    assert second.finish() == 0  # every one of them counted as seen by the run
    after = dump(store)
    assert set(after) == set(before)
    for fp, old in before.items():
        new = after[fp]
        assert new["last_run"] == second.id and new["last_seen"] == later
        # the evidence is the newest sighting's, its keys in their order
        assert new["evidence"] == [(k, later.isoformat() if k == "as_of" else v)
                                   for k, v in old["evidence"]]
        moved = {"last_run", "last_seen", "evidence"}
        assert {k: v for k, v in new.items() if k not in moved} == {
            k: v for k, v in old.items() if k not in moved}
    # and nothing at all changed: the same again at the same as-of is seen as well
    third = Run(store, later)
    assert third.see([case_finding(s, later) for s in subjects]).seen == 30
    assert third.finish() == 0


def test_changed_unchanged_new_and_returning_findings_in_one_batch(state: State) -> None:
    store = state.engine
    day1, day2, day3 = WHEN, WHEN + dt.timedelta(days=1), WHEN + dt.timedelta(days=2)
    r1 = Run(store, day1, batch=100)
    r1.see([case_finding(s, day1) for s in ("A", "B", "C")])
    r1.finish()
    r2 = Run(store, day2, batch=100)
    rec = r2.see([case_finding("A", day2), case_finding("B", day2, handler="李四", overdue=4),
                  case_finding("D", day2)])
    assert rec.seen == 1 and rec.count == 3  # A; B changed, D new
    assert r2.finish() == 1  # C
    rows = {r["subject"]: r for r in dump(store).values()}
    assert dict(rows["B"]["evidence"])["handler"] == "李四" and rows["B"]["overdue"] == Decimal(4)
    assert "超期4个工作日" in rows["B"]["summary"] and rows["B"]["last_run"] == r2.id
    assert dict(rows["A"]["evidence"])["as_of"] == day2.isoformat()
    assert rows["C"]["resolved_at"] == day2 and rows["C"]["resolved_run"] == r2.id
    r3 = Run(store, day3, batch=100)
    rec = r3.see([case_finding(s, day3) for s in "A"]
                 + [case_finding("B", day3, handler="李四", overdue=4), case_finding("C", day3),
                    case_finding("D", day3)])
    # all four unchanged; C, resolved by r2, is re-opened by this newer run (the upsert's rule)
    assert rec.seen == 4
    assert r3.finish() == 0
    rows = {r["subject"]: r for r in dump(store).values()}
    assert rows["C"]["resolved_at"] is None and rows["C"]["opened_run"] == r3.id
    assert all(r["last_run"] == r3.id and r["last_seen"] == day3 for r in rows.values())


def test_a_refused_row_costs_neither_the_seen_nor_the_written_of_its_batch(state: State) -> None:
    from sunlight.checks.quality import DataQuality

    store = state.engine
    Run(store).see([case_finding(f"C{i}", WHEN) for i in range(6)])
    later = WHEN + dt.timedelta(days=1)
    run = start_run(store, "main", later, CHECKS)
    rec = FindingRecorder(store, run, later, batch=100, on_reject=DataQuality().unstorable)
    bad = case_finding("BAD", later)
    bad.tier = None  # type: ignore[assignment] # a NOT NULL column: the store refuses the row
    for f in [*[case_finding(f"C{i}", later) for i in range(3)], bad,
              case_finding("C3", later, handler="李四"), case_finding("NEW", later)]:
        rec(f)
    rec.flush()
    assert rec.rejected == 1
    assert rec.seen == 3 and rec.count == 6  # C0-C2 seen, C3 and NEW written, the notice stored
    resolved = finish_run(store, run, ok=True, error=None, rows_read=0, findings=rec.count,
                          resolve_checks=CHECKS, source="main", as_of=later)
    assert resolved == 2  # C4, C5: not seen; C0-C3 were
    rows = {r["subject"]: r for r in dump(store).values()}
    assert "BAD" not in rows
    assert [s for s in rows if s.startswith("main:store:")] == [f"main:store:{bad.fingerprint}"]
    assert dict(rows["C3"]["evidence"])["handler"] == "李四"
    assert {s for s, r in rows.items() if r["last_run"] == run} == {
        "C0", "C1", "C2", "C3", "NEW", f"main:store:{bad.fingerprint}"}


# --- the same store as writing every finding whole -----------------------------------------


def _script(seed: int) -> list[list[tuple[str, dt.datetime, list[Finding]]]]:
    """Days of runs: each day one run, or two that overlap (the older one records last)."""
    rng = random.Random(seed)
    handlers = {f"C{i:02d}": "张三" for i in range(40)}
    days = []
    for d in range(8):
        when = WHEN + dt.timedelta(days=d, hours=rng.choice((0, 3)))
        for s in rng.sample(sorted(handlers), 4):
            handlers[s] = rng.choice(("张三", "李四", "王五"))

        def sighting(at_: dt.datetime, d: int = d) -> list[Finding]:
            return [case_finding(s, at_, handler=h, overdue=3 + (d if s < "C10" else 0))
                    for s, h in handlers.items() if rng.random() < 0.85]

        if d in (3, 6):  # two replicas' runs overlap
            days.append([("older", when, sighting(when)), ("newer", when + dt.timedelta(minutes=5),
                                                           sighting(when + dt.timedelta(minutes=5)))])
        else:
            days.append([("one", when, sighting(when))])
    return days


def _play(store: sa.Engine, days: list[list[tuple[str, dt.datetime, list[Finding]]]]) -> int:
    seen = 0
    for runs in days:
        started = {name: Run(store, when, batch=9) for name, when, _ in runs}
        for name, _, found in reversed(runs):  # the newer run records first
            seen += started[name].see(found).seen
        for name, _, _ in runs:
            started[name].finish()
    return seen


def test_interleaved_runs_leave_what_writing_every_finding_whole_leaves(
        state: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _play(state.engine, _script(11))
    assert seen > 100  # the set-based path did mark most sightings seen
    with store_of(state.kind, tmp_path, "reference") as reference:
        monkeypatch.setattr(store_findings, "writer_for", lambda *a, **k: None)
        assert _play(reference, _script(11)) == 0
        got, want = dump(state.engine), dump(reference)
    assert got == want
    assert any(r["resolved_at"] is not None for r in got.values())
    assert any(r["opened_run"] != min(x["opened_run"] for x in got.values()) for r in got.values())


def test_sqlite_without_returning_leaves_the_same_store(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite before 3.35 reads the stored hashes into Python (``_seen_read``): the same rows."""
    from sunlight.monitor.store.recording import SqliteWriter

    with store_of("sqlite", tmp_path, "returning") as new, store_of("sqlite", tmp_path, "read") as old:
        assert _play(new, _script(5)) > 100
        init = SqliteWriter.__init__

        def without(self: SqliteWriter, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **kwargs)
            self._returning = False

        monkeypatch.setattr(SqliteWriter, "__init__", without)
        assert _play(old, _script(5)) > 100
        assert dump(new) == dump(old)


def _moves(store: sa.Engine) -> list[list[str]]:
    """Three days of sightings of changed findings in every shape; the subjects of each batch
    that SQLite's lean upsert wrote (the rest went by the whole one)."""
    from sunlight.monitor.store.recording import SqliteWriter

    lean: list[list[str]] = []
    split = SqliteWriter.split

    def spy(self: SqliteWriter, conn: sa.Connection, rows: Any) -> Any:
        out = split(self, conn, rows)
        lean.append(sorted(r[2] for r in out[0]))  # the subject column
        return out

    day1, day2, day3 = WHEN, WHEN + dt.timedelta(days=1), WHEN + dt.timedelta(days=2)
    with pytest.MonkeyPatch.context() as mp:
        if store_findings.writer_for(store, 0, WHEN, store_findings._upsert_set) is not None:
            mp.setattr(SqliteWriter, "split", spy)
        r1 = Run(store, day1, batch=100)
        r1.see([case_finding(s, day1) for s in "ABCDE"])
        r1.finish()
        r2 = Run(store, day2, batch=100)
        moved = case_finding("B", day2, overdue=4)
        moved.unit_id = "XJJ"  # the case went to another unit: unit_id is indexed
        r2.see([case_finding("A", day2, overdue=4), moved,
                case_finding("D", day2, overdue=4, record_key="D-2"), case_finding("E", day2),
                case_finding("F", day2)])
        r2.finish()  # resolves C
        older = Run(store, day3, batch=100)  # two replicas: the older run records last
        newer = Run(store, day3 + dt.timedelta(minutes=5), batch=100)
        newer.see([case_finding("A", day3, overdue=6), case_finding("C", day3, overdue=5)])
        older.see([case_finding("A", day3, overdue=5, handler="李四")])
        newer.finish()
        older.finish()
    return lean


def test_sqlite_writes_a_changed_open_finding_without_rewriting_its_indexes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed finding still open in the same unit, tier and record goes by the upsert without
    those columns (no index entry rewritten); a new, moved or resolved one by the whole upsert;
    the store is what writing every finding whole leaves, an older run's late write included."""
    with store_of("sqlite", tmp_path, "lean") as store:
        # r1: all new; then B moved, D re-keyed, C resolved and F new go whole
        assert _moves(store) == [[], ["A"], ["A"], ["A"]]
        got = dump(store)
    with store_of("sqlite", tmp_path, "whole") as reference:
        monkeypatch.setattr(store_findings, "writer_for", lambda *a, **k: None)
        assert _moves(reference) == []
        want = dump(reference)
    assert got == want
    rows = {r["subject"]: r for r in got.values()}
    assert rows["A"]["overdue"] == Decimal(6) and dict(rows["A"]["evidence"])["handler"] == "张三"
    assert rows["B"]["unit_id"] == "XJJ" and rows["D"]["record_key"] == "D-2"
    assert rows["C"]["resolved_at"] is None and rows["C"]["overdue"] == Decimal(5)


def test_sqlite_marks_seen_by_each_findings_fingerprint_not_by_reading_every_finding(
        tmp_path: Path) -> None:
    """The batch's temporary table drives the UPDATE: each finding looked up by its fingerprint."""
    from sunlight.monitor.store.recording import _SQLITE_SEEN, SqliteWriter

    with store_of("sqlite", tmp_path, "plan") as store:
        Run(store).see([case_finding(f"C{i}", WHEN) for i in range(50)])
        writer = SqliteWriter(store, 2, WHEN, store_findings._upsert_set)
        with store.connect() as conn:
            conn.exec_driver_sql(_SQLITE_SEEN)
            for sql in writer._seen_sql:
                plan = [r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}",
                                                            (writer._seen_value,))]
                assert any(p.startswith("SCAN s") for p in plan), plan
                assert any(p.startswith("SEARCH findings USING") and "(fingerprint=?)" in p
                           for p in plan), plan


def test_a_hash_of_another_recipe_means_one_whole_write_of_each_finding(state: State, tmp_path: Path) -> None:
    """A store whose hashes an older ``RECIPE`` (or hash function) wrote: the next scan sees no
    finding unchanged, writes each whole once, and leaves what writing every one whole leaves."""
    subjects = [f"C{i:02d}" for i in range(20)]

    def play(store: sa.Engine, rehash: bool) -> list[int]:
        first = Run(store)
        first.see([case_finding(s, WHEN) for s in subjects])
        first.finish()
        if rehash:  # as recipe 1 (BLAKE2b of other bytes) left them: every hash another
            with store.begin() as conn:
                conn.execute(sa.update(FindingRow).values(
                    content_hash=sa.func.substr(FindingRow.fingerprint + "0" * 32, 1, 32)))
        seen = []
        for hours in (5, 9):
            later = WHEN + dt.timedelta(hours=hours)
            run = Run(store, later)
            seen.append(run.see([case_finding(s, later, handler="李四" if s == "C03" else "张三")
                                 for s in subjects]).seen)
            run.finish()
        return seen

    assert play(state.engine, rehash=True) == [0, 20]  # all written whole once, then all seen
    with store_of(state.kind, tmp_path, "reference") as reference:
        assert play(reference, rehash=False) == [19, 20]
        got, want = dump(state.engine), dump(reference)
    assert got == want


def test_evidence_holding_the_mask_text_is_never_marked_seen_and_is_stored_as_it_is(state: State) -> None:
    from sunlight.monitor.store.recording import MASK

    odd = case_finding("M1", WHEN)
    odd.evidence = {"note": MASK, **odd.evidence}
    assert content_hash(odd) == (None, None)
    for hours in (0, 4):
        run = Run(state.engine, WHEN + dt.timedelta(hours=hours))
        f = case_finding("M1", WHEN + dt.timedelta(hours=hours))
        f.evidence = {"note": MASK, **f.evidence}
        assert run.see([f]).seen == 0
        run.finish()
    (row,) = dump(state.engine).values()
    assert row["evidence"] == list(f.evidence.items())


# --- a store from before 0013_record ---------------------------------------------------------


@contextmanager
def empty_url(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'old-state.db'}"
        return
    with postgres_schema() as url:
        yield url


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_upgrade_from_0012_keeps_the_findings_and_the_next_scans_go_on(
        kind: str, tmp_path: Path, sqlite_db: SourceDB, write_config) -> None:
    from sunlight.monitor.store.db import create_state_engine
    from sunlight.monitor.store.recording import values

    sqlite_db.load("units", [{"unit_id": "MZJ", "name": "县民政局", "kind": "department"}])
    sqlite_db.load("cases", [
        {"case_id": c, "unit_id": "MZJ", "accepted_at": dt.datetime(2026, 9, d, 10), "promised_limit": 5}
        for c, d in (("LATE", 24), ("LATER", 25))])
    with empty_url(kind, tmp_path) as url:
        config = write_config(sqlite_db.url)
        config.write_text(config.read_text(encoding="utf-8").replace(
            f"sqlite:///{tmp_path / 'state.db'}", f'"{url}"'), encoding="utf-8")
        engine = Engine(load_settings(config))
        day = at(2026, 10, 20, 9)
        found: list[Finding] = []
        engine.scan(day, found.append)
        assert {f.subject for f in found} == {"LATE", "LATER"}
        # a store at 0012 holding what the scan before the upgrade recorded, and one finding more
        store = create_state_engine(url)
        try:
            upgrade(store, "0012_progress")
            table = FindingRow.__table__
            old = [c.name for c in table.c if c.name not in ("id", "content_hash")]
            run = start_run(store, "main", day, ["case_overdue", "data_quality"])
            gone = case_finding("GONE", day)
            gone.unit_id = "MZJ"
            with store.begin() as conn:
                conn.execute(sa.insert(table).values({c: sa.bindparam(c) for c in old}), [
                    {k: v for k, v in values(f, run, day, None, f.evidence).items() if k in old}
                    for f in [*found, gone]])
            finish_run(store, run, ok=True, error=None, rows_read=2, findings=3, source="main",
                       as_of=day)
            upgrade(store)
            with store.connect() as conn:
                kept = conn.execute(sa.select(FindingRow.subject, FindingRow.content_hash,
                                              FindingRow.opened_run)).all()
            assert sorted(kept) == [("GONE", None, run), ("LATE", None, run), ("LATER", None, run)]
            if kind == "postgres":  # room on each page for a sighting's row version (HOT)
                with store.connect() as conn:
                    options = conn.exec_driver_sql(
                        "SELECT reloptions FROM pg_class WHERE relname = 'findings' "
                        "AND relnamespace = current_schema()::regnamespace").scalar()
                assert options == ["fillfactor=70"]
            before = dump(store)
        finally:
            store.dispose()
        store = open_store(url)
        try:
            later = at(2026, 10, 20, 15)
            with statements(store) as sent:
                scan_and_record(engine, store, later)  # rows without a hash: written whole once
            assert [s for s in sent if s.startswith("INSERT INTO findings")]
            first = {r["subject"]: r for r in dump(store).values()}
            assert first["GONE"]["resolved_at"] == later  # not seen: resolved
            for subject in ("LATE", "LATER"):
                old_row, new_row = before_by_subject(before)[subject], first[subject]
                assert new_row["first_seen"] == day and new_row["opened_run"] == run
                assert new_row["resolved_at"] is None and new_row["last_seen"] == later
                assert dict(new_row["evidence"])["as_of"] == later.isoformat()
                assert new_row["summary"] == old_row["summary"]
            with store.connect() as conn:
                assert None not in conn.execute(sa.select(FindingRow.content_hash).where(
                    FindingRow.resolved_at.is_(None))).scalars().all()
            evening = at(2026, 10, 20, 21)
            with statements(store) as sent:
                scan_and_record(engine, store, evening)  # now every one of them is only seen
            assert not [s for s in sent if s.startswith("INSERT INTO findings")]
            again = {r["subject"]: r for r in dump(store).values()}
            assert again["LATE"]["last_seen"] == evening and again["GONE"]["resolved_at"] == later
            assert dict(again["LATER"]["evidence"])["as_of"] == evening.isoformat()
        finally:
            engine.close()
            store.dispose()


def before_by_subject(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["subject"]: r for r in rows.values()}


# --- three months of weekly cycles with letters --------------------------------------------


def _letters(store: sa.Engine) -> dict[str, dict[str, Any]]:
    """Every letter by number (what a cycle decides; not the wall clock) with its findings."""
    with store.connect() as conn:
        letters = conn.execute(sa.select(LetterRow)).mappings().all()
        numbers = {x["id"]: x["number"] for x in letters}
        links = conn.execute(sa.select(LetterFindingRow)).mappings().all()
    out: dict[str, dict[str, Any]] = {}
    for x in letters:
        d = {k: v for k, v in x.items() if k not in ("id", "created_at", "cites_letter_id", "matter_id")}
        d["cites"] = numbers.get(x["cites_letter_id"])
        d["matter"] = numbers.get(x["matter_id"])
        d["findings"] = sorted(
            (y["fingerprint"], y["opened_run"], sorted(y["snapshot"].items()), y["resolved_at"],
             y["explained_at"]) for y in links if y["letter_id"] == x["id"])
        out[x["number"]] = d
    return out


def _weeks(folder: Path, url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``sunlight cycle`` every Monday, again at once (nothing changed), and on Thursday afternoon;
    the units' acts in between (tests/test_letters_over_time.py: who completes, who ignores,
    who acknowledges and reports but never completes)."""
    folder.mkdir()
    cfg = weekly.build(folder)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        f"sqlite:///{folder / 'state.db'}", f'"{url}"'), encoding="utf-8")
    settings = load_settings(cfg)
    engine = Engine(settings)
    store = open_store(url)
    try:
        acts = sorted(weekly.ACTS, key=lambda a: a[0])
        for monday in weekly.MONDAYS:
            for when in (monday, monday, monday + dt.timedelta(days=3, hours=6)):
                while acts and acts[0][0] < when:
                    day, number, action = acts.pop(0)
                    apply_act(store, number, Act(action, "纪委办公室 李四", "单位报送", as_of=day,
                                                 file="整改报告.pdf" if action == "report" else None))
                assert run_cycle(engine, store, settings, when).ok
        assert not acts
        return dump(store), _letters(store)
    finally:
        engine.close()
        store.dispose()


def test_weeks_of_cycles_with_letters_leave_what_writing_every_finding_whole_leaves(
        state: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    flush = FindingRecorder.flush

    def counting(self: FindingRecorder) -> None:
        before = self.seen
        flush(self)
        seen.append(self.seen - before)

    monkeypatch.setattr(FindingRecorder, "flush", counting)
    found, letters = _weeks(tmp_path / "set-based", state.url)
    assert sum(seen) > 50  # most sightings were only marked seen
    with store_of(state.kind, tmp_path, "reference") as reference:
        monkeypatch.setattr(store_findings, "writer_for", lambda *a, **k: None)
        want_found, want_letters = _weeks(tmp_path / "row-by-row", str(reference.url.render_as_string(
            hide_password=False)))
    assert found == want_found
    assert letters == want_letters
    # the scripted units' letters, as the weekly test has them (the extra cycles issue none)
    assert {n: (x["tier"], x["unit_id"], x["reason"], x["status"]) for n, x in letters.items()} == {
        n: (tier, unit, reason, status) for n, (tier, unit, reason, _, _, status) in weekly.EXPECTED.items()}
    # cases completed late (their findings ended, unchanged since) and cases still open
    assert {r["subject"] for r in found.values() if r["ended_at"] is not None} >= {"S1", "J1", "Y1"}
    assert {r["subject"] for r in found.values() if r["ended_at"] is None} >= {"M1", "Z1"}


# --- the SQLite store's settings: durable at every commit (issue 11, store/db.py) ---------


def test_every_sqlite_state_connection_syncs_each_commit(tmp_path: Path) -> None:
    """Each connection of the state engine (not only the first the pool opens) runs with the
    WAL synced at every commit (``synchronous=FULL``: a recorded finding survives the power
    going), whatever the SQLite build's default."""
    from sunlight.monitor.store.db import create_state_engine

    engine = create_state_engine(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with engine.connect() as a, engine.connect() as b:  # two connections of the pool
            for conn in (a, b):
                got = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                       for p in ("journal_mode", "synchronous", "foreign_keys")}
                assert got == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}
    finally:
        engine.dispose()


_CRASH = """
import datetime as dt, os, sys
from sunlight.monitor.store import open_store
from sunlight.monitor.store.findings import FindingRecorder, start_run
from tests.test_recording import CHECKS, case_finding
when = dt.datetime(2026, 11, 10, 9, tzinfo=dt.timezone(dt.timedelta(hours=8)))
store = open_store(sys.argv[1])
rec = FindingRecorder(store, start_run(store, "main", when, CHECKS), when, batch=50)
for i in range(int(sys.argv[2])):
    rec(case_finding(f"C{i:04d}", when))
rec.flush()
print(rec.count, flush=True)
os._exit(0)  # no dispose, no close, no checkpoint: what a killed process leaves
"""


def test_findings_counted_as_recorded_survive_the_process_ending_at_once(tmp_path: Path) -> None:
    """A recorder's every batch is committed when ``flush`` returns: a process that ends right
    after it (no engine disposed, no WAL checkpointed, the findings only in the WAL) leaves
    each finding it counted for the next process to read, twice over (two runs)."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'state.db'}"
    open_store(url).dispose()  # migrated before the children
    root = Path(__file__).resolve().parent.parent
    for n in (120, 130):  # the second run sees the first 120 again (marked seen) and 10 new
        out = subprocess.run([sys.executable, "-c", _CRASH, url, str(n)], cwd=root,
                             capture_output=True, text=True, check=True)
        assert out.stdout.split() == [str(n)]
        assert (tmp_path / "state.db-wal").stat().st_size > 0  # still in the WAL
        store = open_store(url)
        try:
            with store.connect() as conn:
                got = conn.execute(sa.select(sa.func.count()).select_from(FindingRow.__table__)
                                   .where(FindingRow.__table__.c.last_run == sa.select(
                                       sa.func.max(FindingRow.__table__.c.last_run))
                                       .scalar_subquery())).scalar()
        finally:
            store.dispose()
        assert got == n
