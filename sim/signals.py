"""Signals of the `sim` command: Ctrl-C, SIGTERM and SIGHUP raised as one KeyboardInterrupt.

Kept apart and light (no numpy, no pandas) because every command installs the handler before
anything else is imported.
"""

from __future__ import annotations


class Signalled(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP raised as a KeyboardInterrupt, so that every clean-up path
    handles them alike; `signum` gives the exit status (128 + signum)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_SIGNALLED: list[int] = []   # the signal last received by `on_signal`, until `clear_signal`


def on_signal(signum, frame) -> None:
    """Signal handler of the `sim` command: remember the signal, then raise it. Python prints and
    drops a KeyboardInterrupt raised inside a destructor or a garbage-collector callback
    ("Exception ignored in ..."); `check_signal` raises it again after the next completed run."""
    _SIGNALLED[:] = [signum]
    raise Signalled(signum)


def check_signal() -> None:
    """Raise the signal `on_signal` received, if any (see there)."""
    if _SIGNALLED:
        raise Signalled(_SIGNALLED[0])


def clear_signal() -> None:
    _SIGNALLED.clear()
