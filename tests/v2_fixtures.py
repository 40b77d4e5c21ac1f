"""Synthetic results of model version 2, in the documented format, for testing charts and briefs
before the v2 model writes them (the names come from sim/model/metrics.py).

Stored format (sim.outputs.results.write_run): a long time series with columns run_id,
scenario, replicate, step, date, metric, the key columns market, commodity, route,
checkpoint, method, supplier (unused keys null, not ""), value; kpis.csv (one row per
replicate), kpi_summary.csv, kpis.json, manifest.json. The scenario in the manifest is a plain
dict (v1's schema plus v2 keys), since the readers never validate it.

The flows are consistent, so Sankey totals can be checked exactly: per route, departures
leave the origin; 80 % arrive two steps later, 10 % are seized the step after departure
(spread over checkpoints and methods), the rest is in transit at the end; origin exporters
divert 5 % more than departs; legal shipments go from the origin (to CN, US, DE) and from
Australia (to US); a share of deliveries stays unsold.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from tests.plot_fixtures import CHECKPOINTS, METHOD_SHARE, make_scenario, make_timeseries

from sim.experiments.compare import comparison_table
from sim.model.metrics import KEYS, KPI_NAMES
from sim.outputs.results import jsonable
from sim.outputs.tables import kpi_summary, kpi_table

ARRIVE, SEIZED, LAG = 0.8, 0.1, 2  # shares of departures delivered (after LAG steps) and seized (after 1)
DIVERT_EXTRA = 1.05  # diverted / departed
UNSOLD = 0.15        # share of deliveries still unsold at the end


def v2_scenario(name: str, crackdown: bool, price_cap: float | None, hub_cap: bool) -> dict:
    """The scenario dict a v2 manifest holds (v1 fields plus v2 levers)."""
    d = make_scenario(name, crackdown=crackdown).model_dump(mode="json")
    d["description"] = f"{name.replace('_', ' ')}: synthetic v2 scenario"
    d["headline_event"] = "crackdown" if crackdown else ""
    if price_cap is not None:
        d["markets"]["US"]["sb"]["price_cap"] = price_cap
    if hub_cap:
        d["countries"]["TH"]["import_cap_t_per_year"] = {"sb": 300.0}
    d["exporters"].update({"trace_prob": 0.1, "penalty_multiple": 2.0})
    return d


def _rows(rep, steps, dates, metric, values, **keys) -> pd.DataFrame:
    return pd.DataFrame({"replicate": np.int64(rep), "step": np.arange(steps, dtype=np.int64), "date": dates,
                         "metric": metric, **{k: keys.get(k) for k in KEYS}, "value": np.asarray(values, float)})


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    return np.concatenate([np.zeros(k), x[:-k]]) if k else x


def v2_timeseries(sc: dict, base: pd.DataFrame, price_cap: float | None, hub_cap: bool) -> pd.DataFrame:
    """v1 synthetic series made v2: consistent smuggling flows, legal flows by supplier, diversion,
    unsold stock, refusals at a capped hub, legitimate inspections, jailed smugglers."""
    steps = int(base["step"].max()) + 1
    dates = base[base["replicate"] == base["replicate"].iloc[0]].drop_duplicates("step")["date"].to_numpy()
    keep = base[~base["metric"].isin(["departed_t", "seized_t", "seizures_count", "illicit_route_t",
                                      "illicit_delivered_t", "jailed_smugglers", "legal_imports_t"])].copy()
    keep["supplier"] = ""
    if price_cap is not None:  # the capped price sits on its cap
        m = (keep["metric"] == "price_index") & (keep["market"] == "US") & (keep["commodity"] == "sb")
        keep.loc[m, "value"] = keep.loc[m, "value"].clip(upper=price_cap)
    parts = [keep]
    routes = sc["routes"]
    for rep, d in base[base["metric"] == "illicit_route_t"].groupby("replicate"):
        dep = {r: g.groupby("step")["value"].sum().reindex(range(steps), fill_value=0.0).to_numpy()
               for r, g in d.groupby("route")}
        total_dep = sum(dep.values())
        for r, x in dep.items():
            for m, ms in METHOD_SHARE.items():
                parts.append(_rows(rep, steps, dates, "departed_t", x * ms, route=r, method=m))
            parts.append(_rows(rep, steps, dates, "illicit_route_t", ARRIVE * _shift(x, LAG), route=r, commodity="sb"))
        for dest in ("US", "DE"):
            arrived = sum(ARRIVE * _shift(x, LAG) for r, x in dep.items() if routes[r]["destination"] == dest)
            parts.append(_rows(rep, steps, dates, "illicit_delivered_t", arrived, market=dest, commodity="sb"))
            unsold = np.zeros(steps)
            unsold[-1] = UNSOLD * arrived.sum()
            parts.append(_rows(rep, steps, dates, "unsold_t", unsold, market=dest, commodity="sb"))
            parts.append(_rows(rep, steps, dates, "gray_sold_t", arrived - np.diff(unsold, prepend=0.0), market=dest,
                               commodity="sb"))
        seized = SEIZED * _shift(total_dep, 1)
        share = 1.0 / len(CHECKPOINTS)
        for cp in CHECKPOINTS:
            for m, ms in METHOD_SHARE.items():
                parts.append(_rows(rep, steps, dates, "seized_t", seized * share * ms, checkpoint=cp, method=m))
                parts.append(_rows(rep, steps, dates, "seizures_count", np.ceil(seized * share * ms), checkpoint=cp,
                                   method=m))
            legit = 400 + 50 * np.sin(np.arange(steps) / 5) + 30 * rep
            parts.append(_rows(rep, steps, dates, "inspections_legit", legit, checkpoint=cp))
        parts.append(_rows(rep, steps, dates, "diverted_t", DIVERT_EXTRA * total_dep, commodity="sb"))
        parts.append(_rows(rep, steps, dates, "exporters_diverting", np.round(3 + total_dep), commodity="sb"))
        for market, t in (("CN", 60.0), ("US", 25.0 * np.linspace(1, 0.2, steps)), ("DE", 30.0)):
            parts.append(_rows(rep, steps, dates, "legal_flow_t", np.broadcast_to(t, (steps,)) * (1 + 0.01 * rep),
                               supplier="cn_sb", market=market, commodity="sb"))
        parts.append(_rows(rep, steps, dates, "legal_flow_t", np.linspace(2, 9, steps), supplier="au_sb", market="US",
                           commodity="sb"))
        parts.append(_rows(rep, steps, dates, "unmet_demand_t", 0.5 * total_dep, market="US", commodity="sb"))
        arrests = np.ones(steps) * (1 + rep % 2)
        parts.append(_rows(rep, steps, dates, "jailed_smugglers", np.cumsum(arrests) * 0.9))
        if hub_cap:
            refused = np.where(np.arange(steps) >= 20, 1.5, 0.0)
            parts.append(_rows(rep, steps, dates, "refused_t", refused, checkpoint="TH:import", commodity="sb"))
    ts = pd.concat(parts, ignore_index=True)
    for k in KEYS:  # stored form: null where a key is unused
        ts[k] = ts[k].astype("string").mask(ts[k].astype("string") == "")
    return ts


def v2_kpis(ts: pd.DataFrame, sc: dict, guard_weeks: float) -> pd.DataFrame:
    """Every registry KPI per replicate, computed from the series where one is defined."""
    rows = []
    for rep, d in ts.groupby("replicate"):
        def tot(metric, d=d, **f):
            s = d[d["metric"] == metric]
            for k, v in f.items():
                s = s[s[k] == v]
            return float(s["value"].sum())
        us = d[(d.metric == "price_index") & (d.market == "US") & (d.commodity == "sb")]["value"]
        delivered, seized = tot("illicit_delivered_t", market="US"), tot("seized_t")
        k = {name: np.nan for name in KPI_NAMES}
        k.update({
            "illicit_delivered_t": delivered, "leakage_share": delivered / 1500.0,
            "interdiction_rate": seized / (seized + delivered), "seizures_count": tot("seizures_count"),
            "seized_t": seized, "price_peak_index": float(us.max()), "price_end_index": float(us.iloc[-1]),
            "origin_price_index": 0.9, "transit_import_surge": 12.0 + rep, "active_smugglers_peak": 230.0 + rep,
            "arrests": tot("arrests"), "jailed_peak": float(d[d.metric == "jailed_smugglers"]["value"].max()),
            "diverted_t": tot("diverted_t"), "gray_markup_peak": 0.3, "defense_shortfall_t": tot("defense_shortfall_t"),
            "min_stock_cover_days": float(d[(d.metric == "stock_cover_days") & (d.market == "US")]["value"].min()),
            "unmet_demand_t": tot("unmet_demand_t"), "legit_inspected": tot("inspections_legit"),
            "inspections_per_seizure": tot("inspections_legit") / max(tot("seizures_count"), 1.0),
            "enforcement_cost_usd": tot("enforcement_cost_usd"), "fines_usd": tot("fines_usd"),
            "smuggler_profit_usd": tot("smuggler_profit_usd"), "weeks_at_price_guard": float(guard_weeks),
            "weeks_to_halve": 6.0 + rep % 3 if sc.get("headline_event") else np.nan})
        rows.append({"replicate": int(rep), **k})
    return pd.DataFrame(rows)


def make_v2_results(root: Path, name: str = "policy", replicates: int = 4, crackdown: bool = True,
                    crack_effect: float = 1.0, price_cap: float | None = None, hub_cap: bool = False,
                    guard_weeks: float = 0.0, run_id: str = "20250101T000000Z-b2b2b2", seed: int = 7) -> Path:
    """Write root/<name>/<run_id>/ as write_run does, and return its path."""
    sc = v2_scenario(name, crackdown, price_cap, hub_cap)
    sc["seed"] = seed
    from sim.scenario.schema import Scenario
    base = make_timeseries(Scenario.model_validate(make_scenario(name, crackdown=crackdown).model_dump()
                                                   | {"seed": seed}), replicates,
                           crack_effect=crack_effect if crackdown else 0.0)
    ts = v2_timeseries(sc, base, price_cap, hub_cap)
    ts.insert(0, "scenario", pd.Series(name, index=ts.index, dtype="string"))
    ts.insert(0, "run_id", pd.Series(run_id, index=ts.index, dtype="string"))
    run = Path(root) / name / run_id
    run.mkdir(parents=True)
    ts.to_parquet(run / "timeseries.parquet", index=False)
    per = v2_kpis(ts, sc, guard_weeks)
    results = [type("R", (), {"replicate": int(r["replicate"]), "kpis": {k: r[k] for k in KPI_NAMES}})
               for r in per.to_dict(orient="records")]
    table = kpi_table(results)
    per.to_csv(run / "kpis.csv", index=False)
    kpi_summary(table).to_csv(run / "kpi_summary.csv", index=False)
    summary = {r.kpi: {"mean": r.mean, "p05": r.p05, "p95": r.p95} for r in kpi_summary(table).itertuples()}
    (run / "kpis.json").write_text(json.dumps(jsonable({"per_replicate": per.to_dict(orient="records"),
                                                        "summary": summary}), indent=1))
    events = sorted(({"id": eid, "label": e["label"], "step": e["step"],
                      "date": str((pd.Timestamp(sc["start_date"]) + pd.Timedelta(days=7 * e["step"])).date())}
                     for eid, e in sc["events"].items()), key=lambda e: e["step"])
    manifest = {"run_id": run_id, "scenario_name": name, "command_line": ["sim", "run", name],
                "started": "2025-01-01T00:00:00+00:00", "ended": "2025-01-01T00:01:00+00:00", "duration_s": 60.0,
                "replicates": replicates, "steps": sc["steps"], "start_date": sc["start_date"], "days_per_step": 7,
                "master_seed": seed, "replicate_seeds": [{"replicate": r, "entropy": seed, "spawn_key": [r]}
                                                         for r in range(replicates)],
                "events": events, "versions": {"python": "3.11", "sim": "0.2.0"},
                "executor": {"kind": "processes", "workers": 2}, "git_commit": "0" * 40, "git_dirty": False,
                "scenario": sc}
    (run / "manifest.json").write_text(json.dumps(jsonable(manifest), indent=1))
    return run


def make_v2_compare(root: Path, replicates: int = 4, **policy) -> Path:
    """A comparison folder as `sim compare` writes it: baseline (no crackdown) and policy runs, the
    comparison of their per-replicate KPIs (sim.experiments.compare.comparison_table), JSON and CSV."""
    folder = Path(root) / "compare-status_quo-crackdown" / "20250101T000000Z-c0c0c0"
    runs = {"status_quo": make_v2_results(folder, "status_quo", replicates, crackdown=False),
            "crackdown": make_v2_results(folder, "crackdown", replicates, **policy)}
    per = {n: [type("R", (), {"replicate": int(r["replicate"]), "kpis": {k: v for k, v in r.items() if k != "replicate"}})
               for r in json.loads((p / "kpis.json").read_text())["per_replicate"]] for n, p in runs.items()}
    for rs in per.values():  # JSON null back to NaN, as the compare module sees KPIs
        for r in rs:
            r.kpis = {k: (np.nan if v is None else float(v)) for k, v in r.kpis.items()}
    table = comparison_table(per)
    table.to_csv(folder / "comparison.csv", index=False)
    doc = {"baseline": "status_quo", "scenarios": list(runs), "common_seed": 7, "replicates": replicates,
           "run_dirs": {n: str(p.relative_to(folder)) for n, p in runs.items()},
           "rows": json.loads(table.to_json(orient="records"))}
    (folder / "comparison.json").write_text(json.dumps(doc, indent=1))
    return folder


def make_levers(path: Path, kpi: str = "illicit_delivered_t") -> Path:
    """levers.csv in the shape `sim levers` writes: effects (paired changes) at low and high settings."""
    rows = []
    for lever, lo, hi, e_lo, e_hi in (("customs.CN.capacity_per_week", 100, 1500, 310.0, -820.0),
                                      ("penalties.fine_multiple", 1, 5, 60.0, -240.0),
                                      ("exporters.trace_prob", 0.05, 0.5, 15.0, -35.0),
                                      ("countries.TH.cooperation", 0.0, 0.9, 5.0, -8.0)):
        for setting, e in ((lo, e_lo), (hi, e_hi)):
            rows.append({"lever": lever, "setting": setting, "kpi": kpi, "mean": e, "p05": e - 30 - abs(e) * 0.1,
                         "p95": e + 30 + abs(e) * 0.1})
            rows.append({"lever": lever, "setting": setting, "kpi": "enforcement_cost_usd", "mean": 1e6 * (hi - setting),
                         "p05": 1e6 * (hi - setting), "p95": 1e6 * (hi - setting)})
    pd.DataFrame(rows).to_csv(path, index=False)
    return Path(path)


def make_validation(path: Path, failed: tuple[str, ...] = ("H2",)) -> Path:
    """A validation report like docs/validation.md, with the held-out checks H1-H4."""
    lines = ["# Validation", "", "| id | fact | used | band | model mean | result |", "| --- | --- | --- | --- | --- | --- |"]
    for fid in ("S1", "S2", "H1", "H2", "H3", "H4"):
        used = "held out" if fid.startswith("H") else "calibration"
        lines.append(f"| {fid} | fact {fid} | {used} | 1 to 2 | 1.5 | {'fail' if fid in failed else 'pass'} |")
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)
