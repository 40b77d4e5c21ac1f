"""`sim optimize` on the command line: bad input, Ctrl-C and --resume, and a shipped episode (slow)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import default_scenario_dir, main
from sim.scenario import list_scenarios, load_scenario
from tests.policy_worlds import lever_world, write

ROOT = Path(__file__).resolve().parent.parent
SEARCH = ["--lever", "customs.CN.capacity_per_week=0:3000:int", "--lever", "exporters.trace_prob=0:0.5:0.05",
          "--lever", "penalties.fine_multiple=0:5:0.25", "--objective", "enforcement_cost_usd:min",
          "--objective", "illicit_delivered_t:min", "--constraint", "illicit_delivered_t<=0.9x",
          "--population", "6", "--replicates", "2", "--no-plots"]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("extra, message", [
    (["--lever", "penalties.arrest_prob=0:2", "--objective", "illicit_delivered_t"],
     "--lever: penalties.arrest_prob: must be <= 1 (got 2)"),
    (["--lever", "penalties.fine_multiple=0:2", "--objective", "ilicit_delivered_t"],
     "--objective: 'ilicit_delivered_t' is neither a KPI nor a lever (did you mean 'illicit_delivered_t'?)"),
    (["--lever", "penalties.fine_multiple=0:2", "--objective", "illicit_delivered_t", "--constraint", "x<3"],
     "--constraint 'x<3': expected KPI<=VALUE or KPI>=VALUE"),
    (["--lever", "penalties.fine_multiple=0:2", "--objective", "illicit_delivered_t", "--resume"],
     "--resume: {study} holds no study (study.db missing)"),
    (["--lever", "penalties.fine_multiple=0:2", "--objective", "illicit_delivered_t", "--budget", "0"],
     "--budget: must be >= 1 (got 0)"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, extra, message):
    path = write(lever_world(), tmp_path)
    status, _, err = run_cli(capsys, "optimize", str(path), "--study", str(tmp_path / "s"), *extra)
    assert status == 2
    message = message.replace("{study}", str(tmp_path / "s"))
    assert err.strip().startswith(message) and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def _complete(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0


def test_ctrl_c_then_resume_ends_with_the_same_frontier(capsys, tmp_path, monkeypatch):
    """A real Ctrl-C (SIGINT to a `sim optimize` process) leaves a study that
    --resume finishes with exactly the mixes, numbers and frontier of an uninterrupted search."""
    monkeypatch.chdir(tmp_path)
    path = write(lever_world(), tmp_path).name
    common = ["optimize", path, *SEARCH, "--budget", "18", "--seed", "3"]
    assert run_cli(capsys, *common, "--study", "whole", "--workers", "1")[0] == 0

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "sim", *common, "--study", "cut", "--workers", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 240
        while _complete(tmp_path / "cut" / "study.db") < 7 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    again = err.strip().splitlines()[-1].strip()
    assert again.startswith("sim optimize") and "--study cut" in again and again.endswith(" --resume"), err
    assert 7 <= _complete(tmp_path / "cut" / "study.db") < 18
    assert not (tmp_path / "cut" / "frontier.csv").exists()

    status, out, err = run_cli(capsys, *shlex.split(again)[1:])
    assert status == 0, err
    for name in ("frontier.csv", "cheapest.csv"):
        a, b = pd.read_csv(tmp_path / "whole" / name), pd.read_csv(tmp_path / "cut" / name)
        pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "whole" / "candidates.parquet"),
                                  pd.read_parquet(tmp_path / "cut" / "candidates.parquet"))
    assert "Cheapest mix meeting illicit_delivered_t<=0.9x" in out


# ---------------------------------------------------------------- a shipped episode --
def _episode() -> Path:
    """The crackdown episode from the scenario folder (else the scenario with most events)."""
    rows = list_scenarios(default_scenario_dir())
    named = [p for name, p, _ in rows if name.startswith("crackdown")]
    if named:
        return named[0]
    return max((p for _, p, _ in rows), key=lambda p: len(load_scenario(p).events))


def _lever(scenario, key: str) -> str:
    """The key, or the setting of the last event that sets it (a lever the event would override)."""
    events = sorted(scenario.events.items(), key=lambda e: scenario.event_step(e[1]))
    setters = [eid for eid, ev in events if key in ev.set]
    return f'events.{setters[-1]}.set."{key}"' if setters else key


@pytest.mark.slow
def test_shipped_episode_search_gives_ten_non_dominated_mixes_each_reproduced_by_sim_run(capsys, tmp_path):
    path = _episode()
    s = load_scenario(path)
    origin = next(c for c, v in s.countries.items() if "origin" in v.roles)
    hubs = [c for c, v in s.countries.items() if "transit" in v.roles and c in s.customs][:2]
    levers = [f"{_lever(s, f'customs.{origin}.capacity_per_week')}=1000:9000:int",
              *(f"{_lever(s, f'customs.{h}.capacity_per_week')}=0:1500:int" for h in hubs),
              f"{_lever(s, 'exporters.trace_prob')}=0:0.3:0.01",
              f"{_lever(s, 'penalties.fine_multiple')}=0:6:0.25"]
    argv = ["optimize", str(path), *[a for lv in levers for a in ("--lever", lv)],
            "--objective", "enforcement_cost_usd:min", "--objective", "illicit_delivered_t:min",
            "--constraint", "illicit_delivered_t<=0.9x",
            "--budget", "200", "--replicates", "4", "--seed", "1", "--study", str(tmp_path / "study")]
    status, out, err = run_cli(capsys, *argv)
    assert status == 0, err
    front = pd.read_parquet(tmp_path / "study" / "frontier.parquet")
    assert len(levers) >= 3 and len(front) >= 10, out
    for _, r in front.iterrows():
        run = shlex.split(r["command"])[1:] + ["--out", str(tmp_path / "runs"), "--no-plots"]
        status, out, err = run_cli(capsys, *run)
        assert status == 0, err
        run_dir = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("results: "))
        summary = json.loads(Path(run_dir, "kpis.json").read_text())["summary"]  # exact floats
        for k in ("enforcement_cost_usd", "illicit_delivered_t", "price_peak_index"):
            assert summary[k]["mean"] == r[k], (r["command"], k)
        for k in ("enforcement_cost_usd", "illicit_delivered_t"):
            assert (summary[k]["p05"], summary[k]["p95"]) == (r[f"{k}_p05"], r[f"{k}_p95"])


def test_posterior_option_runs_the_same_draws_in_every_mix_and_sim_run_reproduces_them(capsys, tmp_path,
                                                                                         monkeypatch):
    """--posterior: replicate r of every mix runs the ensemble's parameter set for (seed, r), as
    `sim run --posterior` does; robust choices are named; each row's command reproduces it."""
    from sim.experiments.posterior import load_posterior

    monkeypatch.chdir(tmp_path)
    path = write(lever_world(), tmp_path).name
    pd.DataFrame({"smugglers.capacity_t": [2.0, 5.0, 8.0], "markets.US.sb.gray_share": [0.3, 0.5, 0.7],
                  "weight": [0.2, 0.5, 0.3]}).to_parquet(tmp_path / "post.parquet")
    status, out, err = run_cli(capsys, "optimize", path, *SEARCH, "--replicates", "4", "--budget", "6",
                               "--seed", "3", "--posterior", "post.parquet", "--study", "s", "--workers", "1")
    assert status == 0, err
    import optuna

    study = optuna.load_study(study_name="policy", storage=f"sqlite:///{tmp_path / 's' / 'study.db'}")
    post = load_posterior("post.parquet")
    assert len({post.draw(3, r) for r in range(4)}) > 1  # the replicates really run different draws
    robust = pd.read_csv(tmp_path / "s" / "robust.csv")
    assert robust["choice"].str.contains("best worst decile of illicit_delivered_t").sum() == 1
    assert "Robust choice (best worst decile of illicit_delivered_t, over the posterior draws)" in out
    front = pd.read_csv(tmp_path / "s" / "frontier.csv")
    r = front.iloc[0]
    assert r["command"].endswith("--posterior post.parquet")
    status, run_out, err = run_cli(capsys, *shlex.split(r["command"])[1:], "--out", "runs", "--no-plots",
                                   "--workers", "1")
    assert status == 0, err
    run_dir = next(line.split(": ", 1)[1] for line in run_out.splitlines() if line.startswith("results: "))
    per = pd.read_csv(f"{run_dir}/kpis.csv")
    per = per[pd.to_numeric(per["replicate"], errors="coerce").notna()]
    assert per["illicit_delivered_t"].tolist() == study.trials[int(r["trial"])].user_attrs["kpis"]["illicit_delivered_t"]
