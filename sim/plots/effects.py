"""Effects and trade-offs: a tornado chart of lever effects and a cost-versus-leakage chart.

Both take plain tables, not results folders, so lever studies, sweeps, comparisons and policy
searches (a frontier of non-dominated mixes) can all use them:

    fig_tornado(levers, kpi)          levers: sim.plots.inputs.load_levers's table
    tradeoff_points(...)              one row per option: label, x, x_p05, x_p95, y, y_p05, y_p95,
                                      status_quo (bool); from a comparison or a sweep
    draw_tradeoff(ax, points, x_kpi, y_kpi) / fig_tradeoff(points, ...)

Values are in the KPIs' stored units; axes show the registry's display units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba
from matplotlib.patches import Patch

from sim.model.metrics import kpi
from sim.plots.style import GREY, PALETTE, fmt_value, new_figure, source_line, titles, unit_axis

LOW, HIGH = PALETTE[5], PALETTE[0]  # sky blue, blue


def _diff_unit(name: str) -> tuple[str, float]:
    """(unit of a change in the KPI, display scale): shares change in percentage points."""
    m = kpi(name)
    if m.display_unit == "%":
        return "percentage points", m.display_scale
    return ("" if m.unit == "count" else m.shown_unit), m.display_scale


def lever_label(lever: str) -> str:
    """A dotted scenario key shortened for an axis: customs.CN.capacity_per_week -> CN capacity per week."""
    parts = [p.strip('"') for p in str(lever).split(".")]
    return " ".join(parts[1:] if len(parts) > 1 else parts).replace("_", " ")


def tornado_rows(levers: pd.DataFrame, name: str) -> pd.DataFrame:
    """One row per lever for KPI `name`: low/high settings and effects, sorted by swing (largest first)."""
    d = levers[levers["kpi"] == name]
    rows = []
    for lever, g in d.groupby("lever", sort=False):
        lo, hi = g[g["end"] == "low"], g[g["end"] == "high"]
        if lo.empty or hi.empty:
            continue
        lo, hi = lo.iloc[0], hi.iloc[0]
        rows.append({"lever": lever, "low_setting": lo["setting"], "high_setting": hi["setting"],
                     **{f"low_{q}": lo[q] for q in ("mean", "p05", "p95")},
                     **{f"high_{q}": hi[q] for q in ("mean", "p05", "p95")}})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["swing"] = (out["high_mean"] - out["low_mean"]).abs()
    return out.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)


def draw_tornado(ax, levers: pd.DataFrame, name: str, top: int = 12, fontsize: float = 8.0,
                 legend: bool = True) -> pd.DataFrame:
    """Horizontal bars per lever: the KPI's change at the lever's low and high setting (mean, with
    whiskers for the 5-95 % band of paired replicates); the largest swing on top. A bar whose
    band includes zero is drawn pale: that effect is within the noise. Returns the rows drawn."""
    rows = tornado_rows(levers, name).head(top)
    if rows.empty:
        raise ValueError(f"lever table has no low and high settings for KPI {name}")
    unit, scale = _diff_unit(name)
    y = np.arange(len(rows))[::-1]
    for end, color, dy in (("low", LOW, 0.19), ("high", HIGH, -0.19)):
        m, lo, hi = (rows[f"{end}_{q}"].to_numpy(float) * scale for q in ("mean", "p05", "p95"))
        noise = (lo <= 0) & (hi >= 0)
        ax.barh(y + dy, m, 0.36, color=[to_rgba(color, 0.35 if n else 0.95) for n in noise], zorder=2,
                label=f"{end.capitalize()} setting")
        ax.errorbar(m, y + dy, xerr=[m - lo, hi - m], fmt="none", ecolor="#333333", lw=0.9, capsize=2, zorder=3)
        for yi, mi, his, los, s in zip(y + dy, m, hi, lo, rows[f"{end}_setting"]):
            tip = his if mi >= 0 else los
            ax.annotate(str(s), (tip, yi), xytext=(4 if mi >= 0 else -4, 0), textcoords="offset points",
                        ha="left" if mi >= 0 else "right", va="center", fontsize=fontsize - 1, color="#333333")
    ax.axvline(0, color=GREY, lw=0.9)
    ax.set_yticks(y, [lever_label(v) for v in rows["lever"]], fontsize=fontsize)
    ax.grid(axis="x", color="#DDDDDD", lw=0.6)
    ax.grid(axis="y", visible=False)
    what = f"Change in {kpi(name).label.lower()}"
    ax.set_xlabel(f"{what} ({unit})" if unit else what)
    lo_x, hi_x = ax.get_xlim()
    pad = 0.15 * (hi_x - lo_x)
    ax.set_xlim(lo_x - pad, hi_x + pad)  # room for the setting labels at the bar ends
    if legend:
        ax.legend(handles=[Patch(color=LOW, label="Low setting"), Patch(color=HIGH, label="High setting"),
                           Patch(color=GREY, alpha=0.35, label="Band includes 0 (noise)")],
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=fontsize - 0.5)
    return rows


def fig_tornado(levers: pd.DataFrame, name: str | None = None, source: str = "", top: int = 12):
    """The tornado chart of lever effects on KPI `name` (default: illicit deliveries) as a figure."""
    kpis = list(dict.fromkeys(levers["kpi"]))
    name = name or ("illicit_delivered_t" if "illicit_delivered_t" in kpis else kpis[0])
    n = len(tornado_rows(levers, name).head(top))
    fig, axes = new_figure(size=(8.5, 2.2 + 0.55 * max(n, 1)))
    rows = draw_tornado(axes[0][0], levers, name, top)
    unit, scale = _diff_unit(name)
    r = rows.iloc[0]
    sub = (f"Largest effect: {lever_label(r['lever'])}, {r['low_setting']} to {r['high_setting']}: "
           f"{fmt_value(r['low_mean'] * scale)} to {fmt_value(r['high_mean'] * scale)} {unit}").rstrip()
    titles(fig, f"What moves {kpi(name).label.lower()}: lever effects (mean, 5-95 % of paired replicates)", sub)
    if source:
        source_line(fig, source)
    return fig


# ---- cost versus leakage -------------------------------------------------------------
def tradeoff_points(comparison: pd.DataFrame | None = None, sweep: pd.DataFrame | None = None,
                    params: list[str] | None = None, x_kpi: str = "enforcement_cost_usd",
                    y_kpi: str = "illicit_delivered_t") -> pd.DataFrame:
    """Points for a trade-off chart from a comparison table (one per scenario, the baseline as
    status quo) or a sweep table (one per point: mean and 5-95 % band over its replicates)."""
    cols = ["label", "x", "x_p05", "x_p95", "y", "y_p05", "y_p95", "status_quo"]
    if comparison is not None:
        names = list(dict.fromkeys(comparison["scenario"]))
        t = comparison.set_index(["scenario", "kpi"])
        rows = [[n, *(t.loc[(n, k), q] if (n, k) in t.index else np.nan for k in (x_kpi, y_kpi)
                      for q in ("mean", "p05", "p95")), i == 0] for i, n in enumerate(names)]
        return pd.DataFrame(rows, columns=cols)
    if sweep is None or not params:
        raise ValueError("give a comparison table, or a sweep table and its parameters")
    g = sweep.groupby(params)
    rows = []
    for key, d in g:
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{lever_label(p)} = {v:g}" for p, v in zip(params, key))
        stats = [f(d[k]) for k in (x_kpi, y_kpi) for f in (np.mean, lambda v: v.quantile(0.05),
                                                           lambda v: v.quantile(0.95))]
        rows.append([label, *stats, False])
    return pd.DataFrame(rows, columns=cols)


def draw_tradeoff(ax, points: pd.DataFrame, x_kpi: str = "enforcement_cost_usd",
                  y_kpi: str = "illicit_delivered_t", label_points: bool = True) -> None:
    """Each option as a dot (mean) with 5-95 % whiskers in both directions; the status quo as a
    black square. Axes in display units, from zero."""
    mx, my = kpi(x_kpi), kpi(y_kpi)
    colors = [c for c in PALETTE if c != "#000000"]
    for i, r in points.reset_index(drop=True).iterrows():
        sq = bool(r.get("status_quo", False))
        color = "black" if sq else colors[i % len(colors)] if label_points else PALETTE[0]
        ax.errorbar(r["x"], r["y"], xerr=[[r["x"] - r["x_p05"]], [r["x_p95"] - r["x"]]],
                    yerr=[[r["y"] - r["y_p05"]], [r["y_p95"] - r["y"]]], fmt="s" if sq else "o",
                    color=color, ms=6 if label_points else 4, capsize=2, lw=1, zorder=3)
        if label_points:
            tag = " (status quo)" if sq and "status" not in str(r["label"]).lower() else ""
            ax.annotate(f"{r['label']}{tag}", (r["x"], r["y"]), xytext=(6, 5), textcoords="offset points",
                        fontsize=7.5, color=color)
    for axis, m in ((ax.xaxis, mx), (ax.yaxis, my)):
        unit_axis(axis, m.unit)
    ax.set_xlabel(mx.axis_label())
    ax.set_ylabel(my.axis_label())
    # from zero (a cost and a tonnage), with room right of the largest point for its label
    ax.set_xlim(0, 1.3 * float(np.nanmax(points[["x", "x_p95"]].to_numpy())) or 1.0)
    ax.set_ylim(0, 1.1 * float(np.nanmax(points[["y", "y_p95"]].to_numpy())) or 1.0)


def fig_tradeoff(points: pd.DataFrame, x_kpi: str = "enforcement_cost_usd", y_kpi: str = "illicit_delivered_t",
                 title: str = "", source: str = ""):
    """Cost against leakage (or any two KPIs) with bands; down and left is better for both defaults."""
    fig, axes = new_figure(size=(8.0, 5.0))
    ax = axes[0][0]
    ok = points.dropna(subset=["x", "y"])
    if ok.empty:
        ax.text(0.5, 0.5, f"no {x_kpi} and {y_kpi} in these results", ha="center", color=GREY,
                transform=ax.transAxes)
    else:
        draw_tradeoff(ax, ok, x_kpi, y_kpi, label_points=len(ok) <= 12)
    mx, my = kpi(x_kpi), kpi(y_kpi)
    good = [f"{'lower' if m.better == 'lower' else 'higher'} {m.label.lower()}" for m in (my, mx) if m.better]
    sub = "Dots: mean; whiskers: 5-95 % of replicates" + (f". Better: {' and '.join(good)}" if good else "")
    titles(fig, title or f"{mx.label} against {my.label.lower()}", sub)
    if source:
        source_line(fig, source)
    return fig
