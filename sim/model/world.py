"""Compile a validated Scenario into index maps and numpy parameter arrays.

`Layout` is the fixed shape of the world (countries, markets, checkpoints, routes);
`Params` holds every number the step needs, converted to model units (t/step, USD/kg,
steps). An event rebuilds `Params` from the updated scenario; the layout never changes
during a run, so state arrays keep their shapes.

Units: quantities in tonnes (t), prices in USD/kg, money in USD, time in steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.scenario.schema import METHODS, Customs, Scenario

IMPORT, EXPORT = 0, 1
OPEN, LICENSE, BAN = 0, 1, 2
M_FALSE_END_USER, M_MISLABEL, M_MIX_SCRAP, M_SHIELDED, M_UNDERVALUE, M_RELABEL = range(6)
MAX_CP = 4  # checkpoints on a route: origin export, transit import, transit export, destination import


@dataclass
class Layout:
    """Index maps. Market 0 is the origin's domestic market, markets 1.. the destinations."""

    commodities: list[str]
    countries: list[str]
    origin: int                      # country index
    markets: list[str]               # country ids, origin first
    transits: list[str]
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
    producers: list[str]
    producer_market: np.ndarray      # [P] market index
    producer_commodity: np.ndarray   # [P]
    lead_steps: np.ndarray           # [M] steps for legal goods origin -> market (0 for origin)

    @property
    def K(self) -> int:
        return len(self.commodities)

    @property
    def M(self) -> int:
        return len(self.markets)

    @property
    def R(self) -> int:
        return len(self.routes)

    @property
    def NCP(self) -> int:
        return len(self.cp_names)


def build_layout(s: Scenario) -> Layout:
    K = list(s.commodities)
    C = list(s.countries)
    ci = {c: i for i, c in enumerate(C)}
    origin = s.origin
    markets = [origin] + s.ids("destination")
    mi = {c: i for i, c in enumerate(markets)}
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
            # smugglers tell apart exports declared to a hub from exports declared to the destination
            consignee = ci[rt.via] if (rt.via and j == 0) else (ci[c] if kind == IMPORT else ci[rt.destination])
            if (route_cp[r, j], consignee) not in lanes:
                lanes.append((route_cp[r, j], consignee))
            route_lane[r, j] = lanes.index((route_cp[r, j], consignee))
        ncp[r] = len(seq)
    lead = np.zeros(len(markets), np.int64)
    for d in markets[1:]:
        direct = [rt.leg1_steps for rt in s.routes.values() if rt.destination == d and not rt.via]
        lead[mi[d]] = min(direct) if direct else 2
    prods = list(s.producers)
    return Layout(
        commodities=K, countries=C, origin=ci[origin], markets=markets, transits=s.ids("transit"),
        routes=routes, route_market=rmk, route_via=via, route_cp=route_cp, route_cp_offset=offs,
        route_ncp=ncp, cp_country=np.array([c for c, _ in cps], np.int64),
        cp_kind=np.array([k for _, k in cps], np.int64),
        cp_names=[f"{C[c]}:{'export' if k == EXPORT else 'import'}" for c, k in cps],
        route_lane=route_lane,
        lane_country=np.array([cps[c][0] for c, _ in lanes], np.int64),
        lane_names=[f"{C[cps[c][0]]}:{'export>' + C[d] if cps[c][1] == EXPORT else 'import'}" for c, d in lanes],
        producers=prods,
        producer_market=np.array([mi[s.producers[p].market] for p in prods], np.int64),
        producer_commodity=np.array([K.index(s.producers[p].commodity) for p in prods], np.int64),
        lead_steps=lead,
    )


