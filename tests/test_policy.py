"""Policy search (sim.policy): parsing, the analytic optimum, frontier, robust choice, resume."""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.experiments import ExperimentError, apply_params
from sim.model.runner import run_replicate
from sim.policy import (
    Objective,
    build_report,
    fig_frontier,
    make_problem,
    non_dominated,
    optimize,
    parse_constraint,
    parse_lever,
    parse_objective,
    robust_choice,
    worst_decile,
    write_report,
)
from sim.policy.frontier import load_report
from sim.scenario import ScenarioError
from tests.policy_worlds import becker_world, least_deterring_fine, lever_world, write

P_TRUE = 0.2
LEVERS3 = ["customs.CN.capacity_per_week=0:3000:int", "exporters.trace_prob=0:0.5:0.05",
           "penalties.fine_multiple=0:5:0.25"]


def lever_problem(path, budget_pop=8, replicates=2, constraints=("illicit_delivered_t<=0.9x",), **kw):
    return make_problem(path, [parse_lever(t) for t in LEVERS3],
                        [parse_objective("enforcement_cost_usd:min"), parse_objective("illicit_delivered_t")],
                        [parse_constraint(c) for c in constraints], replicates=replicates,
                        population=budget_pop, **kw)


# ---------------------------------------------------------------- parsing -----------
def test_parse_lever_forms():
    assert parse_lever("customs.CN.capacity_per_week=200:2000:int").integer
    lv = parse_lever("penalties.fine_multiple=0:8:0.1")
    assert (lv.lo, lv.hi, lv.step, lv.integer) == (0.0, 8.0, 0.1, False)
    assert lv.value(4.1000000000000005) == 4.1 and lv.setting(4.1000000000000005) == "penalties.fine_multiple=4.1"
    q = parse_lever('events.op.set."customs.CN.capacity_per_week"=1:5')
    assert q.key == 'events.op.set."customs.CN.capacity_per_week"' and q.step is None


@pytest.mark.parametrize("text, words", [
    ("penalties.fine_multiple", "expected KEY=LO:HI"),
    ("penalties.fine_multiple=3:1", "LO < HI"),
    ("penalties.fine_multiple=0:1:0.3", "whole number of steps"),
    ("penalties.fine_multiple=a:1", "must be numbers"),
    ("customs.CN.capacity_per_week=0.5:9:int", "whole LO and HI"),
])
def test_parse_lever_errors_are_one_line(text, words):
    with pytest.raises(ExperimentError) as e:
        parse_lever(text)
    assert words in str(e.value) and "\n" not in str(e.value) and text in str(e.value)


def test_parse_objective_and_constraint():
    assert parse_objective("illicit_delivered_t").sense == "min"       # the registry says lower is better
    assert parse_objective("interdiction_rate").sense == "max"
    assert parse_objective("penalties.fine_multiple:min", ["penalties.fine_multiple"]).minimise
    with pytest.raises(ExperimentError, match="did you mean 'illicit_delivered_t'"):
        parse_objective("illicit_delivred_t:min")
    with pytest.raises(ExperimentError, match="minimise or maximise"):
        parse_objective("fines_usd")                                     # no better direction
    c = parse_constraint("illicit_delivered_t<=0.5x")
    assert c.relative and c.bound(8000.0) == 4000.0 and c.violation(3000.0, 4000.0) < 0
    assert parse_constraint("interdiction_rate >= 0.3").violation(0.2, 0.3) == pytest.approx(0.1)
    with pytest.raises(ExperimentError, match="KPI<=VALUE"):
        parse_constraint("illicit_delivered_t<5")


