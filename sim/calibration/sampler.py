"""A pyabc sampler that runs its evaluations through sim.experiments, with results that do not
depend on the number of workers or the executor.

pyabc's own parallel samplers reseed every evaluation from the operating system, so two runs
of a calibration never agree. Here evaluation number i of generation t draws its proposal
and its model replicate from numpy's global generator seeded with
SeedSequence(seed, spawn_key=(t + 1, i)), evaluations go out in order of i, and a generation
keeps evaluations 0..k where k is the n-th accepted one in that order (the rest are surplus,
thrown away): the same seed gives the same populations in-process, on a process pool or on
Dask. Runs go through `sim.experiments.execution.execute` (the project's one way to run
things on processes or Dask), which also stops the workers on Ctrl-C.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pyabc.sampler import Sampler

from sim.experiments.execution import ExperimentError, RunFailure, Task, execute

_SUBMIT_LIMIT = 10**9  # "no limit" for the executor's task count


@dataclass(frozen=True)
class Job:
    """What every evaluation of one generation shares: the pickled pyabc simulate function."""

    name: str          # names Dask keys
    blob: bytes        # cloudpickle of pyabc's simulate_one for this generation
    digest: str
    seed: int
    t: int


_LOADED: dict[str, Callable] = {}  # per process: the simulate function of the current generation


def evaluate(job: Job, proposal: int, steps=None):
    """Evaluate proposal number `proposal` of a generation (runs in a worker); returns a pyabc Particle.

    The global numpy and random generators, which pyabc and scipy draw from, are seeded from
    (job.seed, job.t, proposal) for the call and restored after it.
    """
    fn = _LOADED.get(job.digest)
    if fn is None:
        import cloudpickle

        _LOADED.clear()
        fn = _LOADED[job.digest] = cloudpickle.loads(job.blob)
    seq = np.random.SeedSequence(job.seed, spawn_key=(job.t + 1, proposal))
    np_state, py_state = np.random.get_state(), random.getstate()
    np.random.seed(seq.generate_state(8))
    random.seed(int(seq.generate_state(1, np.uint64)[0]))
    try:
        return fn()
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


class OrderedSampler(Sampler):
    """pyabc Sampler over sim.experiments.execute: deterministic for a seed, any workers or scheduler.

    on_result(particle) is called in the main process after every evaluation (progress bars).
    `evaluations` and `seconds` count every evaluation run, surplus ones included.
    """

    def __init__(self, seed: int, workers: int | None = None, scheduler: str | None = None,
                 on_result: Callable | None = None):
        super().__init__()
        self.seed, self.workers, self.scheduler = int(seed), workers, scheduler
        self.on_result = on_result
        self.evaluations = 0
        self.seconds = 0.0

    def sample_until_n_accepted(self, n, simulate_one, t, *, max_eval=np.inf, all_accepted=False, ana_vars=None):
        import cloudpickle

        blob = cloudpickle.dumps(simulate_one)
        job = Job(f"abc-t{t}", blob, hashlib.sha256(blob).hexdigest(), self.seed, t)
        limit = _SUBMIT_LIMIT if math.isinf(max_eval) else int(max_eval + 1e-9)  # pyabc passes n / rate
        done: dict[int, object] = {}
        accepted: list[int] = []
        nxt, prefix = 0, 0  # next proposal to submit; first proposal not yet back

        def tasks():
            nonlocal nxt
            while len(accepted) < n and nxt < limit:
                yield Task(nxt, job, nxt)
                nxt += 1

        start = time.perf_counter()
        try:
            runs = execute(tasks(), limit, evaluate, workers=self.workers,
                           scheduler=self.scheduler, progress=False, desc=f"generation {t}")
            with contextlib.closing(runs):
                for i, particle in runs:
                    if isinstance(particle, RunFailure):
                        raise ExperimentError(f"calibration: evaluation {i} of generation {t} failed: "
                                              f"{particle.error}")
                    done[i] = particle
                    self.evaluations += 1
                    if particle.accepted:
                        bisect.insort(accepted, i)
                    while prefix in done:
                        prefix += 1
                    if self.on_result is not None:
                        self.on_result(particle)
                    if len(accepted) >= n and prefix > accepted[n - 1]:
                        break  # every proposal up to the n-th accepted is back: surplus runs are dropped
        finally:
            self.seconds += time.perf_counter() - start
        keep = range(accepted[n - 1] + 1) if len(accepted) >= n else sorted(done)
        sample = self._create_empty_sample()
        for i in keep:
            sample.append(done[i])
        sample.ok = len(accepted) >= n
        self.nr_evaluations_ = len(keep)
        return sample
