"""The runs of a job, for a single-model sweep or a models × K grid.

A job's runs are stored as (K, sampler) rows; a grid's are keyed ``<model>/<sampler>`` in the
sampler column (``tied+uniform/dynesty``), so the service's tables serve both without a schema
change. A coarse-to-fine grid may leave cells out (:mod:`nestmix.sweep.screening`): those runs
are *screened*, settled without being run, not missing.
"""

from __future__ import annotations

from pathlib import Path

from nestmix.store.grid import is_grid, load_grid, read_screening
from nestmix.store.runs import RunStore
from nestmix.store.summary import load_sweep
from nestmix.sweep.plan import SweepPlan

__all__ = ["finished_count", "finished_rows", "job_runs", "screened_runs"]


def job_runs(plan: SweepPlan) -> list[tuple[int, str]]:
    """(K, run key) of every run of a job's plan."""
    if plan.is_grid:
        return [(k, f"{label}/{s}") for label in plan.models for s in plan.samplers
                for k in plan.k_values]
    return [(k, s) for s in plan.samplers for k in plan.k_values]


def finished_count(directory: Path) -> int:
    """How many runs have finished in a sweep or grid directory."""
    if not is_grid(directory):
        return len(RunStore(directory).finished_runs())
    return sum(len(RunStore(sub).finished_runs())
               for sub in directory.glob("model=*") if sub.is_dir())


def finished_rows(directory: Path) -> dict[tuple[int, str], dict]:
    """The evidence row of every finished (K, run key); a grid's rows carry ``model`` and the
    grid's ln Bayes factors and P(model, K | data)."""
    if not is_grid(directory):
        return {(row.k, row.sampler): row.to_dict() for row in load_sweep(directory).rows}
    return {(r.row.k, f"{r.model}/{r.row.sampler}"): r.to_dict()
            for r in load_grid(directory).cells}


def screened_runs(directory: Path) -> frozenset[tuple[int, str]]:
    """(K, model label) of every cell a coarse-to-fine grid decided not to run (none for a
    single-model sweep); a job's run ``<label>/<sampler>`` at that K is screened."""
    if not is_grid(directory):
        return frozenset()
    return frozenset((k, model) for model, k, _ in read_screening(directory))
