"""The per-agent core of a step on arrays (MODEL.md §5.2 step 3), and the smugglers' arrays.

`Core.run` calls the compiled kernels in order: choose -> depart -> cross_checkpoints ->
offer_by_market -> clear_markets -> sell_gray -> update_beliefs. With core="reference",
`sim.model.reference.reference_core` does the same in plain Python on the same draws and must
give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model import kernels as kr
from sim.scenario.schema import METHODS


@dataclass
class Smugglers:
    """Per-smuggler arrays (row i is SmugglerAgent i), and the beliefs of their networks.

    Beliefs are Beta counts per lane (a checkpoint and the consignee declared there; see
    Layout.route_lane) and method. Smuggler i's counts are its network's part plus its own part,
    net_a[network[i]] + f^(s - epoch) own_a[i] after the update of step s (f: forgetting), or the
    prior while joined[i] == FRESH; `counts` computes them (kernels.update_beliefs says why)."""

    status: np.ndarray
    capital: np.ndarray          # USD
    capacity: np.ndarray         # t per shipment
    risk_aversion: np.ndarray    # 1/USD
    cost_factor: np.ndarray      # own factor on freight and concealment costs
    network: np.ndarray
    release_step: np.ndarray
    own_a: np.ndarray            # [N, lanes, 6] own part of the Beta counts, scaled to step `epoch`
    own_b: np.ndarray
    joined: np.ndarray           # kernels.FRESH (counts: the prior), JOINED or FROZEN (own_a, own_b whole)
    epoch: np.ndarray            # [1] the step own parts are scaled to
    net_a: np.ndarray            # [networks, lanes, 6] each network's part of the Beta counts
    net_b: np.ndarray
    ship_k: np.ndarray
    ship_r: np.ndarray
    ship_m: np.ndarray
    ship_q: np.ndarray           # t on board
    ship_depart: np.ndarray
    ship_pos: np.ndarray
    hold_q: np.ndarray           # t unsold at the destination
    hold_k: np.ndarray
    hold_mkt: np.ndarray
    hold_comm: np.ndarray
    hold_since: np.ndarray       # step the lot arrived (gray buyers take lots first come first served)
    trip_cost: np.ndarray        # USD paid for the current trip
    trip_rev: np.ndarray         # USD earned by the current trip so far

    @classmethod
    def new(cls, N: int, initial: int, lanes: int, methods: int, a0, b0, ss, rng) -> Smugglers:
        """Draw N smugglers (the first `initial` active, the rest in the entry pool), in a fixed order."""
        shape = (N, lanes, methods)
        i64 = np.int64
        return cls(
            status=np.where(np.arange(N) < initial, kr.ACTIVE, kr.POOL).astype(i64),
            capital=ss.capital_usd * np.exp(ss.capital_spread * rng.standard_normal(N)),
            capacity=ss.capacity_t * np.exp(ss.capacity_spread * rng.standard_normal(N)),
            risk_aversion=ss.risk_aversion_per_usd * rng.exponential(1.0, N),
            network=rng.integers(0, ss.networks, N).astype(i64),
            cost_factor=np.exp(ss.cost_spread * rng.standard_normal(N)),
            release_step=np.zeros(N, i64),
            own_a=np.zeros(shape), own_b=np.zeros(shape), joined=np.full(N, kr.FRESH, i64),
            epoch=np.full(1, -1, i64),
            net_a=np.broadcast_to(a0[None, :, None], (ss.networks, lanes, methods)).copy(),
            net_b=np.broadcast_to(b0[None, :, None], (ss.networks, lanes, methods)).copy(),
            ship_k=np.zeros(N, i64), ship_r=np.zeros(N, i64), ship_m=np.zeros(N, i64),
            ship_q=np.zeros(N), ship_depart=np.zeros(N, i64), ship_pos=np.zeros(N, i64),
            hold_q=np.zeros(N), hold_k=np.zeros(N, i64), hold_mkt=np.zeros(N, i64), hold_comm=np.zeros(N),
            hold_since=np.zeros(N, i64),
            trip_cost=np.zeros(N), trip_rev=np.zeros(N))

    def counts(self, i: int, step: int, forgetting: float, a0: np.ndarray, b0: np.ndarray):
        """Smuggler i's Beta counts (a, b) [lanes, 6] after the belief update of step `step`."""
        if self.joined[i] == kr.FRESH:
            shape = self.own_a.shape[1:]
            return np.broadcast_to(a0[:, None], shape).copy(), np.broadcast_to(b0[:, None], shape).copy()
        if self.joined[i] == kr.FROZEN:
            return self.own_a[i].copy(), self.own_b[i].copy()
        g, fac = self.network[i], forgetting ** (step - int(self.epoch[0]))
        return self.net_a[g] + fac * self.own_a[i], self.net_b[g] + fac * self.own_b[i]


