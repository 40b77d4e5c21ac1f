"""`sim` as a user waits for it: default workers against one, the kept pool, memory over many
replicates, streaming a very large run, start-up (cold and cached), and simulations per second
inside `sim calibrate` and `sim optimize`.

Every timing here is a whole command in a fresh process (Python start, imports, worker start,
the runs, writing the results folder), wall-clock. Worker counts are timed in A-B-B-A order and
the best of each pair counts, so that load from other processes falls on both alike. The load
average is recorded before and after.
"""

from __future__ import annotations

import gc
import json
import os
import re
import tempfile
from pathlib import Path

from bench.common import BASELINE, EPISODE, SCENARIOS, Report, child, in_child, loadavg, rss_mb, scenario, sim_cli

CORES = os.cpu_count() or 1


def _abba(one: list, default: list) -> tuple[float, float]:
    """Best wall time of each of two commands run A-B-B-A."""
    a1, b1, b2, a2 = (sim_cli(x)["wall_s"] for x in (one, default, default, one))
    return min(a1, a2), min(b1, b2)


# --------------------------------------------------------------- 5a. workers vs one ---
def workers(rep: Report, cfg: dict) -> None:
    sec = f"5a. sim run {EPISODE} --no-plots: default workers ({CORES}) vs --workers 1, incl. start-up"
    load = [loadavg()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-out-") as out:
        for n in cfg["replicate_counts"]:
            base = ["run", SCENARIOS / f"{EPISODE}.toml", "--replicates", n, "--no-plots", "--out", out]
            if cfg["ens_steps"]:
                base += ["--steps", cfg["ens_steps"]]
            one, default = _abba([*base, "--workers", 1], base)
            rows.append({"replicates": n, "one_worker_s": one, "default_workers_s": default, "ratio": one / default})
            rep.row(sec, f"{n:>3} replicates: 1 worker / default", f"{one:.2f} / {default:.2f}", "s",
                    f"throughput x{one / default:.2f}")
    load.append(loadavg())
    rep.row(sec, "load average before / after", f"{load[0]:.1f} / {load[1]:.1f}", "", f"({CORES} cores)")
    rep.data["workers"] = {"points": rows, "load_average": load}
    last = rows[-1]
    skip = "" if CORES >= 2 else "one core"
    rep.target(f"sim run, default workers vs one, {last['replicates']} replicates incl. start-up", last["ratio"],
               1.6, True, "x", skip or ("" if last["replicates"] >= 16 else "quick: fewer than 16 replicates"),
               why=_share_note(load))
    worst = min(rows, key=lambda r: r["ratio"])
    rep.target("sim run, default workers never slower than one (every count; 5 % noise allowed)", worst["ratio"],
               0.95, True, "x", skip, why=f"{worst['replicates']} replicates; " + _share_note(load))


SPIN = "import time; t = time.process_time(); s = sum(range(20_000_000)); print(time.process_time() - t)"


def _parallel_slowdown() -> float:
    """Wall time of two busy processes started together over one alone: about 1 when a second
    core is free, 2 when other processes hold it. (The load average cannot tell: on the
    project's VM it reads about 1 with nothing running.)"""
    import subprocess
    import sys
    import time

    def wall(n: int) -> float:
        t = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.DEVNULL) for _ in range(n)]
        for pr in procs:
            pr.wait()
        return time.perf_counter() - t

    return wall(2) / wall(1)


_SLOWDOWN: list[float] = []


def _share_note(load: list) -> str:
    """Why a second worker did not pay: other processes on the cores, or the pool's start-up."""
    if not _SLOWDOWN:
        _SLOWDOWN.append(_parallel_slowdown())
    slow = _SLOWDOWN[0]
    if slow > 1.3:
        return (f"two busy processes ran {slow:.2f}x slower than one (load average {max(load):.1f} on "
                f"{CORES} cores): other processes held the cores a second worker would use")
    return (f"a second core was free (two busy processes ran at {slow:.2f}x the time of one): starting the "
            f"workers and loading the model in them costs more than the runs they share")


