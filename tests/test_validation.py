"""The stylized-fact checks (sim.calibration.facts) and the sensitivity report (sim.calibration.sensitivity).

Fast tests measure each fact on small synthetic long-format timeseries with known
answers and check the pass/fail rule and the report writers without running the model.
Tests marked slow run the episode scenarios (`pytest -m slow`).
"""

from __future__ import annotations

import datetime as dt
import math
from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest

import sim.experiments
from sim.calibration import facts as validation
from sim.calibration import sensitivity
from sim.calibration.facts import FACTS, Fact, evaluate
from sim.model.runner import RunResult
from sim.scenario import load_scenario

START = dt.date(2024, 12, 1)
KEYS = ("market", "commodity", "route", "checkpoint", "method")


def frame(*blocks) -> pd.DataFrame:
    """Long-format timeseries from blocks (metric, values over steps 0.., key columns)."""
    rows = []
    for metric, values, keys in blocks:
        for step, v in enumerate(values):
            rows.append(dict(replicate=0, step=step, date=pd.Timestamp(START + dt.timedelta(weeks=step)),
                             metric=metric, **{k: keys.get(k, "") for k in KEYS}, value=float(v)))
    return pd.DataFrame(rows)


def block(metric, values, **keys):
    return (metric, list(values), keys)


# A stand-in for the scenario: only what the measure functions read. Headline event at step 10;
# Thailand's baseline imports 365.25 t/yr = 7 t per 7-day step.
SC = NS(origin="CN", days_per_step=7, headline_event="op", events={"op": 10}, event_step=lambda e: e,
        routes={"CN-US": NS(via=""), "CN-TH-US": NS(via="TH"), "CN-MX-US": NS(via="MX"),
                "CN-MY-US": NS(via="MY")},
        countries={"TH": NS(baseline_imports_t_per_year={"sb2o3": 365.25})})
N = 40  # steps


def test_s1_sums_thailand_and_mexico_routes_over_22_weeks():
    ts = frame(block("illicit_route_t", [100] * N, route="CN-TH-US", commodity="sb2o3"),
               block("illicit_route_t", [50] * N, route="CN-MX-US", commodity="sb2o3"),
               block("illicit_route_t", [1000] * N, route="CN-MY-US", commodity="sb2o3"),
               block("illicit_route_t", [1000] * N, route="CN-US", commodity="sb2o3"),
               block("illicit_delivered_t", [9999] * N, market="US", commodity="sb2o3"))
    assert validation.s1(ts, SC) == pytest.approx(22 * 150)


def test_s2_peak_of_4_week_mean_within_26_weeks_in_percent():
    us = [1.0] * 5 + [3.0] * 25 + [10.0] * 10  # the 10x after week 30 is outside the window
    ts = frame(block("price_index", us, market="US", commodity="sb2o3"),
               block("price_index", [5.0] * N, market="CN", commodity="sb2o3"))
    assert validation.s2(ts, SC) == pytest.approx(200.0)
    spike = [1.0] * 10 + [5.0] + [1.0] * 29  # one week at 5x: the 4-week mean peaks at 2x
    assert validation.s2(frame(block("price_index", spike, market="US")), SC) == pytest.approx(100.0)


def test_s3_origin_index_at_the_step_of_the_destination_peak():
    us = [1.0 + s if s <= 12 else 1.0 for s in range(N)]  # 4-week mean peaks at step 12 (11.5)
    cn = [1.0 - 0.01 * s for s in range(N)]              # 4-week mean at step 12: 1 - 0.01 * 10.5
    ts = frame(block("price_index", us, market="US"), block("price_index", cn, market="CN"))
    assert validation.s3(ts, SC) == pytest.approx(0.895)


def test_s4_fall_from_4_weeks_before_to_weeks_5_to_8_after_the_event():
    x = [100] * 10 + [60] * 5 + [30] * 25  # event at step 10
    ts = frame(block("illicit_delivered_t", x, market="US", commodity="sb2o3"),
               block("illicit_delivered_t", [500] * N, market="EU", commodity="sb2o3"))
    assert validation.s4(ts, SC) == pytest.approx(70.0)
    assert math.isnan(validation.s4(frame(block("illicit_delivered_t", [0] * N, market="US")), SC))


