"""The benchmark script runs from an install and writes its table and JSON (quick sizes)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # about 20-30 s
def test_quick_benchmark_writes_every_section(tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Targets" in r.stdout
    d = json.loads(out.read_text())
    assert not [n for n in d["notes"] if "FAILED" in n]
    assert {"core_vs_reference", "scaling_smugglers", "whole_run", "startup", "ensembles", "profile",
            "floor"} <= set(d["sections"])
    assert max(d["sections"]["core_vs_reference"]["max_rel_diff"].values()) == 0.0
    assert d["sections"]["ensembles"]["same_kpis_1_vs_2_workers"]
    assert {t["status"] for t in d["targets"]} <= {"PASS", "MISS", "SKIP"}
