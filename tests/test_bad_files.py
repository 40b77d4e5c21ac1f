"""Bad files and bad output locations: one line naming the file (and line where there is
one), exit status 2, no traceback, nothing computed and nothing left behind.

File-level input (what the scenario file is, not what it says): FIFO, devices, folders,
huge and binary files, deep nesting, a UTF-8 BOM. Output: --out on a file, in a folder
that cannot be written, a sweep aimed at a run folder or a folder of other files, requests
too big for the machine. The schema-level catalogue is in tests/test_validation.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main
from sim.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
BASE = DATA / "base.toml"


def one_line(capsys, *argv) -> tuple[int, str]:
    status = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return status, lines[0]


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if anything tries to run the model."""
    import sim.experiments.execution as execution

    def forbidden(*a, **k):
        raise AssertionError("the model ran")
    monkeypatch.setattr(execution, "MODEL", forbidden)


# ---------------------------------------------------------------- what the file is ---
def test_a_fifo_is_refused_at_once_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "scenario.toml"
    os.mkfifo(fifo)
    r = subprocess.run([sys.executable, "-m", "sim", "validate", str(fifo)], capture_output=True, text=True,
                       timeout=60, cwd=ROOT)
    assert r.returncode == 2 and r.stderr == f"{fifo}: is a named pipe (FIFO); give a regular file\n"


@pytest.mark.parametrize("path, what", [("/dev/zero", "is a device; give a regular file"),
                                        ("/dev/null", "is a device; give a regular file")])
def test_devices_are_refused(capsys, path, what):
    assert one_line(capsys, "validate", path) == (2, f"{path}: {what}")


def test_a_folder_is_refused(capsys, tmp_path):
    assert one_line(capsys, "validate", tmp_path) == (2, f"{tmp_path}: is a folder, not a file")


def test_a_missing_file_and_an_unreadable_one(capsys, tmp_path):
    assert one_line(capsys, "validate", tmp_path / "nope.toml") == (
        2, f"{tmp_path / 'nope.toml'}: cannot read file: No such file or directory")
    link = tmp_path / "loop.toml"
    link.symlink_to(link)
    status, line = one_line(capsys, "validate", link)
    assert status == 2 and line == f"{link}: cannot read file: Too many levels of symbolic links"


def test_a_huge_file_is_refused_before_it_is_read(capsys, tmp_path):
    big = tmp_path / "big.toml"
    with open(big, "wb") as f:
        f.truncate(5 << 30)  # 5 GB, sparse: reading it would take minutes and all the memory
    assert one_line(capsys, "validate", big) == (
        2, f"{big}: file is larger than 1024 KB (5,368,709,120 bytes); is it the right file?")


def test_binary_content_names_the_line(capsys, tmp_path):
    f = tmp_path / "bin.toml"
    f.write_bytes(b'name = "x"\nseed = 1\n\x89PNG\xff\x00')
    assert one_line(capsys, "validate", f) == (
        2, f"{f}:3: cannot read file: not UTF-8 text (byte 0x89); save the file as UTF-8")


def test_a_utf8_bom_is_accepted(tmp_path):
    f = tmp_path / "bom.toml"
    f.write_bytes(b"\xef\xbb\xbf" + BASE.read_bytes())
    assert load_scenario(f) == load_scenario(BASE)


@pytest.mark.parametrize("text, where", [
    ("x = " + "[" * 3000 + "]" * 3000 + "\n", ""),                      # RecursionError in tomllib
    ("x = " + "{a = " * 40 + "1" + "}" * 40 + "\n", ":1"),               # deep, but tomllib copes
    ("name = 'x'\n" + ".".join(["a"] * 500) + " = 1\n", ":2"),           # dotted keys, no brackets
    ("[" + ".".join(["t"] * 60) + "]\nv = 1\n", ":1"),                    # a deep table header
])
def test_deep_nesting_is_one_line_not_a_recursion_error(capsys, tmp_path, text, where):
    f = tmp_path / "deep.toml"
    f.write_text(text)
    status, line = one_line(capsys, "validate", f)
    assert status == 2 and line.startswith(f"{f}{where}: ")
    assert line.endswith("tables or arrays nested more than 20 levels deep")


def test_deep_nesting_in_a_set_value_is_one_line(capsys):
    status, line = one_line(capsys, "show", BASE, "--set", "name=" + "[" * 3000)
    assert (status, line) == (2, "--set: name: value nested more than 20 levels deep")
    status, line = one_line(capsys, "show", BASE, "--set", "penalties.x=" + "[" * 30 + "]" * 30)
    assert (status, line) == (2, "--set: penalties.x: value nested more than 20 levels deep")


