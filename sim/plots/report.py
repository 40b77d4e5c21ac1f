"""A self-contained HTML report (`sim report`): the brief's text, its tables as HTML tables, and
the key charts embedded as PNG (data URIs), from a Jinja2 template. It opens in any browser,
offline, as one file.

`key_figures(content)` lists the charts a report or a slide deck shows; sim.plots.slides uses
the same list.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import jinja2

from sim.plots.answer import BriefContent, brief_content
from sim.plots.compare import compare_source, fig_compare_series, fig_kpi_differences
from sim.plots.effects import fig_tornado, fig_tradeoff, tradeoff_points
from sim.plots.routemap import fig_routemap
from sim.plots.sankey import fig_sankey
from sim.plots.style import png_bytes, style
from sim.plots.timeseries import fig_flows, fig_prices

TEMPLATES = Path(__file__).with_name("templates")


def key_figures(c: BriefContent) -> list[tuple[str, str, Callable]]:
    """(id, caption, builder returning a Figure) of every chart the report shows, key ones first."""
    runs = list(c.runs.values())
    last = runs[-1]
    src = compare_source(c.runs)
    out = []
    if len(runs) > 1:
        out.append(("series", "Scenarios side by side: destination price and illicit deliveries over time.",
                    lambda: fig_compare_series(c.runs, source=src)))
    out.append(("sankey", f"Where the origin's goods went in {last.name}.", lambda: fig_sankey(last)))
    if c.levers is not None:
        out.append(("tornado", "Lever effects: what the answer is most sensitive to.",
                    lambda: fig_tornado(c.levers, c.headline, source=src)))
    if len(runs) > 1 and "enforcement_cost_usd" in set(c.table["kpi"]):
        out.append(("tradeoff", "Enforcement cost against illicit deliveries, per scenario.",
                    lambda: fig_tradeoff(tradeoff_points(c.table), title="Enforcement cost against illicit "
                                         "deliveries", source=src)))
    if len(runs) > 1:
        out.append(("differences", "Every KPI: paired difference to the baseline.",
                    lambda: fig_kpi_differences(c.table, source=src)))
    out += [("flows", f"Illicit deliveries by route in {last.name}.", lambda: fig_flows(last)),
            ("routemap", f"Routes in {last.name}.", lambda: fig_routemap(last)),
            ("prices", f"Prices in {last.name}.", lambda: fig_prices(last))]
    return out


def render_report(c: BriefContent) -> str:
    """The report as one HTML document (text escaped by Jinja2's autoescape)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=False)
    figures = []
    with style():
        for fid, caption, build in key_figures(c):
            figures.append({"id": fid, "caption": caption, "png": base64.b64encode(png_bytes(build())).decode()})
    first = next(iter(c.runs.values()))
    prov = []
    for name, r in c.runs.items():
        m = r.manifest
        code = m.get("git_commit", "")[:10] + (" (uncommitted changes)" if m.get("git_dirty") else "")
        ex = m.get("executor") or {}
        prov.append({"name": name, "run_id": r.run_id, "replicates": r.replicates, "seed": r.seed,
                     "code": f"sim {r.version} {code}".strip(),
                     "executor": f"{ex.get('kind', '?')}, {ex.get('workers', '?')} workers" if ex else "not recorded",
                     "command": " ".join(m.get("command_line", []))})
    bounds = [(n, b) for n, bs in c.bounds.items() for b in bs]
    return env.get_template("report.html.j2").render(c=c, figures=figures, provenance=prov, bounds=bounds,
                                                     version=first.version)


def write_report(paths: list[Path | str], out: Path | str = "report.html", levers: Path | None = None,
                 validation: Path | None = None, headline: str | None = None, frontier: Path | None = None) -> Path:
    """Write the HTML report atomically (mode 0644) and return its path."""
    from sim.outputs.results import atomic_write_text

    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"{out}: the report is written as .html")
    atomic_write_text(out, render_report(brief_content([Path(p) for p in paths], levers, validation, headline,
                                                       frontier=frontier)))
    return out
