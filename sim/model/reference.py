"""Plain-Python reference for the compiled step core (`sim.model.kernels`).

A slow, readable second implementation of MODEL.md §5 step 3, written from MODEL.md and
the kernels' docstrings rather than translated from their code: every smuggler is a
`Smuggler` object holding a dict of beliefs {(lane, method): [a, b]} (a lane is a checkpoint
and the consignee declared there, see `Layout.route_lane`), every loop is an ordinary Python
loop over agents, arithmetic is on Python floats with `math`. It replays the random numbers
the model drew for the step (ready, u_choice, u_cp, u_arrest), so

    SmugglingModel(scenario, replicate, core="reference")

must give the same run as the default compiled core. tests/test_reference.py checks that
on generated worlds. Use it to read what the core does, or to debug a kernel.

Units: quantities in t, prices in USD/kg, money in USD, time in steps.
Status codes are those of `sim.model.kernels` (POOL, ACTIVE, SHIPPING, SELLING, JAILED, BANKRUPT,
REMOVED).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.model.kernels import ACTIVE, BANKRUPT, JAILED, POOL, REMOVED, SELLING, SHIPPING
from sim.model.world import IMPORT, M_UNDERVALUE
from sim.scenario.schema import METHODS

KG_PER_T = 1000.0
ROUNDS = 4  # a shipment crosses at most the 4 checkpoints of a route in one step


@dataclass
class Shipment:
    """The smuggler's current (or last) consignment: commodity k, route r, method m."""

    k: int
    r: int
    m: int
    q: float        # t on board (0 once seized or delivered)
    unit: float     # USD/kg paid at departure (goods + freight + concealment)
    depart: int     # step of departure
    pos: int        # index on the route of the next checkpoint


@dataclass
class Lot:
    """Goods delivered to a destination market, waiting for gray buyers."""

    q: float        # t unsold
    k: int
    market: int
    commission: float  # share of the sale value the hub takes


@dataclass
class Smuggler:
    """One smuggler: row `idx` of the model's smuggler arrays, as an object."""

    idx: int
    status: int
    capital: float          # USD
    capacity: float         # t per shipment
    risk_aversion: float    # CARA coefficient, 1/USD
    network: int
    release_step: int
    beliefs: dict[tuple[int, int], list[float]]   # (lane, method) -> Beta counts [a, b]
    ship: Shipment
    lot: Lot
    observations: list[tuple[int, bool]] = field(default_factory=list)  # (lane, seized) this step

    def interdiction(self, lanes: list[int], m: int) -> float:
        """Believed probability of losing a shipment: 1 - prod over the route's lanes (1 - a / (a + b))."""
        through = 1.0
        for lane in lanes:
            a, b = self.beliefs[(lane, m)]
            through *= 1.0 - a / (a + b)
        return 1.0 - through


@dataclass
class Route:
    """A route from the origin, with its checkpoints in the order they are crossed."""

    market: int             # destination market index
    via: int                # transit country index, -1 if direct
    checkpoints: list[int]
    lanes: list[int]        # belief lane of each checkpoint: the checkpoint and the consignee declared there
    offsets: list[int]      # steps after departure at which each checkpoint is crossed
    commission: float
    freight: float          # USD/kg


@dataclass
class Checkpoint:
    """One customs checkpoint this step (MODEL.md §4.4); the *_w are risk-score bonuses."""

    country: int
    kind: int               # IMPORT or EXPORT
    capacity: float         # containers inspected per step
    legit: float            # legitimate containers per step
    detect: list[float]     # per method, detection given inspection
    coop: float             # the country's cooperation, scales inspection (origin: 1)
    random_share: float     # share of capacity inspected at random
    corruption: float       # share of detections bribed away
    learn_w: float          # per unit of learned hit rate on (route, method)
    value_w: float          # under-declared value
    restricted_w: float     # declared to a destination under control
    anomaly_on: bool        # trade_anomaly technology in use
    anomaly_w: float        # route through a hub whose imports surged past anomaly_thr x baseline
    anomaly_thr: float
    tip_w: float            # the smuggler's network was tipped off


