"""The benchmark script runs from an install and writes its table and JSON (quick sizes).

Speed is not asserted here (benchmarks/README.md quotes the measured figures); the test checks
that every section ran, that every target of issue 16 is reported, and the few facts the
numbers must satisfy whatever the machine: both cores agree, a replicate travels as less than
the table it replaces, memory does not grow."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("compiled core", "260 weekly steps x 10,000 smugglers", "model step within 10x of the floor",
           "cold start", "cached start", "default workers vs one", "never slower than one", "resident memory after",
           "peak memory within 50 MB", "says how much it will write", "sim calibrate", "sim optimize")


@pytest.mark.slow  # 1-3 minutes
def test_quick_benchmark_writes_every_section(tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Targets" in r.stdout and "load average" in r.stdout
    d = json.loads(out.read_text())
    assert not [n for n in d["notes"] if "FAILED" in n], d["notes"]
    assert {"core_vs_reference", "scaling_smugglers", "scaling_horizon", "whole_run", "transfer", "profile", "floor",
            "startup", "workers", "kept_pool", "memory", "streaming", "search"} <= set(d["sections"])
    s = d["sections"]
    assert max(s["core_vs_reference"]["max_rel_diff"].values()) == 0.0
    assert s["core_vs_reference"]["agent_steps_per_s"]["compiled"] > s["core_vs_reference"]["agent_steps_per_s"]["reference"]
    assert s["transfer"]["result_bytes"] < s["transfer"]["table_bytes"]
    assert s["memory"]["growth_mb"] < 50
    assert s["search"]["calibrate 1 worker"]["runs"] > 0
    names = [t["target"] for t in d["targets"]]
    assert [t for t in TARGETS if not any(t in n for n in names)] == []
    assert {t["status"] for t in d["targets"]} <= {"PASS", "MISS", "SKIP"}
