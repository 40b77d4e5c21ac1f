"""`sim dashboard`: a local web page to move policy levers and compare against the unchanged scenario.

Thin by design: lever changes become `--set`-style overrides for sim.scenario.load_scenario,
runs go through sim.experiments.compare on common random numbers, charts come from sim.plots,
"save as scenario" writes a TOML file that `extends` the base. Modules:

    levers.py    discover the levers a scenario exposes; changes -> overrides; save as TOML
    jobs.py      one comparison on a background thread: progress, cancel, results folder
    views.py     what the page shows: KPI table, answer in words, bounds that bound, charts
    app.py       the Panel page, one per browser tab (needs the `dashboard` extra)
    server.py    the local server: binding, origins, warm-up, clean stop
    cli.py       `sim dashboard [SCENARIO] [--port N] [--host H]`

Only app.py and server.py import Panel, and nothing outside this package imports it, so the rest of the
project works without the extra. See docs/dashboard.md.
"""
