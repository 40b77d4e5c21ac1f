"""The results folder of a run, written atomically, and the KPI summary table.

    results/<scenario-name>/<run-id>/
        manifest.json        what was run: resolved scenario, seeds, versions, times, command
        timeseries.parquet   every replicate, long format (see CONTRACTS / results/README.md)
        kpis.csv             one row per replicate: replicate, then one numeric column per KPI
        kpi_summary.csv      one row per KPI: kpi, unit, mean, p05, p95 (stored units, e.g. shares 0-1)
        kpis.json            {"per_replicate": [...], "summary": {kpi: {mean, p05, p95}}}
        *.png                charts (sim.plots)

The folder is first written as `.<run-id>.partial` next to its final place and renamed
with os.replace only when complete, so a crash or Ctrl-C never leaves a half-written run
under a real run id; readers ignore names starting with a dot. In JSON files NaN is
written as null and infinity as the string "inf" (pydantic reads "inf" back as a float).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
import secrets
import shutil
from pathlib import Path

import pandas as pd

from sim.outputs.manifest import git_commit, manifest, versions  # noqa: F401 (re-exported)
from sim.outputs.tables import SUMMARY_ROWS, kpi_summary, kpi_table


def new_run_id() -> str:
    """UTC time plus 6 random hex digits, e.g. 20250301T141502Z-a3f9c1: sortable and unique."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def jsonable(x):
    """Make `x` standard JSON: NaN -> None, +-inf -> "inf"/"-inf", dates -> ISO text."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, float) or (hasattr(x, "dtype") and getattr(x, "ndim", 1) == 0):
        x = x.item() if hasattr(x, "item") else x
        if isinstance(x, float) and not math.isfinite(x):
            return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
        return x
    if isinstance(x, (dt.date, dt.datetime)):
        return x.isoformat()
    return x


# ---------------------------------------------------------------- manifest -----------
# ---------------------------------------------------------------- writing ------------
def folder_name(name: str) -> str:
    """A scenario name made safe as a folder name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "scenario"


def file_mode() -> int:
    """The mode open() gives a new file: 0o666 less the process's umask (0o644 under the usual 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: Path):
    """Yield a temporary path next to `path`; when the block ends without error it is renamed
    onto `path` with ordinary permissions (`file_mode`, even if the writer created it 0600, as
    mkstemp does), so readers see the old file or the complete new one, never a part. On an
    error the temporary file is removed and the error re-raised."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(3)}.partial")
    try:
        yield tmp
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file so that it is either the old or the complete new content."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a binary file so that it is either the old or the complete new content."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n", encoding="utf-8")


def tidy_timeseries(ts: pd.DataFrame, run_id: str, scenario_name: str) -> pd.DataFrame:
    """The time series as stored: unused key columns null (not ""), run id and scenario as columns."""
    from sim.model.metrics import KEYS

    ts = ts.copy()
    for k in KEYS:
        col = ts[k].astype("string") if k in ts else pd.Series(pd.NA, index=ts.index, dtype="string")
        ts[k] = col.mask(col == "")
    ts.insert(0, "scenario", pd.Series(scenario_name, index=ts.index, dtype="string"))
    ts.insert(0, "run_id", pd.Series(run_id, index=ts.index, dtype="string"))
    return ts


def write_run(scenario, results, out_root, argv, started, ended, extra_manifest=None,
              before_commit=None) -> Path:
    """Write results/<scenario>/<run-id>/ atomically and return its path.

    `results`: objects with .replicate, .timeseries (long-format DataFrame), .kpis (dict).
    `before_commit(partial_dir)`, if given, runs last inside the partial folder (charts),
    so the final folder appears complete or not at all. On any error or Ctrl-C the partial
    folder is removed and the exception re-raised.
    """
    if not results:
        raise ValueError("no replicate results to write")
    parent = Path(out_root) / folder_name(scenario.name)
    parent.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    partial, final = parent / f".{run_id}.partial", parent / run_id
    partial.mkdir()
    try:
        _write_json(partial / "manifest.json",
                    {"run_id": run_id, **manifest(scenario, results, argv, started, ended, extra_manifest)})
        ts = pd.concat([r.timeseries for r in sorted(results, key=lambda r: r.replicate)], ignore_index=True)
        tidy_timeseries(ts, run_id, scenario.name).to_parquet(partial / "timeseries.parquet", index=False)
        table = kpi_table(results)
        per = table[~table["replicate"].isin(SUMMARY_ROWS)].astype({"replicate": "int64"})
        per.to_csv(partial / "kpis.csv", index=False)
        kpi_summary(table).to_csv(partial / "kpi_summary.csv", index=False)
        stats = table.set_index(table["replicate"].astype(str)).loc[list(SUMMARY_ROWS)].drop(columns="replicate")
        _write_json(partial / "kpis.json", {
            "per_replicate": per.to_dict(orient="records"),
            "summary": {k: {s: stats.at[s, k] for s in SUMMARY_ROWS} for k in stats.columns}})
        if before_commit is not None:
            before_commit(partial)
        os.replace(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final
