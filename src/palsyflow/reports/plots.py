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


def history_plot_png(report: SessionReport, width_in: float = 6.7, height_in: float = 2.9, dpi: int = 150) -> bytes:
    """PNG of the subject's symmetry scores across sessions.

    The overall symmetry index (thick black line) and the regional symmetries
    (thin coloured lines) are plotted against session date on a 0-100 axis (100 =
    both sides move equally). A single session plots as points; missing values
    break the line. The reported session is marked with a vertical band.

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
