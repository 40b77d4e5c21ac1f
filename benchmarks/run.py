#!/usr/bin/env python
"""Benchmark suite of the smuggling simulator. What each number means: benchmarks/README.md.

    python benchmarks/run.py                      # full suite (a few minutes), writes benchmarks/results.json
    python benchmarks/run.py --quick              # small smoke version (well under a minute); writes only with --out
    python benchmarks/run.py --out my-machine.json

Prints a table (sections 1-6, then PASS/MISS/SKIP per target) and writes JSON with the machine (CPU model,
cores, Python, numpy, numba, date). All times are wall-clock seconds (time.perf_counter). "Per step"
excludes building the model and its first step (which loads the compiled kernels from numba's cache).
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numba import njit

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
HRE = SCENARIOS / "heavy_rare_earths_2025.toml"
ANTIMONY = SCENARIOS / "antimony_ban_2024.toml"
BASELINE = SCENARIOS / "baseline_2024.toml"

FULL = dict(repeats=3, ref_steps=10, ref_budget_s=60.0, scale_n=(1_000, 10_000, 100_000), scale_steps=52,
            horizon_n=10_000, horizons=(52, 130, 260), whole_n=10_000, whole_steps=260, cold_start=True,
            ens_n=16, ens_steps=None, profile_n=10_000, profile_steps=52)
QUICK = dict(repeats=1, ref_steps=3, ref_budget_s=10.0, scale_n=(300, 1_000, 3_000), scale_steps=8,
             horizon_n=1_000, horizons=(8, 16), whole_n=1_000, whole_steps=26, cold_start=False,
             ens_n=4, ens_steps=8, profile_n=1_000, profile_steps=8)


# ----------------------------------------------------------------------------- helpers ----
def machine() -> dict:
    """CPU model, cores, versions, date and load average (other processes skew timings)."""
    import numba
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "platform": platform.platform(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "load_average_1min": os.getloadavg()[0]}


def load(path: Path, overrides=()):
    """A validated Scenario: sim.scenario.load_scenario, or tomllib + one `extends` + model_validate."""
    try:
        from sim.scenario import load_scenario
    except ImportError:
        import tomllib

        from sim.scenario.schema import Scenario
        data = tomllib.loads(path.read_text())
        base = data.pop("extends", None)
        merged = tomllib.loads((path.parent / base).read_text()) if base else {}
        merged.update(data)
        return Scenario.model_validate(merged)
    return load_scenario(path, list(overrides))


def with_smugglers(scenario, n: int):
    """`scenario` with n smugglers active at step 0 and a pool of n/10 potential entrants."""
    data = scenario.model_dump()
    data["smugglers"].update(initial=int(n), pool=int(n) // 10)
    return type(scenario).model_validate(data)


def synthetic_world(n: int, steps: int = 52):
    """5 commodities, 2 destinations (US, EU), 5 transit hubs, 10 routes, everything banned from step 0.

    Built from the antimony scenario: its commodity and markets copied under new ids (reference prices
    x1 .. x4), hubs VN and IN added next to TH, MX, MY, and routes through them to the US and the EU."""
    from sim.scenario.schema import Scenario, check_references
    d = load(ANTIMONY).model_dump()
    ks, scale = ["comm1", "comm2", "comm3", "comm4", "comm5"], [1.0, 1.5, 2.0, 3.0, 4.0]
    com = d["commodities"].pop("sb2o3")
    d["commodities"] = {k: dict(com, name=f"Synthetic commodity {i + 1}") for i, k in enumerate(ks)}
    cn, us = d["markets"]["CN"]["sb2o3"], d["markets"]["US"]["sb2o3"]
    d["markets"] = {"CN": {k: dict(cn, ref_price_usd_kg=cn["ref_price_usd_kg"] * f) for k, f in zip(ks, scale)},
                    "US": {k: dict(us, ref_price_usd_kg=us["ref_price_usd_kg"] * f) for k, f in zip(ks, scale)},
                    "EU": {k: dict(us, ref_price_usd_kg=us["ref_price_usd_kg"] * f * 1.05) for k, f in zip(ks, scale)}}
    cs = d["countries"]
    cs["EU"] = dict(cs["US"], name="European Union", lon=4.4, lat=51.9)
    cs["VN"] = dict(cs["MY"], name="Vietnam", lon=105.8, lat=21.0)
    cs["IN"] = dict(cs["MY"], name="India", lon=77.2, lat=28.6)
    for c in cs.values():
        if c["baseline_imports_t_per_year"]:
            v = next(iter(c["baseline_imports_t_per_year"].values()))
            c["baseline_imports_t_per_year"] = {k: v for k in ks}
        c["import_cap_t_per_year"] = {}
    d["customs"].update(EU=dict(d["customs"]["US"]), VN=dict(d["customs"]["MY"]), IN=dict(d["customs"]["MY"]))
    rt = d["routes"]
    hub_us = rt["CN-TH-US"]
    rt.update({f"CN-{h}-US": dict(hub_us, via=h) for h in ("VN", "IN")})
    rt["CN-EU"] = dict(rt["CN-US"], destination="EU", leg1_steps=5, freight_usd_kg=0.35)
    rt.update({f"CN-{h}-EU": dict(hub_us, destination="EU", via=h, leg2_steps=5) for h in ("MY", "IN", "VN")})
    d["controls"] = {"ban_all": dict(commodity="all", destination="all", regime="ban", from_step=0)}
    d["events"] = {}
    d["smugglers"].update(initial=int(n), pool=int(n) // 10)
    d.update(name="synthetic_5commodities_5hubs", steps=steps, description="benchmark world")
    s = Scenario.model_validate(d)
    problems = check_references(s)
    if problems:
        raise RuntimeError(f"synthetic world is invalid: {problems}")
    return s


def model_accepts_core() -> bool:
    from sim.model.model import SmugglingModel
    return "core" in inspect.signature(SmugglingModel.__init__).parameters


def has_reference() -> bool:
    try:
        import sim.model.reference  # noqa: F401
    except ImportError:
        return False
    return model_accepts_core()


def new_model(scenario, steps: int, core: str | None = None):
    from sim.model.model import SmugglingModel
    return SmugglingModel(scenario, 0, steps=steps, **({"core": core} if core else {}))


def step_times(scenario, steps: int, core: str | None = None, budget_s: float = math.inf, repeats: int = 1) -> dict:
    """Build a model and step it, `repeats` times; per step = mean over steps 1.. of the fastest time of
    each step across repeats (runs are deterministic, so repeats do the same work and the minimum
    removes noise from other processes). The first step (loads the kernels) is reported apart."""
    best, inits = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        m = new_model(scenario, steps, core)
        inits.append(time.perf_counter() - t0)
        times = []
        while m.running and sum(times) < budget_s and (best is None or len(times) < len(best)):
            a = time.perf_counter()
            m.step()
            times.append(time.perf_counter() - a)
        best = np.array(times) if best is None else np.minimum(best[:len(times)], times)
    rest = best[1:] if len(best) > 1 else best
    return {"init_s": min(inits), "first_step_s": float(best[0]), "steps": len(best), "per_step_s": float(rest.mean()),
            "median_step_s": float(np.median(rest)), "total_s": float(best.sum()), "model": m}


def loglog_slope(x, y) -> float:
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


def warm_up() -> float:
    """Load (or compile) every kernel once so later timings exclude compilation."""
    t = time.perf_counter()
    from sim.model.runner import run_replicate
    run_replicate(synthetic_world(50, steps=12), 0)
    run_replicate(load(ANTIMONY), 0, steps=12)
    return time.perf_counter() - t


class Report:
    """Rows for the printed table, the JSON data per section, and the targets."""

    def __init__(self):
        self.rows: list[tuple[str, str, str, str]] = []
        self.data: dict[str, dict] = {}
        self.targets: list[dict] = []
        self.notes: list[str] = []

    def row(self, section: str, label: str, value, unit: str = "", note: str = "") -> None:
        self.rows.append((section, label, fmt(value), f"{unit}  {note}".strip()))

    def target(self, name: str, measured, limit: float, higher_is_better: bool, unit: str, skip: str = "") -> None:
        if skip or measured is None or (isinstance(measured, float) and math.isnan(measured)):
            status = "SKIP"
        else:
            status = "PASS" if (measured >= limit if higher_is_better else measured <= limit) else "MISS"
        self.targets.append({"target": name, "op": ">=" if higher_is_better else "<=", "limit": limit,
                             "unit": unit, "measured": measured, "status": status, "note": skip})

    def table(self) -> str:
        out, last = [], None
        w = max(len(r[1]) for r in self.rows) if self.rows else 10
        for section, label, value, unit in self.rows:
            if section != last:
                out.append(f"\n== {section}")
                last = section
            out.append(f"  {label:<{w}}  {value:>12}  {unit}")
        out.append("\n== Targets")
        for t in self.targets:
            extra = f"  ({t['note']})" if t["note"] else ""
            out.append(f"  [{t['status']}] {t['target']}: {fmt(t['measured'])} {t['unit']} "
                       f"(target {t['op']} {fmt(t['limit'])}){extra}")
        if self.notes:
            out.append("\n== Notes")
            out.extend(f"  - {n}" for n in self.notes)
        return "\n".join(out)


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


# ------------------------------------------------------------------ 1. core vs reference ----
def core_vs_reference(rep: Report, cfg: dict) -> None:
    s = load(ANTIMONY)
    sec = f"1. Core vs reference ({s.name}, {s.smugglers.initial:,} + {s.smugglers.pool:,} smugglers)"
    if not has_reference():
        rep.data["core_vs_reference"] = {"skipped": "sim.model.reference / SmugglingModel(core=...) not available"}
        rep.row(sec, "skipped", "-", "", "sim.model.reference does not exist yet")
        rep.target("compiled core >= 100x faster than reference", None, 100, True, "x", "no reference core")
        return
    ref = step_times(s, cfg["ref_steps"], "reference", budget_s=cfg["ref_budget_s"])
    n = ref["steps"]
    comp = step_times(s, n, None, repeats=cfg["repeats"])
    same = {}
    for name in ("price", "illicit_delivered", "seizures", "active"):
        x, y = comp["model"].recorder.a[name][:n], ref["model"].recorder.a[name][:n]
        same[name] = float(np.max(np.abs(x - y) / np.maximum(np.abs(x), 1e-12))) if x.size else 0.0
    ratio = ref["per_step_s"] / comp["per_step_s"]
    rep.data["core_vs_reference"] = {"steps": n, "compiled_per_step_s": comp["per_step_s"],
                                     "reference_per_step_s": ref["per_step_s"], "speedup": ratio,
                                     "max_rel_diff": same}
    rep.row(sec, "steps timed (each core)", n)
    rep.row(sec, "compiled core, per step", comp["per_step_s"] * 1e3, "ms")
    rep.row(sec, "reference core, per step", ref["per_step_s"] * 1e3, "ms")
    rep.row(sec, "speed-up compiled / reference", ratio, "x")
    rep.row(sec, "max rel. diff of outputs", max(same.values()), "", "(prices, deliveries, seizures, active)")
    rep.target("compiled core >= 100x faster than reference", ratio, 100, True, "x")


# ------------------------------------------------------------------------- 2. scaling ----
def scaling(rep: Report, cfg: dict) -> None:
    sec = "2a. Scaling with smugglers (synthetic: 5 commodities, 5 hubs, 2 destinations, ban)"
    pts = []
    for n in cfg["scale_n"]:
        r = step_times(synthetic_world(n, cfg["scale_steps"]), cfg["scale_steps"], repeats=cfg["repeats"])
        lay = r["model"].layout
        pts.append({"smugglers": n, "rows": int(len(r["model"].sm.status)), "init_s": r["init_s"],
                    "first_step_s": r["first_step_s"], "per_step_s": r["per_step_s"], "median_step_s": r["median_step_s"],
                    "active_mean": float(r["model"].recorder.a["active"][:r["steps"]].mean())})
        rep.row(sec, f"{n:>7,} smugglers: per step", r["per_step_s"] * 1e3, "ms",
                f"(model build {r['init_s']:.2f} s, {pts[-1]['active_mean']:.0f} shipping/selling on average)")
    slope = loglog_slope([p["smugglers"] for p in pts], [p["per_step_s"] for p in pts])
    per_smuggler = [p["per_step_s"] / p["smugglers"] * 1e6 for p in pts]
    rep.row(sec, "per smuggler per step", f"{min(per_smuggler):.2f}-{max(per_smuggler):.2f}", "us")
    rep.row(sec, "fitted exponent d log t / d log N", slope, "", "(1 = linear)")
    rep.data["scaling_smugglers"] = {"steps": cfg["scale_steps"], "points": pts, "exponent": slope,
                                     "world": {"commodities": lay.K, "routes": lay.R, "checkpoints": lay.NCP,
                                               "belief_lanes": len(getattr(lay, "lane_names", [])) or lay.NCP,
                                               "markets": lay.M, "options_per_smuggler": lay.K * lay.R * 6}}

    sec = f"2b. Scaling with horizon ({cfg['horizon_n']:,} smugglers, synthetic world)"
    pts = []
    for steps in cfg["horizons"]:
        r = step_times(synthetic_world(cfg["horizon_n"], steps), steps, repeats=cfg["repeats"])
        pts.append({"steps": steps, "per_step_s": r["per_step_s"], "total_s": r["total_s"]})
        rep.row(sec, f"{steps:>4} steps: per step", r["per_step_s"] * 1e3, "ms", f"(total {r['total_s']:.2f} s)")
    e_step = loglog_slope([p["steps"] for p in pts], [p["per_step_s"] for p in pts])
    e_total = loglog_slope([p["steps"] for p in pts], [p["total_s"] for p in pts])
    rep.row(sec, "exponent of per-step cost vs horizon", e_step, "", "(0 = constant per step)")
    rep.row(sec, "exponent of total time vs horizon", e_total, "", "(1 = linear)")
    rep.data["scaling_horizon"] = {"smugglers": cfg["horizon_n"], "points": pts, "exponent_per_step": e_step,
                                   "exponent_total": e_total}


# ---------------------------------------------------------------------- 3. whole runs ----
def child_whole(spec: dict) -> dict:
    """In a fresh process: warm up on a tiny copy; time run_replicate; time a second run split into
    model build / steps / time series + KPIs (the body of run_replicate); a third run under
    tracemalloc gives the peak of memory allocated during a run."""
    import tracemalloc

    from sim.model.kpis import compute_kpis
    from sim.model.runner import run_replicate
    if spec["source"] == "synthetic":
        s, tiny = synthetic_world(spec["n"], spec["steps"]), synthetic_world(50, 5)
    else:
        s, tiny = with_smugglers(load(Path(spec["path"])), spec["n"]), with_smugglers(load(Path(spec["path"])), 50)
    run_replicate(tiny, 0, steps=5)
    rss_before = current_rss_mb()
    reset_peak_rss()
    walls = []
    for _ in range(spec.get("repeats", 1)):
        t0 = time.perf_counter()
        res = run_replicate(s, 0, steps=spec["steps"])
        walls.append(time.perf_counter() - t0)
        if len(walls) == 1:
            rss_peak = peak_rss_mb()  # of one run (later repeats add models not yet garbage-collected)
    wall = min(walls)
    t0 = time.perf_counter()
    m = new_model(s, spec["steps"])
    t1 = time.perf_counter()
    m.run()
    t2 = time.perf_counter()
    m.recorder.timeseries()
    compute_kpis(m)
    t3 = time.perf_counter()
    rows, routes, commodities = int(len(m.sm.status)), m.layout.R, m.layout.K
    del m
    tracemalloc.start()
    run_replicate(s, 0, steps=spec["steps"])
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"wall_s": wall, "build_s": t1 - t0, "steps_s": t2 - t1, "output_s": t3 - t2,
            "traced_peak_mb": traced_peak / 1e6, "rss_before_mb": rss_before, "rss_peak_mb": rss_peak,
            "rss_growth_mb": rss_peak - rss_before,
            "timeseries_rows": len(res.timeseries), "scenario": s.name, "rows": rows, "routes": routes,
            "commodities": commodities}


def current_rss_mb() -> float:
    """Resident memory of this process now (Linux /proc/self/statm), MB; NaN elsewhere."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return math.nan


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0; ignored elsewhere)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """Peak resident memory (VmHWM) of this process, MB. Not ru_maxrss: Linux carries that over from
    the parent through fork and exec, so a child of a big process reports the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_kernels(spec: dict) -> dict:
    """In a fresh process: import time, then the first call of every kernel (compiles it with an empty
    numba cache, loads it from the cache otherwise) during one step of the baseline scenario."""
    t0 = time.perf_counter()
    import sim.model.kernels as kr
    import sim.model.runner  # noqa: F401
    from sim.model.model import SmugglingModel  # noqa: F401
    imported = time.perf_counter() - t0
    probe = njit(lambda x: x + 1)  # numba's one-time set-up happens on the first call of any kernel
    t0 = time.perf_counter()
    probe(1)
    first: dict[str, float] = {"(numba set-up, incl. a 1-line probe)": time.perf_counter() - t0}
    for name in KERNEL_PHASES:
        f = getattr(kr, name, None)
        if f is not None:
            def timed(*a, _f=f, _name=name):
                t = time.perf_counter()
                try:
                    return _f(*a)
                finally:
                    first.setdefault(_name, time.perf_counter() - t)
            setattr(kr, name, timed)
    m = new_model(load(BASELINE), 2)
    m.step()
    return {"import_s": imported, "first_call_s": first}


def run_child(spec: dict, timeout: float = 900, env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                         capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def whole_runs(rep: Report, cfg: dict) -> None:
    n, steps = cfg["whole_n"], cfg["whole_steps"]
    spec = {"source": "synthetic", "n": n, "steps": steps, "repeats": cfg["repeats"]}
    why = f"{HRE.name} not found"
    if HRE.exists():
        try:
            load(HRE)
            spec = {"source": "file", "path": str(HRE), "n": n, "steps": steps, "repeats": cfg["repeats"]}
        except Exception as e:  # noqa: BLE001 - a scenario still being written must not stop the suite
            why = f"{HRE.name} does not load ({' '.join(str(e).split())[:120]})"
    r = run_child(spec)
    name = r["scenario"] if spec["source"] == "file" else f"synthetic world ({why})"
    sec = f"3. Whole run: {steps} weekly steps, {n:,} smugglers, {name}"
    if spec["source"] == "synthetic":
        rep.notes.append(f"whole run used the synthetic 5-commodity world: {why}")
    rep.row(sec, "run_replicate wall time", r["wall_s"], "s",
            f"(after compilation; one process, one core; best of {spec['repeats']})")
    rep.row(sec, "  of which model build", r["build_s"], "s")
    rep.row(sec, "  of which stepping", r["steps_s"], "s", f"({r['steps_s'] / steps * 1e3:.1f} ms/step)")
    rep.row(sec, "  of which time series + KPIs", r["output_s"], "s", f"({r['timeseries_rows']:,} rows)")
    rep.row(sec, "peak memory allocated by the run", r["traced_peak_mb"], "MB", "(tracemalloc: numpy + Python objects)")
    rep.row(sec, "process resident memory: growth", r["rss_growth_mb"], "MB",
            f"(from {r['rss_before_mb']:.0f} MB after imports and warm-up to a peak of {r['rss_peak_mb']:.0f} MB)")
    rep.data["whole_run"] = {**spec, **r}
    ok = n >= 10_000 and steps >= 260
    rep.target("260 steps x 10,000 smugglers after compilation", r["wall_s"], 1.0, False, "s",
               "" if ok else f"quick: {steps} steps x {n:,}")


# ------------------------------------------------------------------------- 4. start-up ----
def sim_command() -> list[str]:
    script = Path(sys.executable).parent / "sim"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sim"]


def timed_cli(args: list[str], env: dict) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    wall = time.perf_counter() - t0
    return wall, "" if out.returncode == 0 else (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]


def startup(rep: Report, cfg: dict) -> None:
    """`sim run` as a user waits for it, with an empty and then a filled numba cache (NUMBA_CACHE_DIR
    pointed at a fresh folder); then, in a second fresh cache, the first call of each kernel
    (compile, then load) and the import time."""
    sec = "4. Start-up: sim run scenarios/baseline_2024.toml --replicates 1 --no-plots"
    data: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-numba-") as tmp:
        cache, cache2 = Path(tmp) / "numba-cache", Path(tmp) / "numba-cache-kernels"
        cache.mkdir()
        cache2.mkdir()
        env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
        env2 = dict(os.environ, NUMBA_CACHE_DIR=str(cache2))
        try:
            from sim import cli  # noqa: F401
            how = "sim run"
            args = sim_command() + ["run", str(BASELINE), "--replicates", "1", "--no-plots", "--out", str(Path(tmp) / "out")]
        except ImportError:
            how = "python -c run_replicate (no `sim run` yet)"
            args = [sys.executable, "-c", "from sim.scenario import load_scenario; from sim.model.runner import run_replicate; "
                    f"run_replicate(load_scenario({str(BASELINE)!r}), 0)"]
            rep.notes.append("start-up timed `python -c run_replicate(...)`: `sim run` is not available")
        data["how"] = how
        if cfg["cold_start"]:
            data["cold_s"], data["cold_error"] = timed_cli(args, env)
            data["cache_files"] = sum(1 for _ in cache.rglob("*.nb[ic]"))
            rep.row(sec, "cold (empty numba cache)", data["cold_s"], "s",
                    f"({data['cache_files']} cache files written){' ERROR ' + data['cold_error'] if data['cold_error'] else ''}")
            data["kernels_cold"] = run_child({"what": "kernels"}, env=env2)
        else:
            env = env2 = dict(os.environ)  # quick: the project's own (already filled) cache
        data["cached_s"], data["cached_error"] = timed_cli(args, env)
        data["kernels_cached"] = run_child({"what": "kernels"}, env=env2)
    rep.row(sec, "cached (second run)", data["cached_s"], "s", f"ERROR {data['cached_error']}" if data["cached_error"] else "")
    rep.row(sec, "  import sim.model.model, sim.model.runner", data["kernels_cached"]["import_s"], "s", "(mesa, pandas, numba)")
    cold = data.get("kernels_cold", {}).get("first_call_s", {})
    warm = data["kernels_cached"]["first_call_s"]
    for name in sorted(warm, key=lambda k: -cold.get(k, warm[k])):
        c = f"compile {cold[name]:.2f} s, " if name in cold else ""
        label = name if name.startswith("(") else f"first call of {name}"
        rep.row(sec, f"  {label}", warm[name], "s", f"({c}cached)")
    if cold:
        rep.row(sec, "  all kernels: compile / load", f"{sum(cold.values()):.2f} / {sum(warm.values()):.2f}", "s")
    rep.data["startup"] = data
    bad = data.get("cold_error") or data["cached_error"]
    rep.target("cold start", data.get("cold_s"), 15.0, False, "s",
               "skipped in --quick" if not cfg["cold_start"] else ("command failed" if bad else ""))
    rep.target("cached start", data["cached_s"], 3.0, False, "s", "command failed" if bad else "")


# ----------------------------------------------------------------------- 5. ensembles ----
def _pid_after(delay: float) -> int:
    time.sleep(delay)
    return os.getpid()


def start_all(ex, workers: int) -> None:
    """Return once `workers` distinct processes of pool `ex` have finished starting (and their initializer)."""
    seen: set[int] = set()
    while len(seen) < workers:
        seen.update(ex.map(_pid_after, [0.2] * workers))


def warm_pool(scenario, workers: int):
    """A process pool (same start method as sim.experiments) whose workers have all loaded the kernels."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from sim.model.runner import run_replicate
    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    ex = ProcessPoolExecutor(workers, mp_context=ctx, initializer=run_replicate, initargs=(scenario, 0, 3))
    start_all(ex, workers)
    return ex


