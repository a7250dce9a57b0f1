"""How many threads the likelihood kernel of a run may use: its share of the machine's cores.

At N >= :data:`PARALLEL_MIN_POINTS` points the fused likelihood kernel has a parallel variant
(:func:`nestmix.model.kernels._numba_impl.loglike_nd_parallel`) that spreads the points of one
likelihood over numba's threads. It pays when a run has cores to itself: the last, largest K of
a sweep, whose other runs have finished, or a run outside a sweep. Runs of one sweep that run at
the same time share the cores instead:

* a run outside a sweep (a plain ``get_sampler(...).run(model, ...)``) may use every core this
  process may run on (:func:`nestmix.runtime.cpuload.available_cores`);
* a run of a sweep gets ``max(1, cores // runs)`` threads (:func:`thread_budget`), where
  ``runs`` is the number of that sweep's runs running on this machine now (their
  ``progress.json`` files, :func:`nestmix.runtime.progress.read_progress`; for a models × K grid,
  the
  runs of the whole grid). The count is taken again every :data:`REEVALUATE_SECONDS` while the
  run goes, so the last run takes all cores once the others have finished, and the threads of
  the sweep's runs never add up to more than the cores;
* processes that compute a run's likelihood for it (a dynesty ``pool``, PolyChord's process or
  its MPI ranks) divide the run's share among themselves: they inherit it through
  :func:`child_environment`.

``$NESTMIX_PARALLEL_KERNEL`` (:func:`nestmix.runtime.backend.parallel_kernel_limit`) turns the
parallel
kernel off (``0``) or caps its threads. The parallel kernel returns the serial kernel's values
exactly, so none of this changes a run's result, only its speed.

Other work on the machine counts too: where another process holds a core, a parallel region
waits for the thread that shares it, and the parallel kernel was slower than the serial one
(``benchmarks/kernel_parallel.py``). At each count a run's threads are also at most the cores
that other work left free over the last window (:mod:`nestmix.runtime.cpuload`: the machine's busy
CPU
time from ``/proc/stat`` less this process's own; the first window, when a run starts, is
:data:`FIRST_WINDOW_SECONDS`). A run therefore takes the serial kernel while another process
keeps a core busy, and the parallel one again once it is free.

numba's OpenMP threads spin for a short while when they wait before they sleep
(``GOMP_SPINCOUNT`` = :data:`SPIN_COUNT` iterations, unless ``OMP_WAIT_POLICY`` or
``GOMP_SPINCOUNT`` is set already): a thread that sleeps at once (``OMP_WAIT_POLICY=passive``)
is woken too late for every likelihood call (the parallel kernel was slower than the serial one
at 10⁴ points), one that spins long (the OpenMP default) takes cores from other runs.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nestmix.runtime import cpuload
from nestmix.runtime.backend import parallel_kernel_limit
from nestmix.runtime.progress import read_progress

__all__ = ["FIRST_WINDOW_SECONDS", "PARALLEL_MIN_POINTS", "REEVALUATE_SECONDS", "SHARE_ENV",
           "SPIN_COUNT", "child_environment",
           "kernel_threads", "launch_numba_threads", "parallel_record", "run_share",
           "running_runs", "thread_budget", "threads_for"]

PARALLEL_MIN_POINTS = 10_000
"""Points from which a likelihood is computed by the parallel kernel (when threads allow)."""
REEVALUATE_SECONDS = 3.0
"""Seconds between two counts of a sweep's running runs and of the cores other work left free."""
FIRST_WINDOW_SECONDS = 0.2
"""Seconds over which a run's first count measures other work (a pause once per run)."""
SHARE_ENV = "NESTMIX_THREAD_SHARE"
"""Set by :func:`child_environment` for processes that compute a run's likelihood (internal)."""
_GRID_MANIFEST = "grid.json"  # nestmix.store.grid.GRID_MANIFEST (not imported: store is heavy)

SPIN_COUNT = "30000"
"""``GOMP_SPINCOUNT`` set by default: how long a waiting OpenMP thread spins before it sleeps."""

if "OMP_WAIT_POLICY" not in os.environ:  # the user's wait policy stands
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)  # before numba starts its threads


