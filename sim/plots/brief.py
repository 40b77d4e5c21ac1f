"""One-page A4 briefing: `write_brief(paths, out)` from a comparison folder and/or run folders.

Top to bottom: title, the policy question, the answer in words (sim.plots.answer), caveats,
one line per scenario, the KPI table with a difference column, four charts (illicit
deliveries and the destination price, or lever effects, over time; where the origin's goods
went) and the provenance. Fonts are embedded
as TrueType (pdf.fonttype 42), so the text can be searched and copied. With an .pptx suffix
the same content is written as slides (sim.plots.slides).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.font_manager import FontProperties

from sim.model.metrics import kpi
from sim.plots.answer import BriefContent, brief_content
from sim.plots.bounds import price_bounds
from sim.plots.effects import draw_tornado
from sim.plots.io import Run
from sim.plots.sankey import draw_sankey, origin_flows
from sim.plots.style import GREY, PALETTE, mark_bound, save, style
from sim.plots.timeseries import date_span, fan, finish_time_axis

A4 = (8.27, 11.69)  # inches, portrait
MARGIN = 0.55  # inches
WIDTH = A4[0] - 2 * MARGIN
PAGE_ROWS = 12  # key figures on the page


class _Page:
    """Places blocks top-down on the page; positions in inches from the top edge. Text is wrapped
    with the renderer's own font metrics, so lines end inside the margins."""

    def __init__(self, fig):
        self.fig, self.y = fig, MARGIN
        self.renderer = fig.canvas.get_renderer()

    def frac(self, x_in: float, y_in: float) -> tuple[float, float]:
        return x_in / A4[0], 1 - y_in / A4[1]

    def width(self, s: str, size: float, weight: str = "normal") -> float:
        """Width of one line of text in inches."""
        w, _, _ = self.renderer.get_text_width_height_descent(s, FontProperties(size=size, weight=weight),
                                                              ismath=False)
        return w / self.fig.dpi

    def wrap(self, s: str, size: float, width: float, weight: str = "normal") -> str:
        lines = []
        for para in s.split("\n"):
            line = ""
            for word in para.split(" "):
                trial = f"{line} {word}" if line else word
                if line and self.width(trial, size, weight) > width:
                    lines.append(line)
                    line = word
                else:
                    line = trial
            lines.append(line)
        return "\n".join(lines)

    def text(self, s: str, size: float = 9, gap: float = 0.04, x: float = MARGIN, width: float = WIDTH,
             **kw) -> None:
        """Wrapped text from the current position down."""
        s = self.wrap(s, size, width - (x - MARGIN), kw.get("fontweight", "normal"))
        self.fig.text(*self.frac(x, self.y), s, fontsize=size, va="top", ha="left", linespacing=1.25, **kw)
        self.y += (s.count("\n") + 1) * size * 1.25 / 72 + gap


