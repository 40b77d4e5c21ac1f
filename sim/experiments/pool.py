"""The local process pool: started early, kept across calls, and never outliving its parent.

Worker processes are forked from a fork server that has imported the model once, so a
worker starts in milliseconds without importing pandas, Mesa or numba again. The pool is
kept for the life of the process (`pool(w, preload)`), so `compare`, `sweep`, calibration
and policy search pay the start-up once; `prestart(w, preload)` starts the fork server's
imports in the background while the caller does other work (loading, checking outputs).

Every worker dies with the process that made the pool, even when that process is killed
with SIGKILL: a watchdog thread in the worker waits on a pidfd of the parent and kills its
own process when the parent is gone, and PR_SET_PDEATHSIG covers the worker's direct parent
(the fork server). The fork server and multiprocessing's resource tracker then exit by
themselves, because their last clients are gone.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing
import os
import select
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import forkserver

from sim.outputs.atomic import pid_alive

PR_SET_PDEATHSIG = 1
_lock = threading.Lock()
_pool: tuple[tuple, ProcessPoolExecutor] | None = None


def context(preload: list[str]):
    """forkserver where available (no fork of a process holding numba threads), else spawn.

    The fork server imports this module and the `preload` modules once (only the first
    call's list counts: the server lives as long as this process).
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__, *preload])
    if threading.current_thread() is threading.main_thread():
        # Start the server with Ctrl-C ignored: it would otherwise print a traceback when
        # interrupted while importing, and its children (the workers) inherit the setting.
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            forkserver.ensure_running()
        finally:
            signal.signal(signal.SIGINT, old)
    return ctx


def prestart(preload: list[str]) -> None:
    """Start the fork server (and its imports of `preload`) now, without waiting for it."""
    with contextlib.suppress(Exception):  # a failure shows again, clearly, when the pool starts
        context(preload)


def pool(workers: int, preload: list[str]) -> ProcessPoolExecutor:
    """The process's pool of `workers` worker processes, made on first use and then reused.

    A pool of another size, or one that broke, is shut down and replaced.
    """
    global _pool
    with _lock:
        ctx = context(preload)
        key = (workers, ctx.get_start_method())
        if _pool is not None and (_pool[0] != key or getattr(_pool[1], "_broken", False)):
            _pool[1].shutdown(wait=True, cancel_futures=True)
            _pool = None
        if _pool is None:
            ex = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=worker_init,
                                     initargs=(os.getpid(),))
            _pool = (key, ex)
        return _pool[1]


def running(workers: int) -> bool:
    """True if this process keeps a pool of `workers` workers that can take runs now."""
    with _lock:
        return _pool is not None and _pool[0][0] == workers and not getattr(_pool[1], "_broken", False)


def discard(ex: ProcessPoolExecutor, kill: bool) -> None:
    """Stop using `ex`: with `kill`, its workers are terminated at once (Ctrl-C, an error)."""
    global _pool
    with _lock:
        if _pool is not None and _pool[1] is ex:
            _pool = None
    if kill:
        stop = getattr(ex, "terminate_workers", None)  # Python >= 3.14
        if stop is not None:
            stop()
        else:
            for proc in list((getattr(ex, "_processes", None) or {}).values()):
                with contextlib.suppress(Exception):
                    proc.terminate()
    ex.shutdown(wait=True, cancel_futures=True)


@atexit.register
def shutdown() -> None:
    """Shut the kept pool down (at exit, or to free its memory)."""
    global _pool
    with _lock:
        kept, _pool = _pool, None
    if kept is not None:
        kept[1].shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------- in the workers -----
def worker_init(parent: int) -> None:
    """Run in each worker at start: ignore Ctrl-C (the parent stops the workers; a
    KeyboardInterrupt inside a worker can leave the pool's queue locked) and die with `parent`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with(parent)


def die_with(parent: int) -> None:
    """Kill this process (SIGKILL) as soon as process `parent` has ended, however it ended."""
    with contextlib.suppress(Exception):  # Linux only; elsewhere the pidfd watchdog still works
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    try:
        fd = os.pidfd_open(parent)
    except ProcessLookupError:  # already gone
        os.kill(os.getpid(), signal.SIGKILL)
        return
    except (AttributeError, OSError):
        fd = None

    def watch() -> None:
        if fd is not None:
            select.select([fd], [], [])
        else:  # no pidfd (old kernel, other OS): poll
            while pid_alive(parent):
                time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
