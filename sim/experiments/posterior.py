"""Runs over a posterior ensemble: each replicate runs one parameter set drawn from the ensemble.

    post = load_posterior("scenarios/antimony_2024.posterior.parquet")
    run_replicates(scenario, 20, run_fn=post.wrap(default_run_fn()))   # also compare() and sweep()

Replicate r of a scenario with master seed s runs parameter set j(s, r), drawn by weight with
numpy's generator seeded from SeedSequence([s, POSTERIOR_TAG], spawn_key=(r,)): a stream of
its own, independent of the model's (which is SeedSequence(s, spawn_key=(r,))), so the draw is
the same whatever the workers or executor. Paired comparisons run every scenario on the same
master seed, so replicate r draws the same parameter set in every scenario. The bands of such
runs combine parameter uncertainty with Monte Carlo noise.

The file is the Parquet that `sim calibrate` writes: one column per dotted scenario key and a
`weight` column (sim/calibration/report.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.experiments.execution import ExperimentError
from sim.experiments.params import applicable, apply_params

POSTERIOR_TAG = 0x706F7374  # "post": separates the draw's stream from the model's
NOTE = "bands combine parameter uncertainty (one posterior parameter set per replicate) with Monte Carlo noise"


@dataclass(frozen=True)
class Posterior:
    """A posterior ensemble: parameter sets (rows) over scenario keys, with weights summing to 1."""

    path: str
    sha256: str
    keys: tuple[str, ...]
    columns: tuple[tuple, ...]   # per key, the values of every set (ints stay ints)
    weights: np.ndarray

    @property
    def n_sets(self) -> int:
        return len(self.weights)

    @property
    def effective_sets(self) -> float:
        """Kish's effective sample size 1 / sum(w^2): how many equally weighted sets the
        ensemble is worth (small when a few sets carry most of the weight)."""
        return float(1.0 / np.sum(np.square(self.weights)))

    def draw(self, master_seed: int, replicate: int) -> int:
        """The parameter set replicate `replicate` of a run with master seed `master_seed` uses."""
        rng = np.random.default_rng(np.random.SeedSequence([int(master_seed), POSTERIOR_TAG],
                                                           spawn_key=(int(replicate),)))
        return int(rng.choice(self.n_sets, p=self.weights))

    def params(self, master_seed: int, replicate: int) -> dict[str, float | int]:
        j = self.draw(master_seed, replicate)
        return {k: col[j] for k, col in zip(self.keys, self.columns, strict=True)}

    def apply(self, scenario, replicate: int):
        """The scenario with replicate `replicate`'s parameter set (seeded by the scenario's master seed)."""
        return apply_params(scenario, applicable(scenario, self.params(scenario.seed, replicate)))

    def check(self, scenarios: Sequence) -> None:
        """Every key's smallest and largest value must be valid in every scenario (ExperimentError if not)."""
        for sc in scenarios:
            for k, col in zip(self.keys, self.columns, strict=True):
                for v in {min(col), max(col)}:
                    try:
                        apply_params(sc, applicable(sc, {k: v}))
                    except ExperimentError as e:
                        raise ExperimentError(f"--posterior {self.path}: {k} = {v} cannot be set in "
                                              f"{sc.name}: {e}") from None

    def manifest(self, master_seed: int, replicates: Sequence[int]) -> dict:
        """The manifest entry: file, SHA-256, number of sets, keys, and the set each replicate drew."""
        return {"posterior": {"path": self.path, "sha256": self.sha256, "n_sets": self.n_sets,
                              "effective_sets": round(self.effective_sets, 1), "keys": list(self.keys), "note": NOTE,
                              "draws": [{"replicate": int(r), "set": self.draw(master_seed, r)}
                                        for r in replicates]}}

    def wrap(self, run_fn: Callable) -> PosteriorRun:
        return PosteriorRun(self, run_fn)


class PosteriorRun:
    """run_fn(scenario, replicate, steps) that first sets the replicate's parameter set (picklable)."""

    def __init__(self, posterior: Posterior, run_fn: Callable):
        self.posterior, self.run_fn = posterior, run_fn  # .run_fn: the process pool preloads its module

    def __call__(self, scenario, replicate: int, steps: int | None = None):
        return self.run_fn(self.posterior.apply(scenario, replicate), replicate, steps=steps)


