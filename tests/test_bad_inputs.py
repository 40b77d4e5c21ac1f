"""Bad scenario content: whatever `sim validate` accepts, `sim run` runs; everything else is
refused with exit status 2 and one line per problem, `FILE:LINE: key: what is wrong`.

The catalogue below makes each kind of mistake in a copy of tests/data/base.toml (numbers
that are not finite or beyond any physical range, integers too large for the machine,
loose booleans and dates, impossible routes, text that would break a message or a chart,
tables too large for memory, ...). The options catalogue does the same for --steps,
--seed and --set. A hypothesis test mutates the shipped scenarios (types, extreme values,
deleted and unknown keys, deeper nesting) and asserts that every mutation either
validates and runs a few steps, or gets exit status 2 with one line per problem. The file
itself (FIFO, device, size, BOM, nesting) is covered in tests/test_bad_files.py.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import tempfile
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sim.cli import main
from sim.scenario.load import _load_tree, _Where, model_at

HERE = Path(__file__).parent
BASE = (HERE / "data" / "base.toml").read_text()
SHIPPED = sorted((HERE.parent / "scenarios").glob("*.toml"))


def sub(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def top(lines: str) -> str:
    """base.toml with top-level keys added before its first table."""
    return sub("seed = 7\n", "seed = 7\n" + lines + "\n")


def add(toml: str) -> str:
    """base.toml with tables added at its end."""
    return BASE + "\n" + toml + "\n"


def transit_routes(n: int) -> str:
    """n more transit countries, each with a route through it to the US (more belief lanes)."""
    return "".join(f'\n[countries.T{i}]\nroles = ["transit"]\n\n[routes.via_T{i}]\ndestination = "US"\nvia = "T{i}"\n'
                   for i in range(n))


NO_COMMODITIES = """name = "nothing"
commodities = {}
markets = {}
suppliers = {}

[countries.CN]
roles = ["origin"]

[countries.US]
roles = ["destination"]

