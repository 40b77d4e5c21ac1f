"""`sim validate-facts`: the facts of MODEL.md §8 under the calibrated ensembles (docs/validation.md).

For every fact (sim.calibration.facts): its source, band and role (calibration target or
held-out check), the model's mean and 5-95 % band over replicates that each draw one
parameter set from the episode's posterior ensemble, and pass or fail. Then the attribution
table (each fact with and without each policy component, on paired replicates) and which
parameters move each fact most (rank correlations between the ensemble's draws and the fact
across replicates). Held-out results are shown whatever they are.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.calibration.targets import Run, default_registry
from sim.experiments.posterior import posterior_for
from sim.scenario import cut_horizon, load_scenario
from sim.scenario.shipped import shipped_dir

# metrics the facts read; workers return only these (the full time series is 10x larger)
FACT_METRICS = ("price_usd_kg", "gray_price_usd_kg", "illicit_route_t", "illicit_delivered_t",
                "transit_imports_t", "seizures_count")


@dataclass(frozen=True)
class Variant:
    """A policy component taken out of an episode: the fact measured with and without it."""

    fact: str
    label: str
    scenario: str
    drop_events: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()


# MODEL.md §8 / issue: S2 without the ban and without the September licensing; S4 without
# traceability, the heavier penalties or the extra inspection capacity; S6 without the operation.
VARIANTS = (
    Variant("S2", "without the ban on the US (3 Dec 2024)", "antimony_2024", drop_events=("ban_us",)),
    Variant("S2", "without the licences of 15 Sep 2024 (the ban stays)", "antimony_2024",
            overrides=("controls.sb_all.regime=open", "controls.sb_us.regime=open")),
    Variant("S4", "without traceability (trace tags, isotope fingerprints)", "crackdown_2025",
            drop_events=("traceability",)),
    Variant("S4", "without the heavier penalties (sentences, fines)", "crackdown_2025", drop_events=("sentences",)),
    Variant("S4", "without the extra inspection capacity", "crackdown_2025",
            overrides=('events.joint_operation.set."customs.CN.capacity_per_week"=1500',)),
    Variant("S6", "without the crackdown (the same 13 weeks)", "crackdown_2025",
            drop_events=("joint_operation", "traceability", "sentences")),
)


class SlimRun:
    """run_fn returning only the fact metrics of the time series (picklable, module level)."""

    def __init__(self, run_fn):
        self.run_fn = run_fn

    def __call__(self, scenario, replicate: int, steps: int | None = None):
        from sim.model.runner import RunResult

        res = self.run_fn(scenario, replicate, steps=steps)
        ts = res.timeseries
        return RunResult(res.replicate, ts[ts["metric"].isin(FACT_METRICS)].reset_index(drop=True), res.kpis)


class Pinned:
    """run_fn that sets a variant's own overrides last, after the posterior's parameter set:
    "without the extra inspection capacity" must stay without it whatever capacity the
    replicate drew (picklable; `pins` maps a scenario name to its `KEY=VALUE` overrides)."""

    def __init__(self, run_fn, pins: dict[str, tuple[str, ...]]):
        self.run_fn, self.pins = run_fn, pins

    def __call__(self, scenario, replicate: int, steps: int | None = None):
        from sim.experiments.params import apply_params
        from sim.scenario.load import parse_override

        pins = self.pins.get(scenario.name)
        if pins:
            scenario = apply_params(scenario, {o.partition("=")[0]: parse_override(o)[1] for o in pins})
        return self.run_fn(scenario, replicate, steps=steps)


def variant_scenario(base, v: Variant):
    data = base.model_dump(mode="python")
    data["priors"] = {}       # a variant only runs; its priors may name the events it drops
    for e in v.drop_events:
        data["events"].pop(e, None)
    if data.get("headline_event") not in data["events"]:
        data["headline_event"] = base.headline_event if base.headline_event in data["events"] else ""
    from sim.scenario.load import parse_override, set_path
    from sim.scenario.schema import Scenario
    for o in v.overrides:
        k, val = parse_override(o)
        set_path(data, k, val)
    data["name"] = f"{base.name} {v.label}"
    return Scenario.model_validate(data)


def _runs(scenarios: dict, replicates: int, workers, posterior, seed,
          pins: dict[str, tuple[str, ...]] | None = None) -> dict[str, list]:
    """Run named scenarios on common random numbers (and common posterior draws); `pins`: the
    overrides of each variant, set after the posterior's parameters (see Pinned)."""
    from sim.experiments import compare
    from sim.experiments.execution import default_run_fn
    from sim.model.runner import RunResult

    run_fn = Pinned(SlimRun(default_run_fn()), pins or {})
    if posterior is not None:
        run_fn = posterior.wrap(run_fn)
    names = list(scenarios)
    renamed = [scenarios[n].model_copy(update={"name": n}) for n in names]
    _, by = compare(renamed, replicates, workers, None, run_fn, seed=seed, progress=True)
    out = {}
    for n in names:
        bad = [r for r in by[n] if not isinstance(r, RunResult)]
        if bad:
            raise RuntimeError(f"{n}: replicate {bad[0].replicate} failed: {bad[0].error}")
        out[n] = by[n]
    return out


