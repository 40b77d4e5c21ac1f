"""`sim plot`, `sim brief` and `sim report`: redraw charts of results folders; write the brief as
one A4 page (PDF), slides (PPTX) or a self-contained HTML report."""

from __future__ import annotations

import argparse
import sys

RAW = argparse.RawDescriptionHelpFormatter

BRIEF_EXAMPLE = """examples:
  sim brief results/compare-antimony_2024-crackdown_2025 --out brief.pdf
  sim brief results/compare-antimony_2024-crackdown_2025 --out brief.pptx
  sim brief results/baseline_2024 results/antimony_2024 --out brief.pdf --levers levers.csv

A comparison folder (from `sim compare`) gives the paired differences the answer is built
from; run folders (baseline first) are compared replicate by replicate when they share a
seed. A folder of runs or comparisons takes its newest one."""


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


def _write(args, what: str) -> int:
    from sim.plots import ResultsError, write_brief, write_report

    write = write_report if what == "report" else write_brief
    try:
        out = write(args.results, args.out, levers=args.levers, validation=args.validation, headline=args.kpi,
                    frontier=args.frontier)
    except (ResultsError, ValueError, FileNotFoundError) as e:
        print(f"sim {what}: {e}", file=sys.stderr)
        return 2
    print(out)
    return 0


def _add_brief_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", nargs="+", metavar="RESULTS_DIR",
                   help="a comparison folder and/or run folders (baseline first)")
    p.add_argument("--levers", default=None, metavar="CSV",
                   help="lever effects (levers.csv from `sim levers`) for the tornado chart and the caveats")
    p.add_argument("--validation", default=None, metavar="FILE",
                   help="validation report (docs/validation.md): failed held-out checks go into the caveats")
    p.add_argument("--kpi", default=None, help="the KPI the answer is about (default: illicit_delivered_t)")
    p.add_argument("--frontier", default=None, metavar="STUDY_DIR",
                   help="a policy search folder (sim optimize): its frontier is drawn beside the deliveries")


def register(subparsers) -> None:
    """Add the `plot`, `brief` and `report` subcommands to the `sim` parser."""
    help_ = "redraw the charts of a results folder into its charts/ folder"
    p = subparsers.add_parser("plot", help=help_, description=help_, formatter_class=RAW,
                              epilog="example:\n  sim plot results/antimony_2024/20250101T120000Z-1a2b3c "
                                     "--format svg\n  (a scenario folder takes its newest run)")
    p.add_argument("results", metavar="RESULTS_DIR", help="a run folder, or a scenario folder (newest run)")
    p.add_argument("--format", choices=("png", "svg", "pdf"), default="png", help="chart format (default: png)")
    p.set_defaults(func=cmd_plot)

    help_ = "write the brief: one A4 page (.pdf, .png, .svg) or slides (.pptx), answer first"
    p = subparsers.add_parser("brief", help=help_, description=help_, formatter_class=RAW, epilog=BRIEF_EXAMPLE)
    _add_brief_args(p)
    p.add_argument("--out", default="brief.pdf", help="output file: .pdf (default: brief.pdf), .pptx, .png or .svg")
    p.set_defaults(func=lambda a: _write(a, "brief"))

    help_ = "write a self-contained HTML report (text, tables and charts in one file)"
    p = subparsers.add_parser("report", help=help_, description=help_, formatter_class=RAW,
                              epilog=BRIEF_EXAMPLE.replace("sim brief", "sim report")
                              .replace("--out brief.pdf", "--out report.html").replace(
                                  "  sim report results/compare-antimony_2024-crackdown_2025 --out brief.pptx\n", ""))
    _add_brief_args(p)
    p.add_argument("--out", default="report.html", help="output file (default: report.html)")
    p.set_defaults(func=lambda a: _write(a, "report"))