def pool_throughput(ex, scenario, n: int, steps) -> float:
    """Replicates/s of n run_replicate calls on a warm pool (results, with their time series, come back)."""
    from sim.model.runner import run_replicate
    t0 = time.perf_counter()
    list(ex.map(run_replicate, [scenario] * n, range(n), [steps] * n))
    return n / (time.perf_counter() - t0)


def ensembles(rep: Report, cfg: dict) -> None:
    n, steps = cfg["ens_n"], cfg["ens_steps"]
    s = load(ANTIMONY)
    sec = f"5. Ensembles: {n} replicates of {s.name} ({steps or s.steps} steps, {s.smugglers.initial}+{s.smugglers.pool} smugglers)"
    from sim.model.runner import run_replicate
    run_replicate(s, 0, steps=3)
    data = {"replicates": n, "steps": steps or s.steps}
    try:
        from sim.experiments import run_replicates
    except ImportError:
        run_replicates = None
        rep.notes.append("sim.experiments.run_replicates not available: only the ProcessPoolExecutor measurement ran")
    if run_replicates is not None:
        kpis = {}
        for w in (1, 2):
            t0 = time.perf_counter()
            res = run_replicates(s, n, workers=w, progress=False, steps=steps)
            data[f"run_replicates_w{w}_per_s"] = n / (time.perf_counter() - t0)
            kpis[w] = [getattr(r, "kpis", None) for r in res]
            rep.row(sec, f"run_replicates, {w} worker(s)", data[f"run_replicates_w{w}_per_s"], "replicates/s",
                    "(incl. worker start-up)" if w > 1 else "(in-process)")
        data["run_replicates_ratio"] = data["run_replicates_w2_per_s"] / data["run_replicates_w1_per_s"]
        data["same_kpis_1_vs_2_workers"] = json.dumps(kpis[1], sort_keys=True, default=str) == \
            json.dumps(kpis[2], sort_keys=True, default=str)
        rep.row(sec, "  ratio 2 / 1 workers", data["run_replicates_ratio"], "x",
                f"(identical KPIs: {data['same_kpis_1_vs_2_workers']})")
    loadavg = [os.getloadavg()[0]]
    pools = {w: warm_pool(s, w) for w in (1, 2)}
    try:
        best = {1: 0.0, 2: 0.0}
        for w in (1, 2, 2, 1):  # ABBA: load drift hits both alike; the best batch of each counts
            best[w] = max(best[w], pool_throughput(pools[w], s, n, steps))
    finally:
        for ex in pools.values():
            ex.shutdown()
    loadavg.append(os.getloadavg()[0])
    for w in (1, 2):
        data[f"warm_pool_w{w}_per_s"] = best[w]
        rep.row(sec, f"warm process pool, {w} worker(s)", best[w], "replicates/s", "(best of 2 batches)")
    data["warm_pool_ratio"] = best[2] / best[1]
    rep.row(sec, "  ratio 2 / 1 workers", data["warm_pool_ratio"], "x", "(workers started and warmed first)")
    data["load_average_1min_before_after"] = loadavg
    rep.row(sec, "load average before / after", f"{loadavg[0]:.2f} / {loadavg[1]:.2f}", "",
            "(other processes on the cores lower the 2-worker numbers)")
    rep.data["ensembles"] = data
    skip = "fewer than 2 cores" if (os.cpu_count() or 1) < 2 else ("quick: too few, too short runs" if n < 16 else "")
    rep.target("2 workers vs 1, warm pool", data["warm_pool_ratio"], 1.8, True, "x", skip)
    if "run_replicates_ratio" in data:
        rep.target("2 workers vs 1, run_replicates incl. start-up", data["run_replicates_ratio"], 1.8, True, "x", skip)


