"""Each console page's response time over a demo store holding N findings (default 100,000).

1. builds the demo (sources, one cycle as of 2026-11-16 09:00) in a folder,
   then adds synthetic findings to the state store until it holds N: copies
   of the demo's findings with new fingerprints, spread over the demo's units,
   tiers and July–November 2026, about half resolved;
2. serves the console exactly as ``sunlight run`` does (uvicorn in a thread,
   127.0.0.1, a random port), logs in as a staff account and as a liaison;
3. requests every page and export ``--repeat`` times and prints the median
   and the slowest time of each, in milliseconds. No assertions: figures.

    .venv/bin/python bench/bench_console.py              # 100k findings
    .venv/bin/python bench/bench_console.py --n 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from synthetic import copy_of, insert_findings

from sunlight.monitor import logs
from sunlight.monitor.configure import load_settings
from sunlight.monitor.cycle import issue, unit_names
from sunlight.monitor.demo.run import build_finance, build_sources, write_config
from sunlight.monitor.engine import Engine, load_calendar, scan_and_record
from sunlight.monitor.store import open_store
from sunlight.monitor.store.models import FindingRow
from sunlight.monitor.web import ProbeResult, WebServer, make_app
from sunlight.monitor.webconsole.accounts import add_user
from sunlight.monitor.webconsole.app import make_console
from sunlight.monitor.webconsole.units import UnitDirectory

DEMO_AT = dt.datetime(2026, 11, 16, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
PAGES = [
    "/overview", "/findings", "/findings?state=open&tier=level3", "/findings?unit=MZJ&since=2026-09-01",
    "/findings?check=case_overdue&state=resolved", "/findings/{finding}", "/letters", "/letters/{letter}",
    "/units", "/units/MZJ", "/assessment?period=2026-11", "/assessment?period=2026-Q4",
    "/reports?period=2026-11", "/reports/download.docx?period=2026-11",
    "/reports/download.xlsx?period=2026-11", "/letters/{letter}/download.docx",
    "/findings/export.csv?unit=MZJ&state=open",
]


def fill(store: sa.Engine, n: int) -> int:
    """Add copies of the demo's findings until the store holds ``n``."""
    with store.connect() as conn:
        seeds = [dict(r._mapping) for r in conn.execute(sa.select(FindingRow))]
        have = len(seeds)
        units = sorted({s["unit_id"] for s in seeds if s["check_id"] != "data_quality"})
    rng = random.Random(12)
    start = DEMO_AT.replace(month=7, day=1)
    span = (DEMO_AT - start).total_seconds()

    def rows() -> Iterator[dict[str, Any]]:
        for i in range(have, n):
            s = copy_of(rng.choice(seeds), i, "bench")
            seen = start + (DEMO_AT - start) * (rng.random() ** 0.7) if span else DEMO_AT
            s.update(unit_id=rng.choice(units), first_seen=seen, last_seen=seen,
                     resolved_at=seen + (DEMO_AT - seen) / 2 if rng.random() < 0.5 else None)
            yield s

    insert_findings(store, rows())
    return max(n, have)


def login(url: str, username: str, password: str) -> httpx.Client:
    c = httpx.Client(base_url=url, timeout=120)
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text)
    assert token
    r = c.post("/login", data={"csrf": token[1], "username": username, "password": password})
    assert r.status_code in (200, 303), r.text
    return c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="findings in the store")
    ap.add_argument("--repeat", type=int, default=5, help="requests per page")
    ap.add_argument("--dir", type=Path, default=None, help="working folder (default: a temporary one)")
    args = ap.parse_args()
    logs.configure("WARNING")
    folder = args.dir or Path(tempfile.mkdtemp(prefix="sunlight-bench-console-"))
    folder.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    marker = folder / f".bench-{args.n}"
    if not marker.exists():  # build once per folder and N (``--dir`` reuses it)
        (folder / "state.db").unlink(missing_ok=True)
        build_sources(folder)
        build_finance(folder)
    settings = load_settings(write_config(folder))
    engine = Engine(settings)
    store = open_store(settings.state_url())
    if not marker.exists():
        scan_and_record(engine, store, DEMO_AT, lambda f: None)
        issue(engine, store, settings, DEMO_AT)
        fill(store, args.n)
        add_user(store, "bench", "测试", "staff", "bench-password-1")
        add_user(store, "liaison", "测试联络员", "liaison", "bench-password-2", "MZJ")
        marker.touch()
    with store.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(FindingRow)).scalar()
        finding = conn.execute(sa.select(sa.func.max(FindingRow.id))
                               .where(FindingRow.unit_id == "MZJ")).scalar()
        # a warning letter of MZJ (every matter now starts at 三级: the tier is not fixed)
        letter = conn.execute(sa.text("SELECT MIN(id) FROM letters WHERE tier <> 'reminder' "
                                      "AND unit_id = 'MZJ'")).scalar()
    print(f"store: {total} findings in {folder / 'state.db'} (ready in {time.perf_counter() - t:.1f} s)")

    calendar = load_calendar(settings)
    console = make_console(lambda: (store, settings, calendar), UnitDirectory(unit_names(engine)))
    server = WebServer("127.0.0.1:0", make_app(CollectorRegistry(), lambda: ProbeResult(True, {}),
                                               lambda: None, console))
    server.start()
    try:
        for who, password in (("bench", "bench-password-1"), ("liaison", "bench-password-2")):
            client = login(server.url, who, password)
            print(f"\n{who} ({'every unit' if who == 'bench' else 'one unit'}), {args.repeat} requests each:")
            print(f"{'page':<52} {'median ms':>10} {'max ms':>8} {'bytes':>9}")
            for page in PAGES:
                path = page.format(finding=finding, letter=letter)
                times, size = [], 0
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    r = client.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    size = len(r.content)
                status = "" if r.status_code == 200 else f" (HTTP {r.status_code})"
                print(f"{path:<52} {statistics.median(times):>10.1f} {max(times):>8.1f} {size:>9}{status}")
    finally:
        server.stop()
        engine.close()


if __name__ == "__main__":
    main()
