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


def git_commit() -> str | None:
    """HEAD of the repository holding this package, or None (no git, no repo, no commit)."""
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parents[2],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def manifest(scenario, results, argv, started: dt.datetime, ended: dt.datetime, extra=None) -> dict:
    """Everything needed to know what was run and to run it again."""
    reps = sorted(r.replicate for r in results)
    events = sorted(({"id": eid, "label": e.label, "step": scenario.event_step(e),
                      "date": scenario.date_of(scenario.event_step(e)).isoformat()}
                     for eid, e in scenario.events.items()), key=lambda e: e["step"])
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
    out["scenario"] = scenario.model_dump(mode="json")
    out.update(extra or {})
    from sim.outputs.results import jsonable

    return jsonable(out)