# ---- reading and writing the model's arrays ----------------------------------------------
def load_smugglers(model) -> list[Smuggler]:
    sm = model.sm
    NL, NM = sm.a.shape[1], len(METHODS)
    out = []
    for i in range(len(sm.status)):
        a, b = sm.a[i].tolist(), sm.b[i].tolist()
        out.append(Smuggler(
            idx=i, status=int(sm.status[i]), capital=float(sm.capital[i]), capacity=float(sm.capacity[i]),
            risk_aversion=float(sm.risk_aversion[i]), network=int(sm.network[i]),
            release_step=int(sm.release_step[i]),
            beliefs={(lane, m): [a[lane][m], b[lane][m]] for lane in range(NL) for m in range(NM)},
            ship=Shipment(int(sm.ship_k[i]), int(sm.ship_r[i]), int(sm.ship_m[i]), float(sm.ship_q[i]),
                          float(sm.ship_unit[i]), int(sm.ship_depart[i]), int(sm.ship_pos[i])),
            lot=Lot(float(sm.hold_q[i]), int(sm.hold_k[i]), int(sm.hold_mkt[i]), float(sm.hold_comm[i]))))
    return out


def store_smugglers(model, smugglers: list[Smuggler]) -> None:
    sm = model.sm
    for s in smugglers:
        i = s.idx
        sm.status[i], sm.capital[i], sm.release_step[i] = s.status, s.capital, s.release_step
        for (lane, m), (a, b) in s.beliefs.items():
            sm.a[i, lane, m], sm.b[i, lane, m] = a, b
        sm.ship_k[i], sm.ship_r[i], sm.ship_m[i], sm.ship_q[i] = s.ship.k, s.ship.r, s.ship.m, s.ship.q
        sm.ship_unit[i], sm.ship_depart[i], sm.ship_pos[i] = s.ship.unit, s.ship.depart, s.ship.pos
        sm.hold_q[i], sm.hold_k[i] = s.lot.q, s.lot.k
        sm.hold_mkt[i], sm.hold_comm[i] = s.lot.market, s.lot.commission
        model.n_obs[i] = len(s.observations)
        for o, (lane, seized) in enumerate(s.observations):
            model.obs_cp[i, o], model.obs_seized[i, o] = lane, seized


def load_world(model) -> tuple[list[Route], list[Checkpoint]]:
    L, p = model.layout, model.params
    routes = []
    for r in range(L.R):
        n = int(L.route_ncp[r])
        routes.append(Route(int(L.route_market[r]), int(L.route_via[r]), L.route_cp[r, :n].tolist(),
                            L.route_lane[r, :n].tolist(), L.route_cp_offset[r, :n].tolist(),
                            float(p.commission[r]), float(p.freight[r])))
    cps = [Checkpoint(int(L.cp_country[c]), int(L.cp_kind[c]), float(p.cp_capacity[c]), float(p.cp_legit[c]),
                      p.cp_detect[c].tolist(), float(p.cp_coop[c]), float(p.cp_random_share[c]),
                      float(p.cp_corruption[c]), float(p.cp_learn_w[c]), float(p.cp_value_w[c]),
                      float(p.cp_restricted_w[c]), bool(p.cp_anomaly_on[c]), float(p.cp_anomaly_w[c]),
                      float(p.cp_anomaly_thr[c]), float(p.cp_tip_w[c]))
           for c in range(L.NCP)]
    return routes, cps


