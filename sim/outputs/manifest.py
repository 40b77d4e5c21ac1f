"""The manifest of a run: what was run, with which seeds, versions and code, so it can be run again."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
from importlib import metadata
from pathlib import Path

DEPENDENCIES = ("numpy", "numba", "mesa", "pandas", "pyarrow", "pydantic", "matplotlib")


def versions() -> dict[str, str]:
    """Python, this package and its main dependencies (those installed)."""
    from sim import __version__
    out = {"python": platform.python_version(), "sim": __version__}
    for name in DEPENDENCIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


CHECKOUT = Path(__file__).resolve().parents[2]  # the repository root, when run from a checkout


def _git(*args: str) -> str | None:
    """Output of a git command in the checkout holding this package, or None (no git, no repo)."""
    try:
        r = subprocess.run(["git", *args], cwd=CHECKOUT, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout if r.returncode == 0 else None


def _in_checkout() -> bool:
    """True when this package is the working tree of a git repository (not an installed copy
    that merely lies inside some repository, e.g. a .venv in a checkout)."""
    top = _git("rev-parse", "--show-toplevel")
    return bool(top) and Path(top.strip()).resolve() == CHECKOUT


def git_commit() -> str | None:
    """HEAD of the repository holding this package, or None (no git, no repo, no commit)."""
    head = _git("rev-parse", "HEAD") if _in_checkout() else None
    return head.strip() if head and head.strip() else None


def git_dirty() -> bool | None:
    """Whether the checkout has uncommitted changes to tracked files (None outside a checkout)."""
    if not _in_checkout():
        return None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status.strip())


def executor(workers: int | None, scheduler: str | None) -> dict:
    """How the replicates were run, for the manifest: in this process, on local worker
    processes (how many), or on a Dask scheduler (its address). Results do not depend on it."""
    import os

    if scheduler:
        return {"kind": "dask", "scheduler": scheduler, "workers": workers}
    n = int(workers) if workers is not None else (os.cpu_count() or 1)
    return {"kind": "in-process", "workers": 1} if n == 1 else {"kind": "processes", "workers": n}


def control_starts(scenario) -> list[dict]:
    """Controls that start during the run, as chart events ("Licences (all, US)"): the
    charts mark them like the scenario's events. Ids are "control:<id>"."""
    starts: dict[tuple[int, str], list[tuple[str, str]]] = {}   # (step, regime) -> [(id, where)]
    for cid, c in scenario.controls.items():
        step = scenario.control_step(c)
        if c.regime == "open" or not 0 < step < scenario.steps:
            continue
        starts.setdefault((step, c.regime), []).append((cid, c.destination))   # short: labels sit on charts
    return [{"id": "control:" + "+".join(cid for cid, _ in cs),
             "label": f"{'Licences' if regime == 'license' else 'Ban'} ({', '.join(w for _, w in cs)})",
             "step": step, "date": scenario.date_of(step).isoformat()}
            for (step, regime), cs in sorted(starts.items())]


def manifest(scenario, results, argv, started: dt.datetime, ended: dt.datetime, extra=None) -> dict:
    """Everything needed to know what was run and to run it again."""
    reps = sorted(r.replicate for r in results)
    events = sorted([{"id": eid, "label": e.label, "step": scenario.event_step(e),
                      "date": scenario.date_of(scenario.event_step(e)).isoformat()}
                     for eid, e in scenario.events.items()] + control_starts(scenario), key=lambda e: e["step"])
    out = {
        "scenario_name": scenario.name,
        "command_line": list(argv),
        "started": started.isoformat(), "ended": ended.isoformat(),
        "duration_s": round((ended - started).total_seconds(), 3),
        "replicates": len(reps), "steps": scenario.steps,
        "start_date": scenario.start_date.isoformat(), "days_per_step": scenario.days_per_step,
        "master_seed": scenario.seed,
        # == numpy SeedSequence(master_seed).spawn(n)[r] for any n (see sim.model.runner.replicate_seed)
        "replicate_seeds": [{"replicate": r, "entropy": scenario.seed, "spawn_key": [r]} for r in reps],
        "events": events,
        "versions": versions(),
    }
    commit = git_commit()
    if commit:
        out["git_commit"] = commit
        out["git_dirty"] = git_dirty()
    out["scenario"] = scenario.model_dump(mode="json")
    out.update(extra or {})
    from sim.outputs.results import jsonable

    return jsonable(out)
