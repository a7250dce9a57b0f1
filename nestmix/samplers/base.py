"""The sampler interface and the registry of adapters.

An adapter is a thin layer over one nested-sampling library. It declares its default settings
and the settings it accepts, rejects any other setting with the list of valid ones, and turns
the library's output into a :class:`~nestmix.results.NestedRun`.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from nestmix.errors import ModelError, SamplerError
from nestmix.results import NestedRun

__all__ = ["LikelihoodProblem", "SamplerAdapter", "available_samplers", "get_sampler",
           "probe_problem"]

_REGISTRY = {
    "dynesty": "nestmix.samplers.dynesty.adapter:DynestyAdapter",
    "polychord": "nestmix.samplers.polychord.adapter:PolyChordAdapter",
}


class LikelihoodProblem(Protocol):
    """What a sampler needs: a prior transform from the unit cube and a log-likelihood."""

    ndim: int
    param_names: tuple[str, ...]

    def prior_transform(self, u: np.ndarray) -> np.ndarray: ...

    def log_likelihood(self, theta: np.ndarray) -> float: ...


class SamplerAdapter(Protocol):
    """A nested sampler behind nestmix's interface.

    Attributes
    ----------
    name : str
    defaults : mapping
        Default settings, overridden by the user's.
    """

    name: str
    defaults: Mapping[str, Any]

    def validate(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults merged with ``settings``; raises SamplerError on unknown or bad ones."""
        ...

    def run(self, problem: LikelihoodProblem, settings: Mapping[str, Any], seed: int,
            workdir: str | None = None) -> NestedRun:
        """Run the sampler on ``problem`` and return its dead points and evidence."""
        ...


def available_samplers() -> tuple[str, ...]:
    """Names of the samplers nestmix knows."""
    return tuple(sorted(_REGISTRY))


def get_sampler(name: str) -> SamplerAdapter:
    """The adapter registered as ``name``.

    Raises
    ------
    SamplerError
        If no sampler has that name (the message lists the known ones).
    """
    if name not in _REGISTRY:
        hint = difflib.get_close_matches(str(name), _REGISTRY, n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise SamplerError(f"unknown sampler {name!r}{extra} (available: "
                           f"{', '.join(available_samplers())})")
    module_name, class_name = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)()


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
        types = valid[key] if isinstance(valid[key], tuple) else (valid[key],)
        wrong_bool = isinstance(value, bool) and bool not in types
        if value is not None and (wrong_bool or not isinstance(value, types)):
            raise SamplerError(f"{sampler} setting {key!r} must be {_type_name(types)}, "
                               f"got {value!r}")
    return merged


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
