"""Hypothesis strategy for small random scenarios, and one fixed world that surely smuggles.

`worlds()` draws 1-2 commodities, 1-3 transit hubs, 1-2 destinations, 10-60 smugglers,
export controls (ban / licence / extraterritorial, from an early step), customs with random
capacities, technologies and risk weights, logit and learning on or off, penalties, an
optional whistleblowing producer, and up to two events. Destination prices sit above the
origin's and stocks are short, so a ban drives the destination price up and smuggling
pays in a good share of the worlds (tests/test_reference.py checks that share).
"""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from sim.scenario.schema import TECHS, Scenario, check_references


def _f(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def worlds(draw, min_steps: int = 20, max_steps: int = 30) -> Scenario:
    steps = draw(st.integers(min_steps, max_steps))
    ks = [f"k{i}" for i in range(draw(st.integers(1, 2)))]
    hubs = [f"T{i}" for i in range(draw(st.integers(1, 3)))]
    dests = [f"D{i}" for i in range(draw(st.integers(1, 2)))]
    countries: dict = {"O": {"roles": ["origin"]}}
    for h in hubs:
        countries[h] = {"roles": ["transit"], "commission": draw(_f(0.0, 0.2)),
                        "cooperation": draw(_f(0.0, 1.0)),
                        "baseline_imports_t_per_year": {k: draw(_f(20.0, 2000.0)) for k in ks}}
        if draw(st.booleans()):
            countries[h]["import_cap_t_per_year"] = {ks[0]: draw(_f(0.0, 3000.0))}
    for d in dests:
        countries[d] = {"roles": ["destination"], "cooperation": draw(_f(0.0, 0.5))}

    markets: dict = {"O": {}}
    origin_price = {}
    for k in ks:
        origin_price[k] = draw(_f(2.0, 20.0))
        markets["O"][k] = {"ref_price_usd_kg": origin_price[k], "ref_demand_t_per_year": draw(_f(5e3, 8e4)),
                           "stock_cover_days": draw(_f(0.0, 40.0)), "restock_speed": draw(_f(0.0, 0.5))}
    for d in dests:
        markets[d] = {}
        for k in ks:
            demand = draw(_f(2e3, 3e4))
            markets[d][k] = {
                "ref_price_usd_kg": origin_price[k] * draw(_f(1.0, 2.5)), "ref_demand_t_per_year": demand,
                "imports_from_origin_t_per_year": demand * draw(_f(0.0, 0.95)),
                "stock_cover_days": draw(_f(0.0, 45.0)), "restock_speed": draw(_f(0.0, 0.5)),
                "buffer_share": draw(_f(0.0, 1.0)), "defense_share": draw(_f(0.0, 0.2)),
                "gray_share": draw(_f(0.05, 0.8)), "gray_discount": draw(_f(0.0, 0.5)),
                "price_floor": draw(_f(0.05, 1.0)), "price_cap": draw(_f(1.0, 8.0))}

    producers: dict = {}
    if draw(st.booleans()):
        countries["S"] = {"roles": ["supplier"]}
        d, k = dests[0], ks[0]
        producers["p0"] = {"country": "S", "market": d, "commodity": k,
                           "capacity_t_per_year": draw(_f(0.0, 3000.0)),
                           "unit_cost_usd_kg": markets[d][k]["ref_price_usd_kg"] * draw(_f(0.3, 2.0)),
                           "hurdle": draw(_f(0.0, 0.5)), "expansion_t_per_year": draw(_f(0.0, 2000.0)),
                           "lead_time_years": draw(_f(0.0, 0.3)), "whistleblower": True,
                           "tip_rate_per_year": draw(_f(0.0, 500.0)),
                           "tip_to": draw(st.sampled_from(["O"] + hubs))}

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
                             "destination": draw(st.sampled_from(dests + ["all"])), "regime": regime,
                             "from_step": draw(st.integers(0, 4)), "extraterritorial": draw(st.booleans())}
        if regime == "license":
            controls[f"c{i}"].update(approval_rate=draw(_f(0.0, 1.0)), delay_steps=draw(st.integers(0, 6)),
                                     quota_t_per_year=draw(_f(0.0, 5e3)), military_share=draw(_f(0.0, 0.3)))

    def agency() -> dict:
        legit = draw(_f(0.0, 5e3))
        return {"legit_containers_per_week": legit,
                "capacity_per_week": draw(_f(0.0, 0.3)) * legit + draw(_f(0.0, 50.0)),
                "technologies": draw(st.lists(st.sampled_from(TECHS), unique=True, min_size=1, max_size=4)),
                "random_share": draw(_f(0.0, 1.0)), "corruption": draw(_f(0.0, 0.6)),
                "learning_rate": draw(_f(0.0, 1.0)), "learn_weight": draw(_f(0.0, 5.0)),
                "restricted_weight": draw(_f(0.0, 20.0)), "value_anomaly_weight": draw(_f(0.0, 5.0)),
                "anomaly_weight": draw(_f(0.0, 10.0)), "anomaly_threshold": draw(_f(1.0, 3.0)),
                "tip_weight": draw(_f(0.0, 30.0)), "tip_duration_weeks": draw(_f(0.0, 8.0))}

    customs = {c: agency() for c in ["O"] + hubs + dests}

    initial = draw(st.integers(5, 60))
    smugglers = {
        "initial": initial, "pool": draw(st.integers(0, 60 - initial)), "networks": draw(st.integers(1, 4)),
        "capital_usd": 10 ** draw(_f(4.0, 6.7)), "capital_spread": draw(_f(0.0, 1.0)),
        "capacity_t": draw(_f(0.5, 30.0)), "capacity_spread": draw(_f(0.0, 1.0)),
        "risk_aversion_per_usd": draw(_f(0.0, 1e-6)), "risk_averse": draw(st.booleans()),
        "logit": draw(st.booleans()), "temperature_usd": draw(_f(0.0, 1e5)),
        "trips_per_week": draw(_f(0.1, 1.0)), "learning": draw(st.booleans()),
        "prior_interdiction": draw(_f(0.0, 0.3)), "prior_strength": draw(_f(1.0, 50.0)),
        "prior_by_country": {h: draw(_f(0.0, 0.5)) for h in hubs if draw(st.booleans())},
        "forgetting": draw(_f(0.5, 1.0)), "network_share": draw(_f(0.0, 1.0)),
        "public_share": draw(_f(0.0, 1.0)),
        "freedom_value_usd_per_year": draw(_f(0.0, 1e6)), "entry_max_per_year": draw(_f(0.0, 500.0)),
        "entry_profit_ref_usd": draw(_f(1e3, 1e6))}
    exporters = {"count": draw(st.integers(1, 8)), "compliance": draw(_f(0.2, 0.95)),
                 "compliance_spread": draw(_f(0.0, 0.1)), "divertible_share": draw(_f(0.05, 0.6)),
                 "gray_markup": draw(_f(0.0, 0.5)), "supply_elasticity": draw(_f(0.0, 1.5)),
                 "supply_adjustment": draw(_f(0.05, 1.0)), "trace_tag_compliance": draw(_f(0.0, 1.0))}
    penalties = {"fine_multiple": draw(_f(0.0, 3.0)), "arrest_prob": draw(_f(0.0, 1.0)),
                 "sentence_years": draw(_f(0.02, 2.0))}
    methods = {m: {"cost_usd_kg": draw(_f(0.0, 2.0))}
               for m in draw(st.lists(st.sampled_from(["mislabel", "mix_scrap", "shielded", "undervalue",
                                                      "relabel_origin", "false_end_user"]), unique=True))}

    # events: a crackdown, pressure on a hub, a penalty change, publicity, a policy switch
    menu = {
        "customs.O.capacity_per_week": _f(0.0, 1000.0),
        "customs.O.technologies": st.lists(st.sampled_from(TECHS), unique=True, max_size=5),
        f"customs.{hubs[0]}.capacity_per_week": _f(0.0, 1000.0),
        f"countries.{hubs[0]}.cooperation": _f(0.0, 1.0),
        f"countries.{hubs[0]}.import_cap_t_per_year": st.fixed_dictionaries({ks[0]: _f(0.0, 500.0)}),
        "penalties.fine_multiple": _f(0.0, 5.0),
        "penalties.arrest_prob": _f(0.0, 1.0),
        "smugglers.public_share": _f(0.0, 1.0),
        f"markets.{dests[0]}.{ks[0]}.gray_share": _f(0.0, 1.0),
    }
    if controls:
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
            "commodities": {k: {"elasticity": draw(_f(0.2, 2.0)),
                                "container_load_kg": draw(st.sampled_from([5000.0, 20000.0, 25000.0]))}
                            for k in ks},
            "countries": countries, "markets": markets, "producers": producers, "exporters": exporters,
            "smugglers": smugglers, "methods": methods, "customs": customs, "routes": routes,
            "controls": controls, "penalties": penalties, "events": events}
    scenario = Scenario.model_validate(data)
    problems = check_references(scenario)
    assert not problems, problems   # a bug in this generator, not in the model
    return scenario


