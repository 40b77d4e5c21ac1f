"""Calibration: bands and the fact registry, ABC-SMC on a toy model with a known posterior,
determinism, resume after an interruption, the `sim calibrate` command (tests/calibration_fixtures.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pyabc")

import sim.calibration.abc as abc_mod  # noqa: E402
import sim.model.runner  # noqa: E402
from sim import cli  # noqa: E402
from sim.calibration.abc import FactModel, calibrate, prepare  # noqa: E402
from sim.calibration.report import read_calibration  # noqa: E402
from sim.calibration.targets import Band, FactError, default_registry  # noqa: E402
from sim.experiments import ExperimentError  # noqa: E402
from tests import calibration_fixtures as cf  # noqa: E402
from tests.fake_model import fake_run  # noqa: E402


def run(db, budget=400, **kw):
    """A small in-process calibration of the toy scenario; returns (stats, calibration read back)."""
    kw = {"generations": 4, "particles": 40, "registry": cf.registry(), "run_fn": fake_run,
          "workers": 1, "progress": False, "log": lambda s: None, **kw}
    scenarios = kw.pop("scenarios", [cf.toy_scenario()])
    stats = calibrate(scenarios, budget, db, **kw)
    return stats, read_calibration(db, stats.priors, stats.facts)


# ---------------------------------------------------------------- bands and registry -------
def test_band_cost_is_zero_at_the_stated_value_and_one_at_each_edge():
    b = Band(2900, 4800, target=3834)
    assert b.cost(3834) == 0 and b.cost(2900) == pytest.approx(1) and b.cost(4800) == pytest.approx(1)
    assert b.cost(3834 + 483) == pytest.approx(0.5) and b.cost(2900 - 934) == pytest.approx(2)
    assert b.cost(float("nan")) == math.inf
    open_band = Band(10, target=27)  # ">= 10 x": nothing past the stated value costs
    assert open_band.cost(100) == 0 and open_band.cost(10) == pytest.approx(1) and open_band.cost(0) > 1
    assert Band(150, 300).target == 225 and open_band.text("x") == ">= 10 x"
    for bad in (lambda: Band(5, 5), lambda: Band(10), lambda: Band(0, 1, target=1)):
        with pytest.raises(FactError):
            bad()


def test_targets_never_include_a_held_out_check():
    reg = cf.registry()
    assert [f.id for f in reg.targets(["tiny"])] == ["T1"]          # T2 needs tiny_b too
    assert [f.id for f in reg.targets(["tiny", "tiny_b"])] == ["T1", "T2"]
    with pytest.raises(FactError, match="H1 is a held-out check: it may never set a parameter"):
        reg.targets(["tiny"], ["T1", "H1"])
    with pytest.raises(FactError, match="T2 is measured on tiny, tiny_b: list tiny_b"):
        reg.targets(["tiny"], ["T2"])
    with pytest.raises(FactError, match="unknown fact 'S9'"):
        reg.targets(["tiny"], ["S9"])
    with pytest.raises(FactError, match="defined twice"):
        reg.add(reg["T1"])


def test_the_project_registry_has_the_model_v2_facts_with_their_roles():
    """MODEL.md §8: S1-S6b are targets, S7 is reported, every H fact is held out and never a target."""
    reg = default_registry()
    roles = {f.id: f.role for f in reg}
    assert {k for k, r in roles.items() if r == "calibration"} == {"S1", "S2", "S4", "S5", "S6", "S6b"}
    assert roles["S7"] == "reported"
    assert {k for k in roles if k.startswith("H")} == {k for k, r in roles.items() if r == "held_out"}
    assert {"H1cn", "H1eu", "H2a", "H2b", "H3dy", "H3tb", "H3cn", "H4"} <= set(roles)
    assert {f.id for f in reg.targets(["antimony_2024", "crackdown_2025"])} == {"S1", "S2", "S4", "S5", "S6", "S6b"}


def test_fact_model_runs_every_scenario_on_one_replicate_and_rejects_invalid_sets():
    priors, facts = prepare([cf.toy_scenario(), cf.toy_scenario("tiny_b")], None, cf.registry())
    model = FactModel([cf.toy_scenario(), cf.toy_scenario("tiny_b")], facts, priors, fake_run)
    np.random.seed(3)
    out = model({"penalties.arrest_prob": 0.5, "penalties.fine_multiple": math.log(2.0)})
    assert out["T2"] == 0.0                                  # same replicate seed in both scenarios
    assert out["T1"] == pytest.approx(1.0, abs=0.05)
    bad = model({"penalties.arrest_prob": 1.5, "penalties.fine_multiple": 0.0})
    assert math.isnan(bad["T1"]) and "invalid parameter set" in bad[abc_mod.ERROR]


def test_priors_must_exist_and_fit_every_scenario_listed():
    with pytest.raises(ExperimentError, match="give no priors"):
        prepare([cf.toy_scenario().model_copy(update={"priors": {}})], None, cf.registry())
    th = {"countries.TH.cooperation": {"kind": "uniform", "low": 0.1, "high": 0.9, "reason": "x"}}
    with_th = cf.tiny_scenario("tiny", priors=th)
    no_th = cf.tiny_scenario("tiny_b", countries={"CN": {"roles": ["origin"]}, "MY": {"roles": ["transit"]},
                                                  "US": {"roles": ["destination"]}},
                             routes={"direct": {"destination": "US"}, "via_MY": {"destination": "US", "via": "MY"}})
    assert list(prepare([with_th], None, cf.registry())[0]) == ["countries.TH.cooperation"]
    with pytest.raises(ExperimentError, match="priors.countries.TH.cooperation: cannot be set in tiny_b"):
        prepare([with_th, no_th], None, cf.registry())
    with pytest.raises(ExperimentError, match="scenario names must differ"):
        prepare([with_th, with_th], None, cf.registry())


# ---------------------------------------------------------------- the calibration ----------
def test_posterior_concentrates_where_the_toy_fact_puts_it(tmp_path):
    stats, cal = run(tmp_path / "h.sqlite")
    assert stats.stopped == "4 generations done" and list(cal.generations["generation"]) == [0, 1, 2, 3]
    thresholds = cal.generations["threshold"].to_numpy()
    assert math.isnan(thresholds[0]) and (np.diff(thresholds[1:]) < 0).all()   # generation 0 is the prior
    post, w = cal.posterior, cal.posterior["weight"].to_numpy()
    assert w.sum() == pytest.approx(1) and len(post) == 40
    a = post["penalties.arrest_prob"].to_numpy()
    assert abs(np.average(a, weights=w) - 0.5) < 0.05          # y = 2 a in 0.9-1.1: a near 0.5
    assert np.average((a > 0.3) & (a < 0.7), weights=w) > 0.9
    fine = post["penalties.fine_multiple"].to_numpy()          # no effect on y: stays spread over its prior
    assert fine.min() < 0.5 and fine.max() > 2
    assert cal.predictive.set_index("id").loc["T1", "mean"] == pytest.approx(1.0, abs=0.1)
    assert stats.model_runs == stats.evaluations >= int(cal.generations["simulated"].sum())


def test_a_nuisance_prior_is_drawn_in_every_run_and_kept_with_it_but_not_estimated(tmp_path):
    """estimate = false: pyabc proposes only arrest_prob; fine_multiple is drawn from its prior in
    every run, and the posterior keeps each accepted run's own draw (so it spans the prior)."""
    sc = cf.toy_scenario()
    sc.priors["penalties.fine_multiple"] = sc.priors["penalties.fine_multiple"].model_copy(update={"estimate": False})
    stats, cal = run(tmp_path / "h.sqlite", scenarios=[sc])
    import pyabc
    h = pyabc.History(abc_mod.db_url(tmp_path / "h.sqlite"))
    assert set(h.get_distribution(m=0, t=h.max_t)[0].columns) == {"penalties.arrest_prob"}
    post, w = cal.posterior, cal.posterior["weight"].to_numpy()
    assert abs(np.average(post["penalties.arrest_prob"], weights=w) - 0.5) < 0.05
    fine = post["penalties.fine_multiple"].to_numpy()
    assert ((fine >= 0.1) & (fine <= 10)).all() and len(np.unique(fine)) > 30   # one draw per run
    assert fine.min() < 0.5 and fine.max() > 2
    assert "not estimated" in sc.priors["penalties.fine_multiple"].describe()
    sc.priors["penalties.arrest_prob"] = sc.priors["penalties.arrest_prob"].model_copy(update={"estimate": False})
    with pytest.raises(ExperimentError, match="nothing to estimate"):
        run(tmp_path / "h2.sqlite", scenarios=[sc])


