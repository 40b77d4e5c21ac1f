"""Run the experiments that docs/model.md quotes, print their numbers and draw its figures.

    .venv/bin/python docs/make_model_figures.py [--replicates 10] [--workers 1] [--keep DIR]

From the repository root, with the package installed. It builds variant scenarios of
antimony_2024 in a temporary folder (from `sim show`, so they carry every resolved key),
runs `sim compare` on them (printing each command), reads the results and writes:

- docs/img/model_us_ban_eu.png   question 1: a US-only ban and the EU price, by channel
- docs/img/model_route_split.png question 2: the hub share of illicit deliveries and what moves it
- docs/img/model_arbitrage.png   why trade follows netbacks slowly (CES shares, contract speed)

Numbers change whenever the scenarios are recalibrated: rerun this and update the doc.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w
from matplotlib.ticker import FuncFormatter

from sim.model import kernels as kr
from sim.model.model import SmugglingModel
from sim.model.world import controls_at
from sim.plots.style import PALETTE, date_axis, new_figure, save, source_line, style, titles
from sim.scenario.load import load_scenario
from sim.scenario.schema import METHODS

ROOT = Path(__file__).resolve().parent.parent
IMG = ROOT / "docs" / "img"
SCENARIO = ROOT / "scenarios" / "antimony_2024.toml"
BAN = dt.date(2024, 12, 3)

# Variants for question 2: (file name, what changes, TOML added over the resolved antimony_2024)
ROUTE_VARIANTS = [
    ("half_commission", "hub commissions x 0.5",
     "[countries.TH]\ncommission = 0.065\n[countries.MX]\ncommission = 0.075\n[countries.MY]\ncommission = 0.075\n"),
    ("no_commission", "no hub commission",
     "[countries.TH]\ncommission = 0.0\n[countries.MX]\ncommission = 0.0\n[countries.MY]\ncommission = 0.0\n"),
    ("cn_capacity_x4", "origin inspection capacity x 4", "[customs.CN]\ncapacity_per_week = 6000\n"),
    ("cn_scanners", "origin adds AI imaging, isotopes",
     '[customs.CN]\ntechnologies = ["xray", "density_scan", "document_check", "ai_image", "isotope_fingerprint"]\n'),
    ("low_prior", "smugglers' prior 1 % per checkpoint",
     "[smugglers]\nprior_interdiction = 0.01\n"),
    ("hubs_open", "no licence on the hubs' imports", "".join(
        f'[controls.open_{h}]\ncommodity = "sb2o3"\ndestination = "{h}"\nregime = "open"\nfrom_date = 2024-09-15\n'
        for h in ("TH", "MX", "MY"))),
    ("best_response", "best response (no logit)", "[smugglers]\nlogit = false\n"),
    ("temperature_x4", "logit temperature x 4", "[smugglers]\ntemperature_usd = 80000\n"),
]


def sim(*args: str) -> str:
    """Run the CLI of this interpreter's package, echo the command, return stdout."""
    cmd = [sys.executable, "-m", "sim", *args]
    print("$ sim " + " ".join(args), flush=True)
    out = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"sim {args[0]} failed (exit status {out.returncode}):\n{out.stdout}{out.stderr}")
    return out.stdout + out.stderr


def results_dir(output: str) -> Path:
    line = [x for x in output.splitlines() if "results in " in x][-1]
    return Path(line.split("results in ")[-1].strip())


def resolved() -> dict:
    return tomllib.loads(sim("show", str(SCENARIO)))


def write(data: dict, folder: Path) -> Path:
    data = copy.deepcopy(data)
    data.pop("priors", None)
    path = folder / f"{data['name']}.toml"
    path.write_bytes(tomli_w.dumps(data).encode())
    return path


def load_ts(run: Path, metrics: list[str]) -> pd.DataFrame:
    df = pd.read_parquet(next(run.glob("*/timeseries.parquet")))
    return df[df.metric.isin(metrics)]


def panel(df: pd.DataFrame, metric: str, **keys) -> pd.DataFrame:
    """date x replicate table of one series (summed over keys not given)."""
    d = df[df.metric == metric]
    for k, v in keys.items():
        d = d[d[k] == v]
    return d.pivot_table(index="date", columns="replicate", values="value", aggfunc="sum")


def band(x: pd.Series) -> str:
    return f"{x.mean():+.1f} [{x.quantile(0.05):+.1f}, {x.quantile(0.95):+.1f}]"


