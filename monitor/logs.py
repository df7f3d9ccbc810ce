"""Logging: one pipeline for our own lines and every library's, to stderr.

structlog's processors build each event (level, logger name, UTC timestamp,
the bound context such as the source), and the standard library's handler
renders it through :class:`structlog.stdlib.ProcessorFormatter`, so that
APScheduler, Alembic, SQLAlchemy and httpx lines come out in the same format
as ours: readable on a terminal, one JSON object per line otherwise. Logs go
to stderr so that ``scan --format json`` on stdout stays machine-readable.
"""

from __future__ import annotations

import logging
import sys
from enum import StrEnum

import structlog
from structlog.typing import Processor


class LogLevel(StrEnum):
    """The levels ``--log-level`` accepts (anything else is a usage error)."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


#: libraries that are chatty below WARNING even when we log at INFO
_QUIET_LIBRARIES = ("apscheduler", "alembic", "sqlalchemy", "httpx", "httpcore", "aiosmtpd", "mail.log")

_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure(level: LogLevel | str = LogLevel.WARNING, json: bool | None = None) -> None:
    """Route structlog and the standard library through one handler on stderr at ``level``."""
    json = (not sys.stderr.isatty()) if json is None else json
    renderer: Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    numeric = logging.getLevelNamesMapping()[str(level).upper()]
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder()],
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
