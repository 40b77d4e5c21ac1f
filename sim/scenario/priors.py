"""Priors: what a scenario says about a number it has no data for.

A scenario's `priors` table maps a dotted scenario key to a distribution with its reason:

    [priors."exporters.compliance"]
    kind = "beta"                 # uniform | loguniform | normal | beta
    low = 0.3
    high = 0.95
    mean = 0.6                    # normal and beta only
    sd = 0.15
    reason = "diversion was widespread (seed: two insiders, a 27-fold hub surge)"

`estimate = false` makes it a nuisance parameter: calibration draws it from the prior in every
run instead of estimating it (for numbers the targets barely inform; estimating them would only
dilute the calibration), and the posterior keeps each draw with the run it was made for.
`normal` is truncated to [low, high]; `beta` is a beta distribution stretched over
[low, high] with the given mean and sd; `loguniform` is uniform in log(value) (for numbers
whose order of magnitude is unknown). The value in the scenario body stays the one used by
a plain `sim run`; calibration (`sim calibrate`) samples from the prior instead and writes a
posterior ensemble that `--posterior FILE` runs draw from.

`check_priors(scenario)` returns every problem as (dotted key, problem), like
`sim.scenario.schema.check_references`: a key that is not a number of the schema, a range
outside the field's own bounds, a value the rest of the scenario rejects (e.g. a country
that does not exist). Keys inside an event's `set` table are allowed:
`events.joint_operation.set."customs.CN.capacity_per_week"` is the number that event sets.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.fields import FieldInfo

from sim.scenario.toml_keys import parse_key
from sim.scenario.types import Bool

KINDS = ("uniform", "loguniform", "normal", "beta")


class Prior(BaseModel):
    """A prior over one scenario number, in the field's own unit."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["uniform", "loguniform", "normal", "beta"] = Field(
        description="uniform, loguniform (uniform in log value), normal (truncated to [low, high]) or beta "
                    "(stretched over [low, high]).")
    low: float = Field(allow_inf_nan=False, description="Lowest value (the field's unit).")
    high: float = Field(allow_inf_nan=False, description="Highest value (the field's unit).")
    mean: float | None = Field(None, allow_inf_nan=False, description="normal and beta: the mean.")
    sd: float | None = Field(None, gt=0.0, allow_inf_nan=False,
                             description="normal and beta: the standard deviation.")
    reason: str = Field(min_length=1, description="Why this range: the evidence or the argument, in words.")
    estimate: Bool = Field(True, description="false: a nuisance parameter, drawn from this prior afresh in every "
                                             "calibration run but not estimated (the targets say little about it); "
                                             "the posterior keeps it with the runs it was drawn for.")

    @model_validator(mode="after")
    def _consistent(self) -> Prior:
        if not self.reason.strip():
            raise ValueError("reason: say why this range (it must not be blank)")
        if self.low >= self.high:
            raise ValueError(f"low must be below high (got low = {self.low:g}, high = {self.high:g})")
        if self.kind == "loguniform" and self.low <= 0:
            raise ValueError(f"a loguniform prior needs low > 0 (got {self.low:g})")
        shaped = self.kind in ("normal", "beta")
        if shaped and (self.mean is None or self.sd is None):
            raise ValueError(f"a {self.kind} prior needs mean and sd")
        if not shaped and (self.mean is not None or self.sd is not None):
            raise ValueError(f"mean and sd apply to normal and beta priors only (this one is {self.kind})")
        if shaped and not self.low < self.mean < self.high:
            raise ValueError(f"mean {self.mean:g} must lie strictly between low and high")
        if self.kind == "beta":
            a, b = self.beta_shape()
            if a <= 0 or b <= 0:
                limit = math.sqrt((self.mean - self.low) * (self.high - self.mean))
                raise ValueError(f"sd {self.sd:g} is too wide for a beta with mean {self.mean:g} on "
                                 f"[{self.low:g}, {self.high:g}] (it must be below {limit:.3g})")
        return self

    def beta_shape(self) -> tuple[float, float]:
        """(alpha, beta) of the beta distribution on [low, high] with this mean and sd."""
        w = self.high - self.low
        m, s = (self.mean - self.low) / w, self.sd / w
        k = m * (1 - m) / (s * s) - 1
        return m * k, (1 - m) * k

    def describe(self) -> str:
        """One line for tables: 'uniform 0.2 to 0.8', 'normal 0.5 ± 0.1 on 0.2 to 0.8'."""
        span = f"{self.low:g} to {self.high:g}"
        text = f"{self.kind} {span}" if self.mean is None else f"{self.kind} {self.mean:g} ± {self.sd:g} on {span}"
        return text if self.estimate else f"{text}, not estimated"


# ---------------------------------------------------------------- the schema at a key ---------
def _strip(tp) -> tuple[object, list]:
    """Annotated/Optional unwrapped -> (value type, constraint metadata found on the way)."""
    meta: list = []
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp, *extra = typing.get_args(tp)
            for m in extra:
                meta += m.metadata if isinstance(m, FieldInfo) else [m]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp, meta
            tp = args[0]
        else:
            return tp, meta


class FieldAt(typing.NamedTuple):
    """The schema at a dotted key: value type, constraints (annotated_types objects), and the name
    and description of the nearest named field on the way (for units)."""

    type: object
    constraints: list
    name: str
    description: str


