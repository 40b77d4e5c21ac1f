"""`sim calibrate`: estimate the scenarios' priors against the calibration targets (ABC-SMC).

Registered in sim/cli.py's EXTRA_COMMANDS. The library functions are in sim.calibration.abc
(the run) and sim.calibration.report (posterior file and diagnostics page).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.experiments.execution import ExperimentError, Timer

EXAMPLE = """examples:
  sim calibrate scenarios/antimony_2024.toml scenarios/crackdown_2025.toml --budget 3000
  sim calibrate scenarios/antimony_2024.toml --budget 500 --particles 50 --generations 4 --facts S1,S2
  sim calibrate scenarios/a.toml --budget 20000 --scheduler tcp://10.0.0.5:8786
  sim calibrate scenarios/a.toml --budget 20000 --resume        # after Ctrl-C, or to go further

The budget counts parameter sets simulated over the whole calibration (each runs every
scenario listed once). Beside the posterior FILE.parquet go FILE.sqlite (the history:
--resume continues it), FILE.md (diagnostics) and FILE.png (marginals against priors).
Default FILE: <folder of the first scenario>/<scenario names>.posterior.parquet."""


def register(subparsers) -> None:
    from sim.experiments.cli import add_executor_args

    p = subparsers.add_parser(
        "calibrate", help="estimate the priors against the calibration targets (ABC-SMC)",
        description="Estimate the scenarios' priors against the calibration targets with ABC-SMC (pyabc) "
                    "and write a posterior ensemble that `sim run --posterior FILE` draws from.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="SCENARIO", help="scenario files; they share the parameters")
    p.add_argument("--budget", type=int, help="parameter sets to simulate in all")
    p.add_argument("--prior-only", type=int, default=None, metavar="N",
                   help="write N parameter sets drawn from the priors, with equal weights, and run nothing: the "
                        "ensemble of scenarios that have no calibration target (their facts are all held out)")
    p.add_argument("--generations", type=int, default=8, help="generations in all (default 8)")
    p.add_argument("--particles", type=int, default=100, help="parameter sets per generation (default 100)")
    p.add_argument("--facts", default=None, metavar="IDS",
                   help="calibration targets to use, comma-separated (default: every calibration target "
                        "measured on the scenarios given)")
    p.add_argument("--seed", type=int, default=None, help="master seed (default: the first scenario's)")
    p.add_argument("--steps", type=int, default=None, help="horizon in steps (default: each scenario's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key in every scenario (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the calibration in FILE.sqlite")
    p.add_argument("--out", default=None, metavar="FILE.parquet", help="posterior file (default: see below)")
    add_executor_args(p)
    p.set_defaults(func=cmd_calibrate)


def output_paths(files: list[str], out: str | None) -> dict[str, Path]:
    """posterior, history, page (and chart beside the page) for the command's arguments."""
    if out is None:
        first = Path(files[0])
        out = first.with_name("-".join(Path(f).stem for f in files) + ".posterior.parquet")
    out = Path(out)
    if out.suffix != ".parquet":
        raise ExperimentError(f"--out {out}: the posterior file must end in .parquet")
    stem = out.name[: -len(".parquet")]
    return {"posterior": out, "history": out.with_name(stem + ".sqlite"), "page": out.with_name(stem + ".md")}


def cmd_prior_only(args, scenarios, paths) -> int:
    """A prior ensemble: N sets drawn from the merged priors (seeded), equal weights, no runs."""
    import numpy as np
    import pandas as pd

    from sim.calibration.abc import natural, scipy_dist
    from sim.calibration.report import write_ensemble
    from sim.scenario.priors import merge_priors, prior_value

    priors, problems = merge_priors(scenarios)
    if problems or not priors:
        raise ExperimentError(problems[0] if problems else "calibrate: the scenarios give no priors")
    n = args.prior_only
    if n < 1:
        raise ExperimentError(f"--prior-only: must be >= 1 (got {n})")
    rng = np.random.default_rng(args.seed if args.seed is not None else scenarios[0].seed)
    cls = type(scenarios[0])
    cols = {}
    for key, p in priors.items():
        theta = scipy_dist(p, log_space=True).rvs(size=n, random_state=rng)
        cols[key] = [prior_value(cls, key, float(natural(p, t))) for t in np.atleast_1d(theta)]
    df = pd.DataFrame(cols)
    df["weight"] = 1.0 / n
    write_ensemble(df, paths["posterior"], {"kind": "prior", "sets": n, "scenarios": [s.name for s in scenarios],
                                            "note": "drawn from the priors: no calibration target is measured "
                                                    "on these scenarios"})
    print(f"prior ensemble: {paths['posterior']} ({n} parameter sets over {len(priors)} keys, equal weights)")
    return 0