def thread_budget(cores: int, running: int, processes: int = 1,
                  limit: int | None = None) -> int:
    """Threads of one run's likelihood kernel in each of its processes.

    Parameters
    ----------
    cores : int
        Cores the sweep may use on this machine.
    running : int
        Runs of the sweep running on this machine now (this one included).
    processes : int
        Processes computing this run's likelihood at the same time (a pool, MPI ranks).
    limit : int, optional
        At most this many threads (``$NESTMIX_PARALLEL_KERNEL``).

    Returns
    -------
    int
        ``max(1, cores // (running * processes))``, at most ``limit``: the runs' threads never
        add up to more than ``cores`` (unless there are more runs than cores: one each).
    """
    share = max(1, int(cores) // (max(1, int(running)) * max(1, int(processes))))
    return share if limit is None else max(1, min(share, int(limit)))


def running_runs(directory: str | Path) -> int:
    """Runs of the sweep in ``directory`` (of its grid, when it is a model's directory in a
    grid) that run on this machine now; at least 1 (the caller's own run)."""
    root = Path(directory)
    if (root.parent / _GRID_MANIFEST).is_file():
        root = root.parent
    host = socket.gethostname()
    return max(1, sum(1 for fields in read_progress(root) if fields.get("host") == host))


@dataclass
class _Share:
    """Whose share of the cores this thread has: a sweep's directory (None outside a sweep),
    the processes that compute the run's likelihood together, and a limit (None: the cores)."""

    directory: str | None = None
    processes: int = 1
    limit: int | None = None


def _share_from_environment() -> _Share:
    text = os.environ.get(SHARE_ENV)
    if not text:
        return _Share()
    try:
        fields = json.loads(text)
        return _Share(fields.get("directory"), max(1, int(fields.get("processes", 1))))
    except (ValueError, TypeError, AttributeError):
        return _Share()


class _State:
    """The thread count of one thread's kernel calls, re-evaluated every REEVALUATE_SECONDS;
    the counters at the last evaluation; and the most threads the parallel kernel ran with."""

    def __init__(self, share: _Share) -> None:
        self.share = share
        self.threads = 0  # 0: not evaluated yet
        self.checked = -float("inf")
        self.sample: cpuload.CpuSample | None = None
        self.used = 0

    def evaluate(self) -> int:
        now = time.monotonic()
        if self.threads and now - self.checked < REEVALUATE_SECONDS:
            return self.threads
        self.checked = now
        limit = parallel_kernel_limit()
        if limit == 0:
            self.threads = 1
            return 1
        if self.share.limit is not None:
            limit = self.share.limit if limit is None else min(limit, self.share.limit)
        cores = cpuload.available_cores()
        running = 1 if self.share.directory is None else running_runs(self.share.directory)
        threads = min(thread_budget(cores, running, self.share.processes, limit),
                      _numba_threads())
        if threads > 1:
            threads = min(threads, self.free_cores(cores))
        else:
            self.sample = _cpu_sample()  # the next window starts now
        self.threads = threads
        return threads

    def free_cores(self, cores: int) -> int:
        """Cores that other work left free since the last evaluation (over a first window of
        FIRST_WINDOW_SECONDS at the first one)."""
        before = self.sample
        if before is None:
            before = _cpu_sample()
            time.sleep(FIRST_WINDOW_SECONDS)
        self.sample = _cpu_sample()
        return cpuload.free_cores(cores, cpuload.other_busy_cores(before, self.sample, cores))


def _cpu_sample() -> cpuload.CpuSample:
    """The CPU counters now (a function of its own: tests replace it)."""
    return cpuload.read_counters()


# numba's thread count is set per thread, and a process may run several runs in threads (a
# Dask worker): one state per thread
_LOCAL = threading.local()


def _state() -> _State:
    state = getattr(_LOCAL, "state", None)
    if state is None:
        state = _LOCAL.state = _State(_share_from_environment())
    return state


def _numba_threads() -> int:
    """The most threads numba may use in this process (``NUMBA_NUM_THREADS``)."""
    from numba import config

    return max(1, int(getattr(config, "NUMBA_NUM_THREADS", 1)))


def kernel_threads() -> int:
    """Threads the likelihood kernel may use now in this thread (numba's thread count in the
    calling thread is set to it); 1 when the parallel kernel is off."""
    threads = _state().evaluate()
    import numba

    if numba.get_num_threads() != threads:
        numba.set_num_threads(threads)
    return threads


_LAUNCHED: list[bool] = []


def launch_numba_threads() -> None:
    """Start numba's thread pool in this process (once; cheap afterwards).

    Compiled code loaded from numba's cache that contains a parallel kernel (the compiled slice
    proposals) crashes with a segmentation fault when it runs before the pool is started, even
    where it takes the serial branch: numba starts the pool only when a parallel function is
    called from Python, or its thread count asked for.
    """
    if not _LAUNCHED:
        import numba

        numba.get_num_threads()
        _LAUNCHED.append(True)


def threads_for(n_points: int, min_points: int = PARALLEL_MIN_POINTS) -> int:
    """Threads of the parallel kernel for a likelihood over ``n_points`` points, or 1 for the
    serial kernel (fewer than ``min_points`` points, one thread available, or switched off).
    A result above 1 is recorded (:func:`parallel_record`)."""
    if n_points < min_points or parallel_kernel_limit() == 0:
        return 1
    threads = kernel_threads()
    state = _state()
    if threads > 1 and threads > state.used:
        state.used = threads
    return threads


def parallel_record() -> dict[str, Any]:
    """What a run's ``run.json`` records (under ``backend``): ``parallel_kernel_threads``, the
    most threads the parallel kernel ran with in this thread during the run (0: it did not
    run)."""
    return {"parallel_kernel_threads": _state().used}


@contextmanager
def run_share(directory: str | Path | None, processes: int = 1,
              limit: int | None = None) -> Iterator[None]:
    """Within the block, this thread runs one run of the sweep in ``directory`` (None: outside
    a sweep) on ``processes`` processes, with at most ``limit`` kernel threads: the kernel's
    threads are its share of the cores, and :func:`parallel_record` starts afresh. numba's
    thread count is restored afterwards."""
    previous = getattr(_LOCAL, "state", None)
    _LOCAL.state = _State(_Share(None if directory is None else str(directory),
                                 max(1, int(processes)), limit))
    numba_before = _numba_thread_count()
    try:
        yield
    finally:
        _LOCAL.state = previous
        if numba_before is not None:
            import numba

            numba.set_num_threads(numba_before)


def _numba_thread_count() -> int | None:
    """numba's thread count in this thread, if numba is loaded (not imported for it)."""
    import sys

    numba = sys.modules.get("numba")
    return None if numba is None else int(numba.get_num_threads())


def child_environment(processes: int) -> dict[str, str]:
    """Environment entries for ``processes`` processes that compute this run's likelihood
    together (a pool, MPI ranks): they split this process's share of the cores."""
    share = _state().share
    return {SHARE_ENV: json.dumps({"directory": share.directory,
                                   "processes": share.processes * max(1, int(processes))})}
