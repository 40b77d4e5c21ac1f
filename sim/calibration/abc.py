"""Calibration by ABC-SMC (pyabc): the scenarios' priors estimated against the calibration targets.

    from sim.calibration.abc import calibrate
    result = calibrate([antimony, crackdown], budget=4000, db=Path("scenarios/x.posterior.sqlite"))

The model, as pyabc sees it, is a function from a parameter set (scenario key -> value, set in
every scenario listed: episodes share parameters) to the targets' measured values, all
scenarios run on one replicate seed. A parameter set's distance to the record is the largest
of its facts' band costs (`Band.cost`: 0 at the stated value, 1 at the band's edge), so a
threshold below 1 means every target inside its band. Generation 0 samples the prior and
keeps every run that completed; each later generation's threshold is the weighted median
(`alpha`) of the previous generation's distances.

The history lives in a SQLite file (pyabc's format). Each generation is stored when complete,
so an interrupted calibration keeps every finished generation and `resume=True` continues it
with the same settings (checked). Loguniform priors are sampled in log(value). Priors marked
`estimate = false` are nuisance parameters: drawn from the prior in every run (FactModel),
not proposed by pyabc, so that weakly informed numbers keep their uncertainty without
spreading the particles over more dimensions than the targets can inform.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import math
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.calibration.targets import Fact, FactError, Registry, Run, default_registry
from sim.experiments.execution import ExperimentError, check_executor
from sim.experiments.params import applicable, apply_params
from sim.scenario.priors import Prior, merge_priors, prior_value

ERROR = "_error"           # summary-statistic key of a run that failed (never accepted)
NUISANCE = "_nuisance:"    # prefix of the summary-statistic keys holding the nuisance draws
FIRST_EPS = sys.float_info.max  # generation 0: every completed run is accepted
FORMAT = 1                 # version of the settings stored in the history


def _pyabc():
    try:
        import pyabc
    except ImportError:
        raise ExperimentError("sim calibrate needs pyabc: pip install -e '.[calibrate]'") from None
    logging.getLogger("ABC").setLevel(logging.WARNING)  # our progress bar replaces its log lines
    return pyabc


# ---------------------------------------------------------------- priors for pyabc ----------
def natural(prior: Prior, theta):
    """A value pyabc sampled (log(value) for loguniform priors, else the value) in the key's own unit."""
    return np.exp(theta) if prior.kind == "loguniform" else theta


def scipy_dist(prior: Prior, log_space: bool = False):
    """The prior as a frozen scipy.stats distribution (natural units, or pyabc's with log_space)."""
    from scipy import stats

    lo, hi = prior.low, prior.high
    if prior.kind == "loguniform":
        return stats.uniform(math.log(lo), math.log(hi) - math.log(lo)) if log_space else stats.loguniform(lo, hi)
    if prior.kind == "uniform":
        return stats.uniform(lo, hi - lo)
    if prior.kind == "normal":
        m, sd = prior.mean, prior.sd
        return stats.truncnorm((lo - m) / sd, (hi - m) / sd, loc=m, scale=sd)
    a, b = prior.beta_shape()
    return stats.beta(a, b, loc=lo, scale=hi - lo)


def pyabc_prior(priors: dict[str, Prior]):
    """pyabc.Distribution over the keys, in the units pyabc samples (see `natural`)."""
    pyabc = _pyabc()
    rvs = {}
    for key, p in priors.items():
        d = scipy_dist(p, log_space=True)
        rvs[key] = pyabc.RV(d.dist.name, *d.args, **d.kwds)
    return pyabc.Distribution(**rvs)


