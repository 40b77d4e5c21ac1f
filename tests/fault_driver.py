"""Run the `sim` command with a fault-injection hook, for tests/test_faults.py.

    python -c "import tests.fault_driver as d; d.main()" HOOK MARK_DIR sim-arguments...

(not `python -m`: the workers' fork server would run this module again as __main__)

HOOK:
  real     the real model, no change
  compute  the fast fake model (tests/fake_model.py), each run taking 0.2 s, so that a
           signal arrives while replicates are computing
  write    the fake model; then drawing the charts (the last part of writing a run or
           sweep folder) writes one chart and waits 60 s
  enospc   the fake model; writing the time series fails with "No space left on device"

The driver creates MARK_DIR/computing when a run starts (in the worker) and
MARK_DIR/writing when it is inside the writing phase, so a test knows when to send a signal.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from tests.fake_model import fake_run

MARK = Path(os.environ.get("SIM_FAULT_MARK", "."))


def _touch(name: str) -> None:
    (MARK / name).touch()


def slow_run(scenario, replicate, steps=None):
    """fake_run, 0.2 s per run, marking that computing has begun."""
    _touch("computing")
    time.sleep(0.2)
    return fake_run(scenario, replicate, steps)


def _hang_in_charts(run_dir, *args, **kwargs):
    charts = Path(run_dir) / "charts"
    charts.mkdir(exist_ok=True)
    (charts / "first.png").write_bytes(b"chart")
    _touch("writing")
    time.sleep(60)


def install(hook: str) -> None:
    import sim.experiments.execution as execution

    if hook == "real":
        return
    execution.MODEL = execution.ModelRef("tests.fault_driver", "slow_run" if hook == "compute" else "quick_run")
    if hook == "write":
        import sim.plots

        sim.plots.write_run_charts = _hang_in_charts
        sim.plots.write_sweep_charts = _hang_in_charts
    if hook == "enospc":
        import pyarrow.parquet as pq

        def full(self, *a, **k):
            raise OSError(28, "No space left on device")

        pq.ParquetWriter.write_table = full
        pq.write_table = lambda *a, **k: full(None)


def quick_run(scenario, replicate, steps=None):
    _touch("computing")
    return fake_run(scenario, replicate, steps)


def main() -> None:
    global MARK
    hook, mark, *argv = sys.argv[1:]
    os.environ["SIM_FAULT_MARK"] = mark  # inherited by the workers' fork server
    MARK = Path(mark)
    install(hook)
    from sim.cli import main as sim_main

    sys.exit(sim_main(argv))
