"""Model priors must state their scale: no silent ``scale = 1``.

``scipy.stats`` fills a missing ``scale`` with 1 (and ``loc`` with 0), which for a prior on a
mixture's means or widths silently picks a unit of the data; every Bayes factor depends on it.
:func:`check_explicit` refuses such specifications with a one-line error naming the prior and the
parameter. A location of 0 is a natural default for most distributions and stays allowed, but a
``uniform`` or ``truncnorm`` prior must also state its ``loc`` (it is part of its range).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scipy import stats

from nestmix.errors import PriorError
from nestmix.priors.univariate import ALIASES

__all__ = ["check_explicit"]

_RANGE_BY_SHAPES = frozenset({"loguniform", "log-uniform", "log_uniform", "reciprocal"})
"""Distributions whose shape parameters (a, b) already give their range."""
_NEEDS_LOC = frozenset({"uniform", "truncnorm"})
"""Distributions whose location is part of their range whatever they are a prior on."""


def check_explicit(name: str, spec: Any) -> None:
    """Refuse a prior specification that leaves ``scale`` (for ``uniform`` and ``truncnorm`` also
    ``loc``) to scipy.

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
    if dist in _RANGE_BY_SHAPES or not hasattr(stats, str(ALIASES.get(dist, dist))):
        return  # a range given by its shapes; or not a distribution: reported where it is built
    needed = ["loc", "scale"] if dist in _NEEDS_LOC else ["scale"]
    missing = [p for p in needed if p not in spec]
    if missing:
        silent = " and ".join({"loc": "loc = 0", "scale": "scale = 1"}[p] for p in missing)
        raise PriorError(f"the {dist!r} prior on {name.split('[')[0]!r} has no "
                         f"{' and no '.join(repr(p) for p in missing)}: give "
                         f"{' and '.join(missing)} explicitly (scipy would silently use "
                         f"{silent})", key=f"model.priors.{name}")
