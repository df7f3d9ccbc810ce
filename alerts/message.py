"""The rendered letter handed to a channel: the contract between rendering and delivery.

In the letters layer, so that the renderer builds it without importing the
channels, and every channel takes it without importing the renderer. Its
body formats are rendered lazily (:class:`Formats`): a format is made only
when a channel reads it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field


class Formats:
    """A letter's renderings, each made the first time a channel asks for it, then kept.

    A letter routed only to a group robot never builds its DOCX or HTML; one
    sent to several channels is rendered once per format. ``fixed`` holds
    renderings made in advance (tests, or a channel that was handed text).
    """

    __slots__ = ("_done", "_render")

    def __init__(self, render: Callable[[str], str | bytes] | None = None,
                 **fixed: str | bytes | None) -> None:
        self._render = render
        self._done: dict[str, str | bytes | None] = dict(fixed)

    def get(self, fmt: str) -> str | bytes | None:
        if fmt not in self._done:
            if self._render is None:
                raise KeyError(f"format {fmt!r} was neither given nor can be rendered")
            self._done[fmt] = self._render(fmt)
        return self._done[fmt]

    @property
    def rendered(self) -> frozenset[str]:
        """The formats made so far (for tests and logs)."""
        return frozenset(self._done)


@dataclass(frozen=True)
class Message:
    """One letter (or reminder) for delivery; its body formats are rendered on first use."""

    idempotency_key: str  # f"{letter_number}:{channel_name}", stable across retries and restarts
    letter_number: str
    unit_id: str
    unit_name: str
    tier: str  # reminder, level3, level2, level1
    tier_label: str  # e.g. 三级预警函
    title: str  # e.g. 关于县民政局办件超期问题的三级预警函
    issued_at: dt.datetime
    formats: Formats = field(compare=False)
    person_id: str | None = None  # a letter to a person (当事人): the channel addresses that person

    @property
    def text(self) -> str:
        """Plain text body."""
        return str(self.formats.get("text"))

    @property
    def markdown(self) -> str:
        """Markdown body for IM group robots."""
        return str(self.formats.get("markdown"))

    @property
    def html(self) -> str:
        """A complete HTML document."""
        return str(self.formats.get("html"))

    @property
    def docx(self) -> bytes | None:
        """The printable letter (GB/T 9704 DOCX), None when there is none."""
        value = self.formats.get("docx")
        return value if isinstance(value, bytes) else None