class Core:
    """Runs step 3's per-agent work for one model, compiled or reference."""

    def __init__(self, model, kind: str):
        self.model = model
        self.kind = kind

    def run(self, t, valid, gray_exp, gray_supply, cell_score, legit_n, legit_s, arrivals,
            u_choice, u_cp, u_arrest, ready) -> dict:
        """Smugglers choose and depart (rationed to `gray_supply` [K] t), cross checkpoints, markets
        clear (`arrivals` [M, K] t of legal goods, less what was diverted at the origin, plus what
        hubs refused), gray goods sell, beliefs update. Updates the model's smuggler arrays,
        inventories and cap room in place; returns the step's flows (t), counts, money (USD) and
        cleared prices (USD/kg)."""
        mdl = self.model
        if self.kind == "reference":
            from sim.model.reference import reference_core
            return reference_core(mdl, t, valid, gray_exp, gray_supply, cell_score, legit_n, legit_s, arrivals,
                                  u_choice, u_cp, u_arrest, ready)
        L, p, sm = mdl.layout, mdl.params, mdl.sm
        N, M, K, R = len(sm.status), L.M, L.K, L.R
        NM = len(METHODS)
        out_k, out_r, out_m = (np.empty(N, np.int64) for _ in range(3))
        out_q, out_unit = np.empty(N), np.empty(N)
        kr.choose(t, sm.status, ready, sm.capital, sm.capacity, sm.risk_aversion, sm.cost_factor, sm.network,
                  sm.own_a, sm.own_b, sm.joined, sm.epoch, sm.net_a, sm.net_b, mdl.a0, mdl.b0, p.forgetting,
                  u_choice, valid, L.route_market, L.route_lane, L.route_ncp,
                  p.commission, p.freight, p.method_cost, mdl.price[0], mdl.gray_buy, gray_exp,
                  p.fine_multiple, p.arrest_prob, p.sentence_cost, p.temperature, p.risk_averse,
                  out_k, out_r, out_m, out_q, out_unit)
        wanted = np.zeros(K)
        departed = np.zeros((R, NM))
        diverted = np.zeros(K)
        spent = kr.depart(t, sm.status, sm.capital, sm.ship_k, sm.ship_r, sm.ship_m, sm.ship_q, sm.ship_depart,
                          sm.ship_pos, sm.trip_cost, sm.trip_rev, out_k, out_r, out_m, out_q, out_unit,
                          gray_supply, wanted, departed, diverted)
        o = _outputs(L, mdl.n_networks)
        mdl_obs = mdl.obs
        mdl_obs.n[:] = 0
        cap_room = np.maximum(p.import_cap - mdl.cap_used_ytd, 0.0)
        trips = np.zeros(2)
        fines, arrests = kr.cross_checkpoints(
            t, sm.status, sm.capital, sm.network, sm.ship_k, sm.ship_r, sm.ship_m, sm.ship_q, sm.ship_depart,
            sm.ship_pos, sm.hold_q, sm.hold_k, sm.hold_mkt, sm.hold_comm, sm.hold_since, sm.trip_cost, sm.trip_rev,
            L.route_cp, L.route_lane, L.route_cp_offset, L.route_ncp, L.route_market, L.route_via, L.cp_country,
            L.cp_kind, L.hub_of_country, L.decl_cell, L.cell_cat, L.cell_origin, L.origin, p.commission,
            p.container_kg, p.cp_capacity, p.cp_detect, p.cell_coop, p.cp_random_share, p.cp_corruption,
            cell_score, p.cp_tip_w, mdl.tip_until, legit_n, legit_s, cap_room,
            mdl.price[0], p.fine_multiple, p.arrest_prob, p.sentence_steps, sm.release_step, u_cp, u_arrest,
            mdl_obs.cp, mdl_obs.seized, mdl_obs.n,
            o["crossing_t"], o["seized_t"], o["seizures"], o["cell_seized"], o["cell_clean"], o["insp_smuggled"],
            o["n_smuggled"], o["s_smuggled"], o["delivered"], o["transit_rec"], o["seized_k"], o["refused_t"],
            o["returned_k"], trips)
        mdl.cap_used_ytd += o["transit_rec"]
        arrivals = arrivals.copy()
        arrivals[0] = np.maximum(arrivals[0] - diverted + o["returned_k"], 0.0)
        offer = np.zeros((M, K))
        kr.offer_by_market(sm.status, sm.hold_q, sm.hold_k, sm.hold_mkt, offer)
        kr.clear_markets(arrivals, offer, mdl.price, mdl.inventory, p.P0, p.D0, p.demand_index, p.eps, p.eps_sub,
                         p.backstop, mdl.stock_target, p.restock, p.buffer_share, p.defense_share, p.gray_share,
                         p.gray_discount,
                         p.gray_elasticity, p.gray_floor, p.floor, p.guard, o["price"], o["gray_price"], o["gray_sold"], o["consumption"],
                         o["legal_use"], o["unmet"], o["at_guard"])
        revenue = kr.sell_gray(sm.status, sm.capital, sm.network, sm.hold_q, sm.hold_k, sm.hold_mkt, sm.hold_comm,
                               sm.hold_since, sm.trip_cost, sm.trip_rev, o["gray_sold"], o["gray_price"], o["sold_by"],
                               trips)
        if p.learning:
            kr.update_beliefs(t, sm.status, sm.network, sm.own_a, sm.own_b, sm.joined, sm.epoch, sm.net_a, sm.net_b,
                              mdl.a0, mdl.b0, p.forgetting, p.network_share, p.public_share, mdl_obs.cp, mdl_obs.seized,
                              mdl_obs.n, sm.ship_m)
        o.update(departed=departed, diverted=diverted, wanted=wanted, spent=spent, fines=fines, arrests=arrests,
                 offer=offer, revenue=revenue, trips=trips)
        return o


