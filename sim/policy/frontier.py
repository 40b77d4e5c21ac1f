"""What a search found: every candidate, the non-dominated set, the cheapest mix per constraint,
the robust choice; written to the study folder and read back for charts and the brief.

Files (next to study.db):
  candidates.parquet   every evaluated mix: trial, lever values, every KPI's mean over
                       replicates, 5-95 % band (`<kpi>_p05`, `<kpi>_p95`) of the objectives, the
                       cost and the constrained KPIs, `meets <constraint>`, non_dominated, command
  frontier.csv/.parquet  the non-dominated mixes (same columns), cheapest first
  cheapest.csv         per constraint (and all together): the cheapest mix meeting it on average
  robust.csv           with a posterior: worst decile per mix and the robust choices
  summary.json         the search, the status quo, counts and the answers (read by charts/brief)
  answer.txt           the answers in words, as printed at the end of `sim optimize`
Means and bands are those `sim run` reports (sim.outputs.tables.kpi_table), so every row's
`command` reproduces its numbers.
"""

from __future__ import annotations

import json
import math
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from sim.model.metrics import KPI, kpi
from sim.outputs.atomic import atomic_path, atomic_write_text
from sim.outputs.results import jsonable
from sim.outputs.tables import fmt_number, kpi_table
from sim.policy.robust import robust_choice, worst_deciles
from sim.policy.search import Problem, constraint_bounds

FILES = ("candidates.parquet", "frontier.csv", "frontier.parquet", "cheapest.csv", "robust.csv",
         "summary.json", "answer.txt")


@dataclass
class Report:
    """Tables and facts of a finished (or interrupted) search; `summary` is JSON-ready."""

    candidates: pd.DataFrame
    frontier: pd.DataFrame
    cheapest: pd.DataFrame
    robust: pd.DataFrame
    summary: dict
    answer: list[str] = field(default_factory=list)


def stats(kpis: dict) -> pd.DataFrame:
    """mean / p05 / p95 (rows) of each KPI (columns) over replicates, exactly as `sim run` reports them."""
    n = len(next(iter(kpis.values())))
    runs = [SimpleNamespace(replicate=r, kpis={k: (np.nan if v[r] is None else v[r]) for k, v in kpis.items()})
            for r in range(n)]
    t = kpi_table(runs)
    return t[t["replicate"].isin(["mean", "p05", "p95"])].set_index("replicate").astype(float)


def non_dominated(values: np.ndarray, minimise: list[bool]) -> np.ndarray:
    """Mask of rows no other row dominates (at least as good everywhere, better somewhere)."""
    v = np.where(np.array(minimise), values, -values)
    keep = np.ones(len(v), bool)
    for i in range(len(v)):
        worse_eq = np.all(v <= v[i], axis=1) & np.any(v < v[i], axis=1)
        keep[i] = not worse_eq.any()
    return keep


def command(problem: Problem, values: dict) -> str:
    """The `sim run` command that reruns one mix on the same replicates and seeds."""
    parts = ["sim", "run", str(problem.scenario), "--replicates", str(problem.replicates)]
    if not any(o.startswith("seed=") for o in problem.overrides):
        parts += ["--seed", str(problem.base().seed)]
    for o in problem.overrides:
        key, _, val = o.partition("=")
        parts += [f"--{key}", val] if key in ("seed", "steps") else ["--set", o]
    for lv in problem.levers:
        parts += ["--set", lv.setting(values[lv.key])]
    if problem.posterior:
        parts += ["--posterior", problem.posterior]
    return shlex.join(parts)


