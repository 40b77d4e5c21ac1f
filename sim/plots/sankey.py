"""Where the origin's goods went: a Sankey-style flow chart of one run.

Tonnes over the run, mean of replicates (means add up, so every node's inflow equals its
outflow). From left to right:

    origin        -> legal sales per market, the origin's own included (legal_flow_t, supplier =
                     origin; older results: legal_imports_t, exports only) and goods diverted
                     to smugglers (diverted_t; older results: the smuggled departures)
    diverted      -> smuggled departures per corridor, via each hub or direct (departed_t by
                     route), and what smugglers still held at the origin (the rest)
    corridor      -> delivered to each destination (illicit_route_t), and seized or in transit
    ...           -> seized (seized_t) and in transit at the end (the rest); delivered goods ->
                     sold, and unsold at the destinations at the end (unsold_t, last step)

Residual nodes ("the rest") are computed, not recorded, and are labelled so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MPath

from sim.plots.io import Run
from sim.plots.style import GREY, PALETTE, new_figure, source_line, titles

KIND_COLOR = {"origin": GREY, "legal": PALETTE[0], "illicit": PALETTE[3], "seized": "#333333",
              "held": PALETTE[1], "sold": PALETTE[3], "unsold": PALETTE[4]}
MIN_SHARE = 0.004  # nodes smaller than this share of the largest column are drawn at it (labels keep tonnes)


@dataclass
class Sankey:
    """Nodes (id -> column, label, kind) and links (source, target, tonnes), in drawing order."""

    nodes: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    links: list[tuple[str, str, float]] = field(default_factory=list)

    def node(self, nid: str, col: int, label: str, kind: str) -> str:
        self.nodes.setdefault(nid, (col, label, kind))
        return nid

    def link(self, a: str, b: str, t: float) -> None:
        if t > 1e-9:
            self.links.append((a, b, float(t)))

    def value(self, nid: str) -> float:
        return max(sum(t for a, _, t in self.links if a == nid), sum(t for _, b, t in self.links if b == nid))


def _rest(total: float, parts: float) -> float:
    """A residual, zero when it is rounding noise."""
    r = total - parts
    return r if r > 1e-6 * max(abs(total), 1.0) else 0.0


def origin_flows(run: Run) -> Sankey:
    """The flows of the origin's goods over the run (see the module docstring)."""
    sk, o = Sankey(), run.origin
    name = run.country_name
    v2 = not run.metric("legal_flow_t").empty
    src = sk.node("origin", 0, f"{name(o)}: legal sales and diversion" if v2 else
                  f"{name(o)}: legal exports and smuggled goods", "origin")
    routes = run.scenario.get("routes", {})
    departed = run.totals("departed_t", "route") if not run.metric("departed_t").empty else {}
    diverted = float(run.totals("diverted_t", "metric").sum()) if not run.metric("diverted_t").empty \
        else float(sum(dict(departed).values()))
    div = sk.node("diverted", 1, "Diverted to smugglers", "illicit")  # on top: the chain follows it
    sk.link(src, div, diverted)
    if v2:  # the origin's suppliers are those in its country (ids are the scenario's own)
        mine = [k for k, v in run.scenario.get("suppliers", {}).items() if v.get("country") == o]
        legal = pd.Series(dtype=float)
        for k in mine:
            legal = legal.add(run.totals("legal_flow_t", "market", supplier=k), fill_value=0.0)
    elif not run.metric("legal_imports_t").empty:
        legal = run.totals("legal_imports_t", "market")
    else:
        legal = {}
    for m, t in dict(legal).items():
        sk.link(src, sk.node(f"legal:{m}", 1, f"Legal: {name(m)}" + (" (domestic)" if m == o else ""), "legal"), t)
    corridor = {r: (f"via:{v['via']}" if v.get("via") else "direct") for r, v in routes.items()}
    for r, t in sorted(dict(departed).items(), key=lambda kv: -kv[1]):
        c = corridor.get(r, "direct")
        label = f"Smuggled via {name(c[4:])}" if c != "direct" else "Smuggled direct"
        sk.link(div, sk.node(c, 2, label, "illicit"), t)
    sk.link(div, sk.node("held", 2, "Held by smugglers at origin (rest)", "held"),
            _rest(diverted, float(sum(dict(departed).values()))))
    delivered = run.totals("illicit_route_t", "route") if not run.metric("illicit_route_t").empty else {}
    arrived: dict[str, float] = {}  # per corridor
    for r, t in dict(delivered).items():
        d, c = routes.get(r, {}).get("destination", ""), corridor.get(r, "direct")
        sk.link(c, sk.node(f"dest:{d}", 3, f"Delivered to {name(d)}", "illicit"), t)
        arrived[c] = arrived.get(c, 0.0) + t
    lost = sk.node("lost", 3, "Seized or in transit", "seized")
    for c in dict.fromkeys(corridor.get(r, "direct") for r in dict(departed)):
        left = sum(t for r, t in dict(departed).items() if corridor.get(r, "direct") == c)
        sk.link(c, lost, _rest(left, arrived.get(c, 0.0)))  # departed less delivered on that corridor
    unsold = run.wide("unsold_t", by="market").groupby(level="group").last().mean(axis=1) \
        if not run.metric("unsold_t").empty else {}
    for nid in [n for n in sk.nodes if n.startswith("dest:")]:
        got = sk.value(nid)
        left = min(float(dict(unsold).get(nid[5:], 0.0)), got)
        sk.link(nid, sk.node("sold", 4, "Sold to buyers", "sold"), got - left)
        sk.link(nid, sk.node("unsold", 4, "Unsold at the end", "unsold"), left)
    seized = float(run.totals("seized_t", "metric").sum()) if not run.metric("seized_t").empty else 0.0
    in_lost = sum(t for _, b, t in sk.links if b == lost)
    sk.link(lost, sk.node("seized", 4, "Seized", "seized"), min(seized, in_lost))
    sk.link(lost, sk.node("transit", 4, "In transit at the end (rest)", "held"), _rest(in_lost, seized))
    return sk


