"""Runs over a posterior ensemble (--posterior): deterministic draws common to every scenario of a
comparison, wider bands than noise alone, manifests that record the file (fast stand-in model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim.model.runner
from sim import cli
from sim.experiments import ExperimentError, compare, run_replicates
from sim.experiments.posterior import load_posterior
from sim.scenario import dump_toml
from tests.fake_model import Recorder, fake_run, tiny_scenario

# Ten parameter sets: arrest_prob 0.05 .. 0.95, the middle ones weighted most.
SETS = pd.DataFrame({"penalties.arrest_prob": np.linspace(0.05, 0.95, 10),
                     "smugglers.initial": np.arange(100, 200, 10),
                     "weight": [1, 1, 2, 3, 4, 4, 3, 2, 1, 1]})


@pytest.fixture
def post_file(tmp_path) -> Path:
    path = tmp_path / "toy.posterior.parquet"
    SETS.to_parquet(path, index=False)
    return path


def test_draws_follow_the_weights_and_depend_on_seed_and_replicate_only(post_file):
    post = load_posterior(post_file)
    assert post.n_sets == 10 and post.keys == ("penalties.arrest_prob", "smugglers.initial")
    assert post.weights.sum() == pytest.approx(1) and isinstance(post.columns[1][0], int)
    draws = [post.draw(7, r) for r in range(4000)]
    share = np.bincount(draws, minlength=10) / len(draws)
    np.testing.assert_allclose(share, SETS["weight"] / SETS["weight"].sum(), atol=0.02)
    assert [post.draw(7, r) for r in range(50)] == draws[:50]                 # a replicate's draw is fixed
    assert [post.draw(8, r) for r in range(50)] != draws[:50]                 # and depends on the seed
    assert load_posterior(post_file).draw(7, 123) == post.draw(7, 123)        # and on nothing else
    sc = post.apply(tiny_scenario(seed=7), 5)
    assert sc.penalties.arrest_prob == post.params(7, 5)["penalties.arrest_prob"]
    assert sc.smugglers.initial == post.params(7, 5)["smugglers.initial"]


def test_same_results_in_process_and_on_a_process_pool(post_file):
    post = load_posterior(post_file)
    one = run_replicates(tiny_scenario(), 6, workers=1, run_fn=post.wrap(fake_run), progress=False)
    two = run_replicates(tiny_scenario(), 6, workers=2, run_fn=post.wrap(fake_run), progress=False)
    assert [r.kpis for r in one] == [r.kpis for r in two]
    drawn = [post.params(tiny_scenario().seed, r)["penalties.arrest_prob"] for r in range(6)]
    assert [r.kpis["y"] for r in one] == pytest.approx([2 * a for a in drawn], abs=0.05)


def test_paired_comparison_uses_the_same_draw_in_every_scenario(post_file):
    post = load_posterior(post_file)
    rec = Recorder()
    a = tiny_scenario("a", seed=3)
    b = tiny_scenario("b", seed=99, customs={"CN": {"capacity_per_week": 900.0}})
    compare([a, b], 8, workers=1, run_fn=post.wrap(rec), progress=False)
    by = {(name, rep): (seed, arrest) for name, seed, rep, arrest in rec.calls}
    for r in range(8):
        assert by[("a", r)] == by[("b", r)] == (3, post.params(3, r)["penalties.arrest_prob"])
    assert len({by[("a", r)][1] for r in range(8)}) > 2   # replicates draw different sets


@pytest.mark.parametrize("frame, message", [
    (SETS.drop(columns="weight"), "no 'weight' column"),
    (SETS.assign(weight=-1.0), "weights must be finite, >= 0"),
    (SETS.rename(columns={"smugglers.initial": "smugglers.inital"}), "'smugglers.inital' is not a numeric scenario key"),
    (SETS.assign(**{"smugglers.logit": 1}), "'smugglers.logit' is not a numeric scenario key"),
    (SETS.iloc[:0], "no parameter sets"),
])
def test_an_unusable_posterior_file_is_a_one_line_error(tmp_path, frame, message):
    path = tmp_path / "bad.parquet"
    frame.to_parquet(path, index=False)
    with pytest.raises(ExperimentError, match=message):
        load_posterior(path)
    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(ExperimentError, match="not a Parquet file"):
        load_posterior(tmp_path / "text.parquet")


# ---------------------------------------------------------------- the commands --------------
@pytest.fixture
def toy(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(sim.model.runner, "run_replicate", fake_run)
    path = tmp_path / "tiny.toml"
    path.write_text(dump_toml(tiny_scenario()), encoding="utf-8")
    return path


def _kpis(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "kpis.csv").set_index("replicate")


def test_sim_run_with_a_posterior_has_wider_bands_and_records_the_file(toy, post_file, tmp_path, capsys):
    base = ["run", str(toy), "--replicates", "20", "--workers", "1", "--no-plots", "--out", str(tmp_path / "r")]
    assert cli.main(base) == 0
    assert cli.main(base + ["--posterior", str(post_file)]) == 0
    out = capsys.readouterr().out
    assert "bands combine parameter uncertainty" in out
    plain, ens = sorted((tmp_path / "r" / "tiny").iterdir())
    manifests = [json.loads((d / "manifest.json").read_text()) for d in (plain, ens)]
    if "posterior" in manifests[0]:
        plain, ens = ens, plain
        manifests.reverse()
    assert "posterior" not in manifests[0]
    rec = manifests[1]["posterior"]
    assert rec["path"] == str(post_file) and rec["n_sets"] == 10 and len(rec["sha256"]) == 64
    assert [d["replicate"] for d in rec["draws"]] == list(range(20))
    width = {name: np.ptp(_kpis(d)["y"].quantile([0.05, 0.95])) for name, d in (("plain", plain), ("ens", ens))}
    assert width["ens"] > 5 * width["plain"]


def test_sim_run_says_when_a_scenario_has_an_ensemble_it_does_not_use(toy, post_file, tmp_path, capsys):
    args = ["run", str(toy), "--replicates", "1", "--workers", "1", "--no-plots", "--out", str(tmp_path / "r")]
    assert cli.main(args) == 0 and "note:" not in capsys.readouterr().err      # no ensemble beside it
    beside = toy.with_name("tiny.posterior.parquet")
    beside.write_bytes(post_file.read_bytes())
    assert cli.main(args) == 0
    assert f"add --posterior {beside} for bands that include parameter uncertainty" in capsys.readouterr().err
    assert cli.main(args + ["--posterior", str(beside)]) == 0 and "note:" not in capsys.readouterr().err


def test_sim_run_refuses_to_set_a_key_the_posterior_sets(toy, post_file, capsys):
    status = cli.main(["run", str(toy), "--replicates", "2", "--workers", "1", "--no-plots",
                       "--posterior", str(post_file), "--set", "penalties.arrest_prob=0.2"])
    assert status == 2 and "sets penalties.arrest_prob; do not also set or vary it" in capsys.readouterr().err
    assert cli.main(["run", str(toy), "--posterior", "missing.parquet"]) == 2
    assert "--posterior missing.parquet: cannot read it" in capsys.readouterr().err


def test_sim_compare_records_the_posterior_everywhere(toy, post_file, tmp_path, capsys):
    other = tmp_path / "other.toml"
    other.write_text(dump_toml(tiny_scenario("other")), encoding="utf-8")
    status = cli.main(["compare", str(toy), str(other), "--replicates", "4", "--workers", "1", "--no-plots",
                       "--out", str(tmp_path / "c"), "--posterior", str(post_file)])
    assert status == 0, capsys.readouterr().err
    folder = next((tmp_path / "c").glob("compare-*/*"))
    doc = json.loads((folder / "comparison.json").read_text())
    assert doc["posterior"]["n_sets"] == 10 and doc["executor"]["workers"] == 1
    for m in folder.glob("*/*/manifest.json"):
        manifest = json.loads(m.read_text())
        assert manifest["posterior"]["draws"] == doc["posterior"]["draws"] and manifest["executor"] == doc["executor"]
    rows = pd.read_csv(folder / "comparison.csv").set_index(["scenario", "kpi"])
    assert rows.loc[("other", "y"), "diff_p05"] == rows.loc[("other", "y"), "diff_p95"] == 0  # paired draws
    w = SETS["weight"] / SETS["weight"].sum()
    assert doc["posterior"]["effective_sets"] == pytest.approx(1 / (w ** 2).sum(), abs=0.05)   # 8.0 of 10
    from sim.plots import brief_content
    content = brief_content([folder])
    caveats = " ".join(content.caveats)
    assert "The parameter ensemble (10 sets) is worth about 8 equally weighted ones" in caveats
    assert "Held-out checks were not considered." in caveats            # no --validation given
    sets = len({d["set"] for d in doc["posterior"]["draws"]})
    assert f"replicates over {sets} parameter sets" in " ".join(content.answer)
    assert "not uncertainty in the model's parameters" not in caveats


def test_sim_sweep_with_a_posterior_and_resume_checks(toy, post_file, tmp_path, capsys):
    out = tmp_path / "s"
    args = ["sweep", str(toy), "--vary", "customs.CN.capacity_per_week=100:900:2", "--replicates", "2",
            "--workers", "1", "--no-plots", "--out", str(out)]
    assert cli.main(args + ["--posterior", str(post_file)]) == 0
    assert json.loads((out / "sweep.json").read_text())["posterior"]["n_sets"] == 10
    assert cli.main(args + ["--resume"]) == 2
    assert "ran with --posterior" in capsys.readouterr().err
    assert cli.main(args + ["--resume", "--posterior", str(post_file)]) == 0
    bad = ["sweep", str(toy), "--vary", "penalties.arrest_prob=0:1:2", "--replicates", "1", "--workers", "1",
           "--no-plots", "--out", str(tmp_path / "s2"), "--posterior", str(post_file)]
    assert cli.main(bad) == 2 and "do not also set or vary it" in capsys.readouterr().err
