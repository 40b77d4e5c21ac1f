"""Scenario loading: extends, --set overrides, line numbers, event checks, TOML round trip, docs."""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path

import pytest

from sim.scenario import (
    ScenarioError,
    docgen,
    dump_toml,
    key_lines,
    list_scenarios,
    load_scenario,
    parse_key,
    parse_override,
)

DATA = Path(__file__).parent / "data"


def errors(path, overrides=(), root=None) -> list[str]:
    with pytest.raises(ScenarioError) as e:
        load_scenario(path, overrides, root)
    assert str(e.value) == "\n".join(e.value.messages)
    return e.value.messages


def write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


# ---------------------------------------------------------------- loading and extends
def test_base_fixture_loads_with_dates_and_defaults():
    s = load_scenario(DATA / "base.toml")
    assert s.name == "test_base" and s.steps == 30
    assert s.origin == "CN" and s.ids("transit") == ["TH"]
    assert s.control_step(s.controls["ban"]) == 9            # 2024-03-04 is 63 days after 2024-01-01
    assert s.event_step(s.events["crackdown"]) == 18
    assert s.controls["ban"].quota_t_per_year is None                  # no quota unless given
    assert s.customs["CN"].technologies == ["xray", "document_check"]  # default kept


def test_extends_merges_tables_key_by_key_and_replaces_values():
    s = load_scenario(DATA / "child.toml")
    assert (s.name, s.steps, s.seed) == ("test_child", 40, 7)           # child, child, base
    assert s.markets["US"]["sb"].gray_share == 0.4                      # child
    assert s.markets["US"]["sb"].ref_price_usd_kg == 12.0               # base, same table
    assert set(s.customs) == {"CN", "TH"}                               # tables merged
    assert s.customs["TH"].technologies == ["xray", "isotope_fingerprint"]  # array replaced
    assert s.events["crackdown"].set["penalties.arrest_prob"] == 0.6


def test_extends_must_stay_inside_the_folder_of_the_given_file():
    msg, = errors(DATA / "variants" / "deep.toml")
    assert re.match(r".*deep\.toml:2: extends: '\.\./child\.toml' lies outside the folder", msg)
    s = load_scenario(DATA / "variants" / "deep.toml", root=DATA)       # allowed with a wider root
    assert (s.name, s.seed, s.steps) == ("test_deep", 99, 40)


def test_extends_cycle_names_the_chain(tmp_path):
    write(tmp_path, "a.toml", 'extends = "b.toml"\n')
    write(tmp_path, "b.toml", '# b\nextends = "c.toml"\n')
    write(tmp_path, "c.toml", 'name = "c"\nextends = "a.toml"\n')
    msg, = errors(tmp_path / "a.toml")
    assert msg.startswith(f"{_rel(tmp_path / 'c.toml')}:2: extends: extends cycle: ")
    assert msg.endswith("a.toml -> " + _rel(tmp_path / "b.toml") + " -> " + _rel(tmp_path / "c.toml")
                        + " -> " + _rel(tmp_path / "a.toml"))


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def test_errors_in_a_base_point_into_the_base_file(tmp_path):
    base = (DATA / "base.toml").read_text().replace("elasticity = 0.4", "elasticity = -0.4")
    write(tmp_path, "base.toml", base)
    write(tmp_path, "child.toml", 'extends = "base.toml"\nname = "c"\n\n[markets.US.sb]\nbackstop_index = 0.5\n')
    line = base.splitlines().index("elasticity = -0.4") + 1
    msgs = errors(tmp_path / "child.toml")
    assert f"{_rel(tmp_path / 'base.toml')}:{line}: commodities.sb.elasticity: must be > 0 (got -0.4)" in msgs
    assert f"{tmp_path / 'child.toml'}:5: markets.US.sb.backstop_index: must be > 1 (got 0.5)" in msgs


def test_missing_file_and_non_toml_file_are_one_line_errors(tmp_path):
    msg, = errors(tmp_path / "nope.toml")
    assert msg.startswith(f"{tmp_path / 'nope.toml'}: cannot read file")
    p = write(tmp_path, "bin.toml", "")
    p.write_bytes(b"\xff\xfe\x00name")
    msg, = errors(p)
    assert "cannot read file" in msg


def test_all_pydantic_and_reference_errors_come_in_one_pass(tmp_path):
    p = write(tmp_path, "s.toml", 'extends = "base.toml"\nsteps = 0\n\n[controls.ban]\ndestination = "EU"\n')
    write(tmp_path, "base.toml", (DATA / "base.toml").read_text())
    msgs = errors(p)
    assert any(":2: steps: must be >= 1 (got 0)" in m for m in msgs)
    assert any(":5: controls.ban.destination: 'EU' is not a destination or transit country" in m for m in msgs)


