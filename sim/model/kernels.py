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

from sim.model.lazy import defer

defer("scipy.linalg")   # numba's first compile or cache load imports it only to look for a BLAS (sim.model.lazy)

POOL, ACTIVE, SHIPPING, SELLING, JAILED, BANKRUPT = 0, 1, 2, 3, 4, 5
# A smuggler's beliefs (see update_beliefs): still the prior (it has not been in the game at a belief
# update yet), its network's part plus its own, or stopped at bankruptcy (own_a, own_b hold them whole)
FRESH, JOINED, FROZEN = 0, 1, 2
RESCALE_BELOW = 1e-100   # own parts are rescaled to the current step when f^(steps since) falls below this
KG_PER_T = 1000.0
M_UNDERVALUE = 4


@njit(cache=True)
def interdiction_belief(i, g, fac, fresh, own_a, own_b, net_a, net_b, a0, b0, route_lane, route_ncp, r, m):
    """p_o = 1 - prod over the route's checkpoint lanes c of (1 - a/(a+b)), with smuggler i's Beta
    counts a = net_a[g] + fac x own_a[i] (see update_beliefs), or the prior a0, b0 when `fresh`."""
    through = 1.0
    for j in range(route_ncp[r]):
        c = route_lane[r, j]
        if fresh:
            a = a0[c]
            b = b0[c]
        else:
            a = net_a[g, c, m] + fac * own_a[i, c, m]
            b = net_b[g, c, m] + fac * own_b[i, c, m]
        through *= 1.0 - a / (a + b)
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
def choose(t, status, ready, capital, capacity_t, risk_aversion, cost_factor, network,
           own_a, own_b, joined, epoch, net_a, net_b, a0, b0, forgetting, u_choice, valid, route_market, route_lane, route_ncp, commission, freight, method_cost,
           origin_price, gray_buy, gray_exp, fine_multiple, arrest_prob, sentence_cost,
           temperature, risk_averse,
           out_k, out_r, out_m, out_q, out_unit):
    """Each ACTIVE smuggler that is `ready` this step picks an option (k, r, m) or stays idle (out_k = -1).

    G      = E[network_i, market_r, k] x (1 - commission_r)           (USD/kg, expected)
    unit   = W_k + cost_factor_i x (freight_r + cost_m)                         (USD/kg)
    EU     = q((1 - p)G - unit) - p(fine x q O_k + arrest x sentence_cost)
    CE     = EU - 0.5 rho p(1 - p)(win + loss)^2   (risk aversion on);   idle has CE = 0.
    Logit over options with a positive margin and idle (temperature > 0), else best response
    (idle on ties). q is capacity limited by capital, in t. Beliefs are those after the update of
    step t - 1 (see update_beliefs).
    """
    N = status.shape[0]
    K, R, NM = valid.shape
    G_net = gray_exp.shape[0]
    # once per step: the valid options in (k, r, m) order, their freight + concealment cost, and
    # every network's expected gray price net of the hub's commission
    n_opt = 0
    opt_k = np.empty(K * R * NM, np.int64)
    opt_r = np.empty(K * R * NM, np.int64)
    opt_m = np.empty(K * R * NM, np.int64)
    opt_cost = np.empty(K * R * NM)
    for k in range(K):
        for r in range(R):
            for m in range(NM):
                if valid[k, r, m]:
                    opt_k[n_opt] = k
                    opt_r[n_opt] = r
                    opt_m[n_opt] = m
                    opt_cost[n_opt] = freight[r] + method_cost[m]
                    n_opt += 1
    G = np.empty((G_net, K, R))
    for g in range(G_net):
        for k in range(K):
            for r in range(R):
                G[g, k, r] = gray_exp[g, route_market[r], k] * (1.0 - commission[r])
    # A smuggler's margin on option j is positive when cost_factor < (G - W) / cost_j. Per network,
    # the options sorted by that threshold (with a slack far above rounding) let each smuggler skip
    # the options that cannot pay; the exact test below decides for the rest.
    thr = np.empty((G_net, n_opt))
    order = np.empty((G_net, n_opt), np.int64)
    for g in range(G_net):
        for j in range(n_opt):
            Gx = G[g, opt_k[j], opt_r[j]]
            W = gray_buy[opt_k[j]]
            if opt_cost[j] > 0.0:
                thr[g, j] = ((Gx - W) + 1e-9 * (abs(Gx) + abs(W))) / opt_cost[j] * (1.0 + 1e-9)
            else:
                thr[g, j] = np.inf
        for j in range(n_opt):          # insertion sort by threshold, highest first (a few dozen options)
            y = j
            while y > 0 and thr[g, order[g, y - 1]] < thr[g, j]:
                order[g, y] = order[g, y - 1]
                y -= 1
            order[g, y] = j
    pay = np.empty(n_opt, np.int64)    # options that may pay for this smuggler, then in (k, r, m) order
    cand = np.empty(n_opt, np.int64)   # options this smuggler values (positive margin), in order
    fac = forgetting ** (t - 1 - epoch[0])   # own parts' weight in the counts after step t - 1's update
    ce = np.empty(n_opt)               # their certainty equivalents (USD)
    weight = np.empty(n_opt)           # exp((CE - best) / T)
    p_rm = np.empty(R * NM)            # believed interdiction per (route, method), the same for every k
    for i in range(N):
        out_k[i] = -1
        out_r[i] = -1
        out_m[i] = -1
        out_q[i] = 0.0
        out_unit[i] = 0.0
        if status[i] != ACTIVE or not ready[i]:
            continue
        g_net = network[i]
        cf = cost_factor[i]
        n_pay = 0
        for x in range(n_opt):
            j = order[g_net, x]
            if not thr[g_net, j] >= cf:
                break
            y = n_pay               # insertion keeps (k, r, m) order
            while y > 0 and pay[y - 1] > j:
                pay[y] = pay[y - 1]
                y -= 1
            pay[y] = j
            n_pay += 1
        if n_pay == 0:
            continue
        p_rm[:] = -1.0
        best = 0.0
        best_o = -1
        n = 0
        cap = capacity_t[i]
        money = capital[i]
        fresh = joined[i] == FRESH
        for x in range(n_pay):
            j = pay[x]
            k = opt_k[j]
            r = opt_r[j]
            unit = gray_buy[k] + cf * opt_cost[j]
            Gx = G[g_net, k, r]
            if Gx - unit <= 0.0:
                continue
            q = min(cap, money / (unit * KG_PER_T))
            if q <= 0.0:
                continue
            rm = r * NM + opt_m[j]
            if p_rm[rm] < 0.0:
                p_rm[rm] = interdiction_belief(i, g_net, fac, fresh, own_a, own_b, net_a, net_b, a0, b0,
                                               route_lane, route_ncp, r, opt_m[j])
            p = p_rm[rm]
            win = q * KG_PER_T * (Gx - unit)
            loss = q * KG_PER_T * unit + fine_multiple * q * KG_PER_T * origin_price[k] + arrest_prob * sentence_cost
            v = (1.0 - p) * win - p * loss
            if risk_averse:
                v -= 0.5 * risk_aversion[i] * p * (1.0 - p) * (win + loss) ** 2
            cand[n] = j
            ce[n] = v
            if v > best:
                best = v
                best_o = n
            n += 1
        if n == 0:
            continue
        chosen = best_o
        if temperature > 0.0:
            # logit: P(o) = exp(CE_o / T) / (exp(0) + sum exp(CE / T)), shifted by the max for stability;
            # idle first, then the options in (k, r, m) order along [0, total)
            idle = math.exp(-best / temperature)
            total = idle
            for c in range(n):
                total += math.exp((ce[c] - best) / temperature)
                weight[c] = total          # the running sum: the right edge of option c
            target = u_choice[i] * total
            chosen = -1
            if target >= idle:
                for c in range(n):
                    if target < weight[c]:
                        chosen = c
                        break
        if chosen < 0:
            continue
        j = cand[chosen]
        k = opt_k[j]
        unit = gray_buy[k] + cf * opt_cost[j]
        out_k[i] = k
        out_r[i] = opt_r[j]
        out_m[i] = opt_m[j]
        out_q[i] = min(cap, money / (unit * KG_PER_T))
        out_unit[i] = unit