# --------------------------------------------------------------- 6. profile and floor ----
class PhaseClock:
    """Exclusive time per phase: a phase nested in another (draws inside an agent's update) counts once."""

    def __init__(self):
        self.total: dict[str, float] = {}
        self.stack: list[list] = []

    def wrap(self, phase: str, f):
        def timed(*a, **k):
            self.stack.append([time.perf_counter(), 0.0])
            try:
                return f(*a, **k)
            finally:
                t0, inner = self.stack.pop()
                dt_ = time.perf_counter() - t0
                self.total[phase] = self.total.get(phase, 0.0) + dt_ - inner
                if self.stack:
                    self.stack[-1][1] += dt_
        return timed


class TimedRNG:
    """Delegates to a numpy Generator, timing every call as the phase 'numpy draws'."""

    def __init__(self, rng, clock: PhaseClock):
        self._rng, self._clock = rng, clock

    def __getattr__(self, name):
        f = getattr(self._rng, name)
        return self._clock.wrap("numpy draws", f) if callable(f) else f


KERNEL_PHASES = {"choose": "choose", "depart": "depart", "cross_checkpoints": "cross_checkpoints",
                 "offer_by_market": "markets", "clear_markets": "markets", "sell_gray": "markets",
                 "update_beliefs": "beliefs"}
