"""Run one replicate of a scenario: the function every front end (CLI, experiments, notebooks) calls."""

from __future__ import annotations

from dataclasses import dataclass, field

import mesa
import pandas as pd

from sim.model.kpis import compute_kpis
from sim.model.model import SmugglingModel, replicate_seed
from sim.scenario.schema import Scenario

__all__ = ["RunResult", "run_replicate", "replicate_seed"]


@dataclass
class RunResult:
    replicate: int
    timeseries: pd.DataFrame = field(repr=False)
    kpis: dict[str, float]


def run_replicate(scenario: Scenario, replicate: int, steps: int | None = None) -> RunResult:
    """Run replicate `replicate` of `scenario` for `steps` steps (default: the scenario's horizon).

    Deterministic: the random stream is SeedSequence(scenario.seed, spawn_key=(replicate,))."""
    model = SmugglingModel(scenario, replicate=replicate, steps=steps)
    try:
        model.run()
        return RunResult(replicate, model.recorder.timeseries(), compute_kpis(model))
    finally:
        release(model)


def release(model) -> None:
    """Let a finished model be freed: Mesa 3.3's Agent keeps a per-model id counter in a
    class-level dict keyed by the model (`Agent._ids`), which holds every model ever built
    (about 7 MB each). Later Mesa versions have no such dict; then this does nothing."""
    ids = getattr(mesa.Agent, "_ids", None)
    if isinstance(ids, dict):
        ids.pop(model, None)
