"""Shrinkage: each object's noise-free value given the fitted mixture.

A measurement y_i = x_i + noise with covariance S_i, and a mixture prior on the true value x_i.
For a Gaussian component k (weight w_k, mean μ_k, covariance Σ_k) the posterior of x_i is a
Gaussian mixture over the components, with responsibilities r_ik ∝ w_k N(y_i | μ_k, Σ_k + S_i)
and component posteriors

    V_ik = (Σ_k⁻¹ + S_i⁻¹)⁻¹,   m_ik = V_ik (Σ_k⁻¹ μ_k + S_i⁻¹ y_i).

Averaged over posterior draws of the mixture parameters this is again a Gaussian mixture per
object. A custom component whose noise-free values are Gaussian says so with a method
``noise_free_gaussian(params) -> (means (m, D), covariances (m, D, D))`` (e.g.
``gaussian_cluster``) and is treated like a Gaussian component. A uniform background, or a
custom component without that method (whose density of the true value is not known here), is
treated as a flat prior on x_i: its share of the responsibility gives N(y_i, S_i), i.e. no
shrinkage. Objects measured without errors are not shrunk at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nestmix.errors import DataError, ModelError

__all__ = ["Shrinkage", "shrinkage"]


@dataclass(frozen=True)
class Shrinkage:
    """Posterior of every object's noise-free value, as a Gaussian mixture per object.

    Attributes
    ----------
    weights : ndarray, shape (N, M)
        Mixture weights per object over M = draws × components terms (rows sum to one).
    means : ndarray, shape (N, M, D)
    covariances : ndarray, shape (N, M, D, D)
    measured : ndarray, shape (N, D)
        The raw measurements, for comparison.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    measured: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """Posterior mean of each noise-free value, shape (N, D)."""
        return np.einsum("nm,nmd->nd", self.weights, self.means)

    @property
    def covariance(self) -> np.ndarray:
        """Posterior covariance of each noise-free value, shape (N, D, D)."""
        centred = self.means - self.mean[:, None, :]
        spread = np.einsum("nm,nmd,nme->nde", self.weights, centred, centred)
        return np.einsum("nm,nmde->nde", self.weights, self.covariances) + spread

    @property
    def std(self) -> np.ndarray:
        """Posterior standard deviation of each noise-free value per axis, shape (N, D)."""
        return np.sqrt(np.diagonal(self.covariance, axis1=1, axis2=2))

    def density(self, index: int, grid: np.ndarray) -> np.ndarray:
        """1-D data: the posterior density of object ``index``'s true value on ``grid``."""
        if self.means.shape[2] != 1:
            raise DataError("density() is for 1-D data; use mean and covariance in D > 1")
        mu = self.means[index, :, 0]
        var = self.covariances[index, :, 0, 0]
        grid = np.asarray(grid, dtype=float)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            pdf = np.exp(-0.5 * (grid - mu) ** 2 / var) / np.sqrt(2 * np.pi * var)
        return np.nan_to_num(pdf) @ self.weights[index]


def shrinkage(model, thetas: np.ndarray, weights: np.ndarray | None = None, *,
              rng: np.random.Generator, n_draws: int = 200) -> Shrinkage:
    """The posterior of every object's noise-free value given the mixture.

    Parameters
    ----------
    model : MixtureModel
        The model the samples belong to (its data must have measurement errors).
    thetas : ndarray, shape (n, ndim)
        Posterior samples (e.g. ``run.samples``).
    weights : ndarray, shape (n,), optional
        Their posterior weights (e.g. ``run.weights``); equal weights when omitted.
    rng : numpy.random.Generator
        For the equally weighted draws.
    n_draws : int
        Posterior draws averaged over.

    Returns
    -------
    Shrinkage

    Raises
    ------
    DataError
        If the data have no measurement errors.
    ModelError
        If a custom component's ``noise_free_gaussian`` returns arrays of the wrong shape.
    """
    data = model.data
    if data.covariances is None:
        raise DataError("shrinkage needs measurement errors; these data have none")
    thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
    p = None if weights is None else np.asarray(weights, dtype=float) / np.sum(weights)
    draws = thetas[rng.choice(len(thetas), size=n_draws, p=p)]
    params = model.expand(draws)
    y = np.asarray(data.values)  # (N, D)
    s = np.asarray(data.covariances)  # (N, D, D)
    n, d = y.shape
    resp = np.exp(model.membership_log_probabilities(draws))  # (m, N, K_total)
    prior_means, prior_covs, flat = _noise_free_priors(model, params, n_draws, d)
    post_cov = np.empty((n_draws, n, len(flat), d, d))
    post_mean = np.empty((n_draws, n, len(flat), d))
    gaussian = np.flatnonzero(~flat)
    if len(gaussian):
        # V = Σ − Σ (Σ + S)⁻¹ Σ and m = μ + Σ (Σ + S)⁻¹ (y − μ): the same as the information
        # form above, and exact for a singular Σ (a population without intrinsic width)
        sigma = prior_covs[:, None]  # (m, 1, J, D, D)
        gain = sigma @ np.linalg.inv(sigma + s[None, :, None])  # (m, N, J, D, D)
        cov = sigma - gain @ sigma
        post_cov[:, :, gaussian] = 0.5 * (cov + np.swapaxes(cov, -1, -2))
        residual = y[None, :, None, :] - prior_means[:, None]  # (m, N, J, D)
        post_mean[:, :, gaussian] = prior_means[:, None] + np.einsum("mnkde,mnke->mnkd", gain,
                                                                     residual)
    post_cov[:, :, flat] = s[None, :, None]  # flat prior: no shrinkage
    post_mean[:, :, flat] = y[None, :, None, :]
    terms = resp.shape[2]
    mix_w = resp.transpose(1, 0, 2).reshape(n, n_draws * terms) / n_draws
    mix_mu = post_mean.transpose(1, 0, 2, 3).reshape(n, n_draws * terms, d)
    mix_cov = post_cov.transpose(1, 0, 2, 3, 4).reshape(n, n_draws * terms, d, d)
    return Shrinkage(weights=mix_w, means=mix_mu, covariances=mix_cov, measured=y.copy())


def _noise_free_priors(model, params, m: int, d: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian priors of the true values, one per mixture term that has one.

    Returns the means (m, J, D) and covariances (m, J, D, D) of the J Gaussian terms (the K
    Gaussians, then the custom components with ``noise_free_gaussian``), and a boolean per
    mixture term (Gaussians, custom components, background) that is True for flat terms.
    """
    means, covs = [params.means], [params.covariances]
    flat = [False] * params.means.shape[1]
    for component in model.extra_components:
        method = getattr(component, "noise_free_gaussian", None)
        if method is None:
            flat.append(True)
            continue
        mine = {p: params.extra[f"{component.name}_{p}"] for p in component.parameters}
        mu, cov = (np.asarray(a, dtype=float) for a in method(mine))
        if mu.shape != (m, d) or cov.shape != (m, d, d):
            raise ModelError(f"noise_free_gaussian "
                             f"returned shapes {mu.shape} and {cov.shape}; expected ({m}, {d}) "
                             f"and ({m}, {d}, {d})", key=f"model.extra_components.{component.name}")
        means.append(mu[:, None])
        covs.append(cov[:, None])
        flat.append(False)
    flat += [True] * int(getattr(model, "has_background", False))
    return (np.concatenate(means, axis=1), np.concatenate(covs, axis=1),
            np.asarray(flat, dtype=bool))
