"""Compile a validated Scenario into index maps and numpy parameter arrays.

`Layout` is the fixed shape of the world (countries, markets, suppliers, routes,
checkpoints, declaration cells); `Params` holds every number a step needs, in model units
(t/step, USD/kg, steps). An event rebuilds `Params` from the updated scenario; the layout
never changes during a run, so state arrays keep their shapes.

Declarations (MODEL.md §4.3-4.4): every container at a checkpoint carries a declared
category (a commodity or a cover category), declared origin, declared consignee and a
declared value, normal or far below the category's typical value. A *cell* is one such
declaration at one checkpoint; customs keeps hit rates per cell and scores a container by
its cell (plus tips), so a smuggled and a legitimate container in the same cell look the
same. `decl_cell[k, r, j, m]` is the cell a smuggled consignment of commodity k on route r
shows at its j-th checkpoint when concealed by method m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.scenario.schema import COVERS, DEFAULT_MIX, METHODS, Customs, Scenario

IMPORT, EXPORT = 0, 1
OPEN, LICENSE, BAN = 0, 1, 2
M_FALSE_END_USER, M_MISLABEL, M_MIX_SCRAP, M_SHIELDED, M_UNDERVALUE, M_RELABEL = range(6)
TRANSIT_ONLY = np.array([True, False, False, False, False, True])   # need a route through a hub
# methods whose papers need an export licence for a controlled consignee, and get one with a
# false end-user certificate (the hub importer named as end user)
FALSE_CERTIFICATE = np.array([True, False, False, False, False, True])
MAX_CP = 4  # checkpoints on a route: origin export, transit import, transit export, destination import
KG_PER_T = 1000.0


@dataclass
class Layout:
    """Index maps. Market 0 is the origin's domestic market, markets 1.. the destinations."""

    commodities: list[str]
    countries: list[str]
    origin: int                      # country index
    markets: list[str]               # country ids, origin first
    market_of_country: np.ndarray    # [C] market index or -1
    transits: list[str]
    hub_of_country: np.ndarray       # [C] transit index or -1
    suppliers: list[str]
    sup_country: np.ndarray          # [S] country index
    sup_k: np.ndarray                # [S] commodity index
    sup_origin: np.ndarray           # [S] bool: one of the origin's exporters
    sup_serves: np.ndarray           # [S, M] bool: sells there at reference
    sup_lag: np.ndarray              # [S, M] shipping steps (0 at home)
    routes: list[str]
    route_market: np.ndarray         # [R] market index of the destination
    route_via: np.ndarray            # [R] country index of the transit country, -1 if direct
    route_cp: np.ndarray             # [R, 4] checkpoint index in order, -1 padded
    route_cp_offset: np.ndarray      # [R, 4] steps after departure when the checkpoint is crossed
    route_ncp: np.ndarray            # [R]
    cp_country: np.ndarray           # [NCP] country index
    cp_kind: np.ndarray              # [NCP] IMPORT or EXPORT
    cp_names: list[str]              # "CN:export"
    route_lane: np.ndarray           # [R, 4] belief lane: checkpoint x declared consignee, -1 padded
    lane_country: np.ndarray         # [NL] country index of the lane's customs
    lane_names: list[str]            # "CN:export>TH"
    categories: list[str]            # commodities, then cover categories
    cell_cp: np.ndarray              # [NCELL] checkpoint
    cell_cat: np.ndarray             # [NCELL] category index
    cell_origin: np.ndarray          # [NCELL] declared origin (country index)
    cell_consignee: np.ndarray       # [NCELL] declared consignee (country index)
    cell_low: np.ndarray             # [NCELL] bool: declared value far below typical
    decl_cell: np.ndarray            # [K, R, 4, 6] cell of a smuggled consignment, -1 where no checkpoint
    flow_cells: tuple                # legit commodity flows -> cells: (cell, s, m, kind) arrays, kind 0 departs 1 arrives
    hub_cells: tuple                 # hubs' baseline imports -> cells: (cell, hub, k) arrays
    cover_cells: np.ndarray          # [NCELL] bool: a cover-category cell of other goods

    @property
    def K(self) -> int:
        return len(self.commodities)

    @property
    def M(self) -> int:
        return len(self.markets)

    @property
    def S(self) -> int:
        return len(self.suppliers)

    @property
    def R(self) -> int:
        return len(self.routes)

    @property
    def NCP(self) -> int:
        return len(self.cp_names)

    @property
    def NCELL(self) -> int:
        return len(self.cell_cp)

    def cell_name(self, i: int) -> str:
        low = " (low value)" if self.cell_low[i] else ""
        return (f"{self.cp_names[self.cell_cp[i]]}: {self.categories[self.cell_cat[i]]} "
                f"{self.countries[self.cell_origin[i]]}>{self.countries[self.cell_consignee[i]]}{low}")


