"""The console's command-line sub-apps, added to ``sunlight`` by :mod:`sunlight.monitor.cli`."""

from __future__ import annotations

import typer

from sunlight.monitor.webconsole.cli_data import findings_app, report_app, units_app
from sunlight.monitor.webconsole.cli_users import users_app


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(findings_app, name="findings")
    app.add_typer(units_app, name="units")
    app.add_typer(report_app, name="report")
