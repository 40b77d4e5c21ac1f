"""The page of `sim dashboard` (Panel; needs the `dashboard` extra). The server is in server.py.

Each browser tab gets its own `Dashboard`: the levers of the chosen scenario on the left, the
comparison on the right. Runs happen on a background thread (sim.dashboard.jobs); a periodic
callback on the page's event loop moves progress and results onto the page, so the page
stays responsive and no widget is touched from another thread. Every callback catches its
errors and shows them on the page: a bad value or request never stops the server.
"""

from __future__ import annotations

import re
import shutil
import sys
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import panel as pn

from sim.dashboard import views
from sim.dashboard.jobs import MAX_REPLICATES, Job, Request, brief_formats, posterior_beside, write_brief
from sim.dashboard.levers import GROUPS, changes, discover, load_pair, run_settings, save_scenario
from sim.scenario import ScenarioError, list_scenarios, load_scenario

POLL_MS = 200
# Inside each pane's shadow root: the header, the answer, the KPI table, the saved-file line.
CSS = """
:host { font-size: 14px; color: #1d1d1d; }
h2 { margin: 0 0 2px 0; font-size: 22px; }
p { margin: 4px 0; }
.desc { color: #333; } .question { font-style: italic; } .meta, .note, .hint { color: #666; font-size: 12.5px; }
.answer-box { border-left: 4px solid #0072B2; background: #f3f8fc; padding: 8px 14px; }
table.kpi-table { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
.kpi-table th { text-align: right; font-weight: 600; border-bottom: 2px solid #444; padding: 4px 8px;
                vertical-align: bottom; }
.kpi-table th:first-child, .kpi-table th:nth-child(2) { text-align: left; }
.kpi-table td { padding: 3px 8px; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
.kpi-table tbody tr:nth-child(even) { background: #fafafa; }
.kpi-table td.num { text-align: right; white-space: nowrap; }
.kpi-table .band, .kpi-table .id { display: block; color: #777; font-size: 11px; }
.kpi-table .id { font-family: monospace; }
.kpi-table small { font-weight: normal; color: #666; }
.kpi-table td.verdict { white-space: nowrap; }
tr.better td.verdict { color: #007a5a; font-weight: 600; } tr.worse td.verdict { color: #c24e00; font-weight: 600; }
tr.unclear td.verdict, tr.same td.verdict { color: #888; }
tr.better td:nth-child(5) { background: #e6f5ef; } tr.worse td:nth-child(5) { background: #fbece3; }
code { background: #f1f1f1; padding: 1px 4px; border-radius: 3px; }
"""
# On each lever: a changed lever is highlighted.
LEVER_CSS = ":host(.changed) label { color: #0072B2; font-weight: 700; } " \
            ":host(.changed) input, :host(.changed) select { background: #eaf3fb; }"


@dataclass
class Config:
    """What the server was started with (shared by every browser tab)."""

    scenario: Path                 # the scenario shown first
    folder: Path                   # scenarios offered in the list
    workdir: Path                  # results of the runs (removed when the server stops)
    steps: int | None = None       # horizon override for every run (steps)
    replicates: int | None = None  # replicates shown first (default: the scenario's)
    any_file: bool = True          # may a tab load any file path (local use), or only the folder's scenarios
    run_fn: Callable | None = None  # the model's run function (tests pass a fake one)


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", key)


def _widget(lv):
    """The input for one lever: its value is the lever's current value (None when empty)."""
    common = dict(label=lv.label, description=lv.help or None, css_classes=["lever", "lever-" + _slug(lv.key)],
                  sizing_mode="stretch_width", stylesheets=[LEVER_CSS])
    if lv.kind == "choice":
        return pn.widgets.Select(options=list(lv.options), value=lv.value, **common)
    if lv.kind == "choices":
        return pn.widgets.MultiChoice(options=list(lv.options), value=list(lv.value), **common)
    if lv.kind == "date":
        return pn.widgets.DatePicker(value=lv.value, **common)
    if lv.kind == "integer":
        return pn.widgets.IntInput(value=lv.value, step=1, **common)
    v = lv.value if isinstance(lv.value, (int, float)) else None
    step = 0.05 if lv.kind == "probability" else (10 ** max(0, len(str(int(abs(v or 0)))) - 2))
    return pn.widgets.FloatInput(value=v, step=step, placeholder="no cap" if lv.kind == "cap" else "", **common)


