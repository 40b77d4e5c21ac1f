"""Readers for what a brief draws on besides run folders: comparison folders, lever-effect
tables and validation reports. Each checks the shape it reads and raises `ResultsError` with
one line naming the file and the problem.

Comparison folder (written by `sim compare`, sim.experiments.compare.write_compare):
    comparison.json  {"baseline", "scenarios", "run_dirs": {name: relative path}, "rows": [...]}
    comparison.csv   one row per (scenario, kpi): mean, p05, p95, diff_mean, diff_p05, diff_p95
    <scenario>/<run-id>/  one results folder per scenario

Lever effects (`levers.csv`, written by `sim levers`; the calibration's sensitivity tables may
use the same shape): one row per (lever, setting, kpi):
    lever    the scenario key or a reader's name for the lever
    setting  its low and high value (numbers, or the words "low" and "high")
    value    optional: the setting as shown on charts (e.g. "x2", "0.65"), when `setting` names the end
    kpi      a KPI name (sim.model.metrics)
    mean, p05, p95   the KPI's paired change from the scenario as given (KPI units), mean and
                     5-95 % band across replicates

Validation report: docs/validation.md (the markdown table written by `sim validate-facts`),
or a CSV/JSON table, with columns `id` and `result`; a row is a held-out check when its id
starts with H or a column (`role`, `used`, `kind`, `calibration`) says "held out".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.outputs.read import ResultsError, expect, read_json
from sim.plots.io import Run, load_run

COMPARISON_COLUMNS = ["scenario", "kpi", "mean", "p05", "p95", "diff_mean", "diff_p05", "diff_p95"]
LEVER_COLUMNS = ["lever", "setting", "kpi", "mean", "p05", "p95"]


@dataclass
class Comparison:
    """A comparison folder: the table (baseline first) and the scenarios' results folders."""

    path: Path
    table: pd.DataFrame
    runs: dict[str, Run]
    doc: dict

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(self.table["scenario"]))

    @property
    def baseline(self) -> str:
        return self.names[0]


def is_compare_dir(path: Path) -> bool:
    """A comparison folder itself, or a folder of them (compare-<names>/)."""
    path = Path(path)
    return any((p / "comparison.json").is_file() or (p / "comparison.csv").is_file()
               for p in (path, *(sorted(path.iterdir()) if path.is_dir() else [])))


def check_table(path: Path, df: pd.DataFrame, columns: list[str], numeric: list[str]) -> pd.DataFrame:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ResultsError(f"{path}: missing columns {', '.join(missing)}")
    for c in numeric:
        v = pd.to_numeric(df[c].replace({"inf": np.inf, "-inf": -np.inf}), errors="coerce")
        bad = df[c].notna() & v.isna()
        if bad.any():
            raise ResultsError(f"{path}: column {c}, row {int(np.argmax(bad.to_numpy())) + 1}: expected a number "
                               f"(got {df[c][bad].iloc[0]!r})")
        df[c] = v.astype(float)
    return df


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise ResultsError(f"{path}: not found") from None
    except (OSError, ValueError) as e:  # pandas' parser errors are ValueErrors
        raise ResultsError(f"{path}: cannot read ({e})".splitlines()[0]) from None