@njit(cache=True)
def depart(t, status, capital, ship_k, ship_r, ship_m, ship_q, ship_depart, ship_pos, trip_cost, trip_rev,
           out_k, out_r, out_m, out_q, out_unit, gray_supply, want, departed_t, diverted_t):
    """Ration chosen quantities (summed into `want` [K] t) to the diverted supply per commodity
    (pro rata) and send them off. Returns the money spent (USD)."""
    K = gray_supply.shape[0]
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
    NCP = cp_capacity.shape[0]
    fines = 0.0
    arrests = 0
    ships = np.flatnonzero(status == SHIPPING)   # nobody starts shipping during this kernel
    S = ships.shape[0]
    due = np.empty(S, np.int64)     # this round's consignments (smuggler indices, ascending)
    score = np.empty(S)
    ncont = np.empty(S)
    for rnd in range(4):
        s_sum = np.zeros(NCP)
        n_sum = np.zeros(NCP)
        n_due = 0
        for i in ships:
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
            due[n_due] = i
            score[n_due] = s
            ncont[n_due] = n
            n_due += 1
            s_sum[c] += s * n
            n_sum[c] += n
        if n_due == 0:
            break
        for c in range(NCP):
            n_smuggled[c] += n_sum[c]
            s_smuggled[c] += s_sum[c]
        for d in range(n_due):
            i = due[d]
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
            pi = inspection_prob(cell_coop[cell], cp_capacity[c], cp_random_share[c], score[d],
                                 legit_n[c] + n_sum[c], legit_s[c] + s_sum[c])
            insp_smuggled[c] += ncont[d] * pi
            p_insp = 1.0 - (1.0 - pi) ** ncont[d]
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
    left = gray_sold.copy()
    revenue = 0.0
    if not (left > 0.0).any():
        return revenue        # nothing sells (each lot would take min(lot, 0) = 0)
    for i in _lots_in_order(status, hold_since):
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
def _lots_in_order(status, hold_since):
    """Indices of SELLING smugglers by the step their lot arrived, then by index (a counting sort
    over steps: linear, and quick to compile, unlike np.argsort)."""
    first, last, n = 0, -1, 0
    for i in range(status.shape[0]):
        if status[i] == SELLING:
            if n == 0 or hold_since[i] < first:
                first = hold_since[i]
            if n == 0 or hold_since[i] > last:
                last = hold_since[i]
            n += 1
    start = np.zeros(last - first + 2, np.int64)    # start[s - first]: where lots of step s begin
    for i in range(status.shape[0]):
        if status[i] == SELLING:
            start[hold_since[i] - first + 1] += 1
    for s in range(1, start.shape[0]):
        start[s] += start[s - 1]
    out = np.empty(n, np.int64)
    for i in range(status.shape[0]):                  # in index order within each step
        if status[i] == SELLING:
            out[start[hold_since[i] - first]] = i
            start[hold_since[i] - first] += 1
    return out