def test_s5_peak_4_week_mean_of_thailand_imports_over_baseline():
    th = [7] * 10 + [210] * 6 + [7] * 24  # baseline 7 t/step; 30x for six weeks
    ts = frame(block("transit_imports_t", th, market="TH", commodity="sb2o3"),
               block("transit_imports_t", [7000] * N, market="MY", commodity="sb2o3"))
    assert validation.s5(ts, SC) == pytest.approx(30.0)


def test_s6_counts_seizures_in_the_13_weeks_from_the_event():
    x = [100] * 10 + [2] * 13 + [100] * 17
    ts = frame(block("seizures_count", x, checkpoint="CN:export", method="mislabel"),
               block("seizures_count", x, checkpoint="TH:import", method="false_end_user"))
    assert validation.s6(ts, SC) == 2 * 13 * 2


def test_s7_gray_over_legal_price_averaged_over_steps():
    ts = frame(block("gray_price_usd_kg", [7.5] * 10 + [5.0] * 10, market="US", commodity="sb2o3"),
               block("price_usd_kg", [10.0] * 20, market="US", commodity="sb2o3"))
    assert validation.s7(ts, SC) == pytest.approx(0.625)


def test_series_sums_over_unnamed_keys_in_step_order():
    ts = frame(block("seized_t", [1, 2, 3], checkpoint="CN:export"),
               block("seized_t", [10, 20, 30], checkpoint="US:import")).iloc[::-1]
    assert validation.series(ts, "seized_t").tolist() == [11, 22, 33]
    assert validation.series(ts, "seized_t", checkpoint="US:import").tolist() == [10, 20, 30]


# ---------------------------------------------------------------- pass/fail and reports
def fake_facts():
    """Facts whose measure reads the replicate's first value; values 1..10 over replicates."""
    m = lambda ts, sc: ts["value"].iloc[0]  # noqa: E731
    return [Fact("S1", "inside", "src", "antimony_ban_2024.toml", 5, 6, "t", m),
            Fact("S2", "above", "src", "antimony_ban_2024.toml", 0, 5, "%", m),
            Fact("S3", "strict", "src", "antimony_ban_2024.toml", 0.0, 5.5, "x P0", m, below_hi=True),
            Fact("S5", "open-ended", "src", "crackdown_2025.toml", 5, math.inf, "x", m),
            Fact("S7", "reported", "src", "crackdown_2025.toml", 0, 1, "", m, reported_only=True)]


@pytest.fixture
def fake_runs(monkeypatch):
    """evaluate() with fake facts and a fake run_replicates (replicate r has value r + 1)."""
    calls = []

    def run_replicates(sc, replicates, workers=None, progress=True):
        calls.append((sc.name, sc.seed, replicates))
        return [RunResult(r, frame(block("x", [r + 1])), {}) for r in range(replicates)]

    monkeypatch.setattr(validation, "FACTS", fake_facts())
    monkeypatch.setattr(sim.experiments, "run_replicates", run_replicates)
    return calls


def test_evaluate_pass_fail_rule_and_ensemble_statistics(fake_runs):
    table = evaluate(replicates=10, seed=7, progress=False).set_index("id")
    assert table.loc["S1", "mean"] == pytest.approx(5.5)
    assert table.loc["S1", "p05"] == pytest.approx(np.percentile(np.arange(1, 11), 5))
    assert table.loc["S1", "p95"] == pytest.approx(np.percentile(np.arange(1, 11), 95))
    assert table["result"].to_dict() == {"S1": "pass", "S2": "FAIL", "S3": "FAIL", "S5": "pass",
                                         "S7": "reported"}  # S3: mean 5.5 is not < 5.5
    assert table.loc["S5", "band"] == ">= 5 x" and table.loc["S7", "band"] == "reported"
    # each scenario runs once, with the master seed given
    assert fake_runs == [("antimony_ban_2024", 7, 10), ("crackdown_2025", 7, 10)]


def test_evaluate_raises_when_a_replicate_failed(monkeypatch):
    monkeypatch.setattr(validation, "FACTS", fake_facts())
    monkeypatch.setattr(sim.experiments, "run_replicates",
                        lambda sc, n, **kw: [sim.experiments.RunFailure(3, "ValueError: boom", "")])
    with pytest.raises(RuntimeError, match="replicate 3 failed: ValueError: boom"):
        evaluate(replicates=1, progress=False)


