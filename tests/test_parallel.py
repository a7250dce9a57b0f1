"""Tasks on this machine's cores: one BLAS thread per worker, starts reported as they happen,
never more tasks running than workers, a failing task stops the others."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from nestmix.runtime.backend import single_threaded_blas
from nestmix.sweep.local import run_local


def blas_threads() -> tuple[str | None, int]:
    """The worker's OMP_NUM_THREADS and the largest thread count of its BLAS pools.

    OpenMP pools are not counted: numba's (the parallel likelihood kernel's) is sized by the
    run's share of the cores (``nestmix.runtime.threads``, tested in ``test_kernel_threads.py``),
    and
    a worker that ran a large-N run before may hold it at two threads."""
    import numpy  # noqa: F401 - loads the BLAS threadpoolctl inspects
    from threadpoolctl import threadpool_info

    return os.environ.get("OMP_NUM_THREADS"), max(
        (pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"),
        default=1)


def nap(seconds: float) -> tuple[int, float, float]:
    start = time.monotonic()
    time.sleep(seconds)
    return os.getpid(), start, time.monotonic()


def fail_or_finish(seconds: float, fail: bool, marker: str) -> None:
    """Sleep, then fail, or leave ``marker`` behind (only if nobody stopped the task)."""
    time.sleep(seconds)
    if fail:
        raise ValueError("this task fails")
    Path(marker).write_text("finished")


def test_workers_use_one_blas_thread():
    results = dict(run_local(blas_threads, [(), ()], n_jobs=2))
    assert results == {0: ("1", 1), 1: ("1", 1)}
    with single_threaded_blas():  # the same inside a task run in this process
        assert blas_threads()[1] == 1


def test_starts_are_reported_and_at_most_n_jobs_run_at_once():
    events: list[tuple[str, int]] = []
    out = {}
    for i, result in run_local(nap, [(0.4,)] * 5, n_jobs=2,
                               started=lambda i: events.append(("start", i))):
        events.append(("done", i))
        out[i] = result
    assert sorted(out) == [0, 1, 2, 3, 4]
    running = peak = 0
    for kind, _ in events:
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    assert peak == 2 and running == 0
    assert len({pid for pid, _, _ in out.values()}) == 2  # two worker processes
    spans = sorted((start, end) for _, start, end in out.values())
    for i, (start, _) in enumerate(spans):  # no instant with three tasks running
        assert sum(s <= start < e for s, e in spans[:i]) <= 1


def test_serial_runs_here_in_order():
    events: list[str] = []
    pairs = list(run_local(nap, [(0.0,)] * 3, n_jobs=1,
                           started=lambda i: events.append(f"start {i}")))
    assert [i for i, _ in pairs] == [0, 1, 2]
    assert {pid for _, (pid, _, _) in pairs} == {os.getpid()}
    assert events == ["start 0", "start 1", "start 2"]


def test_a_failing_task_stops_the_sweep(tmp_path):
    marker = str(tmp_path / "finished")
    with pytest.raises(ValueError, match="this task fails"):
        for _ in run_local(fail_or_finish, [(0.2, True, marker), (60.0, False, marker),
                                            (60.0, False, marker)], n_jobs=2):
            pass
    assert not Path(marker).exists()  # the 60 s task was stopped, not waited for


def test_a_dead_executor_is_noticed_rather_than_waited_for():
    """run_local checks, while it waits, that loky's executor can still deliver results (a CI run
    once hung forever on futures of an executor whose manager thread was gone)."""
    from joblib.externals.loky import get_reusable_executor

    from nestmix.sweep.local import executor_alive

    executor = get_reusable_executor(max_workers=1, reuse=False)
    assert executor.submit(abs, -3).result(timeout=60) == 3
    assert executor_alive(executor)
    executor.shutdown(wait=True)
    assert not executor_alive(executor)
