"""The dashboard in a real browser: Chromium from Debian's package (/usr/bin/chromium), driven by
playwright, against `sim dashboard` started as the analyst would. Nothing is downloaded.

Skipped only when Chromium or playwright is missing on a developer's machine; under CI (CI=true)
that is a failure, because .ci/run installs Chromium. The first test takes the README's
screenshot: it is written to docs/img/dashboard.png when SIM_UPDATE_SCREENSHOT=1.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sim.scenario import list_scenarios, load_scenario
from tests.test_dashboard import start_server, stop

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("SIM_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPLICATES, STEPS = 3, 30  # small and short: the default test run stays fast
SCREENSHOT = ROOT / "docs" / "img" / "dashboard.png"


def _missing(why: str):
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI must run the browser tests: .ci/run installs Chromium)")
    pytest.skip(why)


@pytest.fixture(scope="module")
def playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.is_file():
        _missing(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory) -> Path:
    """A copy of the shipped scenarios ("save as" writes beside the scenario)."""
    folder = tmp_path_factory.mktemp("dash") / "scenarios"
    shutil.copytree(ROOT / "scenarios", folder)
    return folder


@pytest.fixture(scope="module")
def scenario(scenario_dir) -> Path:
    """A shipped scenario with an export control, preferably without events (taken from the folder)."""
    found = [(bool(s.events), p) for name, p, _ in list_scenarios(scenario_dir) if name != "template"
             and (s := load_scenario(p)).controls]
    if not found:
        pytest.fail("no shipped scenario with an export control")
    return min(found)[1]


def horizon(path: Path) -> int:
    """STEPS, or the scenario's own horizon when an event falls after STEPS."""
    s = load_scenario(path)
    return STEPS if all(s.event_step(e) < STEPS for e in s.events.values()) and s.steps >= STEPS else s.steps


@pytest.fixture(scope="module")
def server(scenario, scenario_dir):
    proc, url, _ = start_server(scenario_dir.parent, str(scenario), "--replicates", str(REPLICATES),
                                "--steps", str(horizon(scenario)))
    yield url
    assert stop(proc) == 0


@pytest.fixture(scope="module")
def browser(playwright, tmp_path_factory):
    """Chromium with a fresh profile, started once for this module."""
    ctx = playwright.chromium.launch_persistent_context(
        tmp_path_factory.mktemp("chromium-profile"), executable_path=str(CHROMIUM), args=FLAGS, headless=True,
        viewport={"width": 1440, "height": 1000})
    yield ctx
    ctx.close()


@pytest.fixture
def page(browser, server):
    """A new tab on the dashboard (a new session); no request may leave this machine."""
    outside: list[str] = []
    pg = browser.new_page()
    pg.on("request", lambda r: outside.append(r.url) if not r.url.startswith(server) else None)
    pg.set_default_timeout(120_000)  # the first run compiles the model
    pg.goto(server)
    pg.locator(".lever-penalties_fine_multiple input").wait_for()
    yield pg
    pg.close()
    assert not [u for u in outside if not u.startswith(("data:", "blob:", "ws://127.0.0.1"))], outside


def set_lever(page, key: str, value) -> None:
    field = page.locator(f".lever-{key.replace('.', '_')} input")
    field.fill(str(value))
    field.press("Enter")


def run_and_read(page, charts: bool = True) -> dict[str, dict[str, float]]:
    """Press Run on a fresh page, wait for the KPI table (and the charts); KPI -> {base, changed, diff,
    diff-p05, diff-p95} as the table's data- attributes give them."""
    page.locator(".run button").click()
    page.locator("table.kpi-table tr[data-kpi]").first.wait_for()
    if charts:
        page.locator(".status", has_text="Done:").wait_for()
    rows = page.locator("table.kpi-table tr[data-kpi]")
    out = {}
    for i in range(rows.count()):
        r = rows.nth(i)
        out[r.get_attribute("data-kpi")] = {k: float(r.get_attribute(f"data-{k}"))
                                            for k in ("base", "changed", "diff", "diff-p05", "diff-p95")}
    return out


