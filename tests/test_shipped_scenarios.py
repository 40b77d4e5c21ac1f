"""Every shipped scenario (scenarios/*.toml, globbed at collection) validates and runs; the
template lists every key of the schema and stays in step with it."""

from __future__ import annotations

import datetime as dt
import difflib
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.model.kpis import compute_kpis
from sim.model.metrics import KEYS, KPI_NAMES
from sim.model.metrics import METRICS as REGISTERED
from sim.model.model import SmugglingModel
from sim.scenario import docgen, load_scenario, template
from sim.scenario.schema import METHODS, TECHS, Scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
FILES = sorted(SCENARIOS.glob("*.toml"))

# The long format of MODEL.md §6 and the names in the registry (sim.model.metrics).
COLUMNS = ["replicate", "step", "date", "metric", *KEYS, "value"]
METRICS = {m.name for m in REGISTERED if m.name != "transit_imports_t"}
KPIS = set(KPI_NAMES)


def smoke_steps(s: Scenario) -> int:
    """A short horizon that still reaches the first event and two steps after it."""
    first = min((s.event_step(e) for e in s.events.values()), default=0)
    return min(s.steps, max(8, first + 2))


def test_scenarios_folder_has_the_template_and_others():
    names = [p.name for p in FILES]
    assert "template.toml" in names and len(names) >= 2, names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_sim_validate_accepts_it(path, capsys):
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip() == f"{path}: ok"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_smoke_run(path):
    """A few steps (past the first event) of replicate 0, as sim.model.runner.run_replicate runs it."""
    s = load_scenario(path)
    n = smoke_steps(s)
    model = SmugglingModel(s, replicate=0, steps=n)
    model.run()
    ts = model.recorder.timeseries()

    assert list(ts.columns) == COLUMNS
    assert len(ts) > 0 and (ts["replicate"] == 0).all()
    assert sorted(ts["step"].unique()) == list(range(n))
    assert str(ts["value"].dtype) == "float64" and pd.api.types.is_datetime64_any_dtype(ts["date"])
    start = pd.Timestamp(s.start_date)
    assert (ts["date"] == start + pd.to_timedelta(ts["step"] * s.days_per_step, unit="D")).all()
    expected = METRICS | ({"transit_imports_t"} if s.ids("transit") else set())
    assert expected <= set(ts["metric"]), f"missing metrics: {expected - set(ts['metric'])}"
    assert np.isfinite(ts["value"]).all(), ts[~np.isfinite(ts["value"])].head()

    markets = {(c, k) for c in [s.origin, *s.ids("destination")] for k in s.commodities}
    for metric in ("price_usd_kg", "gray_price_usd_kg"):
        rows = ts[ts["metric"] == metric]
        assert (rows["value"] > 0).all(), f"{metric}: non-positive price\n{rows[rows['value'] <= 0].head()}"
        assert markets <= set(zip(rows["market"], rows["commodity"]))
        assert len(rows) == n * len(set(zip(rows["market"], rows["commodity"])))

    sources, uses = model.mass_balance()
    assert np.all(sources > 0)
    np.testing.assert_allclose(uses, sources, rtol=1e-9, atol=1e-9,
                               err_msg=f"{path.name}: mass balance off after {n} steps (t per commodity)")
    assert KPIS <= set(compute_kpis(model))


# ---------------------------------------------------------------- template -----------
def schema_paths(model=Scenario, prefix=()):
    """Every key path of the format, "*" for an id: ("markets", "*", "*", "ref_price_usd_kg"), ...
    A table of plain values (eff, import_cap_t_per_year, an event's set) ends in "*"."""
    for name, f in model.model_fields.items():
        sub, depth = docgen.models_of(f.annotation)
        path = prefix + (name,) + ("*",) * depth
        if sub is not None:
            yield from schema_paths(sub, path)
        else:
            yield path


