"""Inline SVG small multiples for the operator page: no chart library, no script and no
external asset. A chart is a viewBox that scales to its box, holding bars (series overlaid,
the taller behind) or a line with gaps where a step has no value, and its own labels: the peak
and the first and last time. Labels come formatted from the page, so the page's one formatting
rule stays in one place."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

__all__ = ["PALETTE", "chart_svg"]

WIDTH = 240.0
TOP = 14.0  # the peak's level
BOTTOM = 66.0  # the baseline
HEIGHT = 80.0
LABEL = 'font-size="9" fill="#667085"'

PALETTE = {
    "bought": "#9ec5fe",
    "coded": "#1d4ed8",
    "refunded": "#fdba74",
    "cancelled": "#c2410c",
    "code_seconds_p50": "#7c3aed",
    "polls_per_activation": "#0f766e",
}

Points = Sequence[float | None]


def _n(x: float) -> str:
    """A coordinate, short."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _bars(series: Sequence[tuple[str, Points]], peak: float, slot: float) -> list[str]:
    width = max(slot * 0.72, 0.6)
    out: list[str] = []
    for i in range(max(len(values) for _, values in series)):
        here = [(v, name) for name, values in series if i < len(values) and (v := values[i])]
        for value, name in sorted(here, reverse=True):  # the taller behind the shorter
            h = max(value / peak * (BOTTOM - TOP), 0.8)
            x = i * slot + (slot - width) / 2
            out.append(
                f'<rect x="{_n(x)}" y="{_n(BOTTOM - h)}" width="{_n(width)}" '
                f'height="{_n(h)}" fill="{PALETTE.get(name, "#98a2b3")}"/>'
            )
    return out


def _line(name: str, values: Points, peak: float, slot: float) -> list[str]:
    colour = PALETTE.get(name, "#475467")
    runs: list[list[tuple[float, float]]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            runs.append([])
        else:
            runs[-1].append(((i + 0.5) * slot, BOTTOM - value / peak * (BOTTOM - TOP)))
    out: list[str] = []
    for run in filter(None, runs):
        if len(run) == 1:
            x, y = run[0]
            out.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="1.6" fill="{colour}"/>')
            continue
        line = " L".join(f"{_n(x)} {_n(y)}" for x, y in run)
        area = f"M{_n(run[0][0])} {_n(BOTTOM)} L{line} L{_n(run[-1][0])} {_n(BOTTOM)} Z"
        out.append(f'<path d="{area}" fill="{colour}" fill-opacity="0.12"/>')
        out.append(
            f'<path d="M{line}" fill="none" stroke="{colour}" stroke-width="1.5" '
            'stroke-linejoin="round" stroke-linecap="round"/>'
        )
    return out


def chart_svg(
    *,
    shape: str,
    label: str,
    series: Sequence[tuple[str, str, Points]],
    fmt: Callable[[float], str],
    start_label: str,
    end_label: str,
) -> str:
    """One chart: `shape` "bars" or "line"; `series` as (path, name, values), the first one
    named by `data-series` (and counted by `data-points`), the others by `data-series-also`;
    `fmt` formats the peak; `label` names the chart for `aria-label` and `<title>`."""
    present = [v for _, _, values in series for v in values if v is not None]
    peak = max(present, default=0.0)
    scale = peak if peak > 0 else 1.0
    slot = WIDTH / max(max(len(values) for _, _, values in series), 1)
    named = [(name, values) for _, name, values in series]
    marks = (
        _bars(named, scale, slot)
        if shape == "bars"
        else [m for name, values in named for m in _line(name, values, scale, slot)]
    )
    if not present:
        marks.append(
            f'<text x="{_n(WIDTH / 2)}" y="{_n((TOP + BOTTOM) / 2 + 3)}" text-anchor="middle" '
            f"{LABEL}>no data</text>"
        )
    peak_text = f"max {fmt(peak)}" if present else ""
    text = html.escape(f"{label}: {peak_text or 'no data'}, {start_label}–{end_label} UTC")
    also = " ".join(path for path, _, _ in series[1:])
    also_attr = f' data-series-also="{html.escape(also)}"' if also else ""
    return (
        f'<svg class="chart" role="img" aria-label="{text}" viewBox="0 0 {_n(WIDTH)} '
        f'{_n(HEIGHT)}" preserveAspectRatio="xMidYMid meet" '
        f'data-series="{html.escape(series[0][0])}" data-points="{len(series[0][2])}"'
        f"{also_attr}><title>{text}</title>"
        f'<line x1="0" y1="{_n(TOP)}" x2="{_n(WIDTH)}" y2="{_n(TOP)}" stroke="#eaecf0" '
        'stroke-dasharray="3 3"/>'
        f"{''.join(marks)}"
        f'<line x1="0" y1="{_n(BOTTOM)}" x2="{_n(WIDTH)}" y2="{_n(BOTTOM)}" stroke="#98a2b3"/>'
        f'<text x="0" y="9" {LABEL}>{html.escape(peak_text)}</text>'
        f'<text x="0" y="{_n(HEIGHT - 2)}" {LABEL}>{html.escape(start_label)}</text>'
        f'<text x="{_n(WIDTH)}" y="{_n(HEIGHT - 2)}" text-anchor="end" {LABEL}>'
        f"{html.escape(end_label)}</text></svg>"
    )
