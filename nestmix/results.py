"""Immutable results: one nested-sampling run, one evidence row, one sweep.

Every sampler adapter returns a :class:`NestedRun`; the sweep turns runs into
:class:`EvidenceRow` s and collects them in a :class:`SweepResult`. Each has ``to_json`` /
``from_json`` (runs also keep their arrays in a compressed ``.npz``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from nestmix.runtime.atomic import write_bytes_atomic, write_json_atomic

__all__ = ["LN_Z_KEYS", "Cluster", "EvidenceRow", "GridRow", "NestedRun", "RunSummary",
           "SweepResult", "ln_z_spelled"]

_RUN_ARRAYS = ("samples", "logl", "logwt", "nlive")


@dataclass(frozen=True)
class Cluster:
    """One mode found by a sampler's clustering (PolyChord's clusters).

    Attributes
    ----------
    index : int
        The sampler's number for the cluster (1-based for PolyChord).
    logz, logz_err : float
        Local log-evidence of the cluster (its share of the total evidence) and its error.
    samples : ndarray, shape (n, d)
        Posterior samples of the cluster, in the run's parameter order.
    weights : ndarray, shape (n,)
        Their posterior weights (not normalised).
    """

    index: int
    logz: float
    logz_err: float
    samples: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        for name in ("samples", "weights"):
            array = np.array(getattr(self, name), dtype=float)
            array.flags.writeable = False
            object.__setattr__(self, name, array)


@dataclass(frozen=True)
class NestedRun:
    """The dead points of one nested-sampling run and its evidence.

    Attributes
    ----------
    sampler : str
        Name of the sampler that made the run (``"dynesty"``, ``"polychord"``).
    param_names : tuple of str
        Names of the columns of ``samples``.
    samples : ndarray, shape (n, d)
        Dead points (and the final live points) in parameter space, in order of likelihood.
    logl : ndarray, shape (n,)
        Log-likelihood of each sample.
    logwt : ndarray, shape (n,)
        Log of each sample's unnormalised posterior weight (log L + log ΔX).
    nlive : ndarray, shape (n,)
        Number of live points when each sample died (what anesthetic needs to rebuild the run).
    logz, logz_err : float
        The sampler's log-evidence and its own error estimate.
    ncall : int
        Number of likelihood evaluations.
    seconds : float
        Wall-clock time of the run.
    seed : int or None
        Seed of the sampler's random generator.
    settings : mapping
        Sampler settings the run was made with (defaults included).
    converged : bool
        False when the run stopped on a budget (``maxcall``, ``maxiter``) before its
        convergence criterion.
    clusters : tuple of Cluster
        Modes the sampler separated itself (PolyChord's clustering); empty otherwise.
    resumed : bool
        True when the run continued from a checkpoint or resume file of an interrupted run.
    warnings : tuple of str
        What the sampler adapter noticed during the run that a user should know (e.g.
        PolyChord proposals rejected for non-finite coordinates); empty for a clean run.
    backend : mapping
        How the numbers were computed (:func:`nestmix.runtime.backend.recorded_switches`: the
        likelihood ``kernel`` and the ``parallel_kernel`` switch; the sampler's own switches,
        :meth:`nestmix.samplers.base.SamplerAdapter.recorded_switches`, e.g. dynesty's
        ``compiled_slice``; :func:`nestmix.runtime.backend.path_record`; and
        ``parallel_kernel_threads``, the most threads the parallel kernel ran with, 0 when it
        did not run); recorded by the sweep, empty for runs made otherwise or before nestmix
        recorded it.
    samples_u : ndarray, shape (n, d), or None
        The samples' coordinates in the unit cube (before the prior transform), where the
        sampler gives them (dynesty; PolyChord as derived parameters nestmix has it write);
        they let :mod:`nestmix.evidence.check` estimate ln Z again without a nested sampler.
        None for runs stored without them.

    Notes
    -----
    ``run.json`` spells the evidence ``logZ`` and ``logZ_err``, as every file nestmix writes
    does; files written with ``logz`` (before 0.1.0's layout change) are read as well.
    """

    sampler: str
    param_names: tuple[str, ...]
    samples: np.ndarray
    logl: np.ndarray
    logwt: np.ndarray
    nlive: np.ndarray
    logz: float
    logz_err: float
    ncall: int
    seconds: float
    seed: int | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    converged: bool = True
    clusters: tuple[Cluster, ...] = ()
    resumed: bool = False
    warnings: tuple[str, ...] = ()
    backend: Mapping[str, Any] = field(default_factory=dict)
    samples_u: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "clusters", tuple(self.clusters))
        object.__setattr__(self, "warnings", tuple(str(w) for w in self.warnings))
        n = len(self.logl)
        for name in _RUN_ARRAYS:
            array = np.array(getattr(self, name), dtype=float if name != "nlive" else int)
            if len(array) != n:
                raise ValueError(f"{name} has {len(array)} entries, logl has {n}")
            array.flags.writeable = False
            object.__setattr__(self, name, array)
        if self.samples.ndim != 2 or self.samples.shape[1] != len(self.param_names):
            raise ValueError("samples must have shape (n, len(param_names))")
        if self.samples_u is not None:
            cube = np.array(self.samples_u, dtype=float)
            if cube.ndim != 2 or len(cube) != n:
                raise ValueError(f"samples_u has shape {cube.shape}, expected ({n}, d)")
            cube.flags.writeable = False
            object.__setattr__(self, "samples_u", cube)

    @property
    def weights(self) -> np.ndarray:
        """Normalised posterior weights of the samples."""
        w = np.exp(self.logwt - self.logwt.max())
        return w / w.sum()

    @property
    def n_effective(self) -> float:
        """Kish effective sample size of the weighted posterior samples."""
        w = self.weights
        return float(1.0 / np.sum(w * w))

    @property
    def information(self) -> float:
        """Kullback–Leibler divergence H from prior to posterior, in nats."""
        w = self.weights
        return float(np.sum(w * self.logl) - self.logz)

    def posterior_samples(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` equally weighted posterior samples (with replacement)."""
        return self.samples[rng.choice(len(self.logl), size=n, p=self.weights)]

    def to_anesthetic(self):
        """The run as an :class:`anesthetic.NestedSamples` (prior volumes from ``nlive``)."""
        from anesthetic import NestedSamples

        order = np.argsort(self.logl, kind="stable")
        ns = NestedSamples(data=self.samples[order], columns=list(self.param_names),
                           logL=self.logl[order])
        ns["nlive"] = self.nlive[order]
        ns.set_label("nlive", r"$n_\mathrm{live}$")
        return ns

    def logz_simulated(self, nsamples: int = 200, seed: int = 0) -> tuple[float, float]:
        """Mean and standard deviation of logZ over simulated prior volumes.

        The same computation as anesthetic's ``NestedSamples.logZ(nsamples)`` after
        ``numpy.random.seed(seed)`` (each shrinkage ``t ~ U^(1/nlive)``, the trapezoid weights
        ``(X[i-1] - X[i+1]) / 2``), draw for draw: the tests compare the two to 1e-12. It is
        written out here because a sweep's worker needs only this of anesthetic, and importing
        anesthetic costs a worker 0.6–0.8 s on the critical path of a 12 s sweep
        (``benchmarks/end_to_end.py``).
        """
        order = np.argsort(self.logl, kind="stable")
        logl = self.logl[order]
        nlive = self.nlive[order].astype(float)
        log_x = np.random.RandomState(seed).random_sample((len(logl), nsamples))
        np.log(log_x, out=log_x)
        log_x /= nlive[:, None]
        np.cumsum(log_x, axis=0, out=log_x)
        log_w = np.empty_like(log_x)  # ln dX, then ln w = ln dX + ln L
        log2 = math.log(2.0)
        if len(log_x) == 1:
            log_w.fill(-log2)
        else:
            log_w[0] = np.log1p(-np.exp(log_x[1])) - log2
            log_w[-1] = log_x[-2] - log2
        if len(log_x) > 2:
            inner = log_w[1:-1]
            np.subtract(log_x[2:], log_x[:-2], out=inner)
            np.exp(inner, out=inner)
            np.negative(inner, out=inner)
            np.log1p(inner, out=inner)
            inner += log_x[:-2]
            inner -= log2
        del log_x
        log_w += logl[:, None]
        peak = log_w.max(axis=0)
        log_w -= peak
        np.exp(log_w, out=log_w)
        logz = peak + np.log(log_w.sum(axis=0))
        return float(logz.mean()), float(logz.std())

    # ------------------------------------------------------------------- I/O
    def save(self, directory: str | Path) -> None:
        """Write ``samples.npz`` and ``run.json`` into ``directory``, each atomically."""
        directory = Path(directory)
        import io

        buffer = io.BytesIO()
        arrays = {name: getattr(self, name) for name in _RUN_ARRAYS}
        if self.samples_u is not None:
            arrays["samples_u"] = self.samples_u
        for c in self.clusters:
            arrays[f"cluster_{c.index}_samples"] = c.samples
            arrays[f"cluster_{c.index}_weights"] = c.weights
        np.savez_compressed(buffer, **arrays)
        write_bytes_atomic(directory / "samples.npz", buffer.getvalue())
        meta = {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in (*_RUN_ARRAYS, "clusters", "samples_u")}
        meta["param_names"] = list(self.param_names)
        meta["settings"] = dict(self.settings)
        meta["warnings"] = list(self.warnings)
        meta["backend"] = dict(self.backend)
        meta["clusters"] = [{"index": c.index, "logZ": c.logz, "logZ_err": c.logz_err}
                            for c in self.clusters]
        write_json_atomic(directory / "run.json", ln_z_spelled(meta))

    @classmethod
    def load(cls, directory: str | Path) -> NestedRun:
        """Read a run written by :meth:`save`."""
        directory = Path(directory)
        meta = ln_z_spelled(json.loads((directory / "run.json").read_text()))
        meta["logz"], meta["logz_err"] = meta.pop("logZ"), meta.pop("logZ_err")
        # our own handle: np.load leaks its file when a truncated zip fails to open
        with open(directory / "samples.npz", "rb") as handle, np.load(handle) as arrays:
            data = {name: arrays[name] for name in _RUN_ARRAYS}
            if "samples_u" in arrays.files:
                data["samples_u"] = arrays["samples_u"]
            clusters = tuple(
                Cluster(index=c["index"], logz=c["logZ"], logz_err=c["logZ_err"],
                        samples=arrays[f"cluster_{c['index']}_samples"],
                        weights=arrays[f"cluster_{c['index']}_weights"])
                for c in meta.pop("clusters", []))
        meta["param_names"] = tuple(meta["param_names"])
        return cls(**meta, **data, clusters=clusters)


@dataclass(frozen=True)
class RunSummary:
    """What a sweep keeps of one finished run: the seam between a task, the store (the
    ``summary`` of the run's ``manifest.json``) and the evidence table.

    Attributes
    ----------
    logZ, logZ_err : float
        The sampler's log-evidence and its error.
    logZ_err_sim : float
        The error from anesthetic's simulation of the prior volumes.
    ncall : int
        Likelihood calls.
    seconds : float
        The sampler's wall-clock time.
    ndim : int
        Dimension of the parameter space.
    information : float
        KL divergence from prior to posterior (nats).
    n_effective : float
        Effective sample size of the posterior.
    seed : int
    converged : bool
        False when the run stopped on a budget before its convergence criterion.
    resumed : bool
        True when it continued from a checkpoint.
    warnings : tuple of str
        What the sampler adapter noticed.
    crosscheck : mapping or None
        ln Z estimated again by importance sampling from the run's own samples
        (:meth:`nestmix.evidence.check.ImportanceCheck.to_dict`); None where the sampler gives
        no unit-cube samples (PolyChord) or for runs made before nestmix checked them.
    optimum : mapping or None
        The optimiser's cross-check (:func:`nestmix.evidence.optimum.optimum_record`): the best
        log-likelihood the run found, an optimiser's maximum of the same model and the deficit
        when the run fell short of it by more than the threshold; None for runs made before.
    """

    logZ: float
    logZ_err: float
    logZ_err_sim: float
    ncall: int
    seconds: float
    ndim: int
    information: float
    n_effective: float
    seed: int
    converged: bool = True
    resumed: bool = False
    warnings: tuple[str, ...] = ()
    crosscheck: Mapping[str, Any] | None = None
    optimum: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "warnings", tuple(str(w) for w in self.warnings))

    @classmethod
    def of_run(cls, run: NestedRun, ndim: int, logz_err_sim: float,
               crosscheck: Mapping[str, Any] | None = None,
               optimum: Mapping[str, Any] | None = None) -> RunSummary:
        """The summary of ``run`` (``logz_err_sim`` from :meth:`NestedRun.logz_simulated`,
        ``crosscheck`` from :func:`nestmix.evidence.check.importance_check`, ``optimum`` from
        :func:`nestmix.evidence.optimum.optimum_record`)."""
        return cls(logZ=run.logz, logZ_err=run.logz_err, logZ_err_sim=logz_err_sim,
                   ncall=run.ncall, seconds=run.seconds, ndim=ndim,
                   information=run.information, n_effective=run.n_effective,
                   seed=int(run.seed) if run.seed is not None else 0,
                   converged=run.converged, resumed=run.resumed, warnings=run.warnings,
                   crosscheck=dict(crosscheck) if crosscheck is not None else None,
                   optimum=dict(optimum) if optimum is not None else None)

    def to_dict(self) -> dict:
        """JSON-able, as stored in the run's manifest."""
        out = asdict(self)
        out["warnings"] = list(self.warnings)
        return out

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> RunSummary:
        """Inverse of :meth:`to_dict`; reads the summaries of older runs too (without
        ``converged``, ``resumed`` or ``warnings``)."""
        obj = ln_z_spelled(obj)
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in obj.items() if k in names})


