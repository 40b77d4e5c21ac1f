"""Experiments over the model: replicates on any executor, scenario comparison, sweeps, Python API.

    from sim.experiments import run_replicates, run_kpis, compare, sweep, make_model_function

Seeds come only from (scenario.seed, replicate), so results do not depend on workers or
executor. See docs/python-api.md.
"""

from sim.experiments.api import ModelFunction, make_model_function
from sim.experiments.compare import compare, comparison_table
from sim.experiments.execution import (
    ExperimentError,
    RunFailure,
    iter_replicates,
    kpi_frame,
    replicate_seed,
    run_kpis,
    run_replicates,
    summary_line,
)
from sim.experiments.params import apply_params
from sim.experiments.sweep import Vary, parse_vary, points_frame, read_runs, sobol_indices, sweep

__all__ = [
    "run_replicates",
    "iter_replicates",
    "run_kpis",
    "compare",
    "sweep",
    "make_model_function",
    "ModelFunction",
    "RunFailure",
    "ExperimentError",
    "replicate_seed",
    "apply_params",
    "comparison_table",
    "kpi_frame",
    "summary_line",
    "Vary",
    "parse_vary",
    "read_runs",
    "points_frame",
    "sobol_indices",
]