# ---------------------------------------------------------------- the model for pyabc -------
class FactModel:
    """Parameter set -> {fact id: value} on one replicate of every scenario (picklable).

    `priors` are the estimated parameters (theta, in pyabc's units); `nuisance` priors are drawn
    afresh for each evaluation and returned under NUISANCE + key, so that the posterior keeps
    them with the runs they were drawn for. The nuisance draws and the replicate index come
    from numpy's global generator, which the sampler seeds for each evaluation. A parameter set
    the scenario rejects, or a run that raises, gives NaN for every fact (never accepted) and
    its reason under the key ERROR.
    """

    def __init__(self, scenarios: Sequence, facts: Sequence[Fact], priors: dict[str, Prior],
                 run_fn: Callable | None = None, steps: int | None = None,
                 nuisance: dict[str, Prior] | None = None):
        self.scenarios = [sc.model_copy(update={"priors": {}}) for sc in scenarios]
        self.facts, self.priors, self.run_fn, self.steps = list(facts), dict(priors), run_fn, steps
        self.nuisance = dict(nuisance or {})

    def _value(self, key: str, prior: Prior, theta: float) -> float:
        return prior_value(type(self.scenarios[0]), key, float(natural(prior, theta)))

    def params(self, theta) -> dict[str, float]:
        """pyabc's parameter -> scenario key -> value in the key's unit (whole numbers rounded)."""
        return {k: self._value(k, p, theta[k]) for k, p in self.priors.items()}

    def draw_nuisance(self) -> dict[str, float]:
        """One draw of every nuisance parameter (scenario key -> value in the key's unit)."""
        return {k: self._value(k, p, scipy_dist(p, log_space=True).rvs(random_state=np.random.mtrand._rand))
                for k, p in self.nuisance.items()}

    def __call__(self, theta) -> dict:
        from sim.experiments.execution import default_run_fn

        run_fn = self.run_fn or default_run_fn()
        drawn = self.draw_nuisance()
        params = {**self.params(theta), **drawn}
        replicate = int(np.random.randint(0, 2**31 - 1))
        kept = {NUISANCE + k: v for k, v in drawn.items()}
        failed = {f.id: math.nan for f in self.facts}
        try:
            runs = {}
            for sc in self.scenarios:
                s = apply_params(sc, applicable(sc, params))
                res = run_fn(s, replicate, steps=self.steps)
                runs[sc.name] = Run(s, res.timeseries, res.kpis)
            return {**{f.id: f.value(runs) for f in self.facts}, **kept}
        except ExperimentError as e:
            return {**failed, **kept, ERROR: f"invalid parameter set: {e}"}
        except Exception as e:  # noqa: BLE001 - a failing run is a rejected particle, counted and shown
            return {**failed, **kept, ERROR: f"{type(e).__name__}: {' '.join(str(e).split())}"}


# ---------------------------------------------------------------- settings and history ------
def settings(scenarios, facts, priors, particles: int, seed: int, steps, alpha: float) -> dict:
    """What a resumed calibration must share with the one it continues."""
    def digest(sc) -> str:
        return hashlib.sha256(sc.model_copy(update={"priors": {}}).model_dump_json().encode()).hexdigest()

    return {
        "format": FORMAT,
        "scenarios": {sc.name: digest(sc) for sc in scenarios},
        "priors": {k: p.model_dump() for k, p in priors.items()},
        "facts": {f.id: {"band": [f.band.lo, f.band.hi, f.band.target], "scenarios": list(f.scenarios)}
                  for f in facts},
        "particles": int(particles), "seed": int(seed), "steps": steps, "alpha": float(alpha),
    }


def db_url(db: Path) -> str:
    return f"sqlite:///{Path(db).resolve()}"


def stored_settings(db: Path) -> tuple[dict | None, int]:
    """(settings stored in the history or None, number of finished generations)."""
    pyabc = _pyabc()
    try:
        h = pyabc.History(db_url(db))
        runs = h.all_runs()
        opts = ast.literal_eval(runs[-1].json_parameters) if runs else {}
        spec = json.loads(opts["sim"]) if isinstance(opts, dict) and "sim" in opts else None
        return spec, (h.n_populations if h.id is not None else 0)
    except Exception:  # noqa: BLE001 - not a history of ours: the caller says so in one line
        return None, 0


def _diff(old: dict, new: dict) -> str:
    keys = [k for k in new if old.get(k) != new[k]]
    return "; ".join(f"{k} differ" if isinstance(new[k], dict) else f"{k}: was {old.get(k)!r}, now {new[k]!r}"
                     for k in keys)