def _declaration(k: int, origin: int, via: int, dest: int, j: int, ncp: int, m: int, cover_of: list[int],
                 K: int) -> tuple[int, int, int, bool]:
    """(category, declared origin, declared consignee, low value) of a smuggled consignment at its
    j-th checkpoint (MODEL.md §4.3). Categories: commodity k, or K + index of a cover category."""
    if m == M_MISLABEL:
        cat = cover_of[k]
    elif m == M_MIX_SCRAP:
        cat = K + COVERS.index("scrap")
    elif m == M_SHIELDED:
        cat = K + COVERS.index("metal_goods")
    else:
        cat = k
    hub_leg = via >= 0 and j <= 1          # origin export and hub import name the hub as consignee
    consignee = via if hub_leg else dest
    declared_origin = via if (m == M_RELABEL and via >= 0 and j >= 2) else origin
    return cat, declared_origin, consignee, m == M_UNDERVALUE


def build_layout(s: Scenario) -> Layout:
    K = list(s.commodities)
    C = list(s.countries)
    ci = {c: i for i, c in enumerate(C)}
    origin = s.origin
    markets = [origin] + s.ids("destination")
    mi = {c: i for i, c in enumerate(markets)}
    transits = s.ids("transit")
    cps: list[tuple[int, int]] = []
    lanes: list[tuple[int, int]] = []   # (checkpoint, declared consignee country)

    def cp(country: str, kind: int) -> int:
        key = (ci[country], kind)
        if key not in cps:
            cps.append(key)
        return cps.index(key)

    routes = list(s.routes)
    R = len(routes)
    route_cp = -np.ones((R, MAX_CP), np.int64)
    route_lane = -np.ones((R, MAX_CP), np.int64)
    offs = np.zeros((R, MAX_CP), np.int64)
    ncp = np.zeros(R, np.int64)
    via = -np.ones(R, np.int64)
    rmk = np.zeros(R, np.int64)
    for r, rid in enumerate(routes):
        rt = s.routes[rid]
        rmk[r] = mi[rt.destination]
        if rt.via:
            via[r] = ci[rt.via]
            seq = [(origin, EXPORT, 0), (rt.via, IMPORT, rt.leg1_steps), (rt.via, EXPORT, rt.leg1_steps),
                   (rt.destination, IMPORT, rt.leg1_steps + rt.leg2_steps)]
        else:
            seq = [(origin, EXPORT, 0), (rt.destination, IMPORT, rt.leg1_steps)]
        for j, (c, kind, off) in enumerate(seq):
            route_cp[r, j] = cp(c, kind)
            offs[r, j] = off
            consignee = ci[rt.via] if (rt.via and j == 0) else (ci[c] if kind == IMPORT else ci[rt.destination])
            if (route_cp[r, j], consignee) not in lanes:
                lanes.append((route_cp[r, j], consignee))
            route_lane[r, j] = lanes.index((route_cp[r, j], consignee))
        ncp[r] = len(seq)

    sups = list(s.suppliers)
    S, M = len(sups), len(markets)
    serves = np.zeros((S, M), bool)
    lag = np.zeros((S, M), np.int64)
    wk_per_step = s.days_per_step / 7.0
    for i, sid in enumerate(sups):
        sp = s.suppliers[sid]
        for mkt in sp.sales_t_per_year:
            m = mi[mkt]
            serves[i, m] = True
            weeks = 0 if mkt == sp.country else sp.shipping_weeks_to.get(mkt, sp.shipping_weeks)
            lag[i, m] = int(round(weeks / wk_per_step))

    # ---- declaration cells ---------------------------------------------------------
    cells: dict[tuple[int, int, int, int, bool], int] = {}

    def cell(c: int, cat: int, o: int, d: int, low: bool) -> int:
        return cells.setdefault((c, cat, o, d, bool(low)), len(cells))

    nK = len(K)
    cover_of = [nK + COVERS.index(s.commodities[k].cover_category) for k in K]
    decl = -np.ones((nK, R, MAX_CP, len(METHODS)), np.int64)
    for k in range(nK):
        for r in range(R):
            for j in range(ncp[r]):
                for m in range(len(METHODS)):
                    if TRANSIT_ONLY[m] and via[r] < 0:
                        continue
                    cat, o, d, low = _declaration(k, ci[origin], via[r], ci[markets[rmk[r]]], j, ncp[r], m, cover_of, nK)
                    decl[k, r, j, m] = cell(route_cp[r, j], cat, o, d, low)
    # legit commodity flows: origin exports at the origin's export checkpoint, arrivals at import checkpoints
    fc: list[tuple[int, int, int, int]] = []
    cp_of = {key: i for i, key in enumerate(cps)}
    origin_export = cp_of.get((ci[origin], EXPORT))
    for i, sid in enumerate(sups):
        sp = s.suppliers[sid]
        k = K.index(sp.commodity)
        for mkt in sp.sales_t_per_year:
            m = mi[mkt]
            if mkt == sp.country:
                continue
            if sp.country == origin and origin_export is not None:
                for low in (False, True):
                    fc.append((cell(origin_export, k, ci[origin], ci[mkt], low), i, m, 0))
            imp = cp_of.get((ci[mkt], IMPORT))
            if imp is not None:
                for low in (False, True):
                    fc.append((cell(imp, k, ci[sp.country], ci[mkt], low), i, m, 1))
    hc: list[tuple[int, int, int]] = []
    for h, hub in enumerate(transits):
        for kk in s.countries[hub].baseline_imports_t_per_year:
            k = K.index(kk)
            for key in ((ci[origin], EXPORT), (ci[hub], IMPORT)):
                if key in cp_of:
                    hc.append((cell(cp_of[key], k, ci[origin], ci[hub], False), h, k))
    # other goods: at an export checkpoint declared from its country to every partner, at an import
    # checkpoint from every partner to its country
    for c, (country, kind) in enumerate(cps):
        for cov in range(len(COVERS)):
            for y in range(len(C)):
                if y != country:
                    o, d = (country, y) if kind == EXPORT else (y, country)
                    cell(c, nK + cov, o, d, False)
    keys = sorted(cells, key=cells.get)
    arr = np.array(keys, dtype=np.int64).reshape(-1, 5)
    hub_idx = -np.ones(len(C), np.int64)
    for h, hub in enumerate(transits):
        hub_idx[ci[hub]] = h
    mkt_idx = -np.ones(len(C), np.int64)
    for m, c in enumerate(markets):
        mkt_idx[ci[c]] = m
    fc_a = np.array(fc, np.int64).reshape(-1, 4)
    hc_a = np.array(hc, np.int64).reshape(-1, 3)
    return Layout(
        commodities=K, countries=C, origin=ci[origin], markets=markets, market_of_country=mkt_idx,
        transits=transits, hub_of_country=hub_idx, suppliers=sups,
        sup_country=np.array([ci[s.suppliers[x].country] for x in sups], np.int64),
        sup_k=np.array([K.index(s.suppliers[x].commodity) for x in sups], np.int64),
        sup_origin=np.array([s.suppliers[x].country == origin for x in sups], bool),
        sup_serves=serves, sup_lag=lag,
        routes=routes, route_market=rmk, route_via=via, route_cp=route_cp, route_cp_offset=offs,
        route_ncp=ncp, cp_country=np.array([c for c, _ in cps], np.int64),
        cp_kind=np.array([k for _, k in cps], np.int64),
        cp_names=[f"{C[c]}:{'export' if k == EXPORT else 'import'}" for c, k in cps],
        route_lane=route_lane,
        lane_country=np.array([cps[c][0] for c, _ in lanes], np.int64),
        lane_names=[f"{C[cps[c][0]]}:{'export>' + C[d] if cps[c][1] == EXPORT else 'import'}" for c, d in lanes],
        categories=K + list(COVERS),
        cell_cp=arr[:, 0].copy(), cell_cat=arr[:, 1].copy(), cell_origin=arr[:, 2].copy(),
        cell_consignee=arr[:, 3].copy(), cell_low=arr[:, 4].astype(bool),
        decl_cell=decl,
        flow_cells=(fc_a[:, 0].copy(), fc_a[:, 1].copy(), fc_a[:, 2].copy(), fc_a[:, 3].copy()),
        hub_cells=(hc_a[:, 0].copy(), hc_a[:, 1].copy(), hc_a[:, 2].copy()),
        cover_cells=arr[:, 1] >= nK,
    )


