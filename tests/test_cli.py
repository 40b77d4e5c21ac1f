"""The `sim` command: the catalogue of bad scenario files, show, list, run, extra commands."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sim import cli
from tests.test_outputs import fake_result

HERE = Path(__file__).parent
BAD, DATA = HERE / "bad", HERE / "data"
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+)(?::(?P<col>\d+))?: (?P<key>[^:]+): (?P<msg>.+)$")

# Bad file -> one (line, dotted key, expected substring[, file the line is in]) per problem.
# `key` None marks a TOML syntax error (reported as FILE:LINE:COL: syntax error: ...).
CATALOGUE: dict[str, list[tuple]] = {
    "misspelled_key.toml": [(5, "customs.CN.capasity_per_week",
                             "unknown key 'capasity_per_week' (did you mean 'capacity_per_week'?)")],
    "unknown_table.toml": [(4, "custom", "unknown table 'custom' (did you mean 'customs'?)")],
    "prob_above_one.toml": [(6, "penalties.arrest_prob", "must be <= 1 (got 1.5)")],
    "negative_price.toml": [(5, "markets.US.sb.ref_price_usd_kg", "must be > 0 (got -12)")],
    "wrong_type.toml": [(5, "customs.CN.capacity_per_week", 'expected a number (got "abc")')],
    "unknown_country_in_route.toml": [(6, "routes.via_MX.via", "'MX' is not a transit country")],
    "unknown_commodity_in_control.toml": [(5, "controls.gallium_ban.commodity", "unknown commodity 'ga'")],
    "event_outside_horizon.toml": [(6, "events.late.date", "2023-06-01 is before start_date 2024-01-01")],
    "event_step_and_date.toml": [(4, "events.crackdown", "give exactly one of step or date")],
    "syntax_error.toml": [(5, None, "syntax error: Invalid value")],
    "extends_cycle.toml": [(2, "extends", "extends cycle: tests/bad/extends_cycle.toml -> "
                            "tests/bad/parts/cycle_b.toml -> tests/bad/extends_cycle.toml", "parts/cycle_b.toml")],
    "extends_missing.toml": [(3, "extends", "file not found: 'parts/no_such_base.toml'")],
    "extends_escape.toml": [(2, "extends", "'../data/base.toml' lies outside the folder")],
    "bad_date.toml": [(3, "start_date", 'expected a date YYYY-MM-DD (got "2024-13-45": month value')],
    "unknown_role.toml": [(5, "countries.TH.roles[1]",
                           "must be one of 'origin', 'transit', 'destination' or 'supplier' (got \"hub\")")],
    "unknown_technology.toml": [(5, "customs.CN.technologies[1]", "must be one of 'xray', ")],
    "missing_required.toml": [(15, "markets.US.sb.ref_price_usd_kg", "missing required key")],
    "event_structural.toml": [(6, "events.new_agency.set.customs.TH.capacity_per_week",
                               "would add TH to customs (the structure is fixed during a run")],
    "event_not_settable.toml": [(6, "events.longer.set.steps", "cannot change during a run (it is read once")],
    "event_bad_value.toml": [(5, "events.crackdown.set.penalties.arrest_prob", "must be <= 1 (got 1.6)")],
    "duplicate_key.toml": [(7, None, "syntax error: Cannot overwrite a value")],
    "unknown_method_in_eff.toml": [(6, "eff.xray.invisible_ink", "unknown concealment method (known: ")],
    "two_origins.toml": [(23, "markets.TH.sb", "missing market", "parts/base.toml"),
                         (4, "countries", "exactly one country must have the role 'origin' (found 2)"),
                         (5, "countries.TH.roles", "the origin cannot also be a transit, destination or supplier")],
    "control_from_step_and_date.toml": [(4, "controls.ban", "give from_step or from_date, not both")],
    "many_mistakes.toml": [(3, "steps", "must be >= 1 (got 0)"),
                           (6, "smugglers.initial", "must be >= 0 (got -5)"),
                           (7, "smugglers.logit", 'expected true or false (got "yes please")'),
                           (10, "routes.direct.leg1_steps", "expected a whole number (got 2.5)"),
                           (13, "controls.ban.destination", "'EU' is not a destination or transit country")],
}


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_catalogue_covers_every_bad_file():
    assert sorted(p.name for p in BAD.glob("*.toml")) == sorted(CATALOGUE)
    assert len(CATALOGUE) >= 18


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_bad_file_gives_one_line_per_problem_with_file_line_and_key(capsys, monkeypatch, name):
    monkeypatch.chdir(HERE.parent)  # paths in messages are relative to the working folder
    path = f"tests/bad/{name}"
    status, out, err = run_cli(capsys, "validate", path)
    assert status == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == len(CATALOGUE[name]), err
    expected = sorted((f"tests/bad/{e[3]}" if len(e) > 3 else path, *e[:3]) for e in CATALOGUE[name])
    for line, (file, lineno, key, text) in zip(lines, expected):  # messages come sorted by file and line
        m = LINE.match(line)
        assert m, f"not FILE:LINE: key: message -> {line!r}"
        assert m["file"] == file
        assert int(m["line"]) == lineno, line
        if key is None:
            assert m["col"] and m["key"] == "syntax error"
        else:
            assert m["col"] is None and m["key"] == key
        assert text in line


def test_validate_from_a_shell_exits_2_without_traceback():
    files = [f"tests/bad/{n}" for n in sorted(CATALOGUE)]
    r = subprocess.run([sys.executable, "-m", "sim", "validate", "tests/data/base.toml", *files],
                       cwd=HERE.parent, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stdout == "tests/data/base.toml: ok\n"
    assert len(r.stderr.splitlines()) == sum(len(v) for v in CATALOGUE.values())


def test_validate_good_files(capsys):
    status, out, err = run_cli(capsys, "validate", str(DATA / "base.toml"), str(DATA / "child.toml"))
    assert status == 0 and err == ""
    assert out.splitlines() == [f"{DATA / 'base.toml'}: ok", f"{DATA / 'child.toml'}: ok"]


def test_show_prints_merged_values_from_both_files(capsys, tmp_path):
    status, out, err = run_cli(capsys, "show", str(DATA / "child.toml"), "--set", "penalties.arrest_prob=0.45")
    assert status == 0 and err == ""
    assert re.search(r'^name = "test_child"$', out, re.M)                                # child
    assert re.search(r'^description = "Test fixture: CN bans antimony', out, re.M)       # base
    us = out.split("[markets.US.sb]\n")[1].split("\n\n")[0]
    assert "ref_price_usd_kg = 12.0" in us and "gray_share = 0.4" in us                  # base + child
    assert "arrest_prob = 0.45" in out.split("[penalties]\n")[1]                         # --set
    (tmp_path / "shown.toml").write_text(out)
    assert run_cli(capsys, "validate", str(tmp_path / "shown.toml"))[0] == 0


def test_show_with_a_bad_override(capsys):
    status, out, err = run_cli(capsys, "show", str(DATA / "base.toml"), "--set", "customs.CN.capacity_per_week=-1")
    assert status == 2 and out == ""
    assert err == "--set: customs.CN.capacity_per_week: must be >= 0 (got -1)\n"


@pytest.mark.parametrize("command", ["validate", "show", "list", "run"])
def test_every_command_has_help_with_an_example(capsys, command):
    status, out, _ = run_cli(capsys, command, "--help")
    assert status == 0 and "example:\n  sim " + command in out


def test_usage_errors_exit_2(capsys):
    assert run_cli(capsys, "run")[0] == 2                         # missing FILE
    assert run_cli(capsys, "run", "x.toml", "--format", "gif")[0] == 2
    assert run_cli(capsys, "frobnicate")[0] == 2
    status, _, err = run_cli(capsys)
    assert status == 2 and "validate" in err


def test_list_shows_names_and_descriptions(capsys):
    status, out, _ = run_cli(capsys, "list", "--dir", str(DATA))
    lines = out.splitlines()
    assert status == 0 and lines[0].split() == ["name", "file", "description"]
    assert re.match(r"test_base +base\.toml +Test fixture: CN bans antimony", lines[1])


# ---------------------------------------------------------------- sim run ------------
@pytest.fixture
def fake_runner(monkeypatch):
    """A fast fake model behind sim.experiments.run_replicates; charts off."""
    import sim.experiments
    import sim.plots
    calls = []

    def iter_replicates(scenario, replicates, workers=None, scheduler=None, progress=True, **options):
        calls.extend((scenario.seed, scenario.steps, r) for r in replicates)
        return ((r, fake_result(scenario, r)) for r in replicates)
    monkeypatch.setattr(sim.experiments, "iter_replicates", iter_replicates)
    monkeypatch.setattr(sim.plots, "write_run_charts", lambda run_dir, fmt: None)
    return calls


def only_run(out_root: Path) -> Path:
    runs = list((out_root / "test_base").iterdir())
    assert len(runs) == 1
    return runs[0]


def test_run_writes_results_and_prints_the_summary(capsys, tmp_path, fake_runner):
    status, out, err = run_cli(capsys, "run", str(DATA / "base.toml"), "--replicates", "3", "--seed", "5",
                               "--steps", "20", "--out", str(tmp_path), "--set", "penalties.arrest_prob=0.5")
    assert status == 0, err
    assert fake_runner == [(5, 20, 0), (5, 20, 1), (5, 20, 2)]
    run = only_run(tmp_path)
    m = json.loads((run / "manifest.json").read_text())
    assert (m["master_seed"], m["steps"], m["replicates"]) == (5, 20, 3)
    assert m["scenario"]["penalties"]["arrest_prob"] == 0.5
    assert m["command_line"][:2] == ["sim", "run"] and "--seed" in m["command_line"]
    assert re.search(r"^illicit_delivered_t +t +3,100 ", out, re.M)
    assert f"results: {run}" in out.splitlines()


def test_run_passes_workers_and_progress(capsys, tmp_path, monkeypatch, fake_runner):
    import sim.experiments
    seen = {}

    def iter_replicates(scenario, replicates, workers=None, progress=False, **options):
        seen.update(replicates=len(replicates), workers=workers, progress=progress)
        return ((r, fake_result(scenario, r)) for r in replicates)
    monkeypatch.setattr(sim.experiments, "iter_replicates", iter_replicates)
    assert run_cli(capsys, "run", str(DATA / "base.toml"), "--replicates", "2", "--workers", "4",
                   "--out", str(tmp_path))[0] == 0
    assert seen == {"replicates": 2, "workers": 4, "progress": True}


def test_run_draws_charts_inside_the_atomic_write(capsys, tmp_path, monkeypatch, fake_runner):
    def write_run_charts(run_dir, fmt):
        assert run_dir.name.endswith(".partial")
        (run_dir / "charts").mkdir()
        (run_dir / "charts" / f"prices.{fmt}").write_text("chart")
    monkeypatch.setattr("sim.plots.write_run_charts", write_run_charts)
    assert run_cli(capsys, "run", str(DATA / "base.toml"), "--out", str(tmp_path), "--format", "svg")[0] == 0
    assert (only_run(tmp_path) / "charts" / "prices.svg").read_text() == "chart"


def test_a_failing_chart_keeps_the_results_and_exits_1(capsys, tmp_path, monkeypatch, fake_runner):
    def write_run_charts(run_dir, fmt):
        (run_dir / "charts").mkdir()
        (run_dir / "charts" / "prices.png").write_text("chart")
        raise ValueError("no data to plot")
    monkeypatch.setattr("sim.plots.write_run_charts", write_run_charts)
    status, out, err = run_cli(capsys, "run", str(DATA / "base.toml"), "--out", str(tmp_path))
    run = only_run(tmp_path)
    assert status == 1 and "illicit_delivered_t" in out
    assert err.strip().splitlines()[-1] == (f"charts incomplete (1 drawn): ValueError: no data to plot; the "
                                            f"results are complete, redraw the charts with: sim plot {run}")
    assert (run / "kpis.csv").is_file()


@pytest.mark.parametrize("where", ["replicates", "charts"])
def test_ctrl_c_writes_nothing_and_exits_130(capsys, tmp_path, monkeypatch, fake_runner, where):
    def interrupt(*a, **k):
        raise KeyboardInterrupt
    target = "sim.experiments.iter_replicates" if where == "replicates" else "sim.plots.write_run_charts"
    monkeypatch.setattr(target, interrupt)
    status, out, err = run_cli(capsys, "run", str(DATA / "base.toml"), "--out", str(tmp_path))
    assert status == 130 and err.splitlines()[-1] == "interrupted; no results written"
    assert not (tmp_path / "test_base").exists() or list((tmp_path / "test_base").iterdir()) == []


def test_run_with_bad_options_names_the_option(capsys, tmp_path, fake_runner):
    status, _, err = run_cli(capsys, "run", str(DATA / "base.toml"), "--steps", "0", "--out", str(tmp_path))
    assert status == 2 and err == "--steps: must be >= 1 (got 0)\n"
    assert fake_runner == [] and not (tmp_path / "test_base").exists()
    # a shorter horizon is allowed: what it cuts off is named, with the option that cut it
    status, _, err = run_cli(capsys, "run", str(DATA / "base.toml"), "--steps", "10", "--out", str(tmp_path))
    assert status == 0
    assert "--steps 10: the run ends on 2024-03-04; after it, so not applied: event crackdown (2024-05-06)" in err
    # the same said by sim validate when the file's own horizon ends before an event
    (tmp_path / "base.toml").write_text((DATA / "base.toml").read_text())
    short = tmp_path / "short.toml"
    short.write_text('extends = "base.toml"\nsteps = 10\n')
    status, out, err = run_cli(capsys, "validate", str(short))
    assert status == 0 and out == f"{short}: ok\n"
    assert err == (f"{short}: note: test_base: the run ends on 2024-03-04; after it, so not applied: "
                   "event crackdown (2024-05-06)\n")


# ---------------------------------------------------------------- extra commands -----
def test_extra_commands_register_lazily(capsys, tmp_path, monkeypatch):
    (tmp_path / "hello_cmd.py").write_text(
        "import argparse\n"
        "def register(sub):\n"
        "    p = sub.add_parser('hello', help='say hello', epilog='example:\\n  sim hello --name Ann',\n"
        "                       formatter_class=argparse.RawDescriptionHelpFormatter)\n"
        "    p.add_argument('--name', required=True)\n"
        "    p.set_defaults(func=lambda a: print('hello', a.name) or 0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "hello_cmd", raising=False)
    monkeypatch.setattr(cli, "EXTRA_COMMANDS", [("hello", "hello_cmd", "say hello"),
                                                ("gone", "no_such_module_xyz", "not installed")])
    status, out, _ = run_cli(capsys, "--help")
    assert status == 0 and "hello" in out and "say hello" in out
    assert "hello_cmd" not in sys.modules                      # listed without importing it
    assert run_cli(capsys, "hello", "--name", "Ann") == (0, "hello Ann\n", "")
    assert run_cli(capsys, "hello")[0] == 2                    # its own usage error
    status, _, err = run_cli(capsys, "gone")
    assert status == 2 and "sim gone: not available" in err


def test_an_unwritable_results_folder_is_one_line(capsys, tmp_path, fake_runner):
    (tmp_path / "file").write_text("not a folder")
    status, _, err = run_cli(capsys, "run", str(DATA / "base.toml"), "--out", str(tmp_path / "file"))
    assert status == 2 and len(err.strip().splitlines()[-1:]) == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("sim run: ")