@dataclass(frozen=True)
class EvidenceRow:
    """One line of the evidence table: a (K, sampler) run and its comparison to the others.

    Attributes
    ----------
    k : int
        Number of Gaussian components.
    sampler : str
    logZ, logZ_err : float
        Log-evidence and the sampler's error estimate.
    logZ_err_sim : float
        Error from anesthetic's simulated prior volumes (``logZ(nsamples).std()``).
    ln_bf, ln_bf_err : float
        ln Bayes factor against the best K of the same sampler, and its error.
    p_k, p_k_err : float
        Posterior probability of K given the data (within the sampler's rows), and its error.
    ncall : int
    seconds : float
    ndim : int
        Number of sampled parameters.
    information : float
        KL divergence H from prior to posterior, in nats.
    n_effective : float
        Kish effective sample size.
    seed : int or None
    converged : bool
        False when the run stopped on a budget before its convergence criterion.
    label_copies : int or None
        Label copies (permutations of the components) the sampler visited with non-negligible
        posterior mass.
    expected_copies : int or None
        K! for an exchangeable prior, 1 when the prior orders the means.
    distinct_modes : int or None
        Genuinely different solutions found after relabelling.
    warnings : tuple of str
        Problems noticed in the run (label census far from uniform, stopped early, ...).
    repeats : int
        Runs with different seeds behind this row. With more than one, ``logZ`` is their
        inverse-variance mean and ``logZ_err`` the larger of the propagated errors and the
        scatter's standard error (:func:`nestmix.evidence.arithmetic.combine_runs`);
        ``logZ_err_sim`` is propagated the same way; ``ncall`` and ``seconds`` are totals,
        ``information`` the mean
        and ``n_effective`` the sum; ``seed`` and the mode analysis are those of the first run.
    logZ_spread : float or None
        Standard deviation of ln Z over the seeds (None for one run): compare with
        ``logZ_err_run``.
    logZ_err_run : float or None
        Mean of the runs' own errors (None for one run).
    logZ_runs, logZ_err_runs : tuple of float
        Each run's ln Z and error, in the order of ``seeds``.
    seeds : tuple of int
        The seed of each run.
    crosscheck_logZ, crosscheck_logZ_err : float or None
        ln Z estimated again by importance sampling from the runs' own samples
        (:mod:`nestmix.evidence.check`; over several seeds, the inverse-variance mean); None
        when a run has no usable check (PolyChord, or too few effective draws).
    crosscheck_z : float or None
        (``logZ`` − ``crosscheck_logZ``) / their combined error: beyond ±3 the sampler's ln Z
        (or its error bar) is off; the row then carries a warning and the convergence check
        acts on it.
    escalations : int
        Runs the convergence check added to this row (:mod:`nestmix.sweep.convergence`).
    nlive : int or None
        The live points of the runs behind the row when the check made them deeper (None: the
        sweep's settings). A row is judged on its deepest runs only.
    previous_logZ, previous_logZ_err : float or None
        The row's estimate from the runs one step shallower, which the deeper ones replaced
        (None when nothing was replaced).
    best_logl, optimum_logl : float or None
        The best point the row's runs found and an optimiser's maximum of the same model
        (:mod:`nestmix.evidence.optimum`), in ln L + ln π where the prior density is known (else
        ln L); None for runs made before the check.
    mode_deficit : float or None
        ``optimum_logl − best_logl`` when it exceeds
        :func:`nestmix.evidence.optimum.deficit_threshold`:
        the runs never found the main mode, whatever the other checks say; else None.
    """

    k: int
    sampler: str
    logZ: float
    logZ_err: float
    logZ_err_sim: float
    ln_bf: float
    ln_bf_err: float
    p_k: float
    p_k_err: float
    ncall: int
    seconds: float
    ndim: int
    information: float
    n_effective: float
    seed: int | None = None
    converged: bool = True
    label_copies: int | None = None
    expected_copies: int | None = None
    distinct_modes: int | None = None
    warnings: tuple[str, ...] = ()
    repeats: int = 1
    logZ_spread: float | None = None
    logZ_err_run: float | None = None
    logZ_runs: tuple[float, ...] = ()
    logZ_err_runs: tuple[float, ...] = ()
    seeds: tuple[int, ...] = ()
    crosscheck_logZ: float | None = None
    crosscheck_logZ_err: float | None = None
    crosscheck_z: float | None = None
    escalations: int = 0
    nlive: int | None = None
    previous_logZ: float | None = None
    previous_logZ_err: float | None = None
    best_logl: float | None = None
    optimum_logl: float | None = None
    mode_deficit: float | None = None

    @property
    def checked(self) -> bool:
        """Whether two independent checks vouch for the row: an estimate of ln Z without the
        nested sampler (bridge sampling symmetrised over the label permutations, else
        importance sampling) agrees with it within three combined errors, and its best point
        reached an optimiser's maximum.

        A row so checked has lost no posterior mass, whatever share of the K! equivalent
        relabellings its sampler visited: with exact label symmetry every relabelling has the
        same likelihood contours, so a sampler that kept to one still estimates ln Z without
        bias, and the symmetrised estimate would show any mass it missed. The label census is
        then no reason to doubt the row.
        """
        return (self.crosscheck_z is not None and abs(self.crosscheck_z) <= 3.0
                and self.best_logl is not None and self.mode_deficit is None)

    def to_dict(self) -> dict:
        """The row as a JSON-able dict."""
        out = asdict(self)
        for key in _ROW_TUPLES:
            out[key] = list(getattr(self, key))
        return out

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> EvidenceRow:
        """Inverse of :meth:`to_dict` (rows written before repeats existed included)."""
        return cls(**{**obj, **{key: tuple(obj.get(key, ())) for key in _ROW_TUPLES}})


