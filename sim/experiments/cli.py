"""`sim compare` and `sim sweep` (registered in sim/cli.py's EXTRA_COMMANDS), and helpers for `sim run`."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from sim.experiments.compare import (
    common_seed_scenarios,
    compare,
    crn_note,
    draw_charts,
    write_compare,
)
from sim.experiments.execution import (
    ExperimentError,
    RunFailure,
    Timer,
    check_executor,
    replicate_list,
    summary_line,
)
from sim.experiments.posterior import add_posterior_arg, posterior_hook
from sim.experiments.sweep import parse_vary, sweep
from sim.scenario import ScenarioError, cut_horizon, load_scenario

RAW = argparse.RawDescriptionHelpFormatter

COMPARE_EXAMPLE = """examples:
  sim compare scenarios/baseline_2024.toml scenarios/antimony_2024.toml --replicates 20
  sim compare a.toml b.toml c.toml --replicates 50 --workers 8 --seed 3 --out results
  sim compare a.toml b.toml --replicates 200 --scheduler tcp://10.0.0.5:8786

All scenarios run the same replicate seeds (master seed of the first file, or --seed), so
each difference is paired replicate by replicate; "diff [p05, p95]" is the 5-95 % range of
the paired differences to the first scenario."""

SWEEP_EXAMPLE = """examples:
  sim sweep scenarios/antimony_2024.toml --vary customs.CN.capacity_per_week=100:900:5 --replicates 10
  sim sweep s.toml --vary penalties.arrest_prob=0.1:0.9:64 --vary penalties.fine_multiple=0:5 \\
      --design sobol --replicates 4 --workers 8
  sim sweep s.toml --vary smugglers.initial=50:400:9 --replicates 10 --out results/s/sweep-X --resume

grid: N points per key, every combination; lhs: N points in all (Latin hypercube);
sobol: N base samples, N x (keys + 2) points, then first-order and total Sobol indices.
Integer keys get rounded values. Every point runs the same replicate seeds.
A sweep stopped with Ctrl-C continues with the same command plus --out DIR --resume."""


def add_executor_args(p: argparse.ArgumentParser) -> None:
    """--workers and --scheduler, shared by run, compare and sweep."""
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: all CPUs; 1 runs in this process)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on Dask: tcp://HOST:PORT of a running scheduler, or local-dask to start a "
        "local cluster of --workers processes (needs the 'dist' extra)",
    )


def _common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--replicates", type=int, help="replicates (default: the (first) scenario's)")
    p.add_argument("--seed", type=int, help="master seed (default: the (first) scenario's)")
    p.add_argument("--steps", type=int, help="horizon in steps (default: the scenario's)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key (repeatable; applies to every scenario)",
    )
    add_executor_args(p)
    add_posterior_arg(p)
    p.add_argument("--no-plots", action="store_true", help="skip the charts")
    p.add_argument(
        "--format", choices=("png", "svg", "pdf"), default="png", help="chart format (default: png)"
    )


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare KPIs of several scenarios on the same random numbers",
        description="Run scenarios on common random numbers and compare their KPIs.",
        epilog=COMPARE_EXAMPLE,
        formatter_class=RAW,
    )
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="two or more scenario files; the first is the baseline"
    )
    _common_args(p)
    p.add_argument("--out", default="results", help="results root (default: results)")
    p.set_defaults(func=cmd_compare)

    p = subparsers.add_parser(
        "sweep",
        help="run a parameter sweep (grid, Latin hypercube or Sobol)",
        description="Vary scenario keys over a design and record every run's KPIs.",
        epilog=SWEEP_EXAMPLE,
        formatter_class=RAW,
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="KEY=LO:HI:N",
        help="key to vary from LO to HI (repeatable); N: grid points per key, or design size",
    )
    p.add_argument(
        "--design", choices=("grid", "lhs", "sobol"), default="grid", help="design (default: grid)"
    )
    _common_args(p)
    p.add_argument("--out", default=None, help="sweep folder (default: results/<name>/sweep-<run-id>)")
    p.add_argument(
        "--resume", action="store_true", help="continue the sweep in --out, skipping finished runs"
    )
    p.set_defaults(func=cmd_sweep)


def _overrides(args) -> list:
    extra = [(f"--{k}", f"{k}={v}") for k, v in (("seed", args.seed),) if v is not None]
    return list(args.overrides) + extra


def _load_all(files, args) -> list:
    """Load every file, shortened to --steps; report the problems of all files at once."""
    out, msgs = [], []
    for f in files:
        try:
            out.append(_load(f, args))
        except ScenarioError as e:
            msgs += e.messages
    if msgs:
        raise ScenarioError(msgs)
    return out


def _load(path, args):
    """One scenario with --set and --seed applied, shortened to --steps (what that cuts is said)."""
    from sim.scenario.shipped import find_scenario

    scenario, note = cut_horizon(load_scenario(find_scenario(path), _overrides(args)), args.steps)
    if note:
        print(note, file=sys.stderr)
    return scenario


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def run_charts(fmt: str, no_plots: bool):
    """before_commit callback drawing a run's charts inside its partial folder (None when skipped)."""
    if no_plots:
        return None
    return lambda run_dir: draw_charts("write_run_charts", run_dir, fmt)


