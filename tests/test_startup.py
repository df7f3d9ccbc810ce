"""Each command loads what it uses (issue 11): asserted on ``sys.modules``, never on time.

Every case runs the real ``sunlight`` entry point in a fresh interpreter and
reports the modules it had loaded when the command ended. The libraries named
here are the ones a command does not need: the web console and the daemon's
stack (Starlette, uvicorn, Jinja2 for pages, argon2, Prometheus, APScheduler),
the office formats (openpyxl, python-docx, docxtpl), Alembic (only to
migrate), httpx (only to deliver) and polars/Arrow (only when a source is
read column by column). ``bench/bench_startup.py`` measures what this saves.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SourceDB
from tests.test_reference_config import ENV, REFERENCE

#: what no command but ``run``/``demo`` (and the console's exports and reports) needs
WEB = ("starlette", "uvicorn", "multipart", "jinja2", "argon2", "prometheus_client", "apscheduler")
FORMATS = ("openpyxl", "docx", "docxtpl")
COLUMNAR = ("polars", "pyarrow", "adbc_driver_manager")
#: ``scan`` of sources on the record path or the columnar one: never any of these
NOT_FOR_SCAN = (*WEB, *FORMATS, "alembic", "httpx")

PROBE = """
import json, sys
report, sys.argv = sys.argv[1], ["sunlight", *sys.argv[2:]]
from sunlight.monitor.cli import main
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code or 0
with open(report, "w", encoding="utf-8") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def loaded(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages (and our modules) loaded by ``sunlight ARGS``; it must exit 0."""
    report = tmp_path / "modules.json"
    proc = subprocess.run([sys.executable, "-c", PROBE, str(report), *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "NO_COLOR": "1", **(env or {})})
    assert proc.returncode == 0 and report.exists(), proc.stdout[-2000:] + proc.stderr[-3000:]
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["code"] == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    modules = set(data["modules"])
    return {m.split(".")[0] for m in modules} | {m for m in modules if m.startswith("sunlight.")}


def test_the_names_guarded_are_real_packages() -> None:
    """A misspelt name would pass every ``not in`` below: each must be installed under that name."""
    for name in (*NOT_FOR_SCAN, *COLUMNAR, "sqlalchemy", "pydantic", "yaml", "structlog"):
        assert importlib.util.find_spec(name) is not None, name


def test_help_loads_typer_and_nothing_of_the_commands(tmp_path: Path) -> None:
    mods = loaded(tmp_path, "--help")
    assert "typer" in mods and "sunlight.monitor.cli" in mods
    heavy = (*NOT_FOR_SCAN, *COLUMNAR, "sqlalchemy", "pydantic", "yaml", "structlog")
    assert not [m for m in heavy if m in mods]
    ours = {m for m in mods if m.startswith("sunlight.")}
    assert ours <= {"sunlight.monitor", "sunlight.monitor.cli", "sunlight.monitor.logs"}, ours


@pytest.mark.parametrize("args", [("scan", "--help"), ("letters", "--help"), ("config", "--help")])
def test_a_command_help_loads_its_own_module_only(tmp_path: Path, args: tuple[str, ...]) -> None:
    mods = loaded(tmp_path, *args)
    assert not [m for m in (*NOT_FOR_SCAN, *COLUMNAR) if m in mods]
    assert "sunlight.monitor.daemon" not in mods and "sunlight.monitor.webconsole.cli_data" not in mods
    own = {"scan": "sunlight.monitor.cli_scan", "letters": "sunlight.alerts.cli",
           "config": "sunlight.monitor.cli_config"}[args[0]]
    assert own in mods


def _cases(db: SourceDB) -> None:
    db.load("units", [{"unit_id": "MZJ", "name": "县民政局", "kind": "department", "parent_id": None}])
    db.load("cases", [
        {"case_id": "C1", "unit_id": "MZJ", "item_code": "MZ-001", "item_name": "最低生活保障审批",
         "accepted_at": dt.datetime(2026, 9, 24, 10), "promised_limit": 5},
        {"case_id": "C2", "unit_id": "MZJ", "accepted_at": dt.datetime(2026, 10, 9, 10), "promised_limit": 5},
    ])


@pytest.mark.parametrize("columnar", [True, False])
def test_scan_loads_no_web_formats_migrations_or_http(sqlite_db: SourceDB, write_config, tmp_path: Path,
                                                     columnar: bool) -> None:
    _cases(sqlite_db)
    cfg = write_config(sqlite_db.url, f"    columnar: {str(columnar).lower()}\n")
    mods = loaded(tmp_path, "scan", "-c", str(cfg), "--at", "2026-10-10T09:00", "--format", "json")
    assert "sunlight.monitor.engine" in mods and "sunlight.checks.cases" in mods  # it did scan
    assert not [m for m in NOT_FOR_SCAN if m in mods]
    assert not [m for m in mods if m.startswith(("sunlight.monitor.webconsole.", "sunlight.alerts.letters",
                                                 "sunlight.alerts.render", "sunlight.monitor.daemon",
                                                 "sunlight.monitor.cycle"))
                and m != "sunlight.monitor.webconsole.config"]
    # polars only for the columnar path
    assert ("polars" in mods) is columnar
    if not columnar:
        assert not [m for m in COLUMNAR if m in mods]


def test_commands_on_an_existing_store_do_not_load_alembic(sqlite_db: SourceDB, write_config,
                                                           tmp_path: Path) -> None:
    """Alembic migrates: ``db upgrade`` loads it; a store already at head is opened without it."""
    _cases(sqlite_db)
    cfg = write_config(sqlite_db.url)
    assert "alembic" in loaded(tmp_path, "db", "upgrade", "-c", str(cfg))  # the guard can see it
    assert "alembic" not in loaded(tmp_path, "db", "upgrade", "-c", str(cfg))  # at head: nothing to do
    mods = loaded(tmp_path, "scan", "-c", str(cfg), "--at", "2026-10-10T09:00", "--record")
    assert "sunlight.monitor.store.findings" in mods
    assert not [m for m in NOT_FOR_SCAN if m in mods]
    mods = loaded(tmp_path, "letters", "list", "-c", str(cfg))
    assert "sunlight.alerts.cli" in mods
    assert not [m for m in (*NOT_FOR_SCAN, *COLUMNAR) if m in mods]
    mods = loaded(tmp_path, "findings", "list", "-c", str(cfg))
    assert "sunlight.monitor.webconsole.queries" in mods
    assert not [m for m in (*NOT_FOR_SCAN, *COLUMNAR) if m in mods]


def test_config_check_of_every_channel_type_loads_no_http_client_nor_polars(tmp_path: Path) -> None:
    """The reference config has one channel of every type: validating them needs no httpx."""
    mods = loaded(tmp_path, "config", "check", "-c", str(REFERENCE), env=ENV)
    assert "sunlight.alerts.channels.dingtalk" in mods and "sunlight.alerts.channels.mail" in mods
    # (APScheduler parses its server.full_scan crontab: validating that is its use)
    web = [m for m in WEB if m != "apscheduler"]
    assert not [m for m in (*web, *FORMATS, *COLUMNAR, "alembic", "httpx") if m in mods]


def test_every_command_listed_is_the_command_it_loads() -> None:
    """``sunlight --help`` prints the lines of :data:`COMMANDS`: each must be its command's own help."""
    from typer.main import get_command

    from sunlight.monitor.cli import COMMANDS, LazyCommand, app, load

    group = get_command(app)
    listed = [c for c in group.commands.values() if isinstance(c, LazyCommand)]
    assert [c.name for c in listed] == [e.name for e in COMMANDS]
    for entry in COMMANDS:
        real = load(entry)
        assert real.name == entry.name
        first = (real.help or "").strip().split("\n\n")[0].replace("\n", " ")
        assert entry.help == first, f"{entry.name}: COMMANDS says {entry.help!r}, the command {first!r}"
