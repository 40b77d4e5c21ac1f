"""Shared look of every chart: the packaged style, date axes, event markers, source line, saving.

The style (`brief.mplstyle`, Okabe-Ito palette, fonts embedded as TrueType in PDF) is only
ever applied inside `style()`, a `plt.style.context`, so importing sim.plots changes nothing
globally. Charts are drawn with the non-interactive Agg backend: no display is needed.
"""

from __future__ import annotations

import contextlib
import io
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import EngFormatter, FuncFormatter, PercentFormatter
from matplotlib.transforms import ScaledTranslation

STYLE = Path(__file__).with_name("brief.mplstyle")
# Okabe-Ito, in the order of the style's colour cycle.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
GREY = "#666666"
EVENT_COLOR = "#444444"
BOUND_COLOR = "#B2182B"  # a bound that binds: a warning, so a colour not in the palette
FORMATS = ("png", "svg", "pdf")


@contextlib.contextmanager
def style():
    """Context in which the briefing style is active (never set globally).

    Text is drawn literally: names and labels come from scenario files, and a `$` in them
    (`"$5 bn programme"`) must not turn the rest into mathematics or fail to parse."""
    with plt.style.context(STYLE), matplotlib.rc_context({"text.parse_math": False}):
        yield


def new_figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (8.0, 4.5), **kw):
    """Figure and axes with constrained layout (titles, tick labels and source line never clip)."""
    fig, axes = plt.subplots(nrows, ncols, figsize=size, layout="constrained", squeeze=False, **kw)
    return fig, axes


def date_axis(ax) -> None:
    """Calendar dates on the x axis, concise labels (e.g. 'Mar', '2025')."""
    loc = mdates.AutoDateLocator(minticks=4, maxticks=8)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def fmt_value(v: float, unit: str = "") -> str:
    """Compact number for labels and tables: 1,234 / 0.42 / 3.1 M, with a unit."""
    if v is None or not np.isfinite(v):
        return "n/a"
    if unit == "share":
        return f"{v:.0%}".replace("%", " %")
    a = abs(v)
    s = (f"{v / 1e9:.2g} bn" if a >= 1e9 else f"{v / 1e6:.3g} M" if a >= 1e6 else f"{v:,.0f}" if a >= 100
         else f"{v:.3g}")
    return f"{s} {unit}" if unit and unit not in ("count", "index", "share") else s


def unit_axis(axis, unit: str) -> str:
    """Readable ticks for a KPI unit (shares as %, USD as 2 M); returns the unit for the label."""
    if unit == "share":
        axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))  # decimals follow the axis range
        return "%"
    if unit == "USD":
        axis.set_major_formatter(EngFormatter(sep=" "))
    elif unit in ("t", "count"):  # thousands separators, small values as they are
        axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}" if abs(x) >= 1000 else f"{x:g}"))
    return unit


def mark_events(ax, events: list[dict], labels: bool = True) -> float:
    """Dashed vertical lines at policy events, labels at the top of the axes.

    Labels are placed just right of their line (left of it near the right edge) and stacked
    in rows when they would overlap each other. Returns the share of the axes height the
    label rows take, so the caller can raise the y limit by that much to keep data clear.
    """
    if not events:
        return 0.0
    x0, x1 = ax.get_xlim()
    fig = ax.figure
    width_in = ax.get_position().width * fig.get_figwidth()
    rows_end: list[float] = []  # right end (axes fraction) of the last label in each row
    size = 7.5
    row_h = 0.075
    for ev in sorted(events, key=lambda e: e["date"]):
        x = mdates.date2num(np.datetime64(ev["date"]))
        ax.axvline(x, color=EVENT_COLOR, lw=0.9, ls=(0, (4, 3)), zorder=1)
        if not labels or not ev.get("label"):
            continue
        frac = (x - x0) / (x1 - x0) if x1 > x0 else 0.0
        w = len(ev["label"]) * size * 0.55 / 72 / max(width_in, 0.5)  # approximate text width
        right = frac + 0.008 + w <= 1.0
        start, end = (frac, frac + w + 0.01) if right else (frac - w - 0.01, frac)
        row = next((i for i, e in enumerate(rows_end) if e < start), len(rows_end))
        if row == len(rows_end):
            rows_end.append(end)
        rows_end[row] = end
        ax.annotate(ev["label"], xy=(x, 1 - 0.02 - row * row_h), xycoords=("data", "axes fraction"),
                    xytext=(3 if right else -3, 0), textcoords="offset points",
                    ha="left" if right else "right", va="top", fontsize=size, color=EVENT_COLOR,
                    bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.85}, zorder=5)
    return 0.03 + row_h * len(rows_end) if rows_end else 0.0


