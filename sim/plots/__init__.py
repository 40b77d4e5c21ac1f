"""Briefing graphics: charts of a results folder, scenario comparisons, sweeps, one-page brief.

All drawing happens inside `style()` (the packaged `brief.mplstyle`, never set globally) with
the Agg backend, so nothing needs a display or the internet.

    write_run_charts(run_dir, fmt="png") -> list[Path]                     run_dir/charts/*.png
    write_compare_charts(compare_dir, run_dirs, comparison, fmt) -> list[Path]
    write_sweep_charts(sweep_dir, points, sobol=None, fmt) -> list[Path]
    write_brief(run_dirs, out="brief.pdf") -> Path                        one A4 page
"""

from sim.plots.brief import build_brief, write_brief
from sim.plots.compare import fig_compare_series, fig_kpi_differences, write_compare_charts
from sim.plots.io import ResultsError, Run, load_run
from sim.plots.run import RUN_CHARTS, write_run_charts
from sim.plots.style import style
from sim.plots.sweep import fig_response, fig_sobol, write_sweep_charts

__all__ = ["RUN_CHARTS", "ResultsError", "Run", "build_brief", "fig_compare_series", "fig_kpi_differences",
           "fig_response", "fig_sobol", "load_run", "style", "write_brief", "write_compare_charts",
           "write_run_charts", "write_sweep_charts"]
