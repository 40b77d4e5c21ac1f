"""A fast stand-in for sim.model.runner.run_replicate, for testing sim.experiments.

Deterministic in (scenario, replicate): the random stream is
SeedSequence(scenario.seed, spawn_key=(replicate,)), as in the real model. Module-level
functions only, so process pools and Dask workers can unpickle them.

KPIs (all float):
  y             2 x penalties.arrest_prob + 0 x penalties.fine_multiple + 0.01 x noise
                (noise depends on the replicate only, so averaging replicates at a point
                shifts y by a constant: Sobol indices are S1[arrest_prob] = 1, ST[fine] = 0)
  seed_draw     first uniform draw of the replicate's stream (shows which seed a run got)
  illicit_delivered_t   made-up, depends on arrest_prob, capacity and the stream
  smugglers_initial     smugglers.initial as the model saw it (an integer key)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.scenario.schema import Scenario


@dataclass
class FakeResult:
    replicate: int
    timeseries: pd.DataFrame = field(repr=False)
    kpis: dict[str, float]


def tiny_scenario(name: str = "tiny", seed: int = 11, **top) -> Scenario:
    """A minimal valid scenario: CN origin, TH transit, US destination, one commodity."""
    return Scenario.model_validate(
        {
            "name": name,
            "seed": seed,
            "steps": 8,
            "start_date": dt.date(2024, 1, 1),
            "commodities": {"sb": {}},
            "countries": {
                "CN": {"roles": ["origin"]},
                "TH": {"roles": ["transit"]},
                "US": {"roles": ["destination"]},
            },
            "markets": {c: {"sb": {"ref_price_usd_kg": 10.0}} for c in ("CN", "US")},
            "suppliers": {"cn": {"country": "CN", "commodity": "sb", "unit_cost_usd_kg": 5.0,
                                 "sales_t_per_year": {"CN": 1000.0, "US": 1000.0}}},
            "routes": {"direct": {"destination": "US"}, "via_TH": {"destination": "US", "via": "TH"}},
            "customs": {"CN": {"capacity_per_week": 100.0}},
            **top,
        }
    )


def fake_run(scenario: Scenario, replicate: int, steps: int | None = None) -> FakeResult:
    rng = np.random.default_rng(np.random.SeedSequence(scenario.seed, spawn_key=(replicate,)))
    draw, noise = rng.random(), rng.normal()
    a, b = scenario.penalties.arrest_prob, scenario.penalties.fine_multiple
    cap = scenario.customs["CN"].capacity_per_week if "CN" in scenario.customs else 100.0
    n = steps or scenario.steps
    kpis = {
        "y": 2.0 * a + 0.0 * b + 0.01 * noise,
        "seed_draw": float(draw),
        "illicit_delivered_t": 1000.0 * (1 - a) * 100.0 / (100.0 + cap) * (1 + 0.1 * noise),
        "smugglers_initial": float(scenario.smugglers.initial),
    }
    steps_ = np.arange(n)
    ts = pd.DataFrame(
        {
            "replicate": np.int64(replicate),
            "step": steps_.astype("int64"),
            "date": pd.to_datetime([scenario.date_of(int(s)) for s in steps_]),
            "metric": "illicit_delivered_t",
            "market": "US",
            "commodity": "sb",
            "route": "",
            "checkpoint": "",
            "method": "",
            "value": kpis["illicit_delivered_t"] / n * (1 + 0.05 * rng.normal(size=n)),
        }
    )
    return FakeResult(replicate, ts, kpis)


def failing_run(scenario: Scenario, replicate: int, steps: int | None = None) -> FakeResult:
    """Like fake_run, but replicate 2 raises ValueError."""
    if replicate == 2:
        raise ValueError("boom in replicate 2")
    return fake_run(scenario, replicate, steps)


def crashing_run(scenario: Scenario, replicate: int, steps: int | None = None) -> FakeResult:
    """Like fake_run, but the worker process dies (no exception) in replicate 7, after 1 s."""
    if replicate == 7:
        import os
        import time

        time.sleep(1.0)
        os._exit(3)
    return fake_run(scenario, replicate, steps)


def interrupting_run(scenario: Scenario, replicate: int, steps: int | None = None) -> FakeResult:
    """Like fake_run, but raises KeyboardInterrupt (as Ctrl-C would) at arrest_prob 0.5, replicate 1."""
    if replicate == 1 and scenario.penalties.arrest_prob == 0.5:
        raise KeyboardInterrupt
    return fake_run(scenario, replicate, steps)


class InterruptAfter:
    """fake_run that raises KeyboardInterrupt on call number k+1 (in-process use only)."""

    def __init__(self, k: int):
        self.k, self.calls = k, 0

    def __call__(self, scenario, replicate, steps=None):
        if self.calls == self.k:
            raise KeyboardInterrupt
        self.calls += 1
        return fake_run(scenario, replicate, steps)


class Recorder:
    """fake_run that records (scenario name, seed, replicate, arrest_prob) of every call (in-process)."""

    def __init__(self):
        self.calls: list[tuple] = []

    def __call__(self, scenario, replicate, steps=None):
        self.calls.append((scenario.name, scenario.seed, replicate, scenario.penalties.arrest_prob))
        return fake_run(scenario, replicate, steps)
