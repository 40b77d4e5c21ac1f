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
import datetime as dt
import importlib
import sys
from pathlib import Path

from sim.scenario import ScenarioError, dump_toml, list_scenarios, load_scenario

# (command, module defining register(subparsers), one-line help) -- add yours here.
EXTRA_COMMANDS: list[tuple[str, str, str]] = [
    ("compare", "sim.experiments.cli", "compare KPIs of several scenarios on the same random numbers"),
    ("sweep", "sim.experiments.cli", "run a parameter sweep (grid, Latin hypercube or Sobol)"),
    ("plot", "sim.plots.cli", "redraw charts of a results folder"),
    ("brief", "sim.plots.cli", "write a PDF briefing from results"),
    ("validate-facts", "sim.calibration.facts", "check the seed's stylized facts S1-S7 and write the report"),
    ("optimize", "sim.policy.cli", "search for the cheapest mix of levers that reaches a target (NSGA-II)"),
]

RAW = argparse.RawDescriptionHelpFormatter


def _add(sub, name: str, help: str, example: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help, epilog="example:\n  " + example,
                          formatter_class=RAW)


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key (repeatable), e.g. --set customs.CN.capacity_per_week=900")


# ---------------------------------------------------------------- commands -----------
def cmd_validate(args) -> int:
    status = 0
    for f in args.files:
        try:
            load_scenario(f)
            print(f"{f}: ok")
        except ScenarioError as e:
            print(str(e), file=sys.stderr)
            status = 2
    return status


def cmd_show(args) -> int:
    sys.stdout.write(dump_toml(load_scenario(args.file, args.overrides)))
    return 0


def default_scenario_dir() -> Path:
    """./scenarios if it exists, else the repository's scenarios/ next to the package."""
    here = Path("scenarios")
    return here if here.is_dir() else Path(__file__).resolve().parent.parent / "scenarios"


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


def cmd_run(args) -> int:
    from sim.experiments import run_replicates
    from sim.experiments.cli import run_charts, split_failures, summary_line
    from sim.outputs import results as outputs
    from sim.outputs.tables import format_summary, kpi_table

    extra = [(f"--{k}", f"{k}={v}") for k, v in
             (("seed", args.seed), ("steps", args.steps), ("replicates", args.replicates)) if v is not None]
    scenario = load_scenario(args.file, list(args.overrides) + extra)
    started = dt.datetime.now(dt.timezone.utc)
    try:
        results = run_replicates(scenario, scenario.replicates, workers=args.workers,
                                 scheduler=args.scheduler, progress=True)
        ended = dt.datetime.now(dt.timezone.utc)
        results, failures = split_failures(results)  # prints one line per failed replicate
        failed = failures.get("failed_replicates", [])
        if not results:
            wall = (ended - started).total_seconds()
            print(summary_line(len(failed), len(failed), wall, None), file=sys.stderr)
            return 1
        run_dir = outputs.write_run(scenario, results, args.out, ["sim", *args.argv], started, ended,
                                    extra_manifest=failures or None,
                                    before_commit=run_charts(args.format, args.no_plots))
    except KeyboardInterrupt:
        print("interrupted; no results written", file=sys.stderr)
        return 130
    print(format_summary(kpi_table(results)))
    print(f"\nresults: {run_dir}")
    print(summary_line(len(results) + len(failed), len(failed), (ended - started).total_seconds(), run_dir))
    return 1 if failed else 0


# ---------------------------------------------------------------- parser -------------
def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser. When `command` is an extra command, only its module is imported."""
    parser = argparse.ArgumentParser(
        prog="sim", formatter_class=RAW,
        description="Agent-based simulation of critical-mineral smuggling under export controls.",
        epilog="examples:\n  sim list\n  sim validate scenarios/*.toml\n"
               "  sim run scenarios/antimony_ban_2024.toml --replicates 20 --seed 1")
    from sim import __version__
    parser.add_argument("--version", action="version", version=f"sim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = _add(sub, "validate", "check scenario files; print FILE: ok or one line per problem",
             "sim validate scenarios/*.toml")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_validate)

    p = _add(sub, "show", "print the fully resolved scenario (extends, defaults and --set applied) as TOML",
             "sim show scenarios/antimony_ban_2024.toml --set penalties.arrest_prob=0.5")
    p.add_argument("file", metavar="FILE")
    _add_set(p)
    p.set_defaults(func=cmd_show)

    p = _add(sub, "list", "list scenario files with their descriptions", "sim list --dir scenarios")
    p.add_argument("--dir", default=None, help="folder to list (default: ./scenarios, else the shipped ones)")
    p.set_defaults(func=cmd_list)

    p = _add(sub, "run", "run Monte Carlo replicates and write a results folder",
             "sim run scenarios/antimony_ban_2024.toml --replicates 20 --seed 1 --set penalties.arrest_prob=0.5")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--replicates", type=int, help="number of replicates (default: the scenario's)")
    p.add_argument("--seed", type=int, help="master seed (default: the scenario's)")
    p.add_argument("--steps", type=int, help="horizon in steps (default: the scenario's)")
    _add_set(p)
    p.add_argument("--out", default="results", help="results root folder (default: results)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: all CPUs; 1 runs in this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on Dask: tcp://HOST:PORT, or local-dask for a local cluster ('dist' extra)")
    p.add_argument("--no-plots", action="store_true", help="skip the charts")
    p.add_argument("--format", choices=("png", "svg", "pdf"), default="png", help="chart format (default: png)")
    p.set_defaults(func=cmd_run)

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
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

