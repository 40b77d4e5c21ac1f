"""Time-series charts of one run: prices, illicit flows by route, buyers, smugglers.

Each `fig_*` function takes a loaded `Run` and returns a matplotlib Figure (call it inside
`style()`); `draw_*` functions draw into a given Axes so the brief can reuse them. Bands are
across replicates: median line, 50 % and 90 % bands.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.plots.bounds import binding_bounds, price_bounds
from sim.plots.io import Run
from sim.plots.style import GREY, PALETTE, date_axis, mark_bound, mark_events, new_figure, source_line, titles

BAND_HANDLES = [Patch(color=GREY, alpha=0.35, label="50 % of replicates"),
                Patch(color=GREY, alpha=0.15, label="90 % of replicates")]


def fan(ax, q: pd.DataFrame, color: str, label: str, ls: str = "-") -> None:
    """Median line (line style `ls`) with 50 % and 90 % bands from a quantile frame (date, p05..p95)."""
    ax.fill_between(q["date"], q["p05"], q["p95"], color=color, alpha=0.13, lw=0)
    ax.fill_between(q["date"], q["p25"], q["p75"], color=color, alpha=0.28, lw=0)
    ax.plot(q["date"], q["p50"], color=color, label=label, ls=ls)


def finish_time_axis(ax, run: Run, labels: bool = True, ylabel: str = "", bottom: float | None = 0.0,
                     fit: bool = True, events: list[dict] | None = None) -> float:
    """Dates on x, events marked, y from `bottom` (None keeps it) with room for event labels.

    Returns the share of the height the event labels take; with `fit=False` the y limit is
    left for the caller to raise (axes sharing y must be raised once, not once per panel).
    `events` replaces the run's own (e.g. the union over scenarios drawn together).
    """
    dates = run.ts["date"]
    ax.set_xlim(dates.min(), dates.max())
    date_axis(ax)
    if ylabel:
        ax.set_ylabel(ylabel)
    if bottom is not None:
        ax.set_ylim(bottom=bottom)
    frac = mark_events(ax, run.events if events is None else events, labels=labels)
    if fit:
        make_room(ax, frac)
    return frac


def make_room(ax, frac: float) -> None:
    """Raise the top of the y axis so the data stay below the top `frac` of the height."""
    lo, hi = ax.get_ylim()
    if frac:
        ax.set_ylim(lo, lo + (hi - lo) / (1 - frac))


def date_span(runs) -> tuple:
    """(first, last) date over several runs (they may have different horizons)."""
    runs = list(runs)
    return min(r.ts["date"].min() for r in runs), max(r.ts["date"].max() for r in runs)


def no_data(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this run", transform=ax.transAxes, ha="center", va="center", color=GREY)


def _change_text(run: Run, q: pd.DataFrame, who: str) -> str:
    """'US price rose 2.4x after <event>' computed from a median series (or '' if undecidable)."""
    ev = run.headline_event
    if ev is None or q.empty:
        return f"{who} price ended at {q['p50'].iloc[-1]:.2f}x its reference" if not q.empty else ""
    before = q[q["date"] < ev["date"]]["p50"].tail(4)
    after = q[q["date"] >= ev["date"]]["p50"]
    if before.empty or after.empty:
        return ""
    b = before.mean()
    if after.max() / b >= 1.05:
        return f"{who} price rose ~{after.max() / b:.1f}x after '{ev['label']}' (median, peak vs 4 weeks before)"
    if after.min() / b <= 0.95:
        return f"{who} price fell {1 - after.min() / b:.0%} after '{ev['label']}' (median, low vs 4 weeks before)"
    return f"{who} price barely moved after '{ev['label']}'"


# ---- prices -----------------------------------------------------------------------------
def draw_price_index(ax, run: Run, commodity: str, markets: list[str]) -> None:
    """Fan chart of the price index per market, reference line at 1, and any price cap or floor
    that a price sat on (data only; see finish_time_axis)."""
    for i, m in enumerate(markets):
        q = run.quantiles("price_index", market=m, commodity=commodity)
        if q.empty:
            continue
        tag = " (origin)" if m == run.origin else ""
        fan(ax, q, PALETTE[i % len(PALETTE)], run.country_name(m) + tag)
    ax.axhline(1.0, color=GREY, lw=0.8, zorder=0)
    hits: dict[tuple[str, float], list] = {}
    for b in price_bounds(run):
        if b.commodity == commodity:
            hits.setdefault((b.kind, b.level), []).append(b)
    for (kind, level), bs in hits.items():
        where = ", ".join(run.country_name(b.market) for b in bs)
        mark_bound(ax, level, f"{kind.capitalize()} {level:g}x binds: {where}, "
                              f"up to {max(b.weeks for b in bs):.0f} weeks")


def fig_prices(run: Run):
    """Price index in destinations and at the origin, one panel per commodity (up to 3)."""
    commodities = list(run.scenario.get("commodities", {}))[:3]
    markets = run.countries("destination") + [run.origin]
    fig, axes = new_figure(1, len(commodities), size=(max(9.0, 4.6 * len(commodities) + 2.6), 4.6), sharey=True)
    for ax, k in zip(axes[0], commodities):  # all data first: the panels share y, so limits come last
        draw_price_index(ax, run, k, markets)
        ax.set_title(run.scenario["commodities"][k].get("name") or k)
    room = max(finish_time_axis(ax, run, fit=False, ylabel="" if j else "Price index (reference price = 1)")
               for j, ax in enumerate(axes[0]))
    make_room(axes[0][0], room)  # once: the panels share their y axis
    axes[0][-1].legend(handles=axes[0][0].get_legend_handles_labels()[0] + BAND_HANDLES, loc="upper left",
                       bbox_to_anchor=(1.02, 1.0), fontsize=7.5)   # beside the panels: never over the prices
    k0 = commodities[0]
    kname = run.scenario["commodities"][k0].get("name") or k0
    sub = _change_text(run, run.quantiles("price_index", market=run.focus, commodity=k0),
                       f"{run.country_name(run.focus)} {kname}")
    titles(fig, "Prices in destinations and at the origin", sub)
    source_line(fig, run.source())
    return fig


# ---- illicit flows ----------------------------------------------------------------------
def route_label(run: Run, rid: str) -> str:
    r = run.scenario.get("routes", {}).get(rid, {})
    hops = [run.origin, r.get("via", ""), r.get("destination", "")]
    return " → ".join(h for h in hops if h) or rid


def draw_flows(ax, run: Run, labels: bool = True) -> None:
    """Illicit deliveries per route stacked as means across replicates (t/week), so the parts add
    up to the mean total; the total's 5-95 % band around the stack's top; mean seizures as a line."""
    wide = run.means("illicit_route_t", "route", weekly=True)
    if wide.empty:
        no_data(ax, "illicit flows")
    else:
        wide = wide[wide.sum().sort_values(ascending=False).index]  # biggest route at the bottom
        ax.stackplot(wide.index, wide.T.to_numpy(), labels=[route_label(run, r) for r in wide.columns],
                     colors=PALETTE[: len(wide.columns)], alpha=0.85, lw=0)
        tot = run.quantiles("illicit_route_t", weekly=True)
        ax.fill_between(tot["date"], tot["p05"], tot["p95"], facecolor="none", edgecolor="#222222",
                        hatch="////", lw=0, alpha=0.45, label="Total: 5-95 % of replicates", zorder=3)
    s = run.means("seized_t", "metric", weekly=True)
    if not s.empty:
        ax.plot(s.index, s.sum(axis=1), color="black", lw=1.4, label="Seized, all checkpoints (mean)")
    finish_time_axis(ax, run, labels=labels, ylabel="Tonnes per week")


def fig_flows(run: Run):
    """Illicit deliveries by route (stacked means, t/week) with the total's band, and seizures."""
    fig, axes = new_figure(size=(8.5, 4.6))
    ax = axes[0][0]
    draw_flows(ax, run)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title=f"Route (mean of {run.replicates})",
              title_fontsize=8, alignment="left")
    tot = run.totals("illicit_route_t", "route")
    sub = ""
    if tot.sum() > 0:
        top = tot.idxmax()
        sub = (f"{tot.sum():,.0f} t delivered illicitly over the run (mean of {run.replicates} replicates); "
               f"{tot[top] / tot.sum():.0%} via {route_label(run, top)}")
    titles(fig, "Illicit deliveries by route, and seizures", sub)
    source_line(fig, run.source())
    return fig


