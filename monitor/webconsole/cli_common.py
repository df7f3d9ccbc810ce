"""What the console's sub-commands share: loading the config (exit 2 when bad) and failing.

The same behaviour as :func:`sunlight.monitor.cli.load_or_exit`, without
importing the top-level CLI module (which imports these sub-apps).
"""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy.engine import Engine

from sunlight.monitor.settings import ConfigError, Settings, load_settings
from sunlight.monitor.store import open_store


def fail(message: str, code: int) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def load_or_exit(path: Path) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        raise fail(f"配置错误 (config error): {exc}", 2) from None


def settings_and_store(path: Path) -> tuple[Settings, Engine]:
    settings = load_or_exit(path)
    return settings, open_store(settings.state_url())