[routes.direct]
destination = "US"
"""


@dataclass(frozen=True)
class Bad:
    id: str
    text: str       # the whole scenario file
    at: str | None  # text on the line the message names (None: the message names no line)
    key: str        # the dotted key named
    says: str       # part of the message
    count: int = 1  # problems reported (this one is the first)


CATALOGUE = [
    # ---- numbers: finite, within a physical range, 0 or not vanishingly small
    Bad("inf", sub("capacity_per_week = 100.0", "capacity_per_week = inf"), "capacity_per_week = inf",
        "customs.CN.capacity_per_week", "expected a finite number (got inf)"),
    Bad("nan", sub("commission = 0.13", "commission = nan"), "commission = nan",
        "countries.TH.commission", "expected a finite number (got nan)"),
    Bad("1e999", sub("capacity_per_week = 100.0", "capacity_per_week = 1e999"), "1e999",
        "customs.CN.capacity_per_week", "expected a finite number (got inf)"),
    Bad("1e308", sub("capacity_per_week = 100.0", "capacity_per_week = 1e308"), "1e308",
        "customs.CN.capacity_per_week", "must be <= 10000000 (got 1e+308)"),
    Bad("subnormal", sub("capacity_per_week = 100.0", "capacity_per_week = 5e-324"), "5e-324",
        "customs.CN.capacity_per_week", "must be 0 or at least 1e-30 in size (got 4.94e-324)"),
    Bad("integer too large for a float", sub("capacity_per_week = 100.0", "capacity_per_week = 1" + "0" * 400),
        "capacity_per_week = 1", "customs.CN.capacity_per_week",
        "must be between -1e+12 and 1e+12 (got a number with 401 digits)"),
    Bad("integer too large for the machine", sub("seed = 7", "seed = 1" + "0" * 40), "seed = 1", "seed",
        "must be <= 9223372036854775807 (got a number with 41 digits)"),
    Bad("true as a number", sub("elasticity = 0.4", "elasticity = true"), "elasticity = true",
        "commodities.sb.elasticity", "expected a number (got true)"),
    Bad("text as a number", sub("ref_price_usd_kg = 12.0", 'ref_price_usd_kg = "12"'), 'ref_price_usd_kg = "12"',
        "markets.US.sb.ref_price_usd_kg", 'expected a number (got "12")'),
    Bad("a fraction as a whole number", sub("leg1_steps = 3", "leg1_steps = 3.0"), "leg1_steps = 3.0",
        "routes.direct.leg1_steps", "expected a whole number (got 3)"),
    Bad("networks beyond memory", add("[smugglers]\nnetworks = 1000000000000"), "networks = 1",
        "smugglers.networks", "must be <= 10000 (got 1000000000000)"),
    Bad("shipping time in years", sub("sales_t_per_year = { CN = 60000.0, US = 8000.0 }",
                                      "sales_t_per_year = { CN = 60000.0, US = 8000.0 }\n"
                                      "shipping_weeks_to = { US = 1000000000000 }"),
        "shipping_weeks_to", "suppliers.cn.shipping_weeks_to.US", "must be <= 52 (got 1000000000000)"),
    Bad("negative freight to one market", sub("sales_t_per_year = { CN = 60000.0, US = 8000.0 }",
                                              "sales_t_per_year = { CN = 60000.0, US = 8000.0 }\n"
                                              "freight_usd_kg_to = { US = -1.0 }"),
        "freight_usd_kg_to", "suppliers.cn.freight_usd_kg_to.US", "must be >= 0 (got -1)"),
    Bad("sales beyond world output", sub("US = 8000.0 }", "US = 1e12 }"), "US = 1e12",
        "suppliers.cn.sales_t_per_year.US", "must be <= 100000000 (got 1000000000000)"),
    Bad("declared value beyond any price", sub('name = "antimony trioxide"',
                                               'name = "antimony trioxide"\ntypical_value_usd_kg = 1e9'),
        "typical_value_usd_kg", "commodities.sb.typical_value_usd_kg", "must be <= 100000 (got 1000000000)"),
    Bad("negative share of other goods", sub("capacity_per_week = 100.0",
                                             "capacity_per_week = 100.0\ntraffic_mix = { scrap = 1.0, chemicals = -0.5 }"),
        "traffic_mix", "customs.CN.traffic_mix.chemicals", "must be >= 0 (got -0.5)"),
    Bad("gray and defense buyers above all demand", sub("ref_price_usd_kg = 12.0",
                                                        "ref_price_usd_kg = 12.0\ngray_share = 0.6\ndefense_share = 0.5"),
        "gray_share = 0.6", "markets.US.sb.gray_share",
        "gray buyers (0.6) and defense buyers (0.5) are shares of the same demand: together at most 1"),
    # ---- booleans and dates: strict
    Bad("1 as a boolean", add("[smugglers]\nlogit = 1"), "logit = 1", "smugglers.logit", "expected true or false (got 1)"),
    Bad("text as a boolean", add('[smugglers]\nlearning = "true"'), "learning =", "smugglers.learning",
        'expected true or false (got "true")'),
    Bad("an integer as a date", sub("start_date = 2024-01-01", "start_date = 20240101"), "start_date",
        "start_date", "expected a date YYYY-MM-DD (got 20240101)"),
    Bad("a date and time", sub("start_date = 2024-01-01", "start_date = 2024-01-01T12:00:00"), "start_date",
        "start_date", "expected a date without a time (got 2024-01-01T12:00:00)"),
    Bad("a time of day", sub("start_date = 2024-01-01", "start_date = 12:00:00"), "start_date", "start_date",
        "expected a date YYYY-MM-DD (got 12:00:00)"),
    Bad("30 February", sub("start_date = 2024-01-01", 'start_date = "2024-02-30"'), "start_date", "start_date",
        'expected a date YYYY-MM-DD (got "2024-02-30": day value is outside expected range)'),
    Bad("a start far in the future", sub("start_date = 2024-01-01", "start_date = 9999-12-01"), "start_date",
        "start_date", "must be <= 2200-01-01 (got 9999-12-01)"),
    Bad("a start long ago", sub("start_date = 2024-01-01", "start_date = 1800-01-01"), "start_date",
        "start_date", "must be >= 1900-01-01 (got 1800-01-01)"),
    Bad("a control before the start", sub("from_date = 2024-03-04", "from_date = 2023-03-04"), "from_date",
        "controls.ban.from_date", "2023-03-04 is before start_date 2024-01-01"),
    Bad("an event before the start", sub("date = 2024-05-06", "date = 2023-05-06"), "date = 2023",
        "events.crackdown.date", "2023-05-06 is before start_date 2024-01-01"),
    # ---- routes: acyclic and sensible
    Bad("a route via the origin", sub('via = "TH"', 'via = "CN"'), 'via = "CN"', "routes.via_TH.via",
        "a route cannot pass through its own origin ('CN'); leave via empty for a direct route"),
    Bad("a route to the origin", sub('destination = "US"\nleg1_steps = 3', 'destination = "CN"\nleg1_steps = 3'),
        'destination = "CN"', "routes.direct.destination", "a route leads away from the origin, not back to it"),
    Bad("a route via its own destination", sub('destination = "US"\nvia = "TH"', 'destination = "US"\nvia = "US"'),
        'via = "US"', "routes.via_TH.via", "a route cannot pass through its own destination ('US')"),
    Bad("two routes on one path", add('[routes.via_TH_again]\ndestination = "US"\nvia = "TH"'),
        "[routes.via_TH_again]", "routes.via_TH_again", "same destination and via as route 'via_TH'"),
    Bad("no routes", sub('[routes.direct]\ndestination = "US"\nleg1_steps = 3\n\n[routes.via_TH]\ndestination = "US"\n'
                         'via = "TH"\n', "[routes]\n"), "[routes]", "routes", "at least one route is needed"),
    # ---- ids, tables and keys
    Bad("an id with a space", sub("[routes.via_TH]", '[routes."via TH"]'), '[routes."via TH"]', "routes.via TH",
        "an id is 1 to 40 letters, digits, _ or -, starting with a letter or digit (got 'via TH')"),
    Bad("an id with mathtext", sub("[routes.via_TH]", '[routes."$via$"]'), '[routes."$via$"]', "routes.$via$",
        "(got '$via$')"),
    Bad("a very long id", sub("[routes.via_TH]", "[routes." + "r" * 5000 + "]"), "[routes.rrr",
        "routes." + "r" * 30 + "…", "(got '" + "r" * 30 + "…' (5,000 characters))"),
    Bad("a country called all", add('[countries.all]\nroles = ["transit"]'), "[countries.all]", "countries.all",
        "'all' is reserved: controls use it to mean every destination"),
    Bad("more countries than the world has", add("".join(f'[countries.X{i}]\nroles = ["transit"]\n' for i in range(251))),
        "[countries.CN]", "countries", "at most 250 entries (got 254)"),
    Bad("smugglers beyond memory", add('[smugglers]\ninitial = 1000000\npool = 1000000\n' + transit_routes(10)),
        "[smugglers]", "smugglers", "one replicate would need about 7.4 GB of memory (2,000,000 smugglers "
                                    "(initial + pool) x 35 belief lanes x 6 methods need 7.4 GB); the limit is 4.0 GB"),
    Bad("no commodities", NO_COMMODITIES, "commodities = {}", "commodities", "at least one commodity is needed"),
    Bad("no destinations", sub('roles = ["destination", "supplier"]', 'roles = ["supplier"]'), "[countries.CN]",
        "countries", "at least one country must have the role 'destination'", count=6),
    Bad("a value where a table belongs", top("penalties = 3"), "penalties = 3", "penalties",
        "expected a table (got 3)"),
    Bad("an array of tables where a table belongs", sub("[customs.CN]", "[[customs.CN]]"), "[[customs.CN]]",
        "customs.CN", "expected a table (got an array)"),
    Bad("a table where a number belongs", add("[penalties]\narrest_prob = { x = 1 }"), "arrest_prob = {",
        "penalties.arrest_prob", "expected a number (got a table)"),
    Bad("an unknown key nested deeper", sub("capacity_per_week = 100.0", "capacity_per_week = 100.0\nextra.deep = 1"),
        "extra.deep", "customs.CN.extra", "unknown key 'extra' (allowed: anomaly_threshold"),
    Bad("a technology listed twice", sub("capacity_per_week = 100.0",
                                         'capacity_per_week = 100.0\ntechnologies = ["xray", "xray"]'),
        "technologies", "customs.CN.technologies", "a technology is listed twice"),
    Bad("an unknown headline event", top('headline_event = "nope"'), "headline_event", "headline_event",
        "unknown event 'nope'"),
    # ---- text: one line, not too long (a `$` is fine: charts draw it literally)
    Bad("an empty name", sub('name = "test_base"', 'name = ""'), "name =", "name", "must not be empty"),
    Bad("a name with a slash", sub('name = "test_base"', 'name = "a/b"'), "name =", "name",
        'a name is any text without slashes or control characters (it names the results folder) (got "a/b")'),
    Bad("a 300-character name", sub('name = "test_base"', f'name = "{"n" * 300}"'), "name =", "name",
        "at most 80 characters (got 300)"),
    Bad("a line break in a label", sub('label = "Crackdown"', 'label = "Crack\\ndown"'), "label =",
        "events.crackdown.label", "must be one line of text without control characters (found '\\n' at character 6)"),
    Bad("a tab in a description", sub('description = "Test fixture', 'description = "Test\\tfixture'), "description",
        "description", "must be one line of text without control characters (found '\\t' at character 5)"),
    Bad("a line break in a reference", add('[controls.other]\ncommodity = "sb"\ndestination = "U\\nS"\nregime = "ban"'),
        '"U\\nS"', "controls.other.destination", "'U\\nS' is not a destination or transit country"),
    Bad("a long country name", sub('roles = ["transit"]', f'roles = ["transit"]\nname = "{"t" * 81}"'), 'name = "ttt',
        "countries.TH.name", "at most 80 characters (got 81)"),
    # ---- events: only runtime keys, finite values
    Bad("an event on a key read at the start", sub('"penalties.arrest_prob" = 0.6', '"smugglers.initial" = 5'),
        "set = {", "events.crackdown.set.smugglers.initial", "cannot change during a run (it is read once"),
    Bad("an event setting nan", sub('"penalties.arrest_prob" = 0.6', '"penalties.arrest_prob" = nan'), "set = {",
        "events.crackdown.set.penalties.arrest_prob", "expected a finite number (got nan)"),
    Bad("an event making the shares impossible", sub('"penalties.arrest_prob" = 0.6', '"markets.US.sb.defense_share" = 0.9'),
        "set = {", "events.crackdown.set", "makes markets.US.sb.gray_share invalid: gray buyers (0.3) and defense "
                                           "buyers (0.9) are shares of the same demand: together at most 1"),
]

LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<key>.+?): (?P<msg>.+)$")


def problems(capsys, *argv) -> tuple[int, list[str]]:
    """Exit status and stderr lines of `sim ARGV`, checking that nothing went to stdout and no traceback."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and out == ""
    return status, err.splitlines()


