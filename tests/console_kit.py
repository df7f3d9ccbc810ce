"""A real console over the demo store, served on 127.0.0.1 by the daemon's own HTTP stack.

``demo_template`` builds the demo sources and runs one cycle as of Monday
16 November 2026, 09:00 (once per test module); ``console`` copies that
store for each test, adds the accounts below and serves the console with
``/metrics`` and the health endpoints beside it, exactly as ``sunlight run``
does (:func:`sunlight.monitor.web.make_app`).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from sunlight.monitor.configure import Settings, load_settings
from sunlight.monitor.cycle import issue, unit_names
from sunlight.monitor.demo.run import build_finance, build_sources, write_config
from sunlight.monitor.engine import Engine, load_calendar, scan_and_record
from sunlight.monitor.store import open_store
from sunlight.monitor.store.letters_models import LetterRow
from sunlight.monitor.web import ProbeResult, WebServer, make_app
from sunlight.monitor.webconsole.accounts import add_user
from sunlight.monitor.webconsole.app import make_console
from sunlight.monitor.webconsole.units import UnitDirectory

TZ = ZoneInfo("Asia/Shanghai")
DEMO_AT = dt.datetime(2026, 11, 16, 9, 0, tzinfo=TZ)

#: username → (password, role, unit); MZJ is 县民政局, SJJ 县市场监督管理局 in the demo
ACCOUNTS = {
    "wang": ("staff-pass-0001", "staff", None),
    "liu": ("liaison-pass-01", "liaison", "MZJ"),
    "zhao": ("liaison-pass-02", "liaison", "SJJ"),
    "chen": ("leader-pass-001", "leader", None),
    "root": ("admin-pass-0001", "admin", None),
}
NAMES = {"wang": "王监察", "liu": "刘联络", "zhao": "赵联络", "chen": "陈书记", "root": "系统管理员"}


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    build_sources(folder)
    build_finance(folder)
    config = write_config(folder)
    # each letter starts at its finding's tier (not every matter at 三级), so the demo has the 二级
    # letters the walks need (a written report, then 办结), as main's lifecycle tests do
    with config.open("a", encoding="utf-8") as f:
        f.write("tiers:\n  matter_start: check\n")
    settings = load_settings(config)
    engine = Engine(settings)
    try:
        store = open_store(settings.state_url())
        scan_and_record(engine, store, DEMO_AT, lambda f: None)
        issue(engine, store, settings, DEMO_AT)
        store.dispose()
    finally:
        engine.close()
    return folder


@dataclass
class Console:
    url: str
    folder: Path
    settings: Settings
    store: sa.Engine

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=30)

    def login(self, username: str, password: str | None = None) -> httpx.Client:
        c = self.client()
        r = c.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', r.text)
        assert token, r.text
        r = c.post("/login", data={"csrf": token[1], "username": username,
                                   "password": password or ACCOUNTS[username][0]})
        assert r.status_code == 303, r.text
        return c

    def letter_of(self, unit: str, tier: str, status: str = "issued") -> sa.Row:  # type: ignore[type-arg]
        with self.store.connect() as conn:
            row = conn.execute(sa.select(LetterRow).where(LetterRow.unit_id == unit, LetterRow.tier == tier,
                                                          LetterRow.status == status)
                               .order_by(LetterRow.id)).first()
        assert row is not None, (unit, tier, status)
        return row

    def letter(self, letter_id: int) -> sa.Row:  # type: ignore[type-arg]
        with self.store.connect() as conn:
            return conn.execute(sa.select(LetterRow).where(LetterRow.id == letter_id)).one()


@pytest.fixture
def console(demo_template: Path, tmp_path: Path) -> Iterator[Console]:
    folder = tmp_path / "site"
    shutil.copytree(demo_template, folder)
    settings = load_settings(folder / "sunlight.yaml")
    store = open_store(settings.state_url())
    for username, (password, role, unit) in ACCOUNTS.items():
        add_user(store, username, NAMES[username], role, password, unit)
    calendar = load_calendar(settings)
    engine = Engine(settings, calendar=calendar)
    served = Console("", folder, settings, store)  # a test may swap served.settings (as a reload does)
    console_app = make_console(lambda: (store, served.settings, calendar), UnitDirectory(unit_names(engine)))
    app = make_app(CollectorRegistry(), lambda: ProbeResult(True, {}), lambda: None, console_app)
    server = WebServer("127.0.0.1:0", app)
    server.start()
    served.url = server.url
    try:
        yield served
    finally:
        server.stop()
        engine.close()
        store.dispose()


def csrf_of(html: str) -> str:
    token = re.search(r'name="csrf" value="([^"]+)"', html)
    assert token, html[:500]
    return token[1]
