"""Plain-text tables for the terminal that line up with Chinese (double-width) text."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def clip(s: str, limit: int) -> str:
    if width(s) <= limit:
        return s
    out, w = "", 0
    for ch in s:
        cw = width(ch)
        if w + cw > limit - 1:
            break
        out, w = out + ch, w + cw
    return out + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], max_col: int = 60) -> str:
    cells = [[clip(str(c), max_col) for c in r] for r in [headers, *rows]]
    widths = [max(width(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c + " " * (widths[i] - width(c)) for i, c in enumerate(r)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
