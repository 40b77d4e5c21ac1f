"""What the dashboard shows of a finished comparison: the KPI table with paired differences and
bands, the answer in words, the bounds that bound, and the charts (drawn with sim.plots).

Everything here is plain Python returning HTML text or PNG bytes, so it is tested without a
browser; app.py only places it on the page. `prepare(outcome)` fills outcome.views.
"""

from __future__ import annotations

import html
import io
import math
import threading
from dataclasses import dataclass

import numpy as np

from sim.dashboard.jobs import Outcome
from sim.experiments.compare import crn_note
from sim.model.metrics import KPI_NAMES, kpi
from sim.outputs.tables import fmt_number, kpi_unit
from sim.plots import fig_kpi_differences, load_run, style
from sim.plots.io import Run
from sim.plots.routemap import draw_routemap
from sim.plots.style import GREY, PALETTE, new_figure, source_line, titles
from sim.plots.timeseries import date_span, draw_flows, fan, finish_time_axis, make_room

BAND = "5–95 %"
HEADLINE = "illicit_delivered_t"  # the KPI the answer sentence starts with, when the run has it
DRAWING = threading.Lock()  # pyplot keeps global state: one figure at a time across sessions


# ---------------------------------------------------------------- KPI table ----------
@dataclass(frozen=True)
class KpiRow:
    """One KPI: base and changed (mean, p05, p95), the paired difference, and how it moved.

    `direction` is up, down, same (every paired difference is 0) or unclear (the band of
    paired differences contains 0); `verdict` adds the registry's better direction:
    better, worse, or neutral when the KPI has none. `better_in` and `worse_in` count the
    replicates in which the changed scenario is better and worse than the unchanged one.
    """

    kpi: str
    label: str
    unit: str
    scale: float
    better: str | None
    base: tuple[float, float, float]
    changed: tuple[float, float, float]
    diff: tuple[float, float, float]
    better_in: int
    worse_in: int
    paired: int

    @property
    def count(self) -> str:
        """'in 3 of 3 replicates' for a better or worse verdict, else ''."""
        n = {"better": self.better_in, "worse": self.worse_in}.get(self.verdict)
        return "" if n is None else f"in {n} of {self.paired} replicates"

    @property
    def direction(self) -> str:
        m, lo, hi = self.diff
        if not all(map(math.isfinite, self.diff)):
            return "unclear"
        if m == 0 and lo == 0 and hi == 0:
            return "same"
        return "up" if lo > 0 else "down" if hi < 0 else "unclear"

    @property
    def verdict(self) -> str:
        d = self.direction
        if d in ("same", "unclear") or self.better is None:
            return "neutral" if d in ("up", "down") else d
        return "better" if (d == "up") == (self.better == "higher") else "worse"

    @property
    def millions(self) -> bool:
        """Show this KPI in millions (79.1 M rather than 79,089,610): its values reach a million."""
        vals = [abs(v) * self.scale for v in (*self.base, *self.changed, *self.diff) if math.isfinite(v)]
        return max(vals, default=0.0) >= 1e6

    def fmt(self, v: float, sign: bool = False) -> str:
        if v is None or not math.isfinite(v):
            return "n/a"
        x = v * self.scale
        text = (fmt_number(x / 1e6) + " M") if self.millions and x else fmt_number(x)
        return ("+" + text if sign and v > 0 else text.replace("-", "−"))

    def band(self, triple, sign: bool = False) -> tuple[str, str]:
        m, lo, hi = triple
        return self.fmt(m, sign), f"{self.fmt(lo, sign)} to {self.fmt(hi, sign)}"


def kpi_rows(outcome: Outcome) -> list[KpiRow]:
    """The comparison table as rows, in the registry's order (unknown KPIs last)."""
    t = outcome.table.set_index(["scenario", "kpi"])
    a, b = outcome.names
    names = list(dict.fromkeys(outcome.table["kpi"]))
    order = [k for k in KPI_NAMES if k in names] + [k for k in names if k not in KPI_NAMES]
    ka, kb = outcome.kpis[a], outcome.kpis[b]
    reps = sorted(set(ka) & set(kb))
    rows = []
    for k in order:
        m = kpi(k)
        unit, scale = kpi_unit(k)
        d = np.array([kb[r].get(k, np.nan) - ka[r].get(k, np.nan) for r in reps], dtype=float)
        d = d[np.isfinite(d)]
        up, down = int((d > 0).sum()), int((d < 0).sum())
        ra, rb = t.loc[(a, k)], t.loc[(b, k)]
        rows.append(KpiRow(k, m.label, unit, scale, m.better,
                           (ra["mean"], ra["p05"], ra["p95"]), (rb["mean"], rb["p05"], rb["p95"]),
                           (rb["diff_mean"], rb["diff_p05"], rb["diff_p95"]),
                           down if m.better == "lower" else up, up if m.better == "lower" else down, int(d.size)))
    return rows


