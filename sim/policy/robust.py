"""A robust choice: the mix that does well in the plausible worlds where our assumptions are wrong.

With a posterior ensemble every candidate runs the same parameter draws (one per
replicate), so a candidate's values over the draws are comparable draw by draw. Its
**worst decile** on a KPI is the value it does at least as well as in 90 % of the
posterior weight: the weighted 90th percentile for a KPI to minimise, the 10th for one to
maximise (inverted CDF: the smallest value whose cumulative weight reaches the level).

    worst_decile([3, 1, 2, ...], weights, minimise=True)
    robust_choice(per_draw, weights, minimise=True)                    # best worst decile
    robust_choice(per_draw, weights, True, cost=cost, bound=5000.0)    # cheapest meeting 5000 in 9 of 10 worlds
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DECILE = 0.9


def weighted_quantile(values, weights, q: float) -> float:
    """The smallest value whose share of the total weight at or below it reaches q (NaNs dropped)."""
    v = np.asarray(values, float)
    w = np.ones_like(v) if weights is None else np.asarray(weights, float)
    ok = np.isfinite(v) & (w > 0)
    if not ok.any():
        return float("nan")
    v, w = v[ok], w[ok]
    order = np.argsort(v, kind="stable")
    cum = np.cumsum(w[order]) / w.sum()
    return float(v[order][np.searchsorted(cum, q - 1e-12)])


def worst_decile(values, weights=None, minimise: bool = True) -> float:
    """The value a candidate does at least as well as over 90 % of the weight."""
    return weighted_quantile(values, weights, DECILE if minimise else 1 - DECILE)


def worst_deciles(per_draw: pd.DataFrame, weights=None, minimise: bool = True) -> pd.Series:
    """Worst decile of each candidate (rows: candidates, columns: draws)."""
    return per_draw.apply(lambda row: worst_decile(row.to_numpy(float), weights, minimise), axis=1)


def robust_choice(per_draw: pd.DataFrame, weights=None, minimise: bool = True, cost: pd.Series | None = None,
                  bound: float | None = None):
    """The index of the robust candidate, or None when no candidate qualifies.

    Without `bound`: the candidate whose worst decile is best (ties: the cheaper by `cost`,
    then the first). With `bound`: among candidates whose worst decile meets it (<= bound
    when minimising, >= when maximising), the cheapest by `cost` (ties: the better worst decile).
    """
    wd = worst_deciles(per_draw, weights, minimise)
    table = pd.DataFrame({"wd": wd if minimise else -wd})
    table["cost"] = 0.0 if cost is None else cost.reindex(table.index).astype(float)
    table = table[np.isfinite(table["wd"])]
    if bound is not None:
        table = table[table["wd"] <= (bound if minimise else -bound)]
        order = ["cost", "wd"]
    else:
        order = ["wd", "cost"]
    if table.empty:
        return None
    return table.sort_values(order, kind="stable").index[0]
