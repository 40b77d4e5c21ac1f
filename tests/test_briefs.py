"""The brief answers its question: the answer sentence against the comparison's numbers, the
caveats, the KPI table with its difference column, and the three formats (A4 PDF, HTML report,
PPTX slides), on synthetic version-2 comparison folders (tests/v2_fixtures.py)."""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from v2_fixtures import make_levers, make_v2_compare, make_v2_results, make_validation

from sim.cli import main
from sim.plots import brief_content, write_brief, write_report
from sim.plots.answer import main_sentence

NUM = r"([\d,.]+)"


def num(s: str) -> float:
    return float(s.replace(",", ""))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A comparison (status_quo vs crackdown, 4 replicates; the crackdown's US price sits on a cap,
    a hub's import cap binds, the price guard was touched) with a lever table and a validation report."""
    root = tmp_path_factory.mktemp("cmp")
    f = make_v2_compare(root, 4, price_cap=2.2, hub_cap=True, guard_weeks=3.0)
    return {"compare": f, "levers": make_levers(root / "levers.csv"), "validation": make_validation(root / "v.md")}


@pytest.fixture(scope="module")
def content(folder):
    return brief_content([folder["compare"]], folder["levers"], folder["validation"])


@pytest.fixture(autouse=True)
def usual_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def per_replicate(folder: Path, name: str) -> pd.Series:
    run = next((folder / name).iterdir())
    rows = json.loads((run / "kpis.json").read_text())["per_replicate"]
    return pd.DataFrame(rows).set_index("replicate")["illicit_delivered_t"]


def test_answer_sentence_states_the_comparisons_numbers(folder, content):
    table = pd.read_csv(folder["compare"] / "comparison.csv").set_index(["scenario", "kpi"])
    row, base = table.loc[("crackdown", "illicit_delivered_t")], table.loc[("status_quo", "illicit_delivered_t")]
    m = re.fullmatch(rf"Compared with status_quo, crackdown cuts illicit deliveries over the run by {NUM} t, or "
                     rf"{NUM} % \(5-95 % of paired replicates: {NUM} t to {NUM} t less\), and does better in "
                     rf"(all \d+|\d+ of \d+) replicates\.", content.answer[0])
    assert m, content.answer[0]
    assert num(m[1]) == pytest.approx(-row["diff_mean"], abs=0.5)
    assert num(m[2]) == pytest.approx(-100 * row["diff_mean"] / base["mean"], abs=0.5)
    assert num(m[3]) == pytest.approx(-row["diff_p95"], abs=0.5) and num(m[4]) == pytest.approx(-row["diff_p05"], abs=0.5)
    diff = per_replicate(folder["compare"], "crackdown") - per_replicate(folder["compare"], "status_quo")
    better = int((diff < 0).sum())
    assert m[5] == (f"all {len(diff)}" if better == len(diff) else f"{better} of {len(diff)}")
    assert better > 0
    # how fast: weeks to halve after the headline event, from the policy's own KPI
    w = pd.DataFrame(json.loads((next((folder["compare"] / "crackdown").iterdir()) / "kpis.json").read_text())
                     ["per_replicate"])["weeks_to_halve"]
    assert content.answer[1].startswith("After 'Joint crackdown in Thailand' (29 Jul 2024), illicit deliveries in "
                                        f"crackdown fall to half their earlier level within {w.mean():.2f} weeks")


@pytest.mark.parametrize("d, lo, hi, better, expect", [
    (-31.6, -125.0, 43.3, (2, 4), ("cuts illicit deliveries over the run by 31.6 t, or 2 % (5-95 % of paired "
                                   "replicates: from 125 t less to 43.3 t more, so the change is not clear), and "
                                   "does better in 2 of 4 replicates.")),
    (520.0, 400.0, 610.0, (0, 4), ("raises illicit deliveries over the run by 520 t, or 37 % (5-95 % of paired "
                                   "replicates: 400 t to 610 t more), and does better in none of the 4 replicates.")),
])
def test_answer_sentence_when_unclear_or_worse(d, lo, hi, better, expect):
    row = pd.Series({"diff_mean": d, "diff_p05": lo, "diff_p95": hi})
    text = main_sentence(row, 1400.0, "a", "b", "illicit_delivered_t", better, paired=True)
    assert text == "Compared with a, b " + expect


def test_answer_in_percentage_points_for_shares():
    row = pd.Series({"diff_mean": 0.0665, "diff_p05": 0.061, "diff_p95": 0.0705})
    text = main_sentence(row, 0.105, "a", "b", "interdiction_rate", (4, 4), paired=True)
    assert text == ("Compared with a, b raises the interdiction rate by 6.65 percentage points (5-95 % of paired "
                    "replicates: 6.10 percentage points to 7.05 percentage points more), and does better in all 4 "
                    "replicates.").replace("the interdiction rate", "interdiction rate")


def test_caveats_name_bounds_sensitivity_held_out_checks_and_noise(content):
    c = " ".join(content.caveats)
    assert "price cap in crackdown (United States, Antimony trioxide, 29 weeks, 2.2x reference)" in c
    assert "import cap in crackdown (Thailand, 40 weeks, 60 t refused)" in c
    assert "price guard in crackdown (3 weeks)" in c
    assert ("Most sensitive to CN capacity per week: at 100 and 1500 it moves illicit deliveries by +310 t and "
            "\u2212820 t") in c
    assert "Held-out checks failed: H2." in c
    assert "Only 4 replicates per scenario" in c and "not uncertainty in the model's parameters" in c
    assert [n for n, _ in content.scenarios] == ["status_quo", "crackdown"]
    assert content.scenarios[0][1].startswith("baseline: ")


def test_the_table_says_which_market_and_period_its_rows_measure(content):
    note = next(n for n in content.footnotes if n.startswith("Peak and final prices:"))
    assert "Peak and final prices: United States, origin price: China" in note
    assert "Leakage: illicit deliveries over the restricted destinations' imports from China" in note


def test_kpi_table_has_a_difference_column_and_flags_capped_prices(folder, content):
    assert content.header == ["Key figure (unit)", "status_quo", "crackdown", "crackdown\n\u2212 status_quo"]
    rows = {r[0]: r[1:] for r in content.rows}
    t = pd.read_csv(folder["compare"] / "comparison.csv").set_index(["scenario", "kpi"])
    r = t.loc[("crackdown", "illicit_delivered_t")]
    assert rows["Illicit deliveries (t)"][2] == f"{r['diff_mean']:,.0f} ({r['diff_p05']:,.0f} to {r['diff_p95']:,.0f})"
    assert rows["Peak price (x reference)"][1].startswith("2.20\u2020") and "\u2020" not in rows["Peak price (x reference)"][0]
    assert rows["Weeks at a price guard (weeks)"][1].startswith("3.00")
    assert rows["Leakage (%)"][0].startswith(f"{100 * t.loc[('status_quo', 'leakage_share'), 'mean']:.1f} (")
    assert any("\u2020" in n for n in content.footnotes)


def test_brief_pdf_is_one_a4_page_whose_text_is_text(folder, tmp_path, content):
    from pypdf import PdfReader
    out = write_brief([folder["compare"]], tmp_path / "brief.pdf", folder["levers"], folder["validation"])
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    reader = PdfReader(out)
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)
    text = " ".join(reader.pages[0].extract_text().split())
    for s in ("Answer: " + content.answer[0], "Held-out checks failed: H2.", "crackdown: crackdown: synthetic v2",
              "Where the origin's goods went in crackdown", "What moves illicit deliveries", "Illicit deliveries (t)",
              "5 more key figures in the HTML report"):
        assert s in text, s


