"""What a lever study says: the run's own numbers behind it, verdicts, reasons in the model's terms,
the terminal table and the markdown page (sim.calibration.levers runs the study).

Nothing here states a conclusion the run did not produce: shares of routes and methods, detection
given inspection, seizure rates, the exporters' premium and the smugglers' margin all come from the
time series of the replicates (`summarize`) and from the scenario's own parameters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.model.world import customs_of, detection_matrix

SUMS = {  # metric -> key columns summed over steps
    "illicit_route_t": ("route",), "illicit_method_t": ("method",), "departed_t": ("route", "method"),
    "crossing_t": ("checkpoint",), "seized_t": ("checkpoint", "method"), "inspections": ("checkpoint",),
    "inspections_legit": ("checkpoint",), "inspections_smuggled": ("checkpoint",), "diverted_t": (),
    "exporters_traced": (),
}


def summarize(ts: pd.DataFrame, scenario) -> dict[str, float]:
    """A replicate's time series boiled down to totals (t, containers) keyed "metric|key|key", and
    means over the steps in which smugglers bought goods: W and O (USD/kg, diverted-weighted), the
    gray price G at the destinations (USD/kg, weighted by illicit deliveries), exporters diverting,
    the origin exporters' output in those steps (t), and the number of those steps after which W
    rose (smugglers wanted more than exporters offered: sim.model.trade.next_gray_price)."""
    out: dict[str, float] = {}
    for metric, keys in SUMS.items():
        d = ts[ts["metric"] == metric]
        if keys:
            for k, v in d.groupby(list(keys))["value"].sum().items():
                out["|".join((metric, *(k if isinstance(k, tuple) else (k,))))] = float(v)
        else:
            out[metric] = float(d["value"].sum())

    def wide(metric, cols=("step", "commodity")):
        d = ts[ts["metric"] == metric]
        return d.groupby(list(cols))["value"].sum()

    div = wide("diverted_t")
    steps = div.groupby("step").sum()
    active = steps[steps > 0].index
    out["smuggling_steps"] = float(len(active))
    if len(active) and div.sum() > 0:
        origin = scenario.origin
        gb = ts[(ts["metric"] == "gray_purchase_price_usd_kg") & (ts["market"] == origin)]
        po = ts[(ts["metric"] == "price_usd_kg") & (ts["market"] == origin)]
        w = div / div.sum()
        series = {}
        for name, d in (("W_usd_kg", gb), ("O_usd_kg", po)):
            series[name] = d.groupby(["step", "commodity"])["value"].sum()
            out[name] = float((series[name].reindex(w.index) * w).sum())
        # W (recorded after the step's update) rises exactly when smugglers wanted more than exporters
        # offered that step, unless it sits on its floor O
        W, O = series["W_usd_kg"].unstack(), series["O_usd_kg"].unstack()
        rose = (W.diff() > 1e-12) & (W > O + 1e-12)
        out["rationed_steps"] = float(rose.reindex(active).any(axis=1).sum())
        dl = ts[ts["metric"] == "illicit_delivered_t"].groupby(["step", "market", "commodity"])["value"].sum()
        g = ts[ts["metric"] == "gray_price_usd_kg"].groupby(["step", "market", "commodity"])["value"].sum()
        if dl.sum() > 0:
            out["G_usd_kg"] = float((g.reindex(dl.index) * dl).sum() / dl.sum())
        firms = wide("exporters_diverting", ("step",))
        out["diverting_firms"] = float(firms.reindex(active).mean())
        origin_sup = [s for s, sp in scenario.suppliers.items() if sp.country == origin]
        o = ts[(ts["metric"] == "output_t") & ts["supplier"].isin(origin_sup)]
        out["origin_output_t"] = float(o[o["step"].isin(active)]["value"].sum())
    return out


# ---------------------------------------------------------------- the run's own numbers --------
def pct(x: float) -> str:
    """A share as '2.1 %', '0.35 %', '94 %'."""
    if x is None or not np.isfinite(x):
        return "n/a"
    v = 100 * x
    return f"{v:.0f} %" if abs(v) >= 10 else f"{v:.1f} %" if abs(v) >= 1 else f"{v:.2g} %"


def usd(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.2f} USD/kg" if abs(x) < 10 else f"{x:.1f} USD/kg"


def _parts(s: dict, metric: str, n: int) -> dict[tuple, float]:
    """{key tuple: value} of one summed metric (n key parts)."""
    out = {}
    for k, v in s.items():
        head, *keys = k.split("|")
        if head == metric and len(keys) == n:
            out[tuple(keys)] = v
    return out


def route_checkpoints(scenario, rid: str) -> list[str]:
    r = scenario.routes[rid]
    o = scenario.origin
    return ([f"{o}:export", f"{r.via}:import", f"{r.via}:export"] if r.via else [f"{o}:export"]) + [
        f"{r.destination}:import"]


def shares(d: dict) -> dict:
    tot = sum(d.values())
    return {k: v / tot for k, v in sorted(d.items(), key=lambda kv: -kv[1])} if tot > 0 else {}


def mix_text(d: dict, n: int = 3) -> str:
    """'mislabel 49 %, mix_scrap 30 %, shielded 19 %' (the n largest)."""
    return ", ".join(f"{k} {pct(v)}" for k, v in list(shares(d).items())[:n] if v > 0)


class Facts:
    """The numbers the words use, from one variant's summary (means over replicates) and KPI means."""

    def __init__(self, scenario, summary: dict, kpis: dict):
        self.sc, self.s, self.k = scenario, summary, kpis
        dep = _parts(summary, "departed_t", 2)
        self.by_route = {r: sum(v for (rr, _), v in dep.items() if rr == r) for r in scenario.routes}
        self.by_method = {}
        for (_, m), v in dep.items():
            self.by_method[m] = self.by_method.get(m, 0.0) + v
        self.departed = sum(dep.values())
        self.crossing = {k[0]: v for k, v in _parts(summary, "crossing_t", 1).items()}
        self.seized = _parts(summary, "seized_t", 2)

    def checkpoints(self, country: str) -> list[str]:
        return [c for c in self.crossing if c.split(":")[0] == country]

    def methods_at(self, country: str) -> dict[str, float]:
        """Smuggled tonnes by method that departed on routes through the country's checkpoints."""
        out: dict[str, float] = {}
        for (r, m), v in _parts(self.s, "departed_t", 2).items():
            if r in self.sc.routes and any(c.split(":")[0] == country for c in route_checkpoints(self.sc, r)):
                out[m] = out.get(m, 0.0) + v
        return out

    def seized_share(self, country: str) -> float:
        """Smuggled tonnes seized at the country's checkpoints over tonnes that crossed them."""
        cps = self.checkpoints(country)
        crossed = sum(self.crossing[c] for c in cps)
        seized = sum(v for (c, _), v in self.seized.items() if c in cps)
        return seized / crossed if crossed > 0 else float("nan")

    def share_through(self, country: str) -> float:
        """Share of smuggled tonnes that departed on routes through the country."""
        t = sum(v for r, v in self.by_route.items() if any(c.split(":")[0] == country
                                                            for c in route_checkpoints(self.sc, r)))
        return t / self.departed if self.departed > 0 else float("nan")

    def detection(self, country: str, techs=None) -> float:
        """Detection given inspection at the country's checkpoints, weighted by the methods in use there."""
        from sim.scenario.schema import METHODS

        techs = customs_of(self.sc, country).technologies if techs is None else techs
        d = dict(zip(METHODS, detection_matrix(self.sc.eff, list(techs)).ravel()))
        mix = shares(self.methods_at(country))
        return float(sum(w * d[m] for m, w in mix.items()))

    # --- money per kg, from the run's prices and the scenario's parameters ---
    @property
    def premium(self) -> float:
        return self.s.get("W_usd_kg", np.nan) - self.s.get("O_usd_kg", np.nan)

    def _route_avg(self, values: dict) -> float:
        sh = shares(self.by_route)
        return float(sum(w * values[r] for r, w in sh.items()))

    def unit_cost(self) -> float:
        """What a smuggler pays per kg shipped: W, freight and concealment (mix-weighted)."""
        sc = self.sc
        freight = self._route_avg({r: sc.routes[r].freight_usd_kg for r in sc.routes})
        conceal = sum(w * sc.methods[m].cost_usd_kg for m, w in shares(self.by_method).items())
        return self.s.get("W_usd_kg", np.nan) + freight + conceal

    def margin(self) -> float:
        """Expected gain per kg when the goods get through: gray price net of the hub's commission, less unit cost."""
        sc = self.sc
        comm = self._route_avg({r: (sc.countries[sc.routes[r].via].commission if sc.routes[r].via else 0.0)
                                for r in sc.routes})
        return self.s.get("G_usd_kg", np.nan) * (1 - comm) - self.unit_cost()

    def loss(self, fine=None, arrest=None, years=None) -> float:
        """Loss per kg when caught: the cargo's cost, the fine, and arrest x sentence valued at the
        smugglers' cost of a year in prison, spread over a median shipment (smugglers.capacity_t)."""
        p, sm = self.sc.penalties, self.sc.smugglers
        fine = p.fine_multiple if fine is None else fine
        arrest = p.arrest_prob if arrest is None else arrest
        years = p.sentence_years if years is None else years
        return (self.unit_cost() + fine * self.s.get("O_usd_kg", np.nan)
                + arrest * years * sm.freedom_value_usd_per_year / (sm.capacity_t * 1000.0))

    @property
    def interdiction(self) -> float:
        return self.k.get("interdiction_rate", np.nan)


