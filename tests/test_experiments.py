"""sim.experiments: executors, common random numbers, failures, sweeps, resume, Sobol, Python API.

Most tests use tests/fake_model.py (fast, deterministic in (scenario, replicate)); the
real model appears in tests marked slow.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

import sim.model.runner
from sim.cli import main
from sim.experiments import (
    ExperimentError,
    RunFailure,
    apply_params,
    compare,
    kpi_frame,
    make_model_function,
    read_runs,
    replicate_seed,
    run_kpis,
    run_replicates,
    sweep,
)
from sim.experiments.execution import call_model
from sim.experiments.sweep import design_points, parse_vary
from sim.scenario import dump_toml
from tests.fake_model import (
    InterruptAfter,
    Recorder,
    crashing_run,
    failing_run,
    fake_run,
    interrupting_run,
    tiny_scenario,
)


def _frame(results) -> pd.DataFrame:
    ts = pd.concat([r.timeseries for r in results], ignore_index=True)
    return kpi_frame(results), ts


# ------------------------------------------------------------------ seeds, executors ---
def test_replicate_seed_is_the_spawned_child_for_any_n():
    for r in (0, 3, 17):
        want = replicate_seed(42, r).generate_state(4)
        for n in (r + 1, 25):
            assert np.array_equal(np.random.SeedSequence(42).spawn(n)[r].generate_state(4), want)
    assert not np.array_equal(
        replicate_seed(42, 0).generate_state(4), replicate_seed(42, 1).generate_state(4)
    )


def test_identical_results_in_process_process_pool_and_dask():
    pytest.importorskip("distributed")
    sc = tiny_scenario()
    one = run_replicates(sc, 5, workers=1, run_fn=fake_run, progress=False)
    two = run_replicates(sc, 5, workers=2, run_fn=fake_run, progress=False)
    dask = run_replicates(sc, 5, workers=2, scheduler="local-dask", run_fn=fake_run, progress=False)
    assert (
        [r.replicate for r in one]
        == [0, 1, 2, 3, 4]
        == [r.replicate for r in two]
        == [r.replicate for r in dask]
    )
    k1, t1 = _frame(one)
    for other in (two, dask):
        k, t = _frame(other)
        pd.testing.assert_frame_equal(k, k1)
        pd.testing.assert_frame_equal(t, t1)
    assert k1["seed_draw"].nunique() == 5  # replicates really got different streams


def test_explicit_replicates_come_back_in_the_order_given():
    res = run_replicates(tiny_scenario(), [7, 2, 5], workers=2, run_fn=fake_run, progress=False)
    assert [r.replicate for r in res] == [7, 2, 5]
    alone = run_replicates(tiny_scenario(), [5], workers=1, run_fn=fake_run, progress=False)[0]
    assert res[2].kpis == alone.kpis  # replicate 5 is the same run whatever else runs beside it


def test_default_workers_start_a_pool_only_when_it_pays(monkeypatch):
    """workers not given: the first two runs are made in this process and timed; the rest go to
    a pool only if they would take longer here than the pool costs to start. Same results."""
    import os

    from sim.experiments import execution, pool
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU: the default is one worker")
    sc = tiny_scenario()
    pool.shutdown()                                            # no pool kept from other tests
    monkeypatch.setattr(execution, "POOL_START_S", 1e9)          # a pool never pays
    here = run_replicates(sc, 6, run_fn=fake_run, progress=False)
    assert not pool.running(os.cpu_count())
    monkeypatch.setattr(execution, "POOL_START_S", 0.0)          # a pool always pays
    there = run_replicates(sc, 6, run_fn=fake_run, progress=False)
    assert pool.running(os.cpu_count())
    for a, b in zip(_frame(here), _frame(there)):
        pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_run_is_recorded_and_the_others_complete(workers):
    res = run_replicates(tiny_scenario(), 4, workers=workers, run_fn=failing_run, progress=False)
    assert isinstance(res[2], RunFailure) and res[2].replicate == 2
    assert res[2].error == "ValueError: boom in replicate 2"
    assert "failing_run" in res[2].traceback
    assert [r.replicate for r in res if not isinstance(r, RunFailure)] == [0, 1, 3]
    df = run_kpis(tiny_scenario(), 4, workers=workers, run_fn=failing_run, progress=False)
    assert list(df["error"] != "") == [False, False, True, False]
    assert df.loc[2, "y"] != df.loc[2, "y"]  # NaN for the failed run
    assert df.loc[3, "y"] == res[3].kpis["y"]


def test_a_dying_worker_costs_only_its_run():
    res = run_replicates(tiny_scenario(), 10, workers=2, run_fn=crashing_run, progress=False)
    assert isinstance(res[7], RunFailure) and "BrokenProcessPool" in res[7].error
    # runs 0-6 finished before the crash; 8 and 9 were queued behind it and run in a fresh pool
    # (or, if they were already in flight on the dead pool, are recorded as failed with it)
    assert all(not isinstance(r, RunFailure) for r in res[:7])
    assert all(
        isinstance(r, RunFailure) or r.kpis == fake_run(tiny_scenario(), r.replicate).kpis for r in res[7:]
    )


def test_bad_executor_arguments_are_one_line_errors():
    with pytest.raises(ExperimentError, match="--scheduler: expected tcp://HOST:PORT"):
        run_replicates(tiny_scenario(), 2, scheduler="localhost", run_fn=fake_run, progress=False)
    with pytest.raises(ExperimentError, match="--workers: must be >= 1"):
        run_replicates(tiny_scenario(), 2, workers=0, run_fn=fake_run, progress=False)


def test_sweep_workers_return_kpis_only():
    out = call_model(fake_run, tiny_scenario(), 0, None, True)
    assert isinstance(out, dict) and set(out) == {
        "y",
        "seed_draw",
        "illicit_delivered_t",
        "smugglers_initial",
    }


# ------------------------------------------------------------------ compare -----------
def test_compare_uses_the_same_replicate_seeds_for_every_scenario():
    a = tiny_scenario("a", seed=11)
    b = tiny_scenario("b", seed=99, penalties={"arrest_prob": 0.6})
    rec = Recorder()
    table, res = compare([a, b], 6, workers=1, run_fn=rec, progress=False)
    assert {seed for _, seed, _, _ in rec.calls} == {11}
    assert sorted((n, r) for n, _, r, _ in rec.calls) == sorted((n, r) for n in "ab" for r in range(6))
    assert [r.kpis["seed_draw"] for r in res["a"]] == [r.kpis["seed_draw"] for r in res["b"]]
    assert table.attrs["common_seed"] == 11
    assert list(table.columns) == [
        "scenario",
        "kpi",
        "mean",
        "p05",
        "p95",
        "diff_mean",
        "diff_p05",
        "diff_p95",
    ]
    t = table.set_index(["scenario", "kpi"])
    assert (t.loc["a", ["diff_mean", "diff_p05", "diff_p95"]] == 0).all().all()
    # y = 2 x arrest_prob + noise(replicate): paired differences cancel the noise exactly
    for col in ("diff_mean", "diff_p05", "diff_p95"):
        assert t.loc[("b", "y"), col] == pytest.approx(2 * (0.6 - 0.3), abs=1e-12)
    assert t.loc[("b", "y"), "p95"] > t.loc[("b", "y"), "p05"]  # ... while each scenario has a real band
    ys = np.array([r.kpis["y"] for r in res["b"]])
    assert t.loc[("b", "y"), "mean"] == pytest.approx(ys.mean())
    assert t.loc[("b", "y"), "p05"] == pytest.approx(np.percentile(ys, 5))


def test_compare_explicit_seed_and_name_clash():
    rec = Recorder()
    compare([tiny_scenario("a"), tiny_scenario("b")], 2, workers=1, run_fn=rec, progress=False, seed=5)
    assert {seed for _, seed, _, _ in rec.calls} == {5}
    with pytest.raises(ExperimentError, match="names must differ"):
        compare([tiny_scenario("a"), tiny_scenario("a")], 2, workers=1, run_fn=fake_run, progress=False)


def _write_scenarios(tmp_path, *scenarios):
    paths = []
    for sc in scenarios:
        p = tmp_path / f"{sc.name}.toml"
        p.write_text(dump_toml(sc), encoding="utf-8")
        paths.append(str(p))
    return paths


def test_sim_compare_writes_folder_and_exits_1_when_a_run_failed(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sim.model.runner, "run_replicate", failing_run)
    files = _write_scenarios(
        tmp_path, tiny_scenario("a", seed=3), tiny_scenario("b", penalties={"arrest_prob": 0.5})
    )
    rc = main(
        [
            "compare",
            *files,
            "--replicates",
            "4",
            "--workers",
            "1",
            "--no-plots",
            "--out",
            str(tmp_path / "res"),
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 1
    assert "a: replicate 2 failed: ValueError: boom in replicate 2" in err
    assert "master seed 3" in out and "8 runs done, 2 failed" in out
    (folder,) = (tmp_path / "res" / "compare-a-b").iterdir()
    assert not folder.name.startswith(".")
    doc = json.loads((folder / "comparison.json").read_text())
    assert doc["common_seed"] == 3 and doc["failed_replicates"] == {"a": [2], "b": [2]}
    csv = pd.read_csv(folder / "comparison.csv")
    assert len(csv) == 2 * 4  # 2 scenarios x 4 KPIs
    assert list(doc["run_dirs"]) == ["a", "b"]
    for rel in doc["run_dirs"].values():
        man = json.loads((folder / rel / "manifest.json").read_text())
        assert man["master_seed"] == 3 and man["replicates"] == 3
        assert [f["replicate"] for f in man["failed_replicates"]] == [2]


def test_sim_run_reports_failures_and_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sim.model.runner, "run_replicate", failing_run)
    (path,) = _write_scenarios(tmp_path, tiny_scenario("r"))
    rc = main(
        ["run", path, "--replicates", "4", "--workers", "1", "--no-plots", "--out", str(tmp_path / "res")]
    )
    out, err = capsys.readouterr()
    assert rc == 1 and "replicate 2 failed: ValueError: boom in replicate 2" in err
    assert "4 runs done, 1 failed" in out
    (run_dir,) = (tmp_path / "res" / "r").iterdir()
    man = json.loads((run_dir / "manifest.json").read_text())
    assert man["replicates"] == 3 and man["failed_replicates"][0]["replicate"] == 2
    assert "Traceback" in man["failed_replicates"][0]["traceback"]
    monkeypatch.setattr(sim.model.runner, "run_replicate", fake_run)
    assert (
        main(
            ["run", path, "--replicates", "2", "--workers", "1", "--no-plots", "--out", str(tmp_path / "ok")]
        )
        == 0
    )
    assert "2 runs done, 0 failed" in capsys.readouterr().out


def test_sim_compare_needs_two_files(tmp_path, capsys):
    files = _write_scenarios(tmp_path, tiny_scenario("a"))
    assert main(["compare", *files, "--replicates", "2"]) == 2
    assert "two or more scenario files" in capsys.readouterr().err


# ------------------------------------------------------------------ parameters --------
def test_apply_params_sets_creates_rounds_and_validates():
    sc = tiny_scenario()
    new = apply_params(sc, {"customs.TH.capacity_per_week": 900.0, "smugglers.initial": 150.6})
    assert new.customs["TH"].capacity_per_week == 900.0 and new.smugglers.initial == 151
    assert sc.smugglers.initial == 200 and "TH" not in sc.customs  # original untouched
    with pytest.raises(ExperimentError, match=r"penalties\.arrest_prob: must be <= 1"):
        apply_params(sc, {"penalties.arrest_prob": 1.5})
    with pytest.raises(ExperimentError, match="unknown key 'capacity'"):
        apply_params(sc, {"customs.CN.capacity": 1.0})


def test_model_function_for_ema_and_salib():
    f = make_model_function(tiny_scenario(), run_fn=fake_run)
    out = f(penalties__arrest_prob=0.5, smugglers__initial=150.6, replicate=1)
    want = fake_run(
        apply_params(tiny_scenario(), {"penalties.arrest_prob": 0.5, "smugglers.initial": 151}), 1
    ).kpis
    assert out == want and out["smugglers_initial"] == 151.0
    assert f(replicate=1, seed=99)["seed_draw"] != f(replicate=1)["seed_draw"]
    assert f(replicate=1)["seed_draw"] == fake_run(tiny_scenario(), 1).kpis["seed_draw"]
    g = pickle.loads(pickle.dumps(f))
    assert g(penalties__arrest_prob=0.5, smugglers__initial=150.6, replicate=1) == out
    with pytest.raises(ExperimentError, match="unknown key"):
        f(penalties__arest_prob=0.5)


def test_model_function_from_a_file_with_steps(tmp_path):
    (path,) = _write_scenarios(tmp_path, tiny_scenario("filed"))
    rec = Recorder()
    f = make_model_function(path, steps=5, run_fn=rec)
    f(penalties__arrest_prob=0.2)
    assert rec.calls == [("filed", 11, 0, 0.2)]
    assert f.base.steps == 5


# ------------------------------------------------------------------ sweeps ------------
VARY = ["penalties.arrest_prob=0:1:3", "smugglers.initial=10:20:4"]


def test_parse_vary():
    v = parse_vary("customs.CN.capacity_per_week=100:900:5")
    assert (v.key, v.lo, v.hi, v.n) == ("customs.CN.capacity_per_week", 100.0, 900.0, 5)
    assert parse_vary("a.b=-1:1").n is None
    for bad in ("a.b", "a.b=1:2:3:4", "a.b=x:1:2", "=1:2:3"):
        with pytest.raises(ExperimentError, match="--vary"):
            parse_vary(bad)


def test_grid_sweep_points_values_and_files(tmp_path):
    df = sweep(tiny_scenario(), VARY, "grid", 2, tmp_path / "s", workers=1, run_fn=fake_run, progress=False)
    assert len(df) == 3 * 4 * 2 and len(list((tmp_path / "s" / "runs").glob("*.parquet"))) == 24
    assert df["run_key"].tolist()[:3] == ["p00000-r0000", "p00000-r0001", "p00001-r0000"]
    pts = df.drop_duplicates("point").set_index("point")
    assert pts["penalties.arrest_prob"].tolist() == [0.0] * 4 + [0.5] * 4 + [1.0] * 4
    assert pts["smugglers.initial"].tolist() == [10, 13, 17, 20] * 3  # rounded integer key
    assert df["smugglers.initial"].dtype == np.int64
    assert (df["smugglers_initial"] == df["smugglers.initial"]).all()  # the model saw the rounded value
    assert (df["error"] == "").all()
    points = pd.read_csv(tmp_path / "s" / "points.csv")
    assert len(points) == 12 and (points["n_ok"] == 2).all()
    assert points.loc[5, "y"] == pytest.approx(df[df["point"] == 5]["y"].mean())
    design = json.loads((tmp_path / "s" / "design.json").read_text())
    assert design["design"] == "grid" and design["seed"] == 11 and design["n_points"] == 12


def test_lhs_design_is_stratified_and_seeded():
    vary = [parse_vary("penalties.arrest_prob=0:1:7"), parse_vary("penalties.fine_multiple=2:5")]
    x = design_points(vary, "lhs", 11)
    assert x.shape == (7, 2)
    for j, (lo, hi) in enumerate([(0, 1), (2, 5)]):
        assert sorted(np.floor((x[:, j] - lo) / (hi - lo) * 7).astype(int)) == list(range(7))
    assert np.array_equal(x, design_points(vary, "lhs", 11))
    assert not np.array_equal(x, design_points(vary, "lhs", 12))
    with pytest.raises(ExperimentError, match="size of the whole design"):
        design_points(
            [parse_vary("penalties.arrest_prob=0:1:3"), parse_vary("penalties.fine_multiple=0:1:4")], "lhs", 1
        )


def test_lhs_sweep_runs_n_points(tmp_path):
    df = sweep(
        tiny_scenario(),
        ["penalties.arrest_prob=0.1:0.9:5", "penalties.fine_multiple=0:2"],
        "lhs",
        3,
        tmp_path / "l",
        workers=2,
        run_fn=fake_run,
        progress=False,
    )
    assert len(df) == 15 and df["point"].nunique() == 5
    assert df["penalties.arrest_prob"].between(0.1, 0.9).all()


def test_interrupted_sweep_resumes_to_the_same_dataset(tmp_path):
    sc = tiny_scenario()
    whole = sweep(sc, VARY, "grid", 2, tmp_path / "whole", workers=2, run_fn=fake_run, progress=False)
    with pytest.raises(KeyboardInterrupt):
        sweep(sc, VARY, "grid", 2, tmp_path / "cut", workers=1, run_fn=InterruptAfter(7), progress=False)
    files = sorted(p.name for p in (tmp_path / "cut" / "runs").iterdir())
    assert len(files) == 7 and not any(f.startswith(".") for f in files)
    with pytest.raises(ExperimentError, match="already holds a sweep"):
        sweep(sc, VARY, "grid", 2, tmp_path / "cut", workers=1, run_fn=fake_run, progress=False)
    with pytest.raises(ExperimentError, match="differs from the one in"):
        sweep(
            sc,
            ["penalties.arrest_prob=0:1:4"],
            "grid",
            2,
            tmp_path / "cut",
            resume=True,
            workers=1,
            run_fn=fake_run,
            progress=False,
        )
    rec = Recorder()
    resumed = sweep(sc, VARY, "grid", 2, tmp_path / "cut", resume=True, workers=1, run_fn=rec, progress=False)
    assert len(rec.calls) == 24 - 7
    pd.testing.assert_frame_equal(resumed, whole)
    pd.testing.assert_frame_equal(read_runs(tmp_path / "cut"), read_runs(tmp_path / "whole"))
    rec2 = Recorder()
    sweep(sc, VARY, "grid", 2, tmp_path / "cut", resume=True, workers=1, run_fn=rec2, progress=False)
    assert rec2.calls == []


def test_interrupt_in_a_process_pool_stops_cleanly_and_resumes(tmp_path):
    sc = tiny_scenario()
    with pytest.raises(KeyboardInterrupt):
        sweep(sc, VARY, "grid", 2, tmp_path / "cut", workers=2, run_fn=interrupting_run, progress=False)
    saved = {p.name for p in (tmp_path / "cut" / "runs").iterdir()}
    assert "p00004-r0001.parquet" not in saved and len(saved) < 24  # arrest_prob 0.5 is point 4 onwards
    assert not any(n.startswith(".") for n in saved)
    resumed = sweep(
        sc, VARY, "grid", 2, tmp_path / "cut", resume=True, workers=2, run_fn=fake_run, progress=False
    )
    whole = sweep(sc, VARY, "grid", 2, tmp_path / "whole", workers=1, run_fn=fake_run, progress=False)
    pd.testing.assert_frame_equal(resumed, whole)


def test_resume_needs_an_existing_sweep(tmp_path):
    with pytest.raises(ExperimentError, match="holds no sweep"):
        sweep(
            tiny_scenario(), VARY, "grid", 1, tmp_path / "none", resume=True, run_fn=fake_run, progress=False
        )


def test_sweep_records_failed_runs_and_invalid_points(tmp_path):
    df = sweep(
        tiny_scenario(),
        ["penalties.arrest_prob=0:1:2"],
        "grid",
        4,
        tmp_path / "f",
        workers=1,
        run_fn=failing_run,
        progress=False,
    )
    assert (df[df["replicate"] == 2]["error"] == "ValueError: boom in replicate 2").all()
    assert (df[df["replicate"] != 2]["error"] == "").all() and df["y"].isna().sum() == 2
    with pytest.raises(ExperimentError, match="must be <= 1"):  # a bound out of range fails before any run
        sweep(
            tiny_scenario(),
            ["penalties.arrest_prob=0:2:3"],
            "grid",
            1,
            tmp_path / "g",
            workers=1,
            run_fn=fake_run,
            progress=False,
        )
    assert not (tmp_path / "g").exists()


def test_sobol_indices_of_an_analytic_function(tmp_path):
    pytest.importorskip("SALib")
    vary = ["penalties.arrest_prob=0:1:64", "penalties.fine_multiple=0:3"]
    df = sweep(
        tiny_scenario(), vary, "sobol", 2, tmp_path / "sob", workers=1, run_fn=fake_run, progress=False
    )
    assert df["point"].nunique() == 64 * (2 + 2)
    s = pd.read_csv(tmp_path / "sob" / "sobol.csv").set_index(["kpi", "param"])
    assert s.loc[("y", "penalties.arrest_prob"), "S1"] == pytest.approx(1.0, abs=0.1)
    assert s.loc[("y", "penalties.arrest_prob"), "ST"] == pytest.approx(1.0, abs=0.1)
    assert abs(s.loc[("y", "penalties.fine_multiple"), "S1"]) < 0.02
    assert abs(s.loc[("y", "penalties.fine_multiple"), "ST"]) < 0.02
    assert np.isnan(s.loc[("smugglers_initial", "penalties.arrest_prob"), "S1"])  # constant KPI: undefined


def test_sim_sweep_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sim.model.runner, "run_replicate", fake_run)
    (path,) = _write_scenarios(tmp_path, tiny_scenario("cli"))
    out = tmp_path / "sw"
    args = [
        "sweep",
        path,
        "--vary",
        "penalties.arrest_prob=0:1:3",
        "--replicates",
        "2",
        "--workers",
        "1",
        "--no-plots",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert "6 runs done, 0 failed" in capsys.readouterr().out
    man = json.loads((out / "sweep.json").read_text())
    assert not (out / "manifest.json").exists()  # sim.plots must not take the sweep for a run
    assert man["kind"] == "sweep" and man["master_seed"] == 11
    assert main(args) == 2
    assert "already holds a sweep" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0
    assert (
        main(["sweep", path, "--vary", "penalties.nope=0:1:3", "--no-plots", "--out", str(tmp_path / "x")])
        == 2
    )
    assert "penalties.nope: unknown scenario key" in capsys.readouterr().err


# ------------------------------------------------------------------ the real model ----
@pytest.mark.slow
def test_real_model_identical_for_any_number_of_workers():
    from sim.cli import default_scenario_dir
    from sim.scenario import load_scenario

    path = default_scenario_dir() / "antimony_2024.toml"
    assert path.is_file(), path
    sc = load_scenario(path, ["steps=60"])     # to February 2025: smuggling starts with the controls
    one = run_replicates(sc, 3, workers=1, progress=False)
    assert not any(isinstance(r, RunFailure) for r in one)
    k1, t1 = _frame(one)
    assert k1["illicit_delivered_t"].nunique() == 3  # replicates differ
    for kw in ({"workers": 2}, {"workers": 2, "scheduler": "local-dask"}):
        k, t = _frame(run_replicates(sc, 3, progress=False, **kw))
        pd.testing.assert_frame_equal(k, k1)
        pd.testing.assert_frame_equal(t, t1)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")   # the drop, on purpose
def test_a_ctrl_c_that_python_dropped_in_a_destructor_stops_the_next_run():
    """Python prints and drops a KeyboardInterrupt raised in a destructor ("Exception ignored
    in ..."); the `sim` signal handler remembers it and the executor raises it again."""
    import gc
    import signal

    from sim.signals import Signalled, clear_signal, on_signal

    class Swallow:
        def __del__(self):
            on_signal(signal.SIGINT, None)      # as if Ctrl-C arrived while this ran

    clear_signal()
    try:
        Swallow()
        gc.collect()                            # the interrupt was printed and dropped here
        with pytest.raises(Signalled) as e:
            run_replicates(tiny_scenario(), 3, workers=1, run_fn=fake_run, progress=False)
        assert e.value.signum == signal.SIGINT
    finally:
        clear_signal()
    assert len(run_replicates(tiny_scenario(), 3, workers=1, run_fn=fake_run, progress=False)) == 3
