"""What a policy search varies, aims at and must respect: levers, objectives, constraints.

    parse_lever("customs.CN.capacity_per_week=200:2000:int")  # whole numbers from 200 to 2000
    parse_lever("penalties.fine_multiple=0:8:0.1")            # a grid with step 0.1
    parse_objective("illicit_delivered_t:min")                # or "KPI" alone: the registry's direction
    parse_constraint("illicit_delivered_t<=0.5x")             # at most half the status quo (mean)

A lever is a scenario key set like `--set` (events' own settings too, with a quoted key:
`events.joint_operation.set."customs.CN.capacity_per_week"`). An objective or the cost is
a KPI of the model (sim/model/metrics.py) or a lever key (to prefer, say, lower fines).
Constraints hold on the mean over replicates, in the KPI's stored unit (shares as 0-1),
or relative to the status quo with a trailing `x`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from sim.experiments.execution import ExperimentError
from sim.model.metrics import KPI, kpi
from sim.scenario import load_scenario, parse_key


@dataclass(frozen=True)
class Lever:
    """A scenario key varied from `lo` to `hi`: continuous, on a grid of `step`, or whole numbers."""

    key: str
    lo: float
    hi: float
    step: float | None = None
    integer: bool = False

    def value(self, x: float) -> float | int:
        """`x` as the scenario gets it: an int for whole-number levers, a clean grid value
        (4.1, not optuna's 4.1000000000000005) for levers with a step."""
        if self.integer:
            return int(round(x))
        if self.step:
            return round(self.lo + round((float(x) - self.lo) / self.step) * self.step, 12)
        return float(x)

    def setting(self, x: float) -> str:
        """`KEY=VALUE` for `--set`, with the value written exactly (repr round-trips a float)."""
        return f"{self.key}={self.value(x)!r}"

    def distribution(self):
        """The optuna distribution of this lever (optuna imported here, not at module load)."""
        from optuna.distributions import FloatDistribution, IntDistribution

        if self.integer:
            return IntDistribution(int(self.lo), int(self.hi), step=int(self.step or 1))
        return FloatDistribution(self.lo, self.hi, step=self.step)

    def describe(self) -> str:
        grid = " (whole numbers)" if self.integer else (f", step {self.step:g}" if self.step else "")
        return f"{self.key} from {self.lo:g} to {self.hi:g}{grid}"


@dataclass(frozen=True)
class Objective:
    """A KPI (or lever key) to minimise or maximise; `sense` is "min" or "max"."""

    name: str
    sense: str

    @property
    def minimise(self) -> bool:
        return self.sense == "min"

    def better(self, a: float, b: float) -> bool:
        return a < b if self.minimise else a > b


@dataclass(frozen=True)
class Constraint:
    """`name <= value` or `name >= value` on the mean over replicates; `relative`: value x status quo."""

    name: str
    op: str
    value: float
    relative: bool = False
    text: str = ""

    def bound(self, status_quo: float | None) -> float:
        """The bound in the KPI's own unit (relative ones need the status quo's mean)."""
        if not self.relative:
            return self.value
        if status_quo is None or not math.isfinite(status_quo):
            raise ExperimentError(f"--constraint '{self.text}': the status quo's {self.name} is undefined, "
                                  "so a bound relative to it cannot be used; give a number")
        return self.value * status_quo

    def violation(self, mean: float, bound: float) -> float:
        """How far `mean` is on the wrong side of `bound` (<= 0: met), as optuna wants it."""
        if not math.isfinite(mean):
            return math.inf
        return mean - bound if self.op == "<=" else bound - mean


# ---------------------------------------------------------------- parsing -----------
def parse_lever(text: str) -> Lever:
    """'KEY=LO:HI', 'KEY=LO:HI:int' or 'KEY=LO:HI:STEP' -> Lever (bad text: ExperimentError)."""
    key, eq, rng = text.partition("=")
    parts = rng.split(":")
    if not eq or not key.strip() or parse_key(key.strip()) is None or len(parts) not in (2, 3):
        raise ExperimentError(f"--lever '{text}': expected KEY=LO:HI, KEY=LO:HI:int or KEY=LO:HI:STEP, "
                              "e.g. customs.CN.capacity_per_week=200:2000:int")
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise ExperimentError(f"--lever '{text}': LO and HI must be numbers") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ExperimentError(f"--lever '{text}': need finite LO < HI")
    integer, step = False, None
    if len(parts) == 3:
        if parts[2].strip() == "int":
            integer = True
            if not (lo.is_integer() and hi.is_integer()):
                raise ExperimentError(f"--lever '{text}': a whole-number lever needs whole LO and HI")
        else:
            try:
                step = float(parts[2])
            except ValueError:
                raise ExperimentError(f"--lever '{text}': the third part is 'int' or a step (a number)") from None
            if not (step > 0 and math.isfinite(step)) or step > hi - lo:
                raise ExperimentError(f"--lever '{text}': the step must be > 0 and at most HI - LO")
            n = (hi - lo) / step
            if abs(n - round(n)) > 1e-9 * max(1.0, n):
                raise ExperimentError(f"--lever '{text}': HI - LO must be a whole number of steps")
    return Lever(key.strip(), lo, hi, step, integer)


def parse_objective(text: str, lever_keys=()) -> Objective:
    """'NAME:min', 'NAME:max' or 'NAME' (a KPI with a better direction in the registry)."""
    name, _, sense = text.rpartition(":") if text.endswith((":min", ":max")) else (text, "", "")
    name = name.strip()
    check_name(name, lever_keys, "--objective")
    if not sense:
        better = kpi(name).better if name in KPI else None
        if better is None:
            raise ExperimentError(f"--objective '{text}': say whether to minimise or maximise it: {name}:min "
                                  f"or {name}:max")
        sense = "min" if better == "lower" else "max"
    return Objective(name, sense)


_CONSTRAINT = re.compile(r"\s*([^<>=\s]+)\s*(<=|>=)\s*([-+0-9.eE]+|inf)\s*(x?)\s*")


def parse_constraint(text: str, lever_keys=()) -> Constraint:
    """'KPI<=VALUE', 'KPI>=VALUE', or with a trailing x: VALUE times the status quo's mean."""
    m = _CONSTRAINT.fullmatch(text)
    if not m:
        raise ExperimentError(f"--constraint '{text}': expected KPI<=VALUE or KPI>=VALUE, e.g. "
                              "illicit_delivered_t<=5000, or illicit_delivered_t<=0.5x for half the status quo")
    name, op, raw, rel = m.groups()
    check_name(name, lever_keys, "--constraint")
    try:
        value = float(raw)
    except ValueError:
        raise ExperimentError(f"--constraint '{text}': {raw} is not a number") from None
    return Constraint(name, op, value, bool(rel), text.strip())


def check_name(name: str, lever_keys, what: str) -> None:
    """A KPI of the registry or one of the levers; else a one-line error with a suggestion."""
    if name in KPI or name in lever_keys:
        return
    import difflib

    hint = difflib.get_close_matches(name, list(KPI) + list(lever_keys), n=1, cutoff=0.6)
    more = f" (did you mean '{hint[0]}'?)" if hint else f" (KPIs: {', '.join(KPI)})"
    raise ExperimentError(f"{what}: '{name}' is neither a KPI nor a lever{more}")


# ---------------------------------------------------------------- checking ----------
def check_levers(path: str | Path, overrides: list, levers: list[Lever]) -> tuple[list[Lever], list[str]]:
    """Validate the levers on the scenario file exactly as `--set` would: (levers, notes for the analyst).

    Both ends of every lever are loaded (all low ends together, then all high ends), so a
    bad key or an out-of-range bound gives the loader's own one-line message (exit 2).
    A lever on a whole-number key becomes a whole-number lever. Notes flag a lever that an
    event overrides later in the run.
    """
    keys = [lv.key for lv in levers]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise ExperimentError(f"--lever: each key may be a lever once (repeated: {', '.join(dup)})")
    levers = [_check_type(lv) for lv in levers]
    for end in ("lo", "hi"):
        sets = [("--lever", lv.setting(getattr(lv, end))) for lv in levers]
        load_scenario(path, list(overrides) + sets)
    base = load_scenario(path, overrides)
    notes = [f"note: event '{eid}' sets {k} on {base.date_of(base.event_step(ev)).isoformat()}: the lever "
             f"holds only before that date (to move the event's own value, use the lever "
             f"events.{eid}.set.\"{k}\")"
             for k in keys for eid, ev in base.events.items() if k in ev.set]
    return levers, notes


def _check_type(lv: Lever) -> Lever:
    """A lever on an int field is a whole-number lever; a lever on a non-number is an error."""
    from sim.experiments.params import field_type

    parts = parse_key(lv.key)
    inner = parts[3] if len(parts) == 4 and parts[0] == "events" and parts[2] == "set" else lv.key
    tp = field_type(inner)
    if tp is int and not lv.integer:
        if not (float(lv.lo).is_integer() and float(lv.hi).is_integer()):
            raise ExperimentError(f"--lever {lv.key}: a whole-number key needs whole LO and HI")
        return Lever(lv.key, lv.lo, lv.hi, None if lv.step is None else max(1.0, round(lv.step)), True)
    if tp is not None and tp not in (int, float):
        raise ExperimentError(f"--lever {lv.key}: not a numeric key (it holds {getattr(tp, '__name__', tp)})")
    return lv