def _band(ax, x0, y0, x1, y1, h, color) -> None:
    """A flow band of height h from (x0, y0 top) to (x1, y1 top), with S-shaped edges."""
    xm = (x0 + x1) / 2
    verts = [(x0, y0), (xm, y0), (xm, y1), (x1, y1), (x1, y1 - h), (xm, y1 - h), (xm, y0 - h), (x0, y0 - h),
             (x0, y0)]
    codes = [MPath.MOVETO, MPath.CURVE4, MPath.CURVE4, MPath.CURVE4, MPath.LINETO, MPath.CURVE4,
             MPath.CURVE4, MPath.CURVE4, MPath.CLOSEPOLY]
    ax.add_patch(PathPatch(MPath(verts, codes), fc=color, ec="none", alpha=0.35, zorder=1))


def draw_sankey(ax, sk: Sankey, unit: str = "t", node_w: float = 0.018, gap: float = 0.035,
                fontsize: float = 7.5) -> None:
    """Draw a Sankey on axes spanning 0-1 in x and y: nodes as bars in their columns, links as
    bands whose height is their value on one scale for the whole chart."""
    ncol = max(c for c, _, _ in sk.nodes.values()) + 1
    cols = [[n for n, v in sk.nodes.items() if v[0] == c and sk.value(n) > 0] for c in range(ncol)]
    biggest = max(sum(sk.value(n) for n in col) for col in cols if col)
    most = max(len(col) for col in cols)
    scale = (1.0 - gap * (most - 1)) / biggest
    height = {n: max(sk.value(n) * scale, MIN_SHARE) for col in cols for n in col}
    xs = [0.02 + c * (0.72 / max(ncol - 1, 1)) for c in range(ncol)]
    bottom = 1.0 - max(sum(height[n] for n in col) + gap * (len(col) - 1) for col in cols) - 0.02
    # labels at least two lines apart (axes height in points, with room for the layout to shrink it)
    pts = ax.get_position().height * ax.figure.get_figheight() * 72 * 0.85
    step = (2 * fontsize * 1.3 + 3) * (1.01 - bottom) / pts
    top: dict[str, float] = {}
    for c, col in enumerate(cols):
        y = 1.0
        for n in col:
            top[n] = y
            kind = sk.nodes[n][2]
            ax.add_patch(Rectangle((xs[c], y - height[n]), node_w, height[n], color=KIND_COLOR[kind], zorder=2))
            y -= height[n] + gap
        at = _spread([top[n] - height[n] / 2 for n in col], step, bottom + step / 2, 1.0 - step / 2)
        for n, ly in zip(col, at):
            mid = top[n] - height[n] / 2
            ax.annotate(f"{sk.nodes[n][1]}\n{sk.value(n):,.0f} {unit}", (xs[c] + node_w, mid), xytext=(xs[c] + node_w
                        + 0.006, ly), textcoords="data", va="center", ha="left", fontsize=fontsize, zorder=4,
                        arrowprops={"arrowstyle": "-", "color": GREY, "lw": 0.5} if abs(ly - mid) > step / 4 else None,
                        bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
    out_y, in_y = dict(top), dict(top)
    for a, b, t in sk.links:
        ca, cb = sk.nodes[a][0], sk.nodes[b][0]
        h = t * scale
        _band(ax, xs[ca] + node_w, out_y[a], xs[cb], in_y[b], h, KIND_COLOR[sk.nodes[b][2]])
        out_y[a] -= h
        in_y[b] -= h
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom, 1.01)
    ax.set_axis_off()


