"""Charts as SVG drawn on the server: no script, no CDN, printable, allowed by the console's CSP.

Only presentation attributes (no ``style``), so the strict Content-Security-Policy holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

PALETTE = ("#b22222", "#e07b00", "#c9a400", "#4a78b5", "#6b8e23", "#7a5195")


def bars(items: Sequence[tuple[str, float]], title: str, width: int = 560, unit: str = "") -> Markup:
    """Horizontal bars, one per (label, value), largest first as given."""
    row, left, top = 22, 170, 28
    height = top + row * max(1, len(items)) + 10
    peak = max((v for _, v in items), default=0) or 1
    span = width - left - 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
             f'<text x="0" y="16" font-size="14" font-weight="bold" fill="#222">{escape(title)}</text>']
    if not items:
        parts.append(f'<text x="{left}" y="{top + 15}" font-size="12" fill="#666">（无数据）</text>')
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = max(1.0, span * value / peak) if value else 0
        parts.append(f'<text x="{left - 6}" y="{y + 14}" font-size="12" text-anchor="end" '
                     f'fill="#222">{escape(label[:14])}</text>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 7}" '
                     f'fill="{PALETTE[0]}" opacity="{0.95 - 0.5 * i / max(1, len(items))}"/>')
        shown = f"{value:g}{unit}"
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 14}" font-size="12" fill="#222">'
                     f'{escape(shown)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line(points: Sequence[tuple[str, float]], title: str, width: int = 560, height: int = 200) -> Markup:
    """A line over labelled points (e.g. weeks), with the values written at the points."""
    left, right, top, bottom = 40, 20, 30, 30
    peak = max((v for _, v in points), default=0) or 1
    n = len(points)
    step = (width - left - right) / max(1, n - 1)
    plot = height - top - bottom

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top + plot * (1 - v / peak)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
             f'<text x="0" y="16" font-size="14" font-weight="bold" fill="#222">{escape(title)}</text>',
             f'<line x1="{left}" y1="{top + plot}" x2="{width - right}" y2="{top + plot}" stroke="#999"/>']
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, (_, v) in enumerate(points)))
        parts.append(f'<polyline points="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>')
    for i, (label, v) in enumerate(points):
        x, y = xy(i, v)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{PALETTE[0]}"/>')
        parts.append(f'<text x="{x:.1f}" y="{y - 6:.1f}" font-size="11" text-anchor="middle" '
                     f'fill="#222">{v:g}</text>')
        parts.append(f'<text x="{x:.1f}" y="{height - 10}" font-size="11" text-anchor="middle" '
                     f'fill="#444">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