def test_levers_are_checked_like_set(tmp_path):
    path = write(lever_world(), tmp_path)
    with pytest.raises(ScenarioError) as e:
        make_problem(path, [parse_lever("penalties.arrest_prob=0:2")], [parse_objective("illicit_delivered_t")])
    assert str(e.value) == "--lever: penalties.arrest_prob: must be <= 1 (got 2)"
    with pytest.raises(ScenarioError, match="unknown key 'fine_multiplier'"):
        make_problem(path, [parse_lever("penalties.fine_multiplier=0:2")], [parse_objective("illicit_delivered_t")])
    with pytest.raises(ExperimentError, match="not a numeric key"):
        make_problem(path, [parse_lever("customs.CN.technologies=0:2")], [parse_objective("illicit_delivered_t")])
    p = make_problem(path, [parse_lever("smugglers.initial=10:50")], [parse_objective("illicit_delivered_t")])
    assert p.levers[0].integer  # an int key makes a whole-number lever


def test_lever_overridden_by_an_event_is_flagged(tmp_path):
    s = lever_world(events={"op": {"step": 6, "set": {"customs.CN.capacity_per_week": 900.0}}})
    p = make_problem(write(s, tmp_path), [parse_lever("customs.CN.capacity_per_week=0:3000:int")],
                     [parse_objective("illicit_delivered_t")])
    assert len(p.notes) == 1 and "event 'op' sets customs.CN.capacity_per_week" in p.notes[0]
    assert 'events.op.set."customs.CN.capacity_per_week"' in p.notes[0]


# ---------------------------------------------------------------- non-dominated -----
def test_non_dominated():
    v = np.array([[1.0, 5.0], [2.0, 3.0], [2.0, 4.0], [3.0, 3.0], [4.0, 1.0], [1.0, 5.0]])
    assert non_dominated(v, [True, True]).tolist() == [True, True, False, False, True, True]
    assert non_dominated(v, [True, False]).tolist() == [True, False, False, False, False, True]


def test_a_lever_stuck_at_an_end_of_its_range_is_flagged():
    from sim.policy import Problem
    from sim.policy.frontier import bound_flags

    problem = Problem("unused.toml", [parse_lever("penalties.fine_multiple=0:6:0.25"),
                                      parse_lever("customs.CN.capacity_per_week=0:3000:int")],
                      [parse_objective("illicit_delivered_t")])
    front = pd.DataFrame({"penalties.fine_multiple": [6.0, 5.75, 6.0, 2.0],
                          "customs.CN.capacity_per_week": [100, 900, 2000, 2999]})
    flags = bound_flags(problem, front)
    assert len(flags) == 1 and flags[0].startswith("flag: penalties.fine_multiple is at (or within 0.25 of) "
                                                   "the upper end of its range, 6, in 3 of 4")


# ---------------------------------------------------------------- acceptance 1 ------
def test_search_finds_the_least_deterring_fine_within_one_grid_step(tmp_path):
    """MODEL.md V3: smuggling stops once p >= m / (m + L(fine)); the cheapest (least) fine with no
    illicit deliveries the search finds lies in [f*, f* + step]."""
    s = becker_world(P_TRUE)
    f_star = least_deterring_fine(s, P_TRUE)
    step = 0.1
    assert 0.5 < f_star < 7.5  # the grid brackets it
    keys = ["penalties.fine_multiple"]
    problem = make_problem(write(s, tmp_path), [parse_lever(f"penalties.fine_multiple=0:8:{step}")],
                           [parse_objective("illicit_delivered_t:min"), parse_objective("penalties.fine_multiple:min",
                                                                                      keys)],
                           [parse_constraint("illicit_delivered_t<=0", keys)], cost="penalties.fine_multiple",
                           replicates=1, population=8)
    # NSGA-II closes in on a cliff a few grid steps per generation: 9 generations of 8 (on 20 seeds
    # this budget found the grid point above f* in 19)
    study = optimize(problem, tmp_path / "study", budget=72, workers=1, progress=False)
    rep = build_report(problem, study)
    found = rep.cheapest.iloc[0]
    assert found["found"]
    assert f_star <= found["penalties.fine_multiple"] <= f_star + step + 1e-9, (f_star, found["penalties.fine_multiple"])
    # and the mix just below it still smuggles, so the boundary is the economics, not a dead world
    below = run_replicate(apply_params(s, {"penalties.fine_multiple": found["penalties.fine_multiple"] - step}), 0)
    assert below.kpis["illicit_delivered_t"] > 0


