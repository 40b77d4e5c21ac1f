"""The `sim` command: a thin argparse layer over library functions a notebook could call.

Subcommands here: validate, show, list, run. Other modules add their own with one line
in EXTRA_COMMANDS below, a tuple (name, module, one-line help). The module must define

    def register(subparsers) -> None:
        p = subparsers.add_parser("compare", help=..., epilog=EXAMPLE,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument(...)
        p.set_defaults(func=handler)        # handler(args) -> int exit status

The module is imported only when its command is used (so `sim validate` stays fast);
`sim --help` lists it from the one-line help. A module may register several commands.
A handler may raise ScenarioError: it is printed without a traceback and the exit status is 2.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import json
import signal
import sys
import threading
from pathlib import Path

from sim.scenario import ScenarioError, cut_horizon, dump_toml, list_scenarios, load_scenario
from sim.scenario.shipped import default_dir as default_scenario_dir

# (command, module defining register(subparsers), one-line help) -- add yours here.
EXTRA_COMMANDS: list[tuple[str, str, str]] = [
    ("compare", "sim.experiments.cli", "compare KPIs of several scenarios on the same random numbers"),
    ("sweep", "sim.experiments.cli", "run a parameter sweep (grid, Latin hypercube or Sobol)"),
    ("plot", "sim.plots.cli", "redraw charts of a results folder"),
    ("brief", "sim.plots.cli", "write the brief from results: one A4 page (PDF) or slides (PPTX)"),
    ("report", "sim.plots.cli", "write a self-contained HTML report from results"),
    ("validate-facts", "sim.calibration.validation", "check the facts of the record (targets and held-out checks) and write the report"),
    ("dashboard", "sim.dashboard.cli", "open a policy dashboard in the browser (local web page)"),
    ("calibrate", "sim.calibration.cli", "estimate the priors against the calibration targets (ABC-SMC)"),
    ("optimize", "sim.policy.cli", "search for the cheapest mix of levers that reaches a target (NSGA-II)"),
    ("levers", "sim.calibration.lever_cli", "each enforcement lever lower and higher: effects with bands, tornado, why"),
]

RAW = argparse.RawDescriptionHelpFormatter


def _add(sub, name: str, help: str, example: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help, epilog="example:\n  " + example,
                          formatter_class=RAW)


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key (repeatable), e.g. --set customs.CN.capacity_per_week=900")


def _add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-plots", action="store_true", help="skip the charts")
    p.add_argument("--format", choices=("png", "svg", "pdf"), default="png", help="chart format (default: png)")
    p.add_argument("--json", action="store_true",
                   help="print the KPI summary as JSON on stdout (stored units: shares 0-1), for scripts")


# ---------------------------------------------------------------- commands -----------
def cmd_validate(args) -> int:
    status = 0
    for f in args.files:
        try:
            _, note = cut_horizon(load_scenario(f))
            print(f"{f}: ok")
            if note:
                print(f"{f}: note: {note}", file=sys.stderr)
        except ScenarioError as e:
            print(str(e), file=sys.stderr)
            status = 2
    return status


def cmd_show(args) -> int:
    from sim.scenario.shipped import find_scenario

    sys.stdout.write(dump_toml(load_scenario(find_scenario(args.file), args.overrides)))
    return 0


def cmd_list(args) -> int:
    folder = Path(args.dir) if args.dir else default_scenario_dir()
    rows = list_scenarios(folder)
    if not rows:
        print(f"no scenario files (*.toml) in {folder}", file=sys.stderr)
        return 0
    w_name = max(len("name"), *(len(n) for n, _, _ in rows))
    w_file = max(len("file"), *(len(p.name) for _, p, _ in rows))
    print(f"{'name':<{w_name}}  {'file':<{w_file}}  description")
    for name, p, desc in rows:
        print(f"{name:<{w_name}}  {p.name:<{w_file}}  {desc}")
    return 0


PROBE_AT = 50_000  # replicates x steps from which `sim run` estimates its output before starting


def run_and_write(scenario, args, extra: dict | None = None, replicates=None) -> tuple[int, Path | None]:
    """Check the output folder, run the scenario's replicates streaming them to disk, print the KPI
    table (or the JSON summary with --json); return the exit status and the results folder (None if
    none was written). Shared by `sim run` and `sim rerun`.

    Order: the output folder first (so `--out` mistakes cost no computing), then for big requests
    the size estimate, then the runs."""
    from sim.experiments import execution, iter_replicates
    from sim.experiments.cli import ChartStep, print_failures, summary_line
    from sim.experiments.posterior import posterior_hook
    from sim.outputs import results as outputs
    from sim.outputs.manifest import executor
    from sim.outputs.tables import format_summary, summary_json

    workers = execution.check_executor(args.workers, args.scheduler)
    reps = execution.replicate_list(scenario.replicates if replicates is None else replicates)
    parent = outputs.run_parent(args.out, scenario.name)
    charts = ChartStep(args.format, args.no_plots)
    post = posterior_hook(args, [scenario])
    if len(reps) * scenario.steps >= PROBE_AT:
        _plan_big_run(scenario, len(reps), parent, charts)
    if not args.scheduler:
        execution.prestart(workers, len(reps))
    started = dt.datetime.now(dt.timezone.utc)
    failures = []
    try:
        with outputs.RunWriter(scenario, parent, reps) as writer:
            for rep, outcome in iter_replicates(scenario, reps, workers=args.workers,
                                                scheduler=args.scheduler, progress=True, run_fn=post.run_fn):
                if isinstance(outcome, execution.RunFailure):
                    failures.append(outcome)
                    writer.skip(rep)
                else:
                    writer.add(outcome)
            ended = dt.datetime.now(dt.timezone.utc)
            wall = (ended - started).total_seconds()
            print_failures(failures)
            if not writer.done:
                print(summary_line(len(failures), len(failures), wall, None), file=sys.stderr)
                return 1, None
            table = writer.kpi_table()
            if not args.json:
                print(format_summary(table))
            manifest_extra = {"executor": executor(args.workers, args.scheduler),
                              **post.manifest(scenario.seed, reps), **(extra or {})}
            if failures:
                manifest_extra["failed_replicates"] = [
                    {"replicate": f.replicate, "error": f.error, "traceback": f.traceback} for f in failures]
            run_dir = writer.commit(["sim", *args.argv], started, ended, extra_manifest=manifest_extra,
                                    before_commit=charts)
    except KeyboardInterrupt as e:
        print("interrupted; no results written", file=sys.stderr)
        return interrupt_status(e), None
    done = summary_line(len(writer.done) + len(failures), len(failures), wall, run_dir)
    if args.json:
        print(json.dumps(summary_json(table, results=str(run_dir), run_id=run_dir.name, scenario=scenario.name,
                                      replicates=len(writer.done), failed=len(failures),
                                      wall_time_s=round(wall, 3)), indent=2))
        print(done, file=sys.stderr)
    else:
        post.say()
        print(f"\nresults: {run_dir}")
        print(done)
    if charts.error:
        print(charts.error_line(run_dir), file=sys.stderr)
    return (1 if failures or charts.error else 0), run_dir


def cmd_run(args) -> int:
    from sim.scenario.shipped import find_scenario

    extra = [(f"--{k}", f"{k}={v}") for k, v in (("seed", args.seed), ("replicates", args.replicates))
             if v is not None]
    path = find_scenario(args.file)
    scenario, note = cut_horizon(load_scenario(path, list(args.overrides) + extra), args.steps)
    if note:
        print(note, file=sys.stderr)
    if not args.posterior:
        print(ensemble_note(path), file=sys.stderr, end="")
    return run_and_write(scenario, args)[0]


def ensemble_note(path) -> str:
    """A line saying that a calibrated ensemble exists for this scenario and is not used ("" if none)."""
    from sim.experiments.posterior import posterior_for

    try:
        post = posterior_for(path)
    except (OSError, ValueError):        # an unreadable base file: the loader has said what it needs to
        return ""
    if post is None:
        return ""
    return (f"note: this run uses the scenario's own values; {post} holds its parameter ensemble: add "
            f"--posterior {post} for bands that include parameter uncertainty\n")


def cmd_rerun(args) -> int:
    """Run a results folder's scenario again with its seeds and replicates; say whether the KPIs match."""
    from sim.outputs.read import ResultsError, kpis_equal, read_kpis_json, rerun_spec

    try:
        scenario, reps, before = rerun_spec(Path(args.results))
    except ResultsError as e:
        print(f"sim rerun: {e}", file=sys.stderr)
        return 2
    rerun_of = {"rerun_of": {"run_id": before.get("run_id"), "path": str(Path(args.results).resolve())}}
    status, new = run_and_write(scenario, args, rerun_of, replicates=reps)
    old = Path(args.results) / "kpis.json"
    if status == 0 and old.is_file():
        try:
            same = kpis_equal(read_kpis_json(old)[0], read_kpis_json(new / "kpis.json")[0])
        except ResultsError as e:
            print(f"sim rerun: {e}", file=sys.stderr)
            return 2
        verdict = ("KPIs identical to the original run" if same else
                   f"KPIs differ from the original run (it used sim {before.get('versions', {}).get('sim', '?')}, "
                   f"commit {before.get('git_commit', '?')})")
        print(verdict, file=sys.stderr if args.json else sys.stdout)
        return 0 if same else 1
    return status