@dataclass
class Params:
    """Every number the step uses, in model units. Rebuilt when an event fires."""

    wk: float                       # weeks per step
    # markets [M, K]
    P0: np.ndarray
    D0: np.ndarray                  # t/step at P0 (reference)
    demand_index: np.ndarray
    eps: np.ndarray                 # [K]
    eps_sub: np.ndarray             # [K]
    backstop: np.ndarray            # USD/kg
    stock_target: np.ndarray        # t
    hoard_target: np.ndarray        # t of extra target when controls withhold all the origin's exports (origin: 0)
    origin_export_share: np.ndarray  # [M, K] share of the origin's reference exports going to each market
    restock: np.ndarray
    buffer_share: np.ndarray
    defense_share: np.ndarray
    gray_share: np.ndarray
    gray_discount: np.ndarray
    gray_elasticity: np.ndarray
    gray_floor: np.ndarray
    floor: np.ndarray               # USD/kg guard
    guard: np.ndarray               # USD/kg guard
    container_kg: np.ndarray        # [K]
    typical_value: np.ndarray       # [K] USD/kg
    # suppliers [S] and [S, M]
    ref_flow: np.ndarray            # [S, M] t/step
    ref_share: np.ndarray           # [S, M]
    freight_sm: np.ndarray          # [S, M] USD/kg
    ref_netback: np.ndarray         # [S, M] USD/kg
    ref_avg_netback: np.ndarray     # [S] USD/kg, weighted by reference shares
    Q0: np.ndarray                  # [S] t/step reference output incl. hub baselines
    hub_part: np.ndarray            # [S] t/step of hubs' baseline imports it ships (origin suppliers)
    capacity0: np.ndarray           # [S] t/step
    unit_cost: np.ndarray
    supply_elasticity: np.ndarray
    supply_adjustment: np.ndarray   # per step
    disruption: np.ndarray
    hurdle: np.ndarray
    expansion: np.ndarray           # t/step
    lead: np.ndarray                # steps
    whistle: np.ndarray             # bool
    tip_rate: np.ndarray            # tips/step at 100 % gray share
    tip_to: np.ndarray              # country index, -1
    trade_elasticity: float         # sigma
    contract_speed: float           # kappa per step
    price_expectation: float        # weight of the latest price in suppliers' planning prices, per step
    # hubs [H, K]
    hub_baseline: np.ndarray        # t/step
    import_cap: np.ndarray          # t/yr, inf if none
    commission_c: np.ndarray        # [C]
    # routes [R] and methods [6]
    freight: np.ndarray
    commission: np.ndarray
    method_cost: np.ndarray
    # checkpoints [NCP]
    cp_capacity: np.ndarray         # containers/step
    cp_detect: np.ndarray           # [NCP, 6] detection given inspection
    cp_coop: np.ndarray             # cooperation at the checkpoint
    cell_coop: np.ndarray           # [NCELL] cooperation that applies to a declaration (re-exports at hubs)
    cp_random_share: np.ndarray
    cp_corruption: np.ndarray
    cp_learn_w: np.ndarray
    cp_memory: np.ndarray           # per step
    cp_hit_prior: np.ndarray
    cp_value_w: np.ndarray
    cp_low_share: np.ndarray
    cp_restricted_w: np.ndarray
    cp_licence_w: np.ndarray
    cp_anomaly_w: np.ndarray
    cp_anomaly_on: np.ndarray       # bool: trade_anomaly tech active
    cp_anomaly_thr: np.ndarray
    cp_tip_w: np.ndarray
    cp_tip_steps: np.ndarray
    agency_tips: np.ndarray         # [C] investigation tips per step, by country
    cp_cost: np.ndarray             # USD per inspected container
    cp_fixed_cost: np.ndarray       # USD per step
    cover_n: np.ndarray             # [NCELL] containers of other goods per step
    origin_trace_tags: bool
    # penalties
    fine_multiple: float
    arrest_prob: float
    sentence_steps: int
    # smugglers' behaviour
    temperature: float
    ready_prob: float               # per step
    price_learning: float           # per step
    public_price_learning: float    # per step
    risk_averse: bool
    learning: bool
    forgetting: float
    network_share: float
    public_share: float
    sentence_cost: float            # USD for one sentence
    entry_max: float                # smugglers/step
    entry_profit_ref: float
    # exporters
    divertible_share: float
    compliance_cost: np.ndarray     # [E] USD/kg, quantiles of a log-normal
    trace_prob: float               # per step while diverting (incl. trace tags)
    penalty_multiple: float
    licence_loss: float             # USD/kg
    blacklist_steps: int
    gray_price_speed: float         # max log change of W per step


