"""A lever study as an analyst reads it: verdicts, the answer in words, an 80-column table, a markdown
page, and the files of a study folder.

The numbers behind the words and the reasons come from sim.calibration.lever_words.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from rich import box
from rich.table import Table

from sim.calibration.lever_words import (
    MAIN,
    Facts,
    change,
    fmt,
    how,
    mix_text,
    pct,
    reason,
    risk_terms,
    shares,
    usd,
)
from sim.model.metrics import kpi
from sim.outputs.tables import kpi_unit, table_text


# ---------------------------------------------------------------- verdicts -------------------
class Effect:
    """One end of a lever on a KPI: paired mean and band; `moves` when the band excludes 0.
    Theory expects more enforcement (the high end) to lower illicit deliveries, less to raise them."""

    def __init__(self, lever, setting, row):
        self.lever, self.setting = lever, setting
        self.mean, self.p05, self.p95 = (float(row[q]) for q in ("mean", "p05", "p95"))

    @property
    def ran(self) -> bool:
        return bool(self.setting.params)

    @property
    def moves(self) -> bool:
        return self.ran and (self.p05 > 0 or self.p95 < 0)

    @property
    def expected(self) -> bool:
        return (self.mean < 0) == (self.setting.end == "high")

    def text(self, name: str = MAIN) -> str:
        """'x2: -1,381 t (-2,023 to -840)'."""
        from sim.outputs.tables import kpi_unit

        m, band, _ = change({"mean": self.mean, "p05": self.p05, "p95": self.p95}, name)
        unit = kpi_unit(name)[0]
        return f"{self.setting.value}: {m}{' ' + unit if unit else ''} ({band})"


def effects(study, name: str = MAIN) -> dict[str, tuple[Effect, Effect]]:
    t = study.table[study.table["kpi"] == name].set_index(["lever", "setting"])
    return {lv.key: tuple(Effect(lv, s, t.loc[(lv.key, s.end)]) for s in lv.settings) for lv in study.levers}


def verdict(pair: tuple[Effect, Effect]) -> str:
    """'moves' (beyond the noise, as theory expects), 'against' (beyond the noise, the other way), 'little'."""
    if any(e.moves and not e.expected for e in pair):
        return "against"
    return "moves" if any(e.moves for e in pair) else "little"


TABLE_KPIS = ("illicit_delivered_t", "price_peak_index", "enforcement_cost_usd")
SHORT_HEADS = {"illicit_delivered_t": "Illicit", "price_peak_index": "Peak price", "enforcement_cost_usd": "Cost"}
PAGE_KPIS = ("illicit_delivered_t", "price_peak_index", "enforcement_cost_usd", "diverted_t", "seizures_count",
             "legit_inspected")


def context(study) -> str:
    """The scenario as given, in the run's numbers: routes, methods, diversion, risk and margin."""
    sc = study.scenario
    b = Facts(sc, study.summaries["base"], study.means["base"])
    if b.departed <= 0:
        return "In the scenario as given nothing was smuggled, so no lever can lower illicit deliveries."
    s = b.s
    ceiling = sc.exporters.divertible_share * s.get("origin_output_t", np.nan)
    weeks = s.get("smuggling_steps", 0)
    text = (f"In the scenario as given, smuggled tonnes went {mix_text(shares(b.by_route), 4)} by route, as "
            f"{mix_text(b.by_method, 4)} by concealment method. On average {s.get('diverting_firms', 0):.0f} of "
            f"{sc.exporters.count} exporters diverted in the {weeks:.0f} weeks with smuggling, "
            f"{fmt(s.get('diverted_t', 0))} t in all, "
            f"{pct(s.get('diverted_t', 0) / ceiling) if ceiling > 0 else 'n/a'} of what they could divert "
            f"(exporters.divertible_share x their output), at a premium W - O of {usd(b.premium)} over the "
            f"origin price; smugglers wanted more than exporters offered in "
            f"{pct(s.get('rationed_steps', 0) / weeks) if weeks else 'n/a'} of those weeks (W rose). ")
    return text + risk_terms(sc, b)


