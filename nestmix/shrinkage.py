"""Shrinkage: each object's noise-free value given the fitted mixture.

A measurement y_i = x_i + noise with covariance S_i, and a mixture prior on the true value x_i.
For a Gaussian component k (weight w_k, mean μ_k, covariance Σ_k) the posterior of x_i is a
Gaussian mixture over the components, with responsibilities r_ik ∝ w_k N(y_i | μ_k, Σ_k + S_i)
and component posteriors

    V_ik = (Σ_k⁻¹ + S_i⁻¹)⁻¹,   m_ik = V_ik (Σ_k⁻¹ μ_k + S_i⁻¹ y_i).

Averaged over posterior draws of the mixture parameters this is again a Gaussian mixture per
object. A uniform background (or a custom component, whose density of the true value is not
known here) is treated as a flat prior on x_i: its share of the responsibility gives N(y_i, S_i),
i.e. no shrinkage. Objects measured without errors are not shrunk at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nestmix.errors import DataError

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
    k = params.means.shape[1]
    resp = np.exp(model.membership_log_probabilities(draws))  # (m, N, K_total)
    s_inv = np.linalg.inv(s)  # (N, D, D)
    sigma_inv = np.linalg.inv(params.covariances)  # (m, K, D, D)
    post_cov = np.linalg.inv(sigma_inv[:, None] + s_inv[None, :, None])  # (m, N, K, D, D)
    rhs = (np.einsum("mkde,mke->mkd", sigma_inv, params.means)[:, None]
           + np.einsum("nde,ne->nd", s_inv, y)[None, :, None])  # (m, N, K, D)
    post_mean = np.einsum("mnkde,mnke->mnkd", post_cov, rhs)
    flat_terms = resp.shape[2] - k  # background and custom components: no shrinkage
    if flat_terms:
        post_mean = np.concatenate(
            [post_mean, np.broadcast_to(y[None, :, None, :], (n_draws, n, flat_terms, d))],
            axis=2)
        post_cov = np.concatenate(
            [post_cov, np.broadcast_to(s[None, :, None], (n_draws, n, flat_terms, d, d))],
            axis=2)
    terms = resp.shape[2]
    mix_w = resp.transpose(1, 0, 2).reshape(n, n_draws * terms) / n_draws
    mix_mu = post_mean.transpose(1, 0, 2, 3).reshape(n, n_draws * terms, d)
    mix_cov = post_cov.transpose(1, 0, 2, 3, 4).reshape(n, n_draws * terms, d, d)
    return Shrinkage(weights=mix_w, means=mix_mu, covariances=mix_cov, measured=y.copy())