PHASE_ORDER = ("events", "institutional agents", "numpy draws", "valid options", "choose", "depart",
               "cross_checkpoints", "markets", "beliefs", "recorder", "other Python")


def profiled_run(n: int, steps: int) -> tuple[dict, float, object]:
    """One run with every kernel and model phase wrapped by a timer: (seconds per phase, total, model).
    The first step (first call of each kernel) is not counted."""
    import sim.model.agents as ag
    import sim.model.kernels as kr
    clock = PhaseClock()
    saved_k = {name: getattr(kr, name) for name in KERNEL_PHASES if hasattr(kr, name)}
    classes = [getattr(ag, c) for c in ("ExporterAgent", "CustomsAgent", "TransitCountryAgent", "ProducerAgent",
                                        "BuyerAgent") if hasattr(getattr(ag, c, None), "update")]
    saved_a = {cls: cls.__dict__["update"] for cls in classes if "update" in cls.__dict__}
    try:
        for name, f in saved_k.items():
            setattr(kr, name, clock.wrap(KERNEL_PHASES[name], f))
        for cls, f in saved_a.items():
            cls.update = clock.wrap("institutional agents", f)
        m = new_model(synthetic_world(n, steps), steps)
        m.rng = TimedRNG(m.rng, clock)
        for attr, phase in (("_apply_events", "events"), ("_valid_options", "valid options")):
            if hasattr(m, attr):
                setattr(m, attr, clock.wrap(phase, getattr(m, attr)))
        m.recorder.record = clock.wrap("recorder", m.recorder.record)
        m.datacollector.collect = clock.wrap("recorder", m.datacollector.collect)
        m.step()
        clock.total.clear()
        t0 = time.perf_counter()
        while m.running:
            m.step()
        total = time.perf_counter() - t0
    finally:
        for name, f in saved_k.items():
            setattr(kr, name, f)
        for cls, f in saved_a.items():
            cls.update = f
    missing = sorted(set(KERNEL_PHASES) - set(saved_k))
    return dict(clock.total), total, m, missing