def _table(page: _Page, c: BriefContent) -> None:
    """The KPI table: label column, then one column per scenario and difference, right-aligned;
    the font shrinks until the widest cells fit the page. Header cells may have two lines. The
    page shows the first PAGE_ROWS key figures (the HTML report and slides show all)."""
    table = [c.header] + c.rows[:PAGE_ROWS]
    gap = 0.18  # inches between columns
    for size in (7.5, 7.0, 6.5, 6.0, 5.5, 5.0):
        widths = [max(page.width(line, size, "bold" if i == 0 else "normal")
                      for i, row in enumerate(table) for line in row[j].split("\n")) + gap
                  for j in range(len(c.header))]
        if sum(widths) <= WIDTH:
            break
    spare = (WIDTH - sum(widths)) / len(widths)
    rights = np.cumsum([w + max(spare, 0) for w in widths]) + MARGIN - gap / 2
    line_h = size * 1.3 / 72
    fig, y = page.fig, page.y
    for i, row in enumerate(table):
        h = line_h * max(cell.count("\n") + 1 for cell in row) + 0.035
        if i % 2 == 1:  # light banding guides the eye along a row
            fig.patches.append(plt.Rectangle(page.frac(MARGIN - 0.05, y + h - 0.025), (WIDTH + 0.1) / A4[0],
                                             h / A4[1], transform=fig.transFigure, color="#F0F0F0", zorder=0))
        for j, cell in enumerate(row):
            color = PALETTE[(j - 1) % len(PALETTE)] if i == 0 and 1 <= j <= len(c.runs) else "black"
            x, ha = (MARGIN, "left") if j == 0 else (rights[j], "right")
            fig.text(*page.frac(x, y), cell, fontsize=size, ha=ha, va="top", color=color, linespacing=1.15,
                     fontweight="bold" if i == 0 else "normal", multialignment=ha)
        y += h
    page.y = y + 0.04
    more = len(c.rows) - PAGE_ROWS
    notes = c.footnotes + ([f"{more} more key figures in the HTML report (sim report) and the slides."]
                           if more > 0 else [])
    for note in notes:
        page.text(note, size=6.5, gap=0.0, color=GREY)
    page.y += 0.1


def _union_events(runs: list[Run]) -> list[dict]:
    seen, out = set(), []
    for r in runs:
        for e in r.events:
            if (e["label"], e["date"]) not in seen:
                seen.add((e["label"], e["date"]))
                out.append(e)
    return sorted(out, key=lambda e: e["date"])


def overlay(ax, runs: list[Run], metric: str, ylabel: str, weekly: bool, labels: bool, commodity: bool) -> None:
    """Median and 90 % band of a focus-destination series, one colour per scenario."""
    for j, r in enumerate(runs):
        f = {"market": r.focus}
        if commodity:
            f["commodity"] = next(iter(r.scenario.get("commodities", {})), "")
        q = r.quantiles(metric, weekly=weekly, **f)
        if not q.empty:
            fan(ax, q.assign(p25=q["p50"], p75=q["p50"]), PALETTE[j % len(PALETTE)], r.name)  # 90 % band only
    finish_time_axis(ax, runs[0], labels=labels, ylabel=ylabel, events=_union_events(runs))
    ax.set_xlim(date_span(runs))


def draw_panels(fig, gs, c: BriefContent) -> None:
    """The brief's charts: illicit deliveries, and the destination price (or, with a lever table,
    the lever effects) side by side; below, the full width, where the origin's goods went."""
    runs = list(c.runs.values())
    first, last = runs[0], runs[-1]
    k0 = next(iter(first.scenario.get("commodities", {})), "")
    kname = first.scenario.get("commodities", {}).get(k0, {}).get("name") or k0
    dest = first.country_name(first.focus)
    row1 = gs[0].subgridspec(1, 2, wspace=0.3)
    ax = fig.add_subplot(row1[0])
    overlay(ax, runs, "illicit_delivered_t", "Tonnes per week", True, True, False)
    ax.set_title(f"Illicit deliveries to {dest}, all commodities", fontsize=9)
    ax = fig.add_subplot(row1[1])
    if c.frontier is not None:          # a policy search: what each level of spending buys
        from sim.policy.charts import draw_frontier
        from sim.policy.frontier import load_report
        draw_frontier(ax, *load_report(c.frontier), legend=False)
        ax.set_title("What each level of spending buys (policy search)", fontsize=9)
    elif c.levers is not None and (c.levers["kpi"] == c.headline).any():
        draw_tornado(ax, c.levers, c.headline, top=6, fontsize=6.5, legend=False)
        ax.set_title(f"What moves {kpi(c.headline).label.lower()}: low (light), high (dark)\nsetting of each "
                     "lever; pale: within noise", fontsize=8)
    else:
        overlay(ax, runs, "price_index", "Price index (reference = 1)", False, False, True)
        ax.axhline(1.0, color=GREY, lw=0.7, zorder=0)
        for r in runs:
            for b in price_bounds(r):
                if b.market == r.focus and b.commodity == k0:
                    mark_bound(ax, b.level, f"{b.kind.capitalize()} {b.level:g}x binds in {r.name}")
        ax.set_title(f"{kname} price in {dest}", fontsize=9)
    ax = fig.add_subplot(gs[1])
    draw_sankey(ax, origin_flows(last), fontsize=6.5)
    ax.set_title(f"Where the origin's goods went in {last.name} (tonnes over the run, mean of replicates)",
                 fontsize=9)
    for a in fig.axes:
        a.tick_params(labelsize=7)
        a.xaxis.label.set_size(7.5)
        a.yaxis.label.set_size(7.5)
        for t in a.texts:
            t.set_fontsize(min(t.get_fontsize(), 7))


