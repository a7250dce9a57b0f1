"""A single D-dimensional Gaussian population with its own priors, e.g. a star cluster.

``gaussian_cluster``
    One population with mean μ (one parameter per axis) and an intrinsic dispersion, convolved
    with every point's measurement covariance S_i (from the data's Gaia-style error and
    correlation columns):

        p(y_i | μ, σ) = N(y_i | μ, diag(σ²) + S_i).

    Unlike the K Gaussians a sweep counts (which share one prior), it has priors of its own, so
    it can be *narrow* (an open cluster in proper motion: σ of a few hundredths of a mas/yr)
    while the field's Gaussians are broad; and it is never relabelled. Its parameters are named
    after the data's columns: ``mu_<axis>`` for each axis, and ``sigma`` (``shape =
    "isotropic"``, one dispersion for every axis) or ``sigma_<axis>`` (``shape = "diagonal"``).
    The sign of a σ does not matter (only σ² enters); σ may be held fixed, also at 0 (a
    population without intrinsic width, e.g. a cluster's parallax), when the data have errors.

Because its noise-free density is Gaussian, :func:`nestmix.posterior.shrinkage.shrinkage` shrinks
its members towards μ (:meth:`GaussianCluster.noise_free_gaussian`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from nestmix.components.base import Component, register_component
from nestmix.components.gaussian import gaussian_log_density
from nestmix.errors import ModelError, PriorError, keyed
from nestmix.priors import Fixed, univariate_from_spec

if TYPE_CHECKING:
    from nestmix.data.measurements import Measurements

__all__ = ["GaussianCluster"]

SHAPES = ("isotropic", "diagonal")


@register_component
@dataclass(frozen=True)
class GaussianCluster(Component):
    """One Gaussian population N(μ, diag(σ²) + S_i) with per-axis means and its own priors.

    Attributes
    ----------
    axes : tuple of str
        The data's value columns, in order (default Gaia's ``("pmra", "pmdec")``); the
        parameters are ``mu_<axis>`` and ``sigma`` or ``sigma_<axis>``.
    shape : str
        ``isotropic`` (one dispersion ``sigma``, default) or ``diagonal`` (``sigma_<axis>``
        per axis).

    Examples
    --------
    >>> cluster = make_component("gaussian_cluster", name="cluster", priors={
    ...     "mu_pmra": {"dist": "uniform", "loc": -10, "scale": 20},
    ...     "mu_pmdec": {"dist": "uniform", "loc": -10, "scale": 20},
    ...     "sigma": {"dist": "loguniform", "a": 0.005, "b": 0.5}})  # doctest: +SKIP
    """

    axes: tuple[str, ...] = ("pmra", "pmdec")
    shape: str = "isotropic"

    family: ClassVar[str] = "gaussian_cluster"

    def __post_init__(self) -> None:
        axes = self.axes
        if isinstance(axes, str) or not isinstance(axes, (tuple, list)) or not axes:
            raise ValueError(f"axes must be a non-empty list of column names, got {axes!r}")
        if not all(isinstance(a, str) and a.isidentifier() for a in axes):
            raise ValueError(f"axes must be column names of letters, digits and '_', "
                             f"got {list(axes)!r}")
        if len(set(axes)) != len(axes):
            raise ValueError(f"axes: repeated column names in {list(axes)!r}")
        if self.shape not in SHAPES:
            raise ValueError(f"shape: unknown value {self.shape!r}; valid: {', '.join(SHAPES)}")
        object.__setattr__(self, "axes", tuple(axes))

    @property
    def parameters(self) -> tuple[str, ...]:  # type: ignore[override]
        """``mu_<axis>`` per axis, then ``sigma`` or ``sigma_<axis>`` per axis."""
        scales = ("sigma",) if self.shape == "isotropic" else tuple(
            f"sigma_{a}" for a in self.axes)
        return tuple(f"mu_{a}" for a in self.axes) + scales

    def _scale_names(self) -> tuple[str, ...]:
        return self.parameters[len(self.axes):]

    def check_data(self, data: Measurements) -> None:
        """The data's columns are ``axes``; without errors, every σ needs a free prior."""
        key = f"model.extra_components.{self.name}"
        if tuple(data.columns) != self.axes:
            raise ModelError(f"the component's axes {list(self.axes)} do not match "
                             f"the data's columns {list(data.columns)}; set axes to the data's "
                             "columns, in order", key=f"{key}.axes")
        if data.covariances is None:
            for name in self._scale_names():
                try:
                    prior = univariate_from_spec(self.priors[name], key=f"{key}.priors.{name}")
                except PriorError as exc:
                    raise keyed(exc, f"{key}.priors.{name}") from None
                if isinstance(prior, Fixed) and prior.value == 0:
                    raise ModelError("data without errors need a non-zero "
                                     "intrinsic dispersion; give it a prior",
                                     key=f"{key}.priors.{name}")

    def noise_free_gaussian(self, params: Mapping[str, np.ndarray]
                            ) -> tuple[np.ndarray, np.ndarray]:
        """Mean (m, D) and covariance (m, D, D) of the population's noise-free values."""
        means = np.stack([np.asarray(params[f"mu_{a}"], dtype=float) for a in self.axes],
                         axis=1)
        scales = np.stack([np.asarray(params[s], dtype=float) for s in self._scale_names()],
                          axis=1)
        variances = np.broadcast_to(scales**2, means.shape)
        return means, variances[:, :, None] * np.eye(len(self.axes))

    def log_density(self, params: Mapping[str, np.ndarray], data: Measurements) -> np.ndarray:
        """log N(y_i | μ, diag(σ²) + S_i), shape (m, N); −inf where the sum is singular."""
        means, covariances = self.noise_free_gaussian(params)
        values = np.asarray(data.values)
        if means.shape[1] != values.shape[1]:
            raise ModelError(f"{means.shape[1]} axes but "
                             f"the data have D={values.shape[1]}",
                             key=f"model.extra_components.{self.name}")
        point_cov = None if data.covariances is None else np.asarray(data.covariances)
        return gaussian_log_density(values, point_cov, means[:, None], covariances[:, None])[..., 0]

    def compiled_data(self, data: Measurements) -> tuple[int, np.ndarray]:
        """Option and per-point data rows of the compiled kernel's version of
        :meth:`log_density` (:func:`nestmix.model.kernels.component_table`)."""
        return len(self._scale_names()), np.empty((0, data.n_points))

    def options(self) -> dict[str, Any]:
        """Axes as a list (JSON) and the shape."""
        return {"axes": list(self.axes), "shape": self.shape}
