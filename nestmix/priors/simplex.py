"""Dirichlet prior on mixture weights as a stick-breaking transform of the unit cube."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy import special

from nestmix.errors import PriorError

__all__ = ["StickBreakingDirichlet"]


def _check(k: object, alpha: object, key: str) -> tuple[int, tuple[float, ...]]:
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or int(k) < 1:
        raise PriorError(f"{key}: the number of weights k must be an integer >= 1, got {k!r}")
    k = int(k)
    if isinstance(alpha, numbers.Real) and not isinstance(alpha, bool):
        values = [alpha] * k
    elif isinstance(alpha, Sequence | np.ndarray) and not isinstance(alpha, str):
        values = list(alpha)
        if len(values) != k:
            raise PriorError(
                f"{key}: alpha must be a number or a sequence of k = {k} numbers, "
                f"got {len(values)} values"
            )
    else:
        raise PriorError(f"{key}: alpha must be a number or a sequence of numbers, got {alpha!r}")
    for a in values:
        if not isinstance(a, numbers.Real) or isinstance(a, bool):
            raise PriorError(f"{key}: alpha must contain numbers, got {a!r}")
        if not (math.isfinite(float(a)) and float(a) > 0.0):
            raise PriorError(f"{key}: alpha must be finite and positive, got {a!r}")
    return k, tuple(float(a) for a in values)


@dataclass(frozen=True)
class StickBreakingDirichlet:
    """Dirichlet(alpha) prior on ``k`` mixture weights from ``k - 1`` cube coordinates.

    The j-th break is ``v_j ~ Beta(alpha_j, alpha_{j+1} + ... + alpha_k)``, drawn by inverting
    the regularised incomplete beta function; the weights ``w_j = v_j prod_{i<j} (1 - v_i)``,
    with ``w_k`` the remaining stick, are then exactly Dirichlet(alpha) distributed.

    Attributes
    ----------
    k : int
        Number of weights (mixture components), at least 1.
    alpha : tuple of float
        Concentration parameters, one per weight, all positive.
    """

    k: int
    alpha: tuple[float, ...]

    def __post_init__(self) -> None:
        _check(self.k, self.alpha, "dirichlet")

    @classmethod
    def create(
        cls, k: int, alpha: float | Sequence[float] = 1.0, *, key: str = "weights"
    ) -> StickBreakingDirichlet:
        """Validate and build the prior.

        Parameters
        ----------
        k : int
            Number of weights, at least 1.
        alpha : float or sequence of float, optional
            One concentration shared by all weights (default 1, uniform on the simplex), or
            ``k`` of them.
        key : str, optional
            Name of the setting, used to start error messages.

        Returns
        -------
        StickBreakingDirichlet

        Raises
        ------
        PriorError
            If `k` is not a positive integer, or `alpha` is not positive and finite or has the
            wrong length.
        """
        k, values = _check(k, alpha, key)
        return cls(k, values)

    @property
    def ndim(self) -> int:
        """Number of cube coordinates used, ``k - 1``."""
        return self.k - 1

    def transform(self, u: np.ndarray) -> np.ndarray:
        """Map cube coordinates to weights.

        Parameters
        ----------
        u : array_like, shape (..., k - 1)
            Cube coordinates in [0, 1]; leading axes (typically one of n points) are kept.

        Returns
        -------
        numpy.ndarray, shape (..., k)
            Non-negative weights summing to one along the last axis.
        """
        u = np.asarray(u, dtype=float)
        if u.ndim == 0 or u.shape[-1] != self.ndim:
            raise ValueError(
                f"expected cube coordinates of shape (..., {self.ndim}), got {u.shape}"
            )
        weights = np.empty((*u.shape[:-1], self.k))
        if self.k == 1:
            weights[...] = 1.0
            return weights
        a, b, inv_b, unit = self._breaks
        if unit:  # Beta(1, b) has the closed-form quantile 1 - (1 - u)^(1/b)
            with np.errstate(divide="ignore"):
                v = -np.expm1(np.log1p(-u) * inv_b)
        else:
            v = special.betaincinv(a, b, u)
        remaining = np.multiply.accumulate(1.0 - v, axis=-1)  # much faster than cumprod
        weights[..., 0] = v[..., 0]
        weights[..., 1:-1] = v[..., 1:] * remaining[..., :-1]
        weights[..., -1] = remaining[..., -1]
        return weights

    @cached_property
    def _breaks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """Shapes a_j, b_j and 1 / b_j of the k - 1 Beta breaks; whether every a_j is one."""
        a = np.array(self.alpha[:-1])
        b = np.array([math.fsum(self.alpha[j + 1:]) for j in range(self.k - 1)])
        return a, b, 1.0 / b, bool(np.all(a == 1.0))

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-able ``{"dist": "dirichlet", "k": ..., "alpha": [...]}``."""
        return {"dist": "dirichlet", "k": self.k, "alpha": list(self.alpha)}