class ChartStep:
    """before_commit step of `sim run`: draw the charts in the partial folder, and remember a
    failure (a full disk, a chart error) instead of losing the results over it.

    `skip`: None, or the reason the charts are not drawn. `error`: the failure, one line.
    """

    def __init__(self, fmt: str, no_plots: bool):
        self.fmt, self.skip, self.error = fmt, ("--no-plots" if no_plots else None), None
        self.drawn = 0

    def __call__(self, run_dir: Path) -> None:
        if self.skip:
            return
        import sim.plots

        try:
            sim.plots.write_run_charts(run_dir, self.fmt)
        except Exception as e:  # noqa: BLE001 - the results are complete; say what is missing
            where = f": {e.filename}" if isinstance(e, OSError) and e.filename else ""
            self.error = f"{type(e).__name__}: {getattr(e, 'strerror', None) or e}{where}"
        charts = run_dir / "charts"
        self.drawn = sum(1 for p in charts.iterdir() if not p.name.startswith(".")) if charts.is_dir() else 0

    def error_line(self, run_dir: Path) -> str:
        return (f"charts incomplete ({self.drawn} drawn): {self.error}; the results are complete, "
                f"redraw the charts with: sim plot {run_dir}")


def print_failures(failures: list, label: str = "") -> None:
    """One line per failed replicate on stderr."""
    for f in failures:
        print(f"{label}replicate {f.replicate} failed: {f.error}", file=sys.stderr)


def split_failures(results: list, label: str = "") -> tuple[list, dict]:
    """(successful results, manifest entry for the failed ones); prints one line per failure."""
    from sim.experiments.compare import failure_manifest

    print_failures([f for f in results if isinstance(f, RunFailure)], label)
    return [r for r in results if not isinstance(r, RunFailure)], failure_manifest(results)


def cmd_compare(args) -> int:
    if len(args.files) < 2:
        raise ExperimentError("sim compare: give two or more scenario files (the first is the baseline)")
    scenarios = common_seed_scenarios(_load_all(args.files, args))
    reps = replicate_list(args.replicates if args.replicates is not None else scenarios[0].replicates)
    check_executor(args.workers, args.scheduler)
    from sim.outputs import results as outputs
    from sim.outputs.manifest import executor

    outputs.prepare_folder(args.out)  # before any computing
    post = posterior_hook(args, scenarios)
    timer, started = Timer(), _now()
    table, results = compare(scenarios, reps, args.workers, args.scheduler, post.run_fn, progress=True)
    ended = _now()
    for name, res in results.items():
        split_failures(res, label=f"{name}: ")
    n_failed = sum(isinstance(r, RunFailure) for res in results.values() for r in res)
    out = write_compare(
        args.out,
        scenarios,
        results,
        table,
        ["sim", *args.argv],
        started,
        ended,
        args.format,
        run_charts=run_charts(args.format, args.no_plots),
        compare_charts=not args.no_plots,
        extra_manifest={"executor": executor(args.workers, args.scheduler),
                        **post.manifest(scenarios[0].seed, reps)},
    )
    from sim.outputs.tables import format_comparison

    print(format_comparison(table))
    print("\n" + crn_note(scenarios, reps))
    post.say()
    print(summary_line(len(scenarios) * len(reps), n_failed, timer.seconds, out))
    return 1 if n_failed else 0


