"""Mesa agents. Many-agent state (smugglers) lives in the model's numpy arrays and a
SmugglerAgent is a view on its row; the few institutional agents (exporters, customs,
transit countries, buyers, suppliers) are small objects whose `update` runs once a step
(MODEL.md §5, step 2). No per-smuggler Python code runs inside a step.
"""

from __future__ import annotations

import numpy as np

from sim.model import kernels as kr
from sim.model.lazy import import_mesa

mesa = import_mesa()

STATUS_NAMES = {kr.POOL: "pool", kr.ACTIVE: "active", kr.SHIPPING: "shipping", kr.SELLING: "selling",
                kr.JAILED: "jailed", kr.BANKRUPT: "bankrupt"}


class SmugglerAgent(mesa.Agent):
    """A view on row `idx` of the smuggler arrays (capital USD, capacity t, beliefs, ...)."""

    def __init__(self, model, idx: int):
        super().__init__(model)
        self.idx = idx

    @property
    def capital_usd(self) -> float:
        return float(self.model.sm.capital[self.idx])

    @property
    def capacity_t(self) -> float:
        return float(self.model.sm.capacity[self.idx])

    @property
    def network(self) -> int:
        return int(self.model.sm.network[self.idx])

    @property
    def status(self) -> str:
        return STATUS_NAMES[int(self.model.sm.status[self.idx])]

    def belief(self, lane: str, method: str) -> float:
        """Believed interdiction probability on a lane ("CN:export>US", "TH:import") for a method."""
        from sim.scenario.schema import METHODS
        c = self.model.layout.lane_names.index(lane)
        m = METHODS.index(method)
        mdl = self.model
        a, b = mdl.sm.counts(self.idx, mdl.t - 1, mdl.params.forgetting, mdl.a0, mdl.b0)
        return float(a[c, m] / (a[c, m] + b[c, m]))


class ExporterAgent(mesa.Agent):
    """An origin firm holding an equal share of the origin's output of every commodity; column `idx`
    of the exporters' arrays. It diverts when the gray premium beats its expected cost (sim.model.trade)."""

    def __init__(self, model, idx: int):
        super().__init__(model)
        self.idx = idx

    @property
    def compliance_cost_usd_kg(self) -> float:
        return float(self.model.params.compliance_cost[self.idx])

    @property
    def blacklisted(self) -> bool:
        return bool((self.model.blacklist_until[self.idx] >= self.model.t).any())


class CustomsAgent(mesa.Agent):
    """One agency per country; its checkpoints are rows of the checkpoint arrays and its declared
    cells are the cells at those checkpoints."""

    def __init__(self, model, country: str, checkpoints: list[int]):
        super().__init__(model)
        self.country = country
        self.country_idx = model.layout.countries.index(country)
        self.checkpoints = checkpoints
        self.cells = np.flatnonzero(np.isin(model.layout.cell_cp, checkpoints))

    def update(self) -> None:
        """Learned hit rates per declared cell: last step's seizures raise them, its clean inspections
        (legitimate or smuggled) dilute them; older counts fade by `hit_rate_memory` per week. Then
        the tips investigations bring this week (Poisson), each naming a network with goods on the
        way or for sale, chosen in proportion to how many of its smugglers have some."""
        m, p = self.model, self.model.params
        c = self.cells
        seized, clean = m.last_cell
        keep = p.cp_memory[m.layout.cell_cp[c]]
        m.cell_seized_n[c] = keep * m.cell_seized_n[c] + seized[c]
        m.cell_clean_n[c] = keep * m.cell_clean_n[c] + clean[c]
        rate = p.agency_tips[self.country_idx]
        if rate > 0 and self.checkpoints:
            active = m.networks_active_in(np.ones(m.layout.M, bool))
            for _ in range(m.rng.poisson(rate)):
                if active.sum() > 0:
                    self.receive_tip(int(m.rng.choice(len(active), p=active / active.sum())))

    def receive_tip(self, network: int) -> None:
        m = self.model
        for c in self.checkpoints:
            m.tip_until[c, network] = m.t + m.params.cp_tip_steps[c]
        m.tips += 1


class TransitCountryAgent(mesa.Agent):
    """A hub: its imports from the origin (legitimate and smuggled goods declared as the origin's),
    measured against its baseline; trade-anomaly screening flags it when the ratio surges."""

    def __init__(self, model, hub: int):
        super().__init__(model)
        self.hub = hub

    def update(self) -> None:
        m = self.model
        h = self.hub
        base = m.params.hub_baseline[h].sum() / m.params.wk        # t/week
        recent = m.hub_recent[h]
        m.hub_ratio[h] = recent / base if base > 0 else (np.inf if recent > 1e-9 else 1.0)


class BuyerAgent(mesa.Agent):
    """Buyers of one commodity in one market; their inventory is a cell of `model.inventory`."""

    def __init__(self, model, market: int, commodity: int):
        super().__init__(model)
        self.market = market
        self.commodity = commodity

    @property
    def stock_cover_days(self) -> float:
        m = self.model
        d0 = m.params.D0[self.market, self.commodity]
        return float(m.inventory[self.market, self.commodity] / d0 * m.spec.days_per_step)


class SupplierAgent(mesa.Agent):
    """A producer (the origin's exporters as a whole, or a mine or separator elsewhere): expands
    capacity after a lead time when its 13-week netback stays a hurdle above both its cost and its
    reference netback (the reference is an equilibrium); as a whistleblower,
    files tips when gray goods take its markets."""

    def __init__(self, model, idx: int):
        super().__init__(model)
        self.idx = idx
        self.pending_step = -1
        self.pending_t = 0.0

    def update(self) -> None:
        m, p, L = self.model, self.model.params, self.model.layout
        i = self.idx
        if self.pending_step == m.t:
            m.capacity[i] += self.pending_t
            self.pending_step = -1
        window = max(1, round(13 / p.wk))
        hist = m.netback_hist[max(0, m.t - window):m.t, i]
        threshold = max(p.unit_cost[i], p.ref_avg_netback[i]) * (1 + p.hurdle[i])  # nobody expands at reference
        if (self.pending_step < 0 and p.expansion[i] > 0 and len(hist) >= window and hist.mean() > threshold):
            self.pending_step = m.t + max(1, int(p.lead[i]))
            self.pending_t = p.expansion[i]
        if p.whistle[i] and p.tip_to[i] >= 0:
            k = L.sup_k[i]
            share = float((m.shares[i] * m.gray_share_last[:, k]).sum())
            if m.rng.random() < min(1.0, p.tip_rate[i] * share):
                active = m.networks_active_in(L.sup_serves[i])
                if active.sum() > 0:
                    g = int(m.rng.choice(len(active), p=active / active.sum()))
                    m.customs_by_country[int(p.tip_to[i])].receive_tip(g)
