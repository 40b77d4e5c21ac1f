#!/usr/bin/env python
"""Faster drop-in candidates for two kernels of `sim.kernels`, measured against them.

    python benchmarks/prototypes.py            # 10,000 smugglers, synthetic world of run.py
    python benchmarks/prototypes.py 1000

Records the arguments of every call of `choose` and `update_beliefs` during a 30-step run, replays
each call through the current kernel and the candidate on copies of the same inputs, and prints the
time per step of both and whether the outputs are bit-identical. The candidates keep every
floating-point operation of the originals in the same order, so they give the same results as the
reference core too. Not used by the model: the lead decides whether to adopt them. They follow the
kernel signatures of the day they were written; if a signature changes, this script says so.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent))
KG_PER_T = 1000.0


@njit(cache=True)
def choose_fast(status, ready, capital, capacity_t, risk_aversion, a, b, u_choice,
                valid, route_market, route_lane, route_ncp, commission, freight, method_cost,
                origin_price, gray_exp, gray_markup, fine_multiple, arrest_prob, sentence_cost,
                temperature, risk_averse, out_k, out_r, out_m, out_q, out_unit):
    """sim.kernels.choose with the same results, rearranged so the compiler can do more per option:
    1. the options that can pay at all (valid, positive margin) are listed once per step, with their
       unit cost, gray price and indices, instead of being rediscovered for every smuggler;
    2. the believed interdiction of each (route, method) is computed once per smuggler and gathered
       per option (the kernel does this lazily since 2026-11-24);
    3. the expected utility of every option is computed in a loop without branches (a select for
       q <= 0), which LLVM can vectorise; the best option is found in a separate loop;
    4. each logit weight exp(.) is computed once (so does the kernel since 2026-11-24)."""
    N = status.shape[0]
    K, R, NM = valid.shape
    n_all = K * R * NM
    o_k = np.empty(n_all, np.int64)    # option j: commodity, route, method, route * NM + method
    o_r = np.empty(n_all, np.int64)
    o_m = np.empty(n_all, np.int64)
    o_rm = np.empty(n_all, np.int64)
    o_unit = np.empty(n_all)           # unit cost, USD/kg
    o_unit_kg = np.empty(n_all)        # unit cost x 1000 (USD/t)
    o_G = np.empty(n_all)              # expected gray price net of the hub's commission, USD/kg
    o_O = np.empty(n_all)              # origin price, USD/kg
    n_opt = 0
    for k in range(K):
        O = origin_price[k]
        for r in range(R):
            G = gray_exp[route_market[r], k] * (1.0 - commission[r])
            for m in range(NM):
                if not valid[k, r, m]:
                    continue
                unit = O * (1.0 + gray_markup) + freight[r] + method_cost[m]
                if G - unit <= 0.0:
                    continue
                o_k[n_opt] = k
                o_r[n_opt] = r
                o_m[n_opt] = m
                o_rm[n_opt] = r * NM + m
                o_unit[n_opt] = unit
                o_unit_kg[n_opt] = unit * KG_PER_T
                o_G[n_opt] = G
                o_O[n_opt] = O
                n_opt += 1
    p_rm = np.empty(R * NM)
    p_opt = np.empty(max(n_opt, 1))
    ce = np.empty(max(n_opt, 1))
    w = np.empty(max(n_opt, 1))
    fixed = arrest_prob * sentence_cost
    for i in range(N):
        out_k[i] = -1
        out_r[i] = -1
        out_m[i] = -1
        out_q[i] = 0.0
        out_unit[i] = 0.0
        if status[i] != 1 or not ready[i] or n_opt == 0:
            continue
        for r in range(R):
            for m in range(NM):
                through = 1.0
                for j in range(route_ncp[r]):
                    c = route_lane[r, j]
                    through *= 1.0 - a[i, c, m] / (a[i, c, m] + b[i, c, m])
                p_rm[r * NM + m] = 1.0 - through
        for j in range(n_opt):
            p_opt[j] = p_rm[o_rm[j]]
        cap = capacity_t[i]
        kap = capital[i]
        ra = risk_aversion[i]
        # branch-free over options, so LLVM can vectorise it
        if risk_averse:
            for j in range(n_opt):
                q = min(cap, kap / o_unit_kg[j])
                unit = o_unit[j]
                p = p_opt[j]
                win = q * KG_PER_T * (o_G[j] - unit)
                loss = q * KG_PER_T * unit + fine_multiple * q * KG_PER_T * o_O[j] + fixed
                v = (1.0 - p) * win - p * loss
                v -= 0.5 * ra * p * (1.0 - p) * (win + loss) * (win + loss)
                ce[j] = v if q > 0.0 else -np.inf
        else:
            for j in range(n_opt):
                q = min(cap, kap / o_unit_kg[j])
                unit = o_unit[j]
                p = p_opt[j]
                win = q * KG_PER_T * (o_G[j] - unit)
                loss = q * KG_PER_T * unit + fine_multiple * q * KG_PER_T * o_O[j] + fixed
                v = (1.0 - p) * win - p * loss
                ce[j] = v if q > 0.0 else -np.inf
        best = 0.0
        best_j = -1
        n = 0
        for j in range(n_opt):
            v = ce[j]
            if v > -np.inf:
                n += 1
                if v > best:
                    best = v
                    best_j = j
        if n == 0:
            continue
        chosen = best_j
        if temperature > 0.0:
            idle = math.exp(-best / temperature)
            total = idle
            for j in range(n_opt):
                w[j] = 0.0
                if ce[j] > -np.inf:
                    w[j] = math.exp((ce[j] - best) / temperature)
                    total += w[j]
            target = u_choice[i] * total
            acc = idle
            chosen = -1
            if target >= acc:
                for j in range(n_opt):
                    if ce[j] > -np.inf:
                        acc += w[j]
                        if target < acc:
                            chosen = j
                            break
        if chosen < 0:
            continue
        k, r, m = o_k[chosen], o_r[chosen], o_m[chosen]
        unit = origin_price[k] * (1.0 + gray_markup) + freight[r] + method_cost[m]
        out_k[i] = k
        out_r[i] = r
        out_m[i] = m
        out_q[i] = min(capacity_t[i], capital[i] / (unit * KG_PER_T))
        out_unit[i] = unit


@njit(cache=True)
def update_beliefs_fast(status, network, a, b, a0, b0, forgetting, network_share, public_share,
                        obs_cp, obs_seized, n_obs, ship_m, n_networks):
    """sim.kernels.update_beliefs with the same results: a smuggler's own observations are scattered
    into a scratch table once, instead of being scanned again for every (lane, method) cell."""
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
    own_s = np.zeros((NCP, NM))
    own_p = np.zeros((NCP, NM))
    for i in range(N):
        st = status[i]
        if st == 0 or st == 5 or st == 6:
            continue
        g = network[i]
        for o in range(n_obs[i]):
            if obs_seized[i, o]:
                own_s[obs_cp[i, o], ship_m[i]] += 1.0
            else:
                own_p[obs_cp[i, o], ship_m[i]] += 1.0
        for c in range(NCP):
            for m in range(NM):
                s_ = own_s[c, m]
                p_ = own_p[c, m]
                a[i, c, m] = forgetting * a[i, c, m] + (1.0 - forgetting) * a0[c] + s_ \
                    + network_share * (net_seized[g, c, m] - s_) + public_share * (pub_seized[c, m] - s_)
                b[i, c, m] = forgetting * b[i, c, m] + (1.0 - forgetting) * b0[c] + p_ \
                    + network_share * (net_passed[g, c, m] - p_)
        for o in range(n_obs[i]):
            own_s[obs_cp[i, o], ship_m[i]] = 0.0
            own_p[obs_cp[i, o], ship_m[i]] = 0.0


def _copy(args):
    return [x.copy() if isinstance(x, np.ndarray) else x for x in args]


def compare(name: str, candidate, n: int, steps: int = 30) -> dict:
    """Replay every call of sim.kernels.<name> in a run through it and through `candidate`."""
    import inspect

    import run as bench
    import sim.kernels as kr
    original = getattr(kr, name)
    want = list(inspect.signature(original.py_func).parameters)
    have = list(inspect.signature(candidate.py_func).parameters)
    if want != have:
        return {"kernel": name, "error": "signature changed since the prototype was written"}
    calls = []

    def capture(*args):
        calls.append(_copy(args))
        return original(*args)

    setattr(kr, name, capture)
    try:
        bench.new_model(bench.synthetic_world(n, steps), steps).run()
    finally:
        setattr(kr, name, original)
    t_old = t_new = 0.0
    same = True
    for args in calls[1:]:
        a1, a2 = _copy(args), _copy(args)
        original(*_copy(args))
        candidate(*_copy(args))
        t0 = time.perf_counter()
        original(*a1)
        t1 = time.perf_counter()
        candidate(*a2)
        t2 = time.perf_counter()
        t_old += t1 - t0
        t_new += t2 - t1
        same &= all(np.array_equal(x, y) for x, y in zip(a1, a2) if isinstance(x, np.ndarray))
    k = max(len(calls) - 1, 1)
    return {"kernel": name, "smugglers": n, "calls": k, "original_ms": t_old / k * 1e3,
            "candidate_ms": t_new / k * 1e3, "speedup": t_old / t_new, "identical": bool(same)}


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    for name, cand in (("choose", choose_fast), ("update_beliefs", update_beliefs_fast)):
        r = compare(name, cand, n)
        if "error" in r:
            print(f"{name}: {r['error']}")
            continue
        print(f"{name:15s} {r['original_ms']:7.2f} ms/step -> {r['candidate_ms']:7.2f} ms/step "
              f"({r['speedup']:.2f}x), identical outputs: {r['identical']}  [{n:,} smugglers, {r['calls']} steps]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
