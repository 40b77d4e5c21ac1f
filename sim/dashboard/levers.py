"""The policy levers a scenario exposes, lever changes as overrides, and "save as scenario".

Levers are discovered from the resolved scenario, not hard-coded: every export control,
every customs agency, every transit hub, every event, and the penalty and exporter keys
the schema has (so keys added by a new model version, such as exporters.trace_prob, appear
when the schema has them). A change is a dotted scenario key and its new value; changes
reach the model only through sim.scenario.load_scenario as overrides, so a bad value gets
the same one-line message as in a scenario file, e.g.

    dashboard: penalties.arrest_prob: must be <= 1 (got 1.5)

"Save as scenario" writes a TOML file that `extends` the base with only the changed keys.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sim.outputs.atomic import atomic_write_text
from sim.scenario import Scenario, ScenarioError, load_scenario, parse_key
from sim.scenario.load import model_at, toml_key, toml_literal  # one TOML writer and one schema walker
from sim.scenario.schema import REGIMES, TECHS

LABEL = "dashboard"  # names the source of an override in error messages, as --set does on the CLI
GROUPS = ("Export controls", "Customs", "Penalties", "Exporters", "Transit hubs", "Events")
# Run settings: not policy levers, but written to a saved scenario so `sim run` repeats the run.
RUN_SETTINGS = ("replicates", "steps")
KINDS = ("number", "probability", "integer", "choice", "choices", "date", "cap")


@dataclass(frozen=True)
class Lever:
    """One scenario key an analyst may change, with its value in the base scenario.

    kind: number (float), probability (float in 0-1), integer, choice (one of `options`),
    choices (a subset of `options`), date, or cap (a limit in t/yr; None = no limit).
    """

    path: tuple[str, ...]
    group: str
    label: str
    kind: str
    value: object
    help: str = ""
    options: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The dotted key as written after --set or in a TOML file."""
        return ".".join(toml_key(p) for p in self.path)

    def normalise(self, v):
        """A widget's value in the form the scenario holds it (None stays None: 'no value')."""
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if self.kind in ("number", "probability", "cap") and isinstance(v, (int, float)):
            return float(v)
        if self.kind == "integer" and isinstance(v, float) and v.is_integer():
            return int(v)
        if self.kind == "choices":
            chosen = list(v)
            return [o for o in self.options if o in chosen] + [x for x in chosen if x not in self.options]
        if self.kind == "date" and isinstance(v, dt.datetime):
            return v.date()
        if self.kind == "date" and isinstance(v, str):
            try:
                return dt.date.fromisoformat(v.strip())
            except ValueError:
                return v.strip()
        return v

    def is_changed(self, v) -> bool:
        return self.normalise(v) != self.normalise(self.value)


def _help(path: tuple[str, ...]) -> str:
    """The schema's description of the field at `path` (the nearest table that defines it)."""
    for n in range(len(path) - 1, 0, -1):
        model = model_at(path[:n])
        if model is not None and path[n] in model.model_fields:
            return model.model_fields[path[n]].description or ""
    return ""


MISSING = object()


def _get(data, path):
    """The value at `path` in nested dicts, or MISSING."""
    for p in path:
        if not isinstance(data, dict) or p not in data:
            return MISSING
        data = data[p]
    return data