def _spread(ys: list[float], step: float, lo: float, hi: float) -> list[float]:
    """Label positions (top to bottom) moved as little as possible to lie `step` apart within [lo, hi]."""
    out = []
    for y in ys:  # downwards: each at most at its wish and a step below the one above
        out.append(min(y, out[-1] - step) if out else min(y, hi))
    if out and out[-1] < lo:  # ran out at the bottom: push back up
        out[-1] = lo
        for i in range(len(out) - 2, -1, -1):
            out[i] = max(out[i], out[i + 1] + step)
    return out


def fig_sankey(run: Run):
    """Where the origin's goods went over the run (tonnes, mean of replicates)."""
    sk = origin_flows(run)
    fig, axes = new_figure(size=(10.0, 5.8))
    ax = axes[0][0]
    sub = ""
    if sum(t for _, _, t in sk.links) <= 0:
        ax.text(0.5, 0.5, "no flows from the origin recorded in this run", ha="center", color=GREY)
        ax.set_axis_off()
    else:
        draw_sankey(ax, sk)
        total, div = sk.value("origin"), sk.value("diverted")
        dest = sum(sk.value(n) for n in sk.nodes if n.startswith("dest:"))
        sub = (f"{total:,.0f} t from {run.country_name(run.origin)} over the run; {div / total:.1%} diverted to "
               f"smugglers, {dest / total:.1%} delivered illicitly, {sk.value('seized') / total:.2%} seized")
    n_comm = len(run.scenario.get("commodities", {}))
    what = "all commodities, " if n_comm > 1 else ""
    titles(fig, f"Where the origin's goods went ({what}tonnes over the run, mean of {run.replicates} replicates)",
           sub)
    source_line(fig, run.source() + " | '(rest)': computed as inflow less recorded outflows")
    return fig


def sankey_table(sk: Sankey) -> list[tuple[str, str, float]]:
    """The links as (from label, to label, tonnes), for tables and tests."""
    return [(sk.nodes[a][1], sk.nodes[b][1], float(np.round(t, 6))) for a, b, t in sk.links]
