"""The rendered letter handed to a channel: the contract between rendering and delivery.

In the letters layer, so that the renderer builds it without importing the
channels, and every channel takes it without importing the renderer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    """One letter (or reminder) rendered for delivery."""

    idempotency_key: str  # f"{letter_number}:{channel_name}", stable across retries and restarts
    letter_number: str
    unit_id: str
    unit_name: str
    tier: str  # reminder, level3, level2, level1
    tier_label: str  # e.g. 三级预警函
    title: str  # e.g. 关于县民政局办件超期问题的三级预警函
    text: str  # plain text body
    markdown: str  # markdown body for IM group robots
    html: str  # a complete HTML document
    docx: bytes | None  # the printable letter (python-docx), if rendered
    issued_at: dt.datetime