# ---------------------------------------------------------------- changes as text ------------
MAIN = "illicit_delivered_t"


def short(v: float, name: str, sc: float) -> str:
    """A change in a KPI, short: '+0.05' for indices, '-1,381' for tonnes, '+153 M' for money."""
    from sim.model.metrics import kpi

    if kpi(name).unit == "x":
        return f"{v * sc:+.2f}".replace("+0.00", "0").replace("-0.00", "0")
    return ("+" if v > 0 else "") + fmt(v * sc)


def change(row, name: str) -> tuple[str, str, bool]:
    """(mean, band, beyond the noise) of a paired change as short text: '-65.1', '-212 to +183';
    a band whose ends read the same is 'no change' (all zero) or 'all runs' (the same in every one)."""
    from sim.outputs.tables import kpi_unit

    sc = kpi_unit(name)[1]
    m, lo, hi = row["mean"], row["p05"], row["p95"]
    a, b = short(lo, name, sc), short(hi, name, sc)
    band = ("no change" if m == 0 else "all runs") if a == b else f"{a} to {b}"
    return short(m, name, sc), band, bool(lo > 0 or hi < 0)


def fmt(v: float) -> str:
    from sim.outputs.tables import fmt_number

    return fmt_number(v)


# ---------------------------------------------------------------- reasons --------------------
def usd_trip(x: float) -> str:
    return f"{fmt(x)} USD"


