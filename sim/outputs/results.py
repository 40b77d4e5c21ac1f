"""Results folders: the folder of a run, written atomically, and the KPI summary table.

    results/<scenario-name>/<run-id>/
        manifest.json        what was run: resolved scenario, seeds, versions, times, command
        timeseries.parquet   every replicate, long format, in replicate order (row groups); run_id and
                             scenario as columns, unused key columns null
        kpis.csv             one row per replicate: replicate, then one numeric column per KPI
        kpi_summary.csv      one row per KPI: kpi, unit, mean, p05, p95 (stored units, e.g. shares 0-1)
        kpis.json            {"per_replicate": [...], "summary": {kpi: {mean, p05, p95}}}
        charts/              charts (sim.plots)

The folder is built as hidden `.<run-id>.partial` and renamed only when complete (see
sim.outputs.atomic, the one atomic writer, re-exported here), so a crash, Ctrl-C or kill
never leaves a half-written run under a real run id; a killed run's partial folder is
removed by the next run. `RunWriter` streams replicates to disk as they finish, so a run
holds only its KPIs in memory however many replicates it has. In JSON files NaN is written
as null and infinity as the string "inf" (pydantic reads "inf" back as a float).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import math
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from sim.outputs.atomic import (  # noqa: F401 (re-exported: the one atomic writer)
    FolderBusy,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    file_mode,
    folder_lock,
    partial_dir,
    remove_stale,
    writing,
)
from sim.outputs.manifest import git_commit, manifest, versions  # noqa: F401 (re-exported)

TS_BATCH_ROWS = 250_000  # rows of time series gathered before they are written as one row group


class OutputError(OSError):
    """An output location that cannot be used; its message is one line for the user."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


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


def json_text(obj) -> str:
    """`obj` as indented standard JSON text (see `jsonable`), ending in a newline."""
    return json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n"


MAX_NAME = 80  # characters of a scenario name kept in a folder name (file systems allow 255 bytes)