def test_a_bad_base_file_is_named(tmp_path):
    (tmp_path / "base.toml").mkdir()
    child = tmp_path / "child.toml"
    child.write_text('extends = "base.toml"\nname = "c"\n')
    with pytest.raises(ScenarioError) as e:
        load_scenario(child)
    assert e.value.messages == [f"{child}:1: extends: file not found: 'base.toml' "
                                f"(looked for {tmp_path / 'base.toml'})"]


# ---------------------------------------------------------------- where outputs go ---
def test_out_on_a_file_fails_before_any_computing(capsys, no_model):
    assert one_line(capsys, "run", BASE, "--out", "/etc/hostname") == (
        2, "sim run: --out /etc/hostname: /etc/hostname is a file, not a folder")


def test_out_under_a_file_and_in_an_unwritable_place(capsys, tmp_path, no_model):
    f = tmp_path / "file"
    f.write_text("x")
    assert one_line(capsys, "run", BASE, "--out", f / "sub") == (
        2, f"sim run: --out {f / 'sub'}: {f} is a file, not a folder")
    status, line = one_line(capsys, "run", BASE, "--out", "/proc/sim-results")
    assert status == 2 and line.startswith("sim run: --out /proc/sim-results: cannot write there (")
    status, line = one_line(capsys, "compare", BASE, DATA / "child.toml", "--out", f)
    assert status == 2 and line == f"sim compare: --out {f}: {f} is a file, not a folder"


def test_files_get_ordinary_permissions(tmp_path, monkeypatch):
    from sim.outputs.results import atomic_path, atomic_write_text

    old = os.umask(0o022)
    try:
        p = atomic_write_text(tmp_path / "a" / "x.txt", "hello")
        with atomic_path(tmp_path / "y.bin") as tmp:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)  # a writer that makes private files
            os.close(fd)
    finally:
        os.umask(old)
    assert p.read_text() == "hello"
    assert oct(p.stat().st_mode & 0o777) == oct((tmp_path / "y.bin").stat().st_mode & 0o777) == "0o644"
    assert sorted(x.name for x in tmp_path.rglob("*")) == ["a", "x.txt", "y.bin"]  # no temporary files


def test_sweep_refuses_a_run_folder_and_a_folder_of_other_files(capsys, tmp_path, no_model):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("manifest.json", "kpis.csv", "timeseries.parquet"):
        (run / name).write_text("{}")
    vary = "penalties.arrest_prob=0.1:0.9:3"
    status, line = one_line(capsys, "sweep", BASE, "--vary", vary, "--out", run)
    assert status == 2 and line == (f"--out {run}: a run folder (it holds kpis.csv, manifest.json, "
                                    "timeseries.parquet); give a new or empty folder, or the folder of a "
                                    "sweep to --resume")
    status, line = one_line(capsys, "sweep", BASE, "--vary", vary, "--out", BASE)
    assert (status, line) == (2, f"--out {BASE}: is a file, not a folder")
    assert sorted(p.name for p in run.iterdir()) == ["kpis.csv", "manifest.json", "timeseries.parquet"]


def test_a_huge_sweep_is_refused_with_its_size(capsys, tmp_path, no_model):
    status, line = one_line(capsys, "sweep", BASE, "--vary", "penalties.arrest_prob=0:1:100000",
                            "--vary", "penalties.fine_multiple=0:5:100000", "--replicates", 10,
                            "--out", tmp_path / "s")
    assert status == 2 and line.startswith("sweep: 10,000,000,000 points x 10 replicates = 100,000,000,000 runs")
    assert "at most 200,000 runs per sweep" in line and not (tmp_path / "s").exists()


def test_a_run_too_big_for_the_disk_is_refused_with_the_estimate(capsys, tmp_path, monkeypatch):
    import sim.experiments.execution as execution
    import sim.outputs.results as results
    from tests.fake_model import fake_run

    monkeypatch.setattr(execution, "MODEL", fake_run)
    monkeypatch.setattr(results, "free_bytes", lambda folder: 10 << 20)  # 10 MB free
    status, line = one_line(capsys, "run", BASE, "--replicates", "100000", "--out", tmp_path)
    assert status == 2 and line.startswith("sim run: --replicates 100000: the time series need about ")
    assert "but " in line and "has 10.0 MB free" in line
    assert os.listdir(tmp_path / "test_base") == []