def profile(rep: Report, cfg: dict) -> dict:
    """Time per phase of a step; with repeats, the fastest of each phase (the runs are deterministic)."""
    n, steps = cfg["profile_n"], cfg["profile_steps"]
    runs = [profiled_run(n, steps) for _ in range(cfg["repeats"])]
    timed = steps - 1
    total = min(r[1] for r in runs) / timed
    phases = {p: min(r[0].get(p, 0.0) for r in runs) / timed for p in PHASE_ORDER if p in runs[0][0]}
    phases["other Python"] = max(total - sum(phases.values()), 0.0)
    sec = f"6a. Where a step goes ({n:,} smugglers, synthetic world, mean of {timed} steps)"
    for p in PHASE_ORDER:
        if p in phases:
            rep.row(sec, p, phases[p] * 1e3, "ms", f"{100 * phases[p] / total:5.1f} %")
    rep.row(sec, "total per step", total * 1e3, "ms")
    if runs[0][3]:
        rep.notes.append(f"profile: kernels not found in sim.model.kernels (not timed): {', '.join(runs[0][3])}")
    kernels = sum(v for k, v in phases.items() if k in set(KERNEL_PHASES.values()))
    rep.data["profile"] = {"smugglers": n, "steps_timed": timed, "per_step_s": total,
                           "phases_s_per_step": phases, "kernels_s_per_step": kernels}
    return {"model": runs[-1][2], "per_step_s": total, "kernels_s": kernels}