class Dashboard:
    """One browser tab: scenario, levers, run, results, take-away."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.workdir = cfg.workdir / uuid.uuid4().hex[:8]
        self.job: Job | None = None
        self.outcome = None  # the comparison on the page
        self.shown = ""      # "done" once the page shows all of self.job's outcome
        self.note = ""       # added to the status line, e.g. that a run replaced another
        self.path, self.base, self.levers, self.widgets = cfg.scenario, None, [], {}
        folder = {p.resolve(): n for n, p, _ in list_scenarios(cfg.folder)}
        self.choices = {n: p for p, n in folder.items()}
        if cfg.scenario.resolve() not in folder:
            self.choices[cfg.scenario.stem] = cfg.scenario
        first = folder.get(cfg.scenario.resolve(), cfg.scenario.stem)
        self.pick = pn.widgets.Select(label="Scenario", options=sorted(self.choices), value=first,
                                      sizing_mode="stretch_width", css_classes=["pick"])
        self.file = pn.widgets.TextInput(label="…or a scenario file (press Enter)", placeholder="path/to/scenario.toml",
                                         sizing_mode="stretch_width", visible=cfg.any_file, css_classes=["file"])
        self.replicates = pn.widgets.IntInput(label="Replicates (per scenario)", value=cfg.replicates, step=1,
                                              sizing_mode="stretch_width", css_classes=["lever", "lever-replicates"])
        self.posterior = pn.widgets.Checkbox(label="Draw parameters from the posterior ensemble", visible=False,
                                             css_classes=["posterior"])
        self.run = pn.widgets.Button(label="Run", color="primary", sizing_mode="stretch_width",
                                     css_classes=["run"])
        self.reset = pn.widgets.Button(label="Reset levers", color="light", sizing_mode="stretch_width")
        self.bar = pn.indicators.Progress(value=0, max=100, visible=False, sizing_mode="stretch_width",
                                          bar_color="primary", css_classes=["run-progress"])
        self.status = pn.pane.HTML("", css_classes=["status"], sizing_mode="stretch_width")
        self.problems = pn.pane.Alert("", alert_type="danger", visible=False, css_classes=["problems"],
                                      sizing_mode="stretch_width")
        self.summary = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["changes"])
        self.levers_box = pn.Column(sizing_mode="stretch_width")
        self.header = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[CSS])
        self.answer = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["answer"], stylesheets=[CSS])
        self.table = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["kpis"], stylesheets=[CSS],
                                  name="KPI table")
        self.bounds = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width",
                                    css_classes=["bounds"])
        self.charts = pn.Tabs(sizing_mode="stretch_width", dynamic=False)
        self.save_name = pn.widgets.TextInput(label="Save as scenario", placeholder="name", width=260,
                                              css_classes=["save-name"])
        self.save = pn.widgets.Button(label="Save", color="success", disabled=True, css_classes=["save"],
                                      align="end")
        self.saved = pn.pane.HTML("", css_classes=["saved"], sizing_mode="stretch_width", stylesheets=[CSS])
        self.downloads = pn.Row()
        for w, cb in ((self.pick, self.on_pick), (self.file, self.on_file)):
            w.param.watch(self._safe(cb), "value")
        self.replicates.param.watch(self._safe(self.on_lever), "value")
        self.run.on_click(self._safe(self.on_run))
        self.reset.on_click(self._safe(self.on_reset))
        self.save.on_click(self._safe(self.on_save))
        self.load(self.choices[first])

    # ---- helpers ---------------------------------------------------------------------
    def _safe(self, fn):
        """Wrap a callback: any error is shown on the page and never reaches the server."""
        def call(*args):
            try:
                fn(*args)
            except ScenarioError as e:
                self.show_problems(e.messages)
            except Exception as e:  # noqa: BLE001 - keep serving whatever happened
                traceback.print_exc(file=sys.stderr)
                self.show_problems([f"{type(e).__name__}: {e}"])
        return call

    def show_problems(self, messages: list[str]) -> None:
        self.problems.object = "<br>".join(f"<code>{_html(m)}</code>" for m in messages)
        self.problems.visible = bool(messages)
        self.run.disabled = bool(messages)

    # ---- scenario and levers -----------------------------------------------------------
    def load(self, path: Path) -> None:
        """Show the levers of the scenario at `path` (the previous run is cancelled)."""
        self.cancel()
        self.path = Path(path)
        self.base, self.levers, self.widgets = None, [], {}
        self.levers_box.objects = []
        self.clear_results()
        self.base = load_scenario(self.path)
        self.levers = discover(self.base)
        cards = []
        for group in GROUPS:
            members = [lv for lv in self.levers if lv.group == group]
            if not members:
                continue
            ws = []
            for lv in members:
                w = _widget(lv)
                w.param.watch(self._safe(self.on_lever), "value")
                self.widgets[lv.key] = (lv, w)
                ws.append(w)
            cards.append(pn.Card(*ws, title=f"{group} ({len(ws)})", collapsed=group not in GROUPS[:3],
                                 sizing_mode="stretch_width", css_classes=["group"]))
        self.levers_box.objects = cards
        self.replicates.value = self.cfg.replicates or self.base.replicates
        post = posterior_beside(self.path)
        self.posterior.visible, self.posterior.value = post is not None, False
        self.save_name.value = f"{self.base.name}_variant"
        self.header.object = _header(self.base, self.path, self.cfg.steps)
        self.on_lever()

    def on_pick(self, event) -> None:
        self.load(self.choices[event.new])

    def on_file(self, event) -> None:
        text = (event.new or "").strip()
        if not text:
            return
        if not self.cfg.any_file:
            raise ScenarioError(["this server loads only the scenarios in its list"])
        path = Path(text).expanduser()
        if not path.is_file():
            raise ScenarioError([f"{text}: no such file"])
        self.load(path)

    def current_changes(self) -> dict:
        values = {k: w.value for k, (lv, w) in self.widgets.items()}
        out = changes(self.levers, values)
        out.update(run_settings(self.base, self.replicates.value, self.cfg.steps))
        if self.replicates.value is None:
            out["replicates"] = None
        return out

    def on_lever(self, *_) -> None:
        """Mark changed levers, list the changes and check them as load_scenario would."""
        if self.base is None:
            return
        ch = self.current_changes()
        for key, (lv, w) in self.widgets.items():
            cls = ["lever", "lever-" + _slug(key)] + (["changed"] if key in ch else [])
            if w.css_classes != cls:
                w.css_classes = cls
        policy = [k for k in ch if k in self.widgets]
        self.summary.object = (f"<b>{len(policy)} lever{'s' if len(policy) != 1 else ''} changed</b>:<br>"
                               + "<br>".join(f"<code>{_html(k)}</code>: {_html(_short(self.widgets[k][0].value))} → "
                                             f"<b>{_html(_short(ch[k]))}</b>" for k in policy) if policy
                               else "No lever changed yet: a run compares the scenario with itself.")
        try:
            load_pair(self.path, ch)
        except ScenarioError as e:
            self.show_problems(e.messages)
            return
        self.show_problems([])

    def on_reset(self, *_) -> None:
        for lv, w in self.widgets.values():
            w.value = list(lv.value) if lv.kind == "choices" else lv.value
        self.on_lever()

    # ---- running ---------------------------------------------------------------------------
    def cancel(self) -> None:
        if self.job is not None and self.job.active:
            self.job.cancel()

    def on_run(self, *_) -> None:
        ch = self.current_changes()
        load_pair(self.path, ch)  # a problem raises: shown, nothing starts
        n = self.replicates.value
        if not 1 <= n <= MAX_REPLICATES:
            raise ScenarioError([f"replicates: between 1 and {MAX_REPLICATES} in the dashboard (got {n})"])
        post = posterior_beside(self.path) if self.posterior.value else None
        replaced = self.job is not None and self.job.active
        self.cancel()
        self.job = Job(Request(self.path, ch, n, post), self.workdir, self.cfg.run_fn, finish=views.prepare).start()
        self.shown = "running"
        self.bar.value, self.bar.visible = 0, True
        self.note = " (the previous run was cancelled)" if replaced else ""
        self.status.object = "Starting…" + self.note

    def poll(self) -> None:
        """Periodic: progress and results of the current job onto the page (on the event loop)."""
        job = self.job
        if job is None or self.shown == "done":
            return
        self.bar.value = int(round(100 * job.progress))
        total = job.total or 2 * job.request.replicates
        self.status.object = {
            "queued": "Starting…",
            "running": f"Running the model: {job.done} of {total} runs" if job.done else "Loading the model…",
            "drawing": "Drawing the charts…", "cancelled": "Cancelled.", "failed": "The run failed.",
            "done": f"Done: {job.request.replicates} replicates of each scenario, "
                    f"{job.outcome.seconds if job.outcome else 0:.1f} s of model runs."}[job.state] + self.note
        o = job.outcome
        if o is not None and "table" in o.views and self.outcome is not o:
            self.show_tables(o)
        if job.state == "failed":
            self.show_problems(job.messages)
        if job.state == "done":
            self.show_charts(o)
        if job.state in ("done", "failed", "cancelled"):
            self.bar.visible, self.shown = False, "done"

    # ---- results -------------------------------------------------------------------------
    def clear_results(self) -> None:
        if self.outcome is not None:
            self.outcome.remove()
        self.outcome = None
        self.answer.object = ("<p class='hint'>Change the levers on the left and press <b>Run</b>: the changed "
                              "scenario runs against the unchanged one on the same random numbers.</p>")
        self.table.object, self.saved.object = "", ""
        self.bounds.visible = False
        self.charts.objects = [self.table]
        self.save.disabled = True
        self.downloads.objects = []

    def show_tables(self, outcome) -> None:
        old, self.outcome = self.outcome, outcome
        if old is not None and old is not outcome:
            old.remove()
        v = outcome.views
        self.answer.object = f"<div class='answer-box'>{v.get('answer', '')}</div>"
        self.table.object = v.get("table", "")
        self.bounds.object = "<b>Bounds that bind</b><ul>" + "".join(f"<li>{b}</li>" for b in v.get("bounds", [])) \
            + "</ul>"
        self.bounds.visible = bool(v.get("bounds"))
        wait = [pn.pane.HTML("<p>Drawing the chart…</p>", name=t) for t in views.CHARTS]
        self.charts.objects, self.charts.active = [self.table, *wait], 0
        self.saved.object = ""
        self.save.disabled = False
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", outcome.changed.name)
        self.downloads.objects = [
            pn.widgets.FileDownload(callback=self._safe_file(lambda f=f: _brief(outcome, f)),
                                    filename=f"brief-{stem}.{f}", label=f"Download brief ({f.upper()})",
                                    color="primary", css_classes=["brief-" + f], align="end")
            for f in brief_formats()] + [
            pn.widgets.FileDownload(file=str(outcome.compare_dir / "comparison.csv"), filename=f"kpis-{stem}.csv",
                                    label="Download KPI table (CSV)", color="light", align="end")]

    def show_charts(self, outcome) -> None:
        tabs = []
        for title, img in outcome.views.get("charts", {}).items():
            tabs.append(pn.pane.PNG(img, name=title, sizing_mode="scale_width") if isinstance(img, bytes)
                        else pn.pane.Alert(img, name=title, alert_type="warning"))
        active = self.charts.active
        self.charts.objects = [self.table, *tabs]
        self.charts.active = active

    def _safe_file(self, fn):
        def call():
            try:
                return str(fn())
            except Exception as e:  # noqa: BLE001 - keep serving
                traceback.print_exc(file=sys.stderr)
                self.show_problems([f"brief: {type(e).__name__}: {e}"])
                return None
        return call

    def on_save(self, *_) -> None:
        o = self.outcome
        if o is None:
            raise ScenarioError(["save as: run first; the saved scenario is the one whose numbers are shown"])
        path = save_scenario(o.request.path, self.save_name.value or "", o.request.changes, expected=o.changed)
        post = f" --posterior {o.request.posterior}" if o.request.posterior else ""
        self.saved.object = (f"Saved <code class='saved-path'>{_html(str(path))}</code>. "
                             f"<code>sim run {_html(str(path))}{post}</code> repeats these numbers.")

    # ---- the page ------------------------------------------------------------------------
    def close(self, *_) -> None:
        self.cancel()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def page(self):
        tpl = pn.template.BootstrapTemplate(title="Critical-mineral smuggling: policy dashboard",
                                            sidebar_width=400, header_background="#0b3d6b", busy_indicator=None)
        tpl.sidebar.extend([self.pick, self.file, self.replicates, self.posterior, pn.Row(self.run, self.reset),
                            self.bar, self.status, self.problems, self.summary, self.levers_box])
        tpl.main.append(pn.Column(
            self.header, self.answer, self.bounds,
            pn.Row(self.save_name, self.save, self.downloads, sizing_mode="stretch_width"), self.saved,
            self.charts, sizing_mode="stretch_width"))
        pn.state.add_periodic_callback(self._safe(self.poll), period=POLL_MS)
        pn.state.on_session_destroyed(self.close)
        return tpl


def _brief(outcome, fmt: str) -> Path:
    with views.DRAWING:  # pyplot is not thread-safe: wait for charts being drawn for another run
        return write_brief(outcome, fmt)


def _short(v) -> str:
    """A lever value for the list of changes: 20, 0.5, xray + ai_image, no cap, 2025-05-12."""
    if v is None or v == float("inf"):
        return "no cap"
    if isinstance(v, list):
        return " + ".join(map(str, v)) or "none"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _html(text: str) -> str:
    import html

    return html.escape(text)


def _header(s, path: Path, steps: int | None) -> str:
    n = steps or s.steps
    end = s.date_of(n - 1)
    q = f"<p class='question'>{_html(s.question)}</p>" if s.question else ""
    return (f"<h2>{_html(s.name)}</h2><p class='desc'>{_html(s.description)}</p>{q}"
            f"<p class='meta'>{_html(path.parent.name + '/' + path.name)} · {s.start_date:%d %b %Y} to {end:%d %b %Y} "
            f"({n} steps of {s.days_per_step} days) · master seed {s.seed}</p>")
