"""What a brief says, whatever its format (PDF page, HTML report, slides): the answer in words,
the caveats, the scenarios, the KPI table with a difference column, the provenance.

`brief_content(paths, ...)` reads a comparison folder and/or run folders (baseline first) and
returns a `BriefContent`. The answer is built from the comparison's paired differences
(mean and 5-95 % band) and the share of paired replicates in which the policy does better
(the KPI's better direction comes from sim.model.metrics).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from sim.model.metrics import kpi
from sim.outputs.read import ResultsError
from sim.outputs.tables import band_text, fmt_number
from sim.plots.bounds import Bound, binding_bounds
from sim.plots.effects import lever_label, tornado_rows
from sim.plots.inputs import Comparison, is_compare_dir, load_compare, load_levers, load_validation
from sim.plots.io import Run, load_run

TITLE = "Critical-mineral smuggling under export controls"
HEADLINE = "illicit_delivered_t"
# KPIs in the brief's table, in this order, when present
BRIEF_KPIS = ("illicit_delivered_t", "leakage_share", "interdiction_rate", "weeks_to_halve", "diverted_t",
              "price_peak_index", "price_end_index", "weeks_at_price_guard", "origin_price_index",
              "enforcement_cost_usd", "transit_import_surge", "unmet_demand_t", "defense_shortfall_t",
              "min_stock_cover_days", "legit_inspected", "inspections_per_seizure", "jailed_peak")
PRICE_KPIS = ("price_peak_index", "price_end_index", "origin_price_index")
FEW_REPLICATES = 10
FEW_SETS = 50          # a posterior ensemble worth fewer equally weighted sets gets a caveat


@dataclass
class BriefContent:
    """Everything a brief shows, as text; formats only lay it out."""

    title: str
    question: str
    answer: list[str]                  # one or two sentences per policy scenario
    caveats: list[str]
    scenarios: list[tuple[str, str]]   # (name, one line: role and description)
    header: list[str]                  # KPI table: "KPI (unit)", scenario names, differences
    rows: list[list[str]]
    footnotes: list[str]
    provenance: str
    runs: dict[str, Run]
    table: pd.DataFrame                # comparison rows (sim.experiments.compare format)
    headline: str = HEADLINE
    levers: pd.DataFrame | None = None
    bounds: dict[str, list[Bound]] = field(default_factory=dict)
    frontier: Path | None = None        # a policy-search study folder (sim optimize) to draw

    @property
    def baseline(self) -> str:
        return next(iter(self.runs))


# ---- numbers in words ----------------------------------------------------------------
def quantity(v: float, name: str, diff: bool = False) -> str:
    """A KPI value with its unit for a sentence: '6,230 t', '30.1 %', '3.1 percentage points',
    'USD 24.4 M', '7.3 weeks', '2.9x reference'."""
    m = kpi(name)
    x = fmt_number(abs(v) * m.display_scale if diff else v * m.display_scale)
    u = m.shown_unit
    if u == "%":
        return f"{x} percentage points" if diff else f"{x} %"
    if u == "USD":
        return f"USD {x}"
    if u.startswith("x "):
        return f"{x} times the {u[2:]}" if diff else f"{x}x {u[2:]}"
    return f"{x} {u}" if u and m.unit != "count" else x


def _n_better(run_b: Run, run_p: Run, name: str) -> tuple[int, int] | None:
    """(replicates in which the policy does better, paired replicates), or None when undecidable."""
    better = kpi(name).better
    a, b = run_b.kpi_values(name), run_p.kpi_values(name)
    pair = pd.concat([a, b], axis=1, join="inner").dropna()
    if better is None or pair.empty:
        return None
    d = pair.iloc[:, 1] - pair.iloc[:, 0]
    return int((d < 0).sum() if better == "lower" else (d > 0).sum()), len(d)


def _draws(run: Run) -> str:
    """'replicates', and with a posterior how many distinct parameter sets they drew (a band over
    10 replicates that share 7 sets is not a band over 10 parameter sets)."""
    post = run.manifest.get("posterior")
    if not post:
        return "replicates"
    sets = {d.get("set") for d in post.get("draws", [])}
    return f"replicates over {len(sets)} parameter sets" if sets else "replicates"


def main_sentence(row: pd.Series, base_mean: float, base: str, policy: str, name: str,
                  better: tuple[int, int] | None, paired: bool, draws: str = "replicates") -> str:
    """'Compared with A, B cuts illicit deliveries by 6,230 t over the run (-44 %; 5-95 % of paired
    replicates: 5,657 to 6,939 t less), and does better in 4 of 4 replicates.'"""
    label = kpi(name).label.lower()
    d, lo, hi = row["diff_mean"], row["diff_p05"], row["diff_p95"]
    if not np.isfinite(d):
        return f"The comparison gives no value of {label} for {policy}."
    if d == 0 and (not paired or (lo == 0 and hi == 0)):
        text = f"Compared with {base}, {policy} leaves {label} unchanged ({quantity(base_mean, name)})"
    else:
        verb = "cuts" if d < 0 else "raises"
        rel = f", or {abs(d) / abs(base_mean):.0%}".replace("%", " %") if np.isfinite(base_mean) and \
            base_mean != 0 and kpi(name).display_unit != "%" else ""
        span = " over the run" if kpi(name).unit in ("t", "USD") else ""
        text = f"Compared with {base}, {policy} {verb} {label}{span} by {quantity(d, name, diff=True)}{rel}"
        if paired and np.isfinite(lo) and np.isfinite(hi):
            if hi < 0 or lo > 0:
                way = "less" if hi < 0 else "more"
                band = f"{quantity(min(abs(lo), abs(hi)), name, True)} to {quantity(max(abs(lo), abs(hi)), name, True)}"
                text += f" (5-95 % of paired {draws}: {band} {way})"
            else:
                text += (f" (5-95 % of paired {draws}: from {quantity(lo, name, True)} less to "
                         f"{quantity(hi, name, True)} more, so the change is not clear)")
        elif not paired:
            text += " (difference of means: the runs used different seeds, so no paired band)"
    if better is not None:
        k, n = better
        text += (f", and does better in all {n} {draws}" if k == n else
                 f", and does better in none of the {n} {draws}" if k == 0 else f", and does better in {k} of {n} {draws}")
    return text + "."


