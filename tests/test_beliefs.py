"""The closed-form belief update (kernels.update_beliefs: a network part plus a decaying own
part) against the per-smuggler update of docs/model.md §8, written out directly.

tests/test_reference.py runs the compiled core against the plain-Python reference, which
stores beliefs the same split way; this test checks the split itself, on random
observations with entries from the pool, prison and bankruptcy, so that the two cores
could not agree on a wrong algebra.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from sim.model import kernels as kr
from sim.model.core import Smugglers

N, G, NL, NM, T = 40, 3, 5, 6, 60


def direct_update(a, b, a0, b0, status, network, obs, f, w_net, w_pub):
    """docs/model.md §8 for every smuggler still in the game, one array cell at a time."""
    net_s, net_p, pub_s = np.zeros((G, NL, NM)), np.zeros((G, NL, NM)), np.zeros((NL, NM))
    for i, seen in obs.items():
        for c, m, seized in seen:
            if seized:
                net_s[network[i], c, m] += 1.0
                pub_s[c, m] += 1.0
            else:
                net_p[network[i], c, m] += 1.0
    for i in range(N):
        if status[i] in (kr.POOL, kr.BANKRUPT):
            continue
        own_s, own_p = np.zeros((NL, NM)), np.zeros((NL, NM))
        for c, m, seized in obs.get(i, []):
            (own_s if seized else own_p)[c, m] += 1.0
        g = network[i]
        a[i] = f * a[i] + (1 - f) * a0[:, None] + own_s + w_net * (net_s[g] - own_s) + w_pub * (pub_s - own_s)
        b[i] = f * b[i] + (1 - f) * b0[:, None] + own_p + w_net * (net_p[g] - own_p)


@pytest.mark.parametrize("f, w_net, w_pub", [(0.97, 0.3, 0.0), (0.6, 0.8, 0.5), (1.0, 0.2, 0.1), (0.0, 0.5, 0.3),
                                          (0.01, 0.3, 0.2)])   # 0.01: own parts rescaled near step 50
def test_closed_form_equals_the_step_by_step_update(f, w_net, w_pub):
    rng = np.random.default_rng(7)
    a0, b0 = rng.uniform(0.1, 2.0, NL), rng.uniform(1.0, 9.0, NL)
    ss = SimpleNamespace(capital_usd=1e6, capital_spread=0.5, capacity_t=1.0, capacity_spread=0.5,
                         risk_aversion_per_usd=1e-6, networks=G, cost_spread=0.2)
    sm = Smugglers.new(N, N // 2, NL, NM, a0, b0, ss, rng)        # half start in the pool
    a = np.broadcast_to(a0[None, :, None], (N, NL, NM)).copy()
    b = np.broadcast_to(b0[None, :, None], (N, NL, NM)).copy()
    obs_cp, obs_seized, n_obs = np.zeros((N, 4), np.int64), np.zeros((N, 4), bool), np.zeros(N, np.int64)
    route = np.array([[0, 2, 3, 4]]), np.array([4])
    for t in range(T):
        # observations of this step: up to 4 distinct lanes of the smuggler's shipment method
        obs = {}
        n_obs[:] = 0
        for i in np.flatnonzero(sm.status == kr.ACTIVE):
            if rng.random() < 0.4:
                sm.ship_m[i] = rng.integers(NM)
                lanes = rng.choice(NL, rng.integers(1, 5), replace=False)
                seized = rng.random(len(lanes)) < 0.3
                obs[i] = [(int(c), int(sm.ship_m[i]), bool(s)) for c, s in zip(lanes, seized)]
                n_obs[i] = len(lanes)
                obs_cp[i, :len(lanes)], obs_seized[i, :len(lanes)] = lanes, seized
                if seized.any() and rng.random() < 0.2:     # seized: jailed or bankrupt
                    sm.status[i] = kr.JAILED if rng.random() < 0.7 else kr.BANKRUPT
        direct_update(a, b, a0, b0, sm.status, sm.network, obs, f, w_net, w_pub)
        kr.update_beliefs(t, sm.status, sm.network, sm.own_a, sm.own_b, sm.joined, sm.epoch, sm.net_a, sm.net_b, a0, b0,
                          f, w_net, w_pub, obs_cp, obs_seized, n_obs, sm.ship_m)
        for i in range(N):
            got_a, got_b = sm.counts(i, t, f, a0, b0)
            np.testing.assert_allclose(got_a, a[i], rtol=1e-12, atol=1e-12, err_msg=f"a, step {t}, smuggler {i}")
            np.testing.assert_allclose(got_b, b[i], rtol=1e-12, atol=1e-12, err_msg=f"b, step {t}, smuggler {i}")
        # what `choose` reads next step: the believed interdiction on a 4-lane route
        for i in np.flatnonzero(sm.status == kr.ACTIVE)[:5]:
            fresh = sm.joined[i] == kr.FRESH
            fac = f ** (t - sm.epoch[0])
            for m in range(NM):
                p = kr.interdiction_belief(i, sm.network[i], fac, fresh, sm.own_a, sm.own_b, sm.net_a, sm.net_b,
                                           a0, b0, route[0], route[1], 0, m)
                c = route[0][0]
                want = 1.0 - np.prod(b[i, c, m] / (a[i, c, m] + b[i, c, m]))
                assert p == pytest.approx(want, rel=1e-12, abs=1e-15)
        # releases and entries between steps
        sm.status[(sm.status == kr.JAILED) & (rng.random(N) < 0.2)] = kr.ACTIVE
        pool = np.flatnonzero(sm.status == kr.POOL)
        sm.status[pool[:int(rng.random() < 0.15)]] = kr.ACTIVE
    assert (sm.joined == kr.FROZEN).any() and (sm.status == kr.POOL).any()  # the run covered both ends
    assert (sm.joined[N // 2:] != kr.FRESH).any()                            # and entries from the pool
