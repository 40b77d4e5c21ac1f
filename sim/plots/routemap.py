"""Route map and interdiction heat map of one run.

The map is schematic: countries are dots at their scenario lon/lat on a plain
equirectangular frame with a light graticule (no basemap, nothing downloaded). Arrow width
is the illicit tonnage per route leg over the run (mean over replicates); legal flows are
drawn in another colour, on their own width scale. A hub whose import cap binds is marked.
"""

from __future__ import annotations

import itertools

import numpy as np
from matplotlib import patheffects
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from sim.plots.bounds import binding_bounds
from sim.plots.io import Run
from sim.plots.style import BOUND_COLOR, GREY, PALETTE, new_figure, source_line, titles

ILLICIT, LEGAL = PALETTE[3], PALETTE[0]  # vermillion, blue
ROLE_COLOR = {"origin": PALETTE[3], "transit": PALETTE[1], "destination": PALETTE[0], "supplier": PALETTE[2]}
MAX_WIDTH = 8.0  # points, for the largest flow


def _lon_shift(lons: np.ndarray) -> float:
    """Central meridian (0 or 180) that keeps the countries closest together."""
    def span(c):
        x = (lons - c + 180) % 360 - 180
        return x.max() - x.min()
    return 0.0 if span(0.0) <= span(180.0) else 180.0


def legs(run: Run) -> dict[tuple[str, str], float]:
    """Illicit tonnes over the run (mean of replicates) per leg (from, to), summed over routes."""
    tot = run.totals("illicit_route_t", "route") if not run.metric("illicit_route_t").empty else {}
    out: dict[tuple[str, str], float] = {}
    for rid, r in run.scenario.get("routes", {}).items():
        hops = [run.origin] + ([r["via"]] if r.get("via") else []) + [r["destination"]]
        for a, b in itertools.pairwise(hops):
            out[(a, b)] = out.get((a, b), 0.0) + float(tot.get(rid, 0.0))
    return out


def _layout(run: Run, pad: float = 25.0):
    """Map coordinates of the countries, central meridian, x and y limits (degrees)."""
    countries = run.scenario.get("countries", {})
    ids = list(countries)
    lon = np.array([countries[c].get("lon", 0.0) for c in ids], float)
    lat = np.array([countries[c].get("lat", 0.0) for c in ids], float)
    c0 = _lon_shift(lon)
    xs = (lon - c0 + 180) % 360 - 180
    xlim = (max(-180, xs.min() - pad), min(180, xs.max() + pad))
    ylim = (max(-90, lat.min() - pad), min(90, lat.max() + pad))
    return dict(zip(ids, xs)), dict(zip(ids, lat)), c0, xlim, ylim


def legal_legs(run: Run) -> tuple[dict[tuple[str, str], float], str]:
    """Legal tonnes over the run (mean of replicates) per (supplier, market), and a legend label.

    Version 2 records `legal_flow_t` by supplier and market (every supplier); older results
    only `legal_imports_t` by market, drawn as coming from the origin.
    """
    countries = run.scenario.get("countries", {})
    if not run.metric("legal_flow_t").empty:
        home = {k: v.get("country", k) for k, v in run.scenario.get("suppliers", {}).items()}
        legs: dict[tuple[str, str], float] = {}
        for (sup, m), v in run.totals("legal_flow_t", ["supplier", "market"]).items():
            a = home.get(sup, sup)       # a supplier ships from its country
            if a != m and a in countries and m in countries:
                legs[(a, m)] = legs.get((a, m), 0.0) + float(v)
        return legs, "Legal shipments"
    if run.metric("legal_imports_t").empty:
        return {}, "Legal imports from origin"
    tot = run.totals("legal_imports_t", "market")
    return ({(run.origin, m): float(v) for m, v in tot.items() if m in countries and m != run.origin},
            "Legal imports from origin")


def _arrows(ax, x, y, flows: dict, color: str, rad: float, top: float) -> None:
    for (a, b), t in flows.items():
        if t <= 0:
            continue
        w = max(0.8, MAX_WIDTH * t / top)  # points; filled arrow, so the head does not bloat
        style = f"simple,tail_width={w},head_width={w + 6},head_length={6 + w / 2}"
        ax.add_patch(FancyArrowPatch((x[a], y[a]), (x[b], y[b]), connectionstyle=f"arc3,rad={rad}",
                                     arrowstyle=style, lw=0, color=color, alpha=0.75,
                                     shrinkA=6, shrinkB=8, zorder=2))