# ---- question 1 ---------------------------------------------------------------------------------
def us_only_ban(base: dict, tmp: Path, reps: int, workers: int) -> None:
    open_ = copy.deepcopy(base)
    open_.update(name="us_open", description="antimony_2024's world and events, no export control", headline_event="")
    open_.pop("controls", None)
    for e in ("ban_us", "suspension"):
        open_["events"].pop(e)
    ban = copy.deepcopy(open_)
    ban.update(name="us_only_ban", description="the same, with a ban on exports to the US from 3 Dec 2024",
               headline_event="ban_us")
    ban["controls"] = {"sb_us": {"commodity": "sb2o3", "destination": "US", "regime": "ban", "from_date": BAN}}
    ban["events"]["ban_us"] = {"label": "Ban on the US", "date": BAN, "set": {"controls.sb_us.regime": "ban"}}
    calm = copy.deepcopy(ban)
    calm.update(name="us_only_ban_no_hoarding", description="the same ban, buyers without precautionary cover")
    calm["commodities"]["sb2o3"]["precautionary_cover_days"] = 0.0
    a, b, c = write(open_, tmp), write(ban, tmp), write(calm, tmp)
    out = results_dir(sim("compare", str(a), str(b), str(c), "--replicates", str(reps), "--workers", str(workers),
                          "--no-plots", "--out", str(tmp / "results")))
    metrics = ["price_usd_kg", "legal_flow_t", "stock_cover_days", "target_cover_days", "consumption_t", "output_t",
               "diverted_t"]
    A, B = load_ts(out / "us_open", metrics), load_ts(out / "us_only_ban", metrics)
    C = load_ts(out / "us_only_ban_no_hoarding", ["price_usd_kg"])
    s = load_scenario(b)
    mk = s.markets["EU"]["sb2o3"]
    eps = s.commodities["sb2o3"].elasticity
    per_day = mk.restock_speed / (eps * s.days_per_step)        # share of price per day of stock cover
    # extra EU target cover from the ban (days; hoarding), as the model recorded it
    after = (panel(B, "target_cover_days", market="EU") - panel(A, "target_cover_days", market="EU")).mean(axis=1)
    hoard_days = after.max()

    rel = {m: 100 * (panel(B, "price_usd_kg", market=m) / panel(A, "price_usd_kg", market=m) - 1)
           for m in ("EU", "US", "CN", "ROW")}
    flow = {sup: panel(B, "legal_flow_t", supplier=sup, market="EU") - panel(A, "legal_flow_t", supplier=sup, market="EU")
            for sup in ("CN_smelters", "ROW_producers")}
    ref = {sup: panel(A, "legal_flow_t", supplier=sup, market="EU").iloc[0].mean() for sup in flow}
    to_us = panel(B, "legal_flow_t", supplier="ROW_producers", market="US") - \
        panel(A, "legal_flow_t", supplier="ROW_producers", market="US")
    cover = panel(B, "stock_cover_days", market="EU") - panel(A, "stock_cover_days", market="EU")
    gap = cover.sub(after, axis=0)                              # stock less target, against no ban (days)
    no_hoard = 100 * (panel(C, "price_usd_kg", market="EU") / panel(A, "price_usd_kg", market="EU") - 1)
    cons = panel(B, "consumption_t", market="EU") / panel(A, "consumption_t", market="EU")
    cn_out = panel(B, "output_t", supplier="CN_smelters") - panel(A, "output_t", supplier="CN_smelters")
    diverted = panel(B, "diverted_t")
    print(f"\nQ1  EU price: each day of EU stock cover moves it by about {100 * per_day:.1f} % "
          f"(restock {mk.restock_speed} / (eps {eps} x {s.days_per_step} days)); the ban adds {hoard_days:.1f} days "
          f"to the EU target cover (hoarding)")
    n = no_hoard.mean(axis=1)
    print(f"    without hoarding: lowest {n.min():+.1f} % on {n.idxmin():%Y-%m-%d}, highest {n.max():+.1f} % on "
          f"{n.idxmax():%Y-%m-%d}; Dec 2024 {band(no_hoard.loc['2024-12-02':'2024-12-31'].mean())}")
    m = rel["EU"].mean(axis=1)
    print(f"    mean EU path: lowest {m.min():+.1f} % on {m.idxmin():%Y-%m-%d}, highest {m.max():+.1f} % on "
          f"{m.idxmax():%Y-%m-%d}")
    windows = {"Dec 2024 - Feb 2025": ("2024-12-02", "2025-02-28"), "Mar - Jun 2025": ("2025-03-01", "2025-06-30"),
               "Oct - Dec 2025": ("2025-10-01", "2025-12-31"), "all of 2025": ("2025-01-01", "2025-12-31")}
    windows = {"Dec 2024": ("2024-12-02", "2024-12-31"), **windows}
    print("    window               EU price %            US price %        CN price %      "
          "CN>EU t/wk   ROW>EU t/wk  ROW>US t/wk  EU cover days  price from stock gap %  "
          "CN output t/wk  diverted t/wk")
    for w, (lo, hi) in windows.items():
        sl = slice(lo, hi)
        pred = 100 * (cons.loc[sl] ** (-1 / eps) - 1).mean().mean()
        print(f"    {w:20s} {band(rel['EU'].loc[sl].mean()):22s} {band(rel['US'].loc[sl].mean()):18s} "
              f"{band(rel['CN'].loc[sl].mean()):16s} {flow['CN_smelters'].loc[sl].mean().mean():+9.1f} "
              f"{flow['ROW_producers'].loc[sl].mean().mean():+12.1f} {to_us.loc[sl].mean().mean():+11.1f} "
              f"{cover.loc[sl].mean().mean():+12.2f} {-100 * per_day * gap.loc[sl].mean().mean():+14.1f}"
              f"  (identity {pred:+.1f}) {cn_out.loc[sl].mean().mean():+9.1f} "
              f"{diverted.loc[sl].mean().mean():9.1f}")
    print(f"    reference flows to the EU: CN_smelters {ref['CN_smelters']:.0f} t/wk, "
          f"ROW_producers {ref['ROW_producers']:.0f} t/wk")

    with style():
        fig, ax = new_figure(3, 1, size=(8.0, 8.0), sharex=True)
        since = slice("2024-10-01", None)
        x = rel["EU"].loc[since]
        ax[0, 0].fill_between(x.index, x.quantile(0.05, axis=1), x.quantile(0.95, axis=1), color=PALETTE[0], alpha=0.25,
                              lw=0, label="5-95 % of paired replicates")
        ax[0, 0].plot(x.index, x.mean(axis=1), color=PALETTE[0], label="EU price, simulated")
        ax[0, 0].plot(x.index, -100 * per_day * gap.loc[since].mean(axis=1), color=PALETTE[3], ls="--",
                      label=f"read from the EU stock gap to target ({100 * per_day:.1f} % per day)")
        ax[0, 0].plot(x.index, no_hoard.loc[since].mean(axis=1), color=PALETTE[5], lw=1.0,
                      label="EU price, buyers without precautionary cover")
        ax[0, 0].axhline(0, color="#999999", lw=0.8)
        ax[0, 0].set_ylabel("EU price vs no ban (%)")
        ax[0, 0].legend(loc="upper left", fontsize=7.5)
        for sup, col, lab in (("CN_smelters", PALETTE[1], "origin goods redirected to the EU"),
                              ("ROW_producers", PALETTE[2], "producers elsewhere turning to the US")):
            ax[1, 0].plot(flow[sup].loc[since].index, flow[sup].loc[since].mean(axis=1), color=col, label=lab)
        net = (flow["CN_smelters"] + flow["ROW_producers"]).loc[since]
        ax[1, 0].plot(net.index, net.mean(axis=1), color="black", lw=1.2, label="net")
        ax[1, 0].axhline(0, color="#999999", lw=0.8)
        ax[1, 0].set_ylabel("Shipments to the EU\nvs no ban (t/week)")
        ax[1, 0].legend(loc="upper left", fontsize=7.5)
        c = cover.loc[since]
        ax[2, 0].plot(c.index, c.mean(axis=1), color=PALETTE[4], label="stock cover")
        ax[2, 0].plot(c.index, after.loc[since], color=PALETTE[4], ls=":", label="target cover (hoarding)")
        ax[2, 0].axhline(0, color="#999999", lw=0.8)
        ax[2, 0].legend(loc="upper left", fontsize=7.5)
        ax[2, 0].set_ylabel("EU stock cover\nvs no ban (days)")
        for a_ in ax[:, 0]:
            a_.axvline(pd.Timestamp(BAN), color="#444444", lw=0.9, ls=(0, (4, 3)))
        date_axis(ax[2, 0])
        titles(fig, "A US-only ban moves the EU price through three channels",
               f"{reps} paired replicates; the dashed line marks the ban (3 Dec 2024).")
        source_line(fig, "Source: docs/make_model_figures.py (antimony_2024's world and events, with and without "
                         "a ban on exports to the US; no other control).")
        save(fig, IMG / "model_us_ban_eu.png")


