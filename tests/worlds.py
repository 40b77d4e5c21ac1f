"""Hypothesis strategy for small random scenarios, and one fixed world that surely smuggles.

`worlds()` draws 1-2 commodities, 1-3 transit hubs, 1-2 destinations, the origin's exporters
and sometimes a supplier elsewhere, 10-60 smugglers, export controls (ban / licence /
extraterritorial, from an early step), customs with random capacities, technologies and risk
weights, logit and learning on or off, penalties, an optional whistleblowing supplier, hub
import caps, and up to two events on runtime keys. Destination prices sit above the origin's
and stocks are short, so a ban drives the destination price up and smuggling pays in a good
share of the worlds (tests/test_reference.py checks that share).
"""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from sim.scenario.schema import COVERS, TECHS, Scenario, check_references
from sim.scenario.types import TINY


def _f(lo: float, hi: float) -> st.SearchStrategy[float]:
    """A float in [lo, hi] that the scenario format accepts (0, or at least TINY in size)."""
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(lambda x: x if abs(x) >= TINY else 0.0)


@st.composite
def worlds(draw, min_steps: int = 20, max_steps: int = 30) -> Scenario:
    steps = draw(st.integers(min_steps, max_steps))
    ks = [f"k{i}" for i in range(draw(st.integers(1, 2)))]
    hubs = [f"T{i}" for i in range(draw(st.integers(1, 3)))]
    dests = [f"D{i}" for i in range(draw(st.integers(1, 2)))]
    countries: dict = {"O": {"roles": ["origin"]}}
    for h in hubs:
        countries[h] = {"roles": ["transit"], "commission": draw(_f(0.0, 0.2)),
                        "cooperation": draw(_f(0.0, 1.0)), "trade_weight": draw(_f(0.0, 3.0)),
                        "baseline_imports_t_per_year": {k: draw(_f(20.0, 2000.0)) for k in ks}}
        if draw(st.booleans()):
            countries[h]["import_cap_t_per_year"] = {ks[0]: draw(_f(0.0, 3000.0))}
    for d in dests:
        countries[d] = {"roles": ["destination"], "cooperation": draw(_f(0.0, 0.5))}

    markets: dict = {"O": {}}
    origin_price = {}
    for k in ks:
        origin_price[k] = draw(_f(2.0, 20.0))
        markets["O"][k] = {"ref_price_usd_kg": origin_price[k], "stock_cover_days": draw(_f(0.0, 40.0)),
                           "restock_speed": draw(_f(0.0, 0.5)), "gray_share": 0.0}
    for d in dests:
        markets[d] = {}
        for k in ks:
            markets[d][k] = {
                "ref_price_usd_kg": origin_price[k] * draw(_f(1.1, 2.5)),
                "stock_cover_days": draw(_f(0.0, 20.0)), "restock_speed": draw(_f(0.0, 0.5)),
                "buffer_share": draw(_f(0.0, 1.0)), "defense_share": draw(_f(0.0, 0.2)),
                "gray_share": draw(_f(0.05, 0.8)), "gray_discount": draw(_f(0.0, 0.5)),
                "backstop_index": draw(_f(1.5, 6.0)), "demand_index": draw(_f(0.8, 1.2)),
                "price_guard_index": draw(_f(12.0, 50.0))}

    suppliers: dict = {}
    for k in ks:
        suppliers[f"O_{k}"] = {
            "country": "O", "commodity": k, "unit_cost_usd_kg": origin_price[k] * draw(_f(0.2, 0.8)),
            "sales_t_per_year": {"O": draw(_f(5e3, 8e4)), **{d: draw(_f(2e3, 3e4)) for d in dests}},
            "supply_elasticity": draw(_f(0.0, 1.5)), "supply_adjustment": draw(_f(0.05, 1.0)),
            "freight_usd_kg": draw(_f(0.0, 1.0)), "shipping_weeks": draw(st.integers(0, 4)),
            "disruption": draw(st.sampled_from([0.0, 0.0, 0.3]))}
    if draw(st.booleans()):
        countries["S"] = {"roles": ["supplier"]}
        k = ks[0]
        suppliers["S_mine"] = {
            "country": "S", "commodity": k, "unit_cost_usd_kg": origin_price[k] * draw(_f(0.3, 1.0)),
            "sales_t_per_year": {d: draw(_f(500.0, 5e3)) for d in dests},
            "capacity_t_per_year": None, "shipping_weeks": draw(st.integers(1, 5)),
            "hurdle": draw(_f(0.0, 0.5)), "expansion_t_per_year": draw(_f(0.0, 2000.0)),
            "lead_time_years": draw(_f(0.0, 0.3)), "whistleblower": True,
            "tip_rate_per_year": draw(_f(0.0, 500.0)), "tip_to": draw(st.sampled_from(["O"] + hubs))}
        suppliers["S_mine"].pop("capacity_t_per_year")

    routes: dict = {}
    for d in dests:
        direct = draw(st.booleans())
        via = [h for h in hubs if draw(st.booleans())]
        if direct or not via:
            routes[f"{d}-direct"] = {"destination": d, "leg1_steps": draw(st.integers(1, 3)),
                                     "freight_usd_kg": draw(_f(0.0, 1.0))}
        for h in via:
            routes[f"{d}-{h}"] = {"destination": d, "via": h, "leg1_steps": draw(st.integers(1, 3)),
                                  "leg2_steps": draw(st.integers(1, 3)), "freight_usd_kg": draw(_f(0.0, 1.0))}

    controls: dict = {}
    for i in range(draw(st.integers(1, 3))):
        # the first control restricts something (most worlds are about a control); later ones may reopen
        regime = draw(st.sampled_from(["ban", "ban", "license"] + (["open"] if i else [])))
        controls[f"c{i}"] = {"commodity": draw(st.sampled_from(ks + ["all"])),
                             "destination": draw(st.sampled_from(dests + ["all"] + (hubs[:1] if i else []))), "regime": regime,
                             "from_step": draw(st.integers(0, 4)), "extraterritorial": draw(st.booleans())}
        if regime == "license":
            controls[f"c{i}"].update(approval_rate=draw(_f(0.0, 1.0)), delay_steps=draw(st.integers(0, 6)),
                                     quota_t_per_year=draw(_f(0.0, 5e3)), military_share=draw(_f(0.0, 0.3)),
                                     friction_usd_kg=draw(_f(0.0, 1.0)))

    def agency() -> dict:
        legit = draw(_f(0.0, 5e3))
        out = {"legit_containers_per_week": legit,
               "capacity_per_week": draw(_f(0.0, 0.3)) * legit + draw(_f(0.0, 50.0)),
               "technologies": draw(st.lists(st.sampled_from(TECHS), unique=True, min_size=1, max_size=4)),
               "random_share": draw(_f(0.0, 1.0)), "corruption": draw(_f(0.0, 0.6)),
               "hit_rate_memory": draw(_f(0.5, 1.0)), "learn_weight": draw(_f(0.0, 50.0)),
               "restricted_weight": draw(_f(0.0, 20.0)), "licence_weight": draw(_f(0.0, 5.0)),
               "value_anomaly_weight": draw(_f(0.0, 5.0)), "legit_low_value_share": draw(_f(0.0, 0.1)),
               "anomaly_weight": draw(_f(0.0, 10.0)), "anomaly_threshold": draw(_f(1.0, 3.0)),
               "tip_weight": draw(_f(0.0, 30.0)), "tip_duration_weeks": draw(_f(0.0, 8.0))}
        if draw(st.booleans()):
            shares = [draw(_f(0.0, 1.0)) for _ in COVERS]
            total = sum(shares) or 1.0
            mix = {c: v / total if v / total >= TINY else 0.0 for c, v in zip(COVERS, shares)}  # format: 0 or >= TINY
            mix[COVERS[0]] = max(0.0, mix[COVERS[0]] + 1.0 - sum(mix.values()))  # a share is never below 0
            out["traffic_mix"] = mix if sum(shares) > 0 else {c: 1.0 / len(COVERS) for c in COVERS}
        return out

    customs = {c: agency() for c in ["O"] + hubs + dests}

    initial = draw(st.integers(5, 60))
    smugglers = {
        "initial": initial, "pool": draw(st.integers(0, 60 - initial)), "networks": draw(st.integers(1, 4)),
        "capital_usd": 10 ** draw(_f(4.0, 6.7)), "capital_spread": draw(_f(0.0, 1.0)),
        "capacity_t": draw(_f(0.5, 30.0)), "capacity_spread": draw(_f(0.0, 1.0)),
        "cost_spread": draw(_f(0.0, 1.0)),
        "risk_aversion_per_usd": draw(_f(0.0, 1e-6)), "risk_averse": draw(st.booleans()),
        "logit": draw(st.booleans()), "temperature_usd": draw(_f(0.0, 1e5)),
        "trips_per_week": draw(_f(0.1, 1.0)), "learning": draw(st.booleans()),
        "price_learning": draw(_f(0.05, 1.0)), "public_price_learning": draw(_f(0.0, 1.0)),
        "prior_interdiction": draw(_f(0.0, 0.3)), "prior_strength": draw(_f(1.0, 50.0)),
        "prior_by_country": {h: draw(_f(0.0, 0.5)) for h in hubs if draw(st.booleans())},
        "forgetting": draw(_f(0.5, 1.0)), "network_share": draw(_f(0.0, 1.0)),
        "public_share": draw(_f(0.0, 1.0)),
        "freedom_value_usd_per_year": draw(_f(0.0, 1e6)), "entry_max_per_year": draw(_f(0.0, 500.0)),
        "entry_profit_ref_usd": draw(_f(1e3, 1e6))}
    exporters = {"count": draw(st.integers(1, 8)), "divertible_share": draw(_f(0.05, 0.6)),
                 "compliance_cost_usd_kg": draw(_f(0.0, 1.5)), "compliance_spread": draw(_f(0.0, 1.5)),
                 "trace_prob": draw(_f(0.0, 0.3)), "trace_tags_trace_prob": draw(_f(0.0, 0.3)),
                 "penalty_multiple": draw(_f(0.0, 3.0)), "licence_loss_usd_kg": draw(_f(0.0, 3.0)),
                 "blacklist_weeks": draw(_f(0.0, 10.0)), "gray_price_speed": draw(_f(0.1, 0.5))}
    penalties = {"fine_multiple": draw(_f(0.0, 3.0)), "arrest_prob": draw(_f(0.0, 1.0)),
                 "sentence_years": draw(_f(0.02, 2.0))}
    methods = {m: {"cost_usd_kg": draw(_f(0.0, 2.0))}
               for m in draw(st.lists(st.sampled_from(["mislabel", "mix_scrap", "shielded", "undervalue",
                                                      "relabel_origin", "false_end_user"]), unique=True))}
    trade = {"elasticity": draw(_f(0.0, 6.0)), "contract_speed": draw(_f(0.0, 0.5)),
             "price_expectation_speed": draw(_f(0.05, 1.0))}

    # events: a crackdown, pressure on a hub, a penalty change, publicity, a policy switch, a shock
    menu = {
        "customs.O.capacity_per_week": _f(0.0, 1000.0),
        "customs.O.technologies": st.lists(st.sampled_from(TECHS), unique=True, max_size=5),
        f"customs.{hubs[0]}.capacity_per_week": _f(0.0, 1000.0),
        f"countries.{hubs[0]}.cooperation": _f(0.0, 1.0),
        f"countries.{hubs[0]}.import_cap_t_per_year": st.fixed_dictionaries({ks[0]: _f(0.0, 500.0)}),
        "penalties.fine_multiple": _f(0.0, 5.0),
        "penalties.arrest_prob": _f(0.0, 1.0),
        "smugglers.public_share": _f(0.0, 1.0),
        "exporters.trace_prob": _f(0.0, 0.5),
        f"markets.{dests[0]}.{ks[0]}.gray_share": _f(0.0, 1.0),
        f"markets.{dests[0]}.{ks[0]}.demand_index": _f(0.5, 1.5),
        f"suppliers.O_{ks[0]}.disruption": _f(0.0, 0.8),
    }
    menu["controls.c0.regime"] = st.sampled_from(["open", "license", "ban"])
    events = {}
    for i in range(draw(st.integers(0, 2))):
        keys = draw(st.lists(st.sampled_from(sorted(menu)), min_size=1, max_size=3, unique=True))
        events[f"e{i}"] = {"step": draw(st.integers(1, steps - 1)),
                           "set": {key: draw(menu[key]) for key in keys}}

    days = draw(st.sampled_from([7, 7, 7, 14, 1]))
    start = dt.date(2024, 11, 17) + dt.timedelta(days=draw(st.integers(0, 40)))   # some runs cross new year
    data = {"name": "generated", "start_date": start,
            "days_per_step": days, "steps": steps, "seed": draw(st.integers(0, 2**32 - 1)),
            "commodities": {k: {"elasticity": draw(_f(0.2, 2.0)), "substitution_elasticity": draw(_f(2.0, 10.0)),
                                "container_load_kg": draw(st.sampled_from([5000.0, 20000.0, 25000.0])),
                                "cover_category": draw(st.sampled_from(COVERS))}
                            for k in ks},
            "countries": countries, "markets": markets, "suppliers": suppliers, "exporters": exporters,
            "smugglers": smugglers, "methods": methods, "customs": customs, "routes": routes,
            "controls": controls, "penalties": penalties, "events": events, "trade": trade}
    scenario = Scenario.model_validate(data)
    problems = check_references(scenario)
    assert not problems, problems   # a bug in this generator, not in the model
    return scenario