def risk_terms(sc, b: Facts) -> str:
    """Where the base run stands: margin, loss when caught, break-even interdiction rate."""
    m, L, p = b.margin(), b.loss(), b.interdiction
    if not all(np.isfinite([m, L, p])):
        return ""
    later = any(k.startswith("penalties.") for e in sc.events.values() for k in e.set)
    where = (f"At the run's prices smugglers clear about {usd(m)} when goods get through and lose about {usd(L)} "
             f"when caught (cargo, fine, and arrest x sentence at {fmt(sc.smugglers.freedom_value_usd_per_year)} "
             f"USD a year over a {sc.smugglers.capacity_t:g} t shipment"
             + (", with the penalties in force at the start" if later else "")
             + "), so a risk-neutral smuggler who knew the "
             f"interdiction rate would ship only below about {pct(m / (m + L)) if m > 0 else '0 %'}; the run's rate is "
             f"{pct(p)}.")
    if sc.smugglers.logit and (m <= 0 or p > m / (m + L)):
        where += (f" The tonnes that still move are logit choices: with smugglers.temperature_usd = "
                  f"{fmt(sc.smugglers.temperature_usd)} per decision, options with a negative expected value "
                  "are still taken, and shipping follows the temperature and the number of options more than "
                  "the expected value.")
    return where


def _trip_change(sc, b: Facts, per_kg: float) -> str:
    """'about 1,200 USD per 5 t trip, 6 % of the logit temperature'."""
    trip = per_kg * sc.smugglers.capacity_t * 1000.0
    text = f"about {usd_trip(abs(trip))} per {sc.smugglers.capacity_t:g} t trip"
    if sc.smugglers.logit and sc.smugglers.temperature_usd > 0:
        text += f", {pct(abs(trip) / sc.smugglers.temperature_usd)} of the logit temperature"
    return text


