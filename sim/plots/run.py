"""All charts of one results folder: `write_run_charts(run_dir, fmt)`."""

from __future__ import annotations

from pathlib import Path

from sim.plots.io import Run, load_run
from sim.plots.routemap import fig_interdiction, fig_routemap
from sim.plots.sankey import fig_sankey
from sim.plots.style import FORMATS, save, style
from sim.plots.timeseries import fig_buyers, fig_flows, fig_prices, fig_smugglers

# file stem -> Figure builder taking a loaded Run
RUN_CHARTS = {
    "prices": fig_prices,
    "flows": fig_flows,
    "routemap": fig_routemap,
    "sankey": fig_sankey,
    "interdiction": fig_interdiction,
    "buyers": fig_buyers,
    "smugglers": fig_smugglers,
}


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown chart format '{fmt}' (known: {', '.join(FORMATS)})")
    return fmt


def write_run_charts(run_dir: Path | str | Run, fmt: str = "png") -> list[Path]:
    """Draw every chart of a results folder into <run_dir>/charts/<name>.<fmt>; return the paths.

    `run_dir` is a run folder, a scenario folder (newest run) or an already loaded Run.
    Each file is written atomically; existing charts of the same name are replaced.
    """
    check_format(fmt)
    run = run_dir if isinstance(run_dir, Run) else load_run(Path(run_dir))
    out = []
    with style():
        for name, build in RUN_CHARTS.items():
            out.append(save(build(run), run.path / "charts" / f"{name}.{fmt}"))
    return out
