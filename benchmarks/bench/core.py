"""The compiled step: against the plain-Python reference, scaling with smugglers and horizon,
a whole 260-step run in a fresh process, what a replicate costs to send between processes,
where a step's time goes, and the floor (one pass over the smuggler arrays).

Step timings are CPU seconds of this process (`time.process_time`): the model is one thread,
so that is what it costs one core, whatever else runs on the machine.
"""

from __future__ import annotations

import math
import pickle
import time

import numpy as np
from numba import njit

from bench.common import EPISODE, Clock, Report, big_world, child, in_child, peak_rss_mb, reset_peak_rss, rss_mb, \
    scenario


def new_model(s, steps: int | None = None, core: str = "numba"):
    from sim.model.model import SmugglingModel
    return SmugglingModel(s, 0, steps=steps, core=core)


def step_times(s, steps: int, core: str = "numba", repeats: int = 1, budget_s: float = math.inf) -> dict:
    """CPU seconds per step: build a model and step it, `repeats` times; each step counts its fastest
    time over the repeats (the runs are deterministic, so they do the same work). The first step
    (it loads the kernels in a fresh process) is reported apart."""
    best, builds = None, []
    for _ in range(repeats):
        t0 = time.process_time()
        m = new_model(s, steps, core)
        builds.append(time.process_time() - t0)
        times = []
        while m.running and sum(times) < budget_s and (best is None or len(times) < len(best)):
            a = time.process_time()
            m.step()
            times.append(time.process_time() - a)
        best = np.array(times) if best is None else np.minimum(best[:len(times)], times)
    rest = best[1:] if len(best) > 1 else best
    return {"build_s": min(builds), "first_step_s": float(best[0]), "steps": len(best), "per_step_s": float(rest.mean()),
            "total_s": float(best.sum()), "model": m}


def loglog_slope(x, y) -> float:
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


def warm_up() -> float:
    """Load (or compile) every kernel once, so that later timings leave compilation out."""
    t = time.perf_counter()
    from sim.model.runner import run_replicate
    run_replicate(big_world(50, 12), 0)
    run_replicate(scenario(EPISODE), 0, steps=12)
    return time.perf_counter() - t


# ---------------------------------------------------------------- 1. core vs reference ---
def core_vs_reference(rep: Report, cfg: dict) -> None:
    s = scenario(EPISODE)
    rows = s.smugglers.initial + s.smugglers.pool
    sec = f"1. Compiled core vs plain-Python reference ({s.name}, {rows:,} smugglers incl. the entry pool)"
    ref = step_times(s, cfg["ref_steps"], "reference", budget_s=cfg["ref_budget_s"])
    n = ref["steps"]
    comp = step_times(s, n, repeats=cfg["repeats"])
    diff = {}
    for name in ("price", "illicit_delivered", "seizures", "active"):
        x, y = comp["model"].recorder.a[name][:n], ref["model"].recorder.a[name][:n]
        diff[name] = float(np.max(np.abs(x - y) / np.maximum(np.abs(x), 1e-12))) if x.size else 0.0
    # agent-steps: smuggler rows stepped (every row is visited by the core each step)
    speed = {k: rows / r["per_step_s"] for k, r in (("compiled", comp), ("reference", ref))}
    ratio = ref["per_step_s"] / comp["per_step_s"]
    rep.data["core_vs_reference"] = {"steps": n, "smugglers": rows, "compiled_per_step_s": comp["per_step_s"],
                                     "reference_per_step_s": ref["per_step_s"], "speedup": ratio,
                                     "agent_steps_per_s": speed, "max_rel_diff": diff}
    rep.row(sec, "steps timed (each core)", n)
    rep.row(sec, "compiled core, per step", comp["per_step_s"] * 1e3, "ms CPU")
    rep.row(sec, "reference core, per step", ref["per_step_s"] * 1e3, "ms CPU")
    rep.row(sec, "compiled: agent-steps per second", speed["compiled"], "/s")
    rep.row(sec, "reference: agent-steps per second", speed["reference"], "/s")
    rep.row(sec, "speed-up compiled / reference", ratio, "x")
    rep.row(sec, "max rel. diff of outputs", max(diff.values()), "", "(prices, deliveries, seizures, active)")
    rep.target("compiled core >= 100x the reference (agent-steps/s)", ratio, 100, True, "x")


