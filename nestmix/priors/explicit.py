"""Model priors must state their location and scale: no silent ``loc = 0`` or ``scale = 1``.

``scipy.stats`` fills a missing ``loc`` with 0 and a missing ``scale`` with 1, which for a prior on
a mixture's means or widths silently picks a unit of the data; every Bayes factor depends on it.
:func:`check_explicit` refuses such specifications with a one-line error naming the prior and the
parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nestmix.errors import PriorError

__all__ = ["check_explicit"]

_RANGE_BY_SHAPES = frozenset({"loguniform", "log-uniform", "log_uniform", "reciprocal"})
"""Distributions whose shape parameters (a, b) already give their range."""
_NEEDS_LOC = frozenset({"uniform", "truncnorm"})
"""Distributions whose location is part of their range whatever they are a prior on."""


def check_explicit(name: str, spec: Any) -> None:
    """Refuse a prior specification that leaves ``scale`` (or, for means, ``loc``) to scipy.

    Parameters
    ----------
    name : str
        The prior's name in ``[model.priors]`` (``mean``, ``sigma``, ``variance``).
    spec : any
        One specification, or a list of them (one per dimension); numbers (fixed values) and
        specifications that are not ``scipy.stats`` distributions pass.

    Raises
    ------
    PriorError
        Naming the prior and the missing parameter.
    """
    if isinstance(spec, (list, tuple)):
        for i, entry in enumerate(spec):
            check_explicit(f"{name}[{i}]", entry)
        return
    if not isinstance(spec, Mapping) or not isinstance(spec.get("dist"), str):
        return
    dist = spec["dist"]
    if dist in _RANGE_BY_SHAPES or dist in ("dirichlet", "lkj", "ordered"):
        return
    needed = ["scale"]
    if name.split("[")[0] == "mean" or dist in _NEEDS_LOC:
        needed.insert(0, "loc")
    missing = [p for p in needed if p not in spec]
    if missing:
        silent = " and ".join({"loc": "loc = 0", "scale": "scale = 1"}[p] for p in missing)
        raise PriorError(f"the {dist!r} prior on {name.split('[')[0]!r} has no "
                         f"{' and no '.join(repr(p) for p in missing)}: give "
                         f"{' and '.join(missing)} explicitly (scipy would silently use "
                         f"{silent})", key=f"model.priors.{name}")
