"""Key figures of one run (MODEL.md §6), computed from the recorder's arrays."""

from __future__ import annotations

import math

import numpy as np

KPI_NAMES = ("illicit_delivered_t", "leakage_share", "interdiction_rate", "seizures_count", "seized_t",
             "price_peak_index", "price_end_index", "origin_price_index", "transit_import_surge",
             "active_smugglers_peak", "arrests", "defense_shortfall_t", "min_stock_cover_days",
             "enforcement_cost_usd", "fines_usd", "smuggler_profit_usd", "weeks_to_halve")


def rolling_mean(x: np.ndarray, w: int = 4) -> np.ndarray:
    """Trailing mean over up to `w` steps along axis 0."""
    c = np.cumsum(np.concatenate([np.zeros((1,) + x.shape[1:]), x]), axis=0)
    n = np.minimum(np.arange(1, len(x) + 1), w).reshape((-1,) + (1,) * (x.ndim - 1))
    return (c[1:] - c[np.maximum(np.arange(1, len(x) + 1) - w, 0)]) / n


def focus(model) -> tuple[int, int]:
    """(market, commodity) the headline price KPIs describe: the scenario's restricted_focus
    destination (default the first), and the first commodity ever controlled there."""
    s, L = model.spec, model.layout
    mk = L.markets.index(s.restricted_focus) if s.restricted_focus else 1
    for c in s.controls.values():
        if c.regime != "open" and c.destination in ("all", L.markets[mk]):
            return mk, 0 if c.commodity == "all" else L.commodities.index(c.commodity)
    return mk, 0


def restricted_cells(model) -> np.ndarray:
    """[M, K] bool: (destination, commodity) pairs under a licence or ban at any time."""
    s, L = model.spec, model.layout
    out = np.zeros((L.M, L.K), bool)
    for c in s.controls.values():
        if c.regime == "open":
            continue
        for m in range(1, L.M):
            for k in range(L.K):
                if c.destination in ("all", L.markets[m]) and c.commodity in ("all", L.commodities[k]):
                    out[m, k] = True
    return out


def weeks_to_halve(series: np.ndarray, event_step: int, days_per_step: int) -> float:
    """Weeks after the event until the 4-step mean of `series` falls to half its mean over the
    4 steps before the event; NaN when there was nothing to halve or it never halves."""
    if event_step < 1:
        return math.nan
    before = series[max(0, event_step - 4):event_step].mean()
    if before <= 0:
        return math.nan
    avg = rolling_mean(series)
    for s in range(event_step, len(series)):
        if avg[s] <= 0.5 * before:
            return (s - event_step) * days_per_step / 7.0
    return math.nan


def compute_kpis(model) -> dict[str, float]:
    a, p, L, s = model.recorder.a, model.params, model.layout, model.spec
    T = model.recorder.n
    a = {k: v[:T] for k, v in a.items()}
    mk, k = focus(model)
    dest_idx = a["price_index"][:, mk, k]
    peak = int(np.argmax(dest_idx))
    delivered = float(a["illicit_delivered"].sum())
    seized = float(a["seized_t"].sum())
    pre = float((p.F0 * restricted_cells(model)).sum()) * T
    surge = 0.0
    for c in L.transits:
        ci = L.countries.index(c)
        base = p.hub_imports[ci].sum()
        if base > 0:
            surge = max(surge, float(rolling_mean(a["transit_imports"][:, ci].sum(axis=1)).max() / base))
    ev = s.headline_event or (min(s.events, key=lambda e: s.event_step(s.events[e])) if s.events else "")
    illicit = a["illicit_delivered"].sum(axis=(1, 2))
    return {
        "illicit_delivered_t": delivered,
        "leakage_share": delivered / pre if pre > 0 else math.nan,
        "interdiction_rate": seized / (seized + delivered) if seized + delivered > 0 else math.nan,
        "seizures_count": float(a["seizures"].sum()),
        "seized_t": seized,
        "price_peak_index": float(dest_idx[peak]),
        "price_end_index": float(dest_idx[-1]),
        "origin_price_index": float(a["price_index"][peak, 0, k]),
        "transit_import_surge": surge if surge > 0 else math.nan,
        "active_smugglers_peak": float(a["active"].max()),
        "arrests": float(a["arrests"].sum()),
        "defense_shortfall_t": float(a["shortfall"][:, 1:].sum()),
        "min_stock_cover_days": float(a["cover"][:, 1:].min()) if L.M > 1 else math.nan,
        "enforcement_cost_usd": float(a["enforcement"].sum()),
        "fines_usd": float(a["fines"].sum()),
        "smuggler_profit_usd": float(a["profit"].sum()),
        "weeks_to_halve": weeks_to_halve(illicit, s.event_step(s.events[ev]), s.days_per_step) if ev else math.nan,
    }
