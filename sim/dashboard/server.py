"""The server of `sim dashboard`: a Bokeh server with one `Dashboard` page per browser tab.

It binds where it is told (sim.dashboard.cli refuses non-local addresses unless allowed),
accepts websocket sessions only from its own origin, warms the model up in the background,
and on Ctrl-C or SIGTERM stops and removes its work folder.
"""

from __future__ import annotations

import datetime as dt
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import panel as pn

from sim.dashboard.app import Config, Dashboard
from sim.scenario import load_scenario


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def warm_up(path: Path, run_fn: Callable | None) -> None:
    """Compile the model once in the background, so the first Run does not wait for it."""
    def run():
        try:
            from sim.experiments.execution import default_run_fn

            (run_fn or default_run_fn())(load_scenario(path), 0, steps=2)
        except Exception:  # noqa: BLE001 - the first real run reports any problem
            pass
    threading.Thread(target=run, name="sim-dashboard-warm-up", daemon=True).start()


def serve(cfg: Config, host: str, port: int, origins: list[str] | None = None, ready=print) -> int:
    """Serve the dashboard until Ctrl-C or SIGTERM; `ready(line)` gets the address line. Returns 0."""
    pn.extension(notifications=False)
    port = port or free_port(host)
    shown = f"[{host}]" if ":" in host else host
    origins = origins or [f"{shown}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    cfg.workdir.mkdir(parents=True, exist_ok=True)
    server = pn.serve(lambda: Dashboard(cfg).page(), port=port, address=host, websocket_origin=origins, show=False,
                      start=False, title="sim dashboard", verbose=False)
    warm_up(cfg.scenario, cfg.run_fn)
    ready(f"sim dashboard: {cfg.scenario} at http://{shown}:{port}/  (Ctrl-C to stop)")
    old = signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as Ctrl-C does: cleanly
    try:
        server.start()
        server.io_loop.start()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, old)
        server.stop()
        shutil.rmtree(cfg.workdir, ignore_errors=True)
    return 0


def _interrupt(*_):
    raise KeyboardInterrupt


def default_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix=f"sim-dashboard-{dt.date.today():%Y%m%d}-"))