# label offsets tried in turn (points): below, above, right, left of the dot
_SPOTS = ((0, -9, "center", "top"), (0, 9, "center", "bottom"), (9, 0, "left", "center"), (-9, 0, "right", "center"))


def _labels(ax, x, y, names: dict[str, str], bold: set[str], notes: dict[str, str]) -> None:
    """Country names with a white halo, each placed where it overlaps no label placed before
    (hubs and the origin first); `notes` add a second line in the bound colour."""
    renderer = ax.figure.canvas.get_renderer()
    placed = []
    halo = [patheffects.withStroke(linewidth=3, foreground="white")]
    for c in sorted(names, key=lambda c: c not in bold):
        for dx, dy, ha, va in _SPOTS:
            t = ax.annotate(names[c], (x[c], y[c]), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                            fontsize=8.5 if c in bold else 7.5, fontweight="bold" if c in bold else "normal",
                            zorder=6, path_effects=halo)
            box = t.get_window_extent(renderer).expanded(1.05, 1.15)
            if not any(box.overlaps(b) for b in placed) or (dx, dy) == _SPOTS[-1][:2]:
                placed.append(box)
                break
            t.remove()
        if c in notes:
            ax.annotate(notes[c], (x[c], y[c]), xytext=(dx, dy - 11 if dy <= 0 else dy + 11),
                        textcoords="offset points", ha=ha, va=va, fontsize=7, color=BOUND_COLOR, zorder=6,
                        path_effects=halo)


def draw_routemap(ax, run: Run, legend: bool = True) -> None:
    """Countries, illicit tonnes per route leg and legal tonnes per supplier and market, each
    with its own width scale (legal trade is often far larger than smuggling)."""
    countries = run.scenario.get("countries", {})
    ids = list(countries)
    x, y, c0, xlim, ylim = _layout(run)
    ax.grid(False)  # graticule every 30 degrees, labelled in true longitude
    for g in range(-180, 181, 30):
        ax.axvline(g, color="#E6E6E6", lw=0.6, zorder=0)
    for g in range(-60, 91, 30):
        ax.axhline(g, color="#E6E6E6", lw=0.6, zorder=0)
    ill = legs(run)
    legal, legal_label = legal_legs(run)
    top_ill, top_legal = max([*ill.values(), 1e-9]), max([*legal.values(), 1e-9])
    _arrows(ax, x, y, legal, LEGAL, -0.22, top_legal)
    _arrows(ax, x, y, ill, ILLICIT, 0.18, top_ill)
    for c in ids:
        role = next((r for r in ("origin", "destination", "transit", "supplier") if r in countries[c]["roles"]),
                    "supplier")
        ax.plot(x[c], y[c], "o", ms=8, color=ROLE_COLOR[role], mec="white", mew=1.2, zorder=4)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    caps = {b.market: f"import cap binds: {b.detail}" for b in binding_bounds(run) if b.kind == "import cap"}
    hubs = {c for c in ids if {"origin", "transit"} & set(countries[c]["roles"])}
    _labels(ax, x, y, {c: countries[c].get("name") or c for c in ids}, hubs, caps)
    ticks = [t for t in range(-180, 181, 30) if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    ax.set_xticks(ticks, [f"{(t + c0 + 180) % 360 - 180:.0f}°".replace("-", "\u2212") for t in ticks])
    ax.set_yticks([t for t in range(-60, 91, 30) if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]])
    ax.yaxis.set_major_formatter("{x:.0f}°")
    ax.set_xlabel("Longitude (degrees)")
    ax.set_ylabel("Latitude (degrees)")
    for sp in ax.spines.values():
        sp.set_visible(False)
    ax.tick_params(length=0)
    if legend:
        h = [Line2D([], [], color=ILLICIT, lw=w, label=f"Illicit (smuggled): {t:,.0f} t")
             for w, t in ((MAX_WIDTH, top_ill), (MAX_WIDTH / 4, top_ill / 4))]
        if legal:
            h += [Line2D([], [], color=LEGAL, lw=w, label=f"{legal_label}: {t:,.0f} t")
                  for w, t in ((MAX_WIDTH, top_legal), (MAX_WIDTH / 4, top_legal / 4))]
        h += [Line2D([], [], ls="", marker="o", ms=7, color=col, label=r.capitalize())
              for r, col in ROLE_COLOR.items() if any(r in v["roles"] for v in countries.values())]
        ax.legend(handles=h, loc="upper left", bbox_to_anchor=(1.01, 1.0), alignment="left", handlelength=2.5,
                  title=f"Tonnes over the run (mean of {run.replicates}\nreplicates); widths scaled separately\n"
                        "for illicit and legal flows", title_fontsize=8)