KEPT_POOL = r"""
import json, sys, time
from sim.scenario import load_scenario
from sim.experiments import run_replicates

if __name__ == "__main__":
    sc = load_scenario(sys.argv[1])
    n, steps = int(sys.argv[2]), (int(sys.argv[3]) or None)
    run_replicates(sc, 2, workers=1, progress=False, steps=steps)     # model imported, kernels loaded here
    t = time.perf_counter(); run_replicates(sc, n, workers=1, progress=False, steps=steps); one = time.perf_counter() - t
    t = time.perf_counter(); run_replicates(sc, n, progress=False, steps=steps); first = time.perf_counter() - t
    t = time.perf_counter(); run_replicates(sc, n, progress=False, steps=steps); kept = time.perf_counter() - t
    print(json.dumps({"one_worker_s": one, "first_call_s": first, "kept_pool_s": kept}))
"""


def kept_pool(rep: Report, cfg: dict) -> None:
    """In one process: replicates in-process, then the first call with workers (pool start), then again."""
    import subprocess
    import sys
    n = cfg["ens_n"]
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(KEPT_POOL)
    try:
        r = subprocess.run([sys.executable, f.name, str(SCENARIOS / f"{EPISODE}.toml"), str(n), str(cfg["ens_steps"] or 0)],
                           capture_output=True, text=True, timeout=1800)
    finally:
        os.unlink(f.name)
    if r.returncode != 0:
        raise RuntimeError(" ".join(r.stderr.split())[-400:])
    d = json.loads(r.stdout.strip().splitlines()[-1])
    d["kept_pool_ratio"] = d["one_worker_s"] / d["kept_pool_s"]
    sec = f"5b. run_replicates in one process ({n} replicates of {EPISODE})"
    rep.row(sec, "in-process (1 worker)", d["one_worker_s"], "s")
    rep.row(sec, "first call with workers (starts the pool)", d["first_call_s"], "s")
    rep.row(sec, "second call (kept pool)", d["kept_pool_s"], "s", f"x{d['kept_pool_ratio']:.2f} of one worker")
    rep.data["kept_pool"] = d


# -------------------------------------------------------------------- 5c. memory ---
@in_child
def memory_child(spec: dict) -> dict:
    from sim.model.runner import run_replicate
    s = scenario(EPISODE)
    for r in range(10):
        run_replicate(s, r, steps=spec["steps"])
    gc.collect()
    after10 = rss_mb()
    for r in range(10, spec["n"]):
        run_replicate(s, r, steps=spec["steps"])
    gc.collect()
    return {"rss_after_10_mb": after10, "rss_after_n_mb": rss_mb()}


def memory(rep: Report, cfg: dict) -> None:
    n, steps = cfg["memory_n"], cfg["memory_steps"]
    d = child("memory_child", {"n": n, "steps": steps})
    d["growth_mb"] = d["rss_after_n_mb"] - d["rss_after_10_mb"]
    sec = f"5c. Resident memory over replicates in one process ({EPISODE}, {steps} steps each)"
    rep.row(sec, "after 10 replicates", d["rss_after_10_mb"], "MB")
    rep.row(sec, f"after {n} replicates", d["rss_after_n_mb"], "MB", f"(+{d['growth_mb']:.1f} MB)")
    rep.data["memory"] = {"replicates": n, "steps": steps, **d}
    rep.target(f"resident memory after {n} replicates within 50 MB of after 10", d["growth_mb"], 50.0, False, "MB",
               "" if n >= 500 else "quick: fewer than 500 replicates")


STREAM = r"""
import sys
from sim.cli import main
status = main(sys.argv[1:])
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print("PEAK", int(line.split()[1]) / 1024)
sys.exit(status)
"""


