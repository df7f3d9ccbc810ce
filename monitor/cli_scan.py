"""``sunlight scan``: one evaluation, findings printed (and recorded with ``--record``).

Mounted by :mod:`sunlight.monitor.cli`, imported only when ``scan`` runs: it
needs the engine and the state store, not the letters, the daemon or the
console.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import IO, Annotated

import typer

from sunlight.checks.base import Finding
from sunlight.checks.registry import UnknownCheckError
from sunlight.monitor.cli_common import (
    AtOpt,
    ConfigOpt,
    OutputFormat,
    fail,
    load_or_exit,
    open_state,
    parse_at,
    progress_totals,
    source_failure_line,
    store_failures,
)
from sunlight.monitor.console import table
from sunlight.monitor.engine import Engine, scan_and_record, unit_names
from sunlight.monitor.progress import terminal_progress

commands = typer.Typer()


@commands.command()
def scan(
    config: ConfigOpt,
    at: AtOpt = None,
    check: Annotated[list[str] | None, typer.Option("--check", help="only this check (repeatable)")]
    = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="json: one object per line")]
    = OutputFormat.table,
    record: Annotated[bool, typer.Option(help="record the findings in the state store")] = False,
) -> None:
    """One evaluation: print the findings; deliver nothing."""
    settings = load_or_exit(config)
    when = parse_at(at, settings.tz)
    try:
        engine = Engine(settings, only=check)
    except UnknownCheckError as exc:
        raise fail(f"--check: {exc}", 2) from None
    rows: list[Finding] = []
    lookup = unit_names(engine)
    names: dict[str, str | None] = {}

    def name_of(unit_id: str) -> str | None:
        """A unit's name for the JSON line, read once per unit (the units tables are small)."""
        if unit_id not in names:
            names[unit_id] = lookup([unit_id]).get(unit_id) if unit_id else None
        return names[unit_id]

    out = _JsonLines(sys.stdout, name_of)

    def sink(f: Finding) -> None:
        if fmt is OutputFormat.json:
            out.write(f)
        else:
            rows.append(f)

    try:
        store = open_state(settings) if record else None
        # rows read and the time left, on a terminal only (never in a pipe or --format json)
        with terminal_progress(progress_totals(settings, engine.sources, store)) as progress:
            engine.progress = progress.rows if progress is not None else None
            if store is not None:
                with store_failures(settings):
                    outcomes = scan_and_record(engine, store, when, sink,
                                               wait=settings.state.claim_wait.total_seconds())
            else:
                outcomes = engine.scan(when, sink)
    finally:
        try:
            out.flush()  # what was found before a failure is printed, as it was found
        finally:
            engine.close()
    if fmt is OutputFormat.table:
        seen = {u: info.name for o in outcomes for u, info in o.units.items()}
        rows.sort(key=lambda f: (f.check, f.unit_id, f.subject))
        typer.echo(table(
            ["检查项", "单位", "对象", "等级", "期限", "超期", "摘要"],
            [[f.check, seen.get(f.unit_id, f.unit_id), f.subject, settings.tiers.label(f.tier),
              (f.deadline.strftime("%Y-%m-%d") + ("*" if f.calendar_uncovered else ""))
              if f.deadline else "",
              "" if f.overdue is None else f"{f.overdue}", f.summary] for f in rows],
        ))
        total = sum(sum(o.findings.values()) for o in outcomes)
        typer.echo(f"\n截至 {when:%Y-%m-%d %H:%M}（{settings.timezone}）共 {total} 项发现。")
        if any(f.calendar_uncovered for f in rows):
            typer.echo("* 期限经过节假日安排未覆盖的年份，按周一至周五推定；"
                       "请在 calendar.overrides 中补充该年国务院办公厅通知。")
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        typer.echo(source_failure_line(o), err=True)
    if failed:
        raise typer.Exit(1)


class _JsonLines:
    """Findings as JSON lines onto stdout, written ``CHUNK`` bytes at a time.

    As bytes when stdout has a byte stream (a pipe, a file), the UTF-8 text
    stream otherwise. ``PYTHONUNBUFFERED`` (the image sets it: the daemon's
    logs) leaves the byte stream unbuffered, one ``write(2)`` per finding;
    here they are joined, and flushed when the scan ends, failed or not.
    """

    CHUNK = 1 << 16

    def __init__(self, stdout: IO[str], name_of: Callable[[str], str | None]) -> None:
        stdout.flush()  # JSON lines go to the byte stream below the text one: nothing pending
        self._text, self._bytes = stdout, getattr(stdout, "buffer", None)
        self._name_of = name_of
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, f: Finding) -> None:
        if self._bytes is None:
            self._guard(self._text.write, f.to_json_line(self._name_of(f.unit_id)))
            return
        line = f.to_json_bytes(self._name_of(f.unit_id))
        self._pending.append(line)
        self._size += len(line)
        if self._size >= self.CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._bytes is None:
            self._guard(self._text.flush)
            return
        data, self._pending, self._size = b"".join(self._pending), [], 0
        self._guard(_write_all, self._bytes, data)

    @staticmethod
    def _guard(write: Callable[..., object], *args: object) -> None:
        try:
            write(*args)
        except BrokenPipeError:
            # the reader went away (`scan ... | head`): stop quietly, as Unix tools do.
            # SystemExit is not an Exception, so the engine does not count it as a
            # failed check; the engine and the store are still closed on the way out.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(0) from None


def _write_all(out: IO[bytes], data: bytes) -> None:
    """All of ``data``: an unbuffered (raw) stream may take a part of it per ``write``."""
    view = memoryview(data)
    while view:
        view = view[out.write(view) or 0:]
    out.flush()
