"""`sim dashboard [SCENARIO] [--port N] [--host H]` (registered in sim/cli.py's EXTRA_COMMANDS).

Only argparse and the standard library are imported here; Panel is imported when the
server starts, so `sim --help` and every other command work without the dashboard extra.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
from pathlib import Path

EXAMPLE = """examples:
  sim dashboard                                   the first scenario of `sim list`, on http://127.0.0.1:5006/
  sim dashboard scenarios/crackdown_2025.toml --port 8080
  sim dashboard hub_pressure --replicates 4 --steps 40        quicker runs while exploring

The page shows the scenario's policy levers; Run compares the changed scenario with the
unchanged one on common random numbers. It binds to this machine only; --host with another
address needs --allow-remote (anyone who reaches the port can then run the model and load
the scenarios in the list). Needs the dashboard extra: pip install -e '.[dashboard]'."""


def register(subparsers) -> None:
    p = subparsers.add_parser("dashboard", help="open a policy dashboard in the browser (local web page)",
                              description="Serve a local web page to move policy levers and compare the result "
                                          "with the unchanged scenario.",
                              epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", nargs="?", metavar="SCENARIO",
                   help="scenario file, or the name of one in the scenario folder (default: the first of `sim list`)")
    p.add_argument("--port", type=int, default=5006, help="port (default: 5006; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow --host to be an address other machines can reach")
    p.add_argument("--replicates", type=int, default=None, help="replicates shown first (default: the scenario's)")
    p.add_argument("--steps", type=int, default=None, help="horizon of every run in steps (default: the scenario's)")
    p.add_argument("--dir", default=None, help="scenario folder listed on the page (default: ./scenarios, "
                                               "else the shipped ones; or the folder of SCENARIO)")
    p.set_defaults(func=cmd_dashboard)


def is_local(host: str) -> bool:
    """True for loopback addresses and names that resolve only to loopback addresses."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def resolve_scenario(arg: str | None, folder: Path) -> Path:
    """A file path, a name in `folder` (with or without .toml), or the first scenario there."""
    from sim.scenario import ScenarioError, list_scenarios

    if arg is None:
        rows = [p for name, p, desc in list_scenarios(folder) if name != "template" and "(invalid" not in desc]
        if not rows:
            raise ScenarioError([f"sim dashboard: no valid scenario in {folder}; give a scenario file"])
        return rows[0]
    for cand in (Path(arg), folder / arg, folder / f"{arg}.toml"):
        if cand.is_file():
            return cand
    raise ScenarioError([f"sim dashboard: {arg}: no such scenario file (nor {folder / (arg + '.toml')})"])


def cmd_dashboard(args) -> int:
    from sim.cli import default_scenario_dir
    from sim.scenario import ScenarioError, load_scenario

    if not is_local(args.host) and not args.allow_remote:
        print(f"sim dashboard: --host {args.host} is reachable from other machines; the dashboard binds to "
              "127.0.0.1 unless you add --allow-remote", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"sim dashboard: --port: must be 0-65535 (got {args.port})", file=sys.stderr)
        return 2
    for opt, v in (("--replicates", args.replicates), ("--steps", args.steps)):
        if v is not None and v < 1:
            raise ScenarioError([f"{opt}: must be >= 1 (got {v})"])
    folder = Path(args.dir) if args.dir else None
    if folder is None and args.scenario and Path(args.scenario).is_file():
        folder = Path(args.scenario).parent
    folder = folder or default_scenario_dir()
    path = resolve_scenario(args.scenario, folder)
    load_scenario(path, [("--steps", f"steps={args.steps}")] if args.steps else [])  # bad input: exit 2 now
    try:
        from sim.dashboard import app, server
    except ImportError as e:
        print(f"sim dashboard: needs the dashboard extra ({e}); install it with: pip install -e '.[dashboard]'",
              file=sys.stderr)
        return 2
    cfg = app.Config(scenario=path, folder=folder, workdir=server.default_workdir(), steps=args.steps,
                     replicates=args.replicates, any_file=not args.allow_remote)
    try:
        return server.serve(cfg, args.host, args.port, origins=["*"] if args.allow_remote else None,
                         ready=lambda line: print(line, flush=True))
    except OSError as e:
        print(f"sim dashboard: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 2
