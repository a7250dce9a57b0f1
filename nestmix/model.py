"""Mixture models: K deconvolved Gaussian components, optionally over a uniform background.

The observed density of point i is

    p(y_i | θ) = Σ_k w_k N(y_i | μ_k, Σ_k + S_i)  [+ w_bg U(y_i | box)]

with S_i the point's measurement covariance (zero when the data have no errors). Weights get a
stick-breaking Dirichlet(α) prior; means, scales and correlations get unit-cube priors from
:mod:`nestmix.priors`. The same :class:`MixtureModel` answers ``prior_transform``,
``log_likelihood`` (one θ or a batch) and per-point per-component log-densities.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nestmix.components import UniformBox, default_box, gaussian_log_density
from nestmix.data import Measurements
from nestmix.errors import ModelError
from nestmix.parameters import Layout, Parameters, build_prior

__all__ = ["COVARIANCE_TYPES", "MixtureModel", "ModelSpec", "Parameters"]

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
BACKGROUNDS = ("none", "uniform")
ORDERS = ("none", "means")
PRIOR_KEYS = ("mean", "variance", "sigma", "correlation", "weights")
_CHUNK_ELEMENTS = 4_000_000  # bound on m × N × K × D² per batched likelihood chunk


@dataclass(frozen=True)
class ModelSpec:
    """Everything that defines a mixture model except the data and K.

    Attributes
    ----------
    covariance : str
        ``full``, ``diag``, ``spherical`` or ``tied`` (scikit-learn's names; in 1-D the first
        three coincide and ``tied`` means one variance shared by all components).
    background : str
        ``none`` or ``uniform`` (a flat density over ``background_box``).
    order : str
        ``none`` (exchangeable labels) or ``means`` (means ordered along the first axis).
    priors : mapping
        ``mean``, one of ``variance`` / ``sigma``, optional ``correlation`` (``{dist = "lkj",
        eta = 1}``) and ``weights`` (``{dist = "dirichlet", alpha = 1}``). Mean and scale priors
        are one spec for every dimension or a list with one spec per dimension; a number holds
        the parameter fixed.
    background_box : tuple or None
        (D, 2) edges of the uniform background; default the data's range padded by 10%.
    components : str
        The component family; ``gaussian``.
    """

    covariance: str = "full"
    background: str = "none"
    order: str = "none"
    priors: Mapping[str, Any] = field(default_factory=dict)
    background_box: tuple | None = None
    components: str = "gaussian"

    def __post_init__(self) -> None:
        _check_choice("model.components", self.components, ("gaussian",))
        _check_choice("model.covariance", self.covariance, COVARIANCE_TYPES)
        _check_choice("model.background", self.background, BACKGROUNDS)
        _check_choice("model.order", self.order, ORDERS)
        unknown = sorted(set(self.priors) - set(PRIOR_KEYS))
        if unknown:
            raise ModelError(
                f"model.priors: unknown prior {unknown[0]!r}; valid: {', '.join(PRIOR_KEYS)}"
            )
        if "mean" not in self.priors:
            raise ModelError("model.priors: missing 'mean' (the prior on component means)")
        if ("variance" in self.priors) == ("sigma" in self.priors):
            raise ModelError(
                "model.priors: give exactly one of 'variance' or 'sigma' "
                "(the prior on component variances or standard deviations)"
            )
        if self.background_box is not None and self.background != "uniform":
            raise ModelError("model.background_box is only used with background = 'uniform'")

    def build(self, data: Measurements, k: int) -> MixtureModel:
        """The model with ``k`` Gaussian components for ``data``."""
        return MixtureModel(data, k, self)

    def to_dict(self) -> dict:
        """JSON-able description (input to run fingerprints)."""
        return {
            "components": self.components,
            "covariance": self.covariance,
            "background": self.background,
            "order": self.order,
            "priors": _jsonable(dict(self.priors)),
            "background_box": None if self.background_box is None else _jsonable(
                self.background_box),
        }


class MixtureModel:
    """A K-component Gaussian mixture, optionally over a uniform background, for given data.

    Parameters
    ----------
    data : Measurements
        Values (N, D) with optional per-point covariances, deconvolved in the likelihood.
    k : int
        Number of Gaussian components, at least 1.
    spec : ModelSpec
        Covariance family, background, ordering and priors.

    Attributes
    ----------
    param_names : tuple of str
        Names of the sampled parameters θ, in order.
    ndim : int
        Length of θ and of the unit cube.
    """

    def __init__(self, data: Measurements, k: int, spec: ModelSpec) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ModelError(f"the number of components K must be an integer >= 1, got {k!r}")
        self.data = data
        self.k = int(k)
        self.spec = spec
        self.n_dims = data.n_dims
        self.has_background = spec.background == "uniform"
        self.n_components = self.k + int(self.has_background)
        if self.has_background:
            edges = spec.background_box
            if edges is None:
                edges = default_box(np.asarray(data.values))
            self.background = UniformBox.create(edges, np.asarray(data.values))
            self._log_background = self.background.log_density_of(np.asarray(data.values))
        else:
            self.background = None
            self._log_background = None
        self.prior = build_prior(spec, self.k, self.n_dims, self.n_components, data.columns)
        self._layout = Layout.create(spec, self.k, self.n_dims, self.n_components)
        self.param_names = self.prior.free_names
        self.ndim = self.prior.ndim
        data.require_points(self.ndim, f"the model with K={self.k}")
        self._values = np.asarray(data.values)
        self._point_cov = None if data.covariances is None else np.asarray(data.covariances)
        self._chunk = max(1, _CHUNK_ELEMENTS // (data.n_points * self.n_components
                                                 * self.n_dims**2))

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
            The background, when there is one, is the last column.
        """
        single = np.ndim(theta) == 1
        params = self.expand(theta)
        out = self._log_densities(params)
        return out[0] if single else out

    def _log_densities(self, params: Parameters) -> np.ndarray:
        dens = gaussian_log_density(self._values, self._point_cov, params.means,
                                    params.covariances)
        if self.has_background:
            bg = np.broadcast_to(self._log_background[None, :, None],
                                 (dens.shape[0], dens.shape[1], 1))
            dens = np.concatenate([dens, bg], axis=2)
        return dens

    def log_likelihood(self, theta: np.ndarray) -> float:
        """Log-likelihood of the data for one parameter vector θ of shape (ndim,)."""
        return float(self.log_likelihood_batch(np.asarray(theta, dtype=float)[None, :])[0])

    def log_likelihood_batch(self, thetas: np.ndarray) -> np.ndarray:
        """Log-likelihoods for many parameter vectors, shape (m, ndim) → (m,).

        Evaluated in chunks of θ so that memory stays bounded for large m × N × K.
        """
        thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
        out = np.empty(thetas.shape[0])
        for start in range(0, thetas.shape[0], self._chunk):
            params = self.expand(thetas[start:start + self._chunk])
            with np.errstate(divide="ignore"):
                log_w = np.log(params.weights)[:, None, :]
            terms = self._log_densities(params) + log_w
            peak = terms.max(axis=2)
            safe = np.where(np.isfinite(peak), peak, 0.0)
            per_point = safe + np.log(np.exp(terms - safe[..., None]).sum(axis=2))
            out[start:start + self._chunk] = per_point.sum(axis=1)
        return np.where(np.isnan(out), -np.inf, out)

    def membership_log_probabilities(self, theta: np.ndarray) -> np.ndarray:
        """log of w_k p_k(y_i) / Σ_j w_j p_j(y_i), shape (N, K_total), for one θ."""
        params = self.expand(theta)
        with np.errstate(divide="ignore"):
            terms = self._log_densities(params)[0] + np.log(params.weights[0])[None, :]
        peak = terms.max(axis=1, keepdims=True)
        return terms - (peak + np.log(np.exp(terms - peak).sum(axis=1, keepdims=True)))

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
        bg = " + uniform background" if self.has_background else ""
        return (f"MixtureModel(K={self.k}{bg}, D={self.n_dims}, covariance="
                f"{self.spec.covariance!r}, order={self.spec.order!r}, ndim={self.ndim})")


def _check_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ModelError(f"{key}: unknown value {value!r}; valid: {', '.join(choices)}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