def folder_name(name: str) -> str:
    """A scenario name made safe as a folder name (a long name is cut and given a short hash)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "scenario"
    if len(safe) > MAX_NAME:
        import hashlib

        safe = safe[:MAX_NAME - 9].rstrip("._-") + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return safe


# ---------------------------------------------------------------- before computing ---
def prepare_folder(folder: str | os.PathLike, option: str = "--out") -> Path:
    """Make sure files can be written in `folder` (created if missing) before any computing.

    Raises OutputError naming `option` and the path: a file where a folder should be, no
    permission, a read-only file system. Removes partial folders of dead runs found there.
    """
    folder = Path(folder)
    for p in [folder, *folder.parents]:
        if p.exists():
            if not p.is_dir():
                raise OutputError(errno.ENOTDIR, f"{option} {folder}: {p} is a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe.{os.getpid()}.{secrets.token_hex(3)}.tmp"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        probe.unlink()
    except OSError as e:
        why = e.strerror or str(e)
        raise OutputError(e.errno, f"{option} {folder}: cannot write there ({why})") from None
    remove_stale(folder)
    return folder


def run_parent(out_root: str | os.PathLike, scenario_name: str) -> Path:
    """<out_root>/<scenario folder>, checked writable (see prepare_folder)."""
    prepare_folder(out_root)
    return prepare_folder(Path(out_root) / folder_name(scenario_name))


def free_bytes(folder: str | os.PathLike) -> int:
    """Free space for this user on the file system holding `folder` (bytes)."""
    return shutil.disk_usage(folder).free


def available_memory() -> int:
    """Memory the system can give without swapping (MemAvailable, bytes); total RAM if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def fmt_bytes(n: float) -> str:
    """1536 -> '1.5 KB' (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


# ---------------------------------------------------------------- writing ------------
@dataclass(frozen=True)
class Done:
    """A finished replicate as the results folder keeps it in memory: its index and KPIs."""

    replicate: int
    kpis: dict


class RunWriter:
    """Stream the results of one run into `<parent>/.<run-id>.partial/`, then commit it.

        with RunWriter(scenario, parent, replicates) as w:
            for outcome in ...: w.add(result) or w.skip(replicate)
            w.commit(argv, started, ended, extra_manifest, before_commit)

    Time series are written in replicate order whatever the order they arrive in (results
    that come early wait in memory for their predecessors), so the file is the same for any
    number of workers. Only KPIs are kept. A write error (e.g. a full disk) is remembered in
    `error` (an OSError naming the file) and later time series are dropped, so the caller
    can still show the KPIs; `commit` then raises it. Leaving the block without commit, by
    an error or Ctrl-C, removes the partial folder.
    """

    def __init__(self, scenario, parent: Path, replicates):
        self.scenario, self.parent = scenario, Path(parent)
        self.order = sorted(int(r) for r in replicates)
        self.next = 0  # index in self.order of the next replicate to write
        self.waiting: dict[int, object] = {}  # replicate -> time series (None: failed) not yet written
        self.done: list[Done] = []
        self.error: OSError | None = None
        self.rows = 0
        self._batch: list = []
        self._batch_rows = 0
        self._pq = None
        self.run_id = new_run_id()
        self._ctx = partial_dir(self.parent / self.run_id)

    def __enter__(self) -> RunWriter:
        self.path = self._ctx.__enter__()
        return self

    def __exit__(self, typ, value, tb) -> bool:
        self._close_parquet()
        ctx, self._ctx = self._ctx, None
        if ctx is not None:  # not committed: remove the partial folder
            if typ is None:
                typ, value = RuntimeError, RuntimeError("RunWriter left without commit")
            ctx.__exit__(typ, value, tb)
        return False

    @property
    def ts_path(self) -> Path:
        return self.path / "timeseries.parquet"

    def shown(self, name: str) -> Path:
        """The final path of file `name` of this run (what an error message names)."""
        return self.parent / self.run_id / name

    def add(self, result) -> None:
        """Take a finished replicate (an object with .replicate, .timeseries, .kpis)."""
        self.done.append(Done(int(result.replicate), {k: float(v) for k, v in result.kpis.items()}))
        self._arrive(int(result.replicate), result.timeseries)

    def skip(self, replicate: int) -> None:
        """A replicate that failed: nothing to write, but later ones need not wait for it."""
        self._arrive(int(replicate), None)

    def _arrive(self, replicate: int, ts) -> None:
        self.waiting[replicate] = ts
        while self.next < len(self.order) and self.order[self.next] in self.waiting:
            frame = self.waiting.pop(self.order[self.next])
            self.next += 1
            if frame is not None and self.error is None:
                self._batch.append(frame)
                self._batch_rows += len(frame)
                if self._batch_rows >= TS_BATCH_ROWS:
                    self._flush()

    def _flush(self) -> None:
        if not self._batch or self.error is not None:
            self._batch, self._batch_rows = [], 0
            return
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        frame = tidy_timeseries(pd.concat(self._batch, ignore_index=True), self.run_id, self.scenario.name)
        self._batch, self._batch_rows = [], 0
        try:
            with writing(self.shown("timeseries.parquet")):
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if self._pq is None:
                    self._pq = pq.ParquetWriter(self.ts_path, table.schema)
                elif not table.schema.equals(self._pq.schema, check_metadata=False):
                    table = table.cast(self._pq.schema)
                self._pq.write_table(table)
                self.rows += len(frame)
        except OSError as e:
            self.error = e
            self._close_parquet()

    def _close_parquet(self) -> None:
        pqw, self._pq = self._pq, None
        if pqw is not None:
            try:
                with writing(self.shown("timeseries.parquet")):
                    pqw.close()
            except OSError as e:
                self.error = self.error or e

    def kpi_table(self):
        """KPIs per replicate and the mean, p05, p95 rows (sim.outputs.tables.kpi_table)."""
        from sim.outputs.tables import kpi_table

        return kpi_table(self.done)

    def commit(self, argv, started, ended, extra_manifest=None, before_commit=None) -> Path:
        """Write the manifest and KPI files, call before_commit(partial folder), rename; return the path.

        Raises the remembered write error, if any (the partial folder is then removed)."""
        if not self.done:
            raise ValueError("no replicate results to write")
        self._flush()
        self._close_parquet()
        if self.error is not None:
            raise self.error
        from sim.outputs.tables import SUMMARY_ROWS, kpi_summary

        p = self.path
        doc = {"run_id": self.run_id, **manifest(self.scenario, self.done, argv, started, ended, extra_manifest)}
        with writing(self.shown("manifest.json")):
            (p / "manifest.json").write_text(json_text(doc), encoding="utf-8")
        table = self.kpi_table()
        per = table[~table["replicate"].isin(SUMMARY_ROWS)].astype({"replicate": "int64"})
        with writing(self.shown("kpis.csv")):
            per.to_csv(p / "kpis.csv", index=False)
        with writing(self.shown("kpi_summary.csv")):
            kpi_summary(table).to_csv(p / "kpi_summary.csv", index=False)
        stats = table.set_index(table["replicate"].astype(str)).loc[list(SUMMARY_ROWS)].drop(columns="replicate")
        with writing(self.shown("kpis.json")):
            (p / "kpis.json").write_text(json_text({
                "per_replicate": per.to_dict(orient="records"),
                "summary": {k: {s: stats.at[s, k] for s in SUMMARY_ROWS} for k in stats.columns}}),
                encoding="utf-8")
        if before_commit is not None:
            before_commit(p)
        ctx, self._ctx = self._ctx, None
        ctx.__exit__(None, None, None)
        return self.parent / self.run_id


def tidy_timeseries(ts, run_id: str, scenario_name: str):
    """The time series as stored: unused key columns null (not ""), run id and scenario as columns."""
    import pandas as pd

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
    folder is removed and the exception re-raised (an OSError names the file).
    """
    if not results:
        raise ValueError("no replicate results to write")
    parent = run_parent(out_root, scenario.name)
    with RunWriter(scenario, parent, [r.replicate for r in results]) as w:
        for r in results:
            w.add(r)
        return w.commit(argv, started, ended, extra_manifest, before_commit)