def open_history(db: Path, spec: dict, resume: bool) -> int:
    """Check the history file against this calibration; return its finished generations (0: new)."""
    db = Path(db)
    if db.exists() and not resume:
        raise ExperimentError(f"{db} already holds a calibration; add --resume to continue it, "
                              "or choose another --out")
    if not db.exists():
        if resume:
            raise ExperimentError(f"--resume: no calibration history at {db}")
        return 0
    old, done = stored_settings(db)
    if old is None:
        raise ExperimentError(f"--resume: {db} is not a history written by sim calibrate")
    if old != spec:
        raise ExperimentError(f"--resume: this calibration differs from the one in {db} ({_diff(old, spec)}); "
                              "rerun with the same scenarios, priors, facts, --particles and --seed, "
                              "or use a new --out")
    if done == 0:
        db.unlink()  # interrupted before its first generation: nothing to keep
    return done


# ---------------------------------------------------------------- the driver -----------------
@dataclass
class RunStats:
    """What this call of `calibrate` did: the priors and targets used, evaluations (parameter sets
    run, surplus included), model runs (evaluations x scenarios), seconds spent running them,
    why it stopped, and how many runs failed (with the last reason)."""

    priors: dict[str, Prior]
    facts: list[Fact]
    evaluations: int
    model_runs: int
    seconds: float
    stopped: str
    failures: int
    last_failure: str

    @property
    def runs_per_second(self) -> float:
        return self.model_runs / self.seconds if self.seconds > 0 else math.nan


def prepare(scenarios: Sequence, facts: Sequence[str] | None = None,
            registry: Registry | None = None) -> tuple[dict[str, Prior], list[Fact]]:
    """The scenarios' priors (merged, each checked in every scenario) and the calibration targets."""
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ExperimentError(f"calibrate: scenario names must differ (got {', '.join(names)})")
    priors, problems = merge_priors(scenarios)
    if problems:
        raise ExperimentError(problems[0])
    if not priors:
        raise ExperimentError(f"calibrate: {', '.join(s.name for s in scenarios)} give no priors; "
                              "add a [priors.\"<key>\"] table (docs/scenario-format.md)")
    for sc in scenarios:  # every prior must fit every scenario it will be set in
        bare = sc.model_copy(update={"priors": {}})
        for key, p in priors.items():
            for v in (p.low, p.high):
                try:
                    apply_params(bare, applicable(bare, {key: prior_value(type(sc), key, v)}))
                except ExperimentError as e:
                    raise ExperimentError(f"priors.{key}: cannot be set in {sc.name}: {e}") from None
    try:
        targets = (registry or default_registry()).targets([s.name for s in scenarios], facts)
    except FactError as e:
        raise ExperimentError(f"calibrate: {e}") from None
    return priors, targets


