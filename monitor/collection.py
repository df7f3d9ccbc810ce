"""Windows in which Python's cyclic garbage collector runs less often, and why that is safe.

A scan allocates millions of short-lived, tracked objects (row tuples,
records, findings) and makes almost no reference cycles: they are freed by
reference counting. With CPython's default thresholds (a young collection
every 700 net allocations) a 200k-case scan ran ~430 collections, several
over the whole heap, for 0.42 s of its 9.4 s CPU (bench/README.md, gc
window); the collections found next to nothing to free.

Both windows are process-wide (the collector has no per-thread setting) and
restore what they found, so the daemon's other threads (the console, the
metrics server) only see the collector run later during a scan, not never.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collection_paused", "collection_relaxed"]

#: net allocations between young collections during a scan (CPython's default: 700)
SCAN_THRESHOLD = 50_000


@contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic collection at all: for a window of a few milliseconds (one fetched batch).

    A collection another thread would have started waits for the end of the window.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@contextmanager
def collection_relaxed(threshold: int = SCAN_THRESHOLD) -> Iterator[None]:
    """Young collections every ``threshold`` net allocations instead of 700: for a whole scan.

    The collector still runs, so a cycle made in a scan (an exception's
    traceback, a library's own) is still freed: at most ``threshold`` objects
    wait longer. The older generations keep their thresholds (counted in young
    collections, so they run less often too). Nested windows keep the outer one's.
    """
    old = gc.get_threshold()
    if old[0] >= threshold:
        yield
        return
    gc.set_threshold(threshold, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)