def _plan_big_run(scenario, n: int, parent: Path, charts) -> None:
    """Estimate what a big run writes (from a few steps run here); refuse it if the disk is
    too small, say how much before starting, and skip charts that would not fit in memory."""
    from sim.experiments.execution import probe_size
    from sim.outputs.results import OutputError, available_memory, fmt_bytes, free_bytes

    disk, memory = probe_size(scenario)
    need, free = disk * n, free_bytes(parent)
    if need > 0.95 * free:
        raise OutputError(28, f"--replicates {n}: the time series need about {fmt_bytes(need)} "
                              f"({fmt_bytes(disk)} per replicate) but {parent} has {fmt_bytes(free)} free; "
                              "use fewer --replicates or --steps, or another --out")
    print(f"writing about {fmt_bytes(need)} of time series ({n:,} replicates x {fmt_bytes(disk)}) "
          f"to {parent} ({fmt_bytes(free)} free), streamed replicate by replicate", file=sys.stderr)
    if not charts.skip and memory * n > 0.25 * available_memory():
        charts.skip = (f"charts skipped: they need the whole time series in memory (about "
                       f"{fmt_bytes(memory * n)}); draw them from a run with fewer replicates")
        print(charts.skip, file=sys.stderr)


def interrupt_status(e: BaseException) -> int:
    """Exit status after Ctrl-C or a termination signal: 128 + the signal number."""
    return 128 + getattr(e, "signum", signal.SIGINT)