# ---- question 2 ---------------------------------------------------------------------------------
def option_table(date: dt.date) -> None:
    """Value of every valid option for a median smuggler (cost factor 1, 5 t) in replicate 0 of
    antimony_2024 on `date`: net gray price, margin, believed and actual interdiction."""
    s = load_scenario(SCENARIO)
    m = SmugglingModel(s, replicate=0)
    for _ in range(s.step_of(date) + 1):
        m.step()
    L, p, sm = m.layout, m.params, m.sm
    valid = m.valid_options(controls_at(m.spec, L, m.t - 1))
    k, W, O = 0, m.gray_buy[0], m.price[0, 0]
    legit, score = m.cells_now["legit_n"], m.cells_now["score"]
    n_all = np.bincount(L.cell_cp, weights=legit, minlength=L.NCP) + m.cells_now["cp_smuggled_n"]
    s_all = np.bincount(L.cell_cp, weights=legit * score, minlength=L.NCP)
    free = np.flatnonzero(np.isin(sm.status, [kr.ACTIVE, kr.SHIPPING, kr.SELLING]))
    loss_fixed = p.arrest_prob * p.sentence_cost / 5000.0                     # USD/kg on a 5 t lot
    print(f"\nQ2  options on {s.date_of(m.t - 1)} (replicate 0): W = {W:.2f}, O = {O:.2f}, US gray price "
          f"{m.gray_price[L.markets.index('US'), 0]:.2f} USD/kg; arrest x sentence cost = {loss_fixed:.0f} USD/kg on 5 t")
    print("    route     method          G(1-c)  commission  freight  method  margin  p_believed  p_actual  EV USD/kg")
    detail = []
    for r, rid in enumerate(L.routes):
        g = m.expect[:, L.route_market[r], k].mean()
        for j, meth in enumerate(METHODS):
            if not valid[k, r, j]:
                continue
            through = 1.0
            for pos in range(L.route_ncp[r]):
                c, cell = L.route_cp[r, pos], L.decl_cell[k, r, pos, j]
                pi = kr.inspection_prob(p.cell_coop[cell], p.cp_capacity[c], p.cp_random_share[c], score[cell], n_all[c],
                                        s_all[c])
                through *= 1 - pi * p.cp_detect[c, j] * (1 - p.cp_corruption[c])
                detail.append(f"    {rid:9s} {meth:15s} {L.cp_names[c]:10s} {legit[cell] / p.wk:12,.0f} "
                              f"{n_all[c] / p.wk:12,.0f} {score[cell]:6.2f} {p.cell_coop[cell]:5.2f} {pi:8.4f} "
                              f"{p.cp_detect[c, j]:7.2f}")
            believed = 0.0
            for i in free:                  # counts after the belief update of step m.t - 1
                a, b = sm.counts(i, m.t - 1, p.forgetting, m.a0, m.b0)
                lanes = L.route_lane[r, :L.route_ncp[r]]
                believed += 1 - np.prod(1 - a[lanes, j] / (a[lanes, j] + b[lanes, j]))
            believed /= len(free)
            unit = W + p.freight[r] + p.method_cost[j]
            margin = g * (1 - p.commission[r]) - unit
            ev = (1 - believed) * margin - believed * (unit + p.fine_multiple * O + loss_fixed)
            print(f"    {rid:9s} {meth:15s} {g * (1 - p.commission[r]):6.2f} {g * p.commission[r]:10.2f} "
                  f"{p.freight[r]:8.2f} {p.method_cost[j]:7.2f} {margin:+7.2f} {believed:11.3f} {1 - through:9.3f} "
                  f"{ev:+9.2f}")
    print("    per checkpoint (one 20 t container; legitimate containers per week in the cell and at the "
          "checkpoint):")
    print("    route     method          checkpoint  cell legit  all at cp   score  coop  p_insp  detect")
    print("\n".join(detail))


