"""One-dimensional priors as unit-cube transforms: any continuous ``scipy.stats`` distribution.

A :class:`Univariate` maps cube coordinates through its quantile function (``ppf``), with
closed forms from :mod:`scipy.special` for the common distributions and the scipy frozen
distribution for the rest. A :class:`Fixed` holds a parameter at one value and uses no cube
coordinate. :func:`univariate_from_spec` builds either from a configuration value and turns every
mistake in it into a one-line :class:`~nestmix.errors.PriorError`.
"""

from __future__ import annotations

import difflib
import math
import numbers
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import numpy as np
from scipy import stats

from nestmix.errors import PriorError
from nestmix.priors._fast import FAST_PPF, StdPPF

__all__ = ["Fixed", "Univariate", "univariate_from_spec"]

U_MIN = float(np.finfo(float).tiny)
"""Smallest cube coordinate passed to a quantile function (u = 0 is clipped up to it)."""
U_MAX = 1.0 - 2.0**-53
"""Largest cube coordinate passed to a quantile function (u = 1 is clipped down to it)."""

ALIASES = {"normal": "norm", "log-uniform": "loguniform", "log_uniform": "loguniform"}
"""Other accepted spellings of ``scipy.stats`` distribution names."""

_INFINITE_OK = {("truncnorm", "a"), ("truncnorm", "b")}
"""Parameters that may be infinite: truncnorm's bounds (in standard units) for one-sided cuts."""

_BOUNDED_CLOSED_FORMS = frozenset({"uniform", "loguniform", "reciprocal"})
"""Closed forms that are finite on all of [0, 1] and so need no clipping of the cube."""

_MULTIVARIATE = getattr(getattr(stats, "_multivariate", None), "multi_rv_generic", ())

_SPECIAL_PRIORS = {
    "dirichlet": "is only valid as the prior on mixture weights",
    "lkj": "is only valid as the prior on correlation matrices",
}


def _continuous_names() -> list[str]:
    return sorted(
        name for name in dir(stats) if isinstance(getattr(stats, name), stats.rv_continuous)
    )


