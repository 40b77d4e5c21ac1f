"""The scenario format: the schema (pydantic), loading with precise errors, generated docs and template."""

from sim.scenario.load import (
    ScenarioError,
    cut_horizon,
    deep_merge,
    dump_toml,
    explain,
    key_lines,
    list_scenarios,
    load_scenario,
    parse_key,
    parse_override,
    set_path,
)
from sim.scenario.schema import Scenario

__all__ = ["Scenario", "ScenarioError", "load_scenario", "cut_horizon", "dump_toml", "list_scenarios",
           "deep_merge", "parse_override", "set_path", "key_lines", "parse_key", "explain"]