def source_line(fig, text: str) -> None:
    """Provenance in small grey text at the bottom left, wrapped to the figure's width (the
    layout keeps it inside the figure, so it is never clipped)."""
    text = textwrap.fill(text, max(40, int(fig.get_figwidth() * 72 * 0.97 / (6.5 * 0.55))))
    fig.supxlabel(text, x=0.005, ha="left", fontsize=6.5, color=GREY, fontweight="normal", multialignment="left")


def titles(fig, title: str, subtitle: str = "", color: str = "#333333") -> None:
    """Figure title (what the chart shows) and an optional computed finding below it, both wrapped
    to the figure's width.

    The suptitle carries empty lines so the layout keeps room for the subtitle, which is drawn
    in regular weight at a fixed offset under the title.
    """
    width_pt = fig.get_figwidth() * 72 * 0.97
    title = textwrap.fill(title, max(20, int(width_pt / (12 * 0.62))))
    sub = textwrap.fill(subtitle, max(20, int(width_pt / (9.5 * 0.55)))) if subtitle else ""
    n_sub = sub.count("\n") + 1 if sub else 0
    blank = int(np.ceil(n_sub * 9.5 * 1.2 / (12 * 1.6)))
    fig.suptitle(title + "\n" * blank, x=0.01, ha="left", fontsize=12, fontweight="bold", linespacing=1.6)
    if sub:  # the suptitle's top sits h_pad (3 pt) under the figure's top edge
        shift = ScaledTranslation(0, -(22 + 19.2 * title.count("\n")) / 72, fig.dpi_scale_trans)
        fig.text(0.01, 1.0, sub, transform=fig.transFigure + shift, ha="left", va="top",
                 fontsize=9.5, color=color, linespacing=1.2)


def save(fig, path: Path) -> Path:
    """Write the figure atomically (sim.outputs.results.atomic_path, mode 0644) and close it."""
    from sim.outputs.results import atomic_path

    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip("."), metadata=_metadata(path.suffix))
    finally:
        plt.close(fig)
    return path


def png_bytes(fig, dpi: int = 150) -> bytes:
    """The figure as PNG bytes (for reports and slides), then closed."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, metadata=_metadata(".png"))
    finally:
        plt.close(fig)
    return buf.getvalue()


def mark_bound(ax, y: float, label: str, color: str = BOUND_COLOR) -> None:
    """A horizontal dotted line at a bound (cap, floor, guard) that binds, labelled at the right
    end inside the axes, so a reader sees that the bound, not the model, set those values."""
    ax.axhline(y, color=color, lw=1.1, ls=(0, (1, 1.5)), zorder=3)
    lo, hi = ax.get_ylim()
    if y > hi - 0.1 * (hi - lo):  # keep the label inside the axes
        ax.set_ylim(lo, y + 0.12 * (y - lo))
    ax.annotate(label, xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(-3, 3),
                textcoords="offset points", ha="right", va="bottom", fontsize=7.5, color=color,
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.85}, zorder=6)


def _metadata(suffix: str) -> dict | None:
    # Stable files: no creation date in PDF, no software tag varying with versions in PNG.
    if suffix == ".pdf":
        return {"CreationDate": None, "Creator": "sim.plots"}
    if suffix == ".svg":
        return {"Date": None}
    return None
