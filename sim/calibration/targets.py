"""Facts from the record as objects: the calibration targets and the held-out checks.

A fact is a number measured on one replicate of one or more scenarios, a band the record
puts it in, and a role:

- ``calibration``: may set parameters (`sim calibrate` estimates the priors against it);
- ``held_out``: never sets a parameter, by calibration or by hand; reported whatever it shows;
- ``reported``: shown for information (e.g. an input the record states directly).

Defining a fact (the module that holds them is listed in FACT_MODULES and imported on demand):

    from sim.calibration.targets import Band, fact

    @fact("S1", "Antimony oxide reaching the US via Thailand and Mexico, Dec 2024 - Apr 2025",
          source="seed: 3,834 t", band=Band(2900, 4800, target=3834), unit="t",
          role="calibration", scenarios=("antimony_2024",))
    def s1(runs):
        r = runs["antimony_2024"]            # a Run: scenario, timeseries, kpis
        return float(...)

`runs` maps each scenario name the fact lists to that scenario's run for one replicate (all
on the same replicate seed, so a counterfactual scenario listed beside its episode is paired).
Fact functions must be module-level (they travel to worker processes).

The distance of a measured value to a fact is `Band.cost`: 0 at the target, 1 at the band's
edges, growing linearly beyond them; so a fact inside its band costs less than 1.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

ROLES = ("calibration", "held_out", "reported")
# Modules that define the project's facts; imported by default_registry().
FACT_MODULES = ("sim.calibration.facts",)


class FactError(ValueError):
    """A fact defined wrongly, or asked for in a way the rules forbid (one line)."""


@dataclass(frozen=True)
class Band:
    """The range the record allows, [lo, hi] (either end may be infinite), and its best point.

    target: the value the record states (default: the middle of a finite band); needed when
    an end is infinite. Units are the fact's.
    """

    lo: float
    hi: float = math.inf
    target: float | None = None

    def __post_init__(self):
        lo, hi = float(self.lo), float(self.hi)
        if math.isnan(lo) or math.isnan(hi) or lo >= hi:
            raise FactError(f"band: need lo < hi (got {self.lo} to {self.hi})")
        if self.target is None:
            if math.isinf(lo) or math.isinf(hi):
                raise FactError(f"band {lo:g} to {hi:g}: an open band needs a target (the value the record states)")
            object.__setattr__(self, "target", (lo + hi) / 2)
        if not lo < self.target < hi:
            raise FactError(f"band {lo:g} to {hi:g}: the target {self.target:g} must lie strictly inside")

    def contains(self, x: float) -> bool:
        return self.lo <= x <= self.hi

    def cost(self, x: float) -> float:
        """0 at the target, 1 at either edge, linear in between and beyond; inf for NaN.

        Each side is scaled by its own half of the band (for a symmetric band: |x - mid| / half-width).
        An open side costs nothing past the target (`>= 10`, target 27: 0 at 27 or more, 1 at 10).
        """
        if x is None or math.isnan(x):
            return math.inf
        if x >= self.target:
            return 0.0 if math.isinf(self.hi) else (x - self.target) / (self.hi - self.target)
        return 0.0 if math.isinf(self.lo) else (self.target - x) / (self.target - self.lo)

    def text(self, unit: str = "") -> str:
        u = f" {unit}" if unit else ""
        if math.isinf(self.hi):
            return f">= {self.lo:g}{u}"
        if math.isinf(self.lo):
            return f"<= {self.hi:g}{u}"
        return f"{self.lo:g} to {self.hi:g}{u}"


@dataclass(frozen=True)
class Run:
    """One replicate of one scenario, as a fact sees it: the scenario that ran, its long-format
    time series (sim.model.recorder) and its KPIs."""

    scenario: Any
    timeseries: Any
    kpis: Mapping[str, float]


@dataclass(frozen=True)
class Fact:
    """A fact from the record: id, words, source, band, role, the scenarios it is measured on and how."""

    id: str
    description: str
    source: str
    band: Band
    role: Literal["calibration", "held_out", "reported"]
    scenarios: tuple[str, ...]
    measure: Callable[[Mapping[str, Run]], float] = field(repr=False)
    unit: str = ""

    def __post_init__(self):
        if self.role not in ROLES:
            raise FactError(f"fact {self.id}: role must be one of {', '.join(ROLES)} (got '{self.role}')")
        if not self.scenarios:
            raise FactError(f"fact {self.id}: name the scenario(s) it is measured on")
        object.__setattr__(self, "scenarios", tuple(self.scenarios))

    def value(self, runs: Mapping[str, Run]) -> float:
        """The fact measured on one replicate (runs: scenario name -> Run); NaN if undefined."""
        missing = [s for s in self.scenarios if s not in runs]
        if missing:
            raise FactError(f"fact {self.id} needs a run of {', '.join(missing)}")
        v = self.measure({s: runs[s] for s in self.scenarios})
        return math.nan if v is None else float(v)

    def cost(self, value: float) -> float:
        return self.band.cost(value)

    def band_text(self) -> str:
        return self.band.text(self.unit)


class Registry:
    """The facts by id, in the order they were added."""

    def __init__(self, facts: Sequence[Fact] = ()):
        self._facts: dict[str, Fact] = {}
        for f in facts:
            self.add(f)

    def add(self, f: Fact) -> Fact:
        if f.id in self._facts:
            raise FactError(f"fact {f.id} is defined twice")
        self._facts[f.id] = f
        return f

    def replace(self, f: Fact) -> Fact:
        """Add or redefine a fact (for the model-version switch: v2 facts replace v1's)."""
        self._facts[f.id] = f
        return f

    def fact(self, id: str, description: str, *, source: str, band: Band, role: str,
             scenarios: Sequence[str], unit: str = "") -> Callable:
        """Decorator: register the function below as fact `id` (see the module docstring)."""
        def register(fn: Callable) -> Callable:
            self.add(Fact(id, description, source, band, role, tuple(scenarios), fn, unit))
            return fn
        return register

    def __getitem__(self, id: str) -> Fact:
        try:
            return self._facts[id]
        except KeyError:
            raise FactError(f"unknown fact '{id}' (known: {', '.join(self._facts) or 'none'})") from None

    def __iter__(self) -> Iterator[Fact]:
        return iter(list(self._facts.values()))

    def __len__(self) -> int:
        return len(self._facts)

    def by_role(self, role: str) -> list[Fact]:
        return [f for f in self if f.role == role]

    def targets(self, scenario_names: Sequence[str], ids: Sequence[str] | None = None) -> list[Fact]:
        """The calibration targets measurable on these scenarios (or exactly `ids`, checked).

        A held-out or reported fact is never a target: asking for one raises FactError.
        """
        names = set(scenario_names)
        if ids:
            chosen = [self[i] for i in ids]
            for f in chosen:
                if f.role == "held_out":
                    raise FactError(f"{f.id} is a held-out check: it may never set a parameter, by calibration "
                                    "or by hand (docs/calibration.md, honesty rules)")
                if f.role != "calibration":
                    raise FactError(f"{f.id} is reported only, not a calibration target")
                if not set(f.scenarios) <= names:
                    raise FactError(f"{f.id} is measured on {', '.join(f.scenarios)}: list "
                                    f"{' and '.join(sorted(set(f.scenarios) - names))} among the scenarios")
            return chosen
        chosen = [f for f in self.by_role("calibration") if set(f.scenarios) <= names]
        if not chosen:
            have = {f.id: f.scenarios for f in self.by_role("calibration")}
            hint = "; ".join(f"{i} needs {', '.join(s)}" for i, s in have.items())
            hint = hint or "no calibration facts are defined"
            raise FactError(f"no calibration target is measured on {', '.join(sorted(names))} ({hint})")
        return chosen


REGISTRY = Registry()
fact = REGISTRY.fact


def default_registry() -> Registry:
    """The project's facts: REGISTRY after importing the modules in FACT_MODULES."""
    for name in FACT_MODULES:
        importlib.import_module(name)
    return REGISTRY