def route_split(base: dict, tmp: Path, reps: int, workers: int) -> None:
    b = copy.deepcopy(base)
    b["name"] = "antimony_2024_resolved"
    base_file = write(b, tmp)
    files = [base_file]
    for name, _, toml in ROUTE_VARIANTS:
        f = tmp / f"{name}.toml"
        f.write_text(f'extends = "{base_file.name}"\nname = "{name}"\n{toml}')
        files.append(f)
    out = results_dir(sim("compare", *map(str, files), "--replicates", str(reps), "--workers", str(workers),
                          "--no-plots", "--out", str(tmp / "results")))
    rows, quarters = [], None
    labels = {"antimony_2024_resolved": "antimony_2024 as shipped", **{n: lab for n, lab, _ in ROUTE_VARIANTS}}
    for f in files:
        name = f.stem
        df = load_ts(out / name, ["illicit_route_t", "illicit_method_t", "price_index", "stock_cover_days"])
        r = df[df.metric == "illicit_route_t"].groupby(["replicate", "route"]).value.sum().unstack()
        hub = 100 * r.drop(columns="CN-US").sum(axis=1) / r.sum(axis=1)
        mth = df[df.metric == "illicit_method_t"].groupby(["replicate", "method"]).value.sum().unstack()
        mshare = (100 * mth.T / mth.sum(axis=1)).T.mean()
        rows.append({"variant": labels[name], "delivered_t": r.sum(axis=1).mean(), "hub_pct": hub.mean(),
                     "p05": hub.quantile(0.05), "p95": hub.quantile(0.95),
                     **{f"{m} %": mshare.get(m, 0.0) for m in METHODS}})
        if name == "antimony_2024_resolved":
            d = df[df.metric == "illicit_route_t"]
            quarters = d.groupby([pd.Grouper(key="date", freq="QS"), "route"]).value.sum().unstack() / reps
            s1 = d[(d.date >= "2024-12-02") & (d.date <= "2025-04-30")].groupby(["replicate", "route"]).value.sum().unstack()
            th_mx = s1[["CN-TH-US", "CN-MX-US"]].sum(axis=1)
            print(f"\nS1 window (ban to end of April 2025): delivered {band(s1.sum(axis=1))} t in all, "
                  f"{band(th_mx)} t through Thailand and Mexico (fact: about 3,834 t)")
            tot = r.sum(axis=1).mean()
            print("    share of illicit tonnes by route, 2024-25: "
                  + ", ".join(f"{c} {100 * r[c].mean() / tot:.1f} %" for c in r.columns))
            us = panel(df, "price_index", market="US").mean(axis=1)
            monthly = us.loc["2024-09-01":"2025-12-31"].resample("MS").mean()
            print(f"    US price index (mean of replicates): peak {us.max():.2f} on {us.idxmax():%Y-%m-%d}; "
                  "by month "
                  + ", ".join(f"{d:%b %Y} {v:.2f}" for d, v in monthly.items()))
            cover = df[df.metric == "stock_cover_days"].groupby(["market", "date"]).value.mean().unstack(0)
            for mkt in cover.columns:
                empty = cover.index[cover[mkt] <= 1e-9]
                print(f"    {mkt} stock cover: lowest {cover[mkt].min():.1f} days"
                      + (f", first empty {empty[0]:%Y-%m-%d}" if len(empty) else ""))
    table = pd.DataFrame(rows).set_index("variant")
    table["delivered_t"] = table.delivered_t.round(0)
    pd.set_option("display.width", 250)
    kpis = pd.read_csv(next((out / "antimony_2024_resolved").glob("*/kpi_summary.csv"))).set_index("kpi")
    print("\nKPIs of antimony_2024 (mean [5 %, 95 %]):")
    for name in ("illicit_delivered_t", "leakage_share", "interdiction_rate", "diverted_t", "gray_markup_peak",
                 "transit_import_surge", "price_peak_index", "origin_price_index", "unmet_demand_t",
                 "min_stock_cover_days", "legit_inspected", "inspections_per_seizure", "enforcement_cost_usd",
                 "weeks_at_price_guard"):
        r = kpis.loc[name]
        print(f"    {name:24s} {r['mean']:14,.3f} [{r['p05']:,.3f}, {r['p95']:,.3f}] {r['unit']}")
    print("\nQ2  illicit deliveries 2024-25 and the share through hubs (mean [5 %, 95 %] over replicates)")
    print(table.round(1).to_string())
    q = quarters.loc[quarters.sum(axis=1) > 0]
    print("    by quarter, antimony_2024 (t, mean of replicates):")
    print((q.assign(hub_pct=100 * q.drop(columns="CN-US").sum(axis=1) / q.sum(axis=1))).round(0).to_string())

    with style():
        fig, ax = new_figure(1, 2, size=(11.0, 4.8), width_ratios=[1.0, 1.1])
        bottom = np.zeros(len(q))
        xs = np.arange(len(q))
        for col, c in zip(["CN-US", "CN-TH-US", "CN-MX-US", "CN-MY-US"], PALETTE):
            ax[0, 0].bar(xs, q[col].values, bottom=bottom, color=c, label=col)
            bottom += q[col].values
        ax[0, 0].set_xticks(xs, [f"Q{(d.month - 1) // 3 + 1}\n{d.year}" for d in q.index])
        ax[0, 0].set_ylabel("Illicit deliveries (t per quarter)")
        ax[0, 0].legend(fontsize=7.5, loc="upper left", ncol=2)
        ax[0, 0].set_ylim(0, 1.3 * bottom.max())
        ax[0, 0].set_title("antimony_2024: deliveries by route", fontsize=9.5)
        y = np.arange(len(table))[::-1]
        ax[0, 1].barh(y, table.hub_pct, color=PALETTE[1])
        ax[0, 1].errorbar(table.hub_pct, y, xerr=[table.hub_pct - table.p05, table.p95 - table.hub_pct], fmt="none",
                          ecolor="black", lw=0.8, capsize=2)
        for yi, (mean, hi) in zip(y, zip(table.hub_pct, table.p95)):
            ax[0, 1].text(hi + 0.8, yi, f"{mean:.1f} %", va="center", fontsize=7.5)
        ax[0, 1].set_xlim(0, 1.12 * table.p95.max() + 5)
        ax[0, 1].set_yticks(y, table.index, fontsize=7.5)
        ax[0, 1].set_xlabel("Illicit tonnes through a hub, 2024-25 (%)")
        ax[0, 1].set_title("What moves the split (one change each)", fontsize=9.5)
        titles(fig, "Why most smuggled antimony goes direct at the time of writing",
               f"{reps} replicates each on common random numbers; bars: 5-95 % over replicates.")
        source_line(fig, "Source: docs/make_model_figures.py (antimony_2024 and one-change variants).")
        save(fig, IMG / "model_route_split.png")


