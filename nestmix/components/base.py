"""Custom component families: the interface, a registry of built-ins by name, and the probe.

A component family is any object with

* ``name`` (str): the component's name; its parameters appear in θ as ``<name>_<param>`` and its
  weight as ``w_<name>``;
* ``parameters`` (tuple of str): the names of its parameters;
* ``priors`` (mapping): one prior spec per parameter in the format of
  :func:`nestmix.priors.univariate_from_spec` (``{dist = "norm", loc = 0, scale = 25}``; a
  number holds the parameter fixed);
* ``columns`` (tuple of str, optional): extra data columns it needs (``Measurements.extra``);
* ``log_density(params, data)``: with ``params`` a mapping of parameter name → array of shape
  (m,) (one entry per parameter vector of a batch) and ``data`` the model's
  :class:`~nestmix.data.measurements.Measurements`, the per-point log-density, shape (m, N). It may
  use ``data.values``, ``data.covariances`` / ``data.errors`` and ``data.extra``; it must not modify
  its inputs.

Subclassing :class:`Component` (a frozen dataclass) gives defaults for optional parameters
(``defaults``), a data check hook (``check_data``) and a description for run fingerprints.
Before a model uses a component, :func:`probe_component` calls it on prior draws and checks the
output's shape and values and that the inputs were left alone.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from nestmix.errors import ModelError

if TYPE_CHECKING:
    from nestmix.data.measurements import Measurements

__all__ = [
    "COMPONENT_FAMILIES",
    "Component",
    "component_priors",
    "describe_component",
    "make_component",
    "probe_component",
    "register_component",
]

COMPONENT_FAMILIES: dict[str, type] = {}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESERVED = ("w", "bg", "mu", "var", "sigma", "rho")


@dataclass(frozen=True)
class Component:
    """Base class of custom component families (subclass it as a frozen dataclass).

    Subclasses set the class attributes ``family`` (the registry name, for built-ins),
    ``parameters`` and optionally ``defaults`` (priors of optional parameters, e.g. ``0.0`` to
    hold a scatter fixed unless a prior is given) and ``columns``, and implement
    :meth:`log_density`.

    Attributes
    ----------
    name : str
        Name of the component in θ (``<name>_<param>``, weight ``w_<name>``).
    priors : mapping
        Prior spec per parameter; parameters with a default may be left out.
    """

    name: str
    priors: Mapping[str, Any] = field(default_factory=dict)

    family: ClassVar[str] = ""
    parameters: ClassVar[tuple[str, ...]] = ()
    defaults: ClassVar[Mapping[str, Any]] = {}
    columns: ClassVar[tuple[str, ...]] = ()

    def check_data(self, data: Measurements) -> None:
        """Raise :class:`ModelError` when ``data`` cannot be used (wrong D, no errors, …)."""

    def log_density(self, params: Mapping[str, np.ndarray], data: Measurements) -> np.ndarray:
        """Per-point log-density, shape (m, N), for parameter arrays of shape (m,)."""
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """Dataclass fields other than ``name`` and ``priors`` (for descriptions)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("name", "priors")}


def register_component(cls: type) -> type:
    """Class decorator: make a :class:`Component` subclass available by its ``family`` name."""
    name = getattr(cls, "family", "")
    if not name or name in COMPONENT_FAMILIES:
        raise ValueError(f"component family name {name!r} is empty or already registered")
    COMPONENT_FAMILIES[name] = cls
    return cls


def make_component(family: str, name: str | None = None, priors: Mapping[str, Any] | None = None,
                   key: str = "component", **options: Any) -> Component:
    """A built-in component by family name, e.g. ``make_component("line", priors={...})``.

    Parameters
    ----------
    family : str
        A registered family (``line``, ``gaussian_outlier``, ``student_t``,
        ``exponential_space_density``, ``gaussian_cluster``).
    name : str, optional
        The component's name; default the family name.
    priors : mapping, optional
        Prior spec per parameter.
    key : str
        Prefix of error messages (the configuration key).
    **options
        Family options (its other dataclass fields).

    Returns
    -------
    Component
    """
    cls = COMPONENT_FAMILIES.get(family)
    if cls is None:
        raise ModelError(f"unknown component family {family!r}; valid: "
                         f"{', '.join(sorted(COMPONENT_FAMILIES))}", key=f"{key}.family")
    valid = sorted(f.name for f in dataclasses.fields(cls) if f.name not in ("name", "priors"))
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ModelError(f"unknown option of family {family!r}; valid: "
                         f"{', '.join(['family', 'name', 'priors', *valid])}",
                         key=f"{key}.{unknown[0]}")
    try:
        return cls(name=family if name is None else name, priors=dict(priors or {}), **options)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{exc}", key=key) from None