def test_the_catalogue_has_at_least_40_kinds():
    assert len({b.id for b in CATALOGUE}) == len(CATALOGUE) >= 40


@pytest.mark.parametrize("bad", CATALOGUE, ids=lambda b: b.id)
def test_bad_input_is_one_line_naming_file_line_and_key(capsys, tmp_path, bad):
    f = tmp_path / "s.toml"
    f.write_text(bad.text)
    status, lines = problems(capsys, "validate", f)
    assert status == 2 and len(lines) == bad.count, lines
    assert all(LINE.match(ln) for ln in lines), lines
    m = LINE.match(lines[0])
    line = next(i for i, ln in enumerate(bad.text.splitlines(), 1) if bad.at in ln)
    assert (m["file"], int(m["line"]), m["key"]) == (str(f), line, bad.key)
    assert bad.says in m["msg"]
    assert len(lines[0]) <= 600


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if anything tries to run the model."""
    from sim.experiments import execution

    def forbidden(*a, **k):
        raise AssertionError("the model ran")
    monkeypatch.setattr(execution, "MODEL", forbidden)


OPTIONS = [
    (["--steps", "1000000000"], "--steps: must be <= 5200 (got 1,000,000,000)"),
    (["--seed", "-1"], "--seed: seed: must be >= 0 (got -1)"),
    (["--replicates", "0"], "--replicates: replicates: must be >= 1 (got 0)"),
    (["--set", "penalties.fine_multiple=inf"], "--set: penalties.fine_multiple: expected a finite number (got inf)"),
    (["--set", "start_date=9999-12-01"], "--set: start_date: must be <= 2200-01-01 (got 9999-12-01)"),
    (["--set", 'routes.via_TH.via="CN"'], ("--set: routes.via_TH.via: a route cannot pass through its own origin "
                                           "('CN'); leave via empty for a direct route")),
    (["--set", "smugglers.logit=1"], "--set: smugglers.logit: expected true or false (got 1)"),
    (["--set", 'name="a\\u2028b"'], ("--set: name: must be one line of text without control characters "
                                     "(found '\\u2028' at character 2)")),
]


@pytest.mark.parametrize("args, expected", OPTIONS, ids=[" ".join(a) for a, _ in OPTIONS])
def test_bad_options_are_named_before_any_computing(capsys, tmp_path, no_model, args, expected):
    status, lines = problems(capsys, "run", HERE / "data" / "base.toml", "--out", tmp_path, *args)
    assert (status, lines) == (2, [expected])
    assert not any(tmp_path.iterdir())


def test_a_longer_horizon_from_steps_is_named_as_the_cause(capsys, tmp_path, no_model):
    from sim.scenario import load_scenario
    from sim.scenario.limits import MAX_REPLICATE_BYTES, memory_parts

    def need(s, steps):
        return sum(v for k, v in memory_parts(s, steps).items() if not k.startswith("_"))

    f = tmp_path / "s.toml"
    for n in range(0, 1_000_001, 20_000):   # as many smugglers as fit in memory over 30 steps, not over 5200
        f.write_text(add(f'[smugglers]\ninitial = 1000000\npool = {n}\n' + transit_routes(4)))
        s = load_scenario(f)
        if need(s, 30) <= MAX_REPLICATE_BYTES < need(s, 5200):
            break
    else:
        pytest.fail("no pool size fits 30 steps but not 5200")
    assert main(["validate", str(f)]) == 0
    capsys.readouterr()
    status, lines = problems(capsys, "run", f, "--steps", "5200", "--out", tmp_path / "out")
    assert status == 2 and len(lines) == 1
    assert lines[0].startswith("--steps 5200: one replicate would need about ")
    assert lines[0].endswith("the limit is 4.0 GB per replicate: use fewer smugglers, networks, routes or steps")


# ---------------------------------------------------------------- every number ranged -
def _scalars(tp, meta=()):
    """(type, constraints) of each scalar inside an annotation (through Annotated, Optional, dict, list)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(tp)
        yield from _scalars(base, meta + tuple(m for e in extra for m in [*getattr(e, "metadata", []), e]))
    elif origin in (typing.Union, types.UnionType):
        for a in typing.get_args(tp):
            yield from _scalars(a, meta)
    elif origin in (dict, list):
        yield from _scalars(typing.get_args(tp)[-1])
    else:
        yield tp, meta


