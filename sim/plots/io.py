"""Read a results folder (manifest.json, timeseries.parquet, kpis.json) for plotting.

`load_run(path)` accepts a run folder (results/<scenario>/<run-id>/) or a scenario folder
(results/<scenario>/, the newest run is taken). Problems raise `ResultsError` with a
one-line message naming the file and what is wrong (shapes are checked by
sim.outputs.read), for the CLI to print with exit status 2. Folders of older versions
(no `supplier` column, "" instead of null in unused key columns) read the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from sim.model.metrics import KEYS
from sim.outputs.read import ResultsError, read_kpis_json, read_manifest

__all__ = ["KEYS", "ResultsError", "Run", "find_run", "load_run"]


@dataclass
class Run:
    """One results folder: manifest, long time series, KPIs per replicate and summary."""

    path: Path
    manifest: dict
    ts: pd.DataFrame
    kpis: pd.DataFrame  # one row per replicate, KPI columns
    summary: dict = field(default_factory=dict)  # kpi -> {mean, p05, p95}

    # ---- manifest shortcuts ----------------------------------------------------------
    @property
    def scenario(self) -> dict:
        return self.manifest.get("scenario", {})

    @property
    def name(self) -> str:
        return self.scenario.get("name", self.path.parent.name)

    @property
    def run_id(self) -> str:
        # charts may be drawn inside the partial folder ".<run-id>.partial" before its rename
        return str(self.manifest.get("run_id") or self.path.name.lstrip(".").removesuffix(".partial"))

    @property
    def replicates(self) -> int:
        return int(self.manifest.get("replicates") or self.ts["replicate"].nunique())

    @property
    def seed(self):
        m = self.manifest
        return m.get("master_seed", m.get("seed", self.scenario.get("seed", "?")))

    @property
    def version(self) -> str:
        m = self.manifest
        return str(m.get("versions", {}).get("sim") or m.get("package_version", "?"))

    @property
    def started(self) -> str:
        """Start time of the run (ISO, as in the manifest), or ''."""
        return str(self.manifest.get("started", self.manifest.get("start_time", "")))

    @property
    def per_week(self) -> float:
        """Factor from per-step to per-week quantities."""
        return 7.0 / float(self.scenario.get("days_per_step", 7))

    @cached_property
    def events(self) -> list[dict]:
        """Policy events with `date` as a pandas Timestamp, in date order."""
        out = [{**e, "date": pd.Timestamp(e["date"])} for e in self.manifest.get("events", []) if e.get("date")]
        return sorted(out, key=lambda e: e["date"])

    @property
    def headline_event(self) -> dict | None:
        """The scenario's headline event (default: its first, as for weeks_to_halve; the starts of
        controls listed among the events for the charts do not count), or None."""
        want = self.scenario.get("headline_event") or ""
        own = [e for e in self.events if not str(e.get("id", "")).startswith("control:")]
        return next((e for e in own if e.get("id") == want), own[0] if own else None)

    def countries(self, role: str) -> list[str]:
        return [c for c, v in self.scenario.get("countries", {}).items() if role in v.get("roles", [])]

    @property
    def origin(self) -> str:
        return (self.countries("origin") or [""])[0]

    @property
    def focus(self) -> str:
        """The restricted destination the KPIs focus on (default: the first destination)."""
        return self.scenario.get("restricted_focus") or (self.countries("destination") or [""])[0]

    def country_name(self, c: str) -> str:
        return self.scenario.get("countries", {}).get(c, {}).get("name") or c

    def source(self) -> str:
        """Provenance line printed under every chart."""
        return (f"Scenario {self.name} | {self.replicates} replicates | seed {self.seed} | "
                f"sim {self.version} | run {self.run_id}")

    # ---- series --------------------------------------------------------------------
    def metric(self, metric: str, **filters) -> pd.DataFrame:
        d = self.ts[self.ts["metric"] == metric]
        for k, v in filters.items():
            d = d[d[k] == v]
        return d

    def wide(self, metric: str, by: str | None = None, weekly: bool = False, smooth: int = 1,
             **filters) -> pd.DataFrame:
        """A metric summed over unnamed keys: rows (group, date), one column per replicate.

        `weekly` converts per-step flows to per week; `smooth` > 1 takes a trailing moving
        average over that many steps within each replicate. Missing cells count as 0.
        """
        d = self.metric(metric, **filters)
        if d.empty:                     # e.g. a metric a folder written by an older version lacks
            return pd.DataFrame()
        grp = d[by] if by else pd.Series("", index=d.index)
        d = d.assign(group=grp.to_numpy())
        wide = d.pivot_table(index=["group", "date"], columns="replicate", values="value",
                             aggfunc="sum", fill_value=0.0)
        if weekly:
            wide = wide * self.per_week
        if smooth > 1:
            wide = wide.groupby(level="group", group_keys=False).apply(
                lambda g: g.rolling(smooth, min_periods=1).mean())
        return wide

    def quantiles(self, metric: str, by: str | None = None, weekly: bool = False, smooth: int = 1,
                  **filters) -> pd.DataFrame:
        """Bands across replicates per date (and group): columns [group, date, p05, p25, p50, p75, p95]
        (see `wide` for the arguments)."""
        w = self.wide(metric, by, weekly, smooth, **filters)
        if w.empty:
            return pd.DataFrame(columns=["group", "date", "p05", "p25", "p50", "p75", "p95"])
        q = w.quantile([0.05, 0.25, 0.5, 0.75, 0.95], axis=1).T
        q.columns = ["p05", "p25", "p50", "p75", "p95"]
        return q.reset_index()

    def means(self, metric: str, by: str, weekly: bool = False, **filters) -> pd.DataFrame:
        """Mean across replicates per date, one column per group (rows: dates). Means add up:
        the groups' means sum to the mean of the total, which medians do not."""
        w = self.wide(metric, by, weekly, **filters)
        return w.mean(axis=1).unstack("group", fill_value=0.0) if not w.empty else pd.DataFrame()

    def totals(self, metric: str, by: str | list[str], **filters) -> pd.Series:
        """Sum over the run per replicate, mean over replicates, per group (e.g. t per route)."""
        d = self.metric(metric, **filters)
        by = [by] if isinstance(by, str) else list(by)
        per_rep = d.groupby(["replicate", *by])["value"].sum().unstack(by, fill_value=0.0)
        per_rep = per_rep.reindex(sorted(self.ts["replicate"].unique()), fill_value=0.0)
        return per_rep.mean().sort_index()

    def kpi_values(self, kpi: str) -> pd.Series:
        """A KPI per replicate (index: replicate), NaN where undefined; empty when absent."""
        if kpi not in self.kpis or "replicate" not in self.kpis:
            return pd.Series(dtype=float)
        return self.kpis.set_index("replicate")[kpi].astype(float).sort_index()

    def kpi_band(self, kpi: str) -> tuple[float, float, float]:
        """(mean, p05, p95) of a KPI across replicates (NaN when absent)."""
        s = self.summary.get(kpi)
        if s:
            # JSON has no NaN: an undefined KPI is written as null
            return tuple(np.nan if s.get(q) is None else float(s[q]) for q in ("mean", "p05", "p95"))
        if kpi in self.kpis:
            v = self.kpis[kpi].astype(float)
            return float(v.mean()), float(v.quantile(0.05)), float(v.quantile(0.95))
        return (np.nan,) * 3