def speed_sentence(run: Run) -> str:
    """'After the joint operation, illicit deliveries fall to half within 7.3 weeks (5-95 %: 7.0-7.9).'"""
    w = run.kpi_values("weeks_to_halve")
    if w.empty or w.notna().sum() == 0:
        return ""
    ev = run.headline_event
    after = f"After '{ev['label']}' ({ev['date']:%d %b %Y})" if ev else "After the headline event"
    m, lo, hi = run.kpi_band("weeks_to_halve")
    text = (f"{after}, illicit deliveries in {run.name} fall to half their earlier level within "
            f"{fmt_number(m)} weeks (5-95 %: {band_text(lo, hi)})")
    never = int(w.isna().sum())
    if never:
        text += f"; in {never} of {len(w)} {_draws(run)} they never halve"
    return text + "."


# ---- caveats -------------------------------------------------------------------------
def sensitivity_caveat(levers: pd.DataFrame | None, name: str) -> str:
    if levers is None:
        return "Sensitivity to assumptions was not assessed."
    rows = tornado_rows(levers, name)
    if rows.empty:
        return f"The lever table has no effects on {kpi(name).label.lower()}."
    r = rows.iloc[0]

    def signed(v: float) -> str:
        return ("+" if v > 0 else "\u2212" if v < 0 else "") + quantity(v, name, diff=True)
    return (f"Most sensitive to {lever_label(r['lever'])}: at {r['low_setting']} and {r['high_setting']} it "
            f"moves {kpi(name).label.lower()} by {signed(r['low_mean'])} and {signed(r['high_mean'])} "
            f"against the scenario as given.")


def caveats(runs: dict[str, Run], bounds: dict[str, list[Bound]], levers, name: str,
            validation: pd.DataFrame | None, paired: bool) -> list[str]:
    out = []
    hits = [b.describe(n) for n, bs in bounds.items() for b in bs if b.model_artefact]
    if hits:
        out.append("A bound, not the model's economics, set some values: " + "; ".join(hits) + ".")
    outs = [b for bs in bounds.values() for b in bs if not b.model_artefact and b.weeks >= 0.5]
    if outs:
        worst = max(outs, key=lambda b: b.weeks)
        out.append(f"Buyers ran out of stock in {len({b.where for b in outs})} market(s) for up to "
                   f"{worst.weeks:.0f} weeks ({worst.where}): demand there was cut, not met at a higher price.")
    out.append(sensitivity_caveat(levers, name))
    if validation is None:
        out.append("Held-out checks were not considered.")
    else:
        held = validation[validation["held_out"]]
        bad = held[held["failed"]]
        out.append(f"Held-out checks failed: {', '.join(bad['id'])}." if len(bad) else
                   f"Held-out checks: all {len(held)} passed." if len(held) else "The validation report has no "
                   "held-out checks.")
    n = min(r.replicates for r in runs.values())
    if n < FEW_REPLICATES:
        out.append(f"Only {n} replicates per scenario: the bands are rough.")
    posts = [r.manifest["posterior"] for r in runs.values() if r.manifest.get("posterior")]
    if not posts:
        out.append("Bands show random variation between replicates, not uncertainty in the model's parameters.")
    elif min(p.get("effective_sets", math.inf) for p in posts) < FEW_SETS:
        p = min(posts, key=lambda p: p.get("effective_sets", math.inf))
        out.append(f"The parameter ensemble ({p['n_sets']} sets) is worth about {p['effective_sets']:.0f} equally "
                   "weighted ones: a few sets carry most of the weight, so the bands are coarse.")
    if not paired and len(runs) > 1:
        out.append("The runs used different seeds: differences are of means, without paired bands.")
    return out