# ---------------------------------------------------------------- frontier ----------
@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A 3-lever search on the lever world, written out (shared by the tests below)."""
    d = tmp_path_factory.mktemp("lever_search")
    problem = lever_problem(write(lever_world(), d))
    study = optimize(problem, d / "study", budget=32, workers=1, progress=False)
    rep = build_report(problem, study)
    write_report(rep, d / "study")
    return problem, study, rep, d


def test_frontier_rows_are_non_dominated_and_reproduced_by_sim_run(searched, capsys, monkeypatch):
    from sim.cli import main

    _, _, rep, d = searched
    cand, front = rep.candidates, rep.frontier
    assert len(cand) > 20 and 2 <= len(front) < len(cand)
    obj = cand[["enforcement_cost_usd", "illicit_delivered_t"]].to_numpy()
    for _, r in front.iterrows():  # no candidate is at least as good on both and better on one
        x = np.array([r["enforcement_cost_usd"], r["illicit_delivered_t"]])
        assert not (np.all(obj <= x, axis=1) & np.any(obj < x, axis=1)).any()
    assert (front["illicit_delivered_t_p05"] <= front["illicit_delivered_t"]).all()
    assert (front["illicit_delivered_t"] <= front["illicit_delivered_t_p95"]).all()
    monkeypatch.chdir(d)
    for _, r in front.head(3).iterrows():  # the same numbers from `sim run --set ...`
        argv = shlex.split(r["command"])[1:] + ["--out", str(d / "runs"), "--no-plots", "--workers", "1"]
        assert main(argv) == 0
        out = capsys.readouterr().out
        run_dir = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("results: "))
        summary = json.loads(Path(run_dir, "kpis.json").read_text())["summary"]  # exact floats
        for k in ("enforcement_cost_usd", "illicit_delivered_t", "seized_t"):
            assert summary[k]["mean"] == r[k], k
        assert summary["illicit_delivered_t"]["p95"] == r["illicit_delivered_t_p95"]


def test_status_quo_is_the_first_candidate_and_on_the_chart(searched):
    problem, study, rep, d = searched
    first = study.trials[0]
    assert problem.values(first.params) == problem.status_quo_levers() == {
        "customs.CN.capacity_per_week": 150, "exporters.trace_prob": 0.0, "penalties.fine_multiple": 1.0}
    sq = rep.summary["status_quo"]
    assert sq["illicit_delivered_t"]["mean"] == rep.candidates.set_index("trial").at[0, "illicit_delivered_t"]
    fig = fig_frontier(d / "study")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Enforcement cost (USD)" and ax.get_ylabel() == "Illicit deliveries (t)"
    labels = ax.get_legend_handles_labels()[1]
    assert "status quo" in labels and any(lab.startswith("target: illicit_delivered_t<=0.9x") for lab in labels)


def test_cheapest_mix_meets_its_constraint_and_nothing_cheaper_does(searched):
    _, _, rep, d = searched
    bound = 0.9 * rep.summary["status_quo"]["illicit_delivered_t"]["mean"]
    row = rep.cheapest.iloc[0]
    assert row["found"] and row["illicit_delivered_t"] <= bound
    cheaper = rep.candidates[rep.candidates["enforcement_cost_usd"] < row["enforcement_cost_usd"]]
    assert (cheaper["illicit_delivered_t"] > bound).all()
    _, front, summary = load_report(d / "study")
    assert summary["cheapest"][0]["trial"] == row["trial"] and len(front) == len(rep.frontier)
    assert any(line.startswith("Cheapest mix meeting illicit_delivered_t<=0.9x") for line in summary["answer"])


def test_brief_with_frontier_draws_the_search_on_the_page(searched, tmp_path):
    """sim brief --frontier STUDY: the page's second chart is the search's frontier, in place of
    the lever tornado or the price chart; a folder that is not a finished search is refused."""
    from pypdf import PdfReader

    from sim.cli import main
    from tests.v2_fixtures import make_v2_compare

    _, _, _, d = searched
    folder = make_v2_compare(tmp_path / "cmp", 4)
    out = tmp_path / "brief.pdf"
    assert main(["brief", str(folder), "--frontier", str(d / "study"), "--out", str(out)]) == 0
    text = " ".join(PdfReader(out).pages[0].extract_text().split())
    assert "What each level of spending buys (policy search)" in text and "Enforcement cost (USD)" in text
    assert main(["brief", str(folder), "--frontier", str(tmp_path), "--out", str(tmp_path / "b.pdf")]) != 0
    assert not (tmp_path / "b.pdf").exists()


# ---------------------------------------------------------------- resume ------------
class StopAfter:
    """A run function that raises KeyboardInterrupt at its n-th call (as Ctrl-C would, mid-generation)."""

    def __init__(self, n: int):
        self.n, self.calls = n, 0

    def __call__(self, scenario, replicate, steps=None):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return run_replicate(scenario, replicate, steps=steps)


def test_interrupted_and_resumed_search_ends_with_the_same_frontier(tmp_path):
    path = write(lever_world(), tmp_path)
    problem = lever_problem(path, budget_pop=6)
    whole = build_report(problem, optimize(problem, tmp_path / "whole", budget=20, workers=1, progress=False))
    # status quo (2 runs), generation 0 (6 mixes x 2 runs), then a stop in the second mix of generation 1
    with pytest.raises(KeyboardInterrupt):
        optimize(problem, tmp_path / "cut", budget=20, workers=1, progress=False, run_fn=StopAfter(2 + 12 + 3))
    import optuna

    cut = optuna.load_study(study_name="policy", storage=f"sqlite:///{tmp_path / 'cut' / 'study.db'}")
    states = [t.state.name for t in cut.trials]
    assert states.count("COMPLETE") >= 7 and states.count("RUNNING") >= 1 and len(states) == 12
    with pytest.raises(ExperimentError, match="add --resume"):
        optimize(problem, tmp_path / "cut", budget=20, workers=1, progress=False)
    resumed = build_report(problem, optimize(problem, tmp_path / "cut", budget=20, resume=True, workers=1,
                                             progress=False))
    pd.testing.assert_frame_equal(resumed.candidates, whole.candidates)
    pd.testing.assert_frame_equal(resumed.frontier, whole.frontier)
    other = lever_problem(path, budget_pop=6, replicates=3)
    with pytest.raises(ExperimentError, match="replicates: was 2, now 3"):
        optimize(other, tmp_path / "cut", budget=20, resume=True, workers=1, progress=False)


# ---------------------------------------------------------------- robust choice -----
def test_worst_decile_is_the_weighted_90th_percentile():
    v = np.arange(1.0, 11.0)  # 1..10, equal weights: 9 of 10 draws are <= 9
    assert worst_decile(v) == 9.0 and worst_decile(v, minimise=False) == 1.0
    w = np.ones(10)
    w[-1] = 9.0  # the worst draw now holds half the weight
    assert worst_decile(v, w) == 10.0
    assert math.isnan(worst_decile([np.nan, np.nan]))


def test_robust_choice_prefers_the_better_tail_to_the_better_mean():
    draws = 10
    per_draw = pd.DataFrame({  # illicit tonnes per posterior draw
        "fragile": [100.0] * 8 + [2000.0, 2500.0],  # mean 530, worst decile 2000
        "steady": [700.0] * draws,                   # mean 700, worst decile 700
        "costly": [600.0] * draws,                   # mean 600, worst decile 600
    }).T
    cost = pd.Series({"fragile": 1.0, "steady": 2.0, "costly": 9.0})
    assert per_draw.mean(axis=1).idxmin() == "fragile"
    assert robust_choice(per_draw, minimise=True, cost=cost) == "costly"       # best worst decile
    assert robust_choice(per_draw, minimise=True, cost=cost, bound=800.0) == "steady"   # cheapest robust one
    assert robust_choice(per_draw, minimise=True, cost=cost, bound=500.0) is None
    # weights: if the two bad draws are nearly impossible, the fragile mix is robust too
    w = np.array([1.0] * 8 + [1e-3, 1e-3])
    assert robust_choice(per_draw, w, minimise=True, cost=cost, bound=800.0) == "fragile"


def test_posterior_draws_are_common_to_every_candidate_and_give_a_robust_choice(tmp_path):
    """Per-replicate override dicts (as sim.experiments.posterior will give): replicate r of every
    mix, and of the status quo, runs draw r."""
    path = write(lever_world(), tmp_path)
    draws = [{"smugglers.capacity_t": c, "markets.US.sb.gray_share": g}
             for c, g in [(2.0, 0.3), (5.0, 0.5), (8.0, 0.7), (4.0, 0.2)]]
    problem = lever_problem(path, budget_pop=6, replicates=4, draws=draws, weights=[1.0, 1.0, 1.0, 0.5])
    study = optimize(problem, tmp_path / "study", budget=12, workers=1, progress=False)
    base = problem.base()
    sq = study.user_attrs["status_quo"]["illicit_delivered_t"]
    for r, d in enumerate(draws):
        assert sq[r] == run_replicate(apply_params(base, d), r).kpis["illicit_delivered_t"]
    t = study.trials[5]
    sc = problem.candidate(t.params)
    assert t.user_attrs["kpis"]["seized_t"][2] == run_replicate(apply_params(sc, draws[2]), 2).kpis["seized_t"]
    rep = build_report(problem, study)
    per = pd.DataFrame({tr: study.trials[tr].user_attrs["kpis"]["illicit_delivered_t"]
                        for tr in rep.candidates["trial"]}).T
    expected = robust_choice(per, problem.weights, True, rep.candidates.set_index("trial")["enforcement_cost_usd"])
    got = {c["choice"]: c["trial"] for c in rep.summary["robust_choices"]}
    assert got["best worst decile of illicit_delivered_t"] == expected
    assert "cheapest meeting illicit_delivered_t<=0.9x in 9 of 10 plausible worlds" in got
    assert "illicit_delivered_t_worst_decile" in rep.robust.columns
    write_report(rep, tmp_path / "study")
    labels = fig_frontier(tmp_path / "study").axes[0].get_legend_handles_labels()[1]
    assert "robust: best worst decile of illicit_delivered_t" in labels
    with pytest.raises(ExperimentError, match="3 draws for 4 replicates"):
        lever_problem(path, replicates=4, draws=draws[:3])


def test_status_quo_outside_the_ranges_is_flagged_and_unreported_kpis_stop_the_search(tmp_path):
    path = write(lever_world(), tmp_path)
    p = make_problem(path, [parse_lever("customs.CN.capacity_per_week=500:3000:int")],
                     [parse_objective("enforcement_cost_usd:min"), parse_objective("illicit_delivered_t")])
    assert p.notes == ["note: the scenario's own customs.CN.capacity_per_week (150) lies outside the lever's "
                       "range 500-3000, so the status quo is not among the mixes searched"]
    study = optimize(p, tmp_path / "a", budget=4, workers=1, progress=False)
    assert 150 not in [t.params["customs.CN.capacity_per_week"] for t in study.trials if t.params]
    q = make_problem(path, [parse_lever("customs.CN.capacity_per_week=0:3000:int")],
                     [parse_objective("enforcement_cost_usd:min"), Objective("legit_inspected_missing", "min")])
    with pytest.raises(ExperimentError, match="the model does not report legit_inspected_missing"):
        optimize(q, tmp_path / "b", budget=4, workers=1, progress=False)
