"""Progress of a long scan on a terminal: rows read per source and entity, and rows per second.

Only when stderr is a terminal (never in logs, pipes or the daemon), on stderr
so that ``scan --format json`` output stays clean. The engine calls the hook
(:data:`sunlight.monitor.engine.Progress`) every few thousand rows and after
each batch of the columnar path. The total is not known before the rows are
read (counting them would cost a second pass), so there is no time left.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


@contextmanager
def terminal_progress(enabled: bool | None = None, console: Console | None = None
                      ) -> Iterator[Callable[[str, str, int], None] | None]:
    """A progress hook drawing on stderr (or ``console``), or None when stderr is not a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield None
        return
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                   TextColumn("{task.completed:>12,.0f} 行"),
                   TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                   console=console or Console(stderr=True), transient=False,
                   # findings (``--format json``) must stay on stdout, untouched by the bar
                   redirect_stdout=False, redirect_stderr=False)
    tasks: dict[tuple[str, str], TaskID] = {}

    def hook(source: str, entity: str, rows: int) -> None:
        key = (source, entity)
        task = tasks.get(key)
        if task is None:
            task = tasks[key] = bar.add_task(f"{source} · {entity}", total=None, rate="")
        bar.update(task, completed=rows)
        speed = bar.tasks[task].speed
        bar.update(task, rate=f"{speed:,.0f} 行/秒" if speed else "")

    with bar:
        yield hook