# ---- the comparison behind the answer --------------------------------------------------
def _paired(runs: list[Run]) -> bool:
    return len({str(r.seed) for r in runs}) == 1


def comparison_of_runs(runs: dict[str, Run]) -> pd.DataFrame:
    """The comparison table of run folders (baseline first), paired by replicate as `sim compare`
    pairs them; when the seeds differ only the difference of means is kept."""
    from sim.experiments.compare import comparison_table

    res = {n: [SimpleNamespace(replicate=int(rep), kpis={k: float(v) for k, v in row.items() if k != "replicate"})
               for rep, row in zip(r.kpis["replicate"], r.kpis.to_dict(orient="records"))]
           for n, r in runs.items()}
    table = comparison_table(res)
    if not _paired(list(runs.values())):
        base = table[table["scenario"] == next(iter(runs))].set_index("kpi")["mean"]
        table["diff_mean"] = table["mean"] - table["kpi"].map(base)
        table[["diff_p05", "diff_p95"]] = np.nan
    return table


def gather(paths: list[Path]) -> tuple[dict[str, Run], pd.DataFrame, Comparison | None]:
    """Runs (baseline first) and the comparison table from a comparison folder and/or run folders."""
    if not paths:
        raise ResultsError("no results folders given")
    comp, runs = None, {}
    for p in paths:
        if is_compare_dir(Path(p)):
            if comp is not None:
                raise ResultsError(f"{p}: give at most one comparison folder")
            comp = load_compare(Path(p))
            runs.update(comp.runs)
        else:
            r = load_run(Path(p))
            runs[r.name if r.name not in runs else f"{r.name} ({r.run_id})"] = r
    if comp is None:
        return runs, comparison_of_runs(runs), None
    extra = {n: r for n, r in runs.items() if n not in comp.names}
    table = comp.table
    if extra:
        more = comparison_of_runs({comp.baseline: runs[comp.baseline], **extra})
        table = pd.concat([table, more[more["scenario"] != comp.baseline]], ignore_index=True)
    return runs, table, comp


# ---- the table ---------------------------------------------------------------------
def kpi_rows(table: pd.DataFrame, names: list[str], bounds: dict[str, list[Bound]]):
    """Header, rows and footnotes of the brief's KPI table: per scenario mean (band); per other
    scenario the paired difference (band). Price cells where a price bound binds get a dagger."""
    idx = table.set_index(["scenario", "kpi"])
    base = names[0]
    priced = {n for n, bs in bounds.items() if any(b.kind.startswith("price") for b in bs)}
    present = [k for k in BRIEF_KPIS if any((n, k) in idx.index and np.isfinite(idx.loc[(n, k), "mean"])
                                            for n in names)]
    if all((n, "weeks_at_price_guard") not in idx.index or idx.loc[(n, "weeks_at_price_guard"), "p95"] == 0
           for n in names):  # the guard never touched: nothing to show
        present = [k for k in present if k != "weeks_at_price_guard"]
    header = ["Key figure (unit)", *names, *(f"{n}\n\u2212 {base}" for n in names[1:])]
    rows = []
    for k in present:
        m = kpi(k)
        unit = "" if m.unit == "count" else m.shown_unit
        cells = [f"{m.label} ({unit})" if unit else m.label]
        for n in names:
            r = idx.loc[(n, k)] if (n, k) in idx.index else None
            flag = "\u2020" if k in PRICE_KPIS and n in priced else ""
            cells.append("n/a" if r is None or not np.isfinite(r["mean"]) else
                         f"{fmt_number(r['mean'] * m.display_scale)}{flag} ({band_text(r['p05'], r['p95'], m.display_scale)})")
        for n in names[1:]:
            r = idx.loc[(n, k)] if (n, k) in idx.index else None
            if r is None or not np.isfinite(r["diff_mean"]):
                cells.append("n/a")
                continue
            d = fmt_number(r["diff_mean"] * m.display_scale)
            d = ("+" + d) if r["diff_mean"] > 0 else d
            band = band_text(r["diff_p05"], r["diff_p95"], m.display_scale, sign=True)
            cells.append(d if band == "n/a" else f"{d} ({band})")
        rows.append(cells)
    notes = [("Cells: mean (5-95 % of replicates); differences are paired replicate by replicate; "
              "differences of % are in percentage points.")]
    if priced:
        notes.append("\u2020 a price sat on its cap, floor or guard in this scenario (see caveats).")
    return header, rows, notes