ARROW = {"up": "▲", "down": "▼", "same": "=", "unclear": "~"}
VERDICT = {"better": "better", "worse": "worse", "neutral": "changed", "same": "same", "unclear": "no clear change"}


def kpi_table_html(rows: list[KpiRow], names: tuple[str, str]) -> str:
    """The KPI table as HTML; every row carries its numbers as data- attributes (full precision)."""
    a, b = (html.escape(n) for n in names)
    head = (f"<thead><tr><th>Indicator</th><th>Unit</th><th>{a}<br><small>mean ({BAND})</small></th>"
            f"<th>{b}<br><small>mean ({BAND})</small></th><th>Difference<br><small>paired, mean ({BAND})</small>"
            "</th><th>Verdict</th></tr></thead>")
    body = []
    for r in rows:
        pp = " pp" if r.unit == "%" else ""  # a difference of shares is in percentage points
        cells = "".join(f'<td class="num">{m}{unit}<span class="band">{band}</span></td>'
                        for (m, band), unit in ((r.band(r.base), ""), (r.band(r.changed), ""),
                                                (r.band(r.diff, sign=True), pp)))
        times = f" {r.count.removesuffix(' replicates')}" if r.count else ""
        data = " ".join(f'data-{k}="{float(v)!r}"' for k, v in
                        (("base", r.base[0]), ("changed", r.changed[0]), ("diff", r.diff[0]),
                         ("diff-p05", r.diff[1]), ("diff-p95", r.diff[2])))
        body.append(f'<tr class="{r.verdict}" data-kpi="{r.kpi}" {data}>'
                    f'<td title="{html.escape(kpi(r.kpi).description)}">{html.escape(r.label)}'
                    f'<span class="id">{r.kpi}</span></td><td>{html.escape(r.unit)}</td>{cells}'
                    f'<td class="verdict">{ARROW[r.direction]} {VERDICT[r.verdict]}{times}</td></tr>')
    return f'<table class="kpi-table">{head}<tbody>{"".join(body)}</tbody></table>'


def _focus_name(s) -> str:
    c = s.restricted_focus or (s.ids("destination") or [""])[0]
    return (s.countries[c].name or c) if c in s.countries else c


def answer_html(outcome: Outcome, rows: list[KpiRow]) -> str:
    """Two or three sentences answering "what did the change do?", with bands and replicate counts."""
    policy = {k for k in outcome.request.changes if k not in ("replicates", "steps")}
    if not policy:
        return ("<p><b>No lever changed</b>: both columns are the same scenario on the same random numbers, "
                "so every difference is zero. Change a lever on the left and run again.</p>")
    by = {r.kpi: r for r in rows}
    head = by.get(HEADLINE) or rows[0]
    text = [_sentence(head, f" to {_focus_name(outcome.base)}" if head.kpi == HEADLINE else "")]
    others = [r for r in rows if r is not head and r.direction in ("up", "down") and r.better is not None]
    others.sort(key=lambda r: -abs(r.diff[0]) / max(abs(r.base[0]), 1e-12))
    if others:
        text.append("Largest other changes: " + "; ".join(_sentence(r, "", short=True) for r in others[:3]) + ".")
    n = len(next(iter(outcome.kpis.values())))
    text.append(f"<span class='note'>{html.escape(crn_note([outcome.base], sorted(outcome.kpis[outcome.base.name])))}"
                f" Bands: {BAND} of the {n} paired replicates.</span>")
    return "<p>" + "</p><p>".join(text) + "</p>"


def _sentence(r: KpiRow, where: str, short: bool = False) -> str:
    """'<b>Illicit deliveries to US</b>: 7,023 → 5,478 t, −1,545 t (−22 %; 5–95 %: −1,669 to −1,382 t),
    better in 3 of 3 replicates.' (short: 'peak price +3.13 x reference (5–95 %: +3.11 to +3.16)')."""
    unit = "" if r.unit in ("", "count") else (" pp" if r.unit == "%" else f" {r.unit}")
    vunit = "" if r.unit in ("", "count") else f" {r.unit}"
    m, lo, hi = r.diff
    band = f"{BAND}: {r.fmt(lo, True)} to {r.fmt(hi, True)}"
    if short:
        return f"{r.label.lower()} {r.fmt(m, True)}{unit} ({band})"
    if r.direction == "same":
        return f"<b>{r.label}{where}</b>: unchanged at {r.fmt(r.base[0])}{vunit}."
    rel = (f"{m / abs(r.base[0]):+.0%}; ".replace("-", "−").replace("%", " %")
           if r.base[0] and math.isfinite(r.base[0]) else "")
    tail = {"unclear": ": the band includes zero, no clear change"}.get(r.direction, "")
    if r.count:
        tail = f", {r.verdict} {r.count}"
    return (f"<b>{r.label}{where}</b>: {r.fmt(r.base[0])} → {r.fmt(r.changed[0])}{vunit}, "
            f"{r.fmt(m, True)}{unit} ({rel}{band}{unit}){tail}.")


