"""The compiled step core: pure functions on arrays, `@njit(cache=True)`.

No I/O, no Python objects, no random state: every random number a kernel uses is drawn
beforehand by the model from its one `numpy.random.Generator` and passed in, so
`sim.model.reference` (plain Python, one object per smuggler) can replay the same draws and
must give the same result. Equations and their justification: docs/model.md.

Smuggler status codes are the constants below. A smuggler has at most one shipment in
flight (SHIPPING) or one lot of goods waiting for gray buyers (SELLING). A jailed smuggler
stays JAILED until its release step, also when that lies beyond the run.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

POOL, ACTIVE, SHIPPING, SELLING, JAILED, BANKRUPT = 0, 1, 2, 3, 4, 5
KG_PER_T = 1000.0
M_UNDERVALUE = 4


@njit(cache=True)
def interdiction_belief(a, b, i, route_lane, route_ncp, r, m):
    """p_o = 1 - prod over the route's checkpoint lanes c of (1 - a/(a+b))."""
    through = 1.0
    for j in range(route_ncp[r]):
        c = route_lane[r, j]
        through *= 1.0 - a[i, c, m] / (a[i, c, m] + b[i, c, m])
    return 1.0 - through


@njit(cache=True)
def inspection_prob(coop, capacity, random_share, score, n_all, s_all):
    """Chance that one container with risk score `score` is inspected at a checkpoint that sees
    n_all containers with total score s_all this step (MODEL.md §4.4):

        pi = coop x (rho cap / N_all + (1 - rho) cap score / S_all),  at most 1.

    The same function scores legitimate and smuggled containers (verification V10)."""
    if n_all <= 0.0 or capacity <= 0.0 or coop <= 0.0:
        return 0.0
    pi = coop * (random_share * capacity / n_all + (1.0 - random_share) * capacity * score / s_all)
    return min(1.0, pi)