# ---- 1. choice ---------------------------------------------------------------------------
def choose(s: Smuggler, routes, p, method_cost, valid, origin_price, gray_exp, u: float):
    """The option (k, r, m, q t, unit USD/kg) smuggler `s` takes, or None to stay idle.

    Options with a positive margin, in the order (commodity, route, method), are valued
    with MODEL.md §4.2's expected utility, less 0.5 x risk aversion x variance of the
    two-outcome lottery when risk aversion is on; idle is worth 0. Temperature 0: the best
    option (the first of equals; idle if nothing beats 0). Otherwise a logit draw with `u`,
    laying out idle then the options on [0, total).
    """
    options = []
    for k, O in enumerate(origin_price):
        for r, route in enumerate(routes):
            G = gray_exp[route.market][k] * (1.0 - route.commission)   # USD/kg the smuggler keeps
            for m in range(len(METHODS)):
                if not valid[k][r][m]:
                    continue
                unit = O * (1.0 + p.gray_markup) + route.freight + method_cost[m]
                if G - unit <= 0.0:
                    continue
                q = min(s.capacity, s.capital / (unit * KG_PER_T))
                if q <= 0.0:
                    continue
                kg = q * KG_PER_T
                caught = s.interdiction(route.lanes, m)
                penalty = p.fine_multiple * kg * O + p.arrest_prob * p.sentence_cost
                eu = kg * ((1.0 - caught) * G - unit) - caught * penalty
                if p.risk_averse:
                    gain, loss = kg * (G - unit), kg * unit + penalty
                    var = (1.0 - caught) * (gain - eu) ** 2 + caught * (-loss - eu) ** 2
                    eu -= 0.5 * s.risk_aversion * var
                options.append((eu, (k, r, m, q, unit)))
    if not options:
        return None
    best = max(0.0, max(v for v, _ in options))
    if p.temperature <= 0.0:
        for v, option in options:
            if v > 0.0 and v == best:
                return option
        return None
    T = p.temperature
    weights = [math.exp((0.0 - best) / T)] + [math.exp((v - best) / T) for v, _ in options]
    cumulative, acc = [], 0.0
    for w in weights:
        acc += w
        cumulative.append(acc)
    target = u * cumulative[-1]
    for j, edge in enumerate(cumulative):
        if target < edge:
            return None if j == 0 else options[j - 1][1]
    return None


def depart(t: int, smugglers, choices, gray_supply, departed, diverted) -> float:
    """Ration the wanted tonnes per commodity pro rata to the gray supply and send the
    shipments off; the goods are paid at departure. Returns the money spent (USD)."""
    want = [0.0] * len(gray_supply)
    for s in smugglers:
        if choices[s.idx] is not None:
            want[choices[s.idx][0]] += choices[s.idx][3]
    share = [supply / w if w > supply else 1.0 for w, supply in zip(want, gray_supply)]
    spent = 0.0
    for s in smugglers:
        if choices[s.idx] is None:
            continue
        k, r, m, q, unit = choices[s.idx]
        q = q * share[k]
        if q <= 0.0:
            continue
        s.status = SHIPPING
        s.ship = Shipment(k, r, m, q, unit, t, 0)
        cost = min(q * KG_PER_T * unit, s.capital)   # all the capital, when that limited q
        s.capital -= cost
        spent += cost
        departed[r][m] += q
        diverted[k] += q
    return spent


# ---- 2. checkpoints ----------------------------------------------------------------------
def risk_score(s: Smuggler, route: Route, r: int, cp: Checkpoint, c: int, t, hits, restricted,
               route_surge, tip_until) -> float:
    """A legitimate container scores 1; customs adds its learned hit rate on this route and
    method, and bonuses for a controlled destination on the declaration (not the hub's
    end-user declaration at origin export), an under-declared value, a flagged hub, a tip."""
    sh = s.ship
    score = 1.0 + cp.learn_w * hits[c][r][sh.m]
    declared_to_hub = sh.pos == 0 and route.via >= 0
    if restricted[sh.k][r] and not declared_to_hub:
        score += cp.restricted_w
    if sh.m == M_UNDERVALUE:
        score += cp.value_w
    if cp.anomaly_on and route_surge[r] > cp.anomaly_thr:
        score += cp.anomaly_w
    if tip_until[c][s.network] >= t:
        score += cp.tip_w
    return score