_ROW_TUPLES = ("warnings", "logZ_runs", "logZ_err_runs", "seeds")


@dataclass(frozen=True)
class GridRow:
    """One (model, K, sampler) of a sweep of several models (a models × K grid).

    Attributes
    ----------
    model : str
        The model's label (``tied``, ``full+uniform``).
    covariance, background : str
    row : EvidenceRow
        The row of the model's own sweep (its ``ln_bf`` and ``p_k`` are within the model).
    ln_bf, ln_bf_err : float
        ln Bayes factor against the best (model, K) of the same sampler, and its error.
    p, p_err : float
        P(model, K | data) over the grid (uniform prior over the cells), and its error.
    """

    model: str
    covariance: str
    background: str
    row: EvidenceRow
    ln_bf: float
    ln_bf_err: float
    p: float
    p_err: float

    def to_dict(self) -> dict:
        """Flat JSON-able form: the model, the sweep row's fields, then the grid's own."""
        return {"model": self.model, "covariance": self.covariance,
                "background": self.background, **self.row.to_dict(),
                "ln_bf_grid": self.ln_bf, "ln_bf_grid_err": self.ln_bf_err,
                "p_model_k": self.p, "p_model_k_err": self.p_err}

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> GridRow:
        """Inverse of :meth:`to_dict`."""
        own = ("model", "covariance", "background", "ln_bf_grid", "ln_bf_grid_err",
               "p_model_k", "p_model_k_err")
        return cls(model=obj["model"], covariance=obj["covariance"],
                   background=obj["background"],
                   row=EvidenceRow.from_dict({k: v for k, v in obj.items() if k not in own}),
                   ln_bf=obj["ln_bf_grid"], ln_bf_err=obj["ln_bf_grid_err"],
                   p=obj["p_model_k"], p_err=obj["p_model_k_err"])