@njit(cache=True)
def choose(status, ready, capital, capacity_t, risk_aversion, cost_factor, network, a, b, u_choice,
           valid, route_market, route_lane, route_ncp, commission, freight, method_cost,
           origin_price, gray_buy, gray_exp, fine_multiple, arrest_prob, sentence_cost,
           temperature, risk_averse,
           out_k, out_r, out_m, out_q, out_unit):
    """Each ACTIVE smuggler that is `ready` this step picks an option (k, r, m) or stays idle (out_k = -1).

    G      = E[network_i, market_r, k] x (1 - commission_r)           (USD/kg, expected)
    unit   = W_k + cost_factor_i x (freight_r + cost_m)                         (USD/kg)
    EU     = q((1 - p)G - unit) - p(fine x q O_k + arrest x sentence_cost)
    CE     = EU - 0.5 rho p(1 - p)(win + loss)^2   (risk aversion on);   idle has CE = 0.
    Logit over options with a positive margin and idle (temperature > 0), else best response
    (idle on ties). q is capacity limited by capital, in t.
    """
    N = status.shape[0]
    K, R, NM = valid.shape
    ce = np.empty(K * R * NM)
    weight = np.empty(K * R * NM)   # exp((CE - best) / T), computed once per option
    p_rm = np.empty(R * NM)         # believed interdiction per (route, method), the same for every k
    for i in range(N):
        out_k[i] = -1
        out_r[i] = -1
        out_m[i] = -1
        out_q[i] = 0.0
        out_unit[i] = 0.0
        if status[i] != ACTIVE or not ready[i]:
            continue
        p_rm[:] = -1.0
        best = 0.0
        best_o = -1
        n = 0
        g_net = network[i]
        for k in range(K):
            O = origin_price[k]
            for r in range(R):
                G = gray_exp[g_net, route_market[r], k] * (1.0 - commission[r])
                for m in range(NM):
                    o = (k * R + r) * NM + m
                    ce[o] = -np.inf
                    if not valid[k, r, m]:
                        continue
                    unit = gray_buy[k] + cost_factor[i] * (freight[r] + method_cost[m])
                    if G - unit <= 0.0:
                        continue
                    q = min(capacity_t[i], capital[i] / (unit * KG_PER_T))
                    if q <= 0.0:
                        continue
                    if p_rm[r * NM + m] < 0.0:
                        p_rm[r * NM + m] = interdiction_belief(a, b, i, route_lane, route_ncp, r, m)
                    p = p_rm[r * NM + m]
                    win = q * KG_PER_T * (G - unit)
                    loss = q * KG_PER_T * unit + fine_multiple * q * KG_PER_T * O + arrest_prob * sentence_cost
                    v = (1.0 - p) * win - p * loss
                    if risk_averse:
                        v -= 0.5 * risk_aversion[i] * p * (1.0 - p) * (win + loss) ** 2
                    ce[o] = v
                    n += 1
                    if v > best:
                        best = v
                        best_o = o
        if n == 0:
            continue
        chosen = best_o
        if temperature > 0.0:
            # logit: P(o) = exp(CE_o / T) / (exp(0) + sum exp(CE / T)), shifted by the max for stability
            idle = math.exp(-best / temperature)
            total = idle
            for o in range(K * R * NM):
                if ce[o] > -np.inf:
                    weight[o] = math.exp((ce[o] - best) / temperature)
                    total += weight[o]
            target = u_choice[i] * total
            acc = idle
            chosen = -1
            if target >= acc:
                for o in range(K * R * NM):
                    if ce[o] > -np.inf:
                        acc += weight[o]
                        if target < acc:
                            chosen = o
                            break
        if chosen < 0:
            continue
        k = chosen // (R * NM)
        r = (chosen // NM) % R
        m = chosen % NM
        unit = gray_buy[k] + cost_factor[i] * (freight[r] + method_cost[m])
        out_k[i] = k
        out_r[i] = r
        out_m[i] = m
        out_q[i] = min(capacity_t[i], capital[i] / (unit * KG_PER_T))
        out_unit[i] = unit


@njit(cache=True)
def depart(t, status, capital, ship_k, ship_r, ship_m, ship_q, ship_depart, ship_pos, trip_cost, trip_rev,
           out_k, out_r, out_m, out_q, out_unit, gray_supply, departed_t, diverted_t):
    """Ration chosen quantities to the diverted supply per commodity (pro rata) and send them off.

    Returns the money spent (USD)."""
    K = gray_supply.shape[0]
    want = np.zeros(K)
    for i in range(status.shape[0]):
        if out_k[i] >= 0:
            want[out_k[i]] += out_q[i]
    scale = np.ones(K)
    for k in range(K):
        if want[k] > gray_supply[k]:
            scale[k] = gray_supply[k] / want[k]
    spent = 0.0
    for i in range(status.shape[0]):
        k = out_k[i]
        if k < 0:
            continue
        q = out_q[i] * scale[k]
        if q <= 0.0:
            continue
        status[i] = SHIPPING
        ship_k[i] = k
        ship_r[i] = out_r[i]
        ship_m[i] = out_m[i]
        ship_q[i] = q
        ship_depart[i] = t
        ship_pos[i] = 0
        # q may be capital / unit: never pay more than is held (q x unit can exceed it by a rounding residue)
        cost = min(q * KG_PER_T * out_unit[i], capital[i])
        capital[i] -= cost
        spent += cost
        trip_cost[i] = cost
        trip_rev[i] = 0.0
        departed_t[out_r[i], out_m[i]] += q
        diverted_t[k] += q
    return spent


@njit(cache=True)
def cross_checkpoints(t, status, capital, network, ship_k, ship_r, ship_m, ship_q, ship_depart, ship_pos,
                      hold_q, hold_k, hold_mkt, hold_comm, hold_since, trip_cost, trip_rev,
                      route_cp, route_lane, route_cp_offset, route_ncp, route_market, route_via, cp_country, cp_kind,
                      hub_of_country, decl_cell, cell_cat, cell_origin, origin, commission, container_kg,
                      cp_capacity, cp_detect, cell_coop, cp_random_share, cp_corruption,
                      cell_score, cp_tip_w, tip_until, legit_n, legit_s, cap_room,
                      origin_price, fine_multiple, arrest_prob, sentence_steps, release_step,
                      u_cp, u_arrest,
                      obs_cp, obs_seized, n_obs,
                      crossing_t, seized_t, seizures, cell_seized, cell_clean, insp_smuggled, n_smuggled, s_smuggled,
                      delivered, transit_rec, seized_k, refused_t, returned_k, trips):
    """Move every shipment through the checkpoints due this step, in rounds (a shipment passes a
    hub's import and export checkpoints in the same step).

    A consignment of n containers shows the declaration `decl_cell[k, r, j, m]`; its risk score is
    that cell's score (learned hit rate, value anomaly, trade-anomaly flag, control screening: the
    same for every container in the cell) plus the tip bonus if its consignee network is tipped.
    Each container is inspected with `inspection_prob`, over all containers at the checkpoint
    (legitimate: legit_n, legit_s; smuggled: this round's); the consignment is inspected with
    1 - (1 - pi)^n; inspected goods are detected with cp_detect[c, m]; a share `corruption` of
    detections is bribed away. At a hub's import checkpoint, goods declared as the origin's
    commodity are refused once the hub's import cap is used up (cap_room, t) and go back to the
    origin, where the smuggler sells them at the domestic price. `trips` accumulates
    [completed trips, their profit USD]. Returns (fines USD, arrests).
    """
    N = status.shape[0]
    NCP = cp_capacity.shape[0]
    fines = 0.0
    arrests = 0
    for rnd in range(4):
        s_sum = np.zeros(NCP)
        n_sum = np.zeros(NCP)
        due = np.zeros(N, np.bool_)
        score = np.zeros(N)
        ncont = np.zeros(N)
        any_due = False
        for i in range(N):
            if status[i] != SHIPPING:
                continue
            r = ship_r[i]
            j = ship_pos[i]
            if ship_depart[i] + route_cp_offset[r, j] != t:
                continue
            c = route_cp[r, j]
            s = cell_score[decl_cell[ship_k[i], r, j, ship_m[i]]]
            if tip_until[c, network[i]] >= t:
                s += cp_tip_w[c]
            n = math.ceil(ship_q[i] * KG_PER_T / container_kg[ship_k[i]])
            due[i] = True
            score[i] = s
            ncont[i] = n
            s_sum[c] += s * n
            n_sum[c] += n
            any_due = True
        if not any_due:
            break
        for c in range(NCP):
            n_smuggled[c] += n_sum[c]
            s_smuggled[c] += s_sum[c]
        for i in range(N):
            if not due[i]:
                continue
            r = ship_r[i]
            j = ship_pos[i]
            c = route_cp[r, j]
            m = ship_m[i]
            k = ship_k[i]
            q = ship_q[i]
            cell = decl_cell[k, r, j, m]
            crossing_t[c] += q
            hub = hub_of_country[cp_country[c]]
            declares_origin_goods = cell_cat[cell] == k and cell_origin[cell] == origin
            if cp_kind[c] == 0 and hub >= 0 and declares_origin_goods and q > cap_room[hub, k]:
                # refused at the hub's import cap: back to the origin, sold at the domestic price
                refused_t[c, k] += q
                returned_k[k] += q
                back = q * KG_PER_T * origin_price[k]
                capital[i] += back
                trips[0] += 1.0
                trips[1] += back - trip_cost[i]
                ship_q[i] = 0.0
                status[i] = ACTIVE
                continue
            pi = inspection_prob(cell_coop[cell], cp_capacity[c], cp_random_share[c], score[i],
                                 legit_n[c] + n_sum[c], legit_s[c] + s_sum[c])
            insp_smuggled[c] += ncont[i] * pi
            p_insp = 1.0 - (1.0 - pi) ** ncont[i]
            inspected = u_cp[rnd, i, 0] < p_insp
            seized = inspected and (u_cp[rnd, i, 1] < cp_detect[c, m]) and (u_cp[rnd, i, 2] >= cp_corruption[c])
            o = n_obs[i]
            obs_cp[i, o] = route_lane[r, j]
            obs_seized[i, o] = seized
            n_obs[i] = o + 1
            if seized:
                cell_seized[cell] += 1.0
                seized_t[c, m] += q
                seizures[c, m] += 1
                seized_k[k] += q
                fine = fine_multiple * q * KG_PER_T * origin_price[k]
                capital[i] -= fine
                fines += fine
                trips[0] += 1.0
                trips[1] -= trip_cost[i] + fine
                ship_q[i] = 0.0
                status[i] = ACTIVE
                if u_arrest[i] < arrest_prob:
                    arrests += 1
                    release_step[i] = t + sentence_steps
                    status[i] = JAILED
                if capital[i] < 0.0 and status[i] != JAILED:   # jailed first: bankrupt on release
                    status[i] = BANKRUPT
                continue
            if inspected:
                cell_clean[cell] += 1.0
            if cp_kind[c] == 0 and hub >= 0 and declares_origin_goods:
                transit_rec[hub, k] += q
                cap_room[hub, k] -= q
            ship_pos[i] = j + 1
            if j + 1 == route_ncp[r]:  # through the destination's import checkpoint
                delivered[r, m, k] += q
                status[i] = SELLING
                hold_q[i] = q
                hold_k[i] = k
                hold_mkt[i] = route_market[r]
                hold_comm[i] = commission[r]
                hold_since[i] = t
                ship_q[i] = 0.0
    return fines, arrests


@njit(cache=True)
def clear_markets(arrivals, gray_offer, price_prev, inventory, P0, D0, demand_index, eps, eps_sub, backstop,
                  stock_target, restock, buffer_share, defense_share, gray_share, gray_discount, gray_elasticity,
                  gray_floor,
                  floor, guard,
                  price, gray_price, gray_sold, consumption, legal_use, unmet, at_guard):
    """Clear every market and commodity (MODEL.md §5.2).

    demand     D(P) = x D0 (P / P0)^-eps up to the backstop Pb, D(Pb)(P / Pb)^-eps_sub above it
    gray       at the usual gray price (1 - disc) P, gray buyers take up to g* = gray_share x D(P_prev);
               a larger offer sells at a deeper discount, (1 - disc) P (offer / g*)^(-1 / gray_elasticity),
               down to gray_floor x the usual gray price (or the price at which every civil buyer takes
               gray goods, if higher), below which smugglers hold the rest
    release    r = clip(restock (I - I*) + buffer x (x D0 - A - g), -(A + g), I)   (negative: into stock)
    S = A + r + g;  P = D^-1(S), kept within [floor, guard] (at_guard flags it)
    unmet      demand given up to substitutes: x D0 (P / P0)^-eps - S above the backstop
    """
    M, K = P0.shape
    for mk in range(M):
        for k in range(K):
            A = arrivals[mk, k]
            p0 = P0[mk, k]
            d0 = demand_index[mk, k] * D0[mk, k]
            pb = backstop[mk, k]
            db = d0 * (pb / p0) ** (-eps[k])
            pp = price_prev[mk, k]
            dprev = d0 * (pp / p0) ** (-eps[k]) if pp <= pb else db * (pp / pb) ** (-eps_sub[k])
            want = gray_share[mk, k] * dprev
            off = gray_offer[mk, k]
            most = (1.0 - defense_share[mk, k]) * dprev   # every civil buyer
            ratio = 1.0                                   # gray price over the usual gray price
            g = off
            if off > want:
                ratio = (off / want) ** (-1.0 / gray_elasticity[mk, k]) if want > 0.0 else 0.0
                floor_ratio = gray_floor[mk, k]
                if want > 0.0 and most < want * floor_ratio ** (-gray_elasticity[mk, k]):
                    floor_ratio = max(floor_ratio, (most / want) ** (-1.0 / gray_elasticity[mk, k]))
                if ratio < floor_ratio:
                    ratio = floor_ratio
                    g = want * ratio ** (-gray_elasticity[mk, k]) if want > 0.0 else 0.0
            I = inventory[mk, k]
            r = restock[mk, k] * (I - stock_target[mk, k]) + buffer_share[mk, k] * (d0 - A - g)
            r = min(max(r, -(A + g)), I)
            inventory[mk, k] = I - r
            S = A + r + g
            if S >= db:
                p = p0 * (S / d0) ** (-1.0 / eps[k])
            elif S > 0.0:
                p = pb * (S / db) ** (-1.0 / eps_sub[k])
            else:
                p = guard[mk, k]
            at_guard[mk, k] = p >= guard[mk, k] or p <= floor[mk, k]
            p = min(max(p, floor[mk, k]), guard[mk, k])
            price[mk, k] = p
            gray_price[mk, k] = ratio * (1.0 - gray_discount[mk, k]) * p
            gray_sold[mk, k] = g
            consumption[mk, k] = S
            legal_use[mk, k] = A + max(r, 0.0)  # legal goods reaching buyers (defense buys only these)
            unmet[mk, k] = max(d0 * (p / p0) ** (-eps[k]) - S, 0.0) if p > pb else 0.0


@njit(cache=True)
def sell_gray(status, capital, network, hold_q, hold_k, hold_mkt, hold_comm, hold_since, trip_cost, trip_rev,
              gray_sold, gray_price, sold_by, trips):
    """Gray buyers in each market take gray_sold t, lots first come first served (by the step they
    arrived, then by smuggler index), at the gray price net of the hub commission; a lot sold out
    completes the trip. sold_by[g, m, k] marks networks that sold. Returns revenue (USD)."""
    N = status.shape[0]
    M, K = gray_sold.shape
    left = gray_sold.copy()
    order = np.argsort(hold_since * N + np.arange(N), kind="mergesort")
    revenue = 0.0
    for i in order:
        if status[i] != SELLING:
            continue
        mk = hold_mkt[i]
        k = hold_k[i]
        q = min(hold_q[i], left[mk, k])
        if q <= 0.0:
            continue
        left[mk, k] -= q
        rev = q * KG_PER_T * gray_price[mk, k] * (1.0 - hold_comm[i])
        capital[i] += rev
        trip_rev[i] += rev
        revenue += rev
        sold_by[network[i], mk, k] = True
        if q >= hold_q[i]:
            hold_q[i] = 0.0
            status[i] = ACTIVE
            trips[0] += 1.0
            trips[1] += trip_rev[i] - trip_cost[i]
        else:
            hold_q[i] -= q
    return revenue


@njit(cache=True)
def offer_by_market(status, hold_q, hold_k, hold_mkt, out):
    """Add every SELLING smuggler's unsold goods (t) to out[market, commodity]."""
    for i in range(status.shape[0]):
        if status[i] == SELLING:
            out[hold_mkt[i], hold_k[i]] += hold_q[i]


@njit(cache=True)
def update_beliefs(status, network, a, b, a0, b0, forgetting, network_share, public_share,
                   obs_cp, obs_seized, n_obs, ship_m, n_networks):
    """Beliefs are per lane (checkpoint x declared consignee) and method: a, b [N, NL, 6].
    Forget toward the prior, then add own observations (weight 1), the rest of the network's
    (weight network_share) and everybody's seizures (weight public_share)."""
    N, NCP, NM = a.shape
    net_seized = np.zeros((n_networks, NCP, NM))
    net_passed = np.zeros((n_networks, NCP, NM))
    pub_seized = np.zeros((NCP, NM))
    for i in range(N):
        for o in range(n_obs[i]):
            c = obs_cp[i, o]
            m = ship_m[i]
            if obs_seized[i, o]:
                net_seized[network[i], c, m] += 1.0
                pub_seized[c, m] += 1.0
            else:
                net_passed[network[i], c, m] += 1.0
    for i in range(N):
        st = status[i]
        if st == POOL or st == BANKRUPT:
            continue
        g = network[i]
        for c in range(NCP):
            for m in range(NM):
                if net_seized[g, c, m] == 0.0 and net_passed[g, c, m] == 0.0 and pub_seized[c, m] == 0.0:
                    # nobody this smuggler hears from crossed here: only forgetting (the terms below are 0)
                    a[i, c, m] = forgetting * a[i, c, m] + (1.0 - forgetting) * a0[c]
                    b[i, c, m] = forgetting * b[i, c, m] + (1.0 - forgetting) * b0[c]
                    continue
                own_s = 0.0
                own_p = 0.0
                for o in range(n_obs[i]):
                    if obs_cp[i, o] == c and ship_m[i] == m:
                        if obs_seized[i, o]:
                            own_s += 1.0
                        else:
                            own_p += 1.0
                a[i, c, m] = forgetting * a[i, c, m] + (1.0 - forgetting) * a0[c] + own_s \
                    + network_share * (net_seized[g, c, m] - own_s) + public_share * (pub_seized[c, m] - own_s)
                b[i, c, m] = forgetting * b[i, c, m] + (1.0 - forgetting) * b0[c] + own_p \
                    + network_share * (net_passed[g, c, m] - own_p)


@njit(cache=True)
def cell_inspection_probs(cell_cp, score, cell_coop, cp_capacity, cp_random_share, n_all, s_all):
    """Per declared cell, the chance that one of its containers is inspected this step, over all
    containers seen at its checkpoint (n_all, s_all: legitimate and smuggled)."""
    out = np.empty(cell_cp.shape[0])
    for i in range(cell_cp.shape[0]):
        c = cell_cp[i]
        out[i] = inspection_prob(cell_coop[i], cp_capacity[c], cp_random_share[c], score[i], n_all[c], s_all[c])
    return out
