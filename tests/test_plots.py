"""Briefing graphics (sim.plots) on synthetic results folders written in the documented format."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import FancyArrowPatch

sys.path.insert(0, str(Path(__file__).parent))
from plot_fixtures import make_comparison, make_results, make_sobol, make_sweep_points

from sim.plots import (
    RUN_CHARTS,
    ResultsError,
    fig_compare_series,
    fig_kpi_differences,
    fig_response,
    fig_sobol,
    load_run,
    style,
    write_brief,
    write_compare_charts,
    write_run_charts,
    write_sweep_charts,
)
from sim.plots.answer import TITLE
from sim.plots.style import STYLE

REPS = 4


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three synthetic scenarios: baseline first (no crackdown), then two with a crackdown."""
    root = tmp_path_factory.mktemp("results")
    return {"ban_only": make_results(root, "ban_only", REPS, crackdown=False),
            "crackdown": make_results(root, "crackdown", REPS),
            "strong": make_results(root, "strong", REPS, crack_effect=1.4)}


@pytest.fixture(scope="module")
def run(runs):
    return load_run(runs["crackdown"])


def build(name, run):
    with style():
        return RUN_CHARTS[name](run)


def labelled_lines(ax):
    return [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def png_std(path: Path) -> float:
    return float(mpimg.imread(path)[..., :3].std())


# ---- run charts -------------------------------------------------------------------------
def test_run_charts_written_not_blank_and_style_not_global(runs):
    before = dict(plt.rcParams)
    paths = write_run_charts(runs["crackdown"], "png")
    assert [p.name for p in paths] == [f"{n}.png" for n in RUN_CHARTS]
    for p in paths:
        assert p.parent == runs["crackdown"] / "charts" and p.stat().st_size > 10_000
        assert png_std(p) > 0.05, f"{p.name} looks blank"
    assert not list((runs["crackdown"] / "charts").glob(".*")), "temp files left behind"
    assert plt.rcParams["axes.spines.top"] == before["axes.spines.top"]  # style used as a context only
    assert plt.rcParams["pdf.fonttype"] == before["pdf.fonttype"]


def test_style_file_is_packaged_with_required_settings():
    text = STYLE.read_text()
    for key in ("pdf.fonttype: 42", "svg.fonttype: none", "axes.spines.top: False",
                "axes.spines.right: False", "axes.grid.axis: y", "0072B2", "E69F00"):
        assert key in text


def test_prices_panels_series_dates_events_and_computed_subtitle(run):
    fig = build("prices", run)
    axes = [a for a in fig.axes if a.get_visible()]
    assert len(axes) == 2  # one per commodity
    for ax in axes:
        assert [ln.get_label() for ln in labelled_lines(ax)] == ["United States", "Germany", "China (origin)"]
        assert isinstance(ax.xaxis.get_major_formatter(), mdates.ConciseDateFormatter)
        assert ax.get_ylim()[0] == 0.0
        dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() not in ("-", "None")]
        assert len(dashed) == len(run.events) == 3
        assert {t.get_text() for t in ax.texts} == {e["label"] for e in run.events}
    assert "Price index" in axes[0].get_ylabel()
    # subtitle: independent computation of the median US antimony index, peak after / 4 weeks before the ban
    ts = run.ts
    d = ts[(ts.metric == "price_index") & (ts.market == "US") & (ts.commodity == "sb")]
    med = d.groupby("date")["value"].median()
    ban = run.events[0]["date"]
    ratio = med[med.index >= ban].max() / med[med.index < ban].tail(4).mean()
    texts = " ".join(t.get_text() for t in fig.texts)
    assert f"rose ~{ratio:.1f}x after 'Export ban to US'" in texts
    assert run.run_id in fig.get_supxlabel() and f"{REPS} replicates" in fig.get_supxlabel()
    plt.close(fig)


def test_flows_stack_route_means_that_add_up_to_the_mean_total_with_its_band(run):
    fig = build("flows", run)
    ax = fig.axes[0]
    stacks = ax.collections[:4]  # stackplot: one PolyCollection per route, then the total's band
    assert [ln.get_label() for ln in labelled_lines(ax)] == ["Seized, all checkpoints (mean)"]
    assert ax.get_ylabel() == "Tonnes per week" and ax.get_ylim()[0] == 0.0
    labels = ax.get_legend_handles_labels()[1]
    assert "CN → TH → US" in labels and "CN → MX → US" in labels and "Total: 5-95 % of replicates" in labels
    # the stack's top is the mean over replicates of the total (t/week, 7-day steps): parts add up
    ts = run.ts[run.ts.metric == "illicit_route_t"]
    total = ts.groupby(["date", "replicate"])["value"].sum().groupby("date")
    stacked_top = max(p.vertices[:, 1].max() for p in stacks[-1].get_paths())
    assert stacked_top == pytest.approx(total.mean().max(), rel=1e-9)
    band = ax.collections[4]
    assert band.get_label() == "Total: 5-95 % of replicates"
    assert max(p.vertices[:, 1].max() for p in band.get_paths()) == pytest.approx(total.quantile(0.95).max())
    plt.close(fig)


