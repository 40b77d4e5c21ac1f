"""The compiled step core: pure functions on arrays, `@njit(cache=True)`.

No I/O, no Python objects, no random state: every random number a kernel uses is
drawn beforehand by the model from its one `numpy.random.Generator` and passed in, so
`sim.model.reference` (plain Python, one loop per agent) can replay the same draws and must
give the same result. Equations and their justification: docs/model.md.

Smuggler status codes are the constants below. A smuggler has at most one shipment in
flight (SHIPPING) or one lot of goods waiting for gray buyers (SELLING).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

POOL, ACTIVE, SHIPPING, SELLING, JAILED, BANKRUPT, REMOVED = 0, 1, 2, 3, 4, 5, 6
KG_PER_T = 1000.0


@njit(cache=True)
def interdiction_belief(a, b, i, route_lane, route_ncp, r, m):
    """p_o = 1 - prod over the route's checkpoint lanes c of (1 - a/(a+b))."""
    through = 1.0
    for j in range(route_ncp[r]):
        c = route_lane[r, j]
        through *= 1.0 - a[i, c, m] / (a[i, c, m] + b[i, c, m])
    return 1.0 - through


@njit(cache=True)
def choose(status, ready, capital, capacity_t, risk_aversion, a, b, u_choice,
           valid, route_market, route_lane, route_ncp, commission, freight, method_cost,
           origin_price, gray_exp, gray_markup, fine_multiple, arrest_prob, sentence_cost,
           temperature, risk_averse,
           out_k, out_r, out_m, out_q, out_unit):
    """Each ACTIVE smuggler that is `ready` this step picks an option (k, r, m) or stays idle (out_k = -1).

    margin = G(1 - comm) - O(1 + markup) - freight - cost_m        (USD/kg)
    EU     = q((1 - p)G(1 - comm) - unit) - p(fine x q O + arrest x sentence_cost)
    CE     = EU - 0.5 rho Var   (risk aversion on);   idle has CE = 0.
    Logit over options with positive margin and idle (temperature > 0), else best response
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
        if status[i] != 1 or not ready[i]:
            continue
        p_rm[:] = -1.0
        best = 0.0
        best_o = -1
        n = 0
        for k in range(K):
            O = origin_price[k]
            for r in range(R):
                G = gray_exp[route_market[r], k] * (1.0 - commission[r])
                for m in range(NM):
                    o = (k * R + r) * NM + m
                    ce[o] = -np.inf
                    if not valid[k, r, m]:
                        continue
                    unit = O * (1.0 + gray_markup) + freight[r] + method_cost[m]
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
        unit = origin_price[k] * (1.0 + gray_markup) + freight[r] + method_cost[m]
        out_k[i] = k
        out_r[i] = r
        out_m[i] = m
        out_q[i] = min(capacity_t[i], capital[i] / (unit * KG_PER_T))
        out_unit[i] = unit


@njit(cache=True)
def depart(t, status, capital, ship_k, ship_r, ship_m, ship_q, ship_unit, ship_depart, ship_pos,
           out_k, out_r, out_m, out_q, out_unit, gray_supply, departed_t, diverted_t):
    """Ration chosen quantities to the gray supply per commodity (pro rata) and send them off.

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
        status[i] = 2
        ship_k[i] = k
        ship_r[i] = out_r[i]
        ship_m[i] = out_m[i]
        ship_q[i] = q
        ship_unit[i] = out_unit[i]
        ship_depart[i] = t
        ship_pos[i] = 0
        # q may be capital / unit: never pay more than is held (q x unit can exceed it by a rounding residue)
        cost = min(q * KG_PER_T * out_unit[i], capital[i])
        capital[i] -= cost
        spent += cost
        departed_t[out_r[i], out_m[i]] += q
        diverted_t[k] += q
    return spent


