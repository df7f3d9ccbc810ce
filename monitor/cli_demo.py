"""``sunlight demo``: sample databases, a config and one cycle in a folder (``--serve``: the daemon).

Mounted by :mod:`sunlight.monitor.cli`, imported only when ``demo`` runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sunlight.monitor.demo.run import run_demo

commands = typer.Typer()


@commands.command()
def demo(
    folder: Annotated[Path, typer.Option("--dir", help="working folder for the demo")]
    = Path("sunlight-demo"),
    at: Annotated[str, typer.Option(help="evaluate as of this time")] = "2026-11-16T09:00:00",
    serve: Annotated[bool, typer.Option(help="keep the daemon and its HTTP endpoints running")]
    = False,
    replace: Annotated[bool, typer.Option(
        help="overwrite a folder that already holds a config or state store (says what it replaces)")]
    = False,
    listen: Annotated[str, typer.Option(help="host:port of the daemon's HTTP endpoint (--serve)")]
    = "127.0.0.1:9464",
) -> None:
    """Build sample databases and a config in a folder, run one cycle, print a summary.

    A folder that already holds a config or a state store is refused (exit 2)
    unless --replace is given.
    """
    code = run_demo(folder, at, serve=serve, replace=replace, listen=listen)
    raise typer.Exit(code)