def discover(scenario: Scenario) -> list[Lever]:
    """Every lever the scenario exposes, in GROUPS order (see the module docstring)."""
    data = scenario.model_dump(mode="python")
    out: list[Lever] = []

    def add(group: str, path: tuple[str, ...], label: str, kind: str, options=(), default=MISSING) -> None:
        value = _get(data, path)
        if value is MISSING:  # a key this schema version does not have (or an optional entry)
            if default is MISSING:
                return
            value = default
        out.append(Lever(path, group, label, kind, value, _help(path), tuple(options)))

    def country(c: str) -> str:
        return (scenario.countries[c].name or c) if c in scenario.countries else c

    def commodity(k: str) -> str:
        return "all commodities" if k == "all" else ((scenario.commodities[k].name or k) if k in scenario.commodities
                                                      else k)

    step = "weeks" if scenario.days_per_step == 7 else f"steps of {scenario.days_per_step} days"
    for cid, c in scenario.controls.items():
        who = f"{commodity(c.commodity)} to {'all destinations' if c.destination == 'all' else country(c.destination)}"
        base = ("controls", cid)
        add("Export controls", base + ("regime",), f"{who}: regime", "choice", REGIMES)
        add("Export controls", base + ("approval_rate",), f"{who}: licences approved (share)", "probability")
        add("Export controls", base + ("delay_steps",), f"{who}: licence delay ({step})", "integer")
        if c.from_date is not None:
            add("Export controls", base + ("from_date",), f"{who}: in force from", "date")
    for c in scenario.customs:
        add("Customs", ("customs", c, "capacity_per_week"), f"{country(c)}: inspections per week (containers)",
            "number")
        add("Customs", ("customs", c, "technologies"), f"{country(c)}: inspection technologies", "choices", TECHS)
    add("Penalties", ("penalties", "fine_multiple"), "Fine (x the cargo's value)", "number")
    add("Penalties", ("penalties", "arrest_prob"), "Arrests per seizure (probability)", "probability")
    add("Penalties", ("penalties", "sentence_years"), "Prison sentence (years)", "number")
    add("Exporters", ("exporters", "trace_prob"), "Diverting exporters traced (probability per step)", "probability")
    add("Exporters", ("exporters", "penalty_multiple"), "Exporters' fine when traced (x value)", "number")
    for c in scenario.ids("transit"):
        add("Transit hubs", ("countries", c, "cooperation"), f"{country(c)}: cooperation with the origin (0-1)",
            "probability")
        for k in scenario.commodities:
            add("Transit hubs", ("countries", c, "import_cap_t_per_year", k),
                f"{country(c)}: import cap on {commodity(k)} (t/yr, empty = none)", "cap", default=None)
    for eid, e in scenario.events.items():
        name = e.label or eid
        if e.date is not None:
            add("Events", ("events", eid, "date"), f"{name}: date", "date")
        else:
            add("Events", ("events", eid, "step"), f"{name}: step (from {scenario.start_date})", "integer")
    return sorted(out, key=lambda lv: GROUPS.index(lv.group))


# ---------------------------------------------------------------- changes ------------
def changes(levers: Iterable[Lever], values: Mapping[str, object]) -> dict[str, object]:
    """{dotted key: new value} for the levers whose value in `values` (by key) differs from the base.

    A cleared cap means "no cap" (inf); any other cleared field is kept as None and reported
    by `as_overrides`.
    """
    out = {}
    for lv in levers:
        if lv.key in values and lv.is_changed(values[lv.key]):
            v = lv.normalise(values[lv.key])
            out[lv.key] = float("inf") if (v is None and lv.kind == "cap") else v
    return out


def as_overrides(changed: Mapping[str, object]) -> list[tuple[str, str]]:
    """Changes as load_scenario overrides ("dashboard", "KEY=VALUE"); raises ScenarioError for empty values."""
    empty = [f"{LABEL}: {k}: expected a value (the field is empty)" for k, v in changed.items() if v is None]
    if empty:
        raise ScenarioError(empty)
    return [(LABEL, f"{k}={toml_literal(v)}") for k, v in changed.items()]


def run_settings(base: Scenario, replicates: int | None, steps: int | None) -> dict[str, object]:
    """Replicates and horizon as changes, where they differ from the base scenario's."""
    out: dict[str, object] = {}
    if replicates is not None and replicates != base.replicates:
        out["replicates"] = replicates
    if steps is not None and steps != base.steps:
        out["steps"] = steps
    return out


