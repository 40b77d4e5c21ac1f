#!/usr/bin/env python
"""Executor, memory and start-up benchmarks of `sim run` (the targets of issue 16 that are
not the compiled core's). What each number means: benchmarks/README.md, section "Executor".

    python benchmarks/executor.py                  # full (3-6 minutes); writes benchmarks/executor.json
    python benchmarks/executor.py --quick          # smoke version; writes only with --out
    python benchmarks/executor.py --out FILE.json

Every timing is a `sim run ... --no-plots` in a fresh process, as a user waits for it
(start-up, imports, worker start, runs and writing included), wall-clock. Worker counts are
timed in A-B-B-A order and the best of each pair counts, to spread the load of other
processes over both. The load average before and after is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIM = [sys.executable, "-m", "sim"]


def scenario_file(stem_part: str) -> Path:
    """A shipped scenario whose file name contains `stem_part` (names change between versions)."""
    files = sorted(p for p in (ROOT / "scenarios").glob("*.toml") if p.stem != "template")
    return next((p for p in files if stem_part in p.stem), files[0])


def timed(args: list, env: dict | None = None) -> float:
    """Wall time of `sim ARGS` in a fresh process (fails loudly if the command fails)."""
    t = time.perf_counter()
    r = subprocess.run([*SIM, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, **(env or {})}, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"sim {' '.join(map(str, args))} failed: {r.stderr[-500:]}")
    return time.perf_counter() - t


def load() -> float:
    return os.getloadavg()[0]


def workers_vs_one(counts: list[int], out: Path, scenario: Path) -> list[dict]:
    """`sim run --replicates N` with --workers 1 and the default, A-B-B-A, best of each."""
    rows = []
    for n in counts:
        base = ["run", scenario, "--replicates", n, "--no-plots", "--out", out]
        a1 = timed([*base, "--workers", 1])
        b1 = timed(base)
        b2 = timed(base)
        a2 = timed([*base, "--workers", 1])
        one, default = min(a1, a2), min(b1, b2)
        rows.append({"replicates": n, "one_worker_s": round(one, 2), "default_workers_s": round(default, 2),
                     "speedup": round(one / default, 2)})
        print(f"  {n:>4} replicates: 1 worker {one:6.2f} s, default ({os.cpu_count()}) {default:6.2f} s, "
              f"throughput x{one / default:.2f}", flush=True)
    return rows


KEPT_POOL = r"""
import json, sys, time
from sim.scenario import load_scenario
from sim.experiments import run_replicates

if __name__ == "__main__":
    sc = load_scenario(sys.argv[1])
    n = int(sys.argv[2])
    run_replicates(sc, 2, workers=1, progress=False)     # model imported, kernels loaded here
    t = time.perf_counter(); run_replicates(sc, n, workers=1, progress=False); one = time.perf_counter() - t
    t = time.perf_counter(); run_replicates(sc, n, progress=False); first = time.perf_counter() - t
    t = time.perf_counter(); run_replicates(sc, n, progress=False); kept = time.perf_counter() - t
    print(json.dumps({"one_worker_s": one, "first_call_s": first, "kept_pool_s": kept}))
"""


def kept_pool(scenario: Path, n: int) -> dict:
    """In one process: in-process runs vs the first call with workers (pool start included)
    vs a second call (the kept pool)."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(KEPT_POOL)
    try:
        r = subprocess.run([sys.executable, f.name, str(scenario), str(n)], cwd=ROOT, capture_output=True,
                           text=True, timeout=1800)
    finally:
        os.unlink(f.name)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-500:])
    d = {k: round(v, 2) for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items()}
    d["kept_pool_speedup"] = round(d["one_worker_s"] / d["kept_pool_s"], 2)
    print(f"  {n} replicates in one process: in-process {d['one_worker_s']} s, first call with workers "
          f"{d['first_call_s']} s, again (kept pool) {d['kept_pool_s']} s: x{d['kept_pool_speedup']}", flush=True)
    return d


MEMORY = r"""
import gc, json, sys
from sim.scenario import load_scenario
from sim.model.runner import run_replicate

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

sc = load_scenario(sys.argv[1])
n, steps = int(sys.argv[2]), int(sys.argv[3])
for r in range(10):
    run_replicate(sc, r, steps=steps)
gc.collect(); after10 = rss()
for r in range(10, n):
    run_replicate(sc, r, steps=steps)
gc.collect()
print(json.dumps({"rss_after_10_mb": after10, f"rss_after_{n}_mb": rss()}))
"""