@dataclass
class Params:
    """Every number the step uses, in model units. Rebuilt when an event fires."""

    # markets [M, K]
    P0: np.ndarray
    D0: np.ndarray                  # t/step
    eps: np.ndarray                 # [K]
    stock_target: np.ndarray        # t
    stock_initial: np.ndarray       # t
    price_initial: np.ndarray       # USD/kg
    restock: np.ndarray
    buffer_share: np.ndarray
    defense_share: np.ndarray
    gray_share: np.ndarray
    gray_discount: np.ndarray
    floor: np.ndarray
    cap: np.ndarray
    F0: np.ndarray                  # legal imports from origin before controls, t/step (dest rows)
    other_supply: np.ndarray        # uncontrolled imports from the rest of the world, t/step
    hub_imports: np.ndarray         # [C, K] transit countries' own imports from origin, t/step
    origin_output: np.ndarray       # [K] t/step
    import_cap: np.ndarray          # [C, K] t/yr, inf if none
    container_kg: np.ndarray        # [K]
    # producers [P]
    prod_capacity: np.ndarray       # t/step (initial; state carries expansions)
    prod_cost: np.ndarray
    prod_hurdle: np.ndarray
    prod_expansion: np.ndarray      # t/step
    prod_lead: np.ndarray           # steps
    prod_whistle: np.ndarray        # bool
    prod_tip_rate: np.ndarray       # tips/step at 100 % gray share
    prod_tip_to: np.ndarray         # country index, -1
    # routes [R] and methods [6]
    freight: np.ndarray
    commission: np.ndarray
    method_cost: np.ndarray
    method_declares: np.ndarray
    method_transit_only: np.ndarray
    # checkpoints [NCP]
    cp_capacity: np.ndarray         # containers/step
    cp_legit: np.ndarray            # containers/step
    cp_detect: np.ndarray           # [NCP, 6] detection given inspection
    cp_coop: np.ndarray
    cp_random_share: np.ndarray
    cp_corruption: np.ndarray
    cp_learning_rate: np.ndarray
    cp_learn_w: np.ndarray
    cp_value_w: np.ndarray
    cp_restricted_w: np.ndarray
    cp_anomaly_w: np.ndarray
    cp_anomaly_on: np.ndarray       # bool: trade_anomaly tech active
    cp_anomaly_thr: np.ndarray
    cp_tip_w: np.ndarray
    cp_tip_steps: np.ndarray
    cp_cost: np.ndarray             # USD per inspected container
    origin_trace_tags: bool
    # penalties
    fine_multiple: float
    arrest_prob: float
    sentence_steps: int
    # smugglers' behaviour
    temperature: float
    ready_prob: float               # per step
    price_learning: float           # per step
    logit: bool
    risk_averse: bool
    learning: bool
    forgetting: float
    network_share: float
    public_share: float
    sentence_cost: float            # USD for one sentence
    entry_max: float                # smugglers/step
    entry_profit_ref: float
    # exporters
    gray_markup: float
    divertible_share: float
    supply_elasticity: float
    supply_adjustment: float
    trace_tag_compliance: float


def _customs(s: Scenario, country: str) -> Customs:
    return s.customs.get(country, Customs())


def detection_matrix(eff: dict[str, dict[str, float]], techs: list[str]) -> np.ndarray:
    """d[m] = 1 - prod over active techs t of (1 - eff[t, m])."""
    miss = np.ones(len(METHODS))
    for t in techs:
        miss *= 1.0 - np.array([eff[t][m] for m in METHODS])
    return 1.0 - miss