def test_routemap_arrows_per_leg_and_node_labels(run):
    fig = build("routemap", run)
    ax = fig.axes[0]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    # illicit legs: CN-US, CN-TH, TH-US, CN-MX, MX-US, CN-DE; legal: CN-US, CN-DE
    assert len(arrows) == 8
    names = {t.get_text() for t in ax.texts}
    assert {"China", "Thailand", "Mexico", "United States", "Germany", "Australia"} <= names
    assert "Longitude" in ax.get_xlabel() and "Latitude" in ax.get_ylabel()
    plt.close(fig)


def test_interdiction_heatmap_cells_match_seizures(run):
    fig = build("interdiction", run)
    ax = fig.axes[0]
    img = ax.get_images()[0].get_array()
    assert img.shape == (6, 6)  # checkpoints x methods
    assert ax.get_yticklabels()[0].get_text() == "CN:export"  # route order, origin first
    ts = run.ts[(run.ts.metric == "seized_t")]
    cn_mislabel = ts[(ts.checkpoint == "CN:export") & (ts.method == "mislabel")].groupby("replicate")["value"].sum()
    col = [t.get_text() for t in ax.get_xticklabels()].index("mislabel")
    assert img[0, col] == pytest.approx(cn_mislabel.mean())
    assert len(ax.texts) == 36
    cbar = fig.axes[1]
    assert "Tonnes seized" in cbar.get_ylabel()
    plt.close(fig)


@pytest.mark.parametrize("name, top_label, bottom_label, n_top", [
    ("buyers", "Stock cover (days of demand)", "Defense shortfall (t/week)", 4),
    ("smugglers", "Smugglers (count)", "Smugglers per week\n(count, 4-week average)", 2)])
def test_two_panel_charts(run, name, top_label, bottom_label, n_top):
    fig = build(name, run)
    top, bottom = fig.axes[:2]
    assert top.get_ylabel() == top_label and bottom.get_ylabel() == bottom_label
    assert len(labelled_lines(top)) == n_top
    assert len(labelled_lines(bottom)) >= 1
    assert top.get_ylim()[0] == 0 and bottom.get_ylim()[0] == 0
    plt.close(fig)


def test_event_labels_do_not_overlap_each_other(run):
    fig = build("flows", run)
    fig.canvas.draw()
    ax = fig.axes[0]
    boxes = [t.get_window_extent() for t in ax.texts]
    assert len(boxes) == 3
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    inside = ax.get_window_extent()
    assert all(inside.x0 - 1 <= b.x0 and b.x1 <= inside.x1 + 1 and b.y1 <= inside.y1 + 1 for b in boxes)
    plt.close(fig)


@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_vector_formats_keep_text_as_text(runs, fmt):
    from sim.plots.style import save
    r = load_run(runs["ban_only"])
    with style():
        p = save(RUN_CHARTS["flows"](r), runs["ban_only"] / "charts" / f"flows.{fmt}")
    if fmt == "svg":
        assert "<text" in p.read_text() and "Tonnes per week" in p.read_text()
    else:
        from pypdf import PdfReader
        assert "Tonnes per week" in PdfReader(p).pages[0].extract_text()


def test_bad_results_folder_one_line_error(tmp_path):
    with pytest.raises(ResultsError, match="manifest.json: not found"):
        load_run(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ResultsError) as e:
        load_run(tmp_path)
    assert str(e.value).startswith(str(tmp_path / "manifest.json")) and "\n" not in str(e.value)


# ---- comparisons and sweeps -------------------------------------------------------------
def test_compare_charts(runs, tmp_path):
    comparison = make_comparison(runs)
    with style():
        fig = fig_kpi_differences(comparison)
    panels = [a for a in fig.axes if a.get_visible()]
    kpis = [k for k in comparison.kpi.unique() if comparison[comparison.kpi == k]["mean"].notna().any()]
    assert len(panels) == len(kpis)
    ax = next(a for a in panels if a.get_title(loc="left") == "Illicit deliveries")
    dots = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    assert len(dots) == 3  # baseline marker plus two scenarios
    want = comparison[(comparison.kpi == "illicit_delivered_t") & (comparison.scenario == "strong")]["diff_mean"]
    assert dots[-1].get_xdata()[0] == pytest.approx(want.iloc[0])
    assert ax.get_xlabel() == "Difference (t)"
    plt.close(fig)
    with style():
        fig = fig_compare_series({n: load_run(p) for n, p in runs.items()})
    assert len(fig.axes) == 6 and [a.get_title(loc="left") for a in fig.axes[:3]] == list(runs)
    assert fig.axes[0].get_shared_y_axes().joined(fig.axes[0], fig.axes[2])
    for ax in fig.axes:  # shared limits set after all data: no panel's median is cut off
        top = max(np.nanmax(ln.get_ydata()) for ln in labelled_lines(ax))
        assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] > top
    plt.close(fig)
    small = comparison[comparison.kpi.isin(["illicit_delivered_t", "leakage_share"])]  # keep the test fast
    paths = write_compare_charts(tmp_path, runs, small, "png")
    assert [p.name for p in paths] == ["kpi_differences.png", "series.png"]
    assert all(png_std(p) > 0.05 for p in paths)