def test_every_number_in_the_format_has_a_lower_and_an_upper_bound():
    from pydantic import BaseModel

    from sim.scenario.priors import Prior
    from sim.scenario.schema import Scenario

    unbounded, todo, seen = [], [(Scenario, "")], set()
    while todo:
        model, prefix = todo.pop()
        for name, field in model.model_fields.items():
            for tp, meta in _scalars(field.annotation, tuple(field.metadata)):
                if isinstance(tp, type) and issubclass(tp, BaseModel) and tp is not Prior and tp not in seen:
                    seen.add(tp)   # a prior's range is checked against its field's own (check_priors)
                    todo.append((tp, f"{prefix}{name}."))
                elif tp in (int, float):
                    ends = {a for m in meta for a in ("ge", "gt", "le", "lt") if getattr(m, a, None) is not None}
                    if not (ends & {"ge", "gt"} and ends & {"le", "lt"}):
                        unbounded.append(prefix + name)
    assert unbounded == []


# ---------------------------------------------------------------- maxima stay finite --
def _most(model, field: str) -> float:
    return next(m.le for m in model.model_fields[field].metadata if getattr(m, "le", None) is not None)


def test_products_of_the_largest_values_stay_finite_in_float64():
    """A fine is fine_multiple x tonnes x price; risk aversion squares such sums. With every factor at
    its maximum (price at its guard, demand at its highest shift, a whole horizon of it) the result
    and its square stay far inside float64 (about 1.8e308)."""
    from sim.scenario.schema import Commodity, Market, Penalties, Scenario, Smugglers

    price = _most(Market, "ref_price_usd_kg") * _most(Market, "price_guard_index")           # USD/kg
    kg = (_most(Market, "ref_demand_t_per_year") * _most(Market, "demand_index")
          * _most(Commodity, "demand_index") * 1000)                                         # kg/yr
    money = price * kg * _most(Penalties, "fine_multiple") * _most(Scenario, "steps")         # USD
    assert money * money * _most(Smugglers, "risk_aversion_per_usd") < 1e300