def calibrate(scenarios: Sequence, budget: int, db: Path, *, generations: int = 8, particles: int = 100,
              resume: bool = False, facts: Sequence[str] | None = None, registry: Registry | None = None,
              workers: int | None = None, scheduler: str | None = None, seed: int | None = None,
              run_fn: Callable | None = None, steps: int | None = None, alpha: float = 0.5,
              progress: bool = True, log: Callable[[str], None] | None = None) -> RunStats:
    """Run (or continue) an ABC-SMC calibration of the scenarios' priors; the history goes to `db`.

    budget: parameter sets to simulate in all (each runs every scenario once), counted over the
    whole history, so a resumed calibration stops at the same total; a generation that would
    overrun it is not started, or not kept. generations: total generations in the history.
    seed: master seed of the calibration (default: the first scenario's). The same seed gives
    the same history for any workers or scheduler. Read the result with
    sim.calibration.report.read_calibration(db, stats.priors, stats.facts) (stats: what calibrate returns).
    """
    pyabc = _pyabc()
    from tqdm.auto import tqdm

    from sim.calibration.distance import BandDistance
    from sim.calibration.sampler import OrderedSampler

    if budget < 1 or particles < 2 or generations < 1 or not 0 < alpha < 1:
        raise ExperimentError("calibrate: need --budget >= 1, --particles >= 2, --generations >= 1, 0 < alpha < 1")
    check_executor(workers, scheduler)
    priors, targets = prepare(scenarios, facts, registry)
    seed = int(scenarios[0].seed if seed is None else seed)
    spec = settings(scenarios, targets, priors, particles, seed, steps, alpha)
    done = open_history(db, spec, resume)
    say = log or (lambda text: tqdm.write(text, file=sys.stderr))

    failures, last = [0], [""]

    def on_result(particle) -> None:
        err = particle.sum_stat.get(ERROR) if isinstance(particle.sum_stat, dict) else None
        if err:
            failures[0] += 1
            last[0] = err
            if failures[0] >= 10 and failures[0] == sampler.evaluations:
                raise ExperimentError(f"calibrate: the first {failures[0]} runs all failed; the last: {err}")
        bar.update(1)

    estimated = {k: p for k, p in priors.items() if p.estimate}
    if not estimated:
        raise ExperimentError("calibrate: every prior says estimate = false; nothing to estimate")
    model = FactModel(scenarios, targets, estimated, run_fn, steps,
                      nuisance={k: p for k, p in priors.items() if not p.estimate})
    prior, distance = pyabc_prior(estimated), BandDistance(targets)
    observed = {f.id: f.band.target for f in targets}
    history = pyabc.History(db_url(db)) if done else None
    bar = tqdm(total=budget, initial=history.total_nr_simulations if history else 0, desc="calibrate",
               unit="sim", disable=None if progress else True, dynamic_ncols=True, file=sys.stderr)
    stopped, cluster = "", ExitStack()
    try:
        sampler = OrderedSampler(seed, workers, cluster.enter_context(one_cluster(scheduler, workers)), on_result)
        while not stopped:
            used = history.total_nr_simulations if history else 0
            remaining = budget - used
            if done >= generations:
                stopped = f"{generations} generations done"
            elif remaining < particles:
                stopped = (f"budget: {used} of {budget} parameter sets used, too few left for a generation "
                           f"of {particles}")
            if stopped:
                break
            eps = pyabc.QuantileEpsilon(initial_epsilon=FIRST_EPS if done == 0 else "from_sample", alpha=alpha)
            abc = pyabc.ABCSMC(model, prior, distance, population_size=particles, eps=eps, sampler=sampler)
            if history is None:
                Path(db).parent.mkdir(parents=True, exist_ok=True)
                history = abc.new(db_url(db), observed, meta_info={"sim": json.dumps(spec)})
            else:
                abc.load(db_url(db), history.id)
            bar.set_postfix_str(f"generation {done}", refresh=True)
            abc.run(max_nr_populations=1, min_acceptance_rate=particles / remaining)
            if history.n_populations == done:
                stopped = f"budget reached during generation {done}, which was not kept"
                break
            done = history.n_populations
            say(generation_line(history, done - 1))
    finally:
        bar.close()
        cluster.close()
    n = sampler.evaluations
    return RunStats(priors, targets, n, n * len(scenarios), sampler.seconds, stopped, failures[0], last[0])


@contextmanager
def one_cluster(scheduler: str | None, workers: int | None):
    """The scheduler to give each generation: for "local-dask", one local cluster started here for
    the whole calibration (execute would start one per generation), else `scheduler` as given."""
    if scheduler != "local-dask":
        yield scheduler
        return
    import distributed

    w = check_executor(workers, scheduler)
    cluster = distributed.LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=":0")
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def generation_line(history, t: int) -> str:
    """'generation 3: threshold 0.84, 100 of 412 accepted (24 %), ESS 71'."""
    from pyabc.weighted_statistics import effective_sample_size

    pops = history.get_all_populations().set_index("t")
    row = pops.loc[t]
    _, w = history.get_distribution(m=0, t=t)
    eps = "none (prior)" if row["epsilon"] >= FIRST_EPS else f"{row['epsilon']:.3g}"
    return (f"generation {t}: threshold {eps}, {int(row['particles'])} of {int(row['samples'])} accepted "
            f"({row['particles'] / row['samples']:.0%}), ESS {effective_sample_size(w):.0f}")