@njit(cache=True)
def floor_kernel(status, capital, ship_k, ship_r, ship_m, ship_q, ship_unit, ship_depart, ship_pos,
                 a, b, a0, b0, keep, delta, idelta):
    """Read and write every smuggler array once: the least a step over this data can cost.
    `delta`/`idelta` are 0 at run time but unknown to the compiler, so no store is elided."""
    N, NCP, NM = a.shape
    for i in range(N):
        status[i] += idelta
        capital[i] += delta
        ship_k[i] += idelta
        ship_r[i] += idelta
        ship_m[i] += idelta
        ship_q[i] += delta
        ship_unit[i] += delta
        ship_depart[i] += idelta
        ship_pos[i] += idelta
        for c in range(NCP):
            for m in range(NM):
                a[i, c, m] = keep * a[i, c, m] + (1.0 - keep) * a0[c] + delta
                b[i, c, m] = keep * b[i, c, m] + (1.0 - keep) * b0[c] + delta


def floor(rep: Report, prof: dict) -> None:
    m = prof["model"]
    sm = m.sm
    arrs = [np.array(getattr(sm, k)) for k in ("status", "capital", "ship_k", "ship_r", "ship_m", "ship_q",
                                               "ship_unit", "ship_depart", "ship_pos", "a", "b")]
    args = arrs + [np.array(m.a0, float), np.array(m.b0, float), 0.97, 0.0, 0]
    floor_kernel(*args)
    times = []
    for _ in range(30):
        t0 = time.perf_counter()
        floor_kernel(*args)
        times.append(time.perf_counter() - t0)
    fl = float(np.min(times))
    mb = sum(x.nbytes for x in arrs) / 1e6
    sec = f"6b. Floor: one read+write pass over the smuggler arrays ({len(sm.status):,} rows, {mb:.1f} MB)"
    rep.row(sec, "floor per step", fl * 1e3, "ms", f"({2 * mb / 1e3 / fl:.1f} GB/s read+write)")
    rep.row(sec, "model step / floor", prof["per_step_s"] / fl, "x")
    rep.row(sec, "kernels only / floor", prof["kernels_s"] / fl, "x")
    rep.data["floor"] = {"rows": int(len(sm.status)), "megabytes": mb, "floor_s": fl,
                         "step_over_floor": prof["per_step_s"] / fl, "kernels_over_floor": prof["kernels_s"] / fl}
    rep.target("model step within 10x of the floor", prof["per_step_s"] / fl, 10.0, False, "x",
               "" if len(sm.status) >= 10_000 else f"quick: {len(sm.status):,} rows")


