"""Mesa agents. Many-agent state (smugglers) lives in the model's numpy arrays and a
SmugglerAgent is a view on its row; the few institutional agents (exporters, customs,
transit countries, buyers, producers) are small objects whose `update` runs once a step
(MODEL.md §5, step 2). No per-smuggler Python code runs inside a step.
"""

from __future__ import annotations

import mesa
import numpy as np

from sim.model import kernels as kr

STATUS_NAMES = {kr.POOL: "pool", kr.ACTIVE: "active", kr.SHIPPING: "shipping", kr.SELLING: "selling",
                kr.JAILED: "jailed", kr.BANKRUPT: "bankrupt", kr.REMOVED: "removed"}


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
        a, b = self.model.sm.a[self.idx, c, m], self.model.sm.b[self.idx, c, m]
        return float(a / (a + b))


class ExporterAgent(mesa.Agent):
    """An origin firm with a share of production; diverts (1 - compliance) of its divertible output."""

    def __init__(self, model, idx: int, compliance: float):
        super().__init__(model)
        self.idx = idx
        self.base_compliance = compliance

    def update(self) -> None:
        p = self.model.params
        c = self.base_compliance
        if p.origin_trace_tags:  # tagged output can be traced back to the firm
            c += (1.0 - c) * p.trace_tag_compliance
        self.model.compliance[self.idx] = c


class CustomsAgent(mesa.Agent):
    """One agency per country; its checkpoints are rows of the checkpoint arrays."""

    def __init__(self, model, country: str, checkpoints: list[int]):
        super().__init__(model)
        self.country = country
        self.checkpoints = checkpoints

    def update(self) -> None:
        """Learned hit rates per (checkpoint, route, declared category): EWMA of seizures per step."""
        m, p = self.model, self.model.params
        for c in self.checkpoints:
            lr = p.cp_learning_rate[c]
            m.hits[c] = (1.0 - lr) * m.hits[c] + lr * m.last_seizures_crm[c]

    def receive_tip(self, network: int) -> None:
        m = self.model
        for c in self.checkpoints:
            m.tip_until[c, network] = m.t + m.params.cp_tip_steps[c]
        m.tips += 1


class TransitCountryAgent(mesa.Agent):
    """A hub: its recorded imports from the origin (baseline plus declared smuggled goods)."""

    def __init__(self, model, country_idx: int):
        super().__init__(model)
        self.country_idx = country_idx

    def update(self) -> None:
        m = self.model
        c = self.country_idx
        base = m.params.hub_imports[c].sum()
        recent = m.transit_recent[c].sum()
        m.transit_ratio[c] = (base + recent) / base if base > 0 else (np.inf if recent > 0 else 1.0)


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


class ProducerAgent(mesa.Agent):
    """An allied supplier or destination producer: expands after a lead time when prices stay
    above cost plus a hurdle; as a whistleblower, files tips when gray goods take its market."""

    def __init__(self, model, idx: int):
        super().__init__(model)
        self.idx = idx
        self.pending_step = -1
        self.pending_t = 0.0

    def update(self) -> None:
        m, p, L = self.model, self.model.params, self.model.layout
        i = self.idx
        mk, k = L.producer_market[i], L.producer_commodity[i]
        if self.pending_step == m.t:
            m.prod_capacity[i] += self.pending_t
            self.pending_step = -1
        window = m.price_hist[max(0, m.t - 13):m.t, mk, k]
        if (self.pending_step < 0 and p.prod_expansion[i] > 0 and len(window) >= 13
                and window.mean() > p.prod_cost[i] * (1 + p.prod_hurdle[i])):
            self.pending_step = m.t + max(1, int(p.prod_lead[i]))
            self.pending_t = p.prod_expansion[i]
        if p.prod_whistle[i] and p.prod_tip_to[i] >= 0:
            share = m.gray_share_last[mk, k]
            if m.rng.random() < min(1.0, p.prod_tip_rate[i] * share):
                active = m.networks_active_in(mk)
                if active.sum() > 0:
                    g = int(m.rng.choice(len(active), p=active / active.sum()))
                    m.customs_by_country[int(p.prod_tip_to[i])].receive_tip(g)
