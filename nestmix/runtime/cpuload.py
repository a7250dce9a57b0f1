"""Cores busy with other work: the machine's CPU time against this process's, over a window.

A parallel likelihood pays only on cores that are free: where another process holds a core, a
parallel region waits for the thread that shares it, and the parallel kernel ran slower than
the serial one (``benchmarks/kernel_parallel.py``). :mod:`nestmix.runtime.threads` therefore gives a
run's kernel no more threads than the cores that other work left free, measured from two
counters taken at the start and the end of a window (a few seconds):

* the machine's busy CPU time on the cores this process may run on (``/proc/stat``: the
  ``cpuN`` lines of its CPU affinity; busy is every field but ``idle`` and ``iowait``, so time
  stolen by a hypervisor counts as busy);
* this process's own CPU time (:func:`time.process_time`: all its threads).

Busy cores minus this process's cores are the cores of other work (:func:`other_busy_cores`),
which includes the other runs of the same sweep in other processes (runs in other threads of
this process count as its own: the sweep's run count shares the cores among them);
:func:`free_cores` rounds them. Where
``/proc/stat`` cannot be read (not Linux), the machine's one-minute load average stands in for
its busy cores: coarser and slower to follow, but on the safe side of a busy machine.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

__all__ = ["OTHER_WORK_TOLERANCE", "CpuSample", "available_cores", "free_cores",
           "other_busy_cores", "read_counters"]

OTHER_WORK_TOLERANCE = 0.5
"""Other work below this many cores (a shell, a sweep's parent process) leaves a core free."""
_STAT = "/proc/stat"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class CpuSample:
    """The counters at one moment.

    Attributes
    ----------
    wall : float
        :func:`time.monotonic`, seconds.
    own : float
        This process's CPU time, seconds.
    busy, total : float
        Busy and total clock ticks of the process's cores (``/proc/stat``); NaN when unknown.
    load : float
        The one-minute load average (the fallback; NaN when unknown).
    """

    wall: float
    own: float
    busy: float
    total: float
    load: float


def _cpu_ticks(cpus: set[int] | None, path: str = _STAT) -> tuple[float, float]:
    """(busy, total) clock ticks of the ``cpuN`` lines of ``cpus`` (all of them for None)."""
    busy = total = 0.0
    seen = False
    with open(path, encoding="ascii") as handle:
        for line in handle:
            if not line.startswith("cpu") or line.startswith("cpu "):
                continue
            name, *fields = line.split()
            if cpus is not None and int(name[3:]) not in cpus:
                continue
            ticks = [float(value) for value in fields[:8]]  # guest time is inside user time
            total += sum(ticks)
            busy += sum(ticks) - ticks[3] - ticks[4]  # not idle, not waiting for I/O
            seen = True
    if not seen:
        raise OSError(f"{path}: no cpu lines")
    return busy, total


def read_counters() -> CpuSample:
    """The counters now (a read of ``/proc/stat``: some tens of microseconds)."""
    wall, own = time.monotonic(), time.process_time()
    try:
        cpus: set[int] | None = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = None
    try:
        busy, total = _cpu_ticks(cpus)
    except (OSError, ValueError):
        busy = total = math.nan
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - no load average
        load = math.nan
    return CpuSample(wall, own, busy, total, load)


def other_busy_cores(before: CpuSample, after: CpuSample, cores: int) -> float:
    """Cores that work other than this process kept busy between two samples.

    Parameters
    ----------
    before, after : CpuSample
        The counters at the start and at the end of the window.
    cores : int
        Cores this process may run on (those that ``busy`` and ``total`` count).

    Returns
    -------
    float
        ``cores × Δbusy / Δtotal − Δown / Δwall``, at least 0: the machine's busy cores less
        this process's. Without ticks (no ``/proc/stat``) the load average, at most ``cores``,
        stands in for the busy cores; without either, 0 (nothing known to be busy).
    """
    wall = after.wall - before.wall
    own = (after.own - before.own) / wall if wall > 0 else 0.0
    total = after.total - before.total
    if total > 0:  # NaN compares False: the fallback
        machine = cores * (after.busy - before.busy) / total
    elif not math.isnan(after.load):
        machine = min(float(cores), after.load)
    else:
        return 0.0
    return max(0.0, machine - own)


def free_cores(cores: int, other: float, tolerance: float = OTHER_WORK_TOLERANCE) -> int:
    """Cores left to this process when other work keeps ``other`` cores busy: ``cores`` less
    ``other`` rounded (a fraction above ``tolerance`` takes a whole core), at least 1."""
    taken = max(0, math.ceil(other - tolerance))
    return max(1, int(cores) - taken)
