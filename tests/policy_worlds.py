"""Small worlds for the policy-search tests (tests/test_policy*.py), built in code.

`becker_world(p)`: MODEL.md V3's deterrence world. One direct route, one usable method
(mislabel: the others cost 1e3 USD/kg), risk-neutral best response (no logit), beliefs fixed
at the interdiction probability p (the prior, no learning), exporters selling at the
domestic price, no arrests. Two steps: goods that leave at step 0 arrive at step 1, so
`illicit_delivered_t` is positive exactly when smuggling pays at the reference prices.
`least_deterring_fine(scenario, p)` is the analytic answer: smuggling stops once
p >= m / (m + L), m the expected gain, L the loss when caught, L growing with the fine.

`lever_world()`: a fast world with a ban, two hubs and a direct route, for searches over
several levers (origin capacity, tracing of exporters, fine) with a real cost to enforcement.
"""

from __future__ import annotations

import copy
from pathlib import Path

from sim.scenario import dump_toml, parse_key, set_path
from sim.scenario.schema import Scenario

WORLD = {
    "name": "policy_world",
    "start_date": "2025-01-06",
    "steps": 2,
    "seed": 7,
    "commodities": {"sb": {"elasticity": 0.5}},
    "countries": {
        "CN": {"roles": ["origin"]},
        "TH": {"roles": ["transit"], "commission": 0.1, "cooperation": 0.2,
               "baseline_imports_t_per_year": {"sb": 100}},
        "MY": {"roles": ["transit"], "commission": 0.1, "cooperation": 0.2,
               "baseline_imports_t_per_year": {"sb": 100}},
        "US": {"roles": ["destination"]},
        "S": {"roles": ["supplier"]},
    },
    "markets": {
        "CN": {"sb": {"ref_price_usd_kg": 10.0, "gray_share": 0.0}},
        "US": {"sb": {"ref_price_usd_kg": 40.0, "gray_share": 0.5, "gray_discount": 0.3}},
    },
    "suppliers": {
        "cn": {"country": "CN", "commodity": "sb", "unit_cost_usd_kg": 5.0,
               "sales_t_per_year": {"CN": 20000, "US": 6000}, "shipping_weeks": 2},
        "s": {"country": "S", "commodity": "sb", "unit_cost_usd_kg": 7.0,
              "sales_t_per_year": {"US": 4000}, "shipping_weeks": 2},
    },
    # exporters sell to smugglers at the domestic price (no premium W = O), nobody is traced
    "exporters": {"compliance_cost_usd_kg": 0.0, "trace_prob": 0.0, "gray_price_speed": 0.3},
    "smugglers": {"initial": 20, "pool": 0, "networks": 4, "capacity_t": 5.0, "capital_usd": 1e10,
                  "capital_spread": 0.0, "capacity_spread": 0.0, "cost_spread": 0.0, "risk_averse": False,
                  "logit": False, "learning": False, "trips_per_week": 1.0},
    "customs": {"CN": {"capacity_per_week": 200, "legit_containers_per_week": 5000}},
    "methods": {m: {"cost_usd_kg": 1e3} for m in ("undervalue", "mix_scrap", "shielded")},
    "routes": {"direct": {"destination": "US", "leg1_steps": 1}},
    "controls": {"ban": {"commodity": "sb", "destination": "US", "regime": "ban"}},
    "penalties": {"fine_multiple": 1.0, "arrest_prob": 0.0, "sentence_years": 2.0},
}


def _world(base: dict, settings: dict) -> Scenario:
    data = copy.deepcopy(base)
    for key, value in settings.items():
        set_path(data, parse_key(key), value)
    return Scenario.model_validate(data)


def becker_world(p: float, **settings) -> Scenario:
    """The V3 world with believed (prior, never updated) interdiction probability p at the origin."""
    return _world(WORLD, {"smugglers.prior_by_country": {"CN": p, "US": 0.0}, **settings})


def least_deterring_fine(s: Scenario, p: float) -> float:
    """The fine multiple f* at which p = m / (m + L(f*)): smuggling pays below it, not at or above."""
    mk, o = s.markets["US"]["sb"], s.markets["CN"]["sb"]
    q_kg = s.smugglers.capacity_t * 1000
    gray = (1 - mk.gray_discount) * mk.ref_price_usd_kg
    unit = o.ref_price_usd_kg + s.routes["direct"].freight_usd_kg + s.methods["mislabel"].cost_usd_kg
    gain = q_kg * (gray - unit)
    loss_without_fine = q_kg * unit + s.penalties.arrest_prob * s.penalties.sentence_years \
        * s.smugglers.freedom_value_usd_per_year
    # p = gain / (gain + L)  <=>  L = gain (1 - p) / p
    return (gain * (1 - p) / p - loss_without_fine) / (q_kg * o.ref_price_usd_kg)


def lever_world(**settings) -> Scenario:
    """A 12-week ban world where enforcement costs money and cuts deliveries: a few ms per run."""
    base = copy.deepcopy(WORLD)
    base["routes"] = {
        "direct": {"destination": "US", "leg1_steps": 2},
        "via-TH": {"destination": "US", "via": "TH", "leg1_steps": 1, "leg2_steps": 1},
        "via-MY": {"destination": "US", "via": "MY", "leg1_steps": 1, "leg2_steps": 2},
    }
    base["methods"] = {}
    base["exporters"] = {"compliance_cost_usd_kg": 0.5, "trace_prob": 0.0, "gray_price_speed": 0.3}
    base["customs"] = {"CN": {"capacity_per_week": 150, "legit_containers_per_week": 5000,
                              "cost_per_inspection_usd": 600.0,
                              "technologies": ["xray", "document_check", "density_scan", "ai_image"]},
                       "TH": {"capacity_per_week": 50, "legit_containers_per_week": 2000}}
    base["smugglers"] = {"initial": 40, "pool": 20, "networks": 4, "capacity_t": 5.0, "capital_usd": 1e6}
    return _world(base, {"steps": 12, "name": "lever_world", **settings})


def write(scenario: Scenario, folder: Path) -> Path:
    """The scenario as a TOML file in `folder` (for the command line)."""
    path = Path(folder) / f"{scenario.name}.toml"
    path.write_text(dump_toml(scenario), encoding="utf-8")
    return path