def cross_checkpoints(t, last_step, smugglers, routes, cps, p, world, u_cp, u_arrest,
                      out) -> tuple[float, int]:
    """Inspect every shipment due at a checkpoint this step, round after round (a shipment
    may cross a hub's import and export checkpoints in one step). Returns (fines USD, arrests)."""
    fines, arrests = 0.0, 0
    for rnd in range(ROUNDS):
        due = [s for s in smugglers
               if s.status == SHIPPING and s.ship.depart + routes[s.ship.r].offsets[s.ship.pos] == t]
        if not due:
            break
        containers, scores = {}, {}
        for s in due:
            route, r = routes[s.ship.r], s.ship.r
            c = route.checkpoints[s.ship.pos]
            scores[s.idx] = risk_score(s, route, r, cps[c], c, t, world["hits"], world["restricted"],
                                       world["route_surge"], world["tip_until"])
            containers[s.idx] = math.ceil(s.ship.q * KG_PER_T / world["container_kg"][s.ship.k])
        n_all = [cp.legit for cp in cps]      # containers through each checkpoint, all kinds
        score_all = [cp.legit for cp in cps]  # their summed risk scores
        smuggled_n = [0.0] * len(cps)
        smuggled_score = [0.0] * len(cps)
        for s in due:
            c = routes[s.ship.r].checkpoints[s.ship.pos]
            smuggled_n[c] += containers[s.idx]
            smuggled_score[c] += scores[s.idx] * containers[s.idx]
        for c in range(len(cps)):
            n_all[c] += smuggled_n[c]
            score_all[c] += smuggled_score[c]
        for s in due:
            sh, route = s.ship, routes[s.ship.r]
            c = route.checkpoints[sh.pos]
            cp, n, q = cps[c], containers[s.idx], sh.q
            out["crossing_t"][c] += q
            out["crossing_cont"][c] += n
            per_container = cp.coop * (cp.random_share * cp.capacity / n_all[c]
                                       + (1.0 - cp.random_share) * cp.capacity * scores[s.idx] / score_all[c])
            inspected = 1.0 - (1.0 - min(1.0, per_container)) ** n
            u = u_cp[rnd][s.idx]
            seized = u[0] < inspected and u[1] < cp.detect[sh.m] and not u[2] < cp.corruption
            s.observations.append((route.lanes[sh.pos], seized))
            if seized:
                out["seized_t"][c][sh.m] += q
                out["seizures"][c][sh.m] += 1
                out["seizures_crm"][c][sh.r][sh.m] += 1
                out["seized_k"][sh.k] += q
                fine = p.fine_multiple * q * KG_PER_T * world["origin_price"][sh.k]
                s.capital -= fine
                fines += fine
                sh.q = 0.0
                s.status = ACTIVE
                if u_arrest[s.idx] < p.arrest_prob:
                    arrests += 1
                    s.release_step = t + p.sentence_steps
                    # a sentence that outlasts the run removes the smuggler for good
                    s.status = JAILED if s.release_step <= last_step else REMOVED
                if s.capital < 0.0:
                    s.status = BANKRUPT
                continue
            if cp.kind == IMPORT and cp.country == route.via and p.method_declares[sh.m]:
                out["transit_rec"][cp.country][sh.k] += q
            sh.pos += 1
            if sh.pos == len(route.checkpoints):   # through the destination's customs: goods for sale
                out["delivered"][sh.r][sh.m][sh.k] += q
                s.status = SELLING
                s.lot = Lot(q, sh.k, route.market, route.commission)
                sh.q = 0.0
    return fines, arrests


# ---- 3. markets --------------------------------------------------------------------------
@dataclass
class Market:
    """One market and commodity at this step (prices USD/kg, quantities t per step or t)."""

    A: float             # arrivals: legal imports, allied output, home output at the origin
    offer: float         # smuggled goods offered to gray buyers
    price_prev: float    # last step's legal price
    inventory: float     # buyers' stock
    P0: float
    D0: float
    eps: float
    target: float        # buyers' target stock
    restock: float       # share of the gap to target closed per step
    buffer: float        # share of the gap D0 - arrivals filled from (or put into) stock
    gray_share: float
    discount: float      # gray goods sell at (1 - discount) x the legal price
    floor: float         # price bounds as multiples of P0
    cap: float