def _band(x: np.ndarray) -> tuple[float, float, float]:
    x = x[np.isfinite(x)]
    if not len(x):
        return math.nan, math.nan, math.nan
    return float(x.mean()), float(np.percentile(x, 5)), float(np.percentile(x, 95))


def evaluate(replicates: int = 40, workers: int | None = None, folder: Path | None = None,
             seed: int | None = None) -> dict:
    """Every fact under its episode's ensemble, the attribution table and the parameters that
    move each fact; returns the tables and what was run (for the report)."""
    from sim.experiments.posterior import load_posterior

    folder = Path(folder or shipped_dir())
    reg = default_registry()
    facts = list(reg)
    episodes = sorted({s for f in facts for s in f.scenarios})
    paths = {e: folder / f"{e}.toml" for e in episodes}
    groups: dict[str | None, list[str]] = {}
    for e, p in paths.items():
        post = posterior_for(p)
        groups.setdefault(str(post) if post else None, []).append(e)
    values: dict[str, np.ndarray] = {}
    draws: dict[str, pd.DataFrame] = {}
    attribution, posteriors = [], {}
    for post_path, names in groups.items():
        post = load_posterior(post_path) if post_path else None
        posteriors[post_path] = post
        scs = {n: cut_horizon(load_scenario(paths[n]))[0] for n in names}
        pins = {}
        for v in VARIANTS:
            if v.scenario in scs:
                scs[f"{v.scenario} | {v.label}"] = variant_scenario(scs[v.scenario], v)
                pins[f"{v.scenario} | {v.label}"] = v.overrides
        s0 = int(seed if seed is not None else scs[names[0]].seed)
        runs = _runs(scs, replicates, workers, post, s0, pins)
        per_rep = [{n: Run(scs[n], runs[n][i].timeseries, runs[n][i].kpis) for n in scs}
                   for i in range(replicates)]
        for f in facts:
            if set(f.scenarios) <= set(names):
                values[f.id] = np.array([f.value(r) for r in per_rep])
        for v in VARIANTS:
            if v.scenario not in names:
                continue
            f = reg[v.fact]
            other = f"{v.scenario} | {v.label}"
            without = np.array([f.value({**r, v.scenario: r[other]}) for r in per_rep])
            diff = values[v.fact] - without
            attribution.append(dict(fact=v.fact, component=v.label, with_=_band(values[v.fact])[0],
                                    without=_band(without)[0], diff=_band(diff), unit=f.unit,
                                    higher_share=float(np.mean(diff > 0))))
        if post is not None:
            draws[post_path] = pd.DataFrame([post.params(s0, r) for r in range(replicates)])
            for f in facts:
                if f.id in values and set(f.scenarios) <= set(names):
                    draws[post_path].attrs.setdefault("facts", []).append(f.id)
    rows = []
    for f in facts:
        if f.id not in values:
            continue
        mean, lo, hi = _band(values[f.id])
        ok = f.band.contains(mean) if np.isfinite(mean) else False
        rows.append(dict(id=f.id, role=f.role, fact=f.description, source=f.source, scenarios=", ".join(f.scenarios),
                         band=f.band_text(), mean=mean, p05=lo, p95=hi, unit=f.unit,
                         result="reported" if f.role == "reported" else ("pass" if ok else "FAIL"),
                         in_band=float(np.mean([f.band.contains(x) for x in values[f.id] if np.isfinite(x)]))
                         if np.isfinite(mean) else math.nan))
    sens = _sensitivity(values, draws)
    return dict(facts=pd.DataFrame(rows), attribution=attribution, sensitivity=sens, replicates=replicates,
                posteriors={k: (v.n_sets if v else 0) for k, v in posteriors.items()}, groups=groups)


def _sensitivity(values: dict, draws: dict) -> list[dict]:
    """Per fact, the ensemble parameters with the largest rank correlation with it."""
    out = []
    for _, d in draws.items():
        for fid in d.attrs.get("facts", []):
            y = pd.Series(values[fid])
            if y.nunique() < 3:
                continue
            cors = []
            for k in d.columns:
                if d[k].nunique() > 2:
                    c = pd.Series(d[k].to_numpy()).corr(y, method="spearman")
                    if np.isfinite(c):
                        cors.append((abs(c), c, k))
            cors.sort(reverse=True)
            out.append(dict(fact=fid, top=[(k, c) for _, c, k in cors[:3]]))
    return out


