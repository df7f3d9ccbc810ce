"""Unit names for the console: the office reads names, never ids.

The state store knows units only by id. Names come from the letters already
addressed to them (``letters.recipient``) and, for the rest, from the
sources' ``units`` tables through a lookup the daemon provides (the same one
the letters use). Names are cached for a few minutes; a unit whose name
cannot be read is shown by its id.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sunlight.monitor.store.letters_models import LetterRow

Lookup = Callable[[Iterable[str]], dict[str, str]]
REFRESH_SECONDS = 300.0


class UnitDirectory:
    """unit id → name, from the letters and (optionally) the sources."""

    def __init__(self, lookup: Lookup | None = None) -> None:
        self.lookup = lookup
        self._names: dict[str, str] = {}
        self._asked: set[str] = set()
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def _refresh(self, store: Engine) -> None:
        with store.connect() as conn:
            rows = conn.execute(sa.select(LetterRow.unit_id, LetterRow.recipient)
                                .where(LetterRow.audience == "unit", LetterRow.unit_id.is_not(None))
                                .order_by(LetterRow.id)).all()
        names = {unit: name for unit, name in rows if unit}
        with self._lock:
            self._names.update(names)
            self._asked.clear()
            self._loaded_at = time.monotonic()

    def names(self, store: Engine, ids: Iterable[str]) -> dict[str, str]:
        wanted = {i for i in ids if i}
        if time.monotonic() - self._loaded_at > REFRESH_SECONDS:
            self._refresh(store)
        with self._lock:
            missing = wanted - set(self._names) - self._asked
        if missing and self.lookup is not None:
            try:
                found = self.lookup(missing)
            except Exception:  # a source down: the ids are shown until the next refresh
                found = {}
            with self._lock:
                self._names.update(found)
                self._asked |= missing
        with self._lock:
            return {i: self._names.get(i, i) for i in wanted}

    def name(self, store: Engine, unit_id: str | None) -> str:
        if not unit_id:
            return ""
        return self.names(store, [unit_id])[unit_id]

    def known(self, store: Engine) -> dict[str, str]:
        """Every unit named so far (for the unit filter)."""
        if time.monotonic() - self._loaded_at > REFRESH_SECONDS:
            self._refresh(store)
        with self._lock:
            return dict(self._names)
