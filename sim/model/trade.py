"""Legal trade and the origin's diversion supply (MODEL.md §4.1, §5.1), on small arrays.

These run once per step on arrays of suppliers x markets (a few dozen numbers), so they
are plain numpy, shared by the compiled and the reference core; their results are checked
analytically (verification V1, V8, V9). Units: t/step, USD/kg.

Legal trade. Supplier s sells its output Q_s to the markets it serves. Its *effective
netback* in market m is what a tonne sent there earns after delivery and licensing:

    n_sm = a_sm (P_m - freight_sm - friction_sm) + (1 - a_sm) P_home

where a_sm is the share of the origin's exports that controls let through (1 when open, the
approval rate net of military users under a licence, 0 under a ban); the rest stays in the
origin's domestic market. Each supplier's target share of a market rises with its netback
relative to the reference netback, with trade elasticity sigma (the reference shares are the
weights, so at reference prices the target is the reference), and actual shares move toward
the target at the contract speed kappa:

    target_sm = share0_sm r_sm^sigma / sum_j share0_sj r_sj^sigma,   r_sm = n_sm / n0_sm
    share_sm += kappa (target_sm - share_sm)

Prices are linked through the suppliers markets share: a ban that closes one market sends the
origin's goods to the others, while suppliers elsewhere turn toward the closed market.
Output moves toward Q0 (nbar / nbar0)^eta, capped by capacity net of disruption, zero when the
average netback nbar falls below unit cost. Suppliers plan with an adaptive expectation of
prices (`planning price`), not last week's price alone.
"""

from __future__ import annotations

import numpy as np

# The diverted-goods market balances on tonnes; this many t keeps the log ratio finite when
# either side is zero.
EPS_T = 0.1


def control_matrices(L, ctrl) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(allowed, friction, delay) per supplier and market [S, M]: controls act only on the origin's
    suppliers' exports (not on their home market)."""
    mkt_country = np.array([L.countries.index(c) for c in L.markets])
    allowed = ctrl.allowed[mkt_country][:, L.sup_k].T.copy()
    friction = ctrl.friction[mkt_country][:, L.sup_k].T.copy()
    delay = ctrl.delay[mkt_country][:, L.sup_k].T.copy()
    foreign = L.sup_origin[:, None] & (np.arange(L.M)[None, :] > 0)
    allowed = np.where(foreign, allowed, 1.0)
    friction = np.where(foreign, friction, 0.0)
    delay = np.where(foreign, delay, 0)
    return allowed, friction, delay


def netbacks(price, L, p, allowed, friction) -> np.ndarray:
    """n_sm (USD/kg) for every market a supplier serves, 0 elsewhere."""
    P_sm = price[:, L.sup_k].T
    home = price[0, L.sup_k][:, None]
    n = allowed * (P_sm - p.freight_sm - friction) + (1.0 - allowed) * home
    return np.where(L.sup_serves, n, 0.0)


def target_shares(n, L, p) -> np.ndarray:
    """Each supplier's target sales shares [S, M] at netbacks n: reference shares weighted by
    (netback / reference netback)^sigma."""
    serves = L.sup_serves
    r = np.where(serves, np.maximum(n, 0.0) / np.where(serves, p.ref_netback, 1.0), 0.0)
    w = p.ref_share * r ** p.trade_elasticity
    total = w.sum(axis=1, keepdims=True)
    return np.divide(w, total, out=p.ref_share.copy(), where=total > 0)


def update_shares(shares, n, L, p) -> np.ndarray:
    """One step of every supplier's sales shares toward their targets at the contract speed."""
    return shares + p.contract_speed * (target_shares(n, L, p) - shares)


def update_output(output, capacity, shares, n, p) -> np.ndarray:
    """Partial adjustment of output toward the price-responsive target (t/step)."""
    nbar = (shares * n).sum(axis=1)
    nbar0 = (p.ref_share * p.ref_netback).sum(axis=1)
    ratio = np.maximum(nbar, 0.0) / nbar0
    target = np.where(nbar > p.unit_cost, p.Q0 * ratio ** p.supply_elasticity, 0.0)
    ceiling = capacity * (1.0 - p.disruption)
    target = np.minimum(target, ceiling)
    return np.minimum(output + p.supply_adjustment * (target - output), ceiling)


