"""Running many replicates: in-process, on local processes, or on a Dask cluster.

Every task carries its scenario and replicate index; the model derives the random
stream from (scenario.seed, replicate) alone (`replicate_seed`), so the results do not
depend on the executor or on the number of workers. A run that raises is recorded as a
`RunFailure` and the other runs go on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from sim.scenario import ScenarioError
from sim.signals import check_signal


class ExperimentError(ScenarioError):
    """Bad experiment input: one line for the user (the CLI prints it and exits with status 2)."""

    def __init__(self, message: str):
        super().__init__([message])

    def __reduce__(self):
        return (type(self), (self.messages[0],))


@dataclass(frozen=True)
class RunFailure:
    """A replicate whose run raised: the error as one line and the full traceback."""

    replicate: int
    error: str
    traceback: str


@dataclass(frozen=True)
class Task:
    """One model run to do: `tag` is the caller's label (returned with the outcome)."""

    tag: Any
    scenario: Any
    replicate: int
    steps: int | None = None


def replicate_seed(master_seed: int, replicate: int) -> np.random.SeedSequence:
    """The replicate's seed, `SeedSequence(master_seed).spawn(n)[replicate]` for any n.

    The model's own (sim.model.runner.replicate_seed), imported when first needed.
    """
    from sim.model.runner import replicate_seed as model_seed

    return model_seed(master_seed, replicate)


class ModelRef:
    """A function named by module and name, imported where it is first called.

    Picklable by name, so a process that only hands runs to workers never imports the
    model itself; a test's monkeypatch of the module attribute is seen by in-process runs.
    """

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args, **kwargs):
        import importlib

        return getattr(importlib.import_module(self.module), self.name)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"{self.module}.{self.name}"


MODEL = ModelRef("sim.model.runner", "run_replicate")


def default_run_fn() -> Callable:
    """The model, `sim.model.runner.run_replicate`, imported only where it runs (see ModelRef)."""
    return MODEL


def preload_modules(run_fn: Callable) -> list[str]:
    """Modules the workers' fork server imports once: this one, the run function's, and
    sim.experiments.warm (loads the model's compiled kernels, so workers start with them)."""
    inner = getattr(run_fn, "run_fn", None) or run_fn  # wrappers keep the model function as .run_fn
    mod = inner.module if isinstance(inner, ModelRef) else (
        getattr(inner, "__module__", None) or type(inner).__module__)
    return [__name__] + ([mod] if mod and mod != "__main__" else []) + ["sim.experiments.warm"]


def local_workers(workers: int | None, runs: int) -> int:
    """Worker processes for `runs` local runs: `workers`, at most one per run.

    With the default (None: one per CPU), as many runs as CPUs or fewer run in this
    process unless a pool is already running: starting worker processes costs about what
    one run costs, so it would not pay (see benchmarks/README.md, "Executor").
    """
    w = min(check_executor(workers, None), max(runs, 1))
    if workers is None and w > 1 and runs <= w:
        from sim.experiments import pool

        if not pool.running(w):
            return 1
    return w


def prestart(workers: int | None, runs: int, run_fn: Callable | None = None) -> None:
    """Start the workers' fork server now (it imports the model in the background) when
    `runs` runs will use more than one local worker; the caller goes on meanwhile."""
    if local_workers(workers, runs) > 1:
        from sim.experiments import pool

        pool.prestart(preload_modules(run_fn or MODEL))


def replicate_list(replicates: int | Sequence[int]) -> list[int]:
    """`N` -> [0, ..., N-1]; a sequence of indices is kept as given (checked >= 0, unique)."""
    reps = (
        list(range(int(replicates)))
        if isinstance(replicates, (int, np.integer))
        else [int(r) for r in replicates]
    )
    if not reps:
        raise ExperimentError("replicates: need at least one replicate")
    if min(reps) < 0 or len(set(reps)) != len(reps):
        raise ExperimentError("replicates: indices must be distinct and >= 0")
    return reps


def with_steps(scenario, steps: int | None):
    """The scenario with its horizon set to `steps` (unchanged when None)."""
    if steps is None:
        return scenario
    if int(steps) < 1:
        raise ExperimentError(f"steps: must be >= 1 (got {steps})")
    return scenario.model_copy(update={"steps": int(steps)})