def load_pair(path, changed: Mapping[str, object]) -> tuple[Scenario, Scenario]:
    """(base, changed) scenarios: both with the run settings among the changes, the second with all of them.

    The changed scenario is named "<base> + changes" and described by its changes, for charts
    and the brief. Raises ScenarioError with every problem, one line each.
    """
    settings = {k: v for k, v in changed.items() if k in RUN_SETTINGS}
    base = load_scenario(path, as_overrides(settings))
    label = [("name", f"name={toml_literal(base.name + ' + changes')}"),
             ("description", f"description={toml_literal(describe(base, changed))}")]
    return base, load_scenario(path, as_overrides(changed) + label)


def describe(base: Scenario, changed: Mapping[str, object], limit: int = 200) -> str:
    """'antimony_2024 with penalties.fine_multiple = 20, ...' (shortened to `limit` characters)."""
    policy = {k: v for k, v in changed.items() if k not in RUN_SETTINGS}
    if not policy:
        return f"{base.name}, unchanged"
    text = f"{base.name} with " + ", ".join(f"{k} = {toml_literal(v)}" for k, v in policy.items())
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ---------------------------------------------------------------- save as ------------
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")


def scenario_toml(base_path: Path, out_path: Path, name: str, base: Scenario, changed: Mapping[str, object],
                  today: dt.date | None = None) -> str:
    """The text of a scenario that extends `base_path` with exactly the `changed` keys."""
    rel = Path(os.path.relpath(Path(base_path).resolve(), Path(out_path).resolve().parent)).as_posix()
    policy = {k: v for k, v in changed.items() if k not in RUN_SETTINGS}
    data = base.model_dump(mode="python")
    lines = [f"# Saved from `sim dashboard` on {(today or dt.date.today()).isoformat()}: {base.name} with "
             f"{len(policy)} changed key{'s' if len(policy) != 1 else ''}.",
             f"# `sim run {out_path.name}` repeats the dashboard's run (seed {base.seed}, the same replicates).",
             f"extends = {toml_literal(rel)}",
             f"name = {toml_literal(name)}",
             f"description = {toml_literal(describe(base, changed))}"]
    lines += [f"{k} = {toml_literal(v)}" for k, v in changed.items() if k in RUN_SETTINGS]
    lines.append("")
    for k, v in policy.items():
        was = _get(data, parse_key(k))
        lines.append(f"{k} = {toml_literal(v)}" + ("" if was is MISSING else f"    # was {toml_literal(was)}"))
    return "\n".join(lines) + "\n"


def save_scenario(base_path, name: str, changed: Mapping[str, object], expected: Scenario | None = None,
                  folder=None) -> Path:
    """Write <folder>/<name>.toml (default folder: the base's), check it, and return its path.

    Refuses a name that is not a plain file name or a file that exists. The file is loaded
    back with load_scenario; with `expected` (the scenario the dashboard ran) it must resolve
    to the same scenario apart from name and description, or it is removed again.
    """
    name = name.strip().removesuffix(".toml")
    if not NAME.fullmatch(name):
        raise ScenarioError([f"save as: '{name}' is not a plain name (letters, digits, _ . -; "
                             "at most 80 characters)"])
    base_path = Path(base_path)
    out = Path(folder or base_path.parent) / f"{name}.toml"
    if out.exists():
        raise ScenarioError([f"save as: {out} exists already; choose another name"])
    base = load_scenario(base_path)
    text = scenario_toml(base_path, out, name, base, changed)
    atomic_write_text(out, text)
    try:
        saved = load_scenario(out)
        if expected is not None and _comparable(saved) != _comparable(expected):
            raise ScenarioError([f"save as: {out} does not resolve to the scenario the dashboard ran "
                                 "(please report this)"])
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return out


def _comparable(s: Scenario) -> dict:
    d = s.model_dump(mode="json")
    for k in ("name", "description"):
        d.pop(k, None)
    return d
