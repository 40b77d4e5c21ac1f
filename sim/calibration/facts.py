"""The facts of MODEL.md §8 as calibration targets (S1-S7) and held-out checks (H1-H4).

Each fact is measured on one replicate of the scenarios it names (paired on one seed when
it names several). The calibration targets may set parameters (`sim calibrate`); the
held-out checks never do, by calibration or by hand: they are reported whatever they show
(docs/calibration.md, honesty rules). Dates come from the policy timeline in FACTS.md.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from sim.calibration.targets import Band, fact
from sim.model.kpis import rolling_mean

BAN_US = dt.date(2024, 12, 3)          # MOFCOM No. 46 of 2024
LICENCES = dt.date(2024, 9, 15)        # MOFCOM/customs No. 33 of 2024, antimony licences in force
HEAVY_RE = dt.date(2025, 4, 4)         # MOFCOM/customs No. 18 of 2025, medium and heavy rare earths
OPERATION = dt.date(2025, 5, 12)       # the joint anti-smuggling operation (seed: May 2025)


def series(ts: pd.DataFrame, metric: str, **keys) -> np.ndarray:
    """One metric summed over the key columns not given, as an array over steps."""
    d = ts[ts["metric"] == metric]
    for k, v in keys.items():
        d = d[d[k].isin(v if isinstance(v, (list, tuple, set)) else [v])]
    return d.groupby("step")["value"].sum().sort_index().to_numpy()


def step(sc, date: dt.date) -> int:
    """The first step dated on or after `date`."""
    return -(-(date - sc.start_date).days // sc.days_per_step)


def mean_between(x: np.ndarray, sc, start: dt.date, end: dt.date) -> float:
    """Mean of a weekly series over the steps whose dates fall in [start, end)."""
    a, b = max(step(sc, start), 0), min(step(sc, end), len(x))
    return float(x[a:b].mean()) if b > a else math.nan


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def hub_routes(sc, hubs) -> list[str]:
    return [r for r, rt in sc.routes.items() if rt.via in hubs]


def headline(sc) -> int:
    """The step of the May 2025 operation (also in a variant of the episode without it)."""
    return step(sc, OPERATION)


# ---------------------------------------------------------------- calibration targets --------
@fact("S1", "Antimony oxide reaching the US through Thailand and Mexico in the 22 weeks after the ban (Dec 2024 - Apr 2025)",
      source="seed: 3,834 t", band=Band(2900, 4800, target=3834), unit="t", role="calibration",
      scenarios=("antimony_2024",))
def s1(runs):
    r = runs["antimony_2024"]
    x = series(r.timeseries, "illicit_route_t", route=hub_routes(r.scenario, ("TH", "MX")))
    b = step(r.scenario, BAN_US)
    return float(x[b:b + 22].sum())


@fact("S2", "European antimony price over 2024: mean of the last 4 weeks of 2024 over the first 4 weeks",
      source="FACTS: Rotterdam about +250 % over 2024 (trade press)", band=Band(2.5, 4.5, target=3.5), unit="x",
      role="calibration", scenarios=("antimony_2024",))
def s2(runs):
    r = runs["antimony_2024"]
    p = series(r.timeseries, "price_usd_kg", market="EU", commodity="sb2o3")
    return ratio(mean_between(p, r.scenario, dt.date(2024, 12, 4), dt.date(2025, 1, 1)),
                 mean_between(p, r.scenario, dt.date(2024, 1, 1), dt.date(2024, 1, 29)))


@fact("S4", "Fall in irregular US imports within 9 weeks of the May 2025 crackdown (weeks 5-9 after it over the 4 weeks before)",
      source="seed: -67 % within two months", band=Band(50, 80, target=67), unit="%", role="calibration",
      scenarios=("crackdown_2025",))
def s4(runs):
    r = runs["crackdown_2025"]
    e = headline(r.scenario)
    x = series(r.timeseries, "illicit_delivered_t", market="US")
    before, after = x[e - 4:e].mean(), x[e + 5:e + 9].mean()
    return float(100 * (1 - after / before)) if before > 0 else math.nan


@fact("S5", "Thailand's imports from China after the ban: peak 4-week mean over its baseline",
      source="seed: 27-fold", band=Band(10, math.inf, target=27), unit="x", role="calibration",
      scenarios=("antimony_2024",))
def s5(runs):
    r = runs["antimony_2024"]
    sc = r.scenario
    base = sum(sc.countries["TH"].baseline_imports_t_per_year.values()) * sc.days_per_step / 365.25
    return ratio(float(rolling_mean(series(r.timeseries, "transit_imports_t", market="TH")).max()), base)


@fact("S6", "Seizures in the 13 weeks from the joint operation",
      source="seed: over 130 cases in three months", band=Band(80, 200, target=130), unit="seizures",
      role="calibration", scenarios=("crackdown_2025",))
def s6(runs):
    r = runs["crackdown_2025"]
    e = headline(r.scenario)
    return float(series(r.timeseries, "seizures_count")[e:e + 13].sum())


@fact("S6b", "Share of those seizures due to the operation (over the same 13 weeks without the crackdown)",
      source="MODEL.md §8: at least half attributable to the operation", band=Band(0.5, 1.0, target=0.75),
      unit="share", role="calibration", scenarios=("crackdown_2025", "antimony_2024"))
def s6b(runs):
    r = runs["crackdown_2025"]
    e = headline(r.scenario)
    with_op = float(series(r.timeseries, "seizures_count")[e:e + 13].sum())
    without = float(series(runs["antimony_2024"].timeseries, "seizures_count")[e:e + 13].sum())
    return 1.0 - without / with_op if with_op > 0 else math.nan


@fact("S7", "Smuggled antimony's price in the US as a share of the legal price, after the ban (hub commissions 12-15 % by input)",
      source="seed: about 50 % below legal (rare earths); the gray discount is calibrated through its prior",
      band=Band(0.0, 1.0, target=0.5), unit="share", role="reported", scenarios=("antimony_2024",))
def s7(runs):
    r = runs["antimony_2024"]
    b = step(r.scenario, BAN_US)
    gray = series(r.timeseries, "gray_price_usd_kg", market="US", commodity="sb2o3")[b:]
    legal = series(r.timeseries, "price_usd_kg", market="US", commodity="sb2o3")[b:]
    return float(np.mean(gray / legal)) if len(legal) else math.nan


# ---------------------------------------------------------------- held-out checks ------------
@fact("H1cn", "Chinese antimony price, licences to the end of 2024: last 4 weeks of 2024 over the 4 weeks before 15 Sep",
      source="trade press, Jan 2025: China -10.5 %", band=Band(0.80, 0.97, target=0.895), unit="x",
      role="held_out", scenarios=("antimony_2024",))
def h1_cn(runs):
    return _sep_to_dec(runs["antimony_2024"], "CN")


@fact("H1eu", "European antimony price, licences to the end of 2024: last 4 weeks of 2024 over the 4 weeks before 15 Sep",
      source="trade press, Jan 2025: Europe +57.3 %", band=Band(1.25, 2.0, target=1.57), unit="x",
      role="held_out", scenarios=("antimony_2024",))
def h1_eu(runs):
    return _sep_to_dec(runs["antimony_2024"], "EU")


def _sep_to_dec(r, market: str) -> float:
    p = series(r.timeseries, "price_usd_kg", market=market, commodity="sb2o3")
    return ratio(mean_between(p, r.scenario, dt.date(2024, 12, 4), dt.date(2025, 1, 1)),
                 mean_between(p, r.scenario, LICENCES - dt.timedelta(days=28), LICENCES))


@fact("H2a", "Chinese antimony price, April 2025 over January 2025 (monthly means)",
      source="market commentary 2025: CNY 143k -> 240k/t (x1.68)", band=Band(1.3, 2.1, target=1.68), unit="x",
      role="held_out", scenarios=("crackdown_2025",))
def h2a(runs):
    r = runs["crackdown_2025"]
    p = series(r.timeseries, "price_usd_kg", market="CN", commodity="sb2o3")
    return ratio(mean_between(p, r.scenario, dt.date(2025, 4, 1), dt.date(2025, 5, 1)),
                 mean_between(p, r.scenario, dt.date(2025, 1, 1), dt.date(2025, 2, 1)))


@fact("H2b", "Chinese antimony price in September 2025 below its April-May peak (fall, share of the peak)",
      source="market commentary 2025: back to CNY 176k/t by September (about -27 %)", band=Band(0.15, 1.0, target=0.27),
      unit="share", role="held_out", scenarios=("crackdown_2025",))
def h2b(runs):
    r = runs["crackdown_2025"]
    p = series(r.timeseries, "price_usd_kg", market="CN", commodity="sb2o3")
    peak = max(mean_between(p, r.scenario, dt.date(2025, 4, 1), dt.date(2025, 5, 1)),
               mean_between(p, r.scenario, dt.date(2025, 5, 1), dt.date(2025, 6, 1)))
    sep = mean_between(p, r.scenario, dt.date(2025, 9, 1), dt.date(2025, 10, 1))
    return 1.0 - sep / peak if peak > 0 else math.nan


def _re_peak(r, market: str, k: str) -> float:
    """Peak 4-week mean within 26 weeks after 4 Apr 2025 over the mean of the 4 weeks before."""
    p = series(r.timeseries, "price_usd_kg", market=market, commodity=k)
    s = step(r.scenario, HEAVY_RE)
    before = p[max(s - 4, 0):s].mean()
    return ratio(float(rolling_mean(p)[s:s + 26].max()), before)


@fact("H3dy", "Dysprosium oxide in Europe after the April 2025 licences: peak within 26 weeks over the 4 weeks before",
      source="Argus 2025: USD 250-310 -> 700-1,000/kg", band=Band(2.0, 4.0, target=3.0), unit="x",
      role="held_out", scenarios=("rare_earths_2025",))
def h3_dy(runs):
    return _re_peak(runs["rare_earths_2025"], "EU", "dy2o3")


@fact("H3tb", "Terbium oxide in Europe after the April 2025 licences: peak within 26 weeks over the 4 weeks before",
      source="Argus 2025: USD 2,000-4,000/kg", band=Band(3.0, 8.0, target=5.0), unit="x",
      role="held_out", scenarios=("rare_earths_2025",))
def h3_tb(runs):
    return _re_peak(runs["rare_earths_2025"], "EU", "tb4o7")


@fact("H3cn", "Chinese domestic dysprosium oxide price after the April 2025 licences: peak within 26 weeks over the 4 weeks before",
      source="Argus 2025: Chinese domestic prices flat", band=Band(0.85, 1.1, target=1.0), unit="x",
      role="held_out", scenarios=("rare_earths_2025",))
def h3_cn(runs):
    return _re_peak(runs["rare_earths_2025"], "CN", "dy2o3")


@fact("H4", "US gallium price, weeks 26-52 after the December 2024 ban over the 4 weeks before (no price guard touched)",
      source="USGS OFR 2024-1057: a full ban raises the US price by more than 150 %", band=Band(2.2, math.inf, target=2.5),
      unit="x", role="held_out", scenarios=("gallium_2024",))
def h4(runs):
    r = runs["gallium_2024"]
    if r.kpis.get("weeks_at_price_guard", 0.0) > 0:
        return math.nan                       # a guard, not the model, set the price: the check fails
    p = series(r.timeseries, "price_usd_kg", market="US", commodity="ga")
    b = step(r.scenario, BAN_US)
    return ratio(float(p[b + 26:b + 52].mean()), float(p[max(b - 4, 0):b].mean()))
