"""The command line's exit statuses, and stopping cleanly on a signal.

Kept apart from :mod:`thumbsel.cli` so that ``thumbsel`` can install its
signal handling before it imports anything heavy (PyAV, Arrow, the stages):
Ctrl-C or ``docker stop`` at any moment, even during start-up, unwinds
through every ``finally`` (so no temporary ``.part`` file stays) and ends
with one line and the status below.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import sys
import time
from types import FrameType
from typing import Any, NoReturn

from thumbsel.errors import Terminated

__all__ = [
    "EXIT_DAMAGED_INPUT",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "ignore_stop_signals",
    "leave",
    "raise_stop_within",
    "stop_on_sigterm",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DAMAGED_INPUT = 3
EXIT_SOME_FAILED = 4
"""``thumbsel catalog``: some titles failed (the index names them); the rest are done."""
EXIT_INTERRUPTED = 130
"""128 + SIGINT, as a shell reports a program stopped by Ctrl-C."""
EXIT_TERMINATED = 143
"""128 + SIGTERM."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"stopped by signal {signal.Signals(signum).name}")


def raise_stop_within(error: BaseException) -> None:
    """Raise the Ctrl-C or SIGTERM that ``error`` wraps, if it wraps one.

    A signal that lands while a native module initialises comes out as an
    ImportError (pybind11, as dlib uses, raises "initialization failed" from
    it); taken for a missing package, the stop would be reported as an error.
    """
    seen: set[int] = set()
    inner: BaseException | None = error
    while inner is not None and id(inner) not in seen:
        seen.add(id(inner))
        if isinstance(inner, (KeyboardInterrupt, Terminated)):
            raise inner
        inner = inner.__cause__ or inner.__context__


def leave(status: int) -> NoReturn:
    """Exit with ``status``. After a Ctrl-C or SIGTERM (which have unwound every
    ``finally`` already) the interpreter is left at once: CPython re-sends itself
    SIGINT at exit when the interrupt landed inside an extension's start-up code,
    which would turn 130 into "killed by SIGINT"."""
    if status in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status)
    sys.exit(status)


def ignore_stop_signals() -> None:
    """Once every output is written, a late Ctrl-C or SIGTERM has nothing to stop: let
    the interpreter shut down in peace rather than print a traceback from a finaliser."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


_REDELIVERY_DELAY = 0.01
"""Seconds to let a finaliser return before its lost stop is sent again."""


def _interrupt_later(signum: signal.Signals) -> None:
    time.sleep(_REDELIVERY_DELAY)
    _thread.interrupt_main(signum)


def _redeliver(unraisable: Any) -> None:
    # A signal that lands while a finaliser (a weakref callback, __del__) runs
    # raises there, where Python can only print "Exception ignored" and go on:
    # the stop would be lost. Send it again from another thread, so that it is
    # raised once the finaliser has returned, in ordinary code (should it land
    # in another finaliser, this runs again). A bare thread: threading.Thread
    # waits for its start, and the stop would land in that wait, here.
    stop = unraisable.exc_value
    if isinstance(stop, KeyboardInterrupt):
        _thread.start_new_thread(_interrupt_later, (signal.SIGINT,))
    elif isinstance(stop, Terminated):
        _thread.start_new_thread(_interrupt_later, (signal.SIGTERM,))
    else:
        sys.__unraisablehook__(unraisable)


def stop_on_sigterm() -> None:
    """Turn SIGTERM into :class:`~thumbsel.errors.Terminated` in the main thread, as Python
    already turns SIGINT into ``KeyboardInterrupt``, and make sure neither is lost in a
    finaliser."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    sys.unraisablehook = _redeliver