# ---------------------------------------------------------------- report --------------------
def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"


def markdown(res: dict, command: str) -> str:
    from sim import __version__

    t = res["facts"]
    ens = "; ".join(f"`{Path(k).name}` ({n} parameter sets) for {', '.join(v)}" if k else
                    f"no ensemble (the scenario's own values) for {', '.join(v)}"
                    for (k, n), v in zip(res["posteriors"].items(), res["groups"].values()))
    lines = [
        "# The facts from the record under the calibrated ensembles",
        "",
        f"Generated by `{command}` (do not edit by hand) on {dt.date.today().isoformat()} with version "
        f"{__version__}: {res['replicates']} replicates per scenario, each drawing one parameter set from "
        f"its episode's ensemble ({ens}), so the bands combine parameter uncertainty with Monte Carlo noise.",
        "A fact passes when the ensemble mean lies in its band (MODEL.md §8). **Calibration** facts were used "
        "to estimate the priors (`sim calibrate`); **held-out** facts never set a parameter, by calibration or "
        "by hand, and are reported whatever they show (docs/calibration.md, honesty rules).",
        "",
        "| id | role | fact | source | band | model mean | model 5-95 % | share of replicates in band | result |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in t.itertuples():
        role = {"calibration": "calibration", "held_out": "**held out**", "reported": "reported"}[r.role]
        lines.append(f"| {r.id} | {role} | {r.fact} | {r.source} | {r.band} | {_fmt(r.mean)} | "
                     f"{_fmt(r.p05)} to {_fmt(r.p95)} | {_fmt(100 * r.in_band)} % | {r.result} |")
    lines += ["", "## Attribution: each fact with and without each policy component", "",
              "Paired replicates (same random numbers and parameter draws); the difference is with minus without.", "",
              "| fact | component taken out | with | without | difference (5-95 %) | replicates where it is higher with it |",
              "| --- | --- | --- | --- | --- | --- |"]
    for a in res["attribution"]:
        m, lo, hi = a["diff"]
        lines.append(f"| {a['fact']} | {a['component']} | {_fmt(a['with_'])} | {_fmt(a['without'])} | "
                     f"{_fmt(m)} ({_fmt(lo)} to {_fmt(hi)}) {a['unit']} | {100 * a['higher_share']:.0f} % |")
    lines += ["", "## What moves each fact", "",
              "Spearman rank correlation between each parameter drawn from the ensemble and the fact, across "
              "replicates (the three strongest; noise-limited with few replicates).", "",
              "| fact | parameters (correlation) |", "| --- | --- |"]
    for s in res["sensitivity"]:
        lines.append(f"| {s['fact']} | " + "; ".join(f"`{k}` ({c:+.2f})" for k, c in s["top"]) + " |")
    return "\n".join(lines) + "\n"


def format_table(t: pd.DataFrame) -> str:
    out = [f"{'id':<5}{'role':<12}{'band':<20}{'mean':>10}{'5-95 %':>24}  result"]
    for r in t.itertuples():
        out.append(f"{r.id:<5}{r.role:<12}{r.band:<20}{_fmt(r.mean):>10}{_fmt(r.p05) + ' to ' + _fmt(r.p95):>24}  "
                   f"{r.result}")
    return "\n".join(out)


EXAMPLE = "sim validate-facts --replicates 40 --out docs/validation.md"


def register(subparsers) -> None:
    p = subparsers.add_parser("validate-facts", help="check the facts of the record (calibration targets and "
                              "held-out checks) under the calibrated ensembles",
                              description="Run the episode scenarios over their posterior ensembles and compare "
                                          "with the facts (MODEL.md §8); write a markdown report.",
                              epilog="example:\n  " + EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--replicates", type=int, default=40, help="replicates per scenario (default 40)")
    p.add_argument("--seed", type=int, default=None, help="master seed (default: each episode's own)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--dir", default=None, help="scenario folder (default: the shipped scenarios)")
    p.add_argument("--out", default="docs/validation.md", help="report path (default docs/validation.md)")
    p.set_defaults(func=cmd_validate_facts)


def cmd_validate_facts(args) -> int:
    from sim.outputs.results import atomic_write_text

    res = evaluate(args.replicates, args.workers, Path(args.dir) if args.dir else None, args.seed)
    print(format_table(res["facts"]))
    command = f"sim validate-facts --replicates {args.replicates}" + (
        f" --seed {args.seed}" if args.seed is not None else "")
    atomic_write_text(Path(args.out), markdown(res, command))
    print(f"\nreport written to {args.out}")
    cal = res["facts"][res["facts"]["role"] == "calibration"]
    return 0 if (cal["result"] == "pass").all() else 1