# ---------------------------------------------------------------- --set overrides ----
def test_set_overrides_values_of_every_type():
    s = load_scenario(DATA / "child.toml", [
        "customs.CN.capacity_per_week=900",
        "controls.ban.regime=license",                         # bare word -> text
        "controls.ban.from_date=2024-02-05",                   # TOML date
        "customs.TH.technologies=[\"xray\", \"ai_image\"]",    # array
        "smugglers.logit=false",
        'description="two words"',
        'events.crackdown.set."penalties.arrest_prob"=0.7',    # quoted key with dots
    ])
    assert s.customs["CN"].capacity_per_week == 900
    assert s.controls["ban"].regime == "license"
    assert s.control_step(s.controls["ban"]) == 5
    assert s.customs["TH"].technologies == ["xray", "ai_image"]
    assert s.smugglers.logit is False and s.description == "two words"
    assert s.events["crackdown"].set["penalties.arrest_prob"] == 0.7
    assert s.customs["TH"].capacity_per_week == 250.0          # rest of the child's table kept


@pytest.mark.parametrize("override, expected", [
    ("customs.CN.capacity_per_week=abc", '--set: customs.CN.capacity_per_week: expected a number (got "abc")'),
    ("penalties.arrest_prob=1.5", "--set: penalties.arrest_prob: must be <= 1 (got 1.5)"),
    ("customs.CN.capasity_per_week=3",
     "--set: customs.CN.capasity_per_week: unknown key 'capasity_per_week' (did you mean 'capacity_per_week'?)"),
    ("controls.ban.regime=forbid", "--set: controls.ban.regime: must be one of 'open', 'license' or 'ban'"),
    ("penalties.arrest_prob.x=1", "--set: penalties.arrest_prob: expected a number (got a table)"),
    ("customs.CN.capacity_per_week", "--set: 'customs.CN.capacity_per_week': expected KEY=VALUE"),
    ("=5", "--set: '=5': expected KEY=VALUE"),
    ("description=two words", "--set: description: cannot read the value 'two words'"),
    ('name="a/b"', "--set: name: string should match pattern"),
])
def test_bad_overrides_are_reported_as_set(override, expected):
    msgs = errors(DATA / "base.toml", [override])
    assert len(msgs) == 1 and msgs[0].startswith(expected), msgs


def test_override_that_breaks_a_reference_elsewhere_points_at_the_file():
    msgs = errors(DATA / "base.toml", ["countries.TH.roles=[\"destination\"]"])
    assert msgs == [f"{DATA / 'base.toml'}:18: countries.TH.baseline_imports_t_per_year: only a transit country has this",
                    f"{DATA / 'base.toml'}:23: markets.TH.sb: missing market (the origin and every destination "
                    "need one per commodity)",
                    f"{DATA / 'base.toml'}:51: routes.via_TH.via: 'TH' is not a transit country"]


def test_labelled_override_names_its_option():
    msg, = errors(DATA / "base.toml", [("--steps", "steps=0")])
    assert msg == "--steps: steps: must be >= 1 (got 0)"


def test_parse_override_and_parse_key():
    assert parse_override("a.b=1") == (("a", "b"), 1)
    assert parse_override("a.b = US") == (("a", "b"), "US")
    assert parse_override("x=inf")[1] == math.inf
    assert parse_key('events.x.set."customs.CN.c"') == ("events", "x", "set", "customs.CN.c")
    assert parse_key("a..b") is None and parse_key("a b") is None


# ---------------------------------------------------------------- events -------------
def test_events_apply_in_step_order_and_may_build_on_each_other(tmp_path):
    write(tmp_path, "base.toml", (DATA / "base.toml").read_text())
    # 'later' sets a value valid only because 'early' (listed second) has already run
    p = write(tmp_path, "s.toml", 'extends = "base.toml"\n\n[events.later]\nstep = 20\n'
              'set = { "controls.ban.approval_rate" = 0.2 }\n\n[events.early]\nstep = 5\n'
              'set = { "controls.ban.regime" = "license" }\n')
    assert load_scenario(p).events["later"].step == 20
    bad = write(tmp_path, "t.toml", 'extends = "base.toml"\n\n[events.x]\nstep = 3\n'
                'set = { "markets.US.sb.backstop_index" = 0.5, "customs.TH.capacity_per_week" = 5 }\n')
    msgs = errors(bad)
    assert f"{bad}:5: events.x.set.customs.TH.capacity_per_week: would add TH to customs" in msgs[0]
    assert len(msgs) == 1  # the event is not validated further once its structure is wrong