def clear_market(mk: Market) -> dict:
    """MODEL.md §5: gray buyers take up to their share of demand at last step's price; buyers
    move stock toward their target and fill a share `buffer` of the gap between reference
    demand and arrivals from stock (a glut goes into stock); what reaches consumption sets the
    price on the demand curve, within [floor, cap] x P0."""
    A, D0, P0 = mk.A, mk.D0, mk.P0
    g = min(mk.offer, mk.gray_share * D0 * (mk.price_prev / P0) ** (-mk.eps))
    release = mk.restock * (mk.inventory - mk.target) + mk.buffer * (D0 - A - g)
    release = min(max(release, -(A + g)), mk.inventory)   # stock takes at most arrivals, gives what it has
    S = A + release + g
    if S <= 0.0:
        P = mk.cap * P0
    else:
        P = min(max(P0 * (S / D0) ** (-1.0 / mk.eps), mk.floor * P0), mk.cap * P0)
    legal = A + max(release, 0.0)   # legal goods available to buyers (defense buys only these)
    return dict(price=P, gray_price=(1.0 - mk.discount) * P, gray_sold=g, consumption=S, legal_use=legal,
                inventory=mk.inventory - release)


def sell_lots(smugglers, offer, gray_sold, gray_price) -> float:
    """Gray buyers take the same share sold / offered of every lot in a market. Returns revenue (USD)."""
    revenue = 0.0
    for s in smugglers:
        if s.status != SELLING:
            continue
        lot = s.lot
        offered, sold = offer[lot.market][lot.k], gray_sold[lot.market][lot.k]
        share = 1.0 if sold >= offered else sold / offered
        q = lot.q * share
        income = q * KG_PER_T * gray_price[lot.market][lot.k] * (1.0 - lot.commission)
        s.capital += income
        revenue += income
        if share >= 1.0:
            lot.q = 0.0
            s.status = ACTIVE
        else:
            lot.q -= q
    return revenue


# ---- 4. learning -------------------------------------------------------------------------
def update_beliefs(smugglers, p, a0, b0) -> None:
    """Beta counts per (lane, method) forget toward the prior, then take the smuggler's own
    crossings (weight 1), the rest of its network's (network_share) and everybody's seizures
    (public_share). Agents out of the game (pool, bankrupt, removed) do not learn."""
    network_seen: dict[tuple[int, int, int], list[float]] = {}   # (network, lane, m) -> [seized, passed]
    public_seized: dict[tuple[int, int], float] = {}             # (lane, m) -> seizures
    for s in smugglers:
        m = s.ship.m   # observations this step are all of the smuggler's current shipment
        for lane, seized in s.observations:
            seen = network_seen.setdefault((s.network, lane, m), [0.0, 0.0])
            if seized:
                seen[0] += 1.0
                public_seized[(lane, m)] = public_seized.get((lane, m), 0.0) + 1.0
            else:
                seen[1] += 1.0
    f = p.forgetting
    for s in smugglers:
        if s.status in (POOL, BANKRUPT, REMOVED):
            continue
        own: dict[tuple[int, int], list[float]] = {}
        for lane, seized in s.observations:
            own.setdefault((lane, s.ship.m), [0.0, 0.0])[0 if seized else 1] += 1.0
        for (lane, m), ab in s.beliefs.items():
            own_s, own_p = own.get((lane, m), (0.0, 0.0))
            net_s, net_p = network_seen.get((s.network, lane, m), (0.0, 0.0))
            pub_s = public_seized.get((lane, m), 0.0)
            ab[0] = f * ab[0] + (1.0 - f) * a0[lane] + own_s + p.network_share * (net_s - own_s) \
                + p.public_share * (pub_s - own_s)
            ab[1] = f * ab[1] + (1.0 - f) * b0[lane] + own_p + p.network_share * (net_p - own_p)