def _key(page: _Page, runs: list[Run]) -> None:
    """One line naming each scenario's colour in the charts below."""
    x = MARGIN
    page.fig.text(*page.frac(x, page.y), "Charts:", fontsize=7.5, va="top", color=GREY)
    x += page.width("Charts: ", 7.5) + 0.05
    for j, r in enumerate(runs):
        label = f"\u2014 {r.name}"
        page.fig.text(*page.frac(x, page.y), label, fontsize=7.5, va="top", color=PALETTE[j % len(PALETTE)],
                      fontweight="bold")
        x += page.width(label, 7.5, "bold") + 0.25
    page.fig.text(*page.frac(x, page.y), "(median; shaded: 5-95 % of replicates; dashed: policy events)",
                  fontsize=7.5, va="top", color=GREY)
    page.y += 0.2


def build_brief(c: BriefContent):
    """The briefing page as a Figure (inside `style()`)."""
    fig = plt.figure(figsize=A4)
    page = _Page(fig)
    page.text(c.title, size=15, fontweight="bold", gap=0.02)
    page.text("Briefing from simulation results: " + ", ".join(c.runs), size=9, color="#333333", gap=0.1)
    if c.question:
        page.text("Question: " + c.question, size=10, gap=0.06)
    page.text("Answer: " + " ".join(c.answer), size=10, fontweight="bold", gap=0.08)
    page.text("Caveats: " + " ".join(c.caveats), size=7.5, gap=0.08, color="#333333")
    for j, (name, line) in enumerate(c.scenarios):
        page.text(f"{name}: {line}", size=8, gap=0.0, color=PALETTE[j % len(PALETTE)])
    page.y += 0.1
    _table(page, c)
    _key(page, list(c.runs.values()))
    foot_h = 0.45
    top, bottom = page.y + 0.25, A4[1] - MARGIN - foot_h
    gs = fig.add_gridspec(2, 1, left=(MARGIN + 0.5) / A4[0], right=1 - (MARGIN - 0.05) / A4[0],
                          top=1 - top / A4[1], bottom=1 - (bottom - 0.1) / A4[1], hspace=0.45,
                          height_ratios=[1, 1.15])
    draw_panels(fig, gs, c)
    page.y = bottom + 0.05
    page.text(f"Source: {c.provenance} Lines: median across replicates; bands: 5-95 %. Dashed lines: policy "
              "events.", size=6.5, color=GREY)
    return fig


def write_brief(paths: list[Path | str], out: Path | str = "brief.pdf", levers: Path | None = None,
                validation: Path | None = None, headline: str | None = None, frontier: Path | None = None) -> Path:
    """Write the brief (PDF page, or PNG/SVG by the suffix; .pptx writes slides) atomically."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".pdf", ".png", ".svg", ".pptx"):
        raise ValueError(f"{out}: the brief is written as .pdf, .png, .svg or .pptx")
    c = brief_content([Path(p) for p in paths], levers, validation, headline, frontier=frontier)
    if suffix == ".pptx":
        from sim.plots.slides import write_slides
        return write_slides(c, out)
    with style():
        return save(build_brief(c), out)
