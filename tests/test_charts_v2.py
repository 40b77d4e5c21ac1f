"""Charts on synthetic version-2 results (tests/v2_fixtures.py): Sankey of the origin's goods,
tornado, cost against leakage, bounds that bind, route map scales, jailed smugglers, Sobol
warnings, and readers that reject badly shaped files with one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from plot_fixtures import make_sobol, make_sweep_points
from v2_fixtures import ARRIVE, DIVERT_EXTRA, SEIZED, UNSOLD, make_levers, make_v2_compare, make_v2_results

from sim.outputs.read import ResultsError
from sim.plots import RUN_CHARTS, fig_sobol, load_run, style, write_run_charts
from sim.plots.bounds import binding_bounds
from sim.plots.effects import fig_tornado, fig_tradeoff, tornado_rows, tradeoff_points
from sim.plots.inputs import load_compare, load_levers, load_validation
from sim.plots.sankey import origin_flows, sankey_table
from sim.plots.style import BOUND_COLOR


@pytest.fixture(scope="module")
def v2(tmp_path_factory):
    root = tmp_path_factory.mktemp("v2")
    return {"capped": make_v2_results(root, "capped", 4, price_cap=2.2, hub_cap=True, guard_weeks=2.0),
            "plain": make_v2_results(root, "plain", 3, crackdown=False)}


def build(name, run):
    with style():
        return RUN_CHARTS[name](run)


def texts(fig) -> str:
    """All text of a figure, whitespace (including wrapping) normalised."""
    return " ".join(" ".join(t.get_text() for t in fig.findobj(plt.Text)).split())


def test_every_run_chart_of_v2_results_drawn_and_not_blank(v2):
    paths = write_run_charts(v2["capped"])
    assert {p.stem for p in paths} == set(RUN_CHARTS) and "sankey" in RUN_CHARTS
    for p in paths:
        assert mpimg.imread(p)[..., :3].std() > 0.05, p.name
        assert oct(p.stat().st_mode & 0o777) == "0o644"  # not mkstemp's 0600


def test_sankey_flows_add_up_and_match_the_series(v2):
    run = load_run(v2["capped"])
    sk = origin_flows(run)
    flows = {(a, b): t for a, b, t in sankey_table(sk)}
    ts = run.ts

    def total(metric, **f):  # mean over replicates of the run total
        d = ts[ts.metric == metric]
        for k, v in f.items():
            d = d[d[k] == v]
        return d.groupby("replicate")["value"].sum().mean()
    departed = total("departed_t")
    assert flows[("China: legal sales and diversion", "Diverted to smugglers")] == pytest.approx(DIVERT_EXTRA * departed)
    assert flows[("China: legal sales and diversion", "Legal: China (domestic)")] == pytest.approx(total("legal_flow_t", supplier="cn_sb",
                                                                                      market="CN"))
    assert ("China: legal sales and diversion", "Legal: Australia") not in flows  # other suppliers' goods are not the origin's
    assert flows[("Diverted to smugglers", "Held by smugglers at origin (rest)")] == \
        pytest.approx((DIVERT_EXTRA - 1) * departed)
    via_th = total("departed_t", route="us_th")
    assert flows[("Diverted to smugglers", "Smuggled via Thailand")] == pytest.approx(via_th)
    assert flows[("Smuggled via Thailand", "Delivered to United States")] == \
        pytest.approx(total("illicit_route_t", route="us_th"))
    assert flows[("Seized or in transit", "Seized")] == pytest.approx(total("seized_t"))
    unsold = ts[ts.metric == "unsold_t"].groupby("replicate")["value"].sum().mean()
    assert flows[("Delivered to United States", "Unsold at the end")] + \
        flows[("Delivered to Germany", "Unsold at the end")] == pytest.approx(unsold)
    # every node that passes goods on passes on all it receives; the rest end there
    ends = set()
    for nid, (col, label, _) in sk.nodes.items():
        got = sum(t for a, b, t in sk.links if b == nid)
        sent = sum(t for a, b, t in sk.links if a == nid)
        if col and sent:
            assert sent == pytest.approx(got), label
        elif col:
            ends.add(label)
    assert sum(sk.value(n) for n, v in sk.nodes.items() if v[1] in ends) == pytest.approx(sk.value("origin"))
    assert ARRIVE + SEIZED < 1 and UNSOLD > 0  # the fixture leaves goods in transit and unsold
    fig = build("sankey", run)
    labels = texts(fig)
    for s in ("Diverted to smugglers", "Smuggled via Mexico", "Seized", "In transit at the end (rest)",
              "Unsold at the end", "Legal: Germany", "mean of 4 replicates"):
        assert s in labels, s
    plt.close(fig)


def test_older_results_without_diversion_still_give_a_sankey(tmp_path):
    from plot_fixtures import make_results
    run = load_run(make_results(tmp_path, "v1", 3))
    sk = origin_flows(run)
    assert sk.value("diverted") == pytest.approx(sk.value("origin") - sum(
        t for a, b, t in sk.links if a == "origin" and b.startswith("legal:")))
    assert "held" not in {b for _, b, _ in sk.links}  # diverted = departed when diversion is not recorded


def test_bounds_that_bind_are_found_and_annotated(v2):
    run = load_run(v2["capped"])
    kinds = {b.kind: b for b in binding_bounds(run)}
    assert {"price guard", "price cap", "import cap"} <= set(kinds)
    cap = kinds["price cap"]
    assert (cap.market, cap.commodity, cap.level) == ("US", "sb", 2.2)
    d = run.ts[(run.ts.metric == "price_index") & (run.ts.market == "US") & (run.ts.commodity == "sb")]
    assert cap.weeks == pytest.approx((d["value"] >= 2.2 * (1 - 1e-6)).groupby(d["replicate"]).sum().mean())
    assert kinds["import cap"].where == "Thailand" and "t refused" in kinds["import cap"].detail
    assert not [b for b in binding_bounds(load_run(v2["plain"])) if b.model_artefact]
    fig = build("prices", run)
    ax = fig.axes[0]
    bound_lines = [ln for ln in ax.get_lines() if ln.get_color() == BOUND_COLOR]
    assert len(bound_lines) == 1 and bound_lines[0].get_ydata()[0] == 2.2
    assert any(t.get_text().startswith("Price cap 2.2x binds: United States") for t in ax.texts)
    assert ax.get_ylim()[1] > 2.2  # the annotation sits inside the axes
    plt.close(fig)
    fig = build("routemap", run)
    notes = [t for t in fig.axes[0].texts if t.get_text().startswith("import cap binds")]
    assert len(notes) == 1 and notes[0].get_color() == BOUND_COLOR
    plt.close(fig)


def test_routemap_has_separate_scales_and_other_suppliers(v2):
    run = load_run(v2["capped"])
    fig = build("routemap", run)
    ax = fig.axes[0]
    labels = ax.get_legend().get_texts()
    legal = [t.get_text() for t in labels if t.get_text().startswith("Legal shipments")]
    illicit = [t.get_text() for t in labels if t.get_text().startswith("Illicit")]
    assert len(legal) == 2 and len(illicit) == 2
    tot = run.ts[(run.ts.metric == "legal_flow_t")].groupby(["supplier", "market", "replicate"])["value"].sum()
    biggest = tot.groupby(["supplier", "market"]).mean().drop(index=[("cn_sb", "CN")]).max()
    assert legal[0] == f"Legal shipments: {biggest:,.0f} t"  # the legal scale's own maximum
    assert "widths scaled separately" in ax.get_legend().get_title().get_text()
    hubs = [t for t in ax.texts if t.get_text() in ("Thailand", "Mexico")]
    assert len(hubs) == 2 and all(t.get_fontweight() == "bold" and t.get_path_effects() for t in hubs)
    plt.close(fig)


def test_jailed_smugglers_are_drawn_from_their_series(v2):
    run = load_run(v2["capped"])
    fig = build("smugglers", run)
    jailed = next(ln for ln in fig.axes[0].get_lines() if ln.get_label() == "Jailed")
    d = run.ts[run.ts.metric == "jailed_smugglers"].groupby(["date", "replicate"])["value"].sum()
    np.testing.assert_allclose(jailed.get_ydata(), d.groupby("date").median().to_numpy())
    peak = d.groupby("replicate").max().mean()
    assert f"at most {peak:,.0f} in prison at once" in texts(fig)
    plt.close(fig)


def test_tornado_orders_levers_by_swing_with_bands(tmp_path):
    levers = load_levers(make_levers(tmp_path / "levers.csv"))
    rows = tornado_rows(levers, "illicit_delivered_t")
    assert list(rows["lever"]) == ["customs.CN.capacity_per_week", "penalties.fine_multiple", "exporters.trace_prob",
                                   "countries.TH.cooperation"]
    assert list(rows["low_setting"]) == ["100", "1", "0.05", "0"]
    with style():
        fig = fig_tornado(levers, source="src")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["CN capacity per week", "fine multiple", "trace prob",
                                                            "TH cooperation"]
    widths = sorted(round(p.get_width(), 6) for p in ax.patches)
    assert widths == sorted(round(v, 6) for v in [310.0, -820.0, 60.0, -240.0, 15.0, -35.0, 5.0, -8.0])
    assert ax.get_xlabel() == "Change in illicit deliveries (t)"
    pale = sorted(round(p.get_width(), 6) for p in ax.patches if p.get_facecolor()[3] < 0.5)
    assert pale == [-8.0, 5.0, 15.0]  # bands that include zero: cooperation, and trace prob's low setting
    assert "Largest effect: CN capacity per week, 100 to 1500" in texts(fig)
    plt.close(fig)


def test_lever_table_errors_are_one_line(tmp_path):
    p = tmp_path / "levers.csv"
    p.write_text("lever,setting,kpi,mean,p05\nx,1,illicit_delivered_t,1,1\n")
    with pytest.raises(ResultsError, match=r"levers.csv: missing columns p95$"):
        load_levers(p)
    p.write_text("lever,setting,kpi,mean,p05,p95\nx,1,illicit_delivered_t,lots,1,2\n")
    with pytest.raises(ResultsError, match=r"column mean, row 1: expected a number \(got 'lots'\)"):
        load_levers(p)


def test_cost_against_leakage_from_a_comparison_and_a_sweep(tmp_path):
    folder = make_v2_compare(tmp_path, 3)
    comp = load_compare(folder)
    pts = tradeoff_points(comp.table)
    assert list(pts["label"]) == ["status_quo", "crackdown"] and list(pts["status_quo"]) == [True, False]
    t = comp.table.set_index(["scenario", "kpi"])
    assert pts.loc[1, "x"] == t.loc[("crackdown", "enforcement_cost_usd"), "mean"]
    assert pts.loc[1, "y_p95"] == t.loc[("crackdown", "illicit_delivered_t"), "p95"]
    with style():
        fig = fig_tradeoff(pts, source="src")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Enforcement cost (USD)" and ax.get_ylabel() == "Illicit deliveries (t)"
    assert ax.get_xlim()[0] == 0 and ax.get_xlim()[1] > pts["x_p95"].max()  # from zero, room for labels
    assert {t.get_text() for t in ax.texts} == {"status_quo", "crackdown"}
    plt.close(fig)
    sweep = make_sweep_points({"customs.TH.capacity_per_week": [100, 400, 800]}, replicates=4)
    pts = tradeoff_points(sweep=sweep, params=["customs.TH.capacity_per_week"])
    assert len(pts) == 3 and pts["label"].iloc[0] == "TH capacity per week = 100"
    first = sweep[sweep["customs.TH.capacity_per_week"] == 100]["illicit_delivered_t"]
    assert pts["y"].iloc[0] == pytest.approx(first.mean()) and pts["y_p05"].iloc[0] == pytest.approx(first.quantile(0.05))


def test_sobol_warns_when_the_sample_is_too_small():
    good = make_sobol(["a.x", "b.y"])
    with style():
        fig = fig_sobol(good)
    assert "Warning" not in texts(fig)
    plt.close(fig)
    bad = good.copy()
    bad.loc[0, ["ST", "ST_conf"]] = [1.7, 0.4]
    with style():
        fig = fig_sobol(bad)
    ax = fig.axes[0]
    assert ax.get_xlim()[1] >= 2.1  # the axis reaches the bar and its interval
    warning = [t for t in fig.texts if t.get_text().startswith("Warning: sample too small")]
    assert len(warning) == 1 and warning[0].get_color() == BOUND_COLOR
    assert "estimates outside 0-1" in warning[0].get_text() and "\u00b10.40" in warning[0].get_text()
    assert "shaded: outside 0-1" in fig.get_supxlabel()
    plt.close(fig)


@pytest.mark.parametrize("name, content, message", [
    ("manifest.json", "[1, 2]", "manifest.json: expected a table (got a list)"),
    ("manifest.json", '{"scenario": "x"}', "manifest.json: scenario: expected a table (got text)"),
    ("manifest.json", '{"scenario": {}, "events": [{"date": 7}]}', "events[0].date: expected text (got a number)"),
    ("manifest.json", '{"scenario": {}, "events": [{"date": "soon"}]}', "events[0].date: expected a date YYYY-MM-DD"),
    ("manifest.json", '{"scenario": {}, "replicates": "4"}', "manifest.json: replicates: expected a whole number"),
    ("kpis.json", '{"per_replicate": {}}', "kpis.json: per_replicate: expected a list (got a table)"),
    ("kpis.json", '{"per_replicate": [{"replicate": 0, "x": "big"}]}', "per_replicate[0].x: expected a number"),
    ("kpis.json", '{"summary": {"x": {"mean": []}}}', "summary.x.mean: expected a number (got a list)"),
])
def test_badly_shaped_results_files_give_one_line(tmp_path, name, content, message):
    from plot_fixtures import make_results
    run = make_results(tmp_path, "shape", 2)
    (run / name).write_text(content)
    with pytest.raises(ResultsError) as e:
        load_run(run)
    text = str(e.value)
    assert text.startswith(str(run / name)) and message in text and "\n" not in text


def test_cli_plot_reports_a_bad_manifest_in_one_line(tmp_path, capsys):
    from plot_fixtures import make_results

    from sim.cli import main
    run = make_results(tmp_path, "shape", 2)
    m = json.loads((run / "manifest.json").read_text())
    m["events"] = "none"
    (run / "manifest.json").write_text(json.dumps(m))
    assert main(["plot", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "events: expected a list (got text)" in err and "Traceback" not in err


def test_validation_reports_are_read_from_markdown_csv_and_json(tmp_path):
    md = load_validation(Path(__file__).parents[1] / "docs" / "validation.md")  # the shipped report
    assert {"S1", "S7", "H1cn", "H4"} <= set(md["id"])
    assert (md["held_out"] == md["id"].str.startswith("H")).all()    # "**held out**" rows, and only those
    (tmp_path / "v.csv").write_text("id,role,result\nS1,calibration,pass\nX9,held out,fail\nH2,,pass\n")
    v = load_validation(tmp_path / "v.csv").set_index("id")
    assert v.loc["X9", "held_out"] and v.loc["X9", "failed"] and v.loc["H2", "held_out"] and not v.loc["S1", "held_out"]
    (tmp_path / "v.json").write_text(json.dumps({"facts": [{"id": "H4", "result": "FAIL"}]}))
    assert load_validation(tmp_path / "v.json")["failed"].tolist() == [True]
    (tmp_path / "bad.md").write_text("# nothing here\n")
    with pytest.raises(ResultsError, match="no table with columns id and result"):
        load_validation(tmp_path / "bad.md")


def test_v2_timeseries_keeps_nulls_and_reads_as_one_form(v2):
    ts = pd.read_parquet(v2["capped"] / "timeseries.parquet")
    assert ts["route"].isna().any() and not (ts["route"] == "").any()
    run = load_run(v2["capped"])
    assert (run.ts["supplier"] == "").any() and run.ts["supplier"].notna().all()
    assert set(run.ts.loc[run.ts.metric == "legal_flow_t", "supplier"]) == {"cn_sb", "au_sb"}