MAXIMA = ["markets.CN.sb.ref_price_usd_kg=80000", "markets.US.sb.ref_price_usd_kg=100000",
          "suppliers.cn.unit_cost_usd_kg=50000", "suppliers.us.unit_cost_usd_kg=90000",
          "suppliers.cn.sales_t_per_year={CN = 4.9e7, US = 5e7}", "suppliers.us.sales_t_per_year={US = 5e7}",
          "suppliers.cn.capacity_t_per_year=1e8", "suppliers.us.capacity_t_per_year=1e8",
          "markets.US.sb.demand_index=100",
          "markets.US.sb.backstop_index=1000", "markets.US.sb.price_guard_index=1e4",
          "penalties.fine_multiple=1000", "penalties.sentence_years=100", "penalties.arrest_prob=1",
          "smugglers.capital_usd=1e10", "smugglers.capacity_t=1e5", "smugglers.freedom_value_usd_per_year=1e10",
          "smugglers.prior_interdiction=0", "smugglers.learning=false", "smugglers.risk_averse=false",
          "smugglers.initial=5000", "exporters.penalty_multiple=1000", "exporters.licence_loss_usd_kg=1e5",
          "customs.CN.capacity_per_week=1e7", "customs.CN.cost_per_inspection_usd=1e7",
          "customs.CN.capacity_cost_usd_per_year=1e9", "customs.CN.legit_containers_per_week=1e8",
          "methods.shielded.cost_usd_kg=1e4", "routes.direct.freight_usd_kg=1e4"]


