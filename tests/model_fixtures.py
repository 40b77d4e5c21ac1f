"""Small scenarios built in code for the verification tests (MODEL.md §7)."""

from __future__ import annotations

import copy

from sim.scenario import parse_key, set_path
from sim.scenario.schema import Scenario

# The origin CN sells at home and to the US; a supplier elsewhere (S) sells to the US too; two
# symmetric hubs and a direct route. At reference prices every market clears.
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
        "S": {"roles": ["supplier"]},
    },
    "markets": {
        "CN": {"sb": {"ref_price_usd_kg": 10.0, "gray_share": 0.0}},
        "US": {"sb": {"ref_price_usd_kg": 10.5, "gray_share": 0.5, "gray_discount": 0.3}},
    },
    "suppliers": {
        "cn": {"country": "CN", "commodity": "sb", "unit_cost_usd_kg": 5.0,
               "sales_t_per_year": {"CN": 20000, "US": 6000}, "shipping_weeks": 2},
        "s": {"country": "S", "commodity": "sb", "unit_cost_usd_kg": 7.0,
              "sales_t_per_year": {"US": 4000}, "shipping_weeks": 2},
    },
    "exporters": {"compliance_cost_usd_kg": 0.5, "trace_prob": 0.0, "gray_price_speed": 0.3},
    "smugglers": {"initial": 60, "pool": 60, "networks": 4, "capacity_t": 5.0, "capital_usd": 1e6},
    "customs": {"CN": {"capacity_per_week": 200, "legit_containers_per_week": 5000}},
    "routes": {
        "direct": {"destination": "US", "leg1_steps": 2},
        "via-TH": {"destination": "US", "via": "TH", "leg1_steps": 1, "leg2_steps": 2},
        "via-MY": {"destination": "US", "via": "MY", "leg1_steps": 1, "leg2_steps": 2},
    },
}

BAN = {"controls.ban.commodity": "sb", "controls.ban.destination": "US", "controls.ban.regime": "ban"}


def build(base: dict, settings: dict | None = None, drop: tuple[str, ...] = ()) -> Scenario:
    """`base` with dotted-key settings applied, and top-level or dotted keys removed."""
    data = copy.deepcopy(base)
    for key in drop:
        *head, last = key.split(".")
        node = data
        for h in head:
            node = node[h]
        node.pop(last, None)
    for key, value in (settings or {}).items():
        set_path(data, parse_key(key), value)
    return Scenario.model_validate(data)


def tiny(settings: dict | None = None, drop: tuple[str, ...] = ()) -> Scenario:
    """TINY with dotted-key settings applied, and top-level or dotted keys removed."""
    return build(TINY, settings, drop)


# Two open destinations (US, EU) served by the same suppliers, symmetric in everything (V8).
TWO_MARKETS = {
    "name": "two_markets", "start_date": "2025-01-06", "steps": 200, "seed": 3,
    "commodities": {"sb": {"elasticity": 0.5}},
    "countries": {"CN": {"roles": ["origin"]}, "US": {"roles": ["destination"]},
                  "EU": {"roles": ["destination"]}, "S": {"roles": ["supplier"]}},
    "markets": {"CN": {"sb": {"ref_price_usd_kg": 10.0, "gray_share": 0.0}},
                "US": {"sb": {"ref_price_usd_kg": 11.0, "gray_share": 0.0}},
                "EU": {"sb": {"ref_price_usd_kg": 11.0, "gray_share": 0.0}}},
    "suppliers": {
        "cn": {"country": "CN", "commodity": "sb", "unit_cost_usd_kg": 5.0, "freight_usd_kg": 1.0,
               "sales_t_per_year": {"CN": 20000, "US": 8000, "EU": 8000}, "shipping_weeks": 2},
        "s": {"country": "S", "commodity": "sb", "unit_cost_usd_kg": 6.0, "freight_usd_kg": 1.0,
              "sales_t_per_year": {"US": 2000, "EU": 2000}, "shipping_weeks": 2}},
    "smugglers": {"initial": 0, "pool": 0},
    "routes": {"direct": {"destination": "US"}},
}
