#!/usr/bin/env python
"""Benchmark suite of the smuggling simulator: every figure of issue 16 with its target and
PASS/MISS/SKIP, measured in one run. What each number means: benchmarks/README.md.

    python benchmarks/run.py                    # full suite (10-20 minutes), writes benchmarks/results.json
    python benchmarks/run.py --quick            # smoke version (1-2 minutes); writes only with --out
    python benchmarks/run.py --only core        # sections whose name contains "core"
    python benchmarks/run.py --out FILE.json

The sections live in benchmarks/bench/: `core` (the compiled step), `executor` (sim as a user
runs it). Prints the machine, a table and the targets, and writes JSON with the machine (CPU
model, cores, versions, date, load average at the start and the end).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import core, executor  # noqa: E402
from bench.common import CHILDREN, ROOT, Report, loadavg, machine  # noqa: E402

FULL = dict(repeats=3, ref_steps=10, ref_budget_s=60.0, scale_n=(1_000, 10_000, 100_000), scale_steps=52,
            horizon_n=10_000, horizons=(52, 130, 260), whole_n=10_000, whole_steps=260, profile_n=10_000,
            profile_steps=52, ens_n=16, ens_steps=None, replicate_counts=(1, 2, 4, 8, 16), memory_n=500,
            memory_steps=10, stream_counts=(100, 1_000), stream_steps=50, cold_start=True, calibrate_budget=24,
            optimize_budget=8)
QUICK = dict(repeats=1, ref_steps=3, ref_budget_s=10.0, scale_n=(300, 1_000, 3_000), scale_steps=8,
             horizon_n=1_000, horizons=(8, 16), whole_n=1_000, whole_steps=26, profile_n=1_000, profile_steps=8,
             ens_n=4, ens_steps=8, replicate_counts=(1, 4), memory_n=30, memory_steps=3, stream_counts=(5, 20),
             stream_steps=8, cold_start=False, calibrate_budget=6, optimize_budget=4)

SECTIONS = [  # (name, function(report, config)), in the order they run
    ("core vs reference", core.core_vs_reference),
    ("core scaling", core.scaling),
    ("core whole run", core.whole_run),
    ("core transfer", core.transfer),
    ("core profile and floor", core.profile_and_floor),
    ("executor start-up", executor.startup),
    ("executor workers", executor.workers),
    ("executor kept pool", executor.kept_pool),
    ("executor memory", executor.memory),
    ("executor streaming", executor.streaming),
    ("executor search", executor.search),
]


def write_json(path: Path, data: dict) -> None:
    from sim.outputs.atomic import atomic_write_text
    atomic_write_text(path, json.dumps(data, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o))
                      + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark suite of the simulator (see benchmarks/README.md).")
    ap.add_argument("--quick", action="store_true", help="small sizes, no cold start: a smoke test")
    ap.add_argument("--only", help="run only the sections whose name contains this text")
    ap.add_argument("--out", type=Path, help="JSON results file (default: benchmarks/results.json; none with --quick)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        what, spec = args.child
        print(json.dumps(CHILDREN[what](json.loads(spec))))
        return 0
    from tqdm import tqdm
    cfg = QUICK if args.quick else FULL
    out = args.out or (None if args.quick or args.only else ROOT / "benchmarks" / "results.json")
    sections = [(n, f) for n, f in SECTIONS if not args.only or args.only in n]
    rep = Report()
    start = time.perf_counter()
    info = machine()
    warm = core.warm_up()
    bar = tqdm(total=len(sections), desc="benchmarks", unit="section", file=sys.stderr)
    for name, fn in sections:
        bar.set_postfix_str(name)
        t0 = time.perf_counter()
        try:
            fn(rep, cfg)
        except Exception as e:  # noqa: BLE001 - one broken section must not lose the others
            rep.notes.append(f"{name}: FAILED {type(e).__name__}: {' '.join(str(e).split())[:300]}")
        rep.data.setdefault("section_seconds", {})[name] = time.perf_counter() - t0
        bar.update(1)
    bar.close()
    info["load_average_1min_end"] = loadavg()
    total = time.perf_counter() - start
    print(f"machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}, numpy {info['numpy']}, "
          f"numba {info['numba']}; {info['date']}")
    print(f"load average (1 min): {info['load_average_1min']:.2f} at the start, {info['load_average_1min_end']:.2f} "
          f"at the end, on {info['cores']} cores (above the core count, other processes shared them)")
    print(f"mode: {'quick' if args.quick else 'full'}; warm-up (load/compile kernels) {warm:.1f} s; suite {total:.0f} s")
    print(rep.table())
    if out:
        write_json(out, {"machine": info, "mode": "quick" if args.quick else "full", "config": cfg,
                         "warm_up_s": warm, "suite_s": total, "sections": rep.data, "targets": rep.targets,
                         "notes": rep.notes, "table": rep.table()})
        print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
