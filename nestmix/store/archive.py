"""Open a finished (or partly finished) sweep directory: data, model, runs, analyses, table.

Everything downstream of the sweep (reports, plots) starts from :func:`open_sweep`, which needs
nothing but the directory: the data are stored in it (``data.npz``), the model is rebuilt from
the manifest, runs and mode analyses are read on demand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nestmix.data.measurements import Measurements
from nestmix.errors import NestmixError, RunStoreError
from nestmix.model import MixtureModel, ModelSpec
from nestmix.results import NestedRun, SweepResult
from nestmix.store.grid import load_grid, read_grid_manifest
from nestmix.store.runs import GRID_MANIFEST, RunStore, grid_refusal
from nestmix.store.summary import load_sweep, supported_runs

__all__ = ["SweepArchive", "open_sweep"]


@dataclass(frozen=True)
class SweepArchive:
    """A sweep directory opened for reading: of one model, or of several (a models × K grid).

    Attributes
    ----------
    directory : Path
    result : SweepResult
        The evidence table of the finished runs (and the K still missing); of a grid, every
        model's (:attr:`SweepResult.is_grid <nestmix.results.SweepResult.is_grid>`).
    manifest : dict
        What the sweep was made from (data fingerprint, model, samplers and settings); of a
        grid, its ``grid.json`` (each model's is in the model's own sweep, :meth:`for_model`).
    data : Measurements or None
        The sweep's data; None for a directory written before nestmix kept a copy.
    spec : ModelSpec or None
        The model specification; None when it cannot be rebuilt (see ``spec_problem``) and
        for a grid (open one of its models with :meth:`for_model`).
    spec_problem : str
        Why ``spec`` is None ("" otherwise), e.g. a custom Python component class.

    Notes
    -----
    Runs, mode analyses and models are read (or built) once, when first asked for, and kept:
    the report's figures and tables ask for the same runs many times. What is returned is
    shared between callers; runs are immutable, the analyses' dicts must not be modified.
    """

    directory: Path
    result: SweepResult
    manifest: dict
    data: Measurements | None
    spec: ModelSpec | None
    spec_problem: str = ""
    _loaded: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def _once(self, key: tuple, load: Callable[[], Any]) -> Any:
        if key not in self._loaded:
            self._loaded[key] = load()
        return self._loaded[key]

    @property
    def samplers(self) -> tuple[str, ...]:
        """Samplers with at least one finished run, sorted."""
        return self.result.samplers

    @property
    def models(self) -> tuple[str, ...]:
        """Of a grid: its models' labels, in its order (empty for a sweep of one model)."""
        return self.result.models

    def for_model(self, label: str) -> SweepArchive:
        """Of a grid: the sweep of its model ``label``, opened (:func:`open_sweep` with
        ``model``)."""
        return self._once(("for_model", label), lambda: open_sweep(self.directory, label))

    def _one_model(self) -> None:
        if (self.directory / GRID_MANIFEST).is_file():
            raise RunStoreError(grid_refusal(self.directory))

    def k_values(self, sampler: str) -> tuple[int, ...]:
        """The finished K of ``sampler``, in increasing order."""
        return tuple(sorted(row.k for row in self.result.rows if row.sampler == sampler))

    def model(self, k: int) -> MixtureModel | None:
        """The model with ``k`` Gaussian components, or None if data or spec are unavailable."""
        data, spec = self.data, self.spec
        if data is None or spec is None:
            return None
        return self._once(("model", k), lambda: spec.build(data, k))

    def repeats(self, k: int, sampler: str) -> tuple[int, ...]:
        """The finished repeats (runs with different seeds, numbered from 1) of (k, sampler)."""
        return tuple(sorted(r["repeat"] for r in self._finished(k, sampler)))

    def _finished(self, k: int, sampler: str) -> list[dict]:
        self._one_model()
        finished = self._once(("finished",), RunStore(self.directory).finished_runs)
        return [r for r in finished if r["k"] == k and r["sampler"] == sampler]

    def _repeat(self, k: int, sampler: str, repeat: int | None) -> int:
        if repeat is not None:
            return repeat
        mine = self._finished(k, sampler)
        return min(r["repeat"] for r in supported_runs(mine)[0]) if mine else 1

    def run(self, k: int, sampler: str, repeat: int | None = None) -> NestedRun:
        """The stored run of (k, sampler): repeat ``repeat``, by default the first finished
        one the evidence table's row is judged on (where the convergence check added a deeper
        run, the first of the step the evidence supports, not the runs set aside:
        :func:`nestmix.store.summary.supported_runs`)."""
        self._one_model()
        number = self._repeat(k, sampler, repeat)
        return self._once(("run", k, sampler, number),
                          lambda: RunStore(self.directory).load_run(k, sampler, number))

    def analysis(self, k: int, sampler: str,
                 repeat: int | None = None) -> tuple[dict, dict] | None:
        """The stored mode analysis of (k, sampler) as (summary, arrays), or None; repeat as
        in :meth:`run`."""
        self._one_model()
        number = self._repeat(k, sampler, repeat)
        return self._once(("analysis", k, sampler, number),
                          lambda: RunStore(self.directory).load_analysis(k, sampler, number))


def open_sweep(directory: str | Path, model: str | None = None) -> SweepArchive:
    """Open a sweep directory written by :func:`nestmix.run_sweep` or ``nestmix sweep``.

    Parameters
    ----------
    directory : str or Path
        A sweep's directory: of one model, or of several (a models × K grid).
    model : str, optional
        In a grid, the label of the model to open (``tied``, ``full+uniform``): its own sweep,
        ``directory/model=<label>`` (as ``open_sweep(directory).for_model(label)``).

    Returns
    -------
    SweepArchive
        Of a grid without ``model``: the grid's table over every model (``result.cells``);
        its runs are read through :meth:`SweepArchive.for_model`.

    Raises
    ------
    RunStoreError
        If the directory is not a nestmix sweep, or ``model`` is given for a sweep that is not
        a grid or names none of its models.
    """
    directory = Path(directory)
    if model is None and (directory / GRID_MANIFEST).is_file():
        result = load_grid(directory)
        first = next(iter(result.sweeps or {}), None)
        data = RunStore(directory / f"model={first}").load_data() if first else None
        return SweepArchive(directory=directory, result=result,
                            manifest=read_grid_manifest(directory), data=data, spec=None,
                            spec_problem=f"{directory} is a models × K grid: open one of its "
                                         "models with .for_model(label)")
    if model is not None:
        if not (directory / GRID_MANIFEST).is_file():
            raise RunStoreError(f"{directory} is not a models × K grid: open it without "
                                f"model={model!r}")
        directory = directory / f"model={model}"
        if not directory.is_dir():
            raise RunStoreError(f"{directory.parent} has no model {model!r} (no {directory.name})")
    store = RunStore(directory)
    manifest = store.manifest()
    result = load_sweep(directory)
    data = store.load_data()
    spec, problem = None, ""
    try:
        spec = ModelSpec.from_dict(manifest["model"])
    except (NestmixError, KeyError, TypeError) as exc:
        problem = f"the model cannot be rebuilt: {exc}"
    if data is None:
        problem = problem or "the sweep directory holds no copy of the data (data.npz)"
    return SweepArchive(directory=directory, result=result, manifest=manifest, data=data,
                        spec=spec, spec_problem=problem)