# ---- buyers -----------------------------------------------------------------------------
def _market_keys(run: Run, metric: str) -> list[tuple[str, str]]:
    d = run.metric(metric)
    dests = run.countries("destination")
    keys = d[["market", "commodity"]].drop_duplicates().itertuples(index=False)
    ks = list(run.scenario.get("commodities", {}))
    return sorted((tuple(k) for k in keys if k[0] in dests),
                  key=lambda k: (dests.index(k[0]), ks.index(k[1]) if k[1] in ks else len(ks)))


def fig_buyers(run: Run):
    """Buyers' stock cover (days) and defense shortfall (t/week) per destination and commodity."""
    fig, axes = new_figure(2, 1, size=(8.5, 6.2), sharex=True)
    top, bot = axes[0][0], axes[1][0]
    keys = _market_keys(run, "stock_cover_days")
    names = run.scenario.get("commodities", {})
    lowest, hoarding = None, False
    # colour tells the commodity, line style the market: many series stay distinguishable
    kinds = list(dict.fromkeys(k for _, k in keys))
    places = list(dict.fromkeys(m for m, _ in keys))
    for m, k in keys:
        label = f"{run.country_name(m)}, {names.get(k, {}).get('name') or k}"
        color = PALETTE[kinds.index(k) % len(PALETTE)]
        ls = ("-", "--", ":", "-.")[places.index(m) % 4]
        q = run.quantiles("stock_cover_days", market=m, commodity=k)
        fan(top, q, color, label, ls)
        target = run.quantiles("target_cover_days", market=m, commodity=k)
        if not target.empty and np.ptp(target["p50"]) > 1e-9:      # hoarding moved the target
            top.plot(target["date"], target["p50"], color=color, ls=ls, lw=0.8, alpha=0.55)
            hoarding = True
        j = q["p50"].idxmin()
        if lowest is None or q.loc[j, "p50"] < lowest[0]:
            lowest = (q.loc[j, "p50"], label, q.loc[j, "date"])
        sq = run.quantiles("defense_shortfall_t", weekly=True, market=m, commodity=k)
        if not sq.empty and sq["p95"].max() > 0:
            fan(bot, sq, color, label, ls)
    outs = [b for b in binding_bounds(run) if b.kind == "stock-out"]
    if outs:
        worst = max(outs, key=lambda b: b.weeks)
        mark_bound(top, 0.0, f"Stock-out (stocks cannot fall below 0): {worst.where}, {worst.weeks:.0f} weeks"
                   + (f" (+{len(outs) - 1} more)" if len(outs) > 1 else ""))
    if not keys:
        no_data(top, "stock data")
    if not bot.lines:
        no_data(bot, "defense shortfall")
    finish_time_axis(top, run, ylabel="Stock cover (days of demand)")
    finish_time_axis(bot, run, labels=False, ylabel="Defense shortfall (t/week)")
    top.set_title("Buyers' inventory", fontsize=9.5)
    bot.set_title("Defense buyers' unmet demand", fontsize=9.5)
    thin = [Line2D([], [], color="#555555", lw=0.8, alpha=0.55, label="target cover (thin; raised by hoarding)")]
    top.legend(handles=top.get_legend_handles_labels()[0] + (thin if hoarding else []) + BAND_HANDLES,
               loc="upper left", bbox_to_anchor=(1.01, 1.0))
    sub = (f"Lowest median stock cover: {lowest[0]:.0f} days ({lowest[1]}, {lowest[2]:%d %b %Y})"
           if lowest else "")
    titles(fig, "Buyers: stock cover and defense shortfall", sub)
    source_line(fig, run.source())
    return fig