def answer(study) -> list[str]:
    """Paragraphs ("- " for list items): what moves illicit deliveries beyond the noise, what stays
    within it and the lever's own numbers, then the run's context (why levers bite or not)."""
    eff = effects(study)
    unit = kpi_unit(MAIN)[0]
    verdicts = {k: verdict(pair) for k, pair in eff.items()}
    label = kpi(MAIN).label.lower()

    def moved(pair):
        return "; ".join(e.text() for e in pair if e.ran)

    movers = [lv for lv in study.levers if verdicts[lv.key] == "moves"]
    def biggest(pair):
        return max((e for e in pair if e.moves), key=lambda e: abs(e.mean))

    lines = [(f"Beyond the Monte Carlo noise (the 5-95 % band of the paired differences excludes 0), {label} "
              f"({unit}) move as theory expects (more enforcement, fewer tonnes) with: "
              + "; ".join(f"{lv.label} ({moved(eff[lv.key])}; {how(biggest(eff[lv.key]), study)})"
                          for lv in movers) + ".") if movers else
             f"No lever moves {label} beyond the Monte Carlo noise (every 5-95 % band of the paired "
             "differences includes 0)."]
    for lv in study.levers:
        if verdicts[lv.key] == "against":
            bad = [e for e in eff[lv.key] if e.moves and not e.expected]
            lines.append(f"Against the expected direction: {lv.label} ({moved(eff[lv.key])}). Why, at "
                         f"{bad[0].setting.value}: {reason(bad[0], study)}")
    quiet_items = []
    for lv in study.levers:
        pair = eff[lv.key]
        quiet = [e for e in pair if e.ran and not e.moves]
        if verdicts[lv.key] == "against" or not quiet:
            continue
        which = "" if len(quiet) == sum(e.ran for e in pair) else f" at {quiet[0].setting.value}"
        shown = quiet[-1]  # the high setting when it is quiet: more enforcement that does not bite
        quiet_items.append(f"- {lv.label}{which} ({moved(pair)}): at {shown.setting.value}, {reason(shown, study)}")
    if quiet_items:
        lines.append("Within the noise (the band includes 0), with the numbers that say why:")
        lines += quiet_items
    lines.append(context(study))
    if study.skipped:
        lines.append("Not varied: " + "; ".join(study.skipped) + ".")
    return lines


def short_label(lv) -> str:
    """A lever's name for the 80-column table: 'CN capacity', 'Arrest probability'."""
    return {"capacity": f"{lv.country} capacity", "technologies": f"{lv.country} technologies",
            "trace_tags": f"{lv.country} trace tags", "cooperation": f"{lv.country} cooperation",
            "tips": f"{lv.country} investigations",
            "fine": "Fine", "arrest": "Arrest probability", "sentence": "Sentence", "trace_prob": "Exporters traced",
            "exporter_penalty": "Exporters' penalty"}.get(lv.kind, lv.key)


def _cell(row, name: str) -> str:
    m, band, beyond = change(row, name)
    return f"{m}{'*' if beyond else ''}\n{band}"


def format_table(study, kpis=TABLE_KPIS, width: int = 80) -> str:
    """Lever, setting, and per KPI the paired change (mean, * beyond noise) over its 5-95 % band."""
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    room = width - 2 * (1 + len(kpis))          # columns are separated by 2 spaces
    each = (room - 30) // len(kpis)              # lever 19 and setting 11 at least
    t.add_column("lever", overflow="fold", width=19)
    t.add_column("setting", overflow="fold", width=room - 19 - each * len(kpis))
    for k in kpis:
        unit = kpi_unit(k)[0]
        t.add_column(SHORT_HEADS.get(k, kpi(k).label) + (f" ({unit})" if unit else ""), justify="right",
                     overflow="fold", width=each)
    idx = study.table.set_index(["lever", "setting", "kpi"])
    for lv in study.levers:
        for i, s in enumerate(lv.settings):
            t.add_row(short_label(lv) if i == 0 else "", s.value, *(_cell(idx.loc[(lv.key, s.end, k)], k)
                                                                  for k in kpis))
    note = ("Change from the scenario as given, paired by replicate (same seeds): mean, then its 5-95 % band; "
            "* the band excludes 0.")
    return table_text(t, width) + "\n" + textwrap.fill(note, width)


