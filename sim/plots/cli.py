"""`sim plot` and `sim brief`: redraw charts of results folders, write a one-page PDF briefing."""

from __future__ import annotations

import argparse
import sys

RAW = argparse.RawDescriptionHelpFormatter


def cmd_plot(args) -> int:
    from sim.plots import ResultsError, write_run_charts
    try:
        paths = write_run_charts(args.results, args.format)
    except (ResultsError, ValueError) as e:
        print(f"sim plot: {e}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


def cmd_brief(args) -> int:
    from sim.plots import ResultsError, write_brief
    try:
        out = write_brief(args.results, args.out)
    except (ResultsError, ValueError) as e:
        print(f"sim brief: {e}", file=sys.stderr)
        return 2
    print(out)
    return 0


def register(subparsers) -> None:
    """Add the `plot` and `brief` subcommands to the `sim` parser."""
    help_ = "redraw the charts of a results folder into its charts/ folder"
    p = subparsers.add_parser("plot", help=help_, description=help_, formatter_class=RAW,
                              epilog="example:\n  sim plot results/antimony_ban_2024/20250101T120000Z-1a2b3c "
                                     "--format svg\n  (a scenario folder takes its newest run)")
    p.add_argument("results", metavar="RESULTS_DIR", help="a run folder, or a scenario folder (newest run)")
    p.add_argument("--format", choices=("png", "svg", "pdf"), default="png", help="chart format (default: png)")
    p.set_defaults(func=cmd_plot)

    help_ = "write a one-page A4 briefing (PDF) from one or more results folders"
    p = subparsers.add_parser("brief", help=help_, description=help_, formatter_class=RAW,
                              epilog="example:\n  sim brief results/baseline_2024 results/antimony_ban_2024 "
                                     "--out brief.pdf\n  (the first folder is the baseline; the route map shows "
                                     "the last)")
    p.add_argument("results", nargs="+", metavar="RESULTS_DIR", help="run or scenario folders, baseline first")
    p.add_argument("--out", default="brief.pdf", help="output file, .pdf (default: brief.pdf), .png or .svg")
    p.set_defaults(func=cmd_brief)
