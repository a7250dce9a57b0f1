"""Worker processes that die with the process that started them.

A sweep's workers (and the pool processes of a pooled dynesty run) are separate processes: when
their parent is killed (kill -9, an out-of-memory kill) nothing tells them, and they would keep
computing, and writing checkpoints, into a directory that a rerun is already using. Each one
asks the kernel to kill it when its parent exits (Linux's ``PR_SET_PDEATHSIG``, which works
even while it runs compiled code that holds the GIL); elsewhere a small thread checks every half
second whether its parent is still the process that started it, and when it is not, stops its
own children and exits at once.
"""

from __future__ import annotations

import os
import sys
import threading
import time

__all__ = ["WATCH_ENV", "die_with_parent", "watch_parent"]

#: Set (to the PID of their parent) in the environment of worker processes that should die
#: with it.
WATCH_ENV = "NESTMIX_DIE_WITH_PARENT"
INTERVAL = 0.5
PR_SET_PDEATHSIG = 1

_watching = False


def die_with_parent() -> None:
    """:func:`watch_parent` in a process started with :data:`WATCH_ENV` set (to the PID of
    the sweep that started it); nothing elsewhere (the sweep's own process, a Dask worker)."""
    expected = os.environ.get(WATCH_ENV, "")
    if expected.isdigit():
        # Ctrl-C signals the whole process group: the sweep answers it (one line, and it stops
        # its workers), so a worker must not print a traceback of its own
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # not the kernel's signal here: Linux sends it when the *thread* that started this
        # process exits, and loky starts workers from whichever thread submits or manages
        # them; a CI run hung when a sweep's workers were killed under a live sweep
        watch_parent(int(expected), kernel=False)


def watch_parent(parent: int | None = None, interval: float = INTERVAL,
                 kernel: bool = True) -> None:
    """Make this process die when its parent does (once per process).

    On Linux the kernel sends it SIGKILL when its parent exits (``PR_SET_PDEATHSIG``), which
    works even while this process runs compiled code holding the GIL; elsewhere a thread
    checks every ``interval`` seconds (always, with ``kernel=False``: use it where the thread
    that started this process may exit before the process that owns it). ``parent``
    (default: the parent now) is the process expected as parent: if it is gone already, this
    process exits at once.
    """
    global _watching
    if _watching:
        return
    _watching = True
    parent = os.getppid() if parent is None else parent
    if kernel and _kernel_death_signal() and os.getppid() == parent:
        return
    if os.getppid() != parent:
        _stop_children()
        os._exit(1)
    thread = threading.Thread(target=_watch, args=(parent, interval), daemon=True,
                              name="nestmix-lifeline")
    thread.start()


def _kernel_death_signal() -> bool:
    """Ask Linux for SIGKILL when the parent exits; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - no prctl
        return False


def _watch(parent: int, interval: float) -> None:
    while os.getppid() == parent:
        time.sleep(interval)
    _stop_children()
    os._exit(1)


def _stop_children() -> None:
    import multiprocessing

    for child in multiprocessing.active_children():
        child.kill()
