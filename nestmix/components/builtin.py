"""Built-in custom component families for one-dimensional data, registered by name.

``line``
    y = m x + b with per-point σ_y from the data's errors and an optional intrinsic scatter:
    N(y_i | m x_i + b, σ_i² + scatter²). Needs the extra column ``x`` (option ``x``).
``gaussian_outlier``
    A broad population around a fixed or free centre: N(y_i | mu, σ_i² + exp(2 ln_s)), e.g. the
    outliers of a regression (Hogg, Bovy & Lang 2010) with ``mu = 0`` held fixed.
``student_t``
    Location-scale Student-t with ``nu`` degrees of freedom. The convolution of a t with a
    Gaussian error has no closed form: with ``errors = "broaden"`` (default) the scale is
    sqrt(sigma² + σ_i²), exact without errors and as nu → ∞, an approximation otherwise;
    ``errors = "ignore"`` uses sigma alone.

σ_i is zero when the data carry no errors. Every density is vectorised over the batch (m) and
the points (N).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from scipy.special import gammaln

from nestmix.components.base import Component, register_component
from nestmix.errors import ModelError
from nestmix.priors import Fixed, univariate_from_spec

if TYPE_CHECKING:
    from nestmix.data.measurements import Measurements

__all__ = ["GaussianOutlier", "Line", "StudentT"]

_LOG_2PI = float(np.log(2.0 * np.pi))


def _one_dimensional(component: Component, data: Measurements) -> None:
    if data.n_dims != 1:
        raise ModelError(f"family "
                         f"{component.family!r} needs one-dimensional data, got D={data.n_dims}",
                         key=f"model.extra_components.{component.name}")


def _point_variance(data: Measurements) -> np.ndarray:
    """σ_i² of every point, shape (1, N); zeros without errors."""
    if data.covariances is None:
        return np.zeros((1, data.n_points))
    return data.covariances[None, :, 0, 0]


def _normal_log_density(residual: np.ndarray, variance: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -0.5 * (_LOG_2PI + np.log(variance) + residual * residual / variance)
    return np.where(variance > 0, out, -np.inf)


def _fixed_zero(spec: Any) -> bool:
    prior = univariate_from_spec(spec)
    return isinstance(prior, Fixed) and prior.value == 0


@register_component
@dataclass(frozen=True)
class Line(Component):
    """Straight line y = m x + b with per-point σ_y and optional intrinsic ``scatter``.

    Parameters ``m``, ``b`` and ``scatter`` (default 0: held fixed; its sign does not matter).

    Attributes
    ----------
    x : str
        Name of the extra data column holding x.
    """

    x: str = "x"

    family: ClassVar[str] = "line"
    parameters: ClassVar[tuple[str, ...]] = ("m", "b", "scatter")
    defaults: ClassVar[Mapping[str, Any]] = {"scatter": 0.0}

    @property
    def columns(self) -> tuple[str, ...]:  # type: ignore[override]
        """The extra column used as x."""
        return (self.x,)

    def check_data(self, data: Measurements) -> None:
        """One-dimensional y; errors or a free scatter."""
        _one_dimensional(self, data)
        if data.covariances is None and _fixed_zero(self.priors.get("scatter", 0.0)):
            raise ModelError("data without errors need a "
                             "prior on the intrinsic scatter (priors.scatter)",
                             key=f"model.extra_components.{self.name}")

    def log_density(self, params: Mapping[str, np.ndarray], data: Measurements) -> np.ndarray:
        """log N(y_i | m x_i + b, σ_i² + scatter²), shape (m, N)."""
        assert data.extra is not None  # checked by check_data
        x = data.extra[self.x][None, :]
        line = params["m"][:, None] * x + params["b"][:, None]
        variance = _point_variance(data) + params["scatter"][:, None] ** 2
        return _normal_log_density(data.values[None, :, 0] - line, variance)

    def compiled_data(self, data: Measurements) -> tuple[int, np.ndarray]:
        """Option and per-point data rows of the compiled kernel's version of
        :meth:`log_density` (:func:`nestmix.model.kernels.component_table`)."""
        extra = data.extra or {}  # the model checked the column before building the kernel
        return 0, np.asarray(extra[self.x], dtype=float)[None, :]


@register_component
@dataclass(frozen=True)
class GaussianOutlier(Component):
    """A broad Gaussian N(mu, σ_i² + s²) with ``ln_s`` = ln s; parameters ``mu``, ``ln_s``."""

    family: ClassVar[str] = "gaussian_outlier"
    parameters: ClassVar[tuple[str, ...]] = ("mu", "ln_s")

    def check_data(self, data: Measurements) -> None:
        """One-dimensional data."""
        _one_dimensional(self, data)

    def log_density(self, params: Mapping[str, np.ndarray], data: Measurements) -> np.ndarray:
        """log N(y_i | mu, σ_i² + exp(2 ln_s)), shape (m, N)."""
        variance = _point_variance(data) + np.exp(2.0 * params["ln_s"])[:, None]
        return _normal_log_density(data.values[None, :, 0] - params["mu"][:, None], variance)

    def compiled_data(self, data: Measurements) -> tuple[int, np.ndarray]:
        """Option and per-point data rows of the compiled kernel's version of
        :meth:`log_density` (:func:`nestmix.model.kernels.component_table`)."""
        return 0, np.empty((0, data.n_points))


@register_component
@dataclass(frozen=True)
class StudentT(Component):
    """Location-scale Student-t; parameters ``mu``, ``sigma`` (> 0) and ``nu`` (> 0).

    Attributes
    ----------
    errors : str
        ``broaden`` (scale sqrt(sigma² + σ_i²), an approximation with errors) or ``ignore``.
    """

    errors: str = "broaden"

    family: ClassVar[str] = "student_t"
    parameters: ClassVar[tuple[str, ...]] = ("mu", "sigma", "nu")

    def __post_init__(self) -> None:
        if self.errors not in ("broaden", "ignore"):
            raise ValueError(f"errors: unknown value {self.errors!r}; valid: broaden, ignore")

    def check_data(self, data: Measurements) -> None:
        """One-dimensional data."""
        _one_dimensional(self, data)

    def log_density(self, params: Mapping[str, np.ndarray], data: Measurements) -> np.ndarray:
        """log t_nu(y_i | mu, scale), shape (m, N)."""
        nu = params["nu"][:, None]
        scale2 = params["sigma"][:, None] ** 2
        if self.errors == "broaden":
            scale2 = scale2 + _point_variance(data)
        z2 = (data.values[None, :, 0] - params["mu"][:, None]) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (gammaln(0.5 * (nu + 1.0)) - gammaln(0.5 * nu) - 0.5 * np.log(nu * np.pi)
                   - 0.5 * np.log(scale2) - 0.5 * (nu + 1.0) * np.log1p(z2 / (nu * scale2)))
        return np.where((scale2 > 0) & (nu > 0), out, -np.inf)

    def compiled_data(self, data: Measurements) -> tuple[int, np.ndarray]:
        """Option and per-point data rows of the compiled kernel's version of
        :meth:`log_density` (:func:`nestmix.model.kernels.component_table`)."""
        return int(self.errors == "broaden"), np.empty((0, data.n_points))
