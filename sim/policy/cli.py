"""`sim optimize` (registered in sim/cli.py's EXTRA_COMMANDS): a thin layer over sim.policy."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
from pathlib import Path

from sim.experiments.cli import add_executor_args
from sim.experiments.execution import ExperimentError, Timer, summary_line

EXAMPLE = """examples:
  sim optimize scenarios/crackdown_2025.toml \\
      --lever customs.CN.capacity_per_week=200:3000:int --lever penalties.fine_multiple=0:5:0.25 \\
      --lever countries.TH.cooperation=0:1:0.05 \\
      --objective enforcement_cost_usd:min --objective illicit_delivered_t:min \\
      --constraint "illicit_delivered_t<=0.5x" --budget 120 --replicates 4 --seed 1
  sim optimize s.toml ... --study results/s/optimize-X --resume      # after Ctrl-C, or to search longer

Levers are scenario keys set like --set (KEY=LO:HI continuous, KEY=LO:HI:STEP on a grid,
KEY=LO:HI:int whole numbers); an event's own setting is a lever too:
  --lever 'events.joint_operation.set."customs.CN.capacity_per_week"=500:3000:int'
Objectives are KPIs (or lever keys) with :min or :max. Constraints hold on the mean over
replicates, in the KPI's stored unit (shares 0-1), or relative to the status quo: 0.5x.
"Cheapest" minimises --cost (default enforcement_cost_usd). Every mix runs replicates
0..R-1 with the same seeds (common random numbers). The study folder holds study.db
(optuna, SQLite: open it with optuna-dashboard or optuna.load_study), frontier.csv/.parquet,
candidates.parquet, cheapest.csv, frontier.png, answer.txt; each frontier row carries the
`sim run` command that reproduces its numbers. Ctrl-C keeps every finished mix: continue
with --study DIR --resume and the search ends as if never stopped."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "optimize", help="search for the cheapest mix of levers that reaches a target (NSGA-II)",
        description="Multi-objective search over scenario keys (optuna NSGA-II, resumable SQLite study).",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE", help="scenario file")
    p.add_argument("--lever", action="append", required=True, metavar="KEY=LO:HI[:STEP|:int]",
                   help="a scenario key to vary (repeatable)")
    p.add_argument("--objective", action="append", required=True, metavar="KPI:min|max",
                   help="a KPI (or lever key) to minimise or maximise (repeatable)")
    p.add_argument("--constraint", action="append", default=[], metavar="KPI<=VALUE",
                   help="a target on a KPI's mean, e.g. 'illicit_delivered_t<=0.5x' (repeatable)")
    p.add_argument("--cost", default="enforcement_cost_usd", metavar="KPI",
                   help="what 'cheapest' minimises (default: enforcement_cost_usd)")
    p.add_argument("--budget", type=int, default=100, help="mixes to evaluate in all (default: 100)")
    p.add_argument("--population", type=int, default=12, help="NSGA-II generation size (default: 12)")
    p.add_argument("--replicates", type=int, help="replicates per mix (default: the scenario's)")
    p.add_argument("--seed", type=int, help="master seed of the replicates and the search (default: the scenario's)")
    p.add_argument("--steps", type=int, help="horizon in steps (default: the scenario's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key for every mix (repeatable)")
    p.add_argument("--posterior", metavar="FILE", help="posterior ensemble (Parquet, from sim calibrate): one "
                   "parameter set per replicate, the same for every mix; adds the robust choice")
    p.add_argument("--study", metavar="DIR", help="study folder (default: results/<name>/optimize-<run-id>)")
    p.add_argument("--resume", action="store_true", help="continue the search in --study")
    add_executor_args(p)
    p.add_argument("--no-plots", action="store_true", help="skip the frontier chart")
    p.add_argument("--format", choices=("png", "svg", "pdf"), default="png", help="chart format (default: png)")
    p.set_defaults(func=cmd_optimize)