def test_a_world_at_its_maxima_runs_with_finite_results(recwarn):
    """Largest prices, demand, fines, capital, inspection costs at once: every recorded series and
    KPI is finite and numpy warns of no overflow."""
    import numpy as np

    from sim.model.kpis import compute_kpis
    from sim.model.model import SmugglingModel
    from sim.scenario import load_scenario

    s = load_scenario(HERE / "data" / "base.toml", MAXIMA)
    model = SmugglingModel(s, 0)
    model.run()
    series = {k: a for k, a in model.recorder.a.items() if a.dtype != bool}
    assert all(np.isfinite(a).all() for a in series.values())
    assert series["illicit_delivered"].sum() > 0 and series["fines"].max() > 1e12   # the maxima were reached
    kpis = compute_kpis(model)
    assert all(v is None or np.isfinite(v) or np.isnan(v) for v in kpis.values())
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


# ---------------------------------------------------------------- text in charts ------
def test_dollar_signs_and_mathtext_in_labels_are_drawn_literally(tmp_path):
    from sim.plots.style import new_figure, save, style

    label = r"Crackdown $\frac{a}{ ($5 bn)"   # unbalanced mathtext: matplotlib's parser would fail on it
    with style():
        fig, axes = new_figure()
        title = axes[0, 0].set_title(label)
        fig.canvas.draw()
        assert title.get_text() == label
        assert title._preprocess_math(label) == (label, False)   # not parsed as mathematics
        save(fig, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 0
    with pytest.raises(ValueError):   # the same text outside the style fails to draw: what style() prevents
        fig, ax = plt.subplots()
        ax.set_title(label)
        fig.canvas.draw()
    plt.close("all")


# ---------------------------------------------------------------- mutated scenarios ---
def _merged(p: Path) -> dict:
    return _load_tree(p.resolve(), p.parent.resolve(), [], _Where(str(p)), str(p))


MERGED = {p.name: _merged(p) for p in SHIPPED}
SPECIAL = [True, False, 0, -1, 1, 0.5, -0.0, 1e12, -1e12, 1e13, 5e-324, 1e-31, 1e-300, 2**63, -(2**63) - 1, 10**30,
           float("inf"), float("-inf"), float("nan"), "", "$x$", "all", "CN", "US", "a\nb", "x" * 400,
           dt.date(9999, 12, 1), dt.date(1, 1, 1), dt.datetime(2024, 1, 1, 12, 0), dt.time(12, 0),
           [], [1, "a"], {}, {"x": 1}, [[[]]]]
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
values = st.one_of(st.sampled_from(SPECIAL), st.integers(-(2**70), 2**70), st.floats(), texts, st.dates(),
                   st.lists(st.integers() | texts, max_size=3), st.dictionaries(texts, st.integers(), max_size=2))


def _paths(node, pre=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield pre + (k,)
            yield from _paths(v, pre + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield pre + (i,)
            yield from _paths(v, pre + (i,))


def _bounds(data, path) -> list:
    """The range ends of the schema field at `path` (values at the edge of what is valid)."""
    strs = [p for p in path if isinstance(p, str)]
    model = model_at(strs[:-1])
    field = model.model_fields.get(strs[-1]) if model else None
    ends = [getattr(m, a) for m in (field.metadata if field else ()) for a in ("ge", "gt", "le", "lt")
            if getattr(m, a, None) is not None]
    old = _get(data, path)
    return [type(old)(e) if isinstance(old, int) and float(e).is_integer() else e for e in ends] or [old]


def _get(node, path):
    for p in path:
        node = node[p]
    return node


@st.composite
def mutated(draw) -> tuple[str, dict, list]:
    """A shipped scenario (extends resolved) with 1 to 3 changes: a value of another type or at an
    extreme, a number at the edge of its range, a key deleted, an unknown key, a value nested deeper,
    a key renamed."""
    name = draw(st.sampled_from(sorted(MERGED)))
    data, done = copy.deepcopy(MERGED[name]), []
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["value", "edge", "edge", "edge", "delete", "unknown", "nest", "rename"]))
        paths = list(_paths(data))
        numbers = [p for p in paths if type(_get(data, p)) in (int, float)]
        path = draw(st.sampled_from(numbers if op == "edge" and numbers else paths))
        parent, key = _get(data, path[:-1]), path[-1]
        if op == "edge" and path in numbers:   # most edges are valid: these mutations reach `sim run`
            parent[key] = draw(st.sampled_from(_bounds(data, path)))
        elif op == "delete":
            del parent[key]
        elif op == "unknown" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["zzz", "CN", "via", "all", "a.b"]))] = draw(values)
        elif op == "rename" and isinstance(parent, dict):   # an id (or key) renamed: references break
            parent[draw(st.sampled_from([f"{key}2", "XX", "CN", "US", "all", "a b", "$x$"]))] = parent.pop(key)
        elif op == "nest":
            parent[key] = draw(st.sampled_from([{"x": parent[key]}, [parent[key]], {str(key): parent[key]}]))
        else:
            parent[key] = draw(values)
        done.append((op, path))
    return name, data, done