def format_answer(study, width: int = 80) -> str:
    """The answer wrapped for a terminal; list items indented under their dash."""
    return "\n\n".join(textwrap.fill(p, width, subsequent_indent="  " if p.startswith("- ") else "")
                       for p in answer(study))


# ---------------------------------------------------------------- markdown -------------------
def _md_cell(row, name: str) -> str:
    m, band, beyond = change(row, name)
    return f"**{m} ({band})**" if beyond else f"{m} ({band})"


def detection_table(study) -> list[str]:
    """The origin's detection given inspection per technology and method in use (scenario eff)."""
    from sim.model.world import customs_of

    sc = study.scenario
    b = Facts(sc, study.summaries["base"], study.means["base"])
    mix = [m for m, w in shares(b.by_method).items() if w > 0]
    techs = customs_of(sc, sc.origin).technologies
    if not mix or not techs:
        return []
    rows = [f"| technology at {sc.countries[sc.origin].name or sc.origin} (start) | " + " | ".join(
        f"{m} ({pct(shares(b.by_method)[m])})" for m in mix) + " |", "| --- |" + " --- |" * len(mix)]
    rows += [f"| {t} | " + " | ".join(f"{sc.eff[t][m]:.2f}" for m in mix) + " |" for t in techs]
    rows.append("| **all together** | " + " | ".join(
        f"**{_one(sc, techs, m):.2f}**" for m in mix) + " |")
    return rows


def _one(sc, techs, m: str) -> float:
    return 1.0 - float(np.prod([1.0 - sc.eff[t][m] for t in techs]))


def markdown_section(study, image: str | None, level: int = 2) -> str:
    """The page for one scenario: question, chart, answer, effects table, settings, detection."""
    sc, h = study.scenario, "#" * level
    idx = study.table.set_index(["lever", "setting", "kpi"])
    out = [f"{h} {sc.name}", ""]
    if sc.question:
        out += [f"*{sc.question}*", ""]
    out += [(f"{len(study.replicates)} replicates per setting, master seed {sc.seed}, {sc.steps} weeks from "
            f"{sc.start_date}; every setting ran the same seeds as the scenario as given, so each change is a "
            "paired difference (mean, and in brackets the 5-95 % band over replicates; **bold**: the band "
            "excludes 0)."), ""]
    if study.failures:
        out += [f"**{len(study.failures)} runs failed** and are left out of the pairs.", ""]
    if image:
        out += [f"![Lever effects on illicit deliveries, {sc.name}]({image})", ""]
    out += [f"{h}# What moves illicit deliveries", ""] + [p + "\n" for p in answer(study)]
    heads = ["lever", "setting"] + [kpi(k).label + (f" ({kpi_unit(k)[0]})" if kpi_unit(k)[0] else "")
                                    for k in PAGE_KPIS]
    out += [f"{h}# Effects", "", "| " + " | ".join(heads) + " |", "|" + " --- |" * len(heads)]
    for lv in study.levers:
        for s in lv.settings:
            out.append(f"| {lv.label} | {s.value} | " + " | ".join(
                _md_cell(idx.loc[(lv.key, s.end, k)], k) if (lv.key, s.end, k) in idx.index else "n/a"
                for k in PAGE_KPIS) + " |")
    out += ["", f"{h}# Settings", "", "| lever | key | as given | low | high | events |", "|" + " --- |" * 6]
    out += [f"| {lv.label} | `{lv.key}` | {lv.base} | {lv.low.value} | {lv.high.value} | {lv.note or '-'} |"
            for lv in study.levers]
    det = detection_table(study)
    if det:
        out += ["", f"{h}# Detection given inspection at the origin", "",
                ("Scenario `eff` for the technologies in force at the start and the methods in use (share of "
                "smuggled tonnes); together: 1 - prod(1 - eff)."), ""] + det
    return "\n".join(out).rstrip() + "\n"


