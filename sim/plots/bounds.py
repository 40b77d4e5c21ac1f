"""Bounds that bind in a run: where a cap, floor or guard, not the model's economics, set a value.

Charts mark each one where it binds (sim.plots.style.mark_bound) and the brief lists them in
its caveats, so a reader never takes a capped number for a result. Detected from a loaded
run, for any model version that writes the series:

    price guard   KPI `weeks_at_price_guard` > 0 (version 2: a numerical guard far above the
                  backstop price)
    price cap     a `price_index` series at its `price_cap` (x reference price; set per market and
                  commodity, markets.<M>.<k>.price_cap, or per commodity)
    price floor   a `price_index` series at its `price_floor`
    import cap    `refused_t` > 0 at a hub (origin pressure capped its imports)
    stock-out     buyers' `stock_cover_days` at 0 (inventories cannot go below zero)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.plots.io import Run

TOUCH = 1e-6  # relative distance at which a price counts as sitting on its bound


@dataclass(frozen=True)
class Bound:
    """A bound that binds: `weeks` is the mean over replicates of the weeks it binds."""

    kind: str            # "price guard", "price cap", "price floor", "import cap", "stock-out"
    where: str           # reader's words: "United States, Antimony trioxide", "Thailand"
    weeks: float
    level: float = np.nan  # the bound in the series' unit (price index, days), when it has one
    market: str = ""
    commodity: str = ""
    detail: str = ""     # e.g. "1,234 t refused"

    @property
    def model_artefact(self) -> bool:
        """True for numerical limits (guards, caps, floors): the brief's caveats name these."""
        return self.kind != "stock-out"

    def describe(self, scenario: str) -> str:
        """'price cap in crackdown (United States, Antimony, 29 weeks, 2.2x reference)'."""
        parts = [p for p in (self.where, f"{self.weeks:.0f} weeks", self.detail) if p]
        return f"{self.kind} in {scenario} ({', '.join(parts)})"


def _weeks_touching(run: Run, metric: str, level: float, above: bool, **keys) -> float:
    """Mean over replicates of the weeks in which the series sits at (or beyond) `level`."""
    d = run.metric(metric, **keys)
    if d.empty or not np.isfinite(level):
        return 0.0
    hit = d["value"] >= level * (1 - TOUCH) if above else d["value"] <= level * (1 + TOUCH) + TOUCH
    per_rep = hit.groupby(d["replicate"]).sum().reindex(run.ts["replicate"].unique(), fill_value=0)
    return float(per_rep.mean()) / run.per_week


def _commodity_name(run: Run, k: str) -> str:
    return run.scenario.get("commodities", {}).get(k, {}).get("name") or k


def price_bounds(run: Run) -> list[Bound]:
    """Price caps and floors (per market and commodity) that prices sat on."""
    out = []
    pi = run.metric("price_index")
    for (m, k) in pi[["market", "commodity"]].drop_duplicates().itertuples(index=False):
        specs = (run.scenario.get("markets", {}).get(m, {}).get(k, {}), run.scenario.get("commodities", {}).get(k, {}))
        for kind, key, above in (("price cap", "price_cap", True), ("price floor", "price_floor", False)):
            level = float(next((s[key] for s in specs if s.get(key) is not None), np.nan))
            weeks = _weeks_touching(run, "price_index", level, above, market=m, commodity=k)
            if weeks > 0:
                out.append(Bound(kind, f"{run.country_name(m)}, {_commodity_name(run, k)}", weeks, level, m, k,
                                 f"{level:g}x reference"))
    return out


def binding_bounds(run: Run) -> list[Bound]:
    """Every bound that binds in the run (see the module docstring), guards and caps first."""
    out = []
    guard = run.kpi_band("weeks_at_price_guard")[0]
    if np.isfinite(guard) and guard > 0:
        out.append(Bound("price guard", "", float(guard)))
    out += price_bounds(run)
    ref = run.metric("refused_t")
    if not ref.empty:
        ref = ref.assign(country=ref["checkpoint"].str.partition(":")[0])
        for c, d in ref.groupby("country"):
            tot = d.groupby("replicate")["value"].sum().reindex(run.ts["replicate"].unique(), fill_value=0.0)
            if tot.mean() > 0:
                steps = (d.groupby(["replicate", "step"])["value"].sum() > 0).groupby("replicate").sum()
                out.append(Bound("import cap", run.country_name(c), float(steps.mean()) / run.per_week,
                                 market=c, detail=f"{tot.mean():,.0f} t refused"))
    for (m, k) in run.metric("stock_cover_days")[["market", "commodity"]].drop_duplicates().itertuples(index=False):
        weeks = _weeks_touching(run, "stock_cover_days", 0.0, False, market=m, commodity=k)
        if weeks > 0:
            out.append(Bound("stock-out", f"{run.country_name(m)}, {_commodity_name(run, k)}", weeks, 0.0, m, k))
    return out
