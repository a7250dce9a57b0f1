"""Ordered blocks: the sorted values of k iid draws, to break the label symmetry of mixtures."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from nestmix.errors import PriorError
from nestmix.priors.univariate import Univariate

__all__ = ["OrderedBlock"]


@dataclass(frozen=True)
class OrderedBlock:
    """Prior on ``k`` ascending parameters: the order statistics of ``k`` iid draws of `base`.

    The joint density is ``k! prod_j base.pdf(x_j)`` on ``x_1 < ... < x_k``. This equals the
    exchangeable iid prior restricted to one of its ``k!`` label orderings and renormalised,
    so a likelihood symmetric under relabelling has the same evidence under both priors.

    The cube is mapped to ordered uniforms exactly (``t_k = u_k^(1/k)``, then
    ``t_j = t_{j+1} u_j^(1/j)`` going down), which are then passed through ``base.ppf``.

    Attributes
    ----------
    base : Univariate
        Distribution of each unordered draw.
    k : int
        Number of parameters in the block, at least 1.
    """

    base: Univariate
    k: int

    def __post_init__(self) -> None:
        if not isinstance(self.base, Univariate):
            raise PriorError(
                f"ordered: the base prior must be a distribution (Univariate), got {self.base!r}"
            )
        if not isinstance(self.k, numbers.Integral) or isinstance(self.k, bool) or self.k < 1:
            raise PriorError(f"ordered: k must be an integer >= 1, got {self.k!r}")

    @property
    def ndim(self) -> int:
        """Number of cube coordinates used, ``k``."""
        return self.k

    @property
    def log_volume_factor(self) -> float:
        """``log(k!)``: the log of the number of label orderings the block picks one of."""
        return math.lgamma(self.k + 1)

    def transform(self, u: np.ndarray) -> np.ndarray:
        """Map cube coordinates to ascending parameter values.

        Parameters
        ----------
        u : array_like, shape (..., k)
            Cube coordinates in [0, 1]; leading axes (typically one of n points) are kept.

        Returns
        -------
        numpy.ndarray, shape (..., k)
            Values ascending along the last axis.
        """
        u = np.asarray(u, dtype=float)
        if u.ndim == 0 or u.shape[-1] != self.k:
            raise ValueError(f"expected cube coordinates of shape (..., {self.k}), got {u.shape}")
        # t_j = prod_{i >= j} u_i^(1/i): a cumulative product from the top
        steps = u[..., ::-1] ** self._inverse_ranks
        return self.base.ppf(np.multiply.accumulate(steps, axis=-1)[..., ::-1])

    @cached_property
    def _inverse_ranks(self) -> np.ndarray:
        """1/k, 1/(k-1), ..., 1: the exponents of the reversed coordinates."""
        return 1.0 / np.arange(self.k, 0, -1, dtype=float)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-able specification ``{"dist": "ordered", "k": ..., "base": {...}}``."""
        return {"dist": "ordered", "k": self.k, "base": self.base.to_dict()}