def fig_routemap(run: Run):
    """Schematic map: illicit tonnes per route leg and legal imports over the run."""
    _, _, _, (x0, x1), (y0, y1) = _layout(run)
    map_h = 6.6 * (y1 - y0) / (x1 - x0)  # inches, for a map 6.6 in wide beside its legend
    fig, axes = new_figure(size=(9.5, float(np.clip(map_h + 1.35, 3.6, 7.5))))
    draw_routemap(axes[0][0], run)
    ill = {k: v for k, v in legs(run).items() if k[0] == run.origin}
    sub = ""
    if ill and sum(ill.values()) > 0:
        (a, b), t = max(ill.items(), key=lambda kv: kv[1])
        sub = (f"Largest illicit leg: {run.country_name(a)} → {run.country_name(b)}, {t:,.0f} t over the run "
               f"(mean of {run.replicates} replicates)")
    titles(fig, "Where the goods went: illicit and legal flows", sub)
    source_line(fig, run.source())
    return fig


# ---- interdiction -----------------------------------------------------------------------
def checkpoint_order(run: Run, cps: list[str]) -> list[str]:
    """Checkpoints in the order goods meet them: origin export, transit, destination import."""
    roles = {c: v.get("roles", []) for c, v in run.scenario.get("countries", {}).items()}

    def rank(cp: str):
        c, _, side = cp.partition(":")
        r = roles.get(c, [])
        return (0 if "origin" in r else 1 if "transit" in r else 2, c, side != "import")
    return sorted(cps, key=rank)


def fig_interdiction(run: Run):
    """Heat map of tonnes seized per checkpoint and concealment method (mean over replicates)."""
    fig, axes = new_figure(size=(8.5, 4.8))
    ax = axes[0][0]
    tot = run.totals("seized_t", ["checkpoint", "method"]) if not run.metric("seized_t").empty else None
    sub = ""
    if tot is None or tot.empty:
        ax.text(0.5, 0.5, "no seizures in this run", transform=ax.transAxes, ha="center", color=GREY)
        ax.set_axis_off()
    else:
        m = tot.unstack("method", fill_value=0.0)
        order = [k for k in run.scenario.get("methods", {}) if k in m.columns]
        m = m.loc[checkpoint_order(run, list(m.index)), order + [k for k in m.columns if k not in order]]
        im = ax.imshow(m.to_numpy(), cmap="cividis_r", aspect="auto", vmin=0)
        ax.set_xticks(range(m.shape[1]), [c.replace("_", " ") for c in m.columns], rotation=25, ha="right")
        ax.set_yticks(range(m.shape[0]), m.index)
        ax.grid(False)
        for s in ax.spines.values():
            s.set_visible(False)
        ax.tick_params(length=0)
        hi = m.to_numpy().max()
        for (i, j), v in np.ndenumerate(m.to_numpy()):
            ax.text(j, i, f"{v:,.1f}" if v < 100 else f"{v:,.0f}", ha="center", va="center", fontsize=8,
                    color="white" if v > 0.55 * hi else "black")
        cb = fig.colorbar(im, ax=ax, shrink=0.9)
        cb.set_label(f"Tonnes seized over the run (mean of {run.replicates} replicates)")
        cb.outline.set_visible(False)
        ax.set_xlabel("Concealment method")
        ax.set_ylabel("Checkpoint (country:side)")
        by_cp, by_m, total = m.sum(axis=1), m.sum(axis=0), m.to_numpy().sum()
        if total > 0:
            sub = (f"{total:,.0f} t seized; most at {by_cp.idxmax()} ({by_cp.max() / total:.0%}), "
                   f"method seized most: {by_m.idxmax().replace('_', ' ')} ({by_m.max() / total:.0%})")
    titles(fig, "Seizures by checkpoint and concealment method", sub)
    source_line(fig, run.source())
    return fig