def test_a_much_higher_fine_lowers_illicit_deliveries(page, tmp_path):
    set_lever(page, "penalties.fine_multiple", 20)
    page.locator(".changes", has_text="penalties.fine_multiple").wait_for()
    kpis = run_and_read(page)
    d = kpis["illicit_delivered_t"]
    assert d["changed"] < d["base"] and d["diff-p95"] < 0, d  # lower in every band, paired
    assert page.locator("tr[data-kpi=illicit_delivered_t] td.verdict", has_text="better").count() == 1
    assert page.locator(".answer", has_text="Illicit deliveries").count() == 1
    assert page.locator(".status", has_text=f"Done: {REPLICATES} replicates").count() == 1
    for tab in ("Prices", "Illicit flows by route", "Where the goods went", "KPI differences"):
        assert page.locator(".bk-tab", has_text=tab).count() == 1
    page.locator("progress").wait_for(state="hidden")
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot))
    from matplotlib.image import imread

    img = imread(shot)
    assert img.shape[:2] == (1000, 1440) and img.std() > 0.05  # a page, not a blank
    if os.environ.get("SIM_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, SCREENSHOT)


def test_an_invalid_lever_gets_the_scenario_file_message(page):
    set_lever(page, "penalties.arrest_prob", 1.5)
    page.locator(".problems", has_text="dashboard: penalties.arrest_prob: must be <= 1 (got 1.5)").wait_for()
    assert page.locator(".run button").is_disabled()
    set_lever(page, "penalties.arrest_prob", 0.5)
    page.locator(".problems").wait_for(state="hidden")
    assert page.locator(".run button").is_enabled()


def test_saved_scenario_reruns_to_the_dashboard_s_numbers(page, scenario, tmp_path):
    set_lever(page, "penalties.fine_multiple", 5)
    set_lever(page, "customs.CN.capacity_per_week", 1200)
    page.locator(".changes", has_text="customs.CN.capacity_per_week").wait_for()
    kpis = run_and_read(page, charts=False)
    name = "dashboard_saved_variant"
    page.locator(".save-name input").fill(name)
    page.locator(".save-name input").press("Enter")
    page.locator(".save button").click()
    saved = Path(page.locator("code.saved-path").inner_text())
    assert saved == scenario.parent / f"{name}.toml" and saved.is_file()
    assert "extends" in saved.read_text()
    with page.expect_download() as dl:                        # the brief of what is on the page
        page.locator(".brief-pdf button").click()
    brief = tmp_path / "brief.pdf"
    dl.value.save_as(brief)
    assert brief.read_bytes().startswith(b"%PDF") and brief.stat().st_size > 10_000
    out = tmp_path / "results"
    r = subprocess.run([sys.executable, "-m", "sim", "run", str(saved), "--workers", "1", "--no-plots",
                        "--out", str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (run_dir,) = (out / name).iterdir()
    summary = json.loads((run_dir / "kpis.json").read_text())["summary"]
    assert len(json.loads((run_dir / "kpis.json").read_text())["per_replicate"]) == REPLICATES
    for k, v in kpis.items():
        mean = summary[k]["mean"]
        if mean is None:
            assert math.isnan(v["changed"]), k
        else:
            assert mean == pytest.approx(v["changed"], rel=1e-12, abs=1e-12), k


def test_the_page_stays_responsive_and_a_new_run_cancels_the_old(page):
    page.locator(".lever-replicates input").fill("300")
    page.locator(".lever-replicates input").press("Enter")
    page.locator(".run button").click()
    page.locator(".status", has_text="Running the model").wait_for()
    set_lever(page, "penalties.sentence_years", 8)            # the page answers while the model runs
    page.locator(".changes", has_text="penalties.sentence_years").wait_for(timeout=5000)
    page.locator(".lever-replicates input").fill("2")
    page.locator(".lever-replicates input").press("Enter")
    page.locator(".run button").click()
    page.locator(".status", has_text="the previous run was cancelled").wait_for(timeout=5000)
    page.locator(".status", has_text="Done: 2 replicates").wait_for()
    assert page.locator(".answer", has_text="2 paired replicates").count() == 1