# ---------------------------------------------------------------------------- main ----
def write_json(path: Path, data: dict) -> None:
    """Atomic: a temporary file in the same folder, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o))
        f.write("\n")
    os.chmod(tmp, 0o644)  # mkstemp makes it private
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark suite of the simulator (see benchmarks/README.md).")
    ap.add_argument("--quick", action="store_true", help="small sizes, no cold start: a smoke test (<1 min)")
    ap.add_argument("--out", type=Path, help="JSON results file (default: benchmarks/results.json; none with --quick)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps((child_kernels if spec.get("what") == "kernels" else child_whole)(spec)))
        return 0
    from tqdm import tqdm
    cfg = QUICK if args.quick else FULL
    out = args.out or (None if args.quick else ROOT / "benchmarks" / "results.json")
    rep = Report()
    start = time.perf_counter()
    info = machine()
    warm = warm_up()
    sections = [("core vs reference", core_vs_reference), ("scaling", scaling), ("whole run", whole_runs),
                ("start-up", startup), ("ensembles", ensembles)]
    bar = tqdm(total=len(sections) + 1, desc="benchmarks", unit="section", file=sys.stderr)
    for name, fn in sections:
        bar.set_postfix_str(name)
        try:
            fn(rep, cfg)
        except Exception as e:  # noqa: BLE001 - one broken section must not lose the others
            rep.notes.append(f"{name}: FAILED {type(e).__name__}: {' '.join(str(e).split())[:200]}")
        bar.update(1)
    bar.set_postfix_str("profile and floor")
    try:
        floor(rep, profile(rep, cfg))
    except Exception as e:  # noqa: BLE001
        rep.notes.append(f"profile/floor: FAILED {type(e).__name__}: {' '.join(str(e).split())[:200]}")
    bar.update(1)
    bar.close()
    total = time.perf_counter() - start
    info["load_average_1min_end"] = os.getloadavg()[0]
    print(f"machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}, numpy {info['numpy']}, "
          f"numba {info['numba']}; {info['date']}; load average {info['load_average_1min']:.2f}")
    print(f"mode: {'quick' if args.quick else 'full'}; warm-up (load/compile kernels) {warm:.1f} s; "
          f"suite {total:.0f} s")
    print(rep.table())
    if out:
        write_json(out, {"machine": info, "mode": "quick" if args.quick else "full", "config": cfg,
                         "warm_up_s": warm, "suite_s": total, "sections": rep.data, "targets": rep.targets,
                         "notes": rep.notes, "table": rep.table()})
        print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