def cmd_sweep(args) -> int:
    vary = [parse_vary(v) for v in args.vary]
    if args.resume and not args.out:
        raise ExperimentError("--resume: give --out with the folder of the sweep to continue")
    scenario = _load(args.file, args)
    from sim.outputs import results as outputs

    out = (
        Path(args.out)
        if args.out
        else (Path("results") / outputs.folder_name(scenario.name) / f"sweep-{outputs.new_run_id()}")
    )
    reps = args.replicates if args.replicates is not None else scenario.replicates
    post = posterior_hook(args, [scenario], [v.key for v in vary])
    post.check_sweep_folder(out, args.resume)
    timer, started = Timer(), _now()
    try:
        df = sweep(
            scenario,
            vary,
            args.design,
            reps,
            out,
            resume=args.resume,
            workers=args.workers,
            scheduler=args.scheduler,
            run_fn=post.run_fn,
            progress=True,
        )
    except KeyboardInterrupt as e:
        from sim.cli import interrupt_status

        done = len(list((out / "runs").glob("*.parquet"))) if (out / "runs").is_dir() else 0
        again = [a for a in args.argv if a != "--resume"]
        if not args.out:
            again += ["--out", str(out)]
        print(
            f"interrupted with {done} runs saved in {out}; continue with:\n  sim {' '.join(again)} --resume",
            file=sys.stderr,
        )
        return interrupt_status(e)
    try:
        return _finish_sweep(args, scenario, vary, reps, out, df, started, timer, post)
    except KeyboardInterrupt as e:
        from sim.cli import interrupt_status

        again = [a for a in args.argv if a != "--resume"] + ([] if args.out else ["--out", str(out)])
        print(f"interrupted while writing the summary and charts; every run is saved in {out}; "
              f"finish with:\n  sim {' '.join(again)} --resume", file=sys.stderr)
        return interrupt_status(e)


def _finish_sweep(args, scenario, vary, reps, out: Path, df, started, timer, post) -> int:
    """After the runs: sweep.json, failures, Sobol table, charts and the summary line."""
    from sim.outputs import results as outputs
    from sim.outputs.manifest import executor

    manifest = {
        "kind": "sweep",
        "scenario_name": scenario.name,
        "command_line": ["sim", *args.argv],
        "started": started.isoformat(),
        "ended": _now().isoformat(),
        "resumed": bool(args.resume),
        "design": args.design,
        "vary": [v.__dict__ for v in vary],
        "master_seed": scenario.seed,
        "replicates": reps,
        "versions": outputs.versions(),
        "git_commit": outputs.git_commit(),
        "scenario": scenario.model_dump(mode="json"),
        "executor": executor(args.workers, args.scheduler),
        **post.manifest(scenario.seed, replicate_list(reps)),
    }
    # not manifest.json: the folder is not a run folder
    outputs.atomic_write_text(out / "sweep.json", outputs.json_text(manifest))
    failed = df[df["error"] != ""]
    for _, row in failed.iterrows():
        print(f"{row['run_key']} failed: {row['error']}", file=sys.stderr)
    sobol = None
    if args.design == "sobol":
        import pandas as pd

        sobol = pd.read_csv(out / "sobol.csv")
        print(sobol.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    chart_error = None
    if not args.no_plots:
        import sim.plots

        try:
            sim.plots.write_sweep_charts(out, df[df["error"] == ""], sobol, args.format)
        except Exception as e:  # noqa: BLE001 - the sweep's data are complete; say what is missing
            where = f": {e.filename}" if isinstance(e, OSError) and e.filename else ""
            chart_error = f"{type(e).__name__}: {getattr(e, 'strerror', None) or e}{where}"
    n_points = df["point"].nunique() if len(df) else 0
    print(f"{n_points} points x {len(replicate_list(reps))} replicates")
    print(summary_line(len(df), len(failed), timer.seconds, out))
    if chart_error:
        print(f"charts incomplete: {chart_error}; the sweep's data are complete in {out}", file=sys.stderr)
    return 1 if len(failed) or chart_error else 0
