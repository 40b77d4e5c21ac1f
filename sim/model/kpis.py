"""Key figures of one run (MODEL.md §6), computed from the recorder's arrays.

Names, units and meanings are in the registry, sim.model.metrics.KPIS; `compute_kpis`
returns exactly those keys."""

from __future__ import annotations

import math

import numpy as np

from sim.model import kernels as kr
from sim.model.metrics import KPI_NAMES
from sim.model.world import OPEN, controls_at


def rolling_mean(x: np.ndarray, w: int = 4) -> np.ndarray:
    """Trailing mean over up to `w` steps along axis 0."""
    c = np.cumsum(np.concatenate([np.zeros((1,) + x.shape[1:]), x]), axis=0)
    n = np.minimum(np.arange(1, len(x) + 1), w).reshape((-1,) + (1,) * (x.ndim - 1))
    return (c[1:] - c[np.maximum(np.arange(1, len(x) + 1) - w, 0)]) / n


def restricted_steps(model) -> np.ndarray:
    """[T, M, K] bool: (destination market, commodity) under a licence or ban at each step.

    Controls change only when a control starts or an event fires; the state in between holds."""
    s, L, T = model.spec, model.layout, model.horizon
    mkt_country = [L.countries.index(c) for c in L.markets]
    out = np.zeros((T, L.M, L.K), bool)
    starts = sorted(st for st in {0} | {s.control_step(c) for c in s.controls.values()}
                    | {s.event_step(e) for e in s.events.values()} if st < T)
    spec = model.original_spec
    for a, b in zip(starts, starts[1:] + [T]):
        out[a:b] = controls_at(_spec_at(model, a, spec), L, a).regime[mkt_country] != OPEN
    out[:, 0] = False
    return out


def _spec_at(model, step: int, spec):
    """The scenario as in force at `step` (events up to it applied), for the controls' regime."""
    from sim.scenario import parse_key, set_path
    from sim.scenario.schema import Scenario

    fired = [eid for st, eid in model.events if st <= step]
    if not fired:
        return spec
    data = spec.model_dump()
    for eid in fired:
        for key, value in spec.events[eid].set.items():
            set_path(data, parse_key(key), value)
    return Scenario.model_validate(data)


def restricted_cells(model) -> np.ndarray:
    """[M, K] bool: (destination market, commodity) pairs under a licence or ban at any step of the run."""
    return restricted_steps(model).any(axis=0)


def focus(model) -> tuple[int, int]:
    """(market, commodity) the headline price KPIs describe: the scenario's restricted_focus
    destination (default the first destination under a control), and its first controlled commodity."""
    s, L = model.spec, model.layout
    cells = restricted_cells(model)
    if s.restricted_focus:
        mk = L.markets.index(s.restricted_focus)
    else:
        rows = np.flatnonzero(cells.any(axis=1))
        mk = int(rows[0]) if len(rows) else 1
    ks = np.flatnonzero(cells[mk])
    return mk, int(ks[0]) if len(ks) else 0


def weeks_to_halve(series: np.ndarray, event_step: int, days_per_step: int) -> float:
    """Weeks after the event until the 4-step mean of `series` falls to half its mean over the
    4 steps before the event; NaN when there was nothing to halve, it never halves, or the run
    ends before the event."""
    if not 1 <= event_step < len(series):
        return math.nan
    before = series[max(0, event_step - 4):event_step].mean()
    if before <= 0:
        return math.nan
    avg = rolling_mean(series)
    for s in range(event_step, len(series)):
        if avg[s] <= 0.5 * before:
            return (s - event_step) * days_per_step / 7.0
    return math.nan


