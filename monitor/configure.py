"""The composition root of the config: every layer's validator, then the loader.

:func:`sunlight.monitor.settings.read_settings` runs the validators that are
registered; this module imports every module that registers one, so that a
config loaded through it has been checked whole: the check parameters
(:mod:`sunlight.checks.registry`), the alerting sections
(:mod:`sunlight.alerts.validation`) and the channel entries
(:mod:`sunlight.alerts.channels`). Everything that loads a config for running
(the CLI, the daemon's reload, the demo) loads it from here.
"""

from __future__ import annotations

from pathlib import Path

import sunlight.alerts.channels
import sunlight.alerts.validation
import sunlight.checks.registry  # noqa: F401
from sunlight.monitor.settings import ConfigError, Settings, read_settings, registered_validators

__all__ = ["ConfigError", "Settings", "load_settings", "registered_validators"]


def load_settings(path: str | Path, env: dict[str, str] | None = None) -> Settings:
    """The config file, checked whole by every layer's validator, or :class:`ConfigError`."""
    return read_settings(path, env)
