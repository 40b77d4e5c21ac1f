"""Enforcement levers, each at a lower and a higher setting, paired with the scenario as given.

    found = discover(scenario)                     # levers the scenario exposes, and those it does not
    study = run_levers(scenario, found.levers, replicates=10)
    study.table                                    # levers.csv: lever, setting, value, kpi, mean, p05, p95

Levers are read from the scenario, not listed by hand: the inspection capacity and detection
technologies of every customs agency whose checkpoints smuggled goods cross (the origin, each
hub on a route, a destination that cooperates), their investigation tips where the scenario has
any, trace tags at the origin, the smugglers' fine,
arrest probability and sentence, the exporters' trace probability and penalty, and each hub's
cooperation. Settings:

    capacity, investigation tips, fine, sentence,                     x0.5 and x2 (kept in the
    exporters' trace probability and penalty                          field's range, e.g. <= 1)
    arrest probability, cooperation p                                 p/2 and (1 + p)/2: halfway to 0, to 1
    technologies                                                      low: only document_check kept
                                                                      (none if that was all); high: every
                                                                      technology added but trace_tags
    trace tags                                                        never / from the start

An event that sets the same key is changed the same way (x2 capacity doubles the crackdown's
capacity too), so a lever means the same policy before and after the event. `--lever
KEY=LOW,HIGH` adds or replaces a lever: each end is a factor `xF` (applied like the above) or a
value written as after --set (then events keep their own values, and the notes say so); see
sim.calibration.lever_cli.parse_lever.

Every setting runs the same replicates on the same seeds as the scenario as given (sim.experiments
.compare: common random numbers), so `mean`, `p05`, `p95` are the mean and 5-95 % band of the
paired differences setting minus scenario. The numbers behind the words and the reasons:
sim.calibration.lever_words; the table, the page and the files: sim.calibration.lever_page; the
command: sim.calibration.lever_cli.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.experiments.execution import ExperimentError, RunFailure, default_run_fn, replicate_list
from sim.experiments.params import apply_params
from sim.scenario import parse_key
from sim.scenario.schema import TECHS, Customs, Scenario

KPIS = ("illicit_delivered_t", "price_peak_index", "enforcement_cost_usd", "diverted_t", "seizures_count",
        "legit_inspected")
COLUMNS = ["lever", "setting", "value", "kpi", "mean", "p05", "p95"]
KEEP_TECHS = ("document_check",)   # what the low technology setting keeps
SCALE = (0.5, 2.0)


@dataclass(frozen=True)
class Setting:
    """One end of a lever: `value` is short text for tables and charts; `params` the dotted keys set
    (the key itself and events' values of it); empty params = the scenario as given."""

    end: str
    value: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Lever:
    """An enforcement lever. `key` names it in levers.csv (a scenario key, or customs.X.trace_tags);
    kind: capacity, technologies, trace_tags, fine, arrest, sentence, trace_prob, exporter_penalty,
    cooperation or given (from --lever); country: the customs agency or hub it belongs to."""

    key: str
    label: str
    kind: str
    country: str
    base: str
    low: Setting
    high: Setting
    note: str = ""

    @property
    def settings(self) -> tuple[Setting, Setting]:
        return (self.low, self.high)


@dataclass
class Discovery:
    levers: list[Lever]
    skipped: list[str]   # levers the scenario does not offer, each with the reason


# ---------------------------------------------------------------- values and events ----------
def value_at(scenario: Scenario, key: str):
    """The value at a dotted key (a customs agency not listed has the defaults)."""
    path = parse_key(key)
    node = scenario.model_dump(mode="python")
    for i, part in enumerate(path):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif path[0] == "customs" and i == 1:
            return getattr(Customs(), path[2])
        else:
            raise ExperimentError(f"--lever {key}: the scenario has no such key")
    return node


def event_values(scenario: Scenario, key: str) -> list[tuple[str, object]]:
    """(event id, value) of every event that sets `key`, in time order."""
    evs = sorted(scenario.events.items(), key=lambda e: scenario.event_step(e[1]))
    return [(eid, ev.set[key]) for eid, ev in evs if key in ev.set]


def event_key(eid: str, key: str) -> str:
    return f'events.{eid}.set."{key}"'


def upper_bound(key: str) -> float:
    from sim.scenario.priors import target_field

    f = target_field(Scenario, key)
    bounds = [getattr(m, a) for m in (f.constraints if f else []) for a in ("le", "lt") if getattr(m, a, None)]
    return min(bounds) if bounds else math.inf


def clean(v: float) -> float:
    return round(float(v), 12)


def transformed(scenario: Scenario, key: str, fn: Callable) -> dict:
    """{key: fn(base)} plus the same change to every event's value of it; unchanged values left out."""
    out = {}
    for k, v in [(key, value_at(scenario, key))] + [(event_key(e, key), v) for e, v in event_values(scenario, key)]:
        new = fn(v)
        if new != v:
            out[k] = new
    return out


def shown(scenario: Scenario, key: str, fmt: Callable = lambda v: f"{v:g}") -> str:
    """'1500 (4500 from 2025-05-12)': the base value and what events set it to."""
    evs = event_values(scenario, key)
    later = ", ".join(f"{fmt(v)} from {scenario.date_of(scenario.event_step(scenario.events[e]))}" for e, v in evs)
    return fmt(value_at(scenario, key)) + (f" ({later})" if later else "")


def event_note(scenario: Scenario, key: str) -> str:
    evs = [e for e, _ in event_values(scenario, key)]
    return f"event{'s' if len(evs) > 1 else ''} {', '.join(evs)} changed the same way" if evs else ""


# ---------------------------------------------------------------- settings ------------------
def scaled(scenario: Scenario, key: str, f: float) -> Setting:
    top = upper_bound(key)
    return Setting("low" if f < 1 else "high", f"x{f:g}",
                   transformed(scenario, key, lambda v: clean(min(float(v) * f, top))))


def halfway(scenario: Scenario, key: str, end: str) -> Setting:
    fn = (lambda v: clean(v / 2)) if end == "low" else (lambda v: clean((1 + v) / 2))
    params = transformed(scenario, key, fn)
    return Setting(end, f"{fn(value_at(scenario, key)):g}" if params else "as given", params)


SHORT = {"xray": "X-ray", "density_scan": "density", "ai_image": "AI", "document_check": "docs",
         "isotope_fingerprint": "isotope", "trace_tags": "tags", "trade_anomaly": "anomaly"}


def tech_settings(scenario: Scenario, country: str) -> tuple[Setting, Setting]:
    """Low: only document_check kept (none if it was all there was); high: every technology the
    scenario lacks added, but trace_tags (a lever of its own). Events' lists change the same way."""
    key = f"customs.{country}.technologies"
    every = [value_at(scenario, key)] + [v for _, v in event_values(scenario, key)]
    present = {t for lst in every for t in lst}
    drop = {t for t in present if t not in KEEP_TECHS + ("trace_tags",)} or (present & set(KEEP_TECHS))
    kept = [SHORT[t] for t in TECHS if t in present - drop and t != "trace_tags"]
    add = [t for t in TECHS if t != "trace_tags" and t not in value_at(scenario, key)]
    low = transformed(scenario, key, lambda v: [t for t in v if t not in drop])
    high = transformed(scenario, key, lambda v: list(v) + [t for t in add if t not in v])
    return (Setting("low", (" ".join(kept) + " only" if kept else "none") if low else "as given", low),
            Setting("high", " ".join("+" + SHORT[t] for t in add) if high else "as given", high))


def trace_tag_settings(scenario: Scenario, origin: str) -> tuple[Setting, Setting]:
    """Low: no trace tags at any time; high: trace tags from the start (and in every event's list)."""
    key = f"customs.{origin}.technologies"
    off = transformed(scenario, key, lambda v: [t for t in v if t != "trace_tags"])
    on = transformed(scenario, key, lambda v: list(v) if "trace_tags" in v else list(v) + ["trace_tags"])
    return Setting("low", "never" if off else "as given", off), Setting("high", "from start" if on else "as given", on)


# ---------------------------------------------------------------- discovery -----------------
def _name(scenario: Scenario, c: str) -> str:
    return scenario.countries[c].name or c


def customs_countries(scenario: Scenario) -> tuple[list[str], list[str]]:
    """(countries whose customs smuggled goods meet, skipped notes): the origin, every hub on a
    route, and destinations on a route that cooperate at some point of the run."""
    hubs = list(dict.fromkeys(r.via for r in scenario.routes.values() if r.via))
    dests = list(dict.fromkeys(r.destination for r in scenario.routes.values()))
    out, skipped = [scenario.origin, *hubs], []
    for d in dests:
        key = f"countries.{d}.cooperation"
        if max([value_at(scenario, key)] + [v for _, v in event_values(scenario, key)]) > 0:
            out.append(d)
        else:
            skipped.append(f"customs of {_name(scenario, d)} (capacity, technologies): its cooperation is 0 "
                           f"({key}), so its checks ignore the origin's controlled goods and no setting of "
                           "them can change what gets through")
    return out, skipped


KINDS = {  # key pattern (X: a country) -> (what the label says, kind)
    "customs.X.capacity_per_week": ("inspection capacity", "capacity"),
    "customs.X.technologies": ("detection technologies", "technologies"),
    "customs.X.trace_tags": ("trace tags", "trace_tags"),
    "customs.X.investigation_tips_per_week": ("investigation tips per week", "tips"),
    "countries.X.cooperation": ("cooperation on re-exports", "cooperation"),
    "penalties.fine_multiple": ("Smugglers' fine (x cargo value)", "fine"),
    "penalties.arrest_prob": ("Arrest probability per seizure", "arrest"),
    "penalties.sentence_years": ("Prison sentence (years)", "sentence"),
    "exporters.trace_prob": ("Exporters traced (per week diverting)", "trace_prob"),
    "exporters.penalty_multiple": ("Exporters' penalty (x goods' value)", "exporter_penalty"),
}


def describe(scenario: Scenario, key: str) -> tuple[str, str, str]:
    """(label, kind, country) of a lever key; an unknown key is its own label, kind "given"."""
    parts = parse_key(key) or ()
    if len(parts) == 3 and parts[1] in scenario.countries:
        what = KINDS.get(f"{parts[0]}.X.{parts[2]}")
        if what:
            return f"{_name(scenario, parts[1])}: {what[0]}", what[1], parts[1]
    what = KINDS.get(key)
    return (what[0], what[1], "") if what else (key, "given", "")


def discover(scenario: Scenario) -> Discovery:
    """Every enforcement lever of the scenario with its two settings (see the module docstring)."""
    levers: list[Lever] = []
    skipped: list[str] = []
    countries, skipped_customs = customs_countries(scenario)
    origin = scenario.origin
    techs = lambda v: ", ".join(v) or "none"

    def add(key, low: Setting, high: Setting, shown_key=None, fmt=lambda v: f"{v:g}"):
        label, kind, country = describe(scenario, key)
        shown_key = shown_key or key
        if not low.params and not high.params:
            skipped.append(f"{label} ({key}): neither setting differs from the scenario "
                           f"(value {shown(scenario, shown_key, fmt)}); give --lever {key}=LOW,HIGH")
            return
        levers.append(Lever(key, label, kind, country, shown(scenario, shown_key, fmt), low, high,
                            event_note(scenario, shown_key)))

    def factor(key):
        add(key, scaled(scenario, key, SCALE[0]), scaled(scenario, key, SCALE[1]))

    def half(key):
        add(key, halfway(scenario, key, "low"), halfway(scenario, key, "high"))

    for c in countries:
        factor(f"customs.{c}.capacity_per_week")
    for c in countries:
        add(f"customs.{c}.technologies", *tech_settings(scenario, c), fmt=techs)
    for c in countries:  # investigations that name networks, where the scenario has any
        key = f"customs.{c}.investigation_tips_per_week"
        if max([value_at(scenario, key)] + [v for _, v in event_values(scenario, key)]) > 0:
            factor(key)
    add(f"customs.{origin}.trace_tags", *trace_tag_settings(scenario, origin),
        shown_key=f"customs.{origin}.technologies", fmt=techs)
    for key in ("penalties.fine_multiple", "penalties.arrest_prob", "penalties.sentence_years",
                "exporters.trace_prob", "exporters.penalty_multiple"):
        (half if key == "penalties.arrest_prob" else factor)(key)
    for h in dict.fromkeys(r.via for r in scenario.routes.values() if r.via):
        half(f"countries.{h}.cooperation")
    return Discovery(levers, skipped_customs + skipped)


# ---------------------------------------------------------------- running -------------------
@dataclass
class LeverRun:
    """What a worker sends back: the KPIs and a few totals of the time series (not the series)."""

    replicate: int
    kpis: dict
    summary: dict


class SlimRun:
    """run_fn(scenario, replicate, steps) -> LeverRun (picklable; `.run_fn` is the model or a posterior wrap)."""

    def __init__(self, run_fn: Callable):
        self.run_fn = run_fn

    def __call__(self, scenario, replicate: int, steps: int | None = None) -> LeverRun:
        from sim.calibration.lever_words import summarize

        res = self.run_fn(scenario, replicate, steps=steps)
        return LeverRun(res.replicate, dict(res.kpis), summarize(res.timeseries, scenario))


@dataclass
class LeverStudy:
    """Everything `sim levers` shows and writes for one scenario.

    table: levers.csv; means: KPI means per variant ("base" or (lever key, end)); summaries: the
    time series' totals averaged over replicates per variant (sim.calibration.lever_words.summarize)."""

    scenario: Scenario
    levers: list[Lever]
    skipped: list[str]
    replicates: list[int]
    table: pd.DataFrame
    means: dict
    summaries: dict
    failures: list = field(default_factory=list)


def variants(scenario: Scenario, levers: Sequence[Lever]) -> list[tuple[object, Scenario]]:
    """(tag, scenario) to run: the scenario as given ("base"), then every setting that differs from it."""
    out = [("base", scenario)]
    for i, lv in enumerate(levers):
        for s in lv.settings:
            if s.params:
                sc = apply_params(scenario, s.params)
                out.append(((lv.key, s.end), sc.model_copy(update={"name": f"{scenario.name[:60]}.L{i:02d}.{s.end}"})))
    return out


def _mean(runs: list) -> dict:
    ok = [r.summary for r in runs if not isinstance(r, RunFailure)]
    keys = dict.fromkeys(k for s in ok for k in s)
    return {k: float(np.mean([s.get(k, 0.0) for s in ok])) for k in keys}


def run_levers(scenario: Scenario, levers: Sequence[Lever], replicates, *, workers: int | None = None,
               scheduler: str | None = None, run_fn: Callable | None = None, progress: bool = True,
               kpis: Sequence[str] = KPIS, skipped: Sequence[str] = ()) -> LeverStudy:
    """Run the scenario and every lever setting on common random numbers; see the module docstring."""
    from sim.experiments.compare import compare

    reps = replicate_list(replicates)
    todo = variants(scenario, levers)
    comp, results = compare([sc for _, sc in todo], reps, workers, scheduler, SlimRun(run_fn or default_run_fn()),
                            progress=progress)
    tag_of = {sc.name: tag for tag, sc in todo}
    idx = comp.set_index(["scenario", "kpi"])
    by_tag = {tag: sc_name for sc_name, tag in tag_of.items()}
    rows, means = [], {}
    for name, tag in tag_of.items():
        means[tag] = {k: float(idx.loc[(name, k), "mean"]) for k in comp[comp["scenario"] == name]["kpi"]}
    for lv in levers:
        for s in lv.settings:
            name = by_tag.get((lv.key, s.end))
            for k in kpis:
                if name is None:
                    rows.append([lv.key, s.end, s.value, k, 0.0, 0.0, 0.0])
                else:
                    r = idx.loc[(name, k)]
                    rows.append([lv.key, s.end, s.value, k, r["diff_mean"], r["diff_p05"], r["diff_p95"]])
    failures = [(tag_of[n], f) for n, res in results.items() for f in res if isinstance(f, RunFailure)]
    summaries = {tag_of[n]: _mean(res) for n, res in results.items()}
    return LeverStudy(scenario, list(levers), list(skipped), reps, pd.DataFrame(rows, columns=COLUMNS), means,
                      summaries, failures)
