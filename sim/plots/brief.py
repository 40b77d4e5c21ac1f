"""One-page A4 briefing from one or more results folders: `write_brief(run_dirs, out)`.

Top to bottom: title, the policy question, one line per scenario, a KPI table (mean and
5-95 % band across replicates per scenario), four charts (destination price, illicit
deliveries, route map of the last scenario, buyers' stock cover) and a provenance footnote.
Fonts are embedded as TrueType (pdf.fonttype 42), so the PDF's text can be searched and copied.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sim.plots.io import KPI_UNITS, Run, load_run
from sim.plots.routemap import draw_routemap
from sim.plots.style import GREY, PALETTE, fmt_value, save, style
from sim.plots.timeseries import date_span, fan, finish_time_axis

A4 = (8.27, 11.69)  # inches, portrait
MARGIN = 0.55  # inches
TITLE = "Critical-mineral smuggling under export controls"
# KPIs in the table, with the label shown to readers (unit in brackets)
BRIEF_KPIS = {
    "illicit_delivered_t": "Illicit deliveries (t)",
    "leakage_share": "Leakage (of pre-ban imports)",
    "interdiction_rate": "Share of smuggled t seized",
    "price_peak_index": "Destination price, peak (x ref.)",
    "price_end_index": "Destination price, end (x ref.)",
    "origin_price_index": "Origin price (x ref.)",
    "transit_import_surge": "Transit imports, peak (x base)",
    "defense_shortfall_t": "Defense shortfall (t)",
    "min_stock_cover_days": "Lowest stock cover (days)",
    "weeks_to_halve": "Weeks to halve deliveries",
    "enforcement_cost_usd": "Enforcement cost (USD)",
}


class _Page:
    """Places blocks top-down on the page; positions in inches from the top edge."""

    def __init__(self, fig):
        self.fig, self.y = fig, MARGIN

    def frac(self, x_in: float, y_in: float) -> tuple[float, float]:
        return x_in / A4[0], 1 - y_in / A4[1]

    def text(self, s: str, size: float = 9, gap: float = 0.04, x: float = MARGIN, **kw) -> None:
        lines = s.count("\n") + 1
        self.fig.text(*self.frac(x, self.y), s, fontsize=size, va="top", ha="left", linespacing=1.25, **kw)
        self.y += lines * size * 1.25 / 72 + gap


def _wrap(s: str, size: float, width_in: float = A4[0] - 2 * MARGIN) -> str:
    chars = int(width_in * 72 / (size * 0.52))
    return "\n".join(textwrap.wrap(s, chars)) if s else ""


def _band_text(m: float, lo: float, hi: float, unit: str) -> str:
    """'1,065  (933-1,361)', '62 %  (54-79 %)', '24.7 M  (24.7-24.8 M)': the shared suffix once."""
    if not np.isfinite(m):
        return "n/a"
    a, b = fmt_value(lo, unit), fmt_value(hi, unit)
    for suffix in (" %", " M", " bn"):
        if a.endswith(suffix) and b.endswith(suffix):
            a = a.removesuffix(suffix)
    return f"{fmt_value(m, unit)}  ({a}\u2013{b})"


def _kpi_table(page: _Page, runs: list[Run]) -> None:
    """Rows: KPIs (reader's label, then the KPI's id in grey); columns: scenarios."""
    kpis = [k for k in BRIEF_KPIS if any(np.isfinite(r.kpi_band(k)[0]) for r in runs)]
    show_id = len(runs) <= 3
    label_w, id_w = 1.95, (1.2 if show_id else 0.0)
    col_w = min(1.7, (A4[0] - 2 * MARGIN - label_w - id_w) / max(1, len(runs)))
    size = 7.5 if len(runs) <= 3 else 6.5
    row_h = 0.18
    top = page.y
    fig = page.fig
    fig.text(*page.frac(MARGIN, top), "Key figures: mean (5-95 % of replicates)", fontsize=size + 0.5,
             fontweight="bold", va="top")
    for j, r in enumerate(runs):  # header: scenario names, right-aligned over their column
        x = MARGIN + label_w + id_w + (j + 1) * col_w - 0.05
        fig.text(*page.frac(x, top), r.name, fontsize=size, fontweight="bold", ha="right", va="top",
                 color=PALETTE[j % len(PALETTE)])
    for i, k in enumerate(kpis):
        y = top + (i + 1) * row_h + 0.03
        if i % 2 == 0:  # light banding guides the eye along a row
            fig.patches.append(plt.Rectangle(page.frac(MARGIN - 0.05, y + row_h - 0.04),
                                             (A4[0] - 2 * MARGIN + 0.1) / A4[0], row_h / A4[1],
                                             transform=fig.transFigure, color="#F0F0F0", zorder=0))
        fig.text(*page.frac(MARGIN, y), BRIEF_KPIS[k], fontsize=size, va="top")
        if show_id:
            fig.text(*page.frac(MARGIN + label_w, y + 0.01), k, fontsize=6, va="top", color=GREY,
                     family="monospace")
        unit = "share" if KPI_UNITS.get(k) == "share" else ""
        for j, r in enumerate(runs):
            m, lo, hi = r.kpi_band(k)
            cell = _band_text(m, lo, hi, unit)
            x = MARGIN + label_w + id_w + (j + 1) * col_w - 0.05
            fig.text(*page.frac(x, y), cell, fontsize=size, ha="right", va="top")
    page.y = top + (len(kpis) + 1) * row_h + 0.15


def _union_events(runs: list[Run]) -> list[dict]:
    seen, out = set(), []
    for r in runs:
        for e in r.events:
            if (e["label"], e["date"]) not in seen:
                seen.add((e["label"], e["date"]))
                out.append(e)
    return sorted(out, key=lambda e: e["date"])


def _overlay(ax, runs: list[Run], metric: str, ylabel: str, weekly: bool, events, labels: bool,
             commodity: bool) -> None:
    for j, r in enumerate(runs):
        f = {"market": r.focus}
        if commodity:
            f["commodity"] = next(iter(r.scenario.get("commodities", {})), "")
        q = r.quantiles(metric, weekly=weekly, **f)
        if not q.empty:
            fan(ax, q.assign(p25=q["p50"], p75=q["p50"]), PALETTE[j % len(PALETTE)], r.name)  # 90 % band only
    finish_time_axis(ax, runs[0], labels=labels, ylabel=ylabel, events=events)
    ax.set_xlim(date_span(runs))


def build_brief(runs: list[Run], today: dt.date | None = None):
    """The briefing page as a Figure (inside `style()`)."""
    fig = plt.figure(figsize=A4)
    page = _Page(fig)
    first, last = runs[0], runs[-1]
    page.text(TITLE, size=15, fontweight="bold", gap=0.02)
    page.text("Briefing from simulation results: " + ", ".join(r.name for r in runs), size=9.5, color="#333333",
              gap=0.14)
    # the policy question of the last scenario that states one (the first is usually the baseline)
    q = next((r.scenario.get("question") for r in reversed(runs) if r.scenario.get("question")), "")
    if q:
        page.text(_wrap("Question: " + q, 10), size=10, gap=0.1)
    page.text("Scenarios", size=9, fontweight="bold", gap=0.02)
    for j, r in enumerate(runs):
        desc = r.scenario.get("description") or "(no description)"
        page.text(_wrap(f"{r.name}: {desc}", 8.5), size=8.5, gap=0.01, color=PALETTE[j % len(PALETTE)])
    page.y += 0.12
    _kpi_table(page, runs)

    # charts: two rows in the space left above the footnote; the map gets the wider cell
    foot_h = 0.5
    top, bottom = page.y + 0.3, A4[1] - MARGIN - foot_h
    gs = fig.add_gridspec(2, 1, left=(MARGIN + 0.5) / A4[0], right=1 - (MARGIN - 0.05) / A4[0],
                          top=1 - top / A4[1], bottom=1 - (bottom - 0.3) / A4[1], hspace=0.38)
    row1 = gs[0].subgridspec(1, 2, wspace=0.3)
    row2 = gs[1].subgridspec(1, 2, wspace=0.25, width_ratios=[1.5, 1])
    events = _union_events(runs)
    k0 = next(iter(first.scenario.get("commodities", {})), "")
    kname = first.scenario.get("commodities", {}).get(k0, {}).get("name") or k0
    dest = first.focus
    ax = fig.add_subplot(row1[0])
    _overlay(ax, runs, "price_index", "Price index (reference = 1)", False, events, True, True)
    ax.axhline(1.0, color=GREY, lw=0.7, zorder=0)
    ax.set_title(f"{kname} price in {dest}", fontsize=9)
    ax.legend(loc="lower right", fontsize=7)
    ax = fig.add_subplot(row1[1])
    _overlay(ax, runs, "illicit_delivered_t", "Tonnes per week", True, events, True, False)
    ax.set_title(f"Illicit deliveries to {dest}, all commodities", fontsize=9)
    ax = fig.add_subplot(row2[0])
    draw_routemap(ax, last, legend=False)
    ax.set_anchor("N")  # equal aspect shrinks the map: keep its title level with its neighbour's
    ax.set_title(f"Routes in {last.name}: illicit (red), legal (blue)", fontsize=9)
    ax.xaxis.label.set_size(7.5)
    ax = fig.add_subplot(row2[1])
    _overlay(ax, runs, "stock_cover_days", "Stock cover (days of demand)", False, events, False, True)
    ax.set_title(f"Buyers' {kname} stock in {dest}", fontsize=9)
    for a in fig.axes:
        a.tick_params(labelsize=7)
        a.yaxis.label.set_size(7.5)

    page.y = bottom + 0.05
    today = today or dt.date.today()
    prov = "; ".join(f"{r.name}: run {r.run_id}, {r.replicates} replicates, seed {r.seed}" for r in runs)
    page.text(_wrap(f"Source: simulation with sim {first.version}. {prov}. Lines: median across replicates; "
                    f"bands: 5-95 %. Dashed lines: policy events. Generated {today.isoformat()}.", 6.5),
              size=6.5, color=GREY)
    return fig


def write_brief(run_dirs: list[Path | str], out: Path | str = "brief.pdf") -> Path:
    """Write the one-page briefing (PDF, or PNG/SVG by the file suffix) atomically; return its path."""
    out = Path(out)
    if out.suffix.lower() not in (".pdf", ".png", ".svg"):
        raise ValueError(f"{out}: the brief is written as .pdf, .png or .svg")
    runs = [load_run(Path(p)) for p in run_dirs]
    if not runs:
        raise ValueError("no results folders given")
    with style():
        return save(build_brief(runs), out)
