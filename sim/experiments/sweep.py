"""Parameter sweeps: grid, Latin hypercube or Sobol designs over any scenario keys.

A sweep folder holds:
  design.json   the vary spec, design, seed, replicates, steps, scenario hash and the points
                (written first; `resume` checks that it matches)
  runs/         Parquet dataset, one file per finished run `p{point:05d}-r{replicate:04d}.parquet`
                with columns run_key, point, replicate, <each varied key>, <each KPI>, error
  points.csv    KPI means over replicates per design point (written at the end)
  sobol.csv     kpi, param, S1, S1_conf, ST, ST_conf: first-order and total Sobol indices
                with 95 % confidence half-widths (Sobol design only)

Every point runs the same replicate seeds (the scenario's master seed), so differences
between points are not blurred by different random streams. Runs stream to disk one file
each (temp name, then os.replace); only KPIs come back from the workers.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.experiments.execution import (
    ExperimentError,
    RunFailure,
    Task,
    check_executor,
    default_run_fn,
    execute,
    replicate_list,
    with_steps,
)
from sim.experiments.params import apply_params, coerce, field_type
from sim.outputs.atomic import FolderBusy, atomic_path, atomic_write_text, folder_lock, remove_stale

DESIGNS = ("grid", "lhs", "sobol")
MAX_RUNS = 200_000  # one file per run, all read back at the end: beyond this, split the sweep
RUN_FILE_BYTES = 4096  # about the disk one run's file takes (a small Parquet file, one block)
SWEEP_FILES = {"design.json", "runs", "points.csv", "sobol.csv", "sweep.json", "charts"}
SOBOL_COLUMNS = ["kpi", "param", "S1", "S1_conf", "ST", "ST_conf"]


@dataclass(frozen=True)
class Vary:
    """One varied key: values from lo to hi; n points (grid: per key; lhs/sobol: N of the design)."""

    key: str
    lo: float
    hi: float
    n: int | None = None


def parse_vary(text: str) -> Vary:
    """'KEY=LO:HI:N' (or 'KEY=LO:HI' for lhs/sobol when another --vary gives N) -> Vary."""
    key, eq, rng = text.partition("=")
    parts = rng.split(":")
    if not eq or not key.strip() or len(parts) not in (2, 3):
        raise ExperimentError(
            f"--vary '{text}': expected KEY=LO:HI:N, e.g. customs.CN.capacity_per_week=100:900:5"
        )
    try:
        lo, hi = float(parts[0]), float(parts[1])
        n = int(parts[2]) if len(parts) == 3 else None
    except ValueError:
        raise ExperimentError(f"--vary '{text}': LO and HI must be numbers and N a whole number") from None
    return Vary(key.strip(), lo, hi, n)


def _as_vary(v) -> Vary:
    if isinstance(v, Vary):
        return v
    if isinstance(v, str):
        return parse_vary(v)
    key, lo, hi, *n = v
    return Vary(str(key), float(lo), float(hi), int(n[0]) if n and n[0] is not None else None)


def check_vary(vary: Sequence[Vary], design: str) -> int | None:
    """Validate the spec; return the common N for lhs/sobol (None for grid)."""
    if design not in DESIGNS:
        raise ExperimentError(f"--design: must be one of {', '.join(DESIGNS)} (got '{design}')")
    if not vary:
        raise ExperimentError("sweep: give at least one --vary KEY=LO:HI:N")
    keys = [v.key for v in vary]
    if len(set(keys)) != len(keys):
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        raise ExperimentError(f"--vary: each key may be varied once (repeated: {', '.join(repeated)})")
    for v in vary:
        if not np.isfinite([v.lo, v.hi]).all() or v.lo > v.hi:
            raise ExperimentError(f"--vary {v.key}: need finite LO <= HI (got {v.lo:g}:{v.hi:g})")
        if v.n is not None and v.n < 1:
            raise ExperimentError(f"--vary {v.key}: N must be >= 1 (got {v.n})")
        tp = field_type(v.key)
        if tp not in (int, float):
            what = (
                "unknown scenario key"
                if tp is None
                else f"not a numeric key (it holds {getattr(tp, '__name__', tp)})"
            )
            raise ExperimentError(f"--vary {v.key}: {what}")
        if design == "grid" and v.n is None:
            raise ExperimentError(f"--vary {v.key}: a grid needs N points per key (KEY=LO:HI:N)")
        if design == "sobol" and v.lo == v.hi:
            raise ExperimentError(f"--vary {v.key}: a Sobol design needs LO < HI")
    if design == "grid":
        return None
    ns = {v.n for v in vary if v.n is not None}
    if len(ns) != 1:
        raise ExperimentError(
            f"--design {design}: N is the size of the whole design; give it once or "
            f"the same in every --vary (got {sorted(ns) or 'none'})"
        )
    return ns.pop()


def design_size(vary: Sequence[Vary], design: str) -> int:
    """The number of points of the design (without building it)."""
    n = check_vary(vary, design)
    if design == "grid":
        return math.prod(v.n for v in vary)
    return n if design == "lhs" else n * (len(vary) + 2)


def check_size(vary: Sequence[Vary], design: str, n_reps: int, out: Path) -> int:
    """Refuse a design whose runs (points x replicates) exceed MAX_RUNS or the free disk; return
    the number of points."""
    points = design_size(vary, design)
    runs = points * n_reps
    from sim.outputs.results import fmt_bytes, free_bytes

    need = runs * RUN_FILE_BYTES + points * len(vary) * 24
    if runs > MAX_RUNS:
        raise ExperimentError(
            f"sweep: {points:,} points x {n_reps} replicates = {runs:,} runs (one file each, about "
            f"{fmt_bytes(need)}); at most {MAX_RUNS:,} runs per sweep: use fewer points or replicates, "
            "or an lhs/sobol design")
    free = free_bytes(out if out.exists() else next(p for p in out.parents if p.exists()))
    if need > 0.95 * free:
        raise ExperimentError(f"sweep: {runs:,} runs need about {fmt_bytes(need)} but {out} has "
                              f"{fmt_bytes(free)} free; use fewer points or replicates, or another --out")
    return points


def design_points(vary: Sequence[Vary], design: str, seed: int) -> np.ndarray:
    """The design as an array (points x keys), unrounded.

    grid: every combination of np.linspace(lo, hi, n) per key (the first key varies slowest).
    lhs: N points of scipy's LatinHypercube, random stream SeedSequence(seed).
    sobol: SALib's Saltelli/Sobol sample with base N, N x (keys + 2) points (no second-order terms).
    """
    n = check_vary(vary, design)
    if design == "grid":
        axes = [np.linspace(v.lo, v.hi, v.n) for v in vary]
        return np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(vary))
    lo, hi = np.array([v.lo for v in vary]), np.array([v.hi for v in vary])
    if design == "lhs":
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(
            d=len(vary), rng=np.random.default_rng(np.random.SeedSequence(seed))
        ).random(n)
        return lo + unit * (hi - lo)
    sample, _ = _salib()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SALib warns when N is not a power of 2
        return sample.sample(_problem(vary), n, calc_second_order=False, seed=seed % 2**32)


def _salib():
    try:
        from SALib.analyze import sobol as analyze
        from SALib.sample import sobol as sample
    except ImportError:
        raise ExperimentError("--design sobol needs SALib: pip install 'mineral-smuggling-sim[sa]'") from None
    return sample, analyze


def _problem(vary: Sequence[Vary]) -> dict:
    return {"num_vars": len(vary), "names": [v.key for v in vary], "bounds": [[v.lo, v.hi] for v in vary]}


def run_key(point: int, replicate: int) -> str:
    return f"p{point:05d}-r{replicate:04d}"


_KEY = re.compile(r"p(\d{5,})-r(\d{4,})\.parquet")


def _spec(scenario, vary, design, seed, reps, steps) -> dict:
    digest = hashlib.sha256(scenario.model_dump_json().encode()).hexdigest()
    return {
        "scenario": scenario.name,
        "scenario_sha256": digest,
        "design": design,
        "seed": int(seed),
        "vary": [asdict(v) for v in vary],
        "replicates": reps,
        "steps": steps,
    }


def check_out(out: Path) -> None:
    """A sweep writes only into a new or empty folder, or a sweep folder: never into a run
    folder or a folder of other files (ExperimentError naming what is there)."""
    if out.exists() and not out.is_dir():
        raise ExperimentError(f"--out {out}: is a file, not a folder")
    for p in out.parents:
        if p.exists():
            if not p.is_dir():
                raise ExperimentError(f"--out {out}: {p} is a file, not a folder")
            break
    if not out.is_dir():
        return
    other = sorted(e for e in os.listdir(out) if not e.startswith(".") and e not in SWEEP_FILES)
    if other:
        kind = "a run folder" if "manifest.json" in other else "not a sweep folder"
        raise ExperimentError(f"--out {out}: {kind} (it holds {', '.join(other[:3])}"
                              f"{', ...' if len(other) > 3 else ''}); give a new or empty folder, "
                              "or the folder of a sweep to --resume")


def _start(out: Path, spec: dict, points: np.ndarray, resume: bool) -> None:
    """Write design.json (new sweep) or check it against this sweep (resume)."""
    path = out / "design.json"
    old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    diff = [k for k in spec if old is not None and old.get(k) != spec[k]]
    if resume:
        if old is None:
            raise ExperimentError(f"--resume: {out} holds no sweep (design.json missing)")
        if diff:
            what = "; ".join(f"{k}: was {old.get(k)!r}, now {spec[k]!r}" for k in diff)
            raise ExperimentError(
                f"--resume: this sweep differs from the one in {out}/design.json ({what}); "
                "rerun with the same arguments and scenario, or use a new --out"
            )
        return
    started = (out / "runs").is_dir() and any(_KEY.fullmatch(f) for f in os.listdir(out / "runs"))
    if path.exists() and (diff or started):
        raise ExperimentError(
            f"--out {out} already holds a sweep; add --resume to continue it or choose another --out"
        )
    (out / "runs").mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({**spec, "n_points": len(points), "points": points.tolist()}, indent=2) + "\n")


def _arrow_schema(vary: Sequence[Vary], kpis: Sequence[str]) -> pa.Schema:
    fields = [("run_key", pa.string()), ("point", pa.int64()), ("replicate", pa.int64())]
    fields += [(v.key, pa.int64() if field_type(v.key) is int else pa.float64()) for v in vary]
    fields += [(k, pa.float64()) for k in kpis] + [("error", pa.string())]
    return pa.schema(fields)


def _write_run_file(runs: Path, row: dict, schema: pa.Schema) -> None:
    with atomic_path(runs / (row["run_key"] + ".parquet")) as tmp:
        pq.write_table(pa.Table.from_pylist([row], schema=schema), tmp)


def _tasks(base, vary, points, reps, steps, todo: set) -> Iterator[Task]:
    """Tasks point by point, building each point's scenario only when its turn comes.

    A point whose scenario is invalid gets a `BadPoint`; its runs fail with the reason.
    """
    for p, x in enumerate(points):
        keys = [(p, r) for r in reps if (p, r) in todo]
        if not keys:
            continue
        params = {v.key: coerce(v.key, float(val)) for v, val in zip(vary, x, strict=True)}
        try:
            sc = apply_params(base, params)
        except ExperimentError as e:
            sc = BadPoint(f"{base.name}-p{p}", str(e))
        for key in keys:
            yield Task((key, params), sc, key[1], steps)


def sweep(
    scenario,
    vary: Sequence,
    design: str = "grid",
    replicates: int | Sequence[int] = 1,
    out_dir: str | os.PathLike = "sweep",
    resume: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    run_fn: Callable | None = None,
    *,
    steps: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run a design of points x replicates, streaming KPIs to out_dir/runs/; return all runs.

    vary: Vary objects, 'KEY=LO:HI:N' strings or (key, lo, hi, n) tuples. Integer keys get
    rounded values. replicates: a count or explicit indices (same seeds at every point).
    resume: skip runs whose file exists (design.json must match this call).
    Returns the dataset as a DataFrame sorted by run_key (see `read_runs`).
    """
    check_executor(workers, scheduler)
    run_fn = run_fn or default_run_fn()
    vary = [_as_vary(v) for v in vary]
    base = with_steps(scenario, steps)
    reps = replicate_list(replicates)
    out = Path(out_dir)
    check_out(out)
    check_size(vary, design, len(reps), out)
    points = design_points(vary, design, base.seed)
    for v in vary:  # fail fast on an out-of-range bound, before any run
        for val in {v.lo, v.hi}:
            apply_params(base, {v.key: val})
    try:
        with folder_lock(out, "a sweep"):
            return _sweep_locked(base, vary, design, reps, points, out, resume, workers, scheduler,
                                 run_fn, steps, progress)
    except FolderBusy as e:
        raise ExperimentError(f"--out {e}") from None