# ---------------------------------------------------------------- bounds -------------
def bounds(runs: dict[str, Run]) -> list[str]:
    """Sentences naming each model bound that decided part of a result, and in which scenario."""
    found: dict[str, list[str]] = {}
    for name, run in runs.items():
        for text in _bounds_of(run):
            found.setdefault(text, []).append(name)
    out = []
    for text, names in found.items():
        who = "both scenarios" if len(names) == len(runs) > 1 else " and ".join(f"'{n}'" for n in names)
        out.append(f"{text} ({who}).")
    return out


def _bounds_of(run: Run) -> list[str]:
    out = []
    n = max(run.replicates, 1)
    markets = run.scenario.get("markets", {})
    pi = run.metric("price_index")
    for (m, k), d in pi.groupby(["market", "commodity"]):
        spec = markets.get(m, {}).get(k, {})
        for side, limit in (("cap", spec.get("price_cap")), ("floor", spec.get("price_floor"))):
            if limit is None:
                continue
            hit = d["value"] >= limit * (1 - 1e-6) if side == "cap" else d["value"] <= limit * (1 + 1e-6)
            per_rep = hit.groupby(d["replicate"]).sum()
            if per_rep.sum() == 0:
                continue
            weeks = float(per_rep.median()) / run.per_week
            kname = run.scenario.get("commodities", {}).get(k, {}).get("name") or k
            out.append(f"<b>Price {side}</b>: the {kname} price in {run.country_name(m)} sat at its {side} "
                       f"({limit:g} x reference) for {weeks:.0f} weeks (median), in {int((per_rep > 0).sum())} "
                       f"of {n} replicates: there the {side}, not the market, set the price")
    guard = run.kpi_band("weeks_at_price_guard")[0]
    if np.isfinite(guard) and guard > 0:
        out.append(f"<b>Price guard</b>: a price touched a numerical guard for {guard:.1f} weeks (mean)")
    refused = run.metric("refused_t")
    if not refused.empty and refused["value"].sum() > 0:
        t = refused["value"].sum() / n
        out.append(f"<b>Import caps</b>: hubs' import caps turned back {fmt_number(t)} t (mean per replicate)")
    unmet = run.metric("unmet_demand_t")
    if not unmet.empty and unmet["value"].sum() > 0:
        out.append(f"<b>Backstop price</b>: {fmt_number(unmet['value'].sum() / n)} t of demand went to "
                   "substitutes (mean per replicate)")
    pool = run.scenario.get("smugglers", {}).get("pool")
    entries = run.metric("entries")
    if pool and not entries.empty:
        used = entries.groupby("replicate")["value"].sum()
        if (used >= pool).any():
            out.append(f"<b>Smuggler pool</b>: all {pool:,} potential entrants entered in {int((used >= pool).sum())} "
                       f"of {n} replicates: the pool size limits smuggling")
    return out


# ---------------------------------------------------------------- charts -------------
def _source(runs: dict[str, Run]) -> str:
    r = next(iter(runs.values()))
    return (f"sim dashboard | {' vs '.join(runs)} | {r.replicates} replicates each, seed {r.seed}, "
            f"common random numbers | sim {r.version}")


def _markets(run: Run) -> list[str]:
    return run.countries("destination") + [run.origin]


