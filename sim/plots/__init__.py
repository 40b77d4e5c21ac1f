"""Briefing graphics: charts of a results folder, scenario comparisons, sweeps, and the brief in
three formats (one A4 page, an HTML report, a slide deck).

All drawing happens inside `style()` (the packaged `brief.mplstyle`, never set globally) with
the Agg backend, so nothing needs a display or the internet.

    write_run_charts(run_dir, fmt="png") -> list[Path]                     run_dir/charts/*.png
    write_compare_charts(compare_dir, run_dirs, comparison, fmt) -> list[Path]
    write_sweep_charts(sweep_dir, points, sobol=None, fmt) -> list[Path]
    write_brief(paths, out="brief.pdf")     one A4 page (.pdf/.png/.svg) or slides (.pptx)
    write_report(paths, out="report.html")  self-contained HTML
    brief_content(paths) -> BriefContent    the answer, caveats and tables as text
"""

from sim.outputs.read import ResultsError
from sim.plots.answer import BriefContent, brief_content
from sim.plots.brief import build_brief, write_brief
from sim.plots.compare import fig_compare_series, fig_kpi_differences, write_compare_charts
from sim.plots.effects import draw_tradeoff, fig_tornado, fig_tradeoff, tradeoff_points
from sim.plots.io import Run, load_run
from sim.plots.report import write_report
from sim.plots.run import RUN_CHARTS, write_run_charts
from sim.plots.sankey import fig_sankey, origin_flows
from sim.plots.style import style
from sim.plots.sweep import fig_response, fig_sobol, write_sweep_charts

__all__ = ["RUN_CHARTS", "BriefContent", "ResultsError", "Run", "brief_content", "build_brief", "draw_tradeoff",
           "fig_compare_series", "fig_kpi_differences", "fig_response", "fig_sankey", "fig_sobol", "fig_tornado",
           "fig_tradeoff", "load_run", "origin_flows", "style", "tradeoff_points", "write_brief",
           "write_compare_charts", "write_report", "write_run_charts", "write_sweep_charts"]
