"""``sunlight run``: the daemon (scheduled cycles, deliveries, metrics, the console).

Mounted by :mod:`sunlight.monitor.cli`, imported only when ``run`` runs: with
``demo --serve`` it is the one command that needs the web stack (Starlette,
uvicorn, the console), Prometheus and the scheduler.
"""

from __future__ import annotations

import typer

from sunlight.monitor import logs
from sunlight.monitor.cli_common import ConfigOpt, load_or_exit
from sunlight.monitor.daemon import run as run_daemon

commands = typer.Typer()


@commands.command()
def run(ctx: typer.Context, config: ConfigOpt) -> None:
    """The daemon: scheduled cycles, outbox delivery, /metrics and health on server.listen."""
    asked = ctx.find_root().params  # the global --log-level / --log-json of sunlight.monitor.cli
    if asked.get("log_level") is None:  # an operator expects the start, each cycle and each delivery run
        logs.configure(logs.LogLevel.INFO, asked.get("log_json"))
    raise typer.Exit(run_daemon(config, load_or_exit(config)))
