"""The model as a plain function `f(**params) -> {kpi: value}` for EMA Workbench, SALib, scipy.

    f = make_model_function("scenarios/antimony_2024.toml", steps=104)
    f(customs__CN__capacity_per_week=900, penalties__arrest_prob=0.5, replicate=0)
    # -> {"illicit_delivered_t": ..., "leakage_share": ..., ...}

Parameter names are dotted scenario keys with "." written as "__". `replicate` picks the
random stream (default 0) and `seed` replaces the scenario's master seed (default: the
scenario's own); the same arguments always give the same KPIs.
"""

from __future__ import annotations

from collections.abc import Callable

from sim.experiments.execution import default_run_fn, with_steps
from sim.experiments.params import apply_params, load


class ModelFunction:
    """Callable `f(replicate=0, seed=None, **params) -> dict[str, float]` (picklable for process pools)."""

    def __init__(self, base, steps: int | None = None, run_fn: Callable | None = None):
        self.base = with_steps(load(base), steps)
        self.steps = steps
        self.run_fn = run_fn

    def scenario(self, seed: int | None = None, **params):
        """The scenario this call would run: base + params (names with "__" for ".")."""
        sc = apply_params(self.base, {k.replace("__", "."): v for k, v in params.items()})
        return sc if seed is None else sc.model_copy(update={"seed": int(seed)})

    def __call__(self, replicate: int = 0, seed: int | None = None, **params) -> dict[str, float]:
        run_fn = self.run_fn or default_run_fn()
        res = run_fn(self.scenario(seed, **params), int(replicate), steps=self.steps)
        return {k: float(v) for k, v in res.kpis.items()}

    def __repr__(self) -> str:
        return f"ModelFunction({self.base.name!r}, steps={self.steps})"


def make_model_function(
    base_scenario_path_or_obj, steps: int | None = None, run_fn: Callable | None = None
) -> ModelFunction:
    """Wrap one model run as `f(**params) -> dict of KPIs` (see the module docstring).

    base_scenario_path_or_obj: a scenario file path or a Scenario; steps: horizon override (steps).
    Bad parameter names or values raise ExperimentError naming the dotted key.
    """
    return ModelFunction(base_scenario_path_or_obj, steps, run_fn)