def load_compare(path: Path) -> Comparison:
    """A comparison folder (or the newest one inside compare-<names>/), with its runs loaded."""
    path = Path(path)
    if not ((path / "comparison.json").is_file() or (path / "comparison.csv").is_file()):
        inside = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")
                        and ((p / "comparison.json").is_file() or (p / "comparison.csv").is_file()))
        if not inside:
            raise ResultsError(f"{path}/comparison.json: not found (not a comparison folder)")
        path = inside[-1]
    doc, jp = {}, path / "comparison.json"
    if jp.is_file():
        doc = expect(jp, "", read_json(jp), dict)
        rows = expect(jp, "rows", doc.get("rows"), list)
        for i, r in enumerate(rows):
            expect(jp, f"rows[{i}]", r, dict)
        table = check_table(jp, pd.DataFrame(rows, columns=None), COMPARISON_COLUMNS, COMPARISON_COLUMNS[2:])
        run_dirs = expect(jp, "run_dirs", doc.get("run_dirs", {}), dict)
        for n, rel in run_dirs.items():
            expect(jp, f"run_dirs.{n}", rel, str)
    else:
        table = check_table(path / "comparison.csv", _read_csv(path / "comparison.csv"), COMPARISON_COLUMNS,
                            COMPARISON_COLUMNS[2:])
        run_dirs = {}
    if table.empty:
        raise ResultsError(f"{jp if doc else path / 'comparison.csv'}: no rows")
    names = list(dict.fromkeys(table["scenario"]))
    runs = {}
    for n in names:
        rel = run_dirs.get(n)
        folder = path / rel if rel else path / n
        if folder.is_dir():
            runs[n] = load_run(folder)
    return Comparison(path=path, table=table[COMPARISON_COLUMNS].copy(), runs=runs, doc=doc)


def load_levers(path: Path) -> pd.DataFrame:
    """A lever-effects table (see the module docstring) with a column `end` ("low"/"high")."""
    path = Path(path)
    df = check_table(path, _read_csv(path), LEVER_COLUMNS, ["mean", "p05", "p95"])
    if df.empty:
        raise ResultsError(f"{path}: no rows")
    ends = []
    for lever, d in df.groupby("lever", sort=False):
        s = d["setting"].astype(str).str.strip().str.lower()
        num = pd.to_numeric(d["setting"], errors="coerce")
        if num.notna().all():
            lo, hi = num.min(), num.max()
            end = np.where(num == lo, "low", np.where(num == hi, "high", "mid"))
        elif set(s) <= {"low", "high", "base", "mid"}:
            end = s.to_numpy()
        else:  # order of appearance: the first setting is low, the last high
            first, last = s.iloc[0], s.iloc[-1]
            end = np.where(s == first, "low", np.where(s == last, "high", "mid"))
        ends.append(pd.Series(end, index=d.index))
    shown = df["value"].where(df["value"].notna(), df["setting"]) if "value" in df.columns else df["setting"]
    shown = shown.map(lambda v: f"{float(v):g}" if _is_number(v) else str(v))
    return df.assign(end=pd.concat(ends).reindex(df.index), setting=shown)


def _is_number(v) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _markdown_table(path: Path, text: str) -> pd.DataFrame:
    """The first markdown table whose header has `id` and `result`."""
    rows, header = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip().strip("`*") for c in line.strip().strip("|").split("|")]
        if header is None:
            low = [c.lower() for c in cells]
            header = low if "id" in low and "result" in low else None
        elif not set(line) <= set("|-: "):  # skip the |---|---| line
            rows.append(dict(zip(header, cells)))
    if not header:
        raise ResultsError(f"{path}: no table with columns id and result")
    return pd.DataFrame(rows)


def load_validation(path: Path) -> pd.DataFrame:
    """Validation rows: columns id, fact (if given), held_out (bool), failed (bool)."""
    path = Path(path)
    if path.suffix.lower() == ".md":
        try:
            df = _markdown_table(path, path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ResultsError(f"{path}: cannot read ({e.strerror or e})") from None
    elif path.suffix.lower() == ".json":
        data = read_json(path)
        data = data.get("facts", data.get("rows")) if isinstance(data, dict) else data
        df = pd.DataFrame(expect(path, "facts", data, list))
    else:
        df = _read_csv(path)
    df.columns = [str(c).lower() for c in df.columns]
    check_table(path, df, ["id", "result"], [])
    role = next((c for c in ("role", "used", "kind", "calibration") if c in df.columns), None)
    held = df["id"].astype(str).str.upper().str.startswith("H")
    if role:
        held = held | df[role].astype(str).str.lower().str.contains("held")
    failed = df["result"].astype(str).str.lower().str.contains("fail")
    return pd.DataFrame({"id": df["id"].astype(str), "fact": df.get("fact", df["id"]).astype(str),
                         "held_out": held.to_numpy(), "failed": failed.to_numpy()})
