"""The one shape of a configuration problem: file, key path, problem.

At the bottom of the layers, so that every layer that validates a part of the
config (settings, calendar overrides, check parameters, channels) reports it
the same way and the CLI turns it into exit code 2 (architecture invariant 6).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError


class ConfigError(Exception):
    """Configuration that must not run. ``str()`` is the message for the office."""

    def __init__(self, file: str | Path, key: str, problem: str) -> None:
        self.file, self.key, self.problem = str(file), key, problem
        super().__init__(f"{file}: {key or '(top level)'}: {problem}")


def key_path(loc: tuple[Any, ...], prefix: str = "") -> str:
    """A pydantic error location as the config key an office reads: ``routes[0].to``."""
    out = prefix
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the key of this mapping entry is bad"
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def first_problem(exc: ValidationError, prefix: str = "") -> tuple[str, str]:
    """The first error of a validation as (key path under ``prefix``, problem in plain words)."""
    err = exc.errors()[0]
    return key_path(tuple(err["loc"]), prefix), str(err["msg"]).removeprefix("Value error, ")
