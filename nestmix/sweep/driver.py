"""The K-sweep driver: one nested-sampling run per (K, sampler, seed), in parallel, resumable.

Each (K, sampler) run is written under ``runs/<name>/K=<k>/<sampler>/`` as soon as it finishes
(repeats with other seeds beside it, ``<sampler>.repeat<r>/``), with a fingerprint of the data,
model, priors, settings and seed. A sweep started again in the same directory reuses every
finished run that matches and runs only what is missing; a directory made from anything else is
refused (see :mod:`nestmix.store`). The runs go to worker processes on this machine
(:mod:`nestmix.sweep.local`) or to a Dask cluster (:mod:`nestmix.sweep.dask`); where they ran is not
part of any fingerprint, so a sweep started on one can be resumed on the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nestmix.errors import RunStoreError
from nestmix.results import EvidenceRow, RunSummary, SweepResult
from nestmix.samplers import get_sampler
from nestmix.store.grid import is_grid
from nestmix.store.lock import sweep_lock
from nestmix.store.runs import MANIFEST, RunStore
from nestmix.store.summary import escalation_step, judged_runs, load_sweep
from nestmix.store.verify import new_sweep_id, stored_analysis, verified
from nestmix.sweep.plan import PlannedRun, SweepPlan
from nestmix.sweep.tasks import RunTask, analyse, execute

__all__ = ["SweepPlan", "load_sweep", "prepare_runs", "run_model_sweep", "run_task"]

Progress = Callable[[str], None]


def run_model_sweep(plan: SweepPlan, directory: str | Path, n_jobs: int = 1,
                    progress: Progress | None = None, dask: Any = None) -> SweepResult:
    """Run (or resume) the sweep of a plan of one model and write its summary
    (:func:`nestmix.sweep.run.run_sweep` runs a plan of any number of models).

    Parameters
    ----------
    plan : SweepPlan
        A plan of one model.
    directory, n_jobs, progress, dask
        As for :func:`nestmix.sweep.run.run_sweep`.

    Returns
    -------
    SweepResult
    """
    _refuse_grid(directory)
    RunStore(directory).check_ours()
    with sweep_lock(directory, "nestmix sweep"):
        return _run_sweep(plan, directory, n_jobs, progress, dask)


def _run_sweep(plan: SweepPlan, directory: str | Path, n_jobs: int, progress: Progress | None,
               dask: Any) -> SweepResult:
    say = progress or (lambda line: None)
    target = plan.dask if dask is None else (dask or None)
    store = RunStore(directory, owner=new_sweep_id())
    todo = prepare_runs(plan, store, say)
    result = load_sweep(directory)
    store.write_summary(result)
    if not todo:
        return _check_convergence(plan, directory, n_jobs, target, say) or result
    _check_pool_target(plan, target)
    if target or n_jobs > 1:
        # largest K first (a run's cost grows with K): the long runs start at once and the
        # short ones fill the gaps, instead of the largest K starting last on its own
        todo.sort(key=lambda task: -task.k)
    for finished, (i, outcome) in enumerate(_execute(plan, todo, n_jobs, target, say), 1):
        result = load_sweep(directory)
        store.write_summary(result)
        task = todo[i]
        say(f"{task.label}: {_describe(outcome.summary)}  seed {task.seed}, "
            f"{outcome.wall:.1f} s elapsed  [{finished}/{len(todo)} to run done]")
    return _check_convergence(plan, directory, n_jobs, target, say) or result


def prepare_runs(plan: SweepPlan, store: RunStore, say: Progress) -> list[RunTask]:
    """Prepare the sweep's directory (or check it may be resumed), reuse the finished runs
    (re-analysing them when the relabelling method changed) and return the tasks still to run.
    """
    directory = store.directory
    _refuse_grid(directory)
    store.prepare(plan.manifest(), plan.samplers,
                  ignored={name: get_sampler(name).execution_settings for name in plan.samplers})
    store.save_data(plan.data)
    todo: list[RunTask] = []
    for repeat in range(1, plan.repeats + 1):
        for sampler in plan.samplers:
            ignored = get_sampler(sampler).execution_settings
            for k in plan.k_values:
                run = plan.run(k, sampler, repeat)
                task = run_task(run, directory, plan.relabel, store.owner or "")
                done = store.finished(k, sampler, run.fingerprints, repeat,
                                      settings=run.resolved, ignored=ignored)
                done = verified(store, k, sampler, repeat, done, say, task.label)
                if done is None:
                    todo.append(task)
                    continue
                say(f"{task.label}: reused finished run, "
                    f"{_describe(RunSummary.from_dict(done['summary']))}")
                stored = stored_analysis(store, k, sampler, repeat)
                if stored is None or stored[0].get("method") != plan.relabel:
                    loaded = store.load_run(k, sampler, repeat)
                    store.save_analysis(k, sampler, *analyse(plan.model(k), loaded, plan.relabel,
                                                             done["seed"]), repeat=repeat)
                    say(f"{task.label}: mode analysis redone with {plan.relabel!r}")
    return todo


def run_task(run: PlannedRun, directory: str | Path, relabel: str, sweep_id: str = "") -> RunTask:
    """The task that makes the planned ``run`` in the sweep ``directory``."""
    return RunTask(k=run.k, sampler=run.sampler, repeat=run.repeat, settings=dict(run.settings),
                   seed=run.seed, directory=str(Path(directory).resolve()),
                   manifest=dict(run.manifest), relabel=relabel, sweep_id=sweep_id)


def _refuse_grid(directory: str | Path) -> None:
    if is_grid(directory):
        raise RunStoreError(f"{directory} holds a models × K grid; a single-model sweep may not "
                            "be mixed into it: choose another directory with --out.")


def _check_convergence(plan: SweepPlan, directory: str | Path, n_jobs: int, target: Any,
                       say: Progress,
                       keep: Callable[[EvidenceRow], bool] | None = None) -> SweepResult | None:
    """With ``plan.escalate``, add deeper runs where ln Z may miss a mode (else forget old
    checks), to the contenders only (:func:`nestmix.sweep.screening.is_contender`): by
    default the rows that could still change the sweep's verdict against its best row of the
    same sampler; ``keep`` decides instead (a grid's contenders against the grid's best)."""
    from nestmix.store.convergence import CONVERGENCE
    from nestmix.sweep.convergence import escalate
    from nestmix.sweep.screening import is_contender

    store = RunStore(directory)
    if not plan.escalate:
        stale = Path(directory) / CONVERGENCE
        if not stale.exists():
            return None
        stale.unlink()
        result = load_sweep(directory)
        store.write_summary(result)
        return result

    def add_runs(rows: Sequence[tuple[int, str]], deeper: bool = True) -> None:
        """The next deeper run of each row (twice the deepest's nlive), or with
        ``deeper=False`` a second seed at the deepest's settings (marked ``second_seed``)."""
        done = store.finished_runs()
        tasks = []
        for k, sampler in rows:
            mine = [r for r in done if r["k"] == k and r["sampler"] == sampler]
            repeat = 1 + max(r["repeat"] for r in mine)
            step = int(deeper) + escalation_step(judged_runs(mine)[0])
            run = plan.run(k, sampler, repeat, escalation=step)
            task = run_task(run, directory, plan.relabel)
            if not deeper:
                task.manifest["second_seed"] = True
            tasks.append(task)
        for i, outcome in _execute(plan, tasks, n_jobs, target, say):
            nlive = tasks[i].manifest.get("nlive")
            say(f"{tasks[i].label}: {_describe(outcome.summary)}  seed {tasks[i].seed}"
                f"{f', nlive {nlive}' if nlive else ''} (added by the convergence check)")

    def contender(row: EvidenceRow) -> bool:
        if keep is not None:
            return keep(row)
        rows = [r for r in load_sweep(directory).rows if r.sampler == row.sampler]
        return is_contender(row, max(rows, key=lambda r: r.logZ))

    escalate(lambda: load_sweep(directory), add_runs, directory, plan.escalate, say,
             refine=contender,
             can_deepen=lambda k, sampler: plan.escalated_settings(sampler, k, 1) is not None)
    result = load_sweep(directory)
    store.write_summary(result)
    return result


def _check_pool_target(plan: SweepPlan, target: Any) -> None:
    for sampler in plan.samplers:
        get_sampler(sampler).check_execution(plan.settings_for(sampler), on_cluster=bool(target))


def _execute(plan: SweepPlan, todo: Sequence[RunTask], n_jobs: int, target: Any,
             say: Progress):
    """Yield (index in ``todo``, summary) as the runs finish, here or on a Dask cluster."""
    calls = [(task,) for task in todo]

    def started(i: int, worker: str = "") -> None:
        where = f" on {worker}" if worker else ""
        say(f"{todo[i].label}: started (seed {todo[i].seed}){where}")

    if not target:
        n_jobs = max(1, min(int(n_jobs), len(todo)))
        say(_plan_line(plan, todo, f"on {n_jobs} worker{'s' if n_jobs > 1 else ''}"))
        yield from _local(plan, calls, n_jobs, started)
        return
    from nestmix.sweep.dask import (
        check_shared_directory,
        check_worker_versions,
        cluster_description,
        connect,
        matched_packages,
        run_on_dask,
    )

    with connect(target) as client:
        check_worker_versions(client, matched_packages(plan.samplers))
        check_shared_directory(client, todo[0].directory, MANIFEST)
        say(_plan_line(plan, todo, f"on the Dask cluster at {cluster_description(client)}"))
        names = [f"K{t.k}-{t.sampler}-r{t.repeat}" for t in todo]
        yield from run_on_dask(client, execute, (plan.data, plan.spec), calls, names, started)


def _local(plan: SweepPlan, calls: list[tuple], n_jobs: int, started: Callable[[int], None]):
    from nestmix.sweep.local import run_local

    shared = (plan.data, plan.spec)
    yield from run_local(execute, [shared + call for call in calls], n_jobs, started)


def _plan_line(plan: SweepPlan, todo: Sequence[RunTask], where: str) -> str:
    parts = []
    for sampler in plan.samplers:
        mine = [t for t in todo if t.sampler == sampler]
        if mine:
            ks = ", ".join(str(k) for k in sorted({t.k for t in mine}))
            parts.append(f"K = {ks} with {sampler}")
    runs = len(todo)
    seeds = (f" ({runs} runs, up to {plan.repeats} seeds per K)" if plan.repeats > 1 else "")
    return f"running {'; '.join(parts)}{seeds} {where}"


def _describe(summary: RunSummary) -> str:
    flag = "" if summary.converged else "  (stopped early: budget reached)"
    if summary.resumed:
        flag += "  (continued from a checkpoint)"
    for warning in summary.warnings:
        flag += f"  (warning: {warning})"
    return (f"logZ = {summary.logZ:.2f} ± {summary.logZ_err:.2f}  "
            f"({summary.ncall:,} calls, {summary.seconds:.1f} s){flag}")
