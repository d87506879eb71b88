"""Server-drawn SVG charts of the portal: a patient list sparkline and the session timeline.

Inline SVG with presentation attributes only (no script, no ``style``), so the portal's
Content-Security-Policy allows it and it prints. The timeline shows the same reading as
the clinician PDF's trend plot (:func:`palsyflow.reports.model.longitudinal_reading`):
the symmetry index per session, the healthy range as a band, the minimal detectable
change (MDC95) as a band around the baseline, and the plateau/regression events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

from palsyflow.reports.model import Longitudinal


def _scale(v: float, lo: float, hi: float, a: float, b: float) -> float:
    return a if hi == lo else a + (v - lo) * (b - a) / (hi - lo)


def sparkline(values: Sequence[float | None], width: int = 120, height: int = 28, label: str = "") -> str:
    """A small line of 0-100 scores (oldest left); an empty string without two values."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(pts) < 2:
        return ""
    n = len(values) - 1
    coords = " ".join(f"{_scale(i, 0, n, 3, width - 3):.1f},{_scale(v, 0, 100, height - 3, 3):.1f}" for i, v in pts)
    last_x, last_y = coords.split(" ")[-1].split(",")
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}"><polyline points="{coords}" fill="none" stroke="#1f4e79" stroke-width="2"/>'
        f'<circle cx="{last_x}" cy="{last_y}" r="2.5" fill="#1f4e79"/></svg>'
    )


def timeline(dates: Sequence[dt.date], reading: Longitudinal, width: int = 640, height: int = 240) -> str:
    """The symmetry index over the sessions with the healthy and MDC bands and the events.

    Parameters
    ----------
    dates : sequence of datetime.date, shape (n_sessions,)
        Session dates, the order of ``reading.series``.
    reading : Longitudinal
        The subject's reading (its ``series`` holds the values and events).

    Returns
    -------
    str
        An ``<svg>`` element, or a short paragraph when there is nothing to draw.
    """
    values = [c.value for c in reading.series]
    if not values or all(v is None for v in values):
        return "<p>No symmetry score yet.</p>"
    left, right, top, bottom = 44, 12, 12, 34
    x0, x1 = left, width - right
    y_of = lambda v: _scale(v, 0, 100, height - bottom, top)  # noqa: E731
    days = [(d - dates[0]).days for d in dates]
    span = max(days[-1], 1)
    x_of = lambda d: _scale(d, 0, span, x0, x1) if len(days) > 1 else (x0 + x1) / 2  # noqa: E731
    parts = [
        f'<svg class="timeline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="timeline-title"><title id="timeline-title">Symmetry index (0-100) per session, '
        f"with the healthy range and the minimal detectable change</title>"
    ]
    if reading.healthy_low is not None and reading.healthy_high is not None:
        y_hi, y_lo = y_of(reading.healthy_high), y_of(reading.healthy_low)
        parts.append(f'<rect x="{x0}" y="{y_hi:.1f}" width="{x1 - x0}" height="{y_lo - y_hi:.1f}" fill="#d9ead3"/>')
    base = next((v for v in values if v is not None), None)
    if reading.mdc is not None and base is not None:
        y_a, y_b = y_of(min(100.0, base + reading.mdc)), y_of(max(0.0, base - reading.mdc))
        parts.append(f'<rect x="{x0}" y="{y_a:.1f}" width="{x1 - x0}" height="{y_b - y_a:.1f}" fill="#fce5cd" fill-opacity="0.8"/>')
    for tick in (0, 25, 50, 75, 100):
        y = y_of(tick)
        parts.append(f'<line x1="{x0}" x2="{x1}" y1="{y:.1f}" y2="{y:.1f}" stroke="#bbbbbb" stroke-width="0.5"/>')
        parts.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#333333">{tick}</text>')
    pts = [(x_of(d), y_of(v)) for d, v in zip(days, values) if v is not None]
    parts.append('<polyline points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                 + '" fill="none" stroke="#1f4e79" stroke-width="2"/>')
    for d, day, c in zip(days, dates, reading.series):
        if c.value is None:
            continue
        x, y = x_of(d), y_of(c.value)
        colour = "#b00020" if "regression" in c.events else ("#7f6000" if "plateau" in c.events else "#1f4e79")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"><title>{day.isoformat()}: '
                     f'{c.value:.0f}{" (" + ", ".join(c.events) + ")" if c.events else ""}</title></circle>')
        parts.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="11" fill="#333333">'
                     f"{day.strftime('%d %b %y')}</text>")
        if c.events:
            parts.append(f'<text x="{x:.1f}" y="{y - 8:.1f}" text-anchor="middle" font-size="11" fill="{colour}">'
                         f"{escape(', '.join(c.events))}</text>")
    parts.append("</svg>")
    return "".join(parts)
