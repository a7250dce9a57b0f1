"""The dynesty adapter: static or dynamic nested sampling with an explicit seed."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nestmix.errors import SamplerError
from nestmix.results import NestedRun
from nestmix.samplers.base import (
    NLIVE_MAX,
    Capabilities,
    LikelihoodProblem,
    SamplerAdapter,
    check_bounds,
    check_settings,
    settings_checked_before,
    warn_large_nlive,
)
from nestmix.samplers.dynesty.dimension import for_dimension
from nestmix.samplers.dynesty.evidence_step import fast_evidence_update
from nestmix.samplers.dynesty.interrupt import interrupt_between_iterations
from nestmix.samplers.dynesty.pools import ProblemMethod, check_pool, make_token, open_pool

__all__ = ["DynestyAdapter"]

_NUMBER = (int, float)
_COMMON = {
    "nlive": int, "bound": str, "sample": str, "walks": int, "slices": int,
    "bootstrap": int, "enlarge": _NUMBER, "update_interval": _NUMBER, "facc": _NUMBER,
    "dlogz": _NUMBER, "maxiter": int, "maxcall": int, "dynamic": bool,
}
_DYNAMIC_ONLY = {
    "nlive_init": int, "nlive_batch": int, "maxbatch": int, "n_effective": int,
    "pfrac": _NUMBER, "maxiter_init": int, "maxcall_init": int,
}
# how a run is spread over cores: a pool of processes or the Dask cluster's workers ("dask"),
# and the proposals made at once (default: the pool's size)
_POOL = {"pool": (int, str), "queue_size": int}
_BOUNDS = ("none", "single", "multi", "balls", "cubes")
# (low, high, low inclusive) of every numeric setting: a budget of 0 calls, 0 slices or a
# shrinking bound would run (and be reported) as something else
_RANGES = {
    "nlive": (2, NLIVE_MAX, True), "walks": (1, None, True), "slices": (1, None, True),
    "bootstrap": (0, None, True), "enlarge": (1, None, True), "update_interval": (0, None, False),
    "facc": (0, 1, False), "dlogz": (0, None, False), "maxiter": (1, None, True),
    "maxcall": (1, None, True), "nlive_init": (2, NLIVE_MAX, True),
    "nlive_batch": (1, NLIVE_MAX, True), "maxbatch": (0, None, True),
    "n_effective": (1, None, True), "pfrac": (0, 1, True), "maxiter_init": (1, None, True),
    "maxcall_init": (1, None, True),
}
CHECKPOINT = "dynesty.save"


def checkpoint_seconds() -> float:
    """Seconds between checkpoints: ``$NESTMIX_CHECKPOINT_SECONDS``, default 60."""
    try:
        return max(0.1, float(os.environ.get("NESTMIX_CHECKPOINT_SECONDS", "60")))
    except ValueError:
        return 60.0
_SAMPLES = ("auto", "unif", "rwalk", "slice", "rslice")


class DynestyAdapter(SamplerAdapter):
    """Run dynesty's ``NestedSampler`` or ``DynamicNestedSampler``.

    Defaults are chosen for mixture posteriors by ``benchmarks/sampler_study.py`` (evidence
    error against a reference over 3 to 6 seeds, on the deconvolution problem with K = 2, 3 and
    the galaxies with K = 3): slice sampling along the axes of a single bounding ellipsoid
    (``sample="slice"``, ``bound="single"``) with 500 live points is the only setting among
    the most efficient whose error stayed within 1.2 times its reported error on every
    problem, and it is within a factor 1.5 of the most accurate per second (``rwalk``, whose
    error on the deconvolution problem was 1.7 times its reported one). dynesty's own
    ``sample="auto"`` (``unif`` below ten dimensions) took 15 to 90 times as long, or did not
    finish. Every other dynesty setting listed in ``valid_settings`` is passed through;
    anything else is rejected.

    With ``sample="slice"``, no pool and a problem whose prior and likelihood are compiled
    (:meth:`nestmix.model.MixtureModel.compiled_parts`), the proposals run in nestmix's numba
    transcription of dynesty's slice sampler (:mod:`nestmix.samplers.dynesty.compiled_slice`): the
    same run, bit for bit, without dynesty's Python cost per likelihood call.
    """

    name = "dynesty"
    defaults: ClassVar[Mapping[str, Any]] = {
        "nlive": 500, "bound": "single", "sample": "slice", "dlogz": 0.1, "dynamic": False,
    }
    valid_settings: ClassVar[Mapping[str, Any]] = {**_COMMON, **_DYNAMIC_ONLY, **_POOL}
    # where a run is computed, not what it is: left out of fingerprints
    execution_settings = frozenset({"pool", "queue_size"})
    formerly_fingerprinted = frozenset({"queue_size"})
    capabilities = Capabilities(pooled_runs=True, compiled_fast_path=True)
    worker_packages = ("dynesty",)

    def validate(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults merged with ``settings``; raises SamplerError on unknown or bad ones."""
        merged = check_settings(self.name, settings, self.valid_settings, self.defaults)
        if merged["bound"] not in _BOUNDS:
            raise SamplerError(f"dynesty setting 'bound' must be one of {', '.join(_BOUNDS)}; "
                               f"got {merged['bound']!r}")
        if merged["sample"] not in _SAMPLES:
            raise SamplerError(f"dynesty setting 'sample' must be one of "
                               f"{', '.join(_SAMPLES)}; got {merged['sample']!r}")
        if merged["nlive"] < 2:
            raise SamplerError(f"dynesty setting 'nlive' must be at least 2, got "
                               f"{merged['nlive']}")
        if merged["dlogz"] <= 0:
            raise SamplerError("dynesty setting 'dlogz' must be positive")
        check_bounds(self.name, merged, _RANGES)
        warn_large_nlive(self.name, merged["nlive"])
        _check_pool_settings(merged)
        if not merged["dynamic"]:
            extra = sorted(set(settings) & set(_DYNAMIC_ONLY))
            if extra:
                raise SamplerError(f"dynesty setting {extra[0]!r} is only used with "
                                   "dynamic = true")
        return merged

    def resolved(self, settings: Mapping[str, Any], problem: LikelihoodProblem) -> dict[str, Any]:
        """``settings`` with the slice rounds for ``problem``'s dimension filled in
        (:func:`nestmix.samplers.dynesty.dimension.for_dimension`)."""
        return for_dimension(settings, problem.ndim)

    def processes_started(self, settings: Mapping[str, Any]) -> int:
        """The ``pool`` of worker processes a run starts (1 without)."""
        pool = settings.get("pool")
        return pool if isinstance(pool, int) and not isinstance(pool, bool) and pool > 1 else 1

    def recorded_switches(self) -> dict[str, Any]:
        """``compiled_slice``: whether the slice proposals may run compiled
        (:mod:`nestmix.samplers.dynesty.switches`)."""
        from nestmix.samplers.dynesty.switches import compiled_slice_enabled

        return {"compiled_slice": compiled_slice_enabled()}

    def check_execution(self, settings: Mapping[str, Any], *, on_cluster: bool) -> None:
        """``pool = 'dask'`` spreads each run over a Dask cluster's workers: only on a cluster.
        """
        if settings.get("pool") == "dask" and not on_cluster:
            raise SamplerError(f"{self.name} setting pool = 'dask' runs each K on the Dask "
                               "cluster's workers: run the sweep on a cluster (--dask ADDRESS "
                               "or [sweep] dask), or give pool a number of processes")

    def run(self, problem: LikelihoodProblem, settings: Mapping[str, Any], seed: int,
            workdir: str | None = None) -> NestedRun:
        """Run dynesty on ``problem``.

        Parameters
        ----------
        problem : LikelihoodProblem
            Prior transform, log-likelihood, ``ndim`` and ``param_names``.
        settings : mapping
            dynesty settings (validated here).
        seed : int
            Seed of the ``numpy.random.Generator`` handed to dynesty.
        workdir : str, optional
            Directory for dynesty's checkpoint file (written every
            ``$NESTMIX_CHECKPOINT_SECONDS``, default 60 s). A run that finds a checkpoint there
            continues from it instead of starting again; the file is removed when the run ends.

        Returns
        -------
        NestedRun
        """
        try:
            import dynesty
        except ImportError as exc:  # pragma: no cover - dynesty is a hard dependency
            raise SamplerError("dynesty is not installed: pip install dynesty") from exc
        with settings_checked_before():  # the plan warned about them already
            s = self.resolved(self.validate(settings), problem)
        rstate = np.random.default_rng(seed)
        kwargs = {key: s[key] for key in ("bound", "sample", "walks", "slices", "bootstrap",
                                          "enlarge", "update_interval", "facc") if key in s}
        checkpoint = None if workdir is None else Path(workdir) / CHECKPOINT
        if checkpoint is not None:
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
        sampler_class = dynesty.DynamicNestedSampler if s["dynamic"] else dynesty.NestedSampler
        token = make_token(None if workdir is None else f"{Path(workdir).resolve()}:{seed}")
        with open_pool(s.get("pool"), token, problem) as pool:
            return self._sample(problem, s, seed, rstate, kwargs, checkpoint, sampler_class,
                                pool, token)

    def _sample(self, problem, s, seed, rstate, kwargs, checkpoint, sampler_class, pool,
                token) -> NestedRun:
        sampler, resumed = _restore(sampler_class, checkpoint, pool)
        if sampler is not None and not _same_problem(sampler, problem, s):
            checkpoint.unlink(missing_ok=True)  # another K's (or settings') checkpoint
            sampler, resumed = None, False
        if sampler is None:
            functions = (problem.log_likelihood, problem.prior_transform)
            if pool is not None:  # light stand-ins: the workers hold the problem
                functions = (ProblemMethod(token, "log_likelihood", problem),
                             ProblemMethod(token, "prior_transform", problem))
                kwargs = {**kwargs, "pool": pool, "queue_size": s.get("queue_size")}
            else:
                kwargs = _with_compiled_slice(problem, s, kwargs)
            live = None if s["dynamic"] else _batched_live_points(problem, s["nlive"], rstate)
            if live is not None:
                kwargs = {**kwargs, "live_points": live}
            sampler = sampler_class(*functions, problem.ndim, nlive=s["nlive"], rstate=rstate,
                                    **kwargs)
        saving = {} if checkpoint is None else {"checkpoint_file": str(checkpoint),
                                                "checkpoint_every": checkpoint_seconds()}
        progress = None
        if checkpoint is not None:  # live progress beside the checkpoint (nestmix.runtime.progress)
            from nestmix.runtime.progress import ProgressWriter

            progress = ProgressWriter(checkpoint.parent, self.name, s["nlive"],
                                      stop_if_lost=True)
        with interrupt_between_iterations(progress) as print_func:
            results, nlive, seconds = _run_nested(sampler, s, resumed, saving, print_func)
        ncall = int(np.sum(results["ncall"]))
        run = NestedRun(
            sampler=self.name,
            param_names=tuple(problem.param_names),
            samples=np.asarray(results["samples"]),
            logl=np.asarray(results["logl"]),
            logwt=np.asarray(results["logwt"]),
            nlive=nlive,
            logz=float(results["logz"][-1]),
            logz_err=float(results["logzerr"][-1]),
            ncall=ncall,
            seconds=seconds,
            seed=int(seed),
            settings=dict(s),
            converged=_converged(s, ncall, int(results["niter"])),
            resumed=resumed,
            samples_u=np.asarray(results["samples_u"]),
        )
        if checkpoint is not None:
            checkpoint.unlink(missing_ok=True)
        return run


