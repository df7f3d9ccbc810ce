"""Logging: one pipeline for our own lines and every library's, to stderr.

structlog's processors build each event (level, logger name, UTC timestamp,
the bound context such as the source), and the standard library's handler
renders it through :class:`structlog.stdlib.ProcessorFormatter`, so that
APScheduler, Alembic, SQLAlchemy and httpx lines come out in the same format
as ours: readable on a terminal, one JSON object per line otherwise. Logs go
to stderr so that ``scan --format json`` on stdout stays machine-readable.

structlog (which loads rich's tracebacks and pygments, ~8 MB) is imported by
:func:`configure`: ``sunlight --help`` imports this module for
:class:`LogLevel` and never configures anything.
"""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from structlog.typing import Processor


class LogLevel(StrEnum):
    """The levels ``--log-level`` accepts (anything else is a usage error)."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


#: libraries that are chatty below WARNING even when we log at INFO
_QUIET_LIBRARIES = ("apscheduler", "alembic", "sqlalchemy", "httpx", "httpcore", "aiosmtpd", "mail.log")


def _shared() -> list[Processor]:
    """What every line gets, ours (structlog) and the libraries' (the standard library's)."""
    import structlog

    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure(level: LogLevel | str = LogLevel.WARNING, json: bool | None = None) -> None:
    """Route structlog and the standard library through one handler on stderr at ``level``."""
    import structlog

    json = (not sys.stderr.isatty()) if json is None else json
    renderer: Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    numeric = logging.getLevelNamesMapping()[str(level).upper()]
    structlog.configure(
        processors=[*_shared(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared(), structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in _QUIET_LIBRARIES:
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
        lib.setLevel(max(numeric, logging.WARNING))