def posterior_draws(args, base, replicates: int, lever_keys: list[str]):
    """(one override dict per replicate, the posterior's manifest entry) for --posterior, or (None, {}).

    sim.experiments.posterior draws replicate r's parameter set from the scenario's master
    seed alone, as `sim run --posterior` does, so every mix (and each row's `sim run`
    command) runs the same draws. The ensemble may not set a lever or a --set key.
    """
    if not args.posterior:
        return None, {}
    from sim.experiments.posterior import posterior_hook

    hook = posterior_hook(args, [base], fixed_keys=lever_keys)
    return [hook.posterior.params(base.seed, r) for r in range(replicates)], hook.manifest(base.seed, replicates)


def cmd_optimize(args) -> int:
    from sim.outputs import results as outputs
    from sim.policy.levers import check_name, parse_constraint, parse_lever, parse_objective
    from sim.policy.search import STUDY_FILE, make_problem, optimize
    from sim.scenario import load_scenario

    if args.resume and not args.study:
        raise ExperimentError("--resume: give --study with the folder of the search to continue")
    levers = [parse_lever(t) for t in args.lever]
    keys = [lv.key for lv in levers]
    objectives = [parse_objective(t, keys) for t in args.objective]
    constraints = [parse_constraint(t, keys) for t in args.constraint]
    check_name(args.cost, keys, "--cost")
    overrides = list(args.overrides) + [f"{k}={v}" for k, v in (("seed", args.seed), ("steps", args.steps))
                                        if v is not None]
    from sim.scenario.shipped import find_scenario

    args.file = str(find_scenario(args.file))
    base = load_scenario(args.file, overrides)
    reps = args.replicates if args.replicates is not None else base.replicates
    draws, post_manifest = posterior_draws(args, base, reps, keys)
    problem = make_problem(args.file, levers, objectives, constraints, cost=args.cost, replicates=reps,
                           overrides=overrides, population=args.population, draws=draws, posterior=args.posterior)
    for note in problem.notes:
        print(note, file=sys.stderr)
    out = Path(args.study) if args.study else (
        Path("results") / outputs.folder_name(base.name) / f"optimize-{outputs.new_run_id()}")
    timer, started = Timer(), dt.datetime.now(dt.timezone.utc)
    try:
        study = optimize(problem, out, args.budget, resume=args.resume, workers=args.workers,
                         scheduler=args.scheduler, progress=True)
    except KeyboardInterrupt:
        if not (out / STUDY_FILE).is_file():
            print("interrupted before the search started; nothing was saved", file=sys.stderr)
            return 130
        again = [a for a in args.argv if a != "--resume"] + ([] if args.study else ["--study", str(out)])
        print(f"interrupted; every finished mix is saved in {out}. Continue with:\n"
              f"  sim {shlex.join(again)} --resume", file=sys.stderr)
        return 130
    report_files = finish(problem, study, out, args.format, args.no_plots)
    manifest = {"kind": "optimize", "command_line": ["sim", *args.argv], "started": started.isoformat(),
                "ended": dt.datetime.now(dt.timezone.utc).isoformat(), "resumed": bool(args.resume),
                "budget": args.budget, "spec": problem.spec(), "versions": outputs.versions(),
                "git_commit": outputs.git_commit(), "scenario": base.model_dump(mode="json"), **post_manifest}
    outputs.atomic_write_text(out / "optimize.json", json.dumps(outputs.jsonable(manifest), indent=2) + "\n")
    print((out / "answer.txt").read_text(encoding="utf-8"), end="")
    failed = sum(t.state.name == "FAIL" for t in study.trials)
    done = sum(t.state.is_finished() for t in study.trials)
    print(f"\nfiles: {', '.join(p.name for p in report_files)}")
    print(summary_line(done, failed, timer.seconds, out).replace("runs", "mixes", 1))
    return 1 if failed else 0


def finish(problem, study, out: Path, fmt: str = "png", no_plots: bool = False) -> list[Path]:
    """Write the report files (and the chart) of a study; return their paths."""
    from sim.policy.frontier import build_report, write_report

    report = build_report(problem, study)
    files = write_report(report, out)
    if not no_plots and len(report.candidates):
        from sim.policy.charts import write_frontier_chart

        files.append(write_frontier_chart(out, fmt))
    return files


