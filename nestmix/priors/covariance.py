"""LKJ prior on correlation matrices as a unit-cube transform, and covariances from scales."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from nestmix.errors import PriorError

__all__ = ["LKJCorrelation", "covariance_from_scales"]

_EDGE = 1.0 - 2.0**-52
"""Partial correlations are clipped into [-_EDGE, _EDGE] so the matrices stay invertible."""


@dataclass(frozen=True)
class LKJCorrelation:
    """LKJ(eta) prior on ``d x d`` correlation matrices, density proportional to ``det(C)^(eta-1)``.

    Uses the C-vine construction of Lewandowski, Kurowicka & Joe (2009): the canonical
    partial correlation of variables ``(l, i)`` given ``0, ..., l-1`` is ``2 Beta(b_l, b_l) - 1``
    with ``b_l = eta + (d - 2 - l) / 2``, drawn by inverting the incomplete beta function. They
    fill the Cholesky factor row by row, which makes the map exact. Every off-diagonal entry
    then has the marginal ``2 Beta(eta - 1 + d/2, eta - 1 + d/2) - 1``.

    Cube coordinates are consumed level by level: first the ``d - 1`` correlations of
    variable 0 with variables 1, ..., d-1, then the partial correlations given variable 0, ...

    Attributes
    ----------
    d : int
        Dimension, at least 2.
    eta : float
        Shape, positive: 1 is uniform over correlation matrices, larger values favour the
        identity.
    """

    d: int
    eta: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.d, numbers.Integral) or isinstance(self.d, bool) or self.d < 2:
            raise PriorError(f"lkj: dimension d must be an integer >= 2, got {self.d!r}")
        eta = self.eta
        if (
            not isinstance(eta, numbers.Real)
            or isinstance(eta, bool)
            or not math.isfinite(eta)
            or eta <= 0
        ):
            raise PriorError(f"lkj: eta must be finite and positive, got {eta!r}")

    @property
    def ndim(self) -> int:
        """Number of cube coordinates used, ``d (d - 1) / 2``."""
        return self.d * (self.d - 1) // 2

    def cholesky(self, u: np.ndarray) -> np.ndarray:
        """Map cube coordinates to lower Cholesky factors of LKJ correlation matrices.

        Parameters
        ----------
        u : array_like, shape (..., d (d - 1) / 2)
            Cube coordinates in [0, 1].

        Returns
        -------
        numpy.ndarray, shape (..., d, d)
            Lower-triangular factors ``L`` with unit-norm rows, so ``L L^T`` is a correlation
            matrix.
        """
        u = np.asarray(u, dtype=float)
        d = self.d
        if u.ndim == 0 or u.shape[-1] != self.ndim:
            raise ValueError(
                f"expected cube coordinates of shape (..., {self.ndim}), got {u.shape}"
            )
        lead = u.shape[:-1]
        chol = np.zeros((*lead, d, d))
        chol[..., 0, 0] = 1.0
        # Squared norm still unused in each row; row i's entries are filled level by level.
        left = np.ones((*lead, d))
        start = 0
        for level in range(d - 1):
            b = self.eta + (d - 2 - level) / 2.0
            rows = slice(level + 1, d)
            stop = start + d - 1 - level
            partial = 2.0 * special.betaincinv(b, b, u[..., start:stop]) - 1.0
            partial = np.clip(partial, -_EDGE, _EDGE)
            chol[..., rows, level] = partial * np.sqrt(left[..., rows])
            left[..., rows] = left[..., rows] * (1.0 - partial**2)
            chol[..., level + 1, level + 1] = np.sqrt(left[..., level + 1])
            start = stop
        return chol

    def transform(self, u: np.ndarray) -> np.ndarray:
        """Map cube coordinates to LKJ(eta)-distributed correlation matrices.

        Parameters
        ----------
        u : array_like, shape (..., d (d - 1) / 2)
            Cube coordinates in [0, 1]; leading axes (typically one of n points) are kept.

        Returns
        -------
        numpy.ndarray, shape (..., d, d)
            Symmetric positive-definite matrices with unit diagonal.
        """
        chol = self.cholesky(u)
        corr = chol @ np.swapaxes(chol, -1, -2)
        corr = 0.5 * (corr + np.swapaxes(corr, -1, -2))
        idx = np.arange(self.d)
        corr[..., idx, idx] = 1.0
        return corr

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-able specification ``{"dist": "lkj", "d": ..., "eta": ...}``."""
        return {"dist": "lkj", "d": self.d, "eta": float(self.eta)}


def covariance_from_scales(scales: np.ndarray, corr: np.ndarray) -> np.ndarray:
    """Combine standard deviations and correlation matrices into covariance matrices.

    Parameters
    ----------
    scales : array_like, shape (..., d)
        Standard deviations.
    corr : array_like, shape (..., d, d)
        Correlation matrices, with leading axes matching `scales`.

    Returns
    -------
    numpy.ndarray, shape (..., d, d)
        ``cov[..., i, j] = scales[..., i] * corr[..., i, j] * scales[..., j]``.
    """
    scales = np.asarray(scales, dtype=float)
    corr = np.asarray(corr, dtype=float)
    if scales.ndim == 0 or corr.shape[-2:] != (scales.shape[-1],) * 2:
        raise ValueError(
            f"scales of shape (..., d) need correlations of shape (..., d, d); "
            f"got {scales.shape} and {corr.shape}"
        )
    return scales[..., :, None] * corr * scales[..., None, :]
