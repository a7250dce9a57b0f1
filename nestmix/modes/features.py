"""Per-component feature vectors of mixture parameters, and applying label permutations.

Relabelling and the search for distinct modes compare components through one feature vector
each: log-weight, mean (D), log-variances (D) and correlations (D(D-1)/2). Logarithms make the
positive quantities comparable on their natural scale.
"""

from __future__ import annotations

import numpy as np

from nestmix.model.layout import Parameters

__all__ = ["component_features", "n_gaussians", "permute_parameters"]

_TINY = 1e-300


def n_gaussians(params: Parameters) -> int:
    """Number K of Gaussian components (the background, when present, is an extra weight)."""
    return int(params.means.shape[1])


def component_features(params: Parameters) -> np.ndarray:
    """Feature vectors of the Gaussian components, shape (n, K, F).

    Columns: log w_k, the D means, the D log-variances and, for D >= 2, the correlations
    (upper triangle, row by row).
    """
    k = n_gaussians(params)
    d = params.means.shape[2]
    log_w = np.log(np.clip(params.weights[:, :k], _TINY, None))[..., None]
    variances = np.diagonal(params.covariances, axis1=2, axis2=3)
    parts = [log_w, params.means, np.log(np.clip(variances, _TINY, None))]
    if d > 1:
        iu = np.triu_indices(d, 1)
        sd = np.sqrt(np.clip(variances, _TINY, None))
        parts.append(params.covariances[:, :, iu[0], iu[1]] / (sd[..., iu[0]] * sd[..., iu[1]]))
    return np.concatenate(parts, axis=2)


def permute_parameters(params: Parameters, permutations: np.ndarray) -> Parameters:
    """Relabelled parameters: new component j of sample s is old component ``perm[s, j]``.

    The weights of custom components and of the background stay where they are, after the
    Gaussians; custom components' parameters are not permuted.
    """
    perm = np.asarray(permutations, dtype=np.intp)
    k = n_gaussians(params)
    weights = np.concatenate(
        [np.take_along_axis(params.weights[:, :k], perm, axis=1), params.weights[:, k:]], axis=1)
    means = np.take_along_axis(params.means, perm[:, :, None], axis=1)
    covariances = np.take_along_axis(params.covariances, perm[:, :, None, None], axis=1)
    return Parameters(weights=weights, means=means, covariances=covariances, extra=params.extra)
