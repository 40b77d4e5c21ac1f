"""Charts of a parameter sweep: KPI response curves or heat maps, and Sobol indices.

Input formats (built by sim.experiments):

`points`: one row per (point, replicate), or one row per point with KPI means over its
replicates (then a column `n_ok` gives the number of replicates averaged). Columns: the varied
parameters (dotted scenario keys, e.g. "customs.TH.capacity_per_week", numeric), KPI columns
(names as in MODEL.md §6), and bookkeeping columns that are ignored (point, replicate, seed,
error, n_ok, n_failed, run_key). Parameters are the numeric columns that are neither KPIs nor
bookkeeping, unless given explicitly. Two parameters on a full grid give heat maps; two
sampled (Latin hypercube, Sobol) or more than two give scatter plots.

`sobol`: one row per (kpi, param) with columns kpi, param (or key), S1, S1_conf, ST, ST_conf
(first-order and total indices with their 95 % confidence half-widths, as SALib reports
them); KPIs whose indices are all NaN are left out.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from sim.model.metrics import KPI_NAMES, kpi
from sim.plots.effects import fig_tradeoff, tradeoff_points
from sim.plots.run import check_format
from sim.plots.style import (
    BOUND_COLOR,
    GREY,
    PALETTE,
    fmt_value,
    new_figure,
    save,
    source_line,
    style,
    titles,
    unit_axis,
)

BOOKKEEPING = {"point", "replicate", "seed", "error", "scenario", "run_id", "run_key", "n_ok", "n_failed"}
SOBOL_COLUMNS = ["kpi", "param", "S1", "S1_conf", "ST", "ST_conf"]


def split_columns(points: pd.DataFrame, params: list[str] | None = None,
                  kpis: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(parameter columns, KPI columns) of a sweep table; KPIs that never vary are dropped."""
    numeric = [c for c in points.columns if pd.api.types.is_numeric_dtype(points[c])]
    if kpis is None:
        kpis = [k for k in KPI_NAMES if k in points.columns]
        kpis = [k for k in kpis if points[k].notna().any() and points[k].nunique() > 1]
    if params is None:
        params = [c for c in numeric if c not in KPI_NAMES and c not in BOOKKEEPING]
    if not params:
        raise ValueError("sweep table has no parameter columns (numeric columns that are not KPIs)")
    return params, kpis


def _grid(n: int, ncols: int = 4, w: float = 3.2, h: float = 2.6, extra: float = 1.3):
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = new_figure(nrows, ncols, size=(w * ncols + 0.6, h * nrows + extra))
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def fig_response(points: pd.DataFrame, params: list[str] | None = None, kpis: list[str] | None = None,
                 source: str = ""):
    """KPI vs one parameter (mean line, 5-95 % band over replicates), one panel per KPI;
    heat maps of the mean for two parameters; per-point scatter for more."""
    params, kpis = split_columns(points, params, kpis)
    if not kpis:
        raise ValueError("sweep table has no varying KPI columns")
    if len(params) == 1:
        return _response_curves(points, params[0], kpis, source)
    if len(params) == 2 and _is_grid(points, params):
        return _response_heatmaps(points, params, kpis, source)
    return _response_scatter(points, params, kpis[:6], source)


def _is_grid(points: pd.DataFrame, params: list[str], most: int = 30) -> bool:
    """A full grid of few values per parameter (else the points are a sample)."""
    n = [points[p].nunique() for p in params]
    return max(n) <= most and len(points[params].drop_duplicates()) == math.prod(n)


def _replicates(points: pd.DataFrame, params: list[str]) -> int:
    """Replicates behind each point: n_ok when rows are per-point means, else rows per point."""
    if "n_ok" in points:
        return int(points["n_ok"].median())
    return int(points.groupby(params).size().median())


