"""Synthetic results folders in the documented format, for testing sim.plots without the model.

`make_results(root, ...)` writes results/<name>/<run-id>/ with manifest.json, timeseries.parquet
(long format), kpis.csv and kpis.json, like sim.outputs.results does. The curves are made up but
plausible: after an export ban the destination price rises and the origin price falls,
smuggling starts on three routes, a crackdown in the transit hub moves traffic to the other
hub (balloon effect), seizures follow traffic, buyers' stock cover runs down.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sim.scenario.schema import METHODS, Scenario

CHECKPOINTS = ["CN:export", "TH:import", "TH:export", "MX:import", "MX:export", "US:import"]
ROUTE_CHECKPOINTS = {"us_direct": ["CN:export", "US:import"],
                     "us_th": ["CN:export", "TH:import", "TH:export", "US:import"],
                     "us_mx": ["CN:export", "MX:import", "MX:export", "US:import"],
                     "de_direct": ["CN:export"]}
METHOD_SHARE = dict(zip(METHODS, [0.25, 0.3, 0.15, 0.05, 0.15, 0.10]))


def make_scenario(name: str = "demo_ban", crackdown: bool = True, steps: int = 60) -> Scenario:
    """A small world: CN origin, TH and MX hubs, US and DE destinations, AU supplier."""
    def country(name, roles, lon, lat, **kw):
        return {"name": name, "roles": roles, "lon": lon, "lat": lat, **kw}

    def market(p0):
        return {"ref_price_usd_kg": p0}

    events = {"ban": {"label": "Export ban to US", "step": 8, "set": {"controls.us.regime": "ban"}}}
    if crackdown:
        events["crackdown"] = {"label": "Joint crackdown in Thailand", "step": 30,
                               "set": {"customs.TH.capacity_per_week": 900}}
        events["isotope"] = {"label": "Isotope tests at US ports", "step": 33,
                             "set": {"customs.US.technologies": ["xray", "isotope_fingerprint"]}}
    return Scenario.model_validate({
        "name": name, "description": f"{name.replace('_', ' ')}: synthetic test scenario",
        "question": "How much antimony and gallium still reach the US after a ban, and by which route?",
        "start_date": "2024-01-01", "steps": steps, "seed": 7, "replicates": 6,
        "commodities": {"sb": {"name": "Antimony trioxide"}, "ga": {"name": "Gallium"}},
        "countries": {
            "CN": country("China", ["origin"], 104, 35),
            "TH": country("Thailand", ["transit"], 100.5, 13.7),
            "MX": country("Mexico", ["transit"], -102, 23.6),
            "US": country("United States", ["destination"], -98, 39),
            "DE": country("Germany", ["destination"], 10, 51),
            "AU": country("Australia", ["supplier"], 134, -25),
        },
        "markets": {c: {"sb": market(12.0), "ga": market(300.0)} for c in ("CN", "US", "DE")},
        "suppliers": {"cn_sb": {"country": "CN", "commodity": "sb", "unit_cost_usd_kg": 6.0,
                                "sales_t_per_year": {"CN": 2000, "US": 1500, "DE": 1500}},
                      "cn_ga": {"country": "CN", "commodity": "ga", "unit_cost_usd_kg": 150.0,
                                "sales_t_per_year": {"CN": 60, "US": 40, "DE": 40}},
                      "au_sb": {"country": "AU", "commodity": "sb", "unit_cost_usd_kg": 8.0,
                                "sales_t_per_year": {"US": 500, "DE": 500}}},
        "routes": {"us_direct": {"destination": "US"}, "us_th": {"destination": "US", "via": "TH"},
                   "us_mx": {"destination": "US", "via": "MX"}, "de_direct": {"destination": "DE"}},
        "controls": {"us": {"commodity": "all", "destination": "US", "regime": "open"}},
        "events": events,
    })


def _series(rng, steps, ban, crack, crack_effect):
    """Plausible per-replicate curves (t/step unless noted), as a dict of arrays."""
    t = np.arange(steps)
    ramp = np.where(t >= ban, 1 / (1 + np.exp(-(t - ban - 5) / 2.0)), 0.0)
    after = (t >= crack).astype(float) * (1 - np.exp(-(t - crack).clip(0) / 4.0)) * crack_effect
    noise = lambda s: np.exp(np.cumsum(rng.normal(0, s, steps)) * 0.3 + rng.normal(0, s, steps))
    scale = rng.uniform(0.8, 1.2)
    return {
        "ramp": ramp, "after": after,
        "route": {"us_direct": 3 * ramp * scale * noise(0.05),
                  "us_th": 18 * ramp * (1 - 0.7 * after) * scale * noise(0.06),
                  "us_mx": 6 * ramp * (1 + 0.9 * after) * scale * noise(0.06),
                  "de_direct": 0.4 * ramp * noise(0.05)},
        "us_index": 1 + (1.8 - 0.5 * after) * ramp * rng.uniform(0.85, 1.15) * noise(0.03),
        "de_index": 1 + 0.25 * ramp * noise(0.02),
        "cn_index": 1 - 0.12 * ramp * noise(0.01),
    }


def make_timeseries(s: Scenario, replicates: int, crack_effect: float = 1.0) -> pd.DataFrame:
    """Long-format time series for all replicates (columns as in CONTRACTS.md)."""
    steps = s.steps
    ban = s.events["ban"].step
    crack = s.events["crackdown"].step if "crackdown" in s.events else steps + 1
    dates = pd.to_datetime([s.date_of(i) for i in range(steps)])
    keys_ = ("market", "commodity", "route", "checkpoint", "method")
    heads, values = [], []  # one (replicate, metric, keys...) head and one value array per series

    def add(rep, metric, vals, **keys):
        heads.append((rep, metric, *(keys.get(k, "") for k in keys_)))
        values.append(np.broadcast_to(np.asarray(vals, dtype=float), (steps,)))

    share = {"sb": 0.7, "ga": 0.3}
    for rep in range(replicates):
        rng = np.random.default_rng([s.seed, rep])
        x = _series(rng, steps, ban, crack, crack_effect)
        routes = x["route"]
        for k, sh in share.items():
            p0 = s.markets["US"][k].ref_price_usd_kg
            for m, idx in (("US", x["us_index"] if k == "sb" else 1 + 0.6 * (x["us_index"] - 1)),
                           ("DE", x["de_index"]), ("CN", x["cn_index"])):
                add(rep, "price_index", idx, market=m, commodity=k)
                add(rep, "price_usd_kg", idx * p0, market=m, commodity=k)
                if m != "CN":
                    add(rep, "gray_price_usd_kg", 0.5 * idx * p0, market=m, commodity=k)
            for rid, v in routes.items():
                add(rep, "illicit_route_t", v * sh, route=rid, commodity=k)
            add(rep, "illicit_delivered_t", sum(v for r, v in routes.items() if r != "de_direct") * sh,
                market="US", commodity=k)
            add(rep, "illicit_delivered_t", routes["de_direct"] * sh, market="DE", commodity=k)
            legal_us = s.suppliers[f"cn_{k}"].sales_t_per_year["US"] / 52 * (1 - 0.95 * x["ramp"])
            add(rep, "legal_imports_t", legal_us, market="US", commodity=k)
            add(rep, "legal_imports_t", s.suppliers[f"cn_{k}"].sales_t_per_year["DE"] / 52 * np.ones(steps),
                market="DE", commodity=k)
            add(rep, "allied_supply_t", 5 * sh * (1 + x["ramp"]), market="US", commodity=k)
            cover = 30 * (1 - 0.8 * x["ramp"]) + 8 * x["after"] * x["ramp"] + rng.normal(0, 0.5, steps)
            add(rep, "stock_cover_days", cover.clip(0), market="US", commodity=k)
            add(rep, "stock_cover_days", 30 + rng.normal(0, 0.5, steps), market="DE", commodity=k)
            add(rep, "defense_shortfall_t", (sh * 0.15 * (12 - cover)).clip(0), market="US", commodity=k)
            add(rep, "defense_shortfall_t", np.zeros(steps), market="DE", commodity=k)
        total = sum(routes.values())
        for rid, v in routes.items():
            for m, ms in METHOD_SHARE.items():
                add(rep, "departed_t", v * ms * 1.1, route=rid, method=m)
        for k, sh in share.items():
            for m, ms in METHOD_SHARE.items():
                add(rep, "illicit_method_t", total * sh * ms, method=m, commodity=k)
        rate = {"CN:export": 0.04, "TH:import": 0.02, "TH:export": 0.03, "MX:import": 0.01,
                "MX:export": 0.01, "US:import": 0.05}
        for cp in CHECKPOINTS:
            flow = sum(v for r, v in routes.items() if cp in ROUTE_CHECKPOINTS[r])
            r = rate[cp] * (1 + 4 * x["after"] * cp.startswith("TH")) * (1 + 1.5 * x["after"] * (cp == "US:import"))
            add(rep, "crossing_t", flow, checkpoint=cp)
            add(rep, "inspections", 100 + 300 * x["after"] * cp.startswith("TH"), checkpoint=cp)
            for m, ms in METHOD_SHARE.items():
                seized = rng.poisson(np.clip(flow * ms * r * 4, 0, None)) / 4.0
                add(rep, "seized_t", seized, checkpoint=cp, method=m)
                add(rep, "seizures_count", np.ceil(seized / 2), checkpoint=cp, method=m)
        for c in ("TH", "MX"):
            add(rep, "transit_imports_t", 10 + routes[f"us_{c.lower()}"], market=c, commodity="sb")
        active = 200 + np.cumsum(rng.poisson(2 * x["ramp"])) - np.cumsum(rng.poisson(0.8 * x["after"]))
        arrests = rng.poisson(0.5 + 2 * x["after"])
        add(rep, "active_smugglers", active)
        add(rep, "jailed_smugglers", np.cumsum(arrests) * 0.8)
        add(rep, "bankrupt_smugglers", np.cumsum(rng.poisson(0.2, steps)))
        add(rep, "entries", rng.poisson(2 * x["ramp"]))
        add(rep, "arrests", arrests)
        add(rep, "fines_usd", 1e5 * arrests)
        add(rep, "enforcement_cost_usd", 6e4 * (6 + 2 * x["after"]))
        add(rep, "smuggler_profit_usd", 2e5 * total)
    h = pd.DataFrame(heads, columns=["replicate", "metric", *keys_]).loc[np.repeat(np.arange(len(heads)), steps)]
    h = h.reset_index(drop=True)
    h.insert(1, "step", np.tile(np.arange(steps), len(heads)))
    h.insert(2, "date", np.tile(dates.to_numpy().astype("datetime64[ns]"), len(heads)))
    h["value"] = np.concatenate(values)
    return h.astype({"replicate": "int64", "step": "int64"})


def kpis_from(ts: pd.DataFrame, s: Scenario) -> pd.DataFrame:
    """Rough KPIs per replicate from the synthetic series (names as in MODEL.md §6)."""
    rows = []
    for rep, d in ts.groupby("replicate"):
        def tot(metric, d=d, **f):
            sel = d[d.metric == metric]
            for k, v in f.items():
                sel = sel[sel[k] == v]
            return sel["value"].sum()
        us_idx = d[(d.metric == "price_index") & (d.market == "US") & (d.commodity == "sb")]["value"]
        delivered, seized = tot("illicit_delivered_t", market="US"), tot("seized_t")
        rows.append({
            "replicate": rep, "illicit_delivered_t": delivered,
            "leakage_share": delivered / (s.suppliers["cn_sb"].sales_t_per_year["US"] * s.steps / 52),
            "interdiction_rate": seized / (seized + delivered), "seizures_count": tot("seizures_count"),
            "seized_t": seized, "price_peak_index": us_idx.max(), "price_end_index": us_idx.iloc[-1],
            "origin_price_index": d[(d.metric == "price_index") & (d.market == "CN")]["value"].iloc[-1],
            "transit_import_surge": d[(d.metric == "transit_imports_t") & (d.market == "TH")]["value"].max() / 10,
            "active_smugglers_peak": d[d.metric == "active_smugglers"]["value"].max(),
            "arrests": tot("arrests"), "defense_shortfall_t": tot("defense_shortfall_t"),
            "min_stock_cover_days": d[(d.metric == "stock_cover_days") & (d.market == "US")]["value"].min(),
            "enforcement_cost_usd": tot("enforcement_cost_usd"), "fines_usd": tot("fines_usd"),
            "smuggler_profit_usd": tot("smuggler_profit_usd"), "weeks_to_halve": np.nan,
        })
    return pd.DataFrame(rows)


def make_results(root: Path, name: str = "demo_ban", replicates: int = 6, crackdown: bool = True,
                 crack_effect: float = 1.0, run_id: str = "20250101T000000Z-abc123") -> Path:
    """Write a complete synthetic results folder root/<name>/<run_id>/ and return its path."""
    s = make_scenario(name, crackdown=crackdown)
    run = Path(root) / name / run_id
    run.mkdir(parents=True)
    ts = make_timeseries(s, replicates, crack_effect=crack_effect if crackdown else 0.0)
    ts.to_parquet(run / "timeseries.parquet", index=False)
    k = kpis_from(ts, s)
    summary = {c: {"mean": float(k[c].mean()), "p05": float(k[c].quantile(0.05)), "p95": float(k[c].quantile(0.95))}
               for c in k.columns if c != "replicate"}
    out = pd.concat([k.astype({"replicate": str}),
                     pd.DataFrame([{"replicate": q, **{c: v[q] for c, v in summary.items()}}
                                   for q in ("mean", "p05", "p95")])])
    out.to_csv(run / "kpis.csv", index=False)
    (run / "kpis.json").write_text(json.dumps({"per_replicate": json.loads(k.to_json(orient="records")),
                                               "summary": summary}, indent=1))
    events = [{"id": eid, "label": e.label, "step": s.event_step(e), "date": s.date_of(s.event_step(e)).isoformat()}
              for eid, e in s.events.items()]
    # the keys sim.outputs.results.manifest writes
    manifest = {"run_id": run_id, "scenario_name": name, "command_line": ["sim", "run", f"scenarios/{name}.toml"],
                "started": "2025-01-01T00:00:00+00:00", "ended": "2025-01-01T00:01:00+00:00", "duration_s": 60.0,
                "replicates": replicates, "steps": s.steps, "start_date": s.start_date.isoformat(),
                "days_per_step": s.days_per_step, "master_seed": s.seed,
                "replicate_seeds": [{"replicate": r, "entropy": s.seed, "spawn_key": [r]} for r in range(replicates)],
                "events": events, "versions": {"python": "3.11", "sim": "0.1.0"},
                "scenario": s.model_dump(mode="json")}
    (run / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return run


def make_comparison(run_dirs: dict[str, Path]) -> pd.DataFrame:
    """Comparison table (sim.plots.compare format): paired differences to the first scenario."""
    per = {n: pd.DataFrame(json.loads((Path(p) / "kpis.json").read_text())["per_replicate"]).set_index("replicate")
           for n, p in run_dirs.items()}
    base = per[next(iter(per))]
    rows = []
    for n, k in per.items():
        for kpi in k.columns:
            d = k[kpi] - base[kpi]
            rows.append({"scenario": n, "kpi": kpi, "mean": k[kpi].mean(), "p05": k[kpi].quantile(0.05),
                         "p95": k[kpi].quantile(0.95), "diff_mean": d.mean(), "diff_p05": d.quantile(0.05),
                         "diff_p95": d.quantile(0.95)})
    return pd.DataFrame(rows)


def make_sweep_points(params: dict[str, list[float]], replicates: int = 5, seed: int = 3) -> pd.DataFrame:
    """Sweep table (sim.plots.sweep format): full grid over `params`, `replicates` rows per point.

    KPIs respond smoothly: more inspection capacity and fines cut deliveries and raise prices.
    """
    rng = np.random.default_rng(seed)
    grid = pd.MultiIndex.from_product(list(params.values()), names=list(params)).to_frame(index=False)
    rows = []
    for point, row in grid.iterrows():
        # normalised position of each parameter in its range, 0..1
        z = [(row[p] - min(v)) / (max(v) - min(v) or 1) for p, v in params.items()]
        pressure = float(np.mean(z))
        for rep in range(replicates):
            delivered = 1200 * np.exp(-1.5 * pressure) * rng.lognormal(0, 0.08)
            rows.append({"point": point, "replicate": rep, **row.to_dict(),
                         "illicit_delivered_t": delivered, "interdiction_rate": 0.05 + 0.3 * pressure + rng.normal(0, 0.01),
                         "price_peak_index": 2.0 + 0.8 * pressure + rng.normal(0, 0.05),
                         "enforcement_cost_usd": 2e7 * (1 + 3 * z[0]) * rng.lognormal(0, 0.02),
                         "weeks_to_halve": np.nan})
    return pd.DataFrame(rows)


def make_sobol(params: list[str], kpis=("illicit_delivered_t", "price_peak_index")) -> pd.DataFrame:
    """Sobol table (sim.plots.sweep format) with made-up but consistent indices (S1 <= ST)."""
    rng = np.random.default_rng(5)
    rows = []
    for k in kpis:
        s1 = rng.dirichlet(np.ones(len(params))) * 0.8
        for p, v in zip(params, s1):
            rows.append({"kpi": k, "param": p, "S1": v, "S1_conf": 0.05, "ST": v + rng.uniform(0.02, 0.1),
                         "ST_conf": 0.06})
    return pd.DataFrame(rows)