def customs_of(s: Scenario, country: str) -> Customs:
    return s.customs.get(country, Customs())


def detection_matrix(eff: dict[str, dict[str, float]], techs: list[str]) -> np.ndarray:
    """d[m] = 1 - prod over active techs t of (1 - eff[t, m])."""
    miss = np.ones(len(METHODS))
    for t in techs:
        miss *= 1.0 - np.array([eff[t][m] for m in METHODS])
    return 1.0 - miss


def per_step(rate_per_week: float, wk: float) -> float:
    """A share of a gap closed per week, as a share per step of `wk` weeks."""
    return 1.0 - (1.0 - rate_per_week) ** wk


def _normal_quantiles(n: int) -> np.ndarray:
    """Standard normal quantiles at (i + 0.5) / n (firms at the quantiles of a log-normal)."""
    from statistics import NormalDist
    nd = NormalDist()
    return np.array([nd.inv_cdf((i + 0.5) / n) for i in range(n)])


def build_params(s: Scenario, L: Layout) -> Params:
    wk = s.days_per_step / 7.0            # weeks per step
    yr = s.days_per_step / 365.25         # years per step
    K, M, S = L.K, L.M, L.S
    mk = [[s.markets[c][k] for k in L.commodities] for c in L.markets]

    def grid(attr: str) -> np.ndarray:
        return np.array([[getattr(x, attr) for x in row] for row in mk], float)

    P0 = grid("ref_price_usd_kg")
    D0 = np.array([[s.demand(c, k) for k in L.commodities] for c in L.markets]) * yr
    ref_flow = np.zeros((S, M))
    freight_sm = np.zeros((S, M))
    hub_part = np.zeros(S)
    H = len(L.transits)
    hub_base = np.zeros((H, K))
    icap = np.full((H, K), np.inf)
    for h, hub in enumerate(L.transits):
        ct = s.countries[hub]
        for k, v in ct.baseline_imports_t_per_year.items():
            hub_base[h, L.commodities.index(k)] = v * yr
        for k, v in ct.import_cap_t_per_year.items():
            icap[h, L.commodities.index(k)] = v
    for i, sid in enumerate(L.suppliers):
        sp = s.suppliers[sid]
        for mkt, q in sp.sales_t_per_year.items():
            m = L.markets.index(mkt)
            ref_flow[i, m] = q * yr
            freight_sm[i, m] = 0.0 if mkt == sp.country else sp.freight_usd_kg_to.get(mkt, sp.freight_usd_kg)
    # hubs' baseline imports are shipped by the origin's suppliers of that commodity, pro rata
    for k in range(K):
        origin_sups = np.flatnonzero(L.sup_origin & (L.sup_k == k))
        out = ref_flow[origin_sups].sum(axis=1)
        if len(origin_sups) and out.sum() > 0:
            hub_part[origin_sups] = hub_base[:, k].sum() * out / out.sum()
    exports = np.zeros((M, K))                                    # the origin's reference exports by market
    np.add.at(exports.T, L.sup_k[L.sup_origin], ref_flow[L.sup_origin])
    exports[0] = 0.0
    export_share = np.divide(exports, exports.sum(axis=0), out=np.zeros_like(exports), where=exports.sum(axis=0) > 0)
    hoard = np.array([s.commodities[k].precautionary_cover_days for k in L.commodities]) / s.days_per_step * D0
    hoard[0] = 0.0                                                # the origin's buyers are not cut off
    sales = ref_flow.sum(axis=1)
    share = np.divide(ref_flow, sales[:, None], out=np.zeros_like(ref_flow), where=sales[:, None] > 0)
    P0_sm = P0[:, L.sup_k].T                                      # [S, M] reference price where it sells
    ref_netback = np.where(L.sup_serves, P0_sm - freight_sm, 0.0)
    Q0 = sales + hub_part
    sp_list = [s.suppliers[x] for x in L.suppliers]
    cap0 = np.array([(p.capacity_t_per_year * yr if p.capacity_t_per_year is not None else 1.25 * q)
                     for p, q in zip(sp_list, Q0)])

    freight = np.array([s.routes[r].freight_usd_kg for r in L.routes])
    commission_c = np.array([s.countries[c].commission if "transit" in s.countries[c].roles else 0.0
                             for c in L.countries])
    commission = np.where(L.route_via >= 0, commission_c[np.maximum(L.route_via, 0)], 0.0)
    cust = [customs_of(s, L.countries[c]) for c in L.cp_country]
    coop = []
    for c, kind in zip(L.cp_country, L.cp_kind):
        ct = s.countries[L.countries[c]]
        if c == L.origin or ("transit" in ct.roles and kind == IMPORT):
            coop.append(1.0)      # the origin enforces its own controls; hubs inspect imports as usual
        else:
            coop.append(ct.cooperation)
    coop = np.array(coop)
    # at a hub's export checkpoint cooperation scales only the checks on re-exports of origin goods
    # (declared origin: the origin); its own exports are inspected as usual
    hub_export = (L.cp_kind == EXPORT) & (L.hub_of_country[L.cp_country] >= 0)
    cell_coop = np.where(hub_export[L.cell_cp] & (L.cell_origin != L.origin), 1.0, coop[L.cell_cp])
    # other goods per cell: containers/step of each cover category, spread over partner countries
    cover_n = np.zeros(L.NCELL)
    weight = np.array([s.countries[c].trade_weight for c in L.countries])
    covers = L.categories[K:]
    for i in np.flatnonzero(L.cover_cells):
        c = L.cell_cp[i]
        home = L.cp_country[c]
        kind = "export" if L.cp_kind[c] == EXPORT else "import"
        cu = cust[c]
        mix = cu.traffic_mix if cu.traffic_mix is not None else DEFAULT_MIX[kind]
        partner = L.cell_consignee[i] if kind == "export" else L.cell_origin[i]
        own = L.cell_origin[i] if kind == "export" else L.cell_consignee[i]
        total_w = weight.sum() - weight[home]
        if total_w > 0 and own == home:   # other goods leave as the country's own, arrive as its own
            cover_n[i] = (cu.legit_containers_per_week * wk * mix.get(covers[L.cell_cat[i] - K], 0.0)
                          * weight[partner] / total_w)
    sm, ex = s.smugglers, s.exporters
    oc = customs_of(s, L.countries[L.origin])
    origin_tags = "trace_tags" in oc.technologies
    tv = [s.commodities[k].typical_value_usd_kg or s.markets[s.origin][k].ref_price_usd_kg for k in L.commodities]
    return Params(
        wk=wk, P0=P0, D0=D0,
        demand_index=grid("demand_index") * np.array([s.commodities[k].demand_index for k in L.commodities]),
        eps=np.array([s.commodities[k].elasticity for k in L.commodities]),
        eps_sub=np.array([s.commodities[k].substitution_elasticity for k in L.commodities]),
        backstop=grid("backstop_index") * P0,
        stock_target=grid("stock_cover_days") / s.days_per_step * D0, restock=grid("restock_speed"),
        hoard_target=hoard, origin_export_share=export_share,
        buffer_share=grid("buffer_share"), defense_share=grid("defense_share"),
        gray_share=grid("gray_share"), gray_discount=grid("gray_discount"),
        gray_elasticity=grid("gray_elasticity"), gray_floor=grid("gray_floor"),
        floor=grid("price_floor_index") * P0, guard=grid("price_guard_index") * P0,
        container_kg=np.array([s.commodities[k].container_load_kg for k in L.commodities]),
        typical_value=np.array(tv, float),
        ref_flow=ref_flow, ref_share=share, freight_sm=freight_sm, ref_netback=ref_netback, Q0=Q0,
        ref_avg_netback=(share * ref_netback).sum(axis=1),
        hub_part=hub_part, capacity0=cap0,
        unit_cost=np.array([p.unit_cost_usd_kg for p in sp_list]),
        supply_elasticity=np.array([p.supply_elasticity for p in sp_list]),
        supply_adjustment=np.array([per_step(p.supply_adjustment, wk) for p in sp_list]),
        disruption=np.array([p.disruption for p in sp_list]),
        hurdle=np.array([p.hurdle for p in sp_list]),
        expansion=np.array([p.expansion_t_per_year * yr for p in sp_list]),
        lead=np.array([round(p.lead_time_years / yr) for p in sp_list], np.int64),
        whistle=np.array([p.whistleblower for p in sp_list], bool),
        tip_rate=np.array([p.tip_rate_per_year * yr for p in sp_list]),
        tip_to=np.array([L.countries.index(p.tip_to) if p.tip_to in L.countries else -1 for p in sp_list], np.int64),
        trade_elasticity=s.trade.elasticity, contract_speed=per_step(s.trade.contract_speed, wk),
        price_expectation=per_step(s.trade.price_expectation_speed, wk),
        hub_baseline=hub_base, import_cap=icap, commission_c=commission_c,
        freight=freight, commission=commission,
        method_cost=np.array([s.methods[m].cost_usd_kg for m in METHODS]),
        cp_capacity=np.array([c.capacity_per_week * wk for c in cust]),
        cp_detect=np.array([detection_matrix(s.eff, c.technologies) for c in cust]).reshape(len(cust), len(METHODS)),
        cp_coop=coop, cell_coop=cell_coop, cp_random_share=np.array([c.random_share for c in cust]),
        cp_corruption=np.array([c.corruption for c in cust]),
        cp_learn_w=np.array([c.learn_weight for c in cust]),
        cp_memory=np.array([c.hit_rate_memory ** wk for c in cust]),
        cp_hit_prior=np.array([c.hit_rate_prior for c in cust]),
        cp_value_w=np.array([c.value_anomaly_weight for c in cust]),
        cp_low_share=np.array([c.legit_low_value_share for c in cust]),
        cp_restricted_w=np.array([c.restricted_weight for c in cust]),
        cp_licence_w=np.array([c.licence_weight for c in cust]),
        cp_anomaly_w=np.array([c.anomaly_weight for c in cust]),
        cp_anomaly_on=np.array(["trade_anomaly" in c.technologies for c in cust], bool),
        cp_anomaly_thr=np.array([c.anomaly_threshold for c in cust]),
        cp_tip_w=np.array([c.tip_weight for c in cust]),
        cp_tip_steps=np.array([max(1, round(c.tip_duration_weeks / wk)) for c in cust], np.int64),
        agency_tips=np.array([customs_of(s, c).investigation_tips_per_week * wk for c in L.countries]),
        cp_cost=np.array([c.cost_per_inspection_usd for c in cust]),
        cp_fixed_cost=np.array([c.capacity_cost_usd_per_year * c.capacity_per_week * yr for c in cust]),
        cover_n=cover_n, origin_trace_tags=origin_tags,
        fine_multiple=s.penalties.fine_multiple, arrest_prob=s.penalties.arrest_prob,
        sentence_steps=int(math.ceil(s.penalties.sentence_years / yr)),
        temperature=sm.temperature_usd if sm.logit else 0.0,
        ready_prob=min(1.0, sm.trips_per_week * wk),
        price_learning=per_step(sm.price_learning, wk),
        public_price_learning=per_step(sm.public_price_learning, wk),
        risk_averse=sm.risk_averse, learning=sm.learning, forgetting=sm.forgetting,
        network_share=sm.network_share, public_share=sm.public_share,
        sentence_cost=s.penalties.sentence_years * sm.freedom_value_usd_per_year,
        entry_max=sm.entry_max_per_year * yr, entry_profit_ref=sm.entry_profit_ref_usd,
        divertible_share=ex.divertible_share,
        compliance_cost=ex.compliance_cost_usd_kg * np.exp(ex.compliance_spread * _normal_quantiles(ex.count)),
        trace_prob=min(1.0, ex.trace_prob + (ex.trace_tags_trace_prob if origin_tags else 0.0)),
        penalty_multiple=ex.penalty_multiple, licence_loss=ex.licence_loss_usd_kg,
        blacklist_steps=int(round(ex.blacklist_weeks / wk)),
        gray_price_speed=ex.gray_price_speed * wk,
    )