def test_sweep_one_two_and_many_parameters_and_sobol(tmp_path):
    p1 = make_sweep_points({"customs.TH.capacity_per_week": [100, 200, 400, 800]}, replicates=3)
    with style():
        fig = fig_response(p1)
    panels = [a for a in fig.axes if a.get_visible()]
    assert len(panels) == 4  # the four varying KPIs; weeks_to_halve (all NaN) is dropped
    assert all(a.get_xlabel() == "customs.TH.capacity_per_week" for a in panels)
    mean_line = labelled_lines(panels[0])[0]
    want = p1.groupby("customs.TH.capacity_per_week")["illicit_delivered_t"].mean().to_numpy()
    np.testing.assert_allclose(mean_line.get_ydata(), want)
    plt.close(fig)
    p2 = make_sweep_points({"a.x": [1, 2, 3], "b.y": [0.5, 1.0]}, replicates=2)
    with style():
        fig = fig_response(p2)
    ax = fig.axes[0]
    assert ax.get_images()[0].get_array().shape == (3, 2)  # rows: first parameter, columns: second
    assert (ax.get_ylabel(), ax.get_xlabel()) == ("a.x", "b.y")
    plt.close(fig)
    sob = make_sobol(["a.x", "b.y", "c.z"])
    with style():
        fig = fig_sobol(sob)
    ax = fig.axes[0]
    bars = [p for p in ax.patches if p.get_height() == pytest.approx(0.38)]
    assert len(bars) == 6  # S1 and ST per parameter
    lo, hi = ax.get_xlim()  # the axis spans the estimates and their intervals, and at least 0-1
    reach = (sob[["S1", "ST"]].to_numpy() + sob[["S1_conf", "ST_conf"]].to_numpy()).max()
    assert lo <= min(0.0, (sob["S1"] - sob["S1_conf"]).min()) and hi >= max(1.0, reach)
    plt.close(fig)
    paths = write_sweep_charts(tmp_path, p1, sob, "png")
    assert [p.name for p in paths] == ["response.png", "cost_leakage.png", "sobol.png"]
    p3 = make_sweep_points({"a.x": [1, 2], "b.y": [1, 2], "c.z": [1, 2]}, replicates=1)
    assert write_sweep_charts(tmp_path / "many", p3)[0].exists()


def test_sweep_formats_of_sim_experiments():
    """Per-point means with n_ok/n_failed (no band) and Sobol tables keyed by `key` with NaN KPIs."""
    per_rep = make_sweep_points({"penalties.fine_multiple": [0.5, 1.0, 2.0]}, replicates=3)
    means = per_rep.groupby(["point", "penalties.fine_multiple"], as_index=False).mean(numeric_only=True)
    means = means.drop(columns="replicate").assign(n_ok=3, n_failed=0)
    with style():
        fig = fig_response(means)
    panels = [a for a in fig.axes if a.get_visible()]
    assert all(a.get_xlabel() == "penalties.fine_multiple" for a in panels)  # n_ok is not a parameter
    assert not panels[0].collections  # one row per point: no band to draw
    assert "over 3 replicates" in " ".join(t.get_text() for t in fig.texts)
    plt.close(fig)
    sob = make_sobol(["a.x", "b.y"]).rename(columns={"param": "key"})
    sob.loc[sob.kpi == "price_peak_index", ["S1", "S1_conf", "ST", "ST_conf"]] = np.nan
    with style():
        fig = fig_sobol(sob)
    assert [a.get_title(loc="left") for a in fig.axes if a.get_visible()] == ["illicit_delivered_t"]
    plt.close(fig)


# ---- brief and CLI ----------------------------------------------------------------------
def test_brief_is_one_a4_page_with_text(runs, tmp_path):
    from pypdf import PdfReader
    out = write_brief(list(runs.values()), tmp_path / "brief.pdf")
    reader = PdfReader(out)
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4 portrait in points
    text = reader.pages[0].extract_text()
    for s in (TITLE, "Answer: Compared with ban_only, crackdown cuts illicit", "Illicit deliveries (t)",
              "How much antimony", "ban_only", "crackdown", runs["strong"].name, "seed 7", "Caveats:"):
        assert s in " ".join(text.split()), s


def test_cli_plot_and_brief(runs, tmp_path, capsys, monkeypatch):
    from sim.cli import main
    from sim.plots import run as run_module
    monkeypatch.setattr(run_module, "RUN_CHARTS", {"prices": RUN_CHARTS["prices"]})  # wiring, not every chart
    assert main(["plot", str(runs["strong"].parent), "--format", "svg"]) == 0  # scenario folder: newest run
    assert (runs["strong"] / "charts" / "prices.svg").exists()
    out = tmp_path / "b.pdf"
    assert main(["brief", str(runs["strong"]), "--out", str(out)]) == 0 and out.exists()
    capsys.readouterr()
    assert main(["plot", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing" in err and "Traceback" not in err
