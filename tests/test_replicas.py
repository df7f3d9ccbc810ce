"""Several processes on one state store (issue 10, items 1 and 2), on SQLite and PostgreSQL.

Two ``sunlight run`` replicas and overlapping manual ``sunlight cycle`` runs
share one store and four unchanging sources, delivering to a real HTTP
receiver on 127.0.0.1; then one replica is killed with SIGKILL. Counted at
the end, from the store and the receiver:

- false resolutions (nothing changed in the sources: any resolved finding is one);
- duplicate findings, letters, letter numbers (and gaps in the numbers);
- duplicate sends beyond the one a SIGKILL may leave in flight;
- overlapping scans of one source (two processes scanning it at once);
- how the sources were shared, and whether the survivor took the killed
  replica's sources at its first chance (its first scheduled cycle of each
  of them after the kill: within one interval).

Each figure is printed (``-s`` shows them); the README quotes them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from sunlight.monitor.demo.schema import create_all
from sunlight.monitor.demo.schema import metadata as canonical
from sunlight.monitor.store import open_store
from tests.receivers import free_port
from tests.test_letters_kit import Receiver, pg_schema_url

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["s1", "s2", "s3", "s4"]
UNITS_PER_SOURCE = 3
CASES_PER_UNIT = 3
INTERVAL = 4  # seconds between a source's cycles
#: how long the test waits for the processes to do something before it gives up (not a timing check)
PATIENCE = 60


def build_source(path: Path, k: int) -> None:
    """Units K{k}U1..3, each with three cases five working days late since September 2026."""
    engine = sa.create_engine(f"sqlite:///{path}")
    create_all(engine, ["units", "cases"])
    t = canonical.tables
    units = [(f"K{k}U{j}", f"示范县第{k}{j}局") for j in range(1, UNITS_PER_SOURCE + 1)]
    with engine.begin() as conn:
        conn.execute(sa.insert(t["units"]), [{"unit_id": u, "name": n, "kind": "department",
                                              "parent_id": None} for u, n in units])
        conn.execute(sa.insert(t["cases"]), [
            {"case_id": f"{u}-{i}", "unit_id": u, "item_code": f"{u}-001", "item_name": "行政许可",
             "handler": "张三", "accepted_at": dt.datetime(2026, 9, 1, 10), "promised_limit": 5,
             "statutory_limit": None, "limit_unit": "workday", "completed_at": None,
             "outcome": None, "outcome_reason": None, "updated_at": None}
            for u, _ in units for i in range(CASES_PER_UNIT)
        ])
    engine.dispose()


def write_config(folder: Path, state_url: str, hook: str, replica: str, port: int) -> Path:
    sources = "".join(
        f"  {name}:\n    url: \"sqlite:///{folder / f'{name}.db'}\"\n"
        f"    interval: {INTERVAL}s\n    misfire_grace: {INTERVAL}s\n" for name in SOURCES)
    cfg = folder / f"sunlight-{replica}.yaml"
    cfg.write_text(
        "timezone: Asia/Shanghai\n"
        f"state:\n  url: \"{state_url}\"\n  claim_wait: 60s\n"
        f"sources:\n{sources}"
        "checks:\n  case_overdue_statutory: {enabled: false}\n  case_due_soon: {enabled: false}\n"
        "letters:\n  number_prefix: 监预\n  issuer: 中共示范县纪律检查委员会\n"
        "routes:\n  - to: [oa]\n"
        f"channels:\n  oa: {{type: webhook, url: \"{hook}\", timeout: 5}}\n"
        f"server:\n  listen: 127.0.0.1:{port}\n  deliver_every: 1s\n  shutdown_grace: 5s\n"
        f"  replica: {replica}\n",
        encoding="utf-8")
    return cfg


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen
    url: str
    log: Path

    def scrape(self) -> list:
        """The samples of this replica's /metrics ([] if it does not answer)."""
        try:
            text = httpx.get(f"{self.url}/metrics", timeout=5).text
        except httpx.HTTPError:
            return []
        return [s for fam in text_string_to_metric_families(text) for s in fam.samples]

    def claims(self) -> dict[str, int]:
        """source → 1 if this replica evaluates it (its /metrics), {} if it does not answer."""
        return {s.labels["source"]: int(s.value) for s in self.scrape()
                if s.name == "sunlight_source_claim"}

    def events(self) -> list[dict]:
        out = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def start_replica(cfg: Path, name: str, port: int, folder: Path) -> Replica:
    log = folder / f"{name}.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sunlight.monitor.cli", "--log-level", "DEBUG", "run", "-c", str(cfg)],
            cwd=REPO, stdout=err, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return Replica(name, proc, f"http://127.0.0.1:{port}", log)


