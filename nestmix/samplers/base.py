"""The sampler interface: what every nested sampler behind nestmix declares and does.

An adapter is a thin layer over one nested-sampling library, a subclass of
:class:`SamplerAdapter`. It declares

- its settings schema (:attr:`~SamplerAdapter.valid_settings`, :attr:`~SamplerAdapter.defaults`),
  rejecting any other setting with the list of valid ones (:func:`check_settings`);
- its execution-only settings (:attr:`~SamplerAdapter.execution_settings`): how a run is
  executed, not what it computes, left out of the fingerprints that decide whether a finished
  run can be reused;
- its :class:`Capabilities` (a run spread over a pool of processes, over MPI processes, a
  compiled fast path);
- its own ``nestmix sweep`` options (:class:`SweepOption`) and ``nestmix`` commands;

and turns the library's output into a :class:`~nestmix.results.NestedRun`. The sweep
(:mod:`nestmix.sweep`) and the command line (:mod:`nestmix.cli`) only talk to adapters through
this interface; they name no sampler's settings. Adapters are looked up by name in
:mod:`nestmix.samplers.registry`.

Adding a sampler
----------------
UltraNest was added this way, touching only ``nestmix/samplers/ultranest/`` and the registry. In
outline, ``nestmix/samplers/<name>/adapter.py``::

    class UltraNestAdapter(SamplerAdapter):
        name = "ultranest"
        defaults = {"nlive": 400, "dlogz": 0.5, "resume": True}
        valid_settings = {"nlive": int, "dlogz": (int, float), "resume": bool}
        execution_settings = frozenset({"resume"})   # not part of any fingerprint
        worker_packages = ("ultranest",)             # a Dask worker must run this version

        def validate(self, settings):
            return check_settings(self.name, settings, self.valid_settings, self.defaults)

        def default_nlive(self, ndim):               # live points where "nlive" is unset
            return 400

        def run(self, problem, settings, seed, workdir=None):
            import ultranest  # ImportError -> SamplerError naming the extra to install

            s = self.validate(settings)
            sampler = ultranest.ReactiveNestedSampler(
                list(problem.param_names), problem.log_likelihood, problem.prior_transform,
                log_dir=workdir, resume="resume" if s["resume"] else "overwrite")
            result = sampler.run(min_num_live_points=s["nlive"], dlogz=s["dlogz"])
            return NestedRun(sampler=self.name, ...)  # dead points, weights, logz from result

Live points are part of the contract: every adapter accepts the setting ``nlive`` (mapped onto
its library's own name, as ``min_num_live_points`` above), says how many a run uses where it is
unset (:meth:`SamplerAdapter.default_nlive`), and :meth:`SamplerAdapter.with_more_live_points`
is how the convergence check asks for a deeper run (``nlive`` times a factor by default; an
adapter whose deeper runs need more than that overrides it, and one whose sampler cannot make a
deeper run returns None: the check then marks the row without adding a run).

``nestmix/samplers/registry.py``: one line in ``REGISTRY``,
``"ultranest": "nestmix.samplers.ultranest.adapter:UltraNestAdapter"``. Nothing else changes:
``[sweep] sampler = "ultranest"`` and ``[sweep.ultranest]`` settings are validated by the
adapter, fingerprinted without its execution settings, and its runs stored, compared and
reported like the others. ``tests/test_sampler_contract.py`` runs the contract over every
registered sampler.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from nestmix.errors import ModelError, SamplerError

if TYPE_CHECKING:
    import argparse

    from nestmix.results import NestedRun

__all__ = ["Capabilities", "LikelihoodProblem", "SamplerAdapter", "SweepOption",
           "check_bounds", "check_settings", "probe_problem",
           "settings_checked_before", "warn_large_nlive"]


class LikelihoodProblem(Protocol):
    """What a sampler needs: a prior transform from the unit cube and a log-likelihood."""

    ndim: int
    param_names: tuple[str, ...]

    def prior_transform(self, u: np.ndarray) -> np.ndarray: ...

    def log_likelihood(self, theta: np.ndarray) -> float: ...


@dataclass(frozen=True)
class Capabilities:
    """What a sampler can do beyond one run in one process.

    Attributes
    ----------
    pooled_runs : bool
        One run can be spread over a pool of processes (or a Dask cluster's workers).
    mpi : bool
        One run can be made by several MPI processes.
    compiled_fast_path : bool
        The sampler's proposals can run in compiled code when the problem's prior and
        likelihood are compiled (:meth:`nestmix.model.MixtureModel.compiled_parts`).
    """

    pooled_runs: bool = False
    mpi: bool = False
    compiled_fast_path: bool = False


@dataclass(frozen=True)
class SweepOption:
    """A ``nestmix sweep`` option that sets one integer setting of one sampler for a sweep.

    Attributes
    ----------
    flag : str
        The option, e.g. ``--mpi``.
    setting : str
        The sampler setting it sets.
    metavar, help : str
        As shown by ``nestmix sweep --help``.
    purpose : str
        What it does, for the error when the sweep does not run this sampler.
    minimum : int
        Smallest value accepted.
    too_small : str
        The error for a smaller value (followed by ``, got <value>``).
    """

    flag: str
    setting: str
    metavar: str
    help: str
    purpose: str
    minimum: int = 1
    too_small: str = "must be a positive integer"


class SamplerAdapter:
    """A nested sampler behind nestmix's interface (subclass it; see the module docstring).

    Attributes
    ----------
    name : str
        The name it is registered under.
    defaults : mapping
        Default settings, overridden by the user's.
    valid_settings : mapping
        Every setting it accepts and its type(s), for :func:`check_settings`.
    execution_settings : frozenset of str
        Settings that choose how a run is executed, not what it computes (a process count,
        a checkpoint policy, log verbosity): left out of run fingerprints and of the sweep's
        manifest, so changing them reuses and resumes finished runs.
    formerly_fingerprinted : frozenset of str
        Execution settings that nestmix up to 0.1.0 (d39e648) still put into fingerprints:
        a run stored with them is recognised by its old fingerprint too, so existing sweep
        directories keep resuming.
    capabilities : Capabilities
    sweep_options : tuple of SweepOption
        Its own ``nestmix sweep`` options.
    relative_calls : float
        Likelihood calls per live point relative to dynesty's default sampling, for the cost
        estimate before a sweep (:func:`nestmix.sweep.cost.expected_calls`); 1 where not
        measured.
    worker_packages : tuple of str
        The packages (import names) its runs compute with, beyond nestmix, numpy and scipy: a
        Dask worker must import the same versions as the machine that starts the sweep
        (:func:`nestmix.sweep.dask.matched_packages`), else the sweep is refused.
    """

    name: ClassVar[str]
    defaults: ClassVar[Mapping[str, Any]] = {}
    valid_settings: ClassVar[Mapping[str, Any]] = {}
    execution_settings: ClassVar[frozenset[str]] = frozenset()
    formerly_fingerprinted: ClassVar[frozenset[str]] = frozenset()
    capabilities: ClassVar[Capabilities] = Capabilities()
    sweep_options: ClassVar[tuple[SweepOption, ...]] = ()
    relative_calls: ClassVar[float] = 1.0
    worker_packages: ClassVar[tuple[str, ...]] = ()

    def validate(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults merged with ``settings``; raises SamplerError on unknown or bad ones."""
        raise NotImplementedError

    def run(self, problem: LikelihoodProblem, settings: Mapping[str, Any], seed: int,
            workdir: str | None = None) -> NestedRun:
        """Run the sampler on ``problem`` and return its dead points and evidence."""
        raise NotImplementedError

    def resolved(self, settings: Mapping[str, Any], problem: LikelihoodProblem) -> dict[str, Any]:
        """Validated ``settings`` with the defaults that depend on ``problem`` (its dimension,
        its labels) filled in: exactly what a run of ``problem`` uses.

        Run fingerprints are made of these, so a finished run is reused only by a sweep whose
        runs would use the same settings, also when a default rule changes between nestmix
        versions (:meth:`nestmix.sweep.plan.SweepPlan.run_fingerprints`). The base class has
        no such defaults: a copy.
        """
        return dict(settings)

    def fingerprinted(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """``settings`` without the :attr:`execution_settings`: what fingerprints include."""
        return {k: v for k, v in settings.items() if k not in self.execution_settings}

    def formerly_fingerprinted_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """``settings`` as nestmix up to 0.1.0 fingerprinted them (see
        :attr:`formerly_fingerprinted`)."""
        return {k: v for k, v in settings.items()
                if k not in self.execution_settings or k in self.formerly_fingerprinted}

    def default_nlive(self, ndim: int) -> int:
        """Live points of a run in ``ndim`` dimensions whose settings leave ``nlive`` unset."""
        return 500

    def with_more_live_points(self, settings: Mapping[str, Any], ndim: int,
                              factor: int) -> dict[str, Any] | None:
        """``settings`` with ``factor`` times the live points (at most :data:`NLIVE_MAX`):
        how the convergence check makes a deeper run of a row it does not trust
        (:mod:`nestmix.sweep.convergence`). A dynamic run's initial live points grow too.

        An adapter whose sampler cannot make a deeper run returns None: the convergence check
        then adds none and says so in the row's note (the row is still marked not converged).
        """
        out = dict(settings)
        nlive = out.get("nlive")
        out["nlive"] = int(min(NLIVE_MAX, factor * (nlive or self.default_nlive(ndim))))
        if out.get("nlive_init") is not None:
            out["nlive_init"] = int(min(NLIVE_MAX, factor * out["nlive_init"]))
        return out

    def processes_per_run(self, settings: Mapping[str, Any]) -> int:
        """Cores one run with ``settings`` occupies, for the default number of workers."""
        return 1

    def processes_started(self, settings: Mapping[str, Any]) -> int:
        """Processes one run with ``settings`` starts (its pool or MPI ranks included)."""
        return self.processes_per_run(settings)

    def census_is_signal(self, settings: Mapping[str, Any]) -> bool:
        """Whether the label census of a run with ``settings`` says something about missed
        label copies (False where the sampler does not balance the copies by design)."""
        return True

    def recorded_switches(self) -> dict[str, Any]:
        """The sampler's own switches in effect (environment variables that change how its runs
        are computed, not what), written into each of its runs' ``run.json`` beside
        :func:`nestmix.runtime.backend.recorded_switches`; none by default."""
        return {}

    def check_execution(self, settings: Mapping[str, Any], *, on_cluster: bool) -> None:
        """Raise SamplerError when runs with ``settings`` cannot be executed where the sweep
        runs (``on_cluster``: on a Dask cluster rather than on this machine)."""

    def launch_problem(self) -> str | None:
        """Why this process cannot start this sampler's runs at all, or None."""
        return None

    def add_commands(self, commands: argparse._SubParsersAction) -> None:
        """Add the sampler's own ``nestmix`` commands (e.g. an installer) to ``commands``."""


def check_settings(sampler: str, settings: Mapping[str, Any], valid: Mapping[str, type | tuple],
                   defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``settings`` over ``defaults``, rejecting unknown names and wrong types."""
    unknown = sorted(set(settings) - set(valid))
    if unknown:
        hint = difflib.get_close_matches(unknown[0], valid, n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise SamplerError(f"unknown {sampler} setting {unknown[0]!r}{extra}; valid settings: "
                           f"{', '.join(sorted(valid))}")
    merged = {**defaults, **settings}
    for key, value in settings.items():
        allowed = valid[key]
        types = allowed if isinstance(allowed, tuple) else (allowed,)
        wrong_bool = isinstance(value, bool) and bool not in types
        if value is not None and (wrong_bool or not isinstance(value, types)):
            raise SamplerError(f"{sampler} setting {key!r} must be {_type_name(types)}, "
                               f"got {value!r}")
    return merged


#: Live points above which a run is refused, and above which a warning is given.
NLIVE_MAX = 1_000_000
NLIVE_WARN = 20_000


def check_bounds(sampler: str, settings: Mapping[str, Any],
                 bounds: Mapping[str, tuple[float | None, float | None, bool]]) -> None:
    """Raise SamplerError for a setting outside its range.

    ``bounds`` maps a setting to ``(low, high, low_inclusive)``: the value must be ``>= low``
    (``> low`` when ``low_inclusive`` is False) and ``<= high``; None is no limit. Settings
    that are absent or None are not checked. NaN is refused wherever a bound is given.
    """
    for key, (low, high, inclusive) in bounds.items():
        value = settings.get(key)
        if value is None or isinstance(value, (bool, str)):
            continue
        if value != value:  # NaN
            raise SamplerError(f"{sampler} setting {key!r} must be a number, got nan")
        if low is not None and (value < low if inclusive else value <= low):
            relation = "at least" if inclusive else "greater than"
            raise SamplerError(f"{sampler} setting {key!r} must be {relation} {low:g}, got "
                               f"{value!r}")
        if high is not None and value > high:
            raise SamplerError(f"{sampler} setting {key!r} must be at most {high:g}, got "
                               f"{value!r}")


_CHECKED_BEFORE: ContextVar[bool] = ContextVar("nestmix_settings_checked_before",
                                                default=False)


@contextmanager
def settings_checked_before() -> Iterator[None]:
    """Inside, :func:`warn_large_nlive` is silent: a run re-validates the settings its sweep's
    plan validated, and warned about, already (issue 33: the warning printed twice, or once
    more from every worker process)."""
    token = _CHECKED_BEFORE.set(True)
    try:
        yield
    finally:
        _CHECKED_BEFORE.reset(token)


_WARNED: set[tuple[str, int]] = set()


def warn_large_nlive(sampler: str, nlive: int | None) -> None:
    """Warn (once per sampler and value in a process, however often a plan is validated)
    that ``nlive`` above :data:`NLIVE_WARN` makes a very slow run; not inside
    :func:`settings_checked_before`."""
    if nlive is not None and nlive > NLIVE_WARN and not _CHECKED_BEFORE.get() \
            and (sampler, nlive) not in _WARNED:
        _WARNED.add((sampler, nlive))
        import warnings

        warnings.warn(f"{sampler} setting 'nlive' = {nlive:,} is very large (runs take time "
                      f"in proportion; a few hundred to {NLIVE_WARN:,} is usual)", stacklevel=3)


def _type_name(types: type | tuple) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(t.__name__ for t in types)


def probe_problem(problem: LikelihoodProblem, rng: np.random.Generator, n: int = 5) -> None:
    """Evaluate the prior transform and likelihood at a few random points before sampling.

    Raises
    ------
    ModelError
        If the transform returns the wrong shape or non-finite values, modifies its input, or
        the likelihood is NaN or +inf.
    """
    for _ in range(n):
        u = rng.uniform(size=problem.ndim)
        u_copy = u.copy()
        theta = np.asarray(problem.prior_transform(u))
        if not np.array_equal(u, u_copy):
            raise ModelError("the prior transform modified its input")
        if theta.shape != (problem.ndim,):
            raise ModelError(f"the prior transform returned shape {theta.shape}, expected "
                             f"({problem.ndim},)")
        if not np.all(np.isfinite(theta)):
            raise ModelError(f"the prior transform returned non-finite values at u = {u}")
        logl = problem.log_likelihood(theta)
        if np.isnan(logl) or logl == np.inf:
            raise ModelError(f"the log-likelihood is {logl} at θ = {theta}")
