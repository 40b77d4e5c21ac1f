"""One-at-a-time sensitivity of the stylized facts S1-S7 to the calibrated parameters.

    python -m sim.calibration.sensitivity --replicates 6 --out docs/calibration-sensitivity.md

Each parameter in PARAMS is set to 0.8 and 1.2 times its value (integers rounded, probabilities
clipped to [0, 1]) in every episode scenario that sets it explicitly, the others staying put;
every level runs the same replicates of the same master seed (common random numbers). Facts
are measured with `sim.calibration.facts`'s functions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np
from pydantic import BaseModel
from tqdm import tqdm

from sim import __version__
from sim.calibration.facts import FACTS, SCENARIOS, _fmt
from sim.scenario import load_scenario, parse_key

LEVELS = (0.8, 1.0, 1.2)
PARAMS = [  # (dotted key, how the scenario files set it, probability?)
    ("commodities.sb2o3.elasticity", "ASSUMPTION", False),
    ("markets.US.sb2o3.gray_share", "ASSUMPTION", True),
    ("markets.US.sb2o3.gray_discount", "TUNED S1, S2", True),
    ("markets.US.sb2o3.initial_stock_days", "ASSUMPTION", False),
    ("controls.sb_us.approval_rate", "ASSUMPTION", True),
    ("exporters.compliance", "ASSUMPTION", True),
    ("exporters.divertible_share", "ASSUMPTION", True),
    ("exporters.gray_markup", "TUNED S2", False),
    ("smugglers.initial", "ASSUMPTION", False),
    ("smugglers.capacity_t", "TUNED S1, S6", False),
    ("customs.CN.restricted_weight", "TUNED S1", False),
    ("countries.MY.cooperation", "TUNED S1", True),
    ('events.joint_operation.set."customs.CN.anomaly_weight"', "TUNED S6", False),
    ('events.joint_operation.set."smugglers.public_share"', "ASSUMPTION", True),
    ("exporters.trace_tag_compliance", "TUNED S4", True),
]


def explicit_value(sc, key: str):
    """The value at dotted `key` if the scenario sets it explicitly (not a default), else None."""
    node = sc
    for part in parse_key(key):
        if isinstance(node, BaseModel) and part in node.model_fields_set:
            node = getattr(node, part)
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def scaled(base, factor: float, prob: bool):
    """`base` x `factor`, rounded for integers and clipped to [0, 1] for probabilities."""
    if isinstance(base, int) and not isinstance(base, bool):
        return int(round(base * factor))
    v = float(base) * factor
    return round(min(max(v, 0.0), 1.0) if prob else v, 9)


def fact_values(name: str, overrides: list[str], replicates: int, workers: int) -> dict[str, np.ndarray]:
    """Every fact of scenario file `name`, measured on each replicate run with `overrides`."""
    from sim.experiments import RunFailure, run_replicates

    sc = load_scenario(SCENARIOS / name, overrides)
    results = run_replicates(sc, replicates, workers=workers, progress=False)
    if bad := [r for r in results if isinstance(r, RunFailure)]:
        raise RuntimeError(f"{name} {overrides}: replicate {bad[0].replicate} failed: {bad[0].error}")
    return {f.id: np.array([f.measure(r.timeseries, sc) for r in results])
            for f in FACTS if f.scenario == name}


def run(replicates: int, seed: int | None, workers: int) -> tuple[dict, list[dict]]:
    """{fact: base values per replicate}, and per parameter: key, status, base, {fact: [mean per level]}."""
    names = sorted({f.scenario for f in FACTS})
    seed_ov = [f"seed={seed}"] if seed is not None else []
    scenarios = {n: load_scenario(SCENARIOS / n, seed_ov) for n in names}
    base = {n: fact_values(n, seed_ov, replicates, workers) for n in names}
    rows = []
    for key, status, prob in tqdm(PARAMS, desc="parameters", unit="param", file=sys.stderr):
        means, bases = {}, set()
        for n in names:
            v = explicit_value(scenarios[n], key)
            bases |= {str(v)} if v is not None else set()
            levels = [base[n] if v is None or f == 1.0 else
                      fact_values(n, seed_ov + [f"{key}={scaled(v, f, prob)!r}"], replicates, workers)
                      for f in LEVELS]
            means.update({fid: [np.nanmean(lv[fid]) for lv in levels] for fid in base[n]})
        rows.append(dict(key=key, status=status, base=sorted(bases), means=means))
    return {k: v for b in base.values() for k, v in b.items()}, rows


def cell(fact, values) -> str:
    """'lo / base / hi'; a value outside the fact's band is bold with a dagger."""
    return " / ".join(_fmt(v) if fact.passes(v) else f"**{_fmt(v)}**†" for v in values)


def markdown(base: dict, rows: list[dict], replicates: int, seed: int | None, command: str) -> str:
    """The report: a noise row (base mean ± 2 standard errors), then one row per parameter."""
    noise = " | ".join(f"{_fmt(np.nanmean(x))} ± {_fmt(2 * np.nanstd(x, ddof=1) / np.sqrt(len(x)))}"
                       for x in (base[f.id] for f in FACTS))
    seeds = f"master seed {seed}" if seed is not None else "the scenarios' own seeds"
    return "\n".join([
        "# Sensitivity of the stylized facts to calibrated parameters", "",
        f"Generated by `{command}` (do not edit by hand) on {dt.date.today().isoformat()} with version "
        f"{__version__}, {replicates} replicates per scenario and level, {seeds}.",
        "Each cell: the fact's mean with the parameter at -20 % / base / +20 % (common seeds). "
        "**Bold†**: outside the fact's band. A parameter is varied only in the scenarios that set it. "
        "The first row is the base mean ± 2 standard errors over replicates: smaller changes are noise.", "",
        "| parameter | set as | base | " + " | ".join(f"{f.id} ({f.band()})" for f in FACTS) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in FACTS) + " |",
        "| (base ± 2 s.e.) | | | " + noise + " |",
        *(f"| `{r['key']}` | {r['status']} | {', '.join(r['base'])} | "
          + " | ".join(cell(f, r["means"][f.id]) for f in FACTS) + " |" for r in rows)]) + "\n"


def main(argv: list[str] | None = None) -> int:
    from sim.outputs.results import atomic_write_text

    p = argparse.ArgumentParser(prog="python -m sim.calibration.sensitivity", description=__doc__.split("\n\n")[0])
    p.add_argument("--replicates", type=int, default=6, help="replicates per scenario and level (default 6)")
    p.add_argument("--seed", type=int, default=None, help="master seed (default: each scenario's own)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--out", default="docs/calibration-sensitivity.md", help="report path")
    a = p.parse_args(argv)
    if a.replicates < 2 or a.workers < 1:
        p.error("--replicates must be >= 2 (for the noise row) and --workers >= 1")
    cmd = f"python -m sim.calibration.sensitivity --replicates {a.replicates}"
    cmd += f" --seed {a.seed}" if a.seed is not None else ""
    atomic_write_text(Path(a.out), markdown(*run(a.replicates, a.seed, a.workers), a.replicates, a.seed, cmd))
    print(f"report written to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