CUSTOMS_KINDS = ("capacity", "technologies", "cooperation", "trace_tags", "tips")


def reason(effect, study) -> str:
    """Why a setting (an Effect of sim.calibration.lever_page) moved illicit deliveries so little, in the
    model's terms, from the run."""
    lv, s, sc = effect.lever, effect.setting, study.scenario
    b = Facts(sc, study.summaries["base"], study.means["base"])
    f = Facts(sc, study.summaries[(lv.key, s.end)], study.means[(lv.key, s.end)])
    out = []
    rows = study.table[(study.table["lever"] == lv.key) & (study.table["setting"] == s.end)
                       & study.table["kpi"].isin([MAIN, "diverted_t", "seizures_count"])]
    if len(rows) and not rows[["mean", "p05", "p95"]].to_numpy().any():
        out.append("no replicate's deliveries, diversion or seizures changed at all (the same random draws gave "
                   "the same outcomes)")
    if lv.kind in (*CUSTOMS_KINDS, "given"):
        out += _customs(lv, s, b, f)
    elif lv.kind in ("fine", "arrest", "sentence"):
        out.append(_penalty(lv, s, b))
    elif lv.kind in ("exporter_penalty", "trace_prob"):
        out.append(_exporters(lv, s, b, f))
    out.append(_balloon(lv, b, f))
    d0, d1 = b.s.get("diverted_t", 0.0), f.s.get("diverted_t", 0.0)
    out.append(f"diversion at the origin changed by {'+' if d1 >= d0 else ''}{fmt(d1 - d0)} t")
    return "; ".join(x for x in out if x) + "."


def _customs(lv, s, b: Facts, f: Facts) -> list[str]:
    """Where the agency stands: traffic through it, detection of the methods in use, seizures there, and
    what the change in the interdiction rate is worth on a trip."""
    sc, out = b.sc, []
    if lv.kind in CUSTOMS_KINDS and lv.country != sc.origin:
        out.append(f"{pct(b.share_through(lv.country))} of smuggled tonnes travel through "
                   f"{sc.countries[lv.country].name or lv.country}")
    if lv.kind == "cooperation":
        out.append("cooperation scales only its checks on re-exports declared as the origin's goods")
    techs = s.params.get(f"customs.{lv.country}.technologies")
    if lv.kind in ("technologies", "trace_tags") and techs is not None:
        out.append(f"detection given inspection of the methods in use there ({mix_text(b.methods_at(lv.country))}) "
                   f"goes from {pct(b.detection(lv.country))} to {pct(b.detection(lv.country, techs))} at the start")
    if lv.kind == "trace_tags":
        out.append(f"trace tags also add exporters.trace_tags_trace_prob = {sc.exporters.trace_tags_trace_prob:g} per "
                   f"week to the chance a diverting exporter is traced (exporters traced: "
                   f"{fmt(b.s.get('exporters_traced', 0))} as given, {fmt(f.s.get('exporters_traced', 0))} at {s.value})")
    if lv.country:
        out.append(f"the share seized at its checkpoints went from {pct(b.seized_share(lv.country))} to "
                   f"{pct(f.seized_share(lv.country))}")
    p0, p1 = b.interdiction, f.interdiction
    out.append(f"the interdiction rate over all checkpoints from {pct(p0)} to {pct(p1)}, which changes a trip's "
               f"expected value by {_trip_change(sc, b, (p1 - p0) * (b.margin() + b.loss()))}")
    return out


