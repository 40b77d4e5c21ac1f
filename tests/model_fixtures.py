"""Small scenarios built in code for the verification tests (MODEL.md §7)."""

from __future__ import annotations

import copy

from sim.scenario import parse_key, set_path
from sim.scenario.schema import Scenario

TINY = {
    "name": "tiny",
    "start_date": "2025-01-01",
    "steps": 30,
    "seed": 7,
    "commodities": {"sb": {"elasticity": 0.5}},
    "countries": {
        "CN": {"roles": ["origin"]},
        "TH": {"roles": ["transit"], "commission": 0.1, "cooperation": 0.2,
               "baseline_imports_t_per_year": {"sb": 100}},
        "MY": {"roles": ["transit"], "commission": 0.1, "cooperation": 0.2,
               "baseline_imports_t_per_year": {"sb": 100}},
        "US": {"roles": ["destination"]},
    },
    "markets": {
        "CN": {"sb": {"ref_price_usd_kg": 10.0, "ref_demand_t_per_year": 20000}},
        "US": {"sb": {"ref_price_usd_kg": 10.0, "ref_demand_t_per_year": 10000,
                      "imports_from_origin_t_per_year": 6000, "gray_share": 0.5, "gray_discount": 0.3}},
    },
    "smugglers": {"initial": 60, "pool": 60, "networks": 4, "capacity_t": 5.0, "capital_usd": 1e6},
    "customs": {"CN": {"capacity_per_week": 200, "legit_containers_per_week": 5000}},
    "routes": {
        "direct": {"destination": "US", "leg1_steps": 2},
        "via-TH": {"destination": "US", "via": "TH", "leg1_steps": 1, "leg2_steps": 2},
        "via-MY": {"destination": "US", "via": "MY", "leg1_steps": 1, "leg2_steps": 2},
    },
}

BAN = {"controls.ban.commodity": "sb", "controls.ban.destination": "US", "controls.ban.regime": "ban"}


def tiny(settings: dict | None = None, drop: tuple[str, ...] = ()) -> Scenario:
    """TINY with dotted-key settings applied, and top-level or dotted keys removed."""
    data = copy.deepcopy(TINY)
    for key in drop:
        *head, last = key.split(".")
        node = data
        for h in head:
            node = node[h]
        node.pop(last, None)
    for key, value in (settings or {}).items():
        set_path(data, parse_key(key), value)
    return Scenario.model_validate(data)
