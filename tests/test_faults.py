"""Faults, from outside: SIGINT, SIGTERM and SIGKILL of `sim run` and `sim sweep` while
computing and while writing; a full disk (a mocked ENOSPC, and a real 64 KB tmpfs when the
tests run as root).

Each signal test starts `sim` in its own session (tests/fault_driver.py injects a fast fake
model and a pause where needed) and checks afterwards: no process of the run alive within
10 s, no visible half-written folder, hidden partial output gone after the next run, and a
killed sweep resumed to data identical to an uninterrupted sweep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main
from sim.experiments import read_runs, sweep
from sim.scenario import load_scenario
from tests.fake_model import fake_run

ROOT = Path(__file__).resolve().parent.parent
BASE = str(ROOT / "tests" / "data" / "base.toml")
VARY = "penalties.arrest_prob=0.1:0.9:5"


# ---------------------------------------------------------------- helpers ------------
def start(hook: str, args: list[str], mark: Path) -> subprocess.Popen:
    """`sim ARGS` with the fault driver's HOOK, in a new session (its process group = its pid)."""
    mark.mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-c", "import tests.fault_driver as d; d.main()", hook, str(mark), *map(str, args)],
        cwd=ROOT, start_new_session=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def group(pgid: int) -> list[int]:
    """Living (not zombie) processes of process group `pgid`."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        state, _ppid, pg = stat[stat.rindex(")") + 2:].split()[:3]
        if int(pg) == pgid and state != "Z":
            out.append(int(d))
    return out


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"sim ended early ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > end:
            raise AssertionError(f"{path.name} not reached in {timeout} s")
        time.sleep(0.05)


def stop(proc: subprocess.Popen, sig: int) -> tuple[int, str]:
    """Send `sig`; return (exit status, stderr) once every process of the run has gone.

    Fails if any process of the run is still alive 10 s after the signal."""
    os.kill(proc.pid, sig)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=30)
    while group(proc.pid) and time.monotonic() - sent < 10:
        time.sleep(0.1)
    left = group(proc.pid)
    if left:
        for pid in left:  # do not leave them to the other tests
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of the run still alive 10 s after {signal.Signals(sig).name}: {left}"
    return proc.returncode, err


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.is_dir() else []


STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -9}


def cases(fast: set) -> list:
    """(signal, phase) pairs; those not in `fast` are marked slow (each takes 3-12 s: the default
    run keeps one clean stop and SIGKILL of each command, the full set runs with -m slow)."""
    return [pytest.param(sig, phase, id=f"{sig.name}-{phase}",
                         marks=() if (sig.name, phase) in fast else pytest.mark.slow)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL) for phase in ("compute", "write")]


# ---------------------------------------------------------------- sim run ------------
@pytest.mark.parametrize("sig, phase", cases({("SIGTERM", "compute"), ("SIGTERM", "write"),
                                               ("SIGKILL", "compute"), ("SIGKILL", "write")}))
def test_a_signal_to_sim_run_leaves_no_process_and_no_half_written_run(tmp_path, sig, phase):
    out = tmp_path / "out"
    proc = start(phase, ["run", BASE, "--replicates", 40, "--workers", 2, "--out", out], tmp_path / "mark")
    wait_for(tmp_path / "mark" / ("computing" if phase == "compute" else "writing"), proc)
    if phase == "compute":
        time.sleep(0.3)
    status, err = stop(proc, sig)
    assert status == STATUS[sig], err
    runs = out / "test_base"
    assert visible(runs) == []                             # nothing half-written under a run id
    if sig != signal.SIGKILL:
        assert hidden(runs) == [] and "interrupted; no results written" in err and "Traceback" not in err
    # the next run removes what a killed one left, and writes its own folder
    again = start("quick", ["run", BASE, "--replicates", 2, "--workers", 1, "--no-plots", "--out", out],
                  tmp_path / "mark2")
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert len(visible(runs)) == 1 and hidden(runs) == []


def test_sigkill_of_sim_run_with_the_real_model_leaves_no_worker(tmp_path):
    """The real model's workers (numba, Mesa) die with their parent too."""
    scenario = ROOT / "scenarios" / "baseline_2024.toml"     # no events, so --steps 20 is valid
    proc = start("real", ["run", scenario, "--steps", 20, "--replicates", 400, "--workers", 2, "--no-plots",
                          "--out", tmp_path / "out"], tmp_path / "mark")
    end = time.monotonic() + 60
    while len(group(proc.pid)) < 4 and time.monotonic() < end and proc.poll() is None:
        time.sleep(0.1)                                     # main, fork server, tracker, workers
    assert proc.poll() is None and len(group(proc.pid)) >= 4
    time.sleep(1.0)
    status, _ = stop(proc, signal.SIGKILL)
    assert status == -9


# ---------------------------------------------------------------- sim sweep ----------
def uninterrupted(tmp_path: Path) -> pd.DataFrame:
    sc = load_scenario(BASE)
    return sweep(sc, [VARY], "grid", 8, tmp_path / "reference", workers=1, run_fn=fake_run, progress=False)