@njit(cache=True)
def cross_checkpoints(t, last_step, status, capital, network, ship_k, ship_r, ship_m, ship_q,
                      ship_depart, ship_pos, hold_q, hold_k, hold_mkt, hold_comm,
                      route_cp, route_lane, route_cp_offset, route_ncp, route_market, route_via, cp_country, cp_kind,
                      commission, container_kg, cp_capacity, cp_legit, cp_detect, cp_coop,
                      cp_random_share, cp_corruption, cp_learn_w, cp_value_w, cp_restricted_w, route_restricted, cp_anomaly_w,
                      cp_anomaly_on, cp_anomaly_thr, cp_tip_w, hits, tip_until, route_surge, method_declares,
                      origin_price, fine_multiple, arrest_prob, sentence_steps, release_step,
                      u_cp, u_arrest,
                      obs_cp, obs_seized, n_obs,
                      crossing_t, crossing_cont, seized_t, seizures, seizures_crm, delivered,
                      transit_rec, seized_k):
    """Move every shipment through the checkpoints due this step, in rounds (a shipment may pass
    a transit country's import and export checkpoints in the same step).

    Inspection probability per container, scaled by the country's cooperation:
        pi = coop * (rho cap / N_all + (1 - rho) cap s / S_all),  capped at 1,
    where N_all counts legitimate plus smuggled containers, S_all sums their risk scores
    (legitimate containers score 1). A consignment of n containers is inspected with
    1 - (1 - pi)^n; inspected goods are detected with cp_detect[c, m]; a share `corruption`
    of detections is bribed away. Returns (fines USD, arrests).
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
            if status[i] != 2:
                continue
            r = ship_r[i]
            j = ship_pos[i]
            if ship_depart[i] + route_cp_offset[r, j] != t:
                continue
            c = route_cp[r, j]
            m = ship_m[i]
            s = 1.0 + cp_learn_w[c] * hits[c, r, m]
            if route_restricted[ship_k[i], r] and not (j == 0 and route_via[r] >= 0):
                s += cp_restricted_w[c]  # declared to a controlled destination (a hub's end user is not)
            if m == 4:  # undervalue: declared value a fifth of the real one
                s += cp_value_w[c]
            if cp_anomaly_on[c] and route_surge[r] > cp_anomaly_thr[c]:
                s += cp_anomaly_w[c]
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
        for i in range(N):
            if not due[i]:
                continue
            r = ship_r[i]
            j = ship_pos[i]
            c = route_cp[r, j]
            m = ship_m[i]
            k = ship_k[i]
            q = ship_q[i]
            crossing_t[c] += q
            crossing_cont[c] += ncont[i]
            cap = cp_capacity[c]
            rho = cp_random_share[c]
            pi = cp_coop[c] * (rho * cap / (cp_legit[c] + n_sum[c]) + (1.0 - rho) * cap * score[i] / (cp_legit[c] + s_sum[c]))
            pi = min(1.0, pi)
            p_insp = 1.0 - (1.0 - pi) ** ncont[i]
            seized = (u_cp[rnd, i, 0] < p_insp) and (u_cp[rnd, i, 1] < cp_detect[c, m]) \
                and (u_cp[rnd, i, 2] >= cp_corruption[c])
            o = n_obs[i]
            obs_cp[i, o] = route_lane[r, j]
            obs_seized[i, o] = seized
            n_obs[i] = o + 1
            if seized:
                seized_t[c, m] += q
                seizures[c, m] += 1
                seizures_crm[c, r, m] += 1
                seized_k[k] += q
                fine = fine_multiple * q * KG_PER_T * origin_price[k]
                capital[i] -= fine
                fines += fine
                ship_q[i] = 0.0
                status[i] = 1
                if u_arrest[i] < arrest_prob:
                    arrests += 1
                    release_step[i] = t + sentence_steps
                    status[i] = 4 if t + sentence_steps <= last_step else 6
                if capital[i] < 0.0:
                    status[i] = 5
                continue
            if cp_kind[c] == 0 and cp_country[c] == route_via[r] and method_declares[m]:
                transit_rec[cp_country[c], k] += q
            ship_pos[i] = j + 1
            if j + 1 == route_ncp[r]:  # through the destination's import checkpoint
                dm = route_market[r]
                delivered[r, m, k] += q
                status[i] = 3
                hold_q[i] = q
                hold_k[i] = k
                hold_mkt[i] = dm
                hold_comm[i] = commission[r]
                ship_q[i] = 0.0
    return fines, arrests


@njit(cache=True)
def clear_markets(arrivals, gray_offer, price_prev, inventory, P0, D0, eps, stock_target, restock,
                  buffer_share, gray_share, gray_discount, floor, cap,
                  price, gray_price, gray_sold, consumption, legal_use):
    """Clear every market and commodity.

    gray sold  = min(offered, gray_share x D0 (P_prev / P0)^-eps)
    release r  = clip(restock (I - I*) + buffer x (D0 - A - gray), -(A + gray), I)   (negative: into stock)
    S = A + r + gray;  P = P0 (S / D0)^(-1/eps) bounded to [floor, cap] x P0;  G = (1 - disc) P
    """
    M, K = P0.shape
    for mk in range(M):
        for k in range(K):
            A = arrivals[mk, k]
            d0 = D0[mk, k]
            gcap = gray_share[mk, k] * d0 * (price_prev[mk, k] / P0[mk, k]) ** (-eps[k])
            g = min(gray_offer[mk, k], gcap)
            I = inventory[mk, k]
            r = restock[mk, k] * (I - stock_target[mk, k]) + buffer_share[mk, k] * (d0 - A - g)
            r = min(max(r, -(A + g)), I)
            inventory[mk, k] = I - r
            S = A + r + g
            lo = floor[mk, k] * P0[mk, k]
            hi = cap[mk, k] * P0[mk, k]
            if S <= 0.0:
                p = hi
            else:
                p = min(max(P0[mk, k] * (S / d0) ** (-1.0 / eps[k]), lo), hi)
            price[mk, k] = p
            gray_price[mk, k] = (1.0 - gray_discount[mk, k]) * p
            gray_sold[mk, k] = g
            consumption[mk, k] = S
            legal_use[mk, k] = A + max(r, 0.0)  # legal goods reaching buyers (defense buys only these)


@njit(cache=True)
def sell_gray(status, capital, hold_q, hold_k, hold_mkt, hold_comm, gray_offer, gray_sold, gray_price):
    """Every holder sells the same share sold/offered of its lot at the gray price, net of the
    hub commission. Returns revenue (USD)."""
    revenue = 0.0
    for i in range(status.shape[0]):
        if status[i] != 3:
            continue
        mk = hold_mkt[i]
        k = hold_k[i]
        off = gray_offer[mk, k]
        f = 1.0 if gray_sold[mk, k] >= off else gray_sold[mk, k] / off
        q = hold_q[i] * f
        rev = q * KG_PER_T * gray_price[mk, k] * (1.0 - hold_comm[i])
        capital[i] += rev
        revenue += rev
        if f >= 1.0:
            hold_q[i] = 0.0
            status[i] = 1
        else:
            hold_q[i] -= q
    return revenue


@njit(cache=True)
def offer_by_market(status, hold_q, hold_k, hold_mkt, out):
    """Add every SELLING smuggler's unsold goods (t) to out[market, commodity]."""
    for i in range(status.shape[0]):
        if status[i] == 3:
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
        if st == 0 or st == 5 or st == 6:
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
