"""Server-side SVG line charts for the queue dashboard: no script, no library, no inline
style (presentation attributes only, which the CSP allows). Each chart is an accessible image
(``role="img"`` named by its ``<title>`` and ``<desc>``); the page puts a table with the same
numbers beside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

WIDTH, PLOT_HEIGHT = 360, 150
LEFT, RIGHT, TOP = 36, 8, 12
FONT = 13
# Distinguishable without colour too: each series has its own dash pattern and marker.
COLOURS = ["#123c69", "#b34700", "#2e7d32", "#6a1b9a", "#00695c", "#8b1a1a"]
DASHES = ["", "6 3", "2 3", "8 3 2 3", "4 4", "1 2"]


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int | None]  # one per moment; None: not known then


def _ceiling(peak: int) -> int:
    """A round top for the y axis."""
    if peak <= 5:
        return 5
    for step in (10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if peak <= step * 5:
            return -(-peak // step) * step
    return peak


def line_chart(
    chart_id: str, title: str, desc: str, moments: Sequence[datetime], series: Sequence[Series]
) -> Markup:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, PLOT_HEIGHT
    height = TOP + plot_h + 30 + 18 * len(series) + 4
    known = [v for s in series for v in s.values if v is not None]
    top = _ceiling(max(known, default=0))
    count = max(len(moments) - 1, 1)

    def x(i: int) -> float:
        return LEFT + plot_w * i / count

    def y(v: int) -> float:
        return TOP + plot_h - plot_h * v / top

    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'aria-labelledby="{escape(chart_id)}-title" aria-describedby="{escape(chart_id)}-desc" '
        'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
    ]
    for fraction in (0, 0.5, 1):
        value = round(top * fraction)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'stroke="#d0d0d0" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="{FONT}" '
            f'fill="#333">{value}</text>'
        )
    if moments:
        last = len(moments) - 1
        for i in sorted({0, len(moments) // 2, last}):
            anchor = "start" if i == 0 else "end" if i == last else "middle"
            when = escape(moments[i].strftime("%d %b %H:%M"))
            parts.append(
                f'<text x="{x(i):.1f}" y="{TOP + plot_h + 18}" text-anchor="{anchor}" '
                f'font-size="{FONT}" fill="#333">{when}</text>'
            )
    for n, s in enumerate(series):
        colour, dash = COLOURS[n % len(COLOURS)], DASHES[n % len(DASHES)]
        shown = " ".join("-" if v is None else str(v) for v in s.values)
        parts.append(f'<g class="series" data-series="{escape(s.name)}" data-values="{shown}">')
        runs: list[list[str]] = [[]]
        for i, v in enumerate(s.values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{x(i):.1f},{y(v):.1f}")
        for run in runs:
            if len(run) > 1:
                dashed = f' stroke-dasharray="{dash}"' if dash else ""
                parts.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                    f'stroke-width="2"{dashed}/>'
                )
            elif run:
                cx, cy = run[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
        parts.append("</g>")
        legend_y = TOP + plot_h + 44 + 18 * n
        legend_x = 4
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{legend_x}" x2="{legend_x + 24}" y1="{legend_y - 4}" y2="{legend_y - 4}" '
            f'stroke="{colour}" stroke-width="2"{dashed}/>'
            f'<text x="{legend_x + 30}" y="{legend_y}" font-size="{FONT}" fill="#333">'
            f"{escape(s.name)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