def memory(scenario: Path, n: int, steps: int) -> dict:
    r = subprocess.run([sys.executable, "-c", MEMORY, str(scenario), str(n), str(steps)], cwd=ROOT,
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-500:])
    d = {k: round(v, 1) for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items()}
    d["growth_mb"] = round(d[f"rss_after_{n}_mb"] - d["rss_after_10_mb"], 1)
    print(f"  resident memory after 10 replicates {d['rss_after_10_mb']} MB, after {n} "
          f"{d[f'rss_after_{n}_mb']} MB: +{d['growth_mb']} MB ({steps} steps each)", flush=True)
    return d


STREAM = r"""
import sys
from sim.cli import main
status = main(sys.argv[1:])
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print("PEAK", int(line.split()[1]) / 1024)
sys.exit(status)
"""


def streaming(scenario: Path, counts: list[int], out: Path) -> list[dict]:
    """Peak resident memory of `sim run --workers 1` (in one process) for growing replicate counts."""
    rows = []
    for n in counts:
        r = subprocess.run([sys.executable, "-c", STREAM, "run", str(scenario), "--replicates", str(n),
                            "--steps", "8", "--workers", "1", "--no-plots", "--out", str(out)],
                           cwd=ROOT, capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-500:])
        peak = float(r.stdout.split("PEAK")[-1])
        rows.append({"replicates": n, "peak_rss_mb": round(peak, 1)})
        print(f"  sim run --replicates {n} --steps 8: peak resident memory {peak:.0f} MB", flush=True)
    return rows


def startup(scenario: Path, out: Path, cold: bool) -> dict:
    args = ["run", scenario, "--replicates", 1, "--no-plots", "--out", out]
    d = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        if cold:
            d["cold_s"] = round(timed(args, env), 2)
        timed(args, env)  # fills the cache when not cold
        d["cached_s"] = round(min(timed(args, env), timed(args, env)), 2)
    print(f"  sim run --replicates 1: cold {d.get('cold_s', 'skipped')} s, cached {d['cached_s']} s", flush=True)
    return d


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    out_path = a.out or (None if a.quick else ROOT / "benchmarks" / "executor.json")
    episode, baseline = scenario_file("antimony"), scenario_file("baseline")
    res: dict = {"cores": os.cpu_count(), "python": sys.version.split()[0], "load_start": load(),
                 "scenario": episode.stem, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("workers vs one worker (sim run, fresh process each):", flush=True)
        res["workers"] = workers_vs_one([1, 2, 4] if a.quick else [1, 2, 4, 8, 16], tmp, episode)
        print("kept pool:", flush=True)
        res["kept_pool"] = kept_pool(episode, 4 if a.quick else 16)
        print("memory:", flush=True)
        res["memory"] = memory(episode, 60 if a.quick else 500, 5 if a.quick else 10)
        res["streaming"] = streaming(baseline, [20, 200] if a.quick else [50, 1000], tmp)
        print("start-up:", flush=True)
        res["startup"] = startup(baseline, tmp, cold=not a.quick)
    res["load_end"] = load()
    n16 = next(r for r in res["workers"] if r["replicates"] == max(x["replicates"] for x in res["workers"]))
    m = res["memory"]
    growth_ok = m["growth_mb"] <= 50
    targets = [
        (f"default workers >= 1.6x one worker, {n16['replicates']} replicates incl. start-up",
         n16["speedup"] >= 1.6, f"x{n16['speedup']}"),
        ("default workers never slower than one (every count, 5 % noise allowed)",
         all(r["speedup"] >= 0.95 for r in res["workers"]),
         ", ".join(f"{r['replicates']}: x{r['speedup']}" for r in res["workers"])),
        ("resident memory after many replicates within 50 MB of after 10", growth_ok, f"+{m['growth_mb']} MB"),
        ("sim run cold start <= 10 s", res["startup"].get("cold_s", 0) <= 10 if "cold_s" in res["startup"]
         else None, f"{res['startup'].get('cold_s', '-')} s"),
        ("sim run cached start <= 2 s", res["startup"]["cached_s"] <= 2, f"{res['startup']['cached_s']} s"),
    ]
    res["targets"] = [{"target": t, "status": "SKIP" if ok is None else ("PASS" if ok else "MISS"), "measured": v}
                      for t, ok, v in targets]
    print(f"\nTargets (load average {res['load_start']:.1f} at start, {res['load_end']:.1f} at end):")
    for t in res["targets"]:
        print(f"  [{t['status']}] {t['target']}: {t['measured']}")
    if out_path:
        from sim.outputs.results import atomic_write_text

        atomic_write_text(out_path, json.dumps(res, indent=2) + "\n")
        print(f"written {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