def _sweep_locked(base, vary, design, reps, points, out: Path, resume, workers, scheduler, run_fn,
                  steps, progress) -> pd.DataFrame:
    """The body of `sweep`, run while this process holds the folder's lock."""
    _start(out, _spec(base, vary, design, base.seed, reps, steps), points, resume)
    runs = out / "runs"
    runs.mkdir(exist_ok=True)
    remove_stale(runs)
    remove_stale(out)
    done = {(int(m.group(1)), int(m.group(2))) for f in os.listdir(runs) if (m := _KEY.fullmatch(f))}
    every = {(p, r) for p in range(len(points)) for r in reps}
    todo = every - done
    schemas: dict[tuple, pa.Schema] = {}
    for ((p, r), params), outcome in execute(
        _tasks(base, vary, points, reps, steps, todo),
        len(every),
        Guard(run_fn),
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        kpis_only=True,
        desc=f"sweep {base.name}",
        initial=len(every) - len(todo),
    ):
        row = {"run_key": run_key(p, r), "point": p, "replicate": r, **params}
        if isinstance(outcome, RunFailure):
            row["error"], kpis = outcome.error, ()
        else:
            row.update(outcome)
            row["error"], kpis = "", tuple(outcome)
        if kpis not in schemas:
            schemas[kpis] = _arrow_schema(vary, kpis)
        _write_run_file(runs, row, schemas[kpis])
    df = read_runs(out)
    _write_csv_atomic(points_frame(df, vary), out / "points.csv")
    if design == "sobol":
        _write_csv_atomic(sobol_indices(df, vary, len(points), base.seed), out / "sobol.csv")
    return df


