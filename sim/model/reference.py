"""Plain-Python reference for the compiled step core (`sim.model.kernels`).

A slow, readable second implementation of MODEL.md §5 step 3, written from MODEL.md and
the kernels' docstrings rather than translated from their code: every smuggler is a
`Smuggler` object holding a dict of its own belief counts {(lane, method): [a, b]} (a lane is
a checkpoint and the consignee declared there, see `Layout.route_lane`; its Beta counts are its
network's part plus this own part, see `Beliefs`), every loop is an ordinary Python loop over
agents, arithmetic is on Python floats with `math`. It replays the random numbers
the model drew for the step (ready, u_choice, u_cp, u_arrest), so

    SmugglingModel(scenario, replicate, core="reference")

must give the same run as the default compiled core. tests/test_reference.py checks that
on generated worlds. Use it to read what the core does, or to debug a kernel.

Units: quantities in t, prices in USD/kg, money in USD, time in steps.
Status codes are those of `sim.model.kernels` (POOL, ACTIVE, SHIPPING, SELLING, JAILED, BANKRUPT).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.model.kernels import ACTIVE, BANKRUPT, FRESH, FROZEN, JAILED, JOINED, POOL, RESCALE_BELOW, SELLING, SHIPPING
from sim.model.world import IMPORT
from sim.scenario.schema import METHODS

KG_PER_T = 1000.0
ROUNDS = 4  # a shipment crosses at most the 4 checkpoints of a route in one step


@dataclass
class Shipment:
    """The smuggler's current (or last) consignment: commodity k, route r, method m."""

    k: int
    r: int
    m: int
    q: float        # t on board (0 once seized, refused or delivered)
    depart: int     # step of departure
    pos: int        # index on the route of the next checkpoint


@dataclass
class Lot:
    """Goods delivered to a destination market, waiting for gray buyers."""

    q: float        # t unsold
    k: int
    market: int
    commission: float  # share of the sale value the hub takes
    since: int         # step it arrived


@dataclass
class Smuggler:
    """One smuggler: row `idx` of the model's smuggler arrays, as an object."""

    idx: int
    status: int
    capital: float          # USD
    capacity: float         # t per shipment
    risk_aversion: float    # CARA coefficient, 1/USD
    cost_factor: float      # own factor on freight and concealment costs
    network: int
    release_step: int
    own: dict[tuple[int, int], list[float]]   # (lane, method) -> own part of the Beta counts [a, b]
    joined: int             # FRESH: counts are the prior; JOINED; FROZEN: `own` holds the whole counts
    ship: Shipment
    lot: Lot
    trip_cost: float        # USD paid for the current trip
    trip_rev: float         # USD its sales brought so far
    observations: list[tuple[int, bool]] = field(default_factory=list)  # (lane, seized) this step


@dataclass
class Beliefs:
    """What every smuggler's Beta counts are made of (docs/model.md §8). The update

        a <- f a + (1 - f) a0 + own_s + w_net (net_s - own_s) + w_pub (pub_s - own_s)
        b <- f b + (1 - f) b0 + own_p + w_net (net_p - own_p)

    is linear, so it splits into a part every member of a network shares (`net`, updated with
    the network's and the public's observations) and the smuggler's own part (updated with its own
    observations, weight 1 - w_net - w_pub for seizures, 1 - w_net for passages), which between
    its observations only decays by f a step: counts = net + f^(step - epoch) x own, with every own
    part kept scaled to step `epoch` (moved to the current step when that factor gets tiny)."""

    net: dict[tuple[int, int, int], list[float]]   # (network, lane, method) -> [a, b]
    a0: list[float]         # the prior per lane
    b0: list[float]
    f: float                # forgetting
    epoch: int

    def counts(self, s: Smuggler, lane: int, m: int, last: int) -> tuple[float, float]:
        """Smuggler s's Beta counts after the update of step `last`."""
        if s.joined == FRESH:
            return self.a0[lane], self.b0[lane]
        if s.joined == FROZEN:
            return s.own[(lane, m)][0], s.own[(lane, m)][1]
        net_a, net_b = self.net[(s.network, lane, m)]
        own_a, own_b = s.own[(lane, m)]
        weight = self.f ** (last - self.epoch)
        return net_a + weight * own_a, net_b + weight * own_b

    def interdiction(self, s: Smuggler, lanes: list[int], m: int, last: int) -> float:
        """Believed probability of losing a shipment: 1 - prod over the route's lanes (1 - a / (a + b))."""
        through = 1.0
        for lane in lanes:
            a, b = self.counts(s, lane, m, last)
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
    """One customs checkpoint this step (MODEL.md §4.4)."""

    country: int
    kind: int               # IMPORT or EXPORT
    hub: int                # transit index of its country, -1 if not a hub
    capacity: float         # containers inspected per step
    legit_n: float          # legitimate containers this step
    legit_score: float      # their summed risk scores
    detect: list[float]     # per method, detection given inspection
    random_share: float     # share of capacity inspected at random
    corruption: float       # share of detections bribed away
    tip_w: float            # bonus when the consignee network was tipped off