# ------------------------------------------------------------------------- 2. scaling ---
def scaling(rep: Report, cfg: dict) -> None:
    sec = f"2a. Scaling with smugglers ({cfg['scale_steps']} steps of rare_earths_2025 grown to N + N/10)"
    pts = []
    for n in cfg["scale_n"]:
        r = step_times(big_world(n, cfg["scale_steps"]), cfg["scale_steps"], repeats=cfg["repeats"])
        rows = len(r["model"].sm.status)
        pts.append({"smugglers": n, "rows": rows, "build_s": r["build_s"], "per_step_s": r["per_step_s"],
                    "agent_steps_per_s": rows / r["per_step_s"]})
        rep.row(sec, f"{n:>7,} smugglers: per step", r["per_step_s"] * 1e3, "ms CPU",
                f"({rows / r['per_step_s'] / 1e6:.1f} M agent-steps/s; build {r['build_s']:.2f} s)")
    slope = loglog_slope([p["smugglers"] for p in pts], [p["per_step_s"] for p in pts])
    rep.row(sec, "fitted exponent d log t / d log N", slope, "", "(1 = linear; below 1: fixed costs per step)")
    rep.data["scaling_smugglers"] = {"steps": cfg["scale_steps"], "points": pts, "exponent": slope}

    sec = f"2b. Scaling with horizon ({cfg['horizon_n']:,} smugglers)"
    pts = []
    for steps in cfg["horizons"]:
        r = step_times(big_world(cfg["horizon_n"], steps), steps, repeats=cfg["repeats"])
        pts.append({"steps": steps, "per_step_s": r["per_step_s"], "total_s": r["total_s"]})
        rep.row(sec, f"{steps:>4} steps: per step", r["per_step_s"] * 1e3, "ms CPU", f"(total {r['total_s']:.2f} s)")
    e_step = loglog_slope([p["steps"] for p in pts], [p["per_step_s"] for p in pts])
    rep.row(sec, "exponent of per-step cost vs horizon", e_step, "", "(0 = constant cost per step)")
    rep.data["scaling_horizon"] = {"smugglers": cfg["horizon_n"], "points": pts, "exponent_per_step": e_step}


# ----------------------------------------------------------------------- 3. whole run ---
@in_child
def whole(spec: dict) -> dict:
    """In a fresh process: warm up on a tiny copy; `run_replicate` best of `repeats` (wall and CPU);
    a further run split into build / steps / results; building the long table; peak memory."""
    import tracemalloc

    from sim.model.kpis import compute_kpis
    from sim.model.runner import run_replicate
    n, steps = spec["n"], spec["steps"]
    s = big_world(n, steps)
    run_replicate(big_world(50, steps), 0, steps=5)
    rss_before = rss_mb()
    reset_peak_rss()
    walls, cpus = [], []
    for _ in range(spec["repeats"]):
        with Clock() as c:
            res = run_replicate(s, 0)
        walls.append(c.wall)
        cpus.append(c.cpu)
        if len(walls) == 1:
            rss_peak = peak_rss_mb()
    with Clock() as frame:
        rows = len(res.timeseries)
    with Clock() as build:
        m = new_model(s)
    with Clock() as stepping:
        m.run()
    with Clock() as results:
        m.recorder.recording()
        compute_kpis(m)
    agents = len(m.sm.status)
    del m
    tracemalloc.start()
    run_replicate(s, 0)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"wall_s": min(walls), "cpu_s": min(cpus), "walls_s": walls, "cpus_s": cpus,
            "build_cpu_s": build.cpu, "steps_cpu_s": stepping.cpu, "results_cpu_s": results.cpu,
            "frame_cpu_s": frame.cpu, "timeseries_rows": rows, "rows": agents,
            "agent_steps_per_s": agents * steps / stepping.cpu, "traced_peak_mb": traced_peak / 1e6,
            "rss_growth_mb": rss_peak - rss_before}