def ship(output, shares, L, p, ctrl, allowed, licensed_ytd, cap_used_ytd):
    """Split this step's output into shipments.

    Returns (flows [S, M] t sent to each market incl. what controls keep at home, hub [H, K] t of
    hubs' legitimate imports). Updates licensed_ytd [C, K] and cap_used_ytd [H, K] in place.
    """
    H = len(L.transits)
    hub_out = np.minimum(p.hub_part, output)
    flows = shares * (output - hub_out)[:, None]
    approved = flows * allowed
    origin_rows = [np.flatnonzero(L.sup_origin & (L.sup_k == k)) for k in range(L.K)]   # the origin's exporters of k
    # quotas per (destination country, commodity) on licensed tonnes, shared by the origin's suppliers
    mkt_country = [L.countries.index(c) for c in L.markets]
    for m in range(1, L.M):
        cm = mkt_country[m]
        for k in range(L.K):
            if ctrl.regime[cm, k] == 1:   # licence
                rows = origin_rows[k]
                want = approved[rows, m].sum()
                room = max(ctrl.quota[cm, k] - licensed_ytd[cm, k], 0.0)
                if want > room:
                    approved[rows, m] *= room / want
                    want = approved[rows, m].sum()
                licensed_ytd[cm, k] += want
    kept = flows - approved
    flows = approved
    flows[:, 0] += kept.sum(axis=1) * L.sup_origin       # controls keep origin goods at home
    # hubs' own imports: their baseline, as far as controls on the hub and its import cap allow
    hub = np.zeros((H, L.K))
    hub_country = [L.countries.index(country) for country in L.transits]
    for k in range(L.K):
        rows = origin_rows[k]
        planned = p.hub_part[rows].sum()
        if planned <= 0:
            continue
        scale = hub_out[rows].sum() / planned
        for h, c in enumerate(hub_country):
            want = p.hub_baseline[h, k] * scale
            ok = want * ctrl.allowed[c, k]
            if ctrl.regime[c, k] == 1:
                ok = min(ok, max(ctrl.quota[c, k] - licensed_ytd[c, k], 0.0))
                licensed_ytd[c, k] += ok
            ok = min(ok, max(p.import_cap[h, k] - cap_used_ytd[h, k], 0.0))
            cap_used_ytd[h, k] += ok
            hub[h, k] = ok
        back = hub_out[rows].sum() - hub[:, k].sum()
        flows[rows, 0] += back * hub_out[rows] / max(hub_out[rows].sum(), 1e-300)
    return flows, hub


def diversion_cost(O, p) -> np.ndarray:
    """[E, K] each exporter's expected cost of diverting one kg (USD/kg): the chance of being traced
    times what it then pays (fine on the goods' value, lost licence), plus its compliance cost."""
    return p.trace_prob * (p.penalty_multiple * O[None, :] + p.licence_loss) + p.compliance_cost[:, None]


def diversion_offer(W, O, origin_output, home_supply, p, blacklisted) -> np.ndarray:
    """[E, K] t each exporter offers smugglers this step at gray purchase price W (USD/kg): its
    divertible share of its part of the origin's output, if the premium W - O covers its cost and
    it is not blacklisted; all offers together at most what would otherwise go to the home market."""
    E = p.compliance_cost.shape[0]
    willing = (diversion_cost(O, p) <= (W - O)[None, :]) & ~blacklisted
    offer = willing * (p.divertible_share * origin_output / E)[None, :]
    total = offer.sum(axis=0)
    scale = np.divide(home_supply, total, out=np.ones_like(total), where=total > home_supply)
    return offer * np.minimum(scale, 1.0)[None, :]


def next_gray_price(W, O_new, wanted, offered, speed) -> np.ndarray:
    """W moves toward balancing smugglers' demand and the diverted supply: up when they wanted more
    than was offered, down when less, by at most `speed` in logs per step; never below O."""
    step = speed * np.tanh(np.log((wanted + EPS_T) / (offered + EPS_T)))
    return np.maximum(W * np.exp(step), O_new)
