"""The search: optuna's NSGA-II over the levers, every candidate run on common random numbers.

    problem = Problem("scenarios/crackdown_2025.toml", levers, objectives, constraints, replicates=4)
    study = optimize(problem, "results/crackdown_2025/optimize-1", budget=60)

A candidate is one mix of lever values. It runs replicates 0..R-1 of the scenario with the
levers set as `--set` would set them (the same seeds for every candidate, so differences
between candidates are not noise), and with `draws` (a posterior ensemble, one override
dict per replicate) the same parameter draw in replicate r for every candidate. Its KPIs
per replicate go to the study's SQLite storage as soon as its runs finish.

Determinism, also across Ctrl-C and `resume`: candidates are asked a generation at a time,
each trial's sampler is seeded from (seed, trial number) alone, and an interrupted trial
stays RUNNING with its lever values and is evaluated first on resume under its own number.
So trial n always sees the same finished trials 0..n-1 and proposes the same mix.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from sim.experiments import apply_params
from sim.experiments.execution import (
    ExperimentError,
    RunFailure,
    Task,
    check_executor,
    default_run_fn,
    deferred_interrupt,
    execute,
    replicate_list,
)
from sim.experiments.sweep import BadPoint, Guard  # a mix the loader rejects fails with its message
from sim.outputs.atomic import FolderBusy, folder_lock
from sim.policy.levers import Constraint, Lever, Objective, check_levers
from sim.scenario import ScenarioError, load_scenario, parse_key

STUDY_NAME = "policy"
STUDY_FILE = "study.db"


@dataclass
class Problem:
    """Everything that defines a search; a resumed search must match it (the budget may grow).

    scenario: the scenario file; overrides: its `--set KEY=VALUE` strings (with --seed and
    --steps as "seed=S" and "steps=T"). replicates: R, run as replicates 0..R-1 of every
    candidate. cost: the KPI (or lever key) that "cheapest" minimises. population: NSGA-II's
    generation size. draws: per-replicate override dicts (a posterior ensemble, len R) and
    their weights (None: equal), the same for every candidate.
    """

    scenario: str
    levers: list[Lever]
    objectives: list[Objective]
    constraints: list[Constraint] = field(default_factory=list)
    cost: str = "enforcement_cost_usd"
    replicates: int = 4
    overrides: list[str] = field(default_factory=list)
    population: int = 12
    draws: list[dict] | None = None
    weights: list[float] | None = None
    posterior: str | None = None
    notes: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self):
        if not self.objectives:
            raise ExperimentError("optimize: give at least one --objective KPI:min|max")
        if not self.levers:
            raise ExperimentError("optimize: give at least one --lever KEY=LO:HI")
        if self.population < 2:
            raise ExperimentError(f"--population: must be >= 2 (got {self.population})")
        replicate_list(self.replicates)
        if self.draws is not None:
            if len(self.draws) != self.replicates:
                raise ExperimentError(f"--posterior: {len(self.draws)} draws for {self.replicates} replicates "
                                      "(one draw per replicate)")
            if self.weights is not None and (len(self.weights) != len(self.draws)
                                             or min(self.weights) < 0 or sum(self.weights) <= 0):
                raise ExperimentError("--posterior: weights must be >= 0, one per draw, not all 0")

    @property
    def lever_keys(self) -> list[str]:
        return [lv.key for lv in self.levers]

    def values(self, params: dict) -> dict:
        """The lever values a trial's raw parameters stand for (whole numbers, clean grid values)."""
        return {lv.key: lv.value(params[lv.key]) for lv in self.levers}

    def base(self):
        """The scenario as given (status quo): file plus overrides."""
        return load_scenario(self.scenario, self.overrides)

    def candidate(self, params: dict):
        """The scenario of one mix, loaded exactly as `sim run FILE --set ...` loads it."""
        sets = [("--lever", lv.setting(params[lv.key])) for lv in self.levers]
        return load_scenario(self.scenario, list(self.overrides) + sets)

    def status_quo_levers(self) -> dict[str, float]:
        """The levers' values in the scenario as given (a key it does not hold is left out)."""
        data, out = self.base().model_dump(mode="python"), {}
        for lv in self.levers:
            node = data
            for part in parse_key(lv.key):
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, (int, float)) and not isinstance(node, bool):
                out[lv.key] = float(node)
        return out

    def spec(self) -> dict:
        """What must not change between a search and its resume (JSON)."""
        base = self.base()
        draws = json.dumps([self.draws, self.weights], sort_keys=True, default=str)
        return {
            "scenario": str(self.scenario),
            "scenario_sha256": hashlib.sha256(base.model_dump_json().encode()).hexdigest(),
            "overrides": list(self.overrides),
            "seed": base.seed,
            "levers": [asdict(lv) for lv in self.levers],
            "objectives": [asdict(o) for o in self.objectives],
            "constraints": [asdict(c) for c in self.constraints],
            "cost": self.cost,
            "replicates": self.replicates,
            "population": self.population,
            "draws_sha256": hashlib.sha256(draws.encode()).hexdigest() if self.draws is not None else None,
        }