def _run_nested(sampler, s: Mapping[str, Any], resumed: bool, saving: Mapping[str, Any],
                print_func) -> tuple[Any, np.ndarray, float]:
    """Run dynesty to its stopping rule; returns its results, the live points of every
    iteration and the seconds it took. ``print_func`` is called each iteration (progress and
    the deferred Ctrl-C, :mod:`nestmix.samplers.dynesty.interrupt`)."""
    start = time.perf_counter()
    with fast_evidence_update():
        results, nlive = _sample_to_the_end(sampler, s, resumed, saving, print_func)
    return results, nlive, time.perf_counter() - start


def _sample_to_the_end(sampler, s: Mapping[str, Any], resumed: bool, saving: Mapping[str, Any],
                       print_func) -> tuple[Any, np.ndarray]:
    if s["dynamic"]:
        run_kwargs = {"nlive_init": s.get("nlive_init", s["nlive"]), "dlogz_init": s["dlogz"]}
        for key in ("nlive_batch", "maxbatch", "n_effective", "maxiter", "maxcall",
                    "maxiter_init", "maxcall_init"):
            if key in s:
                run_kwargs[key] = s[key]
        if "pfrac" in s:
            run_kwargs["wt_kwargs"] = {"pfrac": s["pfrac"]}
        sampler.run_nested(resume=resumed, print_progress=True, print_func=print_func,
                           **run_kwargs, **saving)
        results = sampler.results
        nlive = np.asarray(results["samples_n"], dtype=int)
    else:
        sampler.run_nested(dlogz=s["dlogz"], maxiter=s.get("maxiter"),
                           maxcall=s.get("maxcall"), print_progress=True, print_func=print_func,
                           resume=resumed, **saving)
        results = sampler.results
        n_dead = int(results["niter"])
        n_live = int(results["nlive"])
        nlive = np.concatenate([np.full(n_dead, n_live), np.arange(n_live, 0, -1)])
    return results, nlive


