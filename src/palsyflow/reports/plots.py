"""Report figures, drawn with matplotlib's object-oriented API (no pyplot state)."""

from __future__ import annotations

import datetime as dt
import io
import math

from palsyflow.reports.model import REGION_LABELS, REGIONS, SessionReport

_REGION_STYLE = {
    "brow": ("#1b9e77", "s"),
    "eye": ("#d95f02", "^"),
    "cheek": ("#7570b3", "D"),
    "mouth": ("#e7298a", "v"),
}


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


_EVENT_STYLE = {"regression": ("tab:red", "v"), "plateau": ("0.45", "s")}


def _bands_and_events(ax, report: SessionReport) -> None:
    """Healthy band, baseline +- MDC band and event markers of the symmetry index."""
    lo_ = report.longitudinal
    if lo_ is None:
        return
    if lo_.healthy_low is not None and lo_.healthy_high is not None:
        ax.axhspan(lo_.healthy_low, lo_.healthy_high, color="tab:green", alpha=0.12, zorder=0,
                   label=f"Healthy range (n={lo_.healthy_n})")
    points = [p for p in report.history if p.symmetry_index is not None]
    if lo_.mdc is not None and points:
        base = points[0].symmetry_index
        ax.axhspan(base - lo_.mdc, base + lo_.mdc, facecolor="none", edgecolor="0.55", hatch="///",
                   linewidth=0.0, zorder=0, label=f"Baseline \u00b1 MDC ({lo_.mdc:.1f})")
    shown: set[str] = set()
    for p, change in zip(points, lo_.series):
        for k, event in enumerate(change.events):
            colour, marker = _EVENT_STYLE[event]
            ax.plot([p.session_date], [p.symmetry_index], linestyle="none", marker=marker, markersize=11,
                    markerfacecolor="none", markeredgecolor=colour, markeredgewidth=1.8, zorder=5,
                    label=event.capitalize() if event not in shown else None)
            ax.annotate(event, (p.session_date, p.symmetry_index), textcoords="offset points",
                        xytext=(0, 9 + 9 * k), ha="center", fontsize=7, color=colour)
            shown.add(event)


def history_plot_png(report: SessionReport, width_in: float = 6.7, height_in: float = 2.9, dpi: int = 150) -> bytes:
    """PNG of the subject's symmetry scores across sessions.

    The overall symmetry index (thick black line) and the regional symmetries
    (thin coloured lines) are plotted against session date on a 0-100 axis (100 =
    both sides move equally). A single session plots as points; missing values
    break the line. The reported session is marked with a vertical band. With
    ``report.longitudinal``: the healthy range of the index (green band), the band of
    the baseline +- MDC95 (grey hatched: changes inside it are within measurement
    noise; Weir 2005, doi:10.1519/15184.1) and the events at their sessions
    (regression: red downward triangle; plateau: grey square), labelled above the point.

    Parameters
    ----------
    report : SessionReport
    width_in, height_in : float
        Figure size in inches.
    dpi : int
        Resolution.

    Returns
    -------
    bytes
        PNG data (deterministic for the same input and matplotlib version).
    """
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    dates = [p.session_date for p in report.history]

    if dates:
        for region in REGIONS:
            colour, marker = _REGION_STYLE[region]
            ys = [_nan(p.regions.get(region)) for p in report.history]
            if all(math.isnan(y) for y in ys):
                continue
            ax.plot(dates, ys, color=colour, marker=marker, markersize=4, linewidth=1.2, label=REGION_LABELS[region])
        ys = [_nan(p.movement) for p in report.history]
        if not all(math.isnan(y) for y in ys):
            ax.plot(dates, ys, color="tab:red", marker="D", markersize=5, linewidth=1.6, linestyle="--", label="Movement")
        ys = [_nan(p.symmetry_index) for p in report.history]
        if not all(math.isnan(y) for y in ys):
            ax.plot(dates, ys, color="black", marker="o", markersize=6, linewidth=2.4, label="Overall")
        _bands_and_events(ax, report)
        ax.axvline(report.session_date, color="0.6", linewidth=6, alpha=0.3, zorder=0)
        lo, hi = min(dates), max(dates)
        pad = max(dt.timedelta(days=3), (hi - lo) * 0.06)
        ax.set_xlim(lo - pad, hi + pad)
        if lo == hi:
            ax.set_xticks([lo])
        else:
            ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=2, maxticks=7))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    else:
        ax.text(0.5, 0.5, "no symmetry scores", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])

    ax.set_ylim(0, 105)
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.set_ylabel("Symmetry (0-100)")
    ax.set_xlabel("Session date")
    ax.grid(True, axis="y", color="0.88", linewidth=0.8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def _change_text(delta: float | None, label: str | None) -> str:
    if delta is None:
        return "-"
    return f"{delta:+.1f}" + (f" ({label})" if label else "")


def trend_caption(report: SessionReport) -> str:
    """One paragraph under the trend plot: this session's changes, their labels and events.

    Parameters
    ----------
    report : SessionReport

    Returns
    -------
    str
        Plain text (no markup): the symmetry index's change since the first and the
        previous session with its label (:func:`palsyflow.measures.longitudinal.change_label`),
        the MDC95 used, the events, and the same for the speech clarity when measured;
        "" without ``report.longitudinal`` or a symmetry index this session.
    """
    lo_ = report.longitudinal
    if lo_ is None or lo_.measure not in lo_.this_session:
        return ""
    c = lo_.this_session[lo_.measure]
    parts = [
        f"Symmetry index change since the first session: {_change_text(c.since_baseline, c.label_baseline)}; "
        f"since the previous session: {_change_text(c.since_previous, c.label_previous)}."
    ]
    if lo_.mdc is not None:
        parts.append(
            f"Changes of at most {lo_.mdc:.1f} points (MDC95 from repeated sessions of healthy volunteers) "
            "are within measurement noise."
        )
    else:
        parts.append("No minimal detectable change is known, so changes are not labelled.")
    speech = lo_.this_session.get("speech_clarity")
    if speech is not None and speech.since_baseline is not None:
        parts.append(
            f"Speech clarity since the first session: {_change_text(speech.since_baseline, speech.label_baseline)}."
        )
    if c.events:
        parts.append("Events at this session: " + ", ".join(c.events) + ".")
    return " ".join(parts)