def unsold_value(model) -> float:
    """Smugglers' goods not yet sold at the end (in flight or waiting for buyers), at the gray price
    of their destination net of the hub's commission (USD)."""
    sm, L, p = model.sm, model.layout, model.params
    ship = sm.status == kr.SHIPPING
    hold = sm.status == kr.SELLING
    g = model.gray_price
    v = (sm.ship_q[ship] * g[L.route_market[sm.ship_r[ship]], sm.ship_k[ship]]
         * (1 - p.commission[sm.ship_r[ship]])).sum()
    v += (sm.hold_q[hold] * g[sm.hold_mkt[hold], sm.hold_k[hold]] * (1 - sm.hold_comm[hold])).sum()
    return float(v) * 1000.0


def compute_kpis(model) -> dict[str, float]:
    a, p, L, s = model.recorder.a, model.params, model.layout, model.spec
    T = model.recorder.n
    a = {k: v[:T] for k, v in a.items()}
    mk, k = focus(model)
    dest_idx = a["price_index"][:, mk, k]
    peak = int(np.argmax(dest_idx))
    delivered = float(a["illicit_delivered"].sum())
    seized = float(a["seized_t"].sum())
    origin_ref = p.ref_flow[L.sup_origin]                        # [S_origin, M] t/step before controls
    pre_mk = np.zeros((L.M, L.K))
    np.add.at(pre_mk, (slice(None), L.sup_k[L.sup_origin]), origin_ref.T)
    smuggled_to = np.zeros((L.M, 1), bool)
    smuggled_to[np.unique(L.route_market)] = True               # destinations some route serves
    pre = float((pre_mk[None] * restricted_steps(model)[:T] * smuggled_to[None]).sum())
    surge = 0.0
    for h in range(len(L.transits)):
        base = p.hub_baseline[h].sum()
        if base > 0:
            surge = max(surge, float(rolling_mean(a["transit_imports"][:, h].sum(axis=1)).max() / base))
    ev = s.headline_event or (min(s.events, key=lambda e: s.event_step(s.events[e])) if s.events else "")
    illicit = a["illicit_delivered"].sum(axis=(1, 2))
    seizures = float(a["seizures"].sum())
    inspections = float(a["inspections"].sum())
    origin_P0 = p.P0[0]
    markup = np.where(a["gray_buy"] > 0, a["gray_buy"] / np.maximum(a["price"][:, 0, :], 1e-300) - 1.0, 0.0)
    out = {
        "illicit_delivered_t": delivered,
        "leakage_share": delivered / pre if pre > 0 else math.nan,
        "interdiction_rate": seized / (seized + delivered) if seized + delivered > 0 else math.nan,
        "seizures_count": seizures,
        "seized_t": seized,
        "price_peak_index": float(dest_idx[peak]),
        "price_end_index": float(dest_idx[-1]),
        "origin_price_index": float(a["price"][peak, 0, k] / origin_P0[k]),
        "transit_import_surge": surge if surge > 0 else math.nan,
        "active_smugglers_peak": float(a["active"].max()),
        "arrests": float(a["arrests"].sum()),
        "jailed_peak": float(a["jailed"].max()),
        "diverted_t": float(a["diverted"].sum()),
        "gray_markup_peak": float(markup.max()),
        "defense_shortfall_t": float(a["shortfall"][:, 1:].sum()),
        "min_stock_cover_days": float(a["cover"][:, 1:].min()) if L.M > 1 else math.nan,
        "unmet_demand_t": float(a["unmet"].sum()),
        "legit_inspected": float(a["insp_legit"].sum()),
        "inspections_per_seizure": inspections / seizures if seizures > 0 else math.nan,
        "enforcement_cost_usd": float(a["enforcement"].sum()),
        "fines_usd": float(a["fines"].sum()),
        "smuggler_profit_usd": float(a["profit"].sum()) + unsold_value(model),
        "weeks_at_price_guard": float(a["at_guard"].any(axis=(1, 2)).sum()) * s.days_per_step / 7.0,
        "weeks_to_halve": weeks_to_halve(illicit, s.event_step(s.events[ev]), s.days_per_step) if ev else math.nan,
    }
    assert tuple(out) == KPI_NAMES, "compute_kpis and the registry (sim.model.metrics.KPIS) disagree"
    return out
