"""The Mesa model: one step in the order of MODEL.md §5.2.

1. scenario events due this step (rebuild `Params` from the updated scenario);
2. institutional agents update (customs learn hit rates, transit countries measure their
   import surge, suppliers expand capacity and file tips);
3. the core: legal trade (sim.model.trade), declarations and risk scores, the exporters'
   diversion offer, then the compiled kernels (sim.model.kernels): smugglers choose and
   depart, shipments cross checkpoints, markets clear, gray goods sell, beliefs update;
   then exporters are traced, the gray purchase price moves, smugglers enter and leave;
4. one row of metrics (sim.model.recorder.Recorder, behind a Mesa DataCollector).

All randomness comes from `self.rng`, the one Generator of the run; every array of draws
the kernels need is drawn here, in a fixed order and size, so the run is a pure function of
(scenario, replicate).
"""

from __future__ import annotations

import numpy as np

from sim.model import kernels as kr
from sim.model import trade
from sim.model.agents import (
    BuyerAgent,
    CustomsAgent,
    ExporterAgent,
    SmugglerAgent,
    SupplierAgent,
    TransitCountryAgent,
)
from sim.model.core import Core, Observations, Smugglers
from sim.model.lazy import import_mesa
from sim.model.recorder import Recorder
from sim.model.world import (
    BAN,
    FALSE_CERTIFICATE,
    LICENSE,
    OPEN,
    TRANSIT_ONLY,
    build_layout,
    build_params,
    controls_at,
    per_step,
)
from sim.scenario import parse_key, set_path
from sim.scenario.schema import METHODS, Scenario

mesa = import_mesa()


def replicate_seed(master_seed: int, replicate: int) -> np.random.SeedSequence:
    """The seed of one replicate: equal to SeedSequence(master_seed).spawn(n)[replicate] for any n."""
    return np.random.SeedSequence(master_seed, spawn_key=(replicate,))