def whole_run(rep: Report, cfg: dict) -> None:
    n, steps = cfg["whole_n"], cfg["whole_steps"]
    spec = {"n": n, "steps": steps, "repeats": cfg["repeats"]}
    r = child("whole", spec)
    sec = f"3. Whole run: {steps} weekly steps, {n:,} smugglers (+{n // 10:,} in the pool), rare_earths_2025"
    rep.row(sec, "run_replicate, CPU time", r["cpu_s"], "s",
            f"(one core, after compilation; best of {spec['repeats']}: {', '.join(f'{x:.2f}' for x in r['cpus_s'])})")
    rep.row(sec, "run_replicate, wall time", r["wall_s"], "s", "(includes waiting for the cores other processes hold)")
    rep.row(sec, "  of which model build", r["build_cpu_s"], "s CPU")
    rep.row(sec, "  of which stepping", r["steps_cpu_s"], "s CPU", f"({r['steps_cpu_s'] / steps * 1e3:.2f} ms/step)")
    rep.row(sec, "  of which recording + KPIs", r["results_cpu_s"], "s CPU")
    rep.row(sec, "compiled core: agent-steps per second", r["agent_steps_per_s"], "/s", "(smuggler rows x steps / stepping)")
    rep.row(sec, "long table on first access (RunResult.timeseries)", r["frame_cpu_s"], "s CPU",
            f"({r['timeseries_rows']:,} rows; built where the table is used, e.g. the parent process)")
    rep.row(sec, "peak memory allocated by a run", r["traced_peak_mb"], "MB", "(tracemalloc)")
    rep.row(sec, "resident memory: growth during the first run", r["rss_growth_mb"], "MB")
    rep.data["whole_run"] = {**spec, **r}
    ok = n >= 10_000 and steps >= 260
    rep.target("260 weekly steps x 10,000 smugglers on one core after compilation (CPU time)", r["cpu_s"], 1.0,
               False, "s", "" if ok else f"quick: {steps} steps x {n:,}",
               why=f"stepping {r['steps_cpu_s']:.2f} s, of which the random draws alone take about a tenth "
                   f"(see 6a)")


# --------------------------------------------------------------------- 3b. transfer ---
def transfer(rep: Report, cfg: dict) -> None:
    """What one replicate costs to send from a worker to the parent: pickling the result (arrays)
    against pickling the long table it replaces, and building the table in the parent."""
    import pandas as pd

    from sim.model.runner import run_replicate
    s = scenario(EPISODE)
    res = run_replicate(s, 0, steps=cfg["ens_steps"])
    with Clock() as dump:
        blob = pickle.dumps(res, protocol=pickle.HIGHEST_PROTOCOL)
    with Clock() as load:
        back = pickle.loads(blob)
        frame = back.timeseries
    with Clock() as old_dump:
        old = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    with Clock() as old_load:
        pickle.loads(old)
    pd.testing.assert_frame_equal(frame, res.timeseries)
    sec = f"3b. Sending a replicate between processes ({s.name}, {len(frame):,} time-series rows)"
    rep.row(sec, "RunResult pickled (recorder arrays)", len(blob) / 1e6, "MB", f"({dump.cpu * 1e3:.1f} ms to pickle)")
    rep.row(sec, "  unpickle + build the long table", load.cpu * 1e3, "ms", "(in the parent)")
    rep.row(sec, "the long table pickled (before)", len(old) / 1e6, "MB",
            f"({old_dump.cpu * 1e3:.1f} ms to pickle, {old_load.cpu * 1e3:.1f} ms to unpickle)")
    rep.data["transfer"] = {"rows": len(frame), "result_bytes": len(blob), "result_pickle_s": dump.cpu,
                            "unpickle_and_frame_s": load.cpu, "table_bytes": len(old), "table_pickle_s": old_dump.cpu,
                            "table_unpickle_s": old_load.cpu}