def build_report(problem: Problem, study) -> Report:
    """The tables of a study (complete trials only; a mix evaluated twice appears once)."""
    import optuna

    sq = study.user_attrs.get("status_quo")
    bounds = constraint_bounds(problem, sq) if sq else [math.nan] * len(problem.constraints)
    focus = list(dict.fromkeys([o.name for o in problem.objectives] + [problem.cost]
                               + [c.name for c in problem.constraints]))
    rows, seen, per_draw = [], set(), {}
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        if t.state != optuna.trial.TrialState.COMPLETE:
            continue
        values = problem.values(t.params)
        key = tuple(values.values())
        if key in seen:
            continue
        seen.add(key)
        rows.append(_row(problem, t.number, values, t.user_attrs["kpis"], focus, bounds))
        per_draw[t.number] = t.user_attrs["kpis"]
    cand = pd.DataFrame(rows)
    if cand.empty:
        cand = pd.DataFrame(columns=["trial", *problem.lever_keys, "non_dominated", "command"])
    else:
        obj = cand[[o.name for o in problem.objectives]].to_numpy(float)
        cand["non_dominated"] = non_dominated(obj, [o.minimise for o in problem.objectives])
        # what an analyst reads first: levers, the searched KPIs with their bands, the verdicts
        first = ["trial", *problem.lever_keys] + [c for n in focus if n not in problem.lever_keys
                                                  for c in (n, f"{n}_p05", f"{n}_p95") if c in cand.columns]
        first += [c for c in cand.columns if c.startswith("meets ")] + ["non_dominated"]
        cand = cand[first + [c for c in cand.columns if c not in first and c != "command"] + ["command"]]
    front = cand[cand["non_dominated"].astype(bool)]
    front = front.sort_values([problem.cost, "trial"], ignore_index=True) if len(front) else front
    cheap = _cheapest(problem, cand, bounds, per_draw)
    robust, choices = _robust(problem, cand, per_draw, bounds) if problem.draws is not None else (pd.DataFrame(), [])
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    keep = {"constraint", "bound", "found", "replicates_meeting", "trial", "command", *problem.lever_keys}
    summary = {
        "scenario": str(problem.scenario),
        "scenario_name": problem.base().name,
        "levers": [lv.__dict__ for lv in problem.levers],
        "objectives": [o.__dict__ for o in problem.objectives],
        "constraints": [{**c.__dict__, "bound": b} for c, b in zip(problem.constraints, bounds, strict=True)],
        "cost": problem.cost,
        "replicates": problem.replicates,
        "seed": problem.base().seed,
        "population": problem.population,
        "posterior": problem.draws is not None,
        "evaluated": sum(t.state.is_finished() for t in trials), "distinct": len(cand), "failed": len(failed),
        "failures": [{"trial": t.number, "error": t.user_attrs.get("error", "")} for t in failed[:20]],
        "non_dominated": int(len(front)),
        "status_quo": _status_quo(problem, sq),
        "notes": list(problem.notes),
        "robust_choices": [{"choice": label, "trial": None if t is None else int(t)} for label, t in choices],
        "cheapest": [{k: v for k, v in r.items() if k in keep or k.startswith(tuple(focus))}
                     for r in cheap.to_dict(orient="records")],
    }
    rep = Report(cand, front, cheap, robust, summary)
    rep.answer = answer_lines(problem, rep)
    return rep


def _status_quo(problem: Problem, sq: dict | None) -> dict:
    """{name: {mean, p05, p95}} of the scenario as given: its lever values and its KPIs."""
    out = {k: {"mean": v, "p05": v, "p95": v} for k, v in problem.status_quo_levers().items()}
    if sq:
        out.update({k: dict(zip(("mean", "p05", "p95"), v, strict=True)) for k, v in stats(sq).items()})
    return out


def _row(problem: Problem, number: int, values: dict, kpis: dict, focus: list[str], bounds: list[float]) -> dict:
    st = stats(kpis)
    row = {"trial": number, **values}
    for k in st.columns:
        row[k] = st.at["mean", k]
    for k in focus:
        if k in st.columns:
            row[f"{k}_p05"], row[f"{k}_p95"] = st.at["p05", k], st.at["p95", k]
    for c, b in zip(problem.constraints, bounds, strict=True):
        row[f"meets {c.text}"] = bool(c.violation(float(row.get(c.name, math.nan)), b) <= 0)
    row["command"] = command(problem, values)
    return row


def _cheapest(problem: Problem, cand: pd.DataFrame, bounds: list[float], per_draw: dict) -> pd.DataFrame:
    """Per constraint, then all together: the cheapest mix that meets it on average (none: a row saying
    so), with `replicates_meeting`: in how many replicates it meets every one of them."""
    if not problem.constraints or cand.empty:
        return pd.DataFrame()
    sets = [[c] for c in problem.constraints] + ([problem.constraints] if len(problem.constraints) > 1 else [])
    first = problem.objectives[0]
    rows = []
    for cs in sets:
        ok = np.logical_and.reduce([cand[f"meets {c.text}"].astype(bool).to_numpy() for c in cs])
        pick = cand[ok].sort_values([problem.cost, first.name, "trial"],
                                    ascending=[True, first.minimise, True])
        label = " and ".join(c.text for c in cs)
        bound = {c.text: b for c, b in zip(problem.constraints, bounds, strict=True)}
        head = {"constraint": label, "bound": "; ".join(f"{c.name} {c.op} {bound[c.text]:.6g}" for c in cs)}
        if pick.empty:
            rows.append({**head, "found": False})
            continue
        row = pick.iloc[0].to_dict()
        values = {**{k: [v] * problem.replicates for k, v in problem.values(row).items()}, **per_draw[row["trial"]]}
        meets = [all(c.violation(math.nan if values[c.name][r] is None else values[c.name][r], bound[c.text]) <= 0
                     for c in cs) for r in range(problem.replicates)]
        rows.append({**head, "found": True, "replicates_meeting": int(sum(meets)), **row})
    return pd.DataFrame(rows)


