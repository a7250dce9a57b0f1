"""The numpy fallback of the fused likelihood: the reference densities, chunked over θ and points.

Used when numba is not importable (or ``NESTMIX_KERNEL=numpy``). Per chunk it computes the
(m, n, K_total) log-terms with :func:`nestmix.components.gaussian_log_density`, adds the
log-weights in place and reduces them with a stable log-sum-exp, so that memory stays bounded by
``max_elements`` doubles per temporary whatever N is.
"""

from __future__ import annotations

import numpy as np

from nestmix.components import gaussian_log_density
from nestmix.model.layout import Parameters

__all__ = ["loglike_numpy"]


def loglike_numpy(params: Parameters, values: np.ndarray, point_cov: np.ndarray | None,
                  extra: np.ndarray | None, log_bg: np.ndarray | None,
                  max_elements: int) -> np.ndarray:
    """Log-likelihoods of m parameter vectors, shape (m,).

    Parameters
    ----------
    params : Parameters
        Expanded weights (m, K_total), means (m, K, D) and covariances (m, K, D, D).
    values : ndarray, shape (N, D)
    point_cov : ndarray, shape (N, D, D), or None
    extra : ndarray, shape (m, E, N), or None
        Log-densities of the custom components (weights not included).
    log_bg : ndarray, shape (N,), or None
        Log-density of the background.
    max_elements : int
        Bound on m_chunk × n_chunk × K_total × D² per chunk.
    """
    m = params.weights.shape[0]
    n, d = values.shape
    k = params.means.shape[1]
    k_total = params.weights.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_w = np.log(params.weights)
    per_theta = max(1, n * k_total * d * d)
    rows = max(1, min(m, max_elements // per_theta))
    points = max(1, min(n, max_elements // (rows * k_total * d * d)))
    out = np.zeros(m)
    for r0 in range(0, m, rows):
        rs = slice(r0, r0 + rows)
        means, covs = params.means[rs], params.covariances[rs]
        for p0 in range(0, n, points):
            ps = slice(p0, p0 + points)
            terms = np.empty((means.shape[0], min(points, n - p0), k_total))
            if k:
                terms[..., :k] = gaussian_log_density(
                    values[ps], None if point_cov is None else point_cov[ps], means, covs)
            j = k
            if extra is not None:
                e = extra.shape[1]
                terms[..., j:j + e] = np.swapaxes(extra[rs, :, ps], 1, 2)
                j += e
            if log_bg is not None:
                terms[..., j] = log_bg[None, ps]
            terms += log_w[rs, None, :]
            peak = terms.max(axis=2)
            safe = np.where(np.isfinite(peak), peak, 0.0)
            terms -= safe[..., None]
            np.exp(terms, out=terms)
            with np.errstate(divide="ignore", over="ignore"):
                per_point = safe + np.log(terms.sum(axis=2))
                out[rs] += per_point.sum(axis=1)
    return np.where(np.isnan(out), -np.inf, out)
