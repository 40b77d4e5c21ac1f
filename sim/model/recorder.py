"""Per-step metrics in preallocated arrays, turned into the long-format time series of
MODEL.md §6 at the end of a run (columns: replicate, step, date, metric, market,
commodity, route, checkpoint, method, value)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.model import kernels as kr
from sim.scenario.schema import METHODS

KEYS = ("market", "commodity", "route", "checkpoint", "method")


class Recorder:
    def __init__(self, model):
        L, T = model.layout, model.horizon
        M, K, R, NCP, C, NM = L.M, L.K, L.R, L.NCP, len(L.countries), len(METHODS)
        self.model = model
        z = np.zeros
        self.a = {
            "price": z((T, M, K)), "gray_price": z((T, M, K)), "price_index": z((T, M, K)),
            "legal_imports": z((T, M, K)), "allied": z((T, M, K)), "illicit_delivered": z((T, M, K)),
            "illicit_route": z((T, R, K)), "illicit_method": z((T, NM, K)), "departed": z((T, R, NM)),
            "crossing_t": z((T, NCP)), "seized_t": z((T, NCP, NM)), "seizures": z((T, NCP, NM)),
            "inspections": z((T, NCP)), "transit_imports": z((T, C, K)), "cover": z((T, M, K)),
            "shortfall": z((T, M, K)), "gray_sold": z((T, M, K)),
            "active": z(T), "jailed": z(T), "bankrupt": z(T), "entries": z(T), "arrests": z(T),
            "fines": z(T), "enforcement": z(T), "profit": z(T),
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
        a["legal_imports"][t] = d["legal_in"]
        a["allied"][t] = d["allied"]
        delivered = d["delivered"]                                 # [R, NM, K]
        a["illicit_route"][t] = delivered.sum(axis=1)
        a["illicit_method"][t] = delivered.sum(axis=0)
        np.add.at(a["illicit_delivered"][t], L.route_market, delivered.sum(axis=1))
        a["departed"][t] = d["departed"]
        a["crossing_t"][t] = d["crossing_t"]
        a["seized_t"][t] = d["seized_t"]
        a["seizures"][t] = d["seizures"]
        inspected = np.minimum(p.cp_capacity, p.cp_legit + d["crossing_cont"])
        a["inspections"][t] = inspected
        a["transit_imports"][t] = p.hub_imports + d["transit_rec"]
        a["cover"][t] = m.inventory / p.D0 * m.spec.days_per_step
        a["shortfall"][t] = d["shortfall"]
        a["gray_sold"][t] = d["gray_sold"]
        a["active"][t] = d["operating"]
        a["jailed"][t] = np.count_nonzero(st == kr.JAILED)
        a["bankrupt"][t] = np.count_nonzero(st == kr.BANKRUPT)
        a["entries"][t] = d["entries"]
        a["arrests"][t] = d["arrests"]
        a["fines"][t] = d["fines"]
        a["enforcement"][t] = float((inspected * p.cp_cost).sum())
        a["profit"][t] = d["revenue"] - d["spent"] - d["fines"]
        self.n = t + 1

    def timeseries(self) -> pd.DataFrame:
        """The long-format table of MODEL.md §6 for the steps run so far."""
        m, L = self.model, self.model.layout
        T = self.n
        dates = pd.to_datetime([m.spec.date_of(t) for t in range(T)])
        transit_rows = [L.countries.index(c) for c in L.transits]
        spec = [  # metric, array, key names of the trailing axes, labels per axis
            ("price_usd_kg", "price", ("market", "commodity"), (L.markets, L.commodities)),
            ("gray_price_usd_kg", "gray_price", ("market", "commodity"), (L.markets, L.commodities)),
            ("price_index", "price_index", ("market", "commodity"), (L.markets, L.commodities)),
            ("legal_imports_t", "legal_imports", ("market", "commodity"), (L.markets, L.commodities)),
            ("allied_supply_t", "allied", ("market", "commodity"), (L.markets, L.commodities)),
            ("illicit_delivered_t", "illicit_delivered", ("market", "commodity"), (L.markets, L.commodities)),
            ("gray_sold_t", "gray_sold", ("market", "commodity"), (L.markets, L.commodities)),
            ("illicit_route_t", "illicit_route", ("route", "commodity"), (L.routes, L.commodities)),
            ("illicit_method_t", "illicit_method", ("method", "commodity"), (list(METHODS), L.commodities)),
            ("departed_t", "departed", ("route", "method"), (L.routes, list(METHODS))),
            ("crossing_t", "crossing_t", ("checkpoint",), (L.cp_names,)),
            ("seized_t", "seized_t", ("checkpoint", "method"), (L.cp_names, list(METHODS))),
            ("seizures_count", "seizures", ("checkpoint", "method"), (L.cp_names, list(METHODS))),
            ("inspections", "inspections", ("checkpoint",), (L.cp_names,)),
            ("stock_cover_days", "cover", ("market", "commodity"), (L.markets, L.commodities)),
            ("defense_shortfall_t", "shortfall", ("market", "commodity"), (L.markets, L.commodities)),
            ("active_smugglers", "active", (), ()), ("jailed_smugglers", "jailed", (), ()),
            ("bankrupt_smugglers", "bankrupt", (), ()), ("entries", "entries", (), ()),
            ("arrests", "arrests", (), ()), ("fines_usd", "fines", (), ()),
            ("enforcement_cost_usd", "enforcement", (), ()), ("smuggler_profit_usd", "profit", (), ()),
        ]
        frames = [self._long(metric, self.a[name][:T], keys, labels, dates)
                  for metric, name, keys, labels in spec]
        ti = self.a["transit_imports"][:T][:, transit_rows]
        frames.append(self._long("transit_imports_t", ti, ("market", "commodity"), (L.transits, L.commodities), dates))
        df = pd.concat(frames, ignore_index=True)
        df.insert(0, "replicate", np.int64(m.replicate))
        return df

    @staticmethod
    def _long(metric, arr, keys, labels, dates) -> pd.DataFrame:
        T = arr.shape[0]
        idx = np.indices(arr.shape).reshape(arr.ndim, -1)
        cols = {"step": idx[0].astype(np.int64), "date": dates[idx[0]], "metric": metric}
        for key in KEYS:
            cols[key] = ""
        for axis, (key, lab) in enumerate(zip(keys, labels), start=1):
            cols[key] = np.asarray(lab, dtype=object)[idx[axis]]
        cols["value"] = arr.reshape(-1).astype(float)
        df = pd.DataFrame(cols)
        return df if T else df.iloc[0:0]
