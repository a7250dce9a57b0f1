"""One task of a sweep: run one (K, sampler, seed), analyse its modes and store it.

A :class:`RunTask` is small and picklable; :func:`execute` runs it in whatever process gets it
(the sweep's own process, a joblib/loky worker, a Dask worker) and writes the run into the
sweep directory atomically, so a task may be run again after a crash or a lost worker without
leaving two copies or a half-written run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from nestmix.data.measurements import Measurements
from nestmix.errors import RunStoreError
from nestmix.evidence.bridge import bridge_record
from nestmix.evidence.check import importance_check
from nestmix.evidence.optimum import optimum_record
from nestmix.model.spec import ModelSpec
from nestmix.modes import analyse_run
from nestmix.results import RunSummary
from nestmix.runtime.backend import path_record, recorded_switches, single_threaded_blas
from nestmix.runtime.lifeline import die_with_parent
from nestmix.runtime.progress import WorkDirectoryLost, clear_progress, start_progress
from nestmix.runtime.threads import parallel_record, run_share
from nestmix.samplers import get_sampler
from nestmix.samplers.base import probe_problem
from nestmix.store.runs import RunStore

__all__ = ["FinishedTask", "RunTask", "analyse", "execute"]


@dataclass(frozen=True)
class RunTask:
    """What one worker runs.

    Attributes
    ----------
    k : int
        Number of Gaussian components.
    sampler : str
    repeat : int
        1 for the first run of (K, sampler), 2, 3, ... for the runs with other seeds.
    settings : dict
        The sampler's validated settings (execution settings such as ``pool`` included).
    seed : int
    directory : str
        The sweep directory (absolute; on a cluster, a path every worker sees).
    manifest : dict
        The run's fingerprint and description, stored with it.
    relabel : str
        Relabelling method of the mode analysis.
    sweep_id : str
        The id of the sweep that owns the directory; the run is stored only while the
        directory's manifest still names it ("" for no check).
    """

    k: int
    sampler: str
    repeat: int
    settings: dict
    seed: int
    directory: str
    manifest: dict
    relabel: str = "hungarian"
    sweep_id: str = ""

    @property
    def label(self) -> str:
        """``K=<k> <sampler>``, with ``repeat <r>`` for repeats after the first."""
        text = f"K={self.k} {self.sampler}"
        return text if self.repeat == 1 else f"{text} repeat {self.repeat}"


@dataclass(frozen=True)
class FinishedTask:
    """What :func:`execute` returns.

    Attributes
    ----------
    summary : RunSummary
        The stored run's summary.
    wall : float
        The task's own wall-clock time, mode analysis and writing included.
    """

    summary: RunSummary
    wall: float


def execute(data: Measurements, spec: ModelSpec, task: RunTask) -> FinishedTask:
    """Run ``task``, store the run (with the backend switches in effect, in its run.json) and
    its mode analysis, and return the run's summary.

    The run's likelihood kernel uses its share of the cores
    (:func:`nestmix.runtime.threads.run_share`:
    all of them once the sweep's other runs have finished) and run.json records the most threads
    it ran with (``parallel_kernel_threads``)."""
    start = time.perf_counter()
    die_with_parent()
    with single_threaded_blas():
        model = spec.build(data, task.k)
        probe_problem(model, np.random.default_rng(task.seed))
        store = RunStore(task.directory, owner=task.sweep_id or None)
        workdir = store.work_directory(task.k, task.sampler, task.repeat)
        store.check_owner()  # the sampler makes its work directory: only in our own sweep
        start_progress(workdir, k=task.k, sampler=task.sampler, repeat=task.repeat,
                       model=_model_name(spec))
        try:
            with run_share(task.directory):  # the kernel's threads: a share of the cores
                run = get_sampler(task.sampler).run(model, task.settings, task.seed,
                                                    workdir=str(workdir))
                threads = parallel_record()
        except OSError as exc:  # e.g. its checkpoint's directory deleted under it: say why
            store.check_owner()
            if isinstance(exc, WorkDirectoryLost):
                raise RunStoreError(f"{exc}; the run stopped and nothing of it was kept: run "
                                    "the same command to run it again") from exc
            raise
        finally:
            clear_progress(workdir)
        switches = {**recorded_switches(), **get_sampler(task.sampler).recorded_switches()}
        run = replace(run, backend={**switches, **path_record(model), **threads})
        _, logz_err_sim = run.logz_simulated(nsamples=200, seed=task.seed % (2**32))
        with run_share(task.directory):  # the checks' likelihood calls: the run's share too
            check = crosscheck(model, run, task.seed)
            optimum = optimum_record(model, run, task.seed)
            analysis = analyse(model, run, task.relabel, task.seed)
        summary = RunSummary.of_run(run, model.ndim, logz_err_sim, check, optimum)
        written = store.save_run(task.k, task.sampler, run,
                                 {**task.manifest, "summary": summary.to_dict()},
                                 workdir=workdir, analysis=analysis, repeat=task.repeat)
    if not written:  # the same task finished first elsewhere: report the copy that is kept
        stored = store.run_manifest(task.k, task.sampler, task.repeat)
        summary = RunSummary.from_dict(stored["summary"]) if stored else summary
    return FinishedTask(summary, time.perf_counter() - start)


def _model_name(spec: ModelSpec) -> str:
    """The covariance model, with the background when there is one (progress displays)."""
    name = str(spec.covariance)
    return name if spec.background == "none" else f"{name} + {spec.background} background"


def crosscheck(model, run, seed: int) -> dict | None:
    """The run's ln Z estimated again from its own samples (:mod:`nestmix.evidence.check`),
    with the bridge-sampling estimate under ``bridge`` (:mod:`nestmix.evidence.bridge`);
    None where there is neither. A failure is recorded, never fatal."""
    try:
        check = importance_check(model, run, np.random.default_rng(seed))
        record = None if check is None else check.to_dict()
    except Exception as exc:  # the run itself is sound: keep it and say what failed
        record = {"error": f"{type(exc).__name__}: {exc}"}
    bridge = bridge_record(model, run, seed)
    return record if bridge is None else {**(record or {}), "bridge": bridge}


def analyse(model, run, method: str, seed: int) -> tuple[dict, dict]:
    """Mode analysis of a run as (summary, arrays); a failure is recorded, never fatal."""
    try:
        analysis = analyse_run(model, run, method=method, rng=np.random.default_rng(seed))
    except Exception as exc:  # the run itself is sound: keep it and say what failed
        return {"method": method, "error": f"{type(exc).__name__}: {exc}"}, {}
    return {"method": method, **analysis.to_dict()}, analysis.arrays()
