"""Per-step metrics in preallocated arrays, turned into the long-format time series of
MODEL.md §6 at the end of a run (columns: replicate, step, date, metric, the key columns of
sim.model.metrics.KEYS — null where a metric does not use them — and value).

Which metric has which keys and unit is the registry's (sim.model.metrics); `SPEC` below
only says which recorded array feeds it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.model import kernels as kr
from sim.model.metrics import KEYS, METRIC
from sim.scenario.schema import METHODS

# metric -> recorder array; the array's trailing axes follow the metric's keys in the registry
SPEC = {
    "price_usd_kg": "price", "gray_price_usd_kg": "gray_price", "price_index": "price_index",
    "gray_purchase_price_usd_kg": "gray_buy", "legal_flow_t": "legal_flow", "output_t": "output",
    "capacity_t_per_year": "capacity", "legal_imports_t": "legal_imports", "allied_supply_t": "allied",
    "consumption_t": "consumption", "unmet_demand_t": "unmet", "diverted_t": "diverted",
    "exporters_diverting": "diverting", "exporters_traced": "traced", "illicit_delivered_t": "illicit_delivered",
    "illicit_route_t": "illicit_route", "illicit_method_t": "illicit_method", "departed_t": "departed",
    "gray_sold_t": "gray_sold", "unsold_t": "unsold", "crossing_t": "crossing_t", "seized_t": "seized_t",
    "seizures_count": "seizures", "refused_t": "refused", "inspections": "inspections",
    "inspections_legit": "insp_legit", "inspections_smuggled": "insp_smuggled", "transit_imports_t": "transit_imports",
    "stock_cover_days": "cover", "target_cover_days": "target", "defense_shortfall_t": "shortfall",
    "active_smugglers": "active",
    "jailed_smugglers": "jailed", "bankrupt_smugglers": "bankrupt", "entries": "entries", "arrests": "arrests",
    "fines_usd": "fines", "enforcement_cost_usd": "enforcement", "smuggler_profit_usd": "profit",
}


class Recorder:
    def __init__(self, model):
        L, T = model.layout, model.horizon
        M, K, R, NCP, S, H, NM = L.M, L.K, L.R, L.NCP, L.S, len(L.transits), len(METHODS)
        self.model = model
        z = np.zeros
        self.a = {
            "price": z((T, M, K)), "gray_price": z((T, M, K)), "price_index": z((T, M, K)), "gray_buy": z((T, K)),
            "legal_flow": z((T, S, M)), "output": z((T, S)), "capacity": z((T, S)),
            "legal_imports": z((T, M, K)), "allied": z((T, M, K)), "consumption": z((T, M, K)),
            "unmet": z((T, M, K)), "diverted": z((T, K)), "diverting": z((T, K)), "traced": z(T),
            "illicit_delivered": z((T, M, K)), "illicit_route": z((T, R, K)), "illicit_method": z((T, NM, K)),
            "departed": z((T, R, NM)), "gray_sold": z((T, M, K)), "unsold": z((T, M, K)),
            "crossing_t": z((T, NCP)), "seized_t": z((T, NCP, NM)), "seizures": z((T, NCP, NM)),
            "refused": z((T, NCP, K)), "inspections": z((T, NCP)), "insp_legit": z((T, NCP)),
            "insp_smuggled": z((T, NCP)), "transit_imports": z((T, H, K)), "cover": z((T, M, K)),
            "target": z((T, M, K)),
            "shortfall": z((T, M, K)), "active": z(T), "jailed": z(T), "bankrupt": z(T), "entries": z(T),
            "arrests": z(T), "fines": z(T), "enforcement": z(T), "profit": z(T), "at_guard": z((T, M, K), bool),
        }
        self.n = 0

    def last(self, name: str) -> float:
        v = self.a[name][self.n - 1] if self.n else 0.0
        return float(np.sum(v))

    def record(self, t: int, d: dict) -> None:
        m, a, p, L = self.model, self.a, self.model.params, self.model.layout
        st = m.sm.status
        a["price"][t] = m.price
        a["gray_price"][t] = m.gray_price
        a["price_index"][t] = m.price / p.P0
        a["gray_buy"][t] = m.gray_buy
        a["legal_flow"][t] = d["departures"]
        a["output"][t] = m.output
        a["capacity"][t] = m.capacity / p.wk * 52.1786   # t/yr
        a["legal_imports"][t] = d["arrivals"]
        a["allied"][t] = d["arrivals"] - d["origin_in"]
        a["consumption"][t] = d["consumption"]
        a["unmet"][t] = d["unmet"]
        a["diverted"][t] = d["diverted"]
        a["diverting"][t] = d["exporters_diverting"]
        a["traced"][t] = d["traced"]
        delivered = d["delivered"]                                 # [R, NM, K]
        a["illicit_route"][t] = delivered.sum(axis=1)
        a["illicit_method"][t] = delivered.sum(axis=0)
        np.add.at(a["illicit_delivered"][t], L.route_market, delivered.sum(axis=1))
        a["departed"][t] = d["departed"]
        a["gray_sold"][t] = d["gray_sold"]
        unsold = np.zeros((L.M, L.K))
        kr.offer_by_market(st, m.sm.hold_q, m.sm.hold_k, m.sm.hold_mkt, unsold)
        a["unsold"][t] = unsold
        a["crossing_t"][t] = d["crossing_t"]
        a["seized_t"][t] = d["seized_t"]
        a["seizures"][t] = d["seizures"]
        a["refused"][t] = d["refused_t"]
        legit = np.bincount(L.cell_cp, weights=d["legit_insp"], minlength=L.NCP)
        a["insp_legit"][t] = legit
        a["insp_smuggled"][t] = d["insp_smuggled"]
        a["inspections"][t] = legit + d["insp_smuggled"]
        a["transit_imports"][t] = d["hub_in"]
        a["cover"][t] = m.inventory / p.D0 * m.spec.days_per_step
        a["target"][t] = m.stock_target / p.D0 * m.spec.days_per_step
        a["shortfall"][t] = d["shortfall"]
        a["active"][t] = d["operating"]
        a["jailed"][t] = np.count_nonzero(st == kr.JAILED)
        a["bankrupt"][t] = np.count_nonzero(st == kr.BANKRUPT)
        a["entries"][t] = d["entries"]
        a["arrests"][t] = d["arrests"]
        a["fines"][t] = d["fines"] + d["exporter_fines"]
        a["enforcement"][t] = float((a["inspections"][t] * p.cp_cost).sum() + p.cp_fixed_cost.sum())
        a["profit"][t] = d["revenue"] - d["spent"] - d["fines"]
        a["at_guard"][t] = d["at_guard"]
        self.n = t + 1

    def labels(self) -> dict[str, list[str]]:
        L = self.model.layout
        return {"market": L.markets, "commodity": L.commodities, "route": L.routes, "checkpoint": L.cp_names,
                "method": list(METHODS), "supplier": L.suppliers}

    def recording(self) -> Recording:
        """The steps run so far as a compact, picklable `Recording` (the arrays and their labels)."""
        m, L = self.model, self.model.layout
        T = self.n
        labels = self.labels()
        blocks = []
        for metric, name in SPEC.items():
            keys = METRIC[metric].keys
            arr = self.a[name][:T]
            if name == "gray_buy":                 # a price at the origin's market
                blocks.append((metric, arr, ("commodity",), (L.commodities,), {"market": L.markets[0]}, {}))
            elif name == "transit_imports":
                blocks.append((metric, arr, ("market", "commodity"), (L.transits, L.commodities), {}, {}))
            elif name in ("legal_flow", "output", "capacity"):
                axes = ("supplier", "market") if name == "legal_flow" else ("supplier",)
                blocks.append((metric, arr, axes, tuple(labels[k] for k in axes), {},
                               {"commodity": [L.commodities[k] for k in L.sup_k]}))
            elif name == "refused":
                blocks.append((metric, arr, ("checkpoint", "commodity"), (L.cp_names, L.commodities), {}, {}))
            else:
                blocks.append((metric, arr, keys, tuple(labels[k] for k in keys), {}, {}))
        return Recording(int(m.replicate), [m.spec.date_of(t) for t in range(T)], blocks)

    def timeseries(self) -> pd.DataFrame:
        """The long-format table of MODEL.md §6 for the steps run so far."""
        return self.recording().frame()


class Recording:
    """One replicate's recorded metrics as arrays, and what their axes mean.

    This is what a worker process sends back (for a v2 antimony replicate about 0.2 MB, against
    3 MB for the long table of the same numbers); `frame()` builds the long-format DataFrame of
    MODEL.md §6 (columns: replicate, step, date, metric, the key columns of
    sim.model.metrics.KEYS, value) wherever it is needed.

    blocks: (metric, values [steps, ...], key of each trailing axis, labels of each trailing axis,
    {key: label} fixed for the whole metric, {key: label per index of the first trailing axis}).
    """

    def __init__(self, replicate: int, dates: list, blocks: list):
        self.replicate = replicate
        self.dates = dates
        self.blocks = blocks

    def frame(self) -> pd.DataFrame:
        """The long table: metrics in registry order, each in C order of its array (step first).

        Key columns are built from integer codes into one label list per column, so no Python
        string is touched per row."""
        dates = pd.to_datetime(self.dates)
        T = len(self.dates)
        pieces = []
        codes = {k: [] for k in KEYS}
        labels: dict[str, dict[str, int]] = {k: {} for k in KEYS}

        def code_of(key: str, names) -> np.ndarray:
            table = labels[key]
            return np.array([table.setdefault(x, len(table)) for x in names], np.int64)

        metrics = []
        for i, (metric, arr, keys, lab, fixed, per_row) in enumerate(self.blocks):
            n = arr.size if T else 0
            idx = np.indices(arr.shape).reshape(arr.ndim, -1)
            metrics.append(np.full(n, i, np.int64))
            pieces.append((idx[0], arr.reshape(-1).astype(float)))
            given = {}
            for axis, (key, names) in enumerate(zip(keys, lab), start=1):
                given[key] = code_of(key, names)[idx[axis]]
            for key, name in fixed.items():
                given[key] = np.full(n, code_of(key, [name])[0], np.int64)
            for key, names in per_row.items():
                given[key] = code_of(key, names)[idx[1]]
            for key in KEYS:
                codes[key].append(given.get(key, np.full(n, -1, np.int64)))
        step = np.concatenate([p[0] for p in pieces]).astype(np.int64) if pieces else np.zeros(0, np.int64)
        metric_names = [b[0] for b in self.blocks]
        text = pd.Series(metric_names).dtype          # what pandas makes of plain strings (str or object)
        cols = {"replicate": np.full(len(step), self.replicate, np.int64), "step": step, "date": dates[step],
                "metric": _take(metric_names, np.concatenate(metrics), text)}
        for key in KEYS:
            cols[key] = _take(list(labels[key]), np.concatenate(codes[key]), pd.StringDtype())
        cols["value"] = np.concatenate([p[1] for p in pieces]) if pieces else np.zeros(0)
        return pd.DataFrame(cols)


def _take(names: list[str], codes: np.ndarray, dtype):
    """names[codes] as a column of `dtype` (code -1: missing), without a Python object per row."""
    if dtype == object:
        return np.asarray(names + [None], dtype=object)[codes]
    return pd.array(names, dtype=dtype).take(codes, allow_fill=True)