def call_model(run_fn: Callable, scenario, replicate: int, steps: int | None, kpis_only: bool):
    """Run one replicate (in a worker). Exceptions become a `RunFailure`.

    With `kpis_only` the worker returns just the KPI dict, so timeseries never travel back.
    """
    try:
        res = run_fn(scenario, replicate, steps=steps)
        return {k: float(v) for k, v in res.kpis.items()} if kpis_only else res
    except Exception as e:  # noqa: BLE001 - any model error is recorded, the others go on
        return RunFailure(replicate, _one_line(e), traceback.format_exc())


def _one_line(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def check_executor(workers: int | None, scheduler: str | None) -> int:
    """Validate --workers/--scheduler before anything is written; return the worker count."""
    w = int(workers) if workers is not None else (os.cpu_count() or 1)
    if w < 1:
        raise ExperimentError(f"--workers: must be >= 1 (got {workers})")
    if scheduler:
        if scheduler != "local-dask" and "://" not in scheduler:
            raise ExperimentError(f"--scheduler: expected tcp://HOST:PORT or local-dask (got '{scheduler}')")
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ExperimentError(
                f"--scheduler {scheduler} needs Dask: pip install 'mineral-smuggling-sim[dist]'"
            ) from None
    return w


def _dask_client(scheduler: str, workers: int):
    """A distributed.Client for 'local-dask' (a LocalCluster of processes) or an address."""
    try:
        import distributed
    except ImportError:
        raise ExperimentError(
            f"--scheduler {scheduler} needs Dask: pip install 'mineral-smuggling-sim[dist]'"
        ) from None
    if scheduler == "local-dask":
        cluster = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        return distributed.Client(cluster), cluster
    try:
        return distributed.Client(scheduler, timeout="15s"), None
    except OSError as e:
        raise ExperimentError(f"--scheduler: cannot reach the Dask scheduler at {scheduler} ({e})") from None


def execute(
    tasks: Iterable[Task],
    total: int,
    run_fn: Callable,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    kpis_only: bool = False,
    desc: str = "runs",
    initial: int = 0,
) -> Iterator[tuple[Any, Any]]:
    """Yield (task.tag, outcome) as runs complete, in completion order.

    outcome is the model's RunResult (or its KPI dict with `kpis_only`) or a `RunFailure`.
    workers: worker processes (default os.cpu_count()); 1 without a scheduler runs in-process.
    scheduler: None (local processes), "local-dask", or a Dask scheduler address "tcp://HOST:PORT".
    At most 4 x workers tasks are in flight, so memory stays flat for long sweeps.
    """
    check_executor(workers, scheduler)
    remaining = max(total - initial, 1)
    w = min(workers or os.cpu_count() or 1, remaining) if scheduler else local_workers(workers, remaining)
    bar = tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit="run",
        disable=None if progress else True,
        dynamic_ncols=True,
        file=sys.stderr,
    )
    failed = 0
    try:
        if scheduler:
            gen = _run_dask(tasks, run_fn, w, scheduler, kpis_only)
        elif w == 1:
            gen = ((t.tag, call_model(run_fn, t.scenario, t.replicate, t.steps, kpis_only)) for t in tasks)
        elif workers is None and not _pool_running(w):
            gen = _run_adaptive(tasks, run_fn, w, kpis_only, remaining)
        else:
            gen = _run_pool(tasks, run_fn, w, kpis_only)
        for tag, outcome in gen:
            check_signal()              # a Ctrl-C that Python dropped in a destructor stops us here
            if isinstance(outcome, RunFailure):
                failed += 1
                bar.set_postfix(failed=failed, refresh=False)
            bar.update(1)
            yield tag, outcome
    finally:
        bar.close()


# Seconds a local pool takes to start its workers and load the model in them (measured on the
# project's machine: about 1.5 s, benchmarks/README.md "Executor"); a pool pays only when it
# saves more than that.
POOL_START_S = 1.5


def _pool_running(w: int) -> bool:
    from sim.experiments import pool

    return pool.running(w)