def _penalty(lv, s, b: Facts) -> str:
    """A smugglers' penalty counts only after a seizure: its change per trip at the run's interdiction
    rate, with the penalties at the start and, where events change them, after the events."""
    sc, sm, field = b.sc, b.sc.smugglers, lv.key.split(".")[1]
    O, p0 = b.s.get("O_usd_kg", np.nan), b.interdiction
    start = sc.penalties.model_dump()
    end = dict(start)
    for _, ev in sorted(sc.events.items(), key=lambda e: sc.event_step(e[1])):
        end.update({k.split(".")[1]: v for k, v in ev.set.items() if k.startswith("penalties.")})
    new_start = s.params.get(lv.key, start[field])
    later = [v for k, v in s.params.items() if k.startswith("events.")]
    new_end = later[-1] if later else new_start

    def cost(d: dict) -> float:  # USD/kg when caught: the fine, and arrest x sentence at the cost of prison
        return d["fine_multiple"] * O + d["arrest_prob"] * d["sentence_years"] * (
            sm.freedom_value_usd_per_year / (sm.capacity_t * 1000.0))

    def per_kg(state: dict, new: float) -> float:
        return p0 * (cost({**state, field: new}) - cost(state))

    text = (f"a penalty is paid only after a seizure ({pct(p0)} of smuggled tonnes are seized), so {s.value} "
            f"changes a trip's expected value by {_trip_change(sc, b, per_kg(start, new_start))}")
    if end != start:
        text += f" with the penalties at the start, {_trip_change(sc, b, per_kg(end, new_end))} after the events"
    return text


def _exporters(lv, s, b: Facts, f: Facts) -> str:
    """The exporters' cost of diverting against the premium they are paid."""
    sc, ex = b.sc, b.sc.exporters
    O, new = b.s.get("O_usd_kg", np.nan), next(iter(s.params.values()))
    tags = "trace_tags" in customs_of(sc, sc.origin).technologies
    tp, pm = ex.trace_prob + (ex.trace_tags_trace_prob if tags else 0.0), ex.penalty_multiple
    if lv.kind == "exporter_penalty" and tp == 0:
        return ("no diverting exporter is ever traced (exporters.trace_prob = 0 and no trace tags at the start), "
                "so the penalty never applies")
    delta = (new - pm) * tp * O if lv.kind == "exporter_penalty" else (new - ex.trace_prob) * (
        pm * O + ex.licence_loss_usd_kg)
    return (f"an exporter diverts when the premium W - O (here {usd(b.premium)}) covers trace_prob x (penalty x O + "
            f"licence loss) plus its compliance cost (median {usd(ex.compliance_cost_usd_kg)}); {s.value} changes "
            f"that cost by {usd(abs(delta))}; {b.s.get('diverting_firms', np.nan):.0f} of {ex.count} exporters "
            f"diverted in the weeks with smuggling ({f.s.get('diverting_firms', np.nan):.0f} at {s.value})")


def _balloon(lv, b: Facts, f: Facts) -> str:
    """'tonnes via Thailand fell by 120 t while other routes gained 95 t' for a hub's levers."""
    if not lv.country or lv.country == b.sc.origin:
        return ""
    own = [r for r, rt in b.sc.routes.items() if rt.via == lv.country]
    d_own = sum(f.by_route.get(r, 0) - b.by_route.get(r, 0) for r in own)
    d_rest = sum(f.by_route.get(r, 0) - b.by_route.get(r, 0) for r in b.sc.routes if r not in own)
    if abs(d_own) < 1 or (d_own > 0) == (d_rest > 0):
        return ""
    return (f"tonnes via {b.sc.countries[lv.country].name or lv.country} {'fell' if d_own < 0 else 'rose'} by "
            f"{fmt(abs(d_own))} t while other routes {'gained' if d_rest > 0 else 'lost'} {fmt(abs(d_rest))} t")


def how(effect, study) -> str:
    """The run's own account of a lever that moves: diversion, exporters traced, interdiction rate."""
    lv, s, sc = effect.lever, effect.setting, study.scenario
    b = Facts(sc, study.summaries["base"], study.means["base"])
    f = Facts(sc, study.summaries[(lv.key, s.end)], study.means[(lv.key, s.end)])
    d = f.s.get("diverted_t", 0.0) - b.s.get("diverted_t", 0.0)
    parts = [f"diversion at the origin {'+' if d > 0 else ''}{fmt(d)} t"]
    t0, t1 = b.s.get("exporters_traced", 0.0), f.s.get("exporters_traced", 0.0)
    if round(t0, 1) != round(t1, 1):
        parts.append(f"exporters traced {fmt(t0)} -> {fmt(t1)}")
    if pct(b.interdiction) != pct(f.interdiction):
        parts.append(f"interdiction rate {pct(b.interdiction)} -> {pct(f.interdiction)}")
    return f"at the {s.end} setting ({s.value}): " + ", ".join(parts)