def streaming(rep: Report, cfg: dict) -> None:
    """Peak resident memory of `sim run --workers 1` (one process) for a small and a large count; the
    large one must announce what it will write before it starts."""
    import subprocess
    import sys
    steps = cfg["stream_steps"]
    sec = f"5d. Streaming: sim run {BASELINE} --workers 1 --steps {steps} --no-plots"
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as out:
        for n in cfg["stream_counts"]:
            r = subprocess.run([sys.executable, "-c", STREAM, "run", str(SCENARIOS / f"{BASELINE}.toml"), "--replicates",
                                str(n), "--steps", str(steps), "--workers", "1", "--no-plots", "--out", out],
                               capture_output=True, text=True, timeout=3600)
            if r.returncode != 0:
                raise RuntimeError(" ".join(r.stderr.split())[-400:])
            said = next((line for line in r.stdout.splitlines() + r.stderr.splitlines()
                         if line.startswith("writing about")), "")
            rows.append({"replicates": n, "peak_rss_mb": float(r.stdout.split("PEAK")[-1]), "announced": said})
            rep.row(sec, f"{n:>5} replicates: peak resident memory", rows[-1]["peak_rss_mb"], "MB",
                    f"({said[:70]}...)" if said else "")
    growth = rows[-1]["peak_rss_mb"] - rows[0]["peak_rss_mb"]
    rep.data["streaming"] = {"steps": steps, "points": rows, "growth_mb": growth}
    big = rows[-1]
    skip = "" if big["replicates"] * steps >= 50_000 else "quick: below the size at which sim run estimates its output"
    rep.target(f"sim run of {big['replicates']:,} replicates: peak memory within 50 MB of {rows[0]['replicates']}",
               growth, 50.0, False, "MB", skip)
    rep.target("a very large run says how much it will write before it starts", 1.0 if big["announced"] else 0.0,
               1.0, True, "(1 = yes)", skip)


# ------------------------------------------------------------------- 4. start-up ---
@in_child
def kernels_child(spec: dict) -> dict:
    """Import time, then the first call of every kernel (compiles it with an empty numba cache,
    loads it otherwise) during two steps of the baseline scenario; CPU seconds."""
    import time
    t0 = time.process_time()
    import sim.model.kernels as kr
    from sim.model.model import SmugglingModel
    imported = time.process_time() - t0
    first: dict[str, float] = {}
    for name in ("choose", "depart", "cross_checkpoints", "offer_by_market", "clear_markets", "sell_gray",
                 "update_beliefs", "cell_inspection_probs"):
        f = getattr(kr, name)

        def timed(*a, _f=f, _name=name):
            t = time.process_time()
            try:
                return _f(*a)
            finally:
                first.setdefault(_name, time.process_time() - t)
        setattr(kr, name, timed)
    SmugglingModel(scenario(BASELINE), 0, steps=2).run()
    return {"import_s": imported, "first_call_s": first}


def startup(rep: Report, cfg: dict) -> None:
    """`sim run baseline --replicates 1 --no-plots` with an empty numba cache (cold), then with it
    filled (cached, best of two); and, in another fresh cache, the first call of each kernel."""
    sec = f"4. Start-up: sim run {BASELINE} --replicates 1 --no-plots (fresh process)"
    data: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-numba-") as tmp:
        cache, cache2 = Path(tmp) / "numba", Path(tmp) / "numba-kernels"
        cache.mkdir()
        cache2.mkdir()
        args = ["run", SCENARIOS / f"{BASELINE}.toml", "--replicates", 1, "--no-plots", "--out", Path(tmp) / "out"]
        env, env2 = {"NUMBA_CACHE_DIR": str(cache)}, {"NUMBA_CACHE_DIR": str(cache2)}
        if cfg["cold_start"]:
            cold = sim_cli(args, env)
            data["cold_s"], data["cold_cpu_s"] = cold["wall_s"], cold["cpu_s"]
            data["kernels_cold"] = child("kernels_child", env=env2)
        else:
            env = env2 = {}
            sim_cli(args, env)
        cached = [sim_cli(args, env) for _ in range(2)]
        best = min(cached, key=lambda r: r["wall_s"])
        data["cached_s"], data["cached_cpu_s"] = best["wall_s"], best["cpu_s"]
        data["kernels_cached"] = child("kernels_child", env=env2)
    data["load_average"] = loadavg()
    if "cold_s" in data:
        rep.row(sec, "cold (empty numba cache)", data["cold_s"], "s", f"(CPU {data['cold_cpu_s']:.2f} s)")
    rep.row(sec, "cached", data["cached_s"], "s", f"(CPU {data['cached_cpu_s']:.2f} s; best of 2)")
    rep.row(sec, "  import of the model (CPU)", data["kernels_cached"]["import_s"], "s", "(numba, kernels module)")
    cold = data.get("kernels_cold", {}).get("first_call_s", {})
    warm = data["kernels_cached"]["first_call_s"]
    for name in sorted(warm, key=lambda k: -cold.get(k, warm[k])):
        c = f"compile {cold[name]:.2f} s, " if name in cold else ""
        rep.row(sec, f"  first call of {name}", warm[name], "s CPU", f"({c}loaded from cache; the first "
                f"call also sets numba up)" if name == "choose" else f"({c}loaded from cache)")
    rep.data["startup"] = data
    note = f"load average {data['load_average']:.1f} on {CORES} cores"
    rep.target("cold start of sim run", data.get("cold_s"), 10.0, False, "s",
               "" if cfg["cold_start"] else "skipped in --quick",
               why=f"CPU {data.get('cold_cpu_s', 0):.1f} s, of which compiling the kernels "
                   f"{sum(cold.values()):.1f} s; {note}")
    rep.target("cached start of sim run", data["cached_s"], 2.0, False, "s",
               why=f"CPU {data['cached_cpu_s']:.2f} s; {note}")