def _run_adaptive(tasks: Iterable[Task], run_fn, w: int, kpis_only: bool, total: int):
    """The default executor (workers not given): runs in this process while they are short.

    The first two runs are made here and timed (the first also loads the compiled core); the
    rest go to a pool of `w` workers only if, at the second run's pace, they would take more
    in this process than starting the pool would save: (n - 2) x t x (1 - 1/w) > POOL_START_S.
    Results do not depend on where a run is made (each replicate has its own seed).
    """
    it = iter(tasks)
    last = 0.0
    for _ in range(2):
        t = next(it, None)
        if t is None:
            return
        start = time.perf_counter()
        outcome = call_model(run_fn, t.scenario, t.replicate, t.steps, kpis_only)
        last = time.perf_counter() - start
        yield t.tag, outcome
    if (total - 2) * last * (1 - 1 / w) > POOL_START_S:
        yield from _run_pool(it, run_fn, w, kpis_only)
    else:
        for t in it:
            yield t.tag, call_model(run_fn, t.scenario, t.replicate, t.steps, kpis_only)


def _failure_of(task: Task, err: BaseException) -> RunFailure:
    """A task the executor itself lost (worker died, pool broken)."""
    tb = "".join(traceback.format_exception(err))
    return RunFailure(task.replicate, _one_line(err), tb)


def _fill(ex, pending: dict, it: Iterator[Task], limit: int, run_fn, kpis_only: bool) -> None:
    """Submit tasks from `it` until `limit` are in flight."""
    while len(pending) < limit and (t := next(it, None)) is not None:
        pending[ex.submit(call_model, run_fn, t.scenario, t.replicate, t.steps, kpis_only)] = t