def _write_csv_atomic(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


class Guard:
    """run_fn wrapper: a point whose scenario could not be built fails with that message."""

    def __init__(self, run_fn):
        self.run_fn = run_fn

    def __call__(self, scenario, replicate, steps=None):
        if isinstance(scenario, BadPoint):
            raise ExperimentError(scenario.error)
        return self.run_fn(scenario, replicate, steps=steps)


@dataclass(frozen=True)
class BadPoint:
    name: str
    error: str


def read_runs(out_dir: str | os.PathLike) -> pd.DataFrame:
    """The sweep's runs/ dataset as one DataFrame, sorted by run_key (failed runs: NaN KPIs)."""
    runs = Path(out_dir) / "runs"
    files = sorted(f for f in os.listdir(runs) if _KEY.fullmatch(f))
    if not files:
        return pd.DataFrame(columns=["run_key", "point", "replicate", "error"])
    # Files of failed runs lack the KPI columns: concatenating promotes them (null -> NaN).
    table = pa.concat_tables([pq.read_table(runs / f) for f in files], promote_options="default")
    df = table.to_pandas()
    cols = [c for c in df.columns if c != "error"] + ["error"]
    return df[cols].sort_values("run_key", ignore_index=True)


def _kpi_columns(runs: pd.DataFrame, vary: Sequence[Vary]) -> list[str]:
    fixed = {"run_key", "point", "replicate", "error"} | {v.key for v in vary}
    return [c for c in runs.columns if c not in fixed]


def points_frame(runs: pd.DataFrame, vary: Sequence[Vary]) -> pd.DataFrame:
    """Per design point: the varied keys, KPI means over successful replicates, n_ok, n_failed."""
    vary = [_as_vary(v) for v in vary]
    keys = [v.key for v in vary]
    kpis = _kpi_columns(runs, vary)
    ok = runs[runs["error"] == ""]
    out = runs.groupby("point", sort=True)[keys].first()
    out = out.join(ok.groupby("point")[kpis].mean())
    out["n_ok"] = ok.groupby("point").size().reindex(out.index, fill_value=0)
    out["n_failed"] = runs.groupby("point").size() - out["n_ok"]
    return out.reset_index()


def sobol_indices(runs: pd.DataFrame, vary: Sequence, n_points: int, seed: int) -> pd.DataFrame:
    """First-order (S1) and total (ST) Sobol indices per KPI and varied key (column `param`),
    with their 95 % confidence half-widths.

    Replicates are averaged per point first. A KPI that is NaN at some point (all its runs
    failed, or the KPI is undefined there) gets NaN indices.
    """
    vary = [_as_vary(v) for v in vary]
    _, analyze = _salib()
    problem = _problem(vary)
    ok = runs[runs["error"] == ""]
    means = ok.groupby("point")[_kpi_columns(runs, vary)].mean().reindex(range(n_points))
    rows = []
    for kpi in means.columns:
        y = means[kpi].to_numpy(dtype=float)
        res = None
        if np.isfinite(y).all() and np.ptp(y) > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = analyze.analyze(
                    problem, y, calc_second_order=False, print_to_console=False, seed=seed % 2**32
                )
        for i, v in enumerate(vary):
            idx = {name: float(res[name][i]) if res is not None else np.nan for name in SOBOL_COLUMNS[2:]}
            rows.append({"kpi": kpi, "param": v.key, **idx})
    return pd.DataFrame(rows, columns=SOBOL_COLUMNS)
