"""Gaussian components that deconvolve per-point measurement errors.

For a point y_i with measurement covariance S_i and a component with mean μ_k and intrinsic
covariance Σ_k, the density of the observed value is N(y_i | μ_k, Σ_k + S_i). Everything here is
vectorised over a leading batch of parameter vectors (m), the data points (N) and the
components (K); there is no Python loop over points.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gaussian_log_density"]

_LOG_2PI = float(np.log(2.0 * np.pi))


def gaussian_log_density(
    values: np.ndarray,
    point_covariances: np.ndarray | None,
    means: np.ndarray,
    covariances: np.ndarray,
) -> np.ndarray:
    """Log-density of every point under every Gaussian component, errors deconvolved.

    Parameters
    ----------
    values : ndarray, shape (N, D)
        The measured values y_i.
    point_covariances : ndarray, shape (N, D, D), or None
        Measurement covariances S_i; None when the values are exact.
    means : ndarray, shape (m, K, D)
        Component means for a batch of m parameter vectors.
    covariances : ndarray, shape (m, K, D, D)
        Intrinsic component covariances Σ_k.

    Returns
    -------
    ndarray, shape (m, N, K)
        log N(y_i | μ_k, Σ_k + S_i); ``-inf`` where a total covariance is not positive
        definite or the log-density is NaN (an overflow inside it; NaN parameters too).
    """
    # Extreme parameters (tiny widths, far points) overflow to inf, or to inf - inf = NaN in a
    # quadratic form whose true value is huge: either way the density underflows to zero.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if values.shape[1] == 1:
            out = _log_density_1d(values, point_covariances, means, covariances)
        elif point_covariances is None:
            out = _log_density_shared(values, means, covariances)
        elif values.shape[1] == 2:
            out = _log_density_2d(values, point_covariances, means, covariances)
        else:
            out = _log_density_general(values, point_covariances, means, covariances)
    out[np.isnan(out)] = -np.inf
    return out


def _log_density_1d(values, point_covariances, means, covariances):
    y = values[None, :, 0, None]  # (1, N, 1)
    variance = covariances[:, None, :, 0, 0]  # (m, 1, K)
    if point_covariances is not None:
        variance = variance + point_covariances[None, :, 0, 0, None]  # (m, N, K)
    residual = y - means[:, None, :, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -0.5 * (_LOG_2PI + np.log(variance) + residual * residual / variance)
    return np.where(variance > 0, out, -np.inf)


def _log_density_shared(values, means, covariances):
    """No measurement errors: one Cholesky factor per component, shared by all points."""
    d = values.shape[1]
    chol, ok = _safe_cholesky(covariances)  # (m, K, D, D)
    residual = values[None, :, None, :] - means[:, None, :, :]  # (m, N, K, D)
    # Solve L z = r for every point by forward substitution over the (small) dimension.
    z = np.empty_like(residual)
    for i in range(d):
        acc = residual[..., i].copy()
        for j in range(i):
            acc -= chol[:, None, :, i, j] * z[..., j]
        z[..., i] = acc / chol[:, None, :, i, i]
    maha = np.einsum("mnkd,mnkd->mnk", z, z)
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)  # (m, K)
    out = -0.5 * (d * _LOG_2PI + log_det[:, None, :] + maha)
    return np.where(ok[:, None, :], out, -np.inf)


def _log_density_2d(values, point_covariances, means, covariances):
    """Closed-form 2 x 2 determinant and inverse of Σ_k + S_i for every point and component."""
    total = covariances[:, None, :, :, :] + point_covariances[None, :, None, :, :]
    a = total[..., 0, 0]
    b = total[..., 0, 1]
    c = total[..., 1, 1]
    det = a * c - b * b
    r0 = values[None, :, None, 0] - means[:, None, :, 0]
    r1 = values[None, :, None, 1] - means[:, None, :, 1]
    ok = (det > 0) & (a > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        maha = (c * r0 * r0 - 2.0 * b * r0 * r1 + a * r1 * r1) / det
        out = -0.5 * (2.0 * _LOG_2PI + np.log(det) + maha)
    return np.where(ok, out, -np.inf)


def _log_density_general(values, point_covariances, means, covariances):
    d = values.shape[1]
    total = covariances[:, None, :, :, :] + point_covariances[None, :, None, :, :]
    chol, ok = _safe_cholesky(total)  # (m, N, K, D, D)
    residual = values[None, :, None, :] - means[:, None, :, :]
    z = np.empty_like(residual)
    for i in range(d):
        acc = residual[..., i].copy()
        for j in range(i):
            acc -= chol[..., i, j] * z[..., j]
        z[..., i] = acc / chol[..., i, i]
    maha = np.einsum("...d,...d->...", z, z)
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    out = -0.5 * (d * _LOG_2PI + log_det + maha)
    return np.where(ok, out, -np.inf)


def _safe_cholesky(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cholesky factors of a stack of matrices; non-PD entries get the identity and ok=False."""
    try:
        return np.linalg.cholesky(matrices), np.ones(matrices.shape[:-2], dtype=bool)
    except np.linalg.LinAlgError:
        pass
    eigmin = np.linalg.eigvalsh(matrices)[..., 0]
    ok = eigmin > 0
    eye = np.broadcast_to(np.eye(matrices.shape[-1]), matrices.shape)
    fixed = np.where(ok[..., None, None], matrices, eye)
    try:
        return np.linalg.cholesky(fixed), ok
    except np.linalg.LinAlgError:  # eigenvalues > 0 but numerically singular
        ok = ok & (eigmin > 1e-12 * np.abs(matrices).max(axis=(-2, -1)))
        fixed = np.where(ok[..., None, None], matrices, eye)
        return np.linalg.cholesky(fixed), ok