# -------------------------------------------------------------- 6. profile and floor ---
class PhaseClock:
    """Exclusive CPU time per phase: a phase nested in another (draws inside an agent's update) counts once."""

    def __init__(self):
        self.total: dict[str, float] = {}
        self.stack: list[list] = []

    def wrap(self, phase: str, f):
        def timed(*a, **k):
            self.stack.append([time.process_time(), 0.0])
            try:
                return f(*a, **k)
            finally:
                t0, inner = self.stack.pop()
                d = time.process_time() - t0
                self.total[phase] = self.total.get(phase, 0.0) + d - inner
                if self.stack:
                    self.stack[-1][1] += d
        return timed


class TimedRNG:
    """Delegates to a numpy Generator, timing every call as the phase 'random draws'."""

    def __init__(self, rng, clock: PhaseClock):
        self._rng, self._clock = rng, clock

    def __getattr__(self, name):
        f = getattr(self._rng, name)
        return self._clock.wrap("random draws", f) if callable(f) else f


KERNELS = {"choose": "choose", "depart": "depart", "cross_checkpoints": "cross_checkpoints",
           "offer_by_market": "markets", "clear_markets": "markets", "sell_gray": "markets",
           "update_beliefs": "beliefs", "cell_inspection_probs": "markets"}
TRADE = ("netbacks", "update_shares", "update_output", "ship", "diversion_offer", "next_gray_price")
PHASES = ("institutional agents", "random draws", "legal trade (numpy)", "declarations and scores (numpy)",
          "choose", "depart", "cross_checkpoints", "markets", "beliefs", "recorder", "other Python")


def profiled_run(n: int, steps: int) -> tuple[dict, float, object]:
    """One run with every kernel and model phase wrapped by a timer: (CPU seconds per phase, total, model).
    The first step is not counted. The model code is not changed; the wrappers are removed after."""
    import sim.model.agents as ag
    import sim.model.kernels as kr
    import sim.model.trade as tr
    clock = PhaseClock()
    saved = [(kr, name, getattr(kr, name)) for name in KERNELS] + [(tr, name, getattr(tr, name)) for name in TRADE]
    saved += [(cls, "update", cls.__dict__["update"]) for cls in (ag.CustomsAgent, ag.TransitCountryAgent,
                                                                   ag.SupplierAgent)]
    try:
        for owner, name, f in saved:
            phase = KERNELS.get(name) or ("legal trade (numpy)" if owner is tr else "institutional agents")
            setattr(owner, name, clock.wrap(phase, f))
        m = new_model(big_world(n, steps), steps)
        m.rng = TimedRNG(m.rng, clock)
        for attr in ("cell_scores", "legit_containers", "_hubs_open"):
            setattr(m, attr, clock.wrap("declarations and scores (numpy)", getattr(m, attr)))
        m.recorder.record = clock.wrap("recorder", m.recorder.record)
        m.datacollector.collect = clock.wrap("recorder", m.datacollector.collect)
        m.step()
        clock.total.clear()
        t0 = time.process_time()
        while m.running:
            m.step()
        total = time.process_time() - t0
    finally:
        for owner, name, f in saved:
            setattr(owner, name, f)
    return dict(clock.total), total, m


