"""One comparison (changed scenario vs unchanged) on a background thread, with progress and cancel.

The job calls the same functions as `sim compare`: sim.experiments.compare on common random
numbers (in this process, one replicate at a time, so progress is exact and a cancel takes
effect within one replicate), then sim.experiments.compare.write_compare into a results
folder under the dashboard's work folder, which the brief and the charts read back.

    job = Job(Request(path, changes, replicates=10), workdir)
    job.start(); ...; job.progress, job.state, job.messages; job.result (an Outcome)
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sim.dashboard.levers import as_overrides, load_pair
from sim.experiments import RunFailure, compare
from sim.experiments.compare import common_seed_scenarios, write_compare
from sim.experiments.execution import default_run_fn, replicate_list
from sim.scenario import Scenario, ScenarioError

# Where a posterior ensemble (the calibration feature) sits beside a scenario file; the first found is offered.
POSTERIOR_NAMES = ("{stem}.posterior.parquet", "{stem}_posterior.parquet", "posteriors/{stem}.parquet")
# Replicates the dashboard accepts in one run (a larger ensemble belongs to `sim compare`).
MAX_REPLICATES = 500


def posterior_beside(path) -> Path | None:
    """The posterior ensemble file beside a scenario file (POSTERIOR_NAMES), or None."""
    path = Path(path)
    for pattern in POSTERIOR_NAMES:
        p = path.parent / pattern.format(stem=path.stem)
        if p.is_file():
            return p
    return None


def posterior_kwargs(posterior: Path | None) -> dict:
    """Keyword arguments asking compare() to draw parameters from `posterior` (none if None).

    The hook for the calibration feature: compare() takes them once it has a `posterior` parameter.
    """
    if posterior is None:
        return {}
    if "posterior" not in inspect.signature(compare).parameters:
        raise ScenarioError([f"posterior: {posterior.name} was found, but this version of sim.experiments "
                             "cannot draw from a posterior ensemble yet; switch the toggle off"])
    return {"posterior": posterior}


class Cancelled(BaseException):
    """Stops a comparison between replicates. A BaseException, so sim.experiments does not
    record it as a failed replicate but lets it through."""


@dataclass(frozen=True)
class Request:
    """What to run: the base scenario file, the changes (dotted key -> value, run settings included)."""

    path: Path
    changes: dict
    replicates: int
    posterior: Path | None = None

    def argv(self) -> list[str]:
        """The run as a command line, recorded in the results' manifests."""
        sets = [a for _, o in as_overrides(self.changes) for a in ("--set", o)]
        post = ["--posterior", str(self.posterior)] if self.posterior else []
        return ["sim", "dashboard", str(self.path), "--replicates", str(self.replicates), *post, *sets]


@dataclass
class Outcome:
    """A finished comparison: scenarios, the comparison table, per-replicate KPIs and the results folder."""

    request: Request
    base: Scenario
    changed: Scenario
    table: pd.DataFrame          # sim.experiments.compare's table: scenario, kpi, mean, p05, p95, diff_*
    kpis: dict[str, dict[int, dict[str, float]]]  # scenario name -> replicate -> KPI -> value
    compare_dir: Path
    run_dirs: dict[str, Path]    # scenario name -> its results folder inside compare_dir
    seconds: float
    failures: list[str] = field(default_factory=list)
    views: dict = field(default_factory=dict)  # filled by the caller's `finish` (charts, tables)

    @property
    def names(self) -> tuple[str, str]:
        return self.base.name, self.changed.name

    def remove(self) -> None:
        shutil.rmtree(self.compare_dir, ignore_errors=True)


class _Watched:
    """The model's run function, counting finished replicates and stopping when the job is cancelled."""

    def __init__(self, run_fn: Callable, job: Job):
        self.run_fn, self.job = run_fn, job

    def __call__(self, scenario, replicate, steps=None):
        if self.job.cancelled:
            raise Cancelled
        res = self.run_fn(scenario, replicate, steps=steps)
        self.job.done += 1
        return res