# A world that surely smuggles: a ban on the only commodity from step 0, a destination price
# well above the origin's, short stocks, two hubs and a direct route, porous customs; heavy
# fines on thin capital (bankruptcies), short sentences (releases), a hub whose customs flags
# the surge in its imports, a hub import cap, and a whistleblower tipping origin customs.
BAN_WORLD = {
    "name": "ban_world", "start_date": "2024-12-01", "steps": 30, "seed": 11,
    "commodities": {"sb": {"elasticity": 0.4, "precautionary_cover_days": 20}},
    "countries": {
        "CN": {"roles": ["origin"]},
        "TH": {"roles": ["transit"], "commission": 0.13, "cooperation": 0.3,
               "baseline_imports_t_per_year": {"sb": 300}},
        "MX": {"roles": ["transit"], "commission": 0.15, "cooperation": 0.1,
               "baseline_imports_t_per_year": {"sb": 200}, "import_cap_t_per_year": {"sb": 260}},
        "US": {"roles": ["destination"]},
        "AU": {"roles": ["supplier"]},
    },
    "suppliers": {
        "cn": {"country": "CN", "commodity": "sb", "unit_cost_usd_kg": 5.0,
               "sales_t_per_year": {"CN": 40000, "US": 14000}, "shipping_weeks": 3},
        "lynas": {"country": "AU", "commodity": "sb", "sales_t_per_year": {"US": 2000}, "unit_cost_usd_kg": 12.0,
                  "whistleblower": True, "tip_rate_per_year": 100, "tip_to": "CN"}},
    "markets": {
        "CN": {"sb": {"ref_price_usd_kg": 10.0, "gray_share": 0.0}},
        "US": {"sb": {"ref_price_usd_kg": 14.0, "stock_cover_days": 10, "gray_share": 0.5,
                      "gray_discount": 0.3, "backstop_index": 5.0}},
    },
    "exporters": {"compliance_cost_usd_kg": 0.5, "divertible_share": 0.4, "trace_prob": 0.05,
                  "gray_price_speed": 0.3},
    "smugglers": {"initial": 50, "pool": 10, "networks": 3, "capital_usd": 3e5, "capital_spread": 1.0,
                  "capacity_t": 5.0},
    "customs": {"CN": {"capacity_per_week": 100, "legit_containers_per_week": 2000, "restricted_weight": 5,
                       "learn_weight": 5, "value_anomaly_weight": 3,
                       "technologies": ["xray", "document_check", "density_scan"]},
                "TH": {"capacity_per_week": 800, "legit_containers_per_week": 3000, "anomaly_threshold": 1.5,
                       "restricted_weight": 5, "anomaly_weight": 8,
                       "technologies": ["trade_anomaly", "xray", "document_check"]},
                "US": {"capacity_per_week": 100, "legit_containers_per_week": 5000}},
    "routes": {
        "direct": {"destination": "US", "leg1_steps": 3, "freight_usd_kg": 0.3},
        "via-TH": {"destination": "US", "via": "TH", "leg1_steps": 1, "leg2_steps": 2, "freight_usd_kg": 0.5},
        "via-MX": {"destination": "US", "via": "MX", "leg1_steps": 2, "leg2_steps": 1, "freight_usd_kg": 0.5},
    },
    "controls": {"ban": {"commodity": "sb", "destination": "US", "regime": "ban"}},
    "penalties": {"fine_multiple": 2.0, "arrest_prob": 0.5, "sentence_years": 0.2},
    "events": {"crackdown": {"step": 15, "set": {"customs.CN.capacity_per_week": 900,
                                                 "smugglers.public_share": 0.3}}},
}