def _with_compiled_slice(problem: LikelihoodProblem, s: Mapping[str, Any],
                         kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with ``sample`` set to nestmix's compiled copy of dynesty's slice sampler
    (:mod:`nestmix.samplers.dynesty.compiled_slice`: the same run, bit for bit, faster) when the
    problem's prior and likelihood are compiled; unchanged otherwise."""
    from nestmix.samplers.dynesty import compiled_slice

    if s["sample"] != "slice" or not compiled_slice.enabled():
        return kwargs
    parts_of = getattr(problem, "compiled_parts", None)
    parts = parts_of() if callable(parts_of) else None
    if parts is None:
        return kwargs
    slices = kwargs.get("slices") or 3  # dynesty's default for sample="slice"
    sampler = compiled_slice.CompiledSliceSampler(compiled=parts, slices=slices)
    return {**{k: v for k, v in kwargs.items() if k != "slices"}, "sample": sampler}


def _check_pool_settings(settings: Mapping[str, Any]) -> None:
    check_pool(settings.get("pool"))
    queue = settings.get("queue_size")
    if queue is not None:
        if queue < 1:
            raise SamplerError(f"dynesty setting 'queue_size' must be at least 1, got {queue}")
        if queue > 1 and settings.get("pool") in (None, 1):
            raise SamplerError("dynesty setting 'queue_size' > 1 needs a pool (pool = number "
                               "of processes, or 'dask')")


def _batched_live_points(problem: LikelihoodProblem, nlive: int,
                         rstate: np.random.Generator) -> list[np.ndarray] | None:
    """The initial live points, drawn and evaluated in one batch, or None.

    This is the one place where dynesty can use a batched likelihood: every later call
    evaluates a single point of a Markov chain (rwalk, slice, rslice) or a single proposal
    (unif). Only problems with ``log_likelihood_batch`` (a :class:`~nestmix.MixtureModel`) are
    batched; others are left to dynesty. Points with log-likelihood -inf stay live points with
    zero likelihood, which dynesty handles (its own start would draw replacements).
    """
    batch = getattr(problem, "log_likelihood_batch", None)
    if batch is None:
        return None
    u = rstate.random((nlive, problem.ndim))
    v = np.asarray(problem.prior_transform(u), dtype=float)
    logl = np.asarray(batch(v), dtype=float)
    if v.shape != u.shape or logl.shape != (nlive,) or not np.isfinite(logl).any():
        return None  # let dynesty start (and report) as usual
    return [u, v, logl]


def _restore(sampler_class, checkpoint: Path | None, pool=None):
    """The sampler saved in ``checkpoint`` and True, or (None, False) when there is none.

    A checkpoint that cannot be read (cut short by a crash while it was written, or from
    another dynesty version) is removed and the run starts again.
    """
    if checkpoint is None or not checkpoint.exists():
        return None, False
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a version mismatch is not worth the risk
            # a pool of another size: dynesty keeps the checkpoint's queue_size, which is fine
            warnings.filterwarnings("ignore", message="Restoring the sampler with the original")
            return sampler_class.restore(str(checkpoint), pool=pool), True
    except Exception:  # any failure to unpickle means: start afresh
        checkpoint.unlink(missing_ok=True)
        return None, False


def _same_problem(sampler, problem: LikelihoodProblem, s: Mapping[str, Any]) -> bool:
    """Whether a restored sampler was made for a problem of this dimension and live points
    (and, where ``s`` sets them, these rounds of slices: a checkpoint of an older nestmix whose
    default rounds differed starts over)."""
    ndim = getattr(sampler, "npdim", getattr(sampler, "ndim", None))
    if ndim != problem.ndim:
        return False
    internal = getattr(sampler, "internal_sampler_next", None)
    made = getattr(internal, "sampler_kwargs", {}).get("slices")
    if "slices" in s and made is not None and made != s["slices"]:
        return False
    return s["dynamic"] or getattr(sampler, "nlive", s["nlive"]) == s["nlive"]


def _converged(settings: Mapping[str, Any], ncall: int, niter: int) -> bool:
    """False when the run stopped on a call or iteration budget instead of its dlogz goal."""
    if settings.get("maxcall") and ncall >= settings["maxcall"]:
        return False
    return not (settings.get("maxiter") and niter >= settings["maxiter"])