@pytest.mark.parametrize("sig, phase", cases({("SIGKILL", "compute"), ("SIGTERM", "write")}))
def test_a_signal_to_sim_sweep_then_resume_gives_the_uninterrupted_data(tmp_path, sig, phase):
    out = tmp_path / "sweep"
    args = ["sweep", BASE, "--vary", VARY, "--replicates", 8, "--workers", 2, "--out", out]
    proc = start(phase, args, tmp_path / "mark")
    wait_for(tmp_path / "mark" / ("computing" if phase == "compute" else "writing"), proc)
    if phase == "compute":
        time.sleep(0.5)
    status, err = stop(proc, sig)
    assert status == STATUS[sig], err
    if sig != signal.SIGKILL:
        assert "--resume" in err.splitlines()[-1] and "Traceback" not in err
    assert set(visible(out)) <= {"design.json", "runs", "points.csv", "sweep.json", "charts"}
    for f in (out / "runs").glob("*.parquet"):              # every visible run file is complete
        pd.read_parquet(f)
    again = start("quick", [*args, "--no-plots", "--resume"], tmp_path / "mark2")
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert hidden(out / "runs") == []                        # temporary files of the killed sweep removed
    pd.testing.assert_frame_equal(read_runs(out), uninterrupted(tmp_path))


def test_a_second_sweep_on_a_busy_folder_is_refused_with_the_holder(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["sweep", BASE, "--vary", VARY, "--replicates", 8, "--workers", 1, "--out", out]
    proc = start("compute", args, tmp_path / "mark")
    try:
        wait_for(tmp_path / "mark" / "computing", proc)
        assert main([*map(str, args), "--resume"]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"--out {out} is in use by pid {proc.pid} (a sweep); wait for it to finish "
                       "or choose another --out")
    finally:
        stop(proc, signal.SIGINT)


# ---------------------------------------------------------------- full disk ----------
@pytest.fixture
def no_space(monkeypatch):
    """Every Parquet write fails as on a full disk (pyarrow's own error: errno but no file name)."""
    import pyarrow.parquet as pq

    def full(*a, **k):
        raise OSError(28, "Error writing bytes to file. Detail: [errno 28] No space left on device")
    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    monkeypatch.setattr(pq, "write_table", full)


@pytest.fixture
def fake_model(monkeypatch):
    import sim.experiments.execution as execution

    monkeypatch.setattr(execution, "MODEL", fake_run)


def test_a_full_disk_in_sim_run_names_the_file_prints_the_kpis_and_leaves_nothing(
        tmp_path, capsys, fake_model, no_space):
    status = main(["run", BASE, "--replicates", "3", "--workers", "1", "--no-plots", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert status == 2 and "illicit_delivered_t" in out     # the KPI table is still printed
    run_dirs = tmp_path / "test_base"
    assert err.strip().splitlines()[-1].startswith(f"sim run: No space left on device: {run_dirs}/")
    assert err.strip().endswith("/timeseries.parquet") and "Traceback" not in err
    assert os.listdir(run_dirs) == []


def test_a_full_disk_in_sim_sweep_names_the_file_and_resume_completes(tmp_path, capsys, fake_model, monkeypatch):
    import pyarrow.parquet as pq

    out = tmp_path / "sweep"
    args = ["sweep", BASE, "--vary", VARY, "--replicates", "8", "--workers", "1", "--no-plots", "--out", str(out)]
    real, calls = pq.write_table, []

    def fills_up(*a, **k):
        calls.append(1)
        if len(calls) > 7:
            raise OSError(28, "No space left on device")
        return real(*a, **k)
    monkeypatch.setattr(pq, "write_table", fills_up)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"sim sweep: No space left on device: {out}/runs/p000") and err.endswith(".parquet")
    assert len(list((out / "runs").glob("*.parquet"))) == 7 and hidden(out / "runs") == []
    monkeypatch.setattr(pq, "write_table", real)
    assert main([*args, "--resume"]) == 0
    pd.testing.assert_frame_equal(read_runs(out), uninterrupted(tmp_path))


def test_a_full_disk_while_drawing_charts_is_a_failure_that_keeps_the_results(tmp_path, capsys, fake_model,
                                                                             monkeypatch):
    import sim.plots

    def charts(run_dir, fmt):
        (run_dir / "charts").mkdir()
        (run_dir / "charts" / "prices.png").write_bytes(b"png")
        raise OSError(28, "No space left on device", str(run_dir / "charts" / "routes.png"))
    monkeypatch.setattr(sim.plots, "write_run_charts", charts)
    status = main(["run", BASE, "--replicates", "2", "--workers", "1", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    (run,) = (tmp_path / "test_base").iterdir()
    assert status == 1 and f"results: {run}" in out
    assert err.strip().splitlines()[-1].startswith("charts incomplete (1 drawn): OSError: No space left on device: ")
    assert (run / "kpis.csv").is_file() and (run / "timeseries.parquet").is_file()


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 64 KB tmpfs (needs root and permission to mount; skipped otherwise)."""
    where = tmp_path / "disk"
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_really_full_disk_gives_one_line_naming_a_file_there(tiny_disk, capsys, fake_model):
    status = main(["run", BASE, "--replicates", "400", "--steps", "60", "--workers", "1", "--no-plots",
                   "--out", str(tiny_disk)])
    out, err = capsys.readouterr()
    assert status == 2 and "illicit_delivered_t" in out
    (line,) = err.strip().splitlines()
    assert line.startswith(f"sim run: No space left on device: {tiny_disk}/test_base/")
    assert os.listdir(tiny_disk / "test_base") == []