def _outputs(L, n_networks: int) -> dict[str, np.ndarray]:
    """Zeroed arrays the kernels fill for one step."""
    M, K, R, NCP, NM = L.M, L.K, L.R, L.NCP, len(METHODS)
    z = np.zeros
    return dict(
        crossing_t=z(NCP), seized_t=z((NCP, NM)), seizures=z((NCP, NM)), cell_seized=z(L.NCELL),
        cell_clean=z(L.NCELL), insp_smuggled=z(NCP), n_smuggled=z(NCP), s_smuggled=z(NCP),
        delivered=z((R, NM, K)), transit_rec=z((len(L.transits), K)), seized_k=z(K), refused_t=z((NCP, K)),
        returned_k=z(K), price=z((M, K)), gray_price=z((M, K)), gray_sold=z((M, K)), consumption=z((M, K)),
        legal_use=z((M, K)), unmet=z((M, K)), at_guard=z((M, K), np.bool_), sold_by=z((n_networks, M, K), np.bool_),
    )


@dataclass
class Observations:
    """What each smuggler saw at checkpoints this step: (lane, seized) pairs, at most 4."""

    cp: np.ndarray
    seized: np.ndarray
    n: np.ndarray

    @classmethod
    def new(cls, N: int) -> Observations:
        return cls(np.zeros((N, 4), np.int64), np.zeros((N, 4), np.bool_), np.zeros(N, np.int64))