def _validate_then_run(data: dict) -> None:
    """`sim validate` then, if it accepts, `sim run --steps 3` in this process: exit 0, or exit 2 with
    one line per problem, each naming the file."""
    import contextlib
    import io

    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "s.toml"
        f.write_text(tomli_w.dumps(data))
        for argv in (["validate", str(f)],
                     ["run", str(f), "--steps", "3", "--replicates", "1", "--workers", "1", "--no-plots",
                      "--out", str(Path(d) / "out")]):
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                status = main(argv)
            text = err.getvalue()
            assert "Traceback" not in text, text
            if argv[0] == "validate" and status == 2:
                lines = text.splitlines()
                one = re.compile(re.escape(str(f)) + r"(:\d+){0,2}: .+?: .+")   # FILE[:LINE[:COL]]: key: message
                assert lines and all(one.fullmatch(ln) for ln in lines), text
                event("refused")
                return
            assert status == 0, f"sim {argv[0]}: exit {status}\n{text}"
        event("validated and ran")


MUTATION_SETTINGS = {"deadline": None, "derandomize": True, "database": None,
                     "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}


@settings(max_examples=40, **MUTATION_SETTINGS)
@given(mutated())
def test_mutated_shipped_scenarios_validate_and_run_or_get_one_line_each(case):
    _validate_then_run(case[1])


@pytest.mark.slow
@settings(max_examples=200, **MUTATION_SETTINGS)
@given(mutated())
def test_many_mutated_shipped_scenarios_validate_and_run_or_get_one_line_each(case):
    _validate_then_run(case[1])