# ---- reading and writing the model's arrays ----------------------------------------------
def load_smugglers(model) -> list[Smuggler]:
    sm = model.sm
    NL, NM = sm.own_a.shape[1], len(METHODS)
    out = []
    for i in range(len(sm.status)):
        a, b = sm.own_a[i].tolist(), sm.own_b[i].tolist()
        out.append(Smuggler(
            idx=i, status=int(sm.status[i]), capital=float(sm.capital[i]), capacity=float(sm.capacity[i]),
            risk_aversion=float(sm.risk_aversion[i]), cost_factor=float(sm.cost_factor[i]),
            network=int(sm.network[i]), release_step=int(sm.release_step[i]),
            own={(lane, m): [a[lane][m], b[lane][m]] for lane in range(NL) for m in range(NM)},
            joined=int(sm.joined[i]),
            ship=Shipment(int(sm.ship_k[i]), int(sm.ship_r[i]), int(sm.ship_m[i]), float(sm.ship_q[i]),
                          int(sm.ship_depart[i]), int(sm.ship_pos[i])),
            lot=Lot(float(sm.hold_q[i]), int(sm.hold_k[i]), int(sm.hold_mkt[i]), float(sm.hold_comm[i]),
                    int(sm.hold_since[i])),
            trip_cost=float(sm.trip_cost[i]), trip_rev=float(sm.trip_rev[i])))
    return out


def store_smugglers(model, smugglers: list[Smuggler]) -> None:
    sm, obs = model.sm, model.obs
    for s in smugglers:
        i = s.idx
        sm.status[i], sm.capital[i], sm.release_step[i] = s.status, s.capital, s.release_step
        for (lane, m), (a, b) in s.own.items():
            sm.own_a[i, lane, m], sm.own_b[i, lane, m] = a, b
        sm.joined[i] = s.joined
        sm.ship_k[i], sm.ship_r[i], sm.ship_m[i], sm.ship_q[i] = s.ship.k, s.ship.r, s.ship.m, s.ship.q
        sm.ship_depart[i], sm.ship_pos[i] = s.ship.depart, s.ship.pos
        sm.hold_q[i], sm.hold_k[i] = s.lot.q, s.lot.k
        sm.hold_mkt[i], sm.hold_comm[i], sm.hold_since[i] = s.lot.market, s.lot.commission, s.lot.since
        sm.trip_cost[i], sm.trip_rev[i] = s.trip_cost, s.trip_rev
        obs.n[i] = len(s.observations)
        for o, (lane, seized) in enumerate(s.observations):
            obs.cp[i, o], obs.seized[i, o] = lane, seized


def load_beliefs(model) -> Beliefs:
    sm = model.sm
    G, NL, NM = sm.net_a.shape
    a, b = sm.net_a.tolist(), sm.net_b.tolist()
    return Beliefs({(g, lane, m): [a[g][lane][m], b[g][lane][m]] for g in range(G) for lane in range(NL)
                    for m in range(NM)}, model.a0.tolist(), model.b0.tolist(), float(model.params.forgetting),
                   int(sm.epoch[0]))


