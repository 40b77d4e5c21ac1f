"""The scenario file format (model version 2): pydantic v2 models, one per TOML table.

Every field carries its unit in its name or description, a default where a sensible one
exists, and its range. Fields marked `runtime` may be changed by events during a run;
all others are read once when the world is built (MODEL.md §5.2). `docs/scenario-format.md`
and `scenarios/template.toml` are generated from these models.

Top-level tables: commodities, countries, markets, suppliers, trade, exporters, smugglers,
methods, eff, customs, routes, controls, penalties, events, priors. Cross-references are
checked by `check_references`, which returns every problem at once with its dotted key.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.scenario.limits import MAX_ENTRIES, check_size
from sim.scenario.priors import Prior, check_priors
from sim.scenario.types import ID_PATTERN, ID_RULE, Bool, Date, Int, Num, Range, Text, is_runtime, runtime  # noqa: F401 (is_runtime re-exported)

METHODS = ("false_end_user", "mislabel", "mix_scrap", "shielded", "undervalue", "relabel_origin")
TECHS = ("xray", "density_scan", "ai_image", "document_check", "isotope_fingerprint",
         "trace_tags", "trade_anomaly")
ROLES = ("origin", "transit", "destination", "supplier")
REGIMES = ("open", "license", "ban")
# Cover categories a concealed shipment can be declared as (MODEL.md §4.3, §4.4).
COVERS = ("scrap", "chemicals", "metal_goods", "plastics", "fertilizer", "building_materials")
Tech = Literal["xray", "density_scan", "ai_image", "document_check", "isotope_fingerprint", "trace_tags",
               "trade_anomaly"]
Cover = Literal["scrap", "chemicals", "metal_goods", "plastics", "fertilizer", "building_materials"]

# Detection probability given inspection, eff[tech][method]; assumptions, argued in docs/model.md.
DEFAULT_EFF: dict[str, dict[str, float]] = {
    "xray":                {"false_end_user": 0.0, "mislabel": 0.35, "mix_scrap": 0.15, "shielded": 0.02, "undervalue": 0.0, "relabel_origin": 0.0},
    "density_scan":        {"false_end_user": 0.0, "mislabel": 0.30, "mix_scrap": 0.35, "shielded": 0.40, "undervalue": 0.0, "relabel_origin": 0.0},
    "ai_image":            {"false_end_user": 0.0, "mislabel": 0.30, "mix_scrap": 0.25, "shielded": 0.25, "undervalue": 0.0, "relabel_origin": 0.0},
    "document_check":      {"false_end_user": 0.15, "mislabel": 0.10, "mix_scrap": 0.05, "shielded": 0.05, "undervalue": 0.35, "relabel_origin": 0.20},
    "isotope_fingerprint": {"false_end_user": 0.0, "mislabel": 0.20, "mix_scrap": 0.40, "shielded": 0.20, "undervalue": 0.10, "relabel_origin": 0.60},
    "trace_tags":          {"false_end_user": 0.50, "mislabel": 0.30, "mix_scrap": 0.20, "shielded": 0.30, "undervalue": 0.30, "relabel_origin": 0.50},
    "trade_anomaly":       {"false_end_user": 0.20, "mislabel": 0.05, "mix_scrap": 0.05, "shielded": 0.05, "undervalue": 0.15, "relabel_origin": 0.20},
}
DEFAULT_METHOD_COST = {"false_end_user": 0.3, "mislabel": 0.6, "mix_scrap": 1.0, "shielded": 1.5,
                       "undervalue": 0.2, "relabel_origin": 0.8}
# Default mix of other goods (shares of containers) at a checkpoint, by kind of checkpoint.
# Orders of magnitude for a large container port; argued in docs/model.md ("Declarations").
DEFAULT_MIX = {
    "export": {"scrap": 0.10, "chemicals": 0.25, "metal_goods": 0.25, "plastics": 0.20, "fertilizer": 0.05,
               "building_materials": 0.15},
    "import": {"scrap": 0.05, "chemicals": 0.20, "metal_goods": 0.20, "plastics": 0.25, "fertilizer": 0.10,
               "building_materials": 0.20},
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Commodity(Strict):
    name: Text(80) = Field("", description="Display name.")
    elasticity: Num = Field(0.5, gt=0.0, le=5.0, description="Price elasticity of demand `eps` below the backstop (dimensionless).")
    substitution_elasticity: Num = Field(4.0, gt=0.0, le=50.0, description="Price elasticity of demand above the backstop `eps_sub` (substitutes take over; >> eps).")
    container_load_kg: Num = Field(20000.0, ge=100.0, le=30000.0, description="Cargo per container (kg); a consignment occupies ceil(q / load) containers.")
    typical_value_usd_kg: Num | None = Field(None, gt=0.0, le=1e5, description="Value customs expects on a declaration of this commodity (USD/kg; default: the origin's reference price).")
    demand_index: Num = Field(1.0, gt=0.0, le=100.0, description="Shift of demand for this commodity in every market (x reference demand at any price); events use it for world demand growth.", json_schema_extra=runtime())
    precautionary_cover_days: Num = Field(0.0, ge=0.0, le=365.0, description="Hoarding: extra target inventory (days of reference demand) that buyers outside the origin want when the origin's controls withhold all of its exports of this commodity, scaled by the share withheld (seed: US firms hoarded after the ban). 0: targets ignore controls.", json_schema_extra=runtime())
    cover_category: Cover = Field("chemicals", description="What `mislabel` declares this commodity as (one of scrap, chemicals, metal_goods, plastics, fertilizer, building_materials).")


class Country(Strict):
    name: Text(80) = Field("", description="Display name.")
    roles: list[Literal["origin", "transit", "destination", "supplier"]] = Field(
        description="One or more of origin, transit, destination, supplier (origin excludes the others).")
    commission: Num = Field(0.13, ge=0.0, lt=1.0, description="Transit only: share of the sale value hub logistics firms take (seed: 0.12-0.15).", json_schema_extra=runtime())
    cooperation: Num = Field(0.0, ge=0.0, le=1.0, description="How hard its customs looks for the origin's controlled goods: scales all checks of a destination, and a transit country's checks on re-exports (its import checks run as usual). The origin counts as 1.", json_schema_extra=runtime())
    import_cap_t_per_year: dict[str, Range(ge=0.0, le=1e8)] = Field(default_factory=dict, description="Transit only: cap on all its imports from the origin per commodity (t/yr, per calendar year), enforced at its import checkpoint.", json_schema_extra=runtime())
    baseline_imports_t_per_year: dict[str, Range(ge=0.0, le=1e8)] = Field(default_factory=dict, description="Transit only: its own legitimate imports from the origin per commodity (t/yr), consumed there.")
    trade_weight: Num = Field(1.0, ge=0.0, le=1e6, description="Weight of this country as partner (declared origin or consignee) of other goods crossing checkpoints.")
    lon: Num = Field(0.0, ge=-180, le=180, description="Longitude for the schematic route map (degrees).")
    lat: Num = Field(0.0, ge=-90, le=90, description="Latitude for the schematic route map (degrees).")


class Market(Strict):
    ref_price_usd_kg: Num = Field(gt=0.0, le=1e5, description="Reference price P0 (USD/kg).")
    ref_demand_t_per_year: Num | None = Field(None, gt=0.0, le=1e8, description="Reference demand D0 at P0 (t/yr); default: what suppliers sell there at reference. Must equal it (the reference is an equilibrium).")
    demand_index: Num = Field(1.0, gt=0.0, le=100.0, description="Shift of the whole demand curve (x reference demand at any price); events use it for demand growth.", json_schema_extra=runtime())
    backstop_index: Num = Field(4.0, gt=1.0, le=1000.0, description="Price at which substitutes become worth it, as a multiple of P0; demand turns elastic above it.", json_schema_extra=runtime())
    stock_cover_days: Num = Field(30.0, ge=0.0, le=3650.0, description="Buyers' target inventory, in days of reference demand.", json_schema_extra=runtime())
    restock_speed: Num = Field(0.1, ge=0.0, le=1.0, description="Share of the gap to target inventory closed per step (1/step).", json_schema_extra=runtime())
    buffer_share: Num = Field(1.0, ge=0.0, le=1.0, description="Share of the gap between reference demand and this step's arrivals that buyers fill from stock (or, in a glut, put into stock).", json_schema_extra=runtime())
    defense_share: Num = Field(0.0, ge=0.0, le=1.0, description="Share of demand from defense buyers (legal supply only).", json_schema_extra=runtime())
    gray_share: Num = Field(0.3, ge=0.0, le=1.0, description="Share of demand from civil buyers who will buy smuggled goods.", json_schema_extra=runtime())
    gray_discount: Num = Field(0.5, ge=0.0, lt=1.0, description="Smuggled goods sell at (1 - gray_discount) x the legal price (seed: about 0.5) while gray buyers want more than is offered.", json_schema_extra=runtime())
    gray_elasticity: Num = Field(1.0, gt=0.0, le=50.0, description="When smugglers offer more than gray buyers take at that price, the gray price falls: gray demand grows as (G / usual gray price)^-gray_elasticity.", json_schema_extra=runtime())
    gray_floor: Num = Field(0.3, gt=0.0, le=1.0, description="Smugglers hold their goods rather than sell below this share of the usual gray price.", json_schema_extra=runtime())
    price_guard_index: Num = Field(100.0, gt=1.0, le=1e4, description="Numerical guard on the price (x P0), far above the backstop; a price that touches it is flagged (weeks_at_price_guard).")
    price_floor_index: Num = Field(0.01, gt=0.0, lt=1.0, description="Numerical guard below (x P0); touching it is flagged too.")
    initial_price_index: Num | None = Field(None, gt=0.0, le=1e4, description="Verification worlds only: price at step 0 (x P0) instead of the reference equilibrium.")
    initial_stock_days: Num | None = Field(None, ge=0.0, le=3650.0, description="Verification worlds only: buyers' inventory at step 0 (days of reference demand) instead of the target.")


class Supplier(Strict):
    name: Text(80) = Field("", description="Display name.")
    country: str = Field(description="Country id where it produces; a supplier in the origin is one of the origin's exporters.")
    commodity: str = Field(description="Commodity id.")
    sales_t_per_year: dict[str, Range(ge=0.0, le=1e8)] = Field(description="Reference flows: market country id -> t/yr sold there at reference prices (trade statistics). Only these markets are served.")
    capacity_t_per_year: Num | None = Field(None, gt=0.0, le=1e8, description="Output capacity (t/yr; default 1.25 x the reference output).")
    unit_cost_usd_kg: Num = Field(gt=0.0, le=1e5, description="Unit cost (USD/kg); output stops when the average netback falls below it.")
    supply_elasticity: Num = Field(0.3, ge=0.0, le=5.0, description="Short-run supply elasticity: target output = reference output x (netback / reference netback)^elasticity, up to capacity.")
    supply_adjustment: Num = Field(0.05, gt=0.0, le=1.0, description="Share of the gap to target output closed per week.")
    freight_usd_kg: Num = Field(0.3, ge=0.0, le=1e4, description="Delivery cost to a foreign market (USD/kg); the home market costs nothing.", json_schema_extra=runtime())
    freight_usd_kg_to: dict[str, Range(ge=0.0, le=1e4)] = Field(default_factory=dict, description="Per-market delivery cost overriding freight_usd_kg (USD/kg).", json_schema_extra=runtime())
    shipping_weeks: Int = Field(4, ge=0, le=52, description="Weeks from shipment to arrival in a foreign market (home: 0).")
    shipping_weeks_to: dict[str, Annotated[Int, Field(ge=0, le=52)]] = Field(default_factory=dict, description="Per-market shipping time overriding shipping_weeks (weeks).")
    hurdle: Num = Field(0.2, ge=0.0, le=100.0, description="Expansion when the 13-week average netback exceeds unit cost x (1 + hurdle).", json_schema_extra=runtime())
    expansion_t_per_year: Num = Field(0.0, ge=0.0, le=1e8, description="Capacity added by one expansion (t/yr).", json_schema_extra=runtime())
    lead_time_years: Num = Field(3.0, ge=0.0, le=30.0, description="Time from decision to new capacity (yr); a new mine takes up to 7.")
    disruption: Num = Field(0.0, ge=0.0, le=1.0, description="Share of capacity offline (mine closures, smelter shutdowns); events use it for supply shocks.", json_schema_extra=runtime())
    whistleblower: Bool = Field(False, description="Files tips against smugglers when gray goods take its markets.")
    tip_rate_per_year: Num = Field(0.0, ge=0.0, le=1e4, description="Tips per year when the gray share of its markets is 100 % (scaled by the actual share).", json_schema_extra=runtime())
    tip_to: str = Field("", description="Country id whose customs receives the tips (seed: US firms to Chinese customs).")


class Trade(Strict):
    elasticity: Num = Field(3.0, ge=0.0, le=50.0, description="Trade elasticity sigma: a supplier's target share of a market rises with (netback / reference netback)^sigma.")
    contract_speed: Num = Field(0.02, ge=0.0, le=1.0, description="Share of the gap between actual and target shares closed per week: contracts do not turn on a dime.")
    price_expectation_speed: Num = Field(0.5, gt=0.0, le=1.0, description="Weight per week of the latest price in the prices suppliers plan with (adaptive expectations; damps a hog cycle through shipping lags).")


class Exporters(Strict):
    count: Int = Field(40, ge=1, le=10000, description="Exporting firms at the origin (equal shares of its output).")
    divertible_share: Num = Field(0.2, ge=0.0, le=1.0, description="Share of its output a firm could divert to smugglers per step.")
    compliance_cost_usd_kg: Num = Field(2.0, ge=0.0, le=1e4, description="Median firm-specific cost of diverting (USD/kg): reputation, contracts, conscience.")
    compliance_spread: Num = Field(1.0, ge=0.0, le=5.0, description="Log-normal sigma of that cost across firms (firms sit at its quantiles).")
    trace_prob: Num = Field(0.01, ge=0.0, le=1.0, description="Chance per step that a diverting firm is traced (audits); a crackdown raises it.", json_schema_extra=runtime())
    trace_tags_trace_prob: Num = Field(0.05, ge=0.0, le=1.0, description="Added to trace_prob while origin customs use trace_tags.", json_schema_extra=runtime())
    penalty_multiple: Num = Field(1.0, ge=0.0, le=1000.0, description="Fine on a traced firm as a multiple of the diverted goods' value at the domestic price.", json_schema_extra=runtime())
    licence_loss_usd_kg: Num = Field(1.0, ge=0.0, le=1e5, description="Value of the export licence a traced firm loses, per kg diverted (USD/kg).", json_schema_extra=runtime())
    blacklist_weeks: Num = Field(26.0, ge=0.0, le=520.0, description="Weeks a traced firm is blacklisted and cannot divert.", json_schema_extra=runtime())
    gray_price_speed: Num = Field(0.1, ge=0.0, le=1.0, description="Adjustment speed of the gray purchase price W toward balancing smugglers' demand and diverted supply (log change per week at most).", json_schema_extra=runtime())


class Smugglers(Strict):
    initial: Int = Field(200, ge=0, le=1_000_000, description="Smugglers active at step 0.")
    pool: Int = Field(1000, ge=0, le=1_000_000, description="Potential entrants available over the run.")
    networks: Int = Field(10, ge=1, le=10_000, description="Number of gangs (belief-sharing networks).")
    capital_usd: Num = Field(2.0e6, gt=0.0, le=1e10, description="Median starting capital (USD).")
    capital_spread: Num = Field(0.5, ge=0.0, le=3.0, description="Log-normal sigma of starting capital.")
    capacity_t: Num = Field(10.0, gt=0.0, le=1e5, description="Median shipment capacity (t).")
    capacity_spread: Num = Field(0.5, ge=0.0, le=3.0, description="Log-normal sigma of shipment capacity.")
    cost_spread: Num = Field(0.5, ge=0.0, le=3.0, description="Log-normal sigma of a smuggler's own factor on freight and concealment costs.")
    risk_aversion_per_usd: Num = Field(1.0e-7, ge=0.0, le=1.0, description="Mean CARA coefficient (1/USD); certainty equivalent = EU - 0.5 x coef x variance.")
    risk_averse: Bool = Field(True, description="Switch risk aversion on or off.")
    logit: Bool = Field(True, description="Switch logit choice on (else deterministic best response).")
    trips_per_week: Num = Field(0.5, gt=0.0, le=1.0, description="Probability per week that a free smuggler looks for a trip.")
    price_learning: Num = Field(0.3, gt=0.0, le=1.0, description="Weight per week of a sale seen by the network in its expected gray price.")
    public_price_learning: Num = Field(0.2, ge=0.0, le=1.0, description="Weight per week of the public market price in every network's expected gray price.")
    temperature_usd: Num = Field(2.0e4, ge=0.0, le=1e9, description="Logit temperature (USD); 0 is best response.")
    learning: Bool = Field(True, description="Switch belief updating on or off.")
    prior_interdiction: Num = Field(0.05, ge=0.0, le=1.0, description="Prior belief in the interdiction probability at any checkpoint for any method.")
    prior_by_country: dict[str, Range(ge=0.0, le=1.0)] = Field(default_factory=dict, description="Per-country override of prior_interdiction (its import and export checkpoints).")
    prior_strength: Num = Field(20.0, gt=0.0, le=1e6, description="Prior pseudo-observations a + b.")
    forgetting: Num = Field(0.97, ge=0.0, le=1.0, description="Per-step weight kept on belief counts; the rest reverts to the prior.")
    network_share: Num = Field(0.3, ge=0.0, le=1.0, description="Weight with which a network member's observation reaches the others.")
    public_share: Num = Field(0.0, ge=0.0, le=1.0, description="Weight with which seizures reach all smugglers (publicity; raised by crackdowns).", json_schema_extra=runtime())
    freedom_value_usd_per_year: Num = Field(5.0e5, ge=0.0, le=1e10, description="Cost a smuggler puts on a year in prison (USD/yr).")
    entry_max_per_year: Num = Field(200.0, ge=0.0, le=1e7, description="Entry rate from the pool when trips pay well (smugglers/yr).")
    entry_profit_ref_usd: Num = Field(1.0e5, ge=1.0, le=1e10, description="Realised profit per completed trip (USD) at which entry runs at half its maximum.")


class Method(Strict):
    cost_usd_kg: Num = Field(ge=0.0, le=1e4, description="Extra cost of the concealment (USD/kg).", json_schema_extra=runtime())


class Customs(Strict):
    capacity_per_week: Num = Field(100.0, ge=0.0, le=1e7, description="Containers it can inspect per week at each of its checkpoints.", json_schema_extra=runtime())
    legit_containers_per_week: Num = Field(10000.0, ge=0.0, le=1e8, description="Containers of other goods (not the model's commodities) through each of its checkpoints per week.", json_schema_extra=runtime())
    traffic_mix: dict[Cover, Range(ge=0.0, le=1.0)] | None = Field(None, description="Shares of those containers by declared category (default by kind of checkpoint, docs/model.md).", json_schema_extra=runtime())
    technologies: list[Tech] = Field(default_factory=lambda: ["xray", "document_check"], description="Active technologies.", json_schema_extra=runtime())
    random_share: Num = Field(0.5, ge=0.0, le=1.0, description="Share of capacity inspected at random; the rest by risk score.", json_schema_extra=runtime())
    corruption: Num = Field(0.0, ge=0.0, le=1.0, description="Share of detections bribed away.", json_schema_extra=runtime())
    learn_weight: Num = Field(20.0, ge=0.0, le=1e6, description="Risk-score weight of the learned hit rate of a declared cell (per unit of hit rate).", json_schema_extra=runtime())
    hit_rate_memory: Num = Field(0.9, ge=0.0, le=1.0, description="Per-week weight kept on a cell's counts of seizures and clean inspections.", json_schema_extra=runtime())
    hit_rate_prior: Num = Field(0.01, ge=0.0, le=1.0, description="Hit rate assumed for a cell before any inspection (with the weight of 10 inspections).")
    value_anomaly_weight: Num = Field(2.0, ge=0.0, le=1e6, description="Risk-score bonus for a declared value far below the category's typical value.", json_schema_extra=runtime())
    legit_low_value_share: Num = Field(0.02, ge=0.0, le=1.0, description="Share of legitimate containers of a commodity declared far below its typical value (lower grades, duty fraud): the haystack around under-valued contraband.")
    anomaly_weight: Num = Field(4.0, ge=0.0, le=1e6, description="With trade_anomaly: bonus for a declaration naming a flagged transit country as consignee or origin.", json_schema_extra=runtime())
    anomaly_threshold: Num = Field(3.0, ge=1.0, le=1e6, description="A transit country is flagged when its imports from the origin exceed this multiple of its baseline.", json_schema_extra=runtime())
    tip_weight: Num = Field(20.0, ge=0.0, le=1e6, description="Risk-score bonus for consignments of a tipped network.", json_schema_extra=runtime())
    investigation_tips_per_week: Num = Field(0.0, ge=0.0, le=1000.0, description="Tips per week from investigations (police, intelligence, traced exporters) naming an active network; a joint operation raises it.", json_schema_extra=runtime())
    tip_duration_weeks: Num = Field(8.0, ge=0.0, le=520.0, description="How long a tip keeps a network under watch (weeks).", json_schema_extra=runtime())
    restricted_weight: Num = Field(50.0, ge=0.0, le=1e6, description="Risk-score bonus for a declaration naming a controlled commodity of origin goods for a consignee under a ban.", json_schema_extra=runtime())
    licence_weight: Num = Field(2.0, ge=0.0, le=1e6, description="Risk-score bonus for such a declaration to a consignee under a licence (its papers are checked).", json_schema_extra=runtime())
    cost_per_inspection_usd: Num = Field(600.0, ge=0.0, le=1e7, description="Cost of one container inspection (USD).", json_schema_extra=runtime())
    capacity_cost_usd_per_year: Num = Field(20000.0, ge=0.0, le=1e9, description="Fixed cost per year of each container per week of inspection capacity, used or not (USD).", json_schema_extra=runtime())


class Route(Strict):
    destination: str = Field(description="Destination country id.")
    via: str = Field("", description="Transit country id, or empty for a direct route.")
    leg1_steps: Int = Field(2, ge=1, le=52, description="Steps from origin to the transit country (or to the destination when direct).")
    leg2_steps: Int = Field(2, ge=1, le=52, description="Steps from the transit country to the destination (ignored when direct).")
    freight_usd_kg: Num = Field(0.5, ge=0.0, le=1e4, description="Freight and handling over the whole route (USD/kg).", json_schema_extra=runtime())


class Control(Strict):
    commodity: str = Field(description="Commodity id or \"all\".")
    destination: str = Field(description="Country id (a destination or a transit country) or \"all\".")
    regime: Literal["open", "license", "ban"] = Field(description="open, license or ban.", json_schema_extra=runtime())
    approval_rate: Num = Field(0.5, ge=0.0, le=1.0, description="License: share of the origin's intended exports approved; the rest stays home.", json_schema_extra=runtime())
    delay_steps: Int = Field(6, ge=0, le=104, description="License: steps from application to shipment.", json_schema_extra=runtime())
    quota_t_per_year: Num | None = Field(None, ge=0.0, le=1e8, description="License: licensed tonnes per calendar year at most (no limit when absent).", json_schema_extra=runtime())
    military_share: Num = Field(0.0, ge=0.0, le=1.0, description="License: share of the destination's demand from military users, never licensed.", json_schema_extra=runtime())
    friction_usd_kg: Num = Field(0.5, ge=0.0, le=1e4, description="License: cost of applying and waiting (USD/kg), which lowers the netback of licensed exports.", json_schema_extra=runtime())
    extraterritorial: Bool = Field(False, description="Transit re-exports of origin goods are illegal too; only relabel_origin passes them as the transit country's product.", json_schema_extra=runtime())
    from_step: Int | None = Field(None, ge=0, le=100_000, description="First step it applies (default: from the start); or use from_date.")
    from_date: Date | None = Field(None, description="First date it applies (YYYY-MM-DD); or use from_step.")


class Penalties(Strict):
    fine_multiple: Num = Field(1.0, ge=0.0, le=1000.0, description="Smugglers' fine as a multiple of the cargo's value at the origin price.", json_schema_extra=runtime())
    arrest_prob: Num = Field(0.3, ge=0.0, le=1.0, description="Probability a seizure leads to arrest.", json_schema_extra=runtime())
    sentence_years: Num = Field(2.0, ge=0.0, le=100.0, description="Prison sentence (yr).", json_schema_extra=runtime())


class Event(Strict):
    label: Text(120) = Field("", description="Shown on charts.")
    step: Int | None = Field(None, ge=0, le=100_000, description="Step it takes effect; or use date.")
    date: Date | None = Field(None, description="Date it takes effect (YYYY-MM-DD); or use step.")
    set: dict[str, object] = Field(default_factory=dict, description="Dotted scenario key -> new value, e.g. \"customs.CN.capacity_per_week\" = 900. Only keys marked `runtime` may be set.")


class Scenario(Strict):
    name: Text(80, min_length=1, pattern=r"^[^\x00-\x1f/\\]+$") = Field(description="Short name (no slashes or control characters); names the results folder.")
    description: Text(300) = Field("", description="One line shown by `sim list`.")
    question: Text(300) = Field("", description="The policy question, shown in briefs.")
    start_date: Date = Field(dt.date(2024, 1, 1), ge=dt.date(1900, 1, 1), le=dt.date(2200, 1, 1), description="Calendar date of step 0.")
    days_per_step: Int = Field(7, ge=1, le=365, description="Days per step.")
    steps: Int = Field(52, ge=1, le=5200, description="Horizon (steps).")
    seed: Int = Field(12345, ge=0, le=2**63 - 1, description="Master seed; replicate seeds are spawned from it.")
    replicates: Int = Field(1, ge=1, le=100000, description="Default number of Monte Carlo replicates.")
    headline_event: str = Field("", max_length=40, description="Event id for weeks_to_halve (default: the first event).")
    restricted_focus: str = Field("", max_length=40, description="Destination id the price KPIs focus on (default: the first destination under a control).")
    commodities: dict[str, Commodity] = Field(description="Commodity id -> commodity.")
    countries: dict[str, Country] = Field(description="Country id -> country.")
    markets: dict[str, dict[str, Market]] = Field(description="Country id (origin or destination) -> commodity id -> market.")
    suppliers: dict[str, Supplier] = Field(description="Supplier id -> supplier (the origin's exporters and every producer outside it).")
    trade: Trade = Field(default_factory=Trade)
    exporters: Exporters = Field(default_factory=Exporters)
    smugglers: Smugglers = Field(default_factory=Smugglers)
    methods: dict[str, Method] = Field(default_factory=lambda: {k: Method(cost_usd_kg=v) for k, v in DEFAULT_METHOD_COST.items()},
                                       description="Concealment method -> parameters (all six; defaults in docs/model.md).")
    eff: dict[str, dict[str, Range(ge=0.0, le=1.0)]] = Field(default_factory=lambda: {t: dict(v) for t, v in DEFAULT_EFF.items()},
                                           description="Technology -> method -> detection probability given inspection.", json_schema_extra=runtime())
    customs: dict[str, Customs] = Field(default_factory=dict, description="Country id -> its customs agency (defaults for any country not listed).")
    routes: dict[str, Route] = Field(description="Route id -> smuggling route from the origin.")
    controls: dict[str, Control] = Field(default_factory=dict, description="Control id -> export control of the origin.")
    penalties: Penalties = Field(default_factory=Penalties)
    events: dict[str, Event] = Field(default_factory=dict, description="Event id -> event.")
    priors: dict[str, Prior] = Field(default_factory=dict, description="Dotted scenario key -> prior range of a number without data, with its reason (calibration, MODEL.md §9).")

    @model_validator(mode="before")
    @classmethod
    def _fill_partial_tables(cls, data):
        """Methods and eff given in a file are merged over the defaults, key by key."""
        if isinstance(data, dict):
            defaults = {"methods": {k: {"cost_usd_kg": v} for k, v in DEFAULT_METHOD_COST.items()}, "eff": DEFAULT_EFF}
            for key, default in defaults.items():
                given = data.get(key)
                if isinstance(given, dict):
                    merged = {k: dict(v) for k, v in default.items()}
                    for k, v in given.items():
                        merged[k] = {**merged.get(k, {}), **v} if isinstance(v, dict) else v
                    data = {**data, key: merged}
        return data

    # ---- derived helpers -------------------------------------------------------
    def ids(self, role: str) -> list[str]:
        return [c for c, v in self.countries.items() if role in v.roles]

    @property
    def origin(self) -> str:
        return self.ids("origin")[0]

    def step_of(self, date: dt.date) -> int:
        return (date - self.start_date).days // self.days_per_step

    def date_of(self, step: int) -> dt.date:
        return self.start_date + dt.timedelta(days=step * self.days_per_step)

    def event_step(self, ev: Event) -> int:
        return ev.step if ev.step is not None else self.step_of(ev.date)

    def control_step(self, c: Control) -> int:
        if c.from_step is not None:
            return c.from_step
        return self.step_of(c.from_date) if c.from_date is not None else 0

    def demand(self, country: str, k: str) -> float:
        """Reference demand D0 of a market (t/yr): given, or what suppliers sell there."""
        given = self.markets[country][k].ref_demand_t_per_year
        return given if given is not None else self.sales_into(country, k)

    def sales_into(self, country: str, k: str) -> float:
        return sum(s.sales_t_per_year.get(country, 0.0) for s in self.suppliers.values() if s.commodity == k)


def runtime_field(path: tuple[str, ...]):
    """The schema field a dotted key path names, if events may change it; else None.

    A path may go into a runtime dict field (`countries.TH.import_cap_t_per_year.sb2o3`)."""
    tp: type[BaseModel] | None = Scenario
    i = 0
    while i < len(path) and tp is not None:
        f = tp.model_fields.get(path[i])
        if f is None:
            return None
        if is_runtime(f):
            return f
        ann = f.annotation
        args = getattr(ann, "__args__", ())
        if getattr(ann, "__origin__", None) is dict:
            i += 1  # skip the id
            inner = args[-1]
            if getattr(inner, "__origin__", None) is dict:  # markets: country -> commodity -> Market
                i += 1
                inner = getattr(inner, "__args__", ())[-1]
            tp = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
        else:
            tp = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        i += 1
    return None


def runtime_keys() -> list[str]:
    """Every key pattern events may set, e.g. `customs.<country>.capacity_per_week` (for the docs)."""
    out: list[str] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, f in model.model_fields.items():
            key = f"{prefix}{name}"
            ann = f.annotation
            if is_runtime(f):
                out.append(key)
                continue
            if getattr(ann, "__origin__", None) is dict:
                inner = ann.__args__[-1]
                holder = {"markets": "<country>.<commodity>", "countries": "<country>", "customs": "<country>",
                          "suppliers": "<supplier>", "controls": "<control>", "routes": "<route>",
                          "methods": "<method>"}.get(name, "<id>")
                if getattr(inner, "__origin__", None) is dict:
                    inner = inner.__args__[-1]
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    walk(inner, f"{key}.{holder}.")
            elif isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, f"{key}.")
    walk(Scenario, "")
    return out


def _q(text: str) -> str:
    """An id as quoted in a message (shortened: a message stays readable whatever was written)."""
    return f"'{text}'" if len(text) <= 40 else f"'{text[:30]}…' ({len(text):,} characters)"


def check_references(s: Scenario) -> list[tuple[str, str]]:
    """Cross-table checks pydantic cannot express field by field: (dotted key, problem)."""
    errs: list[tuple[str, str]] = []
    C, K = set(s.countries), set(s.commodities)
    origins, dests, transits = s.ids("origin"), s.ids("destination"), set(s.ids("transit"))

    def need(cond: bool, key: str, msg: str) -> None:
        if not cond:
            errs.append((key, msg))

    too_big = check_size(s) if len(origins) == 1 else [e for e in check_size(s) if e[0] in MAX_ENTRIES]
    if any(key in MAX_ENTRIES for key, _ in too_big):
        return too_big  # the other checks would be slow on tables that large, and can wait
    errs += too_big
    for table in ("commodities", "countries", "suppliers", "routes", "controls", "events"):
        for i in getattr(s, table):
            need(bool(ID_PATTERN.fullmatch(i)), f"{table}.{i}", f"{ID_RULE} (got {_q(i)})")
    for table in ("commodities", "countries"):
        need("all" not in getattr(s, table), f"{table}.all", "'all' is reserved: controls use it to mean every "
                                                             f"{'commodity' if table == 'commodities' else 'destination'}")
    need(len(origins) == 1, "countries", f"exactly one country must have the role 'origin' (found {len(origins)})")
    need(bool(dests), "countries", "at least one country must have the role 'destination'")
    need(bool(K), "commodities", "at least one commodity is needed")
    for c, ct in s.countries.items():
        need(len(set(ct.roles)) == len(ct.roles), f"countries.{c}.roles", "a role is listed twice")
        need(not ("origin" in ct.roles and len(ct.roles) > 1), f"countries.{c}.roles",
             "the origin cannot also be a transit, destination or supplier country")
        need(not ("transit" in ct.roles and "destination" in ct.roles), f"countries.{c}.roles",
             "a country is either a transit hub or a destination market, not both")
        for table in ("import_cap_t_per_year", "baseline_imports_t_per_year"):
            for k in getattr(ct, table):
                need(k in K, f"countries.{c}.{table}.{k}", f"unknown commodity {_q(k)}")
            if getattr(ct, table):
                need(c in transits, f"countries.{c}.{table}", "only a transit country has this")
    for m in METHODS:
        need(m in s.methods, f"methods.{m}", "missing concealment method")
    for m in s.methods:
        need(m in METHODS, f"methods.{m}", f"unknown concealment method (known: {', '.join(METHODS)})")
    for t, row in s.eff.items():
        need(t in TECHS, f"eff.{t}", f"unknown technology (known: {', '.join(TECHS)})")
        for m in row:
            need(m in METHODS, f"eff.{t}.{m}", f"unknown concealment method (known: {', '.join(METHODS)})")
    market_countries = set(origins) | set(dests)
    for c, byk in s.markets.items():
        need(c in C, f"markets.{c}", f"unknown country '{c}'")
        if c in C:
            need(c in market_countries, f"markets.{c}", "markets belong to the origin or a destination")
        for k in byk:
            need(k in K, f"markets.{c}.{k}", f"unknown commodity '{k}'")
    for c in origins + dests:
        for k in K:
            need(k in s.markets.get(c, {}), f"markets.{c}.{k}", "missing market (the origin and every destination need one per commodity)")
    for c, byk in s.markets.items():
        for k, mk in byk.items():
            need(mk.price_guard_index >= 2 * mk.backstop_index, f"markets.{c}.{k}.price_guard_index",
                 f"the guard must lie far above the backstop (>= 2 x backstop_index = {2 * mk.backstop_index:g})")
            need(mk.gray_share + mk.defense_share <= 1.0, f"markets.{c}.{k}.gray_share",
                 f"gray buyers ({mk.gray_share:g}) and defense buyers ({mk.defense_share:g}) are shares of the same "
                 "demand: together at most 1")
            if k in K and mk.ref_demand_t_per_year is not None:
                sold = s.sales_into(c, k)
                need(abs(sold - mk.ref_demand_t_per_year) <= 0.01 * mk.ref_demand_t_per_year,
                     f"markets.{c}.{k}.ref_demand_t_per_year",
                     f"suppliers sell {sold:,.0f} t/yr there at reference, not {mk.ref_demand_t_per_year:,.0f}: "
                     "the reference must clear (drop the key to use the sum)")
            elif k in K:
                need(s.sales_into(c, k) > 0, f"markets.{c}.{k}", "no supplier sells here at reference: give suppliers' sales_t_per_year")
    for sid, sp in s.suppliers.items():
        key = f"suppliers.{sid}"
        need(sp.country in C, f"{key}.country", f"unknown country '{sp.country}'")
        if sp.country in C:
            need(any(r in s.countries[sp.country].roles for r in ("origin", "supplier")), f"{key}.country",
                 f"'{sp.country}' needs the role 'supplier' (or be the origin)")
        need(sp.commodity in K, f"{key}.commodity", f"unknown commodity '{sp.commodity}'")
        need(bool(sp.sales_t_per_year), f"{key}.sales_t_per_year", "give at least one market it sells to")
        for mkt in sp.sales_t_per_year:
            need(mkt in market_countries, f"{key}.sales_t_per_year.{mkt}", f"'{mkt}' is not a market (the origin or a destination)")
            if mkt in market_countries and sp.commodity in s.markets.get(mkt, {}):
                p0 = s.markets[mkt][sp.commodity].ref_price_usd_kg
                fr = 0.0 if mkt == sp.country else sp.freight_usd_kg_to.get(mkt, sp.freight_usd_kg)
                need(p0 > fr, f"{key}.sales_t_per_year.{mkt}", f"the reference price there ({p0:g} USD/kg) does not cover delivery ({fr:g} USD/kg)")
        netbacks = [(q, s.markets[m][sp.commodity].ref_price_usd_kg
                     - (0.0 if m == sp.country else sp.freight_usd_kg_to.get(m, sp.freight_usd_kg)))
                    for m, q in sp.sales_t_per_year.items()
                    if m in market_countries and sp.commodity in s.markets.get(m, {})]
        sold = sum(q for q, _ in netbacks)
        if sold > 0:
            avg = sum(q * n for q, n in netbacks) / sold
            need(sp.unit_cost_usd_kg < avg, f"{key}.unit_cost_usd_kg",
                 f"{sp.unit_cost_usd_kg:g} USD/kg is not below its average reference netback ({avg:.4g} USD/kg): "
                 "it would not produce at reference prices")
        for table in ("freight_usd_kg_to", "shipping_weeks_to"):
            for mkt in getattr(sp, table):
                need(mkt in sp.sales_t_per_year, f"{key}.{table}.{mkt}", f"'{mkt}' is not among the markets it sells to")
        out = sum(sp.sales_t_per_year.values())
        need(out > 0, f"{key}.sales_t_per_year", "reference sales add up to 0 t/yr")
        if origins and sp.country == origins[0]:      # it also ships its part of the hubs' own imports
            peers = sum(sum(q.sales_t_per_year.values()) for q in s.suppliers.values()
                        if q.country == sp.country and q.commodity == sp.commodity)
            hubs = sum(s.countries[h].baseline_imports_t_per_year.get(sp.commodity, 0.0) for h in transits)
            out += hubs * out / peers if peers > 0 else 0.0
        if sp.capacity_t_per_year is not None:
            need(sp.capacity_t_per_year >= out, f"{key}.capacity_t_per_year",
                 f"below its reference output of {out:,.0f} t/yr")
        if sp.whistleblower:
            need(sp.tip_to in C, f"{key}.tip_to", f"unknown country '{sp.tip_to}'")
    if origins:
        for k in K:
            need(any(sp.commodity == k and sp.country == origins[0] for sp in s.suppliers.values()), "suppliers",
                 f"the origin needs a supplier of '{k}' (its exporters)")
    for c in s.customs:
        need(c in C, f"customs.{c}", f"unknown country '{c}'")
    for c, cu in s.customs.items():
        need(len(set(cu.technologies)) == len(cu.technologies), f"customs.{c}.technologies",
             "a technology is listed twice (it would count twice in the detection probability)")
        if cu.traffic_mix is not None:
            need(abs(sum(cu.traffic_mix.values()) - 1.0) < 1e-6, f"customs.{c}.traffic_mix", "shares must add up to 1")
    for c in s.smugglers.prior_by_country:
        need(c in C, f"smugglers.prior_by_country.{c}", f"unknown country {_q(c)}")
    need(bool(s.routes), "routes", "at least one route is needed")
    seen: dict[tuple[str, str], str] = {}
    for rid, r in s.routes.items():
        if origins and r.destination == origins[0]:
            errs.append((f"routes.{rid}.destination", "a route leads away from the origin, not back to it"))
        else:
            need(r.destination in dests, f"routes.{rid}.destination", f"{_q(r.destination)} is not a destination")
        if r.via and r.via in (r.destination, *origins[:1]):
            own = "destination" if r.via == r.destination else "origin"
            errs.append((f"routes.{rid}.via",
                         f"a route cannot pass through its own {own} ({_q(r.via)}); leave via empty for a direct route"))
        elif r.via:
            need(r.via in transits, f"routes.{rid}.via", f"{_q(r.via)} is not a transit country")
        twin = seen.setdefault((r.destination, r.via), rid)
        need(twin == rid, f"routes.{rid}", f"same destination and via as route '{twin}' (one route per path; "
                                           "change its parameters there instead)")
    for cid, c in s.controls.items():
        need(c.commodity == "all" or c.commodity in K, f"controls.{cid}.commodity", f"unknown commodity {_q(c.commodity)}")
        need(c.destination == "all" or (c.destination in C and c.destination not in origins),
             f"controls.{cid}.destination", f"{_q(c.destination)} is not a destination or transit country")
        need(not (c.from_step is not None and c.from_date is not None), f"controls.{cid}", "give from_step or from_date, not both")
        if c.from_date is not None:
            need(c.from_date >= s.start_date, f"controls.{cid}.from_date", f"{c.from_date} is before start_date {s.start_date}")
    for eid, e in s.events.items():
        if (e.step is None) == (e.date is None):
            errs.append((f"events.{eid}", "give exactly one of step or date"))
            continue
        st = s.event_step(e)   # after the horizon is allowed (a shortened run): the commands say so
        need(st >= 0, f"events.{eid}.date", f"{e.date} is before start_date {s.start_date}")
        need(bool(e.set), f"events.{eid}.set", "an event must set at least one key")
    if s.headline_event:
        need(s.headline_event in s.events, "headline_event", f"unknown event '{s.headline_event}'")
    if s.restricted_focus:
        need(s.restricted_focus in dests, "restricted_focus", f"'{s.restricted_focus}' is not a destination")
    return errs or check_priors(s)  # priors re-check the scenario at their ends: only once it is valid