def component_priors(component: Any) -> dict[str, Any]:
    """Check a component's name, parameters and priors; return the prior spec per parameter.

    Raises
    ------
    ModelError
        For a missing attribute, an unusable name, an unknown or missing prior.
    """
    name = getattr(component, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ModelError(f"component {name!r}: a component needs a name of letters, digits and "
                         "'_', starting with a letter")
    key = f"model.extra_components.{name}"
    if name in _RESERVED or any(name.startswith(f"{r}_") for r in _RESERVED):
        raise ModelError(f"the name {name!r} is reserved for the Gaussian components "
                         f"({', '.join(_RESERVED)}); choose another", key=key)
    if not callable(getattr(component, "log_density", None)):
        raise ModelError("the component has no log_density(params, data) method", key=key)
    parameters = getattr(component, "parameters", None)
    if isinstance(parameters, str) or not isinstance(parameters, (tuple, list)) or not all(
            isinstance(p, str) and _NAME.match(p) for p in parameters):
        raise ModelError(f"parameters must be a tuple of names, got {parameters!r}", key=key)
    if len(set(parameters)) != len(parameters):
        raise ModelError(f"repeated parameter names in {parameters!r}", key=key)
    columns = getattr(component, "columns", ())
    if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
        raise ModelError(f"columns must be a tuple of extra column names, got {columns!r}", key=key)
    given = getattr(component, "priors", None)
    if not isinstance(given, Mapping):
        raise ModelError("must be a mapping of parameter name -> prior", key=f"{key}.priors")
    unknown = sorted(set(given) - set(parameters))
    if unknown:
        raise ModelError(f"unknown parameter; valid: "
                         f"{', '.join(parameters) or '(none)'}", key=f"{key}.priors.{unknown[0]}")
    priors = {**dict(getattr(component, "defaults", {})), **dict(given)}
    missing = [p for p in parameters if p not in priors]
    if missing:
        raise ModelError("missing prior (a spec such as "
                         "{ dist = \"norm\", loc = 0, scale = 1 }, or a number to fix it)",
                         key=f"{key}.priors.{missing[0]}")
    return {p: priors[p] for p in parameters}


def describe_component(component: Any) -> dict[str, Any]:
    """JSON-able description of a component (input to run fingerprints)."""
    cls = type(component)
    family = getattr(component, "family", "") or f"{cls.__module__}.{cls.__qualname__}"
    out: dict[str, Any] = {"family": family, "name": component.name,
                           "priors": component_priors(component)}
    if isinstance(component, Component):
        options = component.options()
        if options:
            out["options"] = options
    columns = tuple(getattr(component, "columns", ()))
    if columns:
        out["columns"] = list(columns)
    if not getattr(component, "family", ""):  # user code: edits to it must change the fingerprint
        out["code"] = _code_fingerprint(cls)
    return out


def _code_fingerprint(cls: type) -> str:
    """sha256 of a class's source, or of its methods' bytecode when the source is unavailable."""
    import hashlib
    import inspect

    try:
        text = inspect.getsource(cls)
    except (OSError, TypeError):
        parts = []
        for name, member in sorted(vars(cls).items()):
            code = getattr(member, "__code__", None)
            if code is not None:
                parts.append(f"{name}:{code.co_code.hex()}:{code.co_consts!r}")
        text = "\n".join(parts)
    return hashlib.sha256(text.encode()).hexdigest()


def probe_component(component: Any, params: Mapping[str, np.ndarray],
                    data: Measurements) -> None:
    """Call ``component.log_density`` on prior draws and check what comes back.

    Parameters
    ----------
    component : Component or compatible object
    params : mapping of str to ndarray, shape (m,)
        Prior draws of the component's parameters.
    data : Measurements

    Raises
    ------
    ModelError
        When the call fails, returns the wrong shape, NaN or +inf, or modifies its input.
    """
    key = f"model.extra_components.{component.name}"
    n = data.n_points
    for rows in (slice(None), slice(0, 1)):
        batch = {p: np.array(v[rows], dtype=float) for p, v in params.items()}
        before = {p: v.copy() for p, v in batch.items()}
        out = _call(component.log_density, batch, data, key)
        m = len(next(iter(batch.values()))) if batch else 1
        try:
            out = np.asarray(out, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"log_density must return numbers: {exc}", key=key) from None
        if out.shape != (m, n):
            raise ModelError(f"log_density returned shape {out.shape} for {m} parameter "
                             f"vectors and {n} points; expected ({m}, {n})", key=key)
        changed = [p for p in batch if not np.array_equal(batch[p], before[p], equal_nan=True)]
        if changed:
            raise ModelError(f"log_density modified its input params[{changed[0]!r}]; "
                             "it must not write to its arguments", key=key)
        bad = np.isnan(out) | (out == np.inf)
        if bad.any():
            s, i = (int(v) for v in np.argwhere(bad)[0])
            values = ", ".join(f"{p}={batch[p][s]:.6g}" for p in batch)
            raise ModelError(f"log_density gave {out[s, i]} for point {i} at the prior "
                             f"draw {values}; it must be finite or -inf", key=key)


def _call(function: Callable, params: dict[str, np.ndarray], data: Measurements,
          key: str) -> Any:
    try:
        return function(params, data)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"log_density failed on a prior draw: "
                         f"{type(exc).__name__}: {exc}", key=key) from exc