def test_same_seed_same_history_for_any_number_of_workers(tmp_path):
    _, one = run(tmp_path / "one.sqlite", generations=2, particles=8)
    _, two = run(tmp_path / "two.sqlite", generations=2, particles=8, workers=2)
    pd.testing.assert_frame_equal(one.posterior, two.posterior)
    assert list(one.generations["simulated"]) == list(two.generations["simulated"])
    _, other = run(tmp_path / "other.sqlite", generations=2, particles=8, seed=99)
    assert not one.posterior.equals(other.posterior)


@pytest.mark.slow
def test_same_history_on_a_local_dask_cluster(tmp_path):
    pytest.importorskip("distributed")
    _, one = run(tmp_path / "one.sqlite", generations=2, particles=12)
    _, dask = run(tmp_path / "dask.sqlite", generations=2, particles=12, workers=2, scheduler="local-dask")
    pd.testing.assert_frame_equal(one.posterior, dask.posterior)


def test_resume_after_an_interruption_continues_the_same_history(tmp_path):
    _, whole = run(tmp_path / "whole.sqlite", generations=3, particles=20)
    cut = tmp_path / "cut.sqlite"
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C in generation 1 (20 runs for generation 0, then 7)
        run(cut, generations=3, particles=20, run_fn=cf.interrupt_after(27))
    assert abc_mod.stored_settings(cut)[1] == 1                 # generation 0 kept
    with pytest.raises(ExperimentError, match="already holds a calibration; add --resume"):
        run(cut, generations=3, particles=20)
    with pytest.raises(ExperimentError, match="particles: was 20, now 30"):
        run(cut, generations=3, particles=30, resume=True)
    stats, resumed = run(cut, generations=3, particles=20, resume=True)
    pd.testing.assert_frame_equal(whole.posterior, resumed.posterior)
    pd.testing.assert_frame_equal(whole.generations.drop(columns="wall_time_s"),
                                  resumed.generations.drop(columns="wall_time_s"))
    more, _ = run(cut, generations=3, particles=20, resume=True)   # nothing left to do
    assert more.evaluations == 0 and more.stopped == "3 generations done"


