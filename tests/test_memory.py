"""Memory does not grow across replicates (not timed).

Mesa 3.3 kept every finished model alive (about 7 MB per replicate; see
sim.model.runner.release). In a fresh process, the real model runs a shipped scenario for
a few steps: after a warm-up of 10 replicates, 50 more may add at most 30 MB of resident
memory (the leak would add about 330 MB), and no finished model may remain reachable.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import gc, json, sys
from pathlib import Path
from sim.scenario import load_scenario
from sim.model.runner import run_replicate

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

files = [p for p in sorted(Path("scenarios").glob("*.toml")) if p.stem != "template"]
scenario = load_scenario(files[0])
for r in range(10):
    run_replicate(scenario, r, steps=3)
gc.collect()
before = rss_mb()
for r in range(10, 60):
    run_replicate(scenario, r, steps=3)
gc.collect()
after = rss_mb()
models = sum(type(o).__name__ == "SmugglingModel" for o in gc.get_objects())
print(json.dumps({"before": before, "after": after, "models": models, "scenario": scenario.name}))
"""


def test_resident_memory_does_not_grow_across_replicates():
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout.strip().splitlines()[-1])
    assert m["models"] == 0, m
    assert m["after"] - m["before"] < 30, m
