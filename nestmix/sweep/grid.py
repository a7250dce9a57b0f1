"""A models × K grid in one sweep: :func:`run_grid` runs a :class:`~nestmix.sweep.plan.SweepPlan`
of several models (:func:`nestmix.sweep.run.run_sweep` calls it).

Every (covariance model, background) of the grid is an ordinary sweep over K in its own
directory inside the grid's (``model=<label>/K=<k>/<sampler>/``, see :mod:`nestmix.store.grid`),
so each model resumes, repeats and runs on either sampler exactly as a single-model sweep does.
The runs of all models still to make go to one pool of workers (largest K first), so the grid
keeps every core busy; on a Dask cluster the models are submitted one after the other.

For 1-D data the covariance models collapse: ``full``, ``diag`` and ``spherical`` are all one
variance per component (one model), ``tied`` one variance shared. A 1-D grid with two of the
first three is refused in one line (run ``full`` and ``tied``), rather than running the same
model twice. At K = 1, ``full`` and ``tied`` are the same model in any dimension; the grid runs
both (each model's sweep stays complete) and the report shows them once
(:func:`nestmix.report.grid.merge_same_models`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from nestmix.results import SweepResult
from nestmix.samplers import get_sampler
from nestmix.store.grid import (
    model_directory,
    prepare_grid,
    write_grid_summary,
    write_screening,
)
from nestmix.store.lock import sweep_lock
from nestmix.store.runs import RunStore
from nestmix.store.summary import load_sweep
from nestmix.sweep.driver import (
    _check_convergence,
    _check_pool_target,
    _describe,
    prepare_runs,
    run_model_sweep,
)
from nestmix.sweep.plan import SweepPlan
from nestmix.sweep.screening import RULE, is_contender, stop_raising_k
from nestmix.sweep.tasks import RunTask, execute

__all__ = ["run_grid"]

Progress = Callable[[str], None]


def run_grid(grid: SweepPlan, directory: str | Path, n_jobs: int = 1,
             progress: Progress | None = None, dask: Any = None) -> SweepResult:
    """Run (or resume) every (model, K) of a grid and write its summary.

    Parameters
    ----------
    grid : SweepPlan
        A plan of several models.
    directory : str or Path
        The grid's directory; each model's sweep goes to ``model=<label>/`` inside it.
    n_jobs, progress, dask
        As for :func:`nestmix.sweep.run.run_sweep`; progress lines start with the model's label.

    Returns
    -------
    SweepResult

    Raises
    ------
    RunStoreError
        If the directory holds a single-model sweep, or a model's directory holds runs made
        differently.
    """
    with sweep_lock(directory, "nestmix sweep"):  # one writer per grid directory
        return _run_grid(grid, directory, n_jobs, progress, dask)


def _run_grid(grid: SweepPlan, directory: str | Path, n_jobs: int, progress: Progress | None,
              dask: Any) -> SweepResult:
    say = progress or (lambda line: None)
    target = grid.dask if dask is None else (dask or None)
    prepare_grid(directory, grid.manifest())
    todo: list[tuple[str, SweepPlan, RunTask]] = []
    for label, plan in grid.model_plans():
        store = RunStore(model_directory(directory, label))
        tasks = prepare_runs(plan, store, _prefixed(say, label))
        store.write_summary(load_sweep(store.directory))
        todo += [(label, plan, task) for task in tasks]
    result = write_grid_summary(directory)
    if not todo:
        return result
    for _, plan in grid.model_plans():
        _check_pool_target(plan, target)
    if target:  # one model after the other, each model's runs spread over the cluster
        for label, plan in grid.model_plans():
            if any(t[0] == label for t in todo):
                run_model_sweep(plan, model_directory(directory, label), n_jobs=n_jobs,
                          progress=_prefixed(say, label), dask=target)
                result = write_grid_summary(directory)
        return result
    from nestmix.sweep.local import run_local

    n_jobs = max(1, int(n_jobs))
    say(f"running up to {len(todo)} runs of {len(grid.model_plans())} models "
        f"(K = {', '.join(map(str, grid.k_values))}) on {n_jobs} "
        f"worker{'s' if n_jobs > 1 else ''}, smallest K first; a model stops at the K where "
        "it has clearly stopped gaining")
    stopped: dict[str, tuple[int, str]] = {}
    plans = dict(grid.model_plans())
    for k in sorted(grid.k_values):
        wave = [item for item in todo if item[2].k == k and item[0] not in stopped]
        # the long runs first (more parameters); the short ones fill the gaps
        wave.sort(key=lambda item: -_parameter_count(item[1], item[2].k))
        def started(i: int, wave: list[tuple[str, SweepPlan, RunTask]] = wave) -> None:
            say(f"{wave[i][0]} {wave[i][2].label}: started (seed {wave[i][2].seed})")

        for i, outcome in run_local(execute, [(p.data, p.spec, t) for _, p, t in wave],
                                    min(n_jobs, max(1, len(wave))), started):
            label, _, task = wave[i]
            store = RunStore(model_directory(directory, label))
            store.write_summary(load_sweep(store.directory))
            say(f"{label} {task.label}: {_describe(outcome.summary)}  seed {task.seed}, "
                f"{outcome.wall:.1f} s elapsed")
        result = write_grid_summary(directory)
        _screen(grid, result, k, stopped, directory, say)
    result = _record_screening(grid, directory, stopped, plans)
    if grid.escalate:  # each model's convergence check, deeper runs for the contenders only
        best = {s: result.best(s) for s in result.samplers}
        for label, plan in grid.model_plans():
            _check_convergence(plan, model_directory(directory, label), n_jobs, None,
                               _prefixed(say, label),
                               keep=lambda row: is_contender(row, best[row.sampler]))
        result = write_grid_summary(directory)
    return result


def _parameter_count(plan: SweepPlan, k: int) -> int:
    return plan.model(k).ndim


def _screen(grid: SweepPlan, result: SweepResult, k: int, stopped: dict[str, tuple[int, str]],
            directory: str | Path, say: Progress) -> None:
    """After the wave at ``k``: stop raising K for the models that need no larger K."""
    if k >= max(grid.k_values) or not result.cells:
        return
    best = {s: result.best(s) for s in result.samplers}
    for label in grid.models:
        if label in stopped:
            continue
        rows = [r.row for r in result.cells if r.model == label and r.row.k <= k]
        why = stop_raising_k(rows, grid.k_values, best)
        if why is not None:
            stopped[label] = (k, why)
            later = [kk for kk in grid.k_values if kk > k]
            say(f"{label}: K = {', '.join(map(str, later))} not run: {why}")


def _record_screening(grid: SweepPlan, directory: str | Path,
                      stopped: Mapping[str, tuple[int, str]],
                      plans: Mapping[str, SweepPlan]) -> SweepResult:
    """Write ``screening.json`` and give each stopped model's sweep the K it ran (so that its
    own report does not count the screened K as missing)."""
    screened = [(label, kk, why) for label, (k, why) in stopped.items()
                for kk in grid.k_values if kk > k]
    write_screening(directory, screened, RULE)
    for label, (k, _) in stopped.items():
        plan = replace(plans[label], k_values=tuple(kk for kk in grid.k_values if kk <= k))
        store = RunStore(model_directory(directory, label))
        store.prepare(plan.manifest(), plan.samplers, ignored={
            name: get_sampler(name).execution_settings for name in plan.samplers})
        store.write_summary(load_sweep(store.directory))
    return write_grid_summary(directory)


def _prefixed(say: Progress, label: str) -> Progress:
    return lambda line: say(f"{label} {line}")
