"""sim dashboard without a browser: levers, overrides and their messages, save as scenario, the
background job (progress, cancel, reproducibility), the page logic, bounds, the command line
and a server that survives malformed requests. The browser tests are in test_dashboard_browser.py."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main
from sim.dashboard import levers as lv
from sim.dashboard.cli import is_local, resolve_scenario
from sim.dashboard.jobs import Job, Request, posterior_beside, posterior_kwargs
from sim.experiments import compare
from sim.experiments.compare import common_seed_scenarios
from sim.scenario import ScenarioError, dump_toml, list_scenarios, load_scenario
from sim.scenario.schema import Exporters
from tests.fake_model import fake_run, tiny_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
SHIPPED = [p for name, p, _ in list_scenarios(SCENARIOS) if name != "template"]


def policy_scenario() -> Path:
    """A shipped scenario with an export control (taken from the folder, not by name)."""
    return next(p for p in SHIPPED if load_scenario(p).controls)


@pytest.fixture
def tiny(tmp_path) -> Path:
    """A scenario file the fake model can run (tests/fake_model.py)."""
    p = tmp_path / "tiny.toml"
    p.write_text(dump_toml(tiny_scenario(replicates=4)), encoding="utf-8")
    return p


# ---------------------------------------------------------------- levers -------------
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_lever_of_every_shipped_scenario_is_a_settable_key(path):
    base = load_scenario(path)
    found = lv.discover(base)
    assert found, f"{path.name}: no levers"
    keys = [x.key for x in found]
    assert len(keys) == len(set(keys))
    for x in found:  # a new valid value for a lever reaches the scenario at that key, and only there
        new = another_value(x, base)
        _, changed = lv.load_pair(path, {x.key: new})
        a, b = base.model_dump(mode="python"), changed.model_dump(mode="python")
        for p in x.path[:-1]:
            a, b = a[p], b[p]
        assert b.pop(x.path[-1]) == x.normalise(new)
        a.pop(x.path[-1], None)
        assert a == b


def another_value(x: lv.Lever, base):
    """A valid value for the lever that differs from the base's."""
    if x.kind == "choice":
        return next(o for o in x.options if o != x.value)
    if x.kind == "choices":
        return [o for o in x.options if o not in x.value][:1]
    if x.kind == "date":
        return base.start_date + dt.timedelta(days=7 * (3 if x.value != base.start_date + dt.timedelta(days=21) else 4))
    if x.kind == "integer":
        return x.value + 1
    return 123.0 if x.kind == "cap" else (0.5 if x.value != 0.5 else 0.25)


def test_levers_follow_the_schema_and_the_scenario():
    path = policy_scenario()
    base = load_scenario(path)
    keys = {x.key for x in lv.discover(base)}
    for cid in base.controls:
        assert {f"controls.{cid}.regime", f"controls.{cid}.approval_rate", f"controls.{cid}.delay_steps"} <= keys
    for c in base.customs:
        assert {f"customs.{c}.capacity_per_week", f"customs.{c}.technologies"} <= keys
    for c in base.ids("transit"):
        assert f"countries.{c}.cooperation" in keys
    assert {"penalties.fine_multiple", "penalties.arrest_prob", "penalties.sentence_years"} <= keys
    # model v2 levers appear exactly when the schema has them
    for name in ("trace_prob", "penalty_multiple"):
        assert (f"exporters.{name}" in keys) == (name in Exporters.model_fields)
    crack = next(p for p in SHIPPED if load_scenario(p).events)
    assert any(k.startswith("events.") for k in (x.key for x in lv.discover(load_scenario(crack))))


def test_bad_lever_values_get_the_scenario_file_messages():
    path = policy_scenario()
    cid = next(iter(load_scenario(path).controls))
    with pytest.raises(ScenarioError) as e:
        lv.load_pair(path, {"penalties.arrest_prob": 1.5, f"controls.{cid}.delay_steps": 2.5,
                            "customs.CN.capacity_per_week": -5.0})
    assert set(e.value.messages) == {
        "dashboard: penalties.arrest_prob: must be <= 1 (got 1.5)",
        f"dashboard: controls.{cid}.delay_steps: expected a whole number (got 2.5)",
        "dashboard: customs.CN.capacity_per_week: must be >= 0 (got -5)"}
    # the same words as `sim show --set`, only the label differs
    with pytest.raises(ScenarioError) as cli:
        load_scenario(path, ["penalties.arrest_prob=1.5"])
    assert cli.value.messages == ["--set: penalties.arrest_prob: must be <= 1 (got 1.5)"]
    with pytest.raises(ScenarioError, match="penalties.fine_multiple: expected a value"):
        lv.as_overrides({"penalties.fine_multiple": None})


