"""A toy world for calibration tests: the fast stand-in model (tests/fake_model.py) and facts
whose posterior is known.

fake_run's KPI y = 2 x penalties.arrest_prob + 0.01 x noise. The toy target T1 wants y in
0.9 to 1.1 (stated 1.0), so the posterior of arrest_prob concentrates on 0.45 to 0.55 around
0.5; fine_multiple does not move y, so its posterior stays as wide as its prior. H1 is a
held-out check on the same run (never a target).
"""

from __future__ import annotations

from pathlib import Path

from sim.calibration.targets import Band, Fact, Registry
from sim.scenario import dump_toml
from tests.fake_model import fake_run, tiny_scenario  # noqa: F401 (tiny_scenario used by tests)

PRIORS = {
    "penalties.arrest_prob": {"kind": "uniform", "low": 0.0, "high": 1.0, "reason": "toy: anything"},
    "penalties.fine_multiple": {"kind": "loguniform", "low": 0.1, "high": 10.0, "reason": "toy: no effect on y"},
}


def y_of(runs) -> float:
    """T1: the fake model's y on the scenario 'tiny'."""
    return runs["tiny"].kpis["y"]


def y_gap(runs) -> float:
    """T2: y of 'tiny' minus y of 'tiny_b' on the same replicate (a fact over two scenarios)."""
    return runs["tiny"].kpis["y"] - runs["tiny_b"].kpis["y"]


def seized(runs) -> float:
    """H1: illicit tonnes (held out)."""
    return runs["tiny"].kpis["illicit_delivered_t"]


def registry() -> Registry:
    return Registry([
        Fact("T1", "toy: y", "toy source", Band(0.9, 1.1), "calibration", ("tiny",), y_of),
        Fact("T2", "toy: y gap between two scenarios", "toy source", Band(-0.1, 0.1), "calibration",
             ("tiny", "tiny_b"), y_gap),
        Fact("H1", "toy: illicit tonnes", "toy source", Band(0, 1000), "held_out", ("tiny",), seized),
    ])


def toy_scenario(name: str = "tiny", **top):
    """The tiny scenario with the toy priors."""
    return tiny_scenario(name, priors={k: dict(v) for k, v in PRIORS.items()}, **top)


def write_toy(folder: Path, name: str = "tiny") -> Path:
    """The toy scenario as a TOML file in `folder`; returns its path."""
    path = Path(folder) / f"{name}.toml"
    path.write_text(dump_toml(toy_scenario(name)), encoding="utf-8")
    return path


def fails_above_0_8(scenario, replicate, steps=None):
    """fake_run, but a run with arrest_prob above 0.8 raises (a region of the prior the model cannot run)."""
    if scenario.penalties.arrest_prob > 0.8:
        raise ValueError("no run above 0.8")
    return fake_run(scenario, replicate, steps)


def always_fails(scenario, replicate, steps=None):
    raise ValueError("the model is broken")


CALLS = {"n": 0, "stop_at": -1}


def interrupting_run(scenario, replicate, steps=None):
    """fake_run that raises KeyboardInterrupt (as Ctrl-C would) on call number CALLS["stop_at"] + 1 of
    this process (a module-level counter: the model function is pickled afresh for each generation)."""
    if CALLS["n"] == CALLS["stop_at"]:
        CALLS["stop_at"] = -1
        raise KeyboardInterrupt
    CALLS["n"] += 1
    return fake_run(scenario, replicate, steps)


def interrupt_after(k: int):
    """Arm interrupting_run to raise on the call after the next k calls; returns it."""
    CALLS.update(n=0, stop_at=k)
    return interrupting_run