@contextlib.contextmanager
def deferred_interrupt():
    """Hold a Ctrl-C until the block is done, then raise it.

    Used while worker processes start: a process interrupted halfway through its start
    would fail later with a confusing traceback of its own.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if caught:
        raise KeyboardInterrupt


def _run_pool(tasks: Iterable[Task], run_fn, w: int, kpis_only: bool):
    """Local worker processes (the process's kept pool, see sim.experiments.pool), at most
    4 x w runs in flight.

    A worker that dies (crash, out of memory) breaks the pool: the runs in flight are
    recorded as failures and a fresh pool takes the rest. A pool that breaks before any run
    finished means the workers cannot start at all: ExperimentError. Ctrl-C, SIGTERM (see
    sim.cli) or an error in the caller terminates the workers at once.
    """
    from sim.experiments import pool

    it = iter(tasks)
    while True:
        with deferred_interrupt():  # the first submits start the worker processes
            ex = pool.pool(w, preload_modules(run_fn))
            pending: dict = {}
            _fill(ex, pending, it, 4 * w, run_fn, kpis_only)
        completed, broken, finished = 0, None, False
        try:
            while pending and broken is None:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    t = pending.pop(fut)
                    try:
                        outcome = fut.result()
                        completed += 1
                    except BrokenProcessPool as e:
                        if not completed:
                            raise ExperimentError(
                                f"worker processes failed before finishing a run ({_one_line(e)}); "
                                'in a script, call sim.experiments under `if __name__ == "__main__":`, '
                                "or use workers=1"
                            ) from None
                        broken, outcome = e, _failure_of(t, e)
                    except Exception as e:  # noqa: BLE001 - e.g. a result that cannot be unpickled
                        outcome = _failure_of(t, e)
                    yield t.tag, outcome
                if broken is None:
                    _fill(ex, pending, it, 4 * w, run_fn, kpis_only)
            finished = True
        finally:
            if not finished or broken is not None:  # Ctrl-C, an error in the caller, a dead worker
                pool.discard(ex, kill=True)
        if broken is None:
            return
        for t in pending.values():
            yield t.tag, _failure_of(t, broken)


def _run_dask(tasks: Iterable[Task], run_fn, w: int, scheduler: str, kpis_only: bool):
    from distributed import as_completed

    client, cluster = _dask_client(scheduler, w)
    try:
        slots = 4 * max(w if cluster else sum(client.nthreads().values()), 1)
        it = iter(tasks)
        owner: dict = {}

        def submit(t: Task):
            # pure=False and a unique key: identical tasks must not be merged by Dask.
            key = f"{t.scenario.name}-{t.replicate}-{uuid.uuid4().hex}"
            fut = client.submit(
                call_model, run_fn, t.scenario, t.replicate, t.steps, kpis_only, key=key, pure=False
            )
            owner[fut.key] = t
            return fut

        first = [submit(t) for t in (next(it, None) for _ in range(slots)) if t is not None]
        ac = as_completed(first)
        for fut in ac:
            t = owner.pop(fut.key)
            try:
                outcome = fut.result()
            except Exception as e:  # noqa: BLE001 - a lost worker, a scheduler error
                outcome = _failure_of(t, e)
            fut.release()
            yield t.tag, outcome
            if (nxt := next(it, None)) is not None:
                ac.add(submit(nxt))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def iter_replicates(
    scenario,
    replicates: int | Sequence[int],
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    run_fn: Callable | None = None,
    steps: int | None = None,
) -> Iterator:
    """Run replicates of one scenario, yielding (replicate, RunResult or RunFailure) as each
    finishes (completion order), so a caller can stream them to disk instead of holding them.

    Arguments as in `run_replicates`.
    """
    run_fn = run_fn or default_run_fn()
    reps = replicate_list(replicates)
    sc = with_steps(scenario, steps)
    tasks = (Task(r, sc, r, steps) for r in reps)
    yield from execute(
        tasks, len(reps), run_fn, workers=workers, scheduler=scheduler, progress=progress, desc=sc.name
    )


def run_replicates(
    scenario,
    replicates: int | Sequence[int],
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    run_fn: Callable | None = None,
    steps: int | None = None,
) -> list:
    """Run replicates of one scenario; returns RunResult or RunFailure per replicate, in replicate order.

    replicates: a count N (replicates 0..N-1) or explicit replicate indices.
    steps: horizon override (steps); the returned results' scenario horizon is this value.
    Results are identical for any `workers`/`scheduler` (seeds depend on scenario.seed and the index only).
    """
    reps = replicate_list(replicates)
    by_rep = dict(iter_replicates(scenario, reps, workers, scheduler, progress, run_fn, steps))
    return [by_rep[r] for r in reps]


def probe_size(scenario, run_fn: Callable | None = None, probe_steps: int = 3) -> tuple[float, float]:
    """(bytes on disk, bytes in memory) of one replicate's time series, estimated from a short
    in-process run of `probe_steps` steps scaled to the scenario's horizon."""
    import io

    run_fn = run_fn or default_run_fn()
    n = min(probe_steps, scenario.steps)
    ts = run_fn(with_steps(scenario, n), 0, steps=n).timeseries
    buf = io.BytesIO()
    ts.to_parquet(buf, index=False)
    scale = scenario.steps / n
    return buf.tell() * scale, float(ts.memory_usage(deep=True).sum()) * scale


def run_kpis(
    scenario,
    replicates: int | Sequence[int],
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    run_fn: Callable | None = None,
    steps: int | None = None,
) -> pd.DataFrame:
    """KPIs per replicate as a DataFrame: columns replicate, <KPI...>, error ("" if the run succeeded)."""
    results = run_replicates(scenario, replicates, workers, scheduler, progress, run_fn, steps)
    return kpi_frame(results)


def kpi_frame(results: Sequence) -> pd.DataFrame:
    """One row per result: replicate, the KPIs (NaN for failed runs), error."""
    rows = []
    for res in results:
        if isinstance(res, RunFailure):
            rows.append({"replicate": res.replicate, "error": res.error})
        else:
            rows.append(
                {"replicate": res.replicate, **{k: float(v) for k, v in res.kpis.items()}, "error": ""}
            )
    df = pd.DataFrame(rows)
    cols = ["replicate"] + [c for c in df.columns if c not in ("replicate", "error")] + ["error"]
    return df[cols].astype({"replicate": "int64"})


def summary_line(done: int, failed: int, wall_s: float, where: str | os.PathLike | None) -> str:
    """Final one-line summary for a multi-run command."""
    s = f"{done} run{'s' if done != 1 else ''} done, {failed} failed, wall time {_fmt_secs(wall_s)}"
    return s + (f"; results in {where}" if where else "")


def _fmt_secs(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(int(round(s)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


class Timer:
    """Wall-clock timer: `t = Timer(); ...; t.seconds`."""

    def __init__(self):
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start
