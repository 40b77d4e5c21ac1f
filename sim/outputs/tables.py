"""The KPI summary table: per-replicate rows, mean and 5-95 % band, formatted for a terminal."""

from __future__ import annotations

import math

import pandas as pd

from sim.model.metrics import kpi

SUMMARY_ROWS = ("mean", "p05", "p95")


def kpi_table(results) -> pd.DataFrame:
    """KPIs per replicate (column `replicate`), then rows "mean", "p05", "p95" (NaN-skipping)."""
    per = pd.DataFrame([{"replicate": r.replicate, **r.kpis} for r in sorted(results, key=lambda r: r.replicate)])
    values = per.drop(columns="replicate").astype(float)
    stats = pd.DataFrame([values.mean(), values.quantile(0.05), values.quantile(0.95)])
    stats.insert(0, "replicate", list(SUMMARY_ROWS))
    per["replicate"] = per["replicate"].astype(object)
    return pd.concat([per, stats], ignore_index=True)


def kpi_unit(name: str) -> tuple[str, float]:
    """(unit shown, display scale) of a KPI, from the registry (sim.model.metrics)."""
    m = kpi(name)
    return ("" if m.unit == "count" else m.shown_unit), m.display_scale


def fmt_number(v: float) -> str:
    """Readable number: thousands separators when large, about 3 significant digits else."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    a = abs(v)
    if a == 0:
        return "0"
    if math.isinf(a):
        return "inf" if v > 0 else "-inf"
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def format_summary(kpi_df: pd.DataFrame) -> str:
    """Plain aligned text table: KPI, unit, mean, 5 %, 95 % (shares shown in %)."""
    stats = kpi_df.set_index(kpi_df["replicate"].astype(str))
    rows = [("KPI", "unit", "mean", "5 %", "95 %")]
    for k in (c for c in kpi_df.columns if c != "replicate"):
        unit, scale = kpi_unit(k)
        rows.append((k, unit, *(fmt_number(float(stats.at[s, k]) * scale) for s in SUMMARY_ROWS)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  " +
                     "  ".join(f"{x:>{w}}" for x, w in zip(r[2:], widths[2:])) for r in rows)
