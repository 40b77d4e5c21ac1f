"""The Mesa model: one step in the order of MODEL.md §5.

1. scenario events due this step (rebuild `Params` from the updated scenario);
2. institutional agents update (exporters, customs, transit countries, producers);
3. the compiled core (`sim.model.kernels`): smugglers choose and depart, shipments cross
   checkpoints, markets clear, gray goods sell, beliefs update; entry and release;
4. one row of metrics (`sim.model.recorder.Recorder`, behind a Mesa DataCollector).

All randomness comes from `self.rng`, the one Generator of the run; every array of
draws the kernels need is drawn here, in a fixed order and size, so the run is a pure
function of (scenario, replicate).
"""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np

from sim.model import kernels as kr
from sim.model.agents import (
    BuyerAgent,
    CustomsAgent,
    ExporterAgent,
    ProducerAgent,
    SmugglerAgent,
    TransitCountryAgent,
)
from sim.model.recorder import Recorder
from sim.model.reference import reference_core
from sim.model.world import M_RELABEL, Layout, build_layout, build_params, controls_at
from sim.scenario import parse_key, set_path
from sim.scenario.schema import METHODS, Scenario


def replicate_seed(master_seed: int, replicate: int) -> np.random.SeedSequence:
    """The seed of one replicate: equal to SeedSequence(master_seed).spawn(n)[replicate] for any n."""
    return np.random.SeedSequence(master_seed, spawn_key=(replicate,))


@dataclass
class Smugglers:
    """Per-smuggler arrays (row i is SmugglerAgent i). Beliefs a, b are Beta counts [N, lanes, 6]
    (a lane is a checkpoint and the consignee declared there; see Layout.route_lane)."""

    status: np.ndarray
    capital: np.ndarray
    capacity: np.ndarray
    risk_aversion: np.ndarray
    network: np.ndarray
    release_step: np.ndarray
    a: np.ndarray
    b: np.ndarray
    ship_k: np.ndarray
    ship_r: np.ndarray
    ship_m: np.ndarray
    ship_q: np.ndarray
    ship_unit: np.ndarray
    ship_depart: np.ndarray
    ship_pos: np.ndarray
    hold_q: np.ndarray
    hold_k: np.ndarray
    hold_mkt: np.ndarray
    hold_comm: np.ndarray


