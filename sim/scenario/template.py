"""Generate scenarios/template.toml: a runnable scenario that lists every key of the format.

    python -m sim.scenario.template            # print it
    python -m sim.scenario.template --write    # write scenarios/template.toml

The world is WORLD below (CN origin, TH transit, US destination, one commodity, a licence
control, one event). Every key it leaves out is written with its default, so the file is
the fully resolved scenario; each key gets a comment with its meaning, unit, default and
range, taken from the pydantic models in sim.scenario.schema through the helpers of sim.scenario.docgen.
Keys that cannot be given together with another (`from_step` and `from_date`, an event's
`step` and `date`) are written commented out, marked `# instead of <other key>`.
A test keeps the committed file in step with the models.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import textwrap
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sim.scenario import docgen
from sim.scenario.load import toml_key, toml_literal
from sim.scenario.schema import Scenario, check_references

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "scenarios" / "template.toml"
REGENERATE = "python -m sim.scenario.template --write"
WIDTH = 100

# The example world. Values not given here are written with their defaults.
WORLD: dict = {
    "name": "template",
    "description": "Template: every scenario key with its unit, default and range "
                   "(copy it to start a scenario)",
    "question": "How much antimony reaches the US through Thailand under a licence regime, "
                "and how much does a crackdown at Chinese ports cut it?",
    "start_date": dt.date(2024, 1, 1),
    "steps": 52,
    "replicates": 4,
    "headline_event": "crackdown",
    "restricted_focus": "US",
    "commodities": {"sb2o3": {"name": "Antimony trioxide", "elasticity": 0.3, "typical_value_usd_kg": 10.0}},
    "countries": {
        "CN": {"name": "China", "roles": ["origin"], "lon": 116.4, "lat": 39.9},
        "TH": {"name": "Thailand", "roles": ["transit"], "commission": 0.13, "cooperation": 0.1,
               "import_cap_t_per_year": {"sb2o3": 5000.0}, "baseline_imports_t_per_year": {"sb2o3": 300.0},
               "lon": 100.5, "lat": 13.8},
        "US": {"name": "United States", "roles": ["destination", "supplier"], "lon": -77.0, "lat": 38.9},
        "ROW": {"name": "Rest of the world", "roles": ["destination", "supplier"], "lon": 60.0, "lat": 25.0},
    },
    "markets": {
        "CN": {"sb2o3": {"ref_price_usd_kg": 10.0, "ref_demand_t_per_year": 60000.0, "restock_speed": 0.05,
                         "gray_share": 0.0}},
        "US": {"sb2o3": {"ref_price_usd_kg": 11.5, "restock_speed": 0.05, "defense_share": 0.05,
                         "gray_share": 0.6}},
        "ROW": {"sb2o3": {"ref_price_usd_kg": 11.0, "gray_share": 0.0}},
    },
    "suppliers": {
        "CN_smelters": {"name": "Chinese smelters", "country": "CN", "commodity": "sb2o3",
                        "sales_t_per_year": {"CN": 60000.0, "US": 18000.0, "ROW": 20000.0},
                        "capacity_t_per_year": 120000.0, "unit_cost_usd_kg": 6.0, "shipping_weeks_to": {"US": 4},
                        "freight_usd_kg_to": {"US": 0.3}},
        "US_producers": {"name": "US producers", "country": "US", "commodity": "sb2o3",
                         "sales_t_per_year": {"US": 3000.0}, "unit_cost_usd_kg": 9.0,
                         "expansion_t_per_year": 1500.0, "whistleblower": True, "tip_rate_per_year": 12.0,
                         "tip_to": "CN"},
        "ROW_mines": {"name": "Mines elsewhere", "country": "ROW", "commodity": "sb2o3",
                      "sales_t_per_year": {"US": 4000.0, "ROW": 20000.0}, "unit_cost_usd_kg": 8.0},
    },
    "smugglers": {"prior_by_country": {"TH": 0.02}},
    "customs": {
        "CN": {"capacity_per_week": 1500.0, "legit_containers_per_week": 50000.0,
               "technologies": ["xray", "density_scan", "document_check"],
               "traffic_mix": {"scrap": 0.1, "chemicals": 0.25, "metal_goods": 0.25, "plastics": 0.2,
                               "fertilizer": 0.05, "building_materials": 0.15}},
        "TH": {"capacity_per_week": 300.0, "legit_containers_per_week": 15000.0},
        "US": {"capacity_per_week": 600.0, "legit_containers_per_week": 40000.0},
    },
    "routes": {
        "CN-US": {"destination": "US", "leg1_steps": 3, "freight_usd_kg": 0.3},
        "CN-TH-US": {"destination": "US", "via": "TH", "leg1_steps": 1, "leg2_steps": 3,
                     "freight_usd_kg": 0.5},
    },
    "controls": {"licence": {"commodity": "sb2o3", "destination": "US", "regime": "license",
                             "approval_rate": 0.3, "quota_t_per_year": 8000.0, "military_share": 0.05,
                             "from_date": dt.date(2024, 3, 4)}},
    "events": {"crackdown": {"label": "Crackdown at Chinese ports", "date": dt.date(2024, 9, 2),
                             "set": {"customs.CN.capacity_per_week": 3000.0, "penalties.arrest_prob": 0.5}}},
    "priors": {"commodities.sb2o3.elasticity": {
        "kind": "normal", "low": 0.2, "high": 0.6, "mean": 0.35, "sd": 0.1,
        "reason": "short-run price elasticity of antimony demand: 0.2-0.6 in the literature (FACTS)"}},
}

# Examples for optional keys the world leaves absent, written commented out.
OPTIONAL_EXAMPLES = {"initial_price_index": "1.0", "initial_stock_days": "30.0"}

# Optional keys written commented out because their partner is given: key -> partner.
ALTERNATIVES = {"from_step": "from_date", "step": "date"}

# Extra notes for table banners, after the description from the schema.
TABLE_NOTES = {
    "commodities": "One table per traded commodity.",
    "countries": "Roles: exactly one origin, at least one destination (a rest-of-world market is a "
                 "destination without routes); transit countries sit on routes; supplier countries host producers.",
    "markets": "One per commodity in the origin and in every destination.",
    "suppliers": "Every producer: the origin's exporters (a supplier in the origin) and producers elsewhere, "
                 "with their reference sales.",
    "trade": "How legal sales follow netbacks between markets.",
    "exporters": "The origin's exporting firms and their choice to divert output to smugglers.",
    "smugglers": "The smugglers and how they decide and learn.",
    "methods": "All six exist in every scenario with these defaults; a file gives only the keys it changes.",
    "eff": "Dimensionless probability, range >= 0, <= 1. The values below are the defaults (assumptions, "
           "see docs/model.md); a file gives only the entries it changes.",
    "customs": "A country not listed here gets the defaults.",
    "routes": "Routes from the origin, direct or through one transit country.",
    "controls": "The origin's export controls; optional (none means open trade).",
    "penalties": "What a seizure costs the smuggler.",
    "events": "Parameter changes during the run, applied at the start of their step; optional.",
    "priors": "Numbers without data, as distributions with their reasons; used by `sim calibrate`; optional.",
}

HEADER = """\
# Scenario template: every key of the scenario format with its meaning, unit, default and range.
#
# Generated by `python -m sim.scenario.template --write` from sim/scenario/schema.py; do not edit by hand (a test
# checks that it is in step with the schema). Reference tables: docs/scenario-format.md.
#
# To write a scenario, copy this file, change the values and delete what you do not need: a key
# left out takes the default given in its comment; keys marked "required" must be given. To start
# from another scenario instead, put extends = "other.toml" at the top and give only what changes.
#
# The world here is small: China (origin) ships antimony trioxide to the United States directly
# and through Thailand (transit), under a licence regime from March 2024; customs at Chinese ports
# crack down in September 2024. It runs: `sim run scenarios/template.toml`.
# Dates are TOML dates (2024-03-04, no quotes).
"""


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent="# ", subsequent_indent="#   ", break_on_hyphens=False)


def _default_text(table_default, ids: tuple, name: str, f: FieldInfo) -> str:
    """Default of key `name` in entry `ids` of a table whose own default lists entries (methods)."""
    entry = table_default if ids else None
    for i in ids:
        entry = entry.get(i) if isinstance(entry, dict) else None
    if isinstance(entry, BaseModel):
        return toml_literal(getattr(entry, name))
    if isinstance(entry, dict) and name in entry:
        return toml_literal(entry[name])
    text = docgen.default(f).replace("`", "")
    return text.replace("**required**", "required")


def _comment(name: str, f: FieldInfo, default: str) -> list[str]:
    """`# meaning [unit; default; range]` for one key, wrapped."""
    desc = (f.description or "").strip()
    kind = docgen.type_name(f.annotation)
    unit = docgen.unit(name, desc)
    rng = docgen.constraints(f).replace("`", '"') or ("any" if kind in ("number", "integer", "date") else "")
    facts = [f"unit: {unit}" if unit else "dimensionless" if kind == "number" else kind,
             "required" if default == "required" else f"default: {default}"]
    facts += [f"range: {rng}"] if rng else []
    lines, tail = _wrap(desc) or ["#"], f"[{'; '.join(facts)}]"
    if len(lines[-1]) + 1 + len(tail) <= WIDTH:
        return lines[:-1] + [f"{lines[-1]} {tail}"]
    return lines + textwrap.wrap(tail, WIDTH, initial_indent="#   ", subsequent_indent="#    ",
                                 break_on_hyphens=False)


def _entries(value, depth: int, ids: tuple = ()) -> list[tuple[tuple, object]]:
    """The (ids, entry) pairs of a table nested `depth` levels deep."""
    if depth == 0:
        return [(ids, value)]
    return [x for k, v in value.items() for x in _entries(v, depth - 1, ids + (k,))]


def _model_section(s: Scenario, name: str, f: FieldInfo, model: type[BaseModel], depth: int) -> list[str]:
    """One [table] per entry; keys fully commented in the first entry, the others point to it."""
    table_default = f.default_factory() if f.default_factory is not None else None
    dumped = s.model_dump(mode="python")[name]
    entries = _entries(dumped, depth)
    if depth and not entries:
        raise ValueError(f"sim.scenario.template.WORLD needs at least one entry in '{name}' to show its keys")
    out, first = [], None
    for ids, values in entries:
        header = ".".join([name, *map(toml_key, ids)])
        out += ["", f"[{header}]"]
        if first is not None:
            out.append(f"# keys as in [{first}] above")
        for key, kf in model.model_fields.items():
            if first is None:
                out += _comment(key, kf, _default_text(table_default, ids, key, kf))
            v = values[key]
            if v is not None:
                out.append(f"{toml_key(key)} = {toml_literal(v)}")
            elif key in ALTERNATIVES and values.get(ALTERNATIVES[key]) is not None:
                step = s.step_of(values[ALTERNATIVES[key]])
                out.append(f"# {toml_key(key)} = {step}  # instead of {ALTERNATIVES[key]}")
            elif first is None and key in OPTIONAL_EXAMPLES:
                out.append(f"# {toml_key(key)} = {OPTIONAL_EXAMPLES[key]}  # optional")
            elif first is not None and not kf.is_required():
                continue      # an optional key this entry leaves out (the first entry shows it)
            else:
                raise ValueError(f"sim.scenario.template.WORLD: give {header}.{key} an example value")
        first = first or header
    return out


def _value_section(s: Scenario, name: str, f: FieldInfo, depth: int) -> list[str]:
    """A table of plain values nested `depth` deep (eff): one [table] per row, a key per value."""
    table_default = f.default_factory() if f.default_factory is not None else {}
    out = []
    for ids, row in _entries(s.model_dump(mode="python")[name], depth - 1):
        out += ["", "[" + ".".join([name, *map(toml_key, ids)]) + "]"]
        default_row = table_default
        for i in ids:
            default_row = default_row.get(i, {}) if isinstance(default_row, dict) else {}
        for key, v in row.items():
            d = default_row.get(key)
            note = "" if d == v else f"  # default: {'none' if d is None else toml_literal(d)}"
            out.append(f"{toml_key(key)} = {toml_literal(v)}{note}")
    return out


def generate() -> str:
    """The whole template as TOML text."""
    s = Scenario.model_validate(WORLD)
    problems = check_references(s)
    if problems:
        raise ValueError(f"sim.scenario.template.WORLD is not a valid scenario: {problems}")
    out = [HEADER.rstrip("\n")]
    values = s.model_dump(mode="python")
    tables = []
    for name, f in Scenario.model_fields.items():
        model, depth = docgen.models_of(f.annotation)
        if model is None and depth == 0:
            out += ["", *_comment(name, f, _default_text(None, (), name, f)),
                    f"{toml_key(name)} = {toml_literal(values[name])}"]
        else:
            tables.append((name, f, model, depth))
    for name, f, model, depth in tables:
        header = f"[{name}.{docgen.PLACEHOLDERS.get(name, '<id>')}]" if depth else f"[{name}]"
        banner = f"# ==== {header} "
        out += ["", "", banner + "=" * max(4, WIDTH - len(banner))]
        out += _wrap(" ".join(x for x in (f.description or "", TABLE_NOTES.get(name, "")) if x))
        out += _model_section(s, name, f, model, depth) if model else _value_section(s, name, f, depth)
    return "\n".join(out) + "\n"


def write(path: Path = TEMPLATE_PATH) -> Path:
    """Write the template atomically (temporary file in the same folder, then rename)."""
    text = generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a scenario file is for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--write" in argv:
        print(f"wrote {write()}")
    else:
        sys.stdout.write(generate())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