def _response_curves(points, p, kpis, source):
    fig, axes = _grid(len(kpis))
    g = points.groupby(p)
    banded = g.size().max() > 1  # rows per replicate: a band across them
    for ax, k in zip(axes.flat, kpis):
        s = g[k].agg(mean="mean", p05=lambda v: v.quantile(0.05), p95=lambda v: v.quantile(0.95))
        if banded:
            ax.fill_between(s.index, s["p05"], s["p95"], color=PALETTE[0], alpha=0.2, lw=0, label="5-95 %")
        ax.plot(s.index, s["mean"], "o-", color=PALETTE[0], ms=3.5, label="mean")
        ax.set_title(k, fontsize=9)
        ax.set_xlabel(p, fontsize=8)
        ax.set_ylabel(unit_axis(ax.yaxis, kpi(k).unit), fontsize=8)
        if kpi(k).unit in ("t", "count", "days", "USD", "share") and s["p05"].min() >= 0:
            ax.set_ylim(bottom=0)  # quantities from zero (profits may be negative: left as they are)
    if banded:
        axes[0][0].legend(loc="best", fontsize=7)
    n_rep = _replicates(points, [p])
    titles(fig, f"KPI response to {p}",
           f"Mean{' and 5-95 % band' if banded else ''} over {n_rep} replicates per point")
    if source:
        source_line(fig, source)
    return fig


def _response_heatmaps(points, params, kpis, source):
    py, px = params
    fig, axes = _grid(len(kpis), ncols=3, w=3.8, h=3.2)
    mean = points.groupby([py, px])[kpis].mean()
    for ax, k in zip(axes.flat, kpis):
        m = mean[k].unstack(px).sort_index(ascending=False)
        im = ax.imshow(m.to_numpy(), cmap="cividis", aspect="auto")
        ax.set_xticks(range(m.shape[1]), [f"{v:g}" for v in m.columns], fontsize=7)
        ax.set_yticks(range(m.shape[0]), [f"{v:g}" for v in m.index], fontsize=7)
        ax.grid(False)
        unit = kpi(k).unit
        if m.size <= 64:
            lo, hi = np.nanmin(m.to_numpy()), np.nanmax(m.to_numpy())
            for (i, j), v in np.ndenumerate(m.to_numpy()):
                ax.text(j, i, fmt_value(v, unit), ha="center", va="center", fontsize=6.5,
                        color="black" if v > lo + 0.6 * (hi - lo) else "white")
        ax.set_title(k, fontsize=9)
        ax.set_xlabel(px, fontsize=8)
        ax.set_ylabel(py, fontsize=8)
        cb = fig.colorbar(im, ax=ax, shrink=0.85)
        u = unit_axis(cb.ax.yaxis, unit)
        cb.set_label(f"mean ({u})" if u else "mean", fontsize=7)
        cb.ax.tick_params(labelsize=7)
        cb.outline.set_visible(False)
    titles(fig, f"KPI response to {py} and {px}", "Mean over replicates at each grid point")
    if source:
        source_line(fig, source)
    return fig


def _response_scatter(points, params, kpis, source):
    per_point = points.groupby(params, as_index=False)[kpis].mean()
    fig, axes = new_figure(len(kpis), len(params), size=(2.4 * len(params) + 0.8, 1.9 * len(kpis) + 1.2),
                           sharex="col", sharey="row")
    for i, k in enumerate(kpis):
        for j, p in enumerate(params):
            ax = axes[i][j]
            ax.plot(per_point[p], per_point[k], ".", color=PALETTE[0], ms=3, alpha=0.6)
            if j == 0:
                ax.set_ylabel(f"{k} ({unit_axis(ax.yaxis, kpi(k).unit)})", fontsize=7)
            if i == len(kpis) - 1:
                ax.set_xlabel(p, fontsize=7)
    titles(fig, "KPIs against each varied parameter",
           f"Mean over {_replicates(points, params)} replicates at each of {len(per_point)} points")
    if source:
        source_line(fig, source)
    return fig


def sobol_warning(sobol: pd.DataFrame, max_conf: float = 0.1) -> str:
    """Why the Sobol sample looks too small to trust ('' if it does not): wide 95 % intervals, or
    estimates outside 0-1 (which true indices never are)."""
    conf = float(np.nanmax(sobol[["S1_conf", "ST_conf"]].to_numpy())) if len(sobol) else 0.0
    vals = sobol[["S1", "ST"]].to_numpy(float)
    outside = bool(((vals < -0.05) | (vals > 1.05)).any())
    why = [f"95 % intervals up to \u00b1{conf:.2f}"] if conf > max_conf else []
    why += ["estimates outside 0-1"] if outside else []
    if not why:
        return ""
    n = f" (N = {int(sobol['N'].iloc[0])})" if "N" in sobol else ""
    return f"Warning: sample too small{n}: {' and '.join(why)}; run the sweep with more base samples"