# ---- smugglers --------------------------------------------------------------------------
def fig_smugglers(run: Run):
    """Smugglers active and jailed (counts), and entering / arrested per week."""
    fig, axes = new_figure(2, 1, size=(8.5, 6.0), sharex=True)
    top, bot = axes[0][0], axes[1][0]
    for ax, series in ((top, [("active_smugglers", "Active", False), ("jailed_smugglers", "Jailed", False)]),
                       (bot, [("entries", "Entering", True), ("arrests", "Arrested", True)])):
        for i, (metric, label, weekly) in enumerate(series):
            q = run.quantiles(metric, weekly=weekly, smooth=4 if weekly else 1)
            if not q.empty:
                fan(ax, q, PALETTE[i], label)
    finish_time_axis(top, run, ylabel="Smugglers (count)")
    avg = f"{4 / run.per_week:g}-week average"
    finish_time_axis(bot, run, labels=False, ylabel=f"Smugglers per week\n(count, {avg})")
    top.legend(handles=top.get_legend_handles_labels()[0] + BAND_HANDLES, loc="upper left",
               bbox_to_anchor=(1.01, 1.0))
    bot.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    act = run.quantiles("active_smugglers")
    sub = ""
    if not act.empty:
        j = act["p50"].idxmax()
        sub = (f"Active smugglers peaked at {act.loc[j, 'p50']:,.0f} (median) on {act.loc[j, 'date']:%d %b %Y}, "
               f"from {act['p50'].iloc[0]:,.0f} at the start")
    arrests = run.totals("arrests", "metric").sum() if not run.metric("arrests").empty else 0.0
    jailed = run.wide("jailed_smugglers").max(axis=0).mean() if not run.metric("jailed_smugglers").empty else 0.0
    if arrests > 0:
        sub += (f"; {arrests:,.0f} arrests, at most {jailed:,.0f} in prison at once (means)" if jailed > 0 else
                f"; {arrests:,.0f} arrests but none recorded in prison: check the model version's "
                "jailed_smugglers")
    titles(fig, "Smugglers: active, jailed, entering", sub)
    source_line(fig, run.source())
    return fig


def weekly_total(run: Run, metric: str, **filters) -> pd.DataFrame:
    """Bands of a metric summed over all keys, per week (used by compare charts and brief)."""
    return run.quantiles(metric, weekly=True, **filters)

