"""Setting scenario parameters by dotted key, as `--set` does, on a loaded Scenario.

    apply_params(scenario, {"customs.CN.capacity_per_week": 900.0, "smugglers.initial": 150.4})

Each key is set in the scenario's data (tables are created on the way, e.g. a customs
agency that used defaults), the result is re-validated with `Scenario.model_validate`
and `check_references`. Integer fields get rounded values (150.4 -> 150).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ValidationError

from sim.experiments.execution import ExperimentError
from sim.scenario import explain, load_scenario, parse_key, set_path
from sim.scenario.load import unwrap_type
from sim.scenario.schema import Scenario, check_references


def field_type(key: str):
    """The Python type of the scenario field at a dotted key (None if the key is not a field)."""
    tp = Scenario
    for part in key.split("."):
        tp = unwrap_type(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if part not in tp.model_fields:
                return None
            tp = tp.model_fields[part].annotation
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    return unwrap_type(tp)


def _split(key: str) -> tuple[str, ...]:
    parts = parse_key(key)
    if not parts or not all(parts):
        raise ExperimentError(f"{key}: not a dotted scenario key (e.g. customs.CN.capacity_per_week)")
    return parts


def coerce(key: str, value):
    """The value as the field wants it: numpy scalars to Python, rounded for integer fields."""
    if isinstance(value, np.generic):
        value = value.item()
    if field_type(key) is int and isinstance(value, float):
        return int(round(value))
    return value


def applicable(scenario: Scenario, params: Mapping[str, object]) -> dict[str, object]:
    """The parameters that concern this scenario: a key inside an event's `set`
    (`events.<id>.set."<key>"`) applies only to scenarios that have that event, so one parameter
    set can drive an episode and the episode it extends (calibration, posterior ensembles)."""
    out = {}
    for key, value in params.items():
        parts = _split(key)
        if len(parts) > 2 and parts[0] == "events" and parts[1] not in scenario.events:
            continue
        out[key] = value
    return out


def apply_params(scenario: Scenario, params: Mapping[str, object]) -> Scenario:
    """A new, validated Scenario with each dotted key set to its value (like `--set KEY=VALUE`)."""
    if not params:
        return scenario
    data = scenario.model_dump(mode="python")
    for key, value in params.items():
        try:
            set_path(data, _split(key), coerce(key, value))
        except ValueError as e:
            raise ExperimentError(f"{key}: {e}") from None
    try:
        new = Scenario.model_validate(data)
    except ValidationError as e:
        raise ExperimentError(_first_error(e, params)) from None
    problems = check_references(new)
    if problems:
        k, msg = problems[0]
        raise ExperimentError(f"{k}: {msg} (after setting {_show_params(params)})")
    return new


def _first_error(e: ValidationError, params: Mapping[str, object]) -> str:
    err = e.errors()[0]
    msg = explain(err)
    loc = ".".join(str(p) for p in err["loc"])
    extra = f" (+{e.error_count() - 1} more)" if e.error_count() > 1 else ""
    return f"{loc}: {msg}{extra} (after setting {_show_params(params)})"


def _show_params(params: Mapping[str, object]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def load(scenario_or_path) -> Scenario:
    """A Scenario object as given, or loaded from a TOML path with sim.scenario.load_scenario."""
    if isinstance(scenario_or_path, Scenario):
        return scenario_or_path
    if isinstance(scenario_or_path, (str, Path)):
        return load_scenario(scenario_or_path)
    if isinstance(scenario_or_path, Mapping):
        return Scenario.model_validate(scenario_or_path)
    raise TypeError(
        f"expected a Scenario or a path to a scenario file, got {type(scenario_or_path).__name__}"
    )
