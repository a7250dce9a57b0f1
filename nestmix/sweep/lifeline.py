"""Worker processes that die with the process that started them.

A sweep's workers (and the pool processes of a pooled dynesty run) are separate processes: when
their parent is killed (kill -9, an out-of-memory kill) nothing tells them, and they would keep
computing, and writing checkpoints, into a directory that a rerun is already using. Each one
runs a small thread that checks every half second whether its parent is still the process that
started it, and when it is not, stops its own children and exits at once.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["WATCH_ENV", "die_with_parent", "watch_parent"]

#: Set (to "1") in the environment of worker processes that should die with their parent.
WATCH_ENV = "NESTMIX_DIE_WITH_PARENT"
INTERVAL = 0.5

_watching = False


def die_with_parent() -> None:
    """:func:`watch_parent` in a process started with :data:`WATCH_ENV` set; nothing
    elsewhere (the sweep's own process, a Dask worker)."""
    if os.environ.get(WATCH_ENV) == "1":
        watch_parent()


def watch_parent(interval: float = INTERVAL) -> None:
    """Start (once per process) the thread that exits this process when its parent dies."""
    global _watching
    if _watching:
        return
    _watching = True
    parent = os.getppid()
    thread = threading.Thread(target=_watch, args=(parent, interval), daemon=True,
                              name="nestmix-lifeline")
    thread.start()


def _watch(parent: int, interval: float) -> None:
    while os.getppid() == parent:
        time.sleep(interval)
    _stop_children()
    os._exit(1)


def _stop_children() -> None:
    import multiprocessing

    for child in multiprocessing.active_children():
        child.kill()