@dataclass(frozen=True)
class SweepResult:
    """The evidence table of a sweep over K: of one model, or of several (a models × K grid).

    A sweep of one model has its rows in ``rows``; a sweep of several models has every
    (model, K, sampler) in ``cells``, with ln Bayes factors and P(model, K | data) over the
    whole grid, and each model's own result in ``sweeps`` (``rows`` is then empty: a row
    belongs to a model). :attr:`is_grid` tells them apart.

    Attributes
    ----------
    name : str
        Name of the sweep (its directory under ``runs/``).
    rows : tuple of EvidenceRow
        One per finished (K, sampler), sorted by sampler then K (one model).
    missing : tuple of (int, str)
        (K, sampler) pairs requested but not (yet) finished (one model).
    directory : str
        Where the sweep lives.
    modes : tuple of dict
        Per finished (K, sampler): the mode analysis summary (relabelling, label census,
        distinct modes with masses, local evidences and parameter summaries, memberships).
    repeats : int
        Runs with different seeds the sweep asks for per (K, sampler).
    missing_repeats : tuple of (int, str, int)
        (K, sampler, repeat) runs asked for but not (yet) finished, for (K, sampler) pairs with
        at least one finished run (repeats are numbered from 1).
    models : tuple of str
        Several models: their labels, in the grid's order (empty for one model).
    k_values : tuple of int
        Several models: the K values the grid asks for.
    cells : tuple of GridRow
        Several models: one per finished (model, K, sampler), by sampler, model, K.
    missing_cells : tuple of (str, int, str)
        Several models: (model, K, sampler) asked for but not (yet) finished.
    sweeps : mapping or None
        Several models: the model label → that model's result.
    screened : tuple of (str, int, str)
        Several models: (model, K, why) the coarse-to-fine grid decided not to run
        (:mod:`nestmix.sweep.screening`); not missing, and said so in the report.
    """

    name: str
    rows: tuple[EvidenceRow, ...] = ()
    missing: tuple[tuple[int, str], ...] = ()
    directory: str = ""
    modes: tuple[Mapping[str, Any], ...] = ()
    repeats: int = 1
    missing_repeats: tuple[tuple[int, str, int], ...] = ()
    models: tuple[str, ...] = ()
    k_values: tuple[int, ...] = ()
    cells: tuple[GridRow, ...] = ()
    missing_cells: tuple[tuple[str, int, str], ...] = ()
    sweeps: Mapping[str, SweepResult] | None = None
    screened: tuple[tuple[str, int, str], ...] = ()

    @property
    def is_grid(self) -> bool:
        """True for the result of several models (a models × K grid)."""
        return bool(self.models)

    @property
    def samplers(self) -> tuple[str, ...]:
        """Samplers with finished rows, sorted."""
        return tuple(sorted({r.sampler for r in self.rows}
                            | {c.row.sampler for c in self.cells}))

    def best(self, sampler: str | None = None) -> EvidenceRow:
        """The row with the highest log-evidence (of one sampler, if given); of a grid, the
        row of the best cell (:meth:`best_cell`)."""
        if self.is_grid:
            return self.best_cell(sampler).row
        rows = [r for r in self.rows if sampler is None or r.sampler == sampler]
        if not rows:
            raise ValueError("the sweep has no finished runs")
        return max(rows, key=lambda r: r.logZ)

    def best_cell(self, sampler: str | None = None) -> GridRow:
        """Of a grid: the (model, K) with the highest log-evidence (of one sampler, if given)."""
        cells = [c for c in self.cells if sampler is None or c.row.sampler == sampler]
        if not cells:
            raise ValueError("the grid has no finished runs")
        return max(cells, key=lambda c: c.row.logZ)

    def to_json(self) -> dict:
        """JSON-able form, as written to ``summary.json`` (a grid's with ``"grid": true``,
        without its models' own results, which are in their directories)."""
        if self.is_grid:
            return {"name": self.name, "directory": self.directory, "grid": True,
                    "models": list(self.models), "k_values": list(self.k_values),
                    "rows": [c.to_dict() for c in self.cells],
                    "missing": [{"model": m, "k": k, "sampler": s}
                                for m, k, s in self.missing_cells],
                    "screened": [{"model": m, "k": k, "why": w} for m, k, w in self.screened]}
        return {
            "name": self.name,
            "directory": self.directory,
            "rows": [r.to_dict() for r in self.rows],
            "missing": [{"k": k, "sampler": s} for k, s in self.missing],
            "modes": [dict(m) for m in self.modes],
            "repeats": self.repeats,
            "missing_repeats": [{"k": k, "sampler": s, "repeat": r}
                                for k, s, r in self.missing_repeats],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SweepResult:
        """Inverse of :meth:`to_json` (a grid's without its models' own results)."""
        if obj.get("grid"):
            return cls(name=obj["name"], directory=obj.get("directory", ""),
                       models=tuple(obj["models"]), k_values=tuple(obj["k_values"]),
                       cells=tuple(GridRow.from_dict(r) for r in obj["rows"]),
                       missing_cells=tuple((m["model"], m["k"], m["sampler"])
                                           for m in obj.get("missing", [])),
                       screened=tuple((m["model"], m["k"], m["why"])
                                      for m in obj.get("screened", [])))
        return cls(
            name=obj["name"],
            rows=tuple(EvidenceRow.from_dict(row) for row in obj["rows"]),
            missing=tuple((m["k"], m["sampler"]) for m in obj.get("missing", [])),
            directory=obj.get("directory", ""),
            modes=tuple(ln_z_spelled(m) for m in obj.get("modes", [])),
            repeats=int(obj.get("repeats", 1)),
            missing_repeats=tuple((m["k"], m["sampler"], m["repeat"])
                                  for m in obj.get("missing_repeats", [])),
        )


LN_Z_KEYS = {"logz": "logZ", "logz_err": "logZ_err", "logz_source": "logZ_source"}
"""The spelling of ln Z in files before it was one (``logz`` in run.json and modes.json) and
the one it is now (``logZ``, as in manifest.json and summary.json)."""


def ln_z_spelled(obj: Any) -> Any:
    """``obj`` (parsed JSON) with every key spelling ln Z the old way spelled ``logZ``."""
    if isinstance(obj, Mapping):
        return {LN_Z_KEYS.get(k, k): ln_z_spelled(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [ln_z_spelled(v) for v in obj]
    return obj


def rows_by_sampler(rows: Sequence[EvidenceRow]) -> dict[str, list[EvidenceRow]]:
    """Group rows by sampler, keeping K order."""
    out: dict[str, list[EvidenceRow]] = {}
    for row in sorted(rows, key=lambda r: (r.sampler, r.k)):
        out.setdefault(row.sampler, []).append(row)
    return out