def reading_note(run: Run) -> str:
    """What the table's rows measure, in the scenario's words: prices are the focus destination's
    (the origin's for the origin price), totals run over the whole horizon, leakage is defined."""
    sc = run.scenario
    start = dt.date.fromisoformat(str(sc.get("start_date")))
    end = start + dt.timedelta(days=int(sc.get("days_per_step", 7)) * int(sc.get("steps", 0)))
    return (f"Peak and final prices: {run.country_name(run.focus)}, origin price: {run.country_name(run.origin)}, "
            f"each over its reference price. Totals are over the run, {start:%b %Y} to {end:%b %Y}. Leakage: "
            f"illicit deliveries over the restricted destinations' imports from {run.country_name(run.origin)} "
            "before the controls, same period.")


def brief_content(paths: list[Path], levers: Path | None = None, validation: Path | None = None,
                  headline: str | None = None, today: dt.date | None = None,
                  frontier: Path | None = None) -> BriefContent:
    """Read the folders and tables and write the brief's text (see the module docstring)."""
    runs, table, comp = gather([Path(p) for p in paths])
    names = list(runs)
    lev = load_levers(Path(levers)) if levers else None
    if lev is None and comp is not None and (comp.path / "levers.csv").is_file():
        lev = load_levers(comp.path / "levers.csv")
    val = load_validation(Path(validation)) if validation else None
    kpis = set(table["kpi"])
    name = headline or (HEADLINE if HEADLINE in kpis else next((k for k in BRIEF_KPIS if k in kpis), ""))
    if name not in kpis:
        raise ResultsError(f"KPI {name!r} is not in these results (known: {', '.join(sorted(kpis))})")
    bounds = {n: binding_bounds(r) for n, r in runs.items()}
    paired = comp is not None or _paired(list(runs.values()))
    idx = table.set_index(["scenario", "kpi"])
    answer = []
    for n in names[1:]:
        if (n, name) in idx.index:
            answer.append(main_sentence(idx.loc[(n, name)], idx.loc[(names[0], name), "mean"], names[0], n, name,
                                        _n_better(runs[names[0]], runs[n], name) if paired else None, paired,
                                        _draws(runs[n])))
        if name == HEADLINE and (s := speed_sentence(runs[n])):
            answer.append(s)
    if len(names) == 1:
        r = runs[names[0]]
        m, lo, hi = r.kpi_band(name)
        answer.append(f"In {r.name}, {kpi(name).label.lower()} is {quantity(m, name)} "
                      f"(5-95 % of {_draws(r)}: {band_text(lo, hi, kpi(name).display_scale)}).")
        if s := speed_sentence(r):
            answer.append(s)
    question = next((r.scenario.get("question") for r in reversed(list(runs.values())) if r.scenario.get("question")),
                    "")
    scen = [(n, ("baseline: " if i == 0 and len(names) > 1 else "") + (r.scenario.get("description") or
                                                                      "(no description)"))
            for i, (n, r) in enumerate(runs.items())]
    header, rows, notes = kpi_rows(table, names, bounds)
    first = next(iter(runs.values()))
    notes.append(reading_note(first))
    today = today or dt.date.today()
    prov = "; ".join(f"{n}: run {r.run_id}, {r.replicates} {_draws(r)}, seed {r.seed}" for n, r in runs.items())
    prov = (f"Simulation with sim {first.version}. {prov}." + (f" Comparison: {comp.path}." if comp else "")
            + f" Generated {today.isoformat()}.")
    return BriefContent(title=TITLE, question=question, answer=answer,
                        caveats=caveats(runs, bounds, lev, name, val, paired), scenarios=scen, header=header,
                        rows=rows, footnotes=notes, provenance=prov, runs=runs, table=table, headline=name,
                        levers=lev, bounds=bounds, frontier=Path(frontier) if frontier else None)
