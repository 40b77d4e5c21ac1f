"""The scenario file format: pydantic v2 models, one per TOML table.

Every field carries its unit in its name or in its description, a default where a
sensible one exists, and its range. `docs/scenario-format.md` is generated from these
models (`python -m sim.scenario.docgen`) and a test keeps the two in step.

Structure (top-level tables): commodities, countries, markets, producers, exporters,
smugglers, methods, eff, customs, routes, controls, penalties, events. Cross-references
(country ids in routes, commodity ids in controls, ...) are checked by
`check_references`, which returns every problem at once with its dotted key path.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.scenario.priors import Prior, check_priors

Prob = Annotated[float, Field(ge=0.0, le=1.0)]
NonNeg = Annotated[float, Field(ge=0.0)]
Pos = Annotated[float, Field(gt=0.0)]

METHODS = ("false_end_user", "mislabel", "mix_scrap", "shielded", "undervalue", "relabel_origin")
TECHS = ("xray", "density_scan", "ai_image", "document_check", "isotope_fingerprint",
         "trace_tags", "trade_anomaly")
ROLES = ("origin", "transit", "destination", "supplier")
REGIMES = ("open", "license", "ban")

# Default detection probability given inspection, eff[tech][method]. Sources and
# reasoning are in docs/model.md ("Detection"). Assumptions, not measurements.
DEFAULT_EFF: dict[str, dict[str, float]] = {
    "xray":                {"false_end_user": 0.0, "mislabel": 0.35, "mix_scrap": 0.15, "shielded": 0.02, "undervalue": 0.0, "relabel_origin": 0.0},
    "density_scan":        {"false_end_user": 0.0, "mislabel": 0.30, "mix_scrap": 0.35, "shielded": 0.40, "undervalue": 0.0, "relabel_origin": 0.0},
    "ai_image":            {"false_end_user": 0.0, "mislabel": 0.30, "mix_scrap": 0.25, "shielded": 0.25, "undervalue": 0.0, "relabel_origin": 0.0},
    "document_check":      {"false_end_user": 0.15, "mislabel": 0.10, "mix_scrap": 0.05, "shielded": 0.05, "undervalue": 0.35, "relabel_origin": 0.20},
    "isotope_fingerprint": {"false_end_user": 0.0, "mislabel": 0.20, "mix_scrap": 0.40, "shielded": 0.20, "undervalue": 0.10, "relabel_origin": 0.60},
    "trace_tags":          {"false_end_user": 0.50, "mislabel": 0.30, "mix_scrap": 0.20, "shielded": 0.30, "undervalue": 0.30, "relabel_origin": 0.50},
    "trade_anomaly":       {"false_end_user": 0.20, "mislabel": 0.05, "mix_scrap": 0.05, "shielded": 0.05, "undervalue": 0.15, "relabel_origin": 0.20},
}

# cost in USD/kg, whether the declaration names the real commodity (so it shows up in a
# transit country's import statistics), and whether it needs a transit route.
DEFAULT_METHODS: dict[str, dict] = {
    "false_end_user": {"cost_usd_kg": 0.3, "declares_commodity": True, "transit_only": True},
    "mislabel":       {"cost_usd_kg": 0.6, "declares_commodity": False, "transit_only": False},
    "mix_scrap":      {"cost_usd_kg": 1.0, "declares_commodity": False, "transit_only": False},
    "shielded":       {"cost_usd_kg": 1.5, "declares_commodity": False, "transit_only": False},
    "undervalue":     {"cost_usd_kg": 0.2, "declares_commodity": True, "transit_only": False},
    "relabel_origin": {"cost_usd_kg": 0.8, "declares_commodity": True, "transit_only": True},
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Commodity(Strict):
    name: str = Field("", description="Display name.")
    elasticity: float = Field(0.5, gt=0.0, le=5.0, description="Short-run price elasticity of demand `eps` (> 0, dimensionless).")
    container_load_kg: float = Field(20000.0, gt=0.0, description="Cargo per container (kg); a shipment occupies ceil(q / load) containers at a checkpoint.")


class Country(Strict):
    name: str = Field("", description="Display name.")
    roles: list[Literal["origin", "transit", "destination", "supplier"]] = Field(
        description="One or more of origin, transit, destination, supplier.")
    commission: float = Field(0.13, ge=0.0, lt=1.0, description="Transit only: share of the sale value that hub logistics firms take (seed: 0.12-0.15).")
    cooperation: float = Field(0.0, ge=0.0, le=1.0, description="How hard this country's customs looks for the origin's controlled goods (0-1); the origin itself always counts as 1.")
    import_cap_t_per_year: dict[str, NonNeg] = Field(default_factory=dict, description="Transit only: cap on imports from the origin per commodity (t/yr), set by origin pressure; smuggled shipments over the cap are refused at transit import.")
    baseline_imports_t_per_year: dict[str, NonNeg] = Field(default_factory=dict, description="Transit only: its own legitimate imports from the origin per commodity (t/yr).")
    lon: float = Field(0.0, ge=-180, le=180, description="Longitude for the schematic route map (degrees).")
    lat: float = Field(0.0, ge=-90, le=90, description="Latitude for the schematic route map (degrees).")


class Market(Strict):
    ref_price_usd_kg: float = Field(gt=0.0, description="Reference price P0 (USD/kg).")
    ref_demand_t_per_year: float = Field(gt=0.0, description="Reference demand D0 at P0 (t/yr).")
    imports_from_origin_t_per_year: float = Field(0.0, ge=0.0, description="Destination only: legal imports from the origin before any control (t/yr).")
    stock_cover_days: float = Field(30.0, ge=0.0, description="Buyers' target inventory, in days of reference demand.")
    initial_price_index: float = Field(1.0, gt=0.0, description="Price at step 0 as a multiple of P0 (a market already squeezed before the scenario starts); smugglers' expectations start there.")
    initial_stock_days: float | None = Field(None, ge=0.0, description="Buyers' inventory at step 0, in days of reference demand (default: stock_cover_days).")
    restock_speed: float = Field(0.1, ge=0.0, le=1.0, description="Share of the gap to target inventory closed per step (1/step).")
    buffer_share: float = Field(1.0, ge=0.0, le=1.0, description="Share of the gap between reference demand and this step's arrivals that buyers fill from stock (or, in a glut, put into stock).")
    defense_share: float = Field(0.0, ge=0.0, le=1.0, description="Share of demand from defense buyers (legal supply only).")
    gray_share: float = Field(0.3, ge=0.0, le=1.0, description="Share of demand from civil buyers who will buy smuggled goods.")
    gray_discount: float = Field(0.5, ge=0.0, lt=1.0, description="Smuggled goods sell at (1 - gray_discount) x the legal price (seed: about 0.5).")
    price_floor: float = Field(0.1, gt=0.0, le=1.0, description="Lowest price as a multiple of P0.")
    price_cap: float = Field(10.0, ge=1.0, description="Highest price as a multiple of P0.")


class Producer(Strict):
    country: str = Field(description="Country id where it produces (a supplier or destination country).")
    market: str = Field(description="Destination country id whose market it sells into.")
    commodity: str = Field(description="Commodity id.")
    capacity_t_per_year: float = Field(ge=0.0, description="Output capacity (t/yr), produced whenever the price covers unit cost.")
    unit_cost_usd_kg: float = Field(gt=0.0, description="Unit cost (USD/kg).")
    hurdle: float = Field(0.2, ge=0.0, description="Expansion when the 13-step average price exceeds unit cost x (1 + hurdle).")
    expansion_t_per_year: float = Field(0.0, ge=0.0, description="Capacity added by one expansion (t/yr).")
    lead_time_years: float = Field(3.0, ge=0.0, description="Time from decision to new capacity (yr); a new mine takes up to 7.")
    whistleblower: bool = Field(False, description="Files tips against smugglers when gray goods take its market.")
    tip_rate_per_year: float = Field(0.0, ge=0.0, description="Tips per year when the gray share of its market is 100 % (scaled by the actual share).")
    tip_to: str = Field("", description="Country id whose customs receives the tips (seed: US firms to Chinese customs).")


class Exporters(Strict):
    count: int = Field(20, ge=1, le=10000, description="Number of exporting firms at the origin.")
    compliance: float = Field(0.9, ge=0.0, le=1.0, description="Mean compliance; a firm diverts (1 - compliance) of its divertible output to smugglers.")
    compliance_spread: float = Field(0.05, ge=0.0, le=0.5, description="Spread (half-width, uniform) of compliance across firms.")
    divertible_share: float = Field(0.1, ge=0.0, le=1.0, description="Share of output a non-compliant firm could divert per step.")
    gray_markup: float = Field(0.3, ge=0.0, description="Premium over the origin price that smugglers pay for diverted output.")
    supply_elasticity: float = Field(0.0, ge=0.0, le=5.0, description="Origin output moves toward X0 (P / P0)^elasticity, P last step's origin price (dimensionless).")
    supply_adjustment: float = Field(0.1, gt=0.0, le=1.0, description="Share of the gap to that target output closed per step (1/step); small values avoid a cobweb.")
    trace_tag_compliance: float = Field(0.5, ge=0.0, le=1.0, description="With `trace_tags` at origin customs, this share of the non-compliance gap closes.")


class Smugglers(Strict):
    initial: int = Field(200, ge=0, le=1_000_000, description="Smugglers active at step 0.")
    pool: int = Field(1000, ge=0, le=1_000_000, description="Potential entrants available over the run.")
    networks: int = Field(10, ge=1, description="Number of gangs (belief-sharing networks).")
    capital_usd: float = Field(2.0e6, gt=0.0, description="Median starting capital (USD).")
    capital_spread: float = Field(0.5, ge=0.0, le=3.0, description="Log-normal sigma of starting capital.")
    capacity_t: float = Field(10.0, gt=0.0, description="Median shipment capacity (t).")
    capacity_spread: float = Field(0.5, ge=0.0, le=3.0, description="Log-normal sigma of shipment capacity.")
    risk_aversion_per_usd: float = Field(1.0e-7, ge=0.0, description="Mean CARA coefficient (1/USD); certainty equivalent = EU - 0.5 x coef x variance.")
    risk_averse: bool = Field(True, description="Switch risk aversion on or off.")
    logit: bool = Field(True, description="Switch logit choice on (else deterministic best response).")
    trips_per_week: float = Field(0.5, gt=0.0, le=1.0, description="Probability per week that a free smuggler looks for a trip (desynchronises departures).")
    price_learning: float = Field(0.2, gt=0.0, le=1.0, description="Weight of the latest gray price in smugglers' expected price, per week (adaptive expectations; damps hog cycles).")
    temperature_usd: float = Field(2.0e4, ge=0.0, description="Logit temperature (USD); 0 is best response.")
    learning: bool = Field(True, description="Switch belief updating on or off.")
    prior_interdiction: float = Field(0.05, ge=0.0, le=1.0, description="Prior belief in the interdiction probability at any checkpoint for any method.")
    prior_by_country: dict[str, Prob] = Field(default_factory=dict, description="Per-country override of prior_interdiction (applies to its import and export checkpoints).")
    prior_strength: float = Field(20.0, gt=0.0, description="Prior pseudo-observations a + b.")
    forgetting: float = Field(0.97, ge=0.0, le=1.0, description="Per-step weight kept on belief counts; the rest reverts to the prior.")
    network_share: float = Field(0.3, ge=0.0, le=1.0, description="Weight with which a network member's observation reaches the others.")
    public_share: float = Field(0.0, ge=0.0, le=1.0, description="Weight with which seizures reach all smugglers (publicity; raised by crackdowns).")
    freedom_value_usd_per_year: float = Field(5.0e5, ge=0.0, description="Cost a smuggler puts on a year in prison (USD/yr).")
    entry_max_per_year: float = Field(200.0, ge=0.0, description="Entry rate from the pool when recent profits are high (smugglers/yr).")
    entry_profit_ref_usd: float = Field(1.0e5, gt=0.0, description="Recent profit per active smuggler per step (USD) at which entry runs at half its maximum.")


class Method(Strict):
    cost_usd_kg: float = Field(ge=0.0, description="Extra cost of the concealment (USD/kg).")
    declares_commodity: bool = Field(description="The declaration names the real commodity (counts in transit import statistics).")
    transit_only: bool = Field(description="Usable only on routes through a transit country.")


class Customs(Strict):
    capacity_per_week: float = Field(100.0, ge=0.0, description="Containers it can inspect per week at each of its checkpoints.")
    legit_containers_per_week: float = Field(10000.0, ge=0.0, description="Legitimate containers through each checkpoint per week.")
    technologies: list[Literal["xray", "density_scan", "ai_image", "document_check", "isotope_fingerprint", "trace_tags", "trade_anomaly"]] = Field(
        default_factory=lambda: ["xray", "document_check"], description="Active technologies.")
    random_share: float = Field(0.5, ge=0.0, le=1.0, description="Share of capacity inspected at random; the rest by risk score.")
    corruption: float = Field(0.0, ge=0.0, le=1.0, description="Share of detections bribed away.")
    learning_rate: float = Field(0.1, ge=0.0, le=1.0, description="Weight of this step's seizures in the learned hit rate per route and declared category.")
    learn_weight: float = Field(2.0, ge=0.0, description="Risk-score weight per learned seizure per step.")
    restricted_weight: float = Field(50.0, ge=0.0, description="Risk-score bonus for a consignment declared to a destination under control for its commodity.")
    value_anomaly_weight: float = Field(2.0, ge=0.0, description="Risk-score bonus for an under-declared value.")
    anomaly_weight: float = Field(4.0, ge=0.0, description="Risk-score bonus for goods routed through a transit country flagged by trade_anomaly.")
    anomaly_threshold: float = Field(3.0, ge=1.0, description="A transit country is flagged when its imports from the origin exceed this multiple of baseline.")
    tip_weight: float = Field(20.0, ge=0.0, description="Risk-score bonus for a tipped network's shipments.")
    tip_duration_weeks: float = Field(8.0, ge=0.0, description="How long a tip keeps a network under watch (weeks).")
    cost_per_inspection_usd: float = Field(600.0, ge=0.0, description="Enforcement cost per container inspected (USD).")


class Route(Strict):
    destination: str = Field(description="Destination country id.")
    via: str = Field("", description="Transit country id, or empty for a direct route.")
    leg1_steps: int = Field(2, ge=1, le=52, description="Steps from origin to the transit country (or to the destination when direct).")
    leg2_steps: int = Field(2, ge=1, le=52, description="Steps from the transit country to the destination (ignored when direct).")
    freight_usd_kg: float = Field(0.5, ge=0.0, description="Freight and handling over the whole route (USD/kg).")


class Control(Strict):
    commodity: str = Field(description="Commodity id or \"all\".")
    destination: str = Field(description="Destination country id or \"all\".")
    regime: Literal["open", "license", "ban"] = Field(description="open, license or ban.")
    approval_rate: float = Field(0.5, ge=0.0, le=1.0, description="License: share of applications approved.")
    delay_steps: int = Field(6, ge=0, le=104, description="License: steps from application to shipment.")
    quota_t_per_year: float = Field(math.inf, ge=0.0, description="License: licensed tonnes per calendar year at most.")
    military_share: float = Field(0.0, ge=0.0, le=1.0, description="License: share of demand from military users, never licensed.")
    extraterritorial: bool = Field(False, description="Transit re-exports of origin goods are illegal too; only relabel_origin passes them as the transit country's product.")
    from_step: int | None = Field(None, ge=0, description="First step it applies (default: from the start); or use from_date.")
    from_date: dt.date | None = Field(None, description="First date it applies (YYYY-MM-DD); or use from_step.")


class Penalties(Strict):
    fine_multiple: float = Field(1.0, ge=0.0, description="Fine as a multiple of the cargo's value at the origin price.")
    arrest_prob: float = Field(0.3, ge=0.0, le=1.0, description="Probability a seizure leads to arrest.")
    sentence_years: float = Field(2.0, ge=0.0, description="Prison sentence (yr).")


class Event(Strict):
    label: str = Field("", description="Shown on charts.")
    step: int | None = Field(None, ge=0, description="Step it takes effect; or use date.")
    date: dt.date | None = Field(None, description="Date it takes effect (YYYY-MM-DD); or use step.")
    set: dict[str, object] = Field(default_factory=dict, description="Dotted scenario key -> new value, e.g. \"customs.CN.capacity_per_week\" = 900.")


class Scenario(Strict):
    name: str = Field(description="Short id; names the results folder.")
    description: str = Field("", description="One line shown by `sim list`.")
    question: str = Field("", description="The policy question, shown in briefs.")
    start_date: dt.date = Field(dt.date(2024, 1, 1), description="Calendar date of step 0.")
    days_per_step: int = Field(7, ge=1, le=365, description="Days per step.")
    steps: int = Field(52, ge=1, le=5200, description="Horizon (steps).")
    seed: int = Field(12345, ge=0, description="Master seed; replicate seeds are spawned from it.")
    replicates: int = Field(1, ge=1, le=100000, description="Default number of Monte Carlo replicates.")
    headline_event: str = Field("", description="Event id for weeks_to_halve (default: the first event).")
    restricted_focus: str = Field("", description="Destination id the KPIs focus on (default: the first destination).")
    commodities: dict[str, Commodity] = Field(description="Commodity id -> commodity.")
    countries: dict[str, Country] = Field(description="Country id -> country.")
    markets: dict[str, dict[str, Market]] = Field(description="Country id (origin or destination) -> commodity id -> market.")
    producers: dict[str, Producer] = Field(default_factory=dict, description="Producer id -> producer (allied suppliers and destination producers).")
    exporters: Exporters = Field(default_factory=Exporters)
    smugglers: Smugglers = Field(default_factory=Smugglers)
    methods: dict[str, Method] = Field(default_factory=lambda: {k: Method(**v) for k, v in DEFAULT_METHODS.items()},
                                       description="Concealment method -> parameters (all six; defaults in docs/model.md).")
    eff: dict[str, dict[str, Prob]] = Field(default_factory=lambda: {t: dict(v) for t, v in DEFAULT_EFF.items()},
                                            description="Technology -> method -> detection probability given inspection.")
    customs: dict[str, Customs] = Field(default_factory=dict, description="Country id -> its customs agency (defaults for any country not listed).")
    routes: dict[str, Route] = Field(description="Route id -> route from the origin.")
    controls: dict[str, Control] = Field(default_factory=dict, description="Control id -> export control.")
    penalties: Penalties = Field(default_factory=Penalties)
    events: dict[str, Event] = Field(default_factory=dict, description="Event id -> event.")
    priors: dict[str, Prior] = Field(default_factory=dict, description="Dotted scenario key -> prior for calibration (sim/scenario/priors.py).")

    @model_validator(mode="before")
    @classmethod
    def _fill_partial_tables(cls, data):
        """Methods and eff given in a file are merged over the defaults, key by key."""
        if isinstance(data, dict):
            for key, default in (("methods", DEFAULT_METHODS), ("eff", DEFAULT_EFF)):
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


def check_references(s: Scenario) -> list[tuple[str, str]]:
    """Cross-table checks pydantic cannot express field by field: (dotted key, problem)."""
    errs: list[tuple[str, str]] = []
    C, K = set(s.countries), set(s.commodities)
    origins, dests, transits = s.ids("origin"), set(s.ids("destination")), set(s.ids("transit"))

    def need(cond: bool, key: str, msg: str) -> None:
        if not cond:
            errs.append((key, msg))

    need(len(origins) == 1, "countries", f"exactly one country must have the role 'origin' (found {len(origins)})")
    need(bool(dests), "countries", "at least one country must have the role 'destination'")
    for m in METHODS:
        need(m in s.methods, f"methods.{m}", "missing concealment method")
    for m in s.methods:
        need(m in METHODS, f"methods.{m}", f"unknown concealment method (known: {', '.join(METHODS)})")
    for t, row in s.eff.items():
        need(t in TECHS, f"eff.{t}", f"unknown technology (known: {', '.join(TECHS)})")
        for m in row:
            need(m in METHODS, f"eff.{t}.{m}", f"unknown concealment method (known: {', '.join(METHODS)})")
    for c, ct in s.countries.items():
        for k in list(ct.import_cap_t_per_year) + list(ct.baseline_imports_t_per_year):
            need(k in K, f"countries.{c}", f"unknown commodity '{k}'")
    for c, byk in s.markets.items():
        need(c in C, f"markets.{c}", f"unknown country '{c}'")
        if c in C:
            need(c in origins or c in dests, f"markets.{c}", "markets belong to the origin or a destination")
        for k in byk:
            need(k in K, f"markets.{c}.{k}", f"unknown commodity '{k}'")
    for c in origins + sorted(dests):
        for k in K:
            need(k in s.markets.get(c, {}), f"markets.{c}.{k}", "missing market (every origin and destination needs one per commodity)")
    for pid, p in s.producers.items():
        need(p.country in C, f"producers.{pid}.country", f"unknown country '{p.country}'")
        need(p.market in dests, f"producers.{pid}.market", f"'{p.market}' is not a destination")
        need(p.commodity in K, f"producers.{pid}.commodity", f"unknown commodity '{p.commodity}'")
        if p.whistleblower:
            need(p.tip_to in C, f"producers.{pid}.tip_to", f"unknown country '{p.tip_to}'")
    for c in s.customs:
        need(c in C, f"customs.{c}", f"unknown country '{c}'")
    for c in s.smugglers.prior_by_country:
        need(c in C, f"smugglers.prior_by_country.{c}", f"unknown country '{c}'")
    need(bool(s.routes), "routes", "at least one route is needed")
    for rid, r in s.routes.items():
        need(r.destination in dests, f"routes.{rid}.destination", f"'{r.destination}' is not a destination")
        if r.via:
            need(r.via in transits, f"routes.{rid}.via", f"'{r.via}' is not a transit country")
    for cid, c in s.controls.items():
        need(c.commodity == "all" or c.commodity in K, f"controls.{cid}.commodity", f"unknown commodity '{c.commodity}'")
        need(c.destination == "all" or c.destination in C, f"controls.{cid}.destination", f"unknown country '{c.destination}'")
        need(not (c.from_step is not None and c.from_date is not None), f"controls.{cid}", "give from_step or from_date, not both")
        if c.from_date is not None:
            need(c.from_date >= s.start_date, f"controls.{cid}.from_date", f"{c.from_date} is before start_date {s.start_date}")
    for eid, e in s.events.items():
        if (e.step is None) == (e.date is None):
            errs.append((f"events.{eid}", "give exactly one of step or date"))
            continue
        st = s.event_step(e)
        need(0 <= st < s.steps, f"events.{eid}.{'step' if e.step is not None else 'date'}",
             f"falls on step {st}, outside the horizon 0..{s.steps - 1} ({s.start_date} to {s.date_of(s.steps - 1)})")
        need(bool(e.set), f"events.{eid}.set", "an event must set at least one key")
        for key in e.set:
            head = key.split(".")[0]
            need(head in EVENT_SETTABLE, f"events.{eid}.set.{key}",
                 f"events may change only {', '.join(sorted(EVENT_SETTABLE))} (structure is fixed during a run)")
    if s.headline_event:
        need(s.headline_event in s.events, "headline_event", f"unknown event '{s.headline_event}'")
    if s.restricted_focus:
        need(s.restricted_focus in dests, "restricted_focus", f"'{s.restricted_focus}' is not a destination")
    return errs + check_priors(s)


# What an event may change: parameters, not the shape of the world (agents, routes).
EVENT_SETTABLE = {"countries", "markets", "producers", "exporters", "smugglers", "methods", "eff",
                  "customs", "routes", "controls", "penalties"}