def build_params(s: Scenario, L: Layout) -> Params:
    wk = s.days_per_step / 7.0            # weeks per step
    yr = s.days_per_step / 365.25         # years per step
    K, M = L.K, L.M
    mk = [[s.markets[c][k] for k in L.commodities] for c in L.markets]

    def grid(attr: str) -> np.ndarray:
        return np.array([[getattr(x, attr) for x in row] for row in mk], float)

    D0 = grid("ref_demand_t_per_year") * yr
    F0 = grid("imports_from_origin_t_per_year") * yr
    F0[0] = 0.0
    prod_cap = np.zeros(len(L.producers))
    cap_by_mk = np.zeros((M, K))
    for i, pid in enumerate(L.producers):
        prod_cap[i] = s.producers[pid].capacity_t_per_year * yr
        cap_by_mk[L.producer_market[i], L.producer_commodity[i]] += prod_cap[i]
    other = np.maximum(D0 - F0 - cap_by_mk, 0.0)
    other[0] = 0.0
    C = len(L.countries)
    hub = np.zeros((C, K))
    icap = np.full((C, K), np.inf)
    for ci, c in enumerate(L.countries):
        ct = s.countries[c]
        for k, v in ct.baseline_imports_t_per_year.items():
            hub[ci, L.commodities.index(k)] = v * yr
        for k, v in ct.import_cap_t_per_year.items():
            icap[ci, L.commodities.index(k)] = v
    origin_output = D0[0] + F0[1:].sum(axis=0) + hub.sum(axis=0)

    freight = np.array([s.routes[r].freight_usd_kg for r in L.routes])
    commission = np.array([s.countries[s.routes[r].via].commission if s.routes[r].via else 0.0 for r in L.routes])
    cust = [_customs(s, L.countries[c]) for c in L.cp_country]
    coop = np.array([1.0 if c == L.origin else s.countries[L.countries[c]].cooperation for c in L.cp_country])
    pr = list(s.producers.values())
    ci_of = {c: i for i, c in enumerate(L.countries)}
    sm = s.smugglers
    oc = _customs(s, L.countries[L.origin])
    return Params(
        P0=grid("ref_price_usd_kg"), D0=D0, eps=np.array([s.commodities[k].elasticity for k in L.commodities]),
        stock_target=grid("stock_cover_days") / s.days_per_step * D0, restock=grid("restock_speed"),
        price_initial=grid("initial_price_index") * grid("ref_price_usd_kg"),
        stock_initial=np.array([[x.stock_cover_days if x.initial_stock_days is None else x.initial_stock_days
                                 for x in row] for row in mk]) / s.days_per_step * D0,
        buffer_share=grid("buffer_share"), defense_share=grid("defense_share"),
        gray_share=grid("gray_share"), gray_discount=grid("gray_discount"), floor=grid("price_floor"),
        cap=grid("price_cap"), F0=F0, other_supply=other, hub_imports=hub, origin_output=origin_output,
        import_cap=icap, container_kg=np.array([s.commodities[k].container_load_kg for k in L.commodities]),
        prod_capacity=prod_cap, prod_cost=np.array([p.unit_cost_usd_kg for p in pr]),
        prod_hurdle=np.array([p.hurdle for p in pr]),
        prod_expansion=np.array([p.expansion_t_per_year * yr for p in pr]),
        prod_lead=np.array([round(p.lead_time_years / yr) for p in pr], np.int64),
        prod_whistle=np.array([p.whistleblower for p in pr], bool),
        prod_tip_rate=np.array([p.tip_rate_per_year * yr for p in pr]),
        prod_tip_to=np.array([ci_of.get(p.tip_to, -1) for p in pr], np.int64),
        freight=freight, commission=commission,
        method_cost=np.array([s.methods[m].cost_usd_kg for m in METHODS]),
        method_declares=np.array([s.methods[m].declares_commodity for m in METHODS], bool),
        method_transit_only=np.array([s.methods[m].transit_only for m in METHODS], bool),
        cp_capacity=np.array([c.capacity_per_week * wk for c in cust]),
        cp_legit=np.array([c.legit_containers_per_week * wk for c in cust]),
        cp_detect=np.array([detection_matrix(s.eff, c.technologies) for c in cust]).reshape(len(cust), len(METHODS)),
        cp_coop=coop, cp_random_share=np.array([c.random_share for c in cust]),
        cp_corruption=np.array([c.corruption for c in cust]),
        cp_learning_rate=np.array([c.learning_rate for c in cust]),
        cp_learn_w=np.array([c.learn_weight for c in cust]),
        cp_value_w=np.array([c.value_anomaly_weight for c in cust]),
        cp_restricted_w=np.array([c.restricted_weight for c in cust]),
        cp_anomaly_w=np.array([c.anomaly_weight for c in cust]),
        cp_anomaly_on=np.array(["trade_anomaly" in c.technologies for c in cust], bool),
        cp_anomaly_thr=np.array([c.anomaly_threshold for c in cust]),
        cp_tip_w=np.array([c.tip_weight for c in cust]),
        cp_tip_steps=np.array([max(1, round(c.tip_duration_weeks / wk)) for c in cust], np.int64),
        cp_cost=np.array([c.cost_per_inspection_usd for c in cust]),
        origin_trace_tags="trace_tags" in oc.technologies,
        fine_multiple=s.penalties.fine_multiple, arrest_prob=s.penalties.arrest_prob,
        sentence_steps=int(math.ceil(s.penalties.sentence_years / yr)),
        temperature=sm.temperature_usd if sm.logit else 0.0,
        ready_prob=min(1.0, sm.trips_per_week * s.days_per_step / 7.0),
        price_learning=1.0 - (1.0 - sm.price_learning) ** (s.days_per_step / 7.0), logit=sm.logit and sm.temperature_usd > 0,
        risk_averse=sm.risk_averse, learning=sm.learning, forgetting=sm.forgetting,
        network_share=sm.network_share, public_share=sm.public_share,
        sentence_cost=s.penalties.sentence_years * sm.freedom_value_usd_per_year,
        entry_max=sm.entry_max_per_year * yr, entry_profit_ref=sm.entry_profit_ref_usd,
        gray_markup=s.exporters.gray_markup, divertible_share=s.exporters.divertible_share,
        supply_elasticity=s.exporters.supply_elasticity, supply_adjustment=s.exporters.supply_adjustment,
        trace_tag_compliance=s.exporters.trace_tag_compliance,
    )


@dataclass
class ControlState:
    """The control regime in force for each (market, commodity) at one step."""

    export_share: np.ndarray     # [M, K] share of F0 exported legally this step
    restricted: np.ndarray       # [M, K] bool: regime is license or ban
    extraterritorial: np.ndarray  # [M, K] bool
    quota: np.ndarray            # [M, K] t/yr
    military_blocked: np.ndarray  # [M, K] bool: military users get no origin goods (ban, or licences exclude them)


def controls_at(s: Scenario, L: Layout, step: int) -> ControlState:
    """Later controls in the file override earlier ones for the same (commodity, destination)."""
    M, K = L.M, L.K
    share = np.ones((M, K))
    restricted = np.zeros((M, K), bool)
    extra = np.zeros((M, K), bool)
    quota = np.full((M, K), np.inf)
    blocked = np.zeros((M, K), bool)
    for c in s.controls.values():
        start = s.control_step(c)
        if step < start:
            continue
        for m in range(1, M):
            if c.destination not in ("all", L.markets[m]):
                continue
            for k in range(K):
                if c.commodity not in ("all", L.commodities[k]):
                    continue
                restricted[m, k] = c.regime != "open"
                extra[m, k] = c.extraterritorial and c.regime != "open"
                quota[m, k] = c.quota_t_per_year if c.regime == "license" else np.inf
                blocked[m, k] = c.regime == "ban" or (c.regime == "license" and c.military_share > 0)
                if c.regime == "open":
                    share[m, k] = 1.0
                elif c.regime == "ban":
                    share[m, k] = 0.0
                else:  # licences come through `delay_steps` after the control starts
                    share[m, k] = 0.0 if step < start + c.delay_steps else (1 - c.military_share) * c.approval_rate
    return ControlState(share, restricted, extra, quota, blocked)
