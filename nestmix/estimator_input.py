"""What :class:`nestmix.NestedGaussianMixture` accepts: its parameters and its ``X``, checked as
scikit-learn checks them, each problem one line.

A bad parameter is an :class:`InvalidParameterError` (a ``ConfigError``, so a ``ValueError``,
and a ``TypeError``, as scikit-learn's own is both), raised when ``fit`` starts, before any run.
``X`` is refused as scikit-learn refuses it (sparse, complex, text, objects that are not
numbers), with the words its ``check_estimator`` looks for. :class:`ParamsBase` gives the
estimator scikit-learn's ``get_params``, ``set_params`` and repr when scikit-learn is not
installed.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from nestmix.errors import ConfigError, DataError

__all__ = ["BACKGROUNDS", "COVARIANCES_1D", "COVARIANCES_ND", "InputTypeError",
           "InvalidParameterError", "NoMixin", "NotFittedFallback", "ParamsBase", "check_k",
           "check_max_minutes", "check_n_draws", "check_parameters", "choices", "numbers",
           "string_columns"]

COVARIANCES_1D = ("full", "tied")  # in 1-D, full = diag = spherical
COVARIANCES_ND = ("full", "diag", "spherical", "tied")
BACKGROUNDS = ("none", "uniform")


class InvalidParameterError(ConfigError, TypeError):
    """A constructor parameter of the estimator with a bad value or type, found when ``fit``
    starts. A :class:`~nestmix.errors.ConfigError` (so a ``ValueError``) and a ``TypeError``,
    as scikit-learn's own ``InvalidParameterError`` is both."""


class InputTypeError(DataError, TypeError):
    """Input holding objects that are not numbers: a DataError and, as numpy's, a TypeError."""


class NotFittedFallback(DataError, AttributeError):
    """The estimator was used before ``fit``, without scikit-learn (with it, its
    ``NotFittedError``); a ``ValueError`` and an ``AttributeError``, as that is."""


class NoMixin:
    """Stands in for scikit-learn's ``DensityMixin`` without scikit-learn."""


class ParamsBase:
    """``get_params``, ``set_params`` and the repr of scikit-learn's ``BaseEstimator``, for
    when scikit-learn is not installed."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return sorted(p.name for p in inspect.signature(cls.__init__).parameters.values()
                      if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> Any:
        """Set constructor parameters (checked when ``fit`` starts)."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise InvalidParameterError(name, f"unknown parameter of {type(self).__name__}"
                                                  f"; valid: {', '.join(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default
                    for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = [f"{name}={value!r}" for name, value in self.get_params().items()
                   if not _same(value, defaults.get(name))]
        return f"{type(self).__name__}({', '.join(changed)})"


def check_parameters(params: Mapping[str, Any]) -> None:
    """Check every parameter of the estimator that needs no data (``get_params()``).

    Raises
    ------
    InvalidParameterError
        Naming the parameter, what it must be and what it is.
    nestmix.errors.SamplerError
        For an unknown sampler (listing the known ones).
    """
    from nestmix.samplers import get_sampler

    check_k(params["k"])
    check_n_draws(params["n_draws"])
    choices("covariance", params["covariance"], COVARIANCES_ND, COVARIANCES_ND)
    choices("background", params["background"], BACKGROUNDS, BACKGROUNDS)
    sampler = params["sampler"]
    if not isinstance(sampler, str):
        raise InvalidParameterError("sampler", f"must be a sampler's name, got {sampler!r}")
    get_sampler(sampler)
    for name in ("priors", "sampler_settings"):
        if params[name] is not None and not isinstance(params[name], Mapping):
            raise InvalidParameterError(name, f"must be a mapping (a dict) or None, got "
                                              f"{params[name]!r}")
    seed, n_jobs, directory, verbose = (params[name] for name in (
        "seed", "n_jobs", "directory", "verbose"))
    if not _is_int(seed) or seed < 0:
        raise InvalidParameterError("seed", f"must be an integer >= 0, got {seed!r}")
    if n_jobs is not None and (not _is_int(n_jobs) or n_jobs == 0):
        raise InvalidParameterError("n_jobs", f"must be a positive integer, a negative one "
                                              f"(-1: every core) or None, got {n_jobs!r}")
    if directory is not None and not isinstance(directory, (str, os.PathLike)):
        raise InvalidParameterError("directory", f"must be a path or None, got {directory!r}")
    if not _is_int(verbose, bool_ok=True) or verbose < 0:
        raise InvalidParameterError("verbose", f"must be an integer >= 0, got {verbose!r}")
    check_max_minutes(params["max_minutes"])


