"""What a calibration leaves: the posterior ensemble (Parquet) and its diagnostics page.

    cal = read_calibration(db, priors, facts)
    write_posterior(cal, "scenarios/antimony_2024.posterior.parquet")
    write_diagnostics(cal, "scenarios/antimony_2024.posterior.md", stats, command)

The Parquet file has one row per parameter set of the last generation: one column per
scenario key (in the key's own unit, whole-number keys rounded as the model ran them) and
`weight` (summing to 1). Its schema metadata (`sim.calibration`) holds the settings, the
generation, the threshold and the history it came from. `sim run --posterior FILE` draws
from it (sim/experiments/posterior.py).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.calibration.abc import FIRST_EPS, NUISANCE, db_url, natural, scipy_dist, stored_settings
from sim.calibration.targets import Fact
from sim.outputs.atomic import atomic_path, atomic_write_text
from sim.scenario.priors import Prior, prior_value, target_field
from sim.scenario.schema import Scenario


@dataclass
class Calibration:
    """A calibration history, read back: settings, generations, the posterior and the targets under it."""

    db: Path
    spec: dict
    priors: dict[str, Prior]
    facts: list[Fact]
    generations: pd.DataFrame   # generation, threshold, accepted, simulated, acceptance, ess, wall_time_s
    posterior: pd.DataFrame     # one column per key (natural units) + weight
    predictive: pd.DataFrame    # id, band, mean, p05, p95, in_band (weighted share)


def _wq(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """Weighted quantile (the smallest x whose cumulative weight reaches q)."""
    ok = np.isfinite(x)
    x, w = x[ok], w[ok]
    if x.size == 0:
        return math.nan
    order = np.argsort(x)
    cum = np.cumsum(w[order]) / w.sum()
    return float(x[order][min(np.searchsorted(cum, q), x.size - 1)])


def read_calibration(db: Path, priors: dict[str, Prior], facts: list[Fact]) -> Calibration:
    """Read the history at `db` (written by sim.calibration.abc.calibrate)."""
    import pyabc
    from pyabc.weighted_statistics import effective_sample_size

    spec, n = stored_settings(db)
    if spec is None or n == 0:
        raise ValueError(f"{db}: no finished generation to read")
    h = pyabc.History(db_url(db))
    pops = h.get_all_populations()
    pops = pops[pops["t"] >= 0].sort_values("t")
    rows = []
    for r in pops.itertuples():
        _, w = h.get_distribution(m=0, t=int(r.t))
        rows.append({"generation": int(r.t), "threshold": math.nan if r.epsilon >= FIRST_EPS else float(r.epsilon),
                     "accepted": int(r.particles), "simulated": int(r.samples),
                     "acceptance": r.particles / r.samples, "ess": float(effective_sample_size(w)),
                     "wall_time_s": float(r.wall_time) if r.wall_time is not None else math.nan})
    particles = h.get_population(t=h.max_t).particles  # parameters, weights and runs kept together
    sw = np.array([q.weight for q in particles], dtype=float)
    stats = [q.sum_stat for q in particles]

    def column(key: str, p: Prior) -> list[float]:
        if p.estimate:
            return [prior_value(Scenario, key, float(natural(p, q.parameter[key]))) for q in particles]
        return [float(s[NUISANCE + key]) for s in stats]

    post = pd.DataFrame({k: column(k, p) for k, p in priors.items()})
    post["weight"] = sw / sw.sum()
    pred = []
    for f in facts:
        x = np.array([float(s.get(f.id, math.nan)) for s in stats])
        inside = np.array([f.band.contains(v) for v in x], dtype=float)
        pred.append({"id": f.id, "band": f.band_text(), "mean": float(np.average(x, weights=sw)),
                     "p05": _wq(x, sw, 0.05), "p95": _wq(x, sw, 0.95),
                     "in_band": float(np.average(inside, weights=sw))})
    return Calibration(Path(db), spec, priors, facts, pd.DataFrame(rows), post, pd.DataFrame(pred))


def write_posterior(cal: Calibration, path: Path) -> Path:
    """The posterior ensemble as Parquet (see the module docstring); returns the path."""
    last = cal.generations.iloc[-1]
    meta = {"settings": cal.spec, "generation": int(last["generation"]),
            "threshold": None if math.isnan(last["threshold"]) else float(last["threshold"]),
            "history": str(cal.db)}
    return write_ensemble(cal.posterior, path, meta)


def write_ensemble(df, path: Path, meta: dict) -> Path:
    """An ensemble (columns: scenario keys and `weight`) as Parquet with its provenance in the
    metadata (`sim.calibration`); returns the path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = {**meta, "written": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"sim.calibration": json.dumps(meta).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


# ---------------------------------------------------------------- the diagnostics page -------
def key_unit(key: str) -> str:
    """The unit of a scenario key, as docs/scenario-format.md gives it; else 'share 0-1', 'count' or
    'dimensionless'."""
    from sim.scenario.docgen import unit

    f = target_field(Scenario, key)
    if f is None:
        return ""
    u = unit(f.name, f.description)
    if u:
        return u
    lo = [getattr(m, "ge", None) for m in f.constraints]
    hi = [getattr(m, "le", None) for m in f.constraints]
    return "share 0-1" if 0.0 in lo and 1.0 in hi else "count" if f.type is int else "dimensionless"


def _g(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _axis_label(key: str, p: Prior) -> str:
    """'joint_operation: customs.CN.capacity_per_week (per week)' wrapped to two lines; nuisance
    parameters say that they were drawn, not estimated."""
    parts = key.split(".set.", 1)
    name = f"{parts[0].removeprefix('events.')}: {parts[1].strip(chr(34))}" if len(parts) == 2 else key
    text = f"{name} ({key_unit(key)})" + ("" if p.estimate else ", not estimated")
    return "\n".join(textwrap.wrap(text, 48))


def marginals_chart(cal: Calibration, path: Path) -> Path:
    """Small multiples: each key's posterior weight per bin (bars) against its prior's (steps);
    equal bins in the key's unit, or in log(value) for loguniform priors."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from sim.plots.style import GREY, PALETTE, new_figure, style

    keys = list(cal.priors)
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    with style():
        fig, axes = new_figure(rows, cols, size=(3.6 * cols, 2.8 * rows))
        for ax, key in zip(axes.flat, keys):
            p = cal.priors[key]
            log = p.kind == "loguniform"
            edges = np.geomspace(p.low, p.high, 21) if log else np.linspace(p.low, p.high, 21)
            ax.hist(cal.posterior[key], bins=edges, weights=cal.posterior["weight"], color=PALETTE[0],
                    alpha=0.7, label="posterior")
            ax.stairs(np.diff(scipy_dist(p).cdf(edges)), edges, color=GREY, lw=1.5, label="prior")
            if log:
                ax.set_xscale("log")
                ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(_axis_label(key, p), fontsize=8)
            ax.set_ylabel("share of parameter sets per bin", fontsize=8)
        for ax in list(axes.flat)[len(keys):]:
            ax.set_visible(False)
        axes.flat[0].legend(fontsize=8)
        fig.suptitle(f"Posterior (bars, generation {int(cal.generations['generation'].iloc[-1])}) "
                     "against prior (grey)")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return Path(path)


def diagnostics_markdown(cal: Calibration, posterior_file: Path, chart: Path | None, stats, command: str) -> str:
    """The diagnostics page (Markdown) for a posterior file and its chart."""
    from sim import __version__
    from sim.outputs.manifest import git_commit

    s = cal.spec
    g = cal.generations
    last = g.iloc[-1]
    used = int(g["simulated"].sum())
    quantile = "median" if s["alpha"] == 0.5 else f"{s['alpha']:.0%} quantile"
    lines = [
        f"# Calibration: {', '.join(s['scenarios'])}", "",
        f"Generated by `{command}` on {dt.date.today().isoformat()} with version {__version__}"
        + (f" (git {git_commit()[:10]})" if git_commit() else "") + "; do not edit by hand.",
        f"Posterior ensemble: `{posterior_file.name}` ({len(cal.posterior)} parameter sets with weights, "
        f"generation {int(last['generation'])}); history: `{cal.db.name}` (continue with `--resume`).", "",
        "Method: ABC-SMC (pyabc), " f"{s['particles']} particles per generation, master seed {s['seed']}. "
        "The distance of a parameter set to the record is the largest band cost over the targets "
        "(0 at the value the record states, 1 at the band's edge): a threshold below 1 means every "
        "target inside its band. Generation 0 samples the prior; each later threshold is the "
        f"weighted {quantile} of the previous generation's distances.",
        f"Simulated: {used:,} parameter sets in all, each running every scenario once on one replicate seed."
        + (f" Stopped: {stats.stopped}." if stats else ""),
    ]
    if stats and stats.model_runs:
        lines.append(f"Speed this session: {stats.model_runs:,} model runs in {stats.seconds:,.0f} s, "
                     f"{stats.runs_per_second:.2f} runs/s; {stats.failures} runs failed"
                     + (f" (last: {stats.last_failure})" if stats.failures else "") + ".")
    lines += ["", "## Calibration targets", "",
              "| id | fact | source | band | stated | scenarios |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {f.id} | {f.description} | {f.source} | {f.band_text()} | {f.band.target:g} | "
              f"{', '.join(f.scenarios)} |" for f in cal.facts]
    lines += ["", "Held-out checks never enter a calibration (docs/calibration.md, honesty rules); "
              "their results under this ensemble are in the validation report.", "",
              "## Generations", "",
              "| generation | threshold | accepted | simulated | acceptance | effective sample size |",
              "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {int(r.generation)} | {'none (prior)' if math.isnan(r.threshold) else f'{r.threshold:.3g}'} | "
              f"{r.accepted} | {r.simulated} | {r.acceptance:.0%} | {r.ess:.0f} |" for r in g.itertuples()]
    lines += ["", "## Targets under the posterior", "",
              "Each parameter set's value on its own replicate (the spread combines parameter uncertainty "
              "and Monte Carlo noise); weighted by the posterior weights.", "",
              "| id | band | mean | 5-95 % | share in band |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r.id} | {r.band} | {_g(r.mean)} | {_g(r.p05)} to {_g(r.p95)} | {r.in_band:.0%} |"
              for r in cal.predictive.itertuples()]
    lines += ["", "## Parameters", "",
              "| key | unit | prior | reason | prior 5-95 % | posterior mean | posterior 5-95 % |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    w = cal.posterior["weight"].to_numpy()
    for key, p in cal.priors.items():
        x = cal.posterior[key].to_numpy(dtype=float)
        d = scipy_dist(p)
        lines.append(f"| `{key}` | {key_unit(key)} | {p.describe()} | {p.reason} | {_g(d.ppf(0.05))} to "
                     f"{_g(d.ppf(0.95))} | {_g(float(np.average(x, weights=w)))} | {_g(_wq(x, w, 0.05))} to "
                     f"{_g(_wq(x, w, 0.95))} |")
    if chart is not None:
        lines += ["", f"![Posterior marginals against the priors]({chart.name})"]
    return "\n".join(lines) + "\n"


def write_diagnostics(cal: Calibration, page: Path, posterior_file: Path, stats, command: str) -> Path:
    """Write the page and its chart (`<page stem>.png`) beside it; a chart error is a warning."""
    import sys

    chart = Path(page).with_suffix(".png")
    try:
        marginals_chart(cal, chart)
    except Exception as e:  # noqa: BLE001 - the numbers on the page matter more than the picture
        print(f"warning: marginals chart not written: {type(e).__name__}: {e}", file=sys.stderr)
        chart = None
    text = diagnostics_markdown(cal, Path(posterior_file), chart, stats, command)
    atomic_write_text(page, text)
    return Path(page)