def test_budget_is_counted_over_the_whole_history(tmp_path):
    stats, cal = run(tmp_path / "b.sqlite", budget=60, generations=10, particles=20)
    assert cal.generations["simulated"].sum() <= 60 and stats.stopped.startswith(("budget", "budget reached"))


def test_failing_runs_are_rejected_and_counted_and_all_failing_stops(tmp_path):
    stats, cal = run(tmp_path / "f.sqlite", generations=2, particles=20, run_fn=cf.fails_above_0_8)
    assert stats.failures > 0 and "ValueError: no run above 0.8" in stats.last_failure
    assert cal.posterior["penalties.arrest_prob"].max() <= 0.8
    with pytest.raises(ExperimentError, match="the first 10 runs all failed; the last: ValueError"):
        run(tmp_path / "g.sqlite", generations=2, particles=20, run_fn=cf.always_fails)


# ---------------------------------------------------------------- the command --------------
@pytest.fixture
def toy_cli(monkeypatch, tmp_path):
    monkeypatch.setattr(sim.model.runner, "run_replicate", fake_run)
    monkeypatch.setattr(abc_mod, "default_registry", cf.registry)
    return cf.write_toy(tmp_path)


def test_sim_calibrate_writes_posterior_history_and_diagnostics(toy_cli, capsys):
    status = cli.main(["calibrate", str(toy_cli), "--budget", "300", "--particles", "30", "--generations", "2",
                       "--workers", "1"])
    out, err = capsys.readouterr()
    assert status == 0, err
    folder = toy_cli.parent
    names = {p.name for p in folder.iterdir()}
    assert {"tiny.posterior.parquet", "tiny.posterior.sqlite", "tiny.posterior.md", "tiny.posterior.png"} <= names
    table = pq.read_table(folder / "tiny.posterior.parquet")
    assert table.column_names == ["penalties.arrest_prob", "penalties.fine_multiple", "weight"]
    assert sum(table.column("weight").to_pylist()) == pytest.approx(1)
    assert b"sim.calibration" in table.schema.metadata
    page = (folder / "tiny.posterior.md").read_text()
    for text in ("## Generations", "| 0 | none (prior) | 30 | 30 | 100% |", "## Targets under the posterior",
                 "| `penalties.arrest_prob` | share 0-1 | uniform 0 to 1 | toy: anything |", "tiny.posterior.png"):
        assert text in page, text
    assert "simulations/s" in out and "T1" in out and "generation 1:" in err
    again = cli.main(["calibrate", str(toy_cli), "--budget", "300", "--particles", "30", "--workers", "1"])
    assert again == 2 and "add --resume" in capsys.readouterr().err


def test_sim_calibrate_refuses_a_held_out_fact_and_bad_output(toy_cli, capsys):
    assert cli.main(["calibrate", str(toy_cli), "--budget", "50", "--facts", "H1"]) == 2
    assert "H1 is a held-out check" in capsys.readouterr().err
    assert cli.main(["calibrate", str(toy_cli), "--budget", "50", "--out", "x.csv"]) == 2
    assert "must end in .parquet" in capsys.readouterr().err


def test_sim_calibrate_interrupted_then_resumed(toy_cli, capsys, monkeypatch):
    monkeypatch.setattr(sim.model.runner, "run_replicate", cf.interrupt_after(25))
    args = ["calibrate", str(toy_cli), "--budget", "300", "--particles", "20", "--generations", "2", "--workers", "1"]
    assert cli.main(args) == 130
    err = capsys.readouterr().err
    assert "interrupted: 1 generation kept" in err and "--resume" in err
    monkeypatch.setattr(sim.model.runner, "run_replicate", fake_run)
    assert cli.main(args + ["--resume"]) == 0
    assert "stopped: 2 generations done" in capsys.readouterr().out
    assert cli.main(args + ["--resume"]) == 0                     # nothing left: outputs rewritten
    assert "no new runs" in capsys.readouterr().out