def make_problem(scenario, levers, objectives, constraints=(), **kw) -> Problem:
    """A Problem whose levers are checked on the scenario like `--set` (notes in problem.notes)."""
    overrides = list(kw.pop("overrides", []))
    levers, notes = check_levers(scenario, overrides, list(levers))
    problem = Problem(str(scenario), levers, list(objectives), list(constraints), overrides=overrides,
                      notes=notes, **kw)
    sq = problem.status_quo_levers()
    problem.notes += [f"note: the scenario's own {lv.key} ({sq[lv.key]:g}) lies outside the lever's range "
                      f"{lv.lo:g}-{lv.hi:g}, so the status quo is not among the mixes searched"
                      for lv in levers if lv.key in sq and not lv.lo <= sq[lv.key] <= lv.hi]
    return problem


# ---------------------------------------------------------------- the study ---------
def _optuna():
    try:
        import optuna
    except ImportError:
        raise ExperimentError("sim optimize needs optuna: pip install 'mineral-smuggling-sim[optimize]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def storage_url(study_dir: str | os.PathLike) -> str:
    """The study's SQLite URL, for optuna.load_study(study_name="policy", storage=...) or optuna-dashboard."""
    return f"sqlite:///{Path(study_dir).resolve() / STUDY_FILE}"


def _storage(study_dir: str | os.PathLike):
    """optuna's RDB storage on the study file, in SQLite's write-ahead-log mode without an fsync per
    commit: a killed process loses nothing committed (only a power cut may lose the last trials)
    and a search is not slowed by ~15 disk syncs per candidate."""
    import sqlite3

    import optuna

    path = Path(study_dir).resolve() / STUDY_FILE

    def connect():
        con = sqlite3.connect(path, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        return con

    return optuna.storages.RDBStorage(storage_url(study_dir), engine_kwargs={"creator": connect})


def open_study(problem: Problem, study_dir: str | os.PathLike, resume: bool):
    """Create the study in `study_dir` (refusing to overwrite one) or reopen it and check it matches."""
    optuna = _optuna()
    out = Path(study_dir)
    exists = (out / STUDY_FILE).is_file()
    spec = problem.spec()
    if resume:
        if not exists:
            raise ExperimentError(f"--resume: {out} holds no study ({STUDY_FILE} missing)")
        study = optuna.load_study(study_name=STUDY_NAME, storage=_storage(out))
        old = study.user_attrs.get("spec", {})
        diff = [k for k in spec if old.get(k) != spec[k]]
        if diff:
            what = "; ".join(f"{k}: was {old.get(k)!r}, now {spec[k]!r}" for k in diff)
            raise ExperimentError(f"--resume: this search differs from the one in {out} ({what}); rerun with "
                                  "the same arguments and scenario, or start a new --study")
        return study
    if exists:
        raise ExperimentError(f"--study {out} already holds a search; add --resume to continue it, "
                              "or choose another --study")
    out.mkdir(parents=True, exist_ok=True)
    directions = ["minimize" if o.minimise else "maximize" for o in problem.objectives]
    with deferred_interrupt():  # a study is created with its spec or not at all
        study = optuna.create_study(study_name=STUDY_NAME, storage=_storage(out), directions=directions)
        study.set_user_attr("spec", spec)
        for params in first_generation(problem, spec["seed"]):
            study.enqueue_trial(params)
    return study


def first_generation(problem: Problem, seed: int) -> list[dict]:
    """The first generation, recorded in the study up front: the scenario as given (when its
    lever values lie in their ranges: the search starts from what is done today), then a Latin
    hypercube over the levers (each lever's range cut into equal strata, one point in each),
    which covers the ranges more evenly than NSGA-II's uniform random start."""
    sq = problem.status_quo_levers()
    first = [{lv.key: lv.value(sq[lv.key]) for lv in problem.levers}] \
        if len(sq) == len(problem.levers) and all(lv.lo <= sq[lv.key] <= lv.hi for lv in problem.levers) else []
    n = problem.population - len(first)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x0707]))
    unit = (np.array([rng.permutation(n) for _ in problem.levers]).T + rng.random((n, len(problem.levers)))) / n
    return first + [{lv.key: lv.value(lv.lo + u * (lv.hi - lv.lo)) for lv, u in zip(problem.levers, row, strict=True)}
                    for row in unit]


