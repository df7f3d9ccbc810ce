"""``sunlight``: the one command line (Typer), the top of the layers.

This module is only the table of commands: each one lives in the module of
the layer that owns it (the letters workflow in :mod:`sunlight.alerts.cli`,
the console's in ``webconsole/cli_*.py``, the pipeline's in
``monitor/cli_*.py``) and that module is imported only when the command runs
or its own ``--help`` is asked for. ``sunlight --help`` lists the commands
from the table below without importing any of them, so it costs Typer and
nothing else, and ``sunlight scan`` never loads the web console, the
migrations or the spreadsheet writer (issue 11: every command paid ~1.5 s
and ~200 MB of imports for all the others; ``tests/test_startup.py`` keeps it
so). This is Click's lazy-group pattern (``get_command`` loads the command),
with each command's one-line help kept here so that the listing needs no
import; ``tests/test_startup.py`` checks the lines against the commands.

Exit codes are those of :mod:`sunlight.monitor.cli_common`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from sunlight.monitor import logs


@dataclass(frozen=True)
class Lazy:
    """One command of ``sunlight``: where it lives, and its line in ``sunlight --help``."""

    name: str
    module: str
    app: str  # the typer.Typer in that module
    command: str | None  # a command of that Typer; None: the Typer is the group itself
    help: str


COMMANDS = (
    Lazy("scan", "sunlight.monitor.cli_scan", "commands", "scan",
         "One evaluation: print the findings; deliver nothing."),
    Lazy("cycle", "sunlight.monitor.cli_cycle", "commands", "cycle",
         "One full cycle: scan, record findings, issue and escalate letters, deliver."),
    Lazy("run", "sunlight.monitor.cli_run", "commands", "run",
         "The daemon: scheduled cycles, outbox delivery, /metrics and health on server.listen."),
    Lazy("demo", "sunlight.monitor.cli_demo", "commands", "demo",
         "Build sample databases and a config in a folder, run one cycle, print a summary."),
    Lazy("config", "sunlight.monitor.cli_config", "config_app", None, "Validate configuration."),
    Lazy("calendar", "sunlight.monitor.cli_config", "calendar_app", None,
         "Working-day calendar and deadlines."),
    Lazy("db", "sunlight.monitor.cli_config", "db_app", None,
         "The state store (findings, letters, outbox)."),
    Lazy("letters", "sunlight.alerts.cli", "letters_app", None,
         "Warning letters (预警函): list, show and the rectification workflow."),
    Lazy("audit", "sunlight.alerts.cli", "audit_app", None, "The audit log of letter acts (hash-chained)."),
    Lazy("users", "sunlight.monitor.webconsole.cli_users", "users_app", None,
         "Console accounts: add, passwd, disable, enable, list."),
    Lazy("findings", "sunlight.monitor.webconsole.cli_data", "findings_app", None,
         "Findings recorded in the state store."),
    Lazy("units", "sunlight.monitor.webconsole.cli_data", "units_app", None,
         "Units: their findings, letters and assessment."),
    Lazy("report", "sunlight.monitor.webconsole.cli_data", "report_app", None,
         "Statistical reports (统计报表) as DOCX or XLSX."),
)


def load(entry: Lazy) -> Any:
    """The command itself (a Click command or group): imports its module."""
    module = importlib.import_module(entry.module)
    group = typer.main.get_group(getattr(module, entry.app))
    if entry.command is None:
        group.name = entry.name
        return group
    return group.commands[entry.command]


class LazyCommand(TyperCommand):
    """A command's name and help line; the command is loaded when it runs or shows its help."""

    def __init__(self, entry: Lazy) -> None:
        super().__init__(entry.name, help=entry.help)
        self.entry = entry

    @cached_property
    def real(self) -> Any:
        return load(self.entry)

    # ``Any``: Typer's Context is a subclass of the (vendored) Click one this method is typed with
    def make_context(self, info_name: str | None, args: list[str], parent: Any = None,
                     **extra: Any) -> Any:
        """The context of the real command: the group then parses and invokes that one."""
        return self.real.make_context(info_name, args, parent=parent, **extra)


class SunlightGroup(TyperGroup):
    """The top-level group: every command of :data:`COMMANDS`, none of them imported yet."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for entry in COMMANDS:
            self.add_command(LazyCommand(entry))


app = typer.Typer(
    name="sunlight",
    cls=SunlightGroup,
    help="sunlight 电子监察: reads approval, disclosure, finance and meeting databases "
    "(read-only) and raises tiered warning letters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    log_level: Annotated[logs.LogLevel | None, typer.Option(
        help="log level (default: INFO for run, WARNING for the other commands)")] = None,
    log_json: Annotated[bool | None, typer.Option("--log-json/--log-console",
                                                  help="log format (default: JSON unless a TTY)")]
    = None,
) -> None:
    # ``run`` reads both back from the root context to raise the default level to INFO
    logs.configure(log_level or logs.LogLevel.WARNING, log_json)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