def cmd_calibrate(args) -> int:
    from sim.calibration.abc import calibrate, stored_settings
    from sim.calibration.report import read_calibration, write_diagnostics, write_posterior
    from sim.scenario import ScenarioError, load_scenario
    from sim.scenario.shipped import find_scenario

    args.files = [str(find_scenario(f)) for f in args.files]
    paths = output_paths(args.files, args.out)
    scenarios, msgs = [], []
    for f in args.files:            # every file's problems at once; --seed and --steps go to calibrate
        try:
            scenarios.append(load_scenario(f, args.overrides))
        except ScenarioError as e:
            msgs += e.messages
    if msgs:
        raise ScenarioError(msgs)
    if args.prior_only is not None:
        return cmd_prior_only(args, scenarios, paths)
    if args.budget is None:
        raise ExperimentError("sim calibrate: give --budget N (or --prior-only N)")
    facts = [f.strip() for f in args.facts.split(",") if f.strip()] if args.facts else None
    timer = Timer()
    try:
        stats = calibrate(scenarios, args.budget, paths["history"], generations=args.generations,
                          particles=args.particles, resume=args.resume, facts=facts, workers=args.workers,
                          scheduler=args.scheduler, seed=args.seed, steps=args.steps)
    except KeyboardInterrupt:
        _, kept = stored_settings(paths["history"]) if paths["history"].exists() else (None, 0)
        if not kept:
            print("interrupted before the first generation finished; nothing kept", file=sys.stderr)
            return 130
        again = [a for a in args.argv if a != "--resume"]
        print(f"interrupted: {kept} generation{'s' if kept != 1 else ''} kept in {paths['history']}; "
              f"continue with:\n  sim {' '.join(again)} --resume", file=sys.stderr)
        return 130
    print(f"stopped: {stats.stopped}")
    if not stored_settings(paths["history"])[1]:
        print("no generation finished: raise --budget", file=sys.stderr)
        return 1
    cal = read_calibration(paths["history"], stats.priors, stats.facts)
    write_posterior(cal, paths["posterior"])
    write_diagnostics(cal, paths["page"], paths["posterior"], stats, "sim " + " ".join(args.argv))
    print(summary(cal))
    print(f"\nposterior: {paths['posterior']} ({len(cal.posterior)} parameter sets)")
    print(f"diagnostics: {paths['page']}")
    if stats.model_runs:
        print(f"{stats.evaluations:,} parameter sets, {stats.model_runs:,} model runs in {stats.seconds:,.1f} s of "
              f"running: {stats.runs_per_second:.2f} simulations/s (wall time {timer.seconds:,.1f} s)")
    else:
        print("no new runs: the history already holds what was asked (raise --budget or --generations)")
    if stats.failures:
        print(f"{stats.failures} runs failed (rejected); the last: {stats.last_failure}", file=sys.stderr)
    return 0


def summary(cal) -> str:
    """The targets under the posterior, as text for the terminal."""
    from sim.calibration.report import _g

    g = cal.generations.iloc[-1]
    head = (f"generation {int(g['generation'])}: threshold "
            + ("none (prior)" if g["threshold"] != g["threshold"] else f"{g['threshold']:.3g}")
            + f", ESS {g['ess']:.0f} of {int(g['accepted'])}")
    rows = [f"{'target':<8}{'band':<18}{'mean':>10}{'5-95 %':>24}  in band"]
    rows += [f"{r.id:<8}{r.band:<18}{_g(r.mean):>10}{_g(r.p05) + ' to ' + _g(r.p95):>24}  {r.in_band:.0%}"
             for r in cal.predictive.itertuples()]
    return head + "\n" + "\n".join(rows)