# A world that surely smuggles: a ban on the only commodity from step 0, a destination price
# well above the origin's, short stocks, two hubs and a direct route, porous customs; heavy
# fines on thin capital (bankruptcies), short sentences (releases, and removals near the end),
# a hub whose customs flags the surge in its imports, and a whistleblower tipping origin customs.
BAN_WORLD = {
    "name": "ban_world", "start_date": "2024-12-01", "steps": 30, "seed": 11,
    "commodities": {"sb": {"elasticity": 0.4}},
    "countries": {
        "CN": {"roles": ["origin"]},
        "TH": {"roles": ["transit"], "commission": 0.13, "cooperation": 0.3,
               "baseline_imports_t_per_year": {"sb": 300}},
        "MX": {"roles": ["transit"], "commission": 0.15, "cooperation": 0.1,
               "baseline_imports_t_per_year": {"sb": 200}},
        "US": {"roles": ["destination"]},
        "AU": {"roles": ["supplier"]},
    },
    "producers": {"lynas": {"country": "AU", "market": "US", "commodity": "sb", "capacity_t_per_year": 2000,
                            "unit_cost_usd_kg": 12.0, "whistleblower": True, "tip_rate_per_year": 100,
                            "tip_to": "CN"}},
    "markets": {
        "CN": {"sb": {"ref_price_usd_kg": 10.0, "ref_demand_t_per_year": 40000}},
        "US": {"sb": {"ref_price_usd_kg": 14.0, "ref_demand_t_per_year": 20000,
                      "imports_from_origin_t_per_year": 14000, "stock_cover_days": 10, "gray_share": 0.5,
                      "gray_discount": 0.3, "price_cap": 5.0}},
    },
    "exporters": {"compliance": 0.6, "divertible_share": 0.4, "gray_markup": 0.2},
    "smugglers": {"initial": 50, "pool": 10, "networks": 3, "capital_usd": 2e5, "capacity_t": 5.0},
    "customs": {"CN": {"capacity_per_week": 300, "legit_containers_per_week": 2000, "restricted_weight": 5,
                       "learn_weight": 5, "value_anomaly_weight": 3,
                       "technologies": ["xray", "document_check", "density_scan"]},
                "TH": {"capacity_per_week": 200, "legit_containers_per_week": 3000, "anomaly_threshold": 1.5,
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
