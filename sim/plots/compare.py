"""Charts comparing scenarios: KPI differences to a baseline, and small multiples of time series.

The comparison table (built by sim.experiments) has one row per (scenario, kpi):

    scenario   str    scenario name; the FIRST scenario in row order is the baseline
    kpi        str    KPI name (MODEL.md §6)
    mean, p05, p95                 float  the KPI across the scenario's replicates
    diff_mean, diff_p05, diff_p95  float  paired difference scenario - baseline, replicate by
                                          replicate (same seeds), mean and 5-95 % band; 0 or NaN
                                          for the baseline itself
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from sim.model.metrics import KPI_NAMES, kpi
from sim.plots.effects import fig_tradeoff, tradeoff_points
from sim.plots.io import Run, load_run
from sim.plots.run import check_format
from sim.plots.style import GREY, PALETTE, fmt_value, new_figure, save, source_line, style, titles, unit_axis
from sim.plots.timeseries import date_span, fan, finish_time_axis, make_room

COMPARISON_COLUMNS = ["scenario", "kpi", "mean", "p05", "p95", "diff_mean", "diff_p05", "diff_p95"]


def _kpi_order(kpis) -> list[str]:
    known = [k for k in KPI_NAMES if k in set(kpis)]
    return known + sorted(set(kpis) - set(known))


def fig_kpi_differences(comparison: pd.DataFrame, kpis: list[str] | None = None, source: str = ""):
    """One small panel per KPI: paired difference of each scenario to the baseline (dot = mean,
    bar = 5-95 % band); the baseline row is marked at zero with its own mean."""
    missing = set(COMPARISON_COLUMNS) - set(comparison.columns)
    if missing:
        raise ValueError(f"comparison table lacks columns {', '.join(sorted(missing))}")
    scen = list(dict.fromkeys(comparison["scenario"]))
    base = scen[0]
    kpis = kpis or [k for k in _kpi_order(comparison["kpi"].unique())
                    if comparison.loc[comparison["kpi"] == k, "mean"].notna().any()]
    ncols = min(4, len(kpis))
    nrows = math.ceil(len(kpis) / ncols)
    fig, axes = new_figure(nrows, ncols, size=(3.0 * ncols + 0.8, 0.35 * len(scen) * nrows + 1.0 * nrows + 1.2),
                           sharey=True)
    y = {s: i for i, s in enumerate(scen)}
    for ax, k in zip(axes.flat, kpis):
        d = comparison[comparison["kpi"] == k].set_index("scenario")
        unit = kpi(k).unit
        ax.axvline(0, color=GREY, lw=0.8)
        for i, s in enumerate(scen):
            if s not in d.index:
                continue
            r = d.loc[s]
            if s == base:
                ax.plot(0, y[s], "o", mfc="white", mec=GREY, ms=6)
                ax.annotate(f"= {fmt_value(r['mean'], unit)}", (0, y[s]), xytext=(6, 0), textcoords="offset points",
                            va="center", fontsize=7, color=GREY)
                continue
            c = PALETTE[(i - 1) % len(PALETTE)]
            ax.plot([r["diff_p05"], r["diff_p95"]], [y[s], y[s]], color=c, lw=2.2, alpha=0.6,
                    solid_capstyle="butt")
            ax.plot(r["diff_mean"], y[s], "o", color=c, ms=6)
        ax.set_title(kpi(k).label, fontsize=9)
        unit = "percentage points" if unit_axis(ax.xaxis, unit) == "%" else unit
        ax.set_xlabel(f"Difference ({unit})" if unit else "Difference", fontsize=8)
        ax.grid(axis="x", color="#DDDDDD", lw=0.6)
        ax.grid(axis="y", visible=False)
        lo, hi = ax.get_xlim()  # symmetric around zero so the sign reads at a glance
        m = 1.1 * max(abs(lo), abs(hi))
        ax.set_xlim(-m, m)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, symmetric=True))
    for ax in axes.flat[len(kpis):]:
        ax.set_visible(False)
    axes[0][0].set_yticks(range(len(scen)), scen)
    axes[0][0].set_ylim(len(scen) - 0.5, -0.5)
    sub = ""
    if len(scen) > 1:
        b = comparison[comparison["scenario"] == base].set_index("kpi")["mean"]
        o = comparison[comparison["scenario"] == scen[1]].set_index("kpi")
        rel = (o["diff_mean"] / b.reindex(o.index).abs()).replace([np.inf, -np.inf], np.nan).dropna()
        rel = rel[[k for k in rel.index if k in kpis]]
        if not rel.empty:
            k = rel.abs().idxmax()
            u = kpi(k).unit
            sub = (f"Largest relative change, {scen[1]} vs {base}: {k} from {fmt_value(b[k], u)} "
                   f"by {fmt_value(o.loc[k, 'diff_mean'], u if u == 'share' else '')} ({rel[k]:+.0%}, paired mean)")
    titles(fig, f"KPIs: paired difference to '{base}' (dot: mean, bar: 5-95 % of replicates)", sub)
    if source:
        source_line(fig, source)
    return fig


def fig_compare_series(runs: dict[str, Run], source: str = ""):
    """Small multiples, one column per scenario: destination price index and illicit deliveries
    (t/week) to the restricted destination, shared axes per row."""
    names = list(runs)
    n = len(names)
    fig, axes = new_figure(2, n, size=(min(3.4 * n + 1.0, 16), 6.0), sharex=True, sharey="row")
    for j, name in enumerate(names):  # all data first: rows share y, so limits come last
        run = runs[name]
        k0 = next(iter(run.scenario.get("commodities", {})), "")
        fan(axes[0][j], run.quantiles("price_index", market=run.focus, commodity=k0), PALETTE[0], "Price index")
        axes[0][j].axhline(1.0, color=GREY, lw=0.8, zorder=0)
        axes[0][j].set_title(name, fontsize=10)
        fan(axes[1][j], run.quantiles("illicit_delivered_t", weekly=True, market=run.focus), PALETTE[3],
            "Illicit deliveries")
    first = runs[names[0]]
    k0 = next(iter(first.scenario.get("commodities", {})), "")
    kname = first.scenario.get("commodities", {}).get(k0, {}).get("name") or k0
    dest = first.country_name(first.focus)
    room = 0.0
    for j, name in enumerate(names):
        room = max(room, finish_time_axis(axes[0][j], runs[name], labels=n <= 3, fit=False,
                                          ylabel=f"{dest} {kname}\nprice index (reference = 1)" if j == 0 else ""))
        room_b = finish_time_axis(axes[1][j], runs[name], labels=False, fit=False,
                                  ylabel=f"Illicit deliveries to {dest}\n(t/week)" if j == 0 else "")
    make_room(axes[0][0], room)  # once per row: the row shares its y axis
    make_room(axes[1][0], room_b)
    axes[0][0].set_xlim(date_span(runs.values()))
    has_events = any(r.events for r in runs.values())
    titles(fig, "Scenarios side by side: destination price and illicit deliveries",
           "Median with 50 % and 90 % bands across replicates" + ("; dashed lines are policy events" if has_events
                                                                    else ""))
    if source:
        source_line(fig, source)
    return fig


def compare_source(runs: dict[str, Run]) -> str:
    parts = [f"{n}: run {r.run_id}, {r.replicates} reps, seed {r.seed}" for n, r in runs.items()]
    version = next(iter(runs.values())).version if runs else "?"
    return " | ".join(parts) + f" | sim {version}"


def write_compare_charts(compare_dir: Path | str, run_dirs: dict[str, Path] | list[Path],
                         comparison: pd.DataFrame, fmt: str = "png") -> list[Path]:
    """Write <compare_dir>/charts/kpi_differences.<fmt>, series.<fmt> and cost_leakage.<fmt> (when
    the comparison has both KPIs); return the paths.

    `run_dirs` maps scenario name -> its results folder, or lists the folders (named by their
    scenarios), baseline first; `comparison` is the table described in this module's docstring.
    """
    check_format(fmt)
    if isinstance(run_dirs, dict):
        runs = {name: load_run(Path(p)) for name, p in run_dirs.items()}
    else:
        runs = {r.name: r for r in (load_run(Path(p)) for p in run_dirs)}
    src = compare_source(runs)
    out = Path(compare_dir) / "charts"
    with style():
        paths = [save(fig_kpi_differences(comparison, source=src), out / f"kpi_differences.{fmt}")]
        if runs:
            paths.append(save(fig_compare_series(runs, source=src), out / f"series.{fmt}"))
        if {"enforcement_cost_usd", "illicit_delivered_t"} <= set(comparison["kpi"]):
            paths.append(save(fig_tradeoff(tradeoff_points(comparison), title="Enforcement cost against illicit "
                                           "deliveries, per scenario", source=src), out / f"cost_leakage.{fmt}"))
    return paths