def key_paths(data, prefix=()):
    for k, v in data.items():
        yield prefix + (k,)
        if isinstance(v, dict):
            yield from key_paths(v, prefix + (k,))


ALTERNATIVE = re.compile(r"(?m)^# ([a-z_]+ = \S+)  # (?:instead of [a-z_]+|optional)$")


def test_template_is_a_runnable_scenario_that_says_it_is_the_template():
    s = load_scenario(template.TEMPLATE_PATH)
    assert s.name == "template" and "template" in s.description.lower()
    assert s.ids("origin") == ["CN"] and s.ids("transit") == ["TH"] and s.ids("destination") == ["US", "ROW"]
    assert list(s.commodities) == ["sb2o3"] and len(s.events) == 1
    assert [c.regime for c in s.controls.values()] == ["license"]
    # commented-out alternatives are consistent with the keys given
    alts = dict(line.split(" = ") for line in ALTERNATIVE.findall(template.TEMPLATE_PATH.read_text()))
    assert alts == {"from_step": str(s.control_step(s.controls["licence"])),
                    "step": str(s.event_step(s.events["crackdown"])),
                    "initial_price_index": "1.0", "initial_stock_days": "30.0"}


def test_template_lists_every_key_of_the_schema():
    text = template.TEMPLATE_PATH.read_text(encoding="utf-8")
    given = set(key_paths(tomllib.loads(text)))
    with_alternatives = set(key_paths(tomllib.loads(ALTERNATIVE.sub(r"\1", text))))
    assert given < with_alternatives  # the alternatives are keys too
    def present(p):
        return any(len(q) == len(p) and all(a in ("*", b) for a, b in zip(p, q)) for q in with_alternatives)
    missing = [".".join(p) for p in schema_paths() if not present(p)]
    assert not missing, f"scenarios/template.toml lacks {missing}; add an example to sim.scenario.template.WORLD"
    data = tomllib.loads(text)
    assert set(data["methods"]) == set(METHODS)
    assert {t: set(row) for t, row in data["eff"].items()} == {t: set(METHODS) for t in TECHS}
    # every field is explained once: the line above it is its comment, "... [unit ...; default ...]"
    lines, explained = text.splitlines(), set()
    for i, line in enumerate(lines):
        above = []
        while i - len(above) - 1 >= 0 and lines[i - len(above) - 1].startswith("#"):
            above.insert(0, lines[i - len(above) - 1].lstrip("# "))
        m = re.match(r"(?:# )?([a-z_0-9]+) = ", line)
        if m and re.search(r" \[.*\b(default: |required\b).*\]$", " ".join(above)):
            explained.add(m.group(1))
    fields = set()
    for p in schema_paths():
        named = [x for x in p if x != "*"]
        if len(named) > 1 or p[-1] != "*":  # all but a top-level table of plain values (eff: banner only)
            fields.add(named[-1])
    assert not fields - explained, f"keys without a comment: {sorted(fields - explained)}"
    assert "# ref_price_usd_kg" not in text and "[unit: USD/kg; required; range: > 0, ≤ 100000]" in text


def test_template_in_step_with_the_schema():
    committed = template.TEMPLATE_PATH.read_text(encoding="utf-8") if template.TEMPLATE_PATH.exists() else ""
    fresh = template.generate()
    diff = "".join(list(difflib.unified_diff(committed.splitlines(True), fresh.splitlines(True),
                                             "scenarios/template.toml", "generated", n=0))[:12])
    assert committed == fresh, (
        "scenarios/template.toml is out of step with sim/scenario/schema.py; "
        f"regenerate it with `{template.REGENERATE}`\n{diff}")


def test_template_write_is_atomic_and_matches_generate(tmp_path):
    out = template.write(tmp_path / "t.toml")
    assert out.read_text(encoding="utf-8") == template.generate()
    assert [p.name for p in tmp_path.iterdir()] == ["t.toml"]
    assert load_scenario(out).start_date == dt.date(2024, 1, 1)