def _robust(problem: Problem, cand: pd.DataFrame, per_draw: dict, bounds: list[float]):
    """Worst deciles over the posterior draws per mix, and the robust choices [(label, trial or None)].

    For each KPI objective (other than the cost): the mix whose worst decile is best. For
    each constraint on a KPI: the cheapest mix that meets it in its worst decile, that is
    in 9 of 10 plausible worlds.
    """
    if cand.empty:
        return pd.DataFrame(), []
    idx = cand["trial"].tolist()
    cost = cand.set_index("trial")[problem.cost]
    out = cand[["trial", *problem.lever_keys, problem.cost]].copy()

    def draws(name: str) -> pd.DataFrame:
        return pd.DataFrame([[np.nan if v is None else v for v in per_draw[i][name]] for i in idx], index=idx)

    choices = []
    for o in problem.objectives:
        if o.name in KPI and o.name != problem.cost:
            t = draws(o.name)
            out[f"{o.name}_worst_decile"] = worst_deciles(t, problem.weights, o.minimise).to_numpy()
            choices.append((f"best worst decile of {o.name}", robust_choice(t, problem.weights, o.minimise, cost)))
    for c, b in zip(problem.constraints, bounds, strict=True):
        if c.name in KPI:
            t, minimise = draws(c.name), c.op == "<="
            out[f"{c.name}_worst_decile"] = worst_deciles(t, problem.weights, minimise).to_numpy()
            pick = robust_choice(t, problem.weights, minimise, cost, bound=b)
            choices.append((f"cheapest meeting {c.text} in 9 of 10 plausible worlds", pick))
    out["choice"] = ""
    for label, pick in choices:
        if pick is not None:
            i = out.index[out["trial"] == pick][0]
            out.at[i, "choice"] = "; ".join(x for x in (out.at[i, "choice"], label) if x)
    return out, choices


# ---------------------------------------------------------------- words -------------
def fmt_kpi(name: str, v: float) -> str:
    if name not in KPI:
        return fmt_number(v)
    m = kpi(name)
    unit = m.shown_unit if m.unit != "count" else ""
    return f"{fmt_number(v * m.display_scale)} {unit}".rstrip()


def _band(name: str, row) -> str:
    lo, hi = row.get(f"{name}_p05"), row.get(f"{name}_p95")
    if lo is None or hi is None or not np.isfinite([lo, hi]).all():
        return ""
    return f" (5-95 %: {fmt_kpi(name, lo)} to {fmt_kpi(name, hi)})"


def _mix(problem: Problem, row) -> str:
    return ", ".join(f"{lv.key} = {int(row[lv.key]):,}" if lv.integer else f"{lv.key} = {fmt_number(row[lv.key])}"
                     for lv in problem.levers)


def bound_flags(problem: Problem, frontier: pd.DataFrame) -> list[str]:
    """A flag for each lever that sits at an end of its range in at least half the non-dominated
    mixes: there the range, not the search, decides the answer (or the lever costs nothing)."""
    out = []
    for lv in problem.levers:
        if frontier.empty:
            break
        near = max(lv.step or 0.0, 1.0 if lv.integer else 0.0, 0.02 * (lv.hi - lv.lo))
        for end, name in ((lv.lo, "lower"), (lv.hi, "upper")):
            if name == "lower" and lv.lo == 0:  # nothing below zero to widen to: a finding, not a bound
                continue
            n = int((abs(frontier[lv.key].astype(float) - end) <= near + 1e-12).sum())
            if 2 * n >= len(frontier):
                out.append(f"flag: {lv.key} is at (or within {near:g} of) the {name} end of its range, {end:g}, in "
                           f"{n} of {len(frontier)} non-dominated mixes: the range decides it, not the search "
                           "(widen it, or check what that lever costs in the scenario).")
    return out


