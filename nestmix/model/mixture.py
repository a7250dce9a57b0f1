"""Mixture models: K deconvolved Gaussians, custom components and an optional uniform background.

The observed density of point i is

    p(y_i | θ) = Σ_k w_k N(y_i | μ_k, Σ_k + S_i)  [+ Σ_c w_c p_c(y_i | θ_c)]  [+ w_bg U(y_i | box)]

with S_i the point's measurement covariance (zero when the data have no errors) and p_c the
custom components (:mod:`nestmix.components.base`, e.g. a line with outliers). Components are
ordered Gaussians, custom components, background. Weights get one stick-breaking Dirichlet(α)
prior over all of them (α a number, or one per component in that order); means, scales,
correlations and the custom parameters get unit-cube priors from :mod:`nestmix.priors`. The same
:class:`MixtureModel` answers ``prior_transform``, ``log_likelihood`` (one θ or a batch) and
per-point per-component log-densities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nestmix.components import (
    UniformBox,
    default_box,
    gaussian_log_density,
    probe_component,
)
from nestmix.data.measurements import Measurements
from nestmix.errors import ModelError
from nestmix.model.kernels import MixtureKernel
from nestmix.model.layout import Layout, ModelChoices, Parameters, build_prior, weight_labels
from nestmix.runtime.threads import PARALLEL_MIN_POINTS

__all__ = ["CompiledParts", "MixtureModel", "Parameters"]

_CHUNK_ELEMENTS = 4_000_000  # bound on m × N × K × D² per batched likelihood chunk
_PROBE_DRAWS = 8  # prior draws on which custom components are checked before use


@dataclass(frozen=True, eq=False)
class CompiledParts:
    """What the compiled proposal needs: the prior plan and the likelihood kernel's arrays.

    Attributes
    ----------
    ops, params : ndarray
        The compiled prior plan (:class:`nestmix.priors._compiled.CompiledPlan`).
    kernel_arguments : tuple of ndarray
        ``source, fixed, lay, y, err, extra, log_bg`` of the fused likelihood kernel.
    parallel_min_points : int
        Points from which the kernel's parallel variant may be used (the kernel's own).
    """

    ops: np.ndarray
    params: np.ndarray
    kernel_arguments: tuple
    parallel_min_points: int = PARALLEL_MIN_POINTS


class MixtureModel:
    """K Gaussians, custom components and an optional uniform background, for given data.

    Parameters
    ----------
    data : Measurements
        Values (N, D) with optional per-point covariances, deconvolved in the likelihood, and
        the extra columns custom components use.
    k : int
        Number of Gaussian components: at least 1, or 0 when there are custom components.
    spec : ModelSpec
        Covariance family, background, ordering, priors and custom components.

    Attributes
    ----------
    param_names : tuple of str
        Names of the sampled parameters θ, in order.
    ndim : int
        Length of θ and of the unit cube.
    n_components : int
        K_total: K, plus the custom components, plus one with a background.
    extra_components : tuple
        The custom components, in order (their columns follow the Gaussians').
    weight_names : tuple of str
        Names of the K_total weights (the last is implied and not in θ).
    """

    def __init__(self, data: Measurements, k: int, spec: ModelChoices) -> None:
        extra = spec.extra_components
        low = 0 if extra else 1
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < low:
            raise ModelError(f"the number of components K must be an integer >= {low}, got {k!r}")
        if k == 0 and spec.order != "none":
            raise ModelError("model.order = 'means' needs at least one Gaussian component")
        self.data = data
        self.k = int(k)
        self.spec = spec
        self.n_dims = data.n_dims
        self.has_background = spec.background == "uniform"
        self.extra_components = extra
        self.n_components = self.k + len(extra) + int(self.has_background)
        self.weight_names = weight_labels(spec, self.k, self.has_background)
        self.background: UniformBox | None = None
        self._log_background: np.ndarray | None = None
        if self.has_background:
            edges: Any = spec.background_box
            if edges is None:
                edges = default_box(np.asarray(data.values))
            self.background = UniformBox.create(edges, np.asarray(data.values))
            self._log_background = self.background.log_density_of(np.asarray(data.values))
        self.prior = build_prior(spec, self.k, self.n_dims, self.n_components, data.columns)
        self._layout = Layout.create(spec, self.k, self.n_dims, self.n_components)
        self.param_names = self.prior.free_names
        self.ndim = self.prior.ndim
        data.require_points(self.ndim, f"the model with K={self.k}")
        self._values = np.asarray(data.values)
        self._point_cov = None if data.covariances is None else np.asarray(data.covariances)
        self._chunk = max(1, _CHUNK_ELEMENTS // (data.n_points * self.n_components
                                                 * self.n_dims**2))
        self._kernel = MixtureKernel(self._layout, self.prior, self._values, self._point_cov,
                                     self._log_background, n_extra=len(extra),
                                     components=extra, data=data)
        if extra:
            self._check_components()

    def _check_components(self) -> None:
        """Extra columns present, data accepted, and log-densities sane on prior draws."""
        available = tuple(self.data.extra or ())
        for component in self.extra_components:
            for column in getattr(component, "columns", ()):
                if column not in available:
                    raise ModelError(
                        f"model.extra_components.{component.name}: needs the extra data column "
                        f"{column!r}; the data have {', '.join(map(repr, available)) or 'none'}"
                        " (load_measurements(..., extra=[...]) or [data] extra = [...])")
            check = getattr(component, "check_data", None)
            if check is not None:
                check(self.data)
        rng = np.random.default_rng(20240521)  # fixed: the probe is the same on every build
        params = self.expand(self.prior_transform(rng.random((_PROBE_DRAWS, self.ndim))))
        for component in self.extra_components:
            probe_component(component, self._component_params(params, component), self.data)
    # ----------------------------------------------------------------- prior
    def prior_transform(self, u: np.ndarray) -> np.ndarray:
        """Map unit-cube points to parameters θ.

        Parameters
        ----------
        u : ndarray, shape (ndim,) or (n, ndim)

        Returns
        -------
        ndarray, same shape as ``u``
        """
        u = np.asarray(u, dtype=float)
        if u.ndim == 1:
            return self.prior.transform(u[None, :])[0]
        return self.prior.transform(u)

    # ------------------------------------------------------------ parameters
    def expand(self, theta: np.ndarray) -> Parameters:
        """Weights, means and covariances for θ of shape (ndim,) or (m, ndim)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        return self._layout.expand(self.prior.full(theta))

    # ------------------------------------------------------------ likelihood
    def component_log_densities(self, theta: np.ndarray) -> np.ndarray:
        """log p_k(y_i | θ) of every point under every component, weights not included.

        Parameters
        ----------
        theta : ndarray, shape (ndim,) or (m, ndim)

        Returns
        -------
        ndarray, shape (N, K_total) or (m, N, K_total)
            The K Gaussians, then the custom components, then the background when there is
            one.
        """
        single = np.ndim(theta) == 1
        params = self.expand(theta)
        out = self._log_densities(params)
        return out[0] if single else out

    def _log_densities(self, params: Parameters) -> np.ndarray:
        if self.k:
            dens = gaussian_log_density(self._values, self._point_cov, params.means,
                                        params.covariances)
        else:
            dens = np.empty((params.weights.shape[0], self.data.n_points, 0))
        if self.extra_components:
            custom = [np.asarray(c.log_density(self._component_params(params, c), self.data),
                                 dtype=float) for c in self.extra_components]
            dens = np.concatenate([dens, np.stack(custom, axis=2)], axis=2)
        if self._log_background is not None:
            bg = np.broadcast_to(self._log_background[None, :, None],
                                 (dens.shape[0], dens.shape[1], 1))
            dens = np.concatenate([dens, bg], axis=2)
        return dens

    @staticmethod
    def _component_params(params: Parameters, component: Any) -> dict[str, np.ndarray]:
        """The parameters of one custom component by their short names, arrays of shape (m,)."""
        return {p: params.extra[f"{component.name}_{p}"] for p in component.parameters}

    def log_likelihood(self, theta: np.ndarray) -> float:
        """Log-likelihood of the data for one parameter vector θ of shape (ndim,)."""
        theta = np.asarray(theta, dtype=float)
        if theta.ndim != 1:
            raise ModelError(f"θ must have shape ({self.ndim},), got {theta.shape}")
        if not self.extra_components or self._kernel.compiles_components:
            return float(self._kernel(theta[None, :])[0])
        return float(self.log_likelihood_batch(theta[None, :])[0])

    def compiled_parts(self) -> CompiledParts | None:
        """The compiled prior plan and likelihood kernel arrays, or None when either is not
        compiled (numpy backend, a user-defined component, a prior without a compiled form).

        Used by :class:`nestmix.samplers.dynesty.compiled_slice.CompiledSliceSampler`, which calls
        the same compiled functions as :meth:`prior_transform` and :meth:`log_likelihood`; a
        subclass that overrides either of those gets None, so its own versions are used.
        """
        cls = type(self)
        if (cls.prior_transform is not MixtureModel.prior_transform
                or cls.log_likelihood is not MixtureModel.log_likelihood):
            return None
        kernel_arguments = self._kernel.compiled_arguments()
        plan = self.prior.compiled_plan
        if kernel_arguments is None or plan is None or plan.numpy_blocks:
            return None
        return CompiledParts(plan.ops, plan.params, kernel_arguments,
                             self._kernel.parallel_min_points)

    @property
    def compiled_path(self) -> bool:
        """Whether :meth:`prior_transform` and :meth:`log_likelihood` run wholly in compiled
        code (:meth:`compiled_parts` is not None); :attr:`numpy_parts` says what does not."""
        return not self.numpy_parts

    @property
    def numpy_parts(self) -> tuple[str, ...]:
        """What runs in Python or numpy rather than compiled code; empty on the compiled path."""
        cls = type(self)
        parts = [f"{cls.__name__} overrides prior_transform or log_likelihood"] if (
            cls.prior_transform is not MixtureModel.prior_transform
            or cls.log_likelihood is not MixtureModel.log_likelihood) else []
        if self._kernel.backend != "numba":
            parts.append("likelihood (numpy backend)")
        if not self._kernel.compiles_components:
            parts += [f"component {c.name} ({getattr(c, 'family', '') or type(c).__name__})"
                      for c in self.extra_components]
        return (*parts, *(f"prior {block}" for block in self.prior.numpy_blocks))

    def log_likelihood_batch(self, thetas: np.ndarray) -> np.ndarray:
        """Log-likelihoods for many parameter vectors, shape (m, ndim) → (m,).

        Evaluated by the fused kernel of :mod:`nestmix.model.kernels` (one pass over points and
        components, no (m, N, K) arrays); custom components' densities are computed in chunks
        of θ so that memory stays bounded for large m × N.
        """
        thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
        if not self.extra_components or self._kernel.compiles_components:
            return self._kernel(thetas)
        out = np.empty(thetas.shape[0])
        for start in range(0, thetas.shape[0], self._chunk):
            block = thetas[start:start + self._chunk]
            params = self.expand(block)
            extra = np.stack([np.asarray(c.log_density(self._component_params(params, c),
                                                       self.data), dtype=float)
                              for c in self.extra_components], axis=1)
            out[start:start + self._chunk] = self._kernel(block, extra)
        return out

    def membership_log_probabilities(self, theta: np.ndarray) -> np.ndarray:
        """log of w_k p_k(y_i) / Σ_j w_j p_j(y_i) for one θ or a batch.

        Parameters
        ----------
        theta : ndarray, shape (ndim,) or (m, ndim)

        Returns
        -------
        ndarray, shape (N, K_total) or (m, N, K_total)
            Where no component can produce a point under some θ, its shares are equal.
        """
        single = np.ndim(theta) == 1
        params = self.expand(theta)
        with np.errstate(divide="ignore"):
            terms = self._log_densities(params) + np.log(params.weights)[:, None, :]
        peak = terms.max(axis=2, keepdims=True)
        peak = np.where(np.isfinite(peak), peak, 0.0)
        with np.errstate(divide="ignore"):
            norm = peak + np.log(np.exp(terms - peak).sum(axis=2, keepdims=True))
        out = np.where(np.isfinite(norm), terms - norm, -np.log(terms.shape[2]))
        return out[0] if single else out

    # ---------------------------------------------------------- description
    def describe(self) -> dict:
        """JSON-able description of the model (without the data) for fingerprints."""
        return {
            **self.spec.to_dict(),
            "k": self.k,
            "ndim": self.ndim,
            "parameters": list(self.param_names),
            "prior_blocks": self.prior.describe(),
            "background_box": None if self.background is None else self.background.to_dict(),
        }

    def __repr__(self) -> str:
        bg = "".join(f" + {c.name}" for c in self.extra_components)
        bg += " + uniform background" if self.has_background else ""
        return (f"MixtureModel(K={self.k}{bg}, D={self.n_dims}, covariance="
                f"{self.spec.covariance!r}, order={self.spec.order!r}, ndim={self.ndim})")