def test_widget_values_become_changes_in_the_scenario_s_form():
    base = load_scenario(policy_scenario())
    levers = {x.key: x for x in lv.discover(base)}
    cap = next(k for k in levers if ".import_cap_t_per_year." in k)
    techs = levers["customs.CN.technologies"]
    values = {"penalties.fine_multiple": 1,                      # same as the base (1.0): no change
              "customs.CN.capacity_per_week": 900,               # int from a widget -> float
              "customs.CN.technologies": list(reversed(techs.value)) + ["ai_image"],
              cap: None}                                         # an empty cap stays "no cap"
    ch = lv.changes(levers.values(), values)
    assert ch == {"customs.CN.capacity_per_week": 900.0,
                  "customs.CN.technologies": [t for t in techs.options if t in techs.value + ["ai_image"]]}
    assert lv.changes(levers.values(), {cap: 600}) == {cap: 600.0}
    assert lv.run_settings(base, base.replicates, None) == {}
    assert lv.run_settings(base, 3, 20) == {"replicates": 3, "steps": 20}


# ---------------------------------------------------------------- save as ------------
def test_save_as_scenario_extends_the_base_with_only_the_changed_keys(tmp_path, capsys):
    folder = tmp_path / "scenarios"
    shutil.copytree(SCENARIOS, folder)
    path = folder / policy_scenario().name
    changes = {"penalties.fine_multiple": 20.0, "customs.CN.technologies": ["xray", "ai_image"],
               "countries.TH.import_cap_t_per_year.sb2o3": 600.0, "replicates": 2, "steps": 20}
    _, expected = lv.load_pair(path, changes)
    out = lv.save_scenario(path, "my_variant", changes, expected=expected)
    assert out == folder / "my_variant.toml"
    text = out.read_text()
    assert f'extends = "{path.name}"' in text and 'name = "my_variant"' in text
    keys = [ln.split(" = ")[0] for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert keys == ["extends", "name", "description", "replicates", "steps", "penalties.fine_multiple",
                    "customs.CN.technologies", "countries.TH.import_cap_t_per_year.sb2o3"]
    assert "# was 1.0" in text
    assert main(["validate", str(out)]) == 0
    saved = load_scenario(out)
    assert lv._comparable(saved) == lv._comparable(expected)
    with pytest.raises(ScenarioError, match="exists already"):
        lv.save_scenario(path, "my_variant", changes)
    for bad in ("../escape", "", "a b"):
        with pytest.raises(ScenarioError, match="not a plain name"):
            lv.save_scenario(path, bad, changes)
    assert sorted(p.name for p in folder.glob("my_variant*")) == ["my_variant.toml"]  # nothing else left


# ---------------------------------------------------------------- the job ------------
class SlowFake:
    """fake_run, `delay` seconds per replicate (module level: the job runs it in-process)."""

    def __init__(self, delay: float):
        self.delay = delay

    def __call__(self, scenario, replicate, steps=None):
        time.sleep(self.delay)
        return fake_run(scenario, replicate, steps)


def test_job_is_sim_compare_on_common_random_numbers(tiny, tmp_path):
    changes = {"penalties.arrest_prob": 0.6, "replicates": 3}
    job = Job(Request(tiny, changes, 3), tmp_path / "work", run_fn=fake_run).start()
    assert job.wait(60) and job.state == "done", job.messages
    o = job.result
    base, changed = lv.load_pair(tiny, changes)
    table, _ = compare(common_seed_scenarios([base, changed]), 3, workers=1, run_fn=fake_run, progress=False)
    pd.testing.assert_frame_equal(o.table, table)
    d = o.table.set_index(["scenario", "kpi"])
    assert d.loc[(o.changed.name, "y"), "diff_mean"] == pytest.approx(2 * (0.6 - 0.3))  # y = 2 x arrest_prob
    assert job.progress == 1.0 and job.done == job.total == 6
    assert (o.compare_dir / "comparison.csv").is_file() and all(p.is_dir() for p in o.run_dirs.values())
    assert "--set" in o.request.argv() and "penalties.arrest_prob=0.6" in o.request.argv()


def test_a_job_stops_within_one_replicate_when_cancelled(tiny, tmp_path):
    job = Job(Request(tiny, {}, 200), tmp_path / "work", run_fn=SlowFake(0.02)).start()
    deadline = time.monotonic() + 30
    while job.done < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    job.cancel()
    assert job.wait(5) and job.state == "cancelled"
    assert 5 <= job.done < job.total == 400 and job.result is None
    assert not any((tmp_path / "work").glob("*/*")) if (tmp_path / "work").exists() else True


def test_a_failed_job_reports_one_line_per_problem(tiny, tmp_path):
    job = Job(Request(tiny, {"penalties.arrest_prob": 2.0}, 2), tmp_path, run_fn=fake_run).start()
    assert job.wait(30) and job.state == "failed"
    assert job.messages == ["dashboard: penalties.arrest_prob: must be <= 1 (got 2)"]


def test_posterior_hook(tmp_path, tiny):
    assert posterior_beside(tiny) is None and posterior_kwargs(None) == {}
    f = tmp_path / "tiny.posterior.parquet"
    f.write_bytes(b"")
    assert posterior_beside(tiny) == f
    if "posterior" in compare.__code__.co_varnames:
        assert posterior_kwargs(f) == {"posterior": f}
    else:  # until the calibration feature lands: a clear message, not a silent run without it
        with pytest.raises(ScenarioError, match="cannot draw from a posterior ensemble yet"):
            posterior_kwargs(f)


# ---------------------------------------------------------------- the page logic -----
def test_a_new_run_cancels_the_old_one_and_the_page_shows_the_new(tiny, tmp_path):
    pytest.importorskip("panel")
    from sim.dashboard.app import Config, Dashboard

    cfg = Config(scenario=tiny, folder=tiny.parent, workdir=tmp_path / "work", run_fn=SlowFake(0.02))
    d = Dashboard(cfg)
    d.replicates.value = 200
    d.on_run()
    first = d.job
    while first.done < 3:
        time.sleep(0.01)
    lever = d.widgets["penalties.arrest_prob"][1]
    lever.value = 0.9                       # the page answers while the first run goes on
    assert "penalties.arrest_prob" in d.summary.object and not d.problems.visible
    d.replicates.value = 2
    d.on_run()
    assert first.wait(5) and first.state == "cancelled"
    assert "the previous run was cancelled" in d.status.object
    assert d.job.wait(30) and d.job.state == "done"
    d.poll()
    rows = d.table.object
    assert 'data-kpi="y"' in rows and "0.9" not in d.problems.object
    assert d.job.result.request.changes["penalties.arrest_prob"] == 0.9 and d.job.result.request.replicates == 2
    lever.value = 1.5                       # an invalid value: the scenario file's message, Run disabled
    assert d.problems.visible and "dashboard: penalties.arrest_prob: must be &lt;= 1 (got 1.5)" in d.problems.object
    assert d.run.disabled
    d.close()
    assert not (cfg.workdir / d.workdir.name).exists()


# ---------------------------------------------------------------- views --------------
def synthetic_run(price_at_cap_steps: int, v2: bool):
    """A Run whose US price sits at its cap for some steps (and v2 metrics when asked)."""
    from sim.plots.io import Run

    rows = []
    for rep in range(2):
        for step in range(10):
            d = pd.Timestamp("2025-01-06") + pd.Timedelta(weeks=step)
            rows.append((rep, step, d, "price_index", "US", "sb", 6.0 if step < price_at_cap_steps else 2.0))
            rows.append((rep, step, d, "entries", "", "", 30.0))
            if v2:
                rows.append((rep, step, d, "refused_t", "", "sb", 5.0))
                rows.append((rep, step, d, "unmet_demand_t", "US", "sb", 1.0))
    ts = pd.DataFrame(rows, columns=["replicate", "step", "date", "metric", "market", "commodity", "value"])
    for k in ("route", "checkpoint", "method"):
        ts[k] = ""
    scenario = {"name": "s", "countries": {"US": {"name": "United States", "roles": ["destination"]}},
                "commodities": {"sb": {"name": "Antimony"}},
                "markets": {"US": {"sb": {"price_cap": 6.0, "price_floor": 0.1}}}, "smugglers": {"pool": 300}}
    return Run(Path("x"), {"scenario": scenario, "replicates": 2}, ts, pd.DataFrame(), {})


def test_bounds_name_the_bound_and_the_scenario():
    from sim.dashboard.views import bounds

    found = bounds({"base": synthetic_run(0, False), "changed": synthetic_run(4, True)})
    text = " ".join(found)
    assert "Price cap" in text and "for 4 weeks (median), in 2 of 2 replicates" in text and "('changed')" in text
    assert "hubs' import caps turned back 50.0 t" in text and "('changed')" in text
    assert "10.0 t of demand went to substitutes" in text
    assert "all 300 potential entrants entered in 2 of 2 replicates" in text and "(both scenarios)" in text
    assert bounds({"base": synthetic_run(0, False)}) == [
        "<b>Smuggler pool</b>: all 300 potential entrants entered in 2 of 2 replicates: the pool size limits "
        "smuggling ('base')."]


def test_kpi_rows_verdicts_and_the_answer_in_words(tiny, tmp_path):
    from sim.dashboard import views

    job = Job(Request(tiny, {"customs.CN.capacity_per_week": 400.0, "replicates": 4}, 4), tmp_path,
              run_fn=fake_run).start()
    assert job.wait(60) and job.state == "done"
    o = job.result
    rows = {r.kpi: r for r in views.kpi_rows(o)}
    r = rows["illicit_delivered_t"]  # fake model: deliveries ~ 100 / (100 + capacity): they fall
    assert r.direction == "down" and r.verdict == "better" and r.better_in == 4 and r.count == "in 4 of 4 replicates"
    assert rows["smugglers_initial"].direction == "same"
    html = views.kpi_table_html(list(rows.values()), o.names)
    assert 'data-kpi="illicit_delivered_t"' in html and f'data-diff="{float(r.diff[0])!r}"' in html
    answer = views.answer_html(o, list(rows.values()))
    assert "<b>Illicit deliveries to United States</b>" not in answer or "US" in answer
    assert f"{r.fmt(r.base[0])} → {r.fmt(r.changed[0])} t" in answer and "better in 4 of 4 replicates" in answer
    assert "master seed 11" in answer


# ---------------------------------------------------------------- command line -------
def test_binds_to_this_machine_unless_told(capsys):
    assert is_local("127.0.0.1") and is_local("::1") and is_local("127.0.0.2") and is_local("localhost")
    assert not is_local("0.0.0.0") and not is_local("192.0.2.1") and not is_local("::")
    assert main(["dashboard", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sim dashboard: --host 0.0.0.0") and "--allow-remote" in err and "Traceback" not in err


def test_bad_arguments_are_one_line_exit_2(capsys, tiny):
    assert main(["dashboard", "no_such_scenario"]) == 2
    assert "no_such_scenario: no such scenario file" in capsys.readouterr().err
    assert main(["dashboard", str(tiny), "--steps", "0"]) == 2
    assert capsys.readouterr().err == "--steps: must be >= 1 (got 0)\n"
    assert main(["dashboard", str(tiny), "--port", "70000"]) == 2
    assert resolve_scenario(None, SCENARIOS) == SHIPPED[0]
    assert resolve_scenario(SHIPPED[0].stem, SCENARIOS) == SCENARIOS / SHIPPED[0].name


def test_without_the_extra_the_command_says_how_to_install(tiny):
    code = "import sys; sys.modules['panel'] = None; from sim.cli import main; sys.exit(main(sys.argv[1:]))"
    r = subprocess.run([sys.executable, "-c", code, "dashboard", str(tiny)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "needs the dashboard extra" in r.stderr and "pip install -e '.[dashboard]'" in r.stderr


def test_the_rest_of_sim_never_imports_the_dashboard():
    code = ("import sys; from sim.cli import main; "
            "assert main(['validate', sys.argv[1]]) == 0; "
            "assert main(['--help']) == 0\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('panel', 'bokeh') or m.startswith('sim.dashboard')]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code, str(SHIPPED[0])], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "dashboard" in r.stdout  # listed in `sim --help`


# ---------------------------------------------------------------- the server ---------
def start_server(tmp_path, *args) -> tuple[subprocess.Popen, str, int]:
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "sim", "dashboard", *args, "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    line = proc.stdout.readline()
    assert line.startswith("sim dashboard: ") and " at http://127.0.0.1:" in line, (line, proc.stderr.read())
    url = line.split(" at ")[1].split()[0]
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    return proc, url, port


def http(port: int, raw: bytes, timeout: float = 20) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def stop(proc: subprocess.Popen) -> int:
    proc.terminate()
    try:
        return proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_malformed_requests_never_stop_the_server(tmp_path):
    proc, url, port = start_server(tmp_path, str(SHIPPED[0]))
    try:
        page = http(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", timeout=60)
        assert page.startswith(b"HTTP/1.1 200") and b"bokeh" in page.lower()
        junk = [b"\x00\xff garbage \r\n\r\n", b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n",
                b"BREW /coffee HTCPCP/1.0\r\n\r\n", b"GET /../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nabc",
                b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                b"Origin: http://evil.example\r\n\r\n",
                b"GET /ws?bokeh-session-id=%ZZ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\nOrigin: " + url.rstrip("/").encode() + b"\r\n\r\n"]
        answers = [http(port, j, timeout=1) for j in junk]
        assert b"etc/passwd" not in b"".join(answers) and b"root:" not in b"".join(answers)
        assert answers[5].startswith(b"HTTP/1.1 403")  # another site's page may not open a session
        again = http(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", timeout=60)
        assert again.startswith(b"HTTP/1.1 200") and proc.poll() is None
    finally:
        status = stop(proc)
    assert status == 0, proc.stderr.read()
    assert not list(tmp_path.glob("sim-dashboard-*")), "the server left its work folder behind"