def answer_lines(problem: Problem, rep: Report) -> list[str]:
    """The search's answers as sentences an analyst can paste."""
    s = rep.summary
    reps = f"{problem.replicates} replicate{'s' if problem.replicates != 1 else ''}"
    out = [f"Searched {s['evaluated']} mixes ({s['distinct']} distinct, {s['failed']} failed) of "
           f"{len(problem.levers)} lever{'s' if len(problem.levers) != 1 else ''} on {s['scenario_name']}, "
           f"{reps} each on common random numbers (seed {s['seed']})."]
    out += list(problem.notes)
    sq = s["status_quo"]
    names = list(dict.fromkeys(problem.lever_keys + [problem.cost] + [o.name for o in problem.objectives]))
    if sq:
        out.append("Status quo: " + "; ".join(f"{n} {fmt_kpi(n, sq[n]['mean'])}" for n in names if n in sq) + ".")
    out.append(f"{s['non_dominated']} non-dominated mixes (frontier.csv).")
    out += bound_flags(problem, rep.frontier)
    if s["failures"]:
        out.append(f"{s['failed']} mixes failed (listed in summary.json); the first, trial {s['failures'][0]['trial']}: "
                   f"{s['failures'][0]['error']}")
    for _, r in rep.cheapest.iterrows():
        if not r["found"]:
            out.append(f"No mix searched meets {r['constraint']} ({r['bound']}) on average: widen the levers "
                       "or raise the budget.")
            continue
        extra = ""
        if problem.cost in sq and problem.cost in KPI:
            extra = f" ({'+' if r[problem.cost] >= sq[problem.cost]['mean'] else '-'}" \
                    f"{fmt_kpi(problem.cost, abs(r[problem.cost] - sq[problem.cost]['mean']))} against the status quo)"
        met = "; ".join(f"{c.name} {fmt_kpi(c.name, r[c.name])}{_band(c.name, r)}"
                        for c in problem.constraints if c.text in r["constraint"] and c.name != problem.cost)
        spend = "" if problem.cost in problem.lever_keys else \
            f"; {problem.cost} {fmt_kpi(problem.cost, r[problem.cost])}{extra}"
        n, R = int(r["replicates_meeting"]), problem.replicates
        tail = "" if n == R else f" It meets the target on average but in only {n} of {R} replicates."
        out.append(f"Cheapest mix meeting {r['constraint']}: {_mix(problem, r)}{spend}" + (f"; {met}" if met else "")
                   + "." + tail)
        out.append(f"  rerun: {r['command']}")
    if rep.summary["robust_choices"]:
        by_trial = rep.candidates.set_index("trial")
        for c in rep.summary["robust_choices"]:
            label, pick = c["choice"], c["trial"]
            if pick is None:
                out.append(f"Robust choice ({label}): no mix qualifies.")
            else:
                r = by_trial.loc[pick]
                out.append(f"Robust choice ({label}, over the posterior draws): {_mix(problem, r)}; "
                           f"{problem.cost} {fmt_kpi(problem.cost, r[problem.cost])}.")
    return out


# ---------------------------------------------------------------- files -------------
def write_report(rep: Report, folder: str | os.PathLike) -> list[Path]:
    """Write the report files into the study folder, each atomically; return their paths."""
    folder = Path(folder)
    out = []
    for name, df in (("candidates", rep.candidates), ("frontier", rep.frontier)):
        out.append(_parquet(df, folder / f"{name}.parquet"))
    for name, df in (("frontier", rep.frontier), ("cheapest", rep.cheapest), ("robust", rep.robust)):
        if name == "frontier" or not df.empty:
            atomic_write_text(folder / f"{name}.csv", df.to_csv(index=False))
            out.append(folder / f"{name}.csv")
    atomic_write_text(folder / "summary.json",
                      json.dumps(jsonable({**rep.summary, "answer": rep.answer}), indent=2) + "\n")
    atomic_write_text(folder / "answer.txt", "\n".join(rep.answer) + "\n")
    return out + [folder / "summary.json", folder / "answer.txt"]


def _parquet(df: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return path


def load_report(folder: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(candidates, frontier, summary) of a study folder written by `write_report`."""
    folder = Path(folder)
    missing = [f for f in ("candidates.parquet", "frontier.parquet", "summary.json") if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: not a finished policy search (missing {', '.join(missing)})")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return pd.read_parquet(folder / "candidates.parquet"), pd.read_parquet(folder / "frontier.parquet"), summary