def manual_cycle(cfg: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sunlight.monitor.cli", "cycle", "-c", str(cfg)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, what: str, replicas: list[Replica]):
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        for r in replicas:
            if r.proc.poll() is not None:
                pytest.fail(f"replica {r.name} exited ({r.proc.returncode}) while waiting for "
                            f"{what}:\n{r.log.read_text()[-3000:]}")
        result = predicate()
        if result:
            return result
        time.sleep(0.25)
    pytest.fail(f"gave up waiting for {what}:\n" + "\n".join(r.log.read_text()[-2000:] for r in replicas))


def _utc(value) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


@pytest.fixture(params=["sqlite", "postgres"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
    else:
        yield from pg_schema_url()


def test_two_replicas_and_overlapping_cycles_share_the_work_and_survive_a_kill(
        tmp_path: Path, state_url: str) -> None:
    for k, name in enumerate(SOURCES, 1):
        build_source(tmp_path / f"{name}.db", k)
    receiver = Receiver().start()
    ports = {"A": free_port(), "B": free_port()}
    cfgs = {n: write_config(tmp_path, state_url, receiver.url, n, p) for n, p in ports.items()}
    replicas: dict[str, Replica] = {}
    try:
        for name in ("A", "B"):
            replicas[name] = start_replica(cfgs[name], name, ports[name], tmp_path)
        a, b = replicas["A"], replicas["B"]

        # 1. the two replicas share the four sources, two each, each source held by exactly one
        def shared() -> dict[str, dict[str, int]] | None:
            views = {r.name: r.claims() for r in (a, b)}
            if not all(views.values()):
                return None
            per_source = {s: sum(v.get(s, 0) for v in views.values()) for s in SOURCES}
            mine = {n: sum(v.values()) for n, v in views.items()}
            return views if set(per_source.values()) == {1} and set(mine.values()) == {2} else None

        views = wait_for(shared, "the replicas to share the sources two and two", [a, b])
        # the store's figures come from one replica only: a sum over replicas counts them once
        # (once the first cycle has recorded its findings: before that the exporter has none
        # to show, which a loaded machine makes likely at the first scrape)
        def exported() -> dict | None:
            scrapes = {r.name: r.scrape() for r in (a, b)}
            exporters = {n: [int(s.value) for s in samples
                             if s.name == "sunlight_store_metrics_exporter"]
                         for n, samples in scrapes.items()}
            assert sorted(exporters.values()) == [[0], [1]]
            with_findings = {n for n, samples in scrapes.items()
                             if any(s.name == "sunlight_findings_open" for s in samples)}
            assert with_findings <= {n for n, e in exporters.items() if e == [1]}
            return scrapes if with_findings else None

        scrapes = wait_for(exported, "the exporting replica to show the findings", [a, b])
        assert {n: [s.value for s in samples if s.name == "sunlight_replicas"]
                for n, samples in scrapes.items()} == {"A": [2], "B": [2]}
        owned_by_a = sorted(s for s, held in views["A"].items() if held)
        print(f"\n[{state_url.split(':')[0]}] sources: A {owned_by_a}, "
              f"B {sorted(s for s, held in views['B'].items() if held)}")

        # 2. two manual cycles at once while both replicas run
        procs = [manual_cycle(cfgs["A"]), manual_cycle(cfgs["B"])]
        for p in procs:
            _, err = p.communicate(timeout=PATIENCE)
            assert p.returncode == 0, err

        # 3. SIGKILL replica A; B takes its sources at its first chance
        killed_at = dt.datetime.now(dt.UTC)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(timeout=PATIENCE)
        wait_for(lambda: b.claims() and all(b.claims().get(s) == 1 for s in SOURCES),
                 "B to hold every source", [b])
        done_after = dt.datetime.now(dt.UTC)

        # 4. one more manual cycle, then until the outbox is empty
        last = manual_cycle(cfgs["B"])
        _, err = last.communicate(timeout=PATIENCE)
        assert last.returncode == 0, err
        store = open_store(state_url)

        def drained() -> bool:
            with store.connect() as conn:
                return conn.execute(sa.text(
                    "SELECT count(*) FROM deliveries WHERE status <> 'delivered'")).scalar() == 0

        wait_for(drained, "every delivery to be delivered", [b])
        b.proc.send_signal(signal.SIGTERM)
        assert b.proc.wait(timeout=PATIENCE) == 0

        with store.connect() as conn:
            findings = conn.execute(sa.text(
                "SELECT fingerprint, subject, source, resolved_at FROM findings")).all()
            letters = conn.execute(sa.text("SELECT id, number, seq, unit_id, tier FROM letters")).all()
            on_letters = conn.execute(sa.text("SELECT fingerprint FROM letter_findings")).scalars().all()
            runs = conn.execute(sa.text(
                "SELECT id, source, started_at, finished_at, ok, error, replica FROM scan_runs "
                "ORDER BY id")).all()
            keys = conn.execute(sa.text("SELECT idempotency_key FROM deliveries")).scalars().all()
        store.dispose()
    finally:
        for r in replicas.values():
            if r.proc.poll() is None:
                r.proc.kill()
                r.proc.wait()
        receiver.stop()

    cases = len(SOURCES) * UNITS_PER_SOURCE * CASES_PER_UNIT
    # findings: one per late case, none resolved (nothing changed in any source)
    false_resolutions = sum(1 for f in findings if f.resolved_at is not None)
    assert false_resolutions == 0
    assert len(findings) == cases
    assert sorted(f.subject for f in findings) == sorted(
        f"K{k}U{j}-{i}" for k in range(1, len(SOURCES) + 1)
        for j in range(1, UNITS_PER_SOURCE + 1) for i in range(CASES_PER_UNIT))
    # letters: one per unit, every finding on exactly one, numbers 1..n without gap or repeat
    units = len(SOURCES) * UNITS_PER_SOURCE
    assert len(letters) == units
    assert Counter(x.unit_id for x in letters) == Counter(
        f"K{k}U{j}" for k in range(1, len(SOURCES) + 1) for j in range(1, UNITS_PER_SOURCE + 1))
    assert sorted(on_letters) == sorted(f.fingerprint for f in findings)
    assert sorted(x.seq for x in letters) == list(range(1, units + 1))
    assert len({x.number for x in letters}) == units
    # sends: every letter arrived; a duplicate only for the one delivery a SIGKILL can leave in flight
    arrived = Counter(receiver.keys())
    assert set(arrived) == set(keys) and len(keys) == units
    duplicates = sum(n - 1 for n in arrived.values())
    assert duplicates <= 1
    copies = [h.body for h in receiver.hits if arrived[h.key] > 1]
    assert len(set(copies)) <= 1  # a re-sent letter is byte-identical
    # scans: never two of one source at once (a killed process's run is closed by the next scan)
    overlaps = 0
    for source in SOURCES:
        spans = sorted((_utc(r.started_at), _utc(r.finished_at)) for r in runs if r.source == source)
        busy_until = dt.datetime.min.replace(tzinfo=dt.UTC)
        for start, end in spans:
            overlaps += start < busy_until  # began while an earlier run of the source was going
            busy_until = max(busy_until, end)
    assert overlaps == 0
    assert all(r.finished_at is not None for r in runs)
    abandoned = [r for r in runs if r.error and r.error.startswith("abandoned")]
    assert all(r.replica == "A" for r in abandoned)
    by_replica = Counter(r.replica for r in runs)
    assert by_replica["A"] and by_replica["B"]
    # failover: B's first scheduled cycle of each of A's sources after the kill took it
    # (one skipped chance is allowed: a cycle B began in the instant before A died)
    b_events = [e for e in b.events() if _utc(e.get("timestamp", "1970-01-01")) >= killed_at]
    took: dict[str, float] = {}
    for source in owned_by_a:
        mine = [e for e in b_events if e.get("source") == source
                and e.get("event") in ("cycle left to another replica", "source claimed")]
        claimed = [i for i, e in enumerate(mine) if e["event"] == "source claimed"]
        assert claimed and claimed[0] <= 1, mine
        took[source] = (_utc(mine[claimed[0]]["timestamp"]) - killed_at).total_seconds()
    print(f"[{state_url.split(':')[0]}] findings {len(findings)}, false resolutions {false_resolutions}, "
          f"letters {len(letters)} (numbers 1..{units}, unique), sends {sum(arrived.values())} "
          f"(duplicates {duplicates}), scan runs {len(runs)} (A {by_replica['A']}, B {by_replica['B']}, "
          f"manual {sum(n for r, n in by_replica.items() if r not in ('A', 'B'))}), "
          f"overlapping scans {overlaps}, abandoned runs closed {len(abandoned)}, "
          f"A's sources taken by B after {sorted(round(s, 1) for s in took.values())} s "
          f"(interval {INTERVAL} s; all held {round((done_after - killed_at).total_seconds(), 1)} s "
          "after the kill)")


def test_a_cycle_killed_mid_scan_leaves_a_run_that_the_next_scan_closes(
        tmp_path: Path, state_url: str) -> None:
    """``sunlight cycle`` SIGKILLed with a run's findings upserted and the run unfinished."""
    for k, name in enumerate(SOURCES, 1):
        build_source(tmp_path / f"{name}.db", k)
    receiver = Receiver().start()
    try:
        cfg = write_config(tmp_path, state_url, receiver.url, "M", free_port())
        killed = subprocess.run(
            [sys.executable, "-m", "sunlight.monitor.cli", "cycle", "-c", str(cfg)], cwd=REPO,
            env={**os.environ, "SUNLIGHT_TEST_CRASH_AT": "mid_scan"}, capture_output=True,
            text=True, timeout=PATIENCE, check=False)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        store = open_store(state_url)
        with store.connect() as conn:
            [(run_id, finished)] = conn.execute(sa.text(
                "SELECT id, finished_at FROM scan_runs")).all()
        assert finished is None  # the killed process's run: unfinished
        again = manual_cycle(cfg)
        _, err = again.communicate(timeout=PATIENCE)
        assert again.returncode == 0, err
        with store.connect() as conn:
            first = conn.execute(sa.text("SELECT finished_at, ok, error FROM scan_runs WHERE id = :i"),
                                 {"i": run_id}).one()
            unfinished = conn.execute(sa.text(
                "SELECT count(*) FROM scan_runs WHERE finished_at IS NULL")).scalar()
            resolved = conn.execute(sa.text(
                "SELECT count(*) FROM findings WHERE resolved_at IS NOT NULL")).scalar()
            findings = conn.execute(sa.text("SELECT count(*) FROM findings")).scalar()
            numbers = conn.execute(sa.text("SELECT seq FROM letters ORDER BY seq")).scalars().all()
        store.dispose()
    finally:
        receiver.stop()
    assert first.finished_at is not None and not first.ok and first.error.startswith("abandoned")
    assert unfinished == 0 and resolved == 0
    assert findings == len(SOURCES) * UNITS_PER_SOURCE * CASES_PER_UNIT
    assert numbers == list(range(1, len(SOURCES) * UNITS_PER_SOURCE + 1))
    assert Counter(receiver.keys()) and set(Counter(receiver.keys()).values()) == {1}