def markdown_doc(sections: list[str], command: str, version: str, commit: str | None, date: str) -> str:
    head = ["# Enforcement levers: what moves illicit deliveries", "",
            f"Generated by `{command}` on {date} (sim {version}" + (f", commit {commit[:10]}" if commit else "")
            + "). Do not edit by hand: rerun the command.", "",
            ("Each lever is set lower and higher than in the scenario (capacity, investigation tips, fines, "
             "sentences and the "
            "exporters' trace probability and penalty x0.5 and x2; arrest probability and cooperation halfway to "
            "0 and to 1; technologies: document checks only, or every technology but trace tags added; trace "
            "tags never or from the start); an event that sets the same key is changed the same way. "
            "`sim levers --help` says more."), ""]
    return "\n".join(head) + "\n" + "\n".join(sections)


__all__ = ["Effect", "answer", "context", "format_answer", "format_table", "markdown_doc", "markdown_section"]


# ---------------------------------------------------------------- files ----------------------
def study_json(study, argv, started, ended, extra: dict | None = None) -> dict:
    """levers.json: what ran (scenario, seeds, settings with every key they set), the rows of
    levers.csv, and the words."""
    from sim.outputs.manifest import git_commit, versions

    sc = study.scenario
    return {"scenario": sc.name, "question": sc.question, "command_line": list(argv),
            "started": started.isoformat(), "ended": ended.isoformat(), "master_seed": sc.seed,
            "replicates": study.replicates, "steps": sc.steps, "versions": versions(), "git_commit": git_commit(),
            "note": "mean, p05, p95: paired change (setting minus the scenario as given, same seeds) in the KPI's "
                    "stored unit; settings equal to the scenario were not run (change 0)",
            "levers": [{"lever": lv.key, "label": lv.label, "kind": lv.kind, "as_given": lv.base, "events": lv.note,
                        **{s.end: {"value": s.value, "sets": s.params} for s in lv.settings}} for lv in study.levers],
            "not_varied": study.skipped,
            "failed_runs": [{"variant": str(tag), "replicate": f.replicate, "error": f.error}
                            for tag, f in study.failures],
            "rows": study.table.to_dict(orient="records"), "words": answer(study), **(extra or {})}


def tornado(csv_path, study, out_path) -> None:
    """The tornado chart of illicit deliveries, drawn from levers.csv through the brief's own reader."""
    from sim.plots.effects import fig_tornado
    from sim.plots.inputs import load_levers
    from sim.plots.style import save, style

    sc = study.scenario
    with style():
        fig = fig_tornado(load_levers(csv_path), MAIN, top=len(study.levers),
                          source=f"sim levers {sc.name}: {len(study.replicates)} replicates per setting, "
                                 f"master seed {sc.seed}, {sc.start_date} + {sc.steps} weeks")
        save(fig, out_path)


def write_study(study, out_root, argv, started, ended, plots: bool = True, extra: dict | None = None):
    """<out_root>/<scenario>/levers-<run-id>/: levers.csv, levers.json, tornado.png, levers.md; the
    folder appears complete or not at all. Returns its path."""
    from sim.outputs.results import atomic_write_text, folder_name, json_text, new_run_id, partial_dir

    final = Path(out_root) / folder_name(study.scenario.name) / f"levers-{new_run_id()}"
    with partial_dir(final) as tmp:
        study.table.to_csv(tmp / "levers.csv", index=False)
        atomic_write_text(tmp / "levers.json", json_text(study_json(study, argv, started, ended, extra)))
        if plots:
            tornado(tmp / "levers.csv", study, tmp / "tornado.png")
        atomic_write_text(tmp / "levers.md", markdown_section(study, "tornado.png" if plots else None, level=1))
    return final
