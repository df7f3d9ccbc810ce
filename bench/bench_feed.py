"""Per-finding cost of the case checks (issue 11, item 2): the records one scan feeds, fed again.

Runs one columnar scan in-process over ``bench_cases.py``'s dataset and
config (run that first), capturing every ``(checks, record)`` pair the engine
feeds; then feeds them again to ``Engine._feed`` ROUNDS times, each with a
fresh ``EvalContext`` (cold memos, as a scan starts), each finding made into
its JSON line in memory. It prints the CPU per finding of each round and the
SHA-256 of the lines (equal to ``scan --format json``'s output on the same
config: compare runs of two trees by it). Fetching, the columnar decision and
building the records are not in the figure; the write to stdout is not either.

    .venv/bin/python bench/bench_feed.py [--config bench/.data/bench-sqlite-columnar.yaml] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import time
from pathlib import Path
from typing import Any

from sunlight.checks.base import EvalContext
from sunlight.monitor.configure import load_settings
from sunlight.monitor.engine import Engine, SourceOutcome, unit_names

ROOT = Path(__file__).resolve().parent.parent
AT = "2026-11-16T09:00"  # bench_cases.py's as-of time
CASE_CHECKS = ["case_due_soon", "case_overdue", "case_overdue_statutory", "step_overdue",
               "extension_invalid", "refusal_without_reason", "repeated_supplement"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "bench/.data/bench-sqlite-columnar.yaml")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    settings = load_settings(args.config)
    engine = Engine(settings, only=CASE_CHECKS)
    at = dt.datetime.fromisoformat(AT).replace(tzinfo=settings.tz)
    lookup, names = unit_names(engine), {}

    def line(f: Any) -> bytes:
        if f.unit_id not in names:
            names[f.unit_id] = lookup([f.unit_id]).get(f.unit_id) if f.unit_id else None
        return f.to_json_bytes(names[f.unit_id])

    fed: list[tuple[Any, Any]] = []
    contexts: list[EvalContext] = []
    feed = Engine._feed

    def capture(self: Engine, feeders: Any, record: Any, ctx: EvalContext, out: Any, emit: Any) -> None:
        fed.append((feeders, record))
        contexts[:] = [ctx]
        feed(self, feeders, record, ctx, out, emit)

    lines: list[bytes] = []
    Engine._feed = capture  # type: ignore[method-assign]
    started = time.process_time()
    engine.scan(at, lambda f: lines.append(line(f)))
    scan_cpu = time.process_time() - started
    Engine._feed = feed  # type: ignore[method-assign]
    digest = hashlib.sha256(b"".join(lines)).hexdigest()
    print(f"scan: {scan_cpu:.2f} s CPU, {len(fed):,} records fed, {len(lines):,} findings, "
          f"sha256 {digest[:16]}")
    base, src = contexts[0], engine.sources[next(iter(engine.sources))]
    for r in range(args.rounds):
        ctx = EvalContext(at=base.at, calendar=base.calendar, source=base.source, units=base.units,
                          params=base.params)
        out = SourceOutcome(src.name)
        again: list[bytes] = []
        emit = engine._emitter(src, out, lambda f, into=again: into.append(line(f)))
        gc.collect()
        started = time.process_time()
        for feeders, record in fed:
            engine._feed(feeders, record, ctx, out, emit)
        cpu = time.process_time() - started
        same = hashlib.sha256(b"".join(again)).hexdigest() == digest
        print(f"round {r + 1}: {cpu:.3f} s CPU, {1e6 * cpu / len(again):.1f} µs a finding, "
              f"{len(again):,} findings, {'same lines' if same else 'DIFFERENT lines'}")


if __name__ == "__main__":
    main()
