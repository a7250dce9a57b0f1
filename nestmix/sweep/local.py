"""Run a sweep's tasks on this machine: in-process, or spread over worker processes.

Worker processes come from joblib's process executor (loky). At most one task per worker is
handed out at a time, so a task starts when it is submitted and the caller can report it;
workers are started with BLAS and OpenMP limited to one thread (set before they import numpy)
so ``n_jobs`` workers use ``n_jobs`` cores.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from nestmix.errors import NestmixError
from nestmix.runtime.backend import BLAS_ENV

__all__ = ["WorkerLostError", "executor_alive", "run_local"]

#: Seconds between checks that the executor can still deliver results while calls run.
HEALTH_INTERVAL = 5.0
#: Failed checks in a row before the sweep gives up on the executor.
HEALTH_FAILURES = 2


class WorkerLostError(NestmixError):
    """A worker process died without an answer (killed, out of memory)."""


#: The warnings filter loky's resource tracker starts with (see :func:`_quiet_resource_tracker`).
TRACKER_WARNINGS = ("ignore:resource_tracker:UserWarning:"
                    "joblib.externals.loky.backend.resource_tracker")


def _quiet_resource_tracker() -> None:
    """Start loky's resource tracker (unless it runs already) without its "leaked semlock"
    warning. When a sweep is killed (``kill -9``) its workers die with it and the tracker
    unlinks the semaphores they shared, which is what it is for, but it also warns about
    them, and the warning landed in the sweep's log after the sweep was gone (issue 33). The
    filter is set in the tracker's environment only."""
    from joblib.externals.loky.backend import resource_tracker

    before = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = ",".join(w for w in (before, TRACKER_WARNINGS) if w)
    try:
        resource_tracker.ensure_running()
    finally:
        if before is None:
            del os.environ["PYTHONWARNINGS"]
        else:
            os.environ["PYTHONWARNINGS"] = before


def run_local(func: Callable[..., Any], args: Sequence[tuple], n_jobs: int = 1,
              started: Callable[[int], None] | None = None) -> Iterator[tuple[int, Any]]:
    """Call ``func(*args[i])`` for every i, yielding ``(i, result)`` as each one finishes.

    Parameters
    ----------
    func : callable
        A picklable function (module level).
    args : sequence of tuple
        The arguments of each call.
    n_jobs : int
        Worker processes; 1 runs the calls here, one after the other.
    started : callable, optional
        Called with i when call i starts.

    Raises
    ------
    Exception
        Whatever a call raised; the other calls still running are stopped.
    """
    started = started or (lambda i: None)
    n_jobs = max(1, min(int(n_jobs), len(args)))
    if n_jobs == 1:
        for i, call in enumerate(args):
            started(i)
            yield i, func(*call)
        return
    from joblib.externals.loky import FIRST_COMPLETED, get_reusable_executor, wait

    from nestmix.runtime.lifeline import WATCH_ENV, die_with_parent

    env = {**BLAS_ENV, WATCH_ENV: str(os.getpid())}  # workers die with this process

    _quiet_resource_tracker()
    executor = get_reusable_executor(max_workers=n_jobs, env=env, timeout=30,
                                     initializer=die_with_parent)
    waiting = iter(enumerate(args))
    running: dict[Any, int] = {}

    def submit_next() -> None:
        for i, call in waiting:
            running[executor.submit(func, *call)] = i
            started(i)
            return

    try:
        for _ in range(n_jobs):
            submit_next()
        failures = 0
        while running:
            done, _ = wait(list(running), timeout=HEALTH_INTERVAL, return_when=FIRST_COMPLETED)
            if not done:  # a dead executor never completes its futures: do not wait forever
                failures = 0 if executor_alive(executor) else failures + 1
                if failures >= HEALTH_FAILURES:
                    raise _ExecutorLost
                continue
            for future in done:
                i = running.pop(future)
                yield i, future.result()  # reported finished before the next one starts
                submit_next()
    except BaseException as exc:
        for future in running:
            future.cancel()
        if running:  # calls still running: stop their workers rather than wait for them
            executor.shutdown(wait=False, kill_workers=True)
        if isinstance(exc, _ExecutorLost) or type(exc).__name__ in ("TerminatedWorkerError",
                                                                   "BrokenProcessPool"):
            raise WorkerLostError(
                "a worker process died (killed by a signal, or out of memory); the runs "
                "that finished are kept: run the same command to resume") from None
        raise


class _ExecutorLost(Exception):
    """The executor's manager thread is gone while calls are pending."""


def executor_alive(executor: Any) -> bool:
    """Whether a loky executor can still deliver results: it is not flagged broken and its
    manager thread (which collects results and restarts dead workers) is running.

    A CI run once hung for good with a worker defunct and no manager thread left; pending futures
    of such an executor never complete, so :func:`run_local` checks this while it waits and ends
    the sweep with the worker-lost line (finished runs are kept; a rerun resumes). The thread
    had died of loky's "A worker stopped while some jobs were given to the executor" warning,
    made an error by the test suite's warning filter; loky itself recovers from that case.
    """
    flags = getattr(executor, "_flags", None)
    if flags is not None and getattr(flags, "broken", None):
        return False
    thread = getattr(executor, "_executor_manager_thread", None)
    return thread is not None and thread.is_alive()