class SmugglingModel(mesa.Model):
    """Critical-mineral smuggling under export controls (MODEL.md).

    `self.spec` is the validated Scenario in force (events replace it); the name avoids
    Mesa 3.5's own `Model.scenario` property."""

    def __init__(self, scenario: Scenario, replicate: int = 0, steps: int | None = None, core: str = "numba",
                 rng: int | None = None):
        """core: "numba" (the compiled kernels) or "reference" (sim.model.reference, plain Python, same results).
        rng: an integer master seed replacing scenario.seed (as `mesa.batch_run` passes it); the run's
        Generator is always SeedSequence(master seed, spawn_key=(replicate,))."""
        master = scenario.seed if rng is None else int(rng)
        super().__init__(rng=np.random.default_rng(replicate_seed(master, replicate)))
        if core not in ("numba", "reference"):
            raise ValueError(f"core must be 'numba' or 'reference', not {core!r}")
        self.core = core
        self.spec = scenario
        self.replicate = replicate
        self.horizon = steps if steps is not None else scenario.steps
        self.t = 0
        self.layout: Layout = build_layout(scenario)
        self.params = build_params(scenario, self.layout)
        L, p, rng = self.layout, self.params, self.rng
        self.events = sorted(((scenario.event_step(e), eid) for eid, e in scenario.events.items()))

        # --- smugglers -----------------------------------------------------------
        ss = scenario.smugglers
        N = ss.initial + ss.pool
        self.n_networks = ss.networks
        prior = np.array([ss.prior_by_country.get(L.countries[c], ss.prior_interdiction) for c in L.lane_country])
        self.a0 = prior * ss.prior_strength
        self.b0 = (1.0 - prior) * ss.prior_strength
        shape = (N, len(L.lane_names), len(METHODS))
        self.sm = Smugglers(
            status=np.where(np.arange(N) < ss.initial, kr.ACTIVE, kr.POOL).astype(np.int64),
            capital=ss.capital_usd * np.exp(ss.capital_spread * rng.standard_normal(N)),
            capacity=ss.capacity_t * np.exp(ss.capacity_spread * rng.standard_normal(N)),
            risk_aversion=ss.risk_aversion_per_usd * rng.exponential(1.0, N),
            network=rng.integers(0, ss.networks, N).astype(np.int64),
            release_step=np.zeros(N, np.int64),
            a=np.broadcast_to(self.a0[None, :, None], shape).copy(),
            b=np.broadcast_to(self.b0[None, :, None], shape).copy(),
            ship_k=np.zeros(N, np.int64), ship_r=np.zeros(N, np.int64), ship_m=np.zeros(N, np.int64),
            ship_q=np.zeros(N), ship_unit=np.zeros(N), ship_depart=np.zeros(N, np.int64),
            ship_pos=np.zeros(N, np.int64), hold_q=np.zeros(N), hold_k=np.zeros(N, np.int64),
            hold_mkt=np.zeros(N, np.int64), hold_comm=np.zeros(N))
        self.obs_cp = np.zeros((N, 4), np.int64)
        self.obs_seized = np.zeros((N, 4), np.bool_)
        self.n_obs = np.zeros(N, np.int64)
        self.profit_ewma = 0.0

        # --- markets, customs, transit, producers ---------------------------------
        M, K, R, C = L.M, L.K, L.R, len(L.countries)
        self.price = p.price_initial.copy()
        self.gray_price = (1 - p.gray_discount) * self.price
        self.gray_expected = self.gray_price.copy()   # smugglers' adaptive expectation (USD/kg)
        self.inventory = p.stock_initial.copy()
        self.initial_stock = self.inventory.sum(axis=0)
        H = int(L.lead_steps.max()) + 1
        self.pipeline = np.zeros((H, M, K))
        for lag in range(H):  # goods already on their way at step 0 arrive over the first lead steps
            self.pipeline[lag] += p.F0 * (L.lead_steps[:, None] > lag)
        self.output = p.origin_output.copy()
        self.initial_stock = self.initial_stock + self.pipeline.sum(axis=(0, 1))
        self.licensed_ytd = np.zeros((M, K))
        self.cap_used_ytd = np.zeros((C, K))
        self.hits = np.zeros((L.NCP, R, len(METHODS)))
        self.last_seizures_crm = np.zeros_like(self.hits)
        self.tip_until = -np.ones((L.NCP, ss.networks), np.int64)
        self.tips = 0
        self.transit_recent = np.zeros((C, K))
        self.transit_ratio = np.ones(C)
        self.prod_capacity = p.prod_capacity.copy()
        self.price_hist = np.zeros((self.horizon, M, K))
        self.gray_share_last = np.zeros((M, K))
        self.compliance = np.zeros(scenario.exporters.count)
        self.cum = {k: np.zeros(K) for k in ("production", "consumption", "seized")}

        for i in range(N):
            SmugglerAgent(self, i)
        ex = scenario.exporters
        for e, c in enumerate(np.clip(ex.compliance + ex.compliance_spread * rng.uniform(-1, 1, ex.count), 0, 1)):
            ExporterAgent(self, e, float(c))
        self.customs_by_country = {c: CustomsAgent(self, L.countries[c], list(np.flatnonzero(L.cp_country == c)))
                                   for c in range(C)}
        for cid in L.transits:
            TransitCountryAgent(self, L.countries.index(cid))
        for mk in range(M):
            for k in range(K):
                BuyerAgent(self, mk, k)
        for i in range(len(L.producers)):
            ProducerAgent(self, i)
        self.recorder = Recorder(self)
        self.datacollector = mesa.DataCollector(model_reporters={
            "illicit_delivered_t": lambda m: m.recorder.last("illicit_delivered"),
            "active_smugglers": lambda m: m.recorder.last("active"),
            "destination_price_index": lambda m: float((m.price[1:] / m.params.P0[1:]).max()),
            "origin_price_index": lambda m: float((m.price[0] / m.params.P0[0]).min()),
        })

    # ------------------------------------------------------------------------------
    def networks_active_in(self, market: int) -> np.ndarray:
        """Shipments in flight or goods for sale per network, bound for `market`."""
        sm, L = self.sm, self.layout
        busy = ((sm.status == kr.SHIPPING) & (L.route_market[sm.ship_r] == market)) | \
               ((sm.status == kr.SELLING) & (sm.hold_mkt == market))
        return np.bincount(sm.network[busy], minlength=self.n_networks).astype(float)

    def _apply_events(self) -> None:
        fired = [eid for st, eid in self.events if st == self.t]
        if not fired:
            return
        data = self.spec.model_dump()
        for eid in fired:
            for key, value in self.spec.events[eid].set.items():
                set_path(data, parse_key(key), value)  # the loader checked these keys and values
        self.spec = Scenario.model_validate(data)
        self.params = build_params(self.spec, self.layout)

    def _valid_options(self, ctrl) -> np.ndarray:
        """valid[k, r, m]: transit-only methods need a hub; a declaration naming a controlled
        commodity for a controlled destination gets no export clearance, so direct routes there
        need a method that hides the commodity; under the extraterritorial rule only
        relabel_origin passes a hub; a hub whose import cap is used up refuses declared goods."""
        L, p = self.layout, self.params
        K, R, NM = L.K, L.R, len(METHODS)
        via = L.route_via >= 0
        valid = np.ones((K, R, NM), bool)
        valid[:, ~via, :] &= ~p.method_transit_only[None, None, :]
        direct_ctrl = ctrl.restricted[L.route_market].T & ~via[None, :]         # [K, R]
        valid &= ~(direct_ctrl[:, :, None] & p.method_declares[None, None, :])
        extra = ctrl.extraterritorial[L.route_market].T & via[None, :]          # [K, R]
        relabel = np.zeros(NM, bool)
        relabel[M_RELABEL] = True
        valid &= ~(extra[:, :, None] & ~relabel[None, None, :])
        capped = np.zeros((K, R), bool)
        capped[:, via] = (self.cap_used_ytd[L.route_via[via]] >= p.import_cap[L.route_via[via]]).T
        valid &= ~(capped[:, :, None] & p.method_declares[None, None, :])
        return valid

    def _core(self, t: int, valid, gray_exp, gray_supply, route_surge, restricted, arrivals, home,
              u_choice, u_cp, u_arrest, ready) -> dict:
        """MODEL.md §5 step 3 on arrays: choose -> depart -> cross_checkpoints -> offer_by_market ->
        clear_markets -> sell_gray -> update_beliefs. Updates the smuggler arrays, observations and
        inventories in place and returns the step's flows (t, USD) and cleared prices (USD/kg).
        `arrivals` [M, K] t reach each market; its origin row becomes `home` [K] t less what smugglers
        diverted. With core="reference", sim.model.reference.reference_core does the same in plain Python."""
        if self.core == "reference":
            return reference_core(self, t, valid, gray_exp, gray_supply, route_surge, restricted, arrivals, home,
                                  u_choice, u_cp, u_arrest, ready)
        L, p, sm = self.layout, self.params, self.sm
        N, M, K, R, NCP = len(sm.status), L.M, L.K, L.R, L.NCP
        NM = len(METHODS)
        out_k, out_r, out_m = (np.empty(N, np.int64) for _ in range(3))
        out_q, out_unit = np.empty(N), np.empty(N)
        # choose and depart
        kr.choose(sm.status, ready, sm.capital, sm.capacity, sm.risk_aversion, sm.a, sm.b, u_choice,
                  valid, L.route_market, L.route_lane, L.route_ncp, p.commission, p.freight, p.method_cost,
                  self.price[0], gray_exp, p.gray_markup, p.fine_multiple, p.arrest_prob, p.sentence_cost,
                  p.temperature, p.risk_averse, out_k, out_r, out_m, out_q, out_unit)
        departed = np.zeros((R, NM))
        diverted = np.zeros(K)
        spent = kr.depart(t, sm.status, sm.capital, sm.ship_k, sm.ship_r, sm.ship_m, sm.ship_q, sm.ship_unit,
                          sm.ship_depart, sm.ship_pos, out_k, out_r, out_m, out_q, out_unit, gray_supply,
                          departed, diverted)
        # checkpoints
        self.n_obs[:] = 0
        crossing_t, crossing_cont = np.zeros(NCP), np.zeros(NCP)
        seized_t, seizures = np.zeros((NCP, NM)), np.zeros((NCP, NM))
        seizures_crm = np.zeros((NCP, R, NM))
        delivered = np.zeros((R, NM, K))
        transit_rec = np.zeros((len(L.countries), K))
        seized_k = np.zeros(K)
        fines, arrests = kr.cross_checkpoints(
            t, self.horizon - 1, sm.status, sm.capital, sm.network, sm.ship_k, sm.ship_r, sm.ship_m, sm.ship_q,
            sm.ship_depart, sm.ship_pos, sm.hold_q, sm.hold_k, sm.hold_mkt, sm.hold_comm,
            L.route_cp, L.route_lane, L.route_cp_offset, L.route_ncp, L.route_market, L.route_via, L.cp_country, L.cp_kind,
            p.commission, p.container_kg, p.cp_capacity, p.cp_legit, p.cp_detect, p.cp_coop,
            p.cp_random_share, p.cp_corruption, p.cp_learn_w, p.cp_value_w, p.cp_restricted_w,
            restricted, p.cp_anomaly_w,
            p.cp_anomaly_on, p.cp_anomaly_thr, p.cp_tip_w, self.hits, self.tip_until, route_surge,
            p.method_declares, self.price[0], p.fine_multiple, p.arrest_prob, p.sentence_steps,
            sm.release_step, u_cp, u_arrest, self.obs_cp, self.obs_seized, self.n_obs,
            crossing_t, crossing_cont, seized_t, seizures, seizures_crm, delivered, transit_rec, seized_k)
        # markets: arrivals, gray offers, clearing, gray sales
        arrivals[0] = np.maximum(home - diverted, 0.0)
        offer = np.zeros((M, K))
        kr.offer_by_market(sm.status, sm.hold_q, sm.hold_k, sm.hold_mkt, offer)
        out = {k: np.zeros((M, K)) for k in ("price", "gray_price", "gray_sold", "consumption", "legal_use")}
        kr.clear_markets(arrivals, offer, self.price, self.inventory, p.P0, p.D0, p.eps, p.stock_target, p.restock,
                         p.buffer_share, p.gray_share, p.gray_discount, p.floor, p.cap,
                         out["price"], out["gray_price"], out["gray_sold"], out["consumption"], out["legal_use"])
        revenue = kr.sell_gray(sm.status, sm.capital, sm.hold_q, sm.hold_k, sm.hold_mkt, sm.hold_comm,
                               offer, out["gray_sold"], out["gray_price"])
        if p.learning:
            kr.update_beliefs(sm.status, sm.network, sm.a, sm.b, self.a0, self.b0, p.forgetting, p.network_share,
                              p.public_share, self.obs_cp, self.obs_seized, self.n_obs, sm.ship_m, self.n_networks)
        return dict(departed=departed, diverted=diverted, spent=spent, crossing_t=crossing_t,
                    crossing_cont=crossing_cont, seized_t=seized_t, seizures=seizures, seizures_crm=seizures_crm,
                    delivered=delivered, transit_rec=transit_rec, seized_k=seized_k, fines=fines, arrests=arrests,
                    offer=offer, revenue=revenue, **out)

    def step(self) -> None:
        t, L, s = self.t, self.layout, self.spec
        if t > 0 and s.date_of(t).year != s.date_of(t - 1).year:
            self.licensed_ytd[:] = 0.0
            self.cap_used_ytd[:] = 0.0
        # 1. events
        self._apply_events()
        p, sm, rng = self.params, self.sm, self.rng
        ctrl = controls_at(self.spec, L, t)
        # 2. institutional agents
        for cls in (ExporterAgent, CustomsAgent, TransitCountryAgent, ProducerAgent):
            if cls in self.agents_by_type:
                self.agents_by_type[cls].do("update")
        N, M, K = len(sm.status), L.M, L.K
        # random draws for this step, fixed order and size
        u_choice = rng.random(N)
        u_cp = rng.random((4, N, 3))
        u_arrest = rng.random(N)
        u_entry = rng.random()
        ready = rng.random(N) < p.ready_prob

        # 3a. legal exports under the control regime; gray supply from non-compliant exporters
        exports = p.F0 * ctrl.export_share
        room = np.maximum(ctrl.quota - self.licensed_ytd, 0.0)
        exports = np.minimum(exports, np.where(ctrl.restricted, room, np.inf))
        self.licensed_ytd += np.where(ctrl.restricted, exports, 0.0)
        target = p.origin_output * (self.price[0] / p.P0[0]) ** p.supply_elasticity
        self.output += p.supply_adjustment * (target - self.output)
        output = np.maximum(self.output, exports.sum(axis=0) + p.hub_imports.sum(axis=0))
        home = output - exports.sum(axis=0) - p.hub_imports.sum(axis=0)
        gray_supply = np.minimum((1 - self.compliance.mean()) * p.divertible_share * output,
                                 np.maximum(home, 0.0))
        # 3b. legal arrivals (shipped lead_steps ago) and allied output
        H = self.pipeline.shape[0]
        legal_in = self.pipeline[t % H].copy()
        self.pipeline[t % H] = 0.0
        for mk in range(1, M):
            self.pipeline[(t + L.lead_steps[mk]) % H, mk] += exports[mk]
        prod_out = np.where(self.price[L.producer_market, L.producer_commodity] >= p.prod_cost, self.prod_capacity, 0.0)
        allied = p.other_supply.copy()
        np.add.at(allied, (L.producer_market, L.producer_commodity), prod_out)
        # 3c. the core: smugglers choose and depart, checkpoints, markets clear, gray sales, beliefs
        route_surge = np.where(L.route_via >= 0, self.transit_ratio[np.maximum(L.route_via, 0)], 0.0)
        out = self._core(t, self._valid_options(ctrl), np.where(p.gray_share > 0, self.gray_expected, 0.0), gray_supply,
                         route_surge, ctrl.restricted[L.route_market].T.copy(), legal_in + allied, home,
                         u_choice, u_cp, u_arrest, ready)
        self.last_seizures_crm = out["seizures_crm"]
        self.cap_used_ytd += out["transit_rec"]
        # defense buyers use legal arrivals and stock, but no origin goods when military users are excluded
        defense_supply = out["legal_use"] - legal_in * ctrl.military_blocked
        shortfall = np.maximum(p.defense_share * p.D0 - defense_supply, 0.0)
        self.price, self.gray_price = out["price"], out["gray_price"]
        self.gray_expected += p.price_learning * (self.gray_price - self.gray_expected)
        self.price_hist[t] = self.price
        self.gray_share_last = np.divide(out["gray_sold"], out["consumption"],
                                         out=np.zeros((M, K)), where=out["consumption"] > 0)
        # 3d. entry, release
        released = (sm.status == kr.JAILED) & (sm.release_step <= t)
        sm.status[released] = kr.ACTIVE
        operating = int(np.count_nonzero((sm.status == kr.SHIPPING) | (sm.status == kr.SELLING)))
        profit = out["revenue"] - out["spent"] - out["fines"]
        self.profit_ewma = 0.75 * self.profit_ewma + 0.25 * profit / max(operating, 1)
        x = max(self.profit_ewma, 0.0) / p.entry_profit_ref
        pool = np.flatnonzero(sm.status == kr.POOL)
        entries = min(int(p.entry_max * x / (1.0 + x) + u_entry), len(pool))
        sm.status[pool[:entries]] = kr.ACTIVE
        self.transit_recent = 0.75 * self.transit_recent + 0.25 * out["transit_rec"]
        # mass balance bookkeeping
        self.cum["production"] += output + allied.sum(axis=0)
        self.cum["consumption"] += out["consumption"].sum(axis=0) + p.hub_imports.sum(axis=0)
        self.cum["seized"] += out["seized_k"]
        # 4. record
        self.recorder.record(t, {**out, "legal_in": legal_in, "allied": allied, "shortfall": shortfall,
                                 "entries": entries, "operating": operating})
        self.datacollector.collect(self)
        self.t += 1
        if self.t >= self.horizon:
            self.running = False

    # ------------------------------------------------------------------------------
    def mass_balance(self) -> tuple[np.ndarray, np.ndarray]:
        """(sources, uses) per commodity in t: production + initial stocks versus consumption +
        stocks + goods in transit + seized + smugglers' unsold goods (MODEL.md §7, V6)."""
        sm, K = self.sm, self.layout.K
        shipping = sm.status == kr.SHIPPING
        selling = sm.status == kr.SELLING
        in_flight = np.bincount(sm.ship_k[shipping], weights=sm.ship_q[shipping], minlength=K)
        unsold = np.bincount(sm.hold_k[selling], weights=sm.hold_q[selling], minlength=K)
        sources = self.cum["production"] + self.initial_stock
        uses = (self.cum["consumption"] + self.inventory.sum(axis=0) + self.pipeline.sum(axis=(0, 1))
                + in_flight + self.cum["seized"] + unsold)
        return sources, uses

    def run(self) -> None:
        while self.running:
            self.step()