def test_markdown_report_and_console_table(fake_runs):
    table = evaluate(replicates=10, seed=7, progress=False)
    md = validation.markdown(table, 10, 7, "sim validate-facts --replicates 10 --seed 7")
    lines = md.splitlines()
    assert lines[0] == "# Validation against the seed's stylized facts"
    assert "`sim validate-facts --replicates 10 --seed 7`" in md and "master seed 7" in md
    rows = [ln for ln in lines if ln.startswith("| S")]
    assert len(rows) == 5 and all(r.count("|") == 9 for r in rows)
    assert rows[0] == ("| S1 | inside | src | `antimony_ban_2024.toml` | 5 to 6 t | 5.50 | 1.45 to 9.55 "
                       "| pass |")
    assert rows[2].endswith("| FAIL |") and rows[4].endswith("| reported |")
    console = validation.format_table(table).splitlines()
    assert len(console) == 6 and console[1].startswith("S1") and console[1].endswith("pass")


def test_number_format_switches_at_100():
    assert validation._fmt(3834.4) == "3,834" and validation._fmt(72.666) == "72.67"


# ---------------------------------------------------------------- sensitivity helpers
def test_sensitivity_parameters_resolve_in_the_episode_scenarios():
    ban = load_scenario(validation.SCENARIOS / "antimony_ban_2024.toml")
    crack = load_scenario(validation.SCENARIOS / "crackdown_2025.toml")
    for key, _, _ in sensitivity.PARAMS:  # every parameter is set explicitly in some episode scenario
        assert sensitivity.explicit_value(crack, key) is not None, key
    ev = 'events.joint_operation.set."customs.CN.anomaly_weight"'
    assert sensitivity.explicit_value(crack, ev) == 10.0
    assert sensitivity.explicit_value(ban, ev) is None  # no such event in the ban scenario
    assert sensitivity.explicit_value(ban, "exporters.trace_tag_compliance") is None  # a default
    assert sensitivity.explicit_value(ban, "smugglers.initial") == 1000


def test_sensitivity_levels_round_integers_and_clip_probabilities():
    assert sensitivity.scaled(1000, 0.8, False) == 800 and isinstance(sensitivity.scaled(7, 1.2, False), int)
    assert sensitivity.scaled(0.9, 1.2, True) == 1.0
    assert sensitivity.scaled(0.9, 1.2, False) == pytest.approx(1.08)
    assert sensitivity.scaled(0.25, 0.8, True) == pytest.approx(0.2)


def test_sensitivity_report_marks_values_outside_the_band():
    s1, s3 = FACTS[0], FACTS[2]
    assert sensitivity.cell(s1, [2354.0, 3402.0, 4900.0]) == "**2,354**† / 3,402 / **4,900**†"
    assert sensitivity.cell(s3, [0.95, 1.0, 0.5]) == "0.95 / **1.00**† / 0.50"
    base = {f.id: np.array([1.0, 2.0, 3.0]) for f in FACTS}
    rows = [dict(key="a.b", status="TUNED S1", base=["0.5"], means={f.id: [1.0, 2.0, 3.0] for f in FACTS})]
    md = sensitivity.markdown(base, rows, 3, None, "python -m sim.calibration.sensitivity --replicates 3")
    assert "| (base ± 2 s.e.) | | | 2.00 ± 1.15 |" in md  # sd 1, 3 replicates: 2 / sqrt(3)
    assert "| `a.b` | TUNED S1 | 0.5 | **1.00**† / **2.00**† / **3.00**† |" in md


# ---------------------------------------------------------------- the real scenarios (slow)
def assert_facts_in_bands(table: pd.DataFrame) -> None:
    core = table[table["id"].isin(["S1", "S2", "S3", "S4", "S5", "S6"])]
    assert len(core) == 6
    bad = core[core["result"] != "pass"]
    assert bad.empty, "facts out of band:\n" + validation.format_table(bad)


@pytest.mark.slow
def test_episode_scenarios_reproduce_facts_s1_to_s6():
    assert_facts_in_bands(evaluate(replicates=10, workers=2, progress=False))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_facts_stay_in_band_under_another_master_seed(seed):
    assert_facts_in_bands(evaluate(replicates=10, seed=seed, workers=2, progress=False))
