"""`sim levers`: levers found in the scenario, their settings, paired differences on common random
numbers, the lever table and its tornado chart, words derived from the run, and the command line.

Small worlds (tests/model_fixtures.py's tiny world with a ban) and few steps keep these fast.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sim.calibration import lever_page, lever_words
from sim.calibration.lever_cli import merge, parse_lever
from sim.calibration.levers import COLUMNS, KPIS, discover, run_levers
from sim.cli import main
from sim.experiments import ExperimentError, apply_params, run_kpis
from sim.plots.effects import fig_tornado
from sim.plots.inputs import load_levers
from sim.plots.style import style
from sim.scenario import dump_toml
from tests.model_fixtures import BAN, tiny

EVENTS = {"events.op.step": 6, "events.op.set": {"customs.CN.capacity_per_week": 600.0,
                                                  "penalties.arrest_prob": 0.5,
                                                  "customs.CN.technologies": ["xray", "document_check", "trace_tags"]}}


def world(**settings):
    return tiny({**BAN, "steps": 16, **settings})


def keys(found):
    return [lv.key for lv in found.levers]


# ---------------------------------------------------------------- discovery ---------------------
def test_levers_are_found_in_the_scenario_with_their_settings():
    sc = world(**EVENTS, **{"exporters.trace_prob": 0.8, "exporters.penalty_multiple": 2.0})
    found = discover(sc)
    assert keys(found) == [
        "customs.CN.capacity_per_week", "customs.TH.capacity_per_week", "customs.MY.capacity_per_week",
        "customs.CN.technologies", "customs.TH.technologies", "customs.MY.technologies", "customs.CN.trace_tags",
        "penalties.fine_multiple", "penalties.arrest_prob", "penalties.sentence_years", "exporters.trace_prob",
        "exporters.penalty_multiple", "countries.TH.cooperation", "countries.MY.cooperation"]
    lv = {x.key: x for x in found.levers}
    cap = lv["customs.CN.capacity_per_week"]  # x0.5 and x2, the event's value too
    assert cap.low.params == {"customs.CN.capacity_per_week": 100.0,
                              'events.op.set."customs.CN.capacity_per_week"': 300.0}
    assert cap.high.params["events.op.set.\"customs.CN.capacity_per_week\""] == 1200.0
    assert "op" in cap.note and cap.base == "200 (600 from 2025-02-12)"
    arrest = lv["penalties.arrest_prob"]     # halfway to 0 and to 1
    assert arrest.low.params == {"penalties.arrest_prob": 0.15, 'events.op.set."penalties.arrest_prob"': 0.25}
    assert arrest.high.params == {"penalties.arrest_prob": 0.65, 'events.op.set."penalties.arrest_prob"': 0.75}
    assert lv["exporters.trace_prob"].high.params == {"exporters.trace_prob": 1.0}  # 0.8 x 2 kept <= 1
    tech = lv["customs.CN.technologies"]
    assert tech.low.params == {"customs.CN.technologies": ["document_check"],
                               'events.op.set."customs.CN.technologies"': ["document_check", "trace_tags"]}
    assert tech.high.params["customs.CN.technologies"] == [
        "xray", "document_check", "density_scan", "ai_image", "isotope_fingerprint", "trade_anomaly"]
    tags = lv["customs.CN.trace_tags"]       # the event brings tags: never, or from the start
    assert tags.low.params == {'events.op.set."customs.CN.technologies"': ["xray", "document_check"]}
    assert tags.high.params == {"customs.CN.technologies": ["xray", "document_check", "trace_tags"]}
    for x in found.levers:                   # every setting is a valid scenario
        for s in x.settings:
            apply_params(sc, s.params)


def test_what_the_scenario_does_not_offer_is_said_with_the_reason():
    found = discover(world())               # the US does not cooperate; trace_prob is 0 in the tiny world
    assert "customs.US.capacity_per_week" not in keys(found) and "exporters.trace_prob" not in keys(found)
    assert any("United States" in s or "US" in s and "cooperation is 0" in s for s in found.skipped)
    assert any("exporters.trace_prob" in s and "neither setting differs" in s for s in found.skipped)
    cooperating = discover(world(**{"countries.US.cooperation": 0.4}))
    assert "customs.US.capacity_per_week" in keys(cooperating)
    direct = discover(world(routes={"direct": {"destination": "US", "leg1_steps": 2}}))
    assert not [k for k in keys(direct) if ".TH." in k or ".MY." in k]


def test_a_given_lever_adds_or_replaces_with_factors_or_values():
    sc = world(**EVENTS)
    lv = parse_lever("customs.CN.capacity_per_week=x0.25,x4", sc)
    assert lv.low.params == {"customs.CN.capacity_per_week": 50.0, 'events.op.set."customs.CN.capacity_per_week"': 150.0}
    ab = parse_lever("penalties.arrest_prob=0.1, 0.9", sc)
    assert ab.high.params == {"penalties.arrest_prob": 0.9} and "keep their own values" in ab.note
    lists = parse_lever('customs.TH.technologies=["document_check"],["xray","ai_image"]', sc)
    assert lists.high.params == {"customs.TH.technologies": ["xray", "ai_image"]}
    merged = merge(discover(sc).levers, [ab])
    assert [x.key for x in merged].count("penalties.arrest_prob") == 1 and ab in merged
    for text, msg in [("penalties.arrest_prob=0.1", "expected KEY=LOW,HIGH"),
                      ("penalties.arrest_prob=0.1,1.5", "penalties.arrest_prob: must be <= 1"),
                      ("customs.CN.technologies=x2,x3", "needs a factor >= 0 and a numeric key"),
                      ("penalties.nope=1,2", "the scenario has no such key")]:
        with pytest.raises(ExperimentError, match=msg.replace("(", r"\(")):
            parse_lever(text, sc)


# ---------------------------------------------------------------- runs --------------------------
@pytest.fixture(scope="module")
def study():
    sc = world()
    levers = [parse_lever("penalties.arrest_prob=0.1,0.95", sc), parse_lever("customs.CN.capacity_per_week=x0.5,x2", sc),
              parse_lever("customs.MY.capacity_per_week=50,400", tiny({**BAN, "steps": 16}))]
    return run_levers(sc, levers, 4, workers=1, progress=False)


def test_paired_differences_are_run_minus_scenario_on_common_random_numbers(study):
    sc = study.scenario
    base = run_kpis(sc, 4, workers=1, progress=False)
    lv = study.levers[1]
    high = run_kpis(apply_params(sc, lv.high.params), 4, workers=1, progress=False)
    t = study.table.set_index(["lever", "setting", "kpi"])
    for k in KPIS:
        d = (high[k] - base[k]).to_numpy()
        row = t.loc[(lv.key, "high", k)]
        np.testing.assert_allclose([row["mean"], row["p05"], row["p95"]],
                                   [d.mean(), np.percentile(d, 5), np.percentile(d, 95)], rtol=1e-12, atol=1e-9)
    assert study.means["base"]["illicit_delivered_t"] == pytest.approx(base["illicit_delivered_t"].mean())


def test_much_higher_arrest_probability_lowers_illicit_deliveries(study):
    low, high = lever_page.effects(study)["penalties.arrest_prob"]
    assert high.p95 < 0 and high.moves and high.expected      # 0.95: fewer tonnes, beyond the noise
    assert high.mean < low.mean
    assert lever_page.verdict((low, high)) == "moves"
    first = lever_page.answer(study)[0]
    assert first.startswith("Beyond the Monte Carlo noise") and "Arrest probability per seizure (0.1: " in first


def test_lever_table_shape_and_the_brief_reads_it(study, tmp_path):
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    folder = lever_page.write_study(study, tmp_path, ["sim", "levers"], now, now)
    df = pd.read_csv(folder / "levers.csv")
    assert list(df.columns) == COLUMNS
    assert len(df) == len(study.levers) * 2 * len(KPIS)
    assert set(df["setting"]) == {"low", "high"} and set(df["kpi"]) == set(KPIS)
    assert list(df[df["lever"] == "penalties.arrest_prob"]["value"].unique()) == ["0.1", "0.95"]
    lev = load_levers(folder / "levers.csv")
    assert set(lev["end"]) == {"low", "high"}
    assert set(lev[lev["lever"] == "customs.CN.capacity_per_week"]["setting"]) == {"x0.5", "x2"}
    doc = json.loads((folder / "levers.json").read_text())
    assert doc["scenario"] == "tiny" and len(doc["rows"]) == len(df) and doc["words"]
    assert doc["levers"][1]["high"]["sets"] == {"customs.CN.capacity_per_week": 400.0}
    assert (folder / "tornado.png").stat().st_size > 10_000
    assert "![Lever effects on illicit deliveries, tiny](tornado.png)" in (folder / "levers.md").read_text()


def test_tornado_has_a_bar_per_setting_with_the_paired_means(study, tmp_path):
    study.table.to_csv(tmp_path / "levers.csv", index=False)
    lev = load_levers(tmp_path / "levers.csv")
    with style():
        fig = fig_tornado(lev, "illicit_delivered_t", top=10)
    ax = fig.axes[0]
    main_rows = study.table[study.table["kpi"] == "illicit_delivered_t"]
    bars = sorted(round(p.get_width(), 6) for p in ax.patches)
    assert bars == sorted(round(v, 6) for v in main_rows["mean"])
    assert len(ax.get_yticklabels()) == len(study.levers)
    labels = {t.get_text() for t in ax.texts}
    assert {"x0.5", "x2", "0.1", "0.95", "50", "400"} <= labels


def test_words_come_from_the_run(study):
    my = lever_page.effects(study)["customs.MY.capacity_per_week"][1]
    text = lever_words.reason(my, study)
    b = lever_words.Facts(study.scenario, study.summaries["base"], study.means["base"])
    assert f"{lever_words.pct(b.share_through('MY'))} of smuggled tonnes travel through MY" in text
    assert lever_words.pct(study.means["base"]["interdiction_rate"]) in text
    # the same share from the time series directly: tonnes departed on routes via MY over all departed
    from sim.model.runner import run_replicate

    ts = pd.concat([run_replicate(study.scenario, r).timeseries for r in range(4)])
    dep = ts[ts["metric"] == "departed_t"]
    share = dep[dep["route"] == "via-MY"]["value"].sum() / dep["value"].sum()
    assert b.share_through("MY") == pytest.approx(share)
    table = lever_page.format_table(study)
    assert max(len(line) for line in table.splitlines()) <= 80
    assert "Arrest probability" in table and "x2" in table


def test_a_setting_that_changes_nothing_is_named_as_such():
    sc = tiny({**BAN, "steps": 12}, drop=("routes.via-MY",))    # nobody goes through Malaysia
    lv = parse_lever("customs.MY.capacity_per_week=10,1000", sc)
    st = run_levers(sc, [lv], 2, workers=1, progress=False)
    eff = lever_page.effects(st)[lv.key]
    assert lever_page.verdict(eff) == "little"
    assert "no replicate's deliveries, diversion or seizures changed at all" in lever_words.reason(eff[1], st)


# ---------------------------------------------------------------- the command -------------------
def test_command_writes_folder_and_page(tmp_path, capsys):
    f = tmp_path / "tiny.toml"
    f.write_text(dump_toml(world()))
    doc = tmp_path / "docs" / "levers.md"
    status = main(["levers", str(f), "--only", "--lever", "penalties.arrest_prob=0.1,0.95", "--replicates", "3",
                   "--workers", "1", "--out", str(tmp_path / "res"), "--doc", str(doc)])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "Illicit" in out and "0.95" in out and "results:" in out
    folders = list((tmp_path / "res" / "tiny").glob("levers-*"))
    assert len(folders) == 1 and (folders[0] / "levers.csv").is_file()
    text = doc.read_text()
    assert "sim levers" in text and "](img/levers-tiny.png)" in text and (doc.parent / "img" / "levers-tiny.png").is_file()


@pytest.mark.parametrize("extra, message", [
    (["--replicates", "1"], "--replicates: need at least 2"),
    (["--lever", "penalties.arrest_prob=0.1"], "--lever 'penalties.arrest_prob=0.1': expected KEY=LOW,HIGH"),
    (["--lever", "penalties.arrest_prob=0.1,2"], "penalties.arrest_prob: must be <= 1"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, extra, message):
    f = tmp_path / "tiny.toml"
    f.write_text(dump_toml(world()))
    status = main(["levers", str(f), "--only", "--out", str(tmp_path / "res"), *extra])
    _out, err = capsys.readouterr()
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not list((tmp_path / "res").glob("*/levers-*"))


# ---------------------------------------------------------------- posterior ---------------------
def test_every_setting_uses_the_replicates_posterior_draw(tmp_path):
    from sim.experiments.execution import default_run_fn
    from sim.experiments.posterior import load_posterior

    path = tmp_path / "post.parquet"
    pd.DataFrame({"smugglers.initial": [20, 60, 100], "weight": [1.0, 1.0, 1.0]}).to_parquet(path, index=False)
    post = load_posterior(path)
    sc = world()
    lv = parse_lever("penalties.arrest_prob=0.1,0.95", sc)
    st = run_levers(sc, [lv], 4, workers=1, run_fn=post.wrap(default_run_fn()), progress=False)
    base = run_kpis(sc, 4, workers=1, progress=False, run_fn=post.wrap(default_run_fn()))
    high = run_kpis(apply_params(sc, lv.high.params), 4, workers=1, progress=False, run_fn=post.wrap(default_run_fn()))
    d = (high["illicit_delivered_t"] - base["illicit_delivered_t"]).to_numpy()
    row = st.table.set_index(["lever", "setting", "kpi"]).loc[(lv.key, "high", "illicit_delivered_t")]
    assert row["mean"] == pytest.approx(d.mean()) and row["p05"] == pytest.approx(np.percentile(d, 5))
    assert len({post.draw(sc.seed, r) for r in range(4)}) > 1   # the draws differ between replicates


def test_a_lever_the_posterior_draws_is_left_out_or_refused(tmp_path, capsys):
    import argparse

    from sim.calibration.lever_cli import _prepare

    path = tmp_path / "post.parquet"
    pd.DataFrame({"penalties.fine_multiple": [0.5, 2.0], "weight": [1.0, 1.0]}).to_parquet(path, index=False)
    f = tmp_path / "tiny.toml"
    f.write_text(dump_toml(world()))
    args = argparse.Namespace(files=[str(f)], overrides=[], seed=None, steps=None, lever=[], only=False,
                              posterior=str(path))
    [(_sc, levers, skipped)], post = _prepare(args)
    assert "penalties.fine_multiple" not in [lv.key for lv in levers] and post.posterior is not None
    assert any("penalties.fine_multiple" in s and "--posterior" in s for s in skipped)
    status = main(["levers", str(f), "--lever", "penalties.fine_multiple=x0.5,x2", "--posterior", str(path),
                   "--out", str(tmp_path / "res")])
    err = capsys.readouterr().err
    assert status == 2 and "do not also set or vary it" in err
