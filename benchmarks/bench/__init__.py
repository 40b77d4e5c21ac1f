"""Sections of the benchmark suite (benchmarks/run.py): `common` (report, machine, scenarios,
child processes), `core` (the compiled step: reference, scaling, whole run, profile, floor) and
`executor` (sim run as a user waits for it: workers, kept pool, memory, streaming, start-up,
calibration and policy search)."""