@dataclass(frozen=True)
class Univariate:
    """A one-dimensional prior given by a continuous ``scipy.stats`` distribution.

    Build it with :func:`univariate_from_spec` or :meth:`create`, which validate the
    parameters; the constructor trusts them.

    Attributes
    ----------
    dist : str
        Name of the distribution in ``scipy.stats``, e.g. ``"norm"``.
    params : tuple of (str, float)
        Keyword arguments of the distribution (shape parameters, ``loc``, ``scale``), sorted
        by name so that the prior is hashable and compares by value.
    """

    dist: str
    params: tuple[tuple[str, float], ...]

    ndim = 1
    """Number of cube coordinates the prior uses."""

    @classmethod
    def create(cls, dist: str, **params: float) -> Univariate:
        """Validate a distribution name and its keyword arguments.

        Parameters
        ----------
        dist : str
            A ``scipy.stats`` continuous distribution name, or an alias such as ``"normal"``.
        **params : float
            Its shape parameters, ``loc`` and ``scale``.

        Returns
        -------
        Univariate

        Raises
        ------
        PriorError
            If the name or the parameters are not usable.
        """
        return cast(Univariate, univariate_from_spec({"dist": dist, **params}))

    def __getstate__(self) -> dict[str, Any]:
        # Leave out the cached scipy distribution and quantile closure, which do not pickle.
        return {"dist": self.dist, "params": self.params}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    @cached_property
    def _kwargs(self) -> dict[str, float]:
        return dict(self.params)

    @cached_property
    def _loc_scale(self) -> tuple[float, float]:
        return self._kwargs.get("loc", 0.0), self._kwargs.get("scale", 1.0)

    @cached_property
    def _fast_ppf(self) -> StdPPF | None:
        build = FAST_PPF.get(self.dist)
        return None if build is None else build(self._kwargs)

    def frozen(self) -> Any:
        """Return the frozen ``scipy.stats`` distribution.

        Returns
        -------
        scipy.stats.rv_continuous frozen distribution
        """
        return self._frozen

    @cached_property
    def _frozen(self) -> Any:
        return getattr(stats, self.dist)(**self._kwargs)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Map cube coordinates to parameter values through the quantile function.

        Parameters
        ----------
        u : array_like
            Cube coordinates of any shape, in [0, 1]. They are clipped into
            ``[U_MIN, U_MAX]`` so that the ends of unbounded supports stay finite.

        Returns
        -------
        numpy.ndarray
            Quantiles, same shape as `u`.
        """
        fast = self._fast_ppf
        q = np.asarray(u, dtype=float)
        if fast is None or self.dist not in _BOUNDED_CLOSED_FORMS:
            # np.minimum(np.maximum(...)) is about twice as fast as np.clip on tiny arrays.
            q = np.minimum(np.maximum(q, U_MIN), U_MAX)
        if fast is None:
            return np.asarray(self._frozen.ppf(q), dtype=float)
        x = fast(q)
        loc, scale = self._loc_scale
        if scale != 1.0:
            x = x * scale
        if loc != 0.0:
            x = x + loc
        return x

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """Log prior density at `x` (``-inf`` outside the support).

        Parameters
        ----------
        x : array_like
            Parameter values of any shape.

        Returns
        -------
        numpy.ndarray
        """
        return np.asarray(self._frozen.logpdf(x), dtype=float)

    def rvs(self, size: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Draw from the prior.

        Parameters
        ----------
        size : int or tuple of int
            Output shape.
        rng : numpy.random.Generator
            Source of randomness.

        Returns
        -------
        numpy.ndarray
        """
        return self.ppf(rng.random(size))

    def support(self) -> tuple[float, float]:
        """Return the lower and upper ends of the support (possibly infinite)."""
        low, high = self._frozen.support()
        return float(low), float(high)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-able specification, e.g. ``{"dist": "norm", "loc": 0.0, ...}``."""
        return {"dist": self.dist, **self._kwargs}


@dataclass(frozen=True)
class Fixed:
    """A parameter held at one value; it uses no cube coordinate.

    Attributes
    ----------
    value : float
        The value of the parameter.
    """

    value: float

    def __post_init__(self) -> None:
        if not _is_real(self.value) or not math.isfinite(self.value):
            raise PriorError(f"fixed: the value must be a finite number, got {self.value!r}")

    ndim = 0
    """Number of cube coordinates the prior uses."""

    def to_dict(self) -> dict[str, float]:
        """Return the JSON-able specification ``{"fixed": value}``."""
        return {"fixed": self.value}


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _resolve_name(name: object, key: str) -> str:
    if not isinstance(name, str):
        raise PriorError(f"{key}: 'dist' must be a distribution name (a string), got {name!r}")
    canonical = ALIASES.get(name.strip().lower(), name.strip().lower())
    if canonical in _SPECIAL_PRIORS:
        raise PriorError(f"{key}: distribution {name!r} {_SPECIAL_PRIORS[canonical]}")
    obj = getattr(stats, canonical, None)
    if isinstance(obj, stats.rv_continuous):
        return canonical
    if isinstance(obj, stats.rv_discrete):
        raise PriorError(f"{key}: {name!r} is a discrete distribution; a continuous one is needed")
    if isinstance(obj, _MULTIVARIATE):
        raise PriorError(
            f"{key}: {name!r} is a multivariate distribution; a univariate one is needed"
        )
    close = difflib.get_close_matches(canonical, [*_continuous_names(), *ALIASES], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise PriorError(f"{key}: unknown distribution {name!r}{hint}")


def _check_params(name: str, given: Mapping[str, object], key: str) -> dict[str, float]:
    dist = getattr(stats, name)
    shapes = [s.strip() for s in (dist.shapes or "").split(",") if s.strip()]
    valid = [*shapes, "loc", "scale"]
    unknown = sorted(str(p) for p in given if p not in valid)
    if unknown:
        raise PriorError(
            f"{key}: unknown parameter(s) {', '.join(map(repr, unknown))} for {name!r}; "
            f"valid parameters are {', '.join(valid)}"
        )
    missing = [s for s in shapes if s not in given]
    if missing:
        raise PriorError(f"{key}: {name!r} needs shape parameter(s) {', '.join(missing)}")
    params: dict[str, float] = {}
    for param, value in given.items():
        if not _is_real(value):
            raise PriorError(f"{key}: parameter {param!r} must be a number, got {value!r}")
        number = float(value)  # type: ignore[arg-type]
        if math.isnan(number) or (math.isinf(number) and (name, param) not in _INFINITE_OK):
            raise PriorError(f"{key}: parameter {param!r} must be finite, got {value!r}")
        params[str(param)] = number
    return params


def _check_scipy_accepts(name: str, params: dict[str, float], key: str) -> None:
    described = ", ".join(f"{k}={v:g}" for k, v in sorted(params.items()))
    if params.get("scale", 1.0) <= 0.0:
        raise PriorError(f"{key}: scale must be positive, got {params['scale']:g}")
    dist = getattr(stats, name)
    shapes = [s.strip() for s in (dist.shapes or "").split(",") if s.strip()]
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            accepted = bool(np.all(dist._argcheck(*(params[s] for s in shapes))))
            frozen = dist(**params)
            median = float(frozen.ppf(0.5))
    except Exception as exc:  # scipy may raise anything for bad shapes
        raise PriorError(
            f"{key}: scipy.stats.{name} rejects parameters {described} ({exc})"
        ) from None
    if not accepted or not math.isfinite(median):
        raise PriorError(f"{key}: scipy.stats.{name} rejects parameters {described}")


def univariate_from_spec(spec: object, *, key: str = "prior") -> Univariate | Fixed:
    """Build a one-dimensional prior from a configuration value.

    Parameters
    ----------
    spec : float or mapping
        A number holds the parameter fixed. A mapping names a continuous ``scipy.stats``
        distribution under ``"dist"`` (aliases ``"normal"``, ``"log-uniform"`` accepted) with
        its keyword arguments beside it, e.g. ``{"dist": "norm", "loc": 20, "scale": 10}``,
        ``{"dist": "invgamma", "a": 3, "scale": 20}``, ``{"dist": "loguniform", "a": 0.01,
        "b": 10}``, or ``{"dist": "truncnorm", "a": 0, "b": inf, "loc": 1, "scale": 2}``
        (truncnorm's bounds are in standard units, as in scipy).
    key : str, optional
        Name of the setting, used to start error messages, e.g. ``"model.priors.mean"``.

    Returns
    -------
    Univariate or Fixed

    Raises
    ------
    PriorError
        With one message naming the problem: a missing or unknown ``"dist"`` (with the
        closest known name), a discrete or multivariate distribution, unknown or missing
        parameters, non-numeric or non-finite values, or parameters scipy rejects.
    """
    if _is_real(spec):
        value = float(spec)  # type: ignore[arg-type]
        if not math.isfinite(value):
            raise PriorError(f"{key}: a fixed value must be finite, got {spec!r}")
        return Fixed(value)
    if not isinstance(spec, Mapping):
        raise PriorError(
            f"{key}: expected a number (a fixed value) or a mapping with 'dist', got {spec!r}"
        )
    if "dist" not in spec:
        raise PriorError(
            f"{key}: missing 'dist' (the name of a scipy.stats distribution, e.g. 'norm')"
        )
    name = _resolve_name(spec["dist"], key)
    given = {p: v for p, v in spec.items() if p != "dist"}
    params = _check_params(name, given, key)
    _check_scipy_accepts(name, params, key)
    return Univariate(name, tuple(sorted(params.items())))
