"""Default priors from the data: weakly informative and aware of the data's scale.

A Bayes factor between K and K + 1 components depends on how much prior volume each new
component spends where the data rule it out, so priors must be proper and of the data's scale
(``docs/priors.md``). These defaults follow the data-dependent choices of Richardson & Green
(1997) for the same problem, made scale-free:

- **means**: normal about the data's midrange with the data's range R as standard deviation,
  N(midrange, R²) per dimension, Richardson & Green's prior. It is wider than a uniform over the
  range (its density over the data is about 2.5 times lower per dimension), so a component the
  data do not need costs more prior volume: on three close blobs (``make_blobs``, state 2) a
  uniform-over-the-range prior left tied K = 3 and K = 4 tied (−0.09 ± 0.44 at nlive 500),
  where this one prefers K = 3 by 0.9-2.7 (two seeds; ``benchmarks/README.md``, "make_blobs:
  K = 3 against K = 4");
- **scales** (standard deviations): log-uniform from the smallest scale the data resolve to the
  data's range R, per dimension. With measurement errors the smallest is a tenth of the median
  error (deconvolution resolves intrinsic widths below the errors, not far below); without, the
  median gap between neighbouring values (a narrower component would fit single points);
- **correlations**: LKJ(1), uniform over correlation matrices (D >= 2, full and tied);
- **weights**: Dirichlet(1), uniform on the simplex.

Every default is written into the sweep's manifest like a hand-written prior, and
:func:`default_priors` returns plain prior specifications that can be edited and passed back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nestmix.data.measurements import Measurements
from nestmix.errors import DataError

__all__ = ["DEFAULT_PRIOR_NOTE", "default_priors"]

DEFAULT_PRIOR_NOTE = ("default priors from the data (nestmix.priors.defaults): means "
                      "N(midrange, range²) (Richardson & Green 1997); standard deviations "
                      "log-uniform from the smallest resolvable scale to the range; LKJ(1) "
                      "correlations; Dirichlet(1) weights")
_ERROR_FRACTION = 0.1  # smallest scale with errors: this fraction of the median error
_MIN_DECADES = 1.0  # the scale prior spans at least this many decades below the range


def default_priors(data: Measurements, covariance: str = "full") -> dict[str, Any]:
    """Scale-aware default priors for Gaussian mixtures of ``data``.

    Parameters
    ----------
    data : Measurements
    covariance : str
        The covariance model (``full``, ``diag``, ``spherical``, ``tied``); correlations get an
        LKJ(1) prior for ``full`` and ``tied`` in D >= 2.

    Returns
    -------
    dict
        ``mean``, ``sigma``, ``weights`` and, where needed, ``correlation`` prior specifications
        (one spec in 1-D, one per dimension in D >= 2), as a config's ``[model.priors]`` takes
        them.

    Raises
    ------
    DataError
        If a column has a single distinct value (no range to scale the priors by).
    """
    values = np.asarray(data.values, dtype=float)
    low, high = values.min(axis=0), values.max(axis=0)
    span = high - low
    flat = [name for name, width in zip(data.columns, span, strict=True) if not width > 0]
    if flat:
        raise DataError(f"column {flat[0]!r} has a single distinct value: default priors need "
                        "a range; give the priors yourself")
    smallest = _smallest_scales(data, span)
    means = [{"dist": "norm", "loc": float(0.5 * (lo + hi)), "scale": float(width)}
             for lo, hi, width in zip(low, high, span, strict=True)]
    sigmas = [{"dist": "loguniform", "a": float(a), "b": float(width)}
              for a, width in zip(smallest, span, strict=True)]
    if covariance == "spherical":  # one width for every axis: from the smallest to the widest
        sigmas = [{"dist": "loguniform", "a": float(smallest.min()), "b": float(span.max())}]
    priors: dict[str, Any] = {
        "mean": means[0] if data.n_dims == 1 else means,
        "sigma": sigmas[0] if len(sigmas) == 1 else sigmas,
        "weights": {"dist": "dirichlet", "alpha": 1.0},
    }
    if data.n_dims >= 2 and covariance in ("full", "tied"):
        priors["correlation"] = {"dist": "lkj", "eta": 1.0}
    return priors


def _smallest_scales(data: Measurements, span: np.ndarray) -> np.ndarray:
    """The smallest intrinsic width each dimension resolves (see the module docstring)."""
    if data.covariances is not None:
        errors = np.sqrt(np.diagonal(data.covariances, axis1=1, axis2=2))
        floor = _ERROR_FRACTION * np.median(errors, axis=0)
    else:
        gaps = np.diff(np.sort(data.values, axis=0), axis=0)
        floor = np.array([np.median(g[g > 0]) if np.any(g > 0) else w * 1e-3
                          for g, w in zip(gaps.T, span, strict=True)])
    return np.minimum(floor, span * 10.0 ** -_MIN_DECADES)
