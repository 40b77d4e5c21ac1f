"""Priors in the scenario format: validation with file, line and key, the schema checks, merging."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim.scenario import ScenarioError, dump_toml, load_scenario
from sim.scenario.priors import Prior, check_priors, merge_priors, prior_value, target_field
from sim.scenario.schema import Scenario

BASE = (Path(__file__).parent / "data" / "base.toml").read_text(encoding="utf-8")


def with_priors(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(BASE + "\n" + text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ScenarioError) as e:
        load_scenario(with_priors(tmp_path, text))
    return e.value.messages


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_good_priors_load_and_round_trip(tmp_path):
    path = with_priors(tmp_path, '''
[priors."penalties.arrest_prob"]
kind = "beta"
low = 0.1
high = 0.9
mean = 0.4
sd = 0.15
reason = "few data on arrests per seizure"

[priors."smugglers.initial"]
kind = "uniform"
low = 50
high = 400
reason = "networks already active"

[priors."smugglers.capital_usd"]
kind = "loguniform"
low = 1e5
high = 1e7
reason = "order of magnitude unknown"

[priors.'events.crackdown.set."customs.CN.capacity_per_week"']
kind = "normal"
low = 200
high = 800
mean = 400
sd = 150
reason = "scale of the operation"
''')
    s = load_scenario(path)
    assert list(s.priors) == ["penalties.arrest_prob", "smugglers.initial", "smugglers.capital_usd",
                              'events.crackdown.set."customs.CN.capacity_per_week"']
    a, b = s.priors["penalties.arrest_prob"].beta_shape()
    assert a / (a + b) == pytest.approx((0.4 - 0.1) / 0.8)  # the mean on [low, high]
    again = tmp_path / "again.toml"
    again.write_text(dump_toml(s), encoding="utf-8")
    assert load_scenario(again).priors == s.priors


@pytest.mark.parametrize("body, key, message", [
    ('kind = "uniform"\nlow = 0.5\nhigh = 0.2\nreason = "x"', "priors.penalties.arrest_prob",
     "low must be below high (got low = 0.5, high = 0.2)"),
    ('kind = "loguniform"\nlow = 0\nhigh = 0.9\nreason = "x"', "priors.penalties.arrest_prob", "needs low > 0"),
    ('kind = "normal"\nlow = 0.1\nhigh = 0.9\nreason = "x"', "priors.penalties.arrest_prob", "needs mean and sd"),
    ('kind = "uniform"\nlow = 0.1\nhigh = 0.9\nmean = 0.5\nreason = "x"', "priors.penalties.arrest_prob",
     "mean and sd apply to normal and beta priors only"),
    ('kind = "beta"\nlow = 0\nhigh = 1\nmean = 0.5\nsd = 0.6\nreason = "x"', "priors.penalties.arrest_prob",
     "sd 0.6 is too wide for a beta"),
    ('kind = "uniform"\nlow = 0.1\nhigh = 0.9\nreason = "  "', "priors.penalties.arrest_prob", "say why this range"),
    ('kind = "uniform"\nlow = 0.1\nhigh = 0.9', "priors.penalties.arrest_prob.reason", "missing required key"),
    ('kind = "gaussian"\nlow = 0.1\nhigh = 0.9\nreason = "x"', "priors.penalties.arrest_prob.kind",
     "must be one of 'uniform', 'loguniform', 'normal' or 'beta'"),
    ('kind = "uniform"\nlow = 0.1\nhigh = 1.5\nreason = "x"', "priors.penalties.arrest_prob",
     "range 0.1 to 1.5 leaves the field's bounds: values must be <= 1 (high = 1.5)"),
])
def test_bad_prior_is_one_line_with_file_line_and_key(tmp_path, body, key, message):
    path = with_priors(tmp_path, f'[priors."penalties.arrest_prob"]\n{body}\n')
    msgs = problems(tmp_path, f'[priors."penalties.arrest_prob"]\n{body}\n')
    assert len(msgs) == 1, msgs
    m = re.match(r"^(.+?):(\d+): (\S+): (.+)$", msgs[0])
    assert m, msgs[0]
    assert m.group(1) == str(path) and m.group(3) == key and message in m.group(4), msgs[0]
    assert int(m.group(2)) >= line_of(path, "[priors.")


@pytest.mark.parametrize("key, message", [
    ("customs.CN.capasity_per_week", "not a scenario key"),
    ("custom.CN.capacity_per_week", "unknown table 'custom'"),
    ("customs.CN.technologies", "not a number (it holds list"),
    ("smugglers.logit", "not a number (it holds bool)"),
    ("smugglers", "not a run setting"),
    ("steps", "not a run setting"),
    ("countries.XX.cooperation", "at 0.1 the scenario is invalid (countries.XX.roles: missing required key)"),
    ("routes.via_TH.leg1_steps", None),  # a whole-number key is fine
    ('events.crackdown.set."penalties.fine_multiple"', "event 'crackdown' does not set 'penalties.fine_multiple'"),
    ('events.nothing.set."penalties.arrest_prob"', "unknown event 'nothing'"),
])
def test_check_priors_names_the_key_and_the_problem(tmp_path, key, message):
    s = load_scenario(with_priors(tmp_path, ""))
    data = s.model_dump(mode="python")
    data["priors"] = {key: {"kind": "uniform", "low": 0.1, "high": 0.9, "reason": "test"}}
    if key.startswith("routes"):
        data["priors"][key].update(low=1, high=4)
    found = check_priors(Scenario.model_validate(data))
    assert found == ([] if message is None else [(f"priors.{key}", found[0][1])])
    if message:
        assert message in found[0][1], found


def test_event_prior_respects_the_bounds_of_the_key_the_event_sets(tmp_path):
    msgs = problems(tmp_path, '[priors.\'events.crackdown.set."penalties.arrest_prob"\']\n'
                              'kind = "uniform"\nlow = 0.5\nhigh = 1.2\nreason = "x"\n')
    assert len(msgs) == 1 and "values must be <= 1 (high = 1.2)" in msgs[0], msgs


def test_prior_value_rounds_whole_number_keys_and_targets_event_keys():
    assert prior_value(Scenario, "smugglers.initial", 149.6) == 150
    assert prior_value(Scenario, 'events.x.set."smugglers.initial"', 149.6) == 150
    assert prior_value(Scenario, "penalties.arrest_prob", 0.25) == 0.25
    assert target_field(Scenario, "customs.CN.capacity_per_week").name == "capacity_per_week"


def test_merge_priors_refuses_two_different_priors_for_one_key(tmp_path):
    s = load_scenario(with_priors(tmp_path, ""))
    p1 = {"kind": "uniform", "low": 0.1, "high": 0.9, "reason": "a"}
    a = s.model_copy(update={"name": "a", "priors": {"penalties.arrest_prob": Prior(**p1)}})
    b = s.model_copy(update={"name": "b", "priors": {"penalties.arrest_prob": Prior(**{**p1, "high": 0.8})}})
    merged, errs = merge_priors([a, a.model_copy(update={"name": "c"})])
    assert list(merged) == ["penalties.arrest_prob"] and errs == []
    merged, errs = merge_priors([a, b])
    assert len(errs) == 1 and "a and b give different priors" in errs[0]
