"""Results folder: atomic writes, file contents, KPI table and summary text."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sim.outputs import results as outputs
from sim.outputs import tables
from sim.scenario import load_scenario
from sim.scenario.schema import Scenario

DATA = Path(__file__).parent / "data"
T0 = dt.datetime(2025, 3, 1, 14, 15, 2, tzinfo=dt.timezone.utc)
T1 = T0 + dt.timedelta(seconds=61.5)


def fake_result(scenario, replicate: int, steps: int | None = None):
    """A RunResult stand-in: two metrics in the long format and a few KPIs."""
    n = steps or scenario.steps
    rng = np.random.default_rng(replicate)
    dates = pd.to_datetime([scenario.date_of(i) for i in range(n)])
    rows = []
    for metric, market in (("illicit_delivered_t", "US"), ("price_index", "US")):
        rows.append(pd.DataFrame({
            "replicate": np.int64(replicate), "step": np.arange(n, dtype=np.int64), "date": dates,
            "metric": metric, "market": market, "commodity": "sb", "route": "", "checkpoint": "",
            "method": "", "value": rng.random(n)}))
    kpis = {"illicit_delivered_t": 3000.0 + 100 * replicate, "leakage_share": 0.25 + 0.05 * replicate,
            "enforcement_cost_usd": 1.5e6, "weeks_to_halve": math.nan if replicate == 0 else 4.0 + replicate}
    return SimpleNamespace(replicate=replicate, timeseries=pd.concat(rows, ignore_index=True), kpis=kpis)


@pytest.fixture
def scenario():
    return load_scenario(DATA / "base.toml")


@pytest.fixture
def results(scenario):
    return [fake_result(scenario, r) for r in (2, 0, 1)]  # any order in, sorted out


def test_run_folder_has_every_file_readable(tmp_path, scenario, results):
    run = outputs.write_run(scenario, results, tmp_path, ["sim", "run", "x.toml"], T0, T1)
    assert run.parent == tmp_path / "test_base"
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", run.name)
    assert sorted(p.name for p in run.iterdir()) == ["kpi_summary.csv", "kpis.csv", "kpis.json", "manifest.json",
                                                     "timeseries.parquet"]
    assert [p.name for p in run.parent.iterdir()] == [run.name]  # no partial folder left
    assert {oct(p.stat().st_mode & 0o777) for p in run.iterdir()} == {"0o644"}

    ts = pd.read_parquet(run / "timeseries.parquet")
    assert len(ts) == 3 * 2 * scenario.steps
    assert list(ts["replicate"].unique()) == [0, 1, 2]
    assert ts["date"].iloc[1] == pd.Timestamp("2024-01-08")
    assert set(ts["run_id"]) == {run.name} and set(ts["scenario"]) == {"test_base"}
    for k in ("route", "checkpoint", "method", "supplier"):  # unused keys are null, not ""
        assert ts[k].isna().all(), k
    assert (ts["market"] == "US").all()

    csv = pd.read_csv(run / "kpis.csv")  # per replicate only: every column numeric
    assert list(csv["replicate"]) == [0, 1, 2]
    assert all(pd.api.types.is_numeric_dtype(csv[c]) for c in csv.columns)
    assert math.isnan(csv.loc[0, "weeks_to_halve"])
    summary = pd.read_csv(run / "kpi_summary.csv").set_index("kpi")
    assert list(summary.columns) == ["unit", "mean", "p05", "p95"]
    assert summary.loc["illicit_delivered_t", "unit"] == "t" and summary.loc["leakage_share", "unit"] == "share"
    assert summary.loc["illicit_delivered_t", "mean"] == pytest.approx(3100.0)
    assert summary.loc["illicit_delivered_t", "p05"] == pytest.approx(np.percentile([3000, 3100, 3200], 5))
    assert summary.loc["weeks_to_halve", "mean"] == pytest.approx(5.5)            # NaN skipped

    k = json.loads((run / "kpis.json").read_text())
    assert [r["replicate"] for r in k["per_replicate"]] == [0, 1, 2]
    assert k["per_replicate"][0]["weeks_to_halve"] is None               # NaN -> null
    assert k["summary"]["leakage_share"]["p95"] == pytest.approx(np.percentile([0.25, 0.3, 0.35], 95))


def test_manifest_records_seeds_events_versions_and_the_resolved_scenario(tmp_path, scenario, results):
    run = outputs.write_run(scenario, results, tmp_path, ["sim", "run", "x.toml", "--seed", "7"], T0, T1,
                            extra_manifest={"note": "test"})
    m = json.loads((run / "manifest.json").read_text())  # standard JSON: no NaN/Infinity tokens
    assert m["run_id"] == run.name and m["scenario_name"] == "test_base" and m["note"] == "test"
    assert m["command_line"] == ["sim", "run", "x.toml", "--seed", "7"]
    assert m["started"] == "2025-03-01T14:15:02+00:00" and m["duration_s"] == 61.5
    assert (m["replicates"], m["steps"], m["master_seed"]) == (3, 30, 7)
    seeds = m["replicate_seeds"]
    assert seeds[1] == {"replicate": 1, "entropy": 7, "spawn_key": [1]}
    ss = np.random.SeedSequence(seeds[1]["entropy"], spawn_key=tuple(seeds[1]["spawn_key"]))
    assert ss.generate_state(4).tolist() == np.random.SeedSequence(7).spawn(3)[1].generate_state(4).tolist()
    # the scenario's events, and the controls that start during the run (charts mark both)
    assert m["events"] == [{"id": "control:ban", "label": "Ban (US)", "step": 9, "date": "2024-03-04"},
                           {"id": "crackdown", "label": "Crackdown", "step": 18, "date": "2024-05-06"}]
    assert {"python", "sim", "numpy", "pandas", "pydantic"} <= set(m["versions"])
    assert m["scenario"]["controls"]["ban"]["quota_t_per_year"] is None   # no quota: null in JSON
    assert Scenario.model_validate(m["scenario"]) == scenario


def test_git_commit_is_absent_without_git(monkeypatch, tmp_path, scenario, results):
    def no_git(*a, **k):
        raise FileNotFoundError("git")
    monkeypatch.setattr(subprocess, "run", no_git)
    assert outputs.git_commit() is None
    m = json.loads((outputs.write_run(scenario, results, tmp_path, [], T0, T1) / "manifest.json").read_text())
    assert "git_commit" not in m


@pytest.mark.parametrize("failure", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_failure_while_writing_leaves_nothing_behind(tmp_path, scenario, results, failure):
    seen = []

    def fail(partial: Path):
        seen.append((partial.name, sorted(p.name for p in partial.iterdir())))
        raise failure
    with pytest.raises(type(failure)):
        outputs.write_run(scenario, results, tmp_path, [], T0, T1, before_commit=fail)
    assert seen[0][0].startswith(".") and seen[0][0].endswith(".partial")
    assert "kpis.csv" in seen[0][1]                      # it had been writing into the partial folder
    assert list((tmp_path / "test_base").iterdir()) == []


def test_a_failure_in_the_parquet_writer_leaves_nothing_behind(tmp_path, scenario, results, monkeypatch):
    import pyarrow.parquet as pq

    def broken(self, *a, **k):
        raise OSError("no space left on device")
    monkeypatch.setattr(pq.ParquetWriter, "write_table", broken)
    with pytest.raises(OSError) as e:
        outputs.write_run(scenario, results, tmp_path, [], T0, T1)
    assert e.value.filename.endswith("timeseries.parquet") and e.value.strerror == "No space left on device"
    assert list((tmp_path / "test_base").iterdir()) == []


def test_run_ids_are_unique_and_sort_by_time():
    ids = [outputs.new_run_id() for _ in range(50)]
    assert len(set(ids)) == 50
    assert all(re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", i) for i in ids)
    assert sorted(i[:16] for i in ids) == [i[:16] for i in ids]


def test_scenario_names_become_safe_folder_names():
    assert outputs.folder_name("ban/US 2024") == "ban_US_2024"
    assert outputs.folder_name("..") == "scenario"


def test_summary_table_has_units_percent_and_separators_and_fits_80_columns(scenario, results):
    text = tables.format_summary(tables.kpi_table(results))
    lines = text.splitlines()
    assert lines[0].split() == ["KPI", "unit", "mean", "5", "%", "95", "%"]
    row = {ln.split()[0]: ln.split()[1:] for ln in lines[2:]}
    assert row["illicit_delivered_t"] == ["t", "3,100", "3,010", "3,190"]
    assert row["leakage_share"] == ["%", "30.0", "25.5", "34.5"]         # shares shown in percent
    assert row["enforcement_cost_usd"] == ["USD", "1.5", "M", "1.5", "M", "1.5", "M"]
    assert row["weeks_to_halve"] == ["weeks", "5.50", "5.05", "5.95"]
    assert max(len(ln) for ln in lines) <= 80
    # right-aligned numbers: each value column ends at the same place in every row
    ends = {ln.rfind("3,190") + 5 for ln in lines if "3,190" in ln} | {len(lines[0].rstrip())}
    assert len(ends) == 1


def test_comparison_table_fits_80_columns_with_long_names():
    names = ["antimony_ban_2024_with_a_long_name", "crackdown_2025_and_more", "third_scenario"]
    rows = [{"scenario": n, "kpi": k, "mean": m * (i + 1), "p05": m * 0.9 * (i + 1), "p95": m * 1.1 * (i + 1),
             "diff_mean": 0.0 if i == 0 else -m * i, "diff_p05": 0.0 if i == 0 else -m * i * 1.2,
             "diff_p95": 0.0 if i == 0 else -m * i * 0.8}
            for i, n in enumerate(names) for k, m in (("inspections_per_seizure", 123.4), ("enforcement_cost_usd", 5.4e7),
                                                      ("leakage_share", 0.678), ("transit_import_surge", 34.2))]
    text = tables.format_comparison(pd.DataFrame(rows))
    assert max(len(ln) for ln in text.splitlines()) <= 80
    assert "A: antimony_ban_2024_with_a_long_name (baseline)" in text and "C: third_scenario" in text
    assert text.count("B - A") == 1 and text.count("C - A") == 1   # one table per scenario against the baseline
    assert "-54 M" in text and "67.8" in text and "-67.8" in text  # money in M; shares and their differences in %


def test_json_summary_keeps_stored_units(scenario, results):
    doc = tables.summary_json(tables.kpi_table(results), run_id="x")
    doc = json.loads(json.dumps(doc, allow_nan=False))  # standard JSON
    assert doc["run_id"] == "x"
    assert doc["kpis"]["leakage_share"] == {"unit": "share", "mean": pytest.approx(0.3), "p05": pytest.approx(0.255),
                                            "p95": pytest.approx(0.345)}
    assert doc["kpis"]["weeks_to_halve"]["unit"] == "weeks"


def test_units_and_number_format():
    assert tables.kpi_unit("price_peak_index") == ("x reference", 1.0)
    assert tables.kpi_unit("min_stock_cover_days") == ("days", 1.0)
    assert tables.kpi_unit("interdiction_rate") == ("%", 100.0)
    assert tables.kpi_unit("arrests") == ("", 1.0)
    assert [tables.fmt_number(v) for v in (math.nan, 0.0, 0.01234, 3.14159, 42.0, 4321.0, 1234567.8, -2.5e9)] == \
        ["n/a", "0", "0.0123", "3.14", "42.0", "4,321", "1.23 M", "-2.5 bn"]
    assert tables.band_text(13936, 14276) == "13,936\u201314,276"
    assert tables.band_text(-6939, -5657, sign=True) == "-6,939 to -5,657"
    assert tables.band_text(1.59e7, 1.63e7) == "15.9\u201316.3 M"