# ---- the step core -----------------------------------------------------------------------
def reference_core(model, t: int, valid, gray_exp, gray_supply, route_surge, restricted, arrivals, home,
                   u_choice, u_cp, u_arrest, ready) -> dict:
    """Same inputs and outputs as `SmugglingModel._core` (the kernel sequence choose -> depart ->
    cross_checkpoints -> offer_by_market -> clear_markets -> sell_gray -> update_beliefs).

    Reads the model's state (smuggler arrays, prices, inventories, customs' hit rates and tips)
    and writes the updated state back. `arrivals` [M, K] t is what reaches each market this
    step; its origin row is set here to the home output `home` [K] left after diversion. Only
    ACTIVE smugglers with `ready` [N] set look for a trip this step.
    """
    L, p = model.layout, model.params
    K, R, M, NCP, NM, C = L.K, L.R, L.M, L.NCP, len(METHODS), len(L.countries)
    smugglers = load_smugglers(model)
    routes, cps = load_world(model)
    origin_price = model.price[0].tolist()

    # choose and depart
    valid_l, gray_exp_l, method_cost = valid.tolist(), gray_exp.tolist(), p.method_cost.tolist()
    u_choice = u_choice.tolist()
    choices = {s.idx: choose(s, routes, p, method_cost, valid_l, origin_price, gray_exp_l, u_choice[s.idx])
               if s.status == ACTIVE and ready[s.idx] else None
               for s in smugglers}
    departed = [[0.0] * NM for _ in range(R)]
    diverted = [0.0] * K
    spent = depart(t, smugglers, choices, gray_supply.tolist(), departed, diverted)

    # checkpoints
    flows = {"crossing_t": [0.0] * NCP, "crossing_cont": [0.0] * NCP,
             "seized_t": [[0.0] * NM for _ in range(NCP)], "seizures": [[0.0] * NM for _ in range(NCP)],
             "seizures_crm": [[[0.0] * NM for _ in range(R)] for _ in range(NCP)],
             "delivered": [[[0.0] * K for _ in range(NM)] for _ in range(R)],
             "transit_rec": [[0.0] * K for _ in range(C)], "seized_k": [0.0] * K}
    world = {"hits": model.hits.tolist(), "restricted": restricted.tolist(),
             "route_surge": route_surge.tolist(), "tip_until": model.tip_until.tolist(),
             "container_kg": p.container_kg.tolist(), "origin_price": origin_price}
    fines, arrests = cross_checkpoints(t, model.horizon - 1, smugglers, routes, cps, p, world, u_cp.tolist(),
                                       u_arrest.tolist(), flows)

    # markets: what smugglers hold for sale, clearing, gray sales
    arrivals = arrivals.tolist()
    arrivals[0] = [max(h - d, 0.0) for h, d in zip(home.tolist(), diverted)]
    offer = [[0.0] * K for _ in range(M)]
    for s in smugglers:
        if s.status == SELLING:
            offer[s.lot.market][s.lot.k] += s.lot.q
    def cell(x, mk, k) -> float:
        return float(x[mk, k])

    cleared = [[clear_market(Market(
        A=arrivals[mk][k], offer=offer[mk][k], price_prev=cell(model.price, mk, k),
        inventory=cell(model.inventory, mk, k), P0=cell(p.P0, mk, k), D0=cell(p.D0, mk, k),
        eps=float(p.eps[k]), target=cell(p.stock_target, mk, k), restock=cell(p.restock, mk, k),
        buffer=cell(p.buffer_share, mk, k), gray_share=cell(p.gray_share, mk, k),
        discount=cell(p.gray_discount, mk, k), floor=cell(p.floor, mk, k), cap=cell(p.cap, mk, k)))
        for k in range(K)] for mk in range(M)]
    market = {key: np.array([[cell[key] for cell in row] for row in cleared]) for key in cleared[0][0]}
    model.inventory[:] = market.pop("inventory")
    revenue = sell_lots(smugglers, offer, market["gray_sold"].tolist(), market["gray_price"].tolist())

    if p.learning:
        update_beliefs(smugglers, p, model.a0.tolist(), model.b0.tolist())
    store_smugglers(model, smugglers)
    return dict(departed=np.array(departed), diverted=np.array(diverted), spent=spent, fines=fines,
                arrests=arrests, offer=np.array(offer), revenue=revenue,
                **{key: np.array(v) for key, v in flows.items()}, **market)
