"""KPI tables: per-replicate rows and their summary, as files, as terminal text and as JSON.

Terminal tables are drawn with rich and fit 80 columns (long cells wrap inside their column);
values are shown in the registry's display units (shares in %), the JSON summary keeps the
stored units (shares 0-1) and names them, for scripts.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from sim.model.metrics import kpi

SUMMARY_ROWS = ("mean", "p05", "p95")
WIDTH = 80  # terminal columns every table fits in


def kpi_table(results) -> pd.DataFrame:
    """KPIs per replicate (column `replicate`), then rows "mean", "p05", "p95" (NaN-skipping)."""
    per = pd.DataFrame([{"replicate": r.replicate, **r.kpis} for r in sorted(results, key=lambda r: r.replicate)])
    values = per.drop(columns="replicate").astype(float)
    stats = pd.DataFrame([values.mean(), values.quantile(0.05), values.quantile(0.95)])
    stats.insert(0, "replicate", list(SUMMARY_ROWS))
    per["replicate"] = per["replicate"].astype(object)
    return pd.concat([per, stats], ignore_index=True)


def kpi_summary(kpi_df: pd.DataFrame) -> pd.DataFrame:
    """One row per KPI: kpi, unit (stored unit, e.g. share = 0-1), mean, p05, p95."""
    stats = kpi_df.set_index(kpi_df["replicate"].astype(str))
    rows = [{"kpi": k, "unit": kpi(k).unit, **{s: float(stats.at[s, k]) for s in SUMMARY_ROWS}}
            for k in kpi_df.columns if k != "replicate"]
    return pd.DataFrame(rows, columns=["kpi", "unit", *SUMMARY_ROWS])


def kpi_unit(name: str) -> tuple[str, float]:
    """(unit shown, display scale) of a KPI, from the registry (sim.model.metrics)."""
    m = kpi(name)
    return ("" if m.unit == "count" else m.shown_unit), m.display_scale


def fmt_number(v: float) -> str:
    """Readable number: 3 significant digits in millions or billions ("54.0 M", "1.25 bn"),
    thousands separators below a million, about 3 significant digits for small values."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    a = abs(v)
    if a == 0:
        return "0"
    if math.isinf(a):
        return "inf" if v > 0 else "-inf"
    if a >= 1e9:
        return f"{v / 1e9:.3g} bn"
    if a >= 1e6:
        return f"{v / 1e6:.3g} M"
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def table_text(table: Table, width: int = WIDTH) -> str:
    """A rich table rendered as plain text at most `width` columns wide."""
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, force_terminal=False, legacy_windows=False).print(table)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines())


def format_summary(kpi_df: pd.DataFrame, width: int = WIDTH) -> str:
    """Terminal table: KPI, unit, mean, 5 %, 95 % (shares shown in %), at most `width` columns."""
    stats = kpi_df.set_index(kpi_df["replicate"].astype(str))
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    t.add_column("KPI", overflow="fold")
    t.add_column("unit", overflow="fold")
    for head in ("mean", "5 %", "95 %"):
        t.add_column(head, justify="right", no_wrap=True)
    for k in (c for c in kpi_df.columns if c != "replicate"):
        unit, scale = kpi_unit(k)
        t.add_row(k, unit, *(fmt_number(float(stats.at[s, k]) * scale) for s in SUMMARY_ROWS))
    return table_text(t, width)


def _g(x: float, scale: float = 1.0, sign: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    text = fmt_number(float(x) * scale)
    return "+" + text if sign and x > 0 else text


def band_text(lo: float, hi: float, scale: float = 1.0, sign: bool = False) -> str:
    """'13,936-14,276', '15.9-16.3 M', '-6,939 to -5,657': the range of a band, short."""
    a, b = _g(lo, scale, sign), _g(hi, scale, sign)
    if a == "n/a" and b == "n/a":
        return "n/a"
    for suffix in (" M", " bn"):
        if a.endswith(suffix) and b.endswith(suffix):
            a = a.removesuffix(suffix)
    return f"{a} to {b}" if a.startswith(("-", "+")) or b.startswith(("-", "+")) else f"{a}\u2013{b}"


def format_comparison(table: pd.DataFrame, width: int = WIDTH) -> str:
    """Terminal text of a comparison (sim.experiments.compare's format), at most `width` columns.

    Scenarios are lettered (A = the baseline); one table per other scenario X with columns
    A, X and X - A: each cell the mean, with the 5-95 % band across replicates below it.
    Shares are shown in %, their differences in percentage points.
    """
    names = list(dict.fromkeys(table["scenario"]))
    letters = [chr(ord("A") + i) if i < 26 else f"S{i}" for i in range(len(names))]
    idx = table.set_index(["scenario", "kpi"])
    kpis = list(dict.fromkeys(table["kpi"]))
    out = ["\n".join(f"{a}: {n}" + (" (baseline)" if i == 0 else "")
                     for i, (a, n) in enumerate(zip(letters, names)))]
    for j in range(1, len(names)) if len(names) > 1 else [0]:
        t = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        t.add_column("KPI (unit)", overflow="fold")
        heads = [letters[0]] + ([letters[j], f"{letters[j]} - {letters[0]}"] if j else [])
        for h in heads:
            t.add_column(h, justify="right", overflow="fold")
        for k in kpis:
            unit, sc = kpi_unit(k)
            cells = [f"{k}\n({unit})" if unit else k]
            for n in [names[0]] + ([names[j]] if j else []):
                r = idx.loc[(n, k)] if (n, k) in idx.index else None
                cells.append("n/a" if r is None else f"{_g(r['mean'], sc)}\n{band_text(r['p05'], r['p95'], sc)}")
            if j:
                r = idx.loc[(names[j], k)] if (names[j], k) in idx.index else None
                cells.append("n/a" if r is None else f"{_g(r['diff_mean'], sc, True)}\n"
                             f"{band_text(r['diff_p05'], r['diff_p95'], sc, True)}")
            t.add_row(*cells)
        out.append(table_text(t, width))
    out.append("Each cell: mean, then the 5-95 % band across replicates. Differences are paired\n"
               "by replicate; differences of % are in percentage points.")
    return "\n\n".join(out)


def summary_json(kpi_df: pd.DataFrame, **about) -> dict:
    """The run's KPI summary for scripts (`--json`): `about` (e.g. results folder, run id), then
    kpis: {name: {unit, mean, p05, p95}} in stored units (shares 0-1); NaN becomes null."""
    from sim.outputs.results import jsonable

    rows = kpi_summary(kpi_df)
    return jsonable({**about, "kpis": {r.kpi: {"unit": r.unit, "mean": r.mean, "p05": r.p05, "p95": r.p95}
                                       for r in rows.itertuples(index=False)}})