# ------------------------------------------------ 5e. calibration and policy search ---
PRIOR = 'priors."penalties.arrest_prob"={kind="uniform", low=0.1, high=0.5, reason="benchmark"}'
SEARCH_SCENARIO = "crackdown_2025"


def search(rep: Report, cfg: dict) -> None:
    """A tiny `sim calibrate` and a tiny `sim optimize` of crackdown_2025, with one worker and the
    default; simulations per second as each command reports them (model runs / seconds of running)."""
    sec = f"5e. Calibration and policy search ({SEARCH_SCENARIO}, tiny runs)"
    data: dict = {"load_average": [loadavg()]}
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        for label, w in (("1 worker", ["--workers", 1]), ("default", [])):
            budget = cfg["calibrate_budget"]
            r = sim_cli(["calibrate", SCENARIOS / f"{SEARCH_SCENARIO}.toml", "--budget", budget, "--particles",
                         budget // 2, "--generations", 2, "--set", PRIOR, "--out", Path(tmp) / f"post{len(w)}.parquet",
                         *w])
            m = re.search(r"([\d,]+) model runs in ([\d.,]+) s of running: ([\d.]+) simulations/s", r["stdout"])
            runs = int(m.group(1).replace(",", "")) if m else budget
            data[f"calibrate {label}"] = {"wall_s": r["wall_s"], "runs": runs,
                                          "sims_per_s": float(m.group(3)) if m else float("nan"),
                                          "sims_per_s_incl_startup": runs / r["wall_s"]}
            mixes, reps = cfg["optimize_budget"], 2
            r = sim_cli(["optimize", SCENARIOS / f"{SEARCH_SCENARIO}.toml", "--lever", "penalties.arrest_prob=0.1:0.9",
                         "--objective", "illicit_delivered_t:min", "--budget", mixes, "--population", max(mixes // 2, 2),
                         "--replicates", reps, "--no-plots", "--study", Path(tmp) / f"study{len(w)}", *w])
            data[f"optimize {label}"] = {"wall_s": r["wall_s"], "runs": mixes * reps,
                                         "sims_per_s_incl_startup": mixes * reps / r["wall_s"]}
    data["load_average"].append(loadavg())
    for what in ("calibrate", "optimize"):
        one, default = data[f"{what} 1 worker"], data[f"{what} default"]
        extra = f", {one['sims_per_s']:.2f} / {default['sims_per_s']:.2f} while running" if what == "calibrate" else ""
        rep.row(sec, f"sim {what}: {one['runs']} simulations, 1 worker / default", f"{one['wall_s']:.1f} / "
                f"{default['wall_s']:.1f}", "s", f"({one['sims_per_s_incl_startup']:.2f} / "
                f"{default['sims_per_s_incl_startup']:.2f} simulations/s incl. start-up{extra})")
        data[f"{what}_ratio"] = one["wall_s"] / default["wall_s"]
        rep.target(f"sim {what}: default workers vs one incl. start-up", data[f"{what}_ratio"], 1.6, True, "x",
                   "quick" if cfg["calibrate_budget"] < 20 else "", why=_share_note(data["load_average"]))
    rep.row(sec, "load average before / after", " / ".join(f"{x:.1f}" for x in data["load_average"]))
    rep.data["search"] = data
