"""What every command of the CLI shares: the config option, loading it, ``--at``, failing.

Exit codes everywhere in sunlight: 0 done (with or without findings); 1 a
failure prevented the work (a source could not be read, an act was refused);
2 the command line or the config is bad (the message names the file, the key
path and the problem). Choices are enums, so Typer rejects a bad value as a
usage error (exit 2) and ``--help`` lists the values.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import sqlalchemy as sa
import typer
from sqlalchemy.engine import Engine as SAEngine

from sunlight.monitor.configure import ConfigError, Settings, load_settings
from sunlight.monitor.store.db import StoreError, describe, masked, open_store
from sunlight.monitor.store.findings import expected_rows

if TYPE_CHECKING:
    from sunlight.monitor.engine import SourceOutcome

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


STORE_FAILED = "状态库错误 (state store failed)"


def open_state(settings: Settings, *, read_only: bool = False,
               migrate: bool | Literal["create"] = "create") -> SAEngine:
    """The state store, or exit 1 with one line naming it and the cause (no traceback).

    ``read_only``: for the commands that only look (no migration, works on a
    read-only file or folder). The commands that write create a new store but
    do not upgrade an existing one (``migrate="create"``): that is
    ``sunlight db upgrade`` (``migrate=True``) or the daemon's start.
    """
    try:
        return open_store(settings.state_url(), migrate, read_only=read_only,
                          lock_timeout=settings.state.lock_timeout.total_seconds())
    except StoreError as exc:
        raise fail(f"{STORE_FAILED}: {exc}", 1) from None


#: seconds a ``scan`` without ``--record`` waits for a PostgreSQL store to answer its look
PROGRESS_LOOK_TIMEOUT = 3


def progress_totals(settings: Settings, sources: Iterable[str], store: SAEngine | None = None
                    ) -> dict[tuple[str, str], int]:
    """The rows the last complete scans read, per (source, entity): a terminal bar's totals.

    Only on a terminal (a pipe or a log shows no progress, so nothing is read
    for it). ``store``: the one the command has open; without one (``scan``
    without ``--record``) the store is looked at read-only, and a store that
    is missing, older or down just means no time left is shown.
    """
    if not sys.stderr.isatty():
        return {}
    names = list(sources)
    if store is not None:
        try:
            return expected_rows(store, names)
        except sa.exc.SQLAlchemyError:
            return {}
    url = sa.engine.make_url(settings.state_url())
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        # a look for a progress bar must not hold the scan up on a store that does not answer
        url = url.update_query_dict({"connect_timeout": str(PROGRESS_LOOK_TIMEOUT)})
    try:
        look = open_store(url.render_as_string(hide_password=False), read_only=True,
                          lock_timeout=settings.state.lock_timeout.total_seconds())
    except StoreError:
        return {}
    try:
        return expected_rows(look, names)
    except sa.exc.SQLAlchemyError:
        return {}
    finally:
        look.dispose()


@contextmanager
def store_failures(settings: Settings) -> Iterator[None]:
    """Work on the state store: any failure of it ends the command with one line, exit 1."""
    try:
        yield
    except StoreError as exc:
        raise fail(f"{STORE_FAILED}: {exc}", 1) from None
    except sa.exc.SQLAlchemyError as exc:
        lock = settings.state.lock_timeout.total_seconds()
        raise fail(f"{STORE_FAILED}: {masked(settings.state_url())}: {describe(exc, lock)}", 1) from None


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


def source_failure_line(outcome: SourceOutcome) -> str:
    """The one line for a source a command could not evaluate."""
    if outcome.claimed_elsewhere:  # not a failure of the source: another process holds it
        return (f"数据源正由另一进程检查，本次已跳过 (another process is scanning source "
                f"{outcome.source}; skipped after waiting state.claim_wait)")
    return f"数据源读取失败 (source failed): {outcome.error}"