def store_beliefs(model, beliefs: Beliefs) -> None:
    for (g, lane, m), (a, b) in beliefs.net.items():
        model.sm.net_a[g, lane, m], model.sm.net_b[g, lane, m] = a, b
    model.sm.epoch[0] = beliefs.epoch


def load_world(model, legit_n, legit_s) -> tuple[list[Route], list[Checkpoint]]:
    L, p = model.layout, model.params
    routes = []
    for r in range(L.R):
        n = int(L.route_ncp[r])
        routes.append(Route(int(L.route_market[r]), int(L.route_via[r]), L.route_cp[r, :n].tolist(),
                            L.route_lane[r, :n].tolist(), L.route_cp_offset[r, :n].tolist(),
                            float(p.commission[r]), float(p.freight[r])))
    cps = [Checkpoint(int(L.cp_country[c]), int(L.cp_kind[c]), int(L.hub_of_country[L.cp_country[c]]),
                      float(p.cp_capacity[c]), float(legit_n[c]), float(legit_s[c]), p.cp_detect[c].tolist(),
                      float(p.cp_random_share[c]), float(p.cp_corruption[c]), float(p.cp_tip_w[c]))
           for c in range(L.NCP)]
    return routes, cps


# ---- 1. choice ---------------------------------------------------------------------------
def choose(s: Smuggler, routes, p, method_cost, valid, origin_price, gray_buy, expected, u: float,
           beliefs: Beliefs, t: int):
    """The option (k, r, m, q t, unit USD/kg) smuggler `s` takes, or None to stay idle.

    Options with a positive margin, in the order (commodity, route, method), are valued with
    MODEL.md §4.2's expected utility: the smuggler expects its network's gray price, pays the
    gray purchase price plus its own share of freight and concealment;
    less 0.5 x risk aversion x variance of the two-outcome lottery when risk aversion is on;
    idle is worth 0. Temperature 0: the best option (the first of equals; idle if nothing beats
    0). Otherwise a logit draw with `u`, laying out idle then the options on [0, total).
    """
    options = []
    for k, O in enumerate(origin_price):
        for r, route in enumerate(routes):
            G = expected[s.network][route.market][k] * (1.0 - route.commission)
            for m in range(len(METHODS)):
                if not valid[k][r][m]:
                    continue
                unit = gray_buy[k] + s.cost_factor * (route.freight + method_cost[m])
                if G - unit <= 0.0:
                    continue
                q = min(s.capacity, s.capital / (unit * KG_PER_T))
                if q <= 0.0:
                    continue
                kg = q * KG_PER_T
                caught = beliefs.interdiction(s, route.lanes, m, t - 1)   # beliefs after last step's update
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
    """Ration the wanted tonnes per commodity pro rata to the diverted supply and send the
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
        s.ship = Shipment(k, r, m, q, t, 0)
        cost = min(q * KG_PER_T * unit, s.capital)   # all the capital, when that limited q
        s.capital -= cost
        s.trip_cost, s.trip_rev = cost, 0.0
        spent += cost
        departed[r][m] += q
        diverted[k] += q
    return spent


# ---- 2. checkpoints ----------------------------------------------------------------------
def per_container(cp: Checkpoint, coop: float, score: float, n_all: float, score_all: float) -> float:
    """Chance that one container with this score is inspected: a random share of capacity spread
    over all containers, the rest in proportion to risk scores; scaled by the cooperation that
    applies to its declaration (a hub's re-exports of origin goods), at most 1."""
    if n_all <= 0.0 or cp.capacity <= 0.0 or coop <= 0.0:
        return 0.0
    return min(1.0, coop * (cp.random_share * cp.capacity / n_all
                            + (1.0 - cp.random_share) * cp.capacity * score / score_all))


def cross_checkpoints(t, smugglers, routes, cps, p, world, u_cp, u_arrest, out) -> tuple[float, int]:
    """Inspect every shipment due at a checkpoint this step, round after round (a shipment may
    cross a hub's import and export checkpoints in one step). Customs scores a consignment by
    the cell its declaration falls in, plus a tip on its network; a hub whose import cap is used
    up turns back goods declared as the origin's. Returns (fines USD, arrests)."""
    fines, arrests = 0.0, 0
    decl, cat, origin_of = world["decl_cell"], world["cell_cat"], world["cell_origin"]
    for rnd in range(ROUNDS):
        due = [s for s in smugglers
               if s.status == SHIPPING and s.ship.depart + routes[s.ship.r].offsets[s.ship.pos] == t]
        if not due:
            break
        containers, scores, cells = {}, {}, {}
        for s in due:
            sh = s.ship
            c = routes[sh.r].checkpoints[sh.pos]
            cells[s.idx] = decl[sh.k][sh.r][sh.pos][sh.m]
            tipped = world["tip_until"][c][s.network] >= t
            scores[s.idx] = world["cell_score"][cells[s.idx]] + (cps[c].tip_w if tipped else 0.0)
            containers[s.idx] = math.ceil(sh.q * KG_PER_T / world["container_kg"][sh.k])
        n_all = [cp.legit_n for cp in cps]
        score_all = [cp.legit_score for cp in cps]
        for s in due:
            c = routes[s.ship.r].checkpoints[s.ship.pos]
            n_all[c] += containers[s.idx]
            score_all[c] += scores[s.idx] * containers[s.idx]
            out["n_smuggled"][c] += containers[s.idx]
            out["s_smuggled"][c] += scores[s.idx] * containers[s.idx]
        for s in due:
            sh, route = s.ship, routes[s.ship.r]
            c = route.checkpoints[sh.pos]
            cp, n, q, cell = cps[c], containers[s.idx], sh.q, cells[s.idx]
            out["crossing_t"][c] += q
            origin_goods = cat[cell] == sh.k and origin_of[cell] == world["origin"]
            if cp.kind == IMPORT and cp.hub >= 0 and origin_goods and q > world["cap_room"][cp.hub][sh.k]:
                out["refused_t"][c][sh.k] += q        # over the hub's import cap: back home, sold there
                out["returned_k"][sh.k] += q
                back = q * KG_PER_T * world["origin_price"][sh.k]
                s.capital += back
                world["trips"][0] += 1.0
                world["trips"][1] += back - s.trip_cost
                sh.q = 0.0
                s.status = ACTIVE
                continue
            pi = per_container(cp, world["cell_coop"][cell], scores[s.idx], n_all[c], score_all[c])
            out["insp_smuggled"][c] += n * pi
            u = u_cp[rnd][s.idx]
            inspected = u[0] < 1.0 - (1.0 - pi) ** n
            seized = inspected and u[1] < cp.detect[sh.m] and not u[2] < cp.corruption
            s.observations.append((route.lanes[sh.pos], seized))
            if seized:
                out["cell_seized"][cell] += 1.0
                out["seized_t"][c][sh.m] += q
                out["seizures"][c][sh.m] += 1
                out["seized_k"][sh.k] += q
                fine = p.fine_multiple * q * KG_PER_T * world["origin_price"][sh.k]
                s.capital -= fine
                fines += fine
                world["trips"][0] += 1.0
                world["trips"][1] -= s.trip_cost + fine
                sh.q = 0.0
                s.status = ACTIVE
                if u_arrest[s.idx] < p.arrest_prob:
                    arrests += 1
                    s.release_step = t + p.sentence_steps
                    s.status = JAILED          # counted as jailed until released, even after the run
                if s.capital < 0.0 and s.status != JAILED:   # in prison first; bankrupt when released
                    s.status = BANKRUPT
                continue
            if inspected:
                out["cell_clean"][cell] += 1.0
            if cp.kind == IMPORT and cp.hub >= 0 and origin_goods:
                out["transit_rec"][cp.hub][sh.k] += q
                world["cap_room"][cp.hub][sh.k] -= q
            sh.pos += 1
            if sh.pos == len(route.checkpoints):   # through the destination's customs: goods for sale
                out["delivered"][sh.r][sh.m][sh.k] += q
                s.status = SELLING
                s.lot = Lot(q, sh.k, route.market, route.commission, t)
                sh.q = 0.0
    return fines, arrests


# ---- 3. markets --------------------------------------------------------------------------
@dataclass
class Market:
    """One market and commodity at this step (prices USD/kg, quantities t per step or t)."""

    A: float             # legal arrivals (imports, local output, the origin's home sales)
    offer: float         # smuggled goods offered to gray buyers
    price_prev: float    # last step's legal price
    inventory: float     # buyers' stock
    P0: float
    D0: float            # reference demand x demand index
    eps: float
    eps_sub: float
    backstop: float      # USD/kg
    target: float        # buyers' target stock
    restock: float       # share of the gap to target closed per step
    buffer: float        # share of the gap D0 - arrivals filled from (or put into) stock
    defense_share: float  # defense buyers never buy gray goods
    gray_share: float
    discount: float      # gray goods usually sell at (1 - discount) x the legal price
    gray_elasticity: float
    gray_floor: float    # smugglers hold their goods below this share of the usual gray price
    floor: float         # USD/kg guards
    guard: float

    def demand(self, P: float) -> float:
        """The demand curve: constant elasticity eps up to the backstop, eps_sub above it."""
        if P <= self.backstop:
            return self.D0 * (P / self.P0) ** (-self.eps)
        return self.demand(self.backstop) * (P / self.backstop) ** (-self.eps_sub)

    def inverse(self, S: float) -> float:
        """The price at which buyers take S (the guard when nothing reaches them)."""
        at_backstop = self.demand(self.backstop)
        if S >= at_backstop:
            return self.P0 * (S / self.D0) ** (-1.0 / self.eps)
        if S > 0.0:
            return self.backstop * (S / at_backstop) ** (-1.0 / self.eps_sub)
        return self.guard


def clear_market(mk: Market) -> dict:
    """MODEL.md §5.2: gray buyers take up to their share of demand at last step's price; buyers
    move stock toward their target and fill a share `buffer` of the gap between reference
    demand and arrivals from stock (a glut goes into stock); what reaches consumption sets the
    price on the demand curve, kept within the guards (and flagged when it touches one); above
    the backstop, the demand the base curve would still have had is lost to substitutes."""
    A = mk.A
    usual = mk.gray_share * mk.demand(mk.price_prev)   # what gray buyers take at the usual discount
    # a glut of smuggled goods sells at a deeper discount, down to the floor where smugglers hold back
    civil = (1.0 - mk.defense_share) * mk.demand(mk.price_prev)   # gray sales never exceed all civil demand
    ratio, g = 1.0, mk.offer
    if mk.offer > usual:
        e = mk.gray_elasticity
        glut = (mk.offer / usual) ** (-1.0 / e) if usual > 0.0 else 0.0
        lowest = mk.gray_floor
        if usual > 0.0 and civil < usual * lowest ** (-e):
            lowest = max(lowest, (civil / usual) ** (-1.0 / e))
        if glut >= lowest:
            ratio = glut                              # everything sells, at a deeper discount
        else:
            ratio, g = lowest, (usual * lowest ** (-e) if usual > 0.0 else 0.0)
    release = mk.restock * (mk.inventory - mk.target) + mk.buffer * (mk.D0 - A - g)
    release = min(max(release, -(A + g)), mk.inventory)   # stock takes at most arrivals, gives what it has
    S = A + release + g
    raw = mk.inverse(S)
    P = min(max(raw, mk.floor), mk.guard)
    lost = max(mk.D0 * (P / mk.P0) ** (-mk.eps) - S, 0.0) if P > mk.backstop else 0.0
    return dict(price=P, gray_price=ratio * (1.0 - mk.discount) * P, gray_sold=g, consumption=S,
                legal_use=A + max(release, 0.0), unmet=lost, at_guard=raw >= mk.guard or raw <= mk.floor,
                inventory=mk.inventory - release)


def sell_lots(smugglers, gray_sold, gray_price, sold_by, trips) -> float:
    """Gray buyers in each market take `gray_sold` t, the lots that arrived first first (ties: the
    lower smuggler index); a lot sold out ends its trip. Returns revenue (USD)."""
    left = [row[:] for row in gray_sold]
    revenue = 0.0
    for s in sorted((s for s in smugglers if s.status == SELLING), key=lambda s: (s.lot.since, s.idx)):
        lot = s.lot
        q = min(lot.q, left[lot.market][lot.k])
        if q <= 0.0:
            continue
        left[lot.market][lot.k] -= q
        income = q * KG_PER_T * gray_price[lot.market][lot.k] * (1.0 - lot.commission)
        s.capital += income
        s.trip_rev += income
        revenue += income
        sold_by[s.network][lot.market][lot.k] = True
        if q >= lot.q:
            lot.q = 0.0
            s.status = ACTIVE
            trips[0] += 1.0
            trips[1] += s.trip_rev - s.trip_cost
        else:
            lot.q -= q
    return revenue


# ---- 4. learning -------------------------------------------------------------------------
def update_beliefs(t: int, smugglers, p, beliefs: Beliefs) -> None:
    """The update of step t (see `Beliefs`): Beta counts per (lane, method) forget toward the prior,
    then take the smuggler's own crossings (weight 1), the rest of its network's (network_share) and
    everybody's seizures (public_share). Agents out of the game (pool, bankrupt) do not learn; a
    smuggler gone bankrupt keeps the counts it had."""
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
    f = beliefs.f
    # smugglers gone bankrupt this step keep their counts after step t - 1's update
    for s in smugglers:
        if s.status == BANKRUPT and s.joined != FROZEN:
            s.own = {key: list(beliefs.counts(s, *key, t - 1)) for key in s.own}
            s.joined = FROZEN
    # own parts are kept scaled to step `epoch`; move them to step t when the factor gets tiny
    scale = f ** (t - beliefs.epoch)
    if scale < RESCALE_BELOW:
        for s in smugglers:
            if s.joined == JOINED:
                for ab in s.own.values():
                    ab[0] *= scale
                    ab[1] *= scale
        beliefs.epoch, scale = t, 1.0
    for s in smugglers:
        if s.status == POOL or s.joined == FROZEN:
            continue
        if s.joined == FRESH:              # joins: counts a0 = net + own, after one step of forgetting
            for (lane, m), ab in s.own.items():
                net_a, net_b = beliefs.net[(s.network, lane, m)]
                ab[0], ab[1] = f * (beliefs.a0[lane] - net_a) / scale, f * (beliefs.b0[lane] - net_b) / scale
            s.joined = JOINED
        for lane, seized in s.observations:
            if seized:
                s.own[(lane, s.ship.m)][0] += (1.0 - p.network_share - p.public_share) / scale
            else:
                s.own[(lane, s.ship.m)][1] += (1.0 - p.network_share) / scale
    # network parts
    for (g, lane, m), ab in beliefs.net.items():
        net_s, net_p = network_seen.get((g, lane, m), (0.0, 0.0))
        pub_s = public_seized.get((lane, m), 0.0)
        ab[0] = f * ab[0] + (1.0 - f) * beliefs.a0[lane] + p.network_share * net_s + p.public_share * pub_s
        ab[1] = f * ab[1] + (1.0 - f) * beliefs.b0[lane] + p.network_share * net_p


# ---- the step core -----------------------------------------------------------------------
def reference_core(model, t: int, valid, gray_exp, gray_supply, cell_score, legit_n, legit_s, arrivals,
                   u_choice, u_cp, u_arrest, ready) -> dict:
    """Same inputs and outputs as `sim.model.core.Core.run` with the compiled kernels.

    Reads the model's state (smuggler arrays, prices, inventories, tips, hubs' import caps) and
    writes the updated state back. Only ACTIVE smugglers with `ready` [N] set look for a trip.
    """
    L, p = model.layout, model.params
    K, R, M, NCP, NM, H = L.K, L.R, L.M, L.NCP, len(METHODS), len(L.transits)
    smugglers = load_smugglers(model)
    routes, cps = load_world(model, legit_n, legit_s)
    origin_price = model.price[0].tolist()

    # choose and depart
    valid_l, expected, method_cost = valid.tolist(), gray_exp.tolist(), p.method_cost.tolist()
    gray_buy = model.gray_buy.tolist()
    u_choice = u_choice.tolist()
    beliefs = load_beliefs(model)
    choices = {s.idx: choose(s, routes, p, method_cost, valid_l, origin_price, gray_buy, expected, u_choice[s.idx],
                             beliefs, t)
               if s.status == ACTIVE and ready[s.idx] else None
               for s in smugglers}
    wanted = [0.0] * K
    for c in choices.values():
        if c is not None:
            wanted[c[0]] += c[3]
    departed = [[0.0] * NM for _ in range(R)]
    diverted = [0.0] * K
    spent = depart(t, smugglers, choices, gray_supply.tolist(), departed, diverted)

    # checkpoints
    def zeros(*shape):
        return np.zeros(shape).tolist()

    flows = {"crossing_t": zeros(NCP), "seized_t": zeros(NCP, NM), "seizures": zeros(NCP, NM),
             "cell_seized": zeros(L.NCELL), "cell_clean": zeros(L.NCELL), "insp_smuggled": zeros(NCP),
             "n_smuggled": zeros(NCP), "s_smuggled": zeros(NCP), "delivered": zeros(R, NM, K),
             "transit_rec": zeros(H, K), "seized_k": zeros(K), "refused_t": zeros(NCP, K), "returned_k": zeros(K)}
    trips = [0.0, 0.0]
    world = {"decl_cell": L.decl_cell.tolist(), "cell_cat": L.cell_cat.tolist(), "cell_origin": L.cell_origin.tolist(),
             "origin": L.origin, "cell_score": cell_score.tolist(), "tip_until": model.tip_until.tolist(),
             "cell_coop": p.cell_coop.tolist(),
             "container_kg": p.container_kg.tolist(), "origin_price": origin_price, "trips": trips,
             "cap_room": np.maximum(p.import_cap - model.cap_used_ytd, 0.0).tolist()}
    fines, arrests = cross_checkpoints(t, smugglers, routes, cps, p, world, u_cp.tolist(), u_arrest.tolist(), flows)
    model.cap_used_ytd += np.array(flows["transit_rec"]).reshape(H, K)

    # markets: what smugglers hold for sale, clearing, gray sales
    arrivals = arrivals.tolist()
    arrivals[0] = [max(a - d + back, 0.0) for a, d, back in zip(arrivals[0], diverted, flows["returned_k"])]
    offer = zeros(M, K)
    for s in smugglers:
        if s.status == SELLING:
            offer[s.lot.market][s.lot.k] += s.lot.q

    def at(x, mk, k) -> float:
        return float(x[mk, k])

    cleared = [[clear_market(Market(
        A=arrivals[mk][k], offer=offer[mk][k], price_prev=at(model.price, mk, k),
        inventory=at(model.inventory, mk, k), P0=at(p.P0, mk, k), D0=at(p.D0, mk, k) * at(p.demand_index, mk, k),
        eps=float(p.eps[k]), eps_sub=float(p.eps_sub[k]), backstop=at(p.backstop, mk, k),
        target=at(model.stock_target, mk, k), restock=at(p.restock, mk, k), buffer=at(p.buffer_share, mk, k),
        defense_share=at(p.defense_share, mk, k),
        gray_share=at(p.gray_share, mk, k), discount=at(p.gray_discount, mk, k),
        gray_elasticity=at(p.gray_elasticity, mk, k), gray_floor=at(p.gray_floor, mk, k), floor=at(p.floor, mk, k),
        guard=at(p.guard, mk, k)))
        for k in range(K)] for mk in range(M)]
    market = {key: np.array([[c[key] for c in row] for row in cleared]) for key in cleared[0][0]}
    model.inventory[:] = market.pop("inventory")
    sold_by = np.zeros((model.n_networks, M, K), bool).tolist()
    revenue = sell_lots(smugglers, market["gray_sold"].tolist(), market["gray_price"].tolist(), sold_by, trips)

    if p.learning:
        update_beliefs(t, smugglers, p, beliefs)
        store_beliefs(model, beliefs)
    store_smugglers(model, smugglers)
    return dict(departed=np.array(departed), diverted=np.array(diverted), wanted=np.array(wanted), spent=spent,
                fines=fines, arrests=arrests, offer=np.array(offer), revenue=revenue, trips=np.array(trips),
                sold_by=np.array(sold_by), **{key: np.array(v) for key, v in flows.items()}, **market)