def check_max_minutes(value: Any) -> float:
    """``max_minutes`` as a limit of minutes (``inf`` for 0: no limit)."""
    from nestmix.sweep.cost import check_max_minutes as check

    try:
        return check(value, "max_minutes")
    except ConfigError as error:
        raise InvalidParameterError("max_minutes", error.detail) from None


def check_k(k: Any) -> tuple[int, ...]:
    """The K values of ``k`` (an integer >= 1 or an iterable of them), sorted and distinct."""
    ks: tuple = ((k,) if _is_int(k) else tuple(k) if isinstance(k, Iterable)
                 and not isinstance(k, (str, bytes, Mapping)) else (k,))
    if not ks or not all(_is_int(v) and v >= 1 for v in ks):
        raise InvalidParameterError("k", f"must be an integer >= 1 or a list of them, got {k!r}")
    return tuple(sorted({int(v) for v in ks}))


def check_n_draws(n_draws: Any) -> int:
    """``n_draws`` as an int >= 1."""
    if not _is_int(n_draws) or n_draws < 1:
        raise InvalidParameterError("n_draws", f"must be an integer >= 1 (posterior draws), "
                                               f"got {n_draws!r}")
    return int(n_draws)


def choices(key: str, value: Any, auto: tuple[str, ...],
            valid: tuple[str, ...]) -> tuple[str, ...]:
    """``value`` (``"auto"``, one name or a sequence of names from ``valid``) as distinct
    names; ``"auto"`` is ``auto``."""
    if isinstance(value, str):
        chosen: tuple = auto if value == "auto" else (value,)
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        chosen = tuple(value)
    else:
        chosen = ()
    if not chosen or any(not isinstance(v, str) or v not in valid for v in chosen):
        raise InvalidParameterError(key, f"must be 'auto' or some of {', '.join(valid)}; "
                                         f"got {value!r}")
    return tuple(dict.fromkeys(chosen))


def string_columns(X: Any) -> list[str] | None:
    """The column names of a DataFrame-like ``X`` when they are all strings, else None."""
    columns = getattr(X, "columns", None)
    if columns is None or getattr(X, "ndim", 2) != 2:
        return None
    names = list(columns)
    return [str(c) for c in names] if names and all(isinstance(c, str) for c in names) \
        else None


def numbers(X: Any, what: str = "X") -> np.ndarray:
    """``X`` as a float array: sparse, complex, text and objects refused in one line each."""
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise DataError(f"{what} is a sparse matrix; pass a dense array ({what}.toarray())")
    try:
        values = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} must be an array of numbers: {exc}") from None
    if values.dtype.kind == "c":
        raise DataError(f"Complex data not supported: {what} must be real numbers")
    if values.dtype.kind not in "biufO":
        raise DataError(f"{what} must be numbers, got an array of dtype {values.dtype}")
    try:
        return values.astype(float)
    except TypeError as exc:  # an object that is not a number: a TypeError, as numpy's
        raise InputTypeError(f"{what} must be numbers: {exc}") from None
    except ValueError as exc:
        raise DataError(f"{what} must be numbers: {exc}") from None


def _is_int(value: Any, bool_ok: bool = False) -> bool:
    return isinstance(value, (int, np.integer)) and (bool_ok or not isinstance(value, bool))


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a is b or a == b)
    except (TypeError, ValueError):  # arrays
        return False
