"""What every command of the CLI shares: the config option, loading it, ``--at``, failing.

Exit codes everywhere in sunlight: 0 done (with or without findings); 1 a
failure prevented the work (a source could not be read, an act was refused);
2 the command line or the config is bad (the message names the file, the key
path and the problem). Choices are enums, so Typer rejects a bad value as a
usage error (exit 2) and ``--help`` lists the values.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sunlight.monitor.configure import ConfigError, Settings, load_settings

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="the sunlight YAML config file")]
AtOpt = Annotated[str | None, typer.Option(help="evaluate as of this time (ISO); default now")]


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def fail(message: str, code: int) -> typer.Exit:
    """Print ``message`` on stderr and return the exit to raise (no traceback reaches the user)."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def load_or_exit(path: Path) -> Settings:
    """Load the config; on any problem print it and exit 2 (bad config never runs)."""
    try:
        return load_settings(path)
    except ConfigError as exc:
        raise fail(f"配置错误 (config error): {exc}", 2) from None


def parse_at(value: str | None, tz: dt.tzinfo) -> dt.datetime:
    """``--at``: ISO date or date-time; naive values are in the configured zone.

    A bare date means the start of that day (00:00).
    """
    if value is None:
        return dt.datetime.now(tz)
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--at: {value!r} is not an ISO date or date-time (e.g. 2026-10-10T09:00)",
                   2) from None
    return t.replace(tzinfo=tz) if t.tzinfo is None else t.astimezone(tz)
