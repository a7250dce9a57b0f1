"""The UltraNest adapter: UltraNest's ReactiveNestedSampler, vectorised and seeded.

UltraNest (Buchner 2021, JOSS 6, 3001) draws new points from the MLFriends region, a union of
ellipsoids around the live points found by bootstrapped cross-validation, or, above
:data:`SLICE_ABOVE` dimensions and on posteriors with label copies (:func:`label_copies`), by
slice sampling in a step sampler. It is an optional extra:
``pip install 'nestmix[ultranest]'``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nestmix.errors import SamplerError
from nestmix.results import NestedRun
from nestmix.runtime.atomic import write_json_atomic
from nestmix.samplers.base import (
    NLIVE_MAX,
    LikelihoodProblem,
    SamplerAdapter,
    check_bounds,
    check_settings,
    settings_checked_before,
    warn_large_nlive,
)
from nestmix.samplers.ultranest.problem import (
    batched_functions,
    noticed_warnings,
    quiet,
    seeded_global_generator,
)

__all__ = ["SLICE_ABOVE", "UltraNestAdapter", "import_ultranest", "label_copies"]

_NUMBER = (int, float)
#: Above this many parameters the default proposal is slice sampling (UltraNest's advice:
#: MLFriends rejection sampling is efficient in few dimensions, a step sampler beyond).
SLICE_ABOVE = 10
_STEP_SAMPLERS = ("none", "slice")
_RECORD = "nestmix-ultranest.json"
# (low, high, low inclusive)
_RANGES = {
    "nlive": (2, NLIVE_MAX, True), "dlogz": (0, None, False), "dKL": (0, None, False),
    "frac_remain": (0, 1, False), "min_ess": (1, None, True), "max_ncalls": (1, None, True),
    "max_iters": (1, None, True), "max_num_improvement_loops": (-1, None, True),
    "cluster_num_live_points": (0, None, True), "nsteps": (1, None, True),
    "num_bootstraps": (1, None, True), "Lepsilon": (0, None, True),
}


def import_ultranest():
    """The ``ultranest`` module.

    Raises
    ------
    SamplerError
        Naming the extra that installs it, when it is not installed.
    """
    from nestmix.extras import ExtraMissing, require

    try:
        require("ultranest", "the ultranest sampler")
    except ExtraMissing as exc:
        raise SamplerError(str(exc)) from exc
    import ultranest

    return ultranest


class UltraNestAdapter(SamplerAdapter):
    """Run UltraNest's ``ReactiveNestedSampler`` on a problem.

    Settings
    --------
    nlive
        UltraNest's ``min_num_live_points`` (default 400, UltraNest's own): the convergence
        check's deeper runs double it (:meth:`SamplerAdapter.with_more_live_points`).
    dlogz, dKL, frac_remain, min_ess, max_ncalls, max_iters, max_num_improvement_loops,
    cluster_num_live_points, Lepsilon
        Passed to ``ReactiveNestedSampler.run`` (UltraNest's defaults: 0.5, 0.5, 0.01, 400,
        none, none, -1, 40, 0.001). A run that stops on ``max_ncalls`` or ``max_iters`` is
        not ``converged``.
    num_bootstraps
        Bootstrapped integrators behind the error of ln Z and the MLFriends region (30).
    step_sampler, nsteps
        ``"none"``: rejection sampling from the MLFriends region; ``"slice"``: UltraNest's
        ``SliceSampler`` with ``nsteps`` steps (default 2 × ndim, UltraNest's example) along
        its mixture of random directions. Left unset, "slice" above :data:`SLICE_ABOVE`
        parameters, for a mixture with exchangeable labels and K ≥ 2, or when ``nsteps`` is
        given; "none" otherwise (:meth:`resolved`).
    resume
        Execution setting (default true): continue from the points UltraNest stored in the
        run's work directory (``results/points.hdf5``), when it was made with the same
        settings and seed; otherwise the run starts over.

    Anything else is rejected. UltraNest draws from numpy's global generator: a run seeds it
    with the run's seed and puts the generator's state back afterwards. MPI is not used (a
    run is one process; nestmix spreads the runs of a sweep over cores instead).
    """

    name = "ultranest"
    defaults: ClassVar[Mapping[str, Any]] = {
        "nlive": 400, "dlogz": 0.5, "dKL": 0.5, "frac_remain": 0.01, "min_ess": 400,
        "max_num_improvement_loops": -1, "cluster_num_live_points": 40, "num_bootstraps": 30,
        "step_sampler": None, "nsteps": None, "resume": True,
    }
    valid_settings: ClassVar[Mapping[str, Any]] = {
        "nlive": int, "dlogz": _NUMBER, "dKL": _NUMBER, "frac_remain": _NUMBER,
        "min_ess": int, "max_ncalls": int, "max_iters": int,
        "max_num_improvement_loops": int, "cluster_num_live_points": int,
        "Lepsilon": _NUMBER, "num_bootstraps": int, "step_sampler": str, "nsteps": int,
        "resume": bool,
    }
    execution_settings = frozenset({"resume"})
    worker_packages = ("ultranest",)

    def default_nlive(self, ndim: int) -> int:
        """400, UltraNest's ``min_num_live_points``, whatever the dimension."""
        return int(self.defaults["nlive"])

    def validate(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults merged with ``settings``; raises SamplerError on unknown or bad ones."""
        merged = check_settings(self.name, settings, self.valid_settings, self.defaults)
        step = merged.get("step_sampler")
        if step is not None and step not in _STEP_SAMPLERS:
            raise SamplerError(f"ultranest setting 'step_sampler' must be one of "
                               f"{', '.join(_STEP_SAMPLERS)}; got {step!r}")
        if step == "none" and merged.get("nsteps") is not None:
            raise SamplerError("ultranest setting 'nsteps' is only used with step_sampler = "
                               "'slice'")
        if merged["nlive"] is None:
            merged["nlive"] = self.default_nlive(0)
        check_bounds(self.name, merged, _RANGES)
        warn_large_nlive(self.name, merged["nlive"])
        return merged

    def resolved(self, settings: Mapping[str, Any], problem: LikelihoodProblem) -> dict[str, Any]:
        """``settings`` with ``step_sampler`` and ``nsteps`` (2 × ndim with slices) filled in
        where left unset: "slice" above :data:`SLICE_ABOVE` parameters, for a mixture with
        exchangeable labels and K ≥ 2 (:func:`label_copies`), or when ``nsteps`` is set;
        "none" (MLFriends rejection sampling) otherwise."""
        out = dict(settings)
        ndim = int(problem.ndim)
        if out.get("step_sampler") is None:
            slices = ndim > SLICE_ABOVE or label_copies(problem) or out.get("nsteps")
            out["step_sampler"] = "slice" if slices else "none"
        if out["step_sampler"] == "slice" and out.get("nsteps") is None:
            out["nsteps"] = 2 * ndim
        return out

    def check_execution(self, settings: Mapping[str, Any], *, on_cluster: bool) -> None:
        """UltraNest must be installed (the optional extra)."""
        import_ultranest()

    def run(self, problem: LikelihoodProblem, settings: Mapping[str, Any], seed: int,
            workdir: str | None = None) -> NestedRun:
        """Run UltraNest on ``problem``.

        Parameters
        ----------
        problem : LikelihoodProblem
            Prior transform, log-likelihood, ``ndim`` and ``param_names``; evaluated a batch
            at a time where it can be (:func:`~nestmix.samplers.ultranest.problem.
            batched_functions`).
        settings : mapping
            UltraNest settings (validated here; see the class docstring).
        seed : int
            Seed of numpy's global generator during the run (folded into [0, 2**32)).
        workdir : str, optional
            UltraNest's ``log_dir``: it writes its points (``results/points.hdf5``), chains
            and summary there, and a later run with ``resume`` continues from the points.
            Default: no files.

        Returns
        -------
        NestedRun
            The dead points in the order UltraNest integrates them, each with the number of
            live points when it died (UltraNest's run sequence), their unit-cube coordinates,
            UltraNest's ln Z (its main integrator) and error (bootstrapped integrators and
            the remaining tail, combined). ``ncall`` includes the calls of an interrupted run
            it continued.

        Raises
        ------
        SamplerError
            If UltraNest is not installed or its output is inconsistent.
        nestmix.errors.ModelError
            If the likelihood is NaN or +inf at a point.
        """
        ultranest = import_ultranest()
        with settings_checked_before():  # the plan warned about them already
            s = self.resolved(self.validate(settings), problem)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise SamplerError(f"ultranest needs a non-negative integer seed, got {seed!r}")
        resume = "overwrite"
        warnings: tuple[str, ...] = ()
        if workdir is not None:
            base = Path(workdir).resolve()
            base.mkdir(parents=True, exist_ok=True)
            resume, warnings = _resume_mode(base, problem, s, int(seed))
        transform, loglike = batched_functions(problem)
        start = time.perf_counter()
        with seeded_global_generator(int(seed)):
            with quiet():
                sampler = ultranest.ReactiveNestedSampler(
                    list(problem.param_names), loglike, transform,
                    log_dir=None if workdir is None else str(Path(workdir).resolve()),
                    resume=resume, vectorized=True, num_bootstraps=s["num_bootstraps"])
            resumed = resume == "resume" and int(sampler.ncall) > 0
            if s["step_sampler"] == "slice":
                from ultranest.stepsampler import SliceSampler, generate_mixture_random_direction

                sampler.stepsampler = SliceSampler(
                    nsteps=s["nsteps"], generate_direction=generate_mixture_random_direction)
            try:
                with noticed_warnings() as noticed:
                    # log_interval=1: UltraNest adapts its batch of proposals when it logs,
                    # which is also every 0.1 s of wall time; logging every iteration keeps
                    # the run independent of the clock, so a seed repeats it exactly
                    results = sampler.run(**_run_arguments(s), show_status=False,
                                          viz_callback=_progress(workdir, s),
                                          log_interval=1)
            finally:
                pointstore = getattr(sampler, "pointstore", None)
                if pointstore is not None:
                    pointstore.close()
        seconds = time.perf_counter() - start
        return _nested_run(self.name, problem, s, int(seed), results, sampler.run_sequence,
                           seconds, resumed, warnings + tuple(noticed))


def _progress(workdir: str | None, s: Mapping[str, Any]) -> Any:
    """UltraNest's ``viz_callback`` (called whenever it rebuilds its region) writing the run's
    ``progress.json`` (:class:`nestmix.runtime.progress.ProgressWriter`): likelihood calls,
    iteration, ln Z and the evidence still in the live points, Δ = ln(1 + Z_remain / Z),
    against the goal ln(1 + ``frac_remain``) at which UltraNest's first pass stops; False
    (no callback) without a work directory."""
    if workdir is None:
        return False
    from nestmix.runtime.progress import ProgressWriter

    writer = ProgressWriter(workdir, "ultranest", int(s["nlive"]), stop_if_lost=True)
    goal = float(np.log1p(s["frac_remain"]))

    def callback(points: Any = None, info: Mapping[str, Any] | None = None,
                 **_: Any) -> None:
        info = info or {}
        logz, remain = info.get("logz"), info.get("logz_remain")
        delta = None
        if logz is not None and remain is not None and np.isfinite(logz):
            delta = float(np.logaddexp(0.0, remain - logz))
        writer.update(ncall=int(info.get("ncall", 0)), iteration=int(info.get("it", 0)),
                      delta_logz=delta, goal=goal,
                      logz=None if logz is None else float(logz))

    return callback


def label_copies(problem: LikelihoodProblem) -> bool:
    """Whether ``problem`` is a mixture with exchangeable labels (``order = "none"``) and
    K ≥ 2, whose posterior holds K! label copies of every mode.

    There MLFriends rejection sampling stalls: the region around live points spread over the
    copies is mostly outside the likelihood contour (galaxies K = 2: 362k calls and UltraNest's
    "Sampling from region seems inefficient"; K = 3 had not finished after 15 minutes), while
    slice steps made the K = 3 run in 435k calls (``docs/samplers.md``).
    """
    spec = getattr(problem, "spec", None)
    return getattr(spec, "order", None) == "none" and int(getattr(problem, "k", 0)) >= 2


def _run_arguments(s: Mapping[str, Any]) -> dict[str, Any]:
    """``ReactiveNestedSampler.run``'s arguments from the settings."""
    out: dict[str, Any] = {"min_num_live_points": int(s["nlive"])}
    for key in ("dlogz", "dKL", "frac_remain", "Lepsilon"):
        if s.get(key) is not None:
            out[key] = float(s[key])
    for key in ("min_ess", "max_ncalls", "max_iters", "max_num_improvement_loops",
                "cluster_num_live_points"):
        if s.get(key) is not None:
            out[key] = int(s[key])
    return out


def _nested_run(name: str, problem: LikelihoodProblem, s: Mapping[str, Any], seed: int,
                results: Mapping[str, Any], sequence: Mapping[str, Any], seconds: float,
                resumed: bool, warnings: tuple[str, ...]) -> NestedRun:
    """UltraNest's results as a NestedRun.

    ``weighted_samples`` hold the dead points in integration order with ``logw``, the log of
    each one's share of the prior volume in UltraNest's main integrator (its weight is
    ``logw + logl``); the run sequence, made by walking the same tree in the same order, holds
    the live points when each died.
    """
    weighted = results["weighted_samples"]
    logl = np.asarray(weighted["logl"], dtype=float)
    nlive = np.asarray(sequence["nlive"], dtype=int)
    if len(nlive) != len(logl) or not np.array_equal(np.asarray(sequence["logl"], dtype=float),
                                                     logl):
        raise SamplerError("UltraNest's run sequence does not match its weighted samples "
                           f"({len(nlive)} and {len(logl)} points); the run cannot be used")
    samples = np.asarray(weighted["points"], dtype=float)
    samples_u = np.asarray(weighted["upoints"], dtype=float)
    logwt = np.asarray(weighted["logw"], dtype=float) + logl
    if not (np.all(np.isfinite(samples)) and np.all(np.isfinite(logl))):
        raise SamplerError("UltraNest returned non-finite samples or log-likelihoods; the run "
                           "cannot be used")
    ncall = int(results["ncall"])
    return NestedRun(
        sampler=name,
        param_names=tuple(problem.param_names),
        samples=samples,
        logl=logl,
        logwt=logwt,
        nlive=nlive,
        logz=float(results["logz"]),
        logz_err=float(results["logzerr"]),
        ncall=ncall,
        seconds=seconds,
        seed=seed,
        settings=dict(s),
        converged=_converged(s, ncall, int(results["niter"])),
        resumed=resumed,
        warnings=warnings,
        samples_u=samples_u,
    )


def _converged(s: Mapping[str, Any], ncall: int, niter: int) -> bool:
    """False when the run stopped on ``max_ncalls`` or ``max_iters``."""
    if s.get("max_ncalls") and ncall >= s["max_ncalls"]:
        return False
    return not (s.get("max_iters") and niter >= s["max_iters"])


def _resume_mode(base: Path, problem: LikelihoodProblem, s: Mapping[str, Any],
                 seed: int) -> tuple[str, tuple[str, ...]]:
    """``"resume"`` when ``base`` holds UltraNest points of a run of this problem with these
    settings and seed (or none yet), else ``"overwrite"`` with a warning saying why; records
    what the run in ``base`` is made with."""
    record = {"param_names": list(problem.param_names), "seed": seed,
              "settings": {k: v for k, v in s.items() if k != "resume"}}
    path = base / _RECORD
    points = base / "results" / "points.hdf5"
    warnings: tuple[str, ...] = ()
    mode = "resume" if s["resume"] else "overwrite"
    if mode == "resume" and points.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = None
        if old != json.loads(json.dumps(record)):
            mode = "overwrite"
            warnings = ("the UltraNest points in the work directory belong to a run made "
                        "differently (another problem, seed or settings); the run was made "
                        "from the start",)
    if mode == "overwrite":
        for part in ("results", "chains", "info", "plots"):
            shutil.rmtree(base / part, ignore_errors=True)
    write_json_atomic(path, record)
    return mode, warnings
