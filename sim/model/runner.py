"""Run one replicate of a scenario: the function every front end (CLI, experiments, notebooks) calls."""

from __future__ import annotations

import gc

import pandas as pd

from sim.model.kpis import compute_kpis
from sim.model.lazy import import_mesa
from sim.model.model import SmugglingModel, replicate_seed
from sim.model.recorder import Recording
from sim.scenario.schema import Scenario

mesa = import_mesa()

__all__ = ["RunResult", "run_replicate", "replicate_seed"]


class RunResult:
    """One replicate: its index, its time series (the long-format DataFrame of MODEL.md §6) and its
    KPIs (dict of name -> float).

    `timeseries` may be given as a DataFrame or as the recorder's `Recording`; a Recording becomes
    the DataFrame on first access. Pickled, a result carries the Recording (for a v2 antimony
    replicate 0.2 MB instead of 3 MB), so worker processes send their arrays and the parent
    builds the table."""

    __slots__ = ("_frame", "_recording", "kpis", "replicate")

    def __init__(self, replicate: int, timeseries: pd.DataFrame | Recording, kpis: dict[str, float]):
        self.replicate = replicate
        self.kpis = kpis
        self._recording = timeseries if isinstance(timeseries, Recording) else None
        self._frame = None if isinstance(timeseries, Recording) else timeseries

    @property
    def timeseries(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame = self._recording.frame()
        return self._frame

    def __getstate__(self):
        frame = None if self._recording is not None else self._frame
        return self.replicate, self.kpis, self._recording, frame

    def __setstate__(self, state):
        self.replicate, self.kpis, self._recording, self._frame = state

    def __repr__(self) -> str:
        return f"RunResult(replicate={self.replicate!r}, kpis={self.kpis!r})"


def run_replicate(scenario: Scenario, replicate: int, steps: int | None = None) -> RunResult:
    """Run replicate `replicate` of `scenario` for `steps` steps (default: the scenario's horizon).

    Deterministic: the random stream is SeedSequence(scenario.seed, spawn_key=(replicate,))."""
    _freeze_long_lived()
    model = SmugglingModel(scenario, replicate=replicate, steps=steps)
    try:
        model.run()
        return RunResult(replicate, model.recorder.recording(), compute_kpis(model))
    finally:
        release(model)


_frozen = False


def _freeze_long_lived() -> None:
    """Once per process, before the first replicate: move every object alive now (imported modules,
    the scenario) to the garbage collector's permanent generation. A model makes tens of thousands
    of objects (one Mesa agent per smuggler), so full collections come every few replicates, and
    each one would otherwise walk the ~200,000 objects of numba, pandas and Mesa again (measured:
    0.26 s every 2-3 replicates at 10,000 smugglers; 0.03 s with them frozen). Objects made later
    are collected as usual."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


def release(model) -> None:
    """Free a finished model now. Mesa 3.3's Agent keeps a per-model id counter in a class-level
    dict keyed by the model (`Agent._ids`), which holds every model ever built (about 7 MB each;
    later Mesa versions have no such dict). And the model and its agents point at each other, so
    without help they wait for the garbage collector's next full collection: replicates that
    allocate little in between leave several dead models behind, and the memory they held stays
    in the process's heap (resident memory grew by 35 MB over 50 antimony replicates). Emptying
    the model's attributes breaks those cycles, so reference counting frees everything at once.
    The results must have been taken out before (the recorder's arrays stay alive through them)."""
    ids = getattr(mesa.Agent, "_ids", None)
    if isinstance(ids, dict):
        ids.pop(model, None)
    vars(model).clear()
