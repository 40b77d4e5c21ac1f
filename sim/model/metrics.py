"""The one registry of what a run reports: per-step metrics and per-run KPIs (MODEL.md §6).

Tables, charts, the brief, the report and the docs read names, units, labels and the
better direction from here; nothing else keeps its own list. `unit` is the unit of the
stored value; `display_scale` turns it into the unit shown (shares are stored as 0-1 and
shown in %).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Better = Literal["lower", "higher", None]

# Key columns of the long-format time series; a metric uses some of them, the rest are null.
KEYS = ("market", "commodity", "route", "checkpoint", "method", "supplier")


@dataclass(frozen=True)
class Measure:
    name: str
    unit: str                 # unit of the stored value: t, USD, USD/kg, x, share, count, days, weeks
    label: str                # short human label, e.g. "Illicit deliveries"
    description: str
    better: Better = None     # for a policy maker: is less of it better, more, or neither?
    keys: tuple[str, ...] = ()  # metrics only: which key columns identify a series
    display_unit: str = ""    # unit shown (default: unit)
    display_scale: float = 1.0

    @property
    def shown_unit(self) -> str:
        return self.display_unit or self.unit

    def axis_label(self) -> str:
        """`Label (unit)` for a chart axis or a table header."""
        u = self.shown_unit
        return f"{self.label} ({u})" if u and u != "count" else self.label


def _share(name, label, description, better=None):
    return Measure(name, "share", label, description, better, display_unit="%", display_scale=100.0)


KPIS: tuple[Measure, ...] = (
    Measure("illicit_delivered_t", "t", "Illicit deliveries",
            "Smuggled tonnes that reached restricted destinations over the run.", "lower"),
    _share("leakage_share", "Leakage",
           "Illicit deliveries over the restricted destinations' pre-control imports from the origin "
           "over the same period (above 100 % when more arrives by smuggling than came legally before).", "lower"),
    _share("interdiction_rate", "Interdiction rate", "Seized / (seized + delivered) smuggled tonnes.", "higher"),
    Measure("seizures_count", "count", "Seizures", "Smuggled consignments seized, all checkpoints."),
    Measure("seized_t", "t", "Seized", "Smuggled tonnes seized, all checkpoints."),
    Measure("price_peak_index", "x", "Peak price", "Highest legal price in the focus destination over its reference price.",
            "lower", display_unit="x reference"),
    Measure("price_end_index", "x", "Final price", "Legal price in the focus destination at the last step over its "
            "reference price.", "lower", display_unit="x reference"),
    Measure("origin_price_index", "x", "Origin price", "The origin's domestic price at the focus destination's price peak, "
            "over its reference price.", display_unit="x reference"),
    Measure("transit_import_surge", "x", "Hub import surge", "Peak 4-week mean of a transit country's imports "
            "from the origin (declared origin goods) over its baseline.", display_unit="x baseline"),
    Measure("active_smugglers_peak", "count", "Active smugglers (peak)", "Most smugglers shipping or selling in any step."),
    Measure("arrests", "count", "Arrests", "Smugglers arrested after a seizure."),
    Measure("jailed_peak", "count", "Jailed (peak)", "Most smugglers in prison at once (counted until release, "
            "also when the sentence outlasts the run)."),
    Measure("diverted_t", "t", "Diverted at origin", "Origin output sold to smugglers by exporters over the run.", "lower"),
    Measure("gray_markup_peak", "share", "Gray markup (peak)", "Highest premium W/O - 1 that smugglers paid exporters "
            "over the origin's domestic price.", display_unit="%", display_scale=100.0),
    Measure("defense_shortfall_t", "t", "Defense shortfall", "Defense demand not met by legal supply, all destinations.",
            "lower"),
    Measure("min_stock_cover_days", "days", "Lowest stock cover", "Lowest buyers' inventory cover in any destination.",
            "higher"),
    Measure("unmet_demand_t", "t", "Demand lost to substitutes", "Demand given up above the backstop price "
            "(substitutes), all markets.", "lower"),
    Measure("legit_inspected", "count", "Legitimate containers inspected", "Containers of legitimate trade inspected, "
            "all checkpoints: the cost of looking.", "lower"),
    Measure("inspections_per_seizure", "count", "Inspections per seizure", "Containers inspected (legitimate and "
            "smuggled) per seizure.", "lower"),
    Measure("enforcement_cost_usd", "USD", "Enforcement cost", "Inspections performed times their cost, plus the "
            "fixed cost of inspection capacity.", "lower"),
    Measure("fines_usd", "USD", "Fines", "Fines paid by smugglers and by exporters traced for diverting."),
    Measure("smuggler_profit_usd", "USD", "Smugglers' profit", "Smugglers' revenue less purchases, freight, "
            "concealment and fines, with unsold goods valued at their gray price.", "lower"),
    Measure("weeks_at_price_guard", "weeks", "Weeks at a price guard", "Weeks in which any price touched a numerical "
            "guard (should be 0; otherwise the guard, not the model, set that price).", "lower"),
    Measure("weeks_to_halve", "weeks", "Weeks to halve", "After the headline event: weeks until illicit deliveries "
            "(4-week mean) fall to half their level in the 4 weeks before it.", "lower"),
)

METRICS: tuple[Measure, ...] = (
    Measure("price_usd_kg", "USD/kg", "Legal price", "Clearing price of legal goods.", keys=("market", "commodity")),
    Measure("gray_price_usd_kg", "USD/kg", "Gray price", "Price of smuggled goods at the destination.",
            keys=("market", "commodity")),
    Measure("price_index", "x", "Price index", "Legal price over the reference price.", keys=("market", "commodity"),
            display_unit="x reference"),
    Measure("gray_purchase_price_usd_kg", "USD/kg", "Gray purchase price", "Price W smugglers pay exporters at the "
            "origin.", keys=("market", "commodity")),
    Measure("legal_flow_t", "t", "Legal shipments", "Legal tonnes a supplier sends to a market this step.",
            keys=("supplier", "market", "commodity")),
    Measure("output_t", "t", "Output", "A supplier's production this step.", keys=("supplier", "commodity")),
    Measure("capacity_t_per_year", "t/yr", "Capacity", "A supplier's capacity, after expansions.",
            keys=("supplier", "commodity")),
    Measure("legal_imports_t", "t", "Legal arrivals", "Legal tonnes arriving in a market this step, all suppliers.",
            keys=("market", "commodity")),
    Measure("allied_supply_t", "t", "Arrivals from outside the origin", "Legal tonnes arriving from suppliers "
            "outside the origin.", keys=("market", "commodity")),
    Measure("consumption_t", "t", "Consumption", "Tonnes consumed (legal and gray).", keys=("market", "commodity")),
    Measure("unmet_demand_t", "t", "Demand lost to substitutes", "Demand given up above the backstop price.",
            keys=("market", "commodity")),
    Measure("diverted_t", "t", "Diverted", "Origin output sold to smugglers this step.", keys=("commodity",)),
    Measure("exporters_diverting", "count", "Exporters diverting", "Origin exporters diverting this step.",
            keys=("commodity",)),
    Measure("exporters_traced", "count", "Exporters traced", "Diverting exporters traced and fined this step."),
    Measure("illicit_delivered_t", "t", "Illicit deliveries", "Smuggled tonnes through the destination's import "
            "checkpoint.", keys=("market", "commodity")),
    Measure("illicit_route_t", "t", "Illicit deliveries by route", "", keys=("route", "commodity")),
    Measure("illicit_method_t", "t", "Illicit deliveries by method", "", keys=("method", "commodity")),
    Measure("departed_t", "t", "Smuggled departures", "Tonnes leaving the origin with smugglers.",
            keys=("route", "method")),
    Measure("gray_sold_t", "t", "Gray sales", "Smuggled tonnes sold to gray buyers.", keys=("market", "commodity")),
    Measure("unsold_t", "t", "Unsold smuggled stock", "Smuggled tonnes held unsold at the destination.",
            keys=("market", "commodity")),
    Measure("crossing_t", "t", "Smuggled tonnes at checkpoint", "", keys=("checkpoint",)),
    Measure("seized_t", "t", "Seized", "", keys=("checkpoint", "method")),
    Measure("seizures_count", "count", "Seizures", "", keys=("checkpoint", "method")),
    Measure("refused_t", "t", "Refused at a hub's import cap", "Declared origin goods turned back at a hub whose "
            "import cap is used up.", keys=("checkpoint", "commodity")),
    Measure("inspections", "count", "Inspections", "Containers inspected, legitimate and smuggled.",
            keys=("checkpoint",)),
    Measure("inspections_legit", "count", "Legitimate containers inspected", "", keys=("checkpoint",)),
    Measure("inspections_smuggled", "count", "Smuggled containers inspected", "", keys=("checkpoint",)),
    Measure("transit_imports_t", "t", "Hub imports from the origin", "Declared origin goods arriving in a transit "
            "country (legitimate and smuggled).", keys=("market", "commodity")),
    Measure("stock_cover_days", "days", "Stock cover", "Buyers' inventory in days of reference demand.",
            keys=("market", "commodity")),
    Measure("target_cover_days", "days", "Target stock cover", "Buyers' target inventory in days of reference "
            "demand: the scenario's cover plus hoarding while controls withhold the origin's exports.",
            keys=("market", "commodity")),
    Measure("defense_shortfall_t", "t", "Defense shortfall", "", keys=("market", "commodity")),
    Measure("active_smugglers", "count", "Active smugglers", "Shipping or selling."),
    Measure("jailed_smugglers", "count", "Jailed smugglers", "In prison (until release)."),
    Measure("bankrupt_smugglers", "count", "Bankrupt smugglers", ""),
    Measure("entries", "count", "New smugglers", "Entrants from the pool this step."),
    Measure("arrests", "count", "Arrests", ""),
    Measure("fines_usd", "USD", "Fines", "Fines on smugglers and traced exporters."),
    Measure("enforcement_cost_usd", "USD", "Enforcement cost", "Inspections times cost, plus fixed capacity cost."),
    Measure("smuggler_profit_usd", "USD", "Smugglers' profit", "Cash flow this step (revenue less purchases and fines)."),
)

KPI = {m.name: m for m in KPIS}
METRIC = {m.name: m for m in METRICS}
KPI_NAMES = tuple(KPI)


def kpi(name: str) -> Measure:
    """The KPI's entry; an unknown name (a KPI of another version) gets a neutral one."""
    return KPI.get(name) or Measure(name, "", name.replace("_", " "), "")


def metric(name: str) -> Measure:
    return METRIC.get(name) or Measure(name, "", name.replace("_", " "), "")
