"""SIGTERM, SLURM's preemption and time-limit signal, as a clean stop instead of a dead process.

Python's default SIGTERM handling kills the process on the spot: no ``finally`` block runs, so
every temporary an atomic write had open (a 13 GB merge, a model download) stays on disk, and a
training job loses everything since its last checkpoint. With :func:`install`, SIGTERM raises
:class:`Terminated` in the main thread instead, so the cleanup of every ``with`` block runs and the
command exits with status 143 (128 + SIGTERM, what a shell reports for a job killed by it). Code
that has a cheaper safe point than "here" (the trainer: the end of an optimizer step, where a
checkpoint can be written) defers the signal with :func:`deferred` and polls :func:`requested`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

#: exit status of a command stopped by SIGTERM
EXIT_STATUS = 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt, so that no ``except Exception``
    (a retry loop, a best-effort fallback) swallows the stop."""


_state = {"requested": False, "deferring": 0}


def _handler(signum, frame) -> None:
    _state["requested"] = True
    if not _state["deferring"]:
        raise Terminated("stopped by SIGTERM")


def install() -> None:
    """Turn SIGTERM into :class:`Terminated` in this process. Only the main thread may set a
    handler (and receives signals); called elsewhere (a command run in a thread) it does nothing."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _handler)


def requested() -> bool:
    """Whether SIGTERM has arrived (what a deferring safe point polls)."""
    return _state["requested"]


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Inside this block SIGTERM only sets :func:`requested`; the block stops at its own safe
    point. A signal that arrived inside is raised on leaving it, unless the block raised already."""
    _state["deferring"] += 1
    try:
        yield
    finally:
        _state["deferring"] -= 1
    if _state["requested"] and not _state["deferring"]:
        raise Terminated("stopped by SIGTERM")
