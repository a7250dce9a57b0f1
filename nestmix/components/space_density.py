"""Parallaxes of a field population with an exponentially decreasing space density.

Bailer-Jones (2015): distances r > 0 follow P(r | L) = r² exp(−r/L) / (2 L³) (a constant space
density times an exponential cut-off with length scale L), and a measured parallax ϖ_i has the
Gaussian likelihood N(ϖ_i | 1/r, σ_i²). The component's density of the measured parallax is

    p(ϖ_i | L) = ∫ N(ϖ_i | 1/r, σ_i²) P(r | L) dr,

computed by quadrature over s = ln r on a per-point grid of ``nodes`` points (trapezoid rule)
that spans where the likelihood is not negligible (ϖ_i ± 8σ_i), cut to where the prior can put
mass for every L in the prior's range (1e-4 L_min … 40 L_max). Distances are in the reciprocal
unit of the parallaxes (mas → kpc), and so is L. Vectorised over the batch, the points and the
nodes: the cost is m × N × ``nodes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from nestmix.components.base import Component, register_component
from nestmix.errors import ModelError
from nestmix.priors import Fixed, univariate_from_spec

if TYPE_CHECKING:
    from nestmix.data.measurements import Measurements

__all__ = ["ExponentialSpaceDensity"]

_LOG_2PI = float(np.log(2.0 * np.pi))


@register_component
@dataclass(frozen=True)
class ExponentialSpaceDensity(Component):
    """Field parallaxes from an exponentially decreasing space density; parameter ``L`` (> 0).

    Attributes
    ----------
    nodes : int
        Quadrature nodes per point (default 128).
    """

    nodes: int = 128

    family: ClassVar[str] = "exponential_space_density"
    parameters: ClassVar[tuple[str, ...]] = ("L",)

    def __post_init__(self) -> None:
        if isinstance(self.nodes, bool) or not isinstance(self.nodes, int) or self.nodes < 16:
            raise ValueError(f"nodes must be an integer >= 16, got {self.nodes!r}")
        object.__setattr__(self, "_cache", (None, None))

    def __getstate__(self) -> dict:
        """Pickle without the cached grid (rebuilt on first use)."""
        return {k: v for k, v in self.__dict__.items() if k != "_cache"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        object.__setattr__(self, "_cache", (None, None))

    def _cached_grid(self, data: Measurements) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(3 s, exp(s), log weights + log-likelihoods), computed once per data set."""
        cached_data, arrays = self.__dict__["_cache"]
        if cached_data is not data:
            s, log_w, log_like = self.grid(data)
            arrays = (3.0 * s - np.log(2.0), np.exp(s), log_w + log_like)
            object.__setattr__(self, "_cache", (data, arrays))
        return arrays

    def check_data(self, data: Measurements) -> None:
        """One-dimensional parallaxes with errors; a positive prior on L."""
        key = f"model.extra_components.{self.name}"
        if data.n_dims != 1 or data.covariances is None:
            raise ModelError("family 'exponential_space_density' needs one column of "
                             "parallaxes with errors", key=key)
        if self._length_range()[0] <= 0:
            raise ModelError("the length scale L must be positive; use a "
                             "prior on positive values", key=f"{key}.priors.L")

    def _length_range(self) -> tuple[float, float]:
        prior = univariate_from_spec(self.priors["L"], key=f"{self.name}.priors.L")
        if isinstance(prior, Fixed):
            return float(prior.value), float(prior.value)
        lo, hi = prior.ppf(np.array([[1e-9], [1.0 - 1e-9]]))[:, 0]
        return float(lo), float(hi)

    def grid(self, data: Measurements) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nodes s = ln r (N, Q), log trapezoid weights (N, Q), log-likelihoods (N, Q)."""
        plx = data.values[:, 0]
        assert data.covariances is not None  # checked by check_data
        sigma = np.sqrt(data.covariances[:, 0, 0])
        l_min, l_max = self._length_range()
        s_lo = np.full_like(plx, np.log(1e-4 * l_min))
        s_hi = np.full_like(plx, np.log(40.0 * l_max))
        top, bottom = plx + 8.0 * sigma, plx - 8.0 * sigma
        with np.errstate(divide="ignore", invalid="ignore"):
            s_lo = np.where(top > 0, np.maximum(s_lo, -np.log(top)), s_lo)
            s_hi = np.where(bottom > 0, np.minimum(s_hi, -np.log(bottom)), s_hi)
        s_hi = np.maximum(s_hi, s_lo + 1e-6)  # likelihood far outside the prior: tiny interval
        t = np.linspace(0.0, 1.0, self.nodes)
        s = s_lo[:, None] + (s_hi - s_lo)[:, None] * t[None, :]
        step = (s_hi - s_lo) / (self.nodes - 1)
        trapezoid = np.ones(self.nodes)
        trapezoid[[0, -1]] = 0.5
        log_w = np.log(step)[:, None] + np.log(trapezoid)[None, :]
        residual = (plx[:, None] - np.exp(-s)) / sigma[:, None]
        log_like = -0.5 * (_LOG_2PI + residual**2) - np.log(sigma)[:, None]
        return s, log_w, log_like

    def compiled_data(self, data: Measurements) -> tuple[int, np.ndarray]:
        """Option and per-point data rows of the compiled kernel's version of
        :meth:`log_density` (:func:`nestmix.model.kernels.component_table`): the nodes, then the
        grid's 3 s + log weights + log-likelihoods and its distances r, each (nodes, N)."""
        three_s, r, log_wl = self._cached_grid(data)
        return self.nodes, np.concatenate([(three_s + log_wl).T, r.T], axis=0)

    def log_density(self, params: Mapping[str, np.ndarray], data: Measurements) -> np.ndarray:
        """log p(ϖ_i | L), shape (m, N)."""
        three_s, r, log_wl = self._cached_grid(data)
        length = params["L"][:, None, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = (three_s + log_wl)[None] - r[None] / length - 3.0 * np.log(length)
            peak = terms.max(axis=2, keepdims=True)
            peak = np.where(np.isfinite(peak), peak, 0.0)
            out = peak[..., 0] + np.log(np.exp(terms - peak).sum(axis=2))
        return np.where(params["L"][:, None] > 0, out, -np.inf)