class SmugglingModel(mesa.Model):
    """Critical-mineral smuggling under export controls (MODEL.md, version 2).

    `self.spec` is the validated Scenario in force (events replace it); the name avoids
    Mesa 3.5's own `Model.scenario` property."""

    def __init__(self, scenario: Scenario, replicate: int = 0, steps: int | None = None, core: str = "numba",
                 rng: int | None = None):
        """core: "numba" (the compiled kernels) or "reference" (sim.model.reference, plain Python, same
        results). rng: an integer master seed replacing scenario.seed (as `mesa.batch_run` passes it);
        the run's Generator is always SeedSequence(master seed, spawn_key=(replicate,))."""
        master = scenario.seed if rng is None else int(rng)
        super().__init__(rng=np.random.default_rng(replicate_seed(master, replicate)))
        if core not in ("numba", "reference"):
            raise ValueError(f"core must be 'numba' or 'reference', not {core!r}")
        self.core = Core(self, core)
        self.spec = scenario
        self.original_spec = scenario     # as given, before any event (for what applied when)
        self.replicate = replicate
        self.horizon = steps if steps is not None else scenario.steps
        self.t = 0
        self.layout = L = build_layout(scenario)
        self.params = p = build_params(scenario, L)
        rng = self.rng
        self.events = sorted(((scenario.event_step(e), eid) for eid, e in scenario.events.items()))
        M, K, S, C, H = L.M, L.K, L.S, len(L.countries), len(L.transits)

        # --- smugglers -----------------------------------------------------------
        ss = scenario.smugglers
        N = ss.initial + ss.pool
        self.n_networks = ss.networks
        prior = np.array([ss.prior_by_country.get(L.countries[c], ss.prior_interdiction) for c in L.lane_country])
        self.a0 = prior * ss.prior_strength
        self.b0 = (1.0 - prior) * ss.prior_strength
        self.sm = Smugglers.new(N, ss.initial, len(L.lane_names), len(METHODS), self.a0, self.b0, ss, rng)
        self.obs = Observations.new(N)

        # --- markets: the reference equilibrium (or a verification world's own start) ---------
        init_price = np.array([[x.initial_price_index or 1.0 for x in (scenario.markets[c][k] for k in L.commodities)]
                               for c in L.markets])
        init_days = np.array([[x.stock_cover_days if x.initial_stock_days is None else x.initial_stock_days
                               for x in (scenario.markets[c][k] for k in L.commodities)] for c in L.markets])
        self.price = init_price * p.P0
        self.gray_price = (1 - p.gray_discount) * self.price
        self.planning_price = self.price.copy()       # suppliers' adaptive price expectation
        self.gray_buy = self.price[0].copy()          # W: the gray purchase price starts at no premium
        self.expect = np.broadcast_to(self.gray_price, (ss.networks, M, K)).copy()  # networks' expected gray price
        self.inventory = init_days / scenario.days_per_step * p.D0
        self.stock_target = p.stock_target.copy()     # buyers' target, with hoarding under controls (step)
        self.shares = p.ref_share.copy()
        self.output = p.Q0.copy()
        self.capacity = p.capacity0.copy()
        self.pipe_len = int(L.sup_lag.max()) + 106      # longest shipping time plus the longest licence delay
        self.pipe = np.zeros((self.pipe_len, S, M))
        for s in range(S):                              # goods already on their way at step 0
            for m in np.flatnonzero(L.sup_serves[s]):
                for lag in range(L.sup_lag[s, m]):
                    self.pipe[lag, s, m] += p.ref_flow[s, m]
        self.initial_stock = self.inventory.sum(axis=0) + np.bincount(
            L.sup_k, weights=self.pipe.sum(axis=(0, 2)), minlength=K)
        self.licensed_ytd = np.zeros((C, K))
        self.cap_used_ytd = np.zeros((H, K))
        self.netback_hist = np.zeros((self.horizon, S))
        # --- customs: hit-rate counts per declared cell, tips, last step's inspection results -----
        self.cell_seized_n = np.zeros(L.NCELL)    # discounted seizures per cell
        self.cell_clean_n = np.zeros(L.NCELL)     # discounted clean inspections per cell
        self.last_cell = (np.zeros(L.NCELL), np.zeros(L.NCELL))
        self.tip_until = -np.ones((L.NCP, ss.networks), np.int64)
        self.tips = 0
        self.hub_recent = p.hub_baseline.sum(axis=1) / p.wk   # 4-week average of imports from the origin, t/week
        self.hub_ratio = np.ones(H)
        # --- exporters ----------------------------------------------------------------
        self.blacklist_until = -np.ones((len(p.compliance_cost), K), np.int64)
        self.gray_share_last = np.zeros((M, K))
        self.trip_ewma = np.zeros(2)              # [completed trips, their profit] per step, EWMA
        self.cum = {k: np.zeros(K) for k in ("production", "consumption", "seized")}
        self._static_option_masks()
        self.market_country = np.array([L.countries.index(c) for c in L.markets])
        self._new_year = {t for t in range(1, self.horizon) if scenario.date_of(t).year != scenario.date_of(t - 1).year}
        self._controls_key = None   # (scenario, controls in force) of the cached `_controls`

        for i in range(N):
            SmugglerAgent(self, i)
        for e in range(len(p.compliance_cost)):
            ExporterAgent(self, e)
        self.customs_by_country = {c: CustomsAgent(self, L.countries[c], list(np.flatnonzero(L.cp_country == c)))
                                   for c in range(C)}
        for h in range(H):
            TransitCountryAgent(self, h)
        for mk in range(M):
            for k in range(K):
                BuyerAgent(self, mk, k)
        for s in range(S):
            SupplierAgent(self, s)
        self.recorder = Recorder(self)
        self.datacollector = mesa.DataCollector(model_reporters={
            "illicit_delivered_t": lambda m: m.recorder.last("illicit_delivered"),
            "active_smugglers": lambda m: m.recorder.last("active"),
            "destination_price_index": lambda m: float((m.price[1:] / m.params.P0[1:]).max()),
            "origin_price_index": lambda m: float((m.price[0] / m.params.P0[0]).min()),
        })

    # ------------------------------------------------------------------------------
    def _static_option_masks(self) -> None:
        """What each smuggled declaration names, from the layout (fixed during a run)."""
        L = self.layout
        d = L.decl_cell
        has = d >= 0
        cat = np.where(has, L.cell_cat[np.maximum(d, 0)], -1)
        org = np.where(has, L.cell_origin[np.maximum(d, 0)], -1)
        con = np.where(has, L.cell_consignee[np.maximum(d, 0)], -1)
        k_idx = np.arange(L.K)[:, None, None, None]
        self.names_goods = has & (cat == k_idx)                       # [K, R, 4, 6] declares the commodity
        self.names_origin_goods = self.names_goods & (org == L.origin)
        self.decl_consignee = con

    def networks_active_in(self, markets: np.ndarray) -> np.ndarray:
        """Shipments in flight or goods for sale per network, bound for any of `markets` (bool [M])."""
        sm, L = self.sm, self.layout
        busy = ((sm.status == kr.SHIPPING) & markets[L.route_market[sm.ship_r]]) | \
               ((sm.status == kr.SELLING) & markets[sm.hold_mkt])
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

    def _controls(self, t: int):
        """(controls in force at step t, their trade matrices, the options they leave valid). They
        change only when a control starts or an event replaces the scenario, so they are cached."""
        spec = self.spec
        if self._controls_key is None or self._controls_key[0] is not spec:
            self._control_steps = [spec.control_step(c) for c in spec.controls.values()]
        key = (spec, [t >= step for step in self._control_steps])
        if self._controls_key is None or key[0] is not self._controls_key[0] or key[1] != self._controls_key[1]:
            ctrl = controls_at(spec, self.layout, t)
            self._controls_key = key
            self._controls_value = (ctrl, trade.control_matrices(self.layout, ctrl), self._valid_by_controls(ctrl))
        return self._controls_value

    def valid_options(self, ctrl) -> np.ndarray:
        """valid[k, r, m]: smuggling pays only into a destination under a licence or ban (without a
        control there is no gray market: buyers buy legally); transit-only methods need a hub; at the origin's export checkpoint a
        declaration naming the commodity for a consignee under a ban gets no clearance, and under a
        licence only methods that come with a false end-user certificate get one; under the
        extraterritorial rule a hub will not clear a re-export declared as origin goods; a hub whose
        import cap is used up refuses goods declared as the origin's."""
        return self._valid_by_controls(ctrl) & self._hubs_open()

    def _valid_by_controls(self, ctrl) -> np.ndarray:
        """The part of `valid_options` that depends on the controls alone."""
        L = self.layout
        K, R = L.K, L.R
        valid = np.ones((K, R, len(METHODS)), bool)
        valid &= ctrl.restricted[self.market_country[L.route_market]].T[:, :, None]   # no control, no gray market
        valid[:, L.route_via < 0, :] &= ~TRANSIT_ONLY[None, :]
        k_idx = np.arange(K)[:, None, None]
        con0 = self.decl_consignee[:, :, 0, :]
        regime0 = np.where(con0 >= 0, ctrl.regime[np.maximum(con0, 0), k_idx], OPEN)
        names0 = self.names_goods[:, :, 0, :]
        valid &= ~(names0 & (regime0 == BAN))
        valid &= ~(names0 & (regime0 == LICENSE) & ~FALSE_CERTIFICATE[None, None, :])
        hub_route = L.route_via >= 0
        con2 = self.decl_consignee[:, :, 2, :]
        extra = np.where(con2 >= 0, ctrl.extraterritorial[np.maximum(con2, 0), k_idx], False)
        valid &= ~(self.names_origin_goods[:, :, 2, :] & extra & hub_route[None, :, None])
        return valid

    def _hubs_open(self) -> np.ndarray:
        """[K, R, 6] False where a hub whose import cap is used up would refuse the declaration."""
        L = self.layout
        hub_route = L.route_via >= 0
        h = L.hub_of_country[np.maximum(L.route_via, 0)]
        full = np.zeros((L.K, L.R), bool)
        full[:, hub_route] = (self.cap_used_ytd[h[hub_route]] >= self.params.import_cap[h[hub_route]]).T
        return ~(self.names_origin_goods[:, :, 1, :] & full[:, :, None])

    def cell_scores(self, ctrl) -> np.ndarray:
        """Risk score of each declared cell (MODEL.md §4.4 a-c, e; tips are added per consignment):
        1 + learned hit rate + value anomaly + trade-anomaly flag + control screening. Nothing here
        reads what a declaration does not show."""
        L, p = self.layout, self.params
        c = L.cell_cp
        prior_n = 10.0
        hit = (self.cell_seized_n + p.cp_hit_prior[c] * prior_n) / (self.cell_seized_n + self.cell_clean_n + prior_n)
        thr = p.cp_anomaly_thr[c]
        h_con = L.hub_of_country[L.cell_consignee]
        h_org = L.hub_of_country[L.cell_origin]
        ratio = np.append(self.hub_ratio, 0.0)          # index -1 (not a hub) reads 0
        ratio_con, ratio_org = ratio[h_con], ratio[h_org]
        flagged_hub = p.cp_anomaly_on[c] & ((ratio_con > thr) | (ratio_org > thr))
        origin_goods = (L.cell_cat < L.K) & (L.cell_origin == L.origin)
        regime = np.where(origin_goods, ctrl.regime[L.cell_consignee, np.minimum(L.cell_cat, L.K - 1)], OPEN)
        return (1.0 + p.cp_learn_w[c] * hit + p.cp_value_w[c] * L.cell_low + p.cp_anomaly_w[c] * flagged_hub
                + p.cp_restricted_w[c] * (regime == BAN) + p.cp_licence_w[c] * (regime == LICENSE))

    def buyers_target(self, ctrl) -> np.ndarray:
        """Buyers' target inventory [M, K] (t): the scenario's cover plus hoarding, the precautionary
        cover scaled by the share of the origin's reference exports that the controls in force
        withhold (a ban withholds all of a destination's share, a licence 1 - approval x non-military)."""
        p = self.params
        withheld = (p.origin_export_share * (1.0 - ctrl.allowed[self.market_country])).sum(axis=0)
        return p.stock_target + p.hoard_target * withheld[None, :]

    def legit_containers(self, departures: np.ndarray, arrivals: np.ndarray, hub: np.ndarray) -> np.ndarray:
        """Legitimate containers per declared cell this step: other goods, plus the model's own legal
        flows of each commodity (origin exports at the origin's export checkpoint, arrivals at import
        checkpoints, hubs' baseline imports), a share of them declared far below typical value."""
        L, p = self.layout, self.params
        n = p.cover_n.copy()
        cell, s, m, kind = L.flow_cells
        tonnes = np.where(kind == 0, departures[s, m], arrivals[s, m])
        low_share = p.cp_low_share[L.cell_cp[cell]]
        share = np.where(L.cell_low[cell], low_share, 1.0 - low_share)
        np.add.at(n, cell, tonnes * share / p.container_kg[L.sup_k[s]] * 1000.0)
        hcell, h, k = L.hub_cells
        np.add.at(n, hcell, hub[h, k] / p.container_kg[k] * 1000.0)
        return n

    def step(self) -> None:
        t, L = self.t, self.layout
        if t in self._new_year:
            self.licensed_ytd[:] = 0.0
            self.cap_used_ytd[:] = 0.0
        # 1. events
        self._apply_events()
        p, sm, rng = self.params, self.sm, self.rng
        ctrl, (allowed, friction, delay), valid_by_controls = self._controls(t)
        self.stock_target = self.buyers_target(ctrl)
        # 2. institutional agents
        for cls in (CustomsAgent, TransitCountryAgent, SupplierAgent):
            if cls in self.agents_by_type:
                self.agents_by_type[cls].do("update")
        N, M, K = len(sm.status), L.M, L.K
        E = len(p.compliance_cost)
        # random draws for this step, fixed order and size
        u_choice = rng.random(N)
        u_cp = rng.random((4, N, 3))
        u_arrest = rng.random(N)
        u_entry = rng.random()
        ready = rng.random(N) < p.ready_prob
        u_trace = rng.random((E, K))

        # 3a. legal trade: shares follow netbacks, output follows the average netback, controls ship
        self.planning_price += p.price_expectation * (self.price - self.planning_price)
        n = trade.netbacks(self.planning_price, L, p, allowed, friction)
        self.shares = trade.update_shares(self.shares, n, L, p)
        self.output = trade.update_output(self.output, self.capacity, self.shares, n, p)
        self.netback_hist[t] = (self.shares * n).sum(axis=1)
        departures, hub = trade.ship(self.output, self.shares, L, p, ctrl, allowed, self.licensed_ytd,
                                     self.cap_used_ytd)
        H = self.pipe_len
        si, m = np.nonzero(departures)                  # distinct (supplier, market) pairs
        self.pipe[(t + L.sup_lag[si, m] + delay[si, m]) % H, si, m] += departures[si, m]
        arrived = self.pipe[t % H].copy()
        self.pipe[t % H] = 0.0
        arrivals = np.zeros((M, K))
        np.add.at(arrivals, (slice(None), L.sup_k), arrived.T)
        origin_rows = L.sup_origin
        home_supply = np.bincount(L.sup_k[origin_rows], weights=arrived[origin_rows, 0], minlength=K)
        origin_output = np.bincount(L.sup_k[origin_rows], weights=self.output[origin_rows], minlength=K)
        # 3b. declarations and risk scores
        legit_n = self.legit_containers(departures, arrived, hub)
        score = self.cell_scores(ctrl)
        legit_cp_n = np.bincount(L.cell_cp, weights=legit_n, minlength=L.NCP)
        legit_cp_s = np.bincount(L.cell_cp, weights=legit_n * score, minlength=L.NCP)
        # 3c. the exporters' offer at the gray purchase price W
        O = self.price[0]
        blacklisted = self.blacklist_until >= t
        offer = trade.diversion_offer(self.gray_buy, O, origin_output, home_supply, p, blacklisted)
        offered = offer.sum(axis=0)
        # 3d. the compiled core
        gray_exp = np.where(p.gray_share > 0, self.expect, 0.0)
        out = self.core.run(t, valid_by_controls & self._hubs_open(), gray_exp, offered, score, legit_cp_n, legit_cp_s,
                            arrivals, u_choice, u_cp, u_arrest, ready)
        # 3e. exporters: who sold, who is traced
        diverted = out["diverted"]
        sold_share = np.divide(diverted, offered, out=np.zeros(K), where=offered > 0)
        by_firm = offer * sold_share[None, :]
        traced = (by_firm > 0) & (u_trace < p.trace_prob)
        exporter_fines = float((traced * by_firm * (p.penalty_multiple * O[None, :] + p.licence_loss)).sum()) * 1000.0
        self.blacklist_until[traced] = t + p.blacklist_steps
        self.price, self.gray_price = out["price"], out["gray_price"]
        self.gray_buy = trade.next_gray_price(self.gray_buy, self.price[0], out["wanted"], offered, p.gray_price_speed)
        # smugglers' expected gray prices: their network's sales, and the public price for everyone
        G = self.gray_price[None]
        self.expect += p.price_learning * out["sold_by"] * (G - self.expect)
        self.expect += p.public_price_learning * (G - self.expect)
        self.gray_share_last = np.divide(out["gray_sold"], out["consumption"], out=np.zeros((M, K)),
                                         where=out["consumption"] > 0)
        # legitimate inspections (the cost of looking), customs' counts for next step's hit rates
        n_all = legit_cp_n + out["n_smuggled"]
        s_all = legit_cp_s + out["s_smuggled"]
        legit_insp = legit_n * kr.cell_inspection_probs(L.cell_cp, score, p.cell_coop, p.cp_capacity, p.cp_random_share,
                                                        n_all, s_all)
        self.last_cell = (out["cell_seized"], out["cell_clean"] + legit_insp)
        self.cells_now = {"legit_n": legit_n, "score": score, "legit_inspected": legit_insp,  # for inspection
                          "cp_smuggled_n": out["n_smuggled"]}
        # defense buyers use legal arrivals and stock, but no origin goods when military users are excluded
        origin_in = np.zeros((M, K))
        np.add.at(origin_in, (slice(None), L.sup_k[origin_rows]), arrived[origin_rows].T)
        defense_supply = out["legal_use"] - origin_in * ctrl.military_blocked[self.market_country]
        shortfall = np.maximum(p.defense_share * p.demand_index * p.D0 - defense_supply, 0.0)
        # 3f. release, entry (follows the realised profit per completed trip)
        released = (sm.status == kr.JAILED) & (sm.release_step <= t)
        sm.status[released] = np.where(sm.capital[released] < 0.0, kr.BANKRUPT, kr.ACTIVE)
        operating = int(np.count_nonzero((sm.status == kr.SHIPPING) | (sm.status == kr.SELLING)))
        recent = per_step(0.25, p.wk)      # weight of this week in the 4-week averages below
        self.trip_ewma = (1 - recent) * self.trip_ewma + recent * out["trips"]
        per_trip = self.trip_ewma[1] / self.trip_ewma[0] if self.trip_ewma[0] > 1e-9 else 0.0
        x = max(per_trip, 0.0) / p.entry_profit_ref
        pool = np.flatnonzero(sm.status == kr.POOL)
        entries = min(int(p.entry_max * x / (1.0 + x) + u_entry), len(pool))
        sm.status[pool[:entries]] = kr.ACTIVE
        hub_in = hub + out["transit_rec"]
        self.hub_recent = (1 - recent) * self.hub_recent + recent * hub_in.sum(axis=1) / p.wk
        # mass balance bookkeeping
        self.cum["production"] += np.bincount(L.sup_k, weights=self.output, minlength=K)
        self.cum["consumption"] += out["consumption"].sum(axis=0) + hub.sum(axis=0)
        self.cum["seized"] += out["seized_k"]
        # 4. record
        self.recorder.record(t, {**out, "departures": departures, "arrived": arrived, "arrivals": arrivals,
                                 "origin_in": origin_in, "hub_in": hub_in, "shortfall": shortfall,
                                 "entries": entries, "operating": operating, "legit_insp": legit_insp,
                                 "exporters_diverting": (by_firm > 0).sum(axis=0), "traced": int(traced.sum()),
                                 "exporter_fines": exporter_fines})
        self.datacollector.collect(self)
        self.t += 1
        if self.t >= self.horizon:
            self.running = False

    # ------------------------------------------------------------------------------
    def mass_balance(self) -> tuple[np.ndarray, np.ndarray]:
        """(sources, uses) per commodity in t: production + initial stocks versus consumption +
        stocks + goods in transit + seized + smugglers' unsold goods (MODEL.md §7, V6)."""
        sm, L = self.sm, self.layout
        K = L.K
        shipping = sm.status == kr.SHIPPING
        selling = sm.status == kr.SELLING
        in_flight = np.bincount(sm.ship_k[shipping], weights=sm.ship_q[shipping], minlength=K)
        unsold = np.bincount(sm.hold_k[selling], weights=sm.hold_q[selling], minlength=K)
        pipeline = np.bincount(L.sup_k, weights=self.pipe.sum(axis=(0, 2)), minlength=K)
        sources = self.cum["production"] + self.initial_stock
        uses = (self.cum["consumption"] + self.inventory.sum(axis=0) + pipeline + in_flight
                + self.cum["seized"] + unsold)
        return sources, uses

    def run(self) -> None:
        while self.running:
            self.step()
