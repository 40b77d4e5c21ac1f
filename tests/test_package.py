"""A package that works anywhere: shipped scenarios by name, `sim list` outside a checkout,
`sim run --json`, the manifest's executor and git state, `sim rerun` reproducing a run, and
(slow) a wheel built from the checkout, installed in a fresh virtual environment and run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_model import fake_run

from sim.cli import main
from sim.scenario import list_scenarios
from sim.scenario.shipped import find_scenario, shipped_dir

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"


def shipped_name() -> str:
    """A shipped scenario's name, from the scenarios folder (the names change with the model)."""
    names = [name for name, p, _ in list_scenarios(REPO / "scenarios") if p.stem == name and name != "template"]
    assert names, "no shipped scenario"
    return "antimony_2024" if "antimony_2024" in names else names[0]


@pytest.fixture
def fake_model(monkeypatch):
    """sim run/rerun on tests/fake_model.fake_run: fast, and its KPIs depend on the seed, the
    replicate and the scenario's keys, so a rerun that lost any of them would differ."""
    import sim.experiments.execution as execution

    monkeypatch.setattr(execution, "MODEL", fake_run)


def test_shipped_scenarios_are_found_by_name_anywhere(tmp_path, monkeypatch, capsys):
    assert shipped_dir() == REPO / "scenarios"  # a checkout reads its own folder (editable install)
    name = shipped_name()
    monkeypatch.chdir(tmp_path)
    assert find_scenario(name) == REPO / "scenarios" / f"{name}.toml"
    assert find_scenario(f"{name}.toml") == REPO / "scenarios" / f"{name}.toml"
    (tmp_path / "scenarios").mkdir()
    shutil.copy(DATA / "base.toml", tmp_path / "scenarios" / f"{name}.toml")
    assert find_scenario(name) == Path("scenarios") / f"{name}.toml"  # the user's own folder first
    shutil.rmtree(tmp_path / "scenarios")
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert name in out and "template" in out
    assert main(["run", "no_such_scenario", "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no_such_scenario" in err and "Traceback" not in err
    assert main(["show", name]) == 0 and f"name = \"{name}\"" in capsys.readouterr().out
    assert main(["compare", "baseline_2024", name, "--steps", "2", "--replicates", "1", "--workers", "1",
                 "--no-plots", "--out", str(tmp_path / "c")]) == 0     # by name, like sim run
    assert "cannot read" not in capsys.readouterr().err


def test_run_json_summary_parses_and_the_manifest_records_executor_and_git(tmp_path, capsys, fake_model):
    assert main(["run", str(DATA / "base.toml"), "--replicates", "3", "--workers", "1", "--out", str(tmp_path),
                 "--no-plots", "--json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)  # stdout is the JSON document alone
    assert doc["scenario"] == "test_base" and doc["replicates"] == 3 and doc["failed"] == 0
    assert set(doc["kpis"]["illicit_delivered_t"]) == {"unit", "mean", "p05", "p95"}
    assert doc["kpis"]["illicit_delivered_t"]["unit"] == "t"
    assert "3 runs done" in err
    m = json.loads((Path(doc["results"]) / "manifest.json").read_text())
    assert m["executor"] == {"kind": "in-process", "workers": 1}
    assert isinstance(m["git_commit"], str) and isinstance(m["git_dirty"], bool)  # this is a checkout


def test_manifest_executor_kinds():
    from sim.outputs.manifest import executor
    assert executor(1, None) == {"kind": "in-process", "workers": 1}
    assert executor(4, None) == {"kind": "processes", "workers": 4}
    assert executor(None, "tcp://h:8786") == {"kind": "dask", "scheduler": "tcp://h:8786", "workers": None}


def test_rerun_reproduces_the_kpis_from_the_manifest(tmp_path, capsys, fake_model):
    assert main(["run", str(DATA / "base.toml"), "--replicates", "4", "--seed", "5", "--set",
                 "penalties.arrest_prob=0.3", "--out", str(tmp_path / "a"), "--no-plots"]) == 0
    first = next((tmp_path / "a" / "test_base").iterdir())
    capsys.readouterr()
    assert main(["rerun", str(first), "--out", str(tmp_path / "b"), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "KPIs identical to the original run" in out
    again = next((tmp_path / "b" / "test_base").iterdir())
    k1, k2 = (json.loads((p / "kpis.json").read_text())["per_replicate"] for p in (first, again))
    assert k1 == k2 and len(k1) == 4 and k1[0]["y"] == pytest.approx(0.6, abs=0.05)  # arrest_prob 0.3 kept
    m = json.loads((again / "manifest.json").read_text())
    assert m["rerun_of"]["run_id"] == first.name and m["master_seed"] == 5
    # a manifest that no longer matches its KPIs is caught
    mf = json.loads((first / "manifest.json").read_text())
    mf["scenario"]["penalties"]["arrest_prob"] = 0.9
    (first / "manifest.json").write_text(json.dumps(mf))
    assert main(["rerun", str(first), "--out", str(tmp_path / "c"), "--no-plots"]) == 1
    assert "KPIs differ from the original run" in capsys.readouterr().out


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("scenario"), "manifest.json: scenario: expected a table (got null)"),
    (lambda m: m["scenario"].update(steps=0), "manifest.json: scenario.steps: must be >= 1 (got 0)"),
    (lambda m: m.update(replicate_seeds=[]), "manifest.json: replicate_seeds: no replicates recorded"),
])
def test_rerun_of_a_bad_manifest_is_one_line(tmp_path, capsys, fake_model, change, message):
    assert main(["run", str(DATA / "base.toml"), "--replicates", "2", "--out", str(tmp_path), "--no-plots"]) == 0
    run = next((tmp_path / "test_base").iterdir())
    m = json.loads((run / "manifest.json").read_text())
    change(m)
    (run / "manifest.json").write_text(json.dumps(m))
    capsys.readouterr()
    assert main(["rerun", str(run), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("sim rerun: ")


def _run(cmd, cwd, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=900, check=False,
                       **kw)
    assert r.returncode == 0, f"{cmd}: {r.stderr[-2000:]}"
    return r


@pytest.mark.slow
def test_wheel_works_outside_the_checkout(tmp_path):
    """Build the wheel from a copy of the checkout (offline: this environment's setuptools),
    install it in a fresh virtual environment whose dependencies come from this one (no
    downloads), and run `sim list` and a short `sim run NAME` in a folder without scenarios."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", ".*")
    for part in ("sim", "scenarios"):
        shutil.copytree(REPO / part, src / part, ignore=ignore)
    for f in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / f, src / f)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist",
          src], cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("*.whl"))
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", "--no-deps",
          "--no-index", wheel], cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run([venv / "bin" / "python", "-c", "import sim; print(sim.__file__)"], cwd=elsewhere).stdout
    assert where.startswith(str(site))  # the installed copy, not the checkout
    listed = _run([venv / "bin" / "sim", "list"], cwd=elsewhere).stdout
    shipped = [name for name, _, _ in list_scenarios(REPO / "scenarios")]
    assert all(n in listed for n in shipped)
    name = shipped_name()
    r = _run([venv / "bin" / "sim", "run", name, "--steps", "4", "--replicates", "1", "--workers", "1", "--out",
              "results", "--json"], cwd=elsewhere)
    doc = json.loads(r.stdout)
    run = elsewhere / doc["results"]
    assert doc["scenario"] == name and (run / "charts" / "sankey.png").is_file()
    assert json.loads((run / "manifest.json").read_text())["steps"] == 4