def find_run(path: Path) -> Path:
    """The run folder itself, or the newest run inside a scenario folder."""
    path = Path(path)
    if (path / "manifest.json").is_file():
        return path
    if not path.is_dir():
        raise ResultsError(f"{path}: no such results folder")
    runs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and (p / "manifest.json").is_file())
    if not runs:
        raise ResultsError(f"{path}/manifest.json: not found (not a results folder, and no runs inside)")
    return runs[-1]


def load_run(path: Path) -> Run:
    """Load a results folder for plotting (see module docstring)."""
    path = find_run(Path(path))
    manifest = read_manifest(path)
    tp = path / "timeseries.parquet"
    try:
        ts = pd.read_parquet(tp)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for missing/corrupt files
        raise ResultsError(f"{tp}: cannot read ({type(e).__name__}: {e})".splitlines()[0]) from None
    missing = {"replicate", "date", "metric", "value"} - set(ts.columns)
    if missing:
        raise ResultsError(f"{tp}: missing columns {', '.join(sorted(missing))}")
    if not pd.api.types.is_numeric_dtype(ts["value"]):
        raise ResultsError(f"{tp}: column value: expected numbers (got {ts['value'].dtype})")
    try:
        ts["date"] = pd.to_datetime(ts["date"])
    except (ValueError, TypeError) as e:
        raise ResultsError(f"{tp}: column date: not dates ({e})".splitlines()[0]) from None
    for k in KEYS:  # one internal form: "" for an unused key, whether stored as null or ""
        ts[k] = ts[k].astype(object).where(ts[k].notna(), "").astype(str) if k in ts else ""
    kpis, summary = pd.DataFrame(), {}
    kj, kc = path / "kpis.json", path / "kpis.csv"
    if kj.is_file():
        rows, summary = read_kpis_json(kj)
        kpis = pd.DataFrame(rows)
    elif kc.is_file():
        try:
            k = pd.read_csv(kc, dtype={"replicate": str})
        except (OSError, ValueError) as e:
            raise ResultsError(f"{kc}: cannot read ({e})".splitlines()[0]) from None
        if "replicate" not in k:
            raise ResultsError(f"{kc}: missing column replicate")
        k = k[~k["replicate"].isin(["mean", "p05", "p95"])]  # older files kept the summary rows here
        kpis = k.assign(replicate=pd.to_numeric(k["replicate"], errors="coerce"))
    return Run(path=path, manifest=manifest, ts=ts, kpis=kpis, summary=summary)
