"""Progress of long work on a terminal: rows read per source and entity, then letters issued.

Only when stderr is a terminal (never in logs, pipes or the daemon), on stderr
so that ``scan --format json`` output stays clean. The engine calls
:meth:`TerminalProgress.rows` (:data:`sunlight.monitor.engine.Progress`) every
few thousand rows and after each batch of the columnar path; issuing calls
:meth:`TerminalProgress.letters` as each planned letter is created.

The time left (剩余) of a scan comes from what the last complete scan of the
source read of each entity, as the state store recorded it
(:func:`sunlight.monitor.store.findings.expected_rows`): counting the rows
first would read the source twice. With no earlier run the total is unknown
and the time left says so (未知); a source that has grown past the last count
reads on with the time left unknown again.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from rich.console import Console
from rich.progress import Progress, ProgressColumn, SpinnerColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.progress_bar import ProgressBar
from rich.text import Text

#: the width of the bar, in cells
BAR_WIDTH = 30


def _expected(task: Task) -> int | None:
    total = task.fields.get("expected")
    return total if isinstance(total, int) and total > 0 else None


class _Bar(ProgressColumn):
    """A bar against the expected total, a pulse when there is none (or it was passed)."""

    def render(self, task: Task) -> ProgressBar:
        total = _expected(task)
        if total is None or task.completed > total:
            return ProgressBar(total=None, pulse=not task.fields.get("done"), width=BAR_WIDTH,
                               animation_time=task.get_time())
        return ProgressBar(total=total, completed=task.completed, width=BAR_WIDTH,
                           animation_time=task.get_time())


class _Count(ProgressColumn):
    """``12,345 / 20,000 行``: how many so far, of how many expected."""

    def render(self, task: Task) -> Text:
        total = _expected(task)
        unit = task.fields.get("unit", "行")
        done = f"{task.completed:>12,.0f}"
        return Text(f"{done} / {total:,} {unit}" if total is not None else f"{done} {unit}")


class _Rate(ProgressColumn):
    """``4,200 行/秒``, over rich's recent samples."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        unit = task.fields.get("unit", "行")
        return Text(f"{speed:,.0f} {unit}/秒" if speed else "")


class _Left(ProgressColumn):
    """``剩余 0:01:23``; ``剩余 未知`` with no expected total, or once the rows passed it."""

    def render(self, task: Task) -> Text:
        if task.fields.get("done"):
            return Text("")
        total = _expected(task)
        if total is None or task.completed > total:
            return Text("剩余 未知")
        speed = task.speed
        if not speed:
            return Text("剩余 -:--:--")
        minutes, seconds = divmod(int((total - task.completed) / speed + 0.999), 60)
        hours, minutes = divmod(minutes, 60)
        return Text(f"剩余 {hours:d}:{minutes:02d}:{seconds:02d}")


class _Spinner(SpinnerColumn):
    """Spins while its rows are being read; a still dot once the scan moved on."""

    def render(self, task: Task) -> Text:
        if task.fields.get("done"):
            return Text("·")
        rendered = super().render(task)
        return rendered if isinstance(rendered, Text) else Text(str(rendered))


class TerminalProgress:
    """One bar per (source, entity) as the scan reaches it, then one for the letters.

    The engine reads one entity after another, so a new (source, entity)
    means the one before has ended: its bar stops where it stood (a failed
    source's bar is not filled up to look complete).
    """

    def __init__(self, bar: Progress, expected: Mapping[tuple[str, str], int]) -> None:
        self.bar = bar
        self.expected = dict(expected)
        self._tasks: dict[tuple[str, str], TaskID] = {}
        self._current: TaskID | None = None

    def _task(self, key: tuple[str, str], description: str, expected: int | None,
              unit: str) -> TaskID:
        task = self._tasks.get(key)
        if task is None:
            self._end_current()
            task = self._tasks[key] = self.bar.add_task(description, total=None, expected=expected,
                                                        unit=unit, done=False)
            self._current = task
        return task

    def _end_current(self) -> None:
        if self._current is not None:
            self.bar.update(self._current, done=True)
            self.bar.stop_task(self._current)
            self._current = None

    def rows(self, source: str, entity: str, rows: int) -> None:
        """The engine's progress hook: rows of ``entity`` read so far from ``source``."""
        task = self._task((source, entity), f"{source} · {entity}",
                          self.expected.get((source, entity)), "行")
        self.bar.update(task, completed=rows)

    def letters(self, created: int, planned: int) -> None:
        """Issuing's progress hook: letters created so far, of the ones the plan holds."""
        if planned == 0:  # nothing to issue: no bar (the command's summary says 0)
            return
        task = self._task(("", "letters"), "预警函", planned, "件")
        self.bar.update(task, completed=created, expected=planned)

    def close(self) -> None:
        self._end_current()


@contextmanager
def terminal_progress(expected: Mapping[tuple[str, str], int] | None = None,
                      enabled: bool | None = None, console: Console | None = None
                      ) -> Iterator[TerminalProgress | None]:
    """Bars drawn on stderr (or ``console``), or None when stderr is not a terminal.

    ``expected``: rows per (source, entity) the last complete scans read
    (:func:`sunlight.monitor.store.findings.expected_rows`); the time left is
    shown only for those.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield None
        return
    bar = Progress(_Spinner(), TextColumn("{task.description}"), _Bar(), _Count(), _Rate(),
                   _Left(), TimeElapsedColumn(),
                   console=console or Console(stderr=True), transient=False,
                   # findings (``--format json``) must stay on stdout, untouched by the bar
                   redirect_stdout=False, redirect_stderr=False)
    progress = TerminalProgress(bar, expected or {})
    with bar:
        try:
            yield progress
        finally:
            progress.close()
