"""Run a :class:`~nestmix.sweep.plan.SweepPlan`: :func:`run_sweep`.

A plan of one model is swept at the directory's root (:mod:`nestmix.sweep.driver`); a plan of
several models is a models × K grid, each model's sweep in its own ``model=<label>/`` directory
(:mod:`nestmix.sweep.grid`). Both are opened again with :func:`nestmix.open_sweep`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nestmix.results import SweepResult
from nestmix.sweep.driver import run_model_sweep
from nestmix.sweep.grid import run_grid
from nestmix.sweep.plan import SweepPlan

__all__ = ["run_sweep"]


def run_sweep(plan: SweepPlan, directory: str | Path, n_jobs: int = 1,
              progress: Callable[[str], None] | None = None,
              dask: Any = None) -> SweepResult:
    """Run (or resume) a sweep and write its summary.

    Parameters
    ----------
    plan : SweepPlan
        One model, or several (a models × K grid).
    directory : str or Path
        The sweep's directory, e.g. ``runs/galaxies``. On a Dask cluster it must be on a file
        system every worker sees under the same path.
    n_jobs : int
        Worker processes on this machine for the runs still to make (BLAS pinned to one thread
        in each). Ignored on a Dask cluster, whose workers decide.
    progress : callable, optional
        Called with a line of text whenever a run is reused, starts (on a Dask cluster: with
        the worker's address) or finishes (with its seed, log-evidence and elapsed time); a
        grid's lines start with the model's label.
    dask : str, distributed.Client or cluster, optional
        Run the tasks on this Dask cluster (a scheduler address, a connected client, or a
        cluster object such as ``LocalCluster``) instead of ``plan.dask``; ``False`` runs them
        here even if ``plan.dask`` is set.

    Returns
    -------
    SweepResult
        The evidence table (of several models: every model's rows in its ``cells``).

    Raises
    ------
    RunStoreError
        If the directory holds a sweep of the other kind or runs made differently.
    """
    if plan.is_grid:
        return run_grid(plan, directory, n_jobs=n_jobs, progress=progress, dask=dask)
    return run_model_sweep(plan, directory, n_jobs=n_jobs, progress=progress, dask=dask)