class Job:
    """A comparison on a daemon thread. state: queued, running, drawing, done, failed or cancelled.

    `finish(outcome)` (optional) runs on the job's thread after the results are written, e.g.
    to draw the charts, so that the page's event loop never waits for it.
    """

    def __init__(self, request: Request, workdir: Path, run_fn: Callable | None = None,
                 finish: Callable[[Outcome], None] | None = None):
        self.request, self.workdir = request, Path(workdir)
        self.run_fn, self.finish = run_fn, finish
        self.state, self.messages = "queued", []
        self.done, self.total = 0, 0
        self.outcome: Outcome | None = None  # set once the runs are written, before `finish` draws
        self._cancel = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sim-dashboard-job", daemon=True)

    @property
    def result(self) -> Outcome | None:
        """The finished outcome (None unless state is done)."""
        return self.outcome if self.state == "done" else None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running", "drawing")

    @property
    def progress(self) -> float:
        """Share of the work done, 0-1 (drawing the charts counts as the last 5 %)."""
        if self.state == "done":
            return 1.0
        return 0.95 * self.done / self.total if self.total else 0.0

    def start(self) -> Job:
        self.thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True if it has."""
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def _check(self) -> None:
        if self.cancelled:
            raise Cancelled

    def _run(self) -> None:
        outcome = None
        try:
            self.state = "running"
            outcome = self._compare()
            self._check()
            self.state, self.outcome = "drawing", outcome
            if self.finish is not None:
                self.finish(outcome)
            self._check()
            self.state = "done"
        except Cancelled:
            self.state = "cancelled"
        except ScenarioError as e:
            self.state, self.messages = "failed", list(e.messages)
        except Exception as e:  # noqa: BLE001 - the page shows it; the server goes on
            traceback.print_exc(file=sys.stderr)
            self.state, self.messages = "failed", [f"{type(e).__name__}: {' '.join(str(e).split())}"]
        finally:
            if self.state != "done" and outcome is not None:
                outcome.remove()

    def _compare(self) -> Outcome:
        req = self.request
        base, changed = load_pair(req.path, req.changes)
        scenarios = common_seed_scenarios([base, changed])
        reps = replicate_list(req.replicates)
        if len(reps) > MAX_REPLICATES:
            raise ScenarioError([f"replicates: at most {MAX_REPLICATES} in the dashboard (got {len(reps)}); "
                                 "use sim compare for larger ensembles"])
        extra = posterior_kwargs(req.posterior)
        self.total = len(scenarios) * len(reps)
        started, t0 = dt.datetime.now(dt.timezone.utc), time.perf_counter()
        table, results = compare(scenarios, reps, workers=1, run_fn=_Watched(self.run_fn or default_run_fn(), self),
                                 progress=False, **extra)
        self._check()
        ok = {n: [r for r in res if not isinstance(r, RunFailure)] for n, res in results.items()}
        failures = [f"{n}: replicate {f.replicate} failed: {f.error}" for n, res in results.items() for f in res
                    if isinstance(f, RunFailure)]
        if not all(ok.values()):
            raise ScenarioError(failures or ["every replicate failed"])
        self.workdir.mkdir(parents=True, exist_ok=True)
        folder = write_compare(self.workdir, scenarios, results, table, req.argv(), started,
                               dt.datetime.now(dt.timezone.utc), compare_charts=False)
        doc = json.loads((folder / "comparison.json").read_text(encoding="utf-8"))
        return Outcome(req, scenarios[0], scenarios[1], table,
                       {n: {r.replicate: dict(r.kpis) for r in res} for n, res in ok.items()},
                       folder, {n: folder / p for n, p in doc["run_dirs"].items()},
                       time.perf_counter() - t0, failures)


# ---------------------------------------------------------------- take-away ----------
def brief_formats() -> tuple[str, ...]:
    """Formats of the downloadable brief: PDF (sim.plots.write_brief), and PPTX once sim.plots has write_pptx."""
    import sim.plots

    return ("pdf", "pptx") if hasattr(sim.plots, "write_pptx") else ("pdf",)


def write_brief(outcome: Outcome, fmt: str = "pdf") -> Path:
    """The brief of the comparison (unchanged, then changed) in its results folder; returns its path."""
    import sim.plots

    dirs = [outcome.run_dirs[n] for n in outcome.names]
    out = outcome.compare_dir / f"brief.{fmt}"
    if fmt == "pptx":
        return sim.plots.write_pptx(dirs, out)
    return sim.plots.write_brief(dirs, out)
