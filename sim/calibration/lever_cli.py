"""`sim levers` (registered in sim/cli.py's EXTRA_COMMANDS): a thin layer over sim.calibration.levers
(discovery, settings, runs) and sim.calibration.lever_page (table, words, files)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from sim.calibration.levers import (
    Discovery,
    Lever,
    Setting,
    clean,
    describe,
    discover,
    event_note,
    event_values,
    run_levers,
    shown,
    transformed,
    upper_bound,
    value_at,
)
from sim.experiments.execution import ExperimentError
from sim.experiments.params import apply_params
from sim.scenario import parse_key
from sim.scenario.schema import Scenario

EXAMPLE = """examples:
  sim levers scenarios/antimony_2024.toml scenarios/crackdown_2025.toml --replicates 10 --doc docs/levers.md
  sim levers crackdown_2025 --lever customs.CN.capacity_per_week=x0.25,x4 --lever penalties.arrest_prob=0.1,0.9
  sim levers s.toml --only --lever exporters.trace_prob=0,0.05 --replicates 20 --workers 4

Each lever runs at a low and a high setting (see `sim levers --help`'s description); every
setting runs replicates 0..R-1 on the seeds of the scenario as given, so each change is a
paired difference with a 5-95 % band. Writes <out>/<scenario>/levers-<run-id>/ (levers.csv,
levers.json, tornado.png, levers.md) per scenario, and with --doc one page for all of them
(charts in <doc folder>/img/)."""

DESCRIPTION = """Run a scenario with each enforcement lever at a lower and a higher setting, on common
random numbers with the scenario as given; print and write each lever's effect on illicit
deliveries, the peak price and enforcement cost (plus diverted tonnes, seizures, legitimate
containers inspected) with 5-95 % bands of the paired differences, a tornado chart, and in
words which levers move illicit deliveries beyond the noise and why the others do not.

Levers found in the scenario: inspection capacity (x0.5, x2) and detection technologies
(document checks only; every technology but trace tags added) of the origin, each hub and any
destination that cooperates, and their investigation tips where the scenario has any (x0.5,
x2); trace tags at the origin (never; from the start); smugglers' fine
and sentence (x0.5, x2) and arrest probability (halfway to 0, to 1); exporters' trace
probability and penalty (x0.5, x2); each hub's cooperation (halfway to 0, to 1). An event that
sets the same key is changed the same way."""


# ---------------------------------------------------------------- --lever -------------------
def _split_ends(text: str) -> list[str]:
    """'LOW,HIGH' split at the comma outside brackets and quotes."""
    depth, quote, parts, cur = 0, "", [], ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    return parts + [cur]


FACTOR = re.compile(r"\s*[xX]\s*([0-9.eE+-]+)\s*")


def parse_lever(text: str, scenario: Scenario) -> Lever:
    """'KEY=LOW,HIGH' -> Lever. Each end: xF (a factor, events' values too) or a value as after --set."""
    from sim.scenario import parse_override

    key, eq, rest = text.partition("=")
    key = key.strip()
    ends = _split_ends(rest)
    if not eq or not parse_key(key) or len(ends) != 2 or not all(e.strip() for e in ends):
        raise ExperimentError(f"--lever '{text}': expected KEY=LOW,HIGH, e.g. customs.CN.capacity_per_week=x0.5,x2 "
                              "or penalties.arrest_prob=0.1,0.9")
    base = value_at(scenario, key)
    settings, absolute = [], False
    for end, raw in zip(("low", "high"), ends):
        m = FACTOR.fullmatch(raw)
        if m:
            try:
                f = float(m.group(1))
            except ValueError:
                f = -1.0
            if not (f >= 0 and math.isfinite(f)) or not isinstance(base, (int, float)) or isinstance(base, bool):
                raise ExperimentError(f"--lever '{text}': {raw.strip()} needs a factor >= 0 and a numeric key")
            settings.append(Setting(end, f"x{f:g}", transformed(
                scenario, key, lambda v, f=f: clean(min(float(v) * f, upper_bound(key))))))
        else:
            try:
                _, v = parse_override(f"{key}={raw.strip()}")
            except ValueError as e:
                raise ExperimentError(f"--lever '{text}': {e}") from None
            absolute = True
            settings.append(Setting(end, raw.strip(), {} if v == base else {key: v}))
    for s in settings:
        try:
            apply_params(scenario, s.params)
        except ExperimentError as e:
            raise ExperimentError(f"--lever '{text}': {e.messages[0]}") from None
    evs = [e for e, _ in event_values(scenario, key)]
    note = event_note(scenario, key) if not absolute else (
        f"events {', '.join(evs)} keep their own values of it (give xF to change them too)" if evs else "")
    return Lever(key, *describe(scenario, key), shown(scenario, key, str) if evs else str(base), *settings, note)


def merge(found: Sequence[Lever], given: Sequence[Lever]) -> list[Lever]:
    """Discovered levers with the --lever ones replacing those of the same key, added at the end."""
    keys = [lv.key for lv in given]
    if len(set(keys)) != len(keys):
        raise ExperimentError(f"--lever: each key once (repeated: {', '.join(sorted({k for k in keys if keys.count(k) > 1}))})")
    by_key = {lv.key: lv for lv in given}
    out = [by_key.pop(lv.key, lv) for lv in found]
    return out + list(by_key.values())



# ---------------------------------------------------------------- the command ---------------
def register(subparsers) -> None:
    import argparse

    from sim.experiments.cli import add_executor_args
    from sim.experiments.posterior import add_posterior_arg

    p = subparsers.add_parser("levers", help="each enforcement lever lower and higher: effects with bands, "
                              "tornado chart, reasons", description=DESCRIPTION, epilog=EXAMPLE,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="SCENARIO", help="scenario files or names of shipped scenarios")
    p.add_argument("--lever", action="append", default=[], metavar="KEY=LOW,HIGH",
                   help="add or replace a lever; each end xF (a factor, events' values too) or a value, e.g. "
                        "customs.CN.capacity_per_week=x0.25,x4 (repeatable)")
    p.add_argument("--only", action="store_true", help="run only the --lever levers (no discovery)")
    p.add_argument("--replicates", type=int, default=10, help="replicates per setting (default: 10)")
    p.add_argument("--seed", type=int, help="master seed (default: each scenario's own)")
    p.add_argument("--steps", type=int, help="horizon in steps (default: the scenario's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key before the levers are set (repeatable)")
    add_executor_args(p)
    add_posterior_arg(p)
    p.add_argument("--out", default="results", help="results root (default: results)")
    p.add_argument("--doc", metavar="FILE", help="also write one markdown page for all scenarios (e.g. docs/levers.md)")
    p.add_argument("--no-plots", action="store_true", help="skip the tornado charts")
    p.set_defaults(func=cmd_levers)


def _prepare(args):
    """Scenarios (with --set, --seed, cut to --steps), their levers, skipped notes and the posterior hook."""
    import sys

    from sim.experiments.posterior import posterior_hook
    from sim.scenario import ScenarioError, cut_horizon, load_scenario
    from sim.scenario.shipped import find_scenario

    extra = [("--seed", f"seed={args.seed}")] if args.seed is not None else []
    scenarios, msgs = [], []
    for f in args.files:
        try:
            sc, note = cut_horizon(load_scenario(find_scenario(f), list(args.overrides) + extra), args.steps)
        except ScenarioError as e:
            msgs += e.messages
            continue
        if note:
            print(note, file=sys.stderr)
        scenarios.append(sc)
    if msgs:
        raise ScenarioError(msgs)
    given_keys = [t.partition("=")[0].strip() for t in args.lever]
    post = posterior_hook(args, scenarios, given_keys)
    taken = set(post.posterior.keys) if post.posterior else set()
    plans = []
    for sc in scenarios:
        found = Discovery([], []) if args.only else discover(sc)
        levers = merge(found.levers, [parse_lever(t, sc) for t in args.lever])
        skipped = list(found.skipped)
        for lv in [lv for lv in levers if taken & ({lv.key} | {k for s in lv.settings for k in s.params})]:
            levers.remove(lv)
            skipped.append(f"{lv.label} ({lv.key}): --posterior {args.posterior} draws it per replicate")
        if not levers:
            raise ExperimentError(f"sim levers: no lever to run for {sc.name}" + (
                " (give --lever KEY=LOW,HIGH)" if args.only else ""))
        plans.append((sc, levers, skipped))
    return plans, post


def cmd_levers(args) -> int:
    import datetime as dt
    import sys
    from pathlib import Path

    from sim.calibration import lever_page as page
    from sim.experiments.execution import Timer, check_executor, summary_line
    from sim.outputs.manifest import git_commit
    from sim.outputs.results import atomic_write_text, folder_name, prepare_folder

    if args.replicates < 2:
        raise ExperimentError(f"--replicates: need at least 2 for a band of paired differences (got {args.replicates})")
    check_executor(args.workers, args.scheduler)
    prepare_folder(args.out)
    doc = Path(args.doc) if args.doc else None
    if doc:
        prepare_folder(doc.parent / "img", "--doc")
    plans, post = _prepare(args)
    sections, timer, n_runs, n_failed, status = [], Timer(), 0, 0, 0
    for sc, levers, skipped in plans:
        now = dt.datetime.now(dt.UTC)
        study = run_levers(sc, levers, args.replicates, workers=args.workers,
                           scheduler=args.scheduler, run_fn=post.run_fn, skipped=skipped)
        extra = post.manifest(sc.seed, study.replicates)
        folder = page.write_study(study, args.out, ["sim", *args.argv], now, dt.datetime.now(dt.UTC),
                                  plots=not args.no_plots, extra=extra)
        print(f"\n{sc.name}: {len(levers)} levers, {len(study.replicates)} replicates per setting\n")
        print(page.format_table(study))
        print("\n" + page.format_answer(study))
        print(f"\nresults: {folder}")
        n_runs += len(study.replicates) * (1 + sum(bool(s.params) for lv in levers for s in lv.settings))
        n_failed += len(study.failures)
        for tag, f in study.failures:
            print(f"{sc.name} {tag}: replicate {f.replicate} failed: {f.error}", file=sys.stderr)
        if doc:
            img = doc.parent / "img" / f"levers-{folder_name(sc.name)}.png"
            if not args.no_plots:
                page.tornado(folder / "levers.csv", study, img)
            sections.append(page.markdown_section(study, None if args.no_plots else
                                                  img.relative_to(doc.parent).as_posix()))
    if doc:
        from sim import __version__

        command = " ".join(["sim", *args.argv])
        atomic_write_text(doc, page.markdown_doc(sections, command, __version__, git_commit(),
                                                 dt.date.today().isoformat()))
        print(f"page: {doc}")
    post.say()
    print(summary_line(n_runs, n_failed, timer.seconds, None))
    return 1 if n_failed else status