@dataclass
class ControlState:
    """The origin's control regime in force for each destination or hub country and commodity."""

    regime: np.ndarray           # [C, K] OPEN, LICENSE or BAN
    allowed: np.ndarray          # [C, K] share of intended exports that may ship (approval x non-military)
    delay: np.ndarray            # [C, K] steps a licence takes
    quota: np.ndarray            # [C, K] t/yr
    friction: np.ndarray         # [C, K] USD/kg
    extraterritorial: np.ndarray  # [C, K] bool
    military_blocked: np.ndarray  # [C, K] bool: military users get no origin goods

    @property
    def restricted(self) -> np.ndarray:
        return self.regime != OPEN


def controls_at(s: Scenario, L: Layout, step: int) -> ControlState:
    """Later controls in the file override earlier ones for the same (commodity, country)."""
    C, K = len(L.countries), L.K
    regime = np.zeros((C, K), np.int64)
    allowed = np.ones((C, K))
    delay = np.zeros((C, K), np.int64)
    quota = np.full((C, K), np.inf)
    friction = np.zeros((C, K))
    extra = np.zeros((C, K), bool)
    blocked = np.zeros((C, K), bool)
    for c in s.controls.values():
        if step < s.control_step(c):
            continue
        for ci, country in enumerate(L.countries):
            if ci == L.origin or c.destination not in ("all", country):
                continue
            for k in range(K):
                if c.commodity not in ("all", L.commodities[k]):
                    continue
                regime[ci, k] = REGIME_CODE[c.regime]
                lic = c.regime == "license"
                allowed[ci, k] = 1.0 if c.regime == "open" else ((1 - c.military_share) * c.approval_rate if lic else 0.0)
                delay[ci, k] = c.delay_steps if lic else 0
                quota[ci, k] = (c.quota_t_per_year if c.quota_t_per_year is not None else np.inf) if lic else np.inf
                friction[ci, k] = c.friction_usd_kg if lic else 0.0
                extra[ci, k] = c.extraterritorial and c.regime != "open"
                blocked[ci, k] = c.regime == "ban" or (lic and c.military_share > 0)
    return ControlState(regime, allowed, delay, quota, friction, extra, blocked)


REGIME_CODE = {"open": OPEN, "license": LICENSE, "ban": BAN}