def fig_sobol(sobol: pd.DataFrame, kpis: list[str] | None = None, source: str = ""):
    """Sobol indices per KPI: first-order S1 and total ST per parameter, with 95 % intervals.

    The axis spans whatever the estimates and intervals reach (true indices lie in 0-1; the
    part outside is shaded), and a warning says when the sample is too small to trust."""
    if "param" not in sobol and "key" in sobol:
        sobol = sobol.rename(columns={"key": "param"})
    missing = set(SOBOL_COLUMNS) - set(sobol.columns)
    if missing:
        raise ValueError(f"Sobol table lacks columns {', '.join(sorted(missing))}")
    sobol = sobol[sobol.groupby("kpi")["ST"].transform(lambda v: v.notna().any())].fillna(
        {"S1": 0.0, "ST": 0.0, "S1_conf": 0.0, "ST_conf": 0.0})
    if sobol.empty:
        raise ValueError("Sobol table has no finite indices")
    kpis = kpis or [k for k in KPI_NAMES if k in set(sobol["kpi"])] + \
        sorted(set(sobol["kpi"]) - set(KPI_NAMES))
    n_par = sobol["param"].nunique()
    lo = min(0.0, float((sobol[["S1", "ST"]].to_numpy() - sobol[["S1_conf", "ST_conf"]].to_numpy()).min()))
    hi = max(1.0, float((sobol[["S1", "ST"]].to_numpy() + sobol[["S1_conf", "ST_conf"]].to_numpy()).max()))
    pad = 0.04 * (hi - lo)
    fig, axes = _grid(len(kpis), ncols=3, w=3.9, h=0.45 * n_par + 1.3)
    for ax, k in zip(axes.flat, kpis):
        d = sobol[sobol["kpi"] == k].sort_values("ST")
        y = np.arange(len(d))
        ax.barh(y + 0.2, d["ST"], 0.38, xerr=d["ST_conf"], color=PALETTE[0], label="ST (total)",
                error_kw={"ecolor": GREY, "lw": 0.8, "capsize": 2})
        ax.barh(y - 0.2, d["S1"], 0.38, xerr=d["S1_conf"], color=PALETTE[1], label="S1 (first order)",
                error_kw={"ecolor": GREY, "lw": 0.8, "capsize": 2})
        ax.set_yticks(y, d["param"], fontsize=7.5)
        ax.set_xlim(lo - pad, hi + pad)  # the same honest span in every panel
        for a, b in ((lo - pad, 0.0), (1.0, hi + pad)):
            if b > a:
                ax.axvspan(a, b, color="#EEEEEE", zorder=0, lw=0)
        ax.axvline(0, color=GREY, lw=0.7)
        ax.set_xlabel("Sobol index (share of variance)", fontsize=8)
        ax.set_title(k, fontsize=9)
        ax.grid(axis="x", color="#DDDDDD", lw=0.6)
        ax.grid(axis="y", visible=False)
    axes[0][0].legend(loc="lower right", fontsize=7)
    warn = sobol_warning(sobol)
    sub = "Bars: index estimate; whiskers: 95 % confidence interval" + \
        ("; shaded: outside 0-1, where true indices never are" if lo < 0 or hi > 1 else "")
    titles(fig, "Which parameters drive the KPIs (Sobol indices)", warn or sub, color=BOUND_COLOR if warn else "#333333")
    if source:
        source_line(fig, source + (f" | {sub}" if warn else ""))
    elif warn:
        source_line(fig, sub)
    return fig


def write_sweep_charts(sweep_dir: Path | str, points: pd.DataFrame, sobol: pd.DataFrame | None = None,
                       fmt: str = "png", source: str = "") -> list[Path]:
    """Write <sweep_dir>/charts/response.<fmt>, cost_leakage.<fmt> (when the sweep has both KPIs) and
    sobol.<fmt> (when given); return the paths."""
    check_format(fmt)
    out = Path(sweep_dir) / "charts"
    with style():
        paths = [save(fig_response(points, source=source), out / f"response.{fmt}")]
        if {"enforcement_cost_usd", "illicit_delivered_t"} <= set(points.columns):
            params, _ = split_columns(points)
            pts = tradeoff_points(sweep=points, params=params)
            paths.append(save(fig_tradeoff(pts, title="Enforcement cost against illicit deliveries, per sweep point",
                                           source=source), out / f"cost_leakage.{fmt}"))
        if sobol is not None and not sobol.empty and sobol[["S1", "ST"]].notna().any().any():
            paths.append(save(fig_sobol(sobol, source=source), out / f"sobol.{fmt}"))
    return paths