def fig_prices_pair(runs: dict[str, Run]):
    """Price index fans per market (columns) and commodity (rows, up to 3): unchanged grey, changed blue."""
    (a, ra), (b, rb) = runs.items()
    ks = list(ra.scenario.get("commodities", {}))[:3]
    ms = _markets(ra)
    fig, axes = new_figure(len(ks), len(ms), size=(min(3.6 * len(ms) + 1.2, 15), 2.9 * len(ks) + 1.3),
                           sharex=True, sharey="row")
    peaks = []
    for i, k in enumerate(ks):
        kname = ra.scenario["commodities"][k].get("name") or k
        room = 0.0
        for j, m in enumerate(ms):
            ax = axes[i][j]
            for run, name, color in ((ra, a, GREY), (rb, b, PALETTE[0])):
                q = run.quantiles("price_index", market=m, commodity=k)
                if not q.empty:
                    fan(ax, q, color, name)
                    if i == 0 and j == 0:
                        peaks.append(q["p50"].max())
            ax.axhline(1.0, color=GREY, lw=0.7, zorder=0)
            ax.set_title(ra.country_name(m) + (" (origin)" if m == ra.origin else ""), fontsize=9.5)
            room = max(room, finish_time_axis(ax, rb, labels=(i == 0), fit=False,
                                              ylabel=f"{kname}\nprice index (reference = 1)" if j == 0 else ""))
        make_room(axes[i][0], room)
    axes[0][0].set_xlim(date_span(runs.values()))
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="Median, 50 and 90 % bands",
                       title_fontsize=8)
    sub = ""
    if len(peaks) == 2:
        k0 = ra.scenario["commodities"][ks[0]].get("name") or ks[0]
        sub = f"{ra.country_name(ms[0])} {k0}: median peak {peaks[0]:.2f} → {peaks[1]:.2f} x reference"
    titles(fig, "Prices per market: unchanged (grey) and changed (blue)", sub)
    source_line(fig, _source(runs))
    return fig


def fig_flows_pair(runs: dict[str, Run]):
    """Illicit deliveries by route (stacked medians, t/week) and seizures, one panel per scenario."""
    fig, axes = new_figure(1, 2, size=(12.5, 4.4), sharey=True)
    totals = []
    for ax, (name, run) in zip(axes[0], runs.items()):
        draw_flows(ax, run)
        ax.set_title(name, fontsize=10)
        totals.append(run.totals("illicit_route_t", "route").sum() if not run.metric("illicit_route_t").empty else 0)
    axes[0][1].set_ylabel("")
    if axes[0][1].get_legend_handles_labels()[0]:   # no smuggling in the run: no routes to name
        axes[0][1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="Route (median)", title_fontsize=8)
    titles(fig, "Illicit deliveries by route, and seizures (t/week)",
           f"Delivered illicitly over the run: {fmt_number(totals[0])} t → {fmt_number(totals[1])} t "
           f"(mean of replicates)")
    source_line(fig, _source(runs))
    return fig


def fig_routes_pair(runs: dict[str, Run]):
    """Where the goods went: the schematic route map of each scenario, one above the other (each with
    its own scale)."""
    fig, axes = new_figure(2, 1, size=(10.0, 7.4))
    for ax, (name, run) in zip(axes[:, 0], runs.items()):
        draw_routemap(ax, run, legend=True)
        ax.set_title(name, fontsize=10)
    titles(fig, "Where the goods went: illicit (red) and legal (blue) tonnes over the run",
           "Arrow width is relative to the largest flow in each map; the legend gives each map's scale")
    source_line(fig, _source(runs))
    return fig


def fig_differences(outcome: Outcome, runs: dict[str, Run]):
    return fig_kpi_differences(outcome.table, source=_source(runs))


CHARTS = {
    "Prices": lambda o, runs: fig_prices_pair(runs),
    "Illicit flows by route": lambda o, runs: fig_flows_pair(runs),
    "Where the goods went": lambda o, runs: fig_routes_pair(runs),
    "KPI differences": fig_differences,
}


def png(fig, dpi: int = 96) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return buf.getvalue()


def charts(outcome: Outcome, runs: dict[str, Run]) -> dict[str, bytes | str]:
    """Title -> PNG bytes, or the error text for a chart that could not be drawn (the others still are)."""
    out: dict[str, bytes | str] = {}
    with DRAWING, style():
        for title, build in CHARTS.items():
            try:
                out[title] = png(build(outcome, runs))
            except Exception as e:  # noqa: BLE001 - one broken chart must not cost the analyst the others
                out[title] = f"chart not drawn: {type(e).__name__}: {e}"
    return out


def prepare(outcome: Outcome) -> None:
    """Fill outcome.views: first runs, rows, table (HTML), answer (HTML) and bounds (HTML sentences),
    which a page may show at once, then charts (title -> PNG bytes), which take a few seconds."""
    runs = {n: load_run(outcome.run_dirs[n]) for n in outcome.names}
    rows = kpi_rows(outcome)
    outcome.views.update(runs=runs, rows=rows, table=kpi_table_html(rows, outcome.names),
                         answer=answer_html(outcome, rows), bounds=bounds(runs))
    outcome.views["charts"] = charts(outcome, runs)