def field_at(model: type[BaseModel], path: tuple[str, ...]) -> FieldAt | None:
    """The field at `path` below `model`, or None if there is none.

    Dict tables accept any id here (whether the id exists is the scenario's business).
    """
    tp, meta, name, desc = model, [], "", ""
    for part in path:
        tp, _ = _strip(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if part not in tp.model_fields:
                return None
            info = tp.model_fields[part]
            tp, meta, name, desc = info.annotation, list(info.metadata), part, info.description or ""
        elif typing.get_origin(tp) is dict:
            tp, meta = typing.get_args(tp)[1], []
        else:
            return None
    tp, more = _strip(tp)
    return FieldAt(tp, meta + more, name, desc)


def target_field(model: type[BaseModel], key: str) -> FieldAt | None:
    """The field a prior key stands for: for `events.<id>.set."<key>"` the field at <key>."""
    path = parse_key(key)
    if not path:
        return None
    if path[0] == "events" and len(path) == 4 and path[2] == "set":
        path = parse_key(path[3]) or ()
    return field_at(model, path) if path else None


def prior_value(model: type[BaseModel], key: str, value: float) -> float | int:
    """A drawn value as the scenario wants it: rounded for whole-number fields."""
    f = target_field(model, key)
    return int(round(value)) if f is not None and f.type is int else float(value)


def _bounds_problem(prior: Prior, meta: list) -> str | None:
    """Why [low, high] leaves the field's own range, or None."""
    for m in meta:
        for attr, ok, word in (("ge", lambda b: prior.low >= b, ">="), ("gt", lambda b: prior.low > b, ">"),
                               ("le", lambda b: prior.high <= b, "<="), ("lt", lambda b: prior.high < b, "<")):
            bound = getattr(m, attr, None)
            if bound is not None and not ok(bound):
                side = "low" if attr in ("ge", "gt") else "high"
                return (f"range {prior.low:g} to {prior.high:g} leaves the field's bounds: "
                        f"values must be {word} {bound:g} ({side} = {getattr(prior, side):g})")
    return None


def _target(scenario, path: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    """The schema path whose type and bounds a prior key must respect, or a problem.

    For `events.<id>.set.<key>` that is `<key>`, and the event must set it.
    """
    if path[0] == "events" and len(path) == 4 and path[2] == "set":
        ev = scenario.events.get(path[1])
        inner = parse_key(path[3])
        if ev is None:
            return path, f"unknown event '{path[1]}'"
        if path[3] not in ev.set or inner is None:
            return path, f"event '{path[1]}' does not set '{path[3]}' (a prior replaces a number the event sets)"
        return inner, None
    return path, None


def _type_problem(scenario, path: tuple[str, ...]) -> tuple[list, str | None]:
    """(constraints of the field, why the key cannot hold a prior or None)."""
    found = field_at(type(scenario), path)
    if found is None:
        return [], "not a scenario key"
    tp, meta = found.type, found.constraints
    if tp is bool or tp not in (int, float):
        what = "a table" if isinstance(tp, type) and issubclass(tp, BaseModel) else getattr(tp, "__name__", str(tp))
        return meta, f"not a number (it holds {what})"
    return meta, None


def check_priors(scenario) -> list[tuple[str, str]]:
    """Every problem with `scenario.priors`, as (dotted key, problem); empty when all is well.

    Each key must be a number (float or integer) inside a table of the schema, its range must
    lie within the field's bounds, and the scenario must stay valid with the key at `low` and at
    `high` (so countries, commodities and routes it names exist).
    """
    errs: list[tuple[str, str]] = []
    priors = getattr(scenario, "priors", None) or {}
    top = type(scenario).model_fields
    for key, prior in priors.items():
        where = f"priors.{key}"
        path = parse_key(key)
        if not path or not all(path):
            errs.append((where, "not a dotted scenario key (e.g. exporters.compliance)"))
            continue
        if path[0] not in top:
            errs.append((where, f"unknown table '{path[0]}'"))
            continue
        if len(path) == 1 or path[0] == "priors":
            errs.append((where, "a prior names a number inside a table (e.g. penalties.arrest_prob), "
                                "not a run setting"))
            continue
        target, problem = _target(scenario, path)
        if problem is None:
            meta, problem = _type_problem(scenario, target)
            problem = problem or _bounds_problem(prior, meta)
        if problem is None:
            problem = _apply_problem(scenario, key, prior)
        if problem:
            errs.append((where, problem))
    return errs


def _apply_problem(scenario, key: str, prior: Prior) -> str | None:
    """Set the key to low and to high in a copy (without priors); the first problem, or None."""
    from pydantic import ValidationError

    from sim.scenario.load import explain, set_path
    from sim.scenario.schema import check_references

    for value in (prior.low, prior.high):
        data = scenario.model_dump(mode="python")
        data["priors"] = {}
        value = prior_value(type(scenario), key, value)
        try:
            set_path(data, parse_key(key), value)
            s = type(scenario).model_validate(data)
        except ValueError as e:  # includes pydantic's ValidationError
            err = e.errors()[0] if isinstance(e, ValidationError) else None
            what = f"{'.'.join(map(str, err['loc']))}: {explain(err)}" if err else str(e)
            return f"at {value:g} the scenario is invalid ({what})"
        refs = check_references(s)
        if refs:
            return f"at {value:g}: {refs[0][0]}: {refs[0][1]}"
    return None


def merge_priors(scenarios) -> tuple[dict[str, Prior], list[str]]:
    """The priors of several scenarios as one table, and the problems (one line each).

    Episodes share parameters: a key with a prior in one scenario is set in all of them, so
    two scenarios must not give the same key different priors.
    """
    merged: dict[str, Prior] = {}
    owner: dict[str, str] = {}
    problems: list[str] = []
    for sc in scenarios:
        for key, prior in (getattr(sc, "priors", None) or {}).items():
            if key in merged and merged[key] != prior:
                problems.append(f"priors.{key}: {owner[key]} and {sc.name} give different priors "
                                f"({merged[key].describe()} vs {prior.describe()}); put it in a shared base file")
            elif key not in merged:
                merged[key], owner[key] = prior, sc.name
    return merged, problems