@njit(cache=True)
def offer_by_market(status, hold_q, hold_k, hold_mkt, out):
    """Add every SELLING smuggler's unsold goods (t) to out[market, commodity]."""
    for i in range(status.shape[0]):
        if status[i] == SELLING:
            out[hold_mkt[i], hold_k[i]] += hold_q[i]


@njit(cache=True)
def update_beliefs(t, status, network, own_a, own_b, joined, epoch, net_a, net_b, a0, b0, forgetting, network_share,
                   public_share, obs_cp, obs_seized, n_obs, ship_m):
    """The belief update of step t (docs/model.md §10), in closed form.

    Smuggler i in network g holds Beta counts per lane (checkpoint x declared consignee) and
    method; each step, while in the game (not in the pool, not bankrupt):

        a <- f a + (1 - f) a0 + own_s + w_net (net_s - own_s) + w_pub (pub_s - own_s)
        b <- f b + (1 - f) b0 + own_p + w_net (net_p - own_p)

    The update is linear, so a = net_a[g] + f^(t - epoch) own_a[i] exactly: a network part that
    every member shares, net_a <- f net_a + (1 - f) a0 + w_net net_s + w_pub pub_s (tiny: networks
    x lanes x methods), and the smuggler's own part, own_a <- f own_a + (1 - w_net - w_pub) own_s,
    which changes only by its own observations and otherwise decays by f per step. Own parts are
    stored scaled to step `epoch[0]` (an observation at step t adds its weight / f^(t - epoch)), so
    a step costs O(smugglers) for a scan plus O(observations), not O(smugglers x lanes x methods);
    when f^(t - epoch) falls below RESCALE_BELOW, all own parts are rescaled to step t. A smuggler
    still at the prior (FRESH) joins with own part f (a0 - net_a) at its first update; one gone
    bankrupt keeps its counts of step t - 1 whole (FROZEN).
    """
    N = status.shape[0]
    G, NL, NM = net_a.shape
    f = forgetting
    before = f ** (t - 1 - epoch[0])           # own parts' weight after the update of step t - 1
    scale = f ** (t - epoch[0])                # ... and after this one
    if scale < RESCALE_BELOW:
        for i in range(N):
            if joined[i] == JOINED:
                g = network[i]
                for c in range(NL):
                    for m in range(NM):
                        if status[i] == BANKRUPT:
                            own_a[i, c, m] = net_a[g, c, m] + before * own_a[i, c, m]
                            own_b[i, c, m] = net_b[g, c, m] + before * own_b[i, c, m]
                        else:
                            own_a[i, c, m] *= scale
                            own_b[i, c, m] *= scale
                if status[i] == BANKRUPT:
                    joined[i] = FROZEN
        epoch[0] = t
        scale = 1.0
    net_seized = np.zeros((G, NL, NM))
    net_passed = np.zeros((G, NL, NM))
    pub_seized = np.zeros((NL, NM))
    w_seized = (1.0 - network_share - public_share) / scale
    w_passed = (1.0 - network_share) / scale
    for i in range(N):
        g = network[i]
        m = ship_m[i]
        for o in range(n_obs[i]):
            if obs_seized[i, o]:
                net_seized[g, obs_cp[i, o], m] += 1.0
                pub_seized[obs_cp[i, o], m] += 1.0
            else:
                net_passed[g, obs_cp[i, o], m] += 1.0
        st = status[i]
        if st == POOL or joined[i] == FROZEN:
            continue
        if st == BANKRUPT:                     # out of the game: its counts after step t - 1, whole
            for c in range(NL):
                for mm in range(NM):
                    if joined[i] == FRESH:
                        own_a[i, c, mm] = a0[c]
                        own_b[i, c, mm] = b0[c]
                    else:
                        own_a[i, c, mm] = net_a[g, c, mm] + before * own_a[i, c, mm]
                        own_b[i, c, mm] = net_b[g, c, mm] + before * own_b[i, c, mm]
            joined[i] = FROZEN
            continue
        if joined[i] == FRESH:
            for c in range(NL):
                for mm in range(NM):
                    own_a[i, c, mm] = f * (a0[c] - net_a[g, c, mm]) / scale
                    own_b[i, c, mm] = f * (b0[c] - net_b[g, c, mm]) / scale
            joined[i] = JOINED
        for o in range(n_obs[i]):
            if obs_seized[i, o]:
                own_a[i, obs_cp[i, o], m] += w_seized
            else:
                own_b[i, obs_cp[i, o], m] += w_passed
    for g in range(G):
        for c in range(NL):
            for m in range(NM):
                net_a[g, c, m] = f * net_a[g, c, m] + (1.0 - f) * a0[c] + network_share * net_seized[g, c, m] \
                    + public_share * pub_seized[c, m]
                net_b[g, c, m] = f * net_b[g, c, m] + (1.0 - f) * b0[c] + network_share * net_passed[g, c, m]


@njit(cache=True)
def cell_inspection_probs(cell_cp, score, cell_coop, cp_capacity, cp_random_share, n_all, s_all):
    """Per declared cell, the chance that one of its containers is inspected this step, over all
    containers seen at its checkpoint (n_all, s_all: legitimate and smuggled)."""
    out = np.empty(cell_cp.shape[0])
    for i in range(cell_cp.shape[0]):
        c = cell_cp[i]
        out[i] = inspection_prob(cell_coop[i], cp_capacity[c], cp_random_share[c], score[i], n_all[c], s_all[c])
    return out