def profile(rep: Report, cfg: dict) -> dict:
    """CPU time per phase of a step; with repeats, the fastest of each phase (the runs are deterministic).
    The step itself is timed again without the timers (they cost about 1 us a call)."""
    n, steps = cfg["profile_n"], cfg["profile_steps"]
    runs = [profiled_run(n, steps) for _ in range(cfg["repeats"])]
    plain = step_times(big_world(n, steps), steps, repeats=cfg["repeats"])["per_step_s"]
    timed = steps - 1
    total = min(r[1] for r in runs) / timed
    phases = {p: min(r[0].get(p, 0.0) for r in runs) / timed for p in PHASES if p in runs[0][0]}
    phases["other Python"] = max(total - sum(phases.values()), 0.0)
    sec = f"6a. Where a step goes ({n:,} smugglers, rare_earths_2025, mean of {timed} steps, CPU)"
    for p in PHASES:
        if p in phases:
            rep.row(sec, p, phases[p] * 1e3, "ms", f"{100 * phases[p] / total:5.1f} %")
    rep.row(sec, "total per step", total * 1e3, "ms", f"(without the timers: {plain * 1e3:.2f} ms)")
    kernels = sum(v for k, v in phases.items() if k in set(KERNELS.values()))
    rep.data["profile"] = {"smugglers": n, "steps_timed": timed, "per_step_s": total, "plain_per_step_s": plain,
                           "phases_s_per_step": phases, "kernels_s_per_step": kernels}
    return {"model": runs[-1][2], "per_step_s": plain, "kernels_s": kernels}


@njit(cache=True)
def floor_kernel(status, capital, ship_k, ship_r, ship_m, ship_q, ship_depart, ship_pos, own_a, own_b, keep, delta,
                 idelta):
    """Read and write every smuggler array once: the least a step over this data can cost.
    `delta`/`idelta` are 0 at run time but unknown to the compiler, so no store is elided."""
    N, NL, NM = own_a.shape
    for i in range(N):
        status[i] += idelta
        capital[i] += delta
        ship_k[i] += idelta
        ship_r[i] += idelta
        ship_m[i] += idelta
        ship_q[i] += delta
        ship_depart[i] += idelta
        ship_pos[i] += idelta
        for c in range(NL):
            for m in range(NM):
                own_a[i, c, m] = keep * own_a[i, c, m] + delta
                own_b[i, c, m] = keep * own_b[i, c, m] + delta


def floor(rep: Report, prof: dict) -> None:
    sm = prof["model"].sm
    arrs = [np.array(getattr(sm, k)) for k in ("status", "capital", "ship_k", "ship_r", "ship_m", "ship_q",
                                               "ship_depart", "ship_pos", "own_a", "own_b")]
    args = [*arrs, 1.0, 0.0, 0]
    floor_kernel(*args)
    times = []
    for _ in range(30):
        t0 = time.process_time()
        floor_kernel(*args)
        times.append(time.process_time() - t0)
    fl = float(np.min(times))
    mb = sum(x.nbytes for x in arrs) / 1e6
    sec = f"6b. Floor: one read+write pass over the smuggler arrays ({len(sm.status):,} rows, {mb:.1f} MB)"
    rep.row(sec, "floor per step", fl * 1e3, "ms CPU", f"({2 * mb / 1e3 / fl:.1f} GB/s read+write; fastest of 30)")
    rep.row(sec, "model step / floor", prof["per_step_s"] / fl, "x", "(the step without the timers of 6a)")
    rep.row(sec, "kernels only / floor", prof["kernels_s"] / fl, "x")
    rep.data["floor"] = {"rows": int(len(sm.status)), "megabytes": mb, "floor_s": fl,
                         "step_over_floor": prof["per_step_s"] / fl, "kernels_over_floor": prof["kernels_s"] / fl}
    rep.target("model step within 10x of the floor", prof["per_step_s"] / fl, 10.0, False, "x",
               "" if len(sm.status) >= 10_000 else f"quick: {len(sm.status):,} rows")


def profile_and_floor(rep: Report, cfg: dict) -> None:
    floor(rep, profile(rep, cfg))