def load_posterior(path) -> Posterior:
    """Read and check a posterior file; ExperimentError (one line) if it cannot be used."""
    import pyarrow.parquet as pq

    from sim.scenario.priors import target_field
    from sim.scenario.schema import Scenario

    p, shown = Path(path), f"--posterior {path}"
    try:
        raw = p.read_bytes()
        df = pq.read_table(p).to_pandas()
    except OSError as e:
        raise ExperimentError(f"{shown}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    except Exception as e:  # noqa: BLE001 - pyarrow's errors for files that are not Parquet vary
        raise ExperimentError(f"{shown}: not a Parquet file ({type(e).__name__})") from None
    if "weight" not in df.columns:
        raise ExperimentError(f"{shown}: no 'weight' column (expected the output of sim calibrate)")
    keys = [c for c in df.columns if c != "weight"]
    w = df["weight"].to_numpy(dtype=float)
    if not keys or len(df) == 0:
        raise ExperimentError(f"{shown}: no parameter sets in it")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ExperimentError(f"{shown}: weights must be finite, >= 0 and not all 0")
    cols = []
    for k in keys:
        f = target_field(Scenario, k)
        if f is None or f.type not in (int, float) or f.type is bool:
            raise ExperimentError(f"{shown}: column '{k}' is not a numeric scenario key")
        x = df[k].to_numpy()
        if not np.isfinite(x.astype(float)).all():
            raise ExperimentError(f"{shown}: column '{k}' has missing or infinite values")
        cols.append(tuple(int(round(v)) if f.type is int else float(v) for v in x))
    return Posterior(str(path), hashlib.sha256(raw).hexdigest(), tuple(keys), tuple(cols), w / w.sum())


# ---------------------------------------------------------------- the CLI hooks -------------
def add_posterior_arg(p) -> None:
    p.add_argument("--posterior", default=None, metavar="FILE",
                   help="draw one parameter set per replicate from this posterior ensemble (from sim calibrate); "
                        "bands then combine parameter uncertainty with noise")


class Hook:
    """What run, compare and sweep do with --posterior (a no-op without it)."""

    def __init__(self, posterior: Posterior | None, run_fn: Callable | None):
        self.posterior = posterior
        self.run_fn = posterior.wrap(run_fn) if posterior else None

    def manifest(self, master_seed: int, replicates: Sequence[int] | int) -> dict:
        if not self.posterior:
            return {}
        reps = range(replicates) if isinstance(replicates, int) else replicates
        return self.posterior.manifest(master_seed, reps)

    def say(self) -> None:
        if self.posterior:
            print(f"Parameters: {self.posterior.n_sets} sets from {self.posterior.path}; {NOTE}.")

    def check_sweep_folder(self, out: Path, resume: bool) -> None:
        """A resumed sweep must use the posterior it started with; a new one records it (posterior.json)."""
        side = Path(out) / "posterior.json"
        mine = {"path": self.posterior.path, "sha256": self.posterior.sha256} if self.posterior else None
        if resume:
            old = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else None
            if (old or {}).get("sha256") != (mine or {}).get("sha256"):
                was = f"--posterior {old['path']}" if old else "no --posterior"
                raise ExperimentError(f"--resume: the sweep in {out} ran with {was}; resume it the same way")
        elif mine and not (Path(out) / "design.json").exists():
            Path(out).mkdir(parents=True, exist_ok=True)
            side.write_text(json.dumps(mine) + "\n", encoding="utf-8")


def posterior_for(path: Path) -> Path | None:
    """The ensemble a scenario file runs on: `<name>.posterior.parquet` beside it, else its base's."""
    import tomllib

    path = Path(path)
    for _ in range(10):
        cand = path.with_name(path.stem + ".posterior.parquet")
        if cand.is_file():
            return cand
        ext = tomllib.loads(path.read_text(encoding="utf-8")).get("extends")
        if not ext:
            return None
        path = (path.parent / ext).resolve()
    return None


def posterior_hook(args, scenarios: Sequence, fixed_keys: Sequence[str] = ()) -> Hook:
    """--posterior for a CLI command: load, check against the scenarios, --set and swept keys."""
    if not getattr(args, "posterior", None):
        return Hook(None, None)
    from sim.experiments.execution import default_run_fn
    from sim.scenario.load import parse_key, parse_override

    post = load_posterior(args.posterior)
    taken = [parse_override(o)[0] for o in getattr(args, "overrides", [])] + [parse_key(k) for k in fixed_keys]
    both = [k for k in post.keys if any(t and parse_key(k)[:len(t)] == t for t in taken)]
    if both:
        raise ExperimentError(f"--posterior {args.posterior} sets {', '.join(both)}; do not also set or vary it")
    post.check(scenarios)
    return Hook(post, default_run_fn())