# ---------------------------------------------------------------- parser -------------
class _Version(argparse.Action):
    """--version, looking the version up only when asked (sim/__init__.py says why)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from sim import __version__

        print(f"sim {__version__}")
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser. When `command` is an extra command, only its module is imported."""
    parser = argparse.ArgumentParser(
        prog="sim", formatter_class=RAW,
        description="Agent-based simulation of critical-mineral smuggling under export controls.",
        epilog="examples:\n  sim list\n  sim validate scenarios/*.toml\n"
               "  sim run scenarios/antimony_2024.toml --replicates 20 --seed 1")
    parser.add_argument("--version", action=_Version, nargs=0, help="show program's version number and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = _add(sub, "validate", "check scenario files; print FILE: ok or one line per problem",
             "sim validate scenarios/*.toml")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_validate)

    p = _add(sub, "show", "print the fully resolved scenario (extends, defaults and --set applied) as TOML",
             "sim show scenarios/antimony_2024.toml --set penalties.arrest_prob=0.5")
    p.add_argument("file", metavar="FILE")
    _add_set(p)
    p.set_defaults(func=cmd_show)

    p = _add(sub, "list", "list scenario files with their descriptions", "sim list --dir scenarios")
    p.add_argument("--dir", default=None, help="folder to list (default: ./scenarios, else the shipped ones)")
    p.set_defaults(func=cmd_list)

    p = _add(sub, "run", "run Monte Carlo replicates and write a results folder",
             "sim run scenarios/antimony_2024.toml --replicates 20 --seed 1 --set penalties.arrest_prob=0.5\n"
             "  sim run antimony_2024 --steps 4     (a shipped scenario, by name: see `sim list`)")
    p.add_argument("file", metavar="FILE", help="a scenario file, or the name of a shipped scenario")
    p.add_argument("--replicates", type=int, help="number of replicates (default: the scenario's)")
    p.add_argument("--seed", type=int, help="master seed (default: the scenario's)")
    p.add_argument("--steps", type=int, help="horizon in steps (default: the scenario's)")
    _add_set(p)
    p.add_argument("--out", default="results", help="results root folder (default: results)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: all CPUs; 1 runs in this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on Dask: tcp://HOST:PORT, or local-dask for a local cluster ('dist' extra)")
    _add_output_args(p)
    p.add_argument("--posterior", default=None, metavar="FILE",
                   help="draw one parameter set per replicate from this posterior ensemble (sim calibrate); "
                        "bands then combine parameter uncertainty with noise")
    p.set_defaults(func=cmd_run)

    p = _add(sub, "rerun", "run a results folder again from its manifest (same scenario, seeds, replicates) "
             "and check that the KPIs match", "sim rerun results/antimony_2024/20250301T141502Z-a3f9c1")
    p.add_argument("results", metavar="RESULTS_DIR", help="a run folder (with manifest.json)")
    p.add_argument("--out", default="results", help="results root folder for the new run (default: results)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: all CPUs; results do not depend on it)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="run on Dask, as for `sim run`")
    _add_output_args(p)
    p.set_defaults(func=cmd_rerun)

    for name, module, help in EXTRA_COMMANDS:
        if name == command:
            importlib.import_module(module).register(sub)
        elif command not in {n for n, _, _ in EXTRA_COMMANDS}:
            sub.add_parser(name, help=help, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `sim`; returns the exit status (2 for bad input, 130 if interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        args = build_parser(command).parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return e.code if isinstance(e.code, int) else 2
    except ImportError as e:
        print(f"sim {command}: not available ({e})", file=sys.stderr)
        return 2
    if not getattr(args, "func", None):
        build_parser().print_help(sys.stderr)
        return 2
    args.argv = argv
    with _terminate_like_ctrl_c():
        return _call(args)


@contextlib.contextmanager
def _terminate_like_ctrl_c():
    """Ctrl-C, SIGTERM and SIGHUP raise Signalled (a KeyboardInterrupt) during the block, so a
    killed run stops its workers and removes its partial output as Ctrl-C does, and a Ctrl-C
    that Python drops in a destructor is raised again at the next completed run."""
    from sim.signals import clear_signal, on_signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    clear_signal()
    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        clear_signal()


def _call(args) -> int:
    """Run the command's handler; bad input and OS errors become one line and status 2."""
    try:
        return args.func(args)
    except ScenarioError as e:
        print(str(e), file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `sim show x.toml | head`
        return 0
    except OSError as e:  # e.g. --out in a folder we may not write to
        print(f"sim {args.command}: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print("interrupted", file=sys.stderr)
        return interrupt_status(e)

