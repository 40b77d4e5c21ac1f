"""What every section uses: the report (rows, targets, notes), machine facts, the scenarios
measured, clocks, and fresh child processes.

Times are wall-clock (`time.perf_counter`) or CPU seconds of one process (`time.process_time`,
user + system): on a machine shared with other work the CPU time is what a run costs one core,
while wall time also counts the time other processes held the cores.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
RUN_PY = ROOT / "benchmarks" / "run.py"
SIM = [sys.executable, "-m", "sim"]
BIG = "rare_earths_2025"        # the whole-run scenario; grown to N smugglers by `big_world`
EPISODE = "antimony_2024"       # ensembles, reference core, memory
BASELINE = "baseline_2024"      # start-up and streaming


# ------------------------------------------------------------------------------ report ---
class Report:
    """Rows of the printed table, JSON data per section, targets with PASS/MISS/SKIP, notes."""

    def __init__(self):
        self.rows: list[tuple[str, str, str, str]] = []
        self.data: dict[str, dict] = {}
        self.targets: list[dict] = []
        self.notes: list[str] = []

    def row(self, section: str, label: str, value, unit: str = "", note: str = "") -> None:
        self.rows.append((section, label, fmt(value), f"{unit}  {note}".strip()))

    def target(self, name: str, measured, limit: float, higher_is_better: bool, unit: str, skip: str = "",
               why: str = "") -> None:
        """One target of issue 16. `why`: the measured limit behind a MISS (printed with it)."""
        if skip or measured is None or (isinstance(measured, float) and math.isnan(measured)):
            status = "SKIP"
        else:
            status = "PASS" if (measured >= limit if higher_is_better else measured <= limit) else "MISS"
        self.targets.append({"target": name, "op": ">=" if higher_is_better else "<=", "limit": limit,
                             "unit": unit, "measured": measured, "status": status,
                             "note": skip or (why if status == "MISS" else "")})

    def table(self) -> str:
        out, last = [], None
        w = max((len(r[1]) for r in self.rows), default=10)
        for section, label, value, unit in self.rows:
            if section != last:
                out.append(f"\n== {section}")
                last = section
            out.append(f"  {label:<{w}}  {value:>12}  {unit}")
        out.append("\n== Targets (issue 16)")
        for t in self.targets:
            extra = f"\n           {t['note']}" if t["note"] else ""
            out.append(f"  [{t['status']}] {t['target']}: {fmt(t['measured'])} {t['unit']} "
                       f"(target {t['op']} {fmt(t['limit'])}){extra}")
        if self.notes:
            out.append("\n== Notes")
            out.extend(f"  - {n}" for n in self.notes)
        return "\n".join(out)


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    v = float(v)
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


# ------------------------------------------------------------------------------ machine ---
def loadavg() -> float:
    """1-minute load average: runnable processes, averaged; above the core count the cores are shared."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return math.nan


def machine() -> dict:
    """CPU model, cores, versions, date and load average (other processes skew timings)."""
    import numba
    import numpy as np
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "platform": platform.platform(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "load_average_1min": loadavg()}


# ---------------------------------------------------------------------------- scenarios ---
def scenario(name: str, overrides=()):
    from sim.scenario import load_scenario
    return load_scenario(SCENARIOS / f"{name}.toml", list(overrides))


def big_world(n: int, steps: int):
    """`rare_earths_2025` with n smugglers active at step 0, a pool of n/10 entrants and `steps` weekly
    steps (it ships with 60 smugglers and 70 steps; a shorter run leaves out what comes later, as
    `sim run --steps` does)."""
    from sim.scenario import cut_horizon
    return cut_horizon(scenario(BIG, [f"smugglers.initial={n}", f"smugglers.pool={n // 10}"]), steps)[0]


# ------------------------------------------------------------------------------- clocks ---
class Clock:
    """Wall and CPU seconds of a block: `with Clock() as c: ...; c.wall, c.cpu`."""

    def __enter__(self):
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self._w, time.process_time() - self._c
        return False


def rss_mb() -> float:
    """Resident memory of this process now (VmRSS), MB."""
    return _status_mb("VmRSS:")


def peak_rss_mb() -> float:
    """Peak resident memory (VmHWM) of this process, MB (not ru_maxrss: Linux carries that over a fork)."""
    return _status_mb("VmHWM:")


def reset_peak_rss() -> None:
    """Reset VmHWM to the current resident memory (Linux >= 4.0; ignored elsewhere)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _status_mb(key: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


# ------------------------------------------------------------------------ subprocesses ---
def sim_cli(args: list, env: dict | None = None, timeout: float = 1800) -> dict:
    """`sim ARGS` in a fresh process as a user runs it: wall seconds, CPU seconds of the whole
    process tree (it and its workers, once they have exited), stdout and stderr. Raises when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run([*SIM, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, **(env or {})}, timeout=timeout)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise RuntimeError(f"sim {' '.join(map(str, args))} failed: {' '.join(r.stderr.split())[-400:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "stdout": r.stdout, "stderr": r.stderr}


def child(what: str, spec: dict | None = None, env: dict | None = None, timeout: float = 1800) -> dict:
    """Run `CHILDREN[what](spec)` in a fresh Python process (benchmarks/run.py --child) and return its dict."""
    out = subprocess.run([sys.executable, str(RUN_PY), "--child", what, json.dumps(spec or {})],
                         capture_output=True, text=True, cwd=ROOT, timeout=timeout, env={**os.environ, **(env or {})})
    if out.returncode != 0:
        last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
        raise RuntimeError(f"child {what}: {last}")
    return json.loads(out.stdout.strip().splitlines()[-1])


CHILDREN: dict = {}   # name -> function(spec) -> dict, filled by the section modules


def in_child(f):
    """Register f as something `child(f.__name__, spec)` runs in a fresh process."""
    CHILDREN[f.__name__] = f
    return f