# ---- trade rule ---------------------------------------------------------------------------------
def arbitrage(tmp: Path) -> None:
    """One replicate of the US-only ban world with the model's trade rule and with a near-exact
    arbitrage rule (sigma 50, contracts and expectations re-set every week)."""
    path = tmp / "us_only_ban.toml"
    fast = ["trade.elasticity=50", "trade.contract_speed=1", "trade.price_expectation_speed=1"]
    runs = {}
    for label, sets in (("model's rule (sigma 3, contracts 2 %/wk)", []), ("near-exact arbitrage (sigma 50, weekly)", fast)):
        m = SmugglingModel(load_scenario(path, overrides=sets), replicate=0)
        m.run()
        a, L = m.recorder.a, m.layout
        dates = pd.to_datetime([m.spec.date_of(t) for t in range(m.recorder.n)])
        runs[label] = pd.DataFrame({x: a["price_index"][:, L.markets.index(x), 0] for x in ("EU", "US", "CN")},
                                   index=dates)
    print("\nTrade rule: largest price index reached, one replicate")
    for label, df in runs.items():
        print(f"    {label}: " + ", ".join(f"{c} {df[c].max():.2f}" for c in df))
    with style():
        fig, ax = new_figure(1, 2, size=(10.0, 4.0), sharey=True)
        for i, (label, df) in enumerate(runs.items()):
            for c, col in zip(("EU", "US", "CN"), PALETTE):
                ax[0, i].plot(df.index, df[c], color=col, label=c, lw=1.2)
            ax[0, i].set_yscale("log")
            ax[0, i].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # no mathtext: parse_math is off
            ax[0, i].set_title(label, fontsize=9.5)
            ax[0, i].axvline(pd.Timestamp(BAN), color="#444444", lw=0.9, ls=(0, (4, 3)))
            date_axis(ax[0, i])
        ax[0, 0].set_ylabel("Price / reference price (log scale)")
        ax[0, 0].legend(fontsize=7.5, loc="upper left")
        titles(fig, "Slow, smooth trade adjustment is what keeps the world market from ringing",
               "Same world (US-only ban, dashed line), one replicate; right: near-exact arbitrage through "
               "4-week shipping lags.")
        source_line(fig, "Source: docs/make_model_figures.py. The price guard is 100 x reference.")
        save(fig, IMG / "model_arbitrage.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=10)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="keep the variant files and results in this folder")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="model_doc_")) if args.keep is None else args.keep
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        base = resolved()
        us_only_ban(base, tmp, args.replicates, args.workers)
        route_split(base, tmp, args.replicates, args.workers)
        option_table(dt.date(2025, 3, 3))
        arbitrage(tmp)
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
