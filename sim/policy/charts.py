"""The frontier chart: what each level of spending buys, with bands, the status quo marked.

    fig = fig_frontier("results/crackdown_2025/optimize-X")      # a study folder
    draw_frontier(ax, candidates, frontier, summary)              # into an axes (e.g. the brief)

x is the search's cost (default enforcement cost, USD), y its first other objective.
Grey dots: every mix searched. Blue: the non-dominated mixes, with 5-95 % bars over
replicates on both axes; joined where they trade x against y (mixes non-dominated only
thanks to a third objective are drawn open). Black star: the scenario as given. Rings:
the cheapest mix meeting each constraint, whose bounds are dashed lines. Green diamonds: the
robust choices (with a posterior ensemble).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from sim.model.metrics import KPI, kpi
from sim.plots.style import PALETTE, new_figure, source_line, style, titles, unit_axis
from sim.policy.frontier import fmt_kpi, load_report, non_dominated


def _label(name: str) -> tuple[str, str]:
    """(axis label with unit, stored unit) of a KPI or a lever key."""
    if name in KPI:
        return kpi(name).axis_label(), kpi(name).unit
    return name, ""


def axes_of(summary: dict, x: str | None = None, y: str | None = None) -> tuple[str, str]:
    """Default axes: x the cost, y the first objective (or constrained KPI) that is not the cost."""
    x = x or summary["cost"]
    if y is None:
        names = [o["name"] for o in summary["objectives"]] + [c["name"] for c in summary["constraints"]]
        y = next((n for n in names if n != x), names[0])
    return x, y


def _bars(df: pd.DataFrame, name: str) -> np.ndarray | None:
    lo, hi = f"{name}_p05", f"{name}_p95"
    if lo not in df.columns or hi not in df.columns:
        return None
    return np.vstack([(df[name] - df[lo]).clip(lower=0), (df[hi] - df[name]).clip(lower=0)]).astype(float)


def draw_frontier(ax, candidates: pd.DataFrame, frontier: pd.DataFrame, summary: dict,
                  x: str | None = None, y: str | None = None, legend: bool = True) -> None:
    """Draw the frontier of a search into `ax` (see the module docstring)."""
    x, y = axes_of(summary, x, y)
    minimise = {o["name"]: o["sense"] == "min" for o in summary["objectives"]}
    ax.scatter(candidates[x], candidates[y], s=10, color="#BBBBBB", zorder=1, label="mixes searched")
    if len(frontier):
        two = non_dominated(frontier[[x, y]].to_numpy(float), [minimise.get(x, True), minimise.get(y, True)])
        f2 = frontier[two].sort_values(x)
        # steps: spending between two mixes buys no more than the cheaper one (no interpolation)
        ax.step(f2[x], f2[y], where="post", color=PALETTE[0], lw=1.0, zorder=3)
        ax.errorbar(f2[x], f2[y], xerr=_bars(f2, x), yerr=_bars(f2, y), fmt="o", ms=4.5,
                    elinewidth=0.8, capsize=0, color=PALETTE[0], zorder=3, label="non-dominated mixes (5-95 %)")
        rest = frontier[~two]
        if len(rest):
            ax.scatter(rest[x], rest[y], s=22, facecolors="none", edgecolors=PALETTE[0], zorder=3,
                       label="non-dominated on another objective")
    sq = summary.get("status_quo") or {}
    if x in sq and y in sq:
        px, py = sq[x], sq[y]
        ax.errorbar([px["mean"]], [py["mean"]],
                    xerr=[[max(px["mean"] - px["p05"], 0)], [max(px["p95"] - px["mean"], 0)]],
                    yerr=[[max(py["mean"] - py["p05"], 0)], [max(py["p95"] - py["mean"], 0)]],
                    fmt="*", ms=12, color="black", elinewidth=0.8, zorder=4, label="status quo")
    for i, c in enumerate(summary.get("constraints", [])):
        line = {x: ax.axvline, y: ax.axhline}.get(c["name"])
        if line is not None and np.isfinite(c.get("bound", np.nan)):
            label = f"target: {c['text']}" + (f" ({fmt_kpi(c['name'], c['bound'])})" if c.get("relative") else "")
            line(c["bound"], color=PALETTE[3], lw=0.9, ls=(0, (4, 3)), zorder=2, label=label)
    for j, pick in enumerate(summary.get("cheapest", [])):
        if pick.get("found") and x in pick and y in pick:
            ax.scatter([pick[x]], [pick[y]], s=160, facecolors="none", edgecolors=PALETTE[3], lw=1.5, zorder=5,
                       label="cheapest meeting " + pick["constraint"])
    robust = [c for c in summary.get("robust_choices", []) if c["trial"] is not None]
    by_trial = candidates.set_index("trial")
    for c in robust:
        r = by_trial.loc[c["trial"]]
        ax.scatter([r[x]], [r[y]], marker="D", s=60, facecolors="none", edgecolors=PALETTE[2], lw=1.5, zorder=5,
                   label="robust: " + c["choice"])
    xl, xu = _label(x)
    yl, yu = _label(y)
    unit_axis(ax.xaxis, xu)
    unit_axis(ax.yaxis, yu)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    if legend:
        ax.legend(loc="best", fontsize=7.5, frameon=False)


def fig_frontier(source, x: str | None = None, y: str | None = None):
    """The frontier chart of a study folder (or a (candidates, frontier, summary) tuple) as a Figure.

    Call inside `sim.plots.style.style()` for the briefing look; save with sim.plots.style.save.
    """
    candidates, frontier, summary = load_report(source) if isinstance(source, (str, os.PathLike)) else source
    x, y = axes_of(summary, x, y)
    fig, axes = new_figure(size=(8.0, 5.0))
    draw_frontier(axes[0, 0], candidates, frontier, summary, x, y)
    xl, yl = (kpi(n).label if n in KPI else n for n in (x, y))
    sub = (f"{summary['non_dominated']} non-dominated of {summary['distinct']} mixes searched; "
           f"{summary['replicates']} replicates each on common random numbers")
    titles(fig, f"{xl} against {yl.lower() if y in KPI else yl}: {summary['scenario_name']}", sub)
    n = len(summary["levers"])
    source_line(fig, f"Source: sim optimize on {summary['scenario']}, seed {summary['seed']}, {n} lever"
                     f"{'s' if n != 1 else ''} (values in frontier.csv); bars: 5-95 % of replicates.")
    return fig


def write_frontier_chart(folder, fmt: str = "png", x: str | None = None, y: str | None = None):
    """frontier.<fmt> in the study folder, drawn in the briefing style (atomically)."""
    from pathlib import Path

    from sim.plots.style import save

    with style():
        return save(fig_frontier(folder, x, y), Path(folder) / f"frontier.{fmt}")