class _Html(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.imgs, self.links, self.cells, self.text = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(a)
        for k in ("href", "src"):
            if k in a and not a[k].startswith("data:"):
                self.links.append(a[k])

    def handle_data(self, data):
        self.text.append(data)


def test_report_is_self_contained_html_with_tables_and_charts(folder, tmp_path, content):
    out = write_report([folder["compare"]], tmp_path / "report.html", folder["levers"], folder["validation"])
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    html = out.read_text()
    p = _Html()
    p.feed(html)
    assert p.links == []  # nothing to fetch: opens offline as one file
    assert p.tags.count("table") == 3  # key figures, bounds, provenance
    assert p.tags.count("tr") >= len(content.rows) + 1
    ids = re.findall(r'<figure id="(\w+)">', html)
    assert ids[:5] == ["series", "sankey", "tornado", "tradeoff", "differences"]
    for img in p.imgs:
        data = base64.b64decode(img["src"].removeprefix("data:image/png;base64,"))
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000 and img["alt"]
    text = " ".join(" ".join(p.text).split())
    assert content.answer[0] in text and "Held-out checks failed: H2." in text
    assert "processes, 2 workers" in text  # the executor from the manifest


def test_slides_title_answer_native_table_and_charts(folder, tmp_path, content):
    from pptx import Presentation
    out = write_brief([folder["compare"]], tmp_path / "brief.pptx", folder["levers"], folder["validation"])
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    prs = Presentation(out)
    slides = list(prs.slides)
    title = " ".join(sh.text_frame.text for sh in slides[0].shapes if sh.has_text_frame)
    assert content.question in title and content.answer[0] in title
    tables = [sh.table for sh in slides[1].shapes if sh.has_table]
    assert len(tables) == 1
    t = tables[0]
    assert len(t.rows) == len(content.rows) + 1 and len(t.columns) == len(content.header)
    assert [t.cell(i, 0).text for i in range(1, len(t.rows))] == [r[0] for r in content.rows]
    assert t.cell(1, 3).text == content.rows[0][3]
    caveats = " ".join(sh.text_frame.text for sh in slides[2].shapes if sh.has_text_frame)
    assert "Held-out checks failed: H2." in caveats
    pictures = [sh for s in slides[3:] for sh in s.shapes if sh.shape_type == 13]  # MSO_SHAPE_TYPE.PICTURE
    assert len(pictures) == len(slides) - 3 >= 4
    for s in slides:  # inside the slide, provenance in the notes
        for sh in s.shapes:
            assert sh.left >= 0 and sh.top >= 0 and sh.left + sh.width <= prs.slide_width
            assert sh.top + sh.height <= prs.slide_height
        assert "Source: Simulation with sim" in s.notes_slide.notes_text_frame.text


def test_run_folders_are_paired_when_they_share_a_seed(tmp_path):
    a = make_v2_results(tmp_path, "a", 3, crackdown=False)
    b = make_v2_results(tmp_path, "b", 3)
    c = brief_content([a, b])
    assert "of paired replicates" in c.answer[0]
    other = make_v2_results(tmp_path, "c", 3, seed=99)
    c = brief_content([a, other])
    assert "difference of means: the runs used different seeds" in c.answer[0]
    assert any("different seeds" in x for x in c.caveats)
    rows = {r[0]: r for r in c.rows}
    assert " (" not in rows["Illicit deliveries (t)"][3]  # no band for an unpaired difference


def test_cli_brief_report_and_slides(folder, tmp_path, capsys, monkeypatch):
    from sim.plots import report
    figures = report.key_figures
    monkeypatch.setattr(report, "key_figures", lambda c: figures(c)[1:2])  # wiring: one chart is enough
    assert main(["brief", str(folder["compare"].parent), "--out", str(tmp_path / "b.pptx")]) == 0  # newest inside
    assert main(["report", str(folder["compare"]), "--out", str(tmp_path / "r.html"), "--kpi", "leakage_share"]) == 0
    assert "cuts leakage by" in (tmp_path / "r.html").read_text()
    capsys.readouterr()
    assert main(["brief", str(folder["compare"]), "--out", str(tmp_path / "b.doc")]) == 2
    assert main(["brief", str(folder["compare"]), "--kpi", "nope", "--out", str(tmp_path / "x.pdf")]) == 2
    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(e.startswith(("sim brief: ", "sim report: ")) for e in err)
    assert "KPI 'nope' is not in these results" in err[1] and "missing" in err[2]
    assert not np.any([p.name.startswith(".") for p in tmp_path.iterdir()])  # no temporary files left


def test_a_stock_out_is_a_caveat_in_words(content):
    """Buyers out of stock are the model's economics, not a numerical bound: named apart."""
    from sim.plots.answer import caveats
    from sim.plots.bounds import Bound

    out = " ".join(caveats(content.runs, {"crackdown": [Bound("stock-out", "United States, Antimony trioxide", 23.4, 0.0),
                                                        Bound("stock-out", "Thailand, Antimony trioxide", 0.2, 0.0)]},
                           None, "illicit_delivered_t", None, True))
    assert ("Buyers ran out of stock in 1 market(s) for up to 23 weeks (United States, Antimony trioxide): demand "
            "there was cut, not met at a higher price.") in out
    assert "A bound, not the model's economics" not in out