def trial_sampler(problem: Problem, seed: int, number: int):
    """NSGA-II for trial `number`, seeded from (seed, number) alone: the trial's proposal depends
    only on the finished trials before it, never on how many trials this process has asked."""
    optuna = _optuna()
    from optuna.samplers.nsgaii import PolynomialMutation, SBXCrossover

    s = int(np.random.SeedSequence([int(seed), 0x0707, 1, int(number)]).generate_state(1)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.NSGAIISampler(population_size=problem.population, seed=s,
                                            crossover=SBXCrossover(), mutation=PolynomialMutation())


# ---------------------------------------------------------------- evaluation --------
@dataclass
class Candidate:
    """A mix to evaluate: its trial number ("status_quo" for the scenario as given) and lever values."""

    tag: int | str
    params: dict


def _tasks(problem: Problem, cands: Sequence[Candidate]):
    """One Task per (candidate, replicate), candidate by candidate; a mix the loader rejects fails."""
    for c in cands:
        try:
            sc = problem.base() if c.tag == "status_quo" else problem.candidate(c.params)
            scs = [sc if problem.draws is None else apply_params(sc, problem.draws[r])
                   for r in range(problem.replicates)]
        except ScenarioError as e:  # a mix the loader rejects fails with its message; the search goes on
            scs = [BadPoint(f"mix-{c.tag}", " ".join(str(e).split()))] * problem.replicates
        for r, s in enumerate(scs):
            yield Task((c.tag, r), s, r)


def evaluate(problem: Problem, cands: Sequence[Candidate], done: Callable, *, workers=None, scheduler=None,
             run_fn=None) -> None:
    """Run every candidate's replicates on one executor; call done(tag, kpis, error) as each
    candidate completes. kpis: {KPI: [value per replicate]} (None for NaN); error: "" or why."""
    R = problem.replicates
    got: dict = {c.tag: {} for c in cands}
    for (tag, r), outcome in execute(_tasks(problem, cands), len(cands) * R, Guard(run_fn or default_run_fn()),
                                     workers=workers, scheduler=scheduler, progress=False, kpis_only=True):
        got[tag][r] = outcome
        if len(got[tag]) == R:
            runs = [got[tag][i] for i in range(R)]
            bad = [o for o in runs if isinstance(o, RunFailure)]
            if bad:
                done(tag, None, f"replicate {bad[0].replicate}: {bad[0].error}")
            else:
                names = list(runs[0])
                done(tag, {k: [_num(o.get(k)) for o in runs] for k in names}, "")


def _num(v) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


def objective_values(problem: Problem, params: dict, kpis: dict) -> list[float] | str:
    """Mean of each objective over replicates (a lever objective is its value), or why there is none."""
    out = []
    for o in problem.objectives:
        if o.name in params:
            out.append(float(params[o.name]))
            continue
        if o.name not in kpis:
            return f"the model does not report {o.name}"
        vals = [v for v in kpis[o.name] if v is not None]
        if not vals:
            return f"{o.name} is undefined in every replicate"
        out.append(float(np.mean(vals)))
    return out


def mean_of(name: str, params: dict, kpis: dict) -> float:
    """Mean over replicates of a KPI (or a lever's value); NaN when undefined."""
    if name in params:
        return float(params[name])
    vals = [v for v in kpis.get(name, []) if v is not None]
    return float(np.mean(vals)) if vals else math.nan


def constraint_bounds(problem: Problem, status_quo: dict) -> list[float]:
    """Each constraint's bound in its KPI's unit (relative ones from the status quo's mean)."""
    return [c.bound(mean_of(c.name, {}, status_quo)) for c in problem.constraints]


# ---------------------------------------------------------------- the loop ----------
def optimize(problem: Problem, study_dir: str | os.PathLike, budget: int = 100, *, resume: bool = False,
             workers: int | None = None, scheduler: str | None = None, progress: bool = True,
             run_fn: Callable | None = None):
    """Run (or continue) the search until `budget` candidates are evaluated; return the optuna Study.

    Ctrl-C raises KeyboardInterrupt with every finished candidate saved; `resume=True` with the
    same problem continues and ends where an uninterrupted search would have ended.
    """
    if budget < 1:
        raise ExperimentError(f"--budget: must be >= 1 (got {budget})")
    check_executor(workers, scheduler)
    _optuna()
    try:
        with folder_lock(Path(study_dir), "a policy search"):
            return _optimize_locked(problem, study_dir, budget, resume, workers, scheduler, progress, run_fn)
    except FolderBusy as e:
        raise ExperimentError(f"--study {e}") from None


def _optimize_locked(problem: Problem, study_dir, budget: int, resume: bool, workers, scheduler, progress, run_fn):
    """The body of `optimize`, run while this process holds the study folder's lock."""
    optuna = _optuna()
    study = open_study(problem, study_dir, resume)
    seed = problem.base().seed
    ex = {"workers": workers, "scheduler": scheduler, "run_fn": run_fn}

    if "status_quo" not in study.user_attrs:
        sq = {}
        evaluate(problem, [Candidate("status_quo", {})], lambda t, k, e: sq.update(kpis=k, error=e), **ex)
        if sq["error"]:
            raise ExperimentError(f"{problem.scenario}: the scenario as given fails: {sq['error']}")
        with deferred_interrupt():
            study.set_user_attr("status_quo", sq["kpis"])
    reported = study.user_attrs["status_quo"]
    missing = [n for n in dict.fromkeys([o.name for o in problem.objectives] + [c.name for c in problem.constraints]
                                        + [problem.cost]) if n not in reported and n not in problem.lever_keys]
    if missing:
        raise ExperimentError(f"the model does not report {', '.join(missing)} (it reports: {', '.join(reported)})")
    bounds = constraint_bounds(problem, reported)

    TS = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    bar = tqdm(total=max(budget, _asked(study)), initial=sum(t.state.is_finished() for t in trials),
               desc=f"optimize {Path(problem.scenario).stem}", unit="mix", disable=None if progress else True,
               dynamic_ncols=True, file=sys.stderr)
    try:
        # an interrupted generation first, under its own trial numbers
        _run_batch(problem, study, [t for t in trials if t.state == TS.RUNNING], bounds, bar, ex)
        while (n := _asked(study)) < budget:
            k = min(problem.population - n % problem.population, budget - n)
            dists = {lv.key: lv.distribution() for lv in problem.levers}
            asked = []
            with deferred_interrupt():  # a generation is asked whole or not at all
                for i in range(k):
                    study.sampler = trial_sampler(problem, seed, n + i)
                    trial = study.ask(dists)
                    _ = trial.relative_params  # files an enqueued trial (generation 0) in its generation
                    asked.append(trial)
            _run_batch(problem, study, asked, bounds, bar, ex)
    finally:
        bar.close()
    return study


def _asked(study) -> int:
    """Trials asked so far (the status quo waits in the queue until the first is asked)."""
    import optuna

    return sum(t.state != optuna.trial.TrialState.WAITING for t in study.get_trials(deepcopy=False))


def _run_batch(problem: Problem, study, trials: list, bounds: list[float], bar, ex: dict) -> None:
    """Evaluate trials (optuna Trial or FrozenTrial), telling each as its replicates finish.

    Trials with the same lever values are evaluated once, and a mix evaluated in an earlier
    generation (NSGA-II proposes duplicates) reuses its stored KPIs: the same lever values
    and the same seeds give the same numbers.
    """
    import optuna

    known = {_key(problem, t.params): t.user_attrs["kpis"] for t in study.get_trials(deepcopy=False)
             if t.state == optuna.trial.TrialState.COMPLETE and "kpis" in t.user_attrs}
    groups: dict[tuple, list] = {}
    for t in trials:
        if set(t.params) != set(problem.lever_keys):  # only after a hard kill while it was being asked
            _finish(problem, study, t, None, "interrupted before its lever values were drawn", bounds, bar)
            continue
        groups.setdefault(_key(problem, t.params), []).append(t)

    def done(number, kpis, error):
        for t in groups[_key(problem, by_number[number].params)]:
            _finish(problem, study, t, kpis, error, bounds, bar)

    by_number = {ts[0].number: ts[0] for ts in groups.values()}
    todo = []
    for key, ts in groups.items():
        if key in known:
            for t in ts:
                _finish(problem, study, t, known[key], "", bounds, bar)
        else:
            todo.append(Candidate(ts[0].number, dict(ts[0].params)))
    if todo:
        evaluate(problem, todo, done, **ex)


def _key(problem: Problem, params: dict) -> tuple:
    return tuple(problem.values(params).values())


def _finish(problem: Problem, study, t, kpis: dict | None, error: str, bounds: list[float], bar) -> None:
    """Store a candidate's KPIs and constraint violations, then finish its trial (Ctrl-C waits)."""
    with deferred_interrupt():
        _tell(problem, study, t, kpis, error, bounds)
    bar.update(1)


def _tell(problem: Problem, study, t, kpis: dict | None, error: str, bounds: list[float]) -> None:
    import optuna

    trial = t if isinstance(t, optuna.trial.Trial) else optuna.trial.Trial(study, t._trial_id)
    params = problem.values(t.params) if not error else {}
    values = error or objective_values(problem, params, kpis)
    if isinstance(values, str):
        trial.set_user_attr("error", values)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return
    trial.set_user_attr("kpis", kpis)
    for c, b in zip(problem.constraints, bounds, strict=True):
        trial.set_constraint(c.text, c.violation(mean_of(c.name, params, kpis), b))
    study.tell(trial, values)