def test_event_value_errors_name_the_event_key(tmp_path):
    write(tmp_path, "base.toml", (DATA / "base.toml").read_text())
    p = write(tmp_path, "s.toml", 'extends = "base.toml"\n\n[events.x]\nstep = 3\n\n[events.x.set]\n'
              '"markets.US.sb.backstop_index" = 0.5\n"customs.CN.capasity_per_week" = 1\n"steps" = 60\n')
    msgs = errors(p)
    assert msgs == [
        f"{p}:7: events.x.set.markets.US.sb.backstop_index: must be > 1 (got 0.5)",
        f"{p}:8: events.x.set.customs.CN.capasity_per_week: cannot change during a run (it is read once, when "
        "the world is built); events may set only the keys marked runtime in docs/scenario-format.md",
        f"{p}:9: events.x.set.steps: cannot change during a run (it is read once, when the world is built); "
        "events may set only the keys marked runtime in docs/scenario-format.md",
    ]


# ---------------------------------------------------------------- key locator --------
def test_key_lines_finds_headers_dotted_inline_and_skips_multiline_values():
    text = '''# comment [not.a.table]
name = "x"   # trailing = comment
long = """
fake = 1
[fake.table]
"""
list = [
  "a", # comment
  { inner = 1 },
]
[a."b.c"]
d.e = 1
f = { g = 2, h = { i = 3 } }
'lit' = 'x'
[[aot.items]]
k = 1
'''
    lines = key_lines(text)
    assert lines[("name",)] == 2 and lines[("long",)] == 3 and lines[("list",)] == 7
    assert ("fake",) not in lines and ("fake", "table") not in lines and ("list", "inner") not in lines
    assert lines[("a", "b.c")] == 11 and lines[("a",)] == 11
    assert lines[("a", "b.c", "d", "e")] == 12 and lines[("a", "b.c", "d")] == 12
    assert lines[("a", "b.c", "f", "h", "i")] == 13 and lines[("a", "b.c", "lit")] == 14
    assert lines[("aot", "items", "k")] == 16


# ---------------------------------------------------------------- TOML round trip ----
@pytest.mark.parametrize("name", ["base.toml", "child.toml"])
def test_dump_toml_round_trips(tmp_path, name):
    s = load_scenario(DATA / name, ["controls.ban.regime=license", "controls.ban.quota_t_per_year=1500.5"])
    s2 = load_scenario(write(tmp_path, "dumped.toml", dump_toml(s)))
    assert s2 == s
    s = load_scenario(DATA / name)  # no quota by default: the key is left out
    text = dump_toml(s)
    assert not re.search(r"^quota_t_per_year", text, re.M)
    assert re.search(r"^start_date = 2024-01-01$", text, re.M)  # a TOML date, not text
    assert load_scenario(write(tmp_path, "d2.toml", text)) == s


def test_list_scenarios_reports_names_and_invalid_files(tmp_path):
    write(tmp_path, "a.toml", (DATA / "base.toml").read_text())
    write(tmp_path, "b.toml", "name = 3\n")
    rows = list_scenarios(tmp_path)
    assert [(n, p.name) for n, p, _ in rows] == [("test_base", "a.toml"), ("b", "b.toml")]
    assert rows[0][2].startswith("Test fixture") and rows[1][2].startswith("(invalid: ")


# ---------------------------------------------------------------- docs ---------------
def test_format_doc_in_step():
    committed = docgen.DOC_PATH.read_text(encoding="utf-8") if docgen.DOC_PATH.exists() else ""
    fresh = docgen.generate()
    diff = "".join(list(difflib.unified_diff(committed.splitlines(True), fresh.splitlines(True),
                                             "docs/scenario-format.md", "generated", n=0))[:12])
    assert committed == fresh, (
        f"docs/scenario-format.md is out of step with sim/scenario/schema.py; regenerate it with `{docgen.REGENERATE}`\n{diff}")


def test_format_doc_lists_every_key_and_its_example_loads(tmp_path):
    from sim.scenario.schema import Scenario
    text = docgen.generate()
    for f in Scenario.model_fields:
        assert f"| `{f}` |" in text
    assert "| `capacity_per_week` | number | per week | `100` | ≥ 0, ≤ 10000000 | runtime |" in text
    assert "| `ref_price_usd_kg` | number | USD/kg | **required** | > 0, ≤ 100000 |  |" in text
    example = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    s = load_scenario(write(tmp_path, "minimal.toml", example))
    assert s.control_step(s.controls["ban"]) == 9


def test_key_lines_locates_every_key_of_a_dumped_scenario():
    text = dump_toml(load_scenario(DATA / "child.toml"))
    lines, found = text.splitlines(), key_lines(text)

    def leaves(x, path=()):
        if isinstance(x, dict) and x:
            for k, v in x.items():
                yield from leaves(v, path + (k,))
        else:
            yield path
    import tomllib
    paths = list(leaves(tomllib.loads(text)))
    assert len(paths) > 150
    for p in paths:
        assert p in found and p[-1] in lines[found[p] - 1], p
