"""Comparing scenarios with common random numbers.

Every scenario runs with the SAME replicate seeds: the master seed of the first scenario
(or an explicit `seed`) replaces each scenario's own, so replicate r of scenario B sees
the same random stream as replicate r of scenario A. Differences are then paired:
diff_r = KPI_B,r - KPI_A,r, and the band is the 5-95 % range of those paired differences.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sim.experiments.execution import (
    ExperimentError,
    RunFailure,
    Task,
    default_run_fn,
    execute,
    replicate_list,
    with_steps,
)
from sim.outputs.atomic import atomic_write_text, partial_dir

COLUMNS = ["scenario", "kpi", "mean", "p05", "p95", "diff_mean", "diff_p05", "diff_p95"]


def common_seed_scenarios(scenarios: Sequence, seed: int | None = None, steps: int | None = None) -> list:
    """Copies of the scenarios sharing one master seed (the first scenario's unless `seed`)."""
    if not scenarios:
        raise ExperimentError("compare: give at least one scenario")
    names = [s.name for s in scenarios]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ExperimentError(
            f"compare: scenario names must differ (repeated: {', '.join(dup)}); "
            "give each scenario its own `name` (e.g. a file that extends the other)"
        )
    s0 = int(scenarios[0].seed if seed is None else seed)
    return [with_steps(s.model_copy(update={"seed": s0}), steps) for s in scenarios]


def compare(
    scenarios: Sequence,
    replicates: int | Sequence[int],
    workers: int | None = None,
    scheduler: str | None = None,
    run_fn: Callable | None = None,
    *,
    seed: int | None = None,
    steps: int | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict[str, list]]:
    """Run every scenario on the same replicate seeds; return (comparison, results_by_scenario).

    comparison: one row per (scenario, KPI) with columns scenario, kpi, mean, p05, p95 (over
    replicates) and diff_mean, diff_p05, diff_p95 (paired difference to the first scenario,
    0 for the first). `comparison.attrs["common_seed"]` is the master seed all scenarios used.
    results_by_scenario: scenario name -> list of RunResult / RunFailure in replicate order.
    """
    run_fn = run_fn or default_run_fn()
    scs = common_seed_scenarios(scenarios, seed, steps)
    reps = replicate_list(replicates)
    tasks = [Task((i, j), sc, r, steps) for i, sc in enumerate(scs) for j, r in enumerate(reps)]
    by_name: dict[str, list] = {sc.name: [None] * len(reps) for sc in scs}
    for (i, j), outcome in execute(
        tasks, len(tasks), run_fn, workers=workers, scheduler=scheduler, progress=progress, desc="compare"
    ):
        by_name[scs[i].name][j] = outcome
    table = comparison_table(by_name)
    table.attrs["common_seed"] = scs[0].seed
    return table, by_name


def _kpis_by_replicate(results: Sequence) -> dict[int, dict[str, float]]:
    return {r.replicate: dict(r.kpis) for r in results if not isinstance(r, RunFailure)}


def _band(x: np.ndarray) -> tuple[float, float, float]:
    x = x[~np.isnan(x)]
    if x.size == 0:
        return (np.nan, np.nan, np.nan)
    return (float(x.mean()), float(np.percentile(x, 5)), float(np.percentile(x, 95)))


def comparison_table(results_by_scenario: dict[str, list]) -> pd.DataFrame:
    """The comparison DataFrame (see `compare`) from results per scenario; first scenario = baseline.

    Failed runs are left out; a difference uses the replicates that succeeded in both.
    """
    per = {name: _kpis_by_replicate(res) for name, res in results_by_scenario.items()}
    kpis: list[str] = []
    for d in per.values():
        for row in d.values():
            kpis += [k for k in row if k not in kpis]
    base_name = next(iter(per))
    base = per[base_name]
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, d in per.items():
            paired = sorted(set(d) & set(base))
            for k in kpis:
                vals = np.array([d[r].get(k, np.nan) for r in sorted(d)], dtype=float)
                diff = np.array([d[r].get(k, np.nan) - base[r].get(k, np.nan) for r in paired], dtype=float)
                m, lo, hi = _band(vals)
                dm, dlo, dhi = (0.0, 0.0, 0.0) if name == base_name else _band(diff)
                rows.append([name, k, m, lo, hi, dm, dlo, dhi])
    return pd.DataFrame(rows, columns=COLUMNS)


def crn_note(scenarios: Sequence, replicates: Sequence[int]) -> str:
    """The sentence saying which seeds the comparison used."""
    reps = list(replicates)
    span = (
        f"{reps[0]}..{reps[-1]}" if reps == list(range(reps[0], reps[-1] + 1)) else ", ".join(map(str, reps))
    )
    return (
        f"Common random numbers: every scenario ran replicates {span} with master seed "
        f"{scenarios[0].seed} (from {scenarios[0].name}), so differences are paired by replicate."
    )


def failure_manifest(results: Sequence) -> dict:
    """Manifest entry listing failed replicates with their errors and tracebacks (empty if none)."""
    fails = [
        {"replicate": f.replicate, "error": f.error, "traceback": f.traceback}
        for f in results
        if isinstance(f, RunFailure)
    ]
    return {"failed_replicates": fails} if fails else {}


def write_compare(
    out_root: str | os.PathLike,
    scenarios: Sequence,
    results_by_scenario: dict[str, list],
    table: pd.DataFrame,
    argv: Sequence[str],
    started,
    ended,
    fmt: str = "png",
    run_charts: Callable | None = None,
    compare_charts: bool = True,
    extra_manifest: dict | None = None,
) -> Path:
    """Write <out_root>/compare-<names>/<run-id>/ atomically and return its path.

    Contents: comparison.csv, comparison.json, one results folder per scenario
    (`<scenario>/<run-id>/`, written by sim.outputs.results.write_run; failed replicates are left
    out and listed in its manifest) and the comparison charts (sim.plots.write_compare_charts).
    `scenarios` are the common-seed copies that ran (see `common_seed_scenarios`).
    run_charts(run_dir) draws a scenario's own charts inside its folder (None: no charts).
    extra_manifest: entries added to every scenario's manifest and to comparison.json (e.g. the posterior).
    """
    from sim.outputs import results as outputs

    names = [s.name for s in scenarios]
    parent = Path(out_root) / outputs.folder_name("compare-" + "-".join(names))
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / outputs.new_run_id()
    with partial_dir(final) as partial:
        extra = {"compare": {"scenarios": names, "baseline": names[0], "common_seed": scenarios[0].seed},
                 **(extra_manifest or {})}
        run_dirs: dict[str, Path] = {}
        for sc in scenarios:
            res = results_by_scenario[sc.name]
            ok = [r for r in res if not isinstance(r, RunFailure)]
            if ok:
                run_dirs[sc.name] = outputs.write_run(
                    sc,
                    ok,
                    partial,
                    argv,
                    started,
                    ended,
                    extra_manifest={**extra, **failure_manifest(res)},
                    before_commit=run_charts,
                )
        table.to_csv(partial / "comparison.csv", index=False)
        fails = {
            n: [f.replicate for f in res if isinstance(f, RunFailure)]
            for n, res in results_by_scenario.items()
        }
        doc = {
            "baseline": names[0],
            "scenarios": names,
            "common_seed": scenarios[0].seed,
            "replicates": len(next(iter(results_by_scenario.values()))),
            "failed_replicates": fails,
            "run_dirs": {n: str(p.relative_to(partial)) for n, p in run_dirs.items()},
            "note": "diff_* are paired differences to the baseline (same replicate seeds); "
            "p05/p95 are the 5th/95th percentiles over replicates",
            "command_line": list(argv),
            "started": started.isoformat(),
            "ended": ended.isoformat(),
            "rows": json.loads(table.to_json(orient="records")),
            **(extra_manifest or {}),
        }
        atomic_write_text(partial / "comparison.json", outputs.json_text(doc))
        if compare_charts:
            draw_charts("write_compare_charts", partial, run_dirs, table, fmt)
    return final


def draw_charts(name: str, *args) -> None:
    """Call sim.plots.<name>(*args) (imported only now: matplotlib is slow to load); a chart
    error is a warning, not a lost run."""
    import sim.plots

    try:
        getattr(sim.plots, name)(*args)
    except Exception as e:  # noqa: BLE001 - charts must not cost the analyst the results
        print(f"warning: charts not written: {type(e).__name__}: {e}", file=sys.stderr)
